//! Layered configuration: built-in defaults, then an optional TOML file, then
//! `GANTRY_*` environment variables (`__` separates levels, so
//! `GANTRY_DATABASE__URL` sets `database.url`). Each part of the program
//! reads its own section into its own typed settings.

use anyhow::Context as _;
use figment::Figment;
use figment::Provider as _;
use figment::providers::{Env, Format as _, Toml};
use secrecy::SecretString;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The merged configuration sources.
#[derive(Clone)]
pub struct Config {
    figment: Figment,
}

/// Shows the sections set, never their values (a URL may hold a password).
impl std::fmt::Debug for Config {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sections: Vec<String> = self
            .figment
            .data()
            .ok()
            .into_iter()
            .flat_map(|data| data.into_values())
            .flat_map(|dict| dict.into_keys())
            .collect();
        formatter.debug_struct("Config").field("sections", &sections).finish()
    }
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

impl Config {
    /// Returns the keys set in a section (none when it is missing).
    pub fn keys(&self, key: &str) -> Vec<String> {
        self.figment
            .find_value(key)
            .ok()
            .and_then(|value| value.into_dict())
            .map(|dict| dict.into_keys().collect())
            .unwrap_or_default()
    }
}

/// Where Postgres is (section `database`).
///
/// TLS is asked for in the URL, as libpq does: `sslmode=require`,
/// `verify-ca` or `verify-full` with `sslrootcert=/path/ca.pem` (managed
/// Postgres such as RDS requires it); plaintext is for loopback only.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// Connection URL; may hold a password, so it is a secret that no log,
    /// trace or error ever shows.
    pub url: SecretString,
    /// Most connections per service pool.
    pub max_connections: u32,
    /// How long a call waits for a pooled connection before it gives up, in
    /// milliseconds: with Postgres down, reads answer `UNAVAILABLE` after
    /// about this long.
    pub acquire_timeout_ms: u64,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: SecretString::from("postgres://postgres@127.0.0.1:5432/postgres"),
            max_connections: 16,
            acquire_timeout_ms: 1000,
        }
    }
}

impl DatabaseSettings {
    /// Settings for `url` with every other value at its default.
    pub fn for_url(url: &str) -> Self {
        Self { url: SecretString::from(url), ..Self::default() }
    }

    /// Returns the acquire timeout.
    pub fn acquire_timeout(&self) -> Duration {
        Duration::from_millis(self.acquire_timeout_ms.max(1))
    }
}

/// Where NATS is (section `nats`).
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NatsSettings {
    /// One server URL, or several separated by commas (a cluster: the
    /// client connects to any of them and fails over). May hold
    /// credentials, so only hosts are ever shown.
    pub url: String,
    /// A NATS credentials file (JWT and NKey seed), for servers with
    /// decentralised auth.
    pub credentials_file: Option<PathBuf>,
    /// Requires TLS to the servers (`tls://` URLs require it as well).
    pub require_tls: bool,
    /// PEM file of the CA that signed the servers' certificates.
    pub tls_ca_file: Option<PathBuf>,
    /// PEM certificate and key of this client, for servers that verify clients.
    pub tls_cert_file: Option<PathBuf>,
    /// Key of `tls_cert_file`.
    pub tls_key_file: Option<PathBuf>,
    /// How long a JetStream request (an append's acknowledgement) may take,
    /// in milliseconds; with NATS down, writes answer `UNAVAILABLE` after it.
    pub request_timeout_ms: u64,
}

impl std::fmt::Debug for NatsSettings {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("NatsSettings")
            .field("url", &redact_userinfo(&self.url))
            .field("credentials_file", &self.credentials_file)
            .field("require_tls", &self.require_tls)
            .field("tls_ca_file", &self.tls_ca_file)
            .field("tls_cert_file", &self.tls_cert_file)
            .field("request_timeout_ms", &self.request_timeout_ms)
            .finish()
    }
}

/// Returns a URL (or a comma-separated list of them) without `user:password@` parts.
pub fn redact_userinfo(url: &str) -> String {
    url.split(',').map(|one| redact_one(one.trim())).collect::<Vec<_>>().join(",")
}

fn redact_one(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}<redacted>@{}", &url[..scheme_end + 3], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

impl Default for NatsSettings {
    fn default() -> Self {
        Self {
            url: "nats://127.0.0.1:4222".into(),
            credentials_file: None,
            require_tls: false,
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
            request_timeout_ms: 5000,
        }
    }
}

