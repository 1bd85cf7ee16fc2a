//! Jobs, requests and the other wire types: JSON text in, core types, JSON text out.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{invalid_json, unwritable};

/// Parses wire JSON into a core type; errors are `invalid_request` naming `field`.
pub(crate) fn parse<T: DeserializeOwned>(field: &str, json: &str) -> gaia::Result<T> {
    serde_json::from_str(json).map_err(|e| invalid_json(field, &e))
}

/// Writes a core value as wire JSON.
pub(crate) fn write<T: Serialize>(value: &T) -> gaia::Result<String> {
    serde_json::to_string(value).map_err(|e| unwritable(&e))
}

/// Parses a request (validated by core; errors name the field).
pub(crate) fn parse_request(json: &str) -> gaia::Result<gaia::Request> {
    gaia::Request::from_json(json)
}

/// Parses a job id (`not_found` when it is not one).
pub(crate) fn parse_job_id(id: &str) -> gaia::Result<gaia::JobId> {
    gaia::JobId::parse(id)
}

/// Parses wire JSON into `T` and writes it back.
pub(crate) fn round_trip<T: DeserializeOwned + Serialize>(json: &str) -> gaia::Result<String> {
    write(&parse::<T>("json", json)?)
}
