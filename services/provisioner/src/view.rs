//! The provisioner's view ("resources"): every request's spec, the
//! databases and buckets the provisioner acted on with their status
//! (`provisioning`, `ready`, `failed`, `decommissioning`, `decommissioned`),
//! where they are and where their credentials are, the drift a reconcile
//! found open, and one audit row per event on a request. Folded from the
//! request subjects; each statement only moves a row forward, so a
//! redelivered event changes nothing.

use crate::audit;
use futures::future::BoxFuture;
use gantry_eventlog::{RecordedEvent, View};
use gantry_proto::events::envelope::Payload;
use gantry_proto::types::BucketPurpose;
pub(crate) use gantry_service::api::environment_word;
use prost::Message as _;
use sqlx::PgConnection;

/// The view's name: its consumer and checkpoint.
pub const VIEW_NAME: &str = "resources";

/// The provisioner's migrations (its view's tables).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The resources view.
#[derive(Debug)]
pub struct ResourcesView {
    filter_subject: String,
}

impl ResourcesView {
    /// A view of the request subjects `filter_subject`.
    pub fn new(filter_subject: String) -> Self {
        Self { filter_subject }
    }
}

/// The kebab-case word of a bucket purpose (`backend-state`), empty when unknown.
pub(crate) fn purpose_word(purpose: i32) -> String {
    BucketPurpose::try_from(purpose)
        .ok()
        .filter(|purpose| *purpose != BucketPurpose::Unspecified)
        .map(|purpose| purpose.as_str_name().trim_start_matches("BUCKET_PURPOSE_").to_lowercase().replace('_', "-"))
        .unwrap_or_default()
}

/// Where one event applies.
struct At {
    id: uuid::Uuid,
    seconds: f64,
    sequence: i64,
}

/// Sets a resource's status (on whichever table holds the request).
async fn set_status(connection: &mut PgConnection, at: &At, status: &str, failure: Option<&str>) -> sqlx::Result<()> {
    for table in ["databases", "buckets"] {
        let statement = format!(
            "UPDATE {table} SET status = $2, failure = COALESCE($3, failure),
                 ready_at = CASE WHEN $2 = 'ready' AND ready_at IS NULL THEN to_timestamp($4) ELSE ready_at END,
                 updated_at = to_timestamp($4), sequence = $5
             WHERE request_id = $1 AND sequence < $5"
        );
        sqlx::query(&statement)
            .bind(at.id)
            .bind(status)
            .bind(failure)
            .bind(at.seconds)
            .bind(at.sequence)
            .execute(&mut *connection)
            .await?;
    }
    Ok(())
}

/// Makes the resource row of a request the provisioner starts on (or
/// fails before starting), from the request's spec.
async fn start(connection: &mut PgConnection, at: &At, status: &str, failure: &str) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO databases (request_id, environment, database_name, role_name, owner, status, failure,
                                created_at, updated_at, created_sequence, sequence)
         SELECT request_id, environment, resource, '', owner, $2, $3, to_timestamp($4), to_timestamp($4), $5, $5
         FROM requests WHERE request_id = $1 AND kind = 'database'
         ON CONFLICT (request_id) DO NOTHING",
    )
    .bind(at.id)
    .bind(status)
    .bind(failure)
    .bind(at.seconds)
    .bind(at.sequence)
    .execute(&mut *connection)
    .await?;
    sqlx::query(
        "INSERT INTO buckets (request_id, environment, bucket_name, owner, status, failure,
                              created_at, updated_at, created_sequence, sequence)
         SELECT request_id, environment, resource, owner, $2, $3, to_timestamp($4), to_timestamp($4), $5, $5
         FROM requests WHERE request_id = $1 AND kind = 'bucket'
         ON CONFLICT (request_id) DO NOTHING",
    )
    .bind(at.id)
    .bind(status)
    .bind(failure)
    .bind(at.seconds)
    .bind(at.sequence)
    .execute(&mut *connection)
    .await?;
    Ok(())
}

