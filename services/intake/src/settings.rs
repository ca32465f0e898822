//! Intake's own settings (config section `intake`, beside the settings
//! every service has: listen, schema, limits).

use crate::domain::Policy;
use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Intake's settings; every default works on one machine.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct IntakeSettings {
    /// Approval policy file; the built-in policy when unset.
    pub policy_file: Option<PathBuf>,
}

impl IntakeSettings {
    /// Returns the approval policy: the file's, or the built-in one.
    pub fn policy(&self) -> anyhow::Result<Policy> {
        let Some(path) = &self.policy_file else { return Ok(Policy::built_in()) };
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Policy::parse(&text)
    }
}
