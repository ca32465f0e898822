//! Reads of the view as the API answers them: databases and buckets (one,
//! or a page newest first), the rows of the audit export.

use crate::audit;
use crate::view::purpose_word;
use gantry_proto::provisioner as pb;
use gantry_proto::types::{BucketPurpose, BucketSpec, DatabaseSpec, Environment};
use prost::Message as _;
use sqlx::PgPool;
use uuid::Uuid;

/// What a listing keeps (unset: any).
#[derive(Debug, Default, Clone)]
pub(crate) struct Filter {
    pub environment: Option<String>,
    pub owner: Option<String>,
    pub status: Option<&'static str>,
    pub purpose: Option<String>,
    /// Only rows made before this stream sequence (the page cursor).
    pub below: Option<u64>,
    pub limit: u32,
}

/// The view's word of a status.
pub(crate) fn status_word(status: pb::ResourceStatus) -> Option<&'static str> {
    match status {
        pb::ResourceStatus::Unspecified => None,
        pb::ResourceStatus::Provisioning => Some("provisioning"),
        pb::ResourceStatus::Ready => Some("ready"),
        pb::ResourceStatus::Failed => Some("failed"),
        pb::ResourceStatus::Decommissioning => Some("decommissioning"),
        pb::ResourceStatus::Decommissioned => Some("decommissioned"),
    }
}

fn status_of(word: &str) -> pb::ResourceStatus {
    match word {
        "provisioning" => pb::ResourceStatus::Provisioning,
        "ready" => pb::ResourceStatus::Ready,
        "failed" => pb::ResourceStatus::Failed,
        "decommissioning" => pb::ResourceStatus::Decommissioning,
        "decommissioned" => pb::ResourceStatus::Decommissioned,
        _ => pb::ResourceStatus::Unspecified,
    }
}

/// The proto environment of its word (`dev`).
pub(crate) fn environment_of(word: &str) -> Environment {
    Environment::from_str_name(&format!("ENVIRONMENT_{}", word.to_uppercase())).unwrap_or(Environment::Unspecified)
}

/// A protobuf timestamp of microseconds since the epoch.
pub(crate) fn timestamp(micros: Option<i64>) -> Option<prost_types::Timestamp> {
    micros.map(|micros| prost_types::Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: (micros.rem_euclid(1_000_000) * 1000) as i32,
    })
}

/// A database row with its request's spec.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct DatabaseRow {
    pub request_id: Uuid,
    pub environment: String,
    pub database_name: String,
    pub role_name: String,
    pub owner: String,
    pub status: String,
    pub host: String,
    pub port: i32,
    pub connection_limit: i32,
    pub audit_logging: bool,
    pub secret_name: String,
    pub secret_version: String,
    pub failure: String,
    pub created_micros: i64,
    pub updated_micros: i64,
    pub ready_micros: Option<i64>,
    pub created_sequence: i64,
    pub sequence: i64,
    pub open_drifts: i64,
    pub spec: Vec<u8>,
}

impl DatabaseRow {
    /// The spec it was requested with.
    pub(crate) fn spec(&self) -> DatabaseSpec {
        DatabaseSpec::decode(self.spec.as_slice()).unwrap_or_default()
    }

    /// As the API answers it.
    pub(crate) fn message(&self) -> pb::Database {
        let spec = self.spec();
        pb::Database {
            request_id: self.request_id.to_string(),
            database_name: self.database_name.clone(),
            username: if self.role_name.is_empty() { spec.username } else { self.role_name.clone() },
            owner: self.owner.clone(),
            domain: spec.domain,
            environment: environment_of(&self.environment) as i32,
            risk: spec.risk,
            size: spec.size,
            status: status_of(&self.status) as i32,
            connection_limit: self.connection_limit as u32,
            audit_logging: self.audit_logging,
            host: self.host.clone(),
            port: self.port as u32,
            secret_name: self.secret_name.clone(),
            secret_version_id: self.secret_version.clone(),
            reason: self.failure.clone(),
            created_at: timestamp(Some(self.created_micros)),
            ready_at: timestamp(self.ready_micros),
            updated_at: timestamp(Some(self.updated_micros)),
            sequence: self.sequence as u64,
            open_drifts: self.open_drifts as u32,
        }
    }
}

