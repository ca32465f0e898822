//! [`Lineage`] declared on the service skeleton: its settings, its graph
//! view and its gRPC API.

use crate::api::LineageApi;
use crate::settings::LineageSettings;
use crate::view::{GraphView, MIGRATOR, VIEW_NAME};
use gantry_proto::lineage::lineage_service_server::LineageServiceServer;
use gantry_runtime::{Config, Shutdown};
use gantry_service::api::ViewReads;
use gantry_service::{Declaration, Parts, Service};
use std::sync::Arc;

/// The lineage service.
#[derive(Debug)]
pub struct Lineage;

impl Service for Lineage {
    const NAME: &'static str = "lineage";
    const DEFAULT_PORT: u16 = 50054;
    type Settings = LineageSettings;

    fn migrator() -> &'static sqlx::migrate::Migrator {
        &MIGRATOR
    }

    fn declare(parts: &Parts<LineageSettings>) -> anyhow::Result<Declaration> {
        let settings = parts.settings.clone();
        anyhow::ensure!(
            settings.max_depth > 0 && settings.max_nodes_limit > 0,
            "lineage.max_depth and lineage.max_nodes_limit must be above 0"
        );
        let view = GraphView::new(&parts.log.settings().subject_prefix);
        let api = LineageApi { reads: ViewReads::of(parts, VIEW_NAME), log: parts.log.clone(), settings };
        let server = LineageServiceServer::new(api).max_decoding_message_size(parts.service.max_message_bytes);
        Ok(Declaration::new().view(parts, Arc::new(view)).api(server))
    }
}

/// Runs lineage with `config` until `shutdown`.
pub async fn run(config: &Config, shutdown: Shutdown) -> anyhow::Result<()> {
    gantry_service::run::<Lineage>(config, shutdown).await
}
