//! Unit tests of the decider and `evolve`: the lifecycle rules without I/O.

use super::*;
use crate::domain::request::{Folded, evolve, fold};
use crate::domain::spec::{DatabaseSpec, Environment, Risk, Size};
use gantry_eventlog::{NewEvent, RecordedEvent};
use gantry_proto::events::{ProvisioningStarted, ResourceProvisioned};

fn principal(subject: &str, groups: &[&str]) -> Principal {
    Principal { subject: subject.into(), groups: groups.iter().map(|g| g.to_string()).collect() }
}

fn spec(environment: Environment, size: Size) -> ResourceSpec {
    ResourceSpec::Database(DatabaseSpec {
        database_name: "orders".into(),
        username: "orders_user".into(),
        owner: "team-orders".into(),
        requester: "alice".into(),
        environment,
        domain: "payments".into(),
        risk: Risk::Medium,
        size,
    })
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

/// Applies a decision to a state, as the service would after appending.
fn apply(state: Option<RequestState>, actor: &Principal, decision: Decision) -> RequestState {
    let sequence = state.as_ref().map_or(1, |state| state.sequence + 1);
    match decision {
        Decision::Append(payload) => evolve(state, &recorded(sequence, actor, payload)).unwrap(),
        Decision::AlreadyDone => state.unwrap(),
    }
}

fn submitted(environment: Environment, size: Size) -> RequestState {
    let backstage = principal("backstage", &["backstage"]);
    let decision = decide_submit(None, &spec(environment, size), "key-1", &Policy::built_in()).unwrap();
    apply(None, &backstage, decision)
}

#[test]
fn a_submission_is_pending_with_the_policy_recorded() {
    let state = submitted(Environment::Prod, Size::Small);
    assert_eq!(state.status, Status::PendingApproval);
    assert_eq!(state.required, vec![vec!["databases-rds".to_string()]]);
    assert_eq!(state.submitted_by, "backstage");
    assert_eq!(state.created_sequence, 1);
}

#[test]
fn dev_small_is_approved_on_submission() {
    let state = submitted(Environment::Dev, Size::Small);
    assert_eq!(state.status, Status::Approved);
    assert_eq!(state.auto_approved_by.as_deref(), Some("dev-small-databases"));
}

#[test]
fn same_key_same_request_is_a_retry_and_a_different_request_is_refused() {
    let state = submitted(Environment::Prod, Size::Small);
    let policy = Policy::built_in();
    let again = decide_submit(Some(&state), &spec(Environment::Prod, Size::Small), "key-1", &policy);
    assert_eq!(again, Ok(Decision::AlreadyDone));
    let other = decide_submit(Some(&state), &spec(Environment::Prod, Size::Large), "key-1", &policy);
    assert!(matches!(other, Err(DomainError::IdempotencyKeyReused { .. })));
}

#[test]
fn one_reviewer_approves_a_small_database() {
    let state = submitted(Environment::Prod, Size::Small);
    let bob = principal("bob", &["databases-rds"]);
    let decision = decide_approve(Some(&state), "r1", &bob, "ok").unwrap();
    let state = apply(Some(state), &bob, decision);
    assert_eq!(state.status, Status::Approved);
    assert_eq!(state.approvals[0].subject, "bob");
    assert_eq!(decide_approve(Some(&state), "r1", &bob, "again"), Ok(Decision::AlreadyDone));
}

#[test]
fn a_large_database_needs_platform_and_security_from_two_people() {
    let state = submitted(Environment::Prod, Size::Large);
    let carol = principal("carol", &["platform-team", "security"]);
    let first = decide_approve(Some(&state), "r1", &carol, "").unwrap();
    assert!(
        matches!(&first, Decision::Append(Payload::ApprovalGranted(granted)) if granted.approved.is_none()),
        "an approval that leaves the policy open approves nothing yet"
    );
    let state = apply(Some(state.clone()), &carol, first);
    assert_eq!(state.status, Status::PendingApproval, "one person cannot fill both clauses");
    let dave = principal("dave", &["database-team"]);
    let last = decide_approve(Some(&state), "r1", &dave, "").unwrap();
    let Decision::Append(Payload::ApprovalGranted(granted)) = &last else { panic!("an approval: {last:?}") };
    assert!(granted.policy_satisfied);
    let Some(approval_granted::Approved::Database(approved)) = &granted.approved else {
        panic!("the approval that satisfies the policy carries the spec: {granted:?}")
    };
    assert_eq!(approved.database_name, "orders");
    let state = apply(Some(state.clone()), &dave, last);
    assert_eq!(state.status, Status::Approved);
}

#[test]
fn requesters_never_review_their_own_request() {
    let state = submitted(Environment::Prod, Size::Small);
    let alice = principal("alice", &["databases-rds"]);
    assert!(matches!(decide_approve(Some(&state), "r1", &alice, ""), Err(DomainError::PermissionDenied(_))));
    assert!(matches!(decide_reject(Some(&state), "r1", &alice, "no"), Err(DomainError::PermissionDenied(_))));
    let backstage = principal("backstage", &["databases-rds"]);
    assert!(matches!(decide_approve(Some(&state), "r1", &backstage, ""), Err(DomainError::PermissionDenied(_))));
}

#[test]
fn only_reviewers_of_a_clause_may_approve_or_reject() {
    let state = submitted(Environment::Prod, Size::Small);
    let eve = principal("eve", &["developers"]);
    assert!(matches!(decide_approve(Some(&state), "r1", &eve, ""), Err(DomainError::PermissionDenied(_))));
    assert!(matches!(decide_reject(Some(&state), "r1", &eve, "no"), Err(DomainError::PermissionDenied(_))));
}

#[test]
fn rejection_is_terminal_and_frees_the_name() {
    let state = submitted(Environment::Prod, Size::Small);
    let bob = principal("bob", &["databases-rds"]);
    let state = apply(Some(state.clone()), &bob, decide_reject(Some(&state), "r1", &bob, "too big").unwrap());
    assert_eq!(state.status, Status::Rejected);
    assert_eq!(state.reason.as_deref(), Some("too big"));
    assert!(state.status.is_terminal() && !state.status.holds_name());
    assert!(matches!(
        decide_approve(Some(&state), "r1", &principal("x", &["databases-rds"]), ""),
        Err(DomainError::FailedPrecondition(_))
    ));
    assert_eq!(decide_reject(Some(&state), "r1", &bob, "again"), Ok(Decision::AlreadyDone));
}

#[test]
fn cancel_by_requester_or_platform_only_before_provisioning() {
    let state = submitted(Environment::Prod, Size::Small);
    let mallory = principal("mallory", &["developers"]);
    assert!(matches!(decide_cancel(Some(&state), "r1", &mallory, ""), Err(DomainError::PermissionDenied(_))));
    let alice = principal("alice", &[]);
    let cancelled =
        apply(Some(state.clone()), &alice, decide_cancel(Some(&state), "r1", &alice, "changed my mind").unwrap());
    assert_eq!(cancelled.status, Status::Cancelled);
    assert_eq!(decide_cancel(Some(&cancelled), "r1", &alice, ""), Ok(Decision::AlreadyDone));

    let provisioner = principal("provisioner", &[]);
    let started =
        evolve(Some(state), &recorded(9, &provisioner, Payload::ProvisioningStarted(ProvisioningStarted {}))).unwrap();
    assert_eq!(started.status, Status::Provisioning);
    let carol = principal("carol", &["platform-team"]);
    assert!(matches!(decide_cancel(Some(&started), "r1", &carol, ""), Err(DomainError::FailedPrecondition(_))));
}

#[test]
fn the_view_follows_provisioning_to_ready() {
    let state = submitted(Environment::Dev, Size::Small);
    let provisioner = principal("provisioner", &[]);
    let ready = evolve(
        Some(state),
        &recorded(
            5,
            &provisioner,
            Payload::ResourceProvisioned(ResourceProvisioned { secret_path: "goldenpath/dev/orders/postgres".into() }),
        ),
    )
    .unwrap();
    assert_eq!(ready.status, Status::Ready);
    assert_eq!(ready.secret_path.as_deref(), Some("goldenpath/dev/orders/postgres"));
    assert_eq!(ready.sequence, 5);
    assert!(ready.status.holds_name(), "a ready database keeps its name");
}

#[test]
fn events_that_cannot_apply_are_errors_not_panics() {
    let bob = principal("bob", &[]);
    assert!(evolve(None, &recorded(1, &bob, Payload::ProvisioningStarted(ProvisioningStarted {}))).is_err());
    let state = submitted(Environment::Prod, Size::Small);
    let decision = decide_submit(None, &spec(Environment::Prod, Size::Small), "k", &Policy::built_in()).unwrap();
    let Decision::Append(payload) = decision else { panic!() };
    assert!(evolve(Some(state), &recorded(2, &bob, payload)).is_err());
    assert_eq!(fold(&[]), Ok(Folded::Missing));
}

#[test]
fn name_hold_rules() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
    let name = "prod.orders";
    assert_eq!(name_hold("me", name, None, &Folded::Missing, now), NameHold::Free);
    assert_eq!(name_hold("me", name, Some(("me", now)), &Folded::Missing, now), NameHold::Ours);
    let live = Folded::Request(submitted(Environment::Prod, Size::Small));
    assert_eq!(name_hold("me", name, Some(("r1", now)), &live, now), NameHold::HeldBy("r1".into()));
    assert_eq!(name_hold("me", "prod.other", Some(("r1", now)), &live, now), NameHold::Free, "holds another name");
    let role = "prod.role.orders_user";
    assert_eq!(name_hold("me", role, Some(("r1", now)), &live, now), NameHold::HeldBy("r1".into()), "and its role");
    let mut rejected = live.request().unwrap().clone();
    rejected.status = Status::Rejected;
    assert_eq!(name_hold("me", name, Some(("r1", now)), &Folded::Request(rejected), now), NameHold::Free);
    let fresh_orphan = name_hold("me", name, Some(("r9", now - Duration::from_secs(5))), &Folded::Missing, now);
    assert_eq!(fresh_orphan, NameHold::HeldBy("r9".into()));
    let old = now - ORPHAN_RESERVATION_GRACE * 2;
    assert_eq!(name_hold("me", name, Some(("r9", old)), &Folded::Missing, now), NameHold::Orphaned("r9".into()));
    assert_eq!(name_hold("me", name, Some(("r9", old)), &Folded::Voided, now), NameHold::Free);
}
