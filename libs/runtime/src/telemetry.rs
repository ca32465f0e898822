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
    let mut builder = PrometheusBuilder::new().set_buckets_for_metric(
        Matcher::Suffix("_seconds".into()),
        &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0],
    )?;
    if let Some(address) = address {
        builder = builder.with_http_listener(address);
    }
    let (recorder, exporter) = builder.build().with_context(|| format!("serving metrics on {address:?}"))?;
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).context("a metrics recorder is installed already")?;
    tokio::spawn(exporter);
    let _ = INSTALLED.set(handle.clone());
    tracing::info!(?address, "metrics endpoint up");
    Ok(handle)
}
