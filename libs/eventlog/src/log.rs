//! [`EventLog`]: appending events with optimistic concurrency and
//! de-duplication, and reading one aggregate's events back.

use crate::envelope::{NewEvent, RecordedEvent, decode_known};
use crate::stream::{StreamSettings, ensure_stream};
use crate::trace;
use anyhow::Context as _;
use async_nats::HeaderMap;
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::stream::DirectGetErrorKind;
use async_nats::jetstream::{self, message::PublishMessage};
use gantry_proto::events::Envelope;
use prost::Message as _;
use std::time::SystemTime;
use tracing::Instrument as _;
use uuid::Uuid;

/// What the writer believes the aggregate's last sequence is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedSequence {
    /// No check: append whatever is there.
    Any,
    /// The aggregate must have no event yet (creates it).
    NoEvents,
    /// The aggregate's last event must be at this stream sequence.
    At(u64),
}

impl ExpectedSequence {
    /// Returns the expectation after having read up to `last_sequence` (0: none).
    pub fn after(last_sequence: u64) -> Self {
        if last_sequence == 0 { Self::NoEvents } else { Self::At(last_sequence) }
    }

    fn header_value(self) -> Option<u64> {
        match self {
            Self::Any => None,
            Self::NoEvents => Some(0),
            Self::At(sequence) => Some(sequence),
        }
    }
}

/// A durably appended event.
#[derive(Debug, Clone)]
pub struct Appended {
    /// Its stream sequence.
    pub sequence: u64,
    /// True when the server had it already (same event id in the window).
    pub duplicate: bool,
    /// The envelope as stored.
    pub envelope: Envelope,
}

/// Why an append did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// Someone else appended to the aggregate first: reload and decide again.
    #[error("concurrent append to {subject}")]
    Conflict {
        /// The aggregate's subject.
        subject: String,
    },
    /// The log could not be reached or did not acknowledge.
    #[error("event log unavailable")]
    Unavailable(#[source] anyhow::Error),
}

/// One aggregate's events as read for deciding a command.
#[derive(Debug, Clone, Default)]
pub struct Aggregate {
    /// Its known events, oldest first (unknown newer types are left out).
    pub events: Vec<RecordedEvent>,
    /// Stream sequence of its last event of any type; 0 when it has none.
    pub last_sequence: u64,
}

/// A handle on the Gantry stream; cheap to clone.
#[derive(Debug, Clone)]
pub struct EventLog {
    context: jetstream::Context,
    stream: jetstream::stream::Stream,
    settings: StreamSettings,
}

impl EventLog {
    /// Opens the stream named in `settings`, creating it if it is missing.
    pub async fn open(client: async_nats::Client, settings: StreamSettings) -> anyhow::Result<Self> {
        // Appends wait as long as the client's requests do
        // (`nats.request_timeout_ms`), not JetStream's own 5 s default.
        let timeout = client.timeout();
        let mut context = jetstream::new(client);
        if let Some(timeout) = timeout {
            context.set_timeout(timeout);
        }
        let stream = ensure_stream(&context, &settings).await?;
        Ok(Self { context, stream, settings })
    }

    /// Returns the stream settings.
    pub fn settings(&self) -> &StreamSettings {
        &self.settings
    }

