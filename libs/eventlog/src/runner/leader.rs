//! Leadership of a view: a session advisory lock held on one connection
//! taken out of the pool (closed, not returned, when leadership ends), keyed
//! by schema and view so views in different schemas never block each other.

use anyhow::Context as _;
use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres};
use std::time::Duration;

/// The lock of the leading runner; dropping it releases the lock.
pub(super) struct LeaderLock(Option<PoolConnection<Postgres>>);

impl LeaderLock {
    /// Takes the view's lock, waiting while another runner holds it unless
    /// `wait` is false (then `None`).
    pub(super) async fn acquire(pool: &PgPool, view: &str, wait: bool) -> anyhow::Result<Option<Self>> {
        loop {
            let mut connection = pool.acquire().await.context("acquiring the leader connection")?;
            let locked: bool =
                sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext(current_schema() || '.projection.' || $1))")
                    .bind(view)
                    .fetch_one(&mut *connection)
                    .await?;
            if locked {
                return Ok(Some(Self(Some(connection))));
            }
            drop(connection);
            if !wait {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Fails when the connection holding the lock is gone (and with it the lock).
    pub(super) async fn check(&mut self) -> anyhow::Result<()> {
        let connection = self.0.as_mut().context("leadership already released")?;
        sqlx::query("SELECT 1").execute(&mut **connection).await.context("the leader connection was lost")?;
        Ok(())
    }
}

impl std::fmt::Debug for LeaderLock {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("LeaderLock")
    }
}

impl Drop for LeaderLock {
    fn drop(&mut self) {
        if let Some(connection) = self.0.take() {
            // Closing the connection releases the lock; returning it to the
            // pool would leave the lock held by an idle connection.
            drop(connection.detach());
        }
    }
}
