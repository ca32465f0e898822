//! [`Intake`], the runnable service: start-up work (schema, stream,
//! policy, tokens, listener), then the gRPC server and the view's
//! projection side by side until shutdown.

use crate::commands::Commands;
use crate::domain::Policy;
use crate::grpc::IntakeApi;
use crate::startup::Parts;
use crate::view::RequestsView;
use anyhow::Context as _;
use gantry_eventlog::{ProjectionRunner, RunnerOptions};
use gantry_proto::intake::intake_service_server::IntakeServiceServer;
use gantry_runtime::config::AuthSettings;
use gantry_runtime::{Authenticator, Config, Shutdown, TokenStore};
use sqlx::PgPool;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;

/// The intake service, built and ready to run: its listener is bound (so
/// port 0 works), its schema migrated and its stream open.
#[derive(Debug)]
pub struct Intake {
    listener: TcpListener,
    commands: Commands,
    pool: PgPool,
    read_wait: Duration,
    runner: ProjectionRunner<RequestsView>,
    tokens: TokenStore,
    auth: AuthSettings,
    max_message_bytes: usize,
}

impl Intake {
    /// Does the start-up work: schema and migrations, stream, policy, tokens, listener.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let Parts { settings, pool, log, view } = Parts::connect(config).await?;
        let policy = match &settings.policy_file {
            Some(path) => {
                Policy::parse(&std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?)?
            }
            None => Policy::built_in(),
        };
        let auth = config.section::<AuthSettings>("auth")?;
        let tokens = TokenStore::load(&auth.tokens_file)?;
        let options = RunnerOptions {
            batch_size: settings.projection_batch_size,
            fault: settings.fault,
            ..RunnerOptions::default()
        };
        let runner = ProjectionRunner::new(log.clone(), pool.clone(), view, options);
        let listener =
            TcpListener::bind(settings.listen).await.with_context(|| format!("binding {}", settings.listen))?;
        let commands = Commands::new(log, policy);
        let (read_wait, max_message_bytes) = (settings.read_wait(), settings.max_message_bytes);
        Ok(Self { listener, commands, pool, read_wait, runner, tokens, auth, max_message_bytes })
    }

    /// Returns the address the gRPC server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Returns the view's pool (tests and tools).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Serves gRPC and keeps the view until shutdown; if either fails, both stop.
    pub async fn run(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let api = IntakeApi {
            commands: self.commands,
            pool: self.pool,
            read_wait: self.read_wait,
            shutdown: shutdown.clone(),
        };
        let service = IntakeServiceServer::new(api)
            .max_decoding_message_size(self.max_message_bytes)
            .max_encoding_message_size(16 * 1024 * 1024);
        let (tokens_file, every) = (self.auth.tokens_file.clone(), self.auth.reload_interval());
        let authenticator = Authenticator::watching(self.tokens, tokens_file, every, shutdown.clone());
        let authenticated = tonic::service::interceptor::InterceptedService::new(service, authenticator);
        let routes = tonic::service::Routes::new(authenticated);
        let serving = [gantry_runtime::grpc::service_name::<IntakeServiceServer<IntakeApi>>()];
        let server = gantry_runtime::grpc::serve(
            self.listener,
            routes,
            &[gantry_proto::FILE_DESCRIPTOR_SET],
            &serving,
            shutdown.clone(),
        );
        let projection = self.runner.run(shutdown.wait());
        tokio::try_join!(server, projection)?;
        Ok(())
    }
}

/// Runs intake with `config` until `shutdown`.
pub async fn run(config: &Config, shutdown: Shutdown) -> anyhow::Result<()> {
    Intake::build(config).await?.run(shutdown).await
}
