//! [`Service`]: what a service supplies — its name, settings, migrations
//! and a [`Declaration`] of its views, reactors and API, made from the
//! [`Parts`] the skeleton connected for it.

use crate::settings::ServiceSettings;
use futures::future::BoxFuture;
use gantry_eventlog::{
    EventLog, Projection, ProjectionRunner, Reactor, ReactorOptions, ReactorRunner, Rebuilt, RunEnd,
};
use gantry_runtime::{Authenticator, Config, Shutdown};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::service::Routes;
use tonic::service::interceptor::InterceptedService;

/// A Gantry service, declared on the skeleton.
pub trait Service: Send + Sync + 'static {
    /// Its name: the config section, the default schema and the name
    /// `gantry serve` knows it by.
    const NAME: &'static str;
    /// Its gRPC port when `<name>.listen` is unset.
    const DEFAULT_PORT: u16;
    /// Its own settings, read from its section beside [`ServiceSettings`].
    type Settings: DeserializeOwned + Serialize + Default + Clone + Send + Sync + 'static;

    /// The migrations of its schema.
    fn migrator() -> &'static Migrator;

    /// Declares its views, reactors and API on the connected parts.
    fn declare(parts: &Parts<Self::Settings>) -> anyhow::Result<Declaration>;
}

/// Whether a service's schema is migrated and its reads can be answered.
#[derive(Debug, Clone)]
pub struct Readiness(Arc<watch::Sender<bool>>);

impl Default for Readiness {
    fn default() -> Self {
        Self(Arc::new(watch::channel(false).0))
    }
}

impl Readiness {
    /// True once the schema is migrated.
    pub fn is_ready(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once the schema is migrated.
    pub async fn ready(&self) {
        let _ = self.0.subscribe().wait_for(|ready| *ready).await;
    }

    /// Waits until `view` has applied `min_sequence` (0: at once), for at
    /// most `wait`: what every read with `min_sequence` does first.
    pub async fn view_at(
        &self,
        pool: &PgPool,
        view: &str,
        min_sequence: u64,
        wait: Duration,
    ) -> Result<(), ViewNotReady> {
        if !self.is_ready() {
            return Err(ViewNotReady::Unavailable);
        }
        if min_sequence == 0 {
            return Ok(());
        }
        match gantry_eventlog::projection::wait_for_checkpoint(pool, view, min_sequence, wait).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(ViewNotReady::Behind(min_sequence)),
            Err(error) => Err(ViewNotReady::Failed(error)),
        }
    }

    pub(crate) fn set_ready(&self) {
        self.0.send_replace(true);
    }
}

/// Why a read cannot be answered from a view yet.
#[derive(Debug, thiserror::Error)]
pub enum ViewNotReady {
    /// The schema is not migrated yet.
    #[error("the view is unavailable; retry")]
    Unavailable,
    /// The view has not applied this sequence within the wait.
    #[error("the view has not reached sequence {0} yet; retry")]
    Behind(u64),
    /// Reading the checkpoint failed (Postgres down, …).
    #[error(transparent)]
    Failed(anyhow::Error),
}

/// What the skeleton connected for a service before it declares itself.
#[derive(Debug, Clone)]
pub struct Parts<S> {
    /// The service's own settings.
    pub settings: S,
    /// The settings every service has.
    pub service: ServiceSettings,
    /// The whole configuration, for any other section it reads.
    pub config: Config,
    /// The event log (appends need only NATS).
    pub log: EventLog,
    /// A pool on the service's own schema; it connects lazily, so using it
    /// while Postgres is down fails after the acquire timeout.
    pub pool: PgPool,
    /// Whether the schema is migrated yet (reads answer `UNAVAILABLE` before).
    pub readiness: Readiness,
    /// Resolves when the process stops; long calls (watches) end on it.
    pub shutdown: Shutdown,
}

impl<S> Parts<S> {
    /// Returns how long a read waits for its view to reach `min_sequence`.
    pub fn read_wait(&self) -> Duration {
        self.service.read_wait()
    }
}

/// A long-running part of a service (a view's runner, a reactor).
type Task = Box<dyn FnOnce(Shutdown) -> BoxFuture<'static, anyhow::Result<()>> + Send>;

/// A view as the skeleton keeps it: run it, or rebuild it from the log.
pub(crate) trait View: Send + Sync {
    fn name(&self) -> &str;
    fn rebuild(&self, log: EventLog, pool: PgPool, batch_size: usize) -> BoxFuture<'static, anyhow::Result<Rebuilt>>;
}

impl<P: Projection> View for Arc<P> {
    fn name(&self) -> &str {
        Projection::name(self.as_ref())
    }

    fn rebuild(&self, log: EventLog, pool: PgPool, batch_size: usize) -> BoxFuture<'static, anyhow::Result<Rebuilt>> {
        let view = self.clone();
        Box::pin(async move { gantry_eventlog::rebuild::rebuild(&log, &pool, view, batch_size).await })
    }
}

type AddApi = Box<dyn FnOnce(Routes, Authenticator) -> Routes + Send>;

