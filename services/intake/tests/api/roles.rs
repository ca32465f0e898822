//! Role names: one live request per role name and environment, decided on
//! the log beside the database name, and freed the same way.

use crate::helpers::{database, spawn_app, status_of, taken_fields};
use gantry_eventlog::{ExpectedSequence, NewEvent};
use gantry_proto::events::NameReserved;
use gantry_proto::events::envelope::Payload;
use gantry_proto::intake as pb;
use gantry_proto::types::{Environment, Size};
use std::time::{Duration, SystemTime};

/// A prod database request for `name` with the role `username`.
fn with_role(name: &str, username: &str) -> pb::RequestDatabaseRequest {
    pb::RequestDatabaseRequest { username: username.into(), ..database(name, Environment::Prod, Size::Small) }
}

#[tokio::test]
async fn a_role_held_by_a_live_request_is_refused_on_username_until_it_is_cancelled() {
    let app = spawn_app().await;
    let mut backstage = app.client("backstage").await;
    let first = backstage.request_database(with_role("orders", "shared_user")).await.unwrap().into_inner();
    let messages = app.stream_messages().await;

    let status = backstage.request_database(with_role("invoices", "shared_user")).await.unwrap_err();
    assert_eq!(taken_fields(&status), ["username"], "{status:?}");
    let first_id = first.request.as_ref().unwrap().request_id.clone();
    assert!(status.message().contains("role shared_user (prod)") && status.message().contains(&first_id), "{status:?}");
    assert_eq!(app.stream_messages().await, messages, "a refused request appends nothing, not even a reservation");
    let both = backstage.request_database(with_role("orders", "shared_user")).await.unwrap_err();
    assert_eq!(taken_fields(&both), ["database_name", "username"], "every taken name at once");

    // The refused request's database name was never blocked; and a role
    // may share its name with a database (another namespace).
    let invoices = backstage.request_database(with_role("invoices", "invoices_user")).await;
    invoices.expect("the refused call left its database name free");
    let role_like_a_database = backstage.request_database(with_role("reports", "orders")).await;
    role_like_a_database.expect("a role named like another request's database");
    let staging = pb::RequestDatabaseRequest {
        environment: Environment::Staging as i32,
        ..with_role("invoices_two", "shared_user")
    };
    backstage.request_database(staging).await.expect("another environment is another role name");

    let cancel = pb::CancelRequestRequest { request_id: first_id, reason: "renamed".into() };
    app.client("alice").await.cancel_request(cancel).await.unwrap();
    let freed = backstage.request_database(with_role("invoices_two", "shared_user")).await.unwrap().into_inner();
    assert_eq!(status_of(freed.request.as_ref().unwrap()), pb::RequestStatus::PendingApproval);
    app.cleanup().await;
}

#[tokio::test]
async fn a_keyed_request_refused_for_its_role_goes_through_once_the_holder_is_rejected() {
    let app = spawn_app().await;
    let mut backstage = app.client("backstage").await;
    let keyed = |name: &str, key: &str| pb::RequestDatabaseRequest {
        idempotency_key: key.into(),
        ..with_role(name, "ledger_user")
    };
    let holder = backstage.request_database(keyed("ledger", "task-1")).await.unwrap().into_inner();
    let retried = backstage.request_database(keyed("ledger", "task-1")).await.unwrap().into_inner();
    assert_eq!(retried.request, holder.request, "a retry returns the same request");
    assert_eq!(retried.sequence, holder.sequence, "and appends nothing");

    let refused = backstage.request_database(keyed("ledger_two", "task-2")).await.unwrap_err();
    assert_eq!(taken_fields(&refused), ["username"]);
    let holder_id = holder.request.unwrap().request_id;
    let reject = pb::RejectRequestRequest { request_id: holder_id, reason: "one ledger is enough".into() };
    app.client("bob").await.reject_request(reject).await.unwrap();

    let second = backstage.request_database(keyed("ledger_two", "task-2")).await.unwrap().into_inner();
    let again = backstage.request_database(keyed("ledger_two", "task-2")).await.unwrap().into_inner();
    assert_eq!(again.request, second.request, "the key was not spent by its refusal");
    assert_eq!(again.sequence, second.sequence);
    app.cleanup().await;
}

#[tokio::test]
async fn of_requests_racing_for_one_role_one_wins_and_the_losers_names_stay_free() {
    let app = spawn_app().await;
    let client = app.client("backstage").await;
    let attempts = (0..6).map(|index| {
        let mut client = client.clone();
        async move { client.request_database(with_role(&format!("racer_{index}"), "contested_user")).await }
    });
    let results = futures::future::join_all(attempts).await;
    assert_eq!(results.iter().filter(|result| result.is_ok()).count(), 1, "{results:?}");
    let mut client = client;
    for (index, result) in results.iter().enumerate() {
        let Err(status) = result else { continue };
        assert_eq!(taken_fields(status), ["username"], "{status:?}");
        // A loser that had reserved its database name released it at once
        // (no orphan grace to wait out).
        let name = format!("racer_{index}");
        let again = client.request_database(with_role(&name, &format!("{name}_user"))).await;
        again.unwrap_or_else(|status| panic!("{name} is still blocked: {status:?}"));
    }
    app.cleanup().await;
}

#[tokio::test]
async fn a_role_reserved_by_a_submitter_that_died_is_taken_over_after_the_grace() {
    let app = spawn_app().await;
    let stalled = uuid::Uuid::new_v4().to_string();
    let reservation = NewEvent {
        aggregate_type: "name",
        aggregate_id: "prod.role.orders_user".into(),
        payload: Payload::NameReserved(NameReserved { request_id: stalled.clone() }),
        actor: Default::default(),
        correlation_id: String::new(),
        causation_id: String::new(),
    };
    let subject = app.log.subject("name", "prod.role.orders_user");
    let old = reservation.into_envelope(SystemTime::now() - Duration::from_secs(120));
    app.log.append_envelope(subject, old, ExpectedSequence::Any).await.unwrap();

    let mut backstage = app.client("backstage").await;
    let taken_over = backstage.request_database(database("orders", Environment::Prod, Size::Small)).await;
    assert!(taken_over.is_ok(), "{taken_over:?}");
    let stalled_events = app.log.load("request", &stalled).await.unwrap().events;
    assert!(stalled_events.first().is_some_and(gantry_intake::domain::is_void), "the orphan's id was voided first");
    app.cleanup().await;
}
