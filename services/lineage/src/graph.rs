//! Reads of the graph view, every one as of a stream sequence: walks,
//! node and producer details by id, a run's producers and their inputs
//! and outputs, and the mapping of a time to the last sequence applied by
//! then.
//!
//! A walk reads the edges only, in one statement: a recursive query (one
//! index-only probe per node reached and generation) for walks that reach
//! about what they answer, or `lineage_walk` (migration 0002: one scan per
//! generation, each node visited once) when the recursive one reaches too
//! many rows. It keeps the first `max_nodes` nodes by generation, which is
//! exactly where breadth first stops, and the edges it crossed between
//! them (none from the generation a depth or cap stopped it at). Their
//! details are then read by primary key, one row per node, which carries
//! a copy of its producer (migration 0003), in one batch.

use crate::view::{ARTIFACT, DATASET, OPENLINEAGE_RUN, STEP};
use gantry_proto::lineage::{self as pb, NodeKind, ProducerKind};
use sqlx::PgPool;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// Which way a walk goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// From an output to its inputs.
    Upstream,
    /// From an input to its outputs.
    Downstream,
}

/// A walk's limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Walk {
    pub(crate) direction: Direction,
    /// Generations to follow.
    pub(crate) depth: u32,
    /// Nodes to visit at most, the root included.
    pub(crate) max_nodes: usize,
    /// The sequence the graph is read as of.
    pub(crate) as_of: i64,
    /// Expected to reach far more than it answers (an impact): walk one
    /// generation at a time from the start.
    pub(crate) by_generation: bool,
}

/// Nodes with their details, their producers and the edges between them.
#[derive(Debug, Default)]
pub(crate) struct Found {
    /// The node asked about, if any.
    pub(crate) root: Option<Uuid>,
    /// Every node, `depth` set: its generation in a walk.
    pub(crate) nodes: Vec<pb::Node>,
    /// The producer of every node that has one, each once.
    pub(crate) producers: Vec<pb::Producer>,
    /// (input, output) pairs; an edge may name a node not found, which an
    /// answer leaves out.
    pub(crate) edges: Vec<(Uuid, Uuid)>,
    /// A walk stopped at `max_nodes` with more to visit.
    pub(crate) truncated: bool,
}

/// The recursive walk stepping from `$from` to `$to` of an edge: (node,
/// depth, the node it was reached from) for every edge crossed, $1 the
/// root, $2 the depth, $3 as of, at most $4 rows.
macro_rules! recursive_walk {
    ($from:literal, $to:literal) => {
        concat!(
            "WITH RECURSIVE walk(id, depth, via) AS (
                 SELECT $1::uuid, 0, NULL::uuid
                 UNION
                 SELECT e.",
            $to,
            ", w.depth + 1, w.id FROM walk w JOIN edges e ON e.",
            $from,
            " = w.id WHERE w.depth < $2 AND e.seq <= $3
             )
             SELECT id, depth, via FROM walk LIMIT $4"
        )
    };
}

/// The recursive walk from outputs to their inputs.
const UPSTREAM: &str = recursive_walk!("output_id", "input_id");
/// The recursive walk from inputs to their outputs.
const DOWNSTREAM: &str = recursive_walk!("input_id", "output_id");

/// Rows the recursive walk may reach (one per edge crossed, and a node
/// reached by paths of different lengths is crossed into once per
/// length) per node of the answer before the walk one generation at a
/// time takes over: past this the recursive walk is reaching the same
/// nodes by many paths, or far more nodes than the answer holds.
const ROWS_PER_NODE: usize = 2;

/// What a walk reached, before details.
#[derive(Debug, Default)]
struct Reached {
    /// Kept nodes with their generation.
    nodes: Vec<(Uuid, u32)>,
    /// Edges crossed as (input, output).
    edges: Vec<(Uuid, Uuid)>,
    truncated: bool,
}

