//! The [`View`] trait a service's view implements (or [`Projection`], its
//! two-phase form for views that need the speed), and the two tables
//! the log machinery keeps beside every view: the checkpoint (the stream
//! sequence up to which the view has applied events) and parked events.

use crate::envelope::RecordedEvent;
use anyhow::Context as _;
use futures::future::BoxFuture;
use sqlx::{PgConnection, PgPool};

/// An event a projection could not apply, kept for an operator to inspect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkedEvent {
    /// Its stream sequence.
    pub sequence: u64,
    /// Why it was not applied.
    pub reason: String,
}

/// What a projection worked out from a batch of events, before writing it.
#[derive(Debug, Clone, Default)]
pub struct Prepared<C> {
    /// The writes to make, in the projection's own shape.
    pub changes: C,
    /// The events it refused as malformed; nothing of them is in `changes`.
    pub refused: Vec<ParkedEvent>,
}

/// A materialised view of the events on some subjects, applied in two
/// phases so that the runner can overlap them across batches.
///
/// [`prepare`](Self::prepare) works out what a batch changes without
/// writing anything; [`write`](Self::write) then writes that inside the
/// runner's transaction, which also advances the checkpoint: either both
/// happen or neither does. While one batch is written, the runner prepares
/// the next, so `prepare` reads only committed rows (through the pool) and is
/// handed the changes of the batch still being written (`ahead`): where
/// `ahead` has a row, it is newer than what Postgres holds.
///
/// A projection with nothing to read can make `prepare` a pure mapping; one
/// that must read inside the transaction can do all its work in `write`.
pub trait Projection: Send + Sync + 'static {
    /// What a prepared batch writes.
    type Changes: Send + Sync + 'static;

    /// Name of the view: the durable consumer's name and the checkpoint key.
    fn name(&self) -> &str;

    /// The one subject filter of the consumer (NATS 2.9 takes only one),
    /// for example `gantry.request.>`.
    fn filter_subject(&self) -> String;

    /// Works out what a batch of events (ascending sequence) changes; every
    /// event not returned as refused must be in the changes.
    fn prepare<'a>(
        &'a self,
        pool: &'a PgPool,
        events: &'a [RecordedEvent],
        ahead: Option<&'a Self::Changes>,
    ) -> BoxFuture<'a, anyhow::Result<Prepared<Self::Changes>>>;

    /// Writes prepared changes inside the runner's transaction.
    fn write<'a>(
        &'a self,
        connection: &'a mut PgConnection,
        changes: &'a Self::Changes,
    ) -> BoxFuture<'a, anyhow::Result<()>>;

    /// Empties the view's own tables (for a rebuild from sequence 1).
    fn reset<'a>(&'a self, connection: &'a mut PgConnection) -> BoxFuture<'a, anyhow::Result<()>>;
}

/// A view that applies a batch of events inside the runner's transaction:
/// the default shape of a new view. Every `View` is a [`Projection`] whose
/// `prepare` only hands the events on, so it gets the runner's batching,
/// checkpoint, parking and leadership; a view that must be faster than
/// that implements [`Projection`] itself (intake's request catalog does).
pub trait View: Send + Sync + 'static {
    /// Name of the view: the durable consumer's name and the checkpoint key.
    fn name(&self) -> &str;

    /// The one subject filter of the consumer (NATS 2.9 takes only one).
    fn filter_subject(&self) -> String;

    /// The view's own tables: a rebuild from sequence 1 empties them.
    fn tables(&self) -> &'static [&'static str];

    /// Applies one event in the runner's transaction.
    fn apply_one<'a>(
        &'a self,
        transaction: &'a mut PgConnection,
        event: &'a RecordedEvent,
    ) -> BoxFuture<'a, anyhow::Result<()>>;

    /// Applies a batch of events (ascending sequence) in the runner's
    /// transaction: each in turn, unless the view writes a batch at once. A
    /// data error (SQLSTATE 22 or 23) makes the runner apply the batch again
    /// one event at a time and park the event that fails.
    fn apply<'a>(
        &'a self,
        transaction: &'a mut PgConnection,
        events: &'a [RecordedEvent],
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            for event in events {
                self.apply_one(&mut *transaction, event).await?;
            }
            Ok(())
        })
    }
}

impl<V: View> Projection for V {
    type Changes = Vec<RecordedEvent>;

    fn name(&self) -> &str {
        View::name(self)
    }

    fn filter_subject(&self) -> String {
        View::filter_subject(self)
    }

    fn prepare<'a>(
        &'a self,
        _pool: &'a PgPool,
        events: &'a [RecordedEvent],
        _ahead: Option<&'a Self::Changes>,
    ) -> BoxFuture<'a, anyhow::Result<Prepared<Self::Changes>>> {
        Box::pin(std::future::ready(Ok(Prepared { changes: events.to_vec(), refused: Vec::new() })))
    }

    fn write<'a>(
        &'a self,
        connection: &'a mut PgConnection,
        changes: &'a Self::Changes,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        self.apply(connection, changes)
    }

    fn reset<'a>(&'a self, connection: &'a mut PgConnection) -> BoxFuture<'a, anyhow::Result<()>> {
        let truncate = format!("TRUNCATE {}", self.tables().join(", "));
        Box::pin(async move {
            sqlx::query(&truncate).execute(connection).await?;
            Ok(())
        })
    }
}

