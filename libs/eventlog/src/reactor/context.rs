//! [`ReactContext`]: what a reactor's effect gets besides its work item —
//! the log, the service's pool, and recording an effect as an event with an
//! id derived from the work's origin and a step name, exactly once.

use crate::envelope::{NewEvent, RecordedEvent};
use crate::log::{AppendError, Appended, EventLog};
use crate::reactor::{ReactError, ReactorFault, Work};
use sqlx::PgPool;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use uuid::Uuid;

/// The namespace of recorded events' ids.
const RECORDING_NAMESPACE: Uuid = Uuid::from_u128(0x9d3e_6f2a_41c7_4b0e_8f15_2c6a_b7d9_e304);

/// The id of the event `reactor` records for `step` of the work that comes
/// from `origin` (the trigger's event id): UUIDv5 of
/// `<reactor>/<origin>/<step>`. The same on every retry, in every process.
pub fn recording_id(reactor: &str, origin: Uuid, step: &str) -> Uuid {
    Uuid::new_v5(&RECORDING_NAMESPACE, format!("{reactor}/{origin}/{step}").as_bytes())
}

/// Handed to [`Reactor::react`](super::Reactor::react) with each work item.
#[derive(Debug)]
pub struct ReactContext {
    log: EventLog,
    pool: PgPool,
    reactor: String,
    origin: Uuid,
    correlation_id: String,
    causation_id: String,
    /// Armed with [`ReactorFault::AfterEffectBeforeRecord`] or
    /// [`ReactorFault::BeforeRecord`]: the recording of this number (from 1)
    /// crashes the runner instead; 0 when unarmed.
    crash_at_record: u32,
    records: AtomicU32,
    /// Armed with [`ReactorFault::AtStep`]: the step of this number (from 1)
    /// crashes the runner instead; 0 when unarmed.
    crash_at_step: u32,
    steps: AtomicU32,
    crashed: AtomicBool,
}

impl ReactContext {
    pub(super) fn new(log: EventLog, pool: PgPool, reactor: &str, work: &Work, fault: Option<ReactorFault>) -> Self {
        Self {
            log,
            pool,
            reactor: reactor.to_owned(),
            origin: work.origin,
            correlation_id: work.correlation_id(),
            causation_id: work.causation_id(),
            crash_at_record: match fault {
                Some(ReactorFault::AfterEffectBeforeRecord) => 1,
                Some(ReactorFault::BeforeRecord(number)) => number,
                _ => 0,
            },
            records: AtomicU32::new(0),
            crash_at_step: match fault {
                Some(ReactorFault::AtStep(number)) => number,
                _ => 0,
            },
            steps: AtomicU32::new(0),
            crashed: AtomicBool::new(false),
        }
    }

    /// The event log.
    pub fn log(&self) -> &EventLog {
        &self.log
    }

    /// The service's pool (its own schema), for effects that keep state.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The id the event recorded for `step` of this work has.
    pub fn event_id(&self, step: &str) -> Uuid {
        recording_id(&self.reactor, self.origin, step)
    }

    /// Returns the event recorded for `step` on the given aggregate, if it
    /// is there already (a retry skips what an earlier attempt finished).
    pub async fn recorded(
        &self,
        step: &str,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<Option<RecordedEvent>, ReactError> {
        let id = self.event_id(step).to_string();
        let aggregate =
            self.log.load(aggregate_type, aggregate_id).await.map_err(|error| {
                ReactError::retryable(format!("reading {aggregate_type} {aggregate_id}: {error:#}"))
            })?;
        Ok(aggregate.events.into_iter().find(|event| event.envelope.event_id == id))
    }

    /// Records `step` of this work as `event`, exactly once: its id is
    /// [`event_id(step)`](Self::event_id), its correlation the trigger's and
    /// its causation the trigger's id (whatever `event` had there). A retry,
    /// however late, returns the event stored the first time (`duplicate`);
    /// see [`EventLog::append_once`].
    pub async fn record(&self, step: &str, mut event: NewEvent) -> Result<Appended, ReactError> {
        let number = self.records.fetch_add(1, Ordering::SeqCst) + 1;
        if number == self.crash_at_record && !self.crashed.swap(true, Ordering::SeqCst) {
            return Err(ReactError::retryable("fault injected before recording"));
        }
        event.correlation_id = self.correlation_id.clone();
        event.causation_id = self.causation_id.clone();
        self.log.append_once(event, self.event_id(step)).await.map_err(|error| match error {
            AppendError::Conflict { subject } => {
                ReactError::retryable(format!("recording {step}: busy subject {subject}"))
            }
            AppendError::Unavailable(error) => ReactError::retryable(format!("recording {step}: {error:#}")),
        })
    }

    /// Marks the end of an effect that records no event (say, a password
    /// stored before it is set): nothing in production, the crash point of
    /// [`ReactorFault::AtStep`] in tests. Returns the error to give up the
    /// attempt with when the fault is injected here.
    pub fn step(&self, name: &str) -> Result<(), ReactError> {
        let number = self.steps.fetch_add(1, Ordering::SeqCst) + 1;
        if number == self.crash_at_step && !self.crashed.swap(true, Ordering::SeqCst) {
            return Err(ReactError::retryable(format!("fault injected after step {name}")));
        }
        Ok(())
    }

    /// True when this attempt recorded (or tried to record) an event.
    pub(super) fn recorded_any(&self) -> bool {
        self.records.load(Ordering::SeqCst) > 0
    }

    /// True once a fault (before recording, or at a step) was injected.
    pub(super) fn crashed(&self) -> bool {
        self.crashed.load(Ordering::SeqCst)
    }
}
