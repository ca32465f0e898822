//! The event log under faults, on private servers (never the shared ones):
//! JetStream nodes killed under append load, alone and in a three-node
//! cluster with `replicas = 3`, and Postgres stopped under a live
//! projection. Each test asserts that nothing acknowledged is lost, nothing
//! is stored twice, and writes resume by themselves; outage times are
//! printed (`--no-capture` shows them), never asserted beyond a generous
//! bound against hangs.

mod common;

use common::applied;

use futures::StreamExt as _;
use gantry_eventlog::envelope::NewEvent;
use gantry_eventlog::{AppendError, EventLog, ExpectedSequence, ProjectionRunner, RunnerOptions, StreamSettings};
use gantry_proto::events::envelope::Payload;
use gantry_proto::events::{Envelope, RequestRejected};
use gantry_proto::types::Principal;
use gantry_testkit::{NatsCluster, PrivateNats, PrivatePostgres, wait_until, within};
use prost::Message as _;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Concurrent writers of the append load.
const WRITERS: usize = 4;
/// Pause of each writer between two appends (about 150 appends/s in all).
const PACE: Duration = Duration::from_millis(25);
/// One append (with its retries) must land within this, or the test fails.
const APPEND_BOUND: Duration = Duration::from_secs(60);
/// Acknowledged appends after a fault that count as "writes resumed".
const RESUMED_AFTER: usize = 40;

fn settings(name: &str, replicas: usize) -> StreamSettings {
    StreamSettings { name: name.into(), subject_prefix: name.to_lowercase(), replicas, ..StreamSettings::default() }
}

fn event(writer: usize, counter: u64) -> NewEvent {
    NewEvent {
        aggregate_type: "request",
        aggregate_id: format!("w{writer}"),
        payload: Payload::RequestRejected(RequestRejected { reason: format!("{writer}-{counter}") }),
        actor: Principal { subject: "fault-test".into(), groups: vec![] },
        correlation_id: String::new(),
        causation_id: String::new(),
    }
}

/// One acknowledged append.
#[derive(Debug, Clone)]
struct Ack {
    event_id: String,
    sequence: u64,
    at: Instant,
}

/// Writers appending events until told to stop; each event is retried with
/// the same envelope (so `Nats-Msg-Id` de-duplicates) until acknowledged.
struct Load {
    acks: Arc<Mutex<Vec<Ack>>>,
    retries: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    writers: Vec<JoinHandle<anyhow::Result<()>>>,
}

impl Load {
    fn start(log: &EventLog) -> Self {
        let acks = Arc::new(Mutex::new(Vec::new()));
        let retries = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let writers = (0..WRITERS)
            .map(|writer| tokio::spawn(write(log.clone(), writer, acks.clone(), retries.clone(), stop.clone())))
            .collect();
        Self { acks, retries, stop, writers }
    }

    fn acked(&self) -> usize {
        self.acks.lock().unwrap().len()
    }

    async fn wait_for_acks(&self, count: usize) {
        within("the first appends", wait_until(APPEND_BOUND, || async { Ok(self.acked() >= count) })).await.unwrap();
    }

    /// Waits until writes resumed after a fault at `fault_at` and returns
    /// the longest time without any acknowledgement since then.
    async fn outage_after(&self, fault_at: Instant, what: &str) -> Duration {
        let resumed = || async {
            let acks = self.acks.lock().unwrap();
            Ok(acks.iter().filter(|ack| ack.at > fault_at).count() >= RESUMED_AFTER)
        };
        wait_until(APPEND_BOUND, resumed).await.unwrap_or_else(|_| panic!("writes did not resume after {what}"));
        let mut times: Vec<Instant> = self.acks.lock().unwrap().iter().map(|ack| ack.at).collect();
        times.sort();
        let mut previous = times.iter().copied().filter(|at| *at <= fault_at).max().unwrap_or(fault_at);
        let mut longest = Duration::ZERO;
        for at in times.into_iter().filter(|at| *at > fault_at) {
            longest = longest.max(at - previous);
            previous = at;
        }
        println!("{what}: writes paused for {:.2} s at most, then resumed by themselves", longest.as_secs_f64());
        longest
    }

    /// Stops the writers once each has finished its current event, and
    /// returns every acknowledged append.
    async fn finish(self) -> Vec<Ack> {
        self.stop.store(true, Ordering::Relaxed);
        for writer in self.writers {
            within("a writer's last append", writer).await.unwrap().unwrap();
        }
        println!("retried appends: {}", self.retries.load(Ordering::Relaxed));
        self.acks.lock().unwrap().clone()
    }
}

