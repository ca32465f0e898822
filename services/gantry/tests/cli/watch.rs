//! `request watch`: the history with times, what it waits for, its end,
//! and `--timeout`.

use crate::helpers::spawn_app;
use gantry_proto::events::envelope::Payload;
use gantry_proto::events::{ProvisioningStarted, ResourceProvisioned};
use std::io::{BufRead as _, BufReader, Read as _};
use std::process::Stdio;

#[tokio::test(flavor = "multi_thread")]
async fn an_approved_request_says_it_waits_for_provisioning_until_the_timeout() {
    let app = spawn_app().await;
    let scratch = app.submit("scratch", "dev").await;
    let id = scratch["request_id"].as_str().unwrap();
    let run = app.gantry(Some("alice"), &["request", "watch", id, "--timeout", "1s"]).await;
    assert_eq!(run.code, Some(4), "{run:?}");
    let first = run.stdout.lines().next().unwrap_or_default();
    assert!(first.contains("T") && first.contains("Z  approved  auto-approved by rule dev-small-databases"), "{run:?}");
    assert!(run.stdout.contains("\n  waiting for provisioning\n"), "{run:?}");
    assert!(run.stderr.contains("after 1s: it is approved, waiting for provisioning"), "{run:?}");

    let json = app.gantry(Some("alice"), &["--output", "json", "request", "watch", id, "--timeout", "1"]).await;
    assert_eq!(json.code, Some(4), "{json:?}");
    assert_eq!(json.json()["waiting_for"], "provisioning");
    let error = json.error_json();
    assert_eq!(
        (error["code"].as_str(), error["request"]["status"].as_str()),
        (Some("DEADLINE_EXCEEDED"), Some("approved"))
    );
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pending_request_says_who_must_approve() {
    let app = spawn_app().await;
    let orders = app.submit("orders", "prod").await;
    let id = orders["request_id"].as_str().unwrap();
    let run = app.gantry(Some("alice"), &["request", "watch", id, "--timeout", "1s"]).await;
    assert_eq!(run.code, Some(4), "{run:?}");
    assert!(
        run.stdout.contains("pending_approval\n  waiting for approval by databases-rds (not the requester)\n"),
        "{run:?}"
    );
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_watch_ends_on_a_final_state() {
    let app = spawn_app().await;
    let rejected = app.submit("orders", "prod").await;
    let id = rejected["request_id"].as_str().unwrap();
    let reject = ["--output", "json", "request", "reject", id, "--reason", "use the shared one"];
    let reject = app.gantry(Some("bob"), &reject).await;
    assert_eq!(reject.code, Some(0), "{reject:?}");
    // The watch tells history from news by the view's status: let it catch up.
    let written = reject.json()["sequence"].to_string();
    app.gantry(Some("alice"), &["request", "show", id, "--min-sequence", &written]).await;
    let run = app.gantry(Some("alice"), &["request", "watch", id, "--timeout", "30s"]).await;
    assert_eq!(run.code, Some(3), "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines[0].ends_with("pending_approval") && lines[1].ends_with("rejected  reason: use the shared one"),
        "{run:?}"
    );
    assert!(!run.stdout.contains("waiting for"), "history lines say nothing of waiting: {run:?}");
    assert!(run.stderr.contains("ended rejected: use the shared one (NOT_READY)"), "{run:?}");

    // Live: the watch is running, and says so, when the request becomes ready.
    let ready = app.submit("ledger", "dev").await;
    let id = ready["request_id"].as_str().unwrap().to_owned();
    let mut command = app.command(Some(app.token("alice")), &["request", "watch", &id, "--timeout", "30s"]);
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("watch starts");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let read_until_waiting = tokio::task::spawn_blocking(move || {
        let mut seen = String::new();
        while !seen.contains("waiting for provisioning\n") {
            assert_ne!(stdout.read_line(&mut seen).unwrap(), 0, "the watch ended early: {seen}");
        }
        (stdout, seen)
    });
    let (mut stdout, mut seen) = gantry_testkit::within("the watch's first lines", read_until_waiting).await.unwrap();
    app.provisioner_appends(&id, Payload::ProvisioningStarted(ProvisioningStarted {})).await;
    let secret_path = "goldenpath/dev/ledger/postgres".into();
    app.provisioner_appends(&id, Payload::ResourceProvisioned(ResourceProvisioned { secret_path })).await;
    let finished = tokio::task::spawn_blocking(move || {
        stdout.read_to_string(&mut seen).unwrap();
        (child.wait().unwrap(), seen)
    });
    let (status, seen) = gantry_testkit::within("the watch's end", finished).await.unwrap();
    assert_eq!(status.code(), Some(0), "{seen}");
    assert!(seen.contains("provisioning\n  waiting for provisioning to finish\n"), "{seen}");
    let last = seen.lines().last().unwrap_or_default();
    assert!(last.ends_with("ready  credentials at goldenpath/dev/ledger/postgres"), "{seen}");
    app.cleanup().await;
}
