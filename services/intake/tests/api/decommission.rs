//! Break-glass decommission over the API: the confirmation, who asks and
//! who approves, the provisioner's events through to DECOMMISSIONED, and a
//! decommission turned down, withdrawn or failed.

use crate::helpers::{
    TestApp, append_as_provisioner, bucket, database, provisioned, spawn_app, status_of, submitted, violated_fields,
};
use futures::StreamExt as _;
use gantry_proto::events::envelope::Payload;
use gantry_proto::events::{DatabaseDropped, DecommissionFailed, Decommissioned, SecretDeleted};
use gantry_proto::intake as pb;
use gantry_proto::types::{BucketPurpose, Environment, SecretDeletionPolicy, Size};
use std::time::Duration;
use tonic::Code;

/// Submits a prod, small database, has bob approve it and the provisioner
/// make it; returns its id.
async fn ready_database(app: &TestApp, name: &str) -> String {
    let (request, _) = submitted(app, name, Size::Small).await;
    let approve = pb::ApproveRequestRequest { request_id: request.request_id.clone(), comment: String::new() };
    app.client("bob").await.approve_request(approve).await.unwrap();
    provisioned(app, &request.request_id).await;
    request.request_id
}

fn decommission(request_id: &str, confirm_name: &str) -> pb::RequestDecommissionRequest {
    pb::RequestDecommissionRequest {
        request_id: request_id.into(),
        confirm_name: confirm_name.into(),
        reason: "moved to the shared cluster".into(),
        secret_policy: 0,
        recovery_window_days: 0,
    }
}

fn approve(request_id: &str) -> pb::ApproveRequestRequest {
    pb::ApproveRequestRequest { request_id: request_id.into(), comment: "confirmed with the owners".into() }
}

#[tokio::test]
async fn a_confirmation_that_is_not_the_database_name_is_refused_and_nothing_is_appended() {
    let app = spawn_app().await;
    let id = ready_database(&app, "orders").await;
    let messages = app.stream_messages().await;
    let mut alice = app.client("alice").await;

    let status = alice.request_decommission(decommission(&id, "Orders")).await.unwrap_err();
    assert_eq!(violated_fields(&status), ["confirm_name"]);
    assert!(status.message().contains("\"orders\""), "says what it must equal: {status:?}");
    let everything_wrong = pb::RequestDecommissionRequest {
        reason: String::new(),
        recovery_window_days: 90,
        ..decommission(&id, "order")
    };
    let status = alice.request_decommission(everything_wrong).await.unwrap_err();
    assert_eq!(violated_fields(&status), ["confirm_name", "reason", "recovery_window_days"]);
    let retained_with_a_window = pb::RequestDecommissionRequest {
        secret_policy: SecretDeletionPolicy::Retain as i32,
        recovery_window_days: 7,
        ..decommission(&id, "orders")
    };
    let status = alice.request_decommission(retained_with_a_window).await.unwrap_err();
    assert_eq!(violated_fields(&status), ["recovery_window_days"]);
    let no_id = pb::RequestDecommissionRequest { reason: String::new(), ..decommission("nope", "") };
    let status = alice.request_decommission(no_id).await.unwrap_err();
    assert_eq!(violated_fields(&status), ["request_id", "confirm_name", "reason"]);
    assert_eq!(app.stream_messages().await, messages, "a refused decommission appends nothing");
    app.cleanup().await;
}

#[tokio::test]
async fn only_a_ready_database_can_be_decommissioned_and_only_by_its_people() {
    let app = spawn_app().await;
    let (pending, _) = submitted(&app, "pending", Size::Small).await;
    let mut carol = app.client("carol").await;
    let status = carol.request_decommission(decommission(&pending.request_id, "pending")).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("pending_approval"), "names the status: {status:?}");

    let logs = app.client("backstage").await.request_bucket(bucket(BucketPurpose::Logs, Environment::Prod)).await;
    let logs = logs.unwrap().into_inner().request.unwrap();
    provisioned(&app, &logs.request_id).await;
    let status =
        carol.request_decommission(decommission(&logs.request_id, "team-obs-logs-prod-eu-west-1")).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("bucket") && status.message().contains("ready"), "{status:?}");

    let id = ready_database(&app, "orders").await;
    let status = app.client("mallory").await.request_decommission(decommission(&id, "orders")).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let missing = decommission(&uuid::Uuid::now_v7().to_string(), "orders");
    assert_eq!(carol.request_decommission(missing).await.unwrap_err().code(), Code::NotFound);
    app.cleanup().await;
}

