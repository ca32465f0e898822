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

/// Creates the stream if it is missing and returns it. An existing stream
/// is reused as it is (an operator owns its settings), but one that lacks
/// what Gantry relies on is refused with a clear error.
pub async fn ensure_stream(context: &jetstream::Context, settings: &StreamSettings) -> anyhow::Result<stream::Stream> {
    let wanted = settings.stream_config();
    let stream = context
        .get_or_create_stream(wanted.clone())
        .await
        .with_context(|| format!("creating or opening stream {}", settings.name))?;
    check_existing(&stream.cached_info().config, &wanted)?;
    Ok(stream)
}

fn check_existing(actual: &stream::Config, wanted: &stream::Config) -> anyhow::Result<()> {
    let mut missing = Vec::new();
    if !actual.allow_direct {
        missing.push("allow_direct (aggregate loads use direct get)");
    }
    if !actual.deny_delete || !actual.deny_purge {
        missing.push("deny_delete and deny_purge (the log is append-only)");
    }
    if !actual.subjects.iter().any(|subject| wanted.subjects.contains(subject)) {
        missing.push("the subjects <prefix>.>");
    }
    if actual.max_age != Duration::ZERO || actual.max_messages > 0 || actual.max_bytes > 0 {
        missing.push("no limits (nothing may expire from the log)");
    }
    anyhow::ensure!(
        missing.is_empty(),
        "stream {} exists with settings Gantry cannot use; it needs {}",
        actual.name,
        missing.join(", ")
    );
    Ok(())
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
    fn an_existing_stream_without_the_guarantees_is_refused() {
        let wanted = StreamSettings::default().stream_config();
        assert!(check_existing(&wanted, &wanted).is_ok());
        let loose = stream::Config { allow_direct: false, deny_purge: false, ..wanted.clone() };
        let error = check_existing(&loose, &wanted).unwrap_err().to_string();
        assert!(error.contains("allow_direct") && error.contains("deny_purge"), "{error}");
        let expiring = stream::Config { max_age: Duration::from_secs(60), ..wanted.clone() };
        assert!(check_existing(&expiring, &wanted).is_err());
    }

    #[test]
    fn subjects_follow_prefix_type_id() {
        let settings = StreamSettings::default();
        assert_eq!(settings.subject("request", "r1"), "gantry.request.r1");
        assert_eq!(settings.subjects_of("request"), "gantry.request.>");
    }
}
