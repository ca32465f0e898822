//! The event log against a real JetStream and Postgres: concurrency,
//! de-duplication, aggregate loads, exactly-once projection across a crash,
//! parking, rebuild, batches prepared while the one before is written, and
//! trace propagation.

use futures::TryStreamExt as _;
mod common;

use common::{CountingView, times_applied};
use futures::future::BoxFuture;
use gantry_eventlog::envelope::NewEvent;
use gantry_eventlog::projection::{self, parked};
use gantry_eventlog::runner::FaultInjected;
use gantry_eventlog::{
    AppendError, EventLog, ExpectedSequence, FaultPoint, Prepared, Projection, ProjectionRunner, RecordedEvent, RunEnd,
    RunnerOptions, StreamSettings,
};
use gantry_proto::events::envelope::Payload;
use gantry_proto::events::{RequestCancelled, RequestRejected};
use gantry_proto::types::Principal;
use gantry_testkit::{TestEnv, within};
use prost::Message as _;
use sqlx::{PgConnection, PgPool};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

async fn open(env: &TestEnv) -> EventLog {
    let settings = StreamSettings {
        name: env.stream_name.clone(),
        subject_prefix: env.subject_prefix.clone(),
        ..StreamSettings::default()
    };
    EventLog::open(env.nats.clone(), settings).await.expect("stream")
}

fn event(aggregate_id: &str, reason: &str) -> NewEvent {
    NewEvent {
        aggregate_type: "request",
        aggregate_id: aggregate_id.to_owned(),
        payload: Payload::RequestRejected(RequestRejected { reason: reason.to_owned() }),
        actor: Principal { subject: "tester".into(), groups: vec![] },
        correlation_id: String::new(),
        causation_id: String::new(),
    }
}

#[tokio::test]
async fn of_two_appends_with_the_same_expected_sequence_exactly_one_wins() {
    let env = TestEnv::new().await.unwrap();
    let log = open(&env).await;
    let first = log.append(event("a1", "first"), ExpectedSequence::NoEvents).await.unwrap();

    let (left, right) = tokio::join!(
        log.append(event("a1", "left"), ExpectedSequence::At(first.sequence)),
        log.append(event("a1", "right"), ExpectedSequence::At(first.sequence)),
    );
    let wins = [&left, &right].iter().filter(|result| result.is_ok()).count();
    assert_eq!(wins, 1, "{left:?} / {right:?}");
    let loser = if left.is_err() { left } else { right };
    assert!(matches!(loser, Err(AppendError::Conflict { .. })));

    let (create_a, create_b) = tokio::join!(
        log.append(event("a2", "x"), ExpectedSequence::NoEvents),
        log.append(event("a2", "y"), ExpectedSequence::NoEvents),
    );
    assert_eq!([create_a.is_ok(), create_b.is_ok()].iter().filter(|won| **won).count(), 1);
    assert_eq!(log.load("request", "a1").await.unwrap().events.len(), 2);
    env.cleanup().await.unwrap();
}

#[tokio::test]
async fn a_publish_repeated_with_the_same_event_id_is_stored_once() {
    let env = TestEnv::new().await.unwrap();
    let log = open(&env).await;
    let envelope = event("d1", "once").into_envelope(SystemTime::now());
    let subject = log.subject("request", "d1");
    let first = log.append_envelope(subject.clone(), envelope.clone(), ExpectedSequence::Any).await.unwrap();
    let second = log.append_envelope(subject, envelope, ExpectedSequence::Any).await.unwrap();
    assert!(!first.duplicate);
    assert!(second.duplicate);
    assert_eq!(first.sequence, second.sequence);
    assert_eq!(log.load("request", "d1").await.unwrap().events.len(), 1);
    env.cleanup().await.unwrap();
}

#[tokio::test]
async fn load_reads_one_aggregate_and_last_sees_the_newest() {
    let env = TestEnv::new().await.unwrap();
    let log = open(&env).await;
    for index in 0..5 {
        log.append(event("other", &index.to_string()), ExpectedSequence::Any).await.unwrap();
        log.append(event("mine", &index.to_string()), ExpectedSequence::Any).await.unwrap();
    }
    let mine = log.load("request", "mine").await.unwrap();
    assert_eq!(mine.events.len(), 5);
    assert!(mine.events.iter().all(|event| event.envelope.aggregate_id == "mine"));
    assert!(mine.events.windows(2).all(|pair| pair[0].sequence < pair[1].sequence));
    let (last_sequence, last) = log.last("request", "mine").await.unwrap().unwrap();
    assert_eq!(last_sequence, mine.last_sequence);
    assert_eq!(last.unwrap().sequence, mine.last_sequence);
    assert!(log.last("request", "nobody").await.unwrap().is_none());
    assert_eq!(log.load("request", "nobody").await.unwrap().last_sequence, 0);
    env.cleanup().await.unwrap();
}

