//! Job conversions: ids, requests, filters and pages from the Python side's JSON.

use gaia::{JobFilter, JobId, PageRequest, Request};
use pyo3::prelude::*;

use crate::error::to_py_err;
use crate::from_json;

/// A job id (`not_found` when it is not one).
pub fn job_id(text: &str) -> PyResult<JobId> {
    JobId::parse(text).map_err(|e| to_py_err(&e))
}

/// A wire request, parsed and validated by the engine (errors name the field).
pub fn request(json: &str) -> PyResult<Request> {
    Request::from_json(json).map_err(|e| to_py_err(&e))
}

/// A job listing filter.
pub fn job_filter(json: &str) -> PyResult<JobFilter> {
    from_json("filter", json)
}

/// A page request (`cursor`, `limit`).
pub fn page(json: &str) -> PyResult<PageRequest> {
    from_json("page", json)
}
