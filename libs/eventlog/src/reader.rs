//! [`read_log`]: one reader's own cursor over the log — from a sequence, a
//! time or the next event, through one subject filter, in order, each
//! message once — for readers that follow the whole log rather than one
//! aggregate (the event stream of the console; [`Tail`](crate::Tail) serves
//! watches of one aggregate). It rides out NATS going away: it opens its
//! ordered consumer again after the last message it handed on.
//!
//! NATS 2.9 takes one filter subject per consumer: a reader that wants
//! several event types reads their common wildcard and filters the rest
//! itself.

use crate::backoff::Failures;
use crate::envelope::{Decoded, decode};
use crate::log::EventLog;
use async_nats::jetstream::consumer::{self, pull::Ordered};
use futures::StreamExt as _;
use futures::stream::BoxStream;
use std::time::SystemTime;

/// Where a reader starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// At this stream sequence (inclusive; 0 is the same as 1).
    Sequence(u64),
    /// At the first message the server stored at or after this time.
    Time(SystemTime),
    /// With the next message appended after the reader opened.
    Next,
}

/// One message of the log as stored, not yet decoded.
#[derive(Debug, Clone)]
pub struct LogEntry {
    /// Its stream sequence.
    pub sequence: u64,
    /// Its subject.
    pub subject: String,
    /// When the server stored it.
    pub stored_at: SystemTime,
    /// The encoded envelope.
    pub payload: bytes::Bytes,
}

impl LogEntry {
    /// Decodes the envelope, telling known, unknown and malformed apart.
    pub fn decode(&self) -> Decoded {
        decode(self.sequence, &self.subject, &self.payload)
    }
}

/// Where the next consumer starts, once the first one has opened.
#[derive(Debug, Clone, Copy)]
enum Position {
    Start(StartAt),
    /// After this sequence (the last one handed on, or the log's end at open).
    After(u64),
}

struct Cursor {
    log: EventLog,
    filter_subject: String,
    position: Position,
    messages: Option<Ordered>,
    failures: Failures,
}

/// Returns every message of `filter_subject` from `start` on, in stream
/// order, never twice, forever (the stream ends only when dropped). While
/// the log cannot be read it waits, retrying with backoff and logging.
pub fn read_log(log: EventLog, filter_subject: String, start: StartAt) -> BoxStream<'static, LogEntry> {
    let cursor =
        Cursor { log, filter_subject, position: Position::Start(start), messages: None, failures: Failures::default() };
    futures::stream::unfold(cursor, |mut cursor| async move {
        let entry = cursor.next().await;
        Some((entry, cursor))
    })
    .boxed()
}

impl Cursor {
    async fn next(&mut self) -> LogEntry {
        loop {
            let Some(messages) = self.messages.as_mut() else {
                self.open_with_retry().await;
                continue;
            };
            let message = match messages.next().await {
                Some(Ok(message)) => message,
                Some(Err(error)) => {
                    tracing::debug!(filter_subject = self.filter_subject, %error, "log reader interrupted; resuming");
                    self.messages = None;
                    continue;
                }
                None => {
                    self.messages = None;
                    continue;
                }
            };
            let Ok(info) = message.info() else { continue };
            let sequence = info.stream_sequence;
            // An ordered consumer that rebuilds itself may deliver again.
            if let Position::After(last) = self.position
                && sequence <= last
            {
                continue;
            }
            self.position = Position::After(sequence);
            self.failures.reset();
            let stored_at = SystemTime::from(info.published);
            return LogEntry {
                sequence,
                subject: message.subject.to_string(),
                stored_at,
                payload: message.payload.clone(),
            };
        }
    }

    async fn open_with_retry(&mut self) {
        loop {
            match self.open().await {
                Ok(messages) => {
                    self.messages = Some(messages);
                    return;
                }
                Err(error) => {
                    let (attempt, pause) = self.failures.record();
                    tracing::warn!(
                        filter_subject = self.filter_subject,
                        attempt,
                        error = format!("{error:#}"),
                        "log reader cannot read the log; retrying"
                    );
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }

    async fn open(&mut self) -> anyhow::Result<Ordered> {
        let mut stream = self.log.jetstream().get_stream(&self.log.settings().name).await?;
        let deliver_policy = match self.position {
            Position::After(last) => consumer::DeliverPolicy::ByStartSequence { start_sequence: last + 1 },
            Position::Start(StartAt::Sequence(first)) => {
                consumer::DeliverPolicy::ByStartSequence { start_sequence: first.max(1) }
            }
            Position::Start(StartAt::Time(time)) => consumer::DeliverPolicy::ByStartTime { start_time: time.into() },
            Position::Start(StartAt::Next) => {
                let last = stream.info().await?.state.last_sequence;
                self.position = Position::After(last);
                consumer::DeliverPolicy::ByStartSequence { start_sequence: last + 1 }
            }
        };
        let config = consumer::pull::OrderedConfig {
            filter_subject: self.filter_subject.clone(),
            deliver_policy,
            ..Default::default()
        };
        let consumer = stream.create_consumer(config).await?;
        Ok(consumer.messages().await?)
    }
}
