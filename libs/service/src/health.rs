//! Live health: each of a service's gRPC names reports `SERVING` only while
//! what its reads and writes need is there — the schema migrated, Postgres
//! answering, NATS connected — and `NOT_SERVING` otherwise, checked every
//! `<service>.health_interval_ms`.

use crate::declare::Readiness;
use gantry_runtime::Shutdown;
use sqlx::PgPool;
use std::time::Duration;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

/// Watches a service's dependencies and reports its names' health.
pub(crate) struct HealthMonitor {
    pub(crate) reporter: HealthReporter,
    pub(crate) names: Vec<&'static str>,
    pub(crate) pool: PgPool,
    pub(crate) nats: async_nats::Client,
    pub(crate) readiness: Readiness,
    pub(crate) every: Duration,
}

impl HealthMonitor {
    /// Checks until shutdown; the server itself turns the names
    /// `NOT_SERVING` when it stops.
    pub(crate) async fn run(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let mut last = self.check().await;
        loop {
            tokio::select! {
                _ = shutdown.clone().wait() => return Ok(()),
                _ = tokio::time::sleep(self.every) => {}
            }
            let (postgres, nats) = self.dependencies().await;
            // A stopping server reports NOT_SERVING itself; do not undo it.
            if shutdown.is_triggered() {
                return Ok(());
            }
            if (postgres, nats) != last {
                let status = self.report(postgres, nats).await;
                tracing::warn!(postgres, nats, ?status, services = ?self.names, "health changed");
                last = (postgres, nats);
                // A stop that came while reporting must win: say so again.
                if shutdown.is_triggered() {
                    self.report(false, false).await;
                    return Ok(());
                }
            }
        }
    }

    /// Checks the dependencies once and reports the result.
    pub(crate) async fn check(&self) -> (bool, bool) {
        let (postgres, nats) = self.dependencies().await;
        let status = self.report(postgres, nats).await;
        if status == ServingStatus::NotServing {
            tracing::warn!(postgres, nats, services = ?self.names, "starting NOT_SERVING");
        }
        (postgres, nats)
    }

    async fn dependencies(&self) -> (bool, bool) {
        let postgres = self.readiness.is_ready() && self.postgres_answers().await;
        let nats = self.nats.connection_state() == async_nats::connection::State::Connected;
        (postgres, nats)
    }

    async fn report(&self, postgres: bool, nats: bool) -> ServingStatus {
        let status = if postgres && nats { ServingStatus::Serving } else { ServingStatus::NotServing };
        self.reporter.set_service_status("", status).await;
        for name in &self.names {
            self.reporter.set_service_status(*name, status).await;
        }
        status
    }

    async fn postgres_answers(&self) -> bool {
        let ping = sqlx::query("SELECT 1").execute(&self.pool);
        matches!(tokio::time::timeout(self.every.max(Duration::from_millis(500)), ping).await, Ok(Ok(_)))
    }
}
