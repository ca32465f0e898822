//! Break-glass decommission of a ready database: the form and its rules,
//! who may ask, the second person who approves, turning it down, and how
//! its events fold into the request. Pure, like the rest of the domain.
//!
//! Life of one: `READY` → asked (`DECOMMISSION_REQUESTED`) → approved by a
//! `platform-team` member other than the asker (`DECOMMISSIONING`) → the
//! provisioner's `decommissioned` (`DECOMMISSIONED`, terminal, the names are
//! free). Rejected, withdrawn or failed, the request is `READY` again.

use super::DomainError;
use super::decide::{Decision, PLATFORM_GROUP, may_act_for};
use super::policy::is_reviewer;
use super::request::{RequestState, Status};
use super::spec::{ResourceSpec, SecretPolicy};
use super::wire::number_of;
use gantry_proto::events::envelope::Payload;
use gantry_proto::events::{DecommissionApproved, DecommissionRejected, DecommissionRequested};
use gantry_proto::types::{ApprovalClause, Principal};
use serde::{Deserialize, Serialize};

/// Where a decommission stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecommissionStage {
    /// Waiting for its approval.
    Requested,
    /// Approved; the provisioner drops the database.
    Approved,
    /// Rejected or withdrawn; the database stays.
    TurnedDown,
    /// The provisioner gave up; the database stays.
    Failed,
    /// Dropped.
    Done,
}

/// The request's latest decommission, as its state keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decommission {
    /// Who asked for it.
    pub requested_by: String,
    /// Why.
    pub reason: String,
    /// What becomes of the secret.
    pub secret_policy: SecretPolicy,
    /// Days the deleted secret stays recoverable (0 when it is retained).
    pub recovery_window_days: u32,
    /// Approval clauses recorded when it was asked for.
    pub required: Vec<Vec<String>>,
    /// Who approved, rejected or withdrew it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// Where it stands.
    pub stage: DecommissionStage,
}

/// Decides a request to decommission by `actor`: the requester, the
/// submitter or `platform-team`, for a ready database, confirming its name.
pub fn decide_request_decommission(
    state: Option<&RequestState>,
    id: &str,
    actor: &Principal,
    form: &DecommissionForm,
) -> Result<Decision, DomainError> {
    let state = state.ok_or_else(|| DomainError::NotFound(id.to_owned()))?;
    if !may_act_for(state, actor) {
        return Err(DomainError::PermissionDenied(format!(
            "only the requester, the submitter or {PLATFORM_GROUP} may ask to decommission a request"
        )));
    }
    let ResourceSpec::Database(database) = &state.spec else {
        return Err(DomainError::FailedPrecondition(format!(
            "request is a {} request ({}); only databases can be decommissioned",
            state.spec.kind(),
            state.status
        )));
    };
    let order = form.validate(Some(&database.database_name)).map_err(DomainError::Invalid)?;
    match state.status {
        Status::DecommissionRequested => Ok(Decision::AlreadyDone),
        Status::Ready => Ok(Decision::Append(Payload::DecommissionRequested(DecommissionRequested {
            reason: order.reason,
            secret_policy: number_of(SecretPolicy::ALL, &order.secret_policy),
            recovery_window_days: order.recovery_window_days,
            required_approvals: vec![ApprovalClause { any_of_groups: vec![PLATFORM_GROUP.to_owned()] }],
        }))),
        other => Err(DomainError::FailedPrecondition(format!(
            "request is {other}; only a ready database can be decommissioned"
        ))),
    }
}

/// Returns the decommission an approval is about: one in progress.
pub(super) fn open(state: &RequestState) -> Option<&Decommission> {
    let open = matches!(state.status, Status::DecommissionRequested | Status::Decommissioning);
    state.decommission.as_ref().filter(|_| open)
}

/// Returns the decommission a rejection or cancellation is about: one in
/// progress, or one just turned down (a repeated call).
pub(super) fn open_or_turned_down(state: &RequestState) -> Option<&Decommission> {
    let decommission = state.decommission.as_ref()?;
    let turned_down = state.status == Status::Ready && decommission.stage == DecommissionStage::TurnedDown;
    open(state).or(turned_down.then_some(decommission))
}

