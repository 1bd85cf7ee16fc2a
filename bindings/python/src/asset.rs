//! Asset conversions: ids, filters, bytes, and the cost and budget arguments.

use gaia::{AssetFilter, AssetId, Budget, ClientId, CostQuery};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes};

use crate::error::to_py_err;
use crate::from_json;

/// An asset id (`not_found` when it is not one).
pub fn asset_id(text: &str) -> PyResult<AssetId> {
    AssetId::parse(text).map_err(|e| to_py_err(&e))
}

/// A client id (`invalid_request` naming `client_id` when malformed).
pub fn client_id(text: &str) -> PyResult<ClientId> {
    ClientId::new(text).map_err(|e| to_py_err(&e))
}

/// An asset listing filter (`client_id`, `campaign_id`, `type`, `tag`).
pub fn asset_filter(json: &str) -> PyResult<AssetFilter> {
    from_json("filter", json)
}

/// A cost report query.
pub fn cost_query(json: &str) -> PyResult<CostQuery> {
    from_json("query", json)
}

/// A budget.
pub fn budget(json: &str) -> PyResult<Budget> {
    from_json("budget", json)
}

/// Asset bytes as Python `bytes` (one copy).
pub fn to_bytes(py: Python<'_>, bytes: &[u8]) -> PyObject {
    PyBytes::new(py, bytes).into_any().unbind()
}

/// The contents of a `bytes` or `bytearray` object, copied once as a slice
/// (never extracted item by item); `None` for any other object.
pub fn byte_buffer(value: &Bound<'_, PyAny>) -> Option<bytes::Bytes> {
    if let Ok(bytes) = value.downcast::<PyBytes>() {
        return Some(bytes::Bytes::copy_from_slice(bytes.as_bytes()));
    }
    // `to_vec` copies under the GIL, so Python code cannot resize it meanwhile.
    value
        .downcast::<PyByteArray>()
        .ok()
        .map(|array| bytes::Bytes::from(array.to_vec()))
}
