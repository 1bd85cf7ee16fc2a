//! The in-database blob stores (`blobs: "db:"`) of SQLite and Postgres: the
//! same cases on both. A 50 MiB blob goes in from a staging file written in
//! pieces and comes out through a reader in pieces, stored as 50 chunk rows.
//! The Postgres cases are skipped without a server (see `tests/postgres.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::staged_path;
use gaia_core::{BlobStore, Error, ErrorCode, GenerateContext, StagedOutput};
use gaia_store::testing::ScratchSchema;
use gaia_store::{CHUNK_SIZE, DB_BLOBS, PostgresStore, SqliteStore, open_stores};
use sha2::{Digest, Sha256};
use tempfile::TempDir;
use tokio::io::AsyncReadExt;

const MIB: usize = 1024 * 1024;

/// Counts a blob's chunk rows in the database under test.
type ChunkCounter = Box<dyn Fn(String) -> futures::future::BoxFuture<'static, i64> + Send + Sync>;

/// A database blob store and how to count its chunk rows.
struct Backend {
    blobs: Arc<dyn BlobStore>,
    chunk_rows: ChunkCounter,
    staging: TempDir,
    _keep: Box<dyn std::any::Any + Send>,
}

async fn sqlite_backend() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&format!(
        "sqlite://{}",
        dir.path().join("gaia.db").display()
    ))
    .await
    .unwrap();
    let path = dir.path().join("gaia.db");
    let chunk_rows: ChunkCounter = Box::new(move |sha| {
        let path = path.clone();
        Box::pin(async move {
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.query_row(
                "SELECT COUNT(*) FROM blob_chunks WHERE sha256 = ?",
                [sha],
                |row| row.get(0),
            )
            .unwrap()
        })
    });
    Backend {
        blobs: Arc::new(store.blob_store()),
        chunk_rows,
        staging: tempfile::tempdir().unwrap(),
        _keep: Box::new(dir),
    }
}

async fn postgres_backend() -> Option<Backend> {
    let schema = ScratchSchema::create().await?;
    let store = PostgresStore::open(&schema.url()).await.unwrap();
    let url = schema.url();
    let chunk_rows: ChunkCounter = Box::new(move |sha| {
        let url = url.clone();
        Box::pin(async move {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::query_scalar("SELECT COUNT(*) FROM blob_chunks WHERE sha256 = $1")
                .bind(sha)
                .fetch_one(&mut conn)
                .await
                .unwrap()
        })
    });
    Some(Backend {
        blobs: Arc::new(store.blob_store()),
        chunk_rows,
        staging: tempfile::tempdir().unwrap(),
        _keep: Box::new(schema),
    })
}

