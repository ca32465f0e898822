//! Lineage: a generated graph of at least `edges` edges (long chains of
//! runs, fan-in from other chains and wide aggregates, fan-out from a few
//! widely used inputs) appended as `ArtifactStored` events to a private
//! stream, the graph view's catch-up rate over that backlog, then p50/p99
//! of `Upstream` and `Downstream` at depth 5 and 20 and of `Impact` of the
//! most used input, over gRPC against the running service.

use crate::Bearer;
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
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use uuid::Uuid;

/// A lineage client calling as the auditor.
type Client = LineageServiceClient<InterceptedService<Channel, Bearer>>;

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

/// Latencies of one figure, with the size of the answers.
struct Figure {
    latency: Histogram<u64>,
    nodes: usize,
    truncated: usize,
}

impl Figure {
    fn new() -> anyhow::Result<Self> {
        Ok(Self { latency: Histogram::new(3)?, nodes: 0, truncated: 0 })
    }

    /// Times one call.
    async fn time(&mut self, call: impl Future<Output = anyhow::Result<(usize, bool)>>) -> anyhow::Result<()> {
        let started = Instant::now();
        let (found, cut) = call.await?;
        self.latency.record(started.elapsed().as_micros() as u64)?;
        self.nodes += found;
        self.truncated += usize::from(cut);
        Ok(())
    }

    fn p99_ms(&self) -> f64 {
        self.latency.value_at_quantile(0.99) as f64 / 1000.0
    }

    fn print(&self, label: &str) {
        let calls = self.latency.len().max(1);
        println!(
            "{label:<28} p50 {:>7.2} ms  p99 {:>7.2} ms  ({calls} calls, {:.0} nodes/answer, {} truncated)",
            self.latency.value_at_quantile(0.5) as f64 / 1000.0,
            self.p99_ms(),
            self.nodes as f64 / calls as f64,
            self.truncated,
        );
    }
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
    let mut figure = Figure::new()?;
    for index in 0..calls {
        figure.time(call(index)).await?;
    }
    figure.print(label);
    Ok(())
}

/// One Upstream or Downstream call: (nodes answered, truncated).
async fn traverse(
    client: &Client,
    root: Uuid,
    upstream: bool,
    depth: u32,
    max_nodes: u32,
) -> anyhow::Result<(usize, bool)> {
    let mut client = client.clone();
    let request = TraverseRequest { node_id: root.to_string(), depth, max_nodes, ..Default::default() };
    let graph = match upstream {
        true => client.upstream(request).await?.into_inner(),
        false => client.downstream(request).await?.into_inner(),
    };
    Ok((graph.nodes.len(), graph.truncated))
}

