//! The envelope around every event: building one for an append, and decoding
//! one read back from the stream.

use anyhow::Context as _;
use gantry_proto::events::{Envelope, envelope::Payload};
use gantry_proto::types::Principal;
use prost::Message as _;
use std::time::SystemTime;
use uuid::Uuid;

/// Returns the versioned type name of a payload, e.g. `intake.database_requested.v1`.
pub fn event_type_of(payload: &Payload) -> &'static str {
    match payload {
        Payload::DatabaseRequested(_) => "intake.database_requested.v1",
        Payload::BucketRequested(_) => "intake.bucket_requested.v1",
        Payload::ApprovalGranted(_) => "intake.approval_granted.v1",
        Payload::RequestRejected(_) => "intake.request_rejected.v1",
        Payload::RequestCancelled(_) => "intake.request_cancelled.v1",
        Payload::NameReserved(_) => "intake.name_reserved.v1",
        Payload::RequestVoided(_) => "intake.request_voided.v1",
        Payload::ProvisioningStarted(_) => "provisioner.provisioning_started.v1",
        Payload::ResourceProvisioned(_) => "provisioner.resource_provisioned.v1",
        Payload::ProvisioningFailed(_) => "provisioner.provisioning_failed.v1",
        Payload::RoleCreated(_) => "provisioner.role_created.v1",
        Payload::DatabaseCreated(_) => "provisioner.database_created.v1",
        Payload::CredentialsStored(_) => "provisioner.credentials_stored.v1",
        Payload::BucketCreated(_) => "provisioner.bucket_created.v1",
        Payload::DriftDetected(_) => "provisioner.drift_detected.v1",
        Payload::DriftRepaired(_) => "provisioner.drift_repaired.v1",
        Payload::DecommissionRequested(_) => "intake.decommission_requested.v1",
        Payload::DecommissionApproved(_) => "intake.decommission_approved.v1",
        Payload::DecommissionRejected(_) => "intake.decommission_rejected.v1",
        Payload::DatabaseDropped(_) => "provisioner.database_dropped.v1",
        Payload::SecretDeleted(_) => "provisioner.secret_deleted.v1",
        Payload::Decommissioned(_) => "provisioner.decommissioned.v1",
        Payload::DecommissionFailed(_) => "provisioner.decommission_failed.v1",
        Payload::RotationRequested(_) => "rotation.requested.v1",
        Payload::RotationStarted(_) => "rotation.started.v1",
        Payload::CredentialsRotated(_) => "rotation.rotated.v1",
        Payload::RotationFailed(_) => "rotation.failed.v1",
        Payload::RotationDueSoon(_) => "rotation.due_soon.v1",
        Payload::RotationOverdue(_) => "rotation.overdue.v1",
        Payload::RotationPolicySet(_) => "rotation.policy_set.v1",

        Payload::ArtifactStored(_) => "artifact.stored.v1",
        Payload::ArtifactExpired(_) => "artifact.expired.v1",
        Payload::BlobDeleted(_) => "artifact.blob_deleted.v1",
        Payload::BlobVerified(_) => "artifact.blob_verified.v1",
        Payload::BlobCorrupted(_) => "artifact.blob_corrupted.v1",
        Payload::BlobDeletionStarted(_) => "artifact.blob_deletion_started.v1",
        Payload::RunCompleted(_) => "artifact.run_completed.v1",
        Payload::RunLayoutWritten(_) => "artifact.run_layout_written.v1",

        Payload::OpenLineageRunEvent(_) => "lineage.openlineage_run_event.v1",
    }
}

/// An event about to be appended; the log fills in id, type and time.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// The aggregate type, the second subject token (`request`).
    pub aggregate_type: &'static str,
    /// The aggregate id; may hold dots (`prod.orders`), never wildcards.
    pub aggregate_id: String,
    /// The typed payload.
    pub payload: Payload,
    /// The principal on whose behalf the event happens.
    pub actor: Principal,
    /// The id shared by all events of one user action.
    pub correlation_id: String,
    /// What caused this event (a command or event id).
    pub causation_id: String,
}

impl NewEvent {
    /// Seals the event into an envelope with a fresh UUIDv7 and `occurred_at`.
    pub fn into_envelope(self, occurred_at: SystemTime) -> Envelope {
        self.into_envelope_with_id(Uuid::now_v7(), occurred_at)
    }

    /// Seals the event into an envelope with the given id: for an event whose
    /// id is derived from what caused it, so that a retry carries the same id
    /// (see [`EventLog::append_once`](crate::EventLog::append_once)).
    pub fn into_envelope_with_id(self, event_id: Uuid, occurred_at: SystemTime) -> Envelope {
        Envelope {
            event_id: event_id.to_string(),
            event_type: event_type_of(&self.payload).to_owned(),
            aggregate_type: self.aggregate_type.to_owned(),
            aggregate_id: self.aggregate_id,
            occurred_at: Some(occurred_at.into()),
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
            actor: Some(self.actor),
            payload: Some(self.payload),
        }
    }
}

