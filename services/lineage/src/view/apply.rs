//! Applying a batch of events to the graph: artifact events are gathered
//! and written with one statement per table (UNNEST of arrays), so a
//! backlog is caught up at bulk-insert speed; an OpenLineage event is
//! applied on its own, in log order (`runs`), since its inputs resolve to
//! the dataset versions that exist when its run ends.

use super::{ARTIFACT, STEP};
use crate::ids;
use gantry_eventlog::RecordedEvent;
use gantry_proto::events::envelope::Payload;
use gantry_proto::events::{ArtifactExpired, ArtifactStored};
use sqlx::PgConnection;
use std::collections::HashSet;
use uuid::Uuid;

/// Applies `events` (ascending sequence) in the runner's transaction.
pub(super) async fn apply(connection: &mut PgConnection, events: &[RecordedEvent]) -> anyhow::Result<()> {
    let mut artifacts = ArtifactRows::default();
    let mut applied = Vec::new();
    for event in events {
        match event.payload() {
            Some(Payload::ArtifactStored(stored)) => artifacts.stored(event, stored),
            Some(Payload::ArtifactExpired(expired)) => artifacts.expired(event, expired),
            Some(Payload::OpenLineageRunEvent(run)) => {
                artifacts.write(connection).await?;
                super::runs::apply_openlineage(connection, event, run).await?;
            }
            _ => continue,
        }
        applied.push((event.sequence as i64, event.occurred_seconds()));
    }
    artifacts.write(connection).await?;
    record_applied(connection, &applied).await
}

/// Records the applied sequences with their time made monotonic (never
/// before the last one recorded), so a time maps to one last sequence.
async fn record_applied(connection: &mut PgConnection, applied: &[(i64, f64)]) -> anyhow::Result<()> {
    if applied.is_empty() {
        return Ok(());
    }
    let mut floor: f64 = sqlx::query_scalar("SELECT coalesce(extract(epoch FROM max(at))::float8, 0) FROM applied")
        .fetch_one(&mut *connection)
        .await?;
    let (mut sequences, mut times) = (Vec::with_capacity(applied.len()), Vec::with_capacity(applied.len()));
    for (sequence, at) in applied {
        floor = floor.max(*at);
        sequences.push(*sequence);
        times.push(floor);
    }
    sqlx::query(
        "INSERT INTO applied (seq, at) SELECT u.seq, to_timestamp(u.at) FROM UNNEST($1::int8[], $2::float8[]) AS u(seq, at)
         ON CONFLICT (seq) DO NOTHING",
    )
    .bind(&sequences)
    .bind(&times)
    .execute(connection)
    .await?;
    Ok(())
}

/// The rows a run of artifact events writes, column by column.
#[derive(Default)]
struct ArtifactRows {
    producers: HashSet<Uuid>,
    producer_columns: ProducerColumns,
    nodes: NodeColumns,
    edges: EdgeColumns,
    expired: HashSet<Uuid>,
    expiries: (Vec<Uuid>, Vec<i64>, Vec<f64>),
}

#[derive(Default)]
struct ProducerColumns {
    ids: Vec<Uuid>,
    tenants: Vec<String>,
    runs: Vec<String>,
    steps: Vec<String>,
    agents: Vec<String>,
    versions: Vec<String>,
    sequences: Vec<i64>,
    times: Vec<f64>,
}

#[derive(Default)]
struct NodeColumns {
    ids: Vec<Uuid>,
    tenants: Vec<String>,
    names: Vec<String>,
    media_types: Vec<String>,
    sha256s: Vec<String>,
    sizes: Vec<i64>,
    producers: Vec<Uuid>,
    sequences: Vec<i64>,
    times: Vec<f64>,
}

#[derive(Default)]
struct EdgeColumns {
    inputs: Vec<Uuid>,
    outputs: Vec<Uuid>,
    sequences: Vec<i64>,
    tenants: Vec<String>,
}

impl ArtifactRows {
    fn stored(&mut self, event: &RecordedEvent, stored: &ArtifactStored) {
        let Ok(id) = Uuid::try_parse(&stored.artifact_id) else {
            tracing::warn!(sequence = event.sequence, "artifact event without an artifact id skipped");
            return;
        };
        let (sequence, at) = (event.sequence as i64, event.occurred_seconds());
        let producer = ids::step(&stored.tenant, &stored.run_id, &stored.step_id);
        if self.producers.insert(producer) {
            let columns = &mut self.producer_columns;
            columns.ids.push(producer);
            columns.tenants.push(stored.tenant.clone());
            columns.runs.push(stored.run_id.clone());
            columns.steps.push(stored.step_id.clone());
            columns.agents.push(stored.agent.clone());
            columns.versions.push(stored.agent_version.clone());
            columns.sequences.push(sequence);
            columns.times.push(at);
        }
        let nodes = &mut self.nodes;
        nodes.ids.push(id);
        nodes.tenants.push(stored.tenant.clone());
        nodes.names.push(stored.name.clone());
        nodes.media_types.push(stored.media_type.clone());
        nodes.sha256s.push(stored.sha256.clone());
        nodes.sizes.push(stored.size_bytes.min(i64::MAX as u64) as i64);
        nodes.producers.push(producer);
        nodes.sequences.push(sequence);
        nodes.times.push(at);
        for input in stored.input_artifact_ids.iter().filter_map(|input| Uuid::try_parse(input).ok()) {
            self.edges.inputs.push(input);
            self.edges.outputs.push(id);
            self.edges.sequences.push(sequence);
            self.edges.tenants.push(stored.tenant.clone());
        }
    }

