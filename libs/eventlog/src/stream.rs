//! The stream's settings and its idempotent creation at start-up.

use anyhow::Context as _;
use async_nats::jetstream::{self, stream};
use serde::Deserialize;
use std::time::Duration;

/// Settings of the one Gantry stream (config section `stream`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamSettings {
    /// Stream name (`GANTRY`).
    pub name: String,
    /// First subject token of every event (`gantry`): subjects are
    /// `<prefix>.<aggregate_type>.<aggregate_id>`.
    pub subject_prefix: String,
    /// Replicas: 1 on one machine, 3 in a cluster.
    pub replicas: usize,
    /// How long a publish is de-duplicated by its event id, in seconds.
    pub duplicate_window_secs: u64,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self { name: "GANTRY".into(), subject_prefix: "gantry".into(), replicas: 1, duplicate_window_secs: 300 }
    }
}

impl StreamSettings {
    /// Returns the JetStream configuration the stream must have.
    pub fn stream_config(&self) -> stream::Config {
        stream::Config {
            name: self.name.clone(),
            subjects: vec![format!("{}.>", self.subject_prefix)],
            storage: stream::StorageType::File,
            retention: stream::RetentionPolicy::Limits,
            num_replicas: self.replicas,
            duplicate_window: Duration::from_secs(self.duplicate_window_secs),
            deny_delete: true,
            deny_purge: true,
            allow_direct: true,
            max_age: Duration::ZERO,
            ..Default::default()
        }
    }

    /// Returns the subject of an aggregate: `<prefix>.<type>.<id>`.
    pub fn subject(&self, aggregate_type: &str, aggregate_id: &str) -> String {
        format!("{}.{aggregate_type}.{aggregate_id}", self.subject_prefix)
    }

    /// Returns the wildcard matching every aggregate of a type: `<prefix>.<type>.>`.
    pub fn subjects_of(&self, aggregate_type: &str) -> String {
        format!("{}.{aggregate_type}.>", self.subject_prefix)
    }
}

/// Creates the stream if it is missing and returns it; an existing stream is
/// reused as it is (its settings are only ever changed by an operator).
pub async fn ensure_stream(context: &jetstream::Context, settings: &StreamSettings) -> anyhow::Result<stream::Stream> {
    context
        .get_or_create_stream(settings.stream_config())
        .await
        .with_context(|| format!("creating or opening stream {}", settings.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_is_append_only_file_storage() {
        let config = StreamSettings::default().stream_config();
        assert!(config.deny_delete && config.deny_purge && config.allow_direct);
        assert_eq!(config.storage, stream::StorageType::File);
        assert_eq!(config.subjects, vec!["gantry.>".to_string()]);
        assert_eq!(config.max_age, Duration::ZERO);
    }

    #[test]
    fn subjects_follow_prefix_type_id() {
        let settings = StreamSettings::default();
        assert_eq!(settings.subject("request", "r1"), "gantry.request.r1");
        assert_eq!(settings.subjects_of("request"), "gantry.request.>");
    }
}
