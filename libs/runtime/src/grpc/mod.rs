//! The gRPC server bootstrap every service uses: its routes plus
//! `grpc.health.v1`, server reflection in both `v1` and `v1alpha`, per-RPC
//! metrics and trace context, TLS when configured, connection limits, and a
//! graceful stop on shutdown (stop accepting, finish in-flight calls).
//!
//! Bad bytes are the caller's error: a message that is not protobuf (or has
//! a string that is not UTF-8) answers `INVALID_ARGUMENT`, one over the size
//! limit `RESOURCE_EXHAUSTED` (tonic says `INTERNAL` and `OUT_OF_RANGE`).

mod listener;
pub mod page;
mod tls;

pub use listener::{Activity, CallGuard, ConnectionInfo};
pub use tls::TlsSettings;

use crate::shutdown::Shutdown;
use anyhow::Context as _;
use futures::future::BoxFuture;
use http::{HeaderValue, Request, Response};
use serde::Deserialize;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tonic::service::Routes;
use tonic_health::pb::health_server::HealthServer;
use tonic_health::server::{HealthReporter, HealthService};
use tower::{Layer, Service};
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// How the gRPC servers of this process accept and keep connections
/// (section `grpc`, shared by every service of the process).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrpcSettings {
    /// TLS from certificate files; plaintext (for loopback) when unset.
    pub tls: Option<TlsSettings>,
    /// Most connections open at once per server; more wait in the backlog.
    /// Unset: the open-files limit less room for everything else, so the
    /// cap, not running out of descriptors, is what overload meets.
    pub max_connections: Option<usize>,
    /// Most concurrent calls (HTTP/2 streams) per connection.
    pub max_concurrent_streams: u32,
    /// HTTP/2 keepalive: a ping after this long without frames, in milliseconds.
    pub keepalive_interval_ms: u64,
    /// A connection whose ping is not answered in this long is closed, in milliseconds.
    pub keepalive_timeout_ms: u64,
    /// A connection without a call in flight for this long is closed, in
    /// milliseconds; 0 never closes idle connections.
    pub idle_timeout_ms: u64,
}

impl Default for GrpcSettings {
    fn default() -> Self {
        Self {
            tls: None,
            max_connections: None,
            max_concurrent_streams: 256,
            keepalive_interval_ms: 30_000,
            keepalive_timeout_ms: 10_000,
            idle_timeout_ms: 300_000,
        }
    }
}

/// Descriptors kept for everything but client connections (pools, NATS,
/// files, other services of the process).
const DESCRIPTOR_HEADROOM: usize = 256;

/// Returns the open-files soft limit less [`DESCRIPTOR_HEADROOM`] (Linux;
/// 1024 less it where the limit cannot be read).
fn default_max_connections() -> usize {
    let soft = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            let line = limits.lines().find(|line| line.starts_with("Max open files"))?.to_owned();
            line.split_whitespace().nth(3).and_then(|soft| soft.parse::<usize>().ok())
        })
        .unwrap_or(1024);
    soft.saturating_sub(DESCRIPTOR_HEADROOM).max(16)
}

/// The health service of one server and its reporter.
pub type Health = (HealthReporter, HealthServer<HealthService>);

/// Returns a fresh health service whose every name says `NOT_SERVING` until
/// told otherwise.
pub fn health() -> Health {
    let reporter = HealthReporter::new();
    let service = HealthServer::new(HealthService::from_health_reporter(reporter.clone()));
    (reporter, service)
}

