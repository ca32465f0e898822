//! Rebuilding a view: empty it, move its checkpoint back to 0 and replay the
//! log from the first event. A live runner notices the checkpoint moved back
//! and replays by itself; without one, the caller runs a runner to catch up.

use crate::log::EventLog;
use crate::projection::{self, Projection};
use crate::runner::{ProjectionRunner, RunEnd, RunnerOptions};
use sqlx::PgPool;
use std::sync::Arc;

/// Empties the view and resets its checkpoint and parked events, in one
/// transaction that waits for any batch being applied.
pub async fn reset<P: Projection>(pool: &PgPool, projection: &P) -> anyhow::Result<()> {
    projection::install(pool, projection.name()).await?;
    let mut transaction = pool.begin().await?;
    projection::lock_checkpoint(&mut transaction, projection.name()).await?;
    projection.reset(&mut transaction).await?;
    sqlx::query("DELETE FROM eventlog_parked WHERE projection = $1")
        .bind(projection.name())
        .execute(&mut *transaction)
        .await?;
    projection::store_checkpoint(&mut transaction, projection.name(), 0).await?;
    transaction.commit().await?;
    Ok(())
}

/// What a rebuild did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rebuilt {
    /// The checkpoint when the call returned.
    pub checkpoint: u64,
    /// False when a live runner leads the view and replays it instead.
    pub replayed_here: bool,
}

/// Resets the view and replays every event into it, returning when caught up.
///
/// If a live runner leads this view, it notices the reset and does the
/// replay itself; this call then returns at once, with the checkpoint as it
/// stands.
pub async fn rebuild<P: Projection>(
    log: &EventLog,
    pool: &PgPool,
    projection: Arc<P>,
    batch_size: usize,
) -> anyhow::Result<Rebuilt> {
    reset(pool, projection.as_ref()).await?;
    let options = RunnerOptions { batch_size, stop_when_caught_up: true, wait_for_leadership: false, fault: None };
    let runner = ProjectionRunner::new(log.clone(), pool.clone(), projection.clone(), options);
    let end = runner.run(std::future::pending()).await?;
    let checkpoint = projection::checkpoint(pool, projection.name()).await?;
    Ok(Rebuilt { checkpoint, replayed_here: end != RunEnd::NotLeader })
}
