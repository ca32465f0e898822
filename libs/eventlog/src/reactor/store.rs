//! The durable work table in the service's schema: queued and scheduled
//! work, its attempts, next due time (the schedule) and lease.

use crate::envelope::{Decoded, RecordedEvent, decode};
use crate::reactor::{ReactError, Work};
use anyhow::Context as _;
use prost::Message as _;
use sqlx::{PgConnection, PgExecutor, PgPool};
use std::time::{Duration, SystemTime};
use uuid::Uuid;

const TABLES: &str = r#"
CREATE TABLE IF NOT EXISTS reactor_work (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reactor          text NOT NULL,
    work_key         text NOT NULL,
    origin           uuid NOT NULL,
    scheduled        boolean NOT NULL DEFAULT false,
    trigger_sequence bigint,
    trigger_subject  text,
    trigger          bytea,
    payload          bytea NOT NULL DEFAULT '',
    state            text NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'giving_up', 'done', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    due_at           timestamptz NOT NULL DEFAULT now(),
    lease_owner      uuid,
    lease_until      timestamptz,
    last_error       text,
    last_retryable   boolean,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (reactor, origin)
);
CREATE INDEX IF NOT EXISTS reactor_work_due ON reactor_work (reactor, due_at, id)
    WHERE state IN ('pending', 'giving_up');
CREATE INDEX IF NOT EXISTS reactor_work_key ON reactor_work (reactor, work_key)
"#;

/// The namespace of ids derived for scheduled work.
const SCHEDULE_NAMESPACE: Uuid = Uuid::from_u128(0x5f0c_2b1e_8a7d_4c49_9e3a_61b2_0d4f_7a10);

/// Creates the work table in the pool's schema (idempotent, safe when
/// several processes start at once). [`ReactorRunner`](super::ReactorRunner)
/// calls it; call it yourself before [`schedule`] from elsewhere.
pub async fn install(pool: &PgPool) -> anyhow::Result<()> {
    let mut transaction = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('gantry.eventlog.install'))").execute(&mut *transaction).await?;
    for statement in TABLES.split(';').filter(|statement| !statement.trim().is_empty()) {
        sqlx::query(statement).execute(&mut *transaction).await.context("creating the reactor work table")?;
    }
    transaction.commit().await?;
    Ok(())
}

/// Puts in work for `reactor` on `key` due at `due_at` (a deadline), once
/// per key and occurrence: scheduling an occurrence that exists already,
/// pending or finished, changes nothing and returns false. So a restart that
/// schedules again neither forgets nor repeats; give each occurrence its own
/// name (for example `<generation>/rotate`). The key is the work key of
/// [`Reactor::select`](super::Reactor::select): scheduled and triggered
/// work of one key never run at once. `cause` is the event the work stems
/// from: its correlation and id are carried by what the work records. Takes
/// a pool or a connection, so a projection can schedule inside its own
/// transaction.
pub async fn schedule<'e>(
    executor: impl PgExecutor<'e>,
    reactor: &str,
    key: &str,
    occurrence: &str,
    due_at: SystemTime,
    payload: &[u8],
    cause: Option<&RecordedEvent>,
) -> anyhow::Result<bool> {
    let origin = scheduled_origin(reactor, key, occurrence);
    let inserted = sqlx::query(
        "INSERT INTO reactor_work
             (reactor, work_key, origin, scheduled, trigger_sequence, trigger_subject, trigger, payload, due_at)
         VALUES ($1, $2, $3, true, $4, $5, $6, $7, to_timestamp($8))
         ON CONFLICT (reactor, origin) DO NOTHING",
    )
    .bind(reactor)
    .bind(key)
    .bind(origin)
    .bind(cause.map(|cause| cause.sequence as i64))
    .bind(cause.map(|cause| cause.subject.clone()))
    .bind(cause.map(|cause| cause.envelope.encode_to_vec()))
    .bind(payload)
    .bind(epoch_seconds(due_at))
    .execute(executor)
    .await
    .context("scheduling work")?;
    Ok(inserted.rows_affected() == 1)
}

/// The origin of scheduled work: a UUIDv5 of the reactor, key and occurrence.
pub(super) fn scheduled_origin(reactor: &str, key: &str, occurrence: &str) -> Uuid {
    Uuid::new_v5(&SCHEDULE_NAMESPACE, format!("{reactor}/{key}/{occurrence}").as_bytes())
}

fn epoch_seconds(time: SystemTime) -> f64 {
    match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(since) => since.as_secs_f64(),
        Err(before) => -before.duration().as_secs_f64(),
    }
}

fn from_epoch_seconds(seconds: f64) -> SystemTime {
    if seconds >= 0.0 {
        SystemTime::UNIX_EPOCH + Duration::from_secs_f64(seconds)
    } else {
        SystemTime::UNIX_EPOCH - Duration::from_secs_f64(-seconds)
    }
}

/// One event to queue: the key `select` returned and the event.
pub(super) struct Queued {
    pub(super) key: String,
    pub(super) origin: Uuid,
    pub(super) sequence: i64,
    pub(super) subject: String,
    pub(super) trigger: Vec<u8>,
}

