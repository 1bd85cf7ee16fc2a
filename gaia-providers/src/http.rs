//! The HTTP layer every remote provider shares.
//!
//! - one pooled [`reqwest::Client`] (rustls) for the whole process;
//! - [`HttpProvider`]: a provider's base URL, key and limits; it builds
//!   requests with the key in a header (keys never go anywhere else), maps
//!   transport failures and failed statuses to the engine's stable error
//!   codes, parses JSON naming the bad field, and streams bodies, downloads
//!   and base64 payloads to staging under a size cap;
//! - [`poll_until`]: waits on a remote task, stopping on cancellation and
//!   shutdown;
//! - [`ProviderSettings`]: a provider's key, base URL and limits resolved
//!   from [`gaia_core::EngineConfig`] and the environment.
//!
//! Error mapping: a refused key (401/403) and exhausted credit (402) are
//! `provider_error`, not retried; 429 is `provider_rate_limited` with the
//! `Retry-After` wait; 408 and client timeouts are `provider_timeout`; 5xx,
//! refused connections and resets are a retryable `provider_error`; any
//! other 4xx is a `provider_error`, not retried. A provider's
//! [`Classifier`] reads its own error bodies first (moderation, credit).

mod body;
mod poll;
mod settings;
mod status;

pub use body::{bad_shape, parse_json, too_large};
pub use poll::{PollSchedule, Polled, poll_until};
pub use settings::{
    DEFAULT_MAX_DOWNLOAD_BYTES, DEFAULT_TIMEOUT, Env, ProviderEnv, ProviderSettings, process_env,
};
pub use status::{Classifier, ErrorResponse, by_status_only, parse_retry_after, retry_after_of};

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use gaia_core::{Error, GenerateContext, Result, Secret, StagedOutput};
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};
pub use reqwest::{Method, RequestBuilder, Response, StatusCode, multipart};
use serde::de::DeserializeOwned;

use body::StreamLimits;

/// How long establishing a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// How long an idle pooled connection is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// The largest error body read (the rest is dropped).
const MAX_ERROR_BODY_BYTES: u64 = 64 * 1024;

