//! Layered configuration: built-in defaults, then an optional TOML file, then
//! `GANTRY_*` environment variables (`__` separates levels, so
//! `GANTRY_DATABASE__URL` sets `database.url`). Each part of the program
//! reads its own section into its own typed settings.

use anyhow::Context as _;
use figment::Figment;
use figment::providers::{Env, Format as _, Toml};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

/// The merged configuration sources.
#[derive(Debug, Clone)]
pub struct Config {
    figment: Figment,
}

impl Config {
    /// Loads the file (if given; it must exist) and the environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut figment = Figment::new();
        if let Some(file) = file {
            anyhow::ensure!(file.exists(), "config file {} does not exist", file.display());
            figment = figment.merge(Toml::file(file));
        }
        figment = figment.merge(Env::prefixed("GANTRY_").split("__"));
        Ok(Self { figment })
    }

    /// Builds a configuration from explicit values only (tests, tools).
    pub fn from_figment(figment: Figment) -> Self {
        Self { figment }
    }

    /// Returns a copy with `value` set at `key` (for example `intake.listen`).
    pub fn with<T: serde::Serialize>(&self, key: &str, value: T) -> Self {
        Self { figment: self.figment.clone().merge((key, value)) }
    }

    /// Reads one section into its settings type; a missing section is its default.
    pub fn section<T: DeserializeOwned + Default>(&self, key: &str) -> anyhow::Result<T> {
        if self.figment.find_value(key).is_err() {
            return Ok(T::default());
        }
        self.figment.extract_inner(key).with_context(|| format!("invalid configuration in section `{key}`"))
    }
}

/// Where Postgres is (section `database`).
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// Connection URL; may hold a password, so it is never logged.
    pub url: String,
    /// Most connections per service pool.
    pub max_connections: u32,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self { url: "postgres://postgres@127.0.0.1:5432/postgres".into(), max_connections: 16 }
    }
}

impl std::fmt::Debug for DatabaseSettings {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("DatabaseSettings")
            .field("url", &"<redacted>")
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

/// Where NATS is (section `nats`).
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NatsSettings {
    /// Server URL; may hold credentials, so only its host is ever shown.
    pub url: String,
}

impl std::fmt::Debug for NatsSettings {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("NatsSettings").field("url", &redact_userinfo(&self.url)).finish()
    }
}

/// Returns a URL without its `user:password@` part.
pub fn redact_userinfo(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}<redacted>@{}", &url[..scheme_end + 3], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

impl Default for NatsSettings {
    fn default() -> Self {
        Self { url: "nats://127.0.0.1:4222".into() }
    }
}

impl NatsSettings {
    /// Connects to NATS.
    pub async fn connect(&self) -> anyhow::Result<async_nats::Client> {
        async_nats::ConnectOptions::new()
            .name("gantry")
            .connect(&self.url)
            .await
            .with_context(|| format!("connecting to NATS at {}", redact_userinfo(&self.url)))
    }
}

/// Identity settings (section `auth`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// YAML file of token hashes and their principals.
    pub tokens_file: PathBuf,
    /// How often a running service checks the tokens file for changes, in
    /// milliseconds; 0 reads it at start-up only.
    pub reload_interval_ms: u64,
}

impl AuthSettings {
    /// Returns the reload interval.
    pub fn reload_interval(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.reload_interval_ms)
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self { tokens_file: PathBuf::from(".gantry/tokens.yaml"), reload_interval_ms: 5000 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::providers::Serialized;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default)]
    struct Sample {
        port: u16,
        name: String,
    }

    #[test]
    fn missing_section_is_default_and_values_merge() {
        let config = Config::from_figment(Figment::from(Serialized::defaults(serde_json_free())));
        assert_eq!(config.section::<Sample>("absent").unwrap(), Sample::default());
        let config = config.with("sample.port", 7).with("sample.name", "x");
        assert_eq!(config.section::<Sample>("sample").unwrap(), Sample { port: 7, name: "x".into() });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail fixes the error type
    fn environment_overrides_with_double_underscore() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("GANTRY_SAMPLE__PORT", "9");
            let config = Config::load(None).unwrap();
            assert_eq!(config.section::<Sample>("sample").unwrap().port, 9);
            Ok(())
        });
    }

    #[test]
    fn nats_credentials_are_redacted() {
        assert_eq!(redact_userinfo("nats://user:pw@host:4222"), "nats://<redacted>@host:4222");
        assert_eq!(redact_userinfo("nats://host:4222"), "nats://host:4222");
        let settings = NatsSettings { url: "nats://u:secret@h:4222".into() };
        assert!(!format!("{settings:?}").contains("secret"));
    }

    #[test]
    fn database_url_is_redacted_in_debug() {
        let settings = DatabaseSettings { url: "postgres://u:secret@h/d".into(), max_connections: 1 };
        assert!(!format!("{settings:?}").contains("secret"));
    }

    fn serde_json_free() -> std::collections::BTreeMap<String, String> {
        Default::default()
    }
}