/// A service's views, reactors and API, as its `app.rs` declares them.
#[derive(Default)]
pub struct Declaration {
    pub(crate) tasks: Vec<(String, Task)>,
    pub(crate) views: Vec<Box<dyn View>>,
    pub(crate) apis: Vec<AddApi>,
    pub(crate) names: Vec<&'static str>,
}

impl std::fmt::Debug for Declaration {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tasks: Vec<&str> = self.tasks.iter().map(|(name, _)| name.as_str()).collect();
        formatter.debug_struct("Declaration").field("tasks", &tasks).field("apis", &self.names).finish()
    }
}

impl Declaration {
    /// Returns the names of the declared views.
    pub(crate) fn view_names(&self) -> Vec<String> {
        self.views.iter().map(|view| view.name().to_owned()).collect()
    }

    /// An empty declaration.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps a view: its projection runs once the schema is migrated, and
    /// `gantry admin rebuild` replays it.
    pub fn view<P: Projection, S>(mut self, parts: &Parts<S>, view: Arc<P>) -> Self {
        let (log, pool, options) = (parts.log.clone(), parts.pool.clone(), parts.service.runner_options());
        let runner = ProjectionRunner::new(log, pool, view.clone(), options);
        let task: Task = Box::new(move |shutdown| {
            Box::pin(async move {
                match runner.run(shutdown.wait()).await? {
                    RunEnd::Shutdown | RunEnd::CaughtUp | RunEnd::NotLeader => Ok(()),
                }
            })
        });
        self.tasks.push((format!("view {}", Projection::name(view.as_ref())), task));
        self.views.push(Box::new(view));
        self
    }

    /// Runs a reactor (effects outside Postgres, each recorded as an event)
    /// once the schema is migrated: its intake from the log and its work
    /// under leases, retried with backoff, on every replica. Its name must
    /// differ from every view's (it names a consumer and a checkpoint too).
    pub fn reactor<R: Reactor, S>(mut self, parts: &Parts<S>, reactor: Arc<R>, options: ReactorOptions) -> Self {
        let name = format!("reactor {}", reactor.name());
        let runner = ReactorRunner::new(parts.log.clone(), parts.pool.clone(), reactor, options);
        self.tasks.push((name, Box::new(move |shutdown: Shutdown| Box::pin(runner.run(shutdown.wait())))));
        self
    }

    /// Runs a task of the service's own beside its server until shutdown
    /// (it must outlive its dependencies itself; an error stops the service).
    pub fn task<F>(mut self, name: &str, task: impl FnOnce(Shutdown) -> F + Send + 'static) -> Self
    where
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        self.tasks.push((name.to_owned(), Box::new(move |shutdown| Box::pin(task(shutdown)))));
        self
    }

    /// Runs `tick` every `interval` (none when zero) from when the schema is
    /// migrated until shutdown, on every replica; a tick that fails is
    /// logged and the next one comes as usual.
    pub fn every<S, F, Fut>(self, parts: &Parts<S>, name: &str, interval: Duration, tick: F) -> Self
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        if interval.is_zero() {
            return self;
        }
        let (readiness, what) = (parts.readiness.clone(), name.to_owned());
        self.task(name, move |shutdown| async move {
            let stop = shutdown.wait();
            tokio::pin!(stop);
            tokio::select! {
                () = &mut stop => return Ok(()),
                () = readiness.ready() => {}
            }
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                tokio::select! {
                    () = &mut stop => return Ok(()),
                    _ = ticks.tick() => {}
                }
                if let Err(error) = tick().await {
                    tracing::warn!(task = %what, error = format!("{error:#}"), "periodic task failed; it runs again next time");
                }
            }
        })
    }

    /// Runs `job` once from when the schema is migrated (a start-up cleanup,
    /// say), again after each failure — logged, with a growing pause — until
    /// it succeeds or the service stops. A failing job never stops the
    /// service.
    pub fn at_start<S, F, Fut>(self, parts: &Parts<S>, name: &str, job: F) -> Self
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let (readiness, what) = (parts.readiness.clone(), name.to_owned());
        self.task(name, move |shutdown| async move {
            let stop = shutdown.wait();
            tokio::pin!(stop);
            tokio::select! {
                () = &mut stop => return Ok(()),
                () = readiness.ready() => {}
            }
            let mut failures = gantry_eventlog::backoff::Failures::default();
            loop {
                let error = match job().await {
                    Ok(()) => return Ok(()),
                    Err(error) => error,
                };
                let (attempt, pause) = failures.record();
                tracing::warn!(task = %what, attempt, retry_in_ms = pause.as_millis() as u64,
                    error = format!("{error:#}"), "start-up task failed; retrying");
                tokio::select! {
                    () = &mut stop => return Ok(()),
                    () = tokio::time::sleep(pause) => {}
                }
            }
        })
    }

    /// Serves a gRPC API (a generated `…Server`), behind bearer-token auth;
    /// its name is reported by health.
    pub fn api<A>(mut self, api: A) -> Self
    where
        A: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        A::Future: Send + 'static,
    {
        self.names.push(A::NAME);
        self.apis.push(Box::new(move |routes: Routes, authenticator: Authenticator| {
            routes.add_service(InterceptedService::new(api, authenticator))
        }));
        self
    }
}
