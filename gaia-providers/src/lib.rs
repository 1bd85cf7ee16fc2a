//! Gaia's built-in and remote generation providers.

#[cfg(feature = "a1111")]
pub mod a1111;
#[cfg(feature = "elevenlabs")]
pub mod elevenlabs;
#[cfg(feature = "fal")]
pub mod fal;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "meshy")]
pub mod meshy;
#[cfg(feature = "openai")]
pub mod openai;
pub mod procedural;
#[cfg(any(feature = "replicate", feature = "meshy", feature = "fal"))]
pub mod remote_task;
#[cfg(feature = "replicate")]
pub mod replicate;
#[cfg(feature = "stability")]
pub mod stability;

pub use procedural::ProceduralProvider;

use std::sync::Arc;

use gaia_core::{Embedder, EngineConfig, Provider, Result};

/// Reads one environment variable (the process environment, or a map in tests).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The providers a configuration enables, from the process environment
/// (see [`from_config_with_env`]).
pub fn from_config(config: &EngineConfig) -> Vec<Arc<dyn Provider>> {
    from_config_with_env(config, &read_env)
}

/// The providers a configuration enables, reading keys and base URLs from
/// `env`: each remote provider whose key is configured or set, then the
/// local servers (a1111, when configured), then the procedural provider
/// (always there unless disabled: it needs no key). Routing order among
/// them is the engine's (cheapest remote first; among local ones, free,
/// this order: a configured GPU server before procedural).
pub fn from_config_with_env(config: &EngineConfig, env: Env) -> Vec<Arc<dyn Provider>> {
    let mut providers: Vec<Arc<dyn Provider>> = Vec::new();
    // Remote providers: one line each.
    #[cfg(feature = "openai")]
    add(
        &mut providers,
        openai::OpenAiProvider::from_config(config, env),
    );
    #[cfg(feature = "stability")]
    add(
        &mut providers,
        stability::StabilityProvider::from_config(config, env),
    );
    #[cfg(feature = "replicate")]
    add(
        &mut providers,
        replicate::ReplicateProvider::from_config(config, env),
    );
    #[cfg(feature = "meshy")]
    add(
        &mut providers,
        meshy::MeshyProvider::from_config(config, env),
    );
    #[cfg(feature = "fal")]
    add(&mut providers, fal::FalProvider::from_config(config, env));
    #[cfg(feature = "elevenlabs")]
    add(
        &mut providers,
        elevenlabs::ElevenLabsProvider::from_config(config, env),
    );
    // Local servers, before procedural (all are free: registration order
    // decides among them).
    #[cfg(feature = "a1111")]
    add(
        &mut providers,
        a1111::A1111Provider::from_config(config, env),
    );
    let _ = env;
    let procedural_enabled = config
        .providers
        .get(procedural::NAME)
        .and_then(|p| p.enabled)
        .unwrap_or(true);
    if procedural_enabled {
        providers.push(Arc::new(ProceduralProvider::new()));
    }
    providers
}

/// Registers a provider that `from_config` found; one that could not be set
/// up is logged and left out, so the others still run.
#[allow(dead_code)]
fn add<P: Provider>(providers: &mut Vec<Arc<dyn Provider>>, found: Result<Option<P>>) {
    match found {
        Ok(Some(provider)) => providers.push(Arc::new(provider)),
        Ok(None) => {}
        Err(error) => tracing::error!(%error, "a configured provider could not be set up"),
    }
}

/// The embedder the configuration asks for (`"embedder": "openai"`), from
/// the process environment; `None` means the engine's default (hashed).
pub fn embedder_from_config(config: &EngineConfig) -> Option<Arc<dyn Embedder>> {
    embedder_from_config_with_env(config, &read_env)
}

/// [`embedder_from_config`] reading keys from `env`. Asking for `openai`
/// without an OpenAI key logs a warning and keeps the default.
pub fn embedder_from_config_with_env(config: &EngineConfig, env: Env) -> Option<Arc<dyn Embedder>> {
    match config.embedder.as_deref() {
        #[cfg(feature = "openai")]
        Some("openai") => openai_embedder(config, env),
        _ => {
            let _ = env;
            None
        }
    }
}

#[cfg(feature = "openai")]
fn openai_embedder(config: &EngineConfig, env: Env) -> Option<Arc<dyn Embedder>> {
    let Some(settings) = http::ProviderSettings::with_key(config, &openai::ENV, env) else {
        tracing::warn!("embedder \"openai\" needs an OpenAI key; using the hashed embedder");
        return None;
    };
    match openai::OpenAiEmbedder::new(&settings) {
        Ok(embedder) => Some(Arc::new(embedder)),
        Err(error) => {
            tracing::error!(%error, "the OpenAI embedder could not be set up");
            None
        }
    }
}

/// The process environment, empty values treated as unset.
pub(crate) fn read_env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
}