async fn write(
    log: EventLog,
    writer: usize,
    acks: Arc<Mutex<Vec<Ack>>>,
    retries: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let subject = log.subject("request", &format!("w{writer}"));
    let mut counter = 0;
    while !stop.load(Ordering::Relaxed) {
        let envelope = event(writer, counter).into_envelope(SystemTime::now());
        let deadline = Instant::now() + APPEND_BOUND;
        loop {
            let attempt = log.append_envelope(subject.clone(), envelope.clone(), ExpectedSequence::Any);
            let error = match tokio::time::timeout(Duration::from_secs(10), attempt).await {
                Ok(Ok(appended)) => {
                    let ack =
                        Ack { event_id: envelope.event_id.clone(), sequence: appended.sequence, at: Instant::now() };
                    acks.lock().unwrap().push(ack);
                    break;
                }
                Ok(Err(AppendError::Unavailable(error))) => format!("{error:#}"),
                Ok(Err(conflict)) => anyhow::bail!("an append without expectation conflicted: {conflict}"),
                Err(_) => "no answer within 10 s".to_owned(),
            };
            retries.fetch_add(1, Ordering::Relaxed);
            anyhow::ensure!(
                Instant::now() < deadline,
                "event {} of writer {writer} not appended within {APPEND_BOUND:?}: {error}",
                envelope.event_id
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        counter += 1;
        tokio::time::sleep(PACE).await;
    }
    Ok(())
}

/// Reads the whole stream back and asserts that it holds every
/// acknowledged append exactly once, at its acknowledged sequence, and
/// nothing else.
async fn assert_exactly_once(log: &EventLog, acks: &[Ack]) {
    let mut stream = log.jetstream().get_stream(&log.settings().name).await.unwrap();
    let last = stream.info().await.unwrap().state.last_sequence;
    let consumer =
        stream.create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default()).await.unwrap();
    let mut messages = consumer.messages().await.unwrap();
    let mut stored: HashMap<String, Vec<u64>> = HashMap::new();
    let mut count = 0;
    within("reading the stream back", async {
        while count < last {
            let message = messages.next().await.expect("the stream ends early").unwrap();
            let sequence = message.info().unwrap().stream_sequence;
            let envelope = Envelope::decode(message.payload.clone()).unwrap();
            stored.entry(envelope.event_id).or_default().push(sequence);
            count = sequence;
        }
    })
    .await;

    let duplicated: Vec<_> = stored.iter().filter(|(_, sequences)| sequences.len() > 1).collect();
    assert!(duplicated.is_empty(), "stored more than once: {duplicated:?}");
    let mut lost = Vec::new();
    for ack in acks {
        match stored.get(&ack.event_id) {
            Some(sequences) => assert_eq!(sequences, &[ack.sequence], "{} acknowledged elsewhere", ack.event_id),
            None => lost.push(ack),
        }
    }
    assert!(lost.is_empty(), "{} acknowledged appends lost: {lost:?}", lost.len());
    assert_eq!(stored.len(), acks.len(), "the stream holds exactly what was acknowledged");
    println!("{} appends acknowledged, each stored exactly once", acks.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_nats_killed_under_load_loses_nothing_acknowledged() {
    let mut nats = within("starting NATS", PrivateNats::start()).await.unwrap();
    let client = async_nats::connect(nats.url()).await.unwrap();
    let log = EventLog::open(client, settings("LONE", 1)).await.unwrap();
    let load = Load::start(&log);
    load.wait_for_acks(100).await;

    // Down longer than an append waits for its acknowledgement (5 s), so
    // appends fail and are retried across the restart.
    let killed_at = Instant::now();
    nats.kill();
    tokio::time::sleep(Duration::from_secs(6)).await;
    within("starting NATS again", nats.start_again()).await.unwrap();
    let outage = load.outage_after(killed_at, "NATS killed, down 6 s, started again").await;
    assert!(outage < APPEND_BOUND);

    let stopped_at = Instant::now();
    within("stopping NATS", nats.stop()).await.unwrap();
    within("starting NATS again", nats.start_again()).await.unwrap();
    load.outage_after(stopped_at, "NATS stopped cleanly and started again").await;

    let acks = load.finish().await;
    assert_exactly_once(&log, &acks).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_node_cluster_loses_nothing_when_the_leader_or_the_clients_node_dies() {
    let mut cluster = within("starting the cluster", NatsCluster::start()).await.unwrap();
    // As a service connects: `nats.url` names the three servers.
    let nats = gantry_runtime::config::NatsSettings { url: cluster.urls(), ..Default::default() };
    let client = within("connecting", nats.connect()).await.unwrap();
    let log = within("opening the stream", EventLog::open(client.clone(), settings("CLUSTERED", 3))).await.unwrap();
    within("the stream's replicas", cluster.wait_for_stream_replicas("CLUSTERED")).await.unwrap();
    let load = Load::start(&log);
    load.wait_for_acks(100).await;

    // (a) The stream's leader dies; NATS elects another; it comes back.
    let leader = within("finding the leader", cluster.stream_leader("CLUSTERED")).await.unwrap();
    let killed_at = Instant::now();
    cluster.kill(leader);
    let outage = load.outage_after(killed_at, &format!("stream leader {} killed", cluster.server_name(leader))).await;
    assert!(outage < APPEND_BOUND);
    let new_leader = within("the new leader", cluster.stream_leader("CLUSTERED")).await.unwrap();
    assert_ne!(new_leader, leader);
    within("restarting the old leader", cluster.start_again(leader)).await.unwrap();
    within("the old leader catching up", cluster.wait_for_stream_replicas("CLUSTERED")).await.unwrap();
    load.wait_for_acks(load.acked() + RESUMED_AFTER).await;

    // (b) The node the client is connected to dies; the client moves on.
    let connected = cluster.connected_node(&client).expect("connected to a node of the cluster");
    let leads = cluster.stream_leader("CLUSTERED").await.unwrap() == connected;
    let killed_at = Instant::now();
    cluster.kill(connected);
    let what = format!("the client's node {} killed (stream leader: {leads})", cluster.server_name(connected));
    let outage = load.outage_after(killed_at, &what).await;
    assert!(outage < APPEND_BOUND);
    assert_ne!(cluster.connected_node(&client), Some(connected), "the client reconnected elsewhere");
    within("restarting the client's node", cluster.start_again(connected)).await.unwrap();
    within("the node catching up", cluster.wait_for_stream_replicas("CLUSTERED")).await.unwrap();

    let acks = load.finish().await;
    assert_exactly_once(&log, &acks).await;
}

/// What happens to Postgres under a live view.
#[derive(Debug, Clone, Copy)]
enum Outage {
    /// Killed (SIGKILL, a crash) and started again after this long.
    Killed(Duration),
    /// Stopped cleanly and started again after this long.
    Stopped(Duration),
}

/// Runs a live view on a private Postgres, appends 50 events, takes
/// Postgres away while 50 more are appended, brings it back, and asserts the
/// view catches up with each of the 100 events applied exactly once.
async fn a_view_catches_up_after(outage: Outage) {
    let mut postgres = within("starting Postgres", PrivatePostgres::start()).await.unwrap();
    let nats = within("starting NATS", PrivateNats::start()).await.unwrap();
    let client = async_nats::connect(nats.url()).await.unwrap();
    let log = EventLog::open(client, settings("VIEWED", 1)).await.unwrap();
    let pool = postgres.pool("view").await.unwrap();
    let view = common::counting_view(&pool, &log).await;
    let runner = ProjectionRunner::new(log.clone(), pool.clone(), view, RunnerOptions::default());
    let (trigger, shutdown) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(runner.run(async move {
        let _ = shutdown.await;
    }));
    for counter in 0..50 {
        log.append(event(0, counter), ExpectedSequence::Any).await.unwrap();
    }
    within("the view", wait_until(APPEND_BOUND, || async { Ok(applied(&pool).await?.len() == 50) })).await.unwrap();

    let down = match outage {
        Outage::Killed(down) => {
            postgres.kill();
            down
        }
        Outage::Stopped(down) => {
            within("stopping Postgres", postgres.stop()).await.unwrap();
            down
        }
    };
    for counter in 50..100 {
        log.append(event(0, counter), ExpectedSequence::Any).await.unwrap();
    }
    tokio::time::sleep(down).await;
    assert!(!task.is_finished(), "the runner outlives Postgres: {:?}", task.await);
    let restarted_at = Instant::now();
    within("starting Postgres again", postgres.start_again()).await.unwrap();
    let caught_up = || async { Ok(applied(&pool).await.map(|rows| rows.len() == 100).unwrap_or(false)) };
    within("the view catching up", wait_until(APPEND_BOUND, caught_up)).await.unwrap();
    println!("{outage:?}: the view caught up {:.2} s after Postgres came back", restarted_at.elapsed().as_secs_f64());
    let rows = applied(&pool).await.unwrap();
    assert_eq!(rows.iter().map(|(sequence, _)| *sequence).collect::<Vec<_>>(), (1..=100).collect::<Vec<i64>>());
    assert!(rows.iter().all(|(_, times)| *times == 1), "applied more than once: {rows:?}");

    trigger.send(()).unwrap();
    within("the runner's stop", task).await.unwrap().unwrap();
}

/// Shorter than the pool's acquire timeout (10 s): the runner's wait for a
/// connection spans the outage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_catches_up_exactly_once_after_postgres_crashed_for_a_moment() {
    a_view_catches_up_after(Outage::Killed(Duration::from_secs(3))).await;
}

// Longer than any wait for a connection: a runner that gave up on Postgres
// (as it once did when taking its lock failed) never catches up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_catches_up_exactly_once_after_postgres_was_down_for_a_while() {
    a_view_catches_up_after(Outage::Stopped(Duration::from_secs(30))).await;
}
