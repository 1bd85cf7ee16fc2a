//! Gaia's stores: the records of jobs, assets and costs in SQLite or
//! Postgres, and content-addressed blobs on the filesystem, in the database
//! or in object storage.
//!
//! - [`SqliteStore`] implements [`gaia_core::JobStore`],
//!   [`gaia_core::AssetStore`] and [`gaia_core::CostStore`] (so it is a
//!   [`gaia_core::Store`]) on one SQLite file in WAL mode. Its migrations are
//!   embedded and run on open; every write goes through one connection and
//!   starts with `BEGIN IMMEDIATE`, so workers in several processes serialize
//!   instead of deadlocking.
//! - [`PostgresStore`] (feature `postgres`) is the same store on Postgres,
//!   for many workers in many processes on one database: jobs claimed with
//!   `FOR UPDATE SKIP LOCKED`, budgets and provider slots checked under
//!   advisory locks, idle workers woken by `LISTEN/NOTIFY`.
//! - [`FsBlobStore`] implements [`gaia_core::BlobStore`] under a folder, one
//!   file per SHA-256, flushed to disk before `put` returns;
//!   [`SqliteBlobStore`] and [`PostgresBlobStore`] keep blobs in the
//!   database itself (`blobs: "db:"`), in chunks (see [`db_blobs`]).
//! - [`S3BlobStore`] (feature `s3`) keeps them in an S3-compatible bucket
//!   (`blobs: "s3://bucket/prefix"`), streamed both ways, and signs download
//!   URLs ([`gaia_core::BlobStore::presigned_url`]).
//! - [`open_stores`] opens both by URL, as an `EngineConfig` names them.
//! - [`conformance`] is the behaviour every store must have, written once
//!   against `dyn Store`; a new backend runs it with
//!   [`store_conformance_tests!`].
//!
//! ```no_run
//! # async fn demo() -> gaia_core::Result<()> {
//! use gaia_core::JobStore;
//!
//! let store = gaia_store::SqliteStore::open("sqlite://.gaia/gaia.db").await?;
//! let blobs = gaia_store::open_blob_store("file://.gaia/blobs").await?;
//! let due = store.next_due().await?;
//! # let _ = (blobs, due);
//! store.close().await;
//! # Ok(())
//! # }
//! ```

pub mod db_blobs;
mod fs_blobs;
mod open;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "s3")]
mod s3_blobs;
mod sqlite;

pub mod conformance;
#[cfg(feature = "postgres")]
#[doc(hidden)]
pub mod testing;

pub use db_blobs::CHUNK_SIZE;
pub use fs_blobs::{FsBlobStore, open_blob_store, open_blob_store_with};
pub use open::{DB_BLOBS, open_store, open_stores, open_stores_with};
#[cfg(feature = "postgres")]
pub use postgres::{PostgresBlobStore, PostgresStore};
#[cfg(feature = "s3")]
pub use s3_blobs::S3BlobStore;
pub use sqlite::{SqliteBlobStore, SqliteStore};
