//! Lineage's own settings (config section `lineage`, beside the settings
//! every service has): how far a walk goes and how much it answers.

use serde::{Deserialize, Serialize};

/// Lineage's settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct LineageSettings {
    /// Generations an Upstream or Downstream walk follows when the request names none.
    pub default_depth: u32,
    /// Generations an Impact walk follows when the request names none ("everything").
    pub impact_depth: u32,
    /// The most generations a request may ask for.
    pub max_depth: u32,
    /// Nodes in an answer when the request names no `max_nodes`.
    pub default_max_nodes: u32,
    /// The most nodes a request may ask for.
    pub max_nodes_limit: u32,
}

impl Default for LineageSettings {
    fn default() -> Self {
        Self {
            default_depth: 20,
            impact_depth: 1000,
            max_depth: 1000,
            default_max_nodes: 10_000,
            max_nodes_limit: 100_000,
        }
    }
}
