//! Gaia's C ABI: a small, stable surface over [`gaia::Engine`].
//!
//! - An opaque engine handle (`GaiaEngine *`) opened from the JSON
//!   `EngineConfig`; requests, jobs, assets and events cross as JSON in the
//!   shared wire format; asset bytes as a buffer freed with `gaia_bytes_free`.
//! - Every call returns a status: `GAIA_OK` (0), the error code's fixed number
//!   (1–13, in `gaia::ErrorCode::ALL` order) or `GAIA_EMPTY` (100, a poll that
//!   found nothing). On failure `*out_error` receives a `GaiaError *` with the
//!   stable code and a message, freed with `gaia_error_free`. Every output
//!   argument is set to NULL (or 0) first: a failed call leaves none stale.
//! - No panic crosses the boundary; NULL, invalid UTF-8, malformed JSON and
//!   calls after `gaia_engine_close` return errors.
//! - Asynchrony: `gaia_submit` returns a job id at once; completion comes
//!   through a callback (`gaia_generate_async`, `gaia_wait_async`), events
//!   through a callback subscription (`gaia_subscribe`) or a queue drained with
//!   `gaia_poll_event` (`gaia_subscribe_queue`).
//!
//! Every function body is a conversion, one core call and a conversion back;
//! the behaviour lives in `gaia-core`.

mod asset;
mod engine;
mod error;
mod events;
mod job;
mod runtime;

use std::ffi::{CStr, CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};

pub use asset::*;
pub use engine::*;
pub use error::*;
pub use events::*;
pub use job::*;

/// The version of this C ABI. It changes only when a function's signature or
/// meaning changes; hosts compare it with the value they were built against.
pub const GAIA_ABI_VERSION: u32 = 1;

/// Success.
pub const GAIA_OK: i32 = 0;
/// `invalid_request`: the message names the offending field or argument.
pub const GAIA_INVALID_REQUEST: i32 = 1;
/// `not_found`.
pub const GAIA_NOT_FOUND: i32 = 2;
/// `conflict`.
pub const GAIA_CONFLICT: i32 = 3;
/// `budget_exceeded`.
pub const GAIA_BUDGET_EXCEEDED: i32 = 4;
/// `no_provider`.
pub const GAIA_NO_PROVIDER: i32 = 5;
/// `provider_error`.
pub const GAIA_PROVIDER_ERROR: i32 = 6;
/// `provider_rate_limited`.
pub const GAIA_PROVIDER_RATE_LIMITED: i32 = 7;
/// `provider_timeout`.
pub const GAIA_PROVIDER_TIMEOUT: i32 = 8;
/// `provider_rejected`.
pub const GAIA_PROVIDER_REJECTED: i32 = 9;
/// `invalid_output`.
pub const GAIA_INVALID_OUTPUT: i32 = 10;
/// `canceled`.
pub const GAIA_CANCELED: i32 = 11;
/// `storage_error`.
pub const GAIA_STORAGE_ERROR: i32 = 12;
/// `internal`: a bug (a caught panic lands here too).
pub const GAIA_INTERNAL: i32 = 13;
/// `gaia_poll_event` found nothing waiting.
pub const GAIA_EMPTY: i32 = 100;

/// The C ABI version this library implements (`GAIA_ABI_VERSION`).
#[unsafe(no_mangle)]
pub extern "C" fn gaia_abi_version() -> u32 {
    GAIA_ABI_VERSION
}

/// The library's version (`"0.1.0"`), a static string: do not free it.
#[unsafe(no_mangle)]
pub extern "C" fn gaia_version() -> *const c_char {
    static VERSION: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(version) => version,
            Err(_) => c"unknown",
        };
    VERSION.as_ptr()
}

/// Frees a string returned by this library (JSON, ids). NULL is ignored.
///
/// # Safety
/// `text` is NULL or a string this library returned, not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gaia_string_free(text: *mut c_char) {
    if text.is_null() {
        return;
    }
    // SAFETY: the caller passes a pointer made by `CString::into_raw` in
    // `write_string`, freed once.
    drop(unsafe { CString::from_raw(text) });
}

/// Runs an export body: clears `*out_error`, catches panics, and turns an
/// error into its status number and a `GaiaError` for the caller.
pub(crate) fn call(out_error: *mut *mut GaiaError, body: impl FnOnce() -> gaia::Result<()>) -> i32 {
    call_status(out_error, || body().map(|()| GAIA_OK))
}

/// Like [`call`], for bodies that choose their success status (`GAIA_EMPTY`).
pub(crate) fn call_status(
    out_error: *mut *mut GaiaError,
    body: impl FnOnce() -> gaia::Result<i32>,
) -> i32 {
    if !out_error.is_null() {
        // SAFETY: a non-NULL `out_error` points to a writable `GaiaError *`
        // (the documented contract of every function taking one).
        unsafe { *out_error = std::ptr::null_mut() };
    }
    let error = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(status)) => return status,
        Ok(Err(error)) => GaiaError::from_error(&error),
        Err(panic) => GaiaError::from_panic(panic.as_ref()),
    };
    let status = error.status;
    if !out_error.is_null() {
        // SAFETY: as above; the box is released by `gaia_error_free`.
        unsafe { *out_error = Box::into_raw(Box::new(error)) };
    }
    status
}

