//! Unit tests of the decommission rules and their fold, without I/O.

use super::*;
use crate::domain::decide::{decide_approve, decide_cancel, decide_reject, decide_submit};
use crate::domain::policy::Policy;
use crate::domain::request::evolve;
use crate::domain::spec::{BucketPurpose, BucketSpec, DatabaseSpec, Environment, Risk, Size};
use crate::domain::validate::{Choice, Violations};
use gantry_eventlog::{NewEvent, RecordedEvent};
use gantry_proto::events::{DatabaseDropped, DecommissionFailed, Decommissioned, ResourceProvisioned};
use gantry_proto::types::SecretDeletionPolicy;
use std::time::{Duration, SystemTime};

fn principal(subject: &str, groups: &[&str]) -> Principal {
    Principal { subject: subject.into(), groups: groups.iter().map(|group| group.to_string()).collect() }
}

fn recorded(sequence: u64, actor: &Principal, payload: Payload) -> RecordedEvent {
    let envelope = NewEvent {
        aggregate_type: "request",
        aggregate_id: "r1".into(),
        payload,
        actor: actor.clone(),
        correlation_id: String::new(),
        causation_id: String::new(),
    }
    .into_envelope(SystemTime::UNIX_EPOCH + Duration::from_secs(sequence));
    RecordedEvent { sequence, subject: "gantry.request.r1".into(), envelope }
}

/// Folds `payload` by `actor` into `state`.
fn apply(state: RequestState, actor: &Principal, payload: Payload) -> RequestState {
    let sequence = state.sequence + 1;
    evolve(Some(state), &recorded(sequence, actor, payload)).unwrap()
}

/// Folds what a decision appends; a repeat changes nothing.
fn apply_decision(state: RequestState, actor: &Principal, decision: Decision) -> RequestState {
    match decision {
        Decision::Append(payload) => apply(state, actor, payload),
        Decision::AlreadyDone => state,
    }
}

fn ready(spec: ResourceSpec) -> RequestState {
    let backstage = principal("backstage", &["backstage"]);
    let Decision::Append(created) = decide_submit(None, &spec, "", &Policy::built_in()).unwrap() else { panic!() };
    let state = evolve(None, &recorded(1, &backstage, created)).unwrap();
    let provisioned = ResourceProvisioned { secret_path: "goldenpath/prod/orders/postgres".into() };
    apply(state, &principal("provisioner", &[]), Payload::ResourceProvisioned(provisioned))
}

fn ready_database() -> RequestState {
    ready(ResourceSpec::Database(DatabaseSpec {
        database_name: "orders".into(),
        username: "orders_user".into(),
        owner: "team-orders".into(),
        requester: "alice".into(),
        environment: Environment::Prod,
        domain: "payments".into(),
        risk: Risk::Medium,
        size: Size::Small,
    }))
}

fn form(confirm_name: &str) -> DecommissionForm {
    DecommissionForm {
        confirm_name: confirm_name.into(),
        reason: "moved to the shared cluster".into(),
        ..Default::default()
    }
}

fn fields(result: Result<DecommissionOrder, Violations>) -> Vec<String> {
    result.unwrap_err().0.into_iter().map(|violation| violation.field).collect()
}

/// A ready database whose decommission alice asked for.
fn requested() -> RequestState {
    let alice = principal("alice", &["developers"]);
    let decision = decide_request_decommission(Some(&ready_database()), "r1", &alice, &form("orders")).unwrap();
    apply_decision(ready_database(), &alice, decision)
}

#[test]
fn the_form_defaults_to_deleting_the_secret_after_thirty_days() {
    let order = form("orders").validate(Some("orders")).unwrap();
    assert_eq!((order.secret_policy, order.recovery_window_days), (SecretPolicy::Delete, 30));
    let retain = DecommissionForm { secret_policy: Choice::Value(SecretPolicy::Retain), ..form("orders") };
    assert_eq!(retain.validate(Some("orders")).unwrap().recovery_window_days, 0);
    let seven = DecommissionForm { recovery_window_days: 7, ..form("orders") };
    assert_eq!(seven.validate(Some("orders")).unwrap().recovery_window_days, 7);
}