/// Walks from `root`, breadth first as of `walk.as_of`, and returns the
/// first `max_nodes` nodes reached by generation, the edges crossed between them,
/// and their details.
pub(crate) async fn walk(pool: &PgPool, root: Uuid, walk: Walk) -> sqlx::Result<Found> {
    let recursive = match walk.by_generation {
        true => None,
        false => recursively(pool, root, walk).await?,
    };
    let mut reached = match recursive {
        Some(reached) => reached,
        None => by_generation(pool, root, walk).await?,
    };
    // A walk stopped by its cap does not step from the last generation it
    // kept; the recursive walk did (it ran to its depth), so what it
    // crossed from there goes, and both ways answer the same edges: every
    // edge the walk crossed between nodes it kept.
    if reached.truncated {
        let last = reached.nodes.iter().map(|(_, depth)| *depth).max().unwrap_or(0);
        let deepest: HashSet<Uuid> =
            reached.nodes.iter().filter(|(_, depth)| *depth == last).map(|(id, _)| *id).collect();
        reached.edges.retain(|(input, output)| match walk.direction {
            Direction::Upstream => !deepest.contains(output),
            Direction::Downstream => !deepest.contains(input),
        });
    }
    let (nodes, producers) = details(pool, &reached.nodes, walk.as_of).await?;
    Ok(Found { root: Some(root), nodes, producers, edges: reached.edges, truncated: reached.truncated })
}

/// The recursive walk, or None when it reached too many rows before it
/// reached enough nodes.
async fn recursively(pool: &PgPool, root: Uuid, walk: Walk) -> sqlx::Result<Option<Reached>> {
    let limit = walk.max_nodes.saturating_mul(ROWS_PER_NODE).min(i32::MAX as usize);
    let statement = match walk.direction {
        Direction::Upstream => UPSTREAM,
        Direction::Downstream => DOWNSTREAM,
    };
    let rows: Vec<(Uuid, i32, Option<Uuid>)> = sqlx::query_as(statement)
        .bind(root)
        .bind(walk.depth.min(i32::MAX as u32) as i32)
        .bind(walk.as_of)
        .bind(limit as i64)
        .fetch_all(pool)
        .await?;
    // Postgres runs a recursive query one generation after another and the
    // LIMIT keeps the first rows: when it cut, it cut the deepest generation
    // there, and the ones before it are whole.
    let cut = (rows.len() >= limit).then(|| rows.iter().map(|(_, depth, _)| *depth).max().unwrap_or(0));
    let mut depths: HashMap<Uuid, u32> = HashMap::with_capacity(rows.len());
    let mut edges = Vec::with_capacity(rows.len());
    for (id, depth, via) in rows {
        if cut.is_some_and(|cut| depth >= cut) {
            continue;
        }
        let depth = depth.max(0) as u32;
        depths.entry(id).and_modify(|known| *known = (*known).min(depth)).or_insert(depth);
        if let Some(via) = via {
            edges.push(match walk.direction {
                Direction::Upstream => (id, via),
                Direction::Downstream => (via, id),
            });
        }
    }
    // Whole generations that hold more than the answer does answer it as
    // breadth first would; fewer leave it to the walk one generation at a time.
    if cut.is_some() && depths.len() <= walk.max_nodes {
        return Ok(None);
    }
    let mut nodes: Vec<(Uuid, u32)> = depths.into_iter().collect();
    nodes.sort_unstable_by_key(|(id, depth)| (*depth, *id));
    let truncated = nodes.len() > walk.max_nodes;
    nodes.truncate(walk.max_nodes);
    Ok(Some(Reached { nodes, edges, truncated }))
}