    /// Returns the JetStream context (for consumers and raw access).
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.context
    }

    /// Returns the subject of an aggregate.
    pub fn subject(&self, aggregate_type: &str, aggregate_id: &str) -> String {
        self.settings.subject(aggregate_type, aggregate_id)
    }

    /// Appends one event and returns once the server has acknowledged it.
    ///
    /// The event id goes in `Nats-Msg-Id`, so a retried append inside the
    /// duplicate window is stored once; `expected` goes in
    /// `Nats-Expected-Last-Subject-Sequence`, so of two writers that read the
    /// same state only the first one lands.
    #[tracing::instrument(skip_all, fields(event_type, subject))]
    pub async fn append(&self, event: NewEvent, expected: ExpectedSequence) -> Result<Appended, AppendError> {
        let subject = self.subject(event.aggregate_type, &event.aggregate_id);
        let envelope = event.into_envelope(SystemTime::now());
        tracing::Span::current().record("event_type", envelope.event_type.as_str()).record("subject", subject.as_str());
        self.append_envelope(subject, envelope, expected).await
    }

    /// Appends a sealed envelope under `subject` (a retry of the same
    /// envelope is de-duplicated by its event id).
    pub async fn append_envelope(
        &self,
        subject: String,
        envelope: Envelope,
        expected: ExpectedSequence,
    ) -> Result<Appended, AppendError> {
        // A producer span after the OpenTelemetry messaging conventions; the
        // event carries its context, so consumers' spans are its children.
        let span = tracing::info_span!(
            "eventlog.append",
            otel.name = format!("send {}", envelope.event_type),
            otel.kind = "producer",
            messaging.system = "nats",
            messaging.operation.type = "send",
            messaging.destination.name = %subject,
            messaging.message.id = %envelope.event_id,
        );
        let mut headers = HeaderMap::new();
        trace::inject(&span, &mut headers);
        let event_type = envelope.event_type.clone();
        let mut publish = PublishMessage::build()
            .headers(headers)
            .payload(envelope.encode_to_vec().into())
            .message_id(&envelope.event_id);
        if let Some(sequence) = expected.header_value() {
            publish = publish.expected_last_subject_sequence(sequence);
        }
        let acknowledged = async { self.context.send_publish(subject.clone(), publish).await?.await };
        match acknowledged.instrument(span).await {
            Ok(ack) => {
                metrics::counter!("eventlog_appended_total", "stream" => self.settings.name.clone(), "event_type" => event_type)
                    .increment(1);
                Ok(Appended { sequence: ack.sequence, duplicate: ack.duplicate, envelope })
            }
            Err(error) if error.kind() == PublishErrorKind::WrongLastSequence => {
                // A create that finds its aggregate made already (a name
                // taken, a retry) is an answer; a lost race is contention.
                let counter = match expected {
                    ExpectedSequence::NoEvents => "eventlog_append_exists_total",
                    _ => "eventlog_append_conflicts_total",
                };
                metrics::counter!(counter, "stream" => self.settings.name.clone()).increment(1);
                Err(AppendError::Conflict { subject })
            }
            Err(error) => {
                Err(AppendError::Unavailable(anyhow::Error::new(error).context(format!("appending to {subject}"))))
            }
        }
    }

    /// Appends an event with a given id exactly once, however late a retry
    /// comes: unlike the server's de-duplication, which forgets an id after
    /// the duplicate window, this looks for the id on the aggregate's subject
    /// first and returns the stored event if it is there (`duplicate`).
    /// Otherwise it appends with the subject's last sequence expected, so a
    /// concurrent writer is noticed; after a conflict it looks again. Meant
    /// for ids derived from what caused the event (a reactor's recordings);
    /// it reads the whole aggregate, so it suits subjects of a few events.
    #[tracing::instrument(skip_all, fields(event_type, subject, event_id = %event_id))]
    pub async fn append_once(&self, event: NewEvent, event_id: Uuid) -> Result<Appended, AppendError> {
        const MAX_CONFLICTS: usize = 10;
        let subject = self.subject(event.aggregate_type, &event.aggregate_id);
        let (aggregate_type, aggregate_id) = (event.aggregate_type, event.aggregate_id.clone());
        let envelope = event.into_envelope_with_id(event_id, SystemTime::now());
        tracing::Span::current().record("event_type", envelope.event_type.as_str()).record("subject", subject.as_str());
        for _ in 0..MAX_CONFLICTS {
            let aggregate = self.load(aggregate_type, &aggregate_id).await.map_err(AppendError::Unavailable)?;
            if let Some(stored) = aggregate.events.iter().find(|stored| stored.envelope.event_id == envelope.event_id) {
                return Ok(Appended { sequence: stored.sequence, duplicate: true, envelope: stored.envelope.clone() });
            }
            let expected = ExpectedSequence::after(aggregate.last_sequence);
            match self.append_envelope(subject.clone(), envelope.clone(), expected).await {
                Err(AppendError::Conflict { .. }) => continue,
                outcome => return outcome,
            }
        }
        Err(AppendError::Conflict { subject })
    }

    /// Loads every event of one aggregate, reading only its own subject.
    pub async fn load(&self, aggregate_type: &str, aggregate_id: &str) -> anyhow::Result<Aggregate> {
        let subject = self.subject(aggregate_type, aggregate_id);
        let mut aggregate = Aggregate::default();
        let mut next_sequence = 1;
        loop {
            let message = match self.stream.direct_get_next_for_subject(subject.as_str(), Some(next_sequence)).await {
                Ok(message) => message,
                Err(error) if error.kind() == DirectGetErrorKind::NotFound => return Ok(aggregate),
                Err(error) => return Err(error).with_context(|| format!("reading {subject}")),
            };
            aggregate.last_sequence = message.sequence;
            next_sequence = message.sequence + 1;
            if let Some(event) = decode_known(message.sequence, &subject, &message.payload)? {
                aggregate.events.push(event);
            }
        }
    }

    /// Returns the headers stored with the message at `sequence` (its trace
    /// context among them), or `None` when it is gone or unreadable: a
    /// trace is worth a lookup, never a failure.
    pub async fn headers_at(&self, sequence: u64) -> Option<async_nats::HeaderMap> {
        match self.stream.direct_get(sequence).await {
            Ok(message) => Some(message.headers),
            Err(error) => {
                tracing::debug!(sequence, %error, "no headers to continue a trace from");
                None
            }
        }
    }

    /// Returns the newest event of an aggregate and its sequence, if any.
    ///
    /// The sequence is that of the newest message even when its type is
    /// unknown to this build (then the event is `None`).
    pub async fn last(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> anyhow::Result<Option<(u64, Option<RecordedEvent>)>> {
        let subject = self.subject(aggregate_type, aggregate_id);
        match self.stream.direct_get_last_for_subject(subject.as_str()).await {
            Ok(message) => Ok(Some((message.sequence, decode_known(message.sequence, &subject, &message.payload)?))),
            Err(error) if error.kind() == DirectGetErrorKind::NotFound => Ok(None),
            Err(error) => Err(error).with_context(|| format!("reading the last event of {subject}")),
        }
    }
}