#[test]
fn every_violation_of_the_form_is_reported_at_once() {
    let bad = DecommissionForm {
        confirm_name: "Orders".into(),
        reason: String::new(),
        secret_policy: Choice::Unknown(9),
        recovery_window_days: 3,
    };
    assert_eq!(fields(bad.validate(Some("orders"))), ["confirm_name", "reason", "secret_policy"]);
    let short_window = DecommissionForm { recovery_window_days: 6, ..form("orders") };
    assert_eq!(fields(short_window.validate(Some("orders"))), ["recovery_window_days"]);
    let long_window = DecommissionForm { recovery_window_days: 31, ..form("orders") };
    assert_eq!(fields(long_window.validate(Some("orders"))), ["recovery_window_days"]);
    let retained_with_window =
        DecommissionForm { secret_policy: Choice::Value(SecretPolicy::Retain), recovery_window_days: 7, ..form("x") };
    assert_eq!(fields(retained_with_window.validate(None)), ["recovery_window_days"]);
    assert_eq!(fields(form("").validate(None)), ["confirm_name"], "without the request, only required");
    let described = form("orders_db").validate(Some("orders")).unwrap_err().0.remove(0).description;
    assert!(described.contains("\"orders\""), "says what it must equal: {described}");
}

#[test]
fn who_may_ask_and_for_what() {
    let mallory = principal("mallory", &["developers"]);
    let denied = decide_request_decommission(Some(&ready_database()), "r1", &mallory, &form("orders"));
    assert!(matches!(denied, Err(DomainError::PermissionDenied(_))));
    let carol = principal("carol", &["platform-team"]);
    let mismatch = decide_request_decommission(Some(&ready_database()), "r1", &carol, &form("order"));
    assert!(matches!(mismatch, Err(DomainError::Invalid(_))));

    let mut pending = ready_database();
    pending.status = Status::PendingApproval;
    let refused = decide_request_decommission(Some(&pending), "r1", &carol, &form("orders"));
    assert!(matches!(&refused, Err(DomainError::FailedPrecondition(why)) if why.contains("pending_approval")));
    let bucket = ready(ResourceSpec::Bucket(BucketSpec {
        bucket_name: "b-logs-prod".into(),
        purpose: BucketPurpose::Logs,
        environment: Environment::Prod,
        region: "eu-west-1".into(),
        owner: "b".into(),
        requester: "alice".into(),
        retention_days: 30,
        kms_key_id: None,
        replication_target: None,
    }));
    let refused = decide_request_decommission(Some(&bucket), "r1", &carol, &form("b-logs-prod"));
    assert!(matches!(&refused, Err(DomainError::FailedPrecondition(why)) if why.contains("bucket")));
}

#[test]
fn asking_records_the_order_and_a_repeat_appends_nothing() {
    let state = requested();
    assert_eq!(state.status, Status::DecommissionRequested);
    assert!(state.status.holds_name() && !state.status.is_terminal());
    let decommission = state.decommission.as_ref().unwrap();
    assert_eq!(decommission.requested_by, "alice");
    assert_eq!(decommission.required, [vec![PLATFORM_GROUP.to_string()]]);
    assert_eq!(state.reason.as_deref(), Some("decommission requested: moved to the shared cluster"));
    let alice = principal("alice", &[]);
    let again = decide_request_decommission(Some(&state), "r1", &alice, &form("orders"));
    assert_eq!(again, Ok(Decision::AlreadyDone));
}

#[test]
fn a_second_platform_team_member_approves_with_the_spec() {
    let state = requested();
    let bob = principal("bob", &["databases-rds"]);
    assert!(matches!(decide_approve(Some(&state), "r1", &bob, ""), Err(DomainError::PermissionDenied(_))));
    let alice_in_platform = principal("alice", &["platform-team"]);
    let own = decide_approve(Some(&state), "r1", &alice_in_platform, "");
    assert!(matches!(own, Err(DomainError::PermissionDenied(_))), "the asker never approves: {own:?}");

    let carol = principal("carol", &["platform-team"]);
    let decision = decide_approve(Some(&state), "r1", &carol, "go").unwrap();
    let Decision::Append(Payload::DecommissionApproved(approved)) = &decision else { panic!("{decision:?}") };
    assert_eq!(approved.database.as_ref().unwrap().database_name, "orders");
    assert_eq!((approved.secret_policy, approved.recovery_window_days), (SecretDeletionPolicy::Delete as i32, 30));
    let state = apply_decision(state, &carol, decision);
    assert_eq!(state.status, Status::Decommissioning);
    assert_eq!(decide_approve(Some(&state), "r1", &carol, "again"), Ok(Decision::AlreadyDone));
    let erin = principal("erin", &["platform-team"]);
    assert!(matches!(decide_approve(Some(&state), "r1", &erin, ""), Err(DomainError::FailedPrecondition(_))));
    for refused in [
        decide_cancel(Some(&state), "r1", &principal("alice", &[]), ""),
        decide_reject(Some(&state), "r1", &carol, "stop"),
        decide_request_decommission(Some(&state), "r1", &carol, &form("orders")),
    ] {
        assert!(matches!(&refused, Err(DomainError::FailedPrecondition(why)) if why.contains("decommissioning")));
    }
}