/// Applies one event to the resource tables.
async fn apply_resource(connection: &mut PgConnection, event: &RecordedEvent, at: &At) -> sqlx::Result<()> {
    let Some(payload) = event.envelope.payload.as_ref() else { return Ok(()) };
    match payload {
        Payload::DatabaseRequested(requested) => {
            let Some(spec) = &requested.spec else { return Ok(()) };
            sqlx::query(
                "INSERT INTO requests (request_id, kind, environment, resource, owner, spec)
                 VALUES ($1, 'database', $2, $3, $4, $5) ON CONFLICT (request_id) DO NOTHING",
            )
            .bind(at.id)
            .bind(environment_word(spec.environment))
            .bind(&spec.database_name)
            .bind(&spec.owner)
            .bind(spec.encode_to_vec())
            .execute(connection)
            .await?;
        }
        Payload::BucketRequested(requested) => {
            let Some(spec) = &requested.spec else { return Ok(()) };
            sqlx::query(
                "INSERT INTO requests (request_id, kind, environment, resource, owner, purpose, spec)
                 VALUES ($1, 'bucket', $2, $3, $4, $5, $6) ON CONFLICT (request_id) DO NOTHING",
            )
            .bind(at.id)
            .bind(environment_word(spec.environment))
            .bind(&spec.bucket_name)
            .bind(&spec.owner)
            .bind(purpose_word(spec.purpose))
            .bind(spec.encode_to_vec())
            .execute(connection)
            .await?;
        }
        Payload::ProvisioningStarted(_) => start(connection, at, "provisioning", "").await?,
        Payload::RoleCreated(role) => {
            sqlx::query(
                "UPDATE databases SET role_name = $2, updated_at = to_timestamp($3), sequence = $4
                 WHERE request_id = $1 AND sequence < $4",
            )
            .bind(at.id)
            .bind(&role.role)
            .bind(at.seconds)
            .bind(at.sequence)
            .execute(connection)
            .await?;
        }
        Payload::DatabaseCreated(created) => {
            sqlx::query(
                "UPDATE databases SET role_name = $2, host = $3, port = $4, connection_limit = $5,
                     audit_logging = $6, updated_at = to_timestamp($7), sequence = $8
                 WHERE request_id = $1 AND sequence < $8",
            )
            .bind(at.id)
            .bind(&created.role)
            .bind(&created.host)
            .bind(created.port as i32)
            .bind(created.connection_limit as i32)
            .bind(created.audit_logging)
            .bind(at.seconds)
            .bind(at.sequence)
            .execute(connection)
            .await?;
        }
        Payload::CredentialsStored(stored) => {
            sqlx::query(
                "UPDATE databases SET secret_name = $2, secret_version = $3, updated_at = to_timestamp($4),
                     sequence = $5
                 WHERE request_id = $1 AND sequence < $5",
            )
            .bind(at.id)
            .bind(&stored.secret_name)
            .bind(&stored.version_id)
            .bind(at.seconds)
            .bind(at.sequence)
            .execute(connection)
            .await?;
        }
        Payload::BucketCreated(created) => {
            sqlx::query(
                "UPDATE buckets SET region = $2, versioning = $3, encryption = $4, kms_key_id = $5,
                     replication_target = $6, updated_at = to_timestamp($7), sequence = $8
                 WHERE request_id = $1 AND sequence < $8",
            )
            .bind(at.id)
            .bind(&created.region)
            .bind(created.versioning)
            .bind(&created.encryption)
            .bind(&created.kms_key_id)
            .bind(&created.replication_target)
            .bind(at.seconds)
            .bind(at.sequence)
            .execute(connection)
            .await?;
        }
        Payload::ResourceProvisioned(_) => set_status(connection, at, "ready", Some("")).await?,
        Payload::ProvisioningFailed(failed) => {
            start(connection, at, "failed", &failed.reason).await?;
            set_status(connection, at, "failed", Some(&failed.reason)).await?;
        }
        Payload::DecommissionApproved(_) => set_status(connection, at, "decommissioning", None).await?,
        Payload::Decommissioned(_) => {
            set_status(connection, at, "decommissioned", None).await?;
            sqlx::query("DELETE FROM drifts WHERE request_id = $1").bind(at.id).execute(connection).await?;
        }
        Payload::DecommissionFailed(failed) => {
            let reason = format!("decommission failed: {}", failed.reason);
            set_status(connection, at, "ready", Some(&reason)).await?;
        }
        Payload::DriftDetected(drift) => {
            sqlx::query(
                "INSERT INTO drifts (request_id, property, expected, actual, detected_at, sequence)
                 SELECT $1, $2, $3, $4, to_timestamp($5), $6 WHERE EXISTS (SELECT 1 FROM requests WHERE request_id = $1)
                 ON CONFLICT (request_id, property) DO UPDATE
                     SET expected = $3, actual = $4, detected_at = to_timestamp($5), sequence = $6
                     WHERE drifts.sequence < $6",
            )
            .bind(at.id)
            .bind(&drift.property)
            .bind(&drift.expected)
            .bind(&drift.actual)
            .bind(at.seconds)
            .bind(at.sequence)
            .execute(connection)
            .await?;
        }
        Payload::DriftRepaired(repaired) => {
            sqlx::query("DELETE FROM drifts WHERE request_id = $1 AND property = $2 AND sequence < $3")
                .bind(at.id)
                .bind(&repaired.property)
                .bind(at.sequence)
                .execute(connection)
                .await?;
        }
        _ => {}
    }
    Ok(())
}

/// Applies one event: the resource tables, then its audit row.
async fn apply_one(connection: &mut PgConnection, event: &RecordedEvent) -> anyhow::Result<()> {
    let Ok(id) = event.envelope.aggregate_id.parse::<uuid::Uuid>() else { return Ok(()) };
    let at = At { id, seconds: event.occurred_seconds(), sequence: event.sequence as i64 };
    apply_resource(connection, event, &at).await?;
    let Some(entry) = event.envelope.payload.as_ref().and_then(audit::entry_of) else { return Ok(()) };
    let actor = event.envelope.actor.as_ref().map(|actor| actor.subject.as_str()).unwrap_or_default();
    sqlx::query(
        "INSERT INTO audit (sequence, request_id, occurred_at, action, actor, outcome, detail)
         SELECT $1, $2, to_timestamp($3), $4, $5, $6, $7 WHERE EXISTS (SELECT 1 FROM requests WHERE request_id = $2)
         ON CONFLICT (sequence) DO NOTHING",
    )
    .bind(at.sequence)
    .bind(at.id)
    .bind(at.seconds)
    .bind(entry.action)
    .bind(actor)
    .bind(entry.outcome)
    .bind(entry.detail)
    .execute(connection)
    .await?;
    Ok(())
}

impl View for ResourcesView {
    fn name(&self) -> &str {
        VIEW_NAME
    }

    fn filter_subject(&self) -> String {
        self.filter_subject.clone()
    }

    fn tables(&self) -> &'static [&'static str] {
        &["audit", "drifts", "databases", "buckets", "requests"]
    }

    fn apply_one<'a>(
        &'a self,
        transaction: &'a mut PgConnection,
        event: &'a RecordedEvent,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(apply_one(transaction, event))
    }
}