/// Reads a required UTF-8 string argument.
///
/// # Safety
/// `ptr` is NULL or a NUL-terminated string valid for the call.
pub(crate) unsafe fn str_arg<'a>(ptr: *const c_char, name: &str) -> gaia::Result<&'a str> {
    if ptr.is_null() {
        return Err(null_argument(name));
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's contract.
    let text = unsafe { CStr::from_ptr(ptr) };
    text.to_str()
        .map_err(|e| gaia::Error::invalid(name, format!("is not valid UTF-8: {e}")))
}

/// Reads an optional UTF-8 string argument (NULL means absent).
///
/// # Safety
/// As [`str_arg`].
pub(crate) unsafe fn opt_str_arg<'a>(
    ptr: *const c_char,
    name: &str,
) -> gaia::Result<Option<&'a str>> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: forwarded contract.
    unsafe { str_arg(ptr, name) }.map(Some)
}

/// The error for a NULL argument.
pub(crate) fn null_argument(name: &str) -> gaia::Error {
    gaia::Error::invalid(name, "must not be NULL")
}

/// Checks that an output pointer can be written and clears it.
///
/// # Safety
/// `out` is NULL or points to a writable `T *`.
pub(crate) unsafe fn out_arg<T>(out: *mut *mut T, name: &str) -> gaia::Result<()> {
    if out.is_null() {
        return Err(null_argument(name));
    }
    // SAFETY: non-NULL and writable by the caller's contract.
    unsafe { *out = std::ptr::null_mut() };
    Ok(())
}

/// Clears an optional output pointer, so that a failed call never leaves a
/// stale value in it.
///
/// # Safety
/// `out` is NULL or points to a writable `T *`.
pub(crate) unsafe fn clear_out<T>(out: *mut *mut T) {
    if !out.is_null() {
        // SAFETY: non-NULL and writable by the caller's contract.
        unsafe { *out = std::ptr::null_mut() };
    }
}

/// Parses wire JSON of any type; a syntax or shape error is `invalid_request`
/// naming the argument.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    json: &str,
    name: &str,
) -> gaia::Result<T> {
    serde_json::from_str(json).map_err(|e| gaia::Error::invalid(name, e.to_string()))
}

/// Serializes a wire value.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> gaia::Result<String> {
    serde_json::to_string(value).map_err(|e| gaia::Error::Internal(format!("serializing: {e}")))
}

/// Hands a string to the caller (freed with `gaia_string_free`).
///
/// # Safety
/// `out` was checked with [`out_arg`].
pub(crate) unsafe fn write_string(out: *mut *mut c_char, value: String) -> gaia::Result<()> {
    let text = CString::new(value)
        .map_err(|_| gaia::Error::Internal("a returned string contains NUL".into()))?;
    // SAFETY: `out` is non-NULL and writable (checked by `out_arg`).
    unsafe { *out = text.into_raw() };
    Ok(())
}

/// A raw pointer the host promised may travel to another thread (the
/// `user_data` of a callback).
#[derive(Clone, Copy)]
pub(crate) struct UserData(pub(crate) *mut std::ffi::c_void);

// SAFETY: the host documents, by registering a callback, that its user_data
// may be used from the engine's threads; Rust never dereferences it.
unsafe impl Send for UserData {}
// SAFETY: as above; it is only copied and passed back to the host.
unsafe impl Sync for UserData {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn take_error(error: *mut GaiaError) -> (String, String, i32) {
        assert!(!error.is_null());
        // SAFETY: a live error from `call`, freed once below.
        unsafe {
            let code = CStr::from_ptr(gaia_error_code(error))
                .to_str()
                .unwrap()
                .to_owned();
            let message = CStr::from_ptr(gaia_error_message(error))
                .to_str()
                .unwrap()
                .to_owned();
            let status = gaia_error_status(error);
            gaia_error_free(error);
            (code, message, status)
        }
    }

    #[test]
    fn status_constants_follow_the_error_codes() {
        let constants = [
            GAIA_INVALID_REQUEST,
            GAIA_NOT_FOUND,
            GAIA_CONFLICT,
            GAIA_BUDGET_EXCEEDED,
            GAIA_NO_PROVIDER,
            GAIA_PROVIDER_ERROR,
            GAIA_PROVIDER_RATE_LIMITED,
            GAIA_PROVIDER_TIMEOUT,
            GAIA_PROVIDER_REJECTED,
            GAIA_INVALID_OUTPUT,
            GAIA_CANCELED,
            GAIA_STORAGE_ERROR,
            GAIA_INTERNAL,
        ];
        for (code, constant) in gaia::ErrorCode::ALL.into_iter().zip(constants) {
            assert_eq!(code.status(), constant, "{code}");
        }
        let fixture = include_str!("../../../tests/wire/error_codes.json");
        let entries: Vec<serde_json::Value> = serde_json::from_str(fixture).unwrap();
        for entry in entries {
            let code = gaia::ErrorCode::parse(entry["code"].as_str().unwrap()).unwrap();
            assert_eq!(i64::from(code.status()), entry["status"].as_i64().unwrap());
        }
    }

    #[test]
    fn a_panic_becomes_internal() {
        let mut error = std::ptr::null_mut();
        let status = call(&mut error, || panic!("boom"));
        assert_eq!(status, GAIA_INTERNAL);
        let (code, message, error_status) = take_error(error);
        assert_eq!(code, "internal");
        assert!(message.contains("boom"), "{message}");
        assert_eq!(error_status, GAIA_INTERNAL);
    }

    #[test]
    fn errors_map_through_their_code() {
        let mut error = std::ptr::null_mut();
        let status = call(&mut error, || Err(gaia::Error::Canceled));
        assert_eq!(status, GAIA_CANCELED);
        assert_eq!(take_error(error).0, "canceled");
        assert_eq!(call(std::ptr::null_mut(), || Ok(())), GAIA_OK);
    }
}
