#![doc = include_str!("../README.md")]
//!
//! This crate is the facade: the types and the engine come from `gaia-core`,
//! the stores from `gaia-store`, the providers from `gaia-providers`.

pub use gaia_core::*;
pub use gaia_providers as providers;
pub use gaia_store as store;

use std::sync::Arc;

/// The names most programs need: `use gaia::prelude::*;`.
pub mod prelude {
    pub use crate::OpenEngine;
    pub use gaia_core::{
        Asset, AssetKind, ClientId, Engine, EngineConfig, ImageSpec, Job, JobId, JobStatus, Media,
        Money, Request, Spec,
    };
}

/// Opens an [`Engine`] from an [`EngineConfig`]: `Engine::open(config)`.
#[async_trait::async_trait]
pub trait OpenEngine: Sized {
    /// Opens the stores the configuration names (creating the default SQLite
    /// database and blob folder on first use), enables the configured
    /// providers, recovers jobs a crashed process left, and starts the workers.
    async fn open(config: EngineConfig) -> Result<Self>;
}

#[async_trait::async_trait]
impl OpenEngine for Engine {
    async fn open(config: EngineConfig) -> Result<Self> {
        config.validate()?;
        let store = open_store(&config.database_url()).await?;
        let blobs = gaia_store::open_blob_store(&config.blobs_url()).await?;
        let mut builder = Engine::builder()
            .store(store)
            .blobs(blobs)
            .config(config.clone());
        for provider in gaia_providers::from_config(&config) {
            builder = builder.provider(provider);
        }
        builder.build().await
    }
}

/// Opens the record store a database URL names.
pub async fn open_store(url: &str) -> Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        return Ok(Arc::new(gaia_store::SqliteStore::open(url).await?));
    }
    Err(Error::invalid(
        "database",
        format!("{url:?} is not a supported database URL (expected sqlite://PATH)"),
    ))
}
