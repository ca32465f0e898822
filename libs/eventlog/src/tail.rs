//! [`Tail`]: one live reader of a subject filter per process, shared by
//! every watch on it. A watch reads its aggregate's history with direct
//! gets, then takes the aggregate's new events from the shared tail — so a
//! thousand watches cost one consumer, not a thousand, and a watch that
//! cannot keep up is cut off instead of buffering without bound.

use crate::backoff::Failures;
use crate::envelope::{Decoded, RecordedEvent, decode};
use crate::log::EventLog;
use async_nats::jetstream::consumer;
use futures::FutureExt as _;
use futures::StreamExt as _;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// Why a follow ended early.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    /// The follower fell more than the tail's buffer behind: it must start again.
    #[error("fell behind the log by more than {0} events; watch again")]
    FellBehind(usize),
    /// The tail stopped (the process is stopping).
    #[error("the log's tail stopped")]
    Stopped,
    /// Reading the history failed.
    #[error("reading the history failed")]
    Unavailable(#[source] anyhow::Error),
}

/// The live end of one subject filter, shared by every follower. It reads
/// the log only from its first follower on, so a service nobody watches
/// pays nothing for it.
#[derive(Clone)]
pub struct Tail {
    log: EventLog,
    events: broadcast::Sender<Arc<RecordedEvent>>,
    capacity: usize,
    /// True once the tail reads the log: a follower that read its history
    /// before that could miss the events in between.
    reading: watch::Receiver<bool>,
    /// The reader, until the first follower starts it.
    reader: Arc<Mutex<Option<BoxFuture<'static, ()>>>>,
}

impl std::fmt::Debug for Tail {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Tail")
            .field("capacity", &self.capacity)
            .field("reading", &*self.reading.borrow())
            .finish()
    }
}

/// How long a follower waits for the tail to start reading.
const START_WAIT: Duration = Duration::from_secs(10);

impl Tail {
    /// Prepares to read `filter_subject`: from its first follower on, it
    /// reads from the next event until `stop` resolves, keeping `capacity`
    /// events for followers that lag. NATS down only pauses it: it resumes
    /// after the last event it saw.
    pub fn new(
        log: EventLog,
        filter_subject: String,
        capacity: usize,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> Self {
        let (events, _) = broadcast::channel(capacity.max(1));
        let (started, reading) = watch::channel(false);
        let reader = {
            let (log, events) = (log.clone(), events.clone());
            async move {
                tokio::select! {
                    _ = stop => {}
                    _ = read(log, filter_subject, events, started) => {}
                }
            }
            .boxed()
        };
        Self { log, events, capacity, reading, reader: Arc::new(Mutex::new(Some(reader))) }
    }

    /// Follows one aggregate: its history, then each new event as it is
    /// appended, in order, never twice. Ends with [`FollowError::FellBehind`]
    /// when the follower lags more than the tail's capacity.
    pub async fn follow(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<BoxStream<'static, Result<RecordedEvent, FollowError>>, FollowError> {
        if let Some(reader) = self.reader.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take() {
            tokio::spawn(reader);
        }
        // The tail must be reading before the history is: then every event
        // after the history comes through the tail.
        let mut reading = self.reading.clone();
        match tokio::time::timeout(START_WAIT, reading.wait_for(|reading| *reading)).await {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => return Err(FollowError::Stopped),
            Err(_) => return Err(FollowError::Unavailable(anyhow::anyhow!("the log's tail has not started"))),
        }
        // Subscribe first, then read the history: an event appended in
        // between is in both, and the sequence tells the copy apart.
        let live = self.events.subscribe();
        let history = self.log.load(aggregate_type, aggregate_id).await.map_err(FollowError::Unavailable)?;
        let subject = self.log.subject(aggregate_type, aggregate_id);
        let capacity = self.capacity;
        let seen = history.last_sequence;
        let history = futures::stream::iter(history.events.into_iter().map(Ok));
        // After an error the state is gone and the stream ends.
        let new = futures::stream::unfold(Some((live, seen)), move |state| {
            let subject = subject.clone();
            async move {
                let (mut live, mut seen) = state?;
                loop {
                    match live.recv().await {
                        Ok(event) if event.subject == subject && event.sequence > seen => {
                            seen = event.sequence;
                            return Some((Ok(RecordedEvent::clone(&event)), Some((live, seen))));
                        }
                        Ok(_) => continue,
                        Err(broadcast::error::RecvError::Lagged(_)) => {
                            return Some((Err(FollowError::FellBehind(capacity)), None));
                        }
                        Err(broadcast::error::RecvError::Closed) => return Some((Err(FollowError::Stopped), None)),
                    }
                }
            }
        });
        Ok(history.chain(new).boxed())
    }
}

/// Reads the filter from the stream's end on and broadcasts each event,
/// once and in order: it starts after the stream's last sequence, resumes
/// after the last one it saw, and drops anything at or below that (an
/// ordered consumer that rebuilds itself may deliver old events again).
async fn read(
    log: EventLog,
    filter_subject: String,
    events: broadcast::Sender<Arc<RecordedEvent>>,
    started: watch::Sender<bool>,
) {
    let mut last: Option<u64> = None;
    let mut failures = Failures::default();
    loop {
        let messages = async {
            let mut stream = log.jetstream().get_stream(&log.settings().name).await?;
            let from = match last {
                Some(sequence) => sequence,
                None => stream.info().await?.state.last_sequence,
            };
            let config = consumer::pull::OrderedConfig {
                filter_subject: filter_subject.clone(),
                deliver_policy: consumer::DeliverPolicy::ByStartSequence { start_sequence: from + 1 },
                ..Default::default()
            };
            let consumer = stream.create_consumer(config).await?;
            anyhow::Ok((from, consumer.messages().await?))
        };
        let mut messages = match messages.await {
            Ok((from, messages)) => {
                last = Some(from);
                started.send_replace(true);
                messages
            }
            Err(error) => {
                let (attempt, pause) = failures.record();
                tracing::warn!(
                    filter_subject,
                    attempt,
                    error = format!("{error:#}"),
                    "tail cannot read the log; retrying"
                );
                tokio::time::sleep(pause).await;
                continue;
            }
        };
        while let Some(message) = messages.next().await {
            let Ok(message) = message else { break };
            let Ok(info) = message.info() else { continue };
            let sequence = info.stream_sequence;
            if last.is_some_and(|last| sequence <= last) {
                continue;
            }
            last = Some(sequence);
            failures.reset();
            if let Decoded::Known(event) = decode(sequence, &message.subject, &message.payload) {
                // No follower is not an error: the tail runs ahead of them.
                let _ = events.send(Arc::new(*event));
            }
        }
        let (attempt, pause) = failures.record();
        tracing::debug!(filter_subject, attempt, "tail interrupted; resuming");
        tokio::time::sleep(pause).await;
    }
}