/// Stages `size` bytes of a pattern, written 64 KiB at a time.
async fn stage_pattern(backend: &Backend, size: usize, seed: u8) -> StagedOutput {
    let cx = GenerateContext::detached(backend.staging.path());
    let mut file = cx.stage().await.unwrap();
    let piece: Vec<u8> = (0..64 * 1024)
        .map(|i: usize| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect();
    let mut left = size;
    while left > 0 {
        let n = left.min(piece.len());
        file.write(&piece[..n]).await.unwrap();
        left -= n;
    }
    file.finish().await.unwrap()
}

/// Reads a blob back 64 KiB at a time: its size and SHA-256.
async fn read_back(blobs: &dyn BlobStore, sha256: &str) -> (usize, String) {
    let mut reader = blobs.open(sha256).await.unwrap();
    let mut hasher = Sha256::new();
    let mut buf = vec![0; 64 * 1024];
    let mut total = 0;
    loop {
        let n = reader.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n;
    }
    (total, hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn large_blob_streams_in_and_out_in_chunks(backend: Backend) {
    let staged = stage_pattern(&backend, 50 * MIB, 7).await;
    let sha = staged.sha256().to_owned();
    let staged_path = staged_path(&staged);
    backend.blobs.put(staged).await.unwrap();
    assert!(!staged_path.exists(), "the staging file was kept");
    assert_eq!(
        (backend.chunk_rows)(sha.clone()).await,
        (50 * MIB / CHUNK_SIZE) as i64
    );
    assert_eq!(
        read_back(&*backend.blobs, &sha).await,
        (50 * MIB, sha.clone())
    );

    backend.blobs.delete(&sha).await.unwrap();
    assert!(!backend.blobs.exists(&sha).await.unwrap());
    assert_eq!(
        (backend.chunk_rows)(sha.clone()).await,
        0,
        "chunks go with the blob"
    );
}

async fn small_blobs_keep_one_copy_and_fail_cleanly(backend: Backend) {
    let blobs = &*backend.blobs;
    let first = stage_pattern(&backend, CHUNK_SIZE + 5, 1).await;
    let sha = first.sha256().to_owned();
    assert!(!blobs.exists(&sha).await.unwrap());
    blobs.put(first).await.unwrap();
    let again = stage_pattern(&backend, CHUNK_SIZE + 5, 1).await;
    blobs.put(again).await.unwrap();
    assert_eq!((backend.chunk_rows)(sha.clone()).await, 2, "one copy");
    assert!(blobs.exists(&sha).await.unwrap());
    assert_eq!(blobs.read(&sha).await.unwrap().len(), CHUNK_SIZE + 5);

    let empty = stage_pattern(&backend, 0, 0).await;
    let empty_sha = empty.sha256().to_owned();
    blobs.put(empty).await.unwrap();
    assert!(blobs.exists(&empty_sha).await.unwrap());
    assert!(blobs.read(&empty_sha).await.unwrap().is_empty());

    let staging_left = std::fs::read_dir(backend.staging.path()).unwrap().count();
    assert_eq!(staging_left, 0, "staging files are removed");

    blobs.delete(&sha).await.unwrap();
    blobs.delete(&sha).await.unwrap();
    let missing = blobs.open(&sha).await.err().unwrap();
    assert!(matches!(missing, Error::NotFound { what: "blob", .. }));
    for bad in ["", "ABC", "../etc/passwd"] {
        assert_eq!(
            blobs.exists(bad).await.unwrap_err().code(),
            ErrorCode::InvalidRequest
        );
    }
}

#[tokio::test]
async fn sqlite_large_blob_streams_in_and_out_in_chunks() {
    large_blob_streams_in_and_out_in_chunks(sqlite_backend().await).await;
}

#[tokio::test]
async fn postgres_large_blob_streams_in_and_out_in_chunks() {
    if let Some(backend) = postgres_backend().await {
        large_blob_streams_in_and_out_in_chunks(backend).await;
    }
}

#[tokio::test]
async fn sqlite_small_blobs_keep_one_copy_and_fail_cleanly() {
    small_blobs_keep_one_copy_and_fail_cleanly(sqlite_backend().await).await;
}

#[tokio::test]
async fn postgres_small_blobs_keep_one_copy_and_fail_cleanly() {
    if let Some(backend) = postgres_backend().await {
        small_blobs_keep_one_copy_and_fail_cleanly(backend).await;
    }
}

/// Two puts of the same bytes at once: both succeed, one copy is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_concurrent_puts_of_the_same_bytes_keep_one_copy() {
    let Some(backend) = postgres_backend().await else {
        return;
    };
    let first = stage_pattern(&backend, 3 * MIB, 9).await;
    let second = stage_pattern(&backend, 3 * MIB, 9).await;
    let sha = first.sha256().to_owned();
    let (a, b) = tokio::join!(backend.blobs.put(first), backend.blobs.put(second));
    a.unwrap();
    b.unwrap();
    assert_eq!((backend.chunk_rows)(sha.clone()).await, 3);
    assert_eq!(read_back(&*backend.blobs, &sha).await.1, sha);
}

/// `db:` opens the blob store of the database the record store uses.
#[tokio::test]
async fn db_urls_open_the_database_s_blob_store() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("gaia.db").display());
    let (_store, blobs) = open_stores(&url, DB_BLOBS).await.unwrap();
    let staged = GenerateContext::detached(dir.path().join("staging"))
        .stage_bytes(b"in the database")
        .await
        .unwrap();
    let sha = staged.sha256().to_owned();
    blobs.put(staged).await.unwrap();
    assert_eq!(&blobs.read(&sha).await.unwrap()[..], b"in the database");
    assert!(!dir.path().join("blobs").exists(), "no blob folder");

    if let Some(schema) = ScratchSchema::create().await {
        let (_store, blobs) = open_stores(&schema.url(), DB_BLOBS).await.unwrap();
        let staged = GenerateContext::detached(dir.path().join("staging"))
            .stage_bytes(b"in postgres")
            .await
            .unwrap();
        let sha = staged.sha256().to_owned();
        blobs.put(staged).await.unwrap();
        assert_eq!(&blobs.read(&sha).await.unwrap()[..], b"in postgres");
    }
}
