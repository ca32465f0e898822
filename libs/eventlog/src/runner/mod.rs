//! [`ProjectionRunner`]: one durable pull consumer per view that applies
//! events to Postgres exactly once.
//!
//! Each batch (whatever is ready, up to `batch_size`) is applied and the
//! checkpoint advanced in one transaction; only then is the batch acked. An
//! event at or below the checkpoint is skipped, so a crash between commit and
//! ack (or any redelivery) applies nothing twice. Unknown event types are
//! skipped; malformed ones are parked, and the consumer goes on.
//!
//! A batch goes through the projection's two phases: prepare (decode, read,
//! work out the rows) and write (in the transaction). While a backlog is
//! pending, the next batch is received and prepared while the current one
//! is written, on top of the current one's changes; it is written only if
//! the checkpoint still stands where it was prepared, and prepared again if
//! the current one fails.
//!
//! Only one runner per view projects at a time (a Postgres advisory lock);
//! a standby waits, and a leader that loses its lock's connection steps down
//! and competes again. The Postgres checkpoint, not the consumer's own
//! state, is the position: the leader (re)creates the consumer at
//! checkpoint + 1, and starts over when it sees the checkpoint move back (a
//! rebuild; checked at least every second). A batch that fails on a data
//! error is applied again one event at a time, and the event that fails is
//! parked, so one bad event cannot stop a view.

mod batch;
mod leader;

use crate::backoff::Failures;
use crate::log::EventLog;
use crate::projection::{self, ParkedRow, Prepared, Projection};
use anyhow::Context as _;
use async_nats::jetstream::{self, AckKind, consumer};
use batch::{Batch, sequence_of};
use futures::{FutureExt as _, StreamExt as _};
use leader::LeaderLock;
use sqlx::PgPool;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// A point where a test can make the runner stop as if it crashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultPoint {
    /// After the transaction committed, before the batch was acked.
    AfterCommitBeforeAck,
}

/// How a runner behaves.
#[derive(Debug, Clone)]
pub struct RunnerOptions {
    /// Most events applied in one transaction.
    pub batch_size: usize,
    /// Stop once nothing is pending (a rebuild, a catch-up benchmark).
    pub stop_when_caught_up: bool,
    /// Wait while another runner leads this view; when false, return at
    /// once instead (a rebuild then leaves the replay to the live leader).
    pub wait_for_leadership: bool,
    /// Simulated crash point; `None` in production.
    pub fault: Option<FaultPoint>,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        Self { batch_size: 1000, stop_when_caught_up: false, wait_for_leadership: true, fault: None }
    }
}

/// How a run ended without error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    /// Shutdown was asked for.
    Shutdown,
    /// Nothing was pending (with `stop_when_caught_up`).
    CaughtUp,
    /// Another runner leads the view (with `wait_for_leadership` false).
    NotLeader,
}

/// Why a runner stopped with an error on purpose.
#[derive(Debug, thiserror::Error)]
#[error("fault injected at {0:?}")]
pub struct FaultInjected(pub FaultPoint);

/// How often an idle runner checks its lock and its checkpoint.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// How long a runner waits for more of a pending backlog before applying
/// what it has.
const BACKLOG_WAIT: Duration = Duration::from_millis(20);

/// Applies the events of one [`Projection`] to its Postgres view.
#[derive(Debug)]
pub struct ProjectionRunner<P> {
    log: EventLog,
    pool: PgPool,
    projection: Arc<P>,
    options: RunnerOptions,
    checkpoint: watch::Sender<u64>,
}

enum Step {
    /// Keep consuming.
    Continue,
    /// The checkpoint moved back (a rebuild): recreate the consumer.
    Restart,
    /// Caught up and asked to stop then.
    Done,
    /// Shutdown was asked for.
    Stop,
}

impl<P: Projection> ProjectionRunner<P> {
    /// Creates a runner; nothing happens until [`run`](Self::run).
    pub fn new(log: EventLog, pool: PgPool, projection: Arc<P>, options: RunnerOptions) -> Self {
        let (checkpoint, _) = watch::channel(0);
        Self { log, pool, projection, options, checkpoint }
    }

    /// Returns a receiver of the checkpoint after each committed batch.
    pub fn checkpoints(&self) -> watch::Receiver<u64> {
        self.checkpoint.subscribe()
    }

