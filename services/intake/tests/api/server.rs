//! The server around the API: health, reflection in both versions, a
//! graceful stop, metrics, traces and tokens reloaded from their file.

use crate::helpers::{self, spawn_app};
use tonic::Code;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};

#[tokio::test]
async fn health_reports_serving_for_intake() {
    let app = spawn_app().await;
    let mut health = HealthClient::new(app.channel().await);
    for service in ["", "gantry.intake.v1.IntakeService"] {
        let response = health.check(HealthCheckRequest { service: service.into() }).await.unwrap();
        assert_eq!(response.into_inner().status(), ServingStatus::Serving, "{service:?}");
    }
    app.cleanup().await;
}

#[tokio::test]
async fn reflection_lists_the_services_in_v1_and_v1alpha() {
    use tonic_reflection::pb::{v1, v1alpha};
    let app = spawn_app().await;
    let request = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(String::new())),
    };
    let mut client = v1::server_reflection_client::ServerReflectionClient::new(app.channel().await);
    let mut responses = client.server_reflection_info(futures::stream::iter([request])).await.unwrap().into_inner();
    let response = responses.message().await.unwrap().unwrap();
    let Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(list)) = response.message_response
    else {
        panic!("a service list")
    };
    let names: Vec<String> = list.service.into_iter().map(|service| service.name).collect();
    assert!(names.contains(&"gantry.intake.v1.IntakeService".to_string()), "{names:?}");
    assert!(names.contains(&"grpc.health.v1.Health".to_string()), "{names:?}");

    let request = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(v1alpha::server_reflection_request::MessageRequest::FileContainingSymbol(
            "gantry.intake.v1.IntakeService".into(),
        )),
    };
    let mut client = v1alpha::server_reflection_client::ServerReflectionClient::new(app.channel().await);
    let mut responses = client.server_reflection_info(futures::stream::iter([request])).await.unwrap().into_inner();
    let response = responses.message().await.unwrap().unwrap();
    assert!(matches!(
        response.message_response,
        Some(v1alpha::server_reflection_response::MessageResponse::FileDescriptorResponse(_))
    ));
    app.cleanup().await;
}

#[tokio::test]
async fn a_graceful_stop_ends_open_watches_instead_of_waiting_for_them() {
    use gantry_proto::intake as pb;
    let app = spawn_app().await;
    let (request, _) = crate::helpers::submitted(&app, "orders", gantry_proto::types::Size::Small).await;
    let mut updates = app
        .client("alice")
        .await
        .watch_request(pb::WatchRequestRequest { request_id: request.request_id })
        .await
        .unwrap()
        .into_inner();
    assert!(updates.message().await.unwrap().is_some(), "the current state first");
    let stopped = tokio::time::timeout(std::time::Duration::from_secs(10), app.cleanup()).await;
    assert!(stopped.is_ok(), "the stop did not wait for the open watch");
    let ended = updates.message().await;
    assert!(
        matches!(&ended, Err(status) if status.code() == tonic::Code::Unavailable) || matches!(ended, Ok(None)),
        "{ended:?}"
    );
}

#[tokio::test]
async fn metrics_count_calls_by_code_and_the_projections_progress() {
    use gantry_proto::types::{Environment, Size};
    let metrics = gantry_runtime::telemetry::install_metrics(None).unwrap();
    let method = "/gantry.intake.v1.IntakeService/RequestDatabase";
    let ok = format!("grpc_server_requests_total{{method=\"{method}\",code=\"OK\"}}");
    let invalid = format!("grpc_server_requests_total{{method=\"{method}\",code=\"INVALID_ARGUMENT\"}}");
    let applied = "eventlog_events_applied_total{projection=\"intake\"}";
    // The recorder is the process's: compare with what it held before.
    let before = metrics.render();
    let app = spawn_app().await;
    let (_, sequence) = crate::helpers::submitted(&app, "orders", Size::Small).await;
    let bad = crate::helpers::database("Bad Name", Environment::Prod, Size::Small);
    let _ = app.client("backstage").await.request_database(bad).await.unwrap_err();
    crate::helpers::wait_for_view(&app, sequence).await;
    // The runner records a batch's metrics just after committing it.
    let grown = |series: &str, by: f64| {
        let (before, after) = (sample(&before, series), sample(&metrics.render(), series));
        after - before >= by
    };
    let counted = || async { Ok(grown(&ok, 1.0) && grown(&invalid, 1.0) && grown(applied, 1.0)) };
    let waited = gantry_testkit::wait_until(std::time::Duration::from_secs(5), counted).await;
    let text = metrics.render();
    assert!(waited.is_ok(), "calls by code and applied events not counted:\n{text}");
    for present in [
        format!("grpc_server_request_duration_seconds_bucket{{method=\"{method}\""),
        "eventlog_consumer_lag{projection=\"intake\"}".to_owned(),
        "eventlog_appended_total{stream=".to_owned(),
    ] {
        assert!(text.contains(&present), "{present} missing from\n{text}");
    }
    app.cleanup().await;
}

