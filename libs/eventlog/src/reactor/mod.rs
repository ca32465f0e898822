//! Reactors: effects outside Postgres (create a role, a bucket, a secret
//! version) triggered by events, each recorded by an event of its own.
//!
//! A [`Reactor`] names the events that trigger work ([`Reactor::select`]),
//! performs the effect ([`Reactor::react`]) and records it through a
//! [`ReactContext`]. The [`ReactorRunner`] runs two halves:
//!
//! - **the queue**: a [`ProjectionRunner`](crate::ProjectionRunner) whose
//!   write inserts one work row per selected event in the transaction that
//!   advances the reactor's checkpoint, so position and queued work move
//!   together and a redelivered event queues nothing twice;
//! - **the workers**: they claim due work rows under a lease (so replicas
//!   never run one item at once), run the effect outside any transaction,
//!   and mark the row done, or schedule a retry with capped jittered
//!   backoff, or record the reactor's give-up event once the item failed
//!   for good. One item's trouble never holds up another.
//!
//! Delivery is at least once: an effect must be idempotent, keyed by what
//! triggered it, and find and finish what a crashed attempt left half done
//! (never redo it with a different result, such as a second password). The
//! events it records have ids derived from the trigger and a step name and
//! are appended with [`EventLog::append_once`], so a retry after any crash is
//! recognised as the same event however late it comes.
//!
//! Work due later (a rotation deadline) is put in the same table with
//! [`schedule`]; its `due_at` is the durable schedule.

mod context;
mod queue;
mod runner;
mod store;

use crate::envelope::{NewEvent, RecordedEvent};
use futures::future::BoxFuture;
use std::time::{Duration, SystemTime};
use uuid::Uuid;

pub use context::{ReactContext, recording_id};
pub use runner::{ReactorFaultInjected, ReactorRunner};
pub use store::{WorkRow, WorkState, install, list_work, schedule};

/// Why an effect did not happen (this time).
///
/// The reason is written to logs, to the work table and usually into the
/// give-up event on the log: it must never hold a secret (a password, a
/// connection string with credentials, a secret value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct ReactError {
    /// True when trying again may succeed (a timeout, a service down);
    /// false when it never will (a name refused by the platform).
    pub retryable: bool,
    /// What went wrong, for people; no secrets.
    pub reason: String,
}

impl ReactError {
    /// A failure worth another attempt.
    pub fn retryable(reason: impl Into<String>) -> Self {
        Self { retryable: true, reason: reason.into() }
    }

    /// A failure no retry will cure.
    pub fn permanent(reason: impl Into<String>) -> Self {
        Self { retryable: false, reason: reason.into() }
    }
}

/// One unit of work handed to [`Reactor::react`].
#[derive(Debug, Clone, PartialEq)]
pub struct Work {
    /// The work row's id.
    pub id: i64,
    /// The key [`Reactor::select`] returned (or the one given to [`schedule`]).
    pub key: String,
    /// What the work comes from: the trigger event's id, or for scheduled
    /// work a UUIDv5 of the reactor and key. Recorded event ids derive from it.
    pub origin: Uuid,
    /// The event that triggered the work; for scheduled work, the event
    /// given as its cause, if any.
    pub trigger: Option<RecordedEvent>,
    /// True for work put in with [`schedule`].
    pub scheduled: bool,
    /// What [`schedule`] was given (empty for event-triggered work).
    pub payload: Vec<u8>,
    /// Which attempt this is, from 1.
    pub attempt: u32,
    /// When the work was due.
    pub due_at: SystemTime,
}

impl Work {
    /// The correlation id events recorded for this work carry: the
    /// trigger's, or the trigger's id when it has none, or the origin.
    pub fn correlation_id(&self) -> String {
        match &self.trigger {
            Some(trigger) if !trigger.envelope.correlation_id.is_empty() => trigger.envelope.correlation_id.clone(),
            Some(trigger) => trigger.envelope.event_id.clone(),
            None => self.origin.to_string(),
        }
    }

