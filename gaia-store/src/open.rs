//! Opening stores by URL: the one place that maps a `database` and a
//! `blobs` URL of an `EngineConfig` to stores.

use std::sync::Arc;

use gaia_core::{BlobStore, Durability, Error, Result, Store};

use crate::{SqliteStore, open_blob_store_with};

/// The blob URL that keeps blobs in the record store's own database.
pub const DB_BLOBS: &str = "db:";

/// A record store opened by URL, before it is type-erased.
enum Opened {
    Sqlite(SqliteStore),
    #[cfg(feature = "postgres")]
    Postgres(crate::PostgresStore),
}

impl Opened {
    async fn open(url: &str, durability: Durability) -> Result<Self> {
        if url.starts_with("sqlite:") {
            return Ok(Self::Sqlite(SqliteStore::open_with(url, durability).await?));
        }
        #[cfg(feature = "postgres")]
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(crate::PostgresStore::open(url).await?));
        }
        // Only the scheme is echoed: the rest may hold a password.
        let scheme = url.split_once(':').map_or(url, |(scheme, _)| scheme);
        Err(Error::invalid(
            "database",
            format!(
                "{scheme:?} is not a supported database URL scheme \
                 (expected sqlite://PATH or postgres://USER@HOST/DATABASE)"
            ),
        ))
    }

    fn blob_store(&self) -> Arc<dyn BlobStore> {
        match self {
            Self::Sqlite(store) => Arc::new(store.blob_store()),
            #[cfg(feature = "postgres")]
            Self::Postgres(store) => Arc::new(store.blob_store()),
        }
    }

    fn into_store(self) -> Arc<dyn Store> {
        match self {
            Self::Sqlite(store) => Arc::new(store),
            #[cfg(feature = "postgres")]
            Self::Postgres(store) => Arc::new(store),
        }
    }
}

/// Opens the record store a database URL names: `sqlite://PATH`,
/// `sqlite::memory:`, or (feature `postgres`) `postgres://…`.
pub async fn open_store(url: &str) -> Result<Arc<dyn Store>> {
    Ok(Opened::open(url, Durability::Normal).await?.into_store())
}

/// Opens the record store `database` names and the blob store `blobs`
/// names; [`DB_BLOBS`] (`db:`) keeps the blobs in that same database.
pub async fn open_stores(
    database: &str,
    blobs: &str,
) -> Result<(Arc<dyn Store>, Arc<dyn BlobStore>)> {
    open_stores_with(database, blobs, Durability::Normal).await
}

/// [`open_stores`] with the [`Durability`] an `EngineConfig` asks for.
pub async fn open_stores_with(
    database: &str,
    blobs: &str,
    durability: Durability,
) -> Result<(Arc<dyn Store>, Arc<dyn BlobStore>)> {
    let store = Opened::open(database, durability).await?;
    let blobs = if blobs == DB_BLOBS {
        store.blob_store()
    } else {
        open_blob_store_with(blobs, durability).await?
    };
    Ok((store.into_store(), blobs))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn db_blobs_live_in_the_database() {
        let (store, blobs) = open_stores("sqlite::memory:", DB_BLOBS).await.unwrap();
        assert!(!blobs.exists(&"a".repeat(64)).await.unwrap());
        assert_eq!(gaia_core::JobStore::next_due(&*store).await.unwrap(), None);
    }

    #[tokio::test]
    async fn unknown_schemes_are_named_without_the_rest() {
        let error = open_store("mysql://root:hunter2@db/gaia")
            .await
            .err()
            .unwrap();
        let message = error.to_string();
        assert!(message.contains("mysql"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
        assert!(matches!(error, Error::InvalidRequest { ref field, .. } if field == "database"));
    }
}
