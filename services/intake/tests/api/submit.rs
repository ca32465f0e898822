//! Submitting requests: validation, identity, idempotency, one live request
//! per name, size limits.

use crate::helpers::{bucket, database, spawn_app, status_of, submitted, violated_fields};
use gantry_proto::intake as pb;
use gantry_proto::types::{BucketPurpose, Environment, Risk, Size};
use tonic::Code;

#[tokio::test]
async fn every_violation_comes_back_at_once_and_nothing_is_appended() {
    let app = spawn_app().await;
    let mut client = app.client("backstage").await;
    let bad = pb::RequestDatabaseRequest {
        idempotency_key: "has spaces".into(),
        database_name: "Orders-DB".into(),
        username: "pg_admin".into(),
        owner: String::new(),
        requester: "Alice".into(),
        environment: 0,
        domain: "payments".into(),
        risk: 42,
        size: Size::Small as i32,
    };
    let status = client.request_database(bad).await.unwrap_err();
    let fields = violated_fields(&status);
    for field in ["idempotency_key", "database_name", "username", "owner", "requester", "environment", "risk"] {
        assert!(fields.contains(&field.to_string()), "{field} missing from {fields:?}");
    }
    assert!(!fields.contains(&"size".to_string()) && !fields.contains(&"domain".to_string()));

    let reserved = database("template1", Environment::Prod, Size::Small);
    assert_eq!(violated_fields(&client.request_database(reserved).await.unwrap_err()), ["database_name"]);

    let bad_bucket = pb::RequestBucketRequest {
        region: "mars".into(),
        retention_days: 0,
        ..bucket(BucketPurpose::Logs, Environment::Prod)
    };
    assert_eq!(violated_fields(&client.request_bucket(bad_bucket).await.unwrap_err()), ["region", "retention_days"]);
    assert_eq!(app.stream_messages().await, 0, "a refused request appends nothing");
    app.cleanup().await;
}

#[tokio::test]
async fn calls_without_a_known_token_are_unauthenticated() {
    let app = spawn_app().await;
    for token in [None, Some("not-a-token")] {
        let mut client = app.client_with_token(token).await;
        let status = client.request_database(database("orders", Environment::Prod, Size::Small)).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
        let status = client.list_requests(pb::ListRequestsRequest::default()).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
    }
    assert_eq!(app.stream_messages().await, 0);
    app.cleanup().await;
}

#[tokio::test]
async fn the_same_idempotency_key_returns_the_same_request() {
    let app = spawn_app().await;
    let mut client = app.client("backstage").await;
    let request = pb::RequestDatabaseRequest {
        idempotency_key: "backstage-task-42".into(),
        ..database("orders", Environment::Prod, Size::Small)
    };
    let first = client.request_database(request.clone()).await.unwrap().into_inner();
    let again = client.request_database(request.clone()).await.unwrap().into_inner();
    assert_eq!(first.request.as_ref().unwrap().request_id, again.request.as_ref().unwrap().request_id);
    assert_eq!(first.sequence, again.sequence, "a retry appends nothing");
    let messages = app.stream_messages().await;

    let different = pb::RequestDatabaseRequest { risk: Risk::High as i32, ..request };
    let status = client.request_database(different).await.unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    assert_eq!(app.stream_messages().await, messages);
    app.cleanup().await;
}

#[tokio::test]
async fn only_one_live_request_per_database_name_and_environment() {
    let app = spawn_app().await;
    let client = app.client("backstage").await;
    let attempts = (0..6).map(|_| {
        let mut client = client.clone();
        async move { client.request_database(database("ledger", Environment::Prod, Size::Small)).await }
    });
    let results = futures::future::join_all(attempts).await;
    let winners: Vec<_> = results.iter().filter_map(|result| result.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for result in &results {
        if let Err(status) = result {
            assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
        }
    }
    let mut client = client;
    let other_environment = client.request_database(database("ledger", Environment::Staging, Size::Small)).await;
    assert!(other_environment.is_ok(), "another environment is another name");

    let holder = winners[0].get_ref().request.clone().unwrap();
    let rejected = app
        .client("bob")
        .await
        .reject_request(pb::RejectRequestRequest { request_id: holder.request_id, reason: "duplicate".into() })
        .await
        .unwrap();
    assert_eq!(status_of(rejected.get_ref().request.as_ref().unwrap()), pb::RequestStatus::Rejected);
    let again = client.request_database(database("ledger", Environment::Prod, Size::Small)).await;
    assert!(again.is_ok(), "a rejected request frees its name: {again:?}");
    app.cleanup().await;
}

#[tokio::test]
async fn a_bucket_request_derives_its_name_and_holds_it() {
    let app = spawn_app().await;
    let mut client = app.client("backstage").await;
    let response = client.request_bucket(bucket(BucketPurpose::Logs, Environment::Prod)).await.unwrap().into_inner();
    let request = response.request.unwrap();
    assert_eq!(status_of(&request), pb::RequestStatus::PendingApproval);
    let Some(pb::request::Spec::Bucket(spec)) = request.spec else { panic!("a bucket spec") };
    assert_eq!(spec.bucket_name, "team-obs-logs-prod-eu-west-1");
    assert_eq!(request.required_approvals[0].any_of_groups, ["platform-team"]);
    let status = client.request_bucket(bucket(BucketPurpose::Logs, Environment::Prod)).await.unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    app.cleanup().await;
}

#[tokio::test]
async fn an_oversized_message_is_refused_and_the_server_stays_up() {
    let app = spawn_app().await;
    let mut client = app.client("backstage").await;
    let huge =
        pb::RequestDatabaseRequest { domain: "x".repeat(200_000), ..database("big", Environment::Prod, Size::Small) };
    let status = client.request_database(huge).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("larger than this server accepts"), "{status:?}");
    let long_field =
        pb::RequestDatabaseRequest { domain: "x".repeat(5000), ..database("big", Environment::Prod, Size::Small) };
    assert_eq!(violated_fields(&client.request_database(long_field).await.unwrap_err()), ["domain"]);
    let (request, _) = submitted(&app, "after_the_big_one", Size::Small).await;
    assert_eq!(status_of(&request), pb::RequestStatus::PendingApproval);
    app.cleanup().await;
}

