//! Lineage's view ("graph"): artifacts and dataset versions (nodes), the
//! steps and OpenLineage runs that made them (producers) and the
//! input → output edges, each row stamped with the stream sequence and
//! time it appeared at (and its expiry with its own), so the graph as of
//! any sequence is a predicate on those columns.
//!
//! It folds ingest's `ArtifactStored` and `ArtifactExpired` (on
//! `<prefix>.blob.>`) and lineage's own `OpenLineageRunEvent` (on
//! `<prefix>.lineage.>`). NATS 2.9 takes one filter per consumer, so the
//! consumer reads `<prefix>.>` and every other event is skipped here.
//!
//! No cycle can enter: an edge is written only when its input appeared
//! before its output (an artifact's inputs existed when it was stored; a
//! dataset version's inputs are the versions that existed when its run
//! ended), and only within one tenant.

mod apply;
mod runs;

use futures::future::BoxFuture;
use gantry_eventlog::{RecordedEvent, View};
use sqlx::{PgConnection, PgPool};

/// The view's name: its consumer and checkpoint.
pub const VIEW_NAME: &str = "graph";

/// Lineage's migrations (its view's tables).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Node kinds as stored.
pub(crate) const ARTIFACT: i16 = 1;
pub(crate) const DATASET: i16 = 2;
/// Producer kinds as stored.
pub(crate) const STEP: i16 = 1;
pub(crate) const OPENLINEAGE_RUN: i16 = 2;

/// The lineage graph view.
#[derive(Debug)]
pub struct GraphView {
    filter_subject: String,
}

impl GraphView {
    /// A view of every subject under `prefix` (`gantry` reads `gantry.>`).
    pub fn new(prefix: &str) -> Self {
        Self { filter_subject: format!("{prefix}.>") }
    }
}

impl View for GraphView {
    fn name(&self) -> &str {
        VIEW_NAME
    }

    fn filter_subject(&self) -> String {
        self.filter_subject.clone()
    }

    fn tables(&self) -> &'static [&'static str] {
        &["producers", "producer_states", "declared_datasets", "nodes", "edges", "applied"]
    }

    fn apply_one<'a>(
        &'a self,
        transaction: &'a mut PgConnection,
        event: &'a RecordedEvent,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        self.apply(transaction, std::slice::from_ref(event))
    }

    /// A batch at once: rows gathered, then one statement per table.
    fn apply<'a>(
        &'a self,
        transaction: &'a mut PgConnection,
        events: &'a [RecordedEvent],
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(apply::apply(transaction, events))
    }
}

/// Returns an MD5 over every row of the view in a fixed order: two views
/// with the same checksum hold the same graph (the rebuild test compares a
/// view before and after a replay).
pub async fn checksum(pool: &PgPool) -> anyhow::Result<String> {
    const TABLES: &[(&str, &str)] = &[
        ("producers", "producer_id"),
        ("producer_states", "producer_id, seq"),
        ("declared_datasets", "producer_id, direction, namespace, name"),
        ("nodes", "node_id"),
        ("edges", "output_id, input_id"),
        ("applied", "seq"),
    ];
    let mut parts = Vec::new();
    for (table, order) in TABLES {
        let sql = format!("SELECT coalesce(md5(string_agg(t::text, '|' ORDER BY {order})), '') FROM {table} t");
        let digest: String = sqlx::query_scalar(&sql).fetch_one(pool).await?;
        parts.push(format!("{table}:{digest}"));
    }
    Ok(parts.join(" "))
}
