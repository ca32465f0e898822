//! The provisioner's own settings (config section `provisioner`, beside the
//! settings every service has): where each environment's platform Postgres
//! is, where credentials go, and how hard to retry.

use gantry_eventlog::reactor::{ReactorFault, ReactorOptions};
use gantry_platform::target::EnvironmentTarget;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// The provisioner's settings; with none, nothing can be provisioned (every
/// environment is unconfigured) but the service runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ProvisionerSettings {
    /// The shared platform Postgres of each environment (`dev`, `test`,
    /// `staging`, `prod`), e.g. `provisioner.environments.dev.admin_url`.
    pub environments: BTreeMap<String, EnvironmentTarget>,
    /// First part of every secret name: `<prefix>/<env>/<db>/postgres`.
    pub secret_prefix: String,
    /// Provisioning attempts before a request fails (a permanent error fails it at once).
    pub max_attempts: u32,
    /// Requests provisioned at once by one replica.
    pub concurrency: usize,
    /// Delay before the first retry, in milliseconds; it doubles each time.
    pub retry_base_ms: u64,
    /// Longest delay between retries, in milliseconds.
    pub retry_cap_ms: u64,
    /// How long a replica holds a request it works on, in milliseconds
    /// (renewed while it works); another replica takes over a request whose
    /// holder died after this long.
    pub lease_ms: u64,
    /// The IAM role S3 replicates with (`arn:aws:iam::…:role/…`); a bucket
    /// request with a replication target fails without one.
    pub replication_role_arn: Option<String>,
    /// Seconds between drift checks of every ready resource (0: none; they
    /// only record drift, `gantry admin reconcile --repair` repairs).
    pub reconcile_interval_s: u64,
    /// Simulated crash point of the provisioning reactor (tests only; the
    /// common `fault` is the views').
    pub reactor_fault: Option<ReactorFault>,
}

impl Default for ProvisionerSettings {
    fn default() -> Self {
        Self {
            environments: BTreeMap::new(),
            secret_prefix: "goldenpath".into(),
            max_attempts: 30,
            concurrency: 8,
            retry_base_ms: 1000,
            retry_cap_ms: 300_000,
            lease_ms: 60_000,
            replication_role_arn: None,
            reconcile_interval_s: 3600,
            reactor_fault: None,
        }
    }
}

impl ProvisionerSettings {
    /// How the provisioning reactor runs.
    pub fn reactor_options(&self) -> ReactorOptions {
        ReactorOptions {
            concurrency: self.concurrency.max(1),
            max_attempts: self.max_attempts.max(1),
            backoff_base: Duration::from_millis(self.retry_base_ms),
            backoff_cap: Duration::from_millis(self.retry_cap_ms),
            lease: Duration::from_millis(self.lease_ms.max(100)),
            fault: self.reactor_fault,
            ..ReactorOptions::default()
        }
    }
}
