//! OpenLineage export: one run event per producer of a query's graph,
//! each valid against the official OpenLineage schema (vendored under
//! `tests/fixtures/openlineage`, checked with Python's `jsonschema`, which
//! the repository's `.venv` has for the Kubernetes checks).

use crate::helpers::{Artifact, Harness, walk};
use crate::openlineage::{run_event, send};
use gantry_proto::lineage::{self as pb, export_open_lineage_request::Query};
use serde_json::Value;
use std::path::PathBuf;
use uuid::Uuid;

/// The Python with `jsonschema`: `GANTRY_PYTHON`, else the repository's
/// `.venv`, else `python3`.
fn python() -> PathBuf {
    if let Some(python) = std::env::var_os("GANTRY_PYTHON") {
        return python.into();
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    if venv.exists() { venv } else { PathBuf::from("python3") }
}

const VALIDATE: &str = r#"
import json, sys
from jsonschema import Draft202012Validator
schema = json.load(open(sys.argv[1]))
validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
failed = 0
def leaves(error):
    if not error.context:
        yield error
    for inner in error.context:
        yield from leaves(inner)
for number, line in enumerate(open(sys.argv[2])):
    for error in validator.iter_errors(json.loads(line)):
        failed += 1
        # The schema is a oneOf of event kinds: print the innermost reasons.
        for leaf in leaves(error):
            print(f"event {number}: {leaf.json_path}: {leaf.message}")
sys.exit(1 if failed else 0)
"#;

/// Validates each event against the vendored schema; panics with every error.
fn assert_valid_openlineage(events: &[String]) {
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/openlineage");
    let directory = tempfile::tempdir().unwrap();
    let lines = directory.path().join("events.jsonl");
    std::fs::write(&lines, events.join("\n")).unwrap();
    let output = std::process::Command::new(python())
        .args(["-c", VALIDATE])
        .arg(fixtures.join("OpenLineage.json"))
        .arg(&lines)
        .output()
        .expect("python runs (set GANTRY_PYTHON to a Python with jsonschema)");
    assert!(
        output.status.success(),
        "not valid OpenLineage:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_validator_refuses_an_invalid_event() {
    let invalid = r#"{"eventType":"DONE","eventTime":"yesterday","producer":"x","schemaURL":"y","run":{"runId":"1"},"job":{"name":"j"}}"#;
    let result = std::panic::catch_unwind(|| assert_valid_openlineage(&[invalid.to_owned()]));
    let message = *result.expect_err("an invalid event fails").downcast::<String>().unwrap();
    for path in ["eventType", "eventTime", "runId", "namespace"] {
        assert!(message.contains(path), "{path} not reported: {message}");
    }
}

#[tokio::test]
async fn exports_are_one_valid_openlineage_run_event_per_producer() {
    let harness = Harness::start().await;
    let (raw, _) = harness.store(Artifact::acme("run-1", "extract", "raw.csv", &[])).await;
    let (model, _) = harness.store(Artifact::acme("run-1", "train", "model.bin", &[raw])).await;
    let (report, last) = harness.store(Artifact::acme("run-2", "evaluate", "report.html", &[model, raw])).await;
    let mut client = harness.client("agent").await;
    let external = Uuid::now_v7();
    let event = run_event("COMPLETE", external, "load", &[("pg", "orders")], &[("s3://lake", "orders")]);
    let sequence = send(&mut client, &event).await.max(last);

    let upstream = pb::ExportOpenLineageRequest { query: Some(Query::Upstream(walk(report, sequence))) };
    let exported = client.export_open_lineage(upstream).await.unwrap().into_inner();
    assert_eq!(exported.run_events.len(), 3, "extract, train and evaluate");
    assert_valid_openlineage(&exported.run_events);
    let events: Vec<Value> = exported.run_events.iter().map(|text| serde_json::from_str(text).unwrap()).collect();
    let evaluate = events.iter().find(|event| event["job"]["name"] == "evaluate").unwrap();
    let mut inputs: Vec<&str> =
        evaluate["inputs"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
    inputs.sort();
    let mut expected = [model.to_string(), raw.to_string()];
    expected.sort();
    assert_eq!(inputs, expected);
    assert_eq!(evaluate["outputs"][0]["name"], report.to_string());
    assert_eq!(evaluate["job"]["namespace"], "gantry://acme");
    assert_eq!(evaluate["run"]["facets"]["parent"]["job"]["name"], "run-2");

    let run = pb::RunRequest { tenant: "acme".into(), run_id: external.to_string(), as_of: None, min_sequence: 0 };
    let exported = client.export_open_lineage(pb::ExportOpenLineageRequest { query: Some(Query::Run(run)) }).await;
    let events = exported.unwrap().into_inner().run_events;
    assert_valid_openlineage(&events);
    let event: Value = serde_json::from_str(&events[0]).unwrap();
    assert_eq!(event["run"]["runId"], external.to_string());
    assert_eq!(event["eventType"], "COMPLETE");
    assert_eq!(event["inputs"][0], serde_json::json!({"namespace": "pg", "name": "orders"}));
    assert_eq!(event["outputs"][0], serde_json::json!({"namespace": "s3://lake", "name": "orders"}));
    harness.stop().await;
}
