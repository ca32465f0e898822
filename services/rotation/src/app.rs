//! [`Rotation`] declared on the service skeleton: its settings, its view,
//! its rotation reactor and its gRPC API.

use crate::api::RotationApi;
use crate::rotate::RotationReactor;
use crate::settings::RotationSettings;
use crate::view::{MIGRATOR, RotationsView, VIEW_NAME};
use gantry_platform::aws::Aws;
use gantry_platform::secrets::SecretStore;
use gantry_proto::rotation::rotation_service_server::RotationServiceServer;
use gantry_runtime::{Config, Shutdown};
use gantry_service::api::ViewReads;
use gantry_service::{Declaration, Parts, Service};
use std::sync::Arc;
use std::time::Duration;

/// The rotation service.
#[derive(Debug)]
pub struct Rotation;

impl Service for Rotation {
    const NAME: &'static str = "rotation";
    const DEFAULT_PORT: u16 = 50055;
    type Settings = RotationSettings;

    fn migrator() -> &'static sqlx::migrate::Migrator {
        &MIGRATOR
    }

    fn declare(parts: &Parts<RotationSettings>) -> anyhow::Result<Declaration> {
        let requests = parts.log.settings().subjects_of("request");
        let settings = parts.settings.clone();
        let secrets = SecretStore::new(Aws::new(parts.config.section("aws")?));
        let options = settings.reactor_options();
        let reactor = Arc::new(RotationReactor::new(requests.clone(), settings.clone(), secrets));
        let reads = ViewReads {
            pool: parts.pool.clone(),
            readiness: parts.readiness.clone(),
            view: VIEW_NAME,
            wait: parts.read_wait(),
        };
        let gauges = StateGauges { pool: parts.pool.clone(), due_soon_days: settings.due_soon_days };
        let metrics_every = Duration::from_secs(settings.metrics_interval_s);
        let view = Arc::new(RotationsView::new(requests, settings.clone()));
        let api = RotationApi { reads, log: parts.log.clone(), settings };
        let server = RotationServiceServer::new(api).max_decoding_message_size(parts.service.max_message_bytes);
        Ok(Declaration::new()
            .view(parts, view)
            .reactor(parts, reactor, options)
            .every(parts, "rotation state gauges", metrics_every, move || {
                let gauges = gauges.clone();
                async move { gauges.update().await }
            })
            .api(server))
    }
}

/// Sets `rotation_credentials{state}` from the view (on every replica; each
/// reads the same view, so alerts take the `max`).
#[derive(Debug, Clone)]
struct StateGauges {
    pool: sqlx::PgPool,
    due_soon_days: u32,
}

impl StateGauges {
    async fn update(&self) -> anyhow::Result<()> {
        let counts = crate::api::state_counts(&self.pool, self.due_soon_days).await?;
        for (state, count) in counts {
            metrics::gauge!("rotation_credentials", "state" => state).set(count as f64);
        }
        Ok(())
    }
}

/// Runs rotation with `config` until `shutdown`.
pub async fn run(config: &Config, shutdown: Shutdown) -> anyhow::Result<()> {
    gantry_service::run::<Rotation>(config, shutdown).await
}