/// An event as stored: its stream sequence, subject and envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    /// The stream sequence: the event's position in the whole log.
    pub sequence: u64,
    /// The subject it was stored under.
    pub subject: String,
    /// The decoded envelope.
    pub envelope: Envelope,
}

impl RecordedEvent {
    /// Returns the payload, or `None` for an event type this build does not know.
    pub fn payload(&self) -> Option<&Payload> {
        self.envelope.payload.as_ref()
    }

    /// Returns when the event happened (the epoch when unset).
    pub fn occurred_at(&self) -> SystemTime {
        self.envelope
            .occurred_at
            .and_then(|timestamp| SystemTime::try_from(timestamp).ok())
            .unwrap_or(SystemTime::UNIX_EPOCH)
    }

    /// Returns when the event happened as seconds since the epoch (what SQL's
    /// `to_timestamp` takes).
    pub fn occurred_seconds(&self) -> f64 {
        self.occurred_at().duration_since(SystemTime::UNIX_EPOCH).map_or(0.0, |elapsed| elapsed.as_secs_f64())
    }

    /// Returns the actor, or an empty principal.
    pub fn actor(&self) -> Principal {
        self.envelope.actor.clone().unwrap_or_default()
    }
}

/// The outcome of decoding one stored message.
#[derive(Debug)]
pub enum Decoded {
    /// A well-formed event of a known type.
    Known(Box<RecordedEvent>),
    /// A well-formed envelope whose payload type this build does not know.
    Unknown {
        /// The event type the envelope names.
        event_type: String,
    },
    /// Bytes that are no valid envelope; the reason says why.
    Malformed {
        /// Why it could not be decoded.
        reason: String,
    },
}

/// Decodes a stored message into an event, telling unknown from malformed.
pub fn decode(sequence: u64, subject: &str, payload: &[u8]) -> Decoded {
    let envelope = match Envelope::decode(payload) {
        Ok(envelope) => envelope,
        Err(error) => {
            return Decoded::Malformed { reason: format!("not an envelope: {error}") };
        }
    };
    if Uuid::parse_str(&envelope.event_id).is_err() {
        return Decoded::Malformed { reason: format!("event_id {:?} is not a uuid", envelope.event_id) };
    }
    if envelope.payload.is_none() {
        return Decoded::Unknown { event_type: envelope.event_type };
    }
    Decoded::Known(Box::new(RecordedEvent { sequence, subject: subject.to_owned(), envelope }))
}

/// Decodes a message that must be a known event (for loading an aggregate).
pub fn decode_known(sequence: u64, subject: &str, payload: &[u8]) -> anyhow::Result<Option<RecordedEvent>> {
    match decode(sequence, subject, payload) {
        Decoded::Known(event) => Ok(Some(*event)),
        Decoded::Unknown { .. } => Ok(None),
        Decoded::Malformed { reason } => {
            Err(anyhow::anyhow!(reason)).with_context(|| format!("event at sequence {sequence} on {subject}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gantry_proto::events::{RequestCancelled, RequestRejected};

    fn sample(payload: Payload) -> Envelope {
        NewEvent {
            aggregate_type: "request",
            aggregate_id: "a".into(),
            payload,
            actor: Principal::default(),
            correlation_id: String::new(),
            causation_id: String::new(),
        }
        .into_envelope(SystemTime::UNIX_EPOCH)
    }

    #[test]
    fn sealing_names_the_type_and_a_v7_id() {
        let envelope = sample(Payload::RequestRejected(RequestRejected { reason: "no".into() }));
        assert_eq!(envelope.event_type, "intake.request_rejected.v1");
        let id = Uuid::parse_str(&envelope.event_id).unwrap();
        assert_eq!(id.get_version_num(), 7);
    }

    #[test]
    fn decode_tells_known_unknown_and_malformed_apart() {
        let known = sample(Payload::RequestCancelled(RequestCancelled::default())).encode_to_vec();
        assert!(matches!(decode(1, "s", &known), Decoded::Known(event) if event.sequence == 1));

        let mut future = sample(Payload::RequestCancelled(RequestCancelled::default()));
        future.payload = None;
        future.event_type = "intake.something_new.v9".into();
        let unknown = future.encode_to_vec();
        assert!(matches!(decode(2, "s", &unknown), Decoded::Unknown { event_type } if event_type.ends_with("v9")));

        assert!(matches!(decode(3, "s", b"\xff\xff\xff"), Decoded::Malformed { .. }));
        let mut bad_id = sample(Payload::RequestCancelled(RequestCancelled::default()));
        bad_id.event_id = "nope".into();
        assert!(matches!(decode(4, "s", &bad_id.encode_to_vec()), Decoded::Malformed { .. }));
    }
}
