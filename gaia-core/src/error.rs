//! The one error type of the engine and its stable error codes.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A `Result` whose error defaults to the engine's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The stable error codes shared by every host (Rust, Python, Node, C, C#).
///
/// The order is part of the C ABI: `GAIA_OK` is 0 and each code's status
/// number is its position here plus one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request is malformed; the message names the field.
    InvalidRequest,
    /// No job or asset with that id (for that client).
    NotFound,
    /// The same idempotency key was used with a different request.
    Conflict,
    /// The estimate does not fit in a budget.
    BudgetExceeded,
    /// No configured provider can make the requested kind.
    NoProvider,
    /// The provider failed (including a refused key or exhausted credit).
    ProviderError,
    /// The provider rate-limited the call.
    ProviderRateLimited,
    /// The provider did not answer in time.
    ProviderTimeout,
    /// The provider refused the content (moderation).
    ProviderRejected,
    /// The provider's bytes did not verify.
    InvalidOutput,
    /// The job was canceled.
    Canceled,
    /// The database or blob store failed.
    StorageError,
    /// A bug in the engine.
    Internal,
}

impl ErrorCode {
    /// Every code, in status-number order.
    pub const ALL: [ErrorCode; 13] = [
        Self::InvalidRequest,
        Self::NotFound,
        Self::Conflict,
        Self::BudgetExceeded,
        Self::NoProvider,
        Self::ProviderError,
        Self::ProviderRateLimited,
        Self::ProviderTimeout,
        Self::ProviderRejected,
        Self::InvalidOutput,
        Self::Canceled,
        Self::StorageError,
        Self::Internal,
    ];