/// The walk one generation at a time (`lineage_walk`).
async fn by_generation(pool: &PgPool, root: Uuid, walk: Walk) -> sqlx::Result<Reached> {
    type Row = (Option<Uuid>, i32, Option<Uuid>, Option<Uuid>);
    let rows: Vec<Row> =
        sqlx::query_as("SELECT node_id, generation, input_id, output_id FROM lineage_walk($1, $2, $3, $4, $5)")
            .bind(root)
            .bind(walk.direction == Direction::Upstream)
            .bind(walk.depth.min(i32::MAX as u32) as i32)
            .bind(walk.max_nodes.min(i32::MAX as usize) as i32)
            .bind(walk.as_of)
            .fetch_all(pool)
            .await?;
    let mut reached = Reached::default();
    for (node, generation, input, output) in rows {
        match (node, input, output) {
            (Some(node), _, _) => reached.nodes.push((node, generation.max(0) as u32)),
            (None, Some(input), Some(output)) => reached.edges.push((input, output)),
            _ => reached.truncated = true,
        }
    }
    Ok(reached)
}

/// Reads the details of `nodes` (each with its depth) and of their
/// producers (each node's copy), as of `as_of`, in one batch. (Two halves
/// on two connections at once were slower: the reads wait on the same
/// page cache and the two cores are busy with the rest.)
pub(crate) async fn details(
    pool: &PgPool,
    nodes: &[(Uuid, u32)],
    as_of: i64,
) -> sqlx::Result<(Vec<pb::Node>, Vec<pb::Producer>)> {
    let ids: Vec<Uuid> = nodes.iter().map(|(id, _)| *id).collect();
    let rows = node_rows(pool, &ids, as_of).await?;
    let depths: HashMap<Uuid, u32> = nodes.iter().copied().collect();
    let mut read = Vec::with_capacity(rows.len());
    let mut producers = Vec::new();
    let mut seen = HashSet::new();
    for mut row in rows {
        let producer = std::mem::take(&mut row.producer);
        if let Some(id) = producer.p_producer_id.filter(|id| seen.insert(*id)) {
            producers.push(producer.message(id));
        }
        let depth = depths.get(&row.node_id).copied().unwrap_or(0);
        read.push(pb::Node { depth, ..pb::Node::from(row) });
    }
    Ok((read, producers))
}

/// `p_state`: the state as of `$as_of` of producer `$id` if its `$kind`
/// is `$run` ([`OPENLINEAGE_RUN`], the only kind with states).
macro_rules! producer_state {
    ($id:literal, $kind:literal, $as_of:literal, $run:literal) => {
        concat!(
            "CASE WHEN ",
            $kind,
            " = ",
            $run,
            " THEN (SELECT s.state FROM producer_states s WHERE s.producer_id = ",
            $id,
            " AND s.seq <= ",
            $as_of,
            " ORDER BY s.seq DESC LIMIT 1) END AS p_state"
        )
    };
}

