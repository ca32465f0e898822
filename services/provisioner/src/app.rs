//! [`Provisioner`] declared on the service skeleton: its settings, its view
//! and its database reactor. (Its API comes with the reads of its view.)

use crate::databases::DatabaseReactor;
use crate::secrets::SecretStore;
use crate::settings::ProvisionerSettings;
use crate::view::{DatabasesView, MIGRATOR};
use gantry_runtime::{Config, Shutdown};
use gantry_service::{Declaration, Parts, Service};
use std::sync::Arc;

/// The provisioner service.
#[derive(Debug)]
pub struct Provisioner;

impl Service for Provisioner {
    const NAME: &'static str = "provisioner";
    const DEFAULT_PORT: u16 = 50052;
    type Settings = ProvisionerSettings;

    fn migrator() -> &'static sqlx::migrate::Migrator {
        &MIGRATOR
    }

    fn declare(parts: &Parts<ProvisionerSettings>) -> anyhow::Result<Declaration> {
        let requests = parts.log.settings().subjects_of("request");
        let settings = parts.settings.clone();
        let secrets = SecretStore::new(parts.config.section("aws")?);
        let options = settings.reactor_options();
        let reactor = Arc::new(DatabaseReactor::new(requests.clone(), settings, secrets));
        let view = Arc::new(DatabasesView::new(requests));
        Ok(Declaration::new().view(parts, view).reactor(parts, reactor, options))
    }
}

/// Runs the provisioner with `config` until `shutdown`.
pub async fn run(config: &Config, shutdown: Shutdown) -> anyhow::Result<()> {
    gantry_service::run::<Provisioner>(config, shutdown).await
}
