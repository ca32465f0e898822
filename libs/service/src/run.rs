//! Start-up and the running service: [`build`] connects what the service
//! needs (waiting for NATS, trying Postgres) and binds its listener;
//! [`Built::run`] serves gRPC and runs the declared views and tasks until
//! shutdown, migrating the schema first whenever Postgres allows.

use crate::declare::{Declaration, Parts, Readiness, Service};
use crate::health::HealthMonitor;
use crate::settings::{self, ServiceSettings};
use anyhow::Context as _;
use gantry_eventlog::backoff::Failures;
use gantry_eventlog::{EventLog, StreamSettings};
use gantry_runtime::config::{AuthSettings, DatabaseSettings, NatsSettings};
use gantry_runtime::grpc::GrpcSettings;
use gantry_runtime::{Authenticator, Config, Shutdown, ShutdownTrigger, TokenStore};
use sqlx::PgPool;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// A service built and ready to run: listener bound (so port 0 works), log
/// open, views declared; its schema is migrated already if Postgres was up.
pub struct Built<S: Service> {
    listener: TcpListener,
    assembled: Assembled<S>,
    authenticator: Authenticator,
    grpc: GrpcSettings,
}

impl<S: Service> std::fmt::Debug for Built<S> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Built").field("service", &S::NAME).field("listener", &self.listener).finish()
    }
}

impl<S: Service> std::fmt::Debug for Assembled<S> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Assembled").field("service", &S::NAME).field("schema", &self.schema).finish()
    }
}

/// Runs `attempt` until it succeeds, logging each failure and pausing.
async fn until_ok<T, F, Fut>(service: &str, what: &str, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let mut failures = Failures::default();
    loop {
        match attempt().await {
            Ok(value) => {
                if !failures.is_clear() {
                    tracing::info!(service, "{what}: done");
                }
                return value;
            }
            Err(error) => {
                let (attempts, pause) = failures.record();
                tracing::warn!(
                    service,
                    attempt = attempts,
                    retry_in_ms = pause.as_millis() as u64,
                    error = format!("{error:#}"),
                    "{what} failed; retrying"
                );
                tokio::time::sleep(pause).await;
            }
        }
    }
}

/// True for a migration error that retrying cannot mend: the schema's
/// history disagrees with the build's migrations, or Postgres refused a
/// statement for a reason other than being unreachable.
fn is_permanent(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| cause.downcast_ref::<sqlx::migrate::MigrateError>().is_some())
        && !gantry_runtime::postgres::is_unavailable(error)
}

/// Creates and migrates the service's schema, and the checkpoint tables
/// of its views (so reads can wait on a checkpoint from the start).
async fn migrate<S: Service>(
    database: &DatabaseSettings,
    schema: &str,
    pool: &PgPool,
    views: &[String],
) -> anyhow::Result<()> {
    gantry_runtime::postgres::create_schema(database, schema).await?;
    S::migrator().run(pool).await.with_context(|| format!("migrating the {} schema", S::NAME))?;
    for view in views {
        gantry_eventlog::projection::install(pool, view).await?;
    }
    Ok(())
}

/// What a service is made of before it serves: settings, log, pool,
/// declaration (shared by the running service and the admin tools).
struct Assembled<S: Service> {
    parts: Parts<S::Settings>,
    declaration: Declaration,
    nats: async_nats::Client,
    schema: String,
    database: DatabaseSettings,
    trigger: ShutdownTrigger,
}

/// Reads the settings, opens the log (waiting for NATS), tries the schema
/// once and lets the service declare itself.
async fn assemble<S: Service>(
    config: &Config,
    service: ServiceSettings,
    settings: S::Settings,
) -> anyhow::Result<Assembled<S>> {
    let database: DatabaseSettings = config.section("database")?;
    let stream: StreamSettings = config.section("stream")?;
    let schema = service.schema.clone().unwrap_or_else(|| S::NAME.to_owned());
    let nats = config.section::<NatsSettings>("nats")?.connect().await?;
    let log = until_ok(S::NAME, "opening the event log", || EventLog::open(nats.clone(), stream.clone())).await;
    let pool = gantry_runtime::postgres::lazy_pool(&database, &schema)?;
    let readiness = Readiness::default();
    // The service's own shutdown follows the process's once it runs.
    let (trigger, shutdown) = ShutdownTrigger::new();
    let parts = Parts { settings, service, config: config.clone(), log, pool, readiness, shutdown };
    let declaration = S::declare(&parts)?;
    match migrate::<S>(&database, &schema, &parts.pool, &declaration.view_names()).await {
        Ok(()) => parts.readiness.set_ready(),
        Err(error) => tracing::warn!(
            service = S::NAME,
            error = format!("{error:#}"),
            "schema not ready (Postgres down?); serving writes and retrying"
        ),
    }
    Ok(Assembled { parts, declaration, nats, schema, database, trigger })
}

/// Reads the settings and tokens, binds the listener (so port 0 works),
/// opens the log (waiting for NATS), tries the schema once and lets the
/// service declare itself.
pub async fn build<S: Service>(config: &Config) -> anyhow::Result<Built<S>> {
    let (service, settings) = settings::read::<S::Settings>(config, S::NAME)?;
    let auth: AuthSettings = config.section("auth")?;
    let grpc: GrpcSettings = config.section("grpc")?;
    let tokens = TokenStore::load(&auth.tokens_file)?;
    let listen = service.listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], S::DEFAULT_PORT)));
    let listener = TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
    let assembled = assemble::<S>(config, service, settings).await?;
    let shutdown = assembled.parts.shutdown.clone();
    let authenticator = Authenticator::watching(tokens, auth.tokens_file.clone(), auth.reload_interval(), shutdown);
    Ok(Built { listener, assembled, authenticator, grpc })
}

