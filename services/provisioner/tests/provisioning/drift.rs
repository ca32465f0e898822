//! Drift: what someone changed by hand is found, recorded once, and set
//! back only when a platform-team member asks.

use crate::helpers::{Mesh, Options, Outcome, bucket_request, database_request};
use gantry_proto::provisioner::{Drift, ReconcileRequest};
use gantry_proto::types::{BucketPurpose, Environment, Risk};

fn properties(drifts: &[Drift], resource: &str) -> Vec<(String, bool)> {
    let mut found: Vec<(String, bool)> = drifts
        .iter()
        .filter(|drift| drift.resource == resource)
        .map(|drift| (drift.property.clone(), drift.repaired))
        .collect();
    found.sort();
    found
}

#[tokio::test]
async fn hand_made_changes_are_found_once_and_repaired_when_asked() {
    let mesh = Mesh::start(None).await;
    let name = mesh.name("drifted");
    let request = mesh.submit(database_request(&name, "dev", Risk::High)).await;
    assert!(matches!(mesh.wait_for_outcome(&request).await, Outcome::Ready { .. }));
    let bucket = mesh.bucket("drifted");
    let bucket_request_id = mesh.submit_bucket(bucket_request(&bucket, BucketPurpose::Artifacts, "us-east-1", 0)).await;
    assert!(matches!(mesh.wait_for_outcome(&bucket_request_id).await, Outcome::Ready { .. }));
    mesh.wait_for_event(&request, "provisioner.resource_provisioned.v1").await;

    // By hand: everyone may connect, a bigger limit, logging off; the bucket's public access block gone.
    let mut admin = mesh.admin_connection().await;
    sqlx::raw_sql(&format!(
        "GRANT CONNECT ON DATABASE \"{name}\" TO PUBLIC; ALTER DATABASE \"{name}\" CONNECTION LIMIT 500;
         ALTER DATABASE \"{name}\" RESET log_statement"
    ))
    .execute(&mut admin)
    .await
    .unwrap();
    mesh.s3().delete_public_access_block().bucket(&bucket).send().await.unwrap();

    let reconcile = |repair| ReconcileRequest { environment: Environment::Dev as i32, repair };
    let denied = mesh.client("alice").await.reconcile(reconcile(false)).await.unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);

    let mut root = mesh.client("root").await;
    let found = root.reconcile(reconcile(false)).await.unwrap().into_inner();
    assert_eq!(
        properties(&found.drifts, &name),
        [("connect_grants".into(), false), ("connection_limit".into(), false), ("statement_logging".into(), false)]
    );
    assert_eq!(properties(&found.drifts, &bucket), [("public_access_block".into(), false)]);
    let detected = |types: &[String]| types.iter().filter(|kind| *kind == "provisioner.drift_detected.v1").count();
    assert_eq!(detected(&mesh.event_types(&request).await), 3);
    assert_eq!(detected(&mesh.event_types(&bucket_request_id).await), 1);
    let database = mesh.database(&request, &name).await;
    assert_eq!(database.open_drifts, 3, "the view counts what is open");

    // The same drift again: reported, not recorded again.
    let again = root.reconcile(reconcile(false)).await.unwrap().into_inner();
    assert_eq!(again.drifts.len(), found.drifts.len());
    assert_eq!(detected(&mesh.event_types(&request).await), 3, "recorded once per difference");

    // Repair: set back, recorded, and nothing left.
    let repaired = root.reconcile(reconcile(true)).await.unwrap().into_inner();
    assert!(properties(&repaired.drifts, &name).iter().all(|(_, repaired)| *repaired), "{repaired:?}");
    assert!(properties(&repaired.drifts, &bucket).iter().all(|(_, repaired)| *repaired));
    let types = mesh.event_types(&request).await;
    assert_eq!(types.iter().filter(|kind| *kind == "provisioner.drift_repaired.v1").count(), 3, "{types:?}");
    assert_eq!(mesh.database_setting(&name, "log_statement").await.as_deref(), Some("all"));
    let clean = root.reconcile(reconcile(false)).await.unwrap().into_inner();
    assert!(properties(&clean.drifts, &name).is_empty() && properties(&clean.drifts, &bucket).is_empty(), "{clean:?}");
    assert_eq!(mesh.database(&request, &name).await.open_drifts, 0);

    // The credentials still open only their own database.
    let credentials = mesh.credentials(&name).await;
    mesh.connect_as(&credentials, &name).await.expect("the owner still connects");
    mesh.cleanup().await;
}

#[tokio::test]
async fn the_periodic_check_records_drift_without_being_asked() {
    let mesh = Mesh::start_with(Options {
        settings: vec![("provisioner.reconcile_interval_s", 1.into())],
        ..Options::default()
    })
    .await;
    let name = mesh.name("watched");
    let request = mesh.submit(database_request(&name, "dev", Risk::Low)).await;
    assert!(matches!(mesh.wait_for_outcome(&request).await, Outcome::Ready { .. }));
    let mut admin = mesh.admin_connection().await;
    sqlx::raw_sql(&format!("ALTER DATABASE \"{name}\" CONNECTION LIMIT 3")).execute(&mut admin).await.unwrap();
    mesh.wait_for_event(&request, "provisioner.drift_detected.v1").await;
    // Later checks find the same difference and record nothing more; nothing is repaired.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let types = mesh.event_types(&request).await;
    assert_eq!(types.iter().filter(|kind| *kind == "provisioner.drift_detected.v1").count(), 1, "{types:?}");
    assert!(!types.iter().any(|kind| kind == "provisioner.drift_repaired.v1"), "{types:?}");
    let limit: i32 = sqlx::query_scalar("SELECT datconnlimit FROM pg_database WHERE datname = $1")
        .bind(&name)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert_eq!(limit, 3, "a periodic check never repairs");
    mesh.cleanup().await;
}
