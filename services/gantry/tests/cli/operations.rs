//! Break-glass decommission through intake, and the drift check's exit
//! statuses through the provisioner.

use crate::helpers::spawn_mesh;

#[tokio::test(flavor = "multi_thread")]
async fn a_decommission_waits_for_platform_team_and_a_watch_follows_it_past_ready() {
    let app = spawn_mesh().await;
    let orders = app.provisioned_database("orders", "prod").await;
    let shown = app.gantry(Some("alice"), &["request", "show", &orders.id, "--min-sequence", &orders.sequence]).await;
    assert_eq!(shown.code, Some(0), "{shown:?}");

    let ask = ["--output", "json", "request", "decommission", &orders.id, "--reason", "replaced by orders_v2"];
    let wrong = app.gantry(Some("alice"), &[&ask[..], &["--confirm", "order"]].concat()).await;
    assert_eq!(wrong.code, Some(1), "{wrong:?}");
    assert_eq!(wrong.error_json()["field_violations"][0]["field"], "confirm_name", "{wrong:?}");
    let asked =
        app.gantry(Some("alice"), &[&ask[..], &["--confirm", "orders", "--recovery-window", "7"]].concat()).await;
    assert_eq!(asked.code, Some(0), "{asked:?}");
    let request = asked.json();
    assert_eq!(request["status"], "decommission_requested");
    assert_eq!(request["approvals_needed"], serde_json::json!([["platform-team"]]));
    assert_eq!(request["waiting_for"], "approval of the decommission by platform-team (not who asked for it)");

    // The history reaches `ready`, which no longer ends the watch.
    let watch = app.gantry(Some("alice"), &["request", "watch", &orders.id, "--timeout", "2s"]).await;
    assert_eq!(watch.code, Some(4), "{watch:?}");
    let ready = watch.stdout.find("  ready  credentials at goldenpath/prod/orders/postgres\n");
    let requested = watch.stdout.find("  decommission_requested  reason: ");
    assert!(ready.is_some() && ready < requested, "{watch:?}");
    assert!(
        watch.stdout.ends_with("  waiting for approval of the decommission by platform-team (not who asked for it)\n")
    );

    let turned_down = ["request", "reject", &orders.id, "--reason", "still in use"];
    assert_eq!(app.gantry(Some("carol"), &turned_down).await.code, Some(0));
    let watch = app.gantry(Some("alice"), &["request", "watch", &orders.id, "--timeout", "30s"]).await;
    assert_eq!(watch.code, Some(0), "ready again: {watch:?}");
    assert!(watch.stdout.trim_end().ends_with("ready  credentials at goldenpath/prod/orders/postgres"), "{watch:?}");
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reconcile_exits_5_while_a_drift_remains() {
    let app = spawn_mesh().await;
    let clean = app.gantry(Some("carol"), &["admin", "reconcile", "--env", "prod"]).await;
    assert_eq!((clean.code, clean.stdout.as_str()), (Some(0), "checked 0 resources: no drift\n"), "{clean:?}");
    let refused = app.gantry(Some("alice"), &["--output", "json", "admin", "reconcile"]).await;
    assert_eq!((refused.code, refused.error_json()["code"].as_str()), (Some(1), Some("PERMISSION_DENIED")));

    // Made, as far as the log says, but not in the emulator: missing, which no repair brings back.
    let bucket = app.unique("gantry-cli-drift");
    let made = app.provisioned_bucket(&bucket, "logs", None).await;
    let caught_up = app.gantry(Some("alice"), &["bucket", "get", &bucket, "--min-sequence", &made.sequence]).await;
    assert_eq!(caught_up.code, Some(0), "{caught_up:?}");
    let drift = app.gantry(Some("carol"), &["admin", "reconcile", "--env", "prod"]).await;
    assert_eq!(drift.code, Some(5), "{drift:?}");
    let row = drift.stdout.lines().find(|line| line.contains(&bucket)).expect("a row for the bucket");
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells, ["prod", "bucket", &bucket, "bucket", bucket.as_str(), "(Gantry's)", "missing", "no"]);
    assert!(drift.stdout.ends_with("checked 1 resource: 1 drift, 0 repaired, 1 remains\n"), "{drift:?}");
    assert!(drift.stderr.contains("1 drift remains unrepaired (DRIFT)") && drift.stderr.contains("--repair"));

    let repair = app.gantry(Some("carol"), &["--output", "json", "admin", "reconcile", "--repair"]).await;
    assert_eq!(repair.code, Some(5), "{repair:?}");
    let report = repair.json();
    assert_eq!((report["remaining"].as_u64(), report["drifts"][0]["repaired"].as_bool()), (Some(1), Some(false)));
    assert_eq!(report["drifts"][0]["request_id"], made.id.as_str());
    assert_eq!(repair.error_json()["code"], "DRIFT");
    let shown = app.gantry(Some("alice"), &["--output", "json", "bucket", "get", &bucket]).await.json();
    assert_eq!(shown["open_drifts"], 1, "{shown}");
    app.cleanup().await;
}
