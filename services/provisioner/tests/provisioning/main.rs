//! The provisioner against the real things: the provisioner in-process on
//! a test's own stream and schema, fed intake's events as the contracts in
//! `proto/` define them (never intake's code), the local Postgres as
//! the platform Postgres of `dev`, and Secrets Manager served by the AWS API
//! emulator (`GANTRY_TEST_AWS_ENDPOINT`, credentials from the environment as
//! `scripts/test.sh` exports them).

mod api;
mod buckets;
mod decommission;
mod drift;
mod faults;
mod helpers;

use gantry_eventlog::ReactorFault;
use helpers::{Mesh, Outcome, database_request};

#[tokio::test]
async fn an_approved_database_gets_a_role_a_database_and_credentials_that_open_only_it() {
    let mesh = Mesh::start(None).await;
    let first = mesh.name("own");
    let second = mesh.name("other");
    let request = mesh.submit(database_request(&first, "dev", gantry_proto::types::Risk::High)).await;
    let other = mesh.submit(database_request(&second, "dev", gantry_proto::types::Risk::Low)).await;
    for (id, database) in [(&request, &first), (&other, &second)] {
        let secret_path = format!("{}/dev/{database}/postgres", mesh.secret_prefix);
        assert_eq!(mesh.wait_for_outcome(id).await, Outcome::Ready { secret_path });
    }

    let credentials = mesh.credentials(&first).await;
    assert_eq!(
        (credentials.username.as_str(), credentials.dbname.as_str()),
        (format!("{first}_user").as_str(), first.as_str())
    );
    assert!(credentials.password.len() >= 32 && credentials.password.chars().all(|c| c.is_ascii_alphanumeric()));
    // Its own database: connect and create a table.
    let mut own = mesh.connect_as(&credentials, &first).await.expect("the stored credentials open their database");
    sqlx::raw_sql("CREATE TABLE orders (id bigint PRIMARY KEY)")
        .execute(&mut own)
        .await
        .expect("the owner creates tables");
    // Another team's database: CONNECT is not granted to PUBLIC.
    let refused = mesh.connect_as(&credentials, &second).await;
    let error = refused.expect_err("another team's database refuses the connection").to_string();
    assert!(error.contains("permission denied"), "{error}");

    // The tiers: a small database's limit, statement logging for high risk only.
    assert_eq!(mesh.role_connection_limit(&credentials.username).await, 20);
    assert_eq!(mesh.database_setting(&first, "log_statement").await.as_deref(), Some("all"));
    assert_eq!(mesh.database_setting(&second, "log_statement").await, None);

    // Every step is on the request's history, and no secret is on the log.
    let types = mesh.event_types(&request).await;
    for expected in [
        "provisioner.provisioning_started.v1",
        "provisioner.role_created.v1",
        "provisioner.database_created.v1",
        "provisioner.credentials_stored.v1",
        "provisioner.resource_provisioned.v1",
    ] {
        assert_eq!(types.iter().filter(|kind| *kind == expected).count(), 1, "{expected} in {types:?}");
    }
    assert!(!mesh.log_contains(credentials.password.as_bytes()).await, "the password is on the log");
    // The secret carries who owns it and what it holds.
    let secret_name = format!("{}/dev/{first}/postgres", mesh.secret_prefix);
    let described = mesh.secrets().describe_secret().secret_id(&secret_name).send().await.unwrap();
    let tags: std::collections::HashMap<&str, &str> =
        described.tags().iter().filter_map(|tag| Some((tag.key()?, tag.value()?))).collect();
    for (key, value) in [
        ("owner", "team-orders"),
        ("domain", "payments"),
        ("risk", "high"),
        ("environment", "dev"),
        ("managed-by", "gantry"),
    ] {
        assert_eq!(tags.get(key), Some(&value), "tag {key} in {tags:?}");
    }
    let database = mesh.database(&request, &first).await;
    assert_eq!(database.status, gantry_proto::provisioner::ResourceStatus::Ready as i32);
    assert_eq!(database.secret_name, format!("{}/dev/{first}/postgres", mesh.secret_prefix));
    assert_eq!((database.connection_limit, database.audit_logging, database.domain.as_str()), (20, true, "payments"));
    drop(own);
    mesh.cleanup().await;
}

