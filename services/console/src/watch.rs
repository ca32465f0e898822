//! [`Watches`]: the event stream for one client at a time. Each watch has
//! its own cursor over the log ([`read_log`]: from a sequence, a time or
//! now, resuming after NATS returns) and a bounded buffer to its client. A
//! client that leaves the buffer full longer than `slow_client_ms` is cut
//! off ([`WatchEnd::TooSlow`]) — the server never holds more than the
//! buffer for it — and resumes by watching again from its last sequence + 1.

use crate::access::may_see;
use crate::filter::WatchFilter;
use crate::scope::{Scope, Scopes};
use crate::settings::ConsoleSettings;
use futures::StreamExt as _;
use futures::stream::BoxStream;
use gantry_eventlog::{EventLog, LogEntry, read_log};
use gantry_proto::events::Envelope;
use gantry_proto::types::Principal;
use gantry_runtime::Shutdown;
use prost::Message as _;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};

/// One event as a watch hands it on.
#[derive(Debug, Clone)]
pub(crate) struct Watched {
    pub(crate) sequence: u64,
    pub(crate) subject: String,
    pub(crate) envelope: Envelope,
    pub(crate) scope: Scope,
}

/// Why a watch ended before its client left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WatchEnd {
    /// The client read slower than the log was written: its buffer of
    /// `buffered` events stayed full for `waited`.
    TooSlow { buffered: usize, waited: Duration },
}

impl std::fmt::Display for WatchEnd {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooSlow { buffered, waited } => write!(
                formatter,
                "the client read slower than the log: {buffered} events waited for it longer than {} ms; \
                 watch again from the sequence after the last one received",
                waited.as_millis()
            ),
        }
    }
}

/// Why a watch was not started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooManyWatches(pub(crate) usize);

impl std::fmt::Display for TooManyWatches {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{} watches are open already, the most this server takes; try again later", self.0)
    }
}

/// Starts watches over one log, with their limits.
#[derive(Debug, Clone)]
pub(crate) struct Watches {
    log: EventLog,
    buffer: usize,
    slow_client: Duration,
    max_watches: usize,
    open: Arc<Semaphore>,
    shutdown: Shutdown,
}

/// The stream a client reads: events, then possibly why it was cut off.
pub(crate) type WatchStream = BoxStream<'static, Result<Watched, WatchEnd>>;

impl Watches {
    pub(crate) fn new(log: EventLog, settings: &ConsoleSettings, shutdown: Shutdown) -> Self {
        let max_watches = settings.max_watches.max(1);
        Self {
            log,
            buffer: settings.client_buffer_events.max(1),
            slow_client: settings.slow_client(),
            max_watches,
            open: Arc::new(Semaphore::new(max_watches)),
            shutdown,
        }
    }

    /// Starts a watch for `caller`: the events it may see that pass
    /// `filter`, in log order, until the client drops the stream, the
    /// server stops, or the client is cut off.
    pub(crate) fn start(&self, caller: Principal, filter: WatchFilter) -> Result<WatchStream, TooManyWatches> {
        let permit = self.open.clone().try_acquire_owned().map_err(|_| TooManyWatches(self.max_watches))?;
        let (events, received) = mpsc::channel(self.buffer);
        let (cut, cut_off) = watch::channel(None);
        let producer = Producer {
            log: self.log.clone(),
            caller,
            filter,
            events,
            cut,
            slow_client: self.slow_client,
            buffer: self.buffer,
            _permit: permit,
        };
        tokio::spawn(producer.run(self.shutdown.clone()));
        Ok(client_stream(received, cut_off))
    }
}

/// The client's side: buffered events, and the cut-off as soon as it
/// happens (the events still buffered are dropped with it).
fn client_stream(received: mpsc::Receiver<Watched>, cut_off: watch::Receiver<Option<WatchEnd>>) -> WatchStream {
    futures::stream::unfold(Some((received, cut_off, true)), |state| async move {
        let (mut received, mut cut_off, mut cut_open) = state?;
        loop {
            tokio::select! {
                biased;
                changed = cut_off.changed(), if cut_open => {
                    if changed.is_err() {
                        cut_open = false;
                        continue;
                    }
                    if let Some(end) = cut_off.borrow_and_update().clone() {
                        return Some((Err(end), None));
                    }
                }
                next = received.recv() => {
                    return next.map(|event| (Ok(event), Some((received, cut_off, cut_open))));
                }
            }
        }
    })
    .boxed()
}

/// Reads the log for one client and fills its buffer.
struct Producer {
    log: EventLog,
    caller: Principal,
    filter: WatchFilter,
    events: mpsc::Sender<Watched>,
    cut: watch::Sender<Option<WatchEnd>>,
    slow_client: Duration,
    buffer: usize,
    /// Held while the watch runs.
    _permit: OwnedSemaphorePermit,
}

impl Producer {
    async fn run(self, shutdown: Shutdown) {
        metrics::gauge!("console_watches_open").increment(1.0);
        let stopping = shutdown.wait();
        tokio::pin!(stopping);
        let subject = self.filter.filter_subject(self.log.settings());
        let mut entries = read_log(self.log.clone(), subject, self.filter.start);
        let mut scopes = Scopes::new(self.log.clone());
        loop {
            let entry = tokio::select! {
                () = &mut stopping => break,
                () = self.events.closed() => break,
                entry = entries.next() => match entry { Some(entry) => entry, None => break },
            };
            let Some(watched) = self.admit(entry, &mut scopes).await else { continue };
            let sent = tokio::select! {
                () = &mut stopping => break,
                sent = self.events.send_timeout(watched, self.slow_client) => sent,
            };
            match sent {
                Ok(()) => metrics::counter!("console_watch_events_total").increment(1),
                Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                    metrics::counter!("console_watch_cutoffs_total").increment(1);
                    tracing::info!(subject = self.caller.subject, buffered = self.buffer, "slow watch client cut off");
                    self.cut.send_replace(Some(WatchEnd::TooSlow { buffered: self.buffer, waited: self.slow_client }));
                    break;
                }
                Err(mpsc::error::SendTimeoutError::Closed(_)) => break,
            }
        }
        metrics::gauge!("console_watches_open").decrement(1.0);
    }

    /// Decodes an entry and returns it when the filters and the caller's
    /// access let it through.
    async fn admit(&self, entry: LogEntry, scopes: &mut Scopes) -> Option<Watched> {
        let envelope = match Envelope::decode(entry.payload.as_ref()) {
            Ok(envelope) => envelope,
            Err(error) => {
                tracing::warn!(sequence = entry.sequence, %error, "a malformed event is left out of the watch");
                return None;
            }
        };
        if !self.filter.admits_kind(&envelope.event_type, &envelope.aggregate_type) {
            return None;
        }
        let look_up = !self.filter.environments.is_empty();
        let (aggregate_type, aggregate_id) = (&envelope.aggregate_type, &envelope.aggregate_id);
        let scope = scopes.of(aggregate_type, aggregate_id, envelope.payload.as_ref(), look_up).await;
        if !self.filter.admits_scope(&scope) || !may_see(&self.caller, &envelope.aggregate_type, &scope.tenant) {
            return None;
        }
        Some(Watched { sequence: entry.sequence, subject: entry.subject, envelope, scope })
    }
}
