//! Gaia's built-in and remote generation providers.

pub mod procedural;

pub use procedural::ProceduralProvider;

use std::sync::Arc;

use gaia_core::{EngineConfig, Provider};

/// The providers a configuration enables, cheapest-first routing decided by
/// the engine. The procedural provider is always there (it needs no key).
pub fn from_config(config: &EngineConfig) -> Vec<Arc<dyn Provider>> {
    let procedural_enabled = config
        .providers
        .get(procedural::NAME)
        .and_then(|p| p.enabled)
        .unwrap_or(true);
    let mut providers: Vec<Arc<dyn Provider>> = Vec::new();
    if procedural_enabled {
        providers.push(Arc::new(ProceduralProvider::new()));
    }
    providers
}
