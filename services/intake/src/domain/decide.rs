//! The decider: a command and the current state in, an event (or a refusal)
//! out. Pure: the caller loads state from the log, passes the clock, and
//! appends what comes out.

use super::DomainError;
use super::decommission;
use super::policy::{Policy, is_reviewer, is_satisfied};
use super::request::{Folded, RequestState, Status};
use super::spec::ResourceSpec;
use gantry_proto::events::{
    ApprovalGranted, BucketRequested, DatabaseRequested, RequestCancelled, RequestRejected, approval_granted,
    envelope::Payload,
};
use gantry_proto::types::{ApprovalClause, Principal};
use std::time::{Duration, SystemTime};

/// The group that may cancel anyone's request.
pub const PLATFORM_GROUP: &str = "platform-team";

/// How long a name reservation whose request never appeared still holds the
/// name (a submitter that died between the two appends).
pub const ORPHAN_RESERVATION_GRACE: Duration = Duration::from_secs(30);

/// What a command comes to.
// Short-lived on the stack; boxing the payload would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Append this event.
    Append(Payload),
    /// Nothing to do: the command already took effect (a retry).
    AlreadyDone,
}

/// Decides a submission: a new request, or the same one again under the
/// same idempotency key.
pub fn decide_submit(
    existing: Option<&RequestState>,
    spec: &ResourceSpec,
    idempotency_key: &str,
    policy: &Policy,
) -> Result<Decision, DomainError> {
    if let Some(existing) = existing {
        return if existing.spec == *spec && existing.idempotency_key == idempotency_key {
            Ok(Decision::AlreadyDone)
        } else {
            Err(DomainError::IdempotencyKeyReused { request_id: existing.id.clone() })
        };
    }
    let outcome = policy.evaluate(spec).ok_or_else(|| {
        DomainError::FailedPrecondition(format!("no approval rule covers this {} request", spec.kind()))
    })?;
    let required_approvals: Vec<ApprovalClause> =
        outcome.required.into_iter().map(|any_of_groups| ApprovalClause { any_of_groups }).collect();
    let auto_approved_by_rule = outcome.auto_approved_by.unwrap_or_default();
    let idempotency_key = idempotency_key.to_owned();
    Ok(Decision::Append(match spec {
        ResourceSpec::Database(database) => Payload::DatabaseRequested(DatabaseRequested {
            spec: Some(database.into()),
            idempotency_key,
            required_approvals,
            auto_approved_by_rule,
        }),
        ResourceSpec::Bucket(bucket) => Payload::BucketRequested(BucketRequested {
            spec: Some(bucket.into()),
            idempotency_key,
            required_approvals,
            auto_approved_by_rule,
        }),
    }))
}

/// Decides an approval by `approver`.
pub fn decide_approve(
    state: Option<&RequestState>,
    id: &str,
    approver: &Principal,
    comment: &str,
) -> Result<Decision, DomainError> {
    let state = state.ok_or_else(|| DomainError::NotFound(id.to_owned()))?;
    if let Some(decommission) = decommission::open(state) {
        return decommission::decide_approval(state, decommission, approver, comment);
    }
    refuse_self_review(state, approver)?;
    if state.approvals.iter().any(|approval| approval.subject == approver.subject) {
        return Ok(Decision::AlreadyDone);
    }
    require_pending(state, "approved")?;
    require_reviewer(state, approver)?;
    let mut approvers: Vec<&[String]> = state.approvals.iter().map(|approval| approval.groups.as_slice()).collect();
    approvers.push(&approver.groups);
    let policy_satisfied = is_satisfied(&state.required, &approvers);
    // The approval that completes the policy says what it approved.
    let approved = policy_satisfied.then(|| match &state.spec {
        ResourceSpec::Database(database) => approval_granted::Approved::Database(database.into()),
        ResourceSpec::Bucket(bucket) => approval_granted::Approved::Bucket(bucket.into()),
    });
    Ok(Decision::Append(Payload::ApprovalGranted(ApprovalGranted {
        comment: comment.to_owned(),
        policy_satisfied,
        approved,
    })))
}

/// Decides a rejection by `reviewer`.
pub fn decide_reject(
    state: Option<&RequestState>,
    id: &str,
    reviewer: &Principal,
    reason: &str,
) -> Result<Decision, DomainError> {
    let state = state.ok_or_else(|| DomainError::NotFound(id.to_owned()))?;
    if let Some(decommission) = decommission::open_or_turned_down(state) {
        return decommission::decide_rejection(state, decommission, reviewer, reason);
    }
    refuse_self_review(state, reviewer)?;
    if state.status == Status::Rejected {
        return Ok(Decision::AlreadyDone);
    }
    require_pending(state, "rejected")?;
    require_reviewer(state, reviewer)?;
    Ok(Decision::Append(Payload::RequestRejected(RequestRejected { reason: reason.to_owned() })))
}