async fn counting_view(env: &TestEnv, log: &EventLog) -> (PgPool, Arc<CountingView>) {
    let pool = env.pool().await.unwrap();
    let view = common::counting_view(&pool, log).await;
    (pool, view)
}

fn caught_up(batch_size: usize, fault: Option<FaultPoint>) -> RunnerOptions {
    RunnerOptions { batch_size, stop_when_caught_up: true, wait_for_leadership: true, fault }
}

#[tokio::test]
async fn a_consumer_killed_between_commit_and_ack_applies_nothing_twice() {
    let env = TestEnv::new().await.unwrap();
    let log = open(&env).await;
    let (pool, view) = counting_view(&env, &log).await;
    for index in 0..25 {
        log.append(event(&format!("c{}", index % 3), "x"), ExpectedSequence::Any).await.unwrap();
    }
    log.append(event("elsewhere", "x"), ExpectedSequence::Any).await.unwrap();

    let crashing = ProjectionRunner::new(
        log.clone(),
        pool.clone(),
        view.clone(),
        caught_up(10, Some(FaultPoint::AfterCommitBeforeAck)),
    );
    let crash = within("the crashing runner", crashing.run(std::future::pending())).await.unwrap_err();
    assert!(crash.is::<FaultInjected>());
    let after_crash = projection::checkpoint(&pool, "counting").await.unwrap();
    assert!(after_crash > 0, "the first batch was committed before the crash");

    let restarted = ProjectionRunner::new(log.clone(), pool.clone(), view.clone(), caught_up(10, None));
    assert_eq!(within("the restarted runner", restarted.run(std::future::pending())).await.unwrap(), RunEnd::CaughtUp);
    let applied = times_applied(&pool).await;
    assert_eq!(applied.len(), 26);
    assert!(applied.iter().all(|(_, times)| *times == 1), "{applied:?}");
    assert_eq!(projection::checkpoint(&pool, "counting").await.unwrap(), 26);
    env.cleanup().await.unwrap();
}

#[tokio::test]
async fn malformed_events_are_parked_unknown_ones_skipped_and_the_consumer_goes_on() {
    let env = TestEnv::new().await.unwrap();
    let log = open(&env).await;
    let (pool, view) = counting_view(&env, &log).await;
    log.append(event("m1", "ok"), ExpectedSequence::Any).await.unwrap();
    let subject = log.subject("request", "m1");
    log.jetstream().publish(subject.clone(), b"\xff\x01not protobuf".as_slice().into()).await.unwrap().await.unwrap();
    let mut future = event("m1", "new").into_envelope(SystemTime::now());
    future.payload = None;
    future.event_type = "intake.from_the_future.v9".into();
    log.jetstream().publish(subject.clone(), future.encode_to_vec().into()).await.unwrap().await.unwrap();
    let refused = NewEvent { payload: Payload::RequestCancelled(RequestCancelled::default()), ..event("m1", "") };
    log.append(refused, ExpectedSequence::Any).await.unwrap();
    log.append(event("m1", "after"), ExpectedSequence::Any).await.unwrap();

    let runner = ProjectionRunner::new(log.clone(), pool.clone(), view, caught_up(100, None));
    within("the runner", runner.run(std::future::pending())).await.unwrap();
    let applied: Vec<i64> = times_applied(&pool).await.into_iter().map(|(sequence, _)| sequence).collect();
    assert_eq!(applied, vec![1, 5]);
    let parked = parked(&pool, "counting").await.unwrap();
    assert_eq!(parked.iter().map(|p| p.sequence).collect::<Vec<_>>(), vec![2, 4]);
    assert!(parked[0].reason.contains("not an envelope"), "{}", parked[0].reason);
    assert!(parked[1].reason.contains("refused"));
    assert_eq!(projection::checkpoint(&pool, "counting").await.unwrap(), 5);
    env.cleanup().await.unwrap();
}

#[tokio::test]
async fn rebuild_replays_from_the_first_event_to_the_same_view() {
    let env = TestEnv::new().await.unwrap();
    let log = open(&env).await;
    let (pool, view) = counting_view(&env, &log).await;
    for index in 0..40 {
        log.append(event(&format!("r{}", index % 7), "x"), ExpectedSequence::Any).await.unwrap();
    }
    ProjectionRunner::new(log.clone(), pool.clone(), view.clone(), caught_up(16, None))
        .run(std::future::pending())
        .await
        .unwrap();
    let live = times_applied(&pool).await;
    let rebuilt = within("the rebuild", gantry_eventlog::rebuild::rebuild(&log, &pool, view, 7)).await.unwrap();
    assert!(rebuilt.replayed_here);
    assert_eq!(rebuilt.checkpoint, 40);
    assert_eq!(times_applied(&pool).await, live);
    env.cleanup().await.unwrap();
}

