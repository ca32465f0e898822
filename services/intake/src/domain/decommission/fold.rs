//! How decommission events fold into a request.

use super::{Decommission, DecommissionStage};
use crate::domain::request::{RequestState, Status};
use crate::domain::spec::SecretPolicy;
use crate::domain::wire::value_of;
use gantry_proto::events::DecommissionRequested;
use gantry_proto::events::envelope::Payload;
use gantry_proto::types::Principal;

/// Folds a decommission event into the request. A decommissioned request
/// stays so: later decommission events change nothing.
pub(in crate::domain) fn evolve(state: &mut RequestState, payload: &Payload, actor: &Principal) -> Result<(), String> {
    if state.status == Status::Decommissioned {
        return Ok(());
    }
    match payload {
        Payload::DecommissionRequested(requested) => requested_by(state, requested, actor)?,
        Payload::DecommissionApproved(approved) => {
            state.status = Status::Decommissioning;
            // Only intake appends it, after a request; a record made up
            // from the approval keeps the fold total all the same.
            let secret_policy = secret_policy_of(approved.secret_policy)?;
            let decommission = state.decommission.get_or_insert_with(|| Decommission {
                requested_by: String::new(),
                reason: String::new(),
                secret_policy,
                recovery_window_days: approved.recovery_window_days,
                required: Vec::new(),
                decided_by: None,
                stage: DecommissionStage::Requested,
            });
            decommission.decided_by = Some(actor.subject.clone());
            decommission.stage = DecommissionStage::Approved;
        }
        Payload::DecommissionRejected(rejected) => {
            let Some(decommission) =
                state.decommission.as_mut().filter(|_| state.status == Status::DecommissionRequested)
            else {
                return Ok(());
            };
            let verb = if actor.subject == decommission.requested_by { "withdrawn" } else { "rejected" };
            decommission.decided_by = Some(actor.subject.clone());
            decommission.stage = DecommissionStage::TurnedDown;
            state.status = Status::Ready;
            state.reason = Some(labelled(&format!("decommission {verb}"), &rejected.reason));
        }
        Payload::DecommissionFailed(failed) => {
            if state.status != Status::Decommissioning {
                return Ok(());
            }
            if let Some(decommission) = state.decommission.as_mut() {
                decommission.stage = DecommissionStage::Failed;
            }
            state.status = Status::Ready;
            state.reason = Some(labelled("decommission failed", &failed.reason));
        }
        Payload::Decommissioned(_) => {
            if let Some(decommission) = state.decommission.as_mut() {
                decommission.stage = DecommissionStage::Done;
                state.reason = Some(labelled("decommissioned", &decommission.reason));
            }
            state.status = Status::Decommissioned;
        }
        other => return Err(format!("{} is no decommission event", gantry_eventlog::event_type_of(other))),
    }
    Ok(())
}

fn requested_by(state: &mut RequestState, requested: &DecommissionRequested, actor: &Principal) -> Result<(), String> {
    let secret_policy = secret_policy_of(requested.secret_policy)?;
    state.status = Status::DecommissionRequested;
    state.reason = Some(labelled("decommission requested", &requested.reason));
    state.decommission = Some(Decommission {
        requested_by: actor.subject.clone(),
        reason: requested.reason.clone(),
        secret_policy,
        recovery_window_days: requested.recovery_window_days,
        required: requested.required_approvals.iter().map(|clause| clause.any_of_groups.clone()).collect(),
        decided_by: None,
        stage: DecommissionStage::Requested,
    });
    Ok(())
}

/// Reads a secret policy from an event (unset means delete).
fn secret_policy_of(number: i32) -> Result<SecretPolicy, String> {
    match number {
        0 => Ok(SecretPolicy::Delete),
        number => value_of(SecretPolicy::ALL, number).ok_or_else(|| format!("unknown secret policy {number}")),
    }
}

/// Returns `label: reason`, or the label alone when there is no reason.
fn labelled(label: &str, reason: &str) -> String {
    if reason.is_empty() { label.to_owned() } else { format!("{label}: {reason}") }
}
