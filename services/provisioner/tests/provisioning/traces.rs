//! One trace per user action: an approval made through intake's API and the
//! provisioning it causes share the caller's trace id, in the spans exported
//! over OTLP (to a collector this test runs) and in every event's
//! `traceparent`.

use crate::helpers::{Mesh, Outcome, database_request};
use gantry_proto::intake::intake_service_client::IntakeServiceClient;
use gantry_proto::intake::{ApproveRequestRequest, RequestDatabaseRequest};
use gantry_proto::types::{Environment, Risk, Size};
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
            trace_id: hex(&span.trace_id),
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A call to intake as `subject`, sending `traceparent` when given.
fn call<T>(mesh: &Mesh, subject: &str, message: T, traceparent: Option<&str>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let bearer = format!("Bearer {}", mesh.token(subject));
    request.metadata_mut().insert("authorization", bearer.parse().unwrap());
    if let Some(traceparent) = traceparent {
        request.metadata_mut().insert("traceparent", traceparent.parse().unwrap());
    }
    request
}

#[tokio::test(flavor = "multi_thread")]
async fn an_approval_and_the_provisioning_it_causes_are_one_trace() {
    let collector = Collector::default();
    let endpoint = format!("http://{}", collector.start().await);
    let settings = TelemetrySettings {
        otlp_endpoint: Some(endpoint),
        metrics_listen: None,
        log_filter: "warn".into(),
        ..TelemetrySettings::default()
    };
    let guard = telemetry::init(&settings).expect("telemetry");

    let mut mesh = Mesh::start(None).await;
    let address = mesh.start_intake().await;
    let mut intake = IntakeServiceClient::connect(format!("http://{address}")).await.expect("intake answers");
    let name = mesh.name("traced");
    let spec = database_request(&name, "dev", Risk::Low);
    // Medium in dev needs a databases-rds reviewer: the approval is a call of its own.
    let submission = RequestDatabaseRequest {
        database_name: spec.database_name.clone(),
        owner: spec.owner.clone(),
        requester: spec.requester.clone(),
        environment: Environment::Dev as i32,
        domain: spec.domain.clone(),
        risk: Risk::Low as i32,
        size: Size::Medium as i32,
        ..Default::default()
    };
    let submitted =
        intake.request_database(call(&mesh, "backstage", submission, None)).await.expect("submitted").into_inner();
    let request_id = submitted.request.expect("the request").request_id;

    let trace_id = "5ca1ab1e0ddba11deadbeefc0ffee042";
    let traceparent = format!("00-{trace_id}-00f067aa0ba902b7-01");
    let approval = ApproveRequestRequest { request_id: request_id.clone(), comment: "fine".into() };
    intake.approve_request(call(&mesh, "bob", approval, Some(&traceparent))).await.expect("approved");
    let secret_path = format!("{}/dev/{name}/postgres", mesh.secret_prefix);
    assert_eq!(mesh.wait_for_outcome(&request_id).await, Outcome::Ready { secret_path });

    // Every event from the approval on carries the approval's trace; the
    // submission, an action of its own, does not.
    let events = mesh.traced_events(&request_id).await;
    let approved = events.iter().position(|(kind, _)| kind == "intake.approval_granted.v1").expect("approved");
    for (kind, traceparent) in &events[approved..] {
        let traceparent = traceparent.as_deref().unwrap_or_default();
        assert!(traceparent.starts_with(&format!("00-{trace_id}-")), "{kind} is not in the trace: {traceparent:?}");
    }
    assert!(
        events[..approved]
            .iter()
            .all(|(_, traceparent)| !traceparent.as_deref().unwrap_or_default().contains(trace_id))
    );
    let provisioned = &events[approved + 1..];
    assert!(provisioned.iter().any(|(kind, _)| kind == "provisioner.resource_provisioned.v1"), "{events:?}");

    // The spans reach the collector: the call, the appends (producer), the
    // provisioner's handling of the approval (consumer), in one trace.
    drop(guard);
    let complete = gantry_testkit::wait_until(std::time::Duration::from_secs(10), || async {
        let spans = collector.in_trace(trace_id);
        let named = |name: &str| spans.iter().any(|span| span.name == name);
        Ok(named("gantry.intake.v1.IntakeService/ApproveRequest")
            && named("send intake.approval_granted.v1")
            && named("process databases")
            && named("send provisioner.resource_provisioned.v1"))
    })
    .await;
    let spans = collector.in_trace(trace_id);
    assert!(complete.is_ok(), "spans of the trace: {spans:#?}");
    // OTLP kinds: 2 server, 3 client, 4 producer, 5 consumer.
    let kinds: Vec<i32> = spans.iter().map(|span| span.kind).collect();
    assert!(kinds.contains(&2) && kinds.contains(&4) && kinds.contains(&5), "{spans:#?}");
    mesh.cleanup().await;
}
