//! The approval policy over the API: reviewers, self-approval, two-person
//! rules, auto-approval, rejection and cancellation.

use crate::helpers::{database, spawn_app, status_of, submitted};
use gantry_proto::intake as pb;
use gantry_proto::types::{Environment, Size};
use tonic::Code;

fn approve(id: &str, comment: &str) -> pb::ApproveRequestRequest {
    pb::ApproveRequestRequest { request_id: id.into(), comment: comment.into() }
}

#[tokio::test]
async fn a_small_database_is_approved_by_one_databases_rds_reviewer() {
    let app = spawn_app().await;
    let (request, _) = submitted(&app, "orders", Size::Small).await;
    assert_eq!(status_of(&request), pb::RequestStatus::PendingApproval);

    let status = app.client("alice").await.approve_request(approve(&request.request_id, "mine")).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "the requester may not approve");
    let status = app.client("mallory").await.approve_request(approve(&request.request_id, "")).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "not a reviewer");

    let approved = app.client("bob").await.approve_request(approve(&request.request_id, "lgtm")).await.unwrap();
    let approved = approved.into_inner().request.unwrap();
    assert_eq!(status_of(&approved), pb::RequestStatus::Approved);
    let approval = &approved.approvals[0];
    assert_eq!(approval.approver.as_ref().unwrap().subject, "bob");
    assert_eq!(approval.approver.as_ref().unwrap().groups, ["databases-rds"]);
    assert_eq!(approval.comment, "lgtm");
    app.cleanup().await;
}

#[tokio::test]
async fn a_large_database_needs_platform_team_and_security_or_database_team() {
    let app = spawn_app().await;
    let (request, _) = submitted(&app, "warehouse", Size::Xlarge).await;
    let id = request.request_id;
    let after_carol = app.client("carol").await.approve_request(approve(&id, "")).await.unwrap().into_inner();
    assert_eq!(status_of(after_carol.request.as_ref().unwrap()), pb::RequestStatus::PendingApproval);
    let status = app.client("bob").await.approve_request(approve(&id, "")).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "databases-rds is no clause of a large database");
    let after_dave = app.client("dave").await.approve_request(approve(&id, "")).await.unwrap().into_inner();
    assert_eq!(status_of(after_dave.request.as_ref().unwrap()), pb::RequestStatus::Approved);
    assert!(after_dave.sequence > after_carol.sequence);
    app.cleanup().await;
}

#[tokio::test]
async fn a_dev_small_database_is_approved_on_submission() {
    let app = spawn_app().await;
    let response = app
        .client("backstage")
        .await
        .request_database(database("scratch", Environment::Dev, Size::Small))
        .await
        .unwrap()
        .into_inner();
    let request = response.request.unwrap();
    assert_eq!(status_of(&request), pb::RequestStatus::Approved);
    assert_eq!(request.auto_approved_by_rule, "dev-small-databases");
    app.cleanup().await;
}

#[tokio::test]
async fn reject_needs_a_reason_and_ends_the_request() {
    let app = spawn_app().await;
    let (request, _) = submitted(&app, "orders", Size::Small).await;
    let mut bob = app.client("bob").await;
    let no_reason = pb::RejectRequestRequest { request_id: request.request_id.clone(), reason: " ".into() };
    assert_eq!(crate::helpers::violated_fields(&bob.reject_request(no_reason).await.unwrap_err()), ["reason"]);
    let reject =
        pb::RejectRequestRequest { request_id: request.request_id.clone(), reason: "use the shared db".into() };
    let rejected = bob.reject_request(reject).await.unwrap().into_inner().request.unwrap();
    assert_eq!(status_of(&rejected), pb::RequestStatus::Rejected);
    assert_eq!(rejected.reason, "use the shared db");
    let status = app.client("erin").await.approve_request(approve(&request.request_id, "")).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    app.cleanup().await;
}

#[tokio::test]
async fn only_the_requester_or_the_platform_team_cancels() {
    let app = spawn_app().await;
    let (request, _) = submitted(&app, "orders", Size::Small).await;
    let cancel = pb::CancelRequestRequest { request_id: request.request_id.clone(), reason: "not needed".into() };
    let status = app.client("mallory").await.cancel_request(cancel.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let cancelled = app.client("alice").await.cancel_request(cancel.clone()).await.unwrap().into_inner();
    assert_eq!(status_of(cancelled.request.as_ref().unwrap()), pb::RequestStatus::Cancelled);
    let again = app.client("alice").await.cancel_request(cancel).await.unwrap().into_inner();
    assert_eq!(again.sequence, cancelled.sequence, "a repeated cancel appends nothing");

    let status = app.client("bob").await.approve_request(approve("not-a-uuid", &"x".repeat(2000))).await.unwrap_err();
    assert_eq!(crate::helpers::violated_fields(&status), ["request_id", "comment"]);
    let missing = approve(&uuid::Uuid::new_v4().to_string(), "");
    assert_eq!(app.client("bob").await.approve_request(missing).await.unwrap_err().code(), Code::NotFound);
    app.cleanup().await;
}
