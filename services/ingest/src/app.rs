//! [`Ingest`] declared on the service skeleton: its view, the run-layouts
//! reactor, the start-up cleanup of each backend, the retention and orphan
//! sweeps, and its gRPC API.

use crate::api::IngestApi;
use crate::layout_reactor::{self, RunLayouts};
use crate::orphans::Orphans;
use crate::settings::IngestSettings;
use crate::sweeper::Sweeper;
use crate::view::{ArtifactsView, MIGRATOR};
use gantry_runtime::{Config, Shutdown};
use gantry_service::{Declaration, Parts, Service};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

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
        let (settings, subjects) = (&parts.settings, parts.log.settings());
        let api = IngestApi::new(parts)?;
        let layouts = RunLayouts { api: api.clone(), filter_subject: subjects.subjects_of(crate::runs::RUN) };
        let sweeper = Sweeper { api: api.clone(), grace: Duration::from_secs(settings.blob_grace_s) };
        let orphans = Orphans { sweeper: sweeper.clone(), grace: Duration::from_secs(settings.orphan_grace_s) };
        // Uploads begun before start-up (less the grace other replicas' need) are leftovers.
        let started_before = SystemTime::now() - Duration::from_secs(settings.staging_grace_s);
        let view = ArtifactsView::new(subjects.subjects_of(crate::blob_log::BLOB));
        let mut declaration =
            Declaration::new().view(parts, Arc::new(view)).reactor(parts, Arc::new(layouts), layout_reactor::options());
        for backend in api.backends.all() {
            let (backend, orphans) = (backend.clone(), orphans.clone());
            declaration = declaration.at_start(parts, &format!("start-up cleanup of {}", backend.name()), move || {
                let (backend, orphans) = (backend.clone(), orphans.clone());
                async move { orphans.clean_at_start(&backend, started_before).await }
            });
        }
        let orphan_sweeps = orphans.clone();
        Ok(declaration
            .every(parts, "retention sweep", Duration::from_millis(settings.sweep_interval_ms), move || {
                let sweeper = sweeper.clone();
                async move { sweeper.sweep().await }
            })
            .every(parts, "orphan sweep", Duration::from_millis(settings.orphan_sweep_interval_ms), move || {
                let orphans = orphan_sweeps.clone();
                async move { orphans.sweep().await }
            })
            .api(api.server(parts.service.max_message_bytes)))
    }
}

/// Runs ingest with `config` until `shutdown`.
pub async fn run(config: &Config, shutdown: Shutdown) -> anyhow::Result<()> {
    gantry_service::run::<Ingest>(config, shutdown).await
}
