//! The in-database blob store on Postgres (`blobs: "db:"`).

use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use gaia_core::{BlobReader, BlobStore, Error, Result, StagedOutput, Timestamp};
use sqlx::PgPool;

use super::failed_in;
use crate::db_blobs::{ChunkReader, StagedChunks, chunk_count, missing_chunk, read_failed};
use crate::fs_blobs::validate_key;

/// Blobs in the Postgres database of a [`super::PostgresStore`], in chunks
/// of [`crate::CHUNK_SIZE`] bytes (see [`crate::db_blobs`]): written one
/// chunk at a time from the staging file inside one transaction, read one
/// chunk at a time. Made by [`super::PostgresStore::blob_store`].
#[derive(Debug, Clone)]
pub struct PostgresBlobStore {
    pool: PgPool,
    location: Arc<str>,
}

impl PostgresBlobStore {
    pub(super) fn new(pool: PgPool, location: Arc<str>) -> Self {
        Self { pool, location }
    }
}

#[async_trait]
impl BlobStore for PostgresBlobStore {
    async fn put(&self, staged: StagedOutput) -> Result<()> {
        let sha256 = staged.sha256().to_owned();
        validate_key(&sha256)?;
        let action = format!("store blob {sha256}");
        let failed = || failed_in(&self.location, &action);
        let mut chunks = StagedChunks::open(&staged).await?;
        let mut tx = self.pool.begin().await.map_err(failed())?;
        // The row first: a concurrent put of the same bytes waits here for
        // this transaction, then finds the blob stored and does nothing.
        let claimed = sqlx::query(
            "INSERT INTO blobs (sha256, size_bytes, chunks, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(&sha256)
        .bind(i64::try_from(staged.size()).map_err(|_| Error::invalid("blobs", "too large"))?)
        .bind(chunk_count(staged.size())?)
        .bind(Timestamp::now().millis())
        .execute(&mut *tx)
        .await
        .map_err(failed())?;
        if claimed.rows_affected() == 0 {
            return Ok(());
        }
        let mut n: i32 = 0;
        while let Some(chunk) = chunks.next_chunk().await? {
            sqlx::query("INSERT INTO blob_chunks (sha256, n, bytes) VALUES ($1, $2, $3)")
                .bind(&sha256)
                .bind(n)
                .bind(chunk)
                .execute(&mut *tx)
                .await
                .map_err(failed())?;
            n += 1;
        }
        // Committed (and flushed by the server) before the caller commits
        // the asset row naming it.
        tx.commit().await.map_err(failed())
    }

    async fn open(&self, sha256: &str) -> Result<BlobReader> {
        validate_key(sha256)?;
        let chunks: Option<i32> = sqlx::query_scalar("SELECT chunks FROM blobs WHERE sha256 = $1")
            .bind(sha256)
            .fetch_optional(&self.pool)
            .await
            .map_err(failed_in(&self.location, &format!("open blob {sha256}")))?;
        let chunks = chunks.ok_or_else(|| Error::NotFound {
            what: "blob",
            id: sha256.to_owned(),
        })?;
        let pool = self.pool.clone();
        let key: Arc<str> = sha256.into();
        let stream = futures::stream::iter(0..chunks).then(move |n| {
            let (pool, key) = (pool.clone(), Arc::clone(&key));
            async move {
                let bytes: Option<Vec<u8>> = sqlx::query_scalar(
                    "SELECT bytes FROM blob_chunks WHERE sha256 = $1 AND n = $2",
                )
                .bind(&*key)
                .bind(n)
                .fetch_optional(&pool)
                .await
                .map_err(|e| read_failed(&key, e))?;
                bytes.ok_or_else(|| missing_chunk(&key, n))
            }
        });
        Ok(ChunkReader::boxed(stream.boxed()))
    }

    async fn exists(&self, sha256: &str) -> Result<bool> {
        validate_key(sha256)?;
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM blobs WHERE sha256 = $1)")
            .bind(sha256)
            .fetch_one(&self.pool)
            .await
            .map_err(failed_in(
                &self.location,
                &format!("look for blob {sha256}"),
            ))
    }

    async fn delete(&self, sha256: &str) -> Result<()> {
        validate_key(sha256)?;
        // Its chunks go with it (ON DELETE CASCADE).
        sqlx::query("DELETE FROM blobs WHERE sha256 = $1")
            .bind(sha256)
            .execute(&self.pool)
            .await
            .map_err(failed_in(&self.location, &format!("delete blob {sha256}")))?;
        Ok(())
    }
}