const TABLES: &str = r#"
CREATE TABLE IF NOT EXISTS eventlog_checkpoint (
    projection      text PRIMARY KEY,
    stream_sequence bigint NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS eventlog_parked (
    projection      text NOT NULL,
    stream_sequence bigint NOT NULL,
    subject         text NOT NULL,
    reason          text NOT NULL,
    payload         bytea NOT NULL,
    parked_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, stream_sequence)
);
"#;

/// Creates the checkpoint and parked tables in the pool's schema (idempotent,
/// safe when several processes start at once) and the projection's row.
pub async fn install(pool: &PgPool, projection: &str) -> anyhow::Result<()> {
    let mut transaction = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('gantry.eventlog.install'))").execute(&mut *transaction).await?;
    for statement in TABLES.split(';').filter(|statement| !statement.trim().is_empty()) {
        sqlx::query(statement).execute(&mut *transaction).await.context("creating eventlog tables")?;
    }
    sqlx::query("INSERT INTO eventlog_checkpoint (projection, stream_sequence) VALUES ($1, 0) ON CONFLICT DO NOTHING")
        .bind(projection)
        .execute(&mut *transaction)
        .await?;
    transaction.commit().await?;
    Ok(())
}

/// Returns the projection's checkpoint (0 when it has applied nothing).
pub async fn checkpoint(pool: &PgPool, projection: &str) -> anyhow::Result<u64> {
    let sequence: Option<i64> =
        sqlx::query_scalar("SELECT stream_sequence FROM eventlog_checkpoint WHERE projection = $1")
            .bind(projection)
            .fetch_optional(pool)
            .await
            .context("reading checkpoint")?;
    Ok(sequence.unwrap_or(0) as u64)
}

/// Locks the projection's checkpoint row for this transaction and returns it.
pub(crate) async fn lock_checkpoint(connection: &mut PgConnection, projection: &str) -> anyhow::Result<u64> {
    let sequence: i64 =
        sqlx::query_scalar("SELECT stream_sequence FROM eventlog_checkpoint WHERE projection = $1 FOR UPDATE")
            .bind(projection)
            .fetch_one(connection)
            .await
            .context("locking checkpoint")?;
    Ok(sequence as u64)
}

/// Moves the projection's checkpoint to `sequence`.
pub(crate) async fn store_checkpoint(
    connection: &mut PgConnection,
    projection: &str,
    sequence: u64,
) -> anyhow::Result<()> {
    sqlx::query("UPDATE eventlog_checkpoint SET stream_sequence = $2, updated_at = now() WHERE projection = $1")
        .bind(projection)
        .bind(sequence as i64)
        .execute(connection)
        .await
        .context("storing checkpoint")?;
    Ok(())
}

/// A parked row: sequence, subject, reason, raw bytes.
pub(crate) struct ParkedRow {
    pub(crate) sequence: u64,
    pub(crate) subject: String,
    pub(crate) reason: String,
    pub(crate) payload: Vec<u8>,
}

/// Records parked events (a redelivered one is recorded once).
pub(crate) async fn park(connection: &mut PgConnection, projection: &str, rows: &[ParkedRow]) -> anyhow::Result<()> {
    for row in rows {
        tracing::warn!(projection, sequence = row.sequence, subject = %row.subject, reason = %row.reason, "event parked");
        sqlx::query(
            "INSERT INTO eventlog_parked (projection, stream_sequence, subject, reason, payload)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(projection)
        .bind(row.sequence as i64)
        .bind(&row.subject)
        .bind(&row.reason)
        .bind(&row.payload)
        .execute(&mut *connection)
        .await
        .context("parking event")?;
    }
    metrics::counter!("eventlog_parked_events_total", "projection" => projection.to_owned())
        .increment(rows.len() as u64);
    Ok(())
}

/// Returns the parked events of a projection, oldest first.
pub async fn parked(pool: &PgPool, projection: &str) -> anyhow::Result<Vec<ParkedEvent>> {
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT stream_sequence, reason FROM eventlog_parked WHERE projection = $1 ORDER BY stream_sequence",
    )
    .bind(projection)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(sequence, reason)| ParkedEvent { sequence: sequence as u64, reason }).collect())
}

/// Waits until the projection's checkpoint reaches `sequence`; false when
/// `timeout` passed first (read-your-own-write for `min_sequence` reads).
pub async fn wait_for_checkpoint(
    pool: &PgPool,
    projection: &str,
    sequence: u64,
    timeout: std::time::Duration,
) -> anyhow::Result<bool> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut pause = std::time::Duration::from_millis(1);
    loop {
        if checkpoint(pool, projection).await? >= sequence {
            return Ok(true);
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(std::time::Duration::from_millis(25));
    }
}
