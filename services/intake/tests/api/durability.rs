//! Durability of the view: a projection crash between commit and ack, and
//! a rebuild from the first event, both end at the same view.

use crate::helpers::{database, spawn_app, start, status_of, submitted};
use gantry_intake::view;
use gantry_proto::intake as pb;
use gantry_proto::types::{Environment, Size};

/// Rebuilds intake's one view from the log and returns what it did.
async fn rebuild(env: &gantry_testkit::TestEnv) -> gantry_service::run::Rebuilt {
    let mut rebuilt = gantry_service::rebuild::<gantry_intake::Intake>(&env.config()).await.unwrap();
    assert_eq!(rebuilt.len(), 1, "intake has one view");
    rebuilt.remove(0)
}

#[tokio::test]
async fn a_projection_killed_between_commit_and_ack_applies_nothing_twice() {
    let app = spawn_app().await;
    let (request, created) = submitted(&app, "orders", Size::Small).await;
    crate::helpers::wait_for_view(&app, created).await;
    let (stopped, env, tokens) = app.stop().await;
    stopped.unwrap();

    let faulty = start(env, tokens, |config| config.with("intake.fault", "after_commit_before_ack")).await;
    let approve = pb::ApproveRequestRequest { request_id: request.request_id.clone(), comment: "lgtm".into() };
    // The projection may crash the process before the answer leaves; the
    // append itself is durable either way.
    let _ = faulty.client("bob").await.approve_request(approve).await;
    let (crashed, env, tokens) = faulty.crashed().await;
    let error = crashed.expect_err("the injected fault stops intake");
    assert!(format!("{error:#}").contains("fault injected"), "{error:#}");

    let restarted = start(env, tokens, |config| config).await;
    let approved_at = restarted.log.load("request", &request.request_id).await.unwrap().last_sequence;
    crate::helpers::wait_for_view(&restarted, approved_at).await;
    let state = view::get(&restarted.pool, request.request_id.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(state.approvals.len(), 1, "the approval was applied once");
    let live = view::checksum(&restarted.pool).await.unwrap();
    let (stopped, env, tokens) = restarted.stop().await;
    stopped.unwrap();
    let report = rebuild(&env).await;
    assert!(report.replayed_here);
    let pool = env.pool().await.unwrap();
    assert_eq!(view::checksum(&pool).await.unwrap(), live, "replay from 1 equals the view after the crash");
    drop(tokens);
    env.cleanup().await.unwrap();
}

#[tokio::test]
async fn a_rebuilt_view_equals_the_live_view() {
    let app = spawn_app().await;
    let mut last = 0;
    for (index, size) in [Size::Small, Size::Large, Size::Medium, Size::Xlarge].into_iter().enumerate() {
        let (request, _) = submitted(&app, &format!("db_{index}"), size).await;
        let approve = pb::ApproveRequestRequest { request_id: request.request_id, comment: format!("#{index}") };
        let approver = if index % 2 == 0 { "bob" } else { "carol" };
        last = app.client(approver).await.approve_request(approve).await.unwrap().into_inner().sequence;
    }
    crate::helpers::wait_for_view(&app, last).await;
    let live = view::checksum(&app.pool).await.unwrap();
    assert!(!live.is_empty());
    let listed = app.client("alice").await.list_requests(pb::ListRequestsRequest::default()).await.unwrap();
    assert_eq!(listed.get_ref().requests.iter().filter(|r| status_of(r) == pb::RequestStatus::Approved).count(), 2);

    let (stopped, env, _) = app.stop().await;
    stopped.unwrap();
    let report = rebuild(&env).await;
    assert!(report.replayed_here);
    assert_eq!(report.checkpoint, last);
    let pool = env.pool().await.unwrap();
    assert_eq!(view::checksum(&pool).await.unwrap(), live);
    env.cleanup().await.unwrap();
}

#[tokio::test]
async fn text_with_copy_escapes_survives_the_live_view_and_a_rebuild() {
    let app = spawn_app().await;
    let key = r#"key\with"quotes"\n\t\\"#;
    let reason = "no:\tnot\nnow\\ \"sorry\" \\N";
    let mut submit = database("escapes", Environment::Prod, Size::Small);
    submit.idempotency_key = key.into();
    let submitted = app.client("backstage").await.request_database(submit).await.unwrap().into_inner();
    // Live: the row is created by one batch and changed by a later one.
    crate::helpers::wait_for_view(&app, submitted.sequence).await;
    let request = submitted.request.unwrap();
    let reject = pb::RejectRequestRequest { request_id: request.request_id.clone(), reason: reason.into() };
    let rejected = app.client("bob").await.reject_request(reject).await.unwrap().into_inner().sequence;
    crate::helpers::wait_for_view(&app, rejected).await;
    let id = request.request_id.parse().unwrap();
    let live = view::get(&app.pool, id).await.unwrap().unwrap();
    assert_eq!((live.idempotency_key.as_str(), live.reason.as_deref()), (key, Some(reason)));

    let (stopped, env, _) = app.stop().await;
    stopped.unwrap();
    rebuild(&env).await;
    let pool = env.pool().await.unwrap();
    // Rebuilt: created in its final state by one batch's COPY.
    let rebuilt = view::get(&pool, id).await.unwrap().unwrap();
    assert_eq!(serde_json::to_value(&rebuilt).unwrap(), serde_json::to_value(&live).unwrap());
    env.cleanup().await.unwrap();
}

#[tokio::test]
async fn a_second_creation_of_a_request_is_parked_and_overwrites_nothing() {
    let app = spawn_app().await;
    let (request, created) = submitted(&app, "twice", Size::Small).await;
    crate::helpers::wait_for_view(&app, created).await;
    let id = request.request_id.parse().unwrap();
    let before = view::get(&app.pool, id).await.unwrap().unwrap();

    // Only a writer bypassing the expected sequence can do this.
    let mut again = app.log.load("request", &request.request_id).await.unwrap().events[0].envelope.clone();
    again.event_id = uuid::Uuid::now_v7().to_string();
    let subject = app.log.subject("request", &request.request_id);
    let appended = app.log.append_envelope(subject, again, gantry_eventlog::ExpectedSequence::Any).await.unwrap();
    crate::helpers::wait_for_view(&app, appended.sequence).await;

    let parked = gantry_eventlog::projection::parked(&app.pool, view::VIEW_NAME).await.unwrap();
    assert_eq!(parked.iter().map(|event| event.sequence).collect::<Vec<_>>(), [appended.sequence], "{parked:?}");
    let after = view::get(&app.pool, id).await.unwrap().unwrap();
    assert_eq!(serde_json::to_value(&after).unwrap(), serde_json::to_value(&before).unwrap());
    app.cleanup().await;
}
