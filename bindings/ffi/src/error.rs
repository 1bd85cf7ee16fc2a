//! The error object: a core error's stable code, its C status number and its
//! message. Mapped only through `gaia::Error::code()`.

use std::any::Any;
use std::ffi::{CString, c_char};

/// An error returned through `GaiaError **out_error`: read it with
/// `gaia_error_code`, `gaia_error_message` and `gaia_error_status`, free it
/// with `gaia_error_free`.
pub struct GaiaError {
    pub(crate) status: i32,
    code: CString,
    message: CString,
}

impl GaiaError {
    /// Converts a core error.
    pub(crate) fn from_error(error: &gaia::Error) -> Self {
        Self::new(error.code(), error.to_string())
    }

    /// A caught panic is an `internal` error.
    pub(crate) fn from_panic(panic: &(dyn Any + Send)) -> Self {
        let detail = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        Self::from_error(&gaia::Error::Internal(format!("panic: {detail}")))
    }

    fn new(code: gaia::ErrorCode, message: String) -> Self {
        let message = CString::new(message.replace('\0', " ")).unwrap_or_default();
        Self {
            status: code.status(),
            code: CString::new(code.as_str()).unwrap_or_default(),
            message,
        }
    }
}

/// The stable snake_case code (`"invalid_request"`, …), or NULL for a NULL
/// error. Valid until the error is freed.
///
/// # Safety
/// `error` is NULL or a live error from this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gaia_error_code(error: *const GaiaError) -> *const c_char {
    // SAFETY: NULL or a live `GaiaError` by the caller's contract.
    match unsafe { error.as_ref() } {
        Some(error) => error.code.as_ptr(),
        None => std::ptr::null(),
    }
}

/// The human-readable message, or NULL for a NULL error. Valid until the
/// error is freed.
///
/// # Safety
/// `error` is NULL or a live error from this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gaia_error_message(error: *const GaiaError) -> *const c_char {
    // SAFETY: NULL or a live `GaiaError` by the caller's contract.
    match unsafe { error.as_ref() } {
        Some(error) => error.message.as_ptr(),
        None => std::ptr::null(),
    }
}

/// The status number (1–13) the failing call returned, or `GAIA_OK` for NULL.
///
/// # Safety
/// `error` is NULL or a live error from this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gaia_error_status(error: *const GaiaError) -> i32 {
    // SAFETY: NULL or a live `GaiaError` by the caller's contract.
    unsafe { error.as_ref() }.map_or(crate::GAIA_OK, |error| error.status)
}

/// Frees an error. NULL is ignored.
///
/// # Safety
/// `error` is NULL or an error from this library, not yet freed (errors
/// passed to a completion callback are borrowed: never free those).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gaia_error_free(error: *mut GaiaError) {
    if !error.is_null() {
        // SAFETY: made by `Box::into_raw` in `call_status`, freed once.
        drop(unsafe { Box::from_raw(error) });
    }
}