#[tokio::test]
async fn a_second_platform_team_member_approves_and_the_provisioner_ends_it() {
    let app = spawn_app().await;
    let id = ready_database(&app, "orders").await;
    let mut carol = app.client("carol").await;
    let asked = pb::RequestDecommissionRequest { recovery_window_days: 14, ..decommission(&id, "orders") };
    let requested = carol.request_decommission(asked.clone()).await.unwrap().into_inner();
    let request = requested.request.as_ref().unwrap();
    assert_eq!(status_of(request), pb::RequestStatus::DecommissionRequested);
    assert_eq!(request.outstanding_approvals[0].any_of_groups, ["platform-team"]);
    assert_eq!(request.reason, "decommission requested: moved to the shared cluster");
    let again = carol.request_decommission(asked).await.unwrap().into_inner();
    assert_eq!(again.sequence, requested.sequence, "a repeat appends nothing");

    let status = carol.approve_request(approve(&id)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "the asker never approves: {status:?}");
    let status = app.client("bob").await.approve_request(approve(&id)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "databases-rds is not platform-team: {status:?}");
    let approved = app.client("frank").await.approve_request(approve(&id)).await.unwrap().into_inner();
    assert_eq!(status_of(approved.request.as_ref().unwrap()), pb::RequestStatus::Decommissioning);
    let event = app.log.load("request", &id).await.unwrap().events.pop().unwrap();
    assert_eq!(event.sequence, approved.sequence);
    assert_eq!(event.actor().subject, "frank");
    let Some(Payload::DecommissionApproved(carried)) = event.payload() else { panic!("{event:?}") };
    let spec = carried.database.as_ref().expect("the approval carries the spec");
    assert_eq!((spec.database_name.as_str(), spec.username.as_str()), ("orders", "orders_user"));
    assert_eq!(spec.environment, Environment::Prod as i32);
    assert_eq!((carried.secret_policy, carried.recovery_window_days), (SecretDeletionPolicy::Delete as i32, 14));
    let cancel = pb::CancelRequestRequest { request_id: id.clone(), reason: String::new() };
    let status = app.client("alice").await.cancel_request(cancel.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(status.message().contains("decommissioning"), "{status:?}");

    let mut watcher = app.client("alice").await;
    let mut updates =
        watcher.watch_request(pb::WatchRequestRequest { request_id: id.clone() }).await.unwrap().into_inner();
    let dropped = DatabaseDropped { database: "orders".into(), role: "orders_user".into(), environment: "prod".into() };
    let deleted = SecretDeleted { secret_name: "goldenpath/prod/orders/postgres".into(), ..Default::default() };
    let payloads = [
        Payload::DatabaseDropped(dropped),
        Payload::SecretDeleted(deleted),
        Payload::Decommissioned(Decommissioned {}),
    ];
    let last = append_as_provisioner(&app, &id, payloads).await;
    let mut seen = Vec::new();
    while let Some(update) = tokio::time::timeout(Duration::from_secs(10), updates.next()).await.expect("in time") {
        let update = update.unwrap();
        seen.push((status_of(update.request.as_ref().unwrap()), update.caught_up));
    }
    use pb::RequestStatus::{Decommissioned as Gone, Decommissioning};
    assert_eq!(seen[seen.len() - 2..], [(Decommissioning, true), (Gone, true)], "the watch ends there: {seen:?}");

    let read = pb::GetRequestRequest { request_id: id.clone(), min_sequence: last };
    let read = app.client("alice").await.get_request(read).await.unwrap().into_inner().request.unwrap();
    assert_eq!(status_of(&read), Gone);
    let listed = pb::ListRequestsRequest { status: Gone as i32, min_sequence: last, ..Default::default() };
    let listed = app.client("alice").await.list_requests(listed).await.unwrap().into_inner().requests;
    assert_eq!(listed.iter().map(|request| request.request_id.as_str()).collect::<Vec<_>>(), [id.as_str()]);
    let rds =
        pb::ExportCatalogRequest { format: pb::CatalogFormat::RdsCatalog as i32, environment: 0, min_sequence: last };
    let yaml = app.client("alice").await.export_catalog(rds).await.unwrap().into_inner().content;
    assert!(!yaml.contains(&id), "a decommissioned database leaves the catalog: {yaml}");

    for refused in [
        carol.request_decommission(decommission(&id, "orders")).await.map(|_| ()),
        app.client("frank")
            .await
            .reject_request(pb::RejectRequestRequest { request_id: id.clone(), reason: "x".into() })
            .await
            .map(|_| ()),
        app.client("alice").await.cancel_request(cancel).await.map(|_| ()),
    ] {
        assert_eq!(refused.unwrap_err().code(), Code::FailedPrecondition);
    }
    let again =
        app.client("backstage").await.request_database(database("orders", Environment::Prod, Size::Small)).await;
    let again = again.expect("a decommissioned request holds neither its database name nor its role").into_inner();
    assert_ne!(again.request.unwrap().request_id, id);
    app.cleanup().await;
}

#[tokio::test]
async fn a_decommission_turned_down_or_failed_leaves_the_database_ready_and_its_names_held() {
    let app = spawn_app().await;
    let id = ready_database(&app, "orders").await;
    let mut alice = app.client("alice").await;
    alice.request_decommission(decommission(&id, "orders")).await.unwrap();
    let reject = pb::RejectRequestRequest { request_id: id.clone(), reason: "still read by billing".into() };
    let status = app.client("bob").await.reject_request(reject.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let rejected = app.client("carol").await.reject_request(reject.clone()).await.unwrap().into_inner();
    let request = rejected.request.as_ref().unwrap();
    assert_eq!(status_of(request), pb::RequestStatus::Ready);
    assert_eq!(request.reason, "decommission rejected: still read by billing");
    let again = app.client("carol").await.reject_request(reject).await.unwrap().into_inner();
    assert_eq!(again.sequence, rejected.sequence, "a repeated reject appends nothing");

    alice.request_decommission(decommission(&id, "orders")).await.unwrap();
    let listed = pb::ListRequestsRequest {
        status: pb::RequestStatus::DecommissionRequested as i32,
        min_sequence: app.log.load("request", &id).await.unwrap().last_sequence,
        ..Default::default()
    };
    assert_eq!(alice.list_requests(listed).await.unwrap().into_inner().requests.len(), 1);
    let withdraw = pb::CancelRequestRequest { request_id: id.clone(), reason: "wrong database".into() };
    let withdrawn = alice.cancel_request(withdraw).await.unwrap().into_inner().request.unwrap();
    assert_eq!(status_of(&withdrawn), pb::RequestStatus::Ready, "a cancel withdraws the decommission only");
    assert_eq!(withdrawn.reason, "decommission withdrawn: wrong database");

    alice.request_decommission(decommission(&id, "orders")).await.unwrap();
    app.client("carol").await.approve_request(approve(&id)).await.unwrap();
    let failed = DecommissionFailed { reason: "platform postgres unreachable".into(), retryable: true };
    let last = append_as_provisioner(&app, &id, [Payload::DecommissionFailed(failed)]).await;
    let read = pb::GetRequestRequest { request_id: id.clone(), min_sequence: last };
    let read = alice.get_request(read).await.unwrap().into_inner().request.unwrap();
    assert_eq!(status_of(&read), pb::RequestStatus::Ready);
    assert_eq!(read.reason, "decommission failed: platform postgres unreachable");
    let mut backstage = app.client("backstage").await;
    let status = backstage.request_database(database("orders", Environment::Prod, Size::Small)).await.unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists, "a ready database keeps its names");
    app.cleanup().await;
}
