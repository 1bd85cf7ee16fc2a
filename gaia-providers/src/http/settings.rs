//! A remote provider's settings, resolved from configuration and environment.

use std::time::Duration;

use gaia_core::{EngineConfig, ProviderConfig, Secret};

pub use crate::Env;

/// The process environment, with empty values treated as unset.
pub fn process_env(name: &str) -> Option<String> {
    crate::read_env(name)
}

/// Seconds one HTTP call may take unless configured (`timeout_s`): image
/// models at high quality can take more than a minute.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(180);

/// The largest output downloaded unless configured (`max_download_bytes`).
pub const DEFAULT_MAX_DOWNLOAD_BYTES: u64 = 512 * 1024 * 1024;

/// How a provider is found in configuration and in the environment.
#[derive(Debug, Clone, Copy)]
pub struct ProviderEnv {
    /// Its name: the key under `providers` and the prefix of
    /// `<NAME>_BASE_URL`.
    pub name: &'static str,
    /// The environment variable holding its key (`OPENAI_API_KEY`); `None`
    /// for a provider that needs no key.
    pub key_var: Option<&'static str>,
    /// Its public base URL.
    pub default_base_url: &'static str,
}

impl ProviderEnv {
    /// The environment variable overriding the base URL (`OPENAI_BASE_URL`).
    pub fn base_url_var(&self) -> String {
        format!("{}_BASE_URL", self.name.to_ascii_uppercase())
    }
}

/// Everything a remote provider needs to reach its service.
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    /// The provider's name.
    pub name: &'static str,
    /// Its key (never printed: [`Secret`] hides it).
    pub api_key: Option<Secret>,
    /// Its base URL, without a trailing slash.
    pub base_url: String,
    /// How long one call may take.
    pub timeout: Duration,
    /// Calls in flight at once across every worker (`None`: no limit).
    pub max_in_flight: Option<u32>,
    /// The largest output it may download.
    pub max_download_bytes: u64,
}

impl ProviderSettings {
    /// The settings of a provider that needs a key: `None` when it is
    /// disabled (`enabled: false`) or has no key in configuration or in
    /// `env`. The base URL comes from configuration, else
    /// `<NAME>_BASE_URL`, else the public one.
    pub fn with_key(config: &EngineConfig, provider: &ProviderEnv, env: Env) -> Option<Self> {
        let configured = config.providers.get(provider.name);
        if configured.and_then(|c| c.enabled) == Some(false) {
            return None;
        }
        // Trimmed: a key pasted from a Windows `.env` ends in `\r`, which
        // no header may carry, and the call would go out without it.
        let api_key = configured
            .and_then(|c| c.api_key.as_ref())
            .map(|key| key.expose().trim().to_owned())
            .filter(|key| !key.is_empty())
            .or_else(|| {
                let key = provider.key_var.and_then(env)?;
                Some(key.trim().to_owned()).filter(|key| !key.is_empty())
            })
            .map(Secret::new)?;
        Some(Self::build(provider, configured, Some(api_key), env))
    }

    /// The settings of a provider that needs no key (a local server):
    /// `Some` only when it is configured under `providers` (and not
    /// disabled) or its `<NAME>_BASE_URL` is set. A configured `api_key` is
    /// passed on (for a server behind authentication).
    pub fn keyless(config: &EngineConfig, provider: &ProviderEnv, env: Env) -> Option<Self> {
        let configured = config.providers.get(provider.name);
        if configured.and_then(|c| c.enabled) == Some(false) {
            return None;
        }
        if configured.is_none() && env(&provider.base_url_var()).is_none() {
            return None;
        }
        let api_key = configured.and_then(|c| c.api_key.clone());
        Some(Self::build(provider, configured, api_key, env))
    }

    fn build(
        provider: &ProviderEnv,
        configured: Option<&ProviderConfig>,
        api_key: Option<Secret>,
        env: Env,
    ) -> Self {
        let base_url = configured
            .and_then(|c| c.base_url.clone())
            .or_else(|| env(&provider.base_url_var()))
            .unwrap_or_else(|| provider.default_base_url.to_owned());
        Self {
            name: provider.name,
            api_key,
            base_url: base_url.trim_end_matches('/').to_owned(),
            timeout: configured
                .and_then(|c| c.timeout_s)
                .filter(|s| *s > 0)
                .map_or(DEFAULT_TIMEOUT, Duration::from_secs),
            max_in_flight: configured.and_then(|c| c.max_in_flight),
            max_download_bytes: configured
                .and_then(|c| c.max_download_bytes)
                .unwrap_or(DEFAULT_MAX_DOWNLOAD_BYTES),
        }
    }

