//! The SQLite store against the conformance suite, plus what is particular
//! to SQLite and to the filesystem blob store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::{staged, staged_file, staged_path};
use gaia_core::{BlobStore, Completion, Error, ErrorCode, JobStore, StagedContent, Store};
use gaia_store::conformance::{self, T0};
use gaia_store::{FsBlobStore, SqliteStore, open_blob_store};
use tempfile::TempDir;
use tokio::io::AsyncReadExt;

/// A fresh database file in its own temporary folder.
async fn fresh_store() -> (Arc<dyn Store>, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&url_in(&dir)).await.unwrap();
    (Arc::new(store), dir)
}

fn url_in(dir: &TempDir) -> String {
    format!("sqlite://{}", dir.path().join("nested/gaia.db").display())
}

gaia_store::store_conformance_tests!(fresh_store());

mod in_memory {
    use super::*;

    async fn memory_store() -> Arc<dyn Store> {
        Arc::new(SqliteStore::open("sqlite::memory:").await.unwrap())
    }

    gaia_store::store_conformance_tests!(memory_store());
}

/// SQLite starts a planned attempt in the transaction that claims the job,
/// sparing the worker a transaction of its own.
#[tokio::test]
async fn claims_start_the_planned_attempt() {
    let (store, _dir) = fresh_store().await;
    conformance::a_planned_attempt_starts_with_the_claim(store)
        .await
        .unwrap();
}

#[tokio::test]
async fn open_creates_the_folder_and_uses_wal() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&url_in(&dir)).await.unwrap();
    let path = dir.path().join("nested/gaia.db");
    assert!(path.is_file());
    store.close().await;

    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    for table in [
        "assets",
        "budgets",
        "cost_ledger",
        "embeddings",
        "job_logs",
        "jobs",
    ] {
        assert!(
            tables.iter().any(|t| t == table),
            "{table} missing: {tables:?}"
        );
    }
}

#[tokio::test]
async fn reopening_keeps_the_records_and_skips_applied_migrations() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&url_in(&dir)).await.unwrap();
    let job = conformance::new_job("c", 0).unwrap();
    store.insert_jobs(vec![job.clone()]).await.unwrap();
    store.close().await;

    let again = SqliteStore::open(&url_in(&dir)).await.unwrap();
    assert_eq!(again.job(job.job.id).await.unwrap(), Some(job.job));
}

#[tokio::test]
async fn two_stores_on_one_file_share_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let first = SqliteStore::open(&url_in(&dir)).await.unwrap();
    let second = SqliteStore::open(&url_in(&dir)).await.unwrap();
    let jobs: Vec<_> = (0..20)
        .map(|_| conformance::new_job("c", 0).unwrap())
        .collect();
    first.insert_jobs(jobs).await.unwrap();
    let lease = gaia_core::Timestamp::from_millis(T0.millis() + 30_000);
    let drain = |store: SqliteStore, worker: &'static str| async move {
        let mut claimed = Vec::new();
        while let Some(job) = store.claim_job(worker, T0, lease).await.unwrap() {
            claimed.push(job.job.id);
        }
        claimed
    };
    let (a, b) = tokio::join!(drain(first, "a"), drain(second, "b"));
    let mut all: Vec<_> = a.into_iter().chain(b).collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 20);
}

/// Short writes run in place on the caller's thread, but never wait there
/// for another process's write lock: on this single-threaded runtime such a
/// wait would hold up the very task that releases the lock.
#[tokio::test]
async fn a_short_write_waits_for_another_process_off_the_callers_thread() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&url_in(&dir)).await.unwrap();
    let other = rusqlite::Connection::open(dir.path().join("nested/gaia.db")).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let insert = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .insert_jobs(vec![conformance::new_job("c", 0).unwrap()])
                .await
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(!insert.is_finished(), "the insert waits for the lock");
    other.execute_batch("COMMIT").unwrap();
    let inserted = insert.await.unwrap().unwrap();
    assert_eq!(inserted.len(), 1);
    let lease = gaia_core::Timestamp::from_millis(T0.millis() + 30_000);
    let claimed = store.claim_job("w", T0, lease).await.unwrap().unwrap();
    assert_eq!(claimed.job.id, inserted[0].job.id);
}

/// SQLite's own checkpoints are off on the writer (they would run inside
/// commits made in place on a caller's thread); the store's own keep the
/// log from growing without bound.
#[tokio::test]
async fn the_write_ahead_log_is_checkpointed_as_it_grows() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&url_in(&dir)).await.unwrap();
    let jobs = 600;
    for _ in 0..jobs {
        store
            .insert_jobs(vec![conformance::new_job("c", 0).unwrap()])
            .await
            .unwrap();
    }
    let log = std::fs::metadata(dir.path().join("nested/gaia.db-wal"))
        .unwrap()
        .len();
    // Never checkpointed, every insert's pages (about ten) would be in it.
    let unbounded = jobs * 10 * 4096;
    assert!(log < unbounded / 4, "the log holds {log} bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_opens_migrate_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = url_in(&dir);
    let opens = (0..4).map(|_| SqliteStore::open(&url));
    for store in futures::future::join_all(opens).await {
        let store = store.unwrap();
        assert_eq!(store.next_due().await.unwrap(), None);
    }
}

