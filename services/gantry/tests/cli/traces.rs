//! The CLI joins its caller's trace: `TRACEPARENT` in its environment (a CI
//! job's span) is sent with the call, so the event the call appends is in
//! that trace.

use crate::helpers::spawn_app;
use gantry_runtime::telemetry::{self, TelemetrySettings};

#[tokio::test(flavor = "multi_thread")]
async fn an_approval_from_the_cli_is_in_the_trace_of_its_environment() {
    // Intake runs in this process: give it the propagator and tracing layer
    // a served process has.
    let settings = TelemetrySettings { metrics_listen: None, log_filter: "warn".into(), ..Default::default() };
    let _telemetry = telemetry::init(&settings).unwrap();
    let app = spawn_app().await;
    let orders = app.submit("orders", "prod").await;
    let id = orders["request_id"].as_str().unwrap();

    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let mut approve = app.command(Some(app.token("bob")), &["--output", "json", "request", "approve", id]);
    approve.env("TRACEPARENT", format!("00-{trace_id}-b7ad6b7169203331-01"));
    let output = tokio::task::spawn_blocking(move || approve.output().expect("gantry runs")).await.unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let approved: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let sequence = approved["sequence"].as_u64().expect("the approval's sequence");

    let traceparent = app.traceparent_at(sequence).await.expect("the approval carries a trace context");
    assert!(traceparent.starts_with(&format!("00-{trace_id}-")), "{traceparent} is not in the CLI's trace");
    let submitted = orders["sequence"].as_u64().unwrap();
    let other = app.traceparent_at(submitted).await.unwrap_or_default();
    assert!(!other.contains(trace_id), "the submission, made without TRACEPARENT, is a trace of its own");
    app.cleanup().await;
}
