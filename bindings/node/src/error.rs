//! Maps core errors to JavaScript: the stable code travels in the message as
//! `[gaia:<code>] <message>` (`[gaia:invalid_request:<field>] <message>` for
//! an invalid request), and the JavaScript layer turns every such error into a
//! `GaiaError` whose `code` (and `field`) are those.

use napi::Status;

/// The prefix that marks a Gaia error for the JavaScript layer.
const PREFIX: &str = "[gaia:";

/// A core error as a napi error carrying its stable code.
pub(crate) fn to_napi(err: gaia::Error) -> napi::Error {
    let code = err.code().as_str();
    let tag = match &err {
        gaia::Error::InvalidRequest { field, .. } => format!("{code}:{field}"),
        _ => code.to_owned(),
    };
    napi::Error::new(Status::GenericFailure, format!("{PREFIX}{tag}] {err}"))
}

/// Wire JSON that does not parse, as an `invalid_request` naming `field`.
pub(crate) fn invalid_json(field: &str, err: &serde_json::Error) -> gaia::Error {
    gaia::Error::invalid(field, err.to_string())
}

/// Output that could not be written as JSON (a bug).
pub(crate) fn unwritable(err: &serde_json::Error) -> gaia::Error {
    gaia::Error::Internal(format!("cannot write JSON: {err}"))
}

/// An error a JavaScript provider reported, with its code when it named a
/// stable one (`provider_error` otherwise).
pub(crate) fn from_js(code: &str, message: String, retryable: bool) -> gaia::Error {
    let code = gaia::ErrorCode::parse(code).unwrap_or(gaia::ErrorCode::ProviderError);
    gaia::Error::Job(gaia::JobError {
        code,
        message,
        retryable,
    })
}