#[tokio::test]
async fn idempotency_keys_belong_to_their_submitter() {
    let app = spawn_app().await;
    let keyed = |name: &str| pb::RequestDatabaseRequest {
        idempotency_key: "task-1".into(),
        ..database(name, Environment::Prod, Size::Small)
    };
    let first = app.client("backstage").await.request_database(keyed("first")).await.unwrap().into_inner();
    let second = app.client("carol").await.request_database(keyed("second")).await.unwrap().into_inner();
    assert_ne!(first.request.unwrap().request_id, second.request.unwrap().request_id);
    app.cleanup().await;
}

#[tokio::test]
async fn an_orphaned_reservation_is_taken_over_and_its_request_id_voided() {
    use gantry_eventlog::{AppendError, ExpectedSequence, NewEvent};
    use gantry_proto::events::envelope::Payload;
    use gantry_proto::events::{DatabaseRequested, NameReserved};
    use std::time::{Duration, SystemTime};

    let app = spawn_app().await;
    let reserve = |request_id: &str, age: Duration| {
        let event = NewEvent {
            aggregate_type: "name",
            aggregate_id: "prod.orders".into(),
            payload: Payload::NameReserved(NameReserved { request_id: request_id.into() }),
            actor: Default::default(),
            correlation_id: String::new(),
            causation_id: String::new(),
        };
        event.into_envelope(SystemTime::now() - age)
    };
    let subject = app.log.subject("name", "prod.orders");
    let stalled = uuid::Uuid::new_v4().to_string();
    let fresh = reserve(&stalled, Duration::from_secs(1));
    app.log.append_envelope(subject.clone(), fresh, ExpectedSequence::Any).await.unwrap();
    let mut client = app.client("backstage").await;
    let status = client.request_database(database("orders", Environment::Prod, Size::Small)).await.unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists, "a fresh reservation still holds the name");

    let old = reserve(&stalled, Duration::from_secs(120));
    app.log.append_envelope(subject, old, ExpectedSequence::Any).await.unwrap();
    let taken_over = client.request_database(database("orders", Environment::Prod, Size::Small)).await;
    assert!(taken_over.is_ok(), "{taken_over:?}");

    let late = NewEvent {
        aggregate_type: "request",
        aggregate_id: stalled.clone(),
        payload: Payload::DatabaseRequested(DatabaseRequested::default()),
        actor: Default::default(),
        correlation_id: String::new(),
        causation_id: String::new(),
    };
    let late = app.log.append(late, ExpectedSequence::NoEvents).await;
    assert!(matches!(late, Err(AppendError::Conflict { .. })), "the stalled submitter can no longer create it");
    let watch = app.client("alice").await.watch_request(pb::WatchRequestRequest { request_id: stalled }).await;
    assert_eq!(watch.unwrap_err().code(), Code::NotFound);
    app.cleanup().await;
}

#[tokio::test]
async fn a_retry_after_the_name_moved_on_still_answers_with_the_first_request() {
    let app = spawn_app().await;
    let mut backstage = app.client("backstage").await;
    let keyed = pb::RequestDatabaseRequest {
        idempotency_key: "task-7".into(),
        ..database("orders", Environment::Prod, Size::Small)
    };
    let first = backstage.request_database(keyed.clone()).await.unwrap().into_inner().request.unwrap();
    let reject = pb::RejectRequestRequest { request_id: first.request_id.clone(), reason: "not now".into() };
    app.client("bob").await.reject_request(reject).await.unwrap();
    let other = app.client("carol").await.request_database(database("orders", Environment::Prod, Size::Small)).await;
    assert!(other.is_ok(), "the rejected request freed the name: {other:?}");
    let retried = backstage.request_database(keyed).await.unwrap().into_inner().request.unwrap();
    assert_eq!(retried.request_id, first.request_id);
    assert_eq!(status_of(&retried), pb::RequestStatus::Rejected);
    app.cleanup().await;
}
