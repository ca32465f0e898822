//! Projection catch-up: replay a backlog of request events into the intake
//! view (batched: one read and one upsert per batch, one checkpoint per
//! batch), beside a bulk upsert of as many rows into a table of the same
//! shape, measured in the same run.

use async_nats::jetstream::message::PublishMessage;
use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use gantry_eventlog::{EventLog, NewEvent, StreamSettings};
use gantry_intake::view::{MIGRATOR, RequestsView};
use gantry_proto::events::envelope::Payload;
use gantry_proto::events::{ApprovalGranted, DatabaseRequested};
use gantry_proto::types::{ApprovalClause, DatabaseSpec, Environment, Principal, Risk, Size};
use gantry_testkit::TestEnv;
use prost::Message as _;
use std::future::IntoFuture as _;
use std::sync::Arc;
use std::time::{Instant, SystemTime};
use uuid::Uuid;

/// Acks awaited at once while writing the backlog.
const PUBLISH_WINDOW: usize = 1024;

fn event(id: Uuid, index: usize, creation: bool) -> NewEvent {
    let (payload, subject) = if creation {
        let spec = DatabaseSpec {
            database_name: format!("db_{index}"),
            username: format!("db_{index}_user"),
            owner: format!("team-{}", index % 50),
            requester: "alice".into(),
            environment: Environment::Prod as i32,
            domain: "payments".into(),
            risk: Risk::Medium as i32,
            size: Size::Small as i32,
        };
        let required = vec![ApprovalClause { any_of_groups: vec!["databases-rds".into()] }];
        let requested = DatabaseRequested {
            spec: Some(spec),
            idempotency_key: String::new(),
            required_approvals: required,
            auto_approved_by_rule: String::new(),
        };
        (Payload::DatabaseRequested(requested), "backstage")
    } else {
        (
            Payload::ApprovalGranted(ApprovalGranted {
                comment: "lgtm".into(),
                policy_satisfied: true,
                approved: None,
            }),
            "bob",
        )
    };
    NewEvent {
        aggregate_type: "request",
        aggregate_id: id.to_string(),
        payload,
        actor: Principal { subject: subject.into(), groups: vec!["databases-rds".into()] },
        correlation_id: String::new(),
        causation_id: String::new(),
    }
}

/// Writes `events` events: 60% requests, then approvals of the first ones.
pub(crate) async fn write_backlog(log: &EventLog, events: usize) -> anyhow::Result<usize> {
    let creations = events * 3 / 5;
    let ids: Vec<Uuid> = (0..creations).map(|_| Uuid::now_v7()).collect();
    let mut pending = FuturesUnordered::new();
    for index in 0..events {
        let creation = index < creations;
        let id = ids[if creation { index } else { index - creations }];
        let envelope = event(id, index, creation).into_envelope(SystemTime::now());
        let message = PublishMessage::build().payload(envelope.encode_to_vec().into()).message_id(&envelope.event_id);
        let subject = log.subject("request", &envelope.aggregate_id);
        pending.push(log.jetstream().send_publish(subject, message).await?.into_future());
        while pending.len() >= PUBLISH_WINDOW {
            pending.next().await.expect("pending ack")?;
        }
    }
    while let Some(ack) = pending.next().await {
        ack?;
    }
    Ok(creations)
}

pub(crate) async fn run(events: usize, batch_size: usize) -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let pool = env.pool().await?;
    MIGRATOR.run(&pool).await?;
    let settings = StreamSettings {
        name: env.stream_name.clone(),
        subject_prefix: env.subject_prefix.clone(),
        ..StreamSettings::default()
    };
    let log = EventLog::open(env.nats.clone(), settings).await?;
    let written = Instant::now();
    let creations = write_backlog(&log, events).await?;
    println!("\nwrote {events} events in {:.2} s", written.elapsed().as_secs_f64());

    let view = Arc::new(RequestsView::new(log.settings().subjects_of("request")));
    let started = Instant::now();
    let rebuilt = gantry_eventlog::rebuild::rebuild(&log, &pool, view, batch_size).await?;
    let replay_seconds = started.elapsed().as_secs_f64();
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM requests").fetch_one(&pool).await?;
    let approved: i64 =
        sqlx::query_scalar("SELECT count(*) FROM requests WHERE status = 'approved'").fetch_one(&pool).await?;
    anyhow::ensure!(rows as usize == creations, "replay built {rows} rows, expected {creations}");
    anyhow::ensure!(approved as usize == events - creations, "{approved} approved");
    anyhow::ensure!(rebuilt.checkpoint == events as u64, "checkpoint {}", rebuilt.checkpoint);

    let upsert_seconds = bulk_upsert(&pool, events, batch_size).await?;
    println!(
        "projection catch-up   {events} events into the intake view: {:.2} s = {:>8.0} events/s (batch {batch_size}; goal ≥ 50000)",
        replay_seconds,
        events as f64 / replay_seconds
    );
    println!(
        "bulk upsert baseline  {events} rows, same table shape:      {:.2} s = {:>8.0} rows/s  (batch {batch_size})",
        upsert_seconds,
        events as f64 / upsert_seconds
    );
    println!("catch-up / bulk upsert: {:.2}x", upsert_seconds / replay_seconds);
    env.cleanup().await
}

/// Upserts `rows` rows in transactions of `batch_size`, with the view's own
/// statement shape, into a copy of the view's table.
async fn bulk_upsert(pool: &sqlx::PgPool, rows: usize, batch_size: usize) -> anyhow::Result<f64> {
    sqlx::query("CREATE TABLE baseline (LIKE requests INCLUDING ALL)").execute(pool).await?;
    let state: String = sqlx::query_scalar("SELECT state::text FROM requests LIMIT 1").fetch_one(pool).await?;
    let started = Instant::now();
    for chunk_start in (0..rows).step_by(batch_size.max(1)) {
        let count = batch_size.min(rows - chunk_start);
        let ids: Vec<Uuid> = (0..count).map(|_| Uuid::now_v7()).collect();
        let text = |value: &str| vec![value.to_owned(); count];
        let sequences: Vec<i64> = (chunk_start..chunk_start + count).map(|sequence| sequence as i64).collect();
        let mut transaction = pool.begin().await?;
        sqlx::query(
            "INSERT INTO baseline
                 (request_id, kind, name, environment, owner, requester, status, created_sequence, sequence, state)
             SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                                  $8::bigint[], $9::bigint[], $10::text[]::json[])
             ON CONFLICT (request_id) DO UPDATE
                 SET status = EXCLUDED.status, sequence = EXCLUDED.sequence, state = EXCLUDED.state",
        )
        .bind(&ids)
        .bind(text("database"))
        .bind(text("db"))
        .bind(text("prod"))
        .bind(text("team"))
        .bind(text("alice"))
        .bind(text("pending_approval"))
        .bind(&sequences)
        .bind(&sequences)
        .bind(vec![state.clone(); count])
        .execute(&mut *transaction)
        .await?;
        transaction.commit().await?;
    }
    Ok(started.elapsed().as_secs_f64())
}
