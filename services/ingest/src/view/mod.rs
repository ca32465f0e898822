//! Ingest's view ("artifacts"): every stored artifact, every blob's
//! integrity status and the audit lines of each run's artifact events,
//! folded from `<prefix>.blob.>` (every ingest event is
//! on its blob's subject: one consumer filter on NATS 2.9); each statement only
//! moves a row forward, so a replay rebuilds it exactly. The API's reads
//! are in `reads`.

use futures::future::BoxFuture;
use gantry_eventlog::{RecordedEvent, View};
use gantry_proto::events::ArtifactStored;
use gantry_proto::events::envelope::Payload;
use sqlx::PgConnection;
use uuid::Uuid;

/// The view's name: its consumer and checkpoint.
pub const VIEW_NAME: &str = "artifacts";

/// Ingest's migrations (its view's tables).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The artifacts view.
#[derive(Debug)]
pub struct ArtifactsView {
    filter_subject: String,
}

impl ArtifactsView {
    /// A view of the blob subjects `filter_subject` (`<prefix>.blob.>`).
    pub fn new(filter_subject: String) -> Self {
        Self { filter_subject }
    }
}

async fn insert_artifact(
    connection: &mut PgConnection,
    event: &RecordedEvent,
    stored: &ArtifactStored,
) -> anyhow::Result<()> {
    let id: Uuid = stored.artifact_id.parse()?;
    let inputs: Vec<Uuid> = stored.input_artifact_ids.iter().map(|input| input.parse()).collect::<Result<_, _>>()?;
    let expires_at = stored.expires_at.map(|at| at.seconds as f64 + f64::from(at.nanos) / 1e9);
    let (at, sequence) = (event.occurred_seconds(), event.sequence as i64);
    sqlx::query(
        "INSERT INTO artifacts (artifact_id, tenant, run_id, step_id, agent, agent_version, name, media_type, inputs,
                                retention, expires_at, sha256, blake3, size_bytes, storage_backend, storage_key,
                                storage_uri, deduplicated, uploaded_by, stored_at, created_sequence, sequence)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, to_timestamp($11), $12, $13, $14, $15, $16, $17, $18, $19,
                 to_timestamp($20), $21, $21)
         ON CONFLICT (artifact_id) DO NOTHING",
    )
    .bind(id)
    .bind(&stored.tenant)
    .bind(&stored.run_id)
    .bind(&stored.step_id)
    .bind(&stored.agent)
    .bind(&stored.agent_version)
    .bind(&stored.name)
    .bind(&stored.media_type)
    .bind(&inputs)
    .bind(stored.retention)
    .bind(expires_at)
    .bind(&stored.sha256)
    .bind(&stored.blake3)
    .bind(stored.size_bytes as i64)
    .bind(&stored.storage_backend)
    .bind(&stored.storage_key)
    .bind(&stored.storage_uri)
    .bind(stored.deduplicated)
    .bind(event.actor().subject)
    .bind(at)
    .bind(sequence)
    .execute(&mut *connection)
    .await?;
    // Fresh bytes reset a blob's status; a deduplicated upload wrote none.
    sqlx::query(
        "INSERT INTO blobs (storage_backend, sha256, storage_key, status, changed_at, sequence)
         VALUES ($1, $2, $3, 'stored', to_timestamp($4), $5)
         ON CONFLICT (storage_backend, sha256) DO UPDATE
         SET status = 'stored', detail = '', storage_key = excluded.storage_key,
             changed_at = excluded.changed_at, sequence = excluded.sequence
         WHERE blobs.sequence < excluded.sequence AND (NOT $6 OR blobs.status IN ('deleting', 'deleted'))",
    )
    .bind(&stored.storage_backend)
    .bind(&stored.sha256)
    .bind(&stored.storage_key)
    .bind(at)
    .bind(sequence)
    .bind(stored.deduplicated)
    .execute(connection)
    .await?;
    Ok(())
}

/// A blob's new status from one of its events.
struct BlobChange<'a> {
    backend: &'a str,
    sha256: &'a str,
    key: &'a str,
    status: &'static str,
    detail: &'a str,
}