#[tokio::test]
async fn an_unwritable_path_is_a_storage_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-folder");
    std::fs::write(&file, b"x").unwrap();
    let path = file.join("gaia.db");
    let error = SqliteStore::open(&format!("sqlite://{}", path.display()))
        .await
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::StorageError);
    assert!(
        error.to_string().contains(&path.display().to_string()),
        "{error}"
    );
}

#[tokio::test]
async fn other_urls_are_invalid() {
    let error = SqliteStore::open("postgres://localhost/gaia")
        .await
        .unwrap_err();
    assert!(matches!(error, Error::InvalidRequest { ref field, .. } if field == "database"));
}

/// The (job, output index) unique constraint is the last line of defence:
/// nothing in the store API can reach it once the lease guard holds.
#[tokio::test]
async fn a_job_cannot_store_an_output_index_twice() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&url_in(&dir)).await.unwrap();
    let new = conformance::new_job("c", 0).unwrap();
    store.insert_jobs(vec![new.clone()]).await.unwrap();
    let claimed = store
        .claim_job(
            "w",
            T0,
            gaia_core::Timestamp::from_millis(T0.millis() + 30_000),
        )
        .await
        .unwrap()
        .unwrap();
    let asset = conformance::image_asset(&claimed.job, &"a".repeat(64));
    let completion = Completion {
        embeddings: None,
        job_id: claimed.job.id,
        assets: vec![asset],
        reused_assets: Vec::new(),
        reused_from: None,
        saved_micros: gaia_core::Money::ZERO,
        cost: None,
        at: T0,
    };
    store.complete_job("w", completion).await.unwrap().unwrap();
    store.close().await;

    let path = dir.path().join("nested/gaia.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    let duplicate = conn
        .execute(
            "INSERT INTO assets (id, client_id, type, mime, size_bytes, sha256, source, media, \
             job_id, output_index, created_at) \
             SELECT 'other', client_id, type, mime, size_bytes, sha256, source, media, job_id, \
             output_index, created_at FROM assets",
            [],
        )
        .unwrap_err();
    assert!(
        matches!(
            &duplicate,
            rusqlite::Error::SqliteFailure(e, _)
                if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
        ),
        "{duplicate}"
    );
}

// ------------------------------------------------------------------ blobs

#[tokio::test]
async fn blobs_round_trip_by_sha256() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = FsBlobStore::open(dir.path().join("blobs")).await.unwrap();
    let output = staged_file(&dir, b"hello blobs").await;
    let sha = output.sha256().to_owned();
    let staged_path = staged_path(&output);
    assert!(!blobs.exists(&sha).await.unwrap());

    blobs.put(output).await.unwrap();
    // Moved, not copied: the staging file is gone and the blob is in place.
    assert!(!staged_path.exists());
    let on_disk = dir.path().join("blobs").join(&sha[..2]).join(&sha[2..]);
    assert_eq!(std::fs::read(&on_disk).unwrap(), b"hello blobs");
    assert!(blobs.exists(&sha).await.unwrap());
    assert_eq!(&blobs.read(&sha).await.unwrap()[..], b"hello blobs");
    let mut streamed = Vec::new();
    blobs
        .open(&sha)
        .await
        .unwrap()
        .read_to_end(&mut streamed)
        .await
        .unwrap();
    assert_eq!(streamed, b"hello blobs");

    blobs.delete(&sha).await.unwrap();
    assert!(!blobs.exists(&sha).await.unwrap());
    blobs.delete(&sha).await.unwrap();
    let missing = blobs.open(&sha).await.err().unwrap();
    assert!(matches!(missing, Error::NotFound { what: "blob", .. }));
}

#[tokio::test]
async fn storing_the_same_bytes_twice_keeps_one_copy() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = FsBlobStore::open(dir.path().join("blobs")).await.unwrap();
    let first = staged(&dir, b"same").await;
    let sha = first.sha256().to_owned();
    blobs.put(first).await.unwrap();
    let second = staged_file(&dir, b"same").await;
    let second_path = staged_path(&second);
    blobs.put(second).await.unwrap();
    assert!(!second_path.exists(), "the duplicate staging file was kept");
    let folder = dir.path().join("blobs").join(&sha[..2]);
    assert_eq!(std::fs::read_dir(folder).unwrap().count(), 1);
    let staging = std::fs::read_dir(dir.path().join("staging")).unwrap();
    assert_eq!(staging.count(), 0);
}