    fn expired(&mut self, event: &RecordedEvent, expired: &ArtifactExpired) {
        let Ok(id) = Uuid::try_parse(&expired.artifact_id) else { return };
        if self.expired.insert(id) {
            self.expiries.0.push(id);
            self.expiries.1.push(event.sequence as i64);
            self.expiries.2.push(event.occurred_seconds());
        }
    }

    /// Writes what was gathered (producers, nodes, edges, expiries, in
    /// that order) and starts over.
    async fn write(&mut self, connection: &mut PgConnection) -> anyhow::Result<()> {
        let rows = std::mem::take(self);
        let producers = &rows.producer_columns;
        if !producers.ids.is_empty() {
            sqlx::query(
                "INSERT INTO producers (producer_id, kind, tenant, run_id, step_id, agent, agent_version, appeared_seq,
                                        appeared_at)
                 SELECT u.id, $9, u.tenant, u.run, u.step, u.agent, u.version, u.seq, to_timestamp(u.at)
                 FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int8[],
                             $8::float8[]) AS u(id, tenant, run, step, agent, version, seq, at)
                 ON CONFLICT (producer_id) DO NOTHING",
            )
            .bind(&producers.ids)
            .bind(&producers.tenants)
            .bind(&producers.runs)
            .bind(&producers.steps)
            .bind(&producers.agents)
            .bind(&producers.versions)
            .bind(&producers.sequences)
            .bind(&producers.times)
            .bind(STEP)
            .execute(&mut *connection)
            .await?;
        }
        let nodes = &rows.nodes;
        if !nodes.ids.is_empty() {
            sqlx::query(
                "INSERT INTO nodes (node_id, kind, tenant, name, media_type, sha256, size_bytes, producer_id,
                                    appeared_seq, appeared_at)
                 SELECT u.id, $10, u.tenant, u.name, u.media_type, u.sha256, u.size, u.producer, u.seq,
                        to_timestamp(u.at)
                 FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::uuid[],
                             $8::int8[], $9::float8[]) AS u(id, tenant, name, media_type, sha256, size, producer, seq, at)
                 ON CONFLICT (node_id) DO NOTHING",
            )
            .bind(&nodes.ids)
            .bind(&nodes.tenants)
            .bind(&nodes.names)
            .bind(&nodes.media_types)
            .bind(&nodes.sha256s)
            .bind(&nodes.sizes)
            .bind(&nodes.producers)
            .bind(&nodes.sequences)
            .bind(&nodes.times)
            .bind(ARTIFACT)
            .execute(&mut *connection)
            .await?;
        }
        let edges = &rows.edges;
        if !edges.inputs.is_empty() {
            // Only an input that appeared before its output, in the same
            // tenant, and only from the event that made the output.
            sqlx::query(
                "INSERT INTO edges (input_id, output_id, seq)
                 SELECT u.input, u.output, u.seq
                 FROM UNNEST($1::uuid[], $2::uuid[], $3::int8[], $4::text[]) AS u(input, output, seq, tenant)
                 JOIN nodes i ON i.node_id = u.input AND i.appeared_seq < u.seq AND i.tenant = u.tenant
                 JOIN nodes o ON o.node_id = u.output AND o.appeared_seq = u.seq
                 ON CONFLICT DO NOTHING",
            )
            .bind(&edges.inputs)
            .bind(&edges.outputs)
            .bind(&edges.sequences)
            .bind(&edges.tenants)
            .execute(&mut *connection)
            .await?;
        }
        let (ids, sequences, times) = &rows.expiries;
        if !ids.is_empty() {
            sqlx::query(
                "UPDATE nodes n SET expired_seq = u.seq, expired_at = to_timestamp(u.at)
                 FROM UNNEST($1::uuid[], $2::int8[], $3::float8[]) AS u(id, seq, at)
                 WHERE n.node_id = u.id AND n.expired_seq IS NULL AND n.appeared_seq < u.seq",
            )
            .bind(ids)
            .bind(sequences)
            .bind(times)
            .execute(&mut *connection)
            .await?;
        }
        Ok(())
    }
}
