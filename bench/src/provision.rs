//! Approval → credentials stored: databases provisioned through intake and
//! the provisioner (in-process, on the local Postgres as every
//! environment's platform Postgres and the AWS API emulator as Secrets
//! Manager), beside the bare calls that do the same work with nothing of
//! ours around them: `CREATE ROLE`, `CREATE DATABASE` and a `CreateSecret`
//! holding the credentials, at the same concurrency.

use crate::platform::{admin_url, aws_endpoint, secrets_client};
use futures::StreamExt as _;
use gantry_intake::Intake;
use gantry_proto::intake::{self as pb, intake_service_client::IntakeServiceClient};
use gantry_proto::types::{Environment, Risk, Size};
use gantry_provisioner::Provisioner;
use gantry_runtime::ShutdownTrigger;
use gantry_testkit::TestEnv;
use hdrhistogram::Histogram;
use sqlx::Connection as _;
use std::time::{Duration, Instant};

/// Approves every small database on submission: the figure starts at approval.
const POLICY: &str = "rules:
  - name: databases
    kind: database
    require:
      - [databases-rds]
auto_approve:
  - name: small-databases
    kind: database
    sizes: [small]
";

fn print(label: &str, histogram: &Histogram<u64>) {
    let ms = |quantile: f64| histogram.value_at_quantile(quantile) as f64 / 1000.0;
    println!(
        "{label:<58} n={:<4} p50 {:>7.1} ms  p99 {:>7.1} ms  max {:>7.1} ms",
        histogram.len(),
        ms(0.5),
        ms(0.99),
        histogram.max() as f64 / 1000.0
    );
}

/// Runs `count` items with `in_flight` at once and returns each one's latency.
async fn measure<F, Fut>(count: usize, in_flight: usize, item: F) -> anyhow::Result<Histogram<u64>>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Duration>>,
{
    let mut histogram = Histogram::<u64>::new(3)?;
    let mut results = futures::stream::iter(0..count).map(&item).buffer_unordered(in_flight.max(1));
    while let Some(latency) = results.next().await {
        histogram.record(latency?.as_micros() as u64)?;
    }
    Ok(histogram)
}

