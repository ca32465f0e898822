//! Intake's own settings (config section `intake`).

use gantry_eventlog::FaultPoint;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Intake's settings; every default works on one machine.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IntakeSettings {
    /// gRPC listen address (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Postgres schema of the view.
    pub schema: String,
    /// Approval policy file; the built-in policy when unset.
    pub policy_file: Option<PathBuf>,
    /// Largest request message accepted, in bytes.
    pub max_message_bytes: usize,
    /// Most events applied to the view in one transaction.
    pub projection_batch_size: usize,
    /// How long a read with `min_sequence` waits for the view, in milliseconds.
    pub read_wait_ms: u64,
    /// Simulated crash point of the projection (tests only).
    pub fault: Option<FaultPoint>,
}

impl Default for IntakeSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            schema: "intake".into(),
            policy_file: None,
            max_message_bytes: 64 * 1024,
            projection_batch_size: 1000,
            read_wait_ms: 5000,
            fault: None,
        }
    }
}

impl IntakeSettings {
    /// Returns the read wait as a duration.
    pub fn read_wait(&self) -> Duration {
        Duration::from_millis(self.read_wait_ms)
    }
}
