//! `gantry lineage ...` against a real ingest and lineage: artifacts pushed
//! with the CLI, then their lineage as a table, JSON, Mermaid, DOT, an
//! impact and an OpenLineage export.

use crate::helpers::{TestApp, spawn_with_lineage};

/// Pushes `name` (made from `inputs`, stored by `after`) for team-ml's
/// run-42 step `step`; returns its id and write sequence.
async fn push(app: &TestApp, name: &str, step: &str, inputs: &[&str], after: &str) -> (String, String) {
    let file = app.directory().join(name);
    std::fs::write(&file, name.as_bytes()).unwrap();
    let mut args = vec!["--output", "json", "artifact", "push", file.to_str().unwrap()];
    args.extend(["--tenant", "team-ml", "--run", "run-42", "--step", step, "--min-sequence", after]);
    for input in inputs {
        args.extend(["--input", input]);
    }
    let run = app.gantry(Some("agent"), &args).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let stored = run.json();
    (stored["artifact_id"].as_str().unwrap().to_owned(), stored["write_sequence"].to_string())
}

#[tokio::test]
async fn lineage_prints_tables_json_pictures_impact_and_openlineage() {
    let app = spawn_with_lineage().await;
    let (raw, stored) = push(&app, "raw.csv", "extract", &[], "0").await;
    let (report, sequence) = push(&app, "report.html", "evaluate", &[&raw], &stored).await;

    let json = app
        .gantry(Some("agent"), &["--output", "json", "lineage", "upstream", &report, "--min-sequence", &sequence])
        .await;
    assert_eq!(json.code, Some(0), "{json:?}");
    let graph = json.json();
    assert_eq!(graph["nodes"].as_array().unwrap().len(), 2, "{graph}");
    assert_eq!(graph["nodes"][1]["node_id"], raw.as_str());
    assert_eq!(graph["nodes"][1]["depth"], 1);

    let table = app.gantry(Some("agent"), &["lineage", "downstream", &raw]).await;
    assert!(table.stdout.contains("report.html") && table.stdout.contains("run-42 / evaluate"), "{table:?}");

    let mermaid = app.gantry(Some("agent"), &["lineage", "show", &report, "--format", "mermaid"]).await;
    assert_eq!(mermaid.code, Some(0), "{mermaid:?}");
    assert!(mermaid.stdout.starts_with("flowchart LR\n"), "{mermaid:?}");
    // Producers are listed in the order they appeared: p0 extract, p1 evaluate.
    for arrow in ["p0 --> n1", "n1 --> p1", "p1 --> n0"] {
        assert!(mermaid.stdout.contains(arrow), "{arrow}: {mermaid:?}");
    }
    assert!(mermaid.stdout.contains("run-42 / evaluate") && mermaid.stdout.contains("class n0 root"), "{mermaid:?}");

    let dot = app.gantry(Some("agent"), &["lineage", "show", &report, "--format", "dot"]).await;
    assert!(dot.stdout.starts_with("digraph lineage {") && dot.stdout.contains("n1 -> p1;"), "{dot:?}");

    let impact = app.gantry(Some("agent"), &["lineage", "impact", &raw]).await;
    assert!(impact.stdout.contains("runs to re-run") && impact.stdout.contains("evaluate"), "{impact:?}");

    let export = app.gantry(Some("agent"), &["lineage", "export", &report]).await;
    let events: Vec<serde_json::Value> =
        export.stdout.lines().map(|line| serde_json::from_str(line).expect("one JSON event a line")).collect();
    assert_eq!(events.len(), 2, "{export:?}");
    assert!(events.iter().all(|event| event["eventType"] == "COMPLETE"));

    let foreign = app.gantry(Some("alice"), &["lineage", "upstream", &report]).await;
    assert!(foreign.stderr.contains("NOT_FOUND"), "another tenant sees nothing: {foreign:?}");
    app.cleanup().await;
}
