//! The view's reads: an artifact with its blob's status, listings, a
//! run's artifacts and audit lines, what lineage inputs exist.

use gantry_proto::artifacts::{self as pb, BlobStatus};
use sqlx::PgPool;
use uuid::Uuid;

/// An artifact as read, with its blob's status.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct ArtifactRow {
    pub(crate) artifact_id: Uuid,
    pub(crate) tenant: String,
    pub(crate) run_id: String,
    pub(crate) step_id: String,
    pub(crate) agent: String,
    pub(crate) agent_version: String,
    pub(crate) name: String,
    pub(crate) media_type: String,
    pub(crate) inputs: Vec<Uuid>,
    pub(crate) retention: i32,
    pub(crate) expires_micros: Option<i64>,
    pub(crate) sha256: String,
    pub(crate) blake3: String,
    pub(crate) size_bytes: i64,
    pub(crate) storage_backend: String,
    pub(crate) storage_key: String,
    pub(crate) storage_uri: String,
    pub(crate) uploaded_by: String,
    pub(crate) stored_micros: i64,
    pub(crate) expired: bool,
    pub(crate) blob_status: String,
    pub(crate) blob_detail: String,
    pub(crate) created_sequence: i64,
    pub(crate) sequence: i64,
}

/// The columns of an artifact joined with its blob's status.
const COLUMNS: &str = "SELECT a.artifact_id, a.tenant, a.run_id, a.step_id, a.agent, a.agent_version, a.name,
           a.media_type, a.inputs, a.retention,
           (extract(epoch FROM a.expires_at) * 1000000)::bigint AS expires_micros,
           a.sha256, a.blake3, a.size_bytes, a.storage_backend, a.storage_key, a.storage_uri, a.uploaded_by,
           (extract(epoch FROM a.stored_at) * 1000000)::bigint AS stored_micros,
           a.expired_at IS NOT NULL AS expired,
           coalesce(b.status, 'stored') AS blob_status, coalesce(b.detail, '') AS blob_detail,
           a.created_sequence, a.sequence
    FROM artifacts a LEFT JOIN blobs b USING (storage_backend, sha256)";

/// Returns the timestamp of microseconds since the epoch.
pub(crate) fn timestamp(micros: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: (micros.rem_euclid(1_000_000) * 1000) as i32,
    }
}

/// Returns the API's word for a blob status of the view.
pub(crate) fn blob_status(word: &str) -> BlobStatus {
    match word {
        "stored" => BlobStatus::Stored,
        "verified" => BlobStatus::Verified,
        "corrupted" => BlobStatus::Corrupted,
        "deleted" => BlobStatus::Deleted,
        "deleting" => BlobStatus::Deleting,
        _ => BlobStatus::Unspecified,
    }
}

impl ArtifactRow {
    /// Returns the blob the artifact refers to, as recorded.
    pub(crate) fn blob(&self) -> crate::integrity::RecordedBlob {
        crate::integrity::RecordedBlob {
            sha256: self.sha256.clone(),
            blake3: self.blake3.clone(),
            size_bytes: self.size_bytes,
            storage_backend: self.storage_backend.clone(),
            storage_key: self.storage_key.clone(),
        }
    }

    /// Returns the artifact as the API shows it.
    pub(crate) fn message(&self) -> pb::Artifact {
        pb::Artifact {
            artifact_id: self.artifact_id.to_string(),
            tenant: self.tenant.clone(),
            run_id: self.run_id.clone(),
            step_id: self.step_id.clone(),
            agent: self.agent.clone(),
            agent_version: self.agent_version.clone(),
            name: self.name.clone(),
            media_type: self.media_type.clone(),
            input_artifact_ids: self.inputs.iter().map(Uuid::to_string).collect(),
            retention: self.retention,
            sha256: self.sha256.clone(),
            blake3: self.blake3.clone(),
            size_bytes: self.size_bytes as u64,
            storage_backend: self.storage_backend.clone(),
            storage_uri: self.storage_uri.clone(),
            stored_at: Some(timestamp(self.stored_micros)),
            expires_at: self.expires_micros.map(timestamp),
            expired: self.expired,
            blob_status: blob_status(&self.blob_status) as i32,
            uploaded_by: self.uploaded_by.clone(),
            sequence: self.sequence as u64,
        }
    }
}

