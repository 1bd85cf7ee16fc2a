//! Mapping a provider's failed response to the engine's stable error codes.

use std::time::{Duration, SystemTime};

use gaia_core::Error;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

/// The longest provider message quoted in an error.
const MAX_MESSAGE_CHARS: usize = 500;

/// A provider's own reading of a failed response, tried before the default
/// status mapping: moderation, exhausted credit and other signals that only
/// the provider's body shape reveals. `None` falls through to
/// [`ErrorResponse::default_error`].
pub type Classifier = fn(&ErrorResponse) -> Option<Error>;

/// The default classifier: the status alone decides.
pub fn by_status_only(_failure: &ErrorResponse) -> Option<Error> {
    None
}

/// A failed (non-2xx) response, read and redacted: its body never holds the
/// key, even when the provider echoed it.
#[derive(Debug, Clone)]
pub struct ErrorResponse {
    provider: String,
    status: StatusCode,
    retry_after: Option<Duration>,
    body: String,
}

impl ErrorResponse {
    /// A failed response of `provider` (the body already redacted).
    pub fn new(
        provider: impl Into<String>,
        status: StatusCode,
        retry_after: Option<Duration>,
        body: impl Into<String>,
    ) -> Self {
        Self {
            provider: provider.into(),
            status,
            retry_after,
            body: body.into(),
        }
    }

    /// The provider's name.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The wait the provider asked for (`Retry-After`, `retry-after-ms`).
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The body as text (truncated to the first 64 KiB).
    pub fn body(&self) -> &str {
        &self.body
    }

    /// The body as JSON, when it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }

    /// The provider's message, found in the usual error shapes
    /// (`error.message`, `message`, `detail`, `detail.message`, `errors[]`,
    /// `error`), else the body text, else the status's reason; truncated.
    pub fn message(&self) -> String {
        let found = self.json().as_ref().and_then(message_of);
        let text = match found {
            Some(text) => text,
            None if !self.body.trim().is_empty() => self.body.trim().to_owned(),
            None => self
                .status
                .canonical_reason()
                .unwrap_or("no message")
                .to_owned(),
        };
        truncate(&text, MAX_MESSAGE_CHARS)
    }

    /// `provider_error`, not retried: the provider refused the key. The
    /// provider's message is left out on 401 (some echo part of the key).
    pub fn refused_key(&self) -> Error {
        let message = if self.status == StatusCode::UNAUTHORIZED {
            format!(
                "the API key was refused (HTTP 401); check the key configured for {}",
                self.provider
            )
        } else {
            format!(
                "the API key was refused (HTTP {}): {}",
                self.status.as_u16(),
                self.message()
            )
        };
        self.fatal(message)
    }

    /// `provider_error`, not retried: the account has no credit left.
    pub fn no_credit(&self) -> Error {
        self.fatal(format!(
            "out of credit (HTTP {}): {}",
            self.status.as_u16(),
            self.message()
        ))
    }

    /// `provider_rejected` with the provider's reason (moderation).
    pub fn rejected(&self, reason: impl Into<String>) -> Error {
        Error::Rejected {
            provider: self.provider.clone(),
            reason: reason.into(),
        }
    }

    /// `provider_rate_limited` with the provider's wait.
    pub fn rate_limited(&self) -> Error {
        Error::RateLimited {
            provider: self.provider.clone(),
            retry_after: self.retry_after,
        }
    }

    /// `provider_error`, not retried, with `message`.
    pub fn fatal(&self, message: impl Into<String>) -> Error {
        Error::Provider {
            provider: self.provider.clone(),
            message: message.into(),
            retryable: false,
            retry_after: None,
        }
    }

    /// The mapping by status alone: 401/403 a refused key, 402 no credit,
    /// 408 a timeout, 429 rate limited, 5xx retryable, other 4xx fatal.
    pub fn default_error(&self) -> Error {
        let status = self.status;
        match status.as_u16() {
            401 | 403 => self.refused_key(),
            402 => self.no_credit(),
            408 => Error::Timeout {
                provider: self.provider.clone(),
            },
            429 => self.rate_limited(),
            500..=599 => Error::Provider {
                provider: self.provider.clone(),
                message: format!(
                    "server error (HTTP {}): {}",
                    status.as_u16(),
                    self.message()
                ),
                retryable: true,
                retry_after: self.retry_after,
            },
            code => self.fatal(format!("request failed (HTTP {code}): {}", self.message())),
        }
    }
}

/// The message inside the usual JSON error shapes.
fn message_of(json: &Value) -> Option<String> {
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let candidates = [
        json.pointer("/error/message").and_then(text),
        json.pointer("/detail/message").and_then(text),
        json.get("message").and_then(text),
        json.get("detail").and_then(text),
        json.get("error").and_then(text),
        json.get("errors").and_then(joined_strings),
        json.get("detail").and_then(validation_errors),
    ];
    candidates.into_iter().flatten().find(|m| !m.is_empty())
}

/// `["a", "b"]` → `a; b`.
fn joined_strings(value: &Value) -> Option<String> {
    let items: Vec<&str> = value.as_array()?.iter().filter_map(Value::as_str).collect();
    (!items.is_empty()).then(|| items.join("; "))
}

