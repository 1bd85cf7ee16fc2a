//! Maps core errors to JavaScript and back. The stable code travels in the
//! message as `[gaia:<code>] <message>`: `[gaia:<code>+retryable] …` for an
//! error that may succeed when tried again, `[gaia:invalid_request:<field>] …`
//! for an invalid request. The JavaScript layer turns every such error into a
//! `GaiaError` whose `code`, `retryable` (and `field`) are those.

use napi::Status;

/// The prefix that marks a Gaia error for the JavaScript layer.
const PREFIX: &str = "[gaia:";
/// The marker after the code of a retryable error.
const RETRYABLE: &str = "+retryable";

/// The tag of a core error (what goes between `[gaia:` and `]`).
fn tag(err: &gaia::Error) -> String {
    let code = err.code().as_str();
    let retryable = if err.is_retryable() { RETRYABLE } else { "" };
    match err {
        gaia::Error::InvalidRequest { field, .. } => format!("{code}{retryable}:{field}"),
        _ => format!("{code}{retryable}"),
    }
}

/// A core error as a napi error carrying its stable code and whether it is retryable.
pub(crate) fn to_napi(err: gaia::Error) -> napi::Error {
    napi::Error::new(
        Status::GenericFailure,
        format!("{PREFIX}{}] {err}", tag(&err)),
    )
}

/// Wire JSON that does not parse, as an `invalid_request` naming `field`.
pub(crate) fn invalid_json(field: &str, err: &serde_json::Error) -> gaia::Error {
    gaia::Error::invalid(field, err.to_string())
}

/// Output that could not be written as JSON (a bug).
pub(crate) fn unwritable(err: &serde_json::Error) -> gaia::Error {
    gaia::Error::Internal(format!("cannot write JSON: {err}"))
}

/// The core error of an error thrown by JavaScript provider `provider`
/// (see [`gaia::Error::reported`]); a name that is no stable code is a
/// `provider_error`.
pub(crate) fn from_js(
    provider: &str,
    code: &str,
    message: String,
    retryable: Option<bool>,
) -> gaia::Error {
    gaia::Error::reported(provider, gaia::ErrorCode::parse(code), message, retryable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_carries_the_code_the_field_and_retryable() {
        let timeout = gaia::Error::Timeout {
            provider: "p".into(),
        };
        assert_eq!(tag(&timeout), "provider_timeout+retryable");
        assert_eq!(tag(&gaia::Error::Canceled), "canceled");
        assert_eq!(
            tag(&gaia::Error::invalid("models[0].operation", "no")),
            "invalid_request:models[0].operation"
        );
    }
}
