//! [`ProjectionRunner`]: one durable pull consumer per view that applies
//! events to Postgres exactly once.
//!
//! Each batch (whatever is ready, up to `batch_size`) is applied and the
//! checkpoint advanced in one transaction; only then is the batch acked. An
//! event at or below the checkpoint is skipped, so a crash between commit and
//! ack (or any redelivery) applies nothing twice. Unknown event types are
//! skipped; malformed ones are parked, and the consumer goes on.
//!
//! Only one runner per view projects at a time (a Postgres advisory lock);
//! a standby waits. The Postgres checkpoint, not the consumer's own state, is
//! the position: the leader (re)creates the consumer at checkpoint + 1, and
//! starts over when it sees the checkpoint move back (a rebuild).

use crate::envelope::{Decoded, decode};
use crate::log::EventLog;
use crate::projection::{self, ParkedRow, Projection};
use crate::trace;
use anyhow::Context as _;
use async_nats::jetstream::{self, AckKind, consumer};
use futures::StreamExt as _;
use sqlx::PgPool;
use sqlx::pool::PoolConnection;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// A point where a test can make the runner stop as if it crashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
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
        let leadership = tokio::select! {
            _ = &mut shutdown => return Ok(RunEnd::Shutdown),
            lock = self.lead() => lock?,
        };
        let Some(_leadership) = leadership else { return Ok(RunEnd::NotLeader) };
        projection::install(&self.pool, &name).await?;
        loop {
            match self.consume(shutdown.as_mut()).await {
                Ok(Step::Stop) => return Ok(RunEnd::Shutdown),
                Ok(Step::Done) => return Ok(RunEnd::CaughtUp),
                Ok(_) => {}
                Err(error) if error.is::<FaultInjected>() => return Err(error),
                Err(error) => {
                    tracing::warn!(projection = %name, error = format!("{error:#}"), "projection interrupted; resuming");
                    tokio::select! {
                        _ = &mut shutdown => return Ok(RunEnd::Shutdown),
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    }
                }
            }
        }
    }

    /// Waits until this runner holds the view's advisory lock; the returned
    /// connection holds it (it is closed, not pooled, when dropped). `None`
    /// when another runner leads and the options say not to wait.
    async fn lead(&self) -> anyhow::Result<Option<LeaderLock>> {
        let key = format!("gantry.projection.{}", self.projection.name());
        loop {
            let mut connection = self.pool.acquire().await.context("acquiring the leader connection")?;
            let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1))")
                .bind(&key)
                .fetch_one(&mut *connection)
                .await?;
            if locked {
                return Ok(Some(LeaderLock(Some(connection))));
            }
            drop(connection);
            if !self.options.wait_for_leadership {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Consumes from checkpoint + 1 until an error, a restart or the end.
    /// Shutdown is honoured between batches only, so a batch being applied
    /// always finishes (commit and ack) before the runner stops.
    async fn consume<F: Future<Output = ()>>(&self, mut shutdown: std::pin::Pin<&mut F>) -> anyhow::Result<Step> {
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
        let mut batches = consumer
            .stream()
            .max_messages_per_batch(self.options.batch_size.max(1))
            .messages()
            .await
            .context("pulling from the consumer")?
            .ready_chunks(self.options.batch_size.max(1));
        let mut committed = start;
        loop {
            let batch = tokio::select! {
                _ = &mut shutdown => return Ok(Step::Stop),
                batch = batches.next() => batch,
            };
            let Some(batch) = batch else { anyhow::bail!("the consumer's message stream ended") };
            let messages = batch.into_iter().collect::<Result<Vec<_>, _>>().context("receiving a batch")?;
            match self.apply(&messages, &mut committed).await? {
                Step::Continue => {}
                other => return Ok(other),
            }
        }
    }

    /// Deletes and creates the durable consumer so it starts at `start`.
    async fn recreate_consumer(&self, start: u64) -> anyhow::Result<consumer::PullConsumer> {
        let stream = self.log.jetstream().get_stream(&self.log.settings().name).await?;
        let durable = format!("{}-{}", self.log.settings().name, self.projection.name()).replace('.', "_");
        let _ = stream.delete_consumer(&durable).await;
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

    /// Applies one batch in one transaction, then acks it.
    async fn apply(&self, messages: &[jetstream::Message], committed: &mut u64) -> anyhow::Result<Step> {
        let Some(last) = messages.last() else { return Ok(Step::Continue) };
        let name = self.projection.name();
        let started = Instant::now();
        let mut transaction = self.pool.begin().await?;
        let checkpoint = projection::lock_checkpoint(&mut transaction, name).await?;
        if checkpoint < *committed {
            tracing::info!(projection = name, checkpoint, "checkpoint moved back; replaying");
            return Ok(Step::Restart);
        }
        let batch = Batch::sort(messages, checkpoint)?;
        let refused = self.projection.apply_batch(&mut transaction, &batch.events).await?;
        let mut parked = batch.malformed;
        for refusal in refused {
            let raw = messages.iter().find(|m| sequence_of(m).ok() == Some(refusal.sequence));
            parked.push(ParkedRow {
                sequence: refusal.sequence,
                subject: raw.map(|m| m.subject.to_string()).unwrap_or_default(),
                reason: refusal.reason,
                payload: raw.map(|m| m.payload.to_vec()).unwrap_or_default(),
            });
        }
        projection::park(&mut transaction, name, &parked).await?;
        let last_info = last.info().map_err(|error| anyhow::anyhow!("{error}"))?;
        let new_checkpoint = last_info.stream_sequence.max(checkpoint);
        let pending = last_info.pending;
        projection::store_checkpoint(&mut transaction, name, new_checkpoint).await?;
        transaction.commit().await.context("committing a batch")?;
        *committed = new_checkpoint;
        if self.options.fault == Some(FaultPoint::AfterCommitBeforeAck) {
            return Err(FaultInjected(FaultPoint::AfterCommitBeforeAck).into());
        }
        last.ack_with(AckKind::Ack).await.map_err(|error| anyhow::anyhow!("acking: {error}"))?;
        drop(batch.spans);
        self.record(messages.len(), batch.skipped, pending, started);
        self.checkpoint.send_replace(new_checkpoint);
        let caught_up = self.options.stop_when_caught_up && pending == 0;
        Ok(if caught_up { Step::Done } else { Step::Continue })
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

/// The session-level advisory lock of the leader, released by closing.
struct LeaderLock(Option<PoolConnection<sqlx::Postgres>>);

impl Drop for LeaderLock {
    fn drop(&mut self) {
        if let Some(connection) = self.0.take() {
            // Closing the connection releases the lock; returning it to the
            // pool would keep the lock held by an idle connection.
            drop(connection.detach());
        }
    }
}

/// A batch sorted into what to apply, to skip and to park.
struct Batch {
    events: Vec<crate::RecordedEvent>,
    malformed: Vec<ParkedRow>,
    /// Redelivered (at or below the checkpoint) or of an unknown type.
    skipped: usize,
    /// One span per applied event, each a child of the trace that appended
    /// it; they close when the batch is committed.
    spans: Vec<tracing::Span>,
}

impl Batch {
    fn sort(messages: &[jetstream::Message], checkpoint: u64) -> anyhow::Result<Self> {
        let mut batch = Batch { events: Vec::new(), malformed: Vec::new(), skipped: 0, spans: Vec::new() };
        for message in messages {
            let sequence = sequence_of(message)?;
            if sequence <= checkpoint {
                batch.skipped += 1;
                continue;
            }
            match decode(sequence, &message.subject, &message.payload) {
                Decoded::Known(event) => {
                    if let Some(headers) = &message.headers {
                        let span =
                            tracing::info_span!("eventlog.apply", sequence, event_type = %event.envelope.event_type);
                        trace::set_parent_from(&span, headers);
                        batch.spans.push(span);
                    }
                    batch.events.push(*event);
                }
                Decoded::Unknown { event_type } => {
                    tracing::debug!(sequence, event_type, "skipping unknown event type");
                    batch.skipped += 1;
                }
                Decoded::Malformed { reason } => batch.malformed.push(ParkedRow {
                    sequence,
                    subject: message.subject.to_string(),
                    reason,
                    payload: message.payload.to_vec(),
                }),
            }
        }
        Ok(batch)
    }
}

fn sequence_of(message: &jetstream::Message) -> anyhow::Result<u64> {
    Ok(message.info().map_err(|error| anyhow::anyhow!("{error}"))?.stream_sequence)
}