/// A node's columns (`nodes n`) as of the sequence bound at `$as_of`, with
/// its copy of its producer's (and the producer's state, for `$run`,
/// [`OPENLINEAGE_RUN`]), in the order of [`NodeRow`].
macro_rules! node_columns {
    ($as_of:literal, $run:literal) => {
        concat!(
            "n.node_id, n.kind, n.tenant, n.name, n.namespace, n.media_type, n.sha256, n.size_bytes, n.producer_id,
             date_part('epoch', n.appeared_at) AS appeared_at, n.appeared_seq,
             coalesce(n.expired_seq <= ",
            $as_of,
            ", false) AS expired,
             CASE WHEN n.expired_seq <= ",
            $as_of,
            " THEN date_part('epoch', n.expired_at) END AS expired_at,
             n.producer_id AS p_producer_id, n.producer_kind AS p_kind, n.producer_tenant AS p_tenant,
             n.run_id AS p_run_id, n.step_id AS p_step_id, n.agent AS p_agent, n.agent_version AS p_agent_version,
             n.job_namespace AS p_job_namespace, n.job_name AS p_job_name,
             ",
            producer_state!("n.producer_id", "n.producer_kind", $as_of, $run),
            ", date_part('epoch', n.producer_at) AS p_appeared_at, n.producer_seq AS p_appeared_seq"
        )
    };
}

/// A producer's columns (`producers p`) and its state as of `$as_of`, in
/// the order of [`ProducerRow`]; `$run` binds [`OPENLINEAGE_RUN`].
macro_rules! producer_columns {
    ($as_of:literal, $run:literal) => {
        concat!(
            "p.producer_id AS p_producer_id, p.kind AS p_kind, p.tenant AS p_tenant, p.run_id AS p_run_id,
             p.step_id AS p_step_id, p.agent AS p_agent, p.agent_version AS p_agent_version,
             p.job_namespace AS p_job_namespace, p.job_name AS p_job_name, ",
            producer_state!("p.producer_id", "p.kind", $as_of, $run),
            ", date_part('epoch', p.appeared_at) AS p_appeared_at, p.appeared_seq AS p_appeared_seq"
        )
    };
}

/// A node's row, as [`node_columns`] selects it.
#[derive(Debug, sqlx::FromRow)]
struct NodeRow {
    node_id: Uuid,
    kind: i16,
    tenant: String,
    name: String,
    namespace: String,
    media_type: String,
    sha256: String,
    size_bytes: i64,
    producer_id: Option<Uuid>,
    appeared_at: f64,
    appeared_seq: i64,
    expired: bool,
    expired_at: Option<f64>,
    /// The node's copy of its producer (`p_producer_id` NULL: nobody made it).
    #[sqlx(flatten)]
    producer: ProducerRow,
}

/// A producer's row, as [`producer_columns`] selects it (or a node's copy).
#[derive(Debug, Default, sqlx::FromRow)]
struct ProducerRow {
    p_producer_id: Option<Uuid>,
    p_kind: i16,
    p_tenant: String,
    p_run_id: String,
    p_step_id: String,
    p_agent: String,
    p_agent_version: String,
    p_job_namespace: String,
    p_job_name: String,
    p_state: Option<String>,
    p_appeared_at: Option<f64>,
    p_appeared_seq: i64,
}

/// Returns the last sequence applied at or before `seconds` since the
/// epoch (0: none).
pub(crate) async fn sequence_at(pool: &PgPool, seconds: f64) -> sqlx::Result<i64> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT seq FROM applied WHERE at <= to_timestamp($1) ORDER BY at DESC, seq DESC LIMIT 1")
            .bind(seconds)
            .fetch_optional(pool)
            .await?;
    Ok(found.unwrap_or(0))
}

/// Returns a node's tenant if it existed as of `as_of`.
pub(crate) async fn tenant_of(pool: &PgPool, node: Uuid, as_of: i64) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT tenant FROM nodes WHERE node_id = $1 AND appeared_seq <= $2")
        .bind(node)
        .bind(as_of)
        .fetch_optional(pool)
        .await
}

fn timestamp(seconds: Option<f64>) -> Option<prost_types::Timestamp> {
    seconds.map(|seconds| prost_types::Timestamp {
        seconds: seconds.floor() as i64,
        nanos: ((seconds - seconds.floor()) * 1e9).round().min(999_999_999.0) as i32,
    })
}

/// Returns the nodes of `ids` as of `as_of` (depth 0; the caller sets it).
pub(crate) async fn nodes(pool: &PgPool, ids: &[Uuid], as_of: i64) -> sqlx::Result<Vec<pb::Node>> {
    Ok(node_rows(pool, ids, as_of).await?.into_iter().map(pb::Node::from).collect())
}

async fn node_rows(pool: &PgPool, ids: &[Uuid], as_of: i64) -> sqlx::Result<Vec<NodeRow>> {
    sqlx::query_as(concat!(
        "SELECT ",
        node_columns!("$2", "$3"),
        " FROM nodes n WHERE n.node_id = ANY($1) AND n.appeared_seq <= $2"
    ))
    .bind(ids)
    .bind(as_of)
    .bind(OPENLINEAGE_RUN)
    .fetch_all(pool)
    .await
}

