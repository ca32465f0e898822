//! The gRPC server bootstrap every service uses: its routes plus
//! `grpc.health.v1`, server reflection in both `v1` and `v1alpha`, per-RPC
//! metrics and trace context, and a graceful stop on shutdown (stop
//! accepting, finish in-flight calls).

use crate::shutdown::Shutdown;
use anyhow::Context as _;
use futures::future::BoxFuture;
use http::{Request, Response};
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::net::TcpListener;
use tokio_stream::StreamExt as _;
use tonic::server::NamedService;
use tonic::service::Routes;
use tonic_health::server::HealthReporter;
use tower::{Layer, Service};
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// Serves `routes` on `listener` with health and reflection until shutdown.
///
/// `descriptor_sets` are the encoded file descriptor sets reflection serves.
/// Health reports `serving` for every name in `serving` only once this is
/// called, i.e. after the service finished its start-up work.
pub async fn serve(
    listener: TcpListener,
    routes: Routes,
    descriptor_sets: &[&'static [u8]],
    serving: &[&'static str],
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let address = listener.local_addr()?;
    let (health, health_service) = tonic_health::server::health_reporter();
    let routes = with_reflection(routes, descriptor_sets)?.add_service(health_service);
    mark_serving(&health, serving).await;
    tracing::info!(%address, services = ?serving, "grpc server listening");
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener).map(|stream| {
        let stream = stream?;
        stream.set_nodelay(true)?;
        Ok::<_, std::io::Error>(stream)
    });
    let stopping = {
        let health = health.clone();
        let serving = serving.to_vec();
        async move {
            shutdown.wait().await;
            for name in serving {
                health.set_service_status(name, tonic_health::ServingStatus::NotServing).await;
            }
        }
    };
    tonic::transport::Server::builder()
        .layer(RpcTelemetryLayer)
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, stopping)
        .await
        .with_context(|| format!("grpc server on {address}"))?;
    tracing::info!(%address, "grpc server stopped");
    Ok(())
}

async fn mark_serving(health: &HealthReporter, serving: &[&'static str]) {
    health.set_service_status("", tonic_health::ServingStatus::Serving).await;
    for name in serving {
        health.set_service_status(*name, tonic_health::ServingStatus::Serving).await;
    }
}

fn with_reflection(routes: Routes, descriptor_sets: &[&'static [u8]]) -> anyhow::Result<Routes> {
    let mut v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
    let mut v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
    for set in descriptor_sets {
        v1 = v1.register_encoded_file_descriptor_set(set);
        v1alpha = v1alpha.register_encoded_file_descriptor_set(set);
    }
    Ok(routes
        .add_service(v1.build_v1().context("building reflection v1")?)
        .add_service(v1alpha.build_v1alpha().context("building reflection v1alpha")?))
}

/// Returns the full gRPC name of a generated server, for health reporting.
pub fn service_name<S: NamedService>() -> &'static str {
    S::NAME
}

/// Records `grpc_server_requests_total{method,code}` and
/// `grpc_server_request_duration_seconds{method}`, and opens a span per call
/// that continues the caller's trace (`traceparent` metadata).
#[derive(Debug, Clone, Copy)]
pub struct RpcTelemetryLayer;

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

impl<S, B, R> Service<Request<B>> for RpcTelemetry<S>
where
    S: Service<Request<B>, Response = Response<R>> + Clone + Send + 'static,
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
        let span = tracing::info_span!("grpc", otel.name = %method, rpc.method = %method);
        let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.extract(&opentelemetry_http_headers::Extractor(request.headers()))
        });
        let _ = span.set_parent(parent);
        // The clone is ready only if polled; swap so the ready one serves.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let started = Instant::now();
        Box::pin(
            async move {
                let response = inner.call(request).await?;
                let code = response
                    .headers()
                    .get("grpc-status")
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or("0")
                    .to_owned();
                metrics::counter!("grpc_server_requests_total", "method" => method.clone(), "code" => code)
                    .increment(1);
                metrics::histogram!("grpc_server_request_duration_seconds", "method" => method)
                    .record(started.elapsed().as_secs_f64());
                Ok(response)
            }
            .instrument(span),
        )
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