/// FastAPI's `[{"loc": [...], "msg": "..."}]` → `body.prompt: field required`.
fn validation_errors(value: &Value) -> Option<String> {
    let items: Vec<String> = value
        .as_array()?
        .iter()
        .filter_map(|item| {
            let msg = item.get("msg")?.as_str()?;
            let loc: Vec<String> = item
                .get("loc")
                .and_then(Value::as_array)
                .map(|parts| {
                    parts
                        .iter()
                        .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            Some(format!("{}: {msg}", loc.join(".")))
        })
        .collect();
    (!items.is_empty()).then(|| items.join("; "))
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// The wait a response asks for: `retry-after-ms` (milliseconds, as OpenAI
/// sends) or `Retry-After` (delta-seconds or an HTTP-date).
pub fn retry_after_of(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    // `try_from`: a value too large for a `Duration` is no wait we know.
    if let Some(ms) = header("retry-after-ms").and_then(|v| v.trim().parse::<f64>().ok())
        && let Ok(wait) = Duration::try_from_secs_f64(ms / 1000.0)
    {
        return Some(wait);
    }
    parse_retry_after(header("retry-after")?, now)
}

/// Parses a `Retry-After` value: delta-seconds (`120`, leniently `1.5`) or
/// an HTTP-date (`Wed, 21 Oct 2015 07:28:00 GMT`; a date already past is
/// zero). `None` for anything else.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    if let Ok(seconds) = value.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds).ok();
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use gaia_core::ErrorCode;
    use reqwest::header::HeaderValue;

    use super::*;

    fn failure(status: u16, body: &str) -> ErrorResponse {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::IM_A_TEAPOT);
        ErrorResponse::new("acme", status, Some(Duration::from_secs(3)), body)
    }

    #[test]
    fn retry_after_takes_seconds_and_http_dates() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT")
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let cases: [(&str, Option<Duration>); 10] = [
            ("120", Some(Duration::from_secs(120))),
            (" 0 ", Some(Duration::ZERO)),
            ("1.5", Some(Duration::from_millis(1500))),
            (
                "Wed, 21 Oct 2015 07:28:30 GMT",
                Some(Duration::from_secs(30)),
            ),
            (
                "Wednesday, 21-Oct-15 07:29:00 GMT",
                Some(Duration::from_secs(60)),
            ),
            ("Wed, 21 Oct 2015 07:00:00 GMT", Some(Duration::ZERO)),
            ("-5", None),
            ("soon", None),
            // Too large for a Duration: ignored, not a panic.
            ("1e300", None),
            ("NaN", None),
        ];
        for (value, expected) in cases {
            assert_eq!(parse_retry_after(value, now), expected, "{value:?}");
        }
    }

    #[test]
    fn retry_after_ms_wins_over_retry_after() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("20"));
        assert_eq!(
            retry_after_of(&headers, SystemTime::now()),
            Some(Duration::from_secs(20))
        );
        headers.insert("retry-after-ms", HeaderValue::from_static("250"));
        assert_eq!(
            retry_after_of(&headers, SystemTime::now()),
            Some(Duration::from_millis(250))
        );
        assert_eq!(retry_after_of(&HeaderMap::new(), SystemTime::now()), None);
        headers.insert("retry-after-ms", HeaderValue::from_static("1e30"));
        assert_eq!(
            retry_after_of(&headers, SystemTime::now()),
            Some(Duration::from_secs(20)),
            "an impossible retry-after-ms is skipped"
        );
    }

    #[test]
    fn statuses_map_to_stable_codes() {
        let cases: [(u16, ErrorCode, bool); 9] = [
            (400, ErrorCode::ProviderError, false),
            (401, ErrorCode::ProviderError, false),
            (402, ErrorCode::ProviderError, false),
            (403, ErrorCode::ProviderError, false),
            (404, ErrorCode::ProviderError, false),
            (408, ErrorCode::ProviderTimeout, true),
            (429, ErrorCode::ProviderRateLimited, true),
            (500, ErrorCode::ProviderError, true),
            (503, ErrorCode::ProviderError, true),
        ];
        for (status, code, retryable) in cases {
            let error = failure(status, "{}").default_error();
            assert_eq!(error.code(), code, "{status}");
            assert_eq!(error.is_retryable(), retryable, "{status}");
        }
        let limited = failure(429, "").default_error();
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(3)));
        // An unavailable server says when to come back, too.
        let unavailable = failure(503, "").default_error();
        assert_eq!(unavailable.retry_after(), Some(Duration::from_secs(3)));
        assert_eq!(failure(400, "").default_error().retry_after(), None);
    }

    #[test]
    fn a_refused_key_says_so_without_quoting_the_body() {
        let error = failure(
            401,
            r#"{"error":{"message":"Incorrect API key sk-ab***yz"}}"#,
        )
        .default_error()
        .to_string();
        assert!(error.contains("API key was refused"), "{error}");
        assert!(!error.contains("sk-ab"), "{error}");
        let forbidden = failure(403, r#"{"message":"organization must be verified"}"#)
            .default_error()
            .to_string();
        assert!(forbidden.contains("refused (HTTP 403): organization must be verified"));
    }

    #[test]
    fn messages_are_found_in_every_usual_shape() {
        let cases = [
            (
                r#"{"error":{"message":"bad size","code":null}}"#,
                "bad size",
            ),
            (
                r#"{"detail":{"status":"quota_exceeded","message":"no quota"}}"#,
                "no quota",
            ),
            (r#"{"message":"Invalid prompt"}"#, "Invalid prompt"),
            (
                r#"{"detail":"Request was throttled."}"#,
                "Request was throttled.",
            ),
            (r#"{"name":"bad_request","errors":["a","b"]}"#, "a; b"),
            (
                r#"{"detail":[{"loc":["body","prompt"],"msg":"field required"}]}"#,
                "body.prompt: field required",
            ),
            ("plain text failure", "plain text failure"),
            ("", "Bad Request"),
        ];
        for (body, expected) in cases {
            assert_eq!(failure(400, body).message(), expected, "{body}");
        }
        let long = "x".repeat(2_000);
        assert_eq!(failure(400, &long).message().chars().count(), 501);
    }
}
