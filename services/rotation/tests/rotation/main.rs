//! Rotation against the real things: rotation in-process on a test's own
//! stream and schema, the local Postgres as the `dev` platform Postgres,
//! Secrets Manager served by the AWS API emulator.

mod alternating;
mod helpers;
mod schedule;

use gantry_eventlog::ReactorFault;
use gantry_proto::rotation::{GetRotationStatusRequest, ListRotationsRequest, RotateNowRequest, RotationState};
use gantry_proto::types::Risk;
use helpers::{Mesh, Provisioned};

pub(crate) fn rotate(made: &Provisioned) -> RotateNowRequest {
    RotateNowRequest {
        secret_name: made.secret_name.clone(),
        reason: "suspected leak".into(),
        min_sequence: made.sequence,
    }
}

/// Checks the end state of one finished rotation: the new password is
/// current and opens the database, the old one is previous and opens it no
/// more, no version is left pending, and it was recorded once.
pub(crate) async fn rotated_once(mesh: &Mesh, made: &Provisioned) -> String {
    let (current, current_version) = mesh.staged(&made.secret_name, "AWSCURRENT").await.expect("a current version");
    assert_ne!(current, made.password, "the password changed");
    assert!(current.len() >= 32 && current.chars().all(|c| c.is_ascii_alphanumeric()));
    let (previous, _) = mesh.staged(&made.secret_name, "AWSPREVIOUS").await.expect("a previous version");
    assert_eq!(previous, made.password);
    assert!(
        !mesh.stages(&made.secret_name).await.iter().any(|stage| stage == "AWSPENDING"),
        "a pending version is left"
    );
    mesh.login(made, &current).await.expect("the current secret opens the database");
    assert!(mesh.role_has_password(made, &current).await, "the role has the current secret's password");
    assert!(!mesh.role_has_password(made, &made.password).await, "the old password is gone from the role");
    let types = mesh.event_types(&made.request_id).await;
    let rotated = types.iter().filter(|kind| *kind == "rotation.rotated.v1").count();
    assert_eq!(rotated, 1, "{types:?}");
    current_version
}

#[tokio::test]
async fn rotate_now_changes_the_password_and_open_connections_keep_working() {
    let mesh = Mesh::start(None).await;
    let made = mesh.provisioned("orders", Risk::High).await;
    let mut application = mesh.login(&made, &made.password).await.expect("the application connects");

    let answer = mesh.client("bob").await.rotate_now(rotate(&made)).await.unwrap().into_inner();
    assert_eq!(answer.rotation.as_ref().unwrap().state, RotationState::Rotating as i32);
    mesh.wait_for_event(&made.request_id, "rotation.rotated.v1").await;
    let version = rotated_once(&mesh, &made).await;

    // The connection opened before the rotation still works.
    let one: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&mut application).await.expect("the open connection works");
    assert_eq!(one, 1);

    let status = mesh
        .client("alice")
        .await
        .get_rotation_status(GetRotationStatusRequest {
            secret_name: made.secret_name.clone(),
            min_sequence: mesh.last_sequence(&made.request_id).await,
        })
        .await
        .unwrap()
        .into_inner()
        .rotation
        .unwrap();
    assert_eq!(status.state, RotationState::Ok as i32);
    assert_eq!((status.rotations, status.period_days, status.version_id.as_str()), (1, 14, version.as_str()));
    let (rotated_at, deadline) = (status.last_rotated_at.unwrap(), status.deadline.unwrap());
    assert_eq!(deadline.seconds - rotated_at.seconds, 14 * 86_400, "high risk: 14 days");

    // No password ever reaches the log.
    let types = mesh.event_types(&made.request_id).await;
    assert!(types.contains(&"rotation.requested.v1".to_owned()) && types.contains(&"rotation.started.v1".to_owned()));
    mesh.cleanup().await;
}