/// The one client of the process: built once, pooled, shared by every
/// provider (cloning a `reqwest::Client` shares its pool).
pub fn shared_client() -> Result<reqwest::Client> {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(client) = CLIENT.get() {
        return Ok(client.clone());
    }
    let client = reqwest::Client::builder()
        .user_agent(concat!("gaia/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(CONNECT_TIMEOUT)
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .tcp_nodelay(true)
        .build()
        .map_err(|e| Error::Internal(format!("cannot build the HTTP client: {e}")))?;
    Ok(CLIENT.get_or_init(|| client).clone())
}

/// How a provider presents its key. The key only ever travels in a header
/// marked sensitive (hidden from reqwest's and hyper's debug output), and is
/// redacted from every error body the provider sends back.
#[derive(Debug, Clone)]
pub enum Auth {
    /// No key (a local server).
    None,
    /// `Authorization: <scheme> <key>` (`Bearer` for most, `Key` for fal).
    Authorization {
        /// The scheme word.
        scheme: &'static str,
        /// The key.
        key: Secret,
    },
    /// The key alone in a header of its own (`xi-api-key`).
    Header {
        /// The header's name.
        name: &'static str,
        /// The key.
        key: Secret,
    },
    /// HTTP Basic (`user:password`, as A1111's `--api-auth` takes it).
    Basic {
        /// `user:password`.
        credentials: Secret,
    },
}

impl Auth {
    /// `Authorization: Bearer <key>`.
    pub fn bearer(key: Secret) -> Self {
        Self::Authorization {
            scheme: "Bearer",
            key,
        }
    }

    /// The secret, for redaction.
    fn secret(&self) -> Option<&str> {
        match self {
            Self::None => None,
            Self::Authorization { key, .. } | Self::Header { name: _, key } => Some(key.expose()),
            Self::Basic { credentials } => Some(credentials.expose()),
        }
    }

    /// The header carrying the key, marked sensitive.
    fn header(&self) -> Option<(HeaderName, HeaderValue)> {
        use base64::Engine as _;
        let (name, value) = match self {
            Self::None => return None,
            Self::Authorization { scheme, key } => {
                (AUTHORIZATION, format!("{scheme} {}", key.expose()))
            }
            Self::Header { name, key } => (HeaderName::from_static(name), key.expose().to_owned()),
            Self::Basic { credentials } => {
                let encoded =
                    base64::engine::general_purpose::STANDARD.encode(credentials.expose());
                (AUTHORIZATION, format!("Basic {encoded}"))
            }
        };
        let mut value = HeaderValue::from_str(&value).ok()?;
        value.set_sensitive(true);
        Some((name, value))
    }
}

/// A remote provider's connection: its name, base URL, key, timeout,
/// download cap and error classifier, over the shared client. Cheap to clone.
#[derive(Debug, Clone)]
pub struct HttpProvider {
    name: &'static str,
    base_url: String,
    auth: Auth,
    timeout: Duration,
    max_download_bytes: u64,
    classify: Classifier,
    client: reqwest::Client,
}

impl HttpProvider {
    /// The connection of `settings.name` presenting its key as `auth`.
    pub fn new(settings: &ProviderSettings, auth: Auth) -> Result<Self> {
        Ok(Self {
            name: settings.name,
            base_url: settings.base_url.clone(),
            auth,
            timeout: settings.timeout,
            max_download_bytes: settings.max_download_bytes,
            classify: by_status_only,
            client: shared_client()?,
        })
    }

    /// Reads the provider's own error bodies before the status mapping.
    pub fn with_classifier(mut self, classify: Classifier) -> Self {
        self.classify = classify;
        self
    }

    /// The provider's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// How long one call may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The largest body accepted.
    pub fn max_download_bytes(&self) -> u64 {
        self.max_download_bytes
    }

    /// `path` (starting with `/`) under the base URL.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// A request to `path` under the base URL, with the key and the
    /// per-call timeout.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.authorized(self.client.request(method, self.url(path)))
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> RequestBuilder {
        self.request(Method::GET, path)
    }

    /// `POST path`.
    pub fn post(&self, path: &str) -> RequestBuilder {
        self.request(Method::POST, path)
    }

    /// A request to an absolute URL of the provider's own API (a task's
    /// `urls.get`), with the key and the per-call timeout. Never use it for
    /// storage hosts: [`Self::download_to_staging`] sends no key.
    pub fn request_url(&self, method: Method, url: &str) -> RequestBuilder {
        self.authorized(self.client.request(method, url))
    }

    fn authorized(&self, request: RequestBuilder) -> RequestBuilder {
        let request = request.timeout(self.timeout);
        match self.auth.header() {
            Some((name, value)) => request.header(name, value),
            None => request,
        }
    }

    /// Sends a request; only transport failures are errors (a timeout is
    /// `provider_timeout`, a refused connection or a reset a retryable
    /// `provider_error`). The response may have any status.
    pub async fn send_raw(&self, request: RequestBuilder) -> Result<Response> {
        request
            .send()
            .await
            .map_err(|e| transport_error(self.name, e))
    }

    /// Sends a request and fails unless the status is 2xx (see
    /// [`Self::check`]).
    pub async fn send(&self, request: RequestBuilder) -> Result<Response> {
        let response = self.send_raw(request).await?;
        self.check(response).await
    }

    /// Passes a 2xx response through; otherwise reads its body (redacted)
    /// and maps it: the provider's classifier first, then the status.
    pub async fn check(&self, response: Response) -> Result<Response> {
        if response.status().is_success() {
            return Ok(response);
        }
        let failure = self.failure(response).await;
        Err((self.classify)(&failure).unwrap_or_else(|| failure.default_error()))
    }

    /// Reads a failed response: status, `Retry-After`, and the first 64 KiB
    /// of its body with the key redacted.
    pub async fn failure(&self, response: Response) -> ErrorResponse {
        let status = response.status();
        let retry_after = retry_after_of(response.headers(), SystemTime::now());
        let body = body::read_capped(self.name, response, MAX_ERROR_BODY_BYTES)
            .await
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default();
        ErrorResponse::new(self.name, status, retry_after, self.redact(&body))
    }

    /// `text` with the key replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        match self.auth.secret().filter(|s| !s.is_empty()) {
            Some(secret) if text.contains(secret) => text.replace(secret, "***"),
            _ => text.to_owned(),
        }
    }

    /// Reads a whole body into memory, up to the download cap (for JSON
    /// that borrows from it: `parse_json(http.name(), &bytes)`).
    pub async fn bytes(&self, response: Response) -> Result<Bytes> {
        body::read_capped(self.name, response, self.max_download_bytes).await
    }

    /// Parses a JSON body (read up to the download cap); a syntax error or
    /// a bad field is a `provider_error` naming the field.
    pub async fn json<T: DeserializeOwned>(&self, response: Response) -> Result<T> {
        let bytes = self.bytes(response).await?;
        parse_json(self.name, &bytes)
    }

    /// Sends a request, checks its status and parses its JSON body.
    pub async fn send_json<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<T> {
        let response = self.send(request).await?;
        self.json(response).await
    }

    /// Streams a 2xx response's body into a new staging file, chunk by
    /// chunk, failing cleanly past the download cap.
    pub async fn stream_to_staging(
        &self,
        response: Response,
        cx: &GenerateContext,
    ) -> Result<StagedOutput> {
        let limits = StreamLimits {
            cap: self.max_download_bytes,
            idle: self.timeout,
        };
        body::stream_to_staging(self.name, response, cx, limits).await
    }

    /// Downloads an output URL (a storage host: no key is sent) into a new
    /// staging file, streamed under the download cap. An expired or missing
    /// output (401, 403, 404, 410) fails clearly and is not retried; a 5xx
    /// or a transport failure is retried.
    pub async fn download_to_staging(
        &self,
        url: &str,
        cx: &GenerateContext,
    ) -> Result<StagedOutput> {
        let shown = url_without_query(url);
        let request = self.client.get(url);
        let response = tokio::select! {
            biased;
            () = cx.cancellation().cancelled() => return Err(Error::Canceled),
            sent = tokio::time::timeout(self.timeout, request.send()) => match sent {
                Err(_elapsed) => return Err(Error::Timeout { provider: self.name.to_owned() }),
                Ok(sent) => sent.map_err(|e| transport_error(self.name, e))?,
            },
        };
        let status = response.status();
        if !status.is_success() {
            let retry_after = retry_after_of(response.headers(), SystemTime::now());
            return Err(self.download_failure(status, &shown, retry_after));
        }
        self.stream_to_staging(response, cx).await
    }

    fn download_failure(
        &self,
        status: StatusCode,
        shown: &str,
        retry_after: Option<Duration>,
    ) -> Error {
        let (message, retryable) = match status.as_u16() {
            401 | 403 | 404 | 410 => (
                format!(
                    "the output at {shown} has expired or is unreachable (HTTP {})",
                    status.as_u16()
                ),
                false,
            ),
            429 | 500..=599 => (
                format!(
                    "downloading the output at {shown} failed (HTTP {})",
                    status.as_u16()
                ),
                true,
            ),
            code => (
                format!("downloading the output at {shown} failed (HTTP {code})"),
                false,
            ),
        };
        Error::Provider {
            provider: self.name.to_owned(),
            message,
            retryable,
            retry_after: retry_after.filter(|_| retryable),
        }
    }

    /// Decodes a base64 payload (`field` names it in errors) into a new
    /// staging file a chunk at a time, under the download cap.
    pub async fn stage_base64(
        &self,
        cx: &GenerateContext,
        field: &str,
        text: &str,
    ) -> Result<StagedOutput> {
        body::stage_base64(self.name, cx, field, text, self.max_download_bytes).await
    }
}

