//! Rotation's figures (in-process, the local Postgres as the platform
//! Postgres, the AWS API emulator as Secrets Manager):
//!
//! - the scan: every one of 100,000 tracked credentials' state (ok, due
//!   soon, overdue, rotating, failed) from rotation's view, as the state
//!   gauges compute it, and the report's listing of what is due within
//!   7 days or overdue, through the gRPC API, page by page;
//! - rotations per second: `RotateNow` for many credentials until every
//!   one is rotated, beside the same work with nothing of ours around it
//!   at the same concurrency: read the current secret, `PutSecretValue`
//!   (AWSPENDING), `ALTER ROLE … PASSWORD`, a login with it, and the two
//!   `UpdateSecretVersionStage` calls that promote it.

use crate::platform::{admin_url, aws_endpoint, secrets_client};
use futures::StreamExt as _;
use gantry_eventlog::{EventLog, ExpectedSequence, NewEvent, StreamSettings};
use gantry_platform::aws::Aws;
use gantry_platform::password;
use gantry_platform::secrets::{Credentials, REQUEST_TAG, SecretStore};
use gantry_platform::target::{DatabasePlan, EnvironmentTarget, Target};
use gantry_proto::events::envelope::Payload;
use gantry_proto::events::{CredentialsStored, DatabaseCreated, DatabaseRequested};
use gantry_proto::rotation::{self as pb, rotation_service_client::RotationServiceClient};
use gantry_proto::types::{DatabaseSpec, Environment, Principal, Risk, Size};
use gantry_rotation::Rotation;
use gantry_runtime::ShutdownTrigger;
use gantry_testkit::TestEnv;
use secrecy::{ExposeSecret as _, SecretString};
use sqlx::Connection as _;
use std::time::{Duration, Instant, SystemTime};

/// A credential made for the rate figure: a login role (no database of
/// its own: logins go to `postgres`) and its secret.
struct Made {
    request_id: String,
    secret_name: String,
    role: String,
}