/// A bucket row with its request's spec.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct BucketRow {
    pub request_id: Uuid,
    pub environment: String,
    pub bucket_name: String,
    pub owner: String,
    pub status: String,
    pub region: String,
    pub versioning: bool,
    pub encryption: String,
    pub kms_key_id: String,
    pub replication_target: String,
    pub failure: String,
    pub created_micros: i64,
    pub updated_micros: i64,
    pub ready_micros: Option<i64>,
    pub created_sequence: i64,
    pub sequence: i64,
    pub open_drifts: i64,
    pub spec: Vec<u8>,
}

impl BucketRow {
    /// The spec it was requested with.
    pub(crate) fn spec(&self) -> BucketSpec {
        BucketSpec::decode(self.spec.as_slice()).unwrap_or_default()
    }

    /// As the API answers it.
    pub(crate) fn message(&self) -> pb::Bucket {
        let spec = self.spec();
        pb::Bucket {
            request_id: self.request_id.to_string(),
            bucket_name: self.bucket_name.clone(),
            purpose: spec.purpose,
            environment: environment_of(&self.environment) as i32,
            region: if self.region.is_empty() { spec.region } else { self.region.clone() },
            owner: self.owner.clone(),
            status: status_of(&self.status) as i32,
            versioning: self.versioning,
            encryption: self.encryption.clone(),
            kms_key_id: self.kms_key_id.clone(),
            replication_target: self.replication_target.clone(),
            retention_days: spec.retention_days,
            reason: self.failure.clone(),
            created_at: timestamp(Some(self.created_micros)),
            ready_at: timestamp(self.ready_micros),
            updated_at: timestamp(Some(self.updated_micros)),
            sequence: self.sequence as u64,
            open_drifts: self.open_drifts as u32,
        }
    }
}

const DATABASE_COLUMNS: &str = "d.request_id, d.environment, d.database_name, d.role_name, d.owner, d.status, d.host,
    d.port, d.connection_limit, d.audit_logging, d.secret_name, d.secret_version, d.failure,
    (extract(epoch FROM d.created_at) * 1000000)::bigint AS created_micros,
    (extract(epoch FROM d.updated_at) * 1000000)::bigint AS updated_micros,
    (extract(epoch FROM d.ready_at) * 1000000)::bigint AS ready_micros,
    d.created_sequence, d.sequence,
    (SELECT count(*) FROM drifts WHERE drifts.request_id = d.request_id) AS open_drifts, r.spec
    FROM databases d JOIN requests r USING (request_id)";

const BUCKET_COLUMNS: &str = "d.request_id, d.environment, d.bucket_name, d.owner, d.status, d.region, d.versioning,
    d.encryption, d.kms_key_id, d.replication_target, d.failure,
    (extract(epoch FROM d.created_at) * 1000000)::bigint AS created_micros,
    (extract(epoch FROM d.updated_at) * 1000000)::bigint AS updated_micros,
    (extract(epoch FROM d.ready_at) * 1000000)::bigint AS ready_micros,
    d.created_sequence, d.sequence,
    (SELECT count(*) FROM drifts WHERE drifts.request_id = d.request_id) AS open_drifts, r.spec
    FROM buckets d JOIN requests r USING (request_id)";

/// The database of that name in that environment: the live one when a
/// decommissioned one had the name before.
pub(crate) async fn database(pool: &PgPool, environment: &str, name: &str) -> sqlx::Result<Option<DatabaseRow>> {
    let query = format!(
        "SELECT {DATABASE_COLUMNS} WHERE d.environment = $1 AND d.database_name = $2
         ORDER BY (d.status = 'decommissioned'), d.created_sequence DESC LIMIT 1"
    );
    sqlx::query_as(&query).bind(environment).bind(name).fetch_optional(pool).await
}