#[test]
fn the_provisioners_events_end_it_and_free_the_names() {
    let carol = principal("carol", &["platform-team"]);
    let state = requested();
    let decision = decide_approve(Some(&state), "r1", &carol, "").unwrap();
    let state = apply_decision(state, &carol, decision);
    let provisioner = principal("provisioner", &[]);
    let dropped = DatabaseDropped { database: "orders".into(), role: "orders_user".into(), environment: "prod".into() };
    let state = apply(state, &provisioner, Payload::DatabaseDropped(dropped));
    assert_eq!(state.status, Status::Decommissioning);
    let state = apply(state, &provisioner, Payload::Decommissioned(Decommissioned {}));
    assert_eq!(state.status, Status::Decommissioned);
    assert!(state.status.is_terminal() && !state.status.holds_name());
    let late = DecommissionFailed { reason: "late".into(), retryable: true };
    let state = apply(state, &provisioner, Payload::DecommissionFailed(late));
    assert_eq!(state.status, Status::Decommissioned, "nothing brings it back");
    let cancel = decide_cancel(Some(&state), "r1", &principal("alice", &[]), "");
    assert!(matches!(&cancel, Err(DomainError::FailedPrecondition(why)) if why.contains("decommissioned")));
}

#[test]
fn a_failure_makes_it_ready_again_with_the_reason() {
    let carol = principal("carol", &["platform-team"]);
    let state = requested();
    let decision = decide_approve(Some(&state), "r1", &carol, "").unwrap();
    let state = apply_decision(state, &carol, decision);
    let failed = DecommissionFailed { reason: "platform postgres unreachable".into(), retryable: true };
    let state = apply(state, &principal("provisioner", &[]), Payload::DecommissionFailed(failed));
    assert_eq!(state.status, Status::Ready);
    assert_eq!(state.reason.as_deref(), Some("decommission failed: platform postgres unreachable"));
    let again = decide_request_decommission(Some(&state), "r1", &carol, &form("orders"));
    assert!(matches!(again, Ok(Decision::Append(_))), "it may be asked for again");
}

#[test]
fn rejected_or_withdrawn_it_is_ready_again_and_a_repeat_appends_nothing() {
    let erin = principal("erin", &["database-team"]);
    assert!(matches!(decide_reject(Some(&requested()), "r1", &erin, "no"), Err(DomainError::PermissionDenied(_))));
    let carol = principal("carol", &["platform-team"]);
    let decision = decide_reject(Some(&requested()), "r1", &carol, "still in use").unwrap();
    let rejected = apply_decision(requested(), &carol, decision);
    assert_eq!(rejected.status, Status::Ready);
    assert_eq!(rejected.reason.as_deref(), Some("decommission rejected: still in use"));
    assert_eq!(decide_reject(Some(&rejected), "r1", &carol, "still in use"), Ok(Decision::AlreadyDone));
    let alice = principal("alice", &[]);
    assert!(matches!(decide_cancel(Some(&rejected), "r1", &alice, ""), Err(DomainError::FailedPrecondition(_))));

    let mallory = principal("mallory", &["developers"]);
    assert!(matches!(decide_cancel(Some(&requested()), "r1", &mallory, ""), Err(DomainError::PermissionDenied(_))));
    let decision = decide_cancel(Some(&requested()), "r1", &alice, "wrong database").unwrap();
    assert!(matches!(decision, Decision::Append(Payload::DecommissionRejected(_))), "withdrawn, not cancelled");
    let withdrawn = apply_decision(requested(), &alice, decision);
    assert_eq!(
        (withdrawn.status, withdrawn.reason.as_deref()),
        (Status::Ready, Some("decommission withdrawn: wrong database"))
    );
    assert_eq!(decide_cancel(Some(&withdrawn), "r1", &alice, ""), Ok(Decision::AlreadyDone));
}
