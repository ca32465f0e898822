//! Reads of the graph view, every one as of a stream sequence: the walk
//! (breadth first in one statement, `lineage_walk` of migration 0002: one
//! index-only scan of the edges per generation, each node visited once,
//! stopped at a node cap), node and producer details,
//! a run's producers and their inputs and outputs, and the mapping of a
//! time to the last sequence applied by then.

use crate::view::{ARTIFACT, DATASET, OPENLINEAGE_RUN, STEP};
use gantry_proto::lineage::{self as pb, NodeKind, ProducerKind};
use sqlx::PgPool;
use std::collections::HashSet;
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
}

/// What a walk visited.
#[derive(Debug, Default)]
pub(crate) struct Walked {
    /// Every node, in the order visited, with its generation.
    pub(crate) nodes: Vec<(Uuid, u32)>,
    /// Every edge the walk crossed between visited nodes: (input, output).
    pub(crate) edges: Vec<(Uuid, Uuid)>,
    /// The walk stopped at `max_nodes` with more to visit.
    pub(crate) truncated: bool,
}

/// Walks from `root` generation by generation (`lineage_walk`, one
/// statement that also returns the edges it crossed).
pub(crate) async fn walk(pool: &PgPool, root: Uuid, walk: Walk) -> sqlx::Result<Walked> {
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
    let mut walked = Walked::default();
    let mut crossed = Vec::new();
    for (node, generation, input, output) in rows {
        match (node, input, output) {
            (Some(node), _, _) => walked.nodes.push((node, generation.max(0) as u32)),
            (None, Some(input), Some(output)) => crossed.push((input, output)),
            _ => walked.truncated = true,
        }
    }
    // An edge to a node the cap cut off is not part of the answer.
    let visited: HashSet<Uuid> = walked.nodes.iter().map(|(id, _)| *id).collect();
    walked.edges =
        crossed.into_iter().filter(|(input, output)| visited.contains(input) && visited.contains(output)).collect();
    Ok(walked)
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

type NodeRow = (Uuid, i16, String, String, String, String, String, i64, Option<Uuid>, f64, i64, bool, Option<f64>);

/// Returns the nodes of `ids` as of `as_of` (depth 0; the caller sets it).
pub(crate) async fn nodes(pool: &PgPool, ids: &[Uuid], as_of: i64) -> sqlx::Result<Vec<pb::Node>> {
    let rows: Vec<NodeRow> = sqlx::query_as(
        "SELECT node_id, kind, tenant, name, namespace, media_type, sha256, size_bytes, producer_id,
                extract(epoch FROM appeared_at)::float8, appeared_seq,
                coalesce(expired_seq <= $2, false),
                CASE WHEN expired_seq <= $2 THEN extract(epoch FROM expired_at)::float8 END
         FROM nodes WHERE node_id = ANY($1) AND appeared_seq <= $2",
    )
    .bind(ids)
    .bind(as_of)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(node_message).collect())
}

fn node_message(row: NodeRow) -> pb::Node {
    let (
        id,
        kind,
        tenant,
        name,
        namespace,
        media_type,
        sha256,
        size,
        producer,
        appeared_at,
        appeared_seq,
        expired,
        expired_at,
    ) = row;
    pb::Node {
        node_id: id.to_string(),
        kind: match kind {
            ARTIFACT => NodeKind::Artifact,
            DATASET => NodeKind::Dataset,
            _ => NodeKind::Unspecified,
        } as i32,
        tenant,
        name,
        namespace,
        media_type,
        sha256,
        size_bytes: size.max(0) as u64,
        producer_id: producer.map(|producer| producer.to_string()).unwrap_or_default(),
        depth: 0,
        expired,
        appeared_at: timestamp(Some(appeared_at)),
        appeared_sequence: appeared_seq.max(0) as u64,
        expired_at: timestamp(expired_at),
    }
}

type ProducerRow = (Uuid, i16, String, String, String, String, String, String, String, Option<String>, f64, i64);

/// Returns the producers of `ids` with their state as of `as_of`.
pub(crate) async fn producers(pool: &PgPool, ids: &[Uuid], as_of: i64) -> sqlx::Result<Vec<pb::Producer>> {
    let rows: Vec<ProducerRow> = sqlx::query_as(
        "SELECT p.producer_id, p.kind, p.tenant, p.run_id, p.step_id, p.agent, p.agent_version, p.job_namespace,
                p.job_name,
                CASE WHEN p.kind = $3 THEN
                    (SELECT s.state FROM producer_states s WHERE s.producer_id = p.producer_id AND s.seq <= $2
                     ORDER BY s.seq DESC LIMIT 1)
                END,
                extract(epoch FROM p.appeared_at)::float8, p.appeared_seq
         FROM unnest($1::uuid[]) AS wanted(id) JOIN producers p ON p.producer_id = wanted.id
         WHERE p.appeared_seq <= $2 ORDER BY p.appeared_seq",
    )
    .bind(ids)
    .bind(as_of)
    .bind(OPENLINEAGE_RUN)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, kind, tenant, run_id, step_id, agent, agent_version, job_namespace, job_name, state, at, seq)| {
            pb::Producer {
                producer_id: id.to_string(),
                kind: match kind {
                    STEP => ProducerKind::Step,
                    OPENLINEAGE_RUN => ProducerKind::OpenLineageRun,
                    _ => ProducerKind::Unspecified,
                } as i32,
                tenant,
                run_id,
                step_id,
                agent,
                agent_version,
                job_namespace,
                job_name,
                state: state.unwrap_or_default(),
                appeared_at: timestamp(Some(at)),
                appeared_sequence: seq.max(0) as u64,
            }
        })
        .collect())
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
