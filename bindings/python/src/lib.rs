//! `gaia._gaia`: the private native module behind the hand-written `gaia`
//! Python package. It converts (JSON across the boundary, the wire format
//! every binding shares) and maps errors; all behaviour is in the engine.

mod asset;
mod engine;
mod error;
mod event;
mod job;
mod provider;
mod runtime;

use pyo3::prelude::*;

/// The native module: the engine handle, the event stream, the provider
/// context and the exception classes.
#[pymodule]
fn _gaia(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<engine::NativeEngine>()?;
    module.add_class::<event::NativeEvents>()?;
    module.add_class::<provider::ProviderContext>()?;
    error::register(module)?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

/// Serializes a result for the Python side (which builds its typed objects from it).
fn to_json<T: serde::Serialize>(value: &T) -> PyResult<String> {
    serde_json::to_string(value)
        .map_err(|e| error::internal(format!("cannot serialize a result: {e}")))
}

/// Deserializes an argument the Python side built; errors name `what`.
fn from_json<T: serde::de::DeserializeOwned>(what: &str, json: &str) -> PyResult<T> {
    serde_json::from_str(json).map_err(|e| error::invalid(what, e.to_string()))
}
