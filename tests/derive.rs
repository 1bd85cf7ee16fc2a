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
