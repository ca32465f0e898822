//! Telemetry: logs through `tracing` (JSON by default), OpenTelemetry traces
//! exported over OTLP when an endpoint is configured, W3C trace context
//! propagation always, and a Prometheus `/metrics` endpoint.

use anyhow::Context as _;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::OnceLock;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

/// How logs are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line (for machines).
    #[default]
    Json,
    /// Human-readable lines.
    Pretty,
}

/// Telemetry settings (section `telemetry`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetrySettings {
    /// Log format.
    pub log_format: LogFormat,
    /// `tracing` filter directives, e.g. `info,gantry_intake=debug`.
    pub log_filter: String,
    /// OTLP/gRPC endpoint (e.g. `http://127.0.0.1:4317`); no export when unset.
    pub otlp_endpoint: Option<String>,
    /// Where `/metrics` is served; none when unset.
    pub metrics_listen: Option<SocketAddr>,
    /// `service.name` of exported traces.
    pub service_name: String,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self {
            log_format: LogFormat::Json,
            // Postgres notices (e.g. "already exists, skipping") are not news.
            log_filter: "info,sqlx::postgres::notice=warn".into(),
            otlp_endpoint: None,
            metrics_listen: Some(SocketAddr::from(([127, 0, 0, 1], 9464))),
            service_name: "gantry".into(),
        }
    }
}

/// Flushes exported traces when dropped; keep it alive until exit.
#[derive(Debug)]
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Err(error) = self.provider.shutdown() {
            eprintln!("flushing traces failed: {error}");
        }
    }
}

/// Installs logging, tracing and metrics for the process.
pub fn init(settings: &TelemetrySettings) -> anyhow::Result<TelemetryGuard> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let mut provider = SdkTracerProvider::builder()
        .with_resource(opentelemetry_sdk::Resource::builder().with_service_name(settings.service_name.clone()).build());
    if let Some(endpoint) = &settings.otlp_endpoint {
        use opentelemetry_otlp::WithExportConfig as _;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint.clone())
            .build()
            .context("building the OTLP exporter")?;
        provider = provider.with_batch_exporter(exporter);
    }
    let provider = provider.build();
    opentelemetry::global::set_tracer_provider(provider.clone());
    let tracer = provider.tracer("gantry");

    let filter = EnvFilter::try_new(&settings.log_filter).context("invalid telemetry.log_filter")?;
    let logs = match settings.log_format {
        LogFormat::Json => {
            tracing_subscriber::fmt::layer().json().flatten_event(true).with_writer(std::io::stderr).boxed()
        }
        LogFormat::Pretty => tracing_subscriber::fmt::layer().with_writer(std::io::stderr).boxed(),
    };
    // The log filter decides what is logged, not what is traced: spans at
    // info and above always carry the trace context into events, whatever
    // the log level.
    let traces = tracing_opentelemetry::layer().with_tracer(tracer).with_filter(LevelFilter::INFO);
    tracing_subscriber::registry()
        .with(logs.with_filter(filter))
        .with(traces)
        .try_init()
        .context("installing the tracing subscriber")?;

    if let Some(address) = settings.metrics_listen {
        install_metrics(Some(address))?;
    }
    Ok(TelemetryGuard { provider })
}

/// Installs the process-wide Prometheus recorder once, serving `/metrics`
/// on `address` when given, and returns a handle that renders the same
/// text (for tests and tools). Later calls return the first handle.
pub fn install_metrics(address: Option<SocketAddr>) -> anyhow::Result<PrometheusHandle> {
    static INSTALLED: OnceLock<PrometheusHandle> = OnceLock::new();
    if let Some(handle) = INSTALLED.get() {
        return Ok(handle.clone());
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Suffix("_seconds".into()),
            &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0],
        )?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).context("a metrics recorder is installed already")?;
    let _ = INSTALLED.set(handle.clone());
    // Without a scrape nobody renders: keep the recorder's histograms small.
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    if let Some(address) = address {
        let listener = std::net::TcpListener::bind(address).with_context(|| format!("serving metrics on {address}"))?;
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        tokio::spawn(endpoint::serve(listener, handle.clone()));
        tracing::info!(%address, "metrics endpoint up");
    }
    Ok(handle)
}

/// Renders every metric of the process in Prometheus' text format, the
/// process figures (`process_*`) read afresh.
pub fn render(handle: &PrometheusHandle) -> String {
    let mut text = handle.render();
    text.push_str(&process::render());
    text
}

/// Records `gantry_build_info{version, commit} 1`, the build a process runs.
pub fn record_build_info(version: &'static str, commit: &'static str) {
    metrics::describe_gauge!("gantry_build_info", "The build this process runs: its version and commit.");
    metrics::gauge!("gantry_build_info", "version" => version, "commit" => commit).set(1.0);
}

