//! What every service's config section holds beside the service's own
//! settings (for example `intake.listen` next to `intake.policy_file`).

use anyhow::Context as _;
use gantry_eventlog::{FaultPoint, RunnerOptions};
use gantry_runtime::Config;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

/// The settings every service has, in the service's own section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceSettings {
    /// gRPC listen address (port 0 picks a free port); the service's
    /// default port when unset.
    pub listen: Option<SocketAddr>,
    /// Postgres schema of the service's tables; the service's name when unset.
    pub schema: Option<String>,
    /// Largest request message accepted, in bytes.
    pub max_message_bytes: usize,
    /// Most events applied to a view in one transaction.
    pub projection_batch_size: usize,
    /// How long a read with `min_sequence` waits for the view, in milliseconds.
    pub read_wait_ms: u64,
    /// How often health checks the service's dependencies, in milliseconds.
    pub health_interval_ms: u64,
    /// Simulated crash point of the projections (tests only).
    pub fault: Option<FaultPoint>,
}

impl Default for ServiceSettings {
    fn default() -> Self {
        Self {
            listen: None,
            schema: None,
            max_message_bytes: 64 * 1024,
            projection_batch_size: 1000,
            read_wait_ms: 5000,
            health_interval_ms: 1000,
            fault: None,
        }
    }
}

impl ServiceSettings {
    /// Returns the read wait.
    pub fn read_wait(&self) -> Duration {
        Duration::from_millis(self.read_wait_ms)
    }

    /// Returns how the service's projections run.
    pub fn runner_options(&self) -> RunnerOptions {
        RunnerOptions { batch_size: self.projection_batch_size, fault: self.fault, ..RunnerOptions::default() }
    }
}

/// Reads a service's section: the common settings and the service's own,
/// refusing keys that neither knows (a typo must not pass silently), so
/// neither type denies unknown fields itself.
pub(crate) fn read<S>(config: &Config, section: &str) -> anyhow::Result<(ServiceSettings, S)>
where
    S: DeserializeOwned + Serialize + Default,
{
    let common: ServiceSettings = config.section(section)?;
    let own: S = config.section(section)?;
    let known: BTreeSet<String> =
        [field_names(&ServiceSettings::default())?, field_names(&S::default())?].into_iter().flatten().collect();
    let unknown: Vec<String> = config.keys(section).into_iter().filter(|key| !known.contains(key)).collect();
    anyhow::ensure!(
        unknown.is_empty(),
        "invalid configuration in section `{section}`: unknown field(s) {}; expected one of {}",
        unknown.join(", "),
        known.into_iter().collect::<Vec<_>>().join(", ")
    );
    Ok((common, own))
}

fn field_names<T: Serialize>(value: &T) -> anyhow::Result<Vec<String>> {
    match serde_json::to_value(value).context("settings are not a struct")? {
        serde_json::Value::Object(fields) => Ok(fields.keys().cloned().collect()),
        _ => Ok(Vec::new()),
    }
}