impl<S: Service> Built<S> {
    /// Returns the address the gRPC server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Returns the pool on the service's schema (tests and tools).
    pub fn pool(&self) -> &PgPool {
        &self.assembled.parts.pool
    }

    /// Returns the bearer-token check of every API (tests: its file checks).
    pub fn authenticator(&self) -> &Authenticator {
        &self.authenticator
    }

    /// Returns the event log (tests and tools).
    pub fn log(&self) -> &EventLog {
        &self.assembled.parts.log
    }

    /// Serves gRPC and runs the declared views and tasks until `shutdown`;
    /// a failing task (only a simulated crash fails one) stops them all.
    pub async fn run(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let Built { listener, assembled, authenticator, grpc } = self;
        let Assembled { parts, declaration, nats, schema, database, trigger } = assembled;
        let views = declaration.view_names();
        let Declaration { tasks, apis, names, .. } = declaration;
        let health = gantry_runtime::grpc::health();
        let monitor = HealthMonitor {
            reporter: health.0.clone(),
            names: names.clone(),
            pool: parts.pool.clone(),
            nats,
            readiness: parts.readiness.clone(),
            every: Duration::from_millis(parts.service.health_interval_ms.max(10)),
        };
        let routes =
            apis.into_iter().fold(tonic::service::Routes::default(), |routes, add| add(routes, authenticator.clone()));

        let mut running = JoinSet::new();
        let outer = shutdown.clone();
        running.spawn(async move {
            outer.wait().await;
            trigger.trigger();
            Ok(())
        });
        let shutdown = parts.shutdown.clone();
        monitor.check().await;
        running.spawn(monitor.run(shutdown.clone()));
        let (readiness, pool, stopping) = (parts.readiness.clone(), parts.pool.clone(), shutdown.clone());
        running.spawn(async move {
            if readiness.is_ready() {
                return Ok(());
            }
            let migrated = until_ok(S::NAME, "migrating the schema", || async {
                match migrate::<S>(&database, &schema, &pool, &views).await {
                    // Postgres away: try again. A migration that cannot
                    // apply (changed, missing, not permitted) never will.
                    Err(error) if is_permanent(&error) => Ok(Err(error)),
                    other => other.map(Ok),
                }
            });
            tokio::select! {
                _ = stopping.wait() => Ok(()),
                migrated = migrated => {
                    migrated.context("the schema cannot be migrated")?;
                    readiness.set_ready();
                    Ok(())
                }
            }
        });
        for (name, task) in tasks {
            let (readiness, shutdown) = (parts.readiness.clone(), shutdown.clone());
            running.spawn(async move {
                // Views and reactors keep their position in the schema.
                tokio::select! {
                    _ = shutdown.clone().wait() => return Ok(()),
                    _ = readiness.ready() => {}
                }
                task(shutdown).await.with_context(|| format!("{name} stopped"))
            });
        }
        let server = gantry_runtime::grpc::serve(
            listener,
            routes,
            &[gantry_proto::FILE_DESCRIPTOR_SET],
            health,
            &names,
            &grpc,
            shutdown.clone(),
        );
        let tasks = async {
            while let Some(joined) = running.join_next().await {
                joined.context("a service task panicked")??;
            }
            anyhow::Ok(())
        };
        tokio::try_join!(server, tasks)?;
        Ok(())
    }
}

/// Builds and runs `S` until `shutdown` (also while still waiting for NATS).
pub async fn run<S: Service>(config: &Config, shutdown: Shutdown) -> anyhow::Result<()> {
    let built = tokio::select! {
        built = build::<S>(config) => built?,
        _ = shutdown.clone().wait() => return Ok(()),
    };
    built.run(shutdown).await
}

/// How long `gantry admin rebuild` waits for the event log.
const REBUILD_CONNECT_BOUND: Duration = Duration::from_secs(30);

/// What `gantry admin rebuild` did to one view.
#[derive(Debug, Clone)]
pub struct Rebuilt {
    /// The view's name.
    pub view: String,
    /// Its checkpoint afterwards.
    pub checkpoint: u64,
    /// False when a running service leads the view and replays it instead.
    pub replayed_here: bool,
}

/// Drops each view of `S` and replays it from the first event (a running
/// service that leads a view notices and replays it itself). Postgres must
/// be up.
pub async fn rebuild<S: Service>(config: &Config) -> anyhow::Result<Vec<Rebuilt>> {
    let (service, settings) = settings::read::<S::Settings>(config, S::NAME)?;
    // An operator's command: say so when NATS is away instead of waiting.
    let assembled = tokio::time::timeout(REBUILD_CONNECT_BOUND, assemble::<S>(config, service, settings))
        .await
        .map_err(|_| anyhow::anyhow!("the event log was not reachable within {REBUILD_CONNECT_BOUND:?}"))??;
    let Assembled { parts, declaration, schema, database, .. } = assembled;
    migrate::<S>(&database, &schema, &parts.pool, &declaration.view_names()).await?;
    let batch_size = parts.service.projection_batch_size;
    let mut rebuilt = Vec::new();
    for view in &declaration.views {
        let done = view.rebuild(parts.log.clone(), parts.pool.clone(), batch_size).await?;
        rebuilt.push(Rebuilt {
            view: view.name().to_owned(),
            checkpoint: done.checkpoint,
            replayed_here: done.replayed_here,
        });
    }
    Ok(rebuilt)
}