/// One answer's reads by Postgres alone (see the floor in [`run`]).
async fn floor_walk(pool: &sqlx::PgPool, root: Uuid, upstream: bool, cap: i64) -> anyhow::Result<(usize, bool)> {
    let walk = match upstream {
        true => {
            "WITH RECURSIVE walk(id, depth) AS (
                     SELECT $1::uuid, 0 UNION
                     SELECT e.input_id, w.depth + 1 FROM walk w JOIN edges e ON e.output_id = w.id WHERE w.depth < 20)
                 SELECT id FROM (SELECT * FROM walk LIMIT $2) reached GROUP BY id ORDER BY min(depth), id LIMIT $3"
        }
        false => {
            "WITH RECURSIVE walk(id, depth) AS (
                      SELECT $1::uuid, 0 UNION
                      SELECT e.output_id, w.depth + 1 FROM walk w JOIN edges e ON e.input_id = w.id WHERE w.depth < 20)
                  SELECT id FROM (SELECT * FROM walk LIMIT $2) reached GROUP BY id ORDER BY min(depth), id LIMIT $3"
        }
    };
    let ids: Vec<Uuid> = sqlx::query_scalar(walk).bind(root).bind(2 * cap).bind(cap + 1).fetch_all(pool).await?;
    let truncated = ids.len() as i64 > cap;
    let ids = &ids[..ids.len().min(cap as usize)];
    sqlx::query("SELECT * FROM nodes WHERE node_id = ANY($1)").bind(ids).fetch_all(pool).await?;
    Ok((ids.len(), truncated))
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
    // What autovacuum does to insert-only tables on a live system: the
    // statistics, and the visibility map that lets index-only scans skip the heap.
    sqlx::query("VACUUM (ANALYZE) nodes, edges, producers, producer_states, applied").execute(&pool).await?;
    // And the load's dirty pages written out now, not by a checkpoint in
    // the middle of the figures (needs a superuser, as the tests' role is).
    if let Err(error) = sqlx::query("CHECKPOINT").execute(&pool).await {
        println!("(no CHECKPOINT before the figures: {error})");
    }
    // What decides how often a query reads a page from outside Postgres's cache.
    let (buffers, tables): (String, String) = sqlx::query_as(
        "SELECT current_setting('shared_buffers'),
                pg_size_pretty(sum(pg_total_relation_size(c.oid))::bigint)
         FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'",
    )
    .fetch_one(&pool)
    .await?;
    println!("graph tables and their indexes: {tables}; Postgres shared_buffers: {buffers}");

    let tokens = env.write_tokens(&[("auditor", &["platform-team"])])?;
    let config = env.config().with("lineage.schema", &env.schema).with("lineage.listen", "127.0.0.1:0");
    let built = gantry_service::build::<Lineage>(&config).await?;
    let address = built.local_addr();
    let (trigger, shutdown) = ShutdownTrigger::new();
    let service = tokio::spawn(built.run(shutdown));
    let channel = tonic::transport::Channel::from_shared(format!("http://{address}"))?.connect().await?;
    let bearer = Bearer(format!("Bearer {}", tokens["auditor"]).parse()?);
    let client = LineageServiceClient::with_interceptor(channel, bearer).max_decoding_message_size(256 * 1024 * 1024);

    let ids = Arc::new(generated.ids);
    let mut rng = rand::rng();
    // Each figure draws its own roots, so none finds another's pages cached.
    let mut draw = |range: std::ops::Range<usize>| -> Vec<Uuid> {
        (0..calls + 5).map(|_| ids[rng.random_range(range.clone())]).collect()
    };
    let (newer, oldest) = (events / 2..events, HUBS..events / 10);
    for (label, upstream, range) in [("Upstream depth 5", true, &newer), ("Downstream depth 5", false, &oldest)] {
        let roots = draw(range.clone());
        measure(label, calls, |index| traverse(&client, roots[index], upstream, 5, max_nodes)).await?;
    }
    // Depth 20 beside its floor: the reads each answer needs, by Postgres
    // alone over one connection (a plain recursive walk of the edges,
    // stopped at the service's 2 rows per node of the cap, then the nodes
    // reached, up to the cap, by primary key, each row with its producer's
    // copy; no service, no gRPC, no answer assembly), from other roots of
    // the same kind, the two taking turns so both meet the same cache.
    let cap = if max_nodes == 0 { 10_000 } else { max_nodes as i64 };
    for (label, upstream, range) in [("Upstream depth 20", true, &newer), ("Downstream depth 20", false, &oldest)] {
        let (service_roots, floor_roots) = (draw(range.clone()), draw(range.clone()));
        let (mut service, mut floor) = (Figure::new()?, Figure::new()?);
        for (&root, &other) in service_roots.iter().zip(&floor_roots).take(calls) {
            service.time(traverse(&client, root, upstream, 20, max_nodes)).await?;
            floor.time(floor_walk(&pool, other, upstream, cap)).await?;
        }
        service.print(label);
        floor.print("  floor (Postgres alone)");
        println!("  p99 ratio to the floor: {:.2}", service.p99_ms() / floor.p99_ms());
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
