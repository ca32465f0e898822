//! Break-glass decommission: once intake records the approval, the
//! database, its role and its secret go, each step recorded.

use crate::helpers::{Mesh, Outcome, database_request};
use gantry_proto::events::envelope::Payload;
use gantry_proto::events::{DecommissionApproved, DecommissionRequested};
use gantry_proto::provisioner::ResourceStatus;
use gantry_proto::types::{ApprovalClause, Risk, SecretDeletionPolicy};

/// Makes a ready database, then appends what intake appends when a
/// decommission is asked for and approved; returns the request and name.
async fn approved_decommission(mesh: &Mesh, policy: SecretDeletionPolicy) -> (String, String) {
    let name = mesh.name("doomed");
    let spec = database_request(&name, "dev", Risk::Low);
    let request = mesh.submit(spec.clone()).await;
    assert!(matches!(mesh.wait_for_outcome(&request).await, Outcome::Ready { .. }));
    let asked = DecommissionRequested {
        reason: "service retired".into(),
        secret_policy: policy as i32,
        recovery_window_days: 7,
        required_approvals: vec![ApprovalClause { any_of_groups: vec!["platform-team".into()] }],
    };
    mesh.append_as(&request, "alice", "developers", Payload::DecommissionRequested(asked)).await;
    let approved = DecommissionApproved {
        comment: "confirmed with the team".into(),
        database: Some(spec),
        secret_policy: policy as i32,
        recovery_window_days: 7,
    };
    mesh.append_as(&request, "root", "platform-team", Payload::DecommissionApproved(approved)).await;
    (request, name)
}

#[tokio::test]
async fn an_approved_decommission_drops_everything_and_schedules_the_secret() {
    let mesh = Mesh::start(None).await;
    let (request, name) = approved_decommission(&mesh, SecretDeletionPolicy::Delete).await;
    mesh.wait_for_event(&request, "provisioner.decommissioned.v1").await;
    assert_eq!(mesh.count_databases(&name).await, 0);
    assert_eq!(mesh.count_roles(&format!("{name}_user")).await, 0);
    let secret = mesh
        .secrets()
        .describe_secret()
        .secret_id(format!("{}/dev/{name}/postgres", mesh.secret_prefix))
        .send()
        .await
        .unwrap();
    assert!(secret.deleted_date().is_some(), "the secret is scheduled for deletion, recoverable");
    let types = mesh.event_types(&request).await;
    for expected in
        ["provisioner.database_dropped.v1", "provisioner.secret_deleted.v1", "provisioner.decommissioned.v1"]
    {
        assert_eq!(types.iter().filter(|kind| *kind == expected).count(), 1, "{expected} in {types:?}");
    }
    assert_eq!(mesh.database(&request, &name).await.status, ResourceStatus::Decommissioned as i32);
    mesh.cleanup().await;
}

#[tokio::test]
async fn a_decommission_resumes_after_a_crash_between_the_drop_and_its_record_and_keeps_a_retained_secret() {
    let mut mesh = Mesh::start(None).await;
    let name = mesh.name("resumed");
    let spec = database_request(&name, "dev", Risk::Low);
    let request = mesh.submit(spec.clone()).await;
    assert!(matches!(mesh.wait_for_outcome(&request).await, Outcome::Ready { .. }));
    // The provisioner is down when the approval lands, and the drop had happened
    // (as if it crashed after dropping, before recording it).
    mesh.stop_provisioner().await;
    let approved = DecommissionApproved {
        comment: String::new(),
        database: Some(spec),
        secret_policy: SecretDeletionPolicy::Retain as i32,
        recovery_window_days: 0,
    };
    mesh.append_as(&request, "root", "platform-team", Payload::DecommissionApproved(approved)).await;
    let mut admin = mesh.admin_connection().await;
    for drop in [format!("DROP DATABASE \"{name}\" WITH (FORCE)"), format!("DROP ROLE \"{name}_user\"")] {
        sqlx::raw_sql(&drop).execute(&mut admin).await.unwrap();
    }
    mesh.restart_provisioner().await;
    mesh.wait_for_event(&request, "provisioner.decommissioned.v1").await;
    let types = mesh.event_types(&request).await;
    assert_eq!(types.iter().filter(|kind| *kind == "provisioner.database_dropped.v1").count(), 1, "{types:?}");
    let secret = mesh
        .secrets()
        .describe_secret()
        .secret_id(format!("{}/dev/{name}/postgres", mesh.secret_prefix))
        .send()
        .await
        .unwrap();
    assert!(secret.deleted_date().is_none(), "a retained secret is left as it is");
    mesh.cleanup().await;
}