/// Queues work for events, once per (reactor, trigger event id).
pub(super) async fn enqueue(connection: &mut PgConnection, reactor: &str, rows: &[Queued]) -> anyhow::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO reactor_work (reactor, work_key, origin, trigger_sequence, trigger_subject, trigger)
         SELECT $1, * FROM UNNEST($2::text[], $3::uuid[], $4::bigint[], $5::text[], $6::bytea[])
         ON CONFLICT (reactor, origin) DO NOTHING",
    )
    .bind(reactor)
    .bind(rows.iter().map(|row| row.key.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|row| row.origin).collect::<Vec<_>>())
    .bind(rows.iter().map(|row| row.sequence).collect::<Vec<_>>())
    .bind(rows.iter().map(|row| row.subject.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|row| row.trigger.clone()).collect::<Vec<_>>())
    .execute(connection)
    .await
    .context("queueing work")?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct ClaimedRow {
    id: i64,
    work_key: String,
    origin: Uuid,
    scheduled: bool,
    trigger_sequence: Option<i64>,
    trigger_subject: Option<String>,
    trigger: Option<Vec<u8>>,
    payload: Vec<u8>,
    state: String,
    attempts: i32,
    due_at: f64,
    last_error: Option<String>,
    last_retryable: Option<bool>,
}

/// A claimed item: the work, and why it is to be given up if it is.
#[derive(Debug)]
pub(super) struct Claimed {
    pub(super) work: Work,
    /// Set when the item was claimed to record its give-up (state `giving_up`).
    pub(super) giving_up: Option<ReactError>,
    /// The error of the previous attempt, if any.
    pub(super) last_error: Option<String>,
    /// Set when the stored trigger cannot be decoded.
    pub(super) unreadable: Option<String>,
}

/// Claims up to `limit` due items of `reactor` for `owner`, holding each for
/// `lease`. Rows locked by a concurrent claim are skipped, and a leased row
/// is taken only once its lease ran out, so no two claimants hold one item.
pub(super) async fn claim(
    pool: &PgPool,
    reactor: &str,
    owner: Uuid,
    lease: Duration,
    limit: usize,
) -> anyhow::Result<Vec<Claimed>> {
    let rows: Vec<ClaimedRow> = sqlx::query_as(
        "UPDATE reactor_work AS w
         SET lease_owner = $2,
             lease_until = now() + make_interval(secs => $3),
             attempts = w.attempts + CASE WHEN w.state = 'pending' THEN 1 ELSE 0 END,
             updated_at = now()
         WHERE w.id IN (
             SELECT c.id FROM reactor_work c
             WHERE c.reactor = $1 AND c.state IN ('pending', 'giving_up') AND c.due_at <= now()
               AND (c.lease_until IS NULL OR c.lease_until < now())
               -- One item of a key at a time (two triggers of one request
               -- or secret never run their effects at once): not while
               -- another of its key is leased, and the oldest due first.
               AND NOT EXISTS (
                   SELECT 1 FROM reactor_work o
                   WHERE o.reactor = c.reactor AND o.work_key = c.work_key AND o.id <> c.id
                     AND o.state IN ('pending', 'giving_up')
                     AND (o.lease_until >= now() OR (o.due_at, o.id) < (c.due_at, c.id)))
             ORDER BY c.due_at, c.id
             LIMIT $4
             FOR UPDATE SKIP LOCKED)
         RETURNING w.id, w.work_key, w.origin, w.scheduled, w.trigger_sequence, w.trigger_subject, w.trigger,
                   w.payload, w.state, w.attempts, extract(epoch FROM w.due_at)::float8 AS due_at,
                   w.last_error, w.last_retryable",
    )
    .bind(reactor)
    .bind(owner)
    .bind(lease.as_secs_f64())
    .bind(limit as i64)
    .fetch_all(pool)
    .await
    .context("claiming work")?;
    let mut claimed: Vec<Claimed> = rows.into_iter().map(Claimed::from).collect();
    claimed.sort_by_key(|item| item.work.id);
    Ok(claimed)
}

impl From<ClaimedRow> for Claimed {
    fn from(row: ClaimedRow) -> Self {
        let (trigger, unreadable) = match (row.trigger_sequence, row.trigger_subject, row.trigger) {
            (Some(sequence), Some(subject), Some(bytes)) => match decode(sequence as u64, &subject, &bytes) {
                Decoded::Known(event) => (Some(*event), None),
                Decoded::Unknown { event_type } => (None, Some(format!("trigger of unknown type {event_type}"))),
                Decoded::Malformed { reason } => (None, Some(format!("unreadable trigger: {reason}"))),
            },
            _ => (None, None),
        };
        let giving_up = (row.state == "giving_up").then(|| ReactError {
            retryable: row.last_retryable.unwrap_or(true),
            reason: row.last_error.clone().unwrap_or_default(),
        });
        Claimed {
            work: Work {
                id: row.id,
                key: row.work_key,
                origin: row.origin,
                trigger,
                scheduled: row.scheduled,
                payload: row.payload,
                attempt: row.attempts.max(0) as u32,
                due_at: from_epoch_seconds(row.due_at),
            },
            giving_up,
            last_error: row.last_error,
            unreadable,
        }
    }
}