async fn change_blob(
    connection: &mut PgConnection,
    event: &RecordedEvent,
    change: BlobChange<'_>,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO blobs (storage_backend, sha256, storage_key, status, detail, changed_at, sequence)
         VALUES ($1, $2, $3, $4, $5, to_timestamp($6), $7)
         ON CONFLICT (storage_backend, sha256) DO UPDATE
         SET status = excluded.status, detail = excluded.detail, changed_at = excluded.changed_at,
             sequence = excluded.sequence
         WHERE blobs.sequence < excluded.sequence",
    )
    .bind(change.backend)
    .bind(change.sha256)
    .bind(change.key)
    .bind(change.status)
    .bind(change.detail)
    .bind(event.occurred_seconds())
    .bind(event.sequence as i64)
    .execute(connection)
    .await?;
    Ok(())
}

/// Keeps the audit line of an artifact event under its artifact's run.
async fn insert_run_event(connection: &mut PgConnection, event: &RecordedEvent, id: Uuid) -> anyhow::Result<()> {
    let Some(line) = crate::audit::line(event) else { return Ok(()) };
    sqlx::query(
        "INSERT INTO run_events (sequence, tenant, run_id, line)
         SELECT $1, tenant, run_id, $3 FROM artifacts WHERE artifact_id = $2
         ON CONFLICT (sequence) DO NOTHING",
    )
    .bind(event.sequence as i64)
    .bind(id)
    .bind(line)
    .execute(connection)
    .await?;
    Ok(())
}

async fn apply_one(connection: &mut PgConnection, event: &RecordedEvent) -> anyhow::Result<()> {
    let Some(payload) = event.payload() else { return Ok(()) };
    match payload {
        Payload::ArtifactStored(stored) => {
            insert_artifact(connection, event, stored).await?;
            insert_run_event(connection, event, stored.artifact_id.parse()?).await?;
        }
        Payload::ArtifactExpired(expired) => {
            let id: Uuid = expired.artifact_id.parse()?;
            sqlx::query(
                "UPDATE artifacts SET expired_at = to_timestamp($2), sequence = $3
                 WHERE artifact_id = $1 AND sequence < $3",
            )
            .bind(id)
            .bind(event.occurred_seconds())
            .bind(event.sequence as i64)
            .execute(&mut *connection)
            .await?;
            insert_run_event(connection, event, id).await?;
        }
        Payload::BlobVerified(verified) => {
            let (backend, sha256, key) = (&verified.storage_backend, &verified.sha256, &verified.storage_key);
            change_blob(connection, event, BlobChange { backend, sha256, key, status: "verified", detail: "" }).await?
        }
        Payload::BlobCorrupted(corrupted) => {
            let (backend, sha256, key) = (&corrupted.storage_backend, &corrupted.sha256, &corrupted.storage_key);
            let detail = &corrupted.detail;
            change_blob(connection, event, BlobChange { backend, sha256, key, status: "corrupted", detail }).await?
        }
        Payload::BlobDeletionStarted(started) => {
            let (backend, sha256, key) = (&started.storage_backend, &started.sha256, &started.storage_key);
            let detail = &started.reason;
            change_blob(connection, event, BlobChange { backend, sha256, key, status: "deleting", detail }).await?
        }
        Payload::BlobDeleted(deleted) => {
            let (backend, sha256, key) = (&deleted.storage_backend, &deleted.sha256, &deleted.storage_key);
            let detail = &deleted.reason;
            change_blob(connection, event, BlobChange { backend, sha256, key, status: "deleted", detail }).await?
        }
        _ => {}
    }
    Ok(())
}

impl View for ArtifactsView {
    fn name(&self) -> &str {
        VIEW_NAME
    }

    fn filter_subject(&self) -> String {
        self.filter_subject.clone()
    }

    fn tables(&self) -> &'static [&'static str] {
        &["artifacts", "blobs", "run_events"]
    }

    fn apply_one<'a>(
        &'a self,
        transaction: &'a mut PgConnection,
        event: &'a RecordedEvent,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(apply_one(transaction, event))
    }
}

mod reads;

pub(crate) use reads::*;
