//! Lineage: a generated graph of at least `edges` edges (long chains of
//! runs, fan-in from other chains and wide aggregates, fan-out from a few
//! widely used inputs) appended as `ArtifactStored` events to a private
//! stream, the graph view's catch-up rate over that backlog, then p50/p99
//! of `Upstream` and `Downstream` at depth 5 and 20 and of `Impact` of the
//! most used input, over gRPC against the running service.

use async_nats::jetstream::message::PublishMessage;
use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use gantry_eventlog::{EventLog, NewEvent, StreamSettings};
use gantry_lineage::Lineage;
use gantry_lineage::view::{GraphView, MIGRATOR};
use gantry_proto::events::ArtifactStored;
use gantry_proto::events::envelope::Payload;
use gantry_proto::lineage::TraverseRequest;
use gantry_proto::lineage::lineage_service_client::LineageServiceClient;
use gantry_proto::types::Principal;
use gantry_runtime::ShutdownTrigger;
use gantry_testkit::TestEnv;
use hdrhistogram::Histogram;
use prost::Message as _;
use rand::Rng as _;
use std::future::IntoFuture as _;
use std::sync::Arc;
use std::time::{Instant, SystemTime};
use uuid::Uuid;

/// Acks awaited at once while writing the backlog.
const PUBLISH_WINDOW: usize = 4096;
/// Widely used inputs (reference data every pipeline reads some of).
const HUBS: usize = 20;
/// Pipelines running side by side, each a long chain of artifacts.
const CHAINS: usize = 1000;
/// How far back a cross-chain input is picked from.
const WINDOW: usize = 20_000;
/// Every this many artifacts, one aggregates many inputs.
const AGGREGATE_EVERY: usize = 500;
const AGGREGATE_INPUTS: usize = 30;

/// The generated graph: every artifact id in order, and how many edges.
struct Generated {
    ids: Vec<Uuid>,
    edges: usize,
}

/// Picks the inputs of artifact `index`: the previous artifact of its
/// chain, sometimes one of another chain, sometimes a hub (the first hubs
/// far more often), and every `AGGREGATE_EVERY`th many at once.
fn inputs_of(index: usize, ids: &[Uuid], rng: &mut impl rand::Rng) -> Vec<Uuid> {
    if index < HUBS {
        return Vec::new();
    }
    let mut inputs = Vec::new();
    if index >= HUBS + CHAINS {
        inputs.push(ids[index - CHAINS]);
    }
    let recent = |rng: &mut dyn rand::RngCore| ids[index - 1 - rng.random_range(0..index.min(WINDOW))];
    if rng.random_bool(0.25) {
        inputs.push(recent(rng));
    }
    if rng.random_bool(0.05) {
        let hub = (HUBS as f64 * rng.random::<f64>().powi(3)) as usize;
        inputs.push(ids[hub]);
    }
    if index.is_multiple_of(AGGREGATE_EVERY) {
        inputs.extend((0..AGGREGATE_INPUTS).map(|_| recent(rng)));
    }
    inputs.sort();
    inputs.dedup();
    inputs
}

fn stored(index: usize, id: Uuid, inputs: &[Uuid]) -> NewEvent {
    let chain = index % CHAINS;
    let generation = index / CHAINS;
    let stored = ArtifactStored {
        artifact_id: id.to_string(),
        tenant: "bench".into(),
        run_id: format!("run-{chain}-{}", generation / 10),
        step_id: format!("step-{}", generation % 10),
        agent: format!("agent-{}", chain % 7),
        agent_version: "1.0.0".into(),
        name: format!("out/{index}.parquet"),
        media_type: "application/parquet".into(),
        input_artifact_ids: inputs.iter().map(Uuid::to_string).collect(),
        sha256: format!("{:064x}", id.as_u128()),
        size_bytes: 1 << 20,
        storage_backend: "local".into(),
        ..Default::default()
    };
    NewEvent {
        aggregate_type: "blob",
        aggregate_id: format!("local.{:064x}", id.as_u128()),
        payload: Payload::ArtifactStored(stored),
        actor: Principal { subject: "agent".into(), groups: Vec::new() },
        correlation_id: String::new(),
        causation_id: String::new(),
    }
}

/// Appends artifacts until at least `edges` edges exist, many publishes in flight.
async fn write_graph(log: &EventLog, edges: usize) -> anyhow::Result<Generated> {
    let mut rng = rand::rng();
    let mut generated = Generated { ids: Vec::new(), edges: 0 };
    let mut pending = FuturesUnordered::new();
    while generated.edges < edges {
        let index = generated.ids.len();
        let id = Uuid::now_v7();
        let inputs = inputs_of(index, &generated.ids, &mut rng);
        generated.edges += inputs.len();
        let envelope = stored(index, id, &inputs).into_envelope(SystemTime::now());
        generated.ids.push(id);
        let message = PublishMessage::build().payload(envelope.encode_to_vec().into()).message_id(&envelope.event_id);
        let subject = log.subject("blob", &envelope.aggregate_id);
        pending.push(log.jetstream().send_publish(subject, message).await?.into_future());
        while pending.len() >= PUBLISH_WINDOW {
            pending.next().await.expect("pending ack")?;
        }
    }
    while let Some(ack) = pending.next().await {
        ack?;
    }
    Ok(generated)
}

