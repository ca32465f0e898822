//! A request's fields as words: the enum names the command line uses, the
//! times, what a request waits for, and the JSON object scripts read.

use crate::approvals;
use gantry_proto::intake as pb;
use gantry_proto::provisioner as provisioner_pb;
use gantry_proto::types;
use serde_json::{Value, json};

pub(super) fn word(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix).unwrap_or(name).to_lowercase().replace('_', "-")
}

/// Returns a status as the CLI spells it (`pending_approval`).
pub(crate) fn status_word(number: i32) -> String {
    pb::RequestStatus::try_from(number)
        .map_or("unknown".into(), |status| word(status.as_str_name(), "REQUEST_STATUS_"))
        .replace('-', "_")
}

/// Returns true for a status after which nothing happens on its own (a
/// ready database may still be asked to be decommissioned).
pub(crate) fn is_final(number: i32) -> bool {
    use pb::RequestStatus::{Cancelled, Decommissioned, Failed, Ready, Rejected};
    matches!(pb::RequestStatus::try_from(number), Ok(Ready | Rejected | Cancelled | Failed | Decommissioned))
}

/// Returns an environment as the CLI spells it (`prod`).
pub(crate) fn environment_word(number: i32) -> String {
    types::Environment::try_from(number).map_or("unknown".into(), |value| word(value.as_str_name(), "ENVIRONMENT_"))
}

/// Returns a risk as the CLI spells it (`high`).
pub(crate) fn risk_word(number: i32) -> String {
    types::Risk::try_from(number).map_or("unknown".into(), |value| word(value.as_str_name(), "RISK_"))
}

/// Returns a rotation state as the CLI spells it (`due-soon`).
pub(crate) fn rotation_state_word(number: i32) -> String {
    gantry_proto::rotation::RotationState::try_from(number)
        .map_or("unknown".into(), |value| word(value.as_str_name(), "ROTATION_STATE_"))
}

/// Returns a rotation strategy as the CLI spells it (`alternating-users`).
pub(crate) fn strategy_word(number: i32) -> String {
    gantry_proto::events::RotationStrategy::try_from(number)
        .map_or("unknown".into(), |value| word(value.as_str_name(), "ROTATION_STRATEGY_"))
}

/// Returns a size as the CLI spells it (`xlarge`).
pub(crate) fn size_word(number: i32) -> String {
    types::Size::try_from(number).map_or("unknown".into(), |value| word(value.as_str_name(), "SIZE_"))
}

/// Returns a bucket's purpose as the CLI spells it (`backend-state`).
pub(crate) fn purpose_word(number: i32) -> String {
    types::BucketPurpose::try_from(number)
        .map_or("unknown".into(), |value| word(value.as_str_name(), "BUCKET_PURPOSE_"))
}

/// Returns a database's or bucket's status as the CLI spells it (`ready`).
pub(crate) fn resource_status_word(number: i32) -> String {
    provisioner_pb::ResourceStatus::try_from(number)
        .map_or("unknown".into(), |value| word(value.as_str_name(), "RESOURCE_STATUS_"))
}

/// Returns a time as RFC 3339, empty when unset.
pub(crate) fn time(timestamp: Option<prost_types::Timestamp>) -> String {
    timestamp.map_or(String::new(), |timestamp| timestamp.to_string())
}

/// The fields every view of a request shows: kind, name, environment, owner.
pub(crate) fn summary(request: &pb::Request) -> [String; 4] {
    match &request.spec {
        Some(pb::request::Spec::Database(db)) => {
            ["database".into(), db.database_name.clone(), environment_word(db.environment), db.owner.clone()]
        }
        Some(pb::request::Spec::Bucket(bucket)) => {
            ["bucket".into(), bucket.bucket_name.clone(), environment_word(bucket.environment), bucket.owner.clone()]
        }
        None => ["unknown".into(), String::new(), String::new(), String::new()],
    }
}

