#![doc = include_str!("../README.md")]
//!
//! This crate is the facade: the types and the engine come from `gaia-core`,
//! the stores from `gaia-store`, the providers from `gaia-providers`.

pub use gaia_core::*;
pub use gaia_providers as providers;
pub use gaia_store as store;

use std::sync::Arc;

pub mod sinks;

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
        let (store, blobs) = gaia_store::open_stores_with(
            &config.database_url(),
            &config.blobs_url(),
            config.durability,
        )
        .await?;
        let mut builder = Engine::builder()
            .store(store)
            .blobs(blobs)
            .config(config.clone());
        for provider in gaia_providers::from_config(&config) {
            builder = builder.provider(provider);
        }
        if let Some(embedder) = gaia_providers::embedder_from_config(&config) {
            builder = builder.embedder(embedder);
        }
        for sink in open_event_sinks(&config.events).await? {
            builder = builder.event_sink(sink);
        }
        builder.build().await
    }
}

/// Starts the event sinks a configuration names (they connect in the
/// background: an unreachable server is not an error).
pub async fn open_event_sinks(events: &EventsConfig) -> Result<Vec<Arc<dyn EventSink>>> {
    let mut sinks: Vec<Arc<dyn EventSink>> = Vec::new();
    if let Some(nats) = &events.nats {
        #[cfg(feature = "nats")]
        sinks.push(Arc::new(crate::sinks::NatsSink::connect(nats).await?));
        #[cfg(not(feature = "nats"))]
        return Err(Error::invalid(
            "events.nats",
            format!(
                "this build has no NATS support (feature `nats`); cannot publish to {}",
                nats.redacted_url()
            ),
        ));
    }
    Ok(sinks)
}

/// Opens the record store a database URL names (`sqlite://…`, `postgres://…`).
pub async fn open_store(url: &str) -> Result<Arc<dyn Store>> {
    gaia_store::open_store(url).await
}