/// Renews the leases `owner` holds on `ids`.
/// Extends the leases `owner` still holds among `ids`; returns those.
pub(super) async fn renew(pool: &PgPool, owner: Uuid, ids: &[i64], lease: Duration) -> anyhow::Result<Vec<i64>> {
    sqlx::query_scalar(
        "UPDATE reactor_work SET lease_until = now() + make_interval(secs => $3)
         WHERE id = ANY($2) AND lease_owner = $1
         RETURNING id",
    )
    .bind(owner)
    .bind(ids)
    .bind(lease.as_secs_f64())
    .fetch_all(pool)
    .await
    .context("renewing leases")
}

/// What becomes of a claimed item.
#[derive(Debug)]
pub(super) enum Finish<'a> {
    /// The effect is done and recorded.
    Done,
    /// Try again after `delay`.
    Retry { delay: Duration, error: &'a ReactError },
    /// Failed for good; the give-up event is still to be recorded (the
    /// lease is kept while it is).
    GivingUp { error: &'a ReactError },
    /// Recording the give-up failed: try that again after `delay`.
    GiveUpLater { delay: Duration },
    /// Failed for good and recorded.
    Failed,
}

/// Moves a claimed item on, if `owner` still holds it (false when its lease
/// was lost to another claimant, who then finishes it).
pub(super) async fn finish(pool: &PgPool, id: i64, owner: Uuid, finish: &Finish<'_>) -> anyhow::Result<bool> {
    let (state, delay, error, release) = match finish {
        Finish::Done => ("done", None, None, true),
        Finish::Retry { delay, error } => ("pending", Some(*delay), Some(*error), true),
        Finish::GivingUp { error } => ("giving_up", None, Some(*error), false),
        Finish::GiveUpLater { delay } => ("giving_up", Some(*delay), None, true),
        Finish::Failed => ("failed", None, None, true),
    };
    let updated = sqlx::query(
        "UPDATE reactor_work
         SET state = $3,
             due_at = CASE WHEN $4::float8 IS NULL THEN due_at ELSE now() + make_interval(secs => $4) END,
             last_error = COALESCE($5, last_error),
             last_retryable = COALESCE($6, last_retryable),
             lease_owner = CASE WHEN $7 THEN NULL ELSE lease_owner END,
             lease_until = CASE WHEN $7 THEN NULL ELSE lease_until END,
             updated_at = now()
         WHERE id = $1 AND lease_owner = $2",
    )
    .bind(id)
    .bind(owner)
    .bind(state)
    .bind(delay.map(|delay| delay.as_secs_f64()))
    .bind(error.map(|error| error.reason.clone()))
    .bind(error.map(|error| error.retryable))
    .bind(release)
    .execute(pool)
    .await
    .context("updating a work item")?;
    Ok(updated.rows_affected() == 1)
}

/// How many items of `reactor` wait to run or to be given up.
pub(super) async fn depth(pool: &PgPool, reactor: &str) -> anyhow::Result<i64> {
    sqlx::query_scalar("SELECT count(*) FROM reactor_work WHERE reactor = $1 AND state IN ('pending', 'giving_up')")
        .bind(reactor)
        .fetch_one(pool)
        .await
        .context("counting queued work")
}

/// Where a work item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkState {
    /// Waiting for its due time or running.
    Pending,
    /// Failed for good; its give-up event is being recorded.
    GivingUp,
    /// Done and recorded.
    Done,
    /// Failed for good and recorded.
    Failed,
}

/// A work item as an operator (or a test) sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkRow {
    /// The work key.
    pub key: String,
    /// What the work comes from (see [`Work::origin`]).
    pub origin: Uuid,
    /// Where it stands.
    pub state: WorkState,
    /// Attempts started so far.
    pub attempts: u32,
    /// When it is (or was last) due.
    pub due_at: SystemTime,
    /// The last failure's reason, if any.
    pub last_error: Option<String>,
}

/// Lists the work items of `reactor`, oldest first.
pub async fn list_work(pool: &PgPool, reactor: &str) -> anyhow::Result<Vec<WorkRow>> {
    let rows: Vec<(String, Uuid, String, i32, f64, Option<String>)> = sqlx::query_as(
        "SELECT work_key, origin, state, attempts, extract(epoch FROM due_at)::float8, last_error
         FROM reactor_work WHERE reactor = $1 ORDER BY id",
    )
    .bind(reactor)
    .fetch_all(pool)
    .await
    .context("listing work")?;
    Ok(rows
        .into_iter()
        .map(|(key, origin, state, attempts, due_at, last_error)| WorkRow {
            key,
            origin,
            state: match state.as_str() {
                "pending" => WorkState::Pending,
                "giving_up" => WorkState::GivingUp,
                "done" => WorkState::Done,
                _ => WorkState::Failed,
            },
            attempts: attempts.max(0) as u32,
            due_at: from_epoch_seconds(due_at),
            last_error,
        })
        .collect())
}