#[tokio::test]
async fn a_live_runner_replays_when_its_view_is_reset() {
    let env = TestEnv::new().await.unwrap();
    let log = open(&env).await;
    let (pool, view) = counting_view(&env, &log).await;
    let live = ProjectionRunner::new(log.clone(), pool.clone(), view.clone(), RunnerOptions::default());
    let mut checkpoints = live.checkpoints();
    let (trigger, shutdown) = oneshot_shutdown();
    let task = tokio::spawn(live.run(async move {
        let _ = shutdown.await;
    }));
    for index in 0..10 {
        log.append(event(&format!("l{index}"), "x"), ExpectedSequence::Any).await.unwrap();
    }
    within("the live runner", checkpoints.wait_for(|checkpoint| *checkpoint >= 10)).await.unwrap();
    let rebuilt = within("the rebuild", gantry_eventlog::rebuild::rebuild(&log, &pool, view, 100)).await.unwrap();
    assert!(!rebuilt.replayed_here, "the live runner leads the view");
    log.append(event("l10", "x"), ExpectedSequence::Any).await.unwrap();
    gantry_testkit::wait_until(std::time::Duration::from_secs(10), || async {
        Ok(times_applied(&pool).await.len() == 11)
    })
    .await
    .unwrap();
    assert!(times_applied(&pool).await.iter().all(|(_, times)| *times == 1));
    trigger.send(()).unwrap();
    assert_eq!(within("the live runner's stop", task).await.unwrap().unwrap(), RunEnd::Shutdown);
    env.cleanup().await.unwrap();
}

fn oneshot_shutdown() -> (tokio::sync::oneshot::Sender<()>, tokio::sync::oneshot::Receiver<()>) {
    tokio::sync::oneshot::channel()
}

#[tokio::test]
async fn the_append_carries_the_callers_trace_context() {
    use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    use tracing_subscriber::layer::SubscriberExt as _;

    opentelemetry::global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber =
        tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let _guard = tracing::subscriber::set_default(subscriber);

    let env = TestEnv::new().await.unwrap();
    let log = open(&env).await;
    let span = tracing::info_span!("grpc call");
    let trace_id = span.context().span().span_context().trace_id();
    let appended = {
        let _entered = span.enter();
        log.append(event("t1", "traced"), ExpectedSequence::Any).await.unwrap()
    };
    let stream = log.jetstream().get_stream(&env.stream_name).await.unwrap();
    let stored = stream.get_raw_message(appended.sequence).await.unwrap();
    let traceparent = stored.headers.get("traceparent").expect("traceparent header").to_string();
    assert!(traceparent.contains(&trace_id.to_string()), "{traceparent} lacks {trace_id}");
    assert_eq!(stored.headers.get("Nats-Msg-Id").unwrap().as_str(), appended.envelope.event_id);
    env.cleanup().await.unwrap();
}

#[tokio::test]
async fn an_event_that_fails_on_a_data_error_is_parked_and_the_rest_applied() {
    let env = TestEnv::new().await.unwrap();
    let log = open(&env).await;
    let (pool, view) = counting_view(&env, &log).await;
    for aggregate in ["a", "b", "poison", "c", "d"] {
        log.append(event(aggregate, "x"), ExpectedSequence::Any).await.unwrap();
    }
    let runner = ProjectionRunner::new(log.clone(), pool.clone(), view, caught_up(100, None));
    assert_eq!(within("the runner", runner.run(std::future::pending())).await.unwrap(), RunEnd::CaughtUp);
    let applied: Vec<i64> = times_applied(&pool).await.into_iter().map(|(sequence, _)| sequence).collect();
    assert_eq!(applied, vec![1, 2, 4, 5]);
    let parked = parked(&pool, "counting").await.unwrap();
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].sequence, 3);
    assert!(parked[0].reason.contains("applying failed"), "{}", parked[0].reason);
    assert_eq!(projection::checkpoint(&pool, "counting").await.unwrap(), 5);
    env.cleanup().await.unwrap();
}