    /// The causation id events recorded for this work carry: the trigger's
    /// event id, or the origin for scheduled work without a cause.
    pub fn causation_id(&self) -> String {
        self.trigger.as_ref().map_or_else(|| self.origin.to_string(), |trigger| trigger.envelope.event_id.clone())
    }
}

/// Effects triggered by events of aggregates the service does not own,
/// each recorded as an event.
pub trait Reactor: Send + Sync + 'static {
    /// The reactor's name: its durable consumer, its position (checkpoint
    /// key) and its work queue. Distinct from every view name of the service.
    fn name(&self) -> &str;

    /// The one subject filter of its consumer (NATS 2.9 takes one), for
    /// example `gantry.request.>`; narrow further in [`select`](Self::select),
    /// or run several reactors for unrelated subjects.
    fn filter_subject(&self) -> String;

    /// Returns the work key (for example the request id) when `event`
    /// triggers work, `None` to ignore it. Pure: no I/O, same answer on replay.
    fn select(&self, event: &RecordedEvent) -> Option<String>;

    /// Performs the effect and records it with [`ReactContext::record`].
    ///
    /// Runs outside any transaction, at least once per work item and maybe
    /// again after a crash at any point: it must be idempotent, reuse what
    /// an earlier attempt created (never make a second, different one), and
    /// may check [`ReactContext::recorded`] to skip steps recorded already.
    fn react<'a>(&'a self, work: &'a Work, context: &'a ReactContext) -> BoxFuture<'a, Result<(), ReactError>>;

    /// The event recording that `work` failed for good (attempts used up,
    /// or a permanent error), or `None` to record nothing. It is recorded
    /// with a deterministic id like every recording (step `gave-up`).
    fn gave_up(&self, work: &Work, error: &ReactError) -> Option<NewEvent>;
}

/// A point where a test can make a reactor runner stop as if it crashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReactorFault {
    /// Work was queued (its checkpoint committed) and nothing acted on it;
    /// the runner runs no workers with this fault.
    AfterQueued,
    /// The effect was done; the first [`ReactContext::record`] crashes instead.
    AfterEffectBeforeRecord,
    /// The `n`th [`ReactContext::record`] of an attempt (from 1)
    /// crashes instead: a reactor whose steps each end in a recording is
    /// stopped between any two of its steps (`before_record = 3`).
    BeforeRecord(u32),
    /// The effect was done and recorded; the work row is not marked done
    /// (the first work of an attempt that recorded an event).
    AfterRecordBeforeDone,
    /// The `n`th [`ReactContext::step`] of an attempt (from 1) crashes
    /// instead: stops a reactor between two effects that record nothing
    /// (`at_step = 2`).
    AtStep(u32),
}

/// How a reactor runner behaves.
#[derive(Debug, Clone)]
pub struct ReactorOptions {
    /// Most work items running at once in this runner.
    pub concurrency: usize,
    /// Attempts before an item fails for good (a permanent error fails it at once).
    pub max_attempts: u32,
    /// Delay before the first retry; it doubles each attempt.
    pub backoff_base: Duration,
    /// Longest delay between attempts.
    pub backoff_cap: Duration,
    /// How long a claimed item is held; renewed while it runs. A replica
    /// that died holding it frees it after this long.
    pub lease: Duration,
    /// How often idle workers look for due work (they are woken at once
    /// when the queue takes new work in this process).
    pub poll_interval: Duration,
    /// Most events queued in one transaction.
    pub batch_size: usize,
    /// Simulated crash point; `None` in production.
    pub fault: Option<ReactorFault>,
}

impl Default for ReactorOptions {
    fn default() -> Self {
        Self {
            concurrency: 4,
            max_attempts: 10,
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(300),
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_millis(250),
            batch_size: 500,
            fault: None,
        }
    }
}