/// Serves `routes` on `listener` with health and reflection until shutdown.
///
/// `descriptor_sets` are the encoded file descriptor sets reflection serves.
/// Health is the caller's to keep (it knows its dependencies); on shutdown
/// every name in `serving` turns `NOT_SERVING` first.
pub async fn serve(
    listener: TcpListener,
    routes: Routes,
    descriptor_sets: &[&'static [u8]],
    (health, health_service): Health,
    serving: &[&'static str],
    settings: &GrpcSettings,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let address = listener.local_addr()?;
    let routes = with_reflection(routes, descriptor_sets)?.add_service(health_service);
    let tls = settings.tls.as_ref().map(|tls| tls::acceptor(tls, shutdown.clone())).transpose()?;
    tracing::info!(%address, services = ?serving, tls = tls.is_some(), "grpc server listening");
    if tls.is_none() && !address.ip().is_loopback() {
        tracing::warn!(%address, "serving plaintext gRPC beyond loopback: set grpc.tls.cert_file and key_file");
    }
    let limits = listener::Limits {
        max_connections: settings.max_connections.unwrap_or_else(default_max_connections),
        idle_timeout: Some(Duration::from_millis(settings.idle_timeout_ms)).filter(|idle| !idle.is_zero()),
    };
    let incoming = tokio_stream::wrappers::ReceiverStream::new(listener::accept(listener, limits, tls));
    let stopping = {
        let health = health.clone();
        let serving = serving.to_vec();
        async move {
            shutdown.wait().await;
            // "" too: probes ask for the server as a whole by default.
            for name in std::iter::once("").chain(serving) {
                health.set_service_status(name, tonic_health::ServingStatus::NotServing).await;
            }
        }
    };
    tonic::transport::Server::builder()
        .max_concurrent_streams(settings.max_concurrent_streams)
        .http2_keepalive_interval(Some(Duration::from_millis(settings.keepalive_interval_ms.max(1))))
        .http2_keepalive_timeout(Some(Duration::from_millis(settings.keepalive_timeout_ms.max(1))))
        .layer(RpcTelemetryLayer)
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, stopping)
        .await
        .with_context(|| format!("grpc server on {address}"))?;
    tracing::info!(%address, "grpc server stopped");
    Ok(())
}

fn with_reflection(routes: Routes, descriptor_sets: &[&'static [u8]]) -> anyhow::Result<Routes> {
    let mut v1 = tonic_reflection::server::Builder::configure();
    let mut v1alpha = tonic_reflection::server::Builder::configure();
    for set in std::iter::once(&tonic_health::pb::FILE_DESCRIPTOR_SET).chain(descriptor_sets) {
        v1 = v1.register_encoded_file_descriptor_set(set);
        v1alpha = v1alpha.register_encoded_file_descriptor_set(set);
    }
    Ok(routes
        .add_service(v1.build_v1().context("building reflection v1")?)
        .add_service(v1alpha.build_v1alpha().context("building reflection v1alpha")?))
}

/// Returns an endpoint for `server` (`http://…` or `https://…`); with
/// `ca_file`, TLS trusts that CA (PEM) and verifies the server's name as
/// `domain` when given (for example `localhost` while dialling an IP).
pub fn client_endpoint(
    server: &str,
    ca_file: Option<&std::path::Path>,
    domain: Option<&str>,
) -> anyhow::Result<tonic::transport::Endpoint> {
    let endpoint = tonic::transport::Endpoint::from_shared(server.to_owned())
        .with_context(|| format!("invalid server address {server:?}"))?;
    let Some(ca_file) = ca_file else { return Ok(endpoint) };
    let ca = std::fs::read(ca_file).with_context(|| format!("reading CA file {}", ca_file.display()))?;
    let mut tls = tonic::transport::ClientTlsConfig::new().ca_certificate(tonic::transport::Certificate::from_pem(ca));
    if let Some(domain) = domain {
        tls = tls.domain_name(domain);
    }
    endpoint.tls_config(tls).context("TLS configuration")
}

/// Records `grpc_server_requests_total{method,code}` and
/// `grpc_server_request_duration_seconds{method}`, and opens a span per call
/// that continues the caller's trace (`traceparent` metadata).
#[derive(Debug, Clone, Copy)]
pub struct RpcTelemetryLayer;

#[cfg(test)]
mod tests {
    #[test]
    fn the_default_connection_cap_leaves_room_below_the_open_files_limit() {
        let cap = super::default_max_connections();
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
        let line = limits.lines().find(|line| line.starts_with("Max open files")).unwrap();
        let soft: usize = line.split_whitespace().nth(3).unwrap().parse().unwrap_or(usize::MAX);
        assert!(cap < soft && cap >= 16, "cap {cap} for a limit of {soft}");
    }
}

impl<S> Layer<S> for RpcTelemetryLayer {
    type Service = RpcTelemetry<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcTelemetry { inner }
    }
}

/// The service [`RpcTelemetryLayer`] wraps around the routes.
#[derive(Debug, Clone)]
pub struct RpcTelemetry<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for RpcTelemetry<S>
where
    S: Service<Request<B>, Response = Response<tonic::body::Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let method = metric_method(request.uri().path());
        // Named and described after the OpenTelemetry RPC conventions.
        let full_name = method.trim_start_matches('/');
        let (service, rpc) = full_name.split_once('/').unwrap_or((full_name, ""));
        let span = tracing::info_span!(
            "grpc",
            otel.name = %full_name,
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.service = %service,
            rpc.method = %rpc,
        );
        let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.extract(&opentelemetry_http_headers::Extractor(request.headers()))
        });
        let _ = span.set_parent(parent);
        // The call counts as activity of its connection until its response
        // body is done (a watch keeps its connection from idling out).
        let call = request.extensions().get::<ConnectionInfo>().map(|info| info.activity.call_started());
        // The clone is ready only if polled; swap so the ready one serves.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let started = Instant::now();
        Box::pin(
            async move {
                let mut response = inner.call(request).await?;
                let code = correct_status(response.headers_mut());
                metrics::counter!("grpc_server_requests_total", "method" => method.clone(), "code" => code)
                    .increment(1);
                metrics::histogram!("grpc_server_request_duration_seconds", "method" => method)
                    .record(started.elapsed().as_secs_f64());
                Ok(match call {
                    Some(call) => response.map(|body| tonic::body::Body::new(WithCall { body, _call: call })),
                    None => response,
                })
            }
            .instrument(span),
        )
    }
}