impl From<NodeRow> for pb::Node {
    fn from(row: NodeRow) -> Self {
        pb::Node {
            node_id: row.node_id.to_string(),
            kind: match row.kind {
                ARTIFACT => NodeKind::Artifact,
                DATASET => NodeKind::Dataset,
                _ => NodeKind::Unspecified,
            } as i32,
            tenant: row.tenant,
            name: row.name,
            namespace: row.namespace,
            media_type: row.media_type,
            sha256: row.sha256,
            size_bytes: row.size_bytes.max(0) as u64,
            producer_id: row.producer_id.map(|producer| producer.to_string()).unwrap_or_default(),
            depth: 0,
            expired: row.expired,
            appeared_at: timestamp(Some(row.appeared_at)),
            appeared_sequence: row.appeared_seq.max(0) as u64,
            expired_at: timestamp(row.expired_at),
        }
    }
}

impl ProducerRow {
    fn message(self, producer_id: Uuid) -> pb::Producer {
        pb::Producer {
            producer_id: producer_id.to_string(),
            kind: match self.p_kind {
                STEP => ProducerKind::Step,
                OPENLINEAGE_RUN => ProducerKind::OpenLineageRun,
                _ => ProducerKind::Unspecified,
            } as i32,
            tenant: self.p_tenant,
            run_id: self.p_run_id,
            step_id: self.p_step_id,
            agent: self.p_agent,
            agent_version: self.p_agent_version,
            job_namespace: self.p_job_namespace,
            job_name: self.p_job_name,
            state: self.p_state.unwrap_or_default(),
            appeared_at: timestamp(self.p_appeared_at),
            appeared_sequence: self.p_appeared_seq.max(0) as u64,
        }
    }
}

/// Returns the producers of `ids` with their state as of `as_of`.
pub(crate) async fn producers(pool: &PgPool, ids: &[Uuid], as_of: i64) -> sqlx::Result<Vec<pb::Producer>> {
    let rows: Vec<ProducerRow> = sqlx::query_as(concat!(
        "SELECT ",
        producer_columns!("$2", "$3"),
        " FROM producers p WHERE p.producer_id = ANY($1) AND p.appeared_seq <= $2"
    ))
    .bind(ids)
    .bind(as_of)
    .bind(OPENLINEAGE_RUN)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().filter_map(|row| row.p_producer_id.map(|producer| row.message(producer))).collect())
}

/// Returns the producers of a run (its steps, or the OpenLineage run of that runId).
pub(crate) async fn run_producers(pool: &PgPool, tenant: &str, run_id: &str, as_of: i64) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar("SELECT producer_id FROM producers WHERE tenant = $1 AND run_id = $2 AND appeared_seq <= $3")
        .bind(tenant)
        .bind(run_id)
        .bind(as_of)
        .fetch_all(pool)
        .await
}

/// Returns what `producers` made: (node, producer).
pub(crate) async fn outputs_of(pool: &PgPool, producers: &[Uuid], as_of: i64) -> sqlx::Result<Vec<(Uuid, Uuid)>> {
    sqlx::query_as("SELECT node_id, producer_id FROM nodes WHERE producer_id = ANY($1) AND appeared_seq <= $2")
        .bind(producers)
        .bind(as_of)
        .fetch_all(pool)
        .await
}

/// Returns the inputs of `outputs`: (input, output).
pub(crate) async fn inputs_of(pool: &PgPool, outputs: &[Uuid], as_of: i64) -> sqlx::Result<Vec<(Uuid, Uuid)>> {
    sqlx::query_as("SELECT input_id, output_id FROM edges WHERE output_id = ANY($1) AND seq <= $2")
        .bind(outputs)
        .bind(as_of)
        .fetch_all(pool)
        .await
}
