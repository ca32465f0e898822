//! OpenLineage run events from outside: recorded on the log, in the graph
//! as dataset versions once a run ends, a rewrite of a dataset it read
//! making a new version (never a cycle); bad events refused with field
//! errors and not stored.

use crate::helpers::{Client, Harness, expect, ids_of, violated_fields, walk};
use gantry_lineage::ids;
use gantry_proto::lineage as pb;
use serde_json::{Value, json};
use tonic::Code;
use uuid::Uuid;

/// An OpenLineage RunEvent of job `etl.<job>` reading and writing
/// datasets given as (namespace, name).
pub(crate) fn run_event(
    event_type: &str,
    run_id: Uuid,
    job: &str,
    inputs: &[(&str, &str)],
    outputs: &[(&str, &str)],
) -> Value {
    let datasets = |list: &[(&str, &str)]| -> Vec<Value> {
        list.iter().map(|(namespace, name)| json!({"namespace": namespace, "name": name, "facets": {}})).collect()
    };
    json!({
        "eventType": event_type,
        "eventTime": "2025-03-01T10:15:00Z",
        "producer": "https://github.com/OpenLineage/OpenLineage/tree/1.0.0/client/python",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": run_id.to_string()},
        "job": {"namespace": "airflow", "name": format!("etl.{job}")},
        "inputs": datasets(inputs),
        "outputs": datasets(outputs),
    })
}

/// Sends an event for acme and returns its sequence.
pub(crate) async fn send(client: &mut Client, event: &Value) -> u64 {
    let request = pb::IngestOpenLineageRequest { tenant: "acme".into(), event_json: event.to_string() };
    client.ingest_open_lineage(request).await.expect("recorded").into_inner().sequence
}

fn version(run: Uuid, namespace: &str, name: &str) -> Uuid {
    ids::dataset_version("acme", ids::openlineage_run("acme", &run.to_string()), namespace, name)
}

#[tokio::test]
async fn openlineage_runs_join_the_graph_when_they_end_and_rewrites_make_new_versions() {
    let harness = Harness::start().await;
    let mut client = harness.client("agent").await;
    let (load, report, rewrite) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let orders = ("postgres://db:5432", "shop.orders");
    let lake = ("s3://lake", "orders.parquet");

    let started = send(&mut client, &run_event("START", load, "load", &[orders], &[lake])).await;
    let run = pb::RunRequest { tenant: "acme".into(), run_id: load.to_string(), as_of: None, min_sequence: started };
    let going = client.run(run.clone()).await.unwrap().into_inner();
    assert!(going.nodes.is_empty(), "a running run's outputs are not in the graph yet");
    assert_eq!(going.producers.len(), 1);
    assert_eq!(going.producers[0].state, "START");

    let completed = send(&mut client, &run_event("COMPLETE", load, "load", &[], &[])).await;
    let done = client.run(pb::RunRequest { min_sequence: completed, ..run }).await.unwrap().into_inner();
    let source = ids::dataset_source("acme", orders.0, orders.1);
    let lake_v1 = version(load, lake.0, lake.1);
    assert_eq!(ids_of(&done), expect(&[(lake_v1, 0), (source, 1)]));
    assert_eq!(done.producers[0].state, "COMPLETE");
    assert_eq!(done.producers[0].job_name, "etl.load");

    send(&mut client, &run_event("START", report, "report", &[lake], &[("s3://lake", "report.csv")])).await;
    let reported = send(&mut client, &run_event("FAIL", report, "report", &[], &[])).await;
    // Reads and rewrites the dataset it read: a new version, fed by the old.
    let rewritten = send(&mut client, &run_event("COMPLETE", rewrite, "compact", &[lake], &[lake])).await;
    let lake_v2 = version(rewrite, lake.0, lake.1);
    let report_version = version(report, "s3://lake", "report.csv");

    let upstream = client.upstream(walk(lake_v2, rewritten)).await.unwrap().into_inner();
    assert_eq!(ids_of(&upstream), expect(&[(lake_v2, 0), (lake_v1, 1), (source, 2)]));
    let downstream = client.downstream(walk(source, 0)).await.unwrap().into_inner();
    assert_eq!(ids_of(&downstream), expect(&[(source, 0), (lake_v1, 1), (report_version, 2), (lake_v2, 2)]));
    let failed = downstream.producers.iter().find(|producer| producer.job_name == "etl.report").unwrap();
    assert_eq!(failed.state, "FAIL");
    assert!(reported < rewritten);
    harness.stop().await;
}

#[tokio::test]
async fn bad_openlineage_is_refused_with_field_errors_and_not_stored() {
    let harness = Harness::start().await;
    let mut client = harness.client("agent").await;
    let mut event = run_event("COMPLETE", Uuid::now_v7(), "load", &[("pg", "t")], &[]);
    event["eventType"] = json!("FINISHED");
    event["run"]["runId"] = json!("run-1");
    event["inputs"][0]["name"] = json!("");
    event["job"].as_object_mut().unwrap().remove("namespace");
    let request = pb::IngestOpenLineageRequest { tenant: "acme".into(), event_json: event.to_string() };
    let status = client.ingest_open_lineage(request).await.unwrap_err();
    assert_eq!(
        violated_fields(&status),
        ["event_json.eventType", "event_json.inputs[0].name", "event_json.job.namespace", "event_json.run.runId"]
    );
    let no_tenant = pb::IngestOpenLineageRequest { tenant: String::new(), event_json: "{}".into() };
    let fields = violated_fields(&client.ingest_open_lineage(no_tenant).await.unwrap_err());
    assert!(fields.contains(&"tenant".to_owned()) && fields.contains(&"event_json.run".to_owned()), "{fields:?}");

    let valid = run_event("COMPLETE", Uuid::now_v7(), "load", &[], &[("s3://x", "y")]).to_string();
    let mut other = harness.client("other").await;
    let foreign = pb::IngestOpenLineageRequest { tenant: "acme".into(), event_json: valid };
    assert_eq!(other.ingest_open_lineage(foreign).await.unwrap_err().code(), Code::PermissionDenied);

    let mut stream = harness.log.jetstream().get_stream(&harness.env.stream_name).await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, 0, "nothing refused was stored");
    harness.stop().await;
}
