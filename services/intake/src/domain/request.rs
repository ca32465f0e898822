//! A request's state and `evolve`, which folds the request's events into it.
//! The command side and the view share this one function.

use super::decommission::{self, Decommission};
use super::spec::ResourceSpec;
use super::wire::{bucket_spec, database_spec};
use gantry_eventlog::RecordedEvent;
use gantry_proto::events::envelope::Payload;
use gantry_proto::types as pb;
use serde::{Deserialize, Serialize};
use std::time::{SystemTime, UNIX_EPOCH};

/// Where a request is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waiting for approvals.
    PendingApproval,
    /// Approved; the provisioner will act on it.
    Approved,
    /// Rejected by an approver (terminal).
    Rejected,
    /// Withdrawn (terminal).
    Cancelled,
    /// Being provisioned.
    Provisioning,
    /// Provisioned; credentials are in Secrets Manager.
    Ready,
    /// Provisioning failed (terminal).
    Failed,
    /// A ready database whose decommission waits for approval.
    DecommissionRequested,
    /// Approved for decommission; the provisioner drops it.
    Decommissioning,
    /// Dropped (terminal).
    Decommissioned,
}

impl Status {
    /// Every status, in the order of the protobuf enum.
    pub const ALL: &'static [Self] = &[
        Self::PendingApproval,
        Self::Approved,
        Self::Rejected,
        Self::Cancelled,
        Self::Provisioning,
        Self::Ready,
        Self::Failed,
        Self::DecommissionRequested,
        Self::Decommissioning,
        Self::Decommissioned,
    ];

    /// Returns the lowercase name used in the view and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingApproval => "pending_approval",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Cancelled => "cancelled",
            Self::Provisioning => "provisioning",
            Self::Ready => "ready",
            Self::Failed => "failed",
            Self::DecommissionRequested => "decommission_requested",
            Self::Decommissioning => "decommissioning",
            Self::Decommissioned => "decommissioned",
        }
    }

    /// Returns true where a watch ends: nothing more will happen on its own
    /// (a ready database stays ready until somebody asks otherwise).
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Rejected | Self::Cancelled | Self::Ready | Self::Failed | Self::Decommissioned)
    }

    /// Returns true while the request holds its names (a ready resource
    /// exists, so it still holds them, until it is decommissioned).
    pub fn holds_name(self) -> bool {
        !matches!(self, Self::Rejected | Self::Cancelled | Self::Failed | Self::Decommissioned)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// One recorded approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// Who approved.
    pub subject: String,
    /// Their groups when they approved.
    pub groups: Vec<String>,
    /// Their comment.
    pub comment: String,
    /// When, in microseconds since the epoch.
    pub at_micros: i64,
}

/// Everything known about one request. Stored as JSON in the view; empty
/// fields are left out to keep rows small.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestState {
    /// Request id.
    pub id: String,
    /// What is requested.
    pub spec: ResourceSpec,
    /// Current status.
    pub status: Status,
    /// Who submitted it (for Backstage: its backend's principal).
    pub submitted_by: String,
    /// The client's idempotency key, empty when none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub idempotency_key: String,
    /// Approval clauses recorded at submission.
    pub required: Vec<Vec<String>>,
    /// Approvals so far.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvals: Vec<Approval>,
    /// The auto-approve rule that approved it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_approved_by: Option<String>,
    /// Why it was rejected, cancelled or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Where its credentials are, once ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_path: Option<String>,
    /// Its latest decommission, if one was ever asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decommission: Option<Decommission>,
    /// Creation time, microseconds since the epoch.
    pub created_micros: i64,
    /// Last change, microseconds since the epoch.
    pub updated_micros: i64,
    /// Stream sequence of the creating event.
    pub created_sequence: u64,
    /// Stream sequence of the last applied event.
    pub sequence: u64,
}

/// Folds one event into a request's state; an event that cannot apply (a
/// creation of an existing request, a change of a missing one) is an error
/// naming why.
pub fn evolve(state: Option<RequestState>, event: &RecordedEvent) -> Result<RequestState, String> {
    let at = micros(event.occurred_at());
    let actor = event.actor();
    let payload = event.payload().ok_or("event without a payload")?;
    let mut state = match (state, payload) {
        (None, Payload::DatabaseRequested(requested)) => {
            let spec = requested.spec.as_ref().ok_or("database_requested without spec")?;
            let creation = Creation {
                spec: ResourceSpec::Database(database_spec(spec)?),
                idempotency_key: &requested.idempotency_key,
                required: &requested.required_approvals,
                auto_rule: &requested.auto_approved_by_rule,
            };
            created(event, creation, &actor)
        }
        (None, Payload::BucketRequested(requested)) => {
            let spec = requested.spec.as_ref().ok_or("bucket_requested without spec")?;
            let creation = Creation {
                spec: ResourceSpec::Bucket(bucket_spec(spec)?),
                idempotency_key: &requested.idempotency_key,
                required: &requested.required_approvals,
                auto_rule: &requested.auto_approved_by_rule,
            };
            created(event, creation, &actor)
        }
        (Some(_), Payload::DatabaseRequested(_) | Payload::BucketRequested(_)) => {
            return Err("request created twice".into());
        }
        (None, other) => {
            return Err(format!("{} for a request that does not exist", gantry_eventlog::event_type_of(other)));
        }
        (Some(state), payload) => changed(state, payload, &actor, at)?,
    };
    state.updated_micros = at;
    state.sequence = event.sequence;
    Ok(state)
}