mod endpoint {
    //! The metrics listener: `GET /metrics` (Prometheus text), `GET /healthz`
    //! (`ok` while the process runs), 404 for any other path.

    use bytes::Bytes;
    use http::{Method, Request, Response, StatusCode, header};
    use metrics_exporter_prometheus::PrometheusHandle;
    use std::convert::Infallible;
    use std::time::Duration;
    use tokio::net::TcpListener;

    pub(super) async fn serve(listener: TcpListener, handle: PrometheusHandle) {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of descriptors, say: wait instead of spinning.
                    tracing::warn!(%error, "metrics endpoint could not accept");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let handle = handle.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                    let response = respond(request.method(), request.uri().path(), &handle);
                    async move { Ok::<_, Infallible>(response) }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                if let Err(error) = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await {
                    tracing::debug!(%error, "metrics connection ended");
                }
            });
        }
    }

    pub(super) fn respond(
        method: &Method,
        path: &str,
        handle: &PrometheusHandle,
    ) -> Response<http_body_util::Full<Bytes>> {
        let (status, content_type, body) = match (method, path) {
            (&Method::GET | &Method::HEAD, "/metrics") => {
                (StatusCode::OK, "text/plain; version=0.0.4; charset=utf-8", super::render(handle))
            }
            (&Method::GET | &Method::HEAD, "/healthz") => (StatusCode::OK, "text/plain; charset=utf-8", "ok\n".into()),
            (_, "/metrics" | "/healthz") => {
                (StatusCode::METHOD_NOT_ALLOWED, "text/plain; charset=utf-8", "GET only\n".into())
            }
            _ => (StatusCode::NOT_FOUND, "text/plain; charset=utf-8", "not found: try /metrics or /healthz\n".into()),
        };
        let mut response = Response::new(http_body_util::Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static(content_type));
        response
    }
}

mod process {
    //! `process_*` figures of this process, read from `/proc` at each scrape,
    //! with the names and types of Prometheus' client libraries (rendered
    //! here: the recorder's counters are integers, CPU seconds are not).

    use std::fmt::Write as _;

    /// Returns the figures in Prometheus' text format; what `/proc` does
    /// not give (not Linux) is left out.
    pub(super) fn render() -> String {
        let mut text = String::new();
        let mut put = |name: &str, kind: &str, help: &str, value: f64| {
            let _ = write!(text, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n\n");
        };
        let Ok(myself) = procfs::process::Process::myself() else { return String::new() };
        if let Ok(stat) = myself.stat() {
            let ticks = procfs::ticks_per_second() as f64;
            let cpu = (stat.utime + stat.stime) as f64 / ticks;
            put("process_cpu_seconds_total", "counter", "User and system CPU time spent in seconds.", cpu);
            let resident = (stat.rss * procfs::page_size()) as f64;
            put("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", resident);
            put("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", stat.vsize as f64);
            put("process_threads", "gauge", "Number of OS threads in the process.", stat.num_threads as f64);
            if let Ok(boot) = procfs::boot_time_secs() {
                let start = boot as f64 + stat.starttime as f64 / ticks;
                put(
                    "process_start_time_seconds",
                    "gauge",
                    "Start time of the process since unix epoch in seconds.",
                    start,
                );
            }
        }
        if let Ok(open) = myself.fd_count() {
            put("process_open_fds", "gauge", "Number of open file descriptors.", open as f64);
        }
        if let Ok(limits) = myself.limits()
            && let procfs::process::LimitValue::Value(max) = limits.max_open_files.soft_limit
        {
            put("process_max_fds", "gauge", "Maximum number of open file descriptors.", max as f64);
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    async fn get(address: SocketAddr, path: &str) -> (u16, String) {
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        let status = answer.split_whitespace().nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
        (status, answer)
    }

    #[tokio::test]
    async fn the_metrics_listener_serves_metrics_and_healthz_and_nothing_else() {
        let handle = install_metrics(None).unwrap();
        record_build_info("9.8.7", "0123abcd");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(endpoint::serve(listener, handle));

        let (status, metrics) = get(address, "/metrics").await;
        assert_eq!(status, 200, "{metrics}");
        for series in [
            "gantry_build_info{version=\"9.8.7\",commit=\"0123abcd\"} 1",
            "# TYPE process_cpu_seconds_total counter",
            "process_resident_memory_bytes ",
            "process_open_fds ",
            "process_max_fds ",
            "process_start_time_seconds ",
        ] {
            assert!(metrics.contains(series), "{series} missing from\n{metrics}");
        }
        let (status, health) = get(address, "/healthz").await;
        assert_eq!(status, 200, "{health}");
        assert!(health.ends_with("ok\n"), "{health}");
        for path in ["/", "/metrics/", "/favicon.ico", "/api/metrics"] {
            let (status, answer) = get(address, path).await;
            assert_eq!(status, 404, "{path}: {answer}");
        }
    }
}
