//! Gaia's stores: the records of jobs, assets and costs in SQLite, and
//! content-addressed blobs on the filesystem.
//!
//! - [`SqliteStore`] implements [`gaia_core::JobStore`],
//!   [`gaia_core::AssetStore`] and [`gaia_core::CostStore`] (so it is a
//!   [`gaia_core::Store`]) on one SQLite file in WAL mode. Its migrations are
//!   embedded and run on open; every write goes through one connection and
//!   starts with `BEGIN IMMEDIATE`, so workers in several processes serialize
//!   instead of deadlocking.
//! - [`FsBlobStore`] implements [`gaia_core::BlobStore`] under a folder, one
//!   file per SHA-256, flushed to disk before `put` returns.
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

mod fs_blobs;
mod sqlite;

pub mod conformance;

pub use fs_blobs::{FsBlobStore, open_blob_store};
pub use sqlite::SqliteStore;
