//! Derived assets: local operations run as free jobs and keep their lineage.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use futures::StreamExt;
use gaia::prelude::*;
use gaia::{AssetSource, DeriveSpec, Error, EventKind, ImageFormat, Operation};
use support::*;

#[tokio::test]
async fn derivations_make_free_assets_with_lineage() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(dir.path(), 1, vec![]).await;
    let parent = import_png(&engine, png(64, 32), "brick wall", &["wall"]).await;
    let mut events = engine.events();

    let job = engine
        .derive(parent.id, Operation::Thumbnail { size: 16 })
        .await
        .unwrap();
    let done = engine.wait(job.id).await.unwrap();
    assert_eq!(done.status, JobStatus::Succeeded, "{:?}", done.error);
    assert_eq!(done.cost_micros, Money::ZERO);
    assert_eq!(done.provider.as_deref(), Some(gaia::LOCAL_PROVIDER));
    assert_eq!(done.model.as_deref(), Some("thumbnail"));
    let thumb = engine.first_asset(&done).await.unwrap();
    assert!(matches!(
        thumb.media,
        Media::Image {
            width: 16,
            height: 8,
            ..
        }
    ));
    assert_eq!(
        thumb.source,
        AssetSource::Derived {
            parent_id: parent.id,
            operation: "thumbnail".into()
        }
    );
    assert_eq!(thumb.metadata["operation"], serde_json::json!({"size": 16}));
    assert_eq!(thumb.tags, vec!["wall".to_owned()]);
    assert_eq!(thumb.client_id, parent.client_id);

    let kinds: Vec<_> = events
        .by_ref()
        .take_while(|e| std::future::ready(!matches!(e.kind, EventKind::JobSucceeded { .. })))
        .map(|e| e.kind)
        .collect()
        .await;
    assert!(matches!(kinds[0], EventKind::JobQueued { .. }));
    assert!(
        kinds
            .iter()
            .any(|k| matches!(k, EventKind::JobStarted { provider, .. } if provider == "local"))
    );
    assert!(
        kinds.iter().any(
            |k| matches!(k, EventKind::AssetCreated { asset_id, .. } if *asset_id == thumb.id)
        )
    );

    let convert = Operation::Convert {
        format: ImageFormat::Jpeg,
        quality: Some(80),
    };
    let jpeg_job = engine.derive(thumb.id, convert).await.unwrap();
    let jpeg = engine
        .first_asset(&engine.wait(jpeg_job.id).await.unwrap())
        .await
        .unwrap();
    assert_eq!(jpeg.mime, "image/jpeg");
    let normals_job = engine
        .derive(parent.id, Operation::NormalMap { strength: 2.0 })
        .await
        .unwrap();
    let normals = engine
        .first_asset(&engine.wait(normals_job.id).await.unwrap())
        .await
        .unwrap();
    assert!(matches!(
        normals.media,
        Media::Image {
            width: 64,
            height: 32,
            format: ImageFormat::Png,
            ..
        }
    ));

    let ids = |assets: &[Asset]| assets.iter().map(|a| a.id).collect::<Vec<_>>();
    let family = engine.lineage(parent.id).await.unwrap();
    assert!(family.ancestors.is_empty());
    assert_eq!(
        ids(&family.descendants),
        vec![thumb.id, normals.id, jpeg.id]
    );
    let of_jpeg = engine.lineage(jpeg.id).await.unwrap();
    assert_eq!(ids(&of_jpeg.ancestors), vec![thumb.id, parent.id]);

    let report = engine.costs(&Default::default()).await.unwrap();
    assert_eq!(report.total_micros, Money::ZERO);
    engine.close().await.unwrap();
}