/// p50 and p99 of `calls` calls made one after another (after a warm-up).
async fn measure<F, Fut>(label: &str, calls: usize, mut call: F) -> anyhow::Result<()>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = anyhow::Result<(usize, bool)>>,
{
    for warm in 0..5 {
        call(warm).await?;
    }
    let mut latency = Histogram::<u64>::new(3)?;
    let (mut nodes, mut truncated) = (0, 0);
    for index in 0..calls {
        let started = Instant::now();
        let (found, cut) = call(index).await?;
        latency.record(started.elapsed().as_micros() as u64)?;
        nodes += found;
        truncated += usize::from(cut);
    }
    println!(
        "{label:<28} p50 {:>7.2} ms  p99 {:>7.2} ms  ({calls} calls, {:.0} nodes/answer, {truncated} truncated)",
        latency.value_at_quantile(0.5) as f64 / 1000.0,
        latency.value_at_quantile(0.99) as f64 / 1000.0,
        nodes as f64 / calls as f64,
    );
    Ok(())
}

/// What a lineage figure run asks for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    /// Edges of the generated graph.
    pub(crate) edges: usize,
    /// Events per projection transaction.
    pub(crate) batch_size: usize,
    /// Calls per query figure.
    pub(crate) calls: usize,
    /// Nodes per answer the queries ask for (0: the service's default).
    pub(crate) max_nodes: u32,
    /// Keep the schema and stream for inspection.
    pub(crate) keep: bool,
}

pub(crate) async fn run(options: Options) -> anyhow::Result<()> {
    let Options { edges, batch_size, calls, max_nodes, keep } = options;
    let env = TestEnv::new().await?;
    let pool = env.pool().await?;
    MIGRATOR.run(&pool).await?;
    let settings = StreamSettings {
        name: env.stream_name.clone(),
        subject_prefix: env.subject_prefix.clone(),
        ..Default::default()
    };
    let log = EventLog::open(env.nats.clone(), settings).await?;
    let written = Instant::now();
    let generated = write_graph(&log, edges).await?;
    let events = generated.ids.len();
    println!(
        "\nlineage: wrote {events} artifact events ({} edges) in {:.1} s",
        generated.edges,
        written.elapsed().as_secs_f64()
    );

    let view = Arc::new(GraphView::new(&env.subject_prefix));
    let started = Instant::now();
    let rebuilt = gantry_eventlog::rebuild::rebuild(&log, &pool, view, batch_size).await?;
    let seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(rebuilt.checkpoint == events as u64, "checkpoint {}", rebuilt.checkpoint);
    let stored_edges: i64 = sqlx::query_scalar("SELECT count(*) FROM edges").fetch_one(&pool).await?;
    println!(
        "view catch-up            {events} events, {stored_edges} edges: {seconds:.1} s = {:.0} events/s, {:.0} edges/s (batch {batch_size})",
        events as f64 / seconds,
        stored_edges as f64 / seconds
    );
    sqlx::query("ANALYZE").execute(&pool).await?;

    let tokens = env.write_tokens(&[("auditor", &["platform-team"])])?;
    let config = env.config().with("lineage.schema", &env.schema).with("lineage.listen", "127.0.0.1:0");
    let built = gantry_service::build::<Lineage>(&config).await?;
    let address = built.local_addr();
    let (trigger, shutdown) = ShutdownTrigger::new();
    let service = tokio::spawn(built.run(shutdown));
    let channel = tonic::transport::Channel::from_shared(format!("http://{address}"))?.connect().await?;
    let header: tonic::metadata::MetadataValue<_> = format!("Bearer {}", tokens["auditor"]).parse()?;
    let client = LineageServiceClient::with_interceptor(channel, move |mut request: tonic::Request<()>| {
        request.metadata_mut().insert("authorization", header.clone());
        Ok(request)
    })
    .max_decoding_message_size(256 * 1024 * 1024);

    let ids = Arc::new(generated.ids);
    let mut rng = rand::rng();
    let late: Vec<Uuid> = (0..calls + 5).map(|_| ids[rng.random_range(events / 2..events)]).collect();
    let early: Vec<Uuid> = (0..calls + 5).map(|_| ids[rng.random_range(HUBS..events / 10)]).collect();
    for (label, depth) in [("Upstream depth 5", 5), ("Upstream depth 20", 20)] {
        measure(label, calls, |index| {
            let mut client = client.clone();
            let request = TraverseRequest { node_id: late[index].to_string(), depth, max_nodes, ..Default::default() };
            async move {
                let graph = client.upstream(request).await?.into_inner();
                Ok((graph.nodes.len(), graph.truncated))
            }
        })
        .await?;
    }
    for (label, depth) in [("Downstream depth 5", 5), ("Downstream depth 20", 20)] {
        measure(label, calls, |index| {
            let mut client = client.clone();
            let request = TraverseRequest { node_id: early[index].to_string(), depth, max_nodes, ..Default::default() };
            async move {
                let graph = client.downstream(request).await?.into_inner();
                Ok((graph.nodes.len(), graph.truncated))
            }
        })
        .await?;
    }
    let hub = ids[0];
    let users: i64 =
        sqlx::query_scalar("SELECT count(*) FROM edges WHERE input_id = $1").bind(hub).fetch_one(&pool).await?;
    measure(&format!("Impact of a hub ({users} uses)"), calls.min(50), |_| {
        let mut client = client.clone();
        let request = TraverseRequest { node_id: hub.to_string(), max_nodes, ..Default::default() };
        async move {
            let impact = client.impact(request).await?.into_inner();
            let graph = impact.graph.unwrap_or_default();
            Ok((graph.nodes.len(), graph.truncated))
        }
    })
    .await?;
    trigger.trigger();
    service.await??;
    pool.close().await;
    if keep {
        println!("kept for inspection: schema {}, stream {} (drop them when done)", env.schema, env.stream_name);
        std::mem::forget(env);
        return Ok(());
    }
    env.cleanup().await
}