/// Decides an approval of a decommission: a `platform-team` member who
/// did not ask for it (two people for break-glass).
pub(super) fn decide_approval(
    state: &RequestState,
    decommission: &Decommission,
    approver: &Principal,
    comment: &str,
) -> Result<Decision, DomainError> {
    let approved = decommission.stage == DecommissionStage::Approved;
    if approved && decommission.decided_by.as_deref() == Some(approver.subject.as_str()) {
        return Ok(Decision::AlreadyDone);
    }
    if state.status != Status::DecommissionRequested {
        return Err(DomainError::FailedPrecondition(format!(
            "request is {}; its decommission is decided already",
            state.status
        )));
    }
    if approver.subject == decommission.requested_by {
        return Err(DomainError::PermissionDenied(format!(
            "a decommission needs a second person: another member of {PLATFORM_GROUP} approves it"
        )));
    }
    require_reviewer(decommission, approver)?;
    let ResourceSpec::Database(database) = &state.spec else {
        return Err(DomainError::FailedPrecondition("only databases can be decommissioned".into()));
    };
    Ok(Decision::Append(Payload::DecommissionApproved(DecommissionApproved {
        comment: comment.to_owned(),
        database: Some(database.into()),
        secret_policy: number_of(SecretPolicy::ALL, &decommission.secret_policy),
        recovery_window_days: decommission.recovery_window_days,
    })))
}

/// Decides a rejection of a decommission by a `platform-team` member.
pub(super) fn decide_rejection(
    state: &RequestState,
    decommission: &Decommission,
    reviewer: &Principal,
    reason: &str,
) -> Result<Decision, DomainError> {
    require_reviewer(decommission, reviewer)?;
    turn_down(state, decommission, reviewer, reason)
}

/// Decides a withdrawal of a decommission (`CancelRequest`), by whoever may
/// ask for one.
pub(super) fn decide_withdrawal(
    state: &RequestState,
    decommission: &Decommission,
    actor: &Principal,
    reason: &str,
) -> Result<Decision, DomainError> {
    if !may_act_for(state, actor) {
        return Err(DomainError::PermissionDenied(format!(
            "only the requester, the submitter or {PLATFORM_GROUP} may withdraw a decommission"
        )));
    }
    turn_down(state, decommission, actor, reason)
}

/// Turns a decommission down; the same person again is a repeat.
fn turn_down(
    state: &RequestState,
    decommission: &Decommission,
    actor: &Principal,
    reason: &str,
) -> Result<Decision, DomainError> {
    match (state.status, decommission.stage) {
        (Status::DecommissionRequested, _) => {
            Ok(Decision::Append(Payload::DecommissionRejected(DecommissionRejected { reason: reason.to_owned() })))
        }
        (Status::Ready, DecommissionStage::TurnedDown)
            if decommission.decided_by.as_deref() == Some(actor.subject.as_str()) =>
        {
            Ok(Decision::AlreadyDone)
        }
        (status, _) => Err(DomainError::FailedPrecondition(format!(
            "request is {status}; a decommission can be turned down only while it awaits approval"
        ))),
    }
}

fn require_reviewer(decommission: &Decommission, reviewer: &Principal) -> Result<(), DomainError> {
    if is_reviewer(&decommission.required, &reviewer.groups) {
        return Ok(());
    }
    let groups: Vec<String> = decommission.required.iter().map(|clause| clause.join(" or ")).collect();
    Err(DomainError::PermissionDenied(format!("deciding a decommission needs a member of {}", groups.join(", then "))))
}

mod fold;
mod form;

pub(super) use fold::evolve;
pub use form::{DEFAULT_RECOVERY_WINDOW_DAYS, DecommissionForm, DecommissionOrder, RECOVERY_WINDOW_DAYS};

#[cfg(test)]
mod tests;
