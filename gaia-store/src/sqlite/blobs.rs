//! The in-database blob store on SQLite (`blobs: "db:"`).

use std::io::Read;
use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use gaia_core::{BlobReader, BlobStore, Error, Result, StagedOutput, Timestamp};
use rusqlite::{Connection, params};

use super::{Sql, SqliteStore, optional_scalar, scalar};
use crate::db_blobs::{CHUNK_SIZE, ChunkReader, chunk_count, missing_chunk, read_failed};
use crate::fs_blobs::validate_key;

/// Blobs in the SQLite database of a [`SqliteStore`], in chunks of
/// [`crate::CHUNK_SIZE`] bytes (see [`crate::db_blobs`]): written one chunk
/// at a time from the staging file inside one write transaction (which holds
/// the database's write lock meanwhile: prefer file blobs for large media on
/// SQLite), read one chunk at a time. Made by [`SqliteStore::blob_store`].
#[derive(Debug, Clone)]
pub struct SqliteBlobStore {
    store: SqliteStore,
}

impl SqliteStore {
    /// The in-database blob store on this store's connections (`db:`).
    pub fn blob_store(&self) -> SqliteBlobStore {
        SqliteBlobStore {
            store: self.clone(),
        }
    }
}

#[async_trait]
impl BlobStore for SqliteBlobStore {
    async fn put(&self, staged: StagedOutput) -> Result<()> {
        let sha256 = staged.sha256().to_owned();
        validate_key(&sha256)?;
        let size =
            i64::try_from(staged.size()).map_err(|_| Error::invalid("blobs", "too large"))?;
        let chunks = chunk_count(staged.size())?;
        let action = format!("store blob {sha256}");
        // The staged file is read on the writer's thread, chunk by chunk,
        // inside the transaction that stores it.
        self.store
            .write(&action, move |connection| {
                let claimed = connection
                    .prepare_cached(
                        "INSERT INTO blobs (sha256, size_bytes, chunks, created_at) \
                         VALUES (?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING",
                    )?
                    .execute(params![sha256, size, chunks, Timestamp::now().millis()])?;
                if claimed == 0 {
                    return Ok(());
                }
                write_chunks(connection, &staged, &sha256)
            })
            .await
    }

    async fn open(&self, sha256: &str) -> Result<BlobReader> {
        validate_key(sha256)?;
        let key: Arc<str> = sha256.into();
        let chunks: Option<i32> = {
            let key = Arc::clone(&key);
            self.store
                .read(&format!("open blob {sha256}"), move |connection| {
                    optional_scalar(
                        connection,
                        "SELECT chunks FROM blobs WHERE sha256 = ?",
                        [&*key],
                    )
                })
                .await?
        };
        let chunks = chunks.ok_or_else(|| Error::NotFound {
            what: "blob",
            id: sha256.to_owned(),
        })?;
        let store = self.store.clone();
        let stream = futures::stream::iter(0..chunks).then(move |n| {
            let (store, key) = (store.clone(), Arc::clone(&key));
            async move {
                let read = {
                    let key = Arc::clone(&key);
                    store
                        .read("read a blob chunk", move |connection| {
                            optional_scalar::<Vec<u8>>(
                                connection,
                                "SELECT bytes FROM blob_chunks WHERE sha256 = ? AND n = ?",
                                params![&*key, n],
                            )
                        })
                        .await
                };
                read.map_err(|e| read_failed(&key, e))?
                    .ok_or_else(|| missing_chunk(&key, n))
            }
        });
        Ok(ChunkReader::boxed(stream.boxed()))
    }

    async fn exists(&self, sha256: &str) -> Result<bool> {
        validate_key(sha256)?;
        let key = sha256.to_owned();
        self.store
            .read(&format!("look for blob {sha256}"), move |connection| {
                scalar(
                    connection,
                    "SELECT EXISTS (SELECT 1 FROM blobs WHERE sha256 = ?)",
                    [key],
                )
            })
            .await
    }

    async fn delete(&self, sha256: &str) -> Result<()> {
        validate_key(sha256)?;
        let key = sha256.to_owned();
        // Its chunks go with it (ON DELETE CASCADE; foreign keys are on).
        self.store
            .write(&format!("delete blob {sha256}"), move |connection| {
                connection
                    .prepare_cached("DELETE FROM blobs WHERE sha256 = ?")?
                    .execute([key])?;
                Ok(())
            })
            .await
    }
}

/// Copies the staged bytes into chunk rows, one chunk in memory at a time.
fn write_chunks(connection: &Connection, staged: &StagedOutput, sha256: &str) -> Sql<()> {
    let mut file = staged
        .open_blocking()
        .map_err(|e| staged_error(staged, e))?;
    let mut insert =
        connection.prepare_cached("INSERT INTO blob_chunks (sha256, n, bytes) VALUES (?, ?, ?)")?;
    let mut remaining = staged.size();
    let mut n: i32 = 0;
    while remaining > 0 {
        let want = usize::try_from(remaining).map_or(CHUNK_SIZE, |r| r.min(CHUNK_SIZE));
        let mut chunk = vec![0; want];
        // A file shorter than its staged size was changed under the engine.
        file.read_exact(&mut chunk)
            .map_err(|e| staged_error(staged, e))?;
        insert.execute(params![sha256, n, chunk])?;
        remaining -= want as u64;
        n += 1;
    }
    Ok(())
}

fn staged_error(staged: &StagedOutput, error: std::io::Error) -> Error {
    Error::storage(
        format!("cannot read the staged output {}", staged.content()),
        error,
    )
}