    /// Runs until `shutdown` resolves (or, with `stop_when_caught_up`, until
    /// nothing is pending). Transient failures are retried with a pause.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> anyhow::Result<RunEnd> {
        tokio::pin!(shutdown);
        let name = self.projection.name().to_owned();
        // A long-running runner outlives its dependencies: Postgres or NATS
        // down only pauses it (capped, jittered backoff, each attempt
        // logged). A one-shot run (a rebuild, a benchmark) reports the error.
        let outlive = !self.options.stop_when_caught_up;
        let mut retry = Retry::new(&name);
        loop {
            let acquired = tokio::select! {
                _ = &mut shutdown => return Ok(RunEnd::Shutdown),
                acquired = self.lead(&name) => acquired,
            };
            let mut lock = match acquired {
                Ok(Some(lock)) => lock,
                Ok(None) => return Ok(RunEnd::NotLeader),
                Err(error) if outlive => {
                    if retry.pause(&error, "projection cannot start", shutdown.as_mut()).await {
                        return Ok(RunEnd::Shutdown);
                    }
                    continue;
                }
                Err(error) => return Err(error),
            };
            loop {
                let before = *self.checkpoint.borrow();
                let error = match self.consume(&mut lock, shutdown.as_mut()).await {
                    Ok(Step::Stop) => return Ok(RunEnd::Shutdown),
                    Ok(Step::Done) => return Ok(RunEnd::CaughtUp),
                    Ok(_) => {
                        retry.reset();
                        continue;
                    }
                    Err(error) if error.is::<FaultInjected>() || !outlive => return Err(error),
                    Err(error) => error,
                };
                if *self.checkpoint.borrow() > before {
                    retry.reset();
                }
                if retry.pause(&error, "projection interrupted", shutdown.as_mut()).await {
                    return Ok(RunEnd::Shutdown);
                }
                if let Err(error) = lock.check().await {
                    tracing::warn!(projection = %name, error = format!("{error:#}"), "leadership lost; competing again");
                    break;
                }
            }
        }
    }

    /// Takes the view's leadership and makes sure its tables exist.
    async fn lead(&self, name: &str) -> anyhow::Result<Option<LeaderLock>> {
        let Some(lock) = LeaderLock::acquire(&self.pool, name, self.options.wait_for_leadership).await? else {
            return Ok(None);
        };
        projection::install(&self.pool, name).await?;
        Ok(Some(lock))
    }

    /// Consumes from checkpoint + 1 until an error, a restart or the end.
    /// Shutdown is honoured between batches only, so a batch being applied
    /// always finishes (commit and ack) before the runner stops.
    ///
    /// While a backlog is pending, the next batch is received and prepared
    /// while the current one is written, on the current one's changes.
    async fn consume<F: Future<Output = ()>>(
        &self,
        lock: &mut LeaderLock,
        mut shutdown: Pin<&mut F>,
    ) -> anyhow::Result<Step> {
        let name = self.projection.name();
        let start = projection::checkpoint(&self.pool, name).await?;
        self.checkpoint.send_replace(start);
        let consumer = tokio::select! {
            _ = &mut shutdown => return Ok(Step::Stop),
            consumer = self.recreate_consumer(start + 1) => consumer?,
        };
        if self.options.stop_when_caught_up && consumer.cached_info().num_pending == 0 {
            return Ok(Step::Done);
        }
        let batch_size = self.options.batch_size.max(1);
        let mut batches = consumer
            .stream()
            .max_messages_per_batch(batch_size)
            .messages()
            .await
            .context("pulling from the consumer")?
            .ready_chunks(batch_size);
        let mut idle_check = tokio::time::interval(IDLE_CHECK);
        idle_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut committed = start;
        let mut staged: Option<Staged<P::Changes>> = None;
        loop {
            let current = match staged.take() {
                Some(current) => {
                    if shutdown.as_mut().now_or_never().is_some() {
                        return Ok(Step::Stop);
                    }
                    // A long backlog never idles: check the lock on the way.
                    if idle_check.tick().now_or_never().is_some() {
                        lock.check().await?;
                    }
                    current
                }
                None => {
                    let batch = tokio::select! {
                        _ = &mut shutdown => return Ok(Step::Stop),
                        _ = idle_check.tick() => {
                            lock.check().await?;
                            if projection::checkpoint(&self.pool, name).await? < committed {
                                tracing::info!(projection = name, "checkpoint moved back; replaying");
                                return Ok(Step::Restart);
                            }
                            continue;
                        }
                        batch = batches.next() => batch,
                    };
                    let Some(batch) = batch else { anyhow::bail!("the consumer's message stream ended") };
                    let messages = self.fill_from_backlog(batch, &mut batches).await?;
                    self.stage(messages, committed, None).await?
                }
            };
            let backlog = pending_after(&current.messages) > 0;
            let (written, next) = tokio::join!(self.write(&current, &mut committed), async {
                if !backlog {
                    return Ok(None);
                }
                // Only what the client holds already: waiting here for a
                // message still on its way stalled small batches.
                match batches.next().now_or_never() {
                    Some(Some(batch)) => {
                        let messages = self.fill_from_backlog(batch, &mut batches).await?;
                        // On a task of its own: preparing is CPU work, which
                        // must not hold back the write sharing this task.
                        let (projection, pool) = (self.projection.clone(), self.pool.clone());
                        let ahead = Some(current.changes.clone());
                        let staging = stage(projection, pool, messages, current.batch.highest, ahead);
                        Ok(Some(tokio::spawn(staging).await.context("preparing a batch")??))
                    }
                    Some(None) | None => anyhow::Ok(None),
                }
            });
            let next = next?;
            match written {
                Ok(Step::Continue) => staged = next,
                Ok(other) => return Ok(other),
                Err(error) if is_data_error(&error) => {
                    // The next batch was prepared on changes that were not
                    // written: prepare it again after the fallback.
                    match self.apply_one_by_one(current.messages, error, &mut committed).await? {
                        Step::Continue => {}
                        other => return Ok(other),
                    }
                    if let Some(next) = next {
                        staged = Some(self.stage(next.messages, committed, None).await?);
                    }
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Takes a received chunk and, while the server says more events are
    /// pending, waits briefly for them so a backlog is applied in full
    /// batches (the client hands over what its buffer holds, far fewer than
    /// a batch).
    async fn fill_from_backlog<S>(
        &self,
        chunk: Vec<Result<jetstream::Message, consumer::pull::MessagesError>>,
        batches: &mut S,
    ) -> anyhow::Result<Vec<jetstream::Message>>
    where
        S: futures::Stream<Item = Vec<Result<jetstream::Message, consumer::pull::MessagesError>>> + Unpin,
    {
        let mut messages = chunk.into_iter().collect::<Result<Vec<_>, _>>().context("receiving a batch")?;
        while messages.len() < self.options.batch_size && pending_after(&messages) > 0 {
            match tokio::time::timeout(BACKLOG_WAIT, batches.next()).await {
                Ok(Some(more)) => {
                    for message in more {
                        messages.push(message.context("receiving a batch")?);
                    }
                }
                Ok(None) | Err(_) => break,
            }
        }
        Ok(messages)
    }

    /// Deletes and creates the durable consumer so it starts at `start`.
    async fn recreate_consumer(&self, start: u64) -> anyhow::Result<consumer::PullConsumer> {
        let stream = self.log.jetstream().get_stream(&self.log.settings().name).await?;
        // Named after the schema too, as the leader lock is: two deployments
        // of one view on one stream (two schemas) each keep their own.
        let schema: String = sqlx::query_scalar("SELECT current_schema()").fetch_one(&self.pool).await?;
        let stream_name = &self.log.settings().name;
        let durable = durable_name(stream_name, &schema, self.projection.name());
        let _ = stream.delete_consumer(&durable).await;
        // Before names held the schema, a view's consumer was `<stream>-<view>`.
        let _ = stream.delete_consumer(&format!("{stream_name}-{}", self.projection.name()).replace('.', "_")).await;
        let config = consumer::pull::Config {
            durable_name: Some(durable.clone()),
            filter_subject: self.projection.filter_subject(),
            deliver_policy: consumer::DeliverPolicy::ByStartSequence { start_sequence: start },
            ack_policy: consumer::AckPolicy::All,
            ack_wait: Duration::from_secs(30),
            max_ack_pending: (self.options.batch_size * 4).max(1000) as i64,
            ..Default::default()
        };
        stream.create_consumer(config).await.with_context(|| format!("creating consumer {durable}"))
    }

    /// Prepares a batch in this task (see [`stage`]).
    async fn stage(
        &self,
        messages: Vec<jetstream::Message>,
        basis: u64,
        ahead: Option<Arc<P::Changes>>,
    ) -> anyhow::Result<Staged<P::Changes>> {
        stage(self.projection.clone(), self.pool.clone(), messages, basis, ahead).await
    }

    /// Applies a batch that failed on a data error one event at a time,
    /// parking the event that fails.
    async fn apply_one_by_one(
        &self,
        messages: Vec<jetstream::Message>,
        error: anyhow::Error,
        committed: &mut u64,
    ) -> anyhow::Result<Step> {
        tracing::warn!(
            projection = self.projection.name(),
            error = format!("{error:#}"),
            "batch failed on a data error; applying its events one by one"
        );
        let mut step = Step::Continue;
        for message in messages {
            let single = self.stage(vec![message], *committed, None).await?;
            step = match self.write(&single, committed).await {
                Err(error) if is_data_error(&error) => self.park_failed(&single.messages[0], &error, committed).await?,
                outcome => outcome?,
            };
            if !matches!(step, Step::Continue | Step::Done) {
                return Ok(step);
            }
        }
        Ok(step)
    }

    /// Writes a staged batch and its checkpoint in one transaction, then acks.
    async fn write(&self, staged: &Staged<P::Changes>, committed: &mut u64) -> anyhow::Result<Step> {
        let Some(last) = staged.messages.last() else { return Ok(Step::Continue) };
        let name = self.projection.name();
        let started = Instant::now();
        // Catching up, a commit does not wait for the WAL flush: a Postgres
        // crash can undo the last moments of catch-up, view and checkpoint
        // together, and the runner then replays them from the log.
        let mut transaction = if pending_after(&staged.messages) > 0 {
            self.pool.begin_with("BEGIN; SET LOCAL synchronous_commit = off").await?
        } else {
            self.pool.begin().await?
        };
        let checkpoint = projection::lock_checkpoint(&mut transaction, name).await?;
        if checkpoint != staged.basis {
            tracing::info!(projection = name, checkpoint, "checkpoint moved; replaying");
            return Ok(Step::Restart);
        }
        self.projection.write(&mut transaction, &staged.changes).await?;
        projection::park(&mut transaction, name, &staged.batch.malformed).await?;
        projection::store_checkpoint(&mut transaction, name, staged.batch.highest).await?;
        transaction.commit().await.context("committing a batch")?;
        *committed = staged.batch.highest;
        let pending = self.acknowledge(last).await?;
        self.record(staged.messages.len(), staged.batch.skipped, pending, started);
        Ok(self.after_commit(staged.batch.highest, pending))
    }

    /// Parks one event whose apply failed, advancing the checkpoint past it.
    async fn park_failed(
        &self,
        message: &jetstream::Message,
        error: &anyhow::Error,
        committed: &mut u64,
    ) -> anyhow::Result<Step> {
        let name = self.projection.name();
        let sequence = sequence_of(message)?;
        let mut transaction = self.pool.begin().await?;
        let checkpoint = projection::lock_checkpoint(&mut transaction, name).await?;
        if checkpoint != *committed {
            return Ok(Step::Restart);
        }
        if sequence > checkpoint {
            let row = ParkedRow {
                sequence,
                subject: message.subject.to_string(),
                reason: format!("applying failed: {error:#}"),
                payload: message.payload.to_vec(),
            };
            projection::park(&mut transaction, name, std::slice::from_ref(&row)).await?;
            projection::store_checkpoint(&mut transaction, name, sequence).await?;
        }
        transaction.commit().await?;
        *committed = sequence.max(checkpoint);
        let pending = self.acknowledge(message).await?;
        Ok(self.after_commit(*committed, pending))
    }

    /// Acks everything up to `last` (AckPolicy All) and returns what is pending.
    async fn acknowledge(&self, last: &jetstream::Message) -> anyhow::Result<u64> {
        if self.options.fault == Some(FaultPoint::AfterCommitBeforeAck) {
            return Err(FaultInjected(FaultPoint::AfterCommitBeforeAck).into());
        }
        last.ack_with(AckKind::Ack).await.map_err(|error| anyhow::anyhow!("acking: {error}"))?;
        Ok(last.info().map_err(|error| anyhow::anyhow!("{error}"))?.pending)
    }

    fn after_commit(&self, checkpoint: u64, pending: u64) -> Step {
        self.checkpoint.send_replace(checkpoint);
        if self.options.stop_when_caught_up && pending == 0 { Step::Done } else { Step::Continue }
    }

    fn record(&self, received: usize, skipped: usize, pending: u64, started: Instant) {
        let name = self.projection.name().to_owned();
        metrics::counter!("eventlog_events_applied_total", "projection" => name.clone())
            .increment((received - skipped) as u64);
        metrics::counter!("eventlog_events_skipped_total", "projection" => name.clone()).increment(skipped as u64);
        metrics::gauge!("eventlog_consumer_lag", "projection" => name.clone()).set(pending as f64);
        metrics::histogram!("eventlog_batch_seconds", "projection" => name).record(started.elapsed().as_secs_f64());
    }
}

/// Sorts received messages and prepares their events, as if the view stood
/// at `basis` with `ahead` written on top. Owns what it uses, so it can run
/// on a task of its own.
async fn stage<P: Projection>(
    projection: Arc<P>,
    pool: PgPool,
    messages: Vec<jetstream::Message>,
    basis: u64,
    ahead: Option<Arc<P::Changes>>,
) -> anyhow::Result<Staged<P::Changes>> {
    let mut batch = Batch::sort(&messages, basis)?;
    let Prepared { changes, refused } = projection.prepare(&pool, &batch.events, ahead.as_deref()).await?;
    batch.park_refused(&messages, refused);
    Ok(Staged { messages, batch, changes: Arc::new(changes), basis })
}

/// A batch received and prepared, not yet written.
struct Staged<C> {
    messages: Vec<jetstream::Message>,
    batch: Batch,
    /// Shared with the preparation of the next batch while this one is written.
    changes: Arc<C>,
    /// The checkpoint it was prepared on: it is written only if the view
    /// still stands there.
    basis: u64,
}

/// Returns the durable consumer's name of a view: stream, schema and view,
/// with the characters NATS refuses in names replaced.
fn durable_name(stream: &str, schema: &str, view: &str) -> String {
    format!("{stream}-{schema}-{view}").replace(['.', '*', '>', ' '], "_")
}

/// Pauses between attempts of a runner that outlives its dependencies,
/// with the attempt count in every log line.
struct Retry<'a> {
    name: &'a str,
    failures: Failures,
}

impl<'a> Retry<'a> {
    fn new(name: &'a str) -> Self {
        Self { name, failures: Failures::default() }
    }

    fn reset(&mut self) {
        if !self.failures.is_clear() {
            tracing::info!(projection = self.name, "projection resumed");
        }
        self.failures.reset();
    }

    /// Logs the failure and waits before the next attempt; true when
    /// shutdown came first.
    async fn pause<F: Future<Output = ()>>(
        &mut self,
        error: &anyhow::Error,
        what: &str,
        shutdown: Pin<&mut F>,
    ) -> bool {
        let (attempt, pause) = self.failures.record();
        tracing::warn!(
            projection = self.name,
            attempt,
            retry_in_ms = pause.as_millis() as u64,
            error = format!("{error:#}"),
            "{what}; retrying"
        );
        metrics::counter!("eventlog_projection_retries_total", "projection" => self.name.to_owned()).increment(1);
        tokio::select! {
            _ = shutdown => true,
            _ = tokio::time::sleep(pause) => false,
        }
    }
}

/// How many events the server had pending after the last of `messages`.
fn pending_after(messages: &[jetstream::Message]) -> u64 {
    messages.last().and_then(|message| message.info().ok()).map_or(0, |info| info.pending)
}

/// True for errors in the data (SQLSTATE classes 22 and 23): applying the
/// same events again fails the same way, so they must be isolated and parked.
fn is_data_error(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| match cause.downcast_ref::<sqlx::Error>() {
        Some(sqlx::Error::Database(database)) => {
            database.code().is_some_and(|code| code.starts_with("22") || code.starts_with("23"))
        }
        _ => false,
    })
}