/// Decides a cancellation: by whoever asked or submitted, or the platform team.
pub fn decide_cancel(
    state: Option<&RequestState>,
    id: &str,
    actor: &Principal,
    reason: &str,
) -> Result<Decision, DomainError> {
    let state = state.ok_or_else(|| DomainError::NotFound(id.to_owned()))?;
    // A decommission waiting for approval is withdrawn, not the request.
    if let Some(decommission) = decommission::open_or_turned_down(state) {
        return decommission::decide_withdrawal(state, decommission, actor, reason);
    }
    if !may_act_for(state, actor) {
        return Err(DomainError::PermissionDenied(format!(
            "only the requester, the submitter or {PLATFORM_GROUP} may cancel a request"
        )));
    }
    match state.status {
        Status::Cancelled => Ok(Decision::AlreadyDone),
        Status::PendingApproval | Status::Approved => {
            Ok(Decision::Append(Payload::RequestCancelled(RequestCancelled { reason: reason.to_owned() })))
        }
        other => Err(DomainError::FailedPrecondition(format!(
            "request is {other}; only pending or approved requests can be cancelled"
        ))),
    }
}

/// Returns true when `actor` asked for or submitted the request, or is in
/// `platform-team`: who may cancel it, and ask for or withdraw its
/// decommission.
pub(super) fn may_act_for(state: &RequestState, actor: &Principal) -> bool {
    let own = actor.subject == state.spec.requester() || actor.subject == state.submitted_by;
    own || actor.groups.iter().any(|group| group == PLATFORM_GROUP)
}

fn refuse_self_review(state: &RequestState, reviewer: &Principal) -> Result<(), DomainError> {
    if reviewer.subject == state.spec.requester() || reviewer.subject == state.submitted_by {
        return Err(DomainError::PermissionDenied("a requester cannot review their own request".into()));
    }
    Ok(())
}

fn require_pending(state: &RequestState, verb: &str) -> Result<(), DomainError> {
    if state.status != Status::PendingApproval {
        return Err(DomainError::FailedPrecondition(format!(
            "request is {}; only pending requests can be {verb}",
            state.status.as_str()
        )));
    }
    Ok(())
}

fn require_reviewer(state: &RequestState, reviewer: &Principal) -> Result<(), DomainError> {
    if !is_reviewer(&state.required, &reviewer.groups) {
        let groups: Vec<String> = state.required.iter().map(|clause| clause.join(" or ")).collect();
        return Err(DomainError::PermissionDenied(format!("reviewing needs a member of {}", groups.join(", then "))));
    }
    Ok(())
}

/// Who holds a resource name, as read from its reservation subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameHold {
    /// Nobody live: the name can be reserved.
    Free,
    /// The holder's request never appeared and its grace has passed: void
    /// that request id first (so it can never appear), then reserve.
    Orphaned(String),
    /// This very request holds it already (a retried submission).
    Ours,
    /// Another live request holds it.
    HeldBy(String),
}

/// Decides who holds the name `reservation_id`, from its newest reservation
/// (holder and time) and what the holder's request id amounts to.
pub fn name_hold(
    my_request_id: &str,
    reservation_id: &str,
    reservation: Option<(&str, SystemTime)>,
    holder: &Folded,
    now: SystemTime,
) -> NameHold {
    let Some((holder_id, reserved_at)) = reservation else { return NameHold::Free };
    if holder_id == my_request_id {
        return NameHold::Ours;
    }
    match holder {
        // A holder whose request is for another name (a key reused with a
        // different request) never held this one.
        Folded::Request(state) if state.status.holds_name() && state.spec.holds_reservation(reservation_id) => {
            NameHold::HeldBy(holder_id.to_owned())
        }
        Folded::Request(_) | Folded::Voided => NameHold::Free,
        Folded::Missing if now.duration_since(reserved_at).unwrap_or_default() < ORPHAN_RESERVATION_GRACE => {
            NameHold::HeldBy(holder_id.to_owned())
        }
        Folded::Missing => NameHold::Orphaned(holder_id.to_owned()),
    }
}

#[cfg(test)]
mod tests;