/// Returns the value of one series in Prometheus text (0 when absent).
fn sample(text: &str, series: &str) -> f64 {
    text.lines().find_map(|line| line.strip_prefix(series)?.trim().parse().ok()).unwrap_or(0.0)
}

#[tokio::test]
async fn the_callers_trace_continues_into_the_appended_event() {
    use gantry_proto::types::{Environment, Size};
    use gantry_runtime::telemetry::{self, TelemetrySettings};
    let settings = TelemetrySettings { metrics_listen: None, log_filter: "warn".into(), ..Default::default() };
    let _telemetry = telemetry::init(&settings).unwrap();
    let app = spawn_app().await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let mut call = tonic::Request::new(crate::helpers::database("traced", Environment::Prod, Size::Small));
    let traceparent = format!("00-{trace_id}-00f067aa0ba902b7-01");
    call.metadata_mut().insert("traceparent", traceparent.parse().unwrap());
    let response = app.client("backstage").await.request_database(call).await.unwrap().into_inner();

    let stream = app.log.jetstream().get_stream(&app.env.stream_name).await.unwrap();
    let stored = stream.get_raw_message(response.sequence).await.unwrap();
    let header = stored.headers.get("traceparent").expect("the event carries a trace context").to_string();
    assert!(header.starts_with(&format!("00-{trace_id}-")), "{header} is not in the caller's trace");
    assert!(!header.contains("00f067aa0ba902b7"), "the event's parent is the server's span, not the caller's");
    app.cleanup().await;
}

#[tokio::test]
async fn tokens_added_to_or_removed_from_the_file_count_without_a_restart() {
    use gantry_proto::intake as pb;
    use gantry_testkit::{TestEnv, wait_until};
    use std::time::Duration;
    let env = TestEnv::new().await.unwrap();
    let first = env.write_tokens(&[("alice", &["developers"])]).unwrap();
    let app = helpers::start(env, first.clone(), |config| config.with("auth.reload_interval_ms", 50)).await;
    let get = |token: String| {
        let app = &app;
        async move {
            let mut client = app.client_with_token(Some(&token)).await;
            let request = pb::GetRequestRequest { request_id: uuid::Uuid::now_v7().to_string(), min_sequence: 0 };
            client.get_request(request).await.map_err(|status| status.code())
        }
    };
    assert_eq!(get(first["alice"].clone()).await.unwrap_err(), Code::NotFound);

    // A new file: alice's token is gone, frank's is new.
    let second = app.env.write_tokens(&[("frank", &["developers"])]).unwrap();
    wait_until(Duration::from_secs(10), || async {
        Ok(get(second["frank"].clone()).await.is_err_and(|code| code == Code::NotFound))
    })
    .await
    .expect("frank's new token is accepted");
    assert_eq!(get(first["alice"].clone()).await.unwrap_err(), Code::Unauthenticated);

    // A broken file keeps the tokens in force: asserted once a check that
    // started after the write has finished (two more checks).
    std::fs::write(app.env.directory.join("tokens.yaml"), "tokens: [not: a: token").unwrap();
    let mut checks = app.token_checks.clone();
    let written_at = *checks.borrow_and_update();
    gantry_testkit::within("two checks of the broken file", checks.wait_for(|count| *count >= written_at + 2))
        .await
        .unwrap();
    assert_eq!(get(second["frank"].clone()).await.unwrap_err(), Code::NotFound);
    app.cleanup().await;
}