#[tokio::test]
async fn a_derivation_needs_an_existing_parent_of_the_right_kind() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(dir.path(), 0, vec![]).await;
    let field = |err: Error| match err {
        Error::InvalidRequest { field, .. } => field,
        other => panic!("expected invalid_request, got {other}"),
    };
    let missing = engine
        .submit(Request::new(
            client(),
            Spec::Derive(DeriveSpec::new(
                gaia::AssetId::new(),
                Operation::Thumbnail { size: 8 },
            )),
        ))
        .await
        .unwrap_err();
    assert_eq!(field(missing), "spec.parent_id");

    let image = import_png(&engine, png(8, 8), "tile", &[]).await;
    let wrong_kind = Operation::Waveform {
        points: 16,
        render: false,
    };
    let err = engine.derive(image.id, wrong_kind).await.unwrap_err();
    assert_eq!(field(err), "spec.parent_id");

    let foreign = Request::new(
        ClientId::new("someone-else").unwrap(),
        Spec::Derive(DeriveSpec::new(image.id, Operation::Thumbnail { size: 8 })),
    );
    assert_eq!(
        field(engine.submit(foreign).await.unwrap_err()),
        "spec.parent_id"
    );

    let zero = engine
        .derive(
            image.id,
            Operation::Resize {
                width: 0,
                height: 4,
            },
        )
        .await;
    assert_eq!(field(zero.unwrap_err()), "spec.operation.width");
    engine.close().await.unwrap();
}

/// Runs a derivation to the end and returns its asset.
async fn derived(engine: &Engine, parent: &Asset, operation: Operation) -> Asset {
    let job = engine.derive(parent.id, operation).await.unwrap();
    let done = engine.wait(job.id).await.unwrap();
    assert_eq!(done.status, JobStatus::Succeeded, "{:?}", done.error);
    engine.first_asset(&done).await.unwrap()
}

#[tokio::test]
async fn waveform_peaks_follow_the_sound() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(support::config(dir.path(), 1)).await.unwrap();
    let mut sound = gaia::AudioSpec::new("explosion");
    sound.seed = Some(3);
    sound.duration_s = Some(1.0);
    let parent = engine
        .generate(Request::new(client(), sound))
        .await
        .unwrap();

    let doc = derived(
        &engine,
        &parent,
        Operation::Waveform {
            points: 64,
            render: false,
        },
    )
    .await;
    assert!(matches!(
        doc.media,
        Media::Document {
            format: gaia::DocumentFormat::Json,
            ..
        }
    ));
    let peaks: Vec<f64> = serde_json::from_value(doc.metadata["peaks"].clone()).unwrap();
    assert_eq!(peaks.len(), 64);
    assert!(peaks.iter().all(|p| (0.0..=1.0).contains(p)), "{peaks:?}");
    let loudest = peaks.iter().cloned().fold(0.0, f64::max);
    assert!(
        loudest > 0.5,
        "the generator normalises near full scale: {loudest}"
    );
    // An explosion decays: its end is quieter than its loudest moment.
    assert!(peaks[60..].iter().all(|p| *p < loudest), "{peaks:?}");
    let stored: serde_json::Value =
        serde_json::from_slice(&engine.read_bytes(doc.id).await.unwrap()).unwrap();
    assert_eq!(stored["peaks"].as_array().unwrap().len(), 64);

    let drawing = derived(
        &engine,
        &parent,
        Operation::Waveform {
            points: 200,
            render: true,
        },
    )
    .await;
    assert!(
        matches!(
            drawing.media,
            Media::Image {
                width: 200,
                height: 128,
                ..
            }
        ),
        "{:?}",
        drawing.media
    );
    engine.close().await.unwrap();
}

#[tokio::test]
async fn mesh_statistics_match_the_verified_model() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(support::config(dir.path(), 1)).await.unwrap();
    let spec = gaia::ModelSpec {
        prompt: "cube 2".into(),
        seed: Some(1),
        count: 1,
        format: None,
        detail: None,
    };
    let parent = engine.generate(Request::new(client(), spec)).await.unwrap();
    let Media::Model {
        vertex_count,
        triangle_count,
        ..
    } = parent.media
    else {
        panic!("not a model")
    };

    let stats = derived(&engine, &parent, Operation::MeshStats {}).await;
    assert_eq!(stats.metadata["vertex_count"], vertex_count);
    assert_eq!(stats.metadata["triangle_count"], triangle_count);
    assert_eq!(stats.metadata["meshes"], 1);
    let max: Vec<f64> = serde_json::from_value(stats.metadata["bounds"]["max"].clone()).unwrap();
    let min: Vec<f64> = serde_json::from_value(stats.metadata["bounds"]["min"].clone()).unwrap();
    for axis in 0..3 {
        assert!(
            (max[axis] - min[axis] - 2.0).abs() < 1e-3,
            "a 2 m cube: {min:?} {max:?}"
        );
    }
    engine.close().await.unwrap();
}