/// Returns the approval clauses still open while a request (or its
/// decommission) is pending; none once it is decided (an auto-approved
/// request needed none).
pub(crate) fn approvals_needed(request: &pb::Request) -> Vec<Vec<String>> {
    use pb::RequestStatus::{DecommissionRequested, PendingApproval};
    match pb::RequestStatus::try_from(request.status) {
        Ok(PendingApproval | DecommissionRequested) => approvals::still_needed(request),
        _ => Vec::new(),
    }
}

/// Returns what a request that is not final waits for, in words.
pub(crate) fn waiting_for(request: &pb::Request) -> Option<String> {
    match pb::RequestStatus::try_from(request.status).ok()? {
        pb::RequestStatus::PendingApproval => Some(approval_by(request, "approval", "the requester")),
        pb::RequestStatus::Approved => Some("provisioning".into()),
        pb::RequestStatus::Provisioning => Some("provisioning to finish".into()),
        pb::RequestStatus::DecommissionRequested => {
            Some(approval_by(request, "approval of the decommission", "who asked for it"))
        }
        pb::RequestStatus::Decommissioning => Some("the decommission to finish".into()),
        _ => None,
    }
}

/// Returns `<what> by <the groups still needed> (not <excluded>)`, or just
/// `<what>` when intake named no group.
fn approval_by(request: &pb::Request, what: &str, excluded: &str) -> String {
    let needed = approvals::still_needed(request);
    match needed.is_empty() {
        true => what.into(),
        false => format!("{what} by {} (not {excluded})", approvals::describe(&needed)),
    }
}

/// Returns the resource's own fields, by name, in the order they print.
pub(crate) fn spec_fields(request: &pb::Request) -> Vec<(&'static str, Value)> {
    match &request.spec {
        Some(pb::request::Spec::Database(db)) => vec![
            ("database_name", json!(db.database_name)),
            ("username", json!(db.username)),
            ("environment", json!(environment_word(db.environment))),
            ("owner", json!(db.owner)),
            ("requester", json!(db.requester)),
            ("domain", json!(db.domain)),
            ("risk", json!(risk_word(db.risk))),
            ("size", json!(size_word(db.size))),
        ],
        Some(pb::request::Spec::Bucket(bucket)) => vec![
            ("bucket_name", json!(bucket.bucket_name)),
            ("purpose", json!(purpose_word(bucket.purpose))),
            ("environment", json!(environment_word(bucket.environment))),
            ("region", json!(bucket.region)),
            ("owner", json!(bucket.owner)),
            ("requester", json!(bucket.requester)),
            ("retention_days", json!(bucket.retention_days)),
            ("kms_key_id", json!(bucket.kms_key_id)),
            ("replication_target", json!(bucket.replication_target)),
        ],
        None => Vec::new(),
    }
}

/// Returns one approval as JSON.
pub(crate) fn approval_json(approval: &pb::Approval) -> Value {
    let approver = approval.approver.clone().unwrap_or_default();
    json!({
        "approver": approver.subject, "groups": approver.groups,
        "comment": approval.comment, "at": time(approval.approved_at),
    })
}

/// Returns the request as the JSON object every command prints.
pub(crate) fn request_json(request: &pb::Request) -> Value {
    let [kind, name, environment, owner] = summary(request);
    let spec: serde_json::Map<String, Value> =
        spec_fields(request).into_iter().map(|(field, value)| (field.to_owned(), value)).collect();
    json!({
        "request_id": request.request_id, "kind": kind, "name": name, "environment": environment,
        "owner": owner, "status": status_word(request.status), "spec": spec,
        "submitted_by": request.submitted_by.as_ref().map(|principal| principal.subject.clone()),
        "required_approvals": request.required_approvals.iter().map(|c| c.any_of_groups.clone()).collect::<Vec<_>>(),
        "approvals": request.approvals.iter().map(approval_json).collect::<Vec<_>>(),
        "approvals_needed": approvals_needed(request),
        "auto_approved_by_rule": request.auto_approved_by_rule, "reason": request.reason,
        "secret_path": request.secret_path, "created_at": time(request.created_at),
        "updated_at": time(request.updated_at), "sequence": request.sequence,
        "waiting_for": waiting_for(request),
    })
}
