//! Imports: verified, stored, `source: uploaded`, deduplicated per client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use futures::{FutureExt, StreamExt};
use gaia::prelude::*;
use gaia::{AssetSource, Error, EventKind, ImportRequest, ImportSource};
use support::*;

#[tokio::test]
async fn importing_the_same_bytes_twice_returns_the_first_asset() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(dir.path(), 0, vec![]).await;
    let mut events = engine.events();
    let bytes = png(12, 5);
    let mut request = ImportRequest::new(client());
    request.tags = vec!["ui".into()];
    let first = engine
        .import(request.clone(), ImportSource::Bytes(bytes.clone().into()))
        .await
        .unwrap();
    assert!(!first.existing);
    let asset = &first.asset;
    assert_eq!(asset.source, AssetSource::Uploaded);
    assert_eq!(asset.cost_micros, Money::ZERO);
    assert_eq!(asset.size_bytes, bytes.len() as u64);
    assert!(matches!(
        asset.media,
        Media::Image {
            width: 12,
            height: 5,
            ..
        }
    ));
    assert_eq!(engine.read_bytes(asset.id).await.unwrap().to_vec(), bytes);

    let again = engine
        .import(request.clone(), ImportSource::Bytes(bytes.clone().into()))
        .await
        .unwrap();
    assert!(again.existing);
    assert_eq!(again.asset.id, asset.id);

    request.dedup = false;
    let forced = engine
        .import(request, ImportSource::Bytes(bytes.clone().into()))
        .await
        .unwrap();
    assert!(!forced.existing);
    assert_ne!(forced.asset.id, asset.id);

    let other = ImportRequest::new(ClientId::new("someone-else").unwrap());
    let theirs = engine
        .import(other, ImportSource::Bytes(bytes.into()))
        .await
        .unwrap();
    assert!(!theirs.existing, "dedup never crosses clients");

    let created: Vec<_> = std::iter::from_fn(|| events.next().now_or_never().flatten())
        .filter(|e| matches!(e.kind, EventKind::AssetCreated { .. }))
        .collect();
    assert_eq!(created.len(), 3, "one asset_created per new asset");
    engine.close().await.unwrap();
}

#[tokio::test]
async fn a_path_import_streams_the_file_and_names_the_asset_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(dir.path(), 0, vec![]).await;
    let file = dir.path().join("brick wall.png");
    let bytes = png(20, 10);
    std::fs::write(&file, &bytes).unwrap();
    let mut request = ImportRequest::new(client());
    request.campaign_id = Some("castle".into());
    let imported = engine
        .import(request, ImportSource::Path(file))
        .await
        .unwrap()
        .asset;
    assert_eq!(imported.name.as_deref(), Some("brick wall"));
    assert_eq!(imported.campaign_id.as_deref(), Some("castle"));
    assert_eq!(engine.asset(imported.id).await.unwrap(), imported);
    assert_eq!(
        engine.read_bytes(imported.id).await.unwrap().to_vec(),
        bytes
    );
    engine.close().await.unwrap();
}

#[tokio::test]
async fn bytes_that_are_no_asset_are_rejected_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(dir.path(), 0, vec![]).await;
    let truncated = png(64, 64)[..40].to_vec();
    for bad in [b"\x00\xffno format\x00".to_vec(), truncated, Vec::new()] {
        let err = engine
            .import(
                ImportRequest::new(client()),
                ImportSource::Bytes(bad.into()),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::InvalidRequest { field, .. } if field == "file"),
            "{err}"
        );
    }
    let missing = dir.path().join("nope.png");
    let err = engine
        .import(ImportRequest::new(client()), ImportSource::Path(missing))
        .await
        .unwrap_err();
    assert!(matches!(&err, Error::InvalidRequest { field, .. } if field == "file"));
    let mut bad_tag = ImportRequest::new(client());
    bad_tag.tags = vec![" ".into()];
    let err = engine
        .import(bad_tag, ImportSource::Bytes(png(2, 2).into()))
        .await
        .unwrap_err();
    assert!(matches!(&err, Error::InvalidRequest { field, .. } if field == "tags[0]"));
    let page = engine
        .assets(&Default::default(), &Default::default())
        .await
        .unwrap();
    assert!(
        page.items.is_empty(),
        "nothing is stored from a rejected import"
    );
    engine.close().await.unwrap();
}