    /// The snake_case name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::BudgetExceeded => "budget_exceeded",
            Self::NoProvider => "no_provider",
            Self::ProviderError => "provider_error",
            Self::ProviderRateLimited => "provider_rate_limited",
            Self::ProviderTimeout => "provider_timeout",
            Self::ProviderRejected => "provider_rejected",
            Self::InvalidOutput => "invalid_output",
            Self::Canceled => "canceled",
            Self::StorageError => "storage_error",
            Self::Internal => "internal",
        }
    }

    /// Parses a wire name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|code| code.as_str() == name)
    }

    /// The fixed status number of the C ABI (1–13; `GAIA_OK` is 0).
    pub fn status(self) -> i32 {
        Self::ALL
            .iter()
            .position(|c| *c == self)
            .map_or(13, |i| i as i32 + 1)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of a finished job, as stored and sent on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobError {
    /// The stable code.
    pub code: ErrorCode,
    /// A human-readable message (never contains a secret).
    pub message: String,
    /// Whether trying again may succeed.
    pub retryable: bool,
}

/// Everything that can go wrong in the engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A request field is invalid.
    #[error("invalid request: {field}: {message}")]
    InvalidRequest {
        /// The offending field, as a dotted path (`spec.width`).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// No such job or asset.
    #[error("{what} not found: {id}")]
    NotFound {
        /// `job` or `asset`.
        what: &'static str,
        /// The id asked for.
        id: String,
    },
    /// A conflicting request (idempotency key reused with another request).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A budget would be exceeded.
    #[error("budget exceeded: {0}")]
    BudgetExceeded(String),
    /// No configured provider can make the kind.
    #[error("no provider can make {0}")]
    NoProvider(String),
    /// A provider failed.
    #[error("{provider}: {message}")]
    Provider {
        /// The provider's name.
        provider: String,
        /// What happened (never contains a key).
        message: String,
        /// Whether a retry may succeed (5xx, connection reset).
        retryable: bool,
        /// The provider's `Retry-After` (a 503 may send one), when it sent one.
        retry_after: Option<Duration>,
    },
    /// A provider rate-limited the call.
    #[error("{provider}: rate limited{}", retry_after.map(|d| format!(", retry after {:.1}s", d.as_secs_f64())).unwrap_or_default())]
    RateLimited {
        /// The provider's name.
        provider: String,
        /// The provider's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },
    /// A provider timed out.
    #[error("{provider}: timed out")]
    Timeout {
        /// The provider's name.
        provider: String,
    },
    /// A provider refused the content.
    #[error("{provider}: rejected: {reason}")]
    Rejected {
        /// The provider's name.
        provider: String,
        /// The provider's reason.
        reason: String,
    },
    /// Output bytes failed verification.
    #[error("invalid output: {0}")]
    InvalidOutput(String),
    /// The job was canceled.
    #[error("canceled")]
    Canceled,
    /// The database or the blob store failed.
    ///
    /// The message ends with the cause's own words ("No space left on
    /// device", "no such table: jobs"): every host shows the message, and
    /// the cause is what tells a user what to fix. It is therefore not also
    /// returned as [`std::error::Error::source`], where a chain printer
    /// would repeat it; match `cause` to inspect it.
    #[error("storage error: {message}{}", cause_text(cause))]
    Storage {
        /// What failed, naming the path or URL where there is one.
        message: String,
        /// The underlying error.
        cause: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },
    /// A bug.
    #[error("internal error: {0}")]
    Internal(String),
    /// The recorded error of a finished job.
    #[error("{}: {}", .0.code, .0.message)]
    Job(JobError),
}

impl Error {
    /// An `invalid_request` naming `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidRequest {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A `storage_error` with its cause.
    pub fn storage(
        message: impl Into<String>,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Storage {
            message: message.into(),
            cause: Some(Box::new(cause)),
        }
    }

    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidRequest { .. } => ErrorCode::InvalidRequest,
            Self::NotFound { .. } => ErrorCode::NotFound,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::BudgetExceeded(_) => ErrorCode::BudgetExceeded,
            Self::NoProvider(_) => ErrorCode::NoProvider,
            Self::Provider { .. } => ErrorCode::ProviderError,
            Self::RateLimited { .. } => ErrorCode::ProviderRateLimited,
            Self::Timeout { .. } => ErrorCode::ProviderTimeout,
            Self::Rejected { .. } => ErrorCode::ProviderRejected,
            Self::InvalidOutput(_) => ErrorCode::InvalidOutput,
            Self::Canceled => ErrorCode::Canceled,
            Self::Storage { .. } => ErrorCode::StorageError,
            Self::Internal(_) => ErrorCode::Internal,
            Self::Job(e) => e.code,
        }
    }

    /// Whether the pipeline retries the attempt that failed with this error.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Provider { retryable, .. } => *retryable,
            Self::RateLimited { .. } | Self::Timeout { .. } => true,
            Self::Job(e) => e.retryable,
            _ => false,
        }
    }

    /// The error a provider written in a host language (Python, JavaScript)
    /// reported: the core variant of its stable code, so the pipeline treats
    /// it like the same failure of a built-in provider
    /// (`provider_rate_limited` and `provider_timeout` are retried,
    /// `provider_rejected` is not); no code, or `provider_error`, is a
    /// `provider_error`. `retryable` is what the host error said, if
    /// anything: a `provider_error` takes it (not retried otherwise), and a
    /// code whose variant decides otherwise keeps its code with the
    /// retryability asked for.
    pub fn reported(
        provider: &str,
        code: Option<ErrorCode>,
        message: String,
        retryable: Option<bool>,
    ) -> Self {
        let provider = provider.to_owned();
        let code = code.unwrap_or(ErrorCode::ProviderError);
        let mapped = match code {
            ErrorCode::ProviderError => {
                return Self::Provider {
                    provider,
                    message,
                    retryable: retryable.unwrap_or(false),
                    retry_after: None,
                };
            }
            ErrorCode::ProviderRateLimited => Self::RateLimited {
                provider,
                retry_after: None,
            },
            ErrorCode::ProviderTimeout => Self::Timeout { provider },
            ErrorCode::ProviderRejected => Self::Rejected {
                provider,
                reason: message.clone(),
            },
            ErrorCode::InvalidOutput => Self::InvalidOutput(message.clone()),
            ErrorCode::Canceled => Self::Canceled,
            ErrorCode::InvalidRequest => Self::invalid("spec", message.clone()),
            // The other codes (`not_found`, `storage_error`, …) keep their code.
            _ => Self::Job(JobError {
                code,
                message: message.clone(),
                retryable: retryable.unwrap_or(false),
            }),
        };
        match retryable {
            Some(retryable) if retryable != mapped.is_retryable() => Self::Job(JobError {
                code,
                message,
                retryable,
            }),
            _ => mapped,
        }
    }

    /// How long the provider asked us to wait before the next attempt.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } | Self::Provider { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }

    /// The error as recorded on a job and sent on the wire.
    pub fn to_job_error(&self) -> JobError {
        match self {
            Self::Job(e) => e.clone(),
            other => JobError {
                code: other.code(),
                message: other.to_string(),
                retryable: other.is_retryable(),
            },
        }
    }
}

