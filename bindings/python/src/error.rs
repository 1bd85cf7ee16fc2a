//! Error mapping: each stable `ErrorCode` is a Python exception class under
//! `GaiaError` (with `.code`, `.retryable` and, for `invalid_request`,
//! `.field`); an exception raised by a Python provider maps back to the
//! core error of its code.

use gaia::{Error, ErrorCode};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyType;

create_exception!(
    gaia,
    GaiaError,
    PyException,
    "Every Gaia error; `.code` is its stable code."
);
create_exception!(
    gaia,
    InvalidRequestError,
    GaiaError,
    "`invalid_request`: `.field` names the offending field."
);
create_exception!(
    gaia,
    NotFoundError,
    GaiaError,
    "`not_found`: no job or asset with that id."
);
create_exception!(
    gaia,
    ConflictError,
    GaiaError,
    "`conflict`: an idempotency key reused with another request, or a job in the wrong state."
);
create_exception!(
    gaia,
    BudgetExceededError,
    GaiaError,
    "`budget_exceeded`: the estimate does not fit in a budget."
);
create_exception!(
    gaia,
    NoProviderError,
    GaiaError,
    "`no_provider`: no configured provider can make the kind."
);
create_exception!(
    gaia,
    ProviderError,
    GaiaError,
    "`provider_error`: the provider failed."
);
create_exception!(
    gaia,
    ProviderRateLimitedError,
    GaiaError,
    "`provider_rate_limited`: the provider rate-limited the call."
);
create_exception!(
    gaia,
    ProviderTimeoutError,
    GaiaError,
    "`provider_timeout`: the provider did not answer in time."
);
create_exception!(
    gaia,
    ProviderRejectedError,
    GaiaError,
    "`provider_rejected`: the provider refused the content."
);
create_exception!(
    gaia,
    InvalidOutputError,
    GaiaError,
    "`invalid_output`: the provider's bytes did not verify."
);
create_exception!(
    gaia,
    CanceledError,
    GaiaError,
    "`canceled`: the job was canceled."
);
create_exception!(
    gaia,
    StorageError,
    GaiaError,
    "`storage_error`: the database or blob store failed."
);
create_exception!(
    gaia,
    InternalError,
    GaiaError,
    "`internal`: a bug in the engine."
);

/// The exception class of a code.
fn class_of(py: Python<'_>, code: ErrorCode) -> Bound<'_, PyType> {
    match code {
        ErrorCode::InvalidRequest => py.get_type::<InvalidRequestError>(),
        ErrorCode::NotFound => py.get_type::<NotFoundError>(),
        ErrorCode::Conflict => py.get_type::<ConflictError>(),
        ErrorCode::BudgetExceeded => py.get_type::<BudgetExceededError>(),
        ErrorCode::NoProvider => py.get_type::<NoProviderError>(),
        ErrorCode::ProviderError => py.get_type::<ProviderError>(),
        ErrorCode::ProviderRateLimited => py.get_type::<ProviderRateLimitedError>(),
        ErrorCode::ProviderTimeout => py.get_type::<ProviderTimeoutError>(),
        ErrorCode::ProviderRejected => py.get_type::<ProviderRejectedError>(),
        ErrorCode::InvalidOutput => py.get_type::<InvalidOutputError>(),
        ErrorCode::Canceled => py.get_type::<CanceledError>(),
        ErrorCode::StorageError => py.get_type::<StorageError>(),
        ErrorCode::Internal => py.get_type::<InternalError>(),
    }
}

/// Adds the exception classes to the module, each with its class-level `.code`.
pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    module.add("GaiaError", py.get_type::<GaiaError>())?;
    for code in ErrorCode::ALL {
        let class = class_of(py, code);
        class.setattr("code", code.as_str())?;
        module.add(class.name()?, class)?;
    }
    Ok(())
}

/// The Python exception of a core error.
pub fn to_py_err(error: &Error) -> PyErr {
    Python::with_gil(|py| {
        let code = error.code();
        let value = match class_of(py, code).call1((error.to_string(),)) {
            Ok(value) => value,
            Err(err) => return err,
        };
        let field = match error {
            Error::InvalidRequest { field, .. } => Some(field.as_str()),
            _ => None,
        };
        let annotated = value
            .setattr("code", code.as_str())
            .and_then(|()| value.setattr("retryable", error.is_retryable()))
            .and_then(|()| value.setattr("field", field));
        match annotated {
            Ok(()) => PyErr::from_value(value),
            Err(err) => err,
        }
    })
}

/// An `internal` error raised in the binding itself.
pub fn internal(message: impl Into<String>) -> PyErr {
    to_py_err(&Error::Internal(message.into()))
}

/// The `invalid_request` of JSON the engine could not parse (it names the field).
pub fn invalid(field: &str, message: impl Into<String>) -> PyErr {
    to_py_err(&Error::invalid(field, message))
}

/// The core error of an exception raised by Python provider `provider`
/// (see [`Error::reported`]): a `GaiaError` keeps its code; anything else
/// is a `provider_error` named after its type.
pub fn from_py_err(py: Python<'_>, err: &PyErr, provider: &str) -> Error {
    let value = err.value(py);
    let message = value.str().map(|s| s.to_string()).unwrap_or_default();
    let code = if err.is_instance_of::<GaiaError>(py) {
        value
            .getattr("code")
            .and_then(|c| c.extract::<String>())
            .ok()
            .and_then(|c| ErrorCode::parse(&c))
    } else {
        None
    };
    let retryable = value
        .getattr("retryable")
        .and_then(|r| r.extract::<bool>())
        .ok();
    let message = if code.is_some() {
        message
    } else {
        let kind = value
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_default();
        format!("{kind}: {message}")
    };
    Error::reported(provider, code, message, retryable)
}
