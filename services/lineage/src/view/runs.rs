//! OpenLineage run events applied to the graph, one at a time in log
//! order: the run (a producer), its state, the datasets it declared; its
//! first terminal event makes its outputs new dataset versions fed by the
//! versions of its inputs that existed before.

use super::{DATASET, OPENLINEAGE_RUN};
use crate::ids;
use crate::openlineage::{event_type_word, is_terminal};
use gantry_eventlog::RecordedEvent;
use gantry_proto::events::OpenLineageRunEvent;
use sqlx::PgConnection;
use uuid::Uuid;

/// Directions of a declared dataset.
const INPUT: i16 = 1;
const OUTPUT: i16 = 2;

/// Records an OpenLineage run event: its run, its state, the datasets it
/// declared; a run's first terminal event (COMPLETE, FAIL, ABORT) turns
/// its declared datasets into dataset versions and edges.
pub(super) async fn apply_openlineage(
    connection: &mut PgConnection,
    event: &RecordedEvent,
    run: &OpenLineageRunEvent,
) -> anyhow::Result<()> {
    if run.tenant.is_empty() || run.run_id.is_empty() {
        tracing::warn!(sequence = event.sequence, "openlineage event without tenant or run skipped");
        return Ok(());
    }
    let producer = ids::openlineage_run(&run.tenant, &run.run_id);
    let (sequence, at) = (event.sequence as i64, event.occurred_seconds());
    sqlx::query(
        "INSERT INTO producers (producer_id, kind, tenant, run_id, job_namespace, job_name, appeared_seq, appeared_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, to_timestamp($8)) ON CONFLICT (producer_id) DO NOTHING",
    )
    .bind(producer)
    .bind(OPENLINEAGE_RUN)
    .bind(&run.tenant)
    .bind(&run.run_id)
    .bind(&run.job_namespace)
    .bind(&run.job_name)
    .bind(sequence)
    .bind(at)
    .execute(&mut *connection)
    .await?;
    let event_time = run.event_time.map_or(at, |time| time.seconds as f64 + f64::from(time.nanos) / 1e9);
    sqlx::query(
        "INSERT INTO producer_states (producer_id, seq, state, at) VALUES ($1, $2, $3, to_timestamp($4))
         ON CONFLICT DO NOTHING",
    )
    .bind(producer)
    .bind(sequence)
    .bind(event_type_word(run.event_type))
    .bind(event_time)
    .execute(&mut *connection)
    .await?;
    let declared =
        run.inputs.iter().map(|dataset| (INPUT, dataset)).chain(run.outputs.iter().map(|dataset| (OUTPUT, dataset)));
    let (directions, namespaces, names): (Vec<i16>, Vec<String>, Vec<String>) = declared
        .map(|(direction, dataset)| (direction, dataset.namespace.clone(), dataset.name.clone()))
        .fold(Default::default(), |(mut directions, mut namespaces, mut names), (direction, namespace, name)| {
            directions.push(direction);
            namespaces.push(namespace);
            names.push(name);
            (directions, namespaces, names)
        });
    sqlx::query(
        "INSERT INTO declared_datasets (producer_id, direction, namespace, name, seq)
         SELECT $1, u.direction, u.namespace, u.name, $5
         FROM UNNEST($2::int2[], $3::text[], $4::text[]) AS u(direction, namespace, name)
         ON CONFLICT DO NOTHING",
    )
    .bind(producer)
    .bind(&directions)
    .bind(&namespaces)
    .bind(&names)
    .bind(sequence)
    .execute(&mut *connection)
    .await?;
    if !is_terminal(run.event_type) {
        return Ok(());
    }
    let finished =
        sqlx::query("UPDATE producers SET finished_seq = $2 WHERE producer_id = $1 AND finished_seq IS NULL")
            .bind(producer)
            .bind(sequence)
            .execute(&mut *connection)
            .await?;
    if finished.rows_affected() == 1 {
        finish_run(connection, &run.tenant, producer, sequence, at).await?;
    }
    Ok(())
}

/// Makes a finished run's outputs new dataset versions, each fed by the
/// latest version of every input that existed before (or a source version
/// for an input no known run wrote).
async fn finish_run(
    connection: &mut PgConnection,
    tenant: &str,
    producer: Uuid,
    sequence: i64,
    at: f64,
) -> anyhow::Result<()> {
    let declared: Vec<(i16, String, String)> =
        sqlx::query_as("SELECT direction, namespace, name FROM declared_datasets WHERE producer_id = $1")
            .bind(producer)
            .fetch_all(&mut *connection)
            .await?;
    let (inputs, outputs): (Vec<_>, Vec<_>) = declared.into_iter().partition(|(direction, ..)| *direction == INPUT);
    let (input_namespaces, input_names): (Vec<String>, Vec<String>) =
        inputs.into_iter().map(|(_, namespace, name)| (namespace, name)).unzip();
    let resolved: Vec<(String, String, Option<Uuid>)> = sqlx::query_as(
        "SELECT u.namespace, u.name, v.node_id
         FROM UNNEST($2::text[], $3::text[]) AS u(namespace, name)
         LEFT JOIN LATERAL (SELECT node_id FROM nodes
                            WHERE kind = $5 AND tenant = $1 AND namespace = u.namespace AND name = u.name
                              AND appeared_seq < $4
                            ORDER BY appeared_seq DESC LIMIT 1) v ON true",
    )
    .bind(tenant)
    .bind(&input_namespaces)
    .bind(&input_names)
    .bind(sequence)
    .bind(DATASET)
    .fetch_all(&mut *connection)
    .await?;
    let mut versions = Vec::new();
    let mut input_ids = Vec::new();
    for (namespace, name, found) in resolved {
        let id = found.unwrap_or_else(|| ids::dataset_source(tenant, &namespace, &name));
        if found.is_none() {
            versions.push((id, namespace, name, None));
        }
        input_ids.push(id);
    }
    let mut output_ids = Vec::new();
    for (_, namespace, name) in outputs {
        let id = ids::dataset_version(tenant, producer, &namespace, &name);
        output_ids.push(id);
        versions.push((id, namespace, name, Some(producer)));
    }
    for (id, namespace, name, made_by) in versions {
        sqlx::query(
            "INSERT INTO nodes (node_id, kind, tenant, name, namespace, producer_id, appeared_seq, appeared_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, to_timestamp($8)) ON CONFLICT (node_id) DO NOTHING",
        )
        .bind(id)
        .bind(DATASET)
        .bind(tenant)
        .bind(&name)
        .bind(&namespace)
        .bind(made_by)
        .bind(sequence)
        .bind(at)
        .execute(&mut *connection)
        .await?;
    }
    let pairs: (Vec<Uuid>, Vec<Uuid>) =
        input_ids.iter().flat_map(|input| output_ids.iter().map(move |output| (*input, *output))).unzip();
    sqlx::query(
        "INSERT INTO edges (input_id, output_id, seq) SELECT u.input, u.output, $3
         FROM UNNEST($1::uuid[], $2::uuid[]) AS u(input, output) ON CONFLICT DO NOTHING",
    )
    .bind(&pairs.0)
    .bind(&pairs.1)
    .bind(sequence)
    .execute(connection)
    .await?;
    Ok(())
}
