//! A run's audit trail (pure): each event about the run — its artifacts
//! stored and expired, its completion — as one line of JSON, in the
//! order of the log. The view keeps the lines of artifact events (they
//! are on their blobs' subjects); the run's own events are read from its
//! subject when the trail is written.

use gantry_eventlog::RecordedEvent;
use gantry_proto::events::envelope::Payload;
use gantry_proto::events::{ArtifactExpired, ArtifactStored, RetentionPolicy, RunCompleted};
use serde_json::{Value, json};

/// Returns the word of a retention class, as the configuration names it.
pub(crate) fn retention_word(retention: i32) -> &'static str {
    match RetentionPolicy::try_from(retention) {
        Ok(RetentionPolicy::Days30) => "days_30",
        Ok(RetentionPolicy::Days365) => "days_365",
        Ok(RetentionPolicy::Keep) => "keep",
        _ => "days_90",
    }
}

fn timestamp(at: Option<&prost_types::Timestamp>) -> Value {
    at.map_or(Value::Null, |at| Value::String(at.to_string()))
}

fn stored(stored: &ArtifactStored) -> Value {
    json!({
        "artifact_id": stored.artifact_id,
        "tenant": stored.tenant,
        "run_id": stored.run_id,
        "step_id": stored.step_id,
        "agent": stored.agent,
        "agent_version": stored.agent_version,
        "name": stored.name,
        "media_type": stored.media_type,
        "input_artifact_ids": stored.input_artifact_ids,
        "retention": retention_word(stored.retention),
        "expires_at": timestamp(stored.expires_at.as_ref()),
        "sha256": stored.sha256,
        "blake3": stored.blake3,
        "size_bytes": stored.size_bytes,
        "storage_backend": stored.storage_backend,
        "storage_uri": stored.storage_uri,
        "deduplicated": stored.deduplicated,
    })
}

fn expired(expired: &ArtifactExpired) -> Value {
    json!({
        "artifact_id": expired.artifact_id,
        "sha256": expired.sha256,
        "expires_at": timestamp(expired.expires_at.as_ref()),
    })
}

fn completed(completed: &RunCompleted) -> Value {
    json!({
        "tenant": completed.tenant,
        "run_id": completed.run_id,
        "artifact_count": completed.artifact_count,
    })
}

/// Returns the audit line of `event` if it belongs in a run's trail.
pub(crate) fn line(event: &RecordedEvent) -> Option<String> {
    let payload = match event.payload()? {
        Payload::ArtifactStored(payload) => stored(payload),
        Payload::ArtifactExpired(payload) => expired(payload),
        Payload::RunCompleted(payload) => completed(payload),
        _ => return None,
    };
    let envelope = &event.envelope;
    let line = json!({
        "sequence": event.sequence,
        "event_id": envelope.event_id,
        "event_type": envelope.event_type,
        "occurred_at": timestamp(envelope.occurred_at.as_ref()),
        "actor": event.actor().subject,
        "subject": event.subject,
        "correlation_id": envelope.correlation_id,
        "payload": payload,
    });
    Some(line.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use gantry_eventlog::NewEvent;
    use gantry_proto::types::Principal;
    use std::time::{Duration, SystemTime};

    fn recorded(payload: Payload) -> RecordedEvent {
        let event = NewEvent {
            aggregate_type: "blob",
            aggregate_id: "local.ab".into(),
            payload,
            actor: Principal { subject: "agent".into(), groups: vec!["tenant:acme".into()] },
            correlation_id: "c".into(),
            causation_id: String::new(),
        };
        let envelope = event.into_envelope(SystemTime::UNIX_EPOCH + Duration::from_secs(86_400));
        RecordedEvent { sequence: 7, subject: "g.blob.local.ab".into(), envelope }
    }

    #[test]
    fn artifact_and_run_events_become_one_json_line_each() {
        let stored = ArtifactStored {
            artifact_id: "a1".into(),
            run_id: "r".into(),
            retention: RetentionPolicy::Keep as i32,
            input_artifact_ids: vec!["a0".into()],
            size_bytes: 3,
            ..ArtifactStored::default()
        };
        let line = line(&recorded(Payload::ArtifactStored(stored))).unwrap();
        assert!(!line.contains('\n'));
        let value: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["sequence"], 7);
        assert_eq!(value["event_type"], "artifact.stored.v1");
        assert_eq!(value["occurred_at"], "1970-01-02T00:00:00Z");
        assert_eq!(value["actor"], "agent");
        assert_eq!(value["payload"]["retention"], "keep");
        assert_eq!(value["payload"]["input_artifact_ids"], json!(["a0"]));
        assert_eq!(value["payload"]["expires_at"], Value::Null);
        let completed = RunCompleted { tenant: "acme".into(), run_id: "r".into(), artifact_count: 2 };
        let value: Value =
            serde_json::from_str(&super::line(&recorded(Payload::RunCompleted(completed))).unwrap()).unwrap();
        assert_eq!(value["payload"]["artifact_count"], 2);
        let verified = Payload::BlobVerified(gantry_proto::events::BlobVerified::default());
        assert_eq!(super::line(&recorded(verified)), None, "blob events are not a run's");
    }
}
