//! Rotation's own settings (config section `rotation`, beside the settings
//! every service has): where each environment's platform Postgres is, the
//! warning window, and how hard to retry a rotation.

use gantry_eventlog::reactor::{ReactorFault, ReactorOptions};
use gantry_platform::target::EnvironmentTarget;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Rotation's settings; with no environments nothing can be rotated (a
/// rotation fails saying so) but the service runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RotationSettings {
    /// The shared platform Postgres of each environment, as the provisioner
    /// has them (`rotation.environments.dev.admin_url`).
    pub environments: BTreeMap<String, EnvironmentTarget>,
    /// Days before a deadline from which a credential is due soon.
    pub due_soon_days: u32,
    /// How long before its deadline the schedule rotates a credential (at
    /// most half its period), plus its own share of `spread_minutes`.
    pub rotate_before_hours: u64,
    /// Rotations of credentials stored together are spread over this many
    /// minutes (each credential's offset is stable, from its request id).
    pub spread_minutes: u64,
    /// A rotation that gave up is tried again after this many seconds (the
    /// next cycle), with a `rotation.failed` event each time it fails.
    pub retry_failed_after_s: u64,
    /// How often the state gauges (`rotation_credentials`) are computed
    /// from the view, in seconds; 0: never.
    pub metrics_interval_s: u64,
    /// Attempts of one rotation before it is given up (and rolled back).
    pub max_attempts: u32,
    /// Rotations at once per replica.
    pub concurrency: usize,
    /// Delay before the first retry, in milliseconds; it doubles each time.
    pub retry_base_ms: u64,
    /// Longest delay between retries, in milliseconds.
    pub retry_cap_ms: u64,
    /// How long a replica holds a rotation it works on, in milliseconds.
    pub lease_ms: u64,
    /// Simulated crash point of the rotation reactor (tests only).
    pub reactor_fault: Option<ReactorFault>,
}

impl Default for RotationSettings {
    fn default() -> Self {
        Self {
            environments: BTreeMap::new(),
            due_soon_days: 7,
            rotate_before_hours: 72,
            spread_minutes: 24 * 60,
            retry_failed_after_s: 6 * 3600,
            metrics_interval_s: 30,
            max_attempts: 5,
            concurrency: 4,
            retry_base_ms: 1000,
            retry_cap_ms: 60_000,
            lease_ms: 60_000,
            reactor_fault: None,
        }
    }
}

impl RotationSettings {
    /// How the rotation reactor runs.
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