/// What a request id's events amount to.
// Short-lived; boxing the request would only add an allocation per load.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Folded {
    /// No events: the id is unused.
    Missing,
    /// Voided before it was created: the id can never be used.
    Voided,
    /// A request.
    Request(RequestState),
}

impl Folded {
    /// Returns the request, if there is one.
    pub fn request(&self) -> Option<&RequestState> {
        match self {
            Self::Request(state) => Some(state),
            _ => None,
        }
    }

    /// Returns the request, if there is one.
    pub fn into_request(self) -> Option<RequestState> {
        match self {
            Self::Request(state) => Some(state),
            _ => None,
        }
    }
}

/// Returns true for the event that voids an unused request id.
pub fn is_void(event: &RecordedEvent) -> bool {
    matches!(event.payload(), Some(Payload::RequestVoided(_)))
}

/// Folds a request id's events, oldest first.
pub fn fold(events: &[RecordedEvent]) -> Result<Folded, String> {
    match events.first() {
        None => Ok(Folded::Missing),
        Some(first) if is_void(first) => Ok(Folded::Voided),
        Some(_) => {
            let state = events.iter().try_fold(None, |state, event| evolve(state, event).map(Some))?;
            Ok(state.map_or(Folded::Missing, Folded::Request))
        }
    }
}

/// What both creation events carry.
struct Creation<'a> {
    spec: ResourceSpec,
    idempotency_key: &'a str,
    required: &'a [pb::ApprovalClause],
    auto_rule: &'a str,
}

fn created(event: &RecordedEvent, creation: Creation<'_>, actor: &pb::Principal) -> RequestState {
    let auto_approved_by = Some(creation.auto_rule.to_owned()).filter(|rule| !rule.is_empty());
    RequestState {
        id: event.envelope.aggregate_id.clone(),
        spec: creation.spec,
        status: if auto_approved_by.is_some() { Status::Approved } else { Status::PendingApproval },
        submitted_by: actor.subject.clone(),
        idempotency_key: creation.idempotency_key.to_owned(),
        required: creation.required.iter().map(|clause| clause.any_of_groups.clone()).collect(),
        approvals: Vec::new(),
        auto_approved_by,
        reason: None,
        secret_path: None,
        decommission: None,
        created_micros: micros(event.occurred_at()),
        updated_micros: 0,
        created_sequence: event.sequence,
        sequence: event.sequence,
    }
}

fn changed(mut state: RequestState, payload: &Payload, actor: &pb::Principal, at: i64) -> Result<RequestState, String> {
    match payload {
        Payload::ApprovalGranted(granted) => {
            state.approvals.push(Approval {
                subject: actor.subject.clone(),
                groups: actor.groups.clone(),
                comment: granted.comment.clone(),
                at_micros: at,
            });
            if granted.policy_satisfied {
                state.status = Status::Approved;
            }
        }
        Payload::RequestRejected(rejected) => {
            state.status = Status::Rejected;
            state.reason = Some(rejected.reason.clone());
        }
        Payload::RequestCancelled(cancelled) => {
            state.status = Status::Cancelled;
            state.reason = Some(cancelled.reason.clone());
        }
        Payload::ProvisioningStarted(_) => state.status = Status::Provisioning,
        Payload::ResourceProvisioned(provisioned) => {
            state.status = Status::Ready;
            state.secret_path = Some(provisioned.secret_path.clone()).filter(|path| !path.is_empty());
        }
        Payload::ProvisioningFailed(failed) => {
            state.status = Status::Failed;
            state.reason = Some(failed.reason.clone());
        }
        // Steps of provisioning (the status stays provisioning until ready),
        // of a drift check and of a password rotation (it stays ready) and of
        // a decommission (it stays decommissioning until decommissioned).
        Payload::RoleCreated(_)
        | Payload::DatabaseCreated(_)
        | Payload::CredentialsStored(_)
        | Payload::BucketCreated(_)
        | Payload::DriftDetected(_)
        | Payload::DriftRepaired(_)
        | Payload::DatabaseDropped(_)
        | Payload::SecretDeleted(_)
        | Payload::RotationRequested(_)
        | Payload::RotationStarted(_)
        | Payload::CredentialsRotated(_)
        | Payload::RotationFailed(_)
        | Payload::RotationDueSoon(_)
        | Payload::RotationOverdue(_)
        | Payload::RotationPolicySet(_) => {}
        Payload::DecommissionRequested(_)
        | Payload::DecommissionApproved(_)
        | Payload::DecommissionRejected(_)
        | Payload::Decommissioned(_)
        | Payload::DecommissionFailed(_) => decommission::evolve(&mut state, payload, actor)?,
        Payload::DatabaseRequested(_)
        | Payload::BucketRequested(_)
        | Payload::NameReserved(_)
        | Payload::RequestVoided(_) => {
            return Err(format!("{} does not belong on a request", gantry_eventlog::event_type_of(payload)));
        }
        // Ingest's and lineage's events live on their own subjects, never on a request's.
        Payload::ArtifactStored(_)
        | Payload::ArtifactExpired(_)
        | Payload::BlobDeleted(_)
        | Payload::BlobVerified(_)
        | Payload::BlobCorrupted(_)
        | Payload::BlobDeletionStarted(_)
        | Payload::RunCompleted(_)
        | Payload::RunLayoutWritten(_)
        | Payload::OpenLineageRunEvent(_) => {
            return Err(format!("{} does not belong on a request", gantry_eventlog::event_type_of(payload)));
        }
    }
    Ok(state)
}

/// Returns microseconds since the epoch.
pub(crate) fn micros(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH).map(|elapsed| elapsed.as_micros() as i64).unwrap_or(0)
}