impl NatsSettings {
    /// Returns the servers of `url`, each parsed.
    pub fn servers(&self) -> anyhow::Result<Vec<async_nats::ServerAddr>> {
        let servers = self
            .url
            .split(',')
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .map(|url| {
                url.parse::<async_nats::ServerAddr>()
                    .map_err(|error| anyhow::anyhow!("invalid NATS url {}: {error}", redact_userinfo(url)))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        anyhow::ensure!(!servers.is_empty(), "nats.url names no server");
        Ok(servers)
    }

    /// Returns the JetStream request timeout.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms.max(1))
    }

    /// Connects to NATS. The client keeps reconnecting on its own (to any
    /// server of the list) for as long as it lives, and the first connection
    /// is made in the background too: a service starts while NATS is down
    /// and its writes answer `UNAVAILABLE` until NATS is back.
    pub async fn connect(&self) -> anyhow::Result<async_nats::Client> {
        let servers = self.servers()?;
        let mut options = async_nats::ConnectOptions::new()
            .name("gantry")
            .retry_on_initial_connect()
            .request_timeout(Some(self.request_timeout()))
            .event_callback(|event| async move {
                match event {
                    async_nats::Event::Connected => tracing::info!("connected to NATS"),
                    async_nats::Event::Disconnected => tracing::warn!("disconnected from NATS; reconnecting"),
                    other => tracing::info!(event = %other, "NATS client event"),
                }
            });
        if let Some(file) = &self.credentials_file {
            options = options
                .credentials_file(file)
                .await
                .with_context(|| format!("reading NATS credentials file {}", file.display()))?;
        }
        if self.require_tls {
            options = options.require_tls(true);
        }
        if let Some(file) = &self.tls_ca_file {
            options = options.add_root_certificates(file.clone());
        }
        match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(cert), Some(key)) => options = options.add_client_certificate(cert.clone(), key.clone()),
            (None, None) => {}
            _ => anyhow::bail!("nats.tls_cert_file and nats.tls_key_file go together"),
        }
        options.connect(servers).await.with_context(|| format!("connecting to NATS at {}", redact_userinfo(&self.url)))
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
    pub fn reload_interval(&self) -> Duration {
        Duration::from_millis(self.reload_interval_ms)
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self { tokens_file: PathBuf::from(".gantry/tokens.yaml"), reload_interval_ms: 5000 }
    }
}

/// Where AWS services are (section `aws`, shared by every service that
/// calls AWS). Credentials come from the standard AWS chain (environment,
/// profile, instance or task role), never from config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AwsSettings {
    /// The region.
    pub region: String,
    /// Another endpoint than AWS's: an S3 / Secrets Manager compatible
    /// server (an emulator on loopback in development), a VPC endpoint.
    pub endpoint_url: Option<String>,
}

impl Default for AwsSettings {
    fn default() -> Self {
        Self { region: "us-east-1".into(), endpoint_url: None }
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
        let settings = NatsSettings { url: "nats://u:secret@h:4222".into(), ..Default::default() };
        assert!(!format!("{settings:?}").contains("secret"));
        assert_eq!(redact_userinfo("nats://a:pw@h1:4222, nats://h2:4222"), "nats://<redacted>@h1:4222,nats://h2:4222");
    }

    #[test]
    fn a_comma_separated_url_is_a_list_of_servers() {
        let settings =
            NatsSettings { url: "nats://127.0.0.1:4222, nats://127.0.0.1:4223,".into(), ..Default::default() };
        assert_eq!(settings.servers().unwrap().len(), 2);
        let empty = NatsSettings { url: " , ".into(), ..Default::default() };
        assert!(empty.servers().is_err());
    }

    #[test]
    fn config_debug_shows_sections_not_values() {
        let config = Config::from_figment(Figment::new()).with("database.url", "postgres://u:secret@h/d");
        let shown = format!("{config:?}");
        assert!(shown.contains("database") && !shown.contains("secret"), "{shown}");
    }

    #[test]
    fn database_url_is_redacted_in_debug() {
        let settings = DatabaseSettings::for_url("postgres://u:secret@h/d");
        assert!(!format!("{settings:?}").contains("secret"));
    }

    fn serde_json_free() -> std::collections::BTreeMap<String, String> {
        Default::default()
    }
}