#[tokio::test]
async fn views_of_the_same_name_in_two_schemas_lead_independently() {
    let first = TestEnv::new().await.unwrap();
    let second = TestEnv::new().await.unwrap();
    let log = open(&first).await;
    let (first_pool, first_view) = counting_view(&first, &log).await;
    let (second_pool, second_view) = counting_view(&second, &log).await;
    log.append(event("x", "x"), ExpectedSequence::Any).await.unwrap();
    let live = ProjectionRunner::new(log.clone(), first_pool.clone(), first_view, RunnerOptions::default());
    let (trigger, shutdown) = oneshot_shutdown();
    let task = tokio::spawn(live.run(async move {
        let _ = shutdown.await;
    }));
    let mut options = caught_up(10, None);
    options.wait_for_leadership = false;
    let other = ProjectionRunner::new(log.clone(), second_pool.clone(), second_view, options);
    assert_eq!(
        within("the second schema's runner", other.run(std::future::pending())).await.unwrap(),
        RunEnd::CaughtUp,
        "not blocked by the other schema"
    );
    assert_eq!(times_applied(&second_pool).await.len(), 1);
    // The live runner kept its own consumer: it applies what comes next.
    log.append(event("y", "y"), ExpectedSequence::Any).await.unwrap();
    gantry_testkit::wait_until(Duration::from_secs(10), || async { Ok(times_applied(&first_pool).await.len() == 2) })
        .await
        .expect("the first schema's live view goes on");
    let stream = log.jetstream().get_stream(&first.stream_name).await.unwrap();
    let names: Vec<String> = stream.consumer_names().try_collect().await.unwrap();
    for env in [&first, &second] {
        assert!(names.iter().any(|name| name.contains(&env.schema)), "no consumer of {} in {names:?}", env.schema);
    }
    trigger.send(()).unwrap();
    within("the live runner's stop", task).await.unwrap().unwrap();
    first.cleanup().await.unwrap();
    second.cleanup().await.unwrap();
}

/// Counts events per aggregate, reading the counts so far in `prepare`: it
/// is right only if the runner hands it the batch still being written, and
/// prepares a batch again when the one it was prepared on failed. A batch
/// with a reason of `poison` for an aggregate fails to write (a CHECK).
#[derive(Debug)]
struct RunningTotals {
    filter: String,
}

/// Events so far, last sequence and last reason of one aggregate.
type Total = (i32, i64, String);

impl Projection for RunningTotals {
    type Changes = std::collections::HashMap<String, Total>;

    fn name(&self) -> &str {
        "totals"
    }

    fn filter_subject(&self) -> String {
        self.filter.clone()
    }

    fn prepare<'a>(
        &'a self,
        pool: &'a PgPool,
        events: &'a [RecordedEvent],
        ahead: Option<&'a Self::Changes>,
    ) -> BoxFuture<'a, anyhow::Result<Prepared<Self::Changes>>> {
        Box::pin(async move {
            let mut totals = Self::Changes::new();
            let mut poisoned = std::collections::HashSet::new();
            for event in events {
                let id = &event.envelope.aggregate_id;
                if !totals.contains_key(id) {
                    let before = match ahead.and_then(|ahead| ahead.get(id)) {
                        Some(total) => total.clone(),
                        None => {
                            sqlx::query_as("SELECT events, last_sequence, reason FROM totals WHERE aggregate_id = $1")
                                .bind(id)
                                .fetch_optional(pool)
                                .await?
                                .unwrap_or_default()
                        }
                    };
                    totals.insert(id.clone(), before);
                }
                let Some(Payload::RequestRejected(rejected)) = event.payload() else {
                    anyhow::bail!("not a rejection")
                };
                if rejected.reason == "poison" {
                    poisoned.insert(id.clone());
                }
                let reason = if poisoned.contains(id) { "poison".into() } else { rejected.reason.clone() };
                let total = totals.get_mut(id).expect("inserted above");
                *total = (total.0 + 1, event.sequence as i64, reason);
            }
            Ok(Prepared { changes: totals, refused: Vec::new() })
        })
    }

    fn write<'a>(
        &'a self,
        connection: &'a mut PgConnection,
        changes: &'a Self::Changes,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            // Slow enough that the next batch is surely prepared meanwhile.
            sqlx::query("SELECT pg_sleep(0.02)").execute(&mut *connection).await?;
            for (id, (events, last_sequence, reason)) in changes {
                sqlx::query(
                    "INSERT INTO totals (aggregate_id, events, last_sequence, reason) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (aggregate_id) DO UPDATE SET events = $2, last_sequence = $3, reason = $4",
                )
                .bind(id)
                .bind(events)
                .bind(last_sequence)
                .bind(reason)
                .execute(&mut *connection)
                .await?;
            }
            Ok(())
        })
    }

    fn reset<'a>(&'a self, connection: &'a mut PgConnection) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            sqlx::query("TRUNCATE totals").execute(connection).await?;
            Ok(())
        })
    }
}