/// Prints the figures for `count` databases with `in_flight` at once.
pub(crate) async fn run(count: usize, in_flight: usize) -> anyhow::Result<()> {
    anyhow::ensure!(
        std::env::var_os("AWS_ACCESS_KEY_ID").is_some(),
        "AWS credentials for the emulator are missing: export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
         (moto must answer on {}; scripts/dev-up.sh or scripts/test.sh start it)",
        aws_endpoint()
    );
    let env = TestEnv::new().await?;
    let tag = env.schema.trim_start_matches("t_")[..8].to_owned();
    let tokens = env.write_tokens(&[("backstage", &["backstage"])])?;
    let policy = env.directory.join("policy.yaml");
    std::fs::write(&policy, POLICY)?;
    let prefix = format!("gantry-bench-{tag}");
    let provisioner_schema = format!("{}_provisioner", env.schema);
    let config = env
        .config()
        .with("intake.policy_file", &policy)
        .with("provisioner.schema", &provisioner_schema)
        .with("provisioner.listen", "127.0.0.1:0")
        .with("provisioner.secret_prefix", &prefix)
        .with("provisioner.concurrency", in_flight)
        .with("provisioner.environments.dev.admin_url", admin_url())
        .with("aws.endpoint_url", aws_endpoint());
    let intake = gantry_service::build::<Intake>(&config).await?;
    let address = intake.local_addr();
    let provisioner = gantry_service::build::<Provisioner>(&config).await?;
    let (trigger, shutdown) = ShutdownTrigger::new();
    let served = [tokio::spawn(intake.run(shutdown.clone())), tokio::spawn(provisioner.run(shutdown))];

    let channel = tonic::transport::Channel::from_shared(format!("http://{address}"))?.connect().await?;
    let token: tonic::metadata::MetadataValue<_> = format!("Bearer {}", tokens["backstage"]).parse()?;
    let client = IntakeServiceClient::with_interceptor(channel, move |mut request: tonic::Request<()>| {
        request.metadata_mut().insert("authorization", token.clone());
        Ok(request)
    });
    let gantry_name = |index: usize| format!("bg_{tag}_{index}");
    let through_gantry = measure(count, in_flight, |index| {
        let mut client = client.clone();
        async move {
            let message = pb::RequestDatabaseRequest {
                database_name: gantry_name(index),
                owner: "team-bench".into(),
                requester: "alice".into(),
                environment: Environment::Dev as i32,
                domain: "benchmarks".into(),
                risk: Risk::Medium as i32,
                size: Size::Small as i32,
                ..Default::default()
            };
            let made = client.request_database(message).await?.into_inner().request.unwrap_or_default();
            anyhow::ensure!(made.status == pb::RequestStatus::Approved as i32, "not approved on submission");
            let approved = Instant::now();
            let watch = pb::WatchRequestRequest { request_id: made.request_id.clone() };
            let mut changes = client.watch_request(watch).await?.into_inner();
            while let Some(change) = changes.message().await? {
                let status = change.request.map(|request| request.status).unwrap_or_default();
                if status == pb::RequestStatus::Ready as i32 {
                    return Ok(approved.elapsed());
                }
                anyhow::ensure!(status != pb::RequestStatus::Failed as i32, "request {} failed", made.request_id);
            }
            anyhow::bail!("the watch of {} ended before ready", made.request_id)
        }
    })
    .await?;

    // The same work with nothing of ours around it: one admin connection per
    // item, the statements, and the secret with the same JSON shape.
    let secrets = secrets_client().await;
    let bare_name = |index: usize| format!("bb_{tag}_{index}");
    let bare = measure(count, in_flight, |index| {
        let secrets = secrets.clone();
        async move {
            let started = Instant::now();
            let name = bare_name(index);
            let mut admin = sqlx::PgConnection::connect(&admin_url()).await?;
            let password = format!("{:032x}", uuid::Uuid::new_v4().as_u128());
            sqlx::raw_sql(&format!("CREATE ROLE \"{name}_user\" LOGIN CONNECTION LIMIT 20 PASSWORD '{password}'"))
                .execute(&mut admin)
                .await?;
            sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\" OWNER \"{name}_user\" CONNECTION LIMIT 20"))
                .execute(&mut admin)
                .await?;
            let value = serde_json::json!({
                "username": format!("{name}_user"), "password": password,
                "host": "127.0.0.1", "port": 5432, "dbname": name,
            });
            secrets
                .create_secret()
                .name(format!("gantry-bench-bare/dev/{name}/postgres"))
                .secret_string(value.to_string())
                .send()
                .await?;
            Ok(started.elapsed())
        }
    })
    .await?;

    println!("\nprovisioning: {count} databases, {in_flight} in flight (local Postgres, moto as Secrets Manager)");
    print("approval -> credentials stored (intake + provisioner)", &through_gantry);
    print("bare CREATE ROLE + CREATE DATABASE + CreateSecret", &bare);
    println!(
        "{:<58} p50 {:.2}x  p99 {:.2}x  (goal: p50 within 1.5x)",
        "gantry / bare",
        through_gantry.value_at_quantile(0.5) as f64 / bare.value_at_quantile(0.5).max(1) as f64,
        through_gantry.value_at_quantile(0.99) as f64 / bare.value_at_quantile(0.99).max(1) as f64
    );

    trigger.trigger();
    for task in served {
        task.await??;
    }
    let mut admin = sqlx::PgConnection::connect(&admin_url()).await?;
    for index in 0..count {
        for name in [gantry_name(index), bare_name(index)] {
            sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).execute(&mut admin).await?;
            sqlx::raw_sql(&format!("DROP ROLE IF EXISTS \"{name}_user\"")).execute(&mut admin).await?;
        }
        for secret in [
            format!("{prefix}/dev/{}/postgres", gantry_name(index)),
            format!("gantry-bench-bare/dev/{}/postgres", bare_name(index)),
        ] {
            let _ = secrets.delete_secret().secret_id(secret).force_delete_without_recovery(true).send().await;
        }
    }
    gantry_runtime::postgres::drop_schema(&env.database(), &provisioner_schema).await?;
    env.cleanup().await?;
    Ok(())
}
