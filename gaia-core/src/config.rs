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
    /// Where events go besides the in-process stream (`{"nats": {…}}`).
    pub events: EventsConfig,
    /// The embedder of search and similar reuse: `"hashed"` (the default,
    /// local) or `"openai"` (text-embedding-3-small; needs the OpenAI key).
    pub embedder: Option<String>,
    /// What a finished job survives: a crash of the process (`normal`, the
    /// default) or also a power loss (`full`).
    pub durability: Durability,
}

/// What a finished job survives. In both modes a blob is complete in its
/// final place before the row naming it commits, and a process killed at any
/// point loses nothing that was committed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// Survives a crash of the process. Blobs are written and renamed into
    /// place without waiting for the disk, and SQLite commits with
    /// `synchronous=NORMAL`: after a power loss the newest jobs may be lost
    /// (they run again), and a blob of such a job may be lost with them.
    #[default]
    Normal,
    /// Also survives a power loss: every blob and its folder are flushed to
    /// disk (fsync) before the row naming it commits, and SQLite commits
    /// with `synchronous=FULL`. Each job then waits on the disk.
    Full,
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
            events: EventsConfig::default(),
            embedder: None,
            durability: Durability::Normal,
        }
    }
}

impl EngineConfig {
    /// The default folder when neither `path` nor URLs are given.
    pub const DEFAULT_PATH: &'static str = ".gaia";

    /// The accepted values of `embedder`.
    pub const EMBEDDERS: [&'static str; 2] = ["hashed", "openai"];

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
        self.events.validate()?;
        if let Some(embedder) = self.embedder.as_deref()
            && !Self::EMBEDDERS.contains(&embedder)
        {
            return Err(Error::invalid(
                "embedder",
                format!("{embedder:?} is not one of {}", Self::EMBEDDERS.join(", ")),
            ));
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

/// Event sinks the engine opens from configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// Publish every event to a NATS server.
    pub nats: Option<NatsConfig>,
}

impl EventsConfig {
    fn validate(&self) -> Result<()> {
        match &self.nats {
            Some(nats) => nats.validate(),
            None => Ok(()),
        }
    }
}

/// A NATS server that receives every event as JSON, on the subjects
/// `PREFIX.asset.generation.queued`, `PREFIX.asset.created`, ….
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsConfig {
    /// The server (`nats://127.0.0.1:4222`; `nats://user:password@host` is
    /// accepted and never logged with its password).
    pub url: String,
    /// The first subject token(s) (default `gaia`).
    #[serde(default = "NatsConfig::default_subject_prefix")]
    pub subject_prefix: String,
}

impl NatsConfig {
    /// The default subject prefix.
    pub const DEFAULT_SUBJECT_PREFIX: &'static str = "gaia";

    /// A server URL with the default subject prefix.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            subject_prefix: Self::default_subject_prefix(),
        }
    }

    fn default_subject_prefix() -> String {
        Self::DEFAULT_SUBJECT_PREFIX.to_owned()
    }

    /// The URL with any user and password replaced by `***`, for messages.
    pub fn redacted_url(&self) -> String {
        redact_userinfo(&self.url)
    }

    fn validate(&self) -> Result<()> {
        use crate::Error;
        if self.url.trim().is_empty() {
            return Err(Error::invalid("events.nats.url", "must not be empty"));
        }
        let tokens_ok = self.subject_prefix.split('.').all(|token| {
            !token.is_empty()
                && !token.contains(['*', '>'])
                && !token.chars().any(char::is_whitespace)
        });
        if !tokens_ok {
            return Err(Error::invalid(
                "events.nats.subject_prefix",
                format!(
                    "{:?} is not a NATS subject (dot-separated tokens without spaces or wildcards)",
                    self.subject_prefix
                ),
            ));
        }
        Ok(())
    }
}

impl std::fmt::Debug for NatsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsConfig")
            .field("url", &self.redacted_url())
            .field("subject_prefix", &self.subject_prefix)
            .finish()
    }
}

/// `scheme://user:password@host…` → `scheme://***@host…`; other text unchanged.
fn redact_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***{}", &rest[at..]),
        None => url.to_owned(),
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
    /// Largest output the provider may download, in bytes (default 512 MiB);
    /// a larger response fails the call cleanly.
    pub max_download_bytes: Option<u64>,
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
    fn durability_defaults_to_normal_and_names_bad_values() {
        let parsed = |json: &str| EngineConfig::from_json(json).map(|c| c.durability);
        assert_eq!(parsed("{}").ok(), Some(Durability::Normal));
        assert_eq!(
            parsed(r#"{"durability":"full"}"#).ok(),
            Some(Durability::Full)
        );
        let err = parsed(r#"{"durability":"paranoid"}"#)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("durability"), "{err}");
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

    #[test]
    fn nats_events_are_configured_and_checked() {
        let config = EngineConfig::from_json(
            r#"{"events":{"nats":{"url":"nats://app:hunter2@127.0.0.1:4222"}}}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let nats = config
            .events
            .nats
            .clone()
            .unwrap_or_else(|| panic!("no nats"));
        assert_eq!(nats.subject_prefix, "gaia");
        assert_eq!(nats.redacted_url(), "nats://***@127.0.0.1:4222");
        assert!(!format!("{config:?}").contains("hunter2"));
        for bad in [
            r#"{"events":{"nats":{"url":"nats://x","subject_prefix":"a.>"}}}"#,
            r#"{"events":{"nats":{"url":"nats://x","subject_prefix":"a..b"}}}"#,
            r#"{"events":{"nats":{"url":""}}}"#,
            r#"{"events":{"kafka":{}}}"#,
        ] {
            let err = EngineConfig::from_json(bad).err().map(|e| e.to_string());
            assert!(
                err.is_some_and(|e| e.contains("events")),
                "{bad} was accepted"
            );
        }
    }
}