#[tokio::test]
async fn a_batch_prepared_while_the_one_before_is_written_builds_on_it() {
    let env = TestEnv::new().await.unwrap();
    let log = open(&env).await;
    let pool = env.pool().await.unwrap();
    let table = "CREATE TABLE totals (aggregate_id text PRIMARY KEY, events int NOT NULL,
        last_sequence bigint NOT NULL, reason text NOT NULL CHECK (reason <> 'poison'))";
    sqlx::query(table).execute(&pool).await.unwrap();
    for index in 0..120 {
        let reason = if index == 50 { "poison" } else { "x" };
        log.append(event(&format!("t{}", index % 3), reason), ExpectedSequence::Any).await.unwrap();
    }
    let view = Arc::new(RunningTotals { filter: log.settings().subjects_of("request") });
    let runner = ProjectionRunner::new(log.clone(), pool.clone(), view.clone(), caught_up(7, None));
    assert_eq!(within("the runner", runner.run(std::future::pending())).await.unwrap(), RunEnd::CaughtUp);
    let totals: Vec<(String, i32, i64)> =
        sqlx::query_as("SELECT aggregate_id, events, last_sequence FROM totals ORDER BY aggregate_id")
            .fetch_all(&pool)
            .await
            .unwrap();
    // The poisoned event (sequence 51, of t2) is parked, not counted.
    assert_eq!(totals, vec![("t0".into(), 40, 118), ("t1".into(), 40, 119), ("t2".into(), 39, 120)]);
    let parked: Vec<u64> = parked(&pool, "totals").await.unwrap().iter().map(|parked| parked.sequence).collect();
    assert_eq!(parked, vec![51]);
    assert_eq!(projection::checkpoint(&pool, "totals").await.unwrap(), 120);
    env.cleanup().await.unwrap();
}

/// The plain shape of a view: each event applied in the transaction.
#[derive(Debug)]
struct PlainView {
    filter: String,
}

impl gantry_eventlog::View for PlainView {
    fn name(&self) -> &str {
        "plain"
    }

    fn filter_subject(&self) -> String {
        self.filter.clone()
    }

    fn tables(&self) -> &'static [&'static str] {
        &["seen"]
    }

    fn apply_one<'a>(
        &'a self,
        transaction: &'a mut PgConnection,
        event: &'a RecordedEvent,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            // A plain INSERT: applying an event twice would fail.
            sqlx::query("INSERT INTO seen (sequence, aggregate_id) VALUES ($1, $2)")
                .bind(event.sequence as i64)
                .bind(&event.envelope.aggregate_id)
                .execute(transaction)
                .await?;
            Ok(())
        })
    }
}

#[tokio::test]
async fn a_plain_view_applies_each_event_once_parks_a_poison_one_and_rebuilds() {
    let env = TestEnv::new().await.unwrap();
    let log = open(&env).await;
    let pool = env.pool().await.unwrap();
    let table =
        "CREATE TABLE seen (sequence bigint PRIMARY KEY, aggregate_id text NOT NULL CHECK (aggregate_id <> 'poison'))";
    sqlx::query(table).execute(&pool).await.unwrap();
    let view = Arc::new(PlainView { filter: log.settings().subjects_of("request") });
    let mut poison = 0;
    for index in 0..30 {
        let aggregate = if index == 17 { "poison" } else { "p" };
        let appended = log.append(event(aggregate, "x"), ExpectedSequence::Any).await.unwrap();
        if index == 17 {
            poison = appended.sequence;
        }
    }
    let runner = ProjectionRunner::new(log.clone(), pool.clone(), view.clone(), caught_up(7, None));
    assert_eq!(within("the plain view", runner.run(std::future::pending())).await.unwrap(), RunEnd::CaughtUp);
    let seen = || async {
        let rows: Vec<i64> =
            sqlx::query_scalar("SELECT sequence FROM seen ORDER BY sequence").fetch_all(&pool).await.unwrap();
        rows
    };
    let applied = seen().await;
    assert_eq!(applied.len(), 29, "every event but the poison one, once each");
    assert!(!applied.contains(&(poison as i64)));
    assert_eq!(parked(&pool, "plain").await.unwrap().iter().map(|p| p.sequence).collect::<Vec<_>>(), [poison]);

    let rebuilt = gantry_eventlog::rebuild::rebuild(&log, &pool, view, 7).await.unwrap();
    assert!(rebuilt.replayed_here);
    assert_eq!(seen().await, applied, "a rebuild gives the same view");
    env.cleanup().await.unwrap();
}
