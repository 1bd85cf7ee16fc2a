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

/// The core error of an error thrown by JavaScript provider `provider`: the
/// core variant of its code, as the Python binding maps them, so the pipeline
/// treats it like the same failure of a built-in provider
/// (`provider_rate_limited` and `provider_timeout` are retried,
/// `provider_rejected` is not); any other name is a `provider_error`.
/// `retryable` is what the JavaScript error said, when it said anything: a
/// `provider_error` takes it, and a code whose core variant decides otherwise
/// keeps its code with the retryability the provider asked for.
pub(crate) fn from_js(
    provider: &str,
    code: &str,
    message: String,
    retryable: Option<bool>,
) -> gaia::Error {
    let provider = provider.to_owned();
    let code = gaia::ErrorCode::parse(code).unwrap_or(gaia::ErrorCode::ProviderError);
    let mapped = match code {
        gaia::ErrorCode::ProviderError => {
            return gaia::Error::Provider {
                provider,
                message,
                retryable: retryable.unwrap_or(false),
                retry_after: None,
            };
        }
        gaia::ErrorCode::ProviderRateLimited => gaia::Error::RateLimited {
            provider,
            retry_after: None,
        },
        gaia::ErrorCode::ProviderTimeout => gaia::Error::Timeout { provider },
        gaia::ErrorCode::ProviderRejected => gaia::Error::Rejected {
            provider,
            reason: message.clone(),
        },
        gaia::ErrorCode::InvalidOutput => gaia::Error::InvalidOutput(message.clone()),
        gaia::ErrorCode::Canceled => gaia::Error::Canceled,
        gaia::ErrorCode::InvalidRequest => gaia::Error::invalid("spec", message.clone()),
        // The other codes (`not_found`, `storage_error`, …) keep their code.
        _ => gaia::Error::Job(gaia::JobError {
            code,
            message: message.clone(),
            retryable: retryable.unwrap_or(false),
        }),
    };
    match retryable {
        Some(retryable) if retryable != mapped.is_retryable() => gaia::Error::Job(gaia::JobError {
            code,
            message,
            retryable,
        }),
        _ => mapped,
    }
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

    #[test]
    fn a_js_error_maps_to_the_core_variant_of_its_code() {
        let err = from_js("js", "provider_rate_limited", "slow down".into(), None);
        assert!(matches!(err, gaia::Error::RateLimited { .. }), "{err:?}");
        assert!(err.is_retryable());
        let err = from_js("js", "provider_rate_limited", "slow".into(), Some(true));
        assert!(matches!(err, gaia::Error::RateLimited { .. }), "{err:?}");
        let err = from_js("js", "provider_timeout", "late".into(), None);
        assert!(matches!(err, gaia::Error::Timeout { .. }), "{err:?}");
        let err = from_js("js", "provider_rejected", "no".into(), Some(false));
        assert!(matches!(err, gaia::Error::Rejected { .. }), "{err:?}");
        let err = from_js("js", "invalid_output", "bad".into(), None);
        assert!(matches!(err, gaia::Error::InvalidOutput(_)), "{err:?}");
        let err = from_js("js", "canceled", "stop".into(), None);
        assert!(matches!(err, gaia::Error::Canceled), "{err:?}");
        let err = from_js("js", "provider_error", "5xx".into(), Some(true));
        assert!(
            matches!(
                err,
                gaia::Error::Provider {
                    retryable: true,
                    ..
                }
            ),
            "{err:?}"
        );
        let err = from_js("js", "ECONNRESET", "reset".into(), None);
        assert!(
            matches!(
                err,
                gaia::Error::Provider {
                    retryable: false,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn an_explicit_retryable_is_kept() {
        let err = from_js("js", "provider_rate_limited", "quota".into(), Some(false));
        assert_eq!(err.code(), gaia::ErrorCode::ProviderRateLimited);
        assert!(!err.is_retryable());
        let err = from_js("js", "storage_error", "disk".into(), Some(true));
        assert_eq!(err.code(), gaia::ErrorCode::StorageError);
        assert!(err.is_retryable());
    }
}
