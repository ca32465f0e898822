//! What the log's test binaries share: a view that counts how often each
//! event is applied, so a test can tell "once" from "twice".

use futures::future::BoxFuture;
use gantry_eventlog::{EventLog, ParkedEvent, Prepared, Projection, RecordedEvent};
use gantry_proto::events::envelope::Payload;
use sqlx::{PgConnection, PgPool};
use std::sync::Arc;

/// Counts how often each event is applied, and keeps a deterministic view.
#[derive(Debug)]
pub(crate) struct CountingView {
    filter: String,
}

impl Projection for CountingView {
    /// The (sequence, aggregate id) of each event to count.
    type Changes = Vec<(i64, String)>;

    fn name(&self) -> &str {
        "counting"
    }

    fn filter_subject(&self) -> String {
        self.filter.clone()
    }

    fn prepare<'a>(
        &'a self,
        _pool: &'a PgPool,
        events: &'a [RecordedEvent],
        _ahead: Option<&'a Self::Changes>,
    ) -> BoxFuture<'a, anyhow::Result<Prepared<Self::Changes>>> {
        let mut prepared = Prepared::<Self::Changes>::default();
        for event in events {
            if let Some(Payload::RequestCancelled(_)) = event.payload() {
                let reason = "cancellations are refused here".into();
                prepared.refused.push(ParkedEvent { sequence: event.sequence, reason });
            } else {
                prepared.changes.push((event.sequence as i64, event.envelope.aggregate_id.clone()));
            }
        }
        Box::pin(std::future::ready(Ok(prepared)))
    }

    fn write<'a>(
        &'a self,
        connection: &'a mut PgConnection,
        changes: &'a Self::Changes,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            for (sequence, aggregate_id) in changes {
                sqlx::query(
                    "INSERT INTO applications (sequence, aggregate_id, times) VALUES ($1, $2, 1)
                     ON CONFLICT (sequence) DO UPDATE SET times = applications.times + 1",
                )
                .bind(sequence)
                .bind(aggregate_id)
                .execute(&mut *connection)
                .await?;
            }
            Ok(())
        })
    }

    fn reset<'a>(&'a self, connection: &'a mut PgConnection) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            sqlx::query("TRUNCATE applications").execute(connection).await?;
            Ok(())
        })
    }
}

/// Creates the view's table in the pool's schema and returns the view of
/// the `request` subjects.
pub(crate) async fn counting_view(pool: &PgPool, log: &EventLog) -> Arc<CountingView> {
    let table = "CREATE TABLE applications (
        sequence bigint PRIMARY KEY,
        aggregate_id text NOT NULL CHECK (aggregate_id <> 'poison'),
        times int NOT NULL
    )";
    sqlx::query(table).execute(pool).await.unwrap();
    Arc::new(CountingView { filter: log.settings().subjects_of("request") })
}

/// Returns (sequence, times applied) of every applied event, in order.
pub(crate) async fn applied(pool: &PgPool) -> anyhow::Result<Vec<(i64, i32)>> {
    Ok(sqlx::query_as("SELECT sequence, times FROM applications ORDER BY sequence").fetch_all(pool).await?)
}

/// [`applied`], when Postgres is up.
#[allow(dead_code)] // not every test binary uses it
pub(crate) async fn times_applied(pool: &PgPool) -> Vec<(i64, i32)> {
    applied(pool).await.unwrap()
}