/// Makes `count` roles and secrets named `<stem>_<i>`, `in_flight` at once.
async fn make(secrets: &SecretStore, stem: &str, count: usize, in_flight: usize) -> anyhow::Result<Vec<Made>> {
    let target = EnvironmentTarget { admin_url: SecretString::from(admin_url()), host: None, port: None };
    futures::stream::iter(0..count)
        .map(|index| {
            let (target, secrets) = (target.clone(), secrets.clone());
            async move {
                let request_id = uuid::Uuid::now_v7().to_string();
                let role = format!("{stem}_{index}");
                let password = password::generate();
                let plan = DatabasePlan {
                    database: "postgres".into(),
                    role: role.clone(),
                    connection_limit: 10,
                    audit_logging: false,
                    request_id: request_id.clone(),
                };
                let mut admin = Target::connect("dev", &target).await?;
                admin.ensure_role(&plan, &password::scram_verifier(&password)).await?;
                let (host, port) = (admin.host.clone(), admin.port);
                admin.close().await;
                let credentials =
                    Credentials { username: role.clone(), password, host, port, dbname: "postgres".into() };
                let secret_name = format!("gantry-bench-rotation/{role}");
                secrets
                    .create(
                        &secret_name,
                        &credentials,
                        &[(REQUEST_TAG, &request_id)],
                        &uuid::Uuid::now_v7().to_string(),
                    )
                    .await?;
                Ok::<_, anyhow::Error>(Made { request_id, secret_name, role })
            }
        })
        .buffer_unordered(in_flight.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// Appends the provisioner's events of a credential made by [`make`].
async fn announce(log: &EventLog, made: &Made) -> anyhow::Result<u64> {
    let spec = DatabaseSpec {
        database_name: "postgres".into(),
        username: made.role.clone(),
        owner: "team-bench".into(),
        requester: "alice".into(),
        environment: Environment::Dev as i32,
        domain: "benchmarks".into(),
        risk: Risk::Medium as i32,
        size: Size::Small as i32,
    };
    let payloads = [
        Payload::DatabaseRequested(DatabaseRequested { spec: Some(spec), ..Default::default() }),
        Payload::DatabaseCreated(DatabaseCreated {
            database: "postgres".into(),
            role: made.role.clone(),
            environment: "dev".into(),
            connection_limit: 10,
            ..Default::default()
        }),
        Payload::CredentialsStored(CredentialsStored {
            secret_name: made.secret_name.clone(),
            version_id: String::new(),
        }),
    ];
    let mut sequence = 0;
    for payload in payloads {
        let event = NewEvent {
            aggregate_type: "request",
            aggregate_id: made.request_id.clone(),
            payload,
            actor: Principal { subject: "gantry-provisioner".into(), groups: vec![] },
            correlation_id: String::new(),
            causation_id: String::new(),
        };
        sequence = log.append(event, ExpectedSequence::Any).await?.sequence;
    }
    Ok(sequence)
}

/// Fills rotation's view with `count` credentials whose deadlines spread
/// from 10 days ago to 90 days ahead (a bulk insert: the figure is the
/// scan, not the replay).
async fn fill(pool: &sqlx::PgPool, count: usize) -> anyhow::Result<()> {
    let mut transaction = pool.begin().await?;
    sqlx::query(
        "INSERT INTO requests (request_id, environment, database_name, role_name, owner, requester, risk, period_days)
         SELECT ('00000000-0000-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, 'prod', 'db_' || i, 'db_' || i || '_user',
                'team-' || (i % 50), 'alice', 3, 30
         FROM generate_series(1, $1) AS i",
    )
    .bind(count as i64)
    .execute(&mut *transaction)
    .await?;
    sqlx::query(
        "INSERT INTO credentials (request_id, secret_name, version_id, last_rotated_at, deadline, current_username,
                                  generation, created_sequence, sequence, next_rotation_at)
         SELECT ('00000000-0000-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, 'goldenpath/prod/db_' || i || '/postgres',
                'v1', d - interval '30 days', d, 'db_' || i || '_user', i, i, i, d - interval '3 days'
         FROM (SELECT i, now() - interval '10 days' + (i::float8 / $1) * interval '100 days' AS d
               FROM generate_series(1, $1) AS i) AS spread",
    )
    .bind(count as i64)
    .execute(&mut *transaction)
    .await?;
    transaction.commit().await?;
    sqlx::query("ANALYZE credentials").execute(pool).await?;
    sqlx::query("ANALYZE requests").execute(pool).await?;
    Ok(())
}

/// Prints the scan figure for `tracked` credentials and the rotation rate
/// for `rotations` credentials, `in_flight` at once.
pub(crate) async fn run(tracked: usize, rotations: usize, in_flight: usize) -> anyhow::Result<()> {
    anyhow::ensure!(
        std::env::var_os("AWS_ACCESS_KEY_ID").is_some(),
        "AWS credentials for the emulator are missing: export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing"
    );
    let env = TestEnv::new().await?;
    let tag = env.schema.trim_start_matches("t_")[..8].to_owned();
    let tokens = env.write_tokens(&[("root", &["platform-team"])])?;
    let schema = format!("{}_rotation", env.schema);
    let config = env
        .config()
        .with("rotation.schema", &schema)
        .with("rotation.listen", "127.0.0.1:0")
        .with("rotation.concurrency", in_flight)
        .with("rotation.metrics_interval_s", 0)
        .with("rotation.environments.dev.admin_url", admin_url())
        .with("aws.endpoint_url", aws_endpoint());
    let built = gantry_service::build::<Rotation>(&config).await?;
    let address = built.local_addr();
    let pool = gantry_runtime::postgres::connect(&env.database(), &schema).await?;
    let (trigger, shutdown) = ShutdownTrigger::new();
    let served = tokio::spawn(built.run(shutdown));
    let channel = tonic::transport::Channel::from_shared(format!("http://{address}"))?.connect().await?;
    let token: tonic::metadata::MetadataValue<_> = format!("Bearer {}", tokens["root"]).parse()?;
    let client = RotationServiceClient::with_interceptor(channel, move |mut request: tonic::Request<()>| {
        request.metadata_mut().insert("authorization", token.clone());
        Ok(request)
    });

    // The scan.
    fill(&pool, tracked).await?;
    let mut states = Vec::new();
    let mut scans = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        states = gantry_rotation::state_counts(&pool, 7).await?;
        scans.push(started.elapsed());
    }
    let mut reports = Vec::new();
    let mut listed = 0;
    for _ in 0..3 {
        let started = Instant::now();
        listed = 0;
        let mut page_token = String::new();
        loop {
            let message = pb::ListRotationsRequest {
                deadline_before: Some((SystemTime::now() + Duration::from_secs(7 * 86_400)).into()),
                page_size: 500,
                page_token: page_token.clone(),
                ..Default::default()
            };
            let page = client.clone().list_rotations(message).await?.into_inner();
            listed += page.rotations.len();
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
        reports.push(started.elapsed());
    }
    let best = |times: &[Duration]| times.iter().min().copied().unwrap_or_default().as_secs_f64() * 1000.0;
    println!("\nrotation: the scan of {tracked} tracked credentials (rotation's view on the local Postgres)");
    println!("{:<58} best {:>7.1} ms of 5  {states:?}", "every credential's state (the state gauges)", best(&scans));
    println!(
        "{:<58} best {:>7.1} ms of 3  ({listed} credentials, {} pages)   (goal: a full scan under 1 s)",
        "the report: due within 7d or overdue, over gRPC",
        best(&reports),
        listed.div_ceil(500)
    );
    sqlx::query("TRUNCATE credentials, requests").execute(&pool).await?;

    // Rotations per second.
    let log = EventLog::open(env.nats.clone(), config.section::<StreamSettings>("stream")?).await?;
    let secrets = SecretStore::new(Aws::new(config.section("aws")?));
    let ours = make(&secrets, &format!("br_{tag}"), rotations, in_flight).await?;
    let bare = make(&secrets, &format!("bb_{tag}"), rotations, in_flight).await?;
    let mut last = 0;
    for made in &ours {
        last = announce(&log, made).await?;
    }
    let started = Instant::now();
    futures::stream::iter(&ours)
        .map(|made| {
            let mut client = client.clone();
            async move {
                let message = pb::RotateNowRequest {
                    secret_name: made.secret_name.clone(),
                    reason: "benchmark".into(),
                    min_sequence: last,
                };
                client.rotate_now(message).await.map(drop)
            }
        })
        .buffer_unordered(in_flight.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<()>, _>>()?;
    loop {
        let done: i64 = sqlx::query_scalar("SELECT count(*) FROM credentials WHERE rotations >= 1 AND phase = 'idle'")
            .fetch_one(&pool)
            .await?;
        let failed: i64 =
            sqlx::query_scalar("SELECT count(*) FROM credentials WHERE phase = 'failed'").fetch_one(&pool).await?;
        anyhow::ensure!(failed == 0, "{failed} rotations failed");
        if done as usize >= ours.len() {
            break;
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(600), "rotations did not finish in 10 minutes");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let through_gantry = started.elapsed();

    let raw = secrets_client().await;
    let started = Instant::now();
    futures::stream::iter(&bare)
        .map(|made| {
            let raw = raw.clone();
            async move {
                let current =
                    raw.get_secret_value().secret_id(&made.secret_name).version_stage("AWSCURRENT").send().await?;
                let current_version = current.version_id().unwrap_or_default().to_owned();
                let mut value: serde_json::Value = serde_json::from_str(current.secret_string().unwrap_or("{}"))?;
                let new_password = password::generate();
                value["password"] = serde_json::Value::String(new_password.expose_secret().to_owned());
                let token = uuid::Uuid::new_v4().to_string();
                raw.put_secret_value()
                    .secret_id(&made.secret_name)
                    .client_request_token(&token)
                    .secret_string(value.to_string())
                    .version_stages("AWSPENDING")
                    .send()
                    .await?;
                let mut admin = sqlx::PgConnection::connect(&admin_url()).await?;
                let verifier = password::scram_verifier(&new_password);
                sqlx::raw_sql(&format!("ALTER ROLE \"{}\" PASSWORD '{verifier}'", made.role))
                    .execute(&mut admin)
                    .await?;
                admin.close().await?;
                let login = sqlx::postgres::PgConnectOptions::new()
                    .host("127.0.0.1")
                    .username(&made.role)
                    .password(new_password.expose_secret())
                    .database("postgres");
                sqlx::PgConnection::connect_with(&login).await?.close().await?;
                raw.update_secret_version_stage()
                    .secret_id(&made.secret_name)
                    .version_stage("AWSCURRENT")
                    .move_to_version_id(&token)
                    .remove_from_version_id(&current_version)
                    .send()
                    .await?;
                raw.update_secret_version_stage()
                    .secret_id(&made.secret_name)
                    .version_stage("AWSPENDING")
                    .remove_from_version_id(&token)
                    .send()
                    .await?;
                Ok::<_, anyhow::Error>(())
            }
        })
        .buffer_unordered(in_flight.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<()>, _>>()?;
    let bare_time = started.elapsed();

    let rate = |count: usize, time: Duration| count as f64 / time.as_secs_f64();
    println!("\nrotation: {rotations} rotations, {in_flight} at once (local Postgres, moto as Secrets Manager)");
    println!(
        "{:<58} {:>7.1} /s  ({:.2} s)",
        "RotateNow -> rotated (rotation service)",
        rate(ours.len(), through_gantry),
        through_gantry.as_secs_f64()
    );
    println!(
        "{:<58} {:>7.1} /s  ({:.2} s)",
        "bare read + PutSecretValue + ALTER ROLE + login + 2 stage moves",
        rate(bare.len(), bare_time),
        bare_time.as_secs_f64()
    );
    println!(
        "{:<58} {:.2}x the time   (goal: within 1.5x)",
        "gantry / bare",
        through_gantry.as_secs_f64() / bare_time.as_secs_f64().max(1e-9)
    );

    trigger.trigger();
    served.await??;
    let mut admin = sqlx::PgConnection::connect(&admin_url()).await?;
    for made in ours.iter().chain(&bare) {
        sqlx::raw_sql(&format!("DROP ROLE IF EXISTS \"{}\"", made.role)).execute(&mut admin).await?;
        let _ = raw.delete_secret().secret_id(&made.secret_name).force_delete_without_recovery(true).send().await;
    }
    pool.close().await;
    gantry_runtime::postgres::drop_schema(&env.database(), &schema).await?;
    env.cleanup().await?;
    Ok(())
}
