//! Gaia's Node binding: the native half of the npm package `gaia-engine`.
//!
//! Thin by design: every export converts its arguments (JSON text with the
//! wire format's snake_case keys), makes one core call and converts the
//! result or the error. The hand-written JavaScript layer (`index.js`,
//! `index.mjs`, `index.d.ts`) camelCases keys and is the published surface;
//! this module is loaded by it as `native.js`.
//!
//! Every `#[napi]` export runs inside napi-rs's panic guard: a panic becomes a
//! rejected Promise or a thrown JavaScript error, never an abort.

mod asset;
mod engine;
mod error;
mod events;
mod job;
mod provider;
mod runtime;

use napi::bindgen_prelude::Result;
use napi_derive::napi;

pub use engine::{NativeEngine, open_engine};
pub use provider::CallContext;

/// Parses wire JSON of the named type (`request`, `job`, `asset`, `event`,
/// `error`, `budget`, `config`, `page_jobs`, `costs_report`,
/// `import_request`, `search_results`, `usage_summary`) into the core type and writes it
/// back: the fixtures test that JavaScript objects convert both ways unchanged.
#[napi]
pub fn wire_round_trip(type_name: String, json: String) -> Result<String> {
    let result = match type_name.as_str() {
        "request" => job::round_trip::<gaia::Request>(&json),
        "job" => job::round_trip::<gaia::Job>(&json),
        "page_jobs" => job::round_trip::<gaia::Page<gaia::Job>>(&json),
        "asset" => job::round_trip::<gaia::Asset>(&json),
        "event" => job::round_trip::<gaia::Event>(&json),
        "error" => job::round_trip::<gaia::JobError>(&json),
        "budget" => job::round_trip::<gaia::Budget>(&json),
        "config" => job::round_trip::<gaia::EngineConfig>(&json),
        "costs_report" => job::round_trip::<gaia::CostReport>(&json),
        "import_request" => job::round_trip::<gaia::ImportRequest>(&json),
        "search_results" => job::round_trip::<Vec<gaia::ScoredAsset>>(&json),
        "usage_summary" => job::round_trip::<gaia::UsageSummary>(&json),
        other => Err(gaia::Error::invalid(
            "type",
            format!("{other:?} is not a wire type"),
        )),
    };
    result.map_err(error::to_napi)
}

/// The stable error codes, in C ABI status order (for `GaiaError.codes`).
#[napi]
pub fn error_codes() -> Vec<String> {
    gaia::ErrorCode::ALL
        .iter()
        .map(|code| code.as_str().to_owned())
        .collect()
}
