//! The engine on S3 blobs (`blobs: "s3://…"`), and download URLs.
//!
//! `GAIA_TEST_S3_URL` names a bucket on a local S3-compatible server
//! (`scripts/s3-server.sh`, started by `scripts/test.sh`); without it the S3
//! tests are skipped with a message, unless `GAIA_REQUIRE_SERVICES=1`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use gaia::prelude::*;
use gaia::{Error, ImportRequest, ImportSource, Route, RouteTarget};
use support::*;

/// `GAIA_TEST_S3_URL` with a prefix of its own, or `None` (skipped).
fn s3_url(test: &str) -> Option<String> {
    let Ok(base) = std::env::var("GAIA_TEST_S3_URL") else {
        assert!(
            std::env::var("GAIA_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "GAIA_REQUIRE_SERVICES=1 but GAIA_TEST_S3_URL is not set (bash scripts/s3-server.sh start)"
        );
        eprintln!("skipped {test}: GAIA_TEST_S3_URL is not set (bash scripts/s3-server.sh start)");
        return None;
    };
    let (location, query) = base.split_once('?').unwrap_or((&base, ""));
    let location = location.trim_end_matches('/');
    Some(format!("{location}/{test}-{}?{query}", JobId::new()))
}

async fn engine_on_s3(dir: &std::path::Path, url: &str) -> Engine {
    let mut config = config(dir, 1);
    config.blobs = Some(url.to_owned());
    Engine::open(config).await.unwrap()
}

fn procedural_texture() -> Request {
    let mut request = image_request("mossy stone");
    request.route = Route::Target(RouteTarget::new("procedural", None));
    request
}

#[tokio::test]
async fn generated_assets_are_stored_in_s3_and_read_back() {
    let Some(url) = s3_url("engine") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_on_s3(dir.path(), &url).await;

    let asset = engine.generate(procedural_texture()).await.unwrap();
    let bytes = engine.read_bytes(asset.id).await.unwrap();
    assert_eq!(bytes.len() as u64, asset.size_bytes);
    assert_eq!(image::load_from_memory(&bytes).unwrap().width(), 16);
    let blobs = gaia::store::open_blob_store(&url).await.unwrap();
    assert!(blobs.exists(&asset.sha256).await.unwrap());
    assert!(
        !dir.path().join("gaia/blobs").exists(),
        "bytes went to the file store"
    );

    let link = engine
        .asset_url(asset.id, Duration::from_secs(300))
        .await
        .unwrap();
    let downloaded = reqwest::get(&link).await.unwrap().bytes().await.unwrap();
    assert_eq!(downloaded, bytes);
    engine.close().await.unwrap();
}

#[tokio::test]
async fn shared_bytes_leave_s3_with_their_last_asset() {
    let Some(url) = s3_url("refcount") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_on_s3(dir.path(), &url).await;
    let import = || {
        let mut request = ImportRequest::new(client());
        request.dedup = false;
        engine.import(request, ImportSource::Bytes(png(8, 8).into()))
    };
    let first = import().await.unwrap().asset;
    let second = import().await.unwrap().asset;
    assert_ne!(first.id, second.id);
    assert_eq!(first.sha256, second.sha256);
    let blobs = gaia::store::open_blob_store(&url).await.unwrap();

    engine.delete_asset(first.id).await.unwrap();
    assert!(
        blobs.exists(&second.sha256).await.unwrap(),
        "shared bytes went"
    );
    assert_eq!(engine.read_bytes(second.id).await.unwrap(), png(8, 8));
    engine.delete_asset(second.id).await.unwrap();
    assert!(
        !blobs.exists(&second.sha256).await.unwrap(),
        "orphan bytes stayed"
    );
    engine.close().await.unwrap();
}

#[tokio::test]
async fn file_blobs_cannot_sign_download_urls() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(dir.path(), 0, vec![]).await;
    let asset = import_png(&engine, png(8, 8), "tile", &[]).await;
    let error = engine
        .asset_url(asset.id, Duration::from_secs(60))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::InvalidRequest { field, .. } if field == "blobs"),
        "{error}"
    );
    let missing = engine
        .asset_url(gaia::AssetId::new(), Duration::from_secs(60))
        .await
        .unwrap_err();
    assert!(matches!(missing, Error::NotFound { what: "asset", .. }));
    engine.close().await.unwrap();
}