/// Crashes the provisioner at `fault`, starts it again without, and checks
/// that the request ends ready with one of everything and a working password.
async fn resumes_after(fault: ReactorFault) {
    let mut mesh = Mesh::start(Some(fault)).await;
    let name = mesh.name("crash");
    let request = mesh.submit(database_request(&name, "dev", gantry_proto::types::Risk::Medium)).await;
    mesh.wait_for_provisioner_crash().await;
    mesh.restart_provisioner().await;
    assert!(matches!(mesh.wait_for_outcome(&request).await, Outcome::Ready { .. }));

    assert_eq!(mesh.count_roles(&format!("{name}_user")).await, 1);
    assert_eq!(mesh.count_databases(&name).await, 1);
    assert_eq!(mesh.secret_versions(&name).await, 1, "one secret version");
    let credentials = mesh.credentials(&name).await;
    mesh.connect_as(&credentials, &name).await.expect("the password in the secret opens the database");
    let types = mesh.event_types(&request).await;
    let ready = types.iter().filter(|kind| *kind == "provisioner.resource_provisioned.v1").count();
    assert_eq!(ready, 1, "{types:?}");
    mesh.cleanup().await;
}

#[tokio::test]
async fn a_crash_after_the_role_resumes() {
    resumes_after(ReactorFault::BeforeRecord(2)).await;
}

#[tokio::test]
async fn a_crash_after_the_database_resumes() {
    resumes_after(ReactorFault::BeforeRecord(3)).await;
}

#[tokio::test]
async fn a_crash_after_the_secret_resumes_with_the_stored_password() {
    resumes_after(ReactorFault::BeforeRecord(4)).await;
}

#[tokio::test]
async fn a_crash_before_ready_resumes() {
    resumes_after(ReactorFault::BeforeRecord(5)).await;
}

#[tokio::test]
async fn a_crash_after_ready_before_the_work_is_done_resumes() {
    resumes_after(ReactorFault::AfterRecordBeforeDone).await;
}

#[tokio::test]
async fn a_crash_before_anything_resumes() {
    resumes_after(ReactorFault::BeforeRecord(1)).await;
}

#[tokio::test]
async fn a_request_cancelled_before_provisioning_gets_nothing() {
    // Work is queued, but no worker runs until the restart.
    let mut mesh = Mesh::start(Some(ReactorFault::AfterQueued)).await;
    let name = mesh.name("cancelled");
    let request = mesh.submit(database_request(&name, "dev", gantry_proto::types::Risk::Low)).await;
    mesh.wait_for_provisioner_crash().await;
    mesh.cancel(&request).await;
    mesh.restart_provisioner().await;
    mesh.wait_for_work_done().await;
    assert_eq!(mesh.count_roles(&format!("{name}_user")).await, 0);
    assert_eq!(mesh.count_databases(&name).await, 0);
    assert_eq!(mesh.secret_versions(&name).await, 0);
    let types = mesh.event_types(&request).await;
    assert!(types.iter().all(|kind| !kind.starts_with("provisioner.")), "{types:?}");
    assert_eq!(types.last().map(String::as_str), Some("intake.request_cancelled.v1"));
    mesh.cleanup().await;
}

#[tokio::test]
async fn an_environment_without_a_platform_postgres_fails_the_request_for_good() {
    let mesh = Mesh::start(None).await;
    let request = mesh.submit(database_request(&mesh.name("nowhere"), "test", gantry_proto::types::Risk::Low)).await;
    let Outcome::Failed { reason, retryable } = mesh.wait_for_outcome(&request).await else { panic!("not failed") };
    assert!(reason.contains("no platform Postgres is configured for environment test"), "{reason}");
    assert!(!retryable, "configuration does not fix itself");
    mesh.cleanup().await;
}

#[tokio::test]
async fn a_role_that_is_not_gantrys_is_never_adopted() {
    let mesh = Mesh::start(None).await;
    let name = mesh.name("squat");
    mesh.create_foreign_role(&format!("{name}_user")).await;
    let request = mesh.submit(database_request(&name, "dev", gantry_proto::types::Risk::Low)).await;
    let Outcome::Failed { reason, retryable } = mesh.wait_for_outcome(&request).await else { panic!("not failed") };
    assert!(reason.contains("is not this request's"), "{reason}");
    assert!(!retryable);
    assert_eq!(mesh.count_databases(&name).await, 0, "nothing made for a refused request");
    assert_eq!(mesh.secret_versions(&name).await, 0);
    mesh.cleanup().await;
}
