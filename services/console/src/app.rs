//! [`Console`] declared on the service skeleton (its view and the gRPC
//! `EventService`), and [`ConsoleServer`], which serves the skeleton's gRPC
//! and console's HTTP side (SSE and the page) side by side.

use crate::grpc::EventApi;
use crate::http::{self, HttpState};
use crate::settings::ConsoleSettings;
use crate::view::{ConsoleView, MIGRATOR};
use crate::watch::Watches;
use anyhow::Context as _;
use gantry_proto::events::event_service_server::EventServiceServer;
use gantry_runtime::{Config, Shutdown};
use gantry_service::{Built, Declaration, Parts, Service};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// The console service.
#[derive(Debug)]
pub struct Console;

impl Service for Console {
    const NAME: &'static str = "console";
    const DEFAULT_PORT: u16 = 50056;
    type Settings = ConsoleSettings;

    fn migrator() -> &'static sqlx::migrate::Migrator {
        &MIGRATOR
    }

    fn declare(parts: &Parts<ConsoleSettings>) -> anyhow::Result<Declaration> {
        let requests = parts.log.settings().subjects_of("request");
        let view = Arc::new(ConsoleView { filter_subject: requests });
        let watches = Watches::new(parts.log.clone(), &parts.settings, parts.shutdown.clone());
        let server = EventServiceServer::new(EventApi { watches });
        Ok(Declaration::new().view(parts, view).api(server))
    }
}

/// Console built and ready: gRPC and HTTP listeners bound (port 0 works
/// for both), log open, view declared.
#[derive(Debug)]
pub struct ConsoleServer {
    built: Built<Console>,
    http: TcpListener,
    state: HttpState,
}

impl ConsoleServer {
    /// Reads the settings, binds both listeners and connects what console
    /// needs (waiting for NATS, as every service does).
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let settings: ConsoleSettings = config.section(Console::NAME)?;
        let http = TcpListener::bind(settings.http_listen)
            .await
            .with_context(|| format!("binding console's HTTP listener {}", settings.http_listen))?;
        let built = gantry_service::build::<Console>(config).await?;
        let state = HttpState::new(&built, settings);
        Ok(Self { built, http, state })
    }

    /// Returns the gRPC address.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.built.local_addr()
    }

    /// Returns the HTTP address (the page and `/v1/events`).
    pub fn http_addr(&self) -> SocketAddr {
        self.http.local_addr().expect("a bound listener has an address")
    }

    /// Serves gRPC and HTTP until `shutdown` (SSE streams end with it).
    pub async fn run(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let Self { built, http, state } = self;
        let watches = Watches::new(built.log().clone(), &state.settings, shutdown.clone());
        let serving = http::serve(http, state, watches, shutdown.clone());
        tokio::try_join!(built.run(shutdown), serving)?;
        Ok(())
    }
}

/// Runs console with `config` until `shutdown`.
pub async fn run(config: &Config, shutdown: Shutdown) -> anyhow::Result<()> {
    let server = tokio::select! {
        built = ConsoleServer::build(config) => built?,
        _ = shutdown.clone().wait() => return Ok(()),
    };
    server.run(shutdown).await
}
