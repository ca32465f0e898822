//! One trace per user action: `TRACEPARENT` in the CLI's environment (a CI
//! job's span) is sent with its call, so the approval it makes and the
//! provisioning that approval causes are one trace, in the spans exported
//! over OTLP (to a collector this test runs) and in every event's
//! `traceparent`.

use crate::helpers::spawn_mesh;
use gantry_runtime::telemetry::{self, TelemetrySettings};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// A span as the collector received it.
#[derive(Debug, Clone)]
struct Received {
    trace_id: String,
    name: String,
    kind: i32,
}

/// An OTLP/gRPC trace collector keeping what it is sent.
#[derive(Debug, Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Received>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let spans = request.into_inner().resource_spans.into_iter().flat_map(|resource| resource.scope_spans);
        let received = spans.flat_map(|scope| scope.spans).map(|span| Received {
            trace_id: span.trace_id.iter().map(|byte| format!("{byte:02x}")).collect(),
            name: span.name,
            kind: span.kind,
        });
        self.spans.lock().unwrap().extend(received);
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

impl Collector {
    /// Serves OTLP/gRPC on a free loopback port until the test ends.
    async fn start(&self) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        let server = tonic::transport::Server::builder().add_service(TraceServiceServer::new(self.clone()));
        tokio::spawn(server.serve_with_incoming(incoming));
        address
    }

    fn in_trace(&self, trace_id: &str) -> Vec<Received> {
        self.spans.lock().unwrap().iter().filter(|span| span.trace_id == trace_id).cloned().collect()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_approval_from_the_cli_and_the_provisioning_it_causes_are_one_trace() {
    // Intake and the provisioner run in this process: they export to the collector.
    let collector = Collector::default();
    let settings = TelemetrySettings {
        otlp_endpoint: Some(format!("http://{}", collector.start().await)),
        metrics_listen: None,
        log_filter: "warn".into(),
        ..TelemetrySettings::default()
    };
    let guard = telemetry::init(&settings).expect("telemetry");
    let app = spawn_mesh().await;
    let orders = app.submit("orders", "prod").await;
    let id = orders["request_id"].as_str().unwrap();

    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let mut approve = app.command(Some(app.token("bob")), &["--output", "json", "request", "approve", id]);
    approve.env("TRACEPARENT", format!("00-{trace_id}-b7ad6b7169203331-01"));
    let output = tokio::task::spawn_blocking(move || approve.output().expect("gantry runs")).await.unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    // This mesh's provisioner has no platform Postgres for prod: its attempt
    // ends in a recorded failure, which is provisioning all the same.
    let ended = gantry_testkit::wait_until(std::time::Duration::from_secs(20), || async {
        Ok(app.traced_events(id).await.iter().any(|(kind, _)| kind == "provisioner.provisioning_failed.v1"))
    })
    .await;
    let events = app.traced_events(id).await;
    assert!(ended.is_ok(), "no provisioning outcome: {events:?}");
    let approved = events.iter().position(|(kind, _)| kind == "intake.approval_granted.v1").expect("approved");
    for (kind, traceparent) in &events[approved..] {
        let traceparent = traceparent.as_deref().unwrap_or_default();
        assert!(traceparent.starts_with(&format!("00-{trace_id}-")), "{kind} is not in the trace: {traceparent:?}");
    }
    let submitted = &events[..approved];
    assert!(submitted.iter().all(|(_, traceparent)| !traceparent.as_deref().unwrap_or_default().contains(trace_id)));

    // The spans reach the collector: the call (server), the appends
    // (producer), the provisioner's handling of the approval (consumer).
    drop(guard);
    let complete = gantry_testkit::wait_until(std::time::Duration::from_secs(10), || async {
        let spans = collector.in_trace(trace_id);
        let named = |name: &str| spans.iter().any(|span| span.name == name);
        Ok(named("gantry.intake.v1.IntakeService/ApproveRequest")
            && named("send intake.approval_granted.v1")
            && named("process databases")
            && named("send provisioner.provisioning_failed.v1"))
    })
    .await;
    let spans = collector.in_trace(trace_id);
    assert!(complete.is_ok(), "spans of the trace: {spans:#?}");
    // OTLP kinds: 2 server, 4 producer, 5 consumer.
    let kinds: Vec<i32> = spans.iter().map(|span| span.kind).collect();
    assert!(kinds.contains(&2) && kinds.contains(&4) && kinds.contains(&5), "{spans:#?}");
    app.cleanup().await;
}