/// Gives bad bytes the codes they deserve (they are the caller's error, not
/// the server's) and returns the call's code name for the metrics.
fn correct_status(headers: &mut http::HeaderMap) -> &'static str {
    let code = headers
        .get("grpc-status")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<i32>().ok())
        .map_or(tonic::Code::Ok, tonic::Code::from);
    let message = headers.get("grpc-message").and_then(|value| value.to_str().ok()).unwrap_or("").to_owned();
    let corrected = match code {
        // prost's decode error: not protobuf, or a string that is not UTF-8.
        tonic::Code::Internal if message.starts_with("failed%20to%20decode") => {
            Some((tonic::Code::InvalidArgument, "the message is not valid protobuf of its type"))
        }
        tonic::Code::OutOfRange if message.contains("message%20length%20too%20large") => {
            Some((tonic::Code::ResourceExhausted, "the message is larger than this server accepts"))
        }
        _ => None,
    };
    let Some((code, text)) = corrected else { return code_name(code) };
    headers.insert("grpc-status", HeaderValue::from(code as i32));
    // Keep tonic's detail (sizes, the field that failed) after ours.
    let detail = format!("{}: {message}", text.replace(' ', "%20"));
    if let Ok(value) = HeaderValue::from_str(&detail) {
        headers.insert("grpc-message", value);
    }
    code_name(code)
}

/// Returns the canonical name of a gRPC code (`INVALID_ARGUMENT`), as the
/// OpenTelemetry and grpc-prometheus conventions label calls.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// A response body that keeps its call counted until it is done.
struct WithCall {
    body: tonic::body::Body,
    _call: CallGuard,
}

impl http_body::Body for WithCall {
    type Data = bytes::Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(context)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// Returns the RPC path as a metric label, or `unknown` for paths outside
/// Gantry's and gRPC's own packages (callers cannot mint label values).
fn metric_method(path: &str) -> String {
    let known = ["/gantry.", "/grpc.health.", "/grpc.reflection."].iter().any(|prefix| path.starts_with(prefix));
    if known && path.len() <= 128 { path.to_owned() } else { "unknown".to_owned() }
}

mod opentelemetry_http_headers {
    /// Reads trace context from HTTP/2 request headers.
    pub(super) struct Extractor<'a>(pub(super) &'a http::HeaderMap);

    impl opentelemetry::propagation::Extractor for Extractor<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0.get(key).and_then(|value| value.to_str().ok())
        }

        fn keys(&self) -> Vec<&str> {
            self.0.keys().map(|name| name.as_str()).collect()
        }
    }
}
