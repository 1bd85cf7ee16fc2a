//! `EngineConfig`: the one configuration every host passes through as JSON.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};

use crate::error::Result;

/// How an engine is set up: where it stores things, how many workers it runs,
/// and how each provider is reached. The same JSON in every host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// A folder holding the SQLite database and file blobs (default `.gaia`).
    pub path: Option<PathBuf>,
    /// A database URL (`sqlite://…`, `postgres://…`); overrides `path`'s database.
    pub database: Option<String>,
    /// A blob store URL (`file://…`, `db:`, `s3://…`); overrides `path`'s blobs.
    pub blobs: Option<String>,
    /// Concurrent job slots in this process; 0 submits only.
    pub workers: usize,
    /// Seconds a claimed job stays leased without a heartbeat.
    pub lease_s: u64,
    /// Provider attempts before a job fails.
    pub max_attempts: u32,
    /// Backoff between attempts.
    pub retry: RetryConfig,
    /// Seconds `close` waits for running jobs before releasing them.
    pub shutdown_grace_s: u64,
    /// Per-provider settings, by provider name.
    pub providers: BTreeMap<String, ProviderConfig>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            path: None,
            database: None,
            blobs: None,
            workers: 2,
            lease_s: 30,
            max_attempts: 5,
            retry: RetryConfig::default(),
            shutdown_grace_s: 10,
            providers: BTreeMap::new(),
        }
    }
}

impl EngineConfig {
    /// The default folder when neither `path` nor URLs are given.
    pub const DEFAULT_PATH: &'static str = ".gaia";

    /// A configuration storing everything under `path`.
    pub fn at(path: impl Into<PathBuf>) -> Self {
        Self {
            path: Some(path.into()),
            ..Self::default()
        }
    }

    /// Parses configuration JSON; errors name the field.
    pub fn from_json(json: &str) -> Result<Self> {
        let config: Self = crate::request::parse_json(json)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks ranges the types do not.
    pub fn validate(&self) -> Result<()> {
        use crate::Error;
        if self.lease_s == 0 {
            return Err(Error::invalid("lease_s", "must be at least 1"));
        }
        if self.max_attempts == 0 {
            return Err(Error::invalid("max_attempts", "must be at least 1"));
        }
        if self.workers > 256 {
            return Err(Error::invalid("workers", "must be at most 256"));
        }
        Ok(())
    }

    /// The folder for the default SQLite database and file blobs.
    pub fn root(&self) -> PathBuf {
        self.path
            .clone()
            .unwrap_or_else(|| PathBuf::from(Self::DEFAULT_PATH))
    }

    /// The database URL to open.
    pub fn database_url(&self) -> String {
        match &self.database {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.root().join("gaia.db").display()),
        }
    }

    /// The blob store URL to open.
    pub fn blobs_url(&self) -> String {
        match &self.blobs {
            Some(url) => url.clone(),
            None => format!("file://{}", self.root().join("blobs").display()),
        }
    }

    /// The lease as a duration.
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_s)
    }
}

/// Exponential backoff with jitter between provider attempts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Delay before the second attempt, in milliseconds.
    pub base_delay_ms: u64,
    /// Longest delay, in milliseconds (a provider's Retry-After may exceed it).
    pub max_delay_ms: u64,
    /// Attempts on one provider before falling back to the next.
    pub attempts_per_provider: u32,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            base_delay_ms: 500,
            max_delay_ms: 30_000,
            attempts_per_provider: 2,
        }
    }
}

/// Settings of one provider.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProviderConfig {
    /// Whether it may be used (default true when configured).
    pub enabled: Option<bool>,
    /// Its key; otherwise taken from the provider's environment variable.
    pub api_key: Option<Secret>,
    /// Its base URL (proxies, tests); otherwise `<NAME>_BASE_URL` or the public one.
    pub base_url: Option<String>,
    /// Calls in flight at once, shared by every worker on the same store.
    pub max_in_flight: Option<u32>,
    /// Seconds before one HTTP call times out.
    pub timeout_s: Option<u64>,
}

/// A secret (an API key): never shown by `Debug`, `Display` or serialization.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_store_under_dot_gaia() {
        let config = EngineConfig::from_json("{}").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.database_url(), "sqlite://.gaia/gaia.db");
        assert_eq!(config.blobs_url(), "file://.gaia/blobs");
        assert_eq!(config.workers, 2);
    }

    #[test]
    fn unknown_and_bad_fields_are_named() {
        let err = EngineConfig::from_json(r#"{"wokers":1}"#)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("wokers"), "{err}");
        let err = EngineConfig::from_json(r#"{"lease_s":0}"#)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("lease_s"), "{err}");
    }

    #[test]
    fn secrets_never_print() {
        let config =
            EngineConfig::from_json(r#"{"providers":{"openai":{"api_key":"sk-live-123"}}}"#)
                .unwrap_or_else(|e| panic!("{e}"));
        let debug = format!("{config:?}");
        let json = serde_json::to_string(&config).unwrap_or_default();
        assert!(
            !debug.contains("sk-live") && !json.contains("sk-live"),
            "{debug} {json}"
        );
        let key = config
            .providers
            .get("openai")
            .and_then(|p| p.api_key.as_ref());
        assert_eq!(key.map(Secret::expose), Some("sk-live-123"));
    }
}
