//! `gantry events watch`: the event stream as readable lines and as JSON
//! lines, from a sequence, filtered.

use crate::helpers::spawn_with_console;

#[tokio::test]
async fn events_watch_prints_lines_and_json_lines_from_a_sequence() {
    let app = spawn_with_console().await;
    let prod = app.unique("ledger").replace('-', "_");
    let dev = app.unique("scratch").replace('-', "_");
    let prod_request = app.submit(&prod, "prod").await;
    app.submit(&dev, "dev").await;

    let json = app.gantry(Some("carol"), &["--output", "json", "events", "watch", "--from", "1", "--limit", "6"]).await;
    assert_eq!(json.code, Some(0), "{json:?}");
    let events: Vec<serde_json::Value> =
        json.stdout.lines().map(|line| serde_json::from_str(line).expect("one JSON object per line")).collect();
    assert_eq!(events.len(), 6, "{json:?}");
    let sequences: Vec<u64> = events.iter().map(|event| event["sequence"].as_u64().unwrap()).collect();
    assert!(sequences.windows(2).all(|pair| pair[0] < pair[1]), "in log order: {sequences:?}");
    let requested: Vec<&serde_json::Value> =
        events.iter().filter(|event| event["envelope"]["event_type"] == "intake.database_requested.v1").collect();
    assert_eq!(requested.len(), 2, "{json:?}");
    assert_eq!(requested[0]["envelope"]["aggregate_id"], prod_request["request_id"]);
    assert_eq!(requested[0]["envelope"]["database_requested"]["spec"]["database_name"], prod.as_str());

    let args = ["events", "watch", "--from", "1", "--type", "intake.database_requested.v1", "--environment", "prod"];
    let lines = app.gantry(Some("alice"), &[&args[..], &["--limit", "1"]].concat()).await;
    assert_eq!(lines.code, Some(0), "{lines:?}");
    let line = lines.stdout.lines().next().unwrap();
    assert!(line.contains("intake.database_requested.v1"), "{line}");
    assert!(line.contains(&format!("request/{}", prod_request["request_id"].as_str().unwrap())), "{line}");
    assert!(line.contains("  prod  "), "{line}");

    let bad = app.gantry(Some("alice"), &["events", "watch", "--environment", "moon", "--limit", "1"]).await;
    assert_ne!(bad.code, Some(0));
    assert!(bad.stderr.contains("INVALID_ARGUMENT") || bad.stderr.contains("environments"), "{bad:?}");
    app.cleanup().await;
}
