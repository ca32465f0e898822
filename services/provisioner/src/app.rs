//! [`Provisioner`] declared on the service skeleton: its settings, its view,
//! its reactors (databases, buckets, decommissions), the periodic drift
//! check and its gRPC API.

use crate::api::ProvisionerApi;
use crate::buckets::BucketReactor;
use crate::databases::DatabaseReactor;
use crate::decommission::DecommissionReactor;
use crate::drift::Reconciler;
use crate::s3::BucketStore;
use crate::settings::ProvisionerSettings;
use crate::view::{MIGRATOR, ResourcesView, VIEW_NAME};
use gantry_platform::aws::Aws;
use gantry_platform::secrets::SecretStore;
use gantry_proto::provisioner::provisioner_service_server::ProvisionerServiceServer;
use gantry_runtime::{Config, Shutdown};
use gantry_service::api::ViewReads;
use gantry_service::{Declaration, Parts, Service};
use std::sync::Arc;
use std::time::Duration;

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
        let aws = Aws::new(parts.config.section("aws")?);
        let (secrets, buckets) = (SecretStore::new(aws.clone()), BucketStore::new(aws));
        let options = settings.reactor_options();
        let databases = Arc::new(DatabaseReactor::new(requests.clone(), settings.clone(), secrets.clone()));
        let bucket_reactor = Arc::new(BucketReactor::new(requests.clone(), settings.clone(), buckets.clone()));
        let decommissions = Arc::new(DecommissionReactor::new(requests.clone(), settings.clone(), secrets.clone()));
        let reconciler = Reconciler { pool: parts.pool.clone(), log: parts.log.clone(), settings, secrets, buckets };
        let api = ProvisionerApi { reads: ViewReads::of(parts, VIEW_NAME), reconciler: reconciler.clone() };
        let server = ProvisionerServiceServer::new(api).max_decoding_message_size(parts.service.max_message_bytes);
        let drift_interval = Duration::from_secs(parts.settings.reconcile_interval_s);
        Ok(Declaration::new()
            .view(parts, Arc::new(ResourcesView::new(requests)))
            .reactor(parts, databases, options.clone())
            .reactor(parts, bucket_reactor, options.clone())
            .reactor(parts, decommissions, options)
            .api(server)
            .every(parts, "drift check", drift_interval, move || {
                let reconciler = reconciler.clone();
                async move { reconciler.check().await }
            }))
    }
}

/// Runs the provisioner with `config` until `shutdown`.
pub async fn run(config: &Config, shutdown: Shutdown) -> anyhow::Result<()> {
    gantry_service::run::<Provisioner>(config, shutdown).await
}
