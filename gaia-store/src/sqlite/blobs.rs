//! The in-database blob store on SQLite (`blobs: "db:"`).

use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use gaia_core::{BlobReader, BlobStore, Error, Result, StagedOutput, Timestamp};

use super::SqliteStore;
use crate::db_blobs::{ChunkReader, StagedChunks, chunk_count, missing_chunk, read_failed};
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
        let action = format!("store blob {sha256}");
        let store = &self.store;
        let mut chunks = StagedChunks::open(&staged).await?;
        let mut tx = store.begin_write(&action).await?;
        let claimed = sqlx::query(
            "INSERT INTO blobs (sha256, size_bytes, chunks, created_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(&sha256)
        .bind(i64::try_from(staged.size()).map_err(|_| Error::invalid("blobs", "too large"))?)
        .bind(chunk_count(staged.size())?)
        .bind(Timestamp::now().millis())
        .execute(&mut *tx)
        .await
        .map_err(store.failed(&action))?;
        if claimed.rows_affected() == 0 {
            return Ok(());
        }
        let mut n: i32 = 0;
        while let Some(chunk) = chunks.next_chunk().await? {
            sqlx::query("INSERT INTO blob_chunks (sha256, n, bytes) VALUES (?, ?, ?)")
                .bind(&sha256)
                .bind(n)
                .bind(chunk)
                .execute(&mut *tx)
                .await
                .map_err(store.failed(&action))?;
            n += 1;
        }
        store.commit(tx, &action).await
    }

    async fn open(&self, sha256: &str) -> Result<BlobReader> {
        validate_key(sha256)?;
        let store = &self.store;
        let chunks: Option<i32> = sqlx::query_scalar("SELECT chunks FROM blobs WHERE sha256 = ?")
            .bind(sha256)
            .fetch_optional(&store.reader)
            .await
            .map_err(store.failed(&format!("open blob {sha256}")))?;
        let chunks = chunks.ok_or_else(|| Error::NotFound {
            what: "blob",
            id: sha256.to_owned(),
        })?;
        let reader = store.reader.clone();
        let key: Arc<str> = sha256.into();
        let stream = futures::stream::iter(0..chunks).then(move |n| {
            let (reader, key) = (reader.clone(), Arc::clone(&key));
            async move {
                let bytes: Option<Vec<u8>> =
                    sqlx::query_scalar("SELECT bytes FROM blob_chunks WHERE sha256 = ? AND n = ?")
                        .bind(&*key)
                        .bind(n)
                        .fetch_optional(&reader)
                        .await
                        .map_err(|e| read_failed(&key, e))?;
                bytes.ok_or_else(|| missing_chunk(&key, n))
            }
        });
        Ok(ChunkReader::boxed(stream.boxed()))
    }

    async fn exists(&self, sha256: &str) -> Result<bool> {
        validate_key(sha256)?;
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM blobs WHERE sha256 = ?)")
            .bind(sha256)
            .fetch_one(&self.store.reader)
            .await
            .map_err(self.store.failed(&format!("look for blob {sha256}")))
    }

    async fn delete(&self, sha256: &str) -> Result<()> {
        validate_key(sha256)?;
        // Its chunks go with it (ON DELETE CASCADE; foreign keys are on).
        sqlx::query("DELETE FROM blobs WHERE sha256 = ?")
            .bind(sha256)
            .execute(&self.store.writer)
            .await
            .map_err(self.store.failed(&format!("delete blob {sha256}")))?;
        Ok(())
    }
}
