//! The S3 blob store against a local S3-compatible server.
//!
//! `GAIA_TEST_S3_URL` names a bucket on it (`s3://bucket/prefix?endpoint=…`,
//! with `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` set); `scripts/test.sh`
//! starts one with `scripts/s3-server.sh` and exports both. Without it these
//! tests are skipped with a message, unless `GAIA_REQUIRE_SERVICES=1`.
#![cfg(feature = "s3")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{staged, staged_file, staged_path};
use gaia_core::{BlobStore, Error, ErrorCode, GenerateContext, JobId, StagedOutput};
use gaia_store::{S3BlobStore, open_blob_store};
use sha2::{Digest, Sha256};
use tempfile::TempDir;
use tokio::io::AsyncReadExt;

const MIB: usize = 1024 * 1024;

/// A store on a fresh prefix of the test bucket, or `None` (skipped) when no
/// server is configured.
fn s3_store(test: &str) -> Option<(S3BlobStore, String)> {
    let url = test_url(test)?;
    Some((S3BlobStore::open(&url).unwrap(), url))
}

/// `GAIA_TEST_S3_URL` with a prefix of its own for this test run.
fn test_url(test: &str) -> Option<String> {
    let Ok(base) = std::env::var("GAIA_TEST_S3_URL") else {
        assert!(
            std::env::var("GAIA_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "GAIA_REQUIRE_SERVICES=1 but GAIA_TEST_S3_URL is not set (bash scripts/s3-server.sh start)"
        );
        eprintln!("skipped {test}: GAIA_TEST_S3_URL is not set (bash scripts/s3-server.sh start)");
        return None;
    };
    assert!(
        std::env::var("AWS_ACCESS_KEY_ID").is_ok(),
        "GAIA_TEST_S3_URL is set but AWS_ACCESS_KEY_ID is not (bash scripts/s3-server.sh env)"
    );
    let (location, query) = base.split_once('?').unwrap_or((&base, ""));
    let location = location.trim_end_matches('/');
    Some(format!("{location}/{test}-{}?{query}", JobId::new()))
}

/// A 1 MiB chunk of bytes that differ from chunk to chunk.
fn chunk(index: usize) -> Vec<u8> {
    let seed = Sha256::digest(index.to_le_bytes());
    (0..MIB).map(|i| seed[i % 32] ^ (i / 32) as u8).collect()
}

/// Stages `mib` MiB a chunk at a time (never all in memory); returns the
/// output and its SHA-256.
async fn staged_large(dir: &TempDir, mib: usize) -> StagedOutput {
    let cx = GenerateContext::detached(dir.path().join("staging"));
    let mut file = cx.stage().await.unwrap();
    for index in 0..mib {
        file.write(&chunk(index)).await.unwrap();
    }
    file.finish().await.unwrap()
}

/// This process's resident memory and its peak, in bytes (Linux).
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap();
        let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kib * 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_50_mib_blob_streams_up_and_down_in_little_memory() {
    let Some((blobs, _)) = s3_store("large") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let output = staged_large(&dir, 50).await;
    let sha = output.sha256().to_owned();
    let staged_path = staged_path(&output);
    // Resets the peak (VmHWM) to the current size, so the peak read below
    // is this upload's and download's.
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let (before, _) = memory();

    blobs.put(output).await.unwrap();
    assert!(!staged_path.exists(), "the staging file was kept");
    assert!(blobs.exists(&sha).await.unwrap());
    let mut reader = blobs.open(&sha).await.unwrap();
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 64 * 1024];
    let mut total = 0;
    loop {
        let read = reader.read(&mut buffer).await.unwrap();
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        total += read;
    }

    let (_, peak) = memory();
    let growth = peak.saturating_sub(before);
    eprintln!(
        "50 MiB through S3: peak memory grew by {:.1} MiB",
        growth as f64 / MIB as f64
    );
    assert_eq!(total, 50 * MIB);
    assert_eq!(hex(&hasher.finalize()), sha);
    assert!(
        growth < 32 * MIB as u64,
        "peak memory grew by {growth} bytes: the blob was not streamed"
    );
    blobs.delete(&sha).await.unwrap();
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn same_bytes_are_kept_once_and_freed_on_delete() {
    let Some((blobs, _)) = s3_store("dedup") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Small: staged in memory.
    let first = staged(&dir, b"same bytes").await;
    let sha = first.sha256().to_owned();
    assert!(!blobs.exists(&sha).await.unwrap());
    blobs.put(first).await.unwrap();
    let second = staged_file(&dir, b"same bytes").await;
    let second_path = staged_path(&second);
    blobs.put(second).await.unwrap();
    assert!(!second_path.exists(), "the duplicate staging file was kept");
    assert_eq!(&blobs.read(&sha).await.unwrap()[..], b"same bytes");

    blobs.delete(&sha).await.unwrap();
    assert!(!blobs.exists(&sha).await.unwrap());
    blobs.delete(&sha).await.unwrap();
    let missing = blobs.open(&sha).await.err().unwrap();
    assert!(
        matches!(missing, Error::NotFound { what: "blob", .. }),
        "{missing}"
    );
}

#[tokio::test]
async fn keys_must_be_sha256_hex() {
    let Some((blobs, _)) = s3_store("keys") else {
        return;
    };
    for key in ["", "../escape", &"A".repeat(64), &"g".repeat(64)] {
        let error = blobs.exists(key).await.unwrap_err();
        assert_eq!(error.code(), ErrorCode::InvalidRequest, "{key}");
        assert!(blobs.open(key).await.is_err());
        assert!(blobs.delete(key).await.is_err());
        assert!(
            blobs
                .presigned_url(key, Duration::from_secs(60))
                .await
                .is_err()
        );
    }
}

#[tokio::test]
async fn a_presigned_url_downloads_without_credentials() {
    let Some((blobs, _)) = s3_store("presigned") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let output = staged(&dir, b"signed bytes").await;
    let sha = output.sha256().to_owned();
    blobs.put(output).await.unwrap();

    let url = blobs
        .presigned_url(&sha, Duration::from_secs(600))
        .await
        .unwrap()
        .expect("S3 signs URLs");
    assert!(url.contains("X-Amz-Signature="), "{url}");
    assert!(url.contains("X-Amz-Expires=600"), "{url}");
    let secret = std::env::var("AWS_SECRET_ACCESS_KEY").unwrap();
    assert!(!url.contains(&secret), "the secret is in the URL");
    let response = reqwest::get(&url).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(&response.bytes().await.unwrap()[..], b"signed bytes");

    for ttl in [Duration::ZERO, Duration::from_secs(8 * 24 * 3600)] {
        let error = blobs.presigned_url(&sha, ttl).await.unwrap_err();
        assert!(
            matches!(&error, Error::InvalidRequest { field, .. } if field == "ttl"),
            "{error}"
        );
    }
}

#[tokio::test]
async fn blob_urls_open_s3_stores() {
    let Some(url) = test_url("by-url") else {
        return;
    };
    let blobs = open_blob_store(&url).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let output = staged(&dir, b"via url").await;
    let sha = output.sha256().to_owned();
    blobs.put(output).await.unwrap();
    assert!(blobs.exists(&sha).await.unwrap());
    assert!(
        blobs
            .presigned_url(&sha, Duration::from_secs(60))
            .await
            .unwrap()
            .is_some()
    );
}
