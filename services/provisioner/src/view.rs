//! The provisioner's view: each database it provisions, its status
//! (`provisioning`, `ready`, `failed`), where it is and where its
//! credentials are, folded from the provisioner's events on the request
//! subjects (intake's events there are skipped).

use futures::future::BoxFuture;
use gantry_eventlog::{RecordedEvent, View};
use gantry_proto::events::envelope::Payload;
use sqlx::PgConnection;
use std::time::{SystemTime, UNIX_EPOCH};

/// The view's name: its consumer and checkpoint.
pub const VIEW_NAME: &str = "provisioner";

/// The provisioner's migrations (its view's tables).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The databases view.
#[derive(Debug)]
pub struct DatabasesView {
    filter_subject: String,
}

impl DatabasesView {
    /// A view of the request subjects `filter_subject`.
    pub fn new(filter_subject: String) -> Self {
        Self { filter_subject }
    }
}

fn seconds(event: &RecordedEvent) -> f64 {
    let at = event.envelope.occurred_at.as_ref().map_or(SystemTime::UNIX_EPOCH, |time| {
        UNIX_EPOCH + std::time::Duration::new(time.seconds.max(0) as u64, time.nanos.max(0) as u32)
    });
    at.duration_since(UNIX_EPOCH).map_or(0.0, |elapsed| elapsed.as_secs_f64())
}

/// Applies one event; events not the provisioner's change nothing.
async fn apply_one(connection: &mut PgConnection, event: &RecordedEvent) -> anyhow::Result<()> {
    let Some(payload) = event.envelope.payload.as_ref() else { return Ok(()) };
    let id: uuid::Uuid = match event.envelope.aggregate_id.parse() {
        Ok(id) => id,
        Err(_) => return Ok(()),
    };
    let (at, sequence) = (seconds(event), event.sequence as i64);
    // Each statement moves the row forward only (a redelivered event is a no-op).
    let query = match payload {
        Payload::ProvisioningStarted(_) => sqlx::query(
            "INSERT INTO databases (request_id, status, started_at, updated_at, sequence)
             VALUES ($1, 'provisioning', to_timestamp($2), to_timestamp($2), $3)
             ON CONFLICT (request_id) DO NOTHING",
        )
        .bind(id)
        .bind(at)
        .bind(sequence),
        Payload::RoleCreated(role) => sqlx::query(
            "UPDATE databases SET role_name = $2, environment = $3, updated_at = to_timestamp($4), sequence = $5
             WHERE request_id = $1 AND sequence < $5",
        )
        .bind(id)
        .bind(&role.role)
        .bind(&role.environment)
        .bind(at)
        .bind(sequence),
        Payload::DatabaseCreated(created) => sqlx::query(
            "UPDATE databases SET database_name = $2, role_name = $3, environment = $4, host = $5, port = $6,
                 connection_limit = $7, audit_logging = $8, updated_at = to_timestamp($9), sequence = $10
             WHERE request_id = $1 AND sequence < $10",
        )
        .bind(id)
        .bind(&created.database)
        .bind(&created.role)
        .bind(&created.environment)
        .bind(&created.host)
        .bind(created.port as i32)
        .bind(created.connection_limit as i32)
        .bind(created.audit_logging)
        .bind(at)
        .bind(sequence),
        Payload::CredentialsStored(stored) => sqlx::query(
            "UPDATE databases SET secret_name = $2, secret_version = $3, updated_at = to_timestamp($4), sequence = $5
             WHERE request_id = $1 AND sequence < $5",
        )
        .bind(id)
        .bind(&stored.secret_name)
        .bind(&stored.version_id)
        .bind(at)
        .bind(sequence),
        Payload::ResourceProvisioned(_) => sqlx::query(
            "UPDATE databases SET status = 'ready', ready_at = to_timestamp($2), updated_at = to_timestamp($2),
                 sequence = $3
             WHERE request_id = $1 AND sequence < $3",
        )
        .bind(id)
        .bind(at)
        .bind(sequence),
        Payload::ProvisioningFailed(failed) => sqlx::query(
            "INSERT INTO databases (request_id, status, failure, started_at, updated_at, sequence)
             VALUES ($1, 'failed', $2, to_timestamp($3), to_timestamp($3), $4)
             ON CONFLICT (request_id) DO UPDATE
                 SET status = 'failed', failure = $2, updated_at = to_timestamp($3), sequence = $4
                 WHERE databases.sequence < $4",
        )
        .bind(id)
        .bind(&failed.reason)
        .bind(at)
        .bind(sequence),
        _ => return Ok(()),
    };
    query.execute(connection).await?;
    Ok(())
}

impl View for DatabasesView {
    fn name(&self) -> &str {
        VIEW_NAME
    }

    fn filter_subject(&self) -> String {
        self.filter_subject.clone()
    }

    fn apply<'a>(
        &'a self,
        transaction: &'a mut PgConnection,
        events: &'a [RecordedEvent],
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            for event in events {
                apply_one(transaction, event).await?;
            }
            Ok(())
        })
    }

    fn reset<'a>(&'a self, transaction: &'a mut PgConnection) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            sqlx::query("TRUNCATE databases").execute(transaction).await?;
            Ok(())
        })
    }
}
