//! The schedule: credentials stored long ago (their events dated in the
//! past) come due, are reported once per crossing and rotated once, by one
//! replica of two; a failing rotation is retried the next cycle, with an
//! event each time; a credential's own policy stays within its tier.

use crate::helpers::{Mesh, PATIENCE};
use crate::rotated_once;
use gantry_proto::events::RotationStrategy;
use gantry_proto::rotation::{GetRotationStatusRequest, RotationState, SetRotationPolicyRequest};
use gantry_proto::types::Risk;
use std::time::Duration;

const DAY: Duration = Duration::from_secs(86_400);

async fn status(mesh: &Mesh, request_id: &str, secret_name: &str) -> gantry_proto::rotation::Rotation {
    let request = GetRotationStatusRequest {
        secret_name: secret_name.to_owned(),
        min_sequence: mesh.last_sequence(request_id).await,
    };
    mesh.client("root").await.get_rotation_status(request).await.unwrap().into_inner().rotation.unwrap()
}

#[tokio::test]
async fn a_credential_near_its_deadline_is_reported_due_soon_once_and_rotated_once_by_one_of_two_replicas() {
    let mut mesh = Mesh::start(None).await;
    mesh.start_replica().await;
    // High risk: 14 days. Stored 13 days ago, the deadline is tomorrow:
    // inside the warning window and past the schedule's rotation time.
    let mut made = Vec::new();
    for stem in ["alpha", "beta", "gamma"] {
        made.push(mesh.provisioned_ago(stem, Risk::High, 13 * DAY).await);
    }
    for made in &made {
        mesh.wait_for_event(&made.request_id, "rotation.rotated.v1").await;
    }
    // Time for a second replica, or a repeated scan, to do anything twice.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for made in &made {
        rotated_once(&mesh, made).await;
        assert_eq!(mesh.count(&made.request_id, "rotation.due_soon.v1").await, 1);
        assert_eq!(mesh.count(&made.request_id, "rotation.started.v1").await, 1);
        assert_eq!(mesh.count(&made.request_id, "rotation.overdue.v1").await, 0, "not overdue yet");
        let rotation = status(&mesh, &made.request_id, &made.secret_name).await;
        assert_eq!(rotation.state, RotationState::Ok as i32, "the rotation cleared the warning");
        let (deadline, next) = (rotation.deadline.unwrap().seconds, rotation.next_rotation_at.unwrap().seconds);
        let lead = deadline - next;
        assert!((72 * 3600..96 * 3600).contains(&lead), "rotated 3 to 4 days before the deadline: {lead}");
    }
    let leads: std::collections::BTreeSet<i64> = {
        let mut leads = std::collections::BTreeSet::new();
        for made in &made {
            let rotation = status(&mesh, &made.request_id, &made.secret_name).await;
            leads.insert(rotation.deadline.unwrap().seconds - rotation.next_rotation_at.unwrap().seconds);
        }
        leads
    };
    assert_eq!(leads.len(), made.len(), "credentials stored together are rotated at different times");
    mesh.cleanup().await;
}

#[tokio::test]
async fn an_overdue_credential_whose_rotation_fails_is_reported_once_and_retried_every_cycle_until_it_works() {
    let mesh = Mesh::start_with(None, |config| config.with("rotation.retry_failed_after_s", 2)).await;
    // Someone took the role's marker: every rotation fails until it is back.
    let made = mesh.provisioned_ago("late", Risk::High, 20 * DAY).await;
    let mut admin = mesh.admin().await;
    let marker: Option<String> =
        sqlx::query_scalar("SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = $1")
            .bind(&made.role)
            .fetch_one(&mut admin)
            .await
            .unwrap();
    sqlx::raw_sql(&format!("COMMENT ON ROLE \"{}\" IS NULL", made.role)).execute(&mut admin).await.unwrap();
    // The first rotation of the deadline fails, then the next cycle's, each said.
    mesh.wait_for_count(&made.request_id, "rotation.failed.v1", 2).await;
    let rotation = status(&mesh, &made.request_id, &made.secret_name).await;
    assert_eq!(rotation.state, RotationState::Failed as i32);
    assert!(rotation.reason.contains("never changed"), "{}", rotation.reason);
    assert_eq!(mesh.count(&made.request_id, "rotation.due_soon.v1").await, 1);
    assert_eq!(mesh.count(&made.request_id, "rotation.overdue.v1").await, 1, "once, however many failures");
    let (current, _) = mesh.staged(&made.secret_name, "AWSCURRENT").await.unwrap();
    assert_eq!(current, made.password, "nothing changed");

    let put_back = format!("COMMENT ON ROLE \"{}\" IS '{}'", made.role, marker.unwrap());
    sqlx::raw_sql(&put_back).execute(&mut admin).await.unwrap();
    mesh.wait_for_event(&made.request_id, "rotation.rotated.v1").await;
    rotated_once(&mesh, &made).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(mesh.count(&made.request_id, "rotation.rotated.v1").await, 1, "no retry after it worked");
    assert_eq!(mesh.count(&made.request_id, "rotation.overdue.v1").await, 1);
    let rotation = status(&mesh, &made.request_id, &made.secret_name).await;
    assert_eq!(rotation.state, RotationState::Ok as i32);
    mesh.cleanup().await;
}

#[tokio::test]
async fn a_credential_may_have_its_own_period_within_its_tier() {
    let mesh = Mesh::start(None).await;
    let made = mesh.provisioned("own", Risk::Medium).await;
    let ask = |period_days, strategy: RotationStrategy| SetRotationPolicyRequest {
        secret_name: made.secret_name.clone(),
        period_days,
        strategy: strategy as i32,
        reason: "PCI scope".into(),
        min_sequence: made.sequence,
    };
    let refused =
        mesh.client("root").await.set_rotation_policy(ask(45, RotationStrategy::Unspecified)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    let details = tonic_types::StatusExt::get_error_details(&refused);
    let violation = &details.bad_request().unwrap().field_violations[0];
    assert_eq!(violation.field, "period_days");
    assert!(violation.description.contains("at most 30"), "{}", violation.description);
    let denied = mesh.client("mallory").await.set_rotation_policy(ask(7, RotationStrategy::Unspecified)).await;
    assert_eq!(denied.unwrap_err().code(), tonic::Code::PermissionDenied);

    let set = mesh.client("bob").await.set_rotation_policy(ask(7, RotationStrategy::Unspecified)).await.unwrap();
    let answered = set.into_inner().rotation.unwrap();
    assert_eq!((answered.period_days, answered.tier_period_days), (7, 30));
    let rotation = status(&mesh, &made.request_id, &made.secret_name).await;
    assert_eq!((rotation.period_days, rotation.tier_period_days), (7, 30));
    assert_eq!(rotation.strategy, RotationStrategy::SingleUser as i32, "kept");
    let since = rotation.last_rotated_at.unwrap().seconds;
    assert_eq!(rotation.deadline.unwrap().seconds - since, 7 * 86_400);
    assert_eq!(rotation.deadline, answered.deadline, "the answer is what the view shows");
    assert_eq!(rotation.state, RotationState::DueSoon as i32, "7 days: inside the 7-day window at once");
    // Inside the window: reported due soon (once), not rotated before its time.
    tokio::time::timeout(PATIENCE, mesh.wait_for_event(&made.request_id, "rotation.due_soon.v1")).await.unwrap();
    assert_eq!(mesh.count(&made.request_id, "rotation.rotated.v1").await, 0);
    mesh.cleanup().await;
}
