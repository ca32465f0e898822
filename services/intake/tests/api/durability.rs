//! Durability of the view: a projection crash between commit and ack, and
//! a rebuild from the first event, both end at the same view.

use crate::helpers::{spawn_app, start, status_of, submitted};
use gantry_intake::view;
use gantry_proto::intake as pb;
use gantry_proto::types::Size;

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
    let report = gantry_intake::rebuild(&env.config()).await.unwrap();
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
    let report = gantry_intake::rebuild(&env.config()).await.unwrap();
    assert!(report.replayed_here);
    assert_eq!(report.checkpoint, last);
    let pool = env.pool().await.unwrap();
    assert_eq!(view::checksum(&pool).await.unwrap(), live);
    env.cleanup().await.unwrap();
}
