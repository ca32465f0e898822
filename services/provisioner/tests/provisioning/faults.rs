//! Dependencies that are down: a refused admin connection is retried with
//! backoff until the platform Postgres is back, and the request then ends
//! ready with one of everything; AWS out of reach fails the request with a
//! reason that says so and that it may pass.

use crate::helpers::{Mesh, Options, Outcome, database_request};
use gantry_proto::types::Risk;
use gantry_testkit::servers::PrivatePostgres;

#[tokio::test]
async fn a_refused_admin_connection_is_retried_until_the_platform_postgres_is_back() {
    let mut platform = PrivatePostgres::start().await.expect("a private Postgres");
    let url = platform.url();
    platform.stop().await.unwrap();
    let mesh = Mesh::start_with(Options {
        settings: vec![
            ("provisioner.environments.test.admin_url", url.clone().into()),
            ("provisioner.max_attempts", 1000.into()),
        ],
        ..Options::default()
    })
    .await;
    let name = mesh.name("patient");
    let request = mesh.submit(database_request(&name, "test", Risk::Low)).await;
    let error = mesh.wait_for_retry("databases", 2).await;
    assert!(error.contains("connecting to the test platform Postgres"), "{error}");

    platform.start_again().await.unwrap();
    assert!(matches!(mesh.wait_for_outcome(&request).await, Outcome::Ready { .. }));
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&url).await.unwrap();
    let databases: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname = $1")
        .bind(&name)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert_eq!(databases, 1);
    let types = mesh.event_types(&request).await;
    assert!(!types.iter().any(|kind| kind == "provisioner.provisioning_failed.v1"), "{types:?}");
    assert_eq!(types.iter().filter(|kind| *kind == "provisioner.role_created.v1").count(), 1);
    mesh.cleanup().await;
}

#[tokio::test]
async fn aws_out_of_reach_fails_the_request_as_retryable_once_attempts_run_out() {
    // Nothing listens there (a port just freed).
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mesh =
        Mesh::start_with(Options { aws_endpoint: Some(format!("http://127.0.0.1:{port}")), ..Options::default() })
            .await;
    let name = mesh.name("unreachable");
    let request = mesh.submit(database_request(&name, "dev", Risk::Low)).await;
    let Outcome::Failed { reason, retryable } = mesh.wait_for_outcome(&request).await else {
        panic!("provisioning without AWS cannot succeed");
    };
    assert!(retryable && reason.contains("Secrets Manager"), "{reason}");
    // Nothing half-made is left behind as ready, and no password reached the log.
    assert_eq!(mesh.count_roles(&format!("{name}_user")).await, 0);
    mesh.cleanup().await;
}