/// A page of databases, newest first (one more than `limit` when there is a next page).
pub(crate) async fn databases(pool: &PgPool, filter: &Filter) -> sqlx::Result<Vec<DatabaseRow>> {
    let query = format!(
        "SELECT {DATABASE_COLUMNS}
         WHERE ($1::text IS NULL OR d.environment = $1) AND ($2::text IS NULL OR d.owner = $2)
           AND ($3::text IS NULL OR d.status = $3) AND ($4::bigint IS NULL OR d.created_sequence < $4)
         ORDER BY d.created_sequence DESC LIMIT $5"
    );
    sqlx::query_as(&query)
        .bind(&filter.environment)
        .bind(&filter.owner)
        .bind(filter.status)
        .bind(filter.below.map(|below| below as i64))
        .bind(i64::from(filter.limit) + 1)
        .fetch_all(pool)
        .await
}

/// The bucket of that name: the live one when a decommissioned one had it before.
pub(crate) async fn bucket(pool: &PgPool, name: &str) -> sqlx::Result<Option<BucketRow>> {
    let query = format!(
        "SELECT {BUCKET_COLUMNS} WHERE d.bucket_name = $1
         ORDER BY (d.status = 'decommissioned'), d.created_sequence DESC LIMIT 1"
    );
    sqlx::query_as(&query).bind(name).fetch_optional(pool).await
}

/// A page of buckets, newest first (one more than `limit` when there is a next page).
pub(crate) async fn buckets(pool: &PgPool, filter: &Filter) -> sqlx::Result<Vec<BucketRow>> {
    let query = format!(
        "SELECT {BUCKET_COLUMNS}
         WHERE ($1::text IS NULL OR d.environment = $1) AND ($2::text IS NULL OR d.owner = $2)
           AND ($3::text IS NULL OR d.status = $3) AND ($4::bigint IS NULL OR d.created_sequence < $4)
           AND ($5::text IS NULL OR r.purpose = $5)
         ORDER BY d.created_sequence DESC LIMIT $6"
    );
    sqlx::query_as(&query)
        .bind(&filter.environment)
        .bind(&filter.owner)
        .bind(filter.status)
        .bind(filter.below.map(|below| below as i64))
        .bind(&filter.purpose)
        .bind(i64::from(filter.limit) + 1)
        .fetch_all(pool)
        .await
}

/// Every database and bucket in a status (all environments when `None`),
/// oldest first: what the catalog export and the reconcile walk.
pub(crate) async fn all_in_status(
    pool: &PgPool,
    environment: Option<&str>,
    status: &str,
) -> sqlx::Result<(Vec<DatabaseRow>, Vec<BucketRow>)> {
    let databases = format!(
        "SELECT {DATABASE_COLUMNS} WHERE ($1::text IS NULL OR d.environment = $1) AND d.status = $2
         ORDER BY d.created_sequence"
    );
    let buckets = format!(
        "SELECT {BUCKET_COLUMNS} WHERE ($1::text IS NULL OR d.environment = $1) AND d.status = $2
         ORDER BY d.created_sequence"
    );
    let databases = sqlx::query_as(&databases).bind(environment).bind(status).fetch_all(pool).await?;
    let buckets = sqlx::query_as(&buckets).bind(environment).bind(status).fetch_all(pool).await?;
    Ok((databases, buckets))
}

/// The audit rows of an environment, in log order.
pub(crate) async fn audit_rows(pool: &PgPool, environment: &str) -> sqlx::Result<Vec<audit::Row>> {
    sqlx::query_as(
        "SELECT to_char(a.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS timestamp,
                r.environment, a.request_id, r.resource, a.action, a.actor, a.outcome, a.detail
         FROM audit a JOIN requests r USING (request_id)
         WHERE r.environment = $1 ORDER BY a.sequence",
    )
    .bind(environment)
    .fetch_all(pool)
    .await
}

/// The purpose filter's word, `None` when unset.
pub(crate) fn purpose_filter(purpose: i32) -> Option<String> {
    Some(purpose_word(purpose)).filter(|word| !word.is_empty() && purpose != BucketPurpose::Unspecified as i32)
}
