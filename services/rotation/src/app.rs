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
        let api = RotationApi { reads, log: parts.log.clone(), due_soon_days: settings.due_soon_days };
        let server = RotationServiceServer::new(api).max_decoding_message_size(parts.service.max_message_bytes);
        Ok(Declaration::new()
            .view(parts, Arc::new(RotationsView::new(requests)))
            .reactor(parts, reactor, options)
            .api(server))
    }
}

/// Runs rotation with `config` until `shutdown`.
pub async fn run(config: &Config, shutdown: Shutdown) -> anyhow::Result<()> {
    gantry_service::run::<Rotation>(config, shutdown).await
}
