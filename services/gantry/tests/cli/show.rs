//! `request show`, reads after writes, and the catalog as JSON.

use crate::helpers::spawn_app;

#[tokio::test(flavor = "multi_thread")]
async fn show_names_the_rule_that_approved_a_request_and_every_approval() {
    let app = spawn_app().await;
    let scratch = app.submit("scratch", "dev").await;
    let id = scratch["request_id"].as_str().unwrap();
    let written = scratch["sequence"].to_string();
    let shown = app.gantry(Some("alice"), &["request", "show", id, "--min-sequence", &written]).await;
    assert_eq!(shown.code, Some(0), "{shown:?}");
    for expected in ["status", "approved", "username", "scratch_user", "domain", "payments", "risk", "low", "created"] {
        assert!(shown.stdout.contains(expected), "{expected} missing: {}", shown.stdout);
    }
    let approved_by = shown.stdout.lines().find(|line| line.starts_with("approved by")).expect("approved by");
    assert!(approved_by.ends_with("rule dev-small-databases (on submission)"), "{}", shown.stdout);

    let orders = app.submit("orders", "prod").await;
    let id = orders["request_id"].as_str().unwrap();
    let written = orders["sequence"].to_string();
    let pending = app.gantry(Some("alice"), &["request", "show", id, "--min-sequence", &written]).await;
    assert!(pending.stdout.lines().any(|line| line.starts_with("approvals needed") && line.ends_with("databases-rds")));
    let approve = app.gantry(Some("bob"), &["--output", "json", "request", "approve", id, "--comment", "lgtm"]).await;
    assert_eq!(approve.code, Some(0), "{approve:?}");
    let written = approve.json()["sequence"].as_u64().unwrap();
    let shown = app
        .gantry(Some("alice"), &["--output", "json", "request", "show", id, "--min-sequence", &written.to_string()])
        .await;
    let shown = shown.json();
    assert_eq!(shown["status"], "approved");
    assert_eq!(shown["approvals"][0]["approver"], "bob");
    assert_eq!(shown["approvals"][0]["comment"], "lgtm");
    assert!(shown["approvals"][0]["at"].as_str().is_some_and(|at| at.ends_with('Z')), "{shown}");
    assert_eq!(shown["spec"]["size"], "small");
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_pass_the_sequence_they_are_given() {
    let app = spawn_app().await;
    let submitted = app.submit("orders", "prod").await;
    let id = submitted["request_id"].as_str().unwrap();
    let written = submitted["sequence"].as_u64().unwrap().to_string();
    let ahead = (submitted["sequence"].as_u64().unwrap() + 1_000).to_string();
    // A request is read from the log when the view is behind the sequence.
    let show = ["request", "show", id, "--min-sequence", &ahead];
    let from_the_log = app.gantry(Some("alice"), &[&["--output", "json"], &show[..]].concat()).await;
    assert_eq!(from_the_log.code, Some(0), "{from_the_log:?}");
    for read in [vec!["request", "list", "--min-sequence"], vec!["catalog", "export", "--min-sequence"]] {
        let caught_up = app.gantry(Some("alice"), &[&read[..], &[&written]].concat()).await;
        assert_eq!(caught_up.code, Some(0), "{caught_up:?}");
        let waiting = app.gantry(Some("alice"), &[&["--output", "json"], &read[..], &[&ahead]].concat()).await;
        assert_eq!(waiting.code, Some(1), "{waiting:?}");
        let error = waiting.error_json();
        assert_eq!(error["code"], "UNAVAILABLE", "{error}");
        assert!(error["message"].as_str().unwrap().contains(&ahead), "{error}");
    }
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_catalog_is_json_for_scripts() {
    let app = spawn_app().await;
    app.submit("orders", "prod").await;
    let last = app.submit("scratch", "dev").await["sequence"].to_string();
    let export = ["--output", "json", "catalog", "export", "--min-sequence", &last];
    let rds = app.gantry(Some("alice"), &[&export[..], &["--env", "prod"]].concat()).await;
    assert_eq!(rds.code, Some(0), "{rds:?}");
    let rds = rds.json();
    assert_eq!(rds["databases"].as_array().unwrap().len(), 1, "{rds}");
    assert_eq!(rds["databases"][0]["name"], "orders");
    let backstage =
        app.gantry(Some("alice"), &["--output", "json", "catalog", "export", "--format", "backstage"]).await;
    let entities = backstage.json();
    assert_eq!(entities.as_array().map(Vec::len), Some(2), "{entities}");
    assert_eq!(entities[0]["kind"], "Resource");
    let yaml = app.gantry(Some("alice"), &["catalog", "export"]).await;
    assert!(yaml.stdout.contains("databases:"), "{yaml:?}");
    app.cleanup().await;
}