    /// Settings for tests and embedding programs: `base_url` and `api_key`
    /// given directly, defaults for the rest.
    pub fn new(name: &'static str, base_url: impl Into<String>, api_key: Option<Secret>) -> Self {
        Self {
            name,
            api_key,
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            timeout: DEFAULT_TIMEOUT,
            max_in_flight: None,
            max_download_bytes: DEFAULT_MAX_DOWNLOAD_BYTES,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const OPENAI: ProviderEnv = ProviderEnv {
        name: "openai",
        key_var: Some("OPENAI_API_KEY"),
        default_base_url: "https://api.openai.com/v1",
    };
    const A1111: ProviderEnv = ProviderEnv {
        name: "a1111",
        key_var: None,
        default_base_url: "http://127.0.0.1:7860",
    };

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn config(json: &str) -> EngineConfig {
        EngineConfig::from_json(json).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_key_from_the_environment_registers_with_the_public_url() {
        let env = env_of(&[("OPENAI_API_KEY", "sk-env")]);
        let settings = ProviderSettings::with_key(&config("{}"), &OPENAI, &env);
        let settings = settings.unwrap_or_else(|| panic!("not registered"));
        assert_eq!(
            settings.api_key.as_ref().map(Secret::expose),
            Some("sk-env")
        );
        assert_eq!(settings.base_url, "https://api.openai.com/v1");
        assert_eq!(settings.timeout, DEFAULT_TIMEOUT);
        assert_eq!(settings.max_download_bytes, DEFAULT_MAX_DOWNLOAD_BYTES);
    }

    #[test]
    fn keys_are_trimmed_wherever_they_come_from() {
        let env = env_of(&[("OPENAI_API_KEY", " sk-env\r\n")]);
        let from_env = ProviderSettings::with_key(&config("{}"), &OPENAI, &env);
        let key =
            |s: Option<ProviderSettings>| s.and_then(|s| s.api_key).map(|k| k.expose().to_owned());
        assert_eq!(key(from_env).as_deref(), Some("sk-env"));
        let configured = config(r#"{"providers":{"openai":{"api_key":"sk-conf\r\n"}}}"#);
        let from_config = ProviderSettings::with_key(&configured, &OPENAI, &env_of(&[]));
        assert_eq!(key(from_config).as_deref(), Some("sk-conf"));
    }

    #[test]
    fn configuration_wins_over_the_environment() {
        let env = env_of(&[
            ("OPENAI_API_KEY", "sk-env"),
            ("OPENAI_BASE_URL", "http://env.invalid"),
        ]);
        let config = config(
            r#"{"providers":{"openai":{"api_key":"sk-conf","base_url":"http://127.0.0.1:9/v1/",
                "timeout_s":7,"max_in_flight":3,"max_download_bytes":1000}}}"#,
        );
        let settings = ProviderSettings::with_key(&config, &OPENAI, &env)
            .unwrap_or_else(|| panic!("not registered"));
        assert_eq!(
            settings.api_key.as_ref().map(Secret::expose),
            Some("sk-conf")
        );
        assert_eq!(settings.base_url, "http://127.0.0.1:9/v1");
        assert_eq!(settings.timeout, Duration::from_secs(7));
        assert_eq!(settings.max_in_flight, Some(3));
        assert_eq!(settings.max_download_bytes, 1000);
    }

    #[test]
    fn the_base_url_variable_overrides_the_public_url() {
        let env = env_of(&[
            ("OPENAI_API_KEY", "sk-env"),
            ("OPENAI_BASE_URL", "http://127.0.0.1:1/v1"),
        ]);
        let settings = ProviderSettings::with_key(&config("{}"), &OPENAI, &env);
        assert_eq!(
            settings.map(|s| s.base_url).as_deref(),
            Some("http://127.0.0.1:1/v1")
        );
    }

    #[test]
    fn no_key_or_disabled_means_not_registered() {
        let none = env_of(&[]);
        assert!(ProviderSettings::with_key(&config("{}"), &OPENAI, &none).is_none());
        let env = env_of(&[("OPENAI_API_KEY", "sk-env")]);
        let disabled = config(r#"{"providers":{"openai":{"enabled":false}}}"#);
        assert!(ProviderSettings::with_key(&disabled, &OPENAI, &env).is_none());
    }

    #[test]
    fn a_keyless_server_registers_only_when_configured_or_pointed_at() {
        let none = env_of(&[]);
        assert!(ProviderSettings::keyless(&config("{}"), &A1111, &none).is_none());
        let configured = config(r#"{"providers":{"a1111":{}}}"#);
        let settings = ProviderSettings::keyless(&configured, &A1111, &none);
        assert_eq!(
            settings.map(|s| s.base_url).as_deref(),
            Some("http://127.0.0.1:7860")
        );
        let env = env_of(&[("A1111_BASE_URL", "http://gpu-box:7860")]);
        let settings = ProviderSettings::keyless(&config("{}"), &A1111, &env);
        assert_eq!(
            settings.map(|s| s.base_url).as_deref(),
            Some("http://gpu-box:7860")
        );
    }
}
