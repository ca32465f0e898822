//! The intake of a reactor: a [`Projection`] whose "view" is the work
//! queue. Each event the reactor selects becomes one work row, written in
//! the transaction that advances the reactor's checkpoint.

use crate::envelope::RecordedEvent;
use crate::projection::{Prepared, Projection};
use crate::reactor::Reactor;
use crate::reactor::store::{self, Queued};
use futures::future::BoxFuture;
use prost::Message as _;
use sqlx::{PgConnection, PgPool};
use std::sync::Arc;
use uuid::Uuid;

/// Queues the work a reactor selects.
#[derive(Debug)]
pub(super) struct Queue<R> {
    pub(super) reactor: Arc<R>,
}

impl<R: Reactor> Projection for Queue<R> {
    type Changes = Vec<Queued>;

    fn name(&self) -> &str {
        self.reactor.name()
    }

    fn filter_subject(&self) -> String {
        self.reactor.filter_subject()
    }

    fn prepare<'a>(
        &'a self,
        _pool: &'a PgPool,
        events: &'a [RecordedEvent],
        _ahead: Option<&'a Self::Changes>,
    ) -> BoxFuture<'a, anyhow::Result<Prepared<Self::Changes>>> {
        let mut prepared = Prepared::<Self::Changes>::default();
        for event in events {
            let Some(key) = self.reactor.select(event) else { continue };
            // `decode` checked the id is a uuid.
            let origin = Uuid::parse_str(&event.envelope.event_id).unwrap_or_default();
            prepared.changes.push(Queued {
                key,
                origin,
                sequence: event.sequence as i64,
                subject: event.subject.clone(),
                trigger: event.envelope.encode_to_vec(),
            });
        }
        Box::pin(std::future::ready(Ok(prepared)))
    }

    fn write<'a>(
        &'a self,
        connection: &'a mut PgConnection,
        changes: &'a Self::Changes,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(store::enqueue(connection, self.reactor.name(), changes))
    }

    /// Keeps the work rows: a replay queues nothing twice (rows are unique
    /// per trigger), and the history of what was done stays.
    fn reset<'a>(&'a self, _connection: &'a mut PgConnection) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(std::future::ready(Ok(())))
    }
}