/// `: ` and a storage error's cause with its own causes, or nothing.
fn cause_text(cause: &Option<Box<dyn std::error::Error + Send + Sync + 'static>>) -> String {
    match cause {
        Some(cause) => format!(": {}", with_causes(cause.as_ref())),
        None => String::new(),
    }
}

/// An error's message followed by those of its sources, `: `-separated,
/// each once (a message that already quotes its source skips it).
pub fn with_causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

impl From<JobError> for Error {
    fn from(e: JobError) -> Self {
        Self::Job(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_providers_error_maps_to_the_core_variant_of_its_code() {
        let reported = |code: &str, retryable| {
            Error::reported("js", ErrorCode::parse(code), "m".into(), retryable)
        };
        let err = reported("provider_rate_limited", None);
        assert!(
            matches!(err, Error::RateLimited { .. }) && err.is_retryable(),
            "{err:?}"
        );
        let err = reported("provider_rate_limited", Some(true));
        assert!(matches!(err, Error::RateLimited { .. }), "{err:?}");
        assert!(matches!(
            reported("provider_timeout", None),
            Error::Timeout { .. }
        ));
        assert!(matches!(
            reported("provider_rejected", Some(false)),
            Error::Rejected { .. }
        ));
        assert!(matches!(
            reported("invalid_output", None),
            Error::InvalidOutput(_)
        ));
        assert!(matches!(reported("canceled", None), Error::Canceled));
        let err = reported("provider_error", Some(true));
        assert!(
            matches!(
                err,
                Error::Provider {
                    retryable: true,
                    ..
                }
            ),
            "{err:?}"
        );
        let err = reported("ECONNRESET", None);
        assert!(
            matches!(
                err,
                Error::Provider {
                    retryable: false,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn a_host_providers_explicit_retryable_is_kept() {
        let quota = Error::reported(
            "js",
            Some(ErrorCode::ProviderRateLimited),
            "quota".into(),
            Some(false),
        );
        assert_eq!(quota.code(), ErrorCode::ProviderRateLimited);
        assert!(!quota.is_retryable());
        let disk = Error::reported("js", Some(ErrorCode::StorageError), "d".into(), Some(true));
        assert_eq!(disk.code(), ErrorCode::StorageError);
        assert!(disk.is_retryable());
    }

    #[test]
    fn a_storage_error_says_why_once() {
        let io = std::io::Error::new(std::io::ErrorKind::StorageFull, "No space left on device");
        let error = Error::storage("cannot write blob ab/cd", io);
        assert_eq!(
            error.to_string(),
            "storage error: cannot write blob ab/cd: No space left on device"
        );
        // Shown in the message, so not repeated by chain printers.
        assert!(std::error::Error::source(&error).is_none());
        let Error::Storage {
            cause: Some(cause), ..
        } = &error
        else {
            panic!("a storage error keeps its cause");
        };
        let io = cause.downcast_ref::<std::io::Error>();
        assert_eq!(io.map(|e| e.kind()), Some(std::io::ErrorKind::StorageFull));
    }

    #[test]
    fn error_is_send_sync_static() {
        fn assert_bounds<T: Send + Sync + 'static>() {}
        assert_bounds::<Error>();
    }

    #[test]
    fn status_numbers_follow_the_design_order() {
        assert_eq!(ErrorCode::InvalidRequest.status(), 1);
        assert_eq!(ErrorCode::ProviderRejected.status(), 9);
        assert_eq!(ErrorCode::Internal.status(), 13);
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
            let json = serde_json::to_string(&code).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }

    #[test]
    fn job_error_keeps_its_code() {
        let err = Error::invalid("spec.width", "must be 1..=4096");
        let recorded = err.to_job_error();
        assert_eq!(recorded.code, ErrorCode::InvalidRequest);
        assert!(recorded.message.contains("spec.width"));
        assert_eq!(Error::from(recorded).code(), ErrorCode::InvalidRequest);
    }
}
