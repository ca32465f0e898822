//! One received batch, sorted into the events to apply, the ones to skip
//! (redelivered at or below the checkpoint, or of an unknown type) and the
//! ones to park (not an envelope).

use crate::envelope::{Decoded, RecordedEvent, decode};
use crate::projection::{ParkedEvent, ParkedRow};
use crate::trace;
use async_nats::jetstream;

/// A batch sorted for applying.
pub(super) struct Batch {
    pub(super) events: Vec<RecordedEvent>,
    pub(super) malformed: Vec<ParkedRow>,
    pub(super) skipped: usize,
    /// The highest stream sequence received (redeliveries may come out of order).
    pub(super) highest: u64,
    /// One span per applied event, each a child of the trace that appended
    /// it; they close when the batch is committed.
    pub(super) spans: Vec<tracing::Span>,
}

/// Returns a message's stream sequence.
pub(super) fn sequence_of(message: &jetstream::Message) -> anyhow::Result<u64> {
    Ok(message.info().map_err(|error| anyhow::anyhow!("{error}"))?.stream_sequence)
}

impl Batch {
    pub(super) fn sort(messages: &[jetstream::Message], checkpoint: u64) -> anyhow::Result<Self> {
        let mut batch =
            Batch { events: Vec::new(), malformed: Vec::new(), skipped: 0, highest: checkpoint, spans: Vec::new() };
        for message in messages {
            let sequence = sequence_of(message)?;
            batch.highest = batch.highest.max(sequence);
            if sequence <= checkpoint {
                batch.skipped += 1;
                continue;
            }
            match decode(sequence, &message.subject, &message.payload) {
                Decoded::Known(event) => {
                    if let Some(headers) =
                        message.headers.as_ref().filter(|headers| headers.get("traceparent").is_some())
                    {
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
                Decoded::Malformed { reason } => batch.malformed.push(parked_row(message, sequence, reason)),
            }
        }
        Ok(batch)
    }

    /// Adds the events the projection refused to the rows to park.
    pub(super) fn park_refused(&mut self, messages: &[jetstream::Message], refused: Vec<ParkedEvent>) {
        for refusal in refused {
            let raw = messages.iter().find(|message| sequence_of(message).ok() == Some(refusal.sequence));
            self.malformed.push(match raw {
                Some(message) => parked_row(message, refusal.sequence, refusal.reason),
                None => ParkedRow {
                    sequence: refusal.sequence,
                    subject: String::new(),
                    reason: refusal.reason,
                    payload: Vec::new(),
                },
            });
        }
    }
}

fn parked_row(message: &jetstream::Message, sequence: u64, reason: String) -> ParkedRow {
    ParkedRow { sequence, subject: message.subject.to_string(), reason, payload: message.payload.to_vec() }
}