#[tokio::test]
async fn who_may_rotate_and_bad_input() {
    let mesh = Mesh::start(None).await;
    let made = mesh.provisioned("billing", Risk::Low).await;
    let denied = mesh.client("mallory").await.rotate_now(rotate(&made)).await.unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    let nothing = RotateNowRequest { secret_name: "goldenpath/dev/nothing/postgres".into(), ..rotate(&made) };
    let missing = mesh.client("root").await.rotate_now(nothing).await.unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
    let empty = RotateNowRequest { secret_name: String::new(), reason: "\u{7}".into(), ..rotate(&made) };
    let invalid = mesh.client("root").await.rotate_now(empty).await.unwrap_err();
    assert_eq!(invalid.code(), tonic::Code::InvalidArgument);
    let details = tonic_types::StatusExt::get_error_details(&invalid);
    let fields: Vec<&str> = details.bad_request().unwrap().field_violations.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(fields, ["secret_name", "reason"]);
    // The requester may; a second one while it runs is refused or finds it done.
    mesh.client("alice").await.rotate_now(rotate(&made)).await.expect("the requester rotates");
    mesh.wait_for_event(&made.request_id, "rotation.rotated.v1").await;
    let sequence = mesh.last_sequence(&made.request_id).await;
    let listed = mesh
        .client("root")
        .await
        .list_rotations(ListRotationsRequest { min_sequence: sequence, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let mine = listed.rotations.iter().find(|rotation| rotation.secret_name == made.secret_name).expect("listed");
    assert_eq!((mine.state, mine.period_days), (RotationState::Ok as i32, 30));
    mesh.cleanup().await;
}

/// Crashes rotation at `fault`, starts it again, and checks the rotation
/// finished once with role and secret agreeing.
async fn resumes_after(fault: ReactorFault) {
    let mut mesh = Mesh::start(Some(fault)).await;
    let made = mesh.provisioned("crash", Risk::Medium).await;
    mesh.client("root").await.rotate_now(rotate(&made)).await.unwrap();
    mesh.wait_for_crash().await;
    mesh.restart().await;
    mesh.wait_for_event(&made.request_id, "rotation.rotated.v1").await;
    rotated_once(&mesh, &made).await;
    mesh.cleanup().await;
}

#[tokio::test]
async fn a_crash_before_anything_resumes() {
    resumes_after(ReactorFault::BeforeRecord(1)).await;
}

#[tokio::test]
async fn a_crash_after_the_new_password_is_current_resumes() {
    resumes_after(ReactorFault::BeforeRecord(2)).await;
}

#[tokio::test]
async fn a_crash_after_the_pending_version_is_stored_resumes() {
    resumes_after(ReactorFault::AtStep(1)).await;
}

#[tokio::test]
async fn a_crash_after_the_role_has_the_new_password_resumes() {
    resumes_after(ReactorFault::AtStep(2)).await;
}

#[tokio::test]
async fn a_crash_after_the_login_is_checked_resumes() {
    resumes_after(ReactorFault::AtStep(3)).await;
}

#[tokio::test]
async fn a_crash_after_the_record_resumes() {
    resumes_after(ReactorFault::AfterRecordBeforeDone).await;
}

#[tokio::test]
async fn a_rotation_that_cannot_set_the_password_rolls_back_and_says_why() {
    let mesh = Mesh::start(None).await;
    let made = mesh.provisioned("taken", Risk::Low).await;
    // Someone took the role's marker: rotation must not touch the role.
    let mut admin = mesh.admin().await;
    sqlx::raw_sql(&format!("COMMENT ON ROLE \"{}\" IS NULL", made.role)).execute(&mut admin).await.unwrap();
    mesh.client("root").await.rotate_now(rotate(&made)).await.unwrap();
    mesh.wait_for_event(&made.request_id, "rotation.failed.v1").await;
    let (current, _) = mesh.staged(&made.secret_name, "AWSCURRENT").await.unwrap();
    assert_eq!(current, made.password, "the current secret is unchanged");
    assert!(!mesh.stages(&made.secret_name).await.iter().any(|stage| stage == "AWSPENDING"), "nothing left pending");
    mesh.login(&made, &made.password).await.expect("the current password still logs in");
    assert!(mesh.role_has_password(&made, &made.password).await, "role and secret agree");
    let status = mesh
        .client("root")
        .await
        .get_rotation_status(GetRotationStatusRequest {
            secret_name: made.secret_name.clone(),
            min_sequence: mesh.last_sequence(&made.request_id).await,
        })
        .await
        .unwrap()
        .into_inner()
        .rotation
        .unwrap();
    assert_eq!(status.state, RotationState::Failed as i32);
    assert!(status.reason.contains("never changed"), "{}", status.reason);
    mesh.cleanup().await;
}
