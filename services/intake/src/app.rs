//! [`Intake`] declared on the service skeleton: its settings, schema, the
//! request catalog view and the gRPC API.

use crate::commands::Commands;
use crate::grpc::IntakeApi;
use crate::settings::IntakeSettings;
use crate::view::{MIGRATOR, RequestsView};
use gantry_eventlog::Tail;
use gantry_proto::intake::intake_service_server::IntakeServiceServer;
use gantry_runtime::{Config, Shutdown};
use gantry_service::{Declaration, Parts, Service};
use std::sync::Arc;

/// Events a watch may lag behind the log before it is cut off.
const WATCH_BUFFER: usize = 4096;

/// The intake service.
#[derive(Debug)]
pub struct Intake;

impl Service for Intake {
    const NAME: &'static str = "intake";
    const DEFAULT_PORT: u16 = 50051;
    type Settings = IntakeSettings;

    fn migrator() -> &'static sqlx::migrate::Migrator {
        &MIGRATOR
    }

    fn declare(parts: &Parts<IntakeSettings>) -> anyhow::Result<Declaration> {
        let requests = parts.log.settings().subjects_of("request");
        let tail = Tail::new(parts.log.clone(), requests.clone(), WATCH_BUFFER, parts.shutdown.clone().wait());
        let view = Arc::new(RequestsView::new(requests));
        let api = IntakeApi {
            commands: Commands::new(parts.log.clone(), parts.settings.policy()?),
            pool: parts.pool.clone(),
            readiness: parts.readiness.clone(),
            read_wait: parts.read_wait(),
            tail,
            shutdown: parts.shutdown.clone(),
        };
        let server = IntakeServiceServer::new(api)
            .max_decoding_message_size(parts.service.max_message_bytes)
            .max_encoding_message_size(16 * 1024 * 1024);
        Ok(Declaration::new().view(parts, view).api(server))
    }
}

/// Runs intake with `config` until `shutdown`.
pub async fn run(config: &Config, shutdown: Shutdown) -> anyhow::Result<()> {
    gantry_service::run::<Intake>(config, shutdown).await
}