/// Maps a transport failure: a timeout is `provider_timeout`; anything else
/// (refused connection, reset, broken body) a retryable `provider_error`,
/// except a request that could not be built, which no retry fixes. URLs
/// are left out (signed output URLs carry credentials in their query).
pub fn transport_error(provider: &str, error: reqwest::Error) -> Error {
    if error.is_timeout() {
        return Error::Timeout {
            provider: provider.to_owned(),
        };
    }
    let cannot_build = error.is_builder();
    let what = if cannot_build {
        "cannot build the request"
    } else if error.is_connect() {
        "cannot connect"
    } else {
        "the connection failed"
    };
    let host = error
        .url()
        .and_then(|url| url.host_str().map(str::to_owned))
        .map(|host| format!(" to {host}"))
        .unwrap_or_default();
    Error::Provider {
        provider: provider.to_owned(),
        message: format!(
            "{what}{host}: {}",
            gaia_core::with_causes(&error.without_url())
        ),
        retryable: !cannot_build,
        retry_after: None,
    }
}

/// `https://host/path?sig=…` → `https://host/path` (signatures stay out of
/// errors and logs).
fn url_without_query(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            parsed.set_query(None);
            parsed.set_fragment(None);
            parsed.to_string()
        }
        Err(_) => url.split(['?', '#']).next().unwrap_or_default().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_urls_are_shown_without_their_signature() {
        assert_eq!(
            url_without_query("https://cdn.example/a/b.glb?Expires=1&Signature=abc#x"),
            "https://cdn.example/a/b.glb"
        );
        assert_eq!(url_without_query("not a url?sig=1"), "not a url");
    }

    #[test]
    fn keys_are_redacted_and_headers_sensitive() {
        let settings = ProviderSettings::new("acme", "http://127.0.0.1:1", None);
        let http = HttpProvider::new(
            &settings,
            Auth::Header {
                name: "xi-api-key",
                key: Secret::new("sk-secret-1"),
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(http.redact("bad key sk-secret-1!"), "bad key ***!");
        let (name, value) = http
            .auth
            .header()
            .unwrap_or_else(|| panic!("no auth header"));
        assert_eq!(name.as_str(), "xi-api-key");
        assert!(value.is_sensitive());
        assert!(!format!("{http:?}").contains("sk-secret-1"));
    }

    #[test]
    fn basic_auth_encodes_the_credentials() {
        let auth = Auth::Basic {
            credentials: Secret::new("user:pass"),
        };
        let value = auth
            .header()
            .map(|(_, v)| v.to_str().unwrap_or("").to_owned());
        assert_eq!(value.as_deref(), Some("Basic dXNlcjpwYXNz"));
    }
}