#[tokio::test]
async fn a_small_output_staged_in_memory_is_written_into_place() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = FsBlobStore::open(dir.path().join("blobs")).await.unwrap();
    let output = staged(&dir, b"small bytes").await;
    assert!(matches!(output.content(), StagedContent::Memory(_)));
    let sha = output.sha256().to_owned();
    blobs.put(output).await.unwrap();
    let folder = dir.path().join("blobs").join(&sha[..2]);
    let names: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    // Only the blob: no temporary file left beside it.
    assert_eq!(names, vec![std::ffi::OsString::from(&sha[2..])]);
    assert_eq!(
        std::fs::read(folder.join(&sha[2..])).unwrap(),
        b"small bytes"
    );
    assert!(
        !dir.path().join("staging").exists(),
        "a staging file was made"
    );
    // The same bytes again: kept once.
    blobs.put(staged(&dir, b"small bytes").await).await.unwrap();
    assert_eq!(std::fs::read_dir(&folder).unwrap().count(), 1);
}

#[tokio::test]
async fn invalid_keys_never_leave_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = FsBlobStore::open(dir.path().join("blobs")).await.unwrap();
    let escape = format!("../../{}", "a".repeat(58));
    for key in [
        escape.as_str(),
        "",
        "ABCDEF",
        &"A".repeat(64),
        &"g".repeat(64),
    ] {
        assert_eq!(
            blobs.exists(key).await.unwrap_err().code(),
            ErrorCode::InvalidRequest
        );
        assert!(blobs.open(key).await.is_err());
        assert!(blobs.delete(key).await.is_err());
    }
}

#[tokio::test]
async fn blob_urls_name_folders() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("from-url");
    let blobs = open_blob_store(&format!("file://{}", root.display()))
        .await
        .unwrap();
    assert!(root.is_dir());
    let output = staged(&dir, b"via url").await;
    let sha = output.sha256().to_owned();
    blobs.put(output).await.unwrap();
    assert!(blobs.exists(&sha).await.unwrap());

    for url in ["s3://", "db:", "file://", "/plain/path"] {
        let error = open_blob_store(url).await.err().unwrap();
        assert!(
            matches!(error, Error::InvalidRequest { ref field, .. } if field == "blobs"),
            "{url}: {error}"
        );
    }
}

/// The schema history is sqlx's `_sqlx_migrations` table, so databases made
/// before the store moved to rusqlite open unchanged; a history this version
/// cannot vouch for is refused with a message, never migrated over.
#[tokio::test]
async fn migrations_are_recorded_and_foreign_histories_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/gaia.db");
    SqliteStore::open(&url_in(&dir))
        .await
        .unwrap()
        .close()
        .await;
    let conn = rusqlite::Connection::open(&path).unwrap();
    let (applied, checksum_bytes): (i64, i64) = conn
        .query_row(
            "SELECT COUNT(*), MIN(length(checksum)) FROM _sqlx_migrations WHERE success",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    assert!(applied >= 5, "{applied} migrations recorded");
    assert_eq!(checksum_bytes, 48, "sqlx records SHA-384 checksums");
    // Opening again applies nothing and succeeds.
    SqliteStore::open(&url_in(&dir))
        .await
        .unwrap()
        .close()
        .await;

    conn.execute(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99999999, 'from the future', TRUE, x'00', 0)",
        [],
    )
    .unwrap();
    let newer = SqliteStore::open(&url_in(&dir)).await.unwrap_err();
    assert!(newer.to_string().contains("newer version"), "{newer}");

    conn.execute("DELETE FROM _sqlx_migrations WHERE version = 99999999", [])
        .unwrap();
    conn.execute(
        "UPDATE _sqlx_migrations SET checksum = x'00' WHERE version = \
         (SELECT MIN(version) FROM _sqlx_migrations)",
        [],
    )
    .unwrap();
    let changed = SqliteStore::open(&url_in(&dir)).await.unwrap_err();
    assert!(changed.to_string().contains("different text"), "{changed}");
}

/// A search vector (256 `f32`, 1 KiB) is stored in its table's own pages:
/// a row that spilled to an overflow page would cost a whole page per asset
/// on disk and one more page written with every stored asset.
#[tokio::test]
async fn embedding_vectors_are_stored_without_overflow_pages() {
    let dir = tempfile::tempdir().unwrap();
    SqliteStore::open(&url_in(&dir))
        .await
        .unwrap()
        .close()
        .await;
    let conn = rusqlite::Connection::open(dir.path().join("nested/gaia.db")).unwrap();
    // The vectors alone are measured: no assets to refer to.
    conn.pragma_update(None, "foreign_keys", "OFF").unwrap();
    let pages = || -> i64 {
        conn.query_row("PRAGMA page_count", [], |row| row.get(0))
            .unwrap()
    };
    let before = pages();
    let vectors = 300;
    for n in 0..vectors {
        conn.execute(
            "INSERT INTO embeddings (asset_id, model, vector) VALUES (?, 'hashed-256', ?)",
            rusqlite::params![format!("0190f0f0-0000-7000-8000-{n:012}"), vec![7_u8; 1024]],
        )
        .unwrap();
    }
    let used = pages() - before;
    // Three 1 KiB rows fit in a 4 KiB page; an overflow page each would
    // need more than one page per row.
    assert!(used < vectors / 2, "{vectors} vectors took {used} pages");
}