/// Returns one artifact, whoever's it is.
pub(crate) async fn artifact(pool: &PgPool, id: Uuid) -> sqlx::Result<Option<ArtifactRow>> {
    sqlx::query_as(&format!("{COLUMNS} WHERE a.artifact_id = $1")).bind(id).fetch_optional(pool).await
}

/// Returns which of `ids` are artifacts of `tenant`.
pub(crate) async fn artifacts_of(pool: &PgPool, ids: &[Uuid], tenant: &str) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar("SELECT artifact_id FROM artifacts WHERE artifact_id = ANY($1) AND tenant = $2")
        .bind(ids)
        .bind(tenant)
        .fetch_all(pool)
        .await
}

/// Returns the status word of a blob (`None`: never seen).
pub(crate) async fn blob(pool: &PgPool, backend: &str, sha256: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT status FROM blobs WHERE storage_backend = $1 AND sha256 = $2")
        .bind(backend)
        .bind(sha256)
        .fetch_optional(pool)
        .await
}

/// What a listing asks for.
#[derive(Debug, Clone)]
pub(crate) struct Listing {
    pub(crate) tenant: String,
    pub(crate) run_id: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) include_expired: bool,
    /// Only artifacts created below this sequence (the page token).
    pub(crate) below: Option<u64>,
    /// At most this many rows (the caller asks one more to know of a next page).
    pub(crate) limit: i64,
}

/// Returns a tenant's artifacts, newest first.
pub(crate) async fn list(pool: &PgPool, listing: &Listing) -> sqlx::Result<Vec<ArtifactRow>> {
    let query = format!(
        "{COLUMNS} WHERE a.tenant = $1 AND ($2::text IS NULL OR a.run_id = $2) AND ($3::text IS NULL OR a.name = $3)
                     AND ($4 OR a.expired_at IS NULL) AND a.created_sequence < $5
         ORDER BY a.created_sequence DESC LIMIT $6"
    );
    sqlx::query_as(&query)
        .bind(&listing.tenant)
        .bind(&listing.run_id)
        .bind(&listing.name)
        .bind(listing.include_expired)
        .bind(listing.below.map_or(i64::MAX, |below| below as i64))
        .bind(listing.limit)
        .fetch_all(pool)
        .await
}

/// Returns every artifact of a run (expired ones too), oldest first.
pub(crate) async fn run_artifacts(pool: &PgPool, tenant: &str, run_id: &str) -> sqlx::Result<Vec<ArtifactRow>> {
    let query = format!("{COLUMNS} WHERE a.tenant = $1 AND a.run_id = $2 ORDER BY a.created_sequence");
    sqlx::query_as(&query).bind(tenant).bind(run_id).fetch_all(pool).await
}

/// Returns the artifacts of `tenant` among `ids`, oldest first.
pub(crate) async fn artifacts_by_id(pool: &PgPool, ids: &[Uuid], tenant: &str) -> sqlx::Result<Vec<ArtifactRow>> {
    let query = format!("{COLUMNS} WHERE a.artifact_id = ANY($1) AND a.tenant = $2 ORDER BY a.created_sequence");
    sqlx::query_as(&query).bind(ids).bind(tenant).fetch_all(pool).await
}

/// Returns the audit lines of a run's artifact events: (sequence, line), in order.
pub(crate) async fn run_audit_lines(pool: &PgPool, tenant: &str, run_id: &str) -> sqlx::Result<Vec<(i64, String)>> {
    sqlx::query_as("SELECT sequence, line FROM run_events WHERE tenant = $1 AND run_id = $2 ORDER BY sequence")
        .bind(tenant)
        .bind(run_id)
        .fetch_all(pool)
        .await
}
