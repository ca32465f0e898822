//! [`Ingest`] declared on the service skeleton: its settings, its view,
//! the start-up cleanup of staged uploads and orphan blobs, the retention
//! and orphan sweeps and its gRPC API.

use crate::api::{IngestApi, Limits};
use crate::backend::{Backend, Backends};
use crate::layout_reactor::RunLayouts;
use crate::orphans::Orphans;
use crate::settings::IngestSettings;
use crate::sweeper::Sweeper;
use crate::view::{ArtifactsView, MIGRATOR, VIEW_NAME};
use gantry_eventlog::ReactorOptions;
use gantry_proto::artifacts::artifact_service_server::ArtifactServiceServer;
use gantry_runtime::{Config, Shutdown};
use gantry_service::api::ViewReads;
use gantry_service::{Declaration, Parts, Service};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The longest a presigned URL may live (SigV4's limit).
const MAX_PRESIGNED_EXPIRY_S: u64 = 7 * 86_400;
/// Room for a message's framing and an upload header beside the largest chunk.
const MESSAGE_HEADROOM_BYTES: usize = 128 * 1024;

/// The ingest service (the artifact store).
#[derive(Debug)]
pub struct Ingest;

impl Service for Ingest {
    const NAME: &'static str = "ingest";
    const DEFAULT_PORT: u16 = 50053;
    type Settings = IngestSettings;

    fn migrator() -> &'static sqlx::migrate::Migrator {
        &MIGRATOR
    }

    fn declare(parts: &Parts<IngestSettings>) -> anyhow::Result<Declaration> {
        let settings = &parts.settings;
        anyhow::ensure!(settings.max_chunk_bytes > 0, "ingest.max_chunk_bytes must be above 0");
        anyhow::ensure!(
            settings.presigned_url_expiry_s <= MAX_PRESIGNED_EXPIRY_S,
            "ingest.presigned_url_expiry_s must be at most {MAX_PRESIGNED_EXPIRY_S} (a week, S3's limit)"
        );
        let backends =
            Backends::new(settings).map_err(|violation| anyhow::anyhow!("invalid configuration: {violation}"))?;
        let limits = Limits {
            max_chunk_bytes: settings.max_chunk_bytes,
            max_artifact_bytes: settings.max_artifact_bytes,
            deletion_wait: Duration::from_millis(settings.deletion_wait_ms),
            pause_before_record: Duration::from_millis(settings.pause_before_record_ms),
            fail_before_record: settings.fail_before_record,
        };
        let api = IngestApi {
            backends: backends.clone(),
            log: parts.log.clone(),
            reads: ViewReads::of(parts, VIEW_NAME),
            limits,
            presigned_url_expiry: Some(Duration::from_secs(settings.presigned_url_expiry_s))
                .filter(|expiry| !expiry.is_zero()),
        };
        let layouts =
            RunLayouts { api: api.clone(), filter_subject: parts.log.settings().subjects_of(crate::runs::RUN) };
        let sweeper = Sweeper { api: api.clone(), grace: Duration::from_secs(settings.blob_grace_s) };
        let sweep_interval = Duration::from_millis(settings.sweep_interval_ms);
        let orphans = Orphans { sweeper: sweeper.clone(), grace: Duration::from_secs(settings.orphan_grace_s) };
        let orphan_interval = Duration::from_millis(settings.orphan_sweep_interval_ms);
        let largest_message = parts.service.max_message_bytes.max(settings.max_chunk_bytes) + MESSAGE_HEADROOM_BYTES;
        let server = ArtifactServiceServer::new(api).max_decoding_message_size(largest_message);
        let grace = Duration::from_secs(settings.staging_grace_s);
        let artifacts = parts.log.settings().subjects_of(crate::blob_log::BLOB);
        let mut declaration = Declaration::new().view(parts, Arc::new(ArtifactsView::new(artifacts))).reactor(
            parts,
            Arc::new(layouts),
            layout_reactor_options(),
        );
        for backend in backends.all() {
            let task = format!("start-up cleanup of {}", backend.name());
            let (backend, orphans) = (backend.clone(), orphans.clone());
            declaration = declaration.task(&task, move |shutdown| async move {
                clean_at_start(&backend, grace, &orphans, &shutdown).await;
                Ok(())
            });
        }
        Ok(declaration
            .every(parts, "retention sweep", sweep_interval, move || {
                let sweeper = sweeper.clone();
                async move { sweeper.sweep().await }
            })
            .every(parts, "orphan sweep", orphan_interval, move || {
                let orphans = orphans.clone();
                async move { orphans.sweep().await }
            })
            .api(server))
    }
}

/// Cleans one backend at start-up: removes the staged uploads begun more
/// than `grace` before now (what a crash or a lost client left), then
/// deletes its orphan blobs; each step is retried while the store or the
/// log is unreachable.
async fn clean_at_start(backend: &Backend, grace: Duration, orphans: &Orphans, shutdown: &Shutdown) {
    let before = SystemTime::now() - grace;
    let staging = retrying("cleaning the staging area", backend, shutdown, || crate::staging::clean(backend, before));
    let Some(removed) = staging.await else { return };
    tracing::info!(removed, backend = backend.name(), "staged uploads left from before start-up removed");
    retrying("sweeping orphan blobs", backend, shutdown, || orphans.sweep_backend(backend)).await;
}

/// Runs `attempt` until it succeeds (doubling the pause from 500 ms to
/// 30 s) or `shutdown` (then `None`).
async fn retrying<T, E, F, Fut>(what: &str, backend: &Backend, shutdown: &Shutdown, attempt: F) -> Option<T>
where
    E: std::fmt::Display,
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut pause = Duration::from_millis(500);
    loop {
        match attempt().await {
            Ok(done) => return Some(done),
            Err(error) => tracing::warn!(backend = backend.name(), error = %error,
                retry_in_ms = pause.as_millis() as u64, "{what} failed"),
        }
        tokio::select! {
            () = shutdown.clone().wait() => return None,
            () = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(Duration::from_secs(30));
    }
}

/// How the run-layouts reactor retries: soon at first (the view is usually
/// a moment behind the completion), then up to a minute apart.
fn layout_reactor_options() -> ReactorOptions {
    ReactorOptions {
        backoff_base: Duration::from_millis(200),
        backoff_cap: Duration::from_secs(60),
        max_attempts: 20,
        ..ReactorOptions::default()
    }
}

/// Runs ingest with `config` until `shutdown`.
pub async fn run(config: &Config, shutdown: Shutdown) -> anyhow::Result<()> {
    gantry_service::run::<Ingest>(config, shutdown).await
}
