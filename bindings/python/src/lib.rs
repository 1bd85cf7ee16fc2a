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
    module.add_function(wrap_pyfunction!(wire_round_trip, module)?)?;
    error::register(module)?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

/// Parses wire JSON of the named type (`request`, `job`, `page_jobs`,
/// `asset`, `event`, `error`, `budget`, `config`, `costs_report`,
/// `import_request`, `search_results`, `usage_summary`) into Gaia's Rust
/// type and writes it back, for the tests that hold the Python objects to the
/// Rust types: a field the Rust type drops or renames changes the output.
#[pyfunction]
fn wire_round_trip(type_name: &str, json: &str) -> PyResult<String> {
    fn through<T: serde::de::DeserializeOwned + serde::Serialize>(json: &str) -> PyResult<String> {
        to_json(&from_json::<T>("json", json)?)
    }
    match type_name {
        "request" => through::<gaia::Request>(json),
        "job" => through::<gaia::Job>(json),
        "page_jobs" => through::<gaia::Page<gaia::Job>>(json),
        "asset" => through::<gaia::Asset>(json),
        "event" => through::<gaia::Event>(json),
        "error" => through::<gaia::JobError>(json),
        "budget" => through::<gaia::Budget>(json),
        "config" => through::<gaia::EngineConfig>(json),
        "costs_report" => through::<gaia::CostReport>(json),
        "import_request" => through::<gaia::ImportRequest>(json),
        "search_results" => through::<Vec<gaia::ScoredAsset>>(json),
        "usage_summary" => through::<gaia::UsageSummary>(json),
        other => Err(error::invalid(
            "type",
            format!("{other:?} is not a wire type"),
        )),
    }
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
