//! Databases and buckets the provisioner made, as `get` prints one (every
//! field, one a line; with `--output json` one object) and `list` prints
//! them (a table; with `--output json` `{"databases": [...]}` or
//! `{"buckets": [...]}`). The JSON fields are the API's.

use super::fields::{environment_word, purpose_word, resource_status_word, risk_word, size_word, time};
use super::{Printer, aligned, labelled, plain_table};
use crate::cli::Output;
use gantry_proto::provisioner as pb;
use serde_json::{Map, Value, json};

impl Printer {
    /// Prints one database with every field.
    pub(crate) fn database(&self, database: &pb::Database) {
        self.one(database_fields(database));
    }

    /// Prints databases: a table, or `{"databases": [...]}`.
    pub(crate) fn databases(&self, databases: &[pb::Database]) {
        let header = ["DATABASE", "ENV", "OWNER", "STATUS", "SIZE", "RISK", "SECRET", "DRIFTS"];
        let row = |database: &pb::Database| {
            [
                database.database_name.clone(),
                environment_word(database.environment),
                database.owner.clone(),
                resource_status_word(database.status),
                size_word(database.size),
                risk_word(database.risk),
                database.secret_name.clone(),
                database.open_drifts.to_string(),
            ]
        };
        self.many("databases", &header, databases.iter().map(|database| (database_fields(database), row(database))));
    }

    /// Prints one bucket with every field.
    pub(crate) fn bucket(&self, bucket: &pb::Bucket) {
        self.one(bucket_fields(bucket));
    }

    /// Prints buckets: a table, or `{"buckets": [...]}`.
    pub(crate) fn buckets(&self, buckets: &[pb::Bucket]) {
        let header = ["BUCKET", "ENV", "PURPOSE", "REGION", "OWNER", "STATUS", "ENCRYPTION", "DRIFTS"];
        let row = |bucket: &pb::Bucket| {
            [
                bucket.bucket_name.clone(),
                environment_word(bucket.environment),
                purpose_word(bucket.purpose),
                bucket.region.clone(),
                bucket.owner.clone(),
                resource_status_word(bucket.status),
                bucket.encryption.clone(),
                bucket.open_drifts.to_string(),
            ]
        };
        self.many("buckets", &header, buckets.iter().map(|bucket| (bucket_fields(bucket), row(bucket))));
    }

    /// Prints one resource: its fields one a line, or one JSON object.
    pub(super) fn one(&self, fields: Vec<(&'static str, Value)>) {
        match self.output {
            Output::Json => println!("{}", object(fields)),
            Output::Table => print!("{}", aligned(&labelled(fields).collect::<Vec<_>>())),
        }
    }

    /// Prints resources: a table of their rows, or `{"<plural>": [...]}`
    /// of their fields.
    pub(super) fn many<const COLUMNS: usize>(
        &self,
        plural: &str,
        header: &[&str; COLUMNS],
        resources: impl Iterator<Item = (Vec<(&'static str, Value)>, [String; COLUMNS])>,
    ) {
        match self.output {
            Output::Json => {
                let objects: Vec<Value> = resources.map(|(fields, _)| object(fields)).collect();
                println!("{}", json!({ plural: objects }));
            }
            Output::Table => {
                let mut table = plain_table(header);
                for (_, row) in resources {
                    table.add_row(row.map(|cell| if cell.is_empty() { "-".into() } else { cell }));
                }
                println!("{table}");
            }
        }
    }
}

/// Returns fields as one JSON object, in their order.
fn object(fields: Vec<(&'static str, Value)>) -> Value {
    Value::Object(fields.into_iter().map(|(field, value)| (field.to_owned(), value)).collect::<Map<_, _>>())
}

/// Returns a database's fields, by the API's names, in the order they print.
pub(crate) fn database_fields(database: &pb::Database) -> Vec<(&'static str, Value)> {
    vec![
        ("database_name", json!(database.database_name)),
        ("environment", json!(environment_word(database.environment))),
        ("status", json!(resource_status_word(database.status))),
        ("request_id", json!(database.request_id)),
        ("username", json!(database.username)),
        ("owner", json!(database.owner)),
        ("domain", json!(database.domain)),
        ("risk", json!(risk_word(database.risk))),
        ("size", json!(size_word(database.size))),
        ("connection_limit", json!(database.connection_limit)),
        ("audit_logging", json!(database.audit_logging)),
        ("host", json!(database.host)),
        ("port", json!(database.port)),
        ("secret_name", json!(database.secret_name)),
        ("secret_version_id", json!(database.secret_version_id)),
        ("reason", json!(database.reason)),
        ("open_drifts", json!(database.open_drifts)),
        ("created_at", json!(time(database.created_at))),
        ("ready_at", json!(time(database.ready_at))),
        ("updated_at", json!(time(database.updated_at))),
        ("sequence", json!(database.sequence)),
    ]
}

/// Returns a bucket's fields, by the API's names, in the order they print.
pub(crate) fn bucket_fields(bucket: &pb::Bucket) -> Vec<(&'static str, Value)> {
    vec![
        ("bucket_name", json!(bucket.bucket_name)),
        ("environment", json!(environment_word(bucket.environment))),
        ("status", json!(resource_status_word(bucket.status))),
        ("request_id", json!(bucket.request_id)),
        ("purpose", json!(purpose_word(bucket.purpose))),
        ("region", json!(bucket.region)),
        ("owner", json!(bucket.owner)),
        ("versioning", json!(bucket.versioning)),
        ("encryption", json!(bucket.encryption)),
        ("kms_key_id", json!(bucket.kms_key_id)),
        ("replication_target", json!(bucket.replication_target)),
        ("retention_days", json!(bucket.retention_days)),
        ("reason", json!(bucket.reason)),
        ("open_drifts", json!(bucket.open_drifts)),
        ("created_at", json!(time(bucket.created_at))),
        ("ready_at", json!(time(bucket.ready_at))),
        ("updated_at", json!(time(bucket.updated_at))),
        ("sequence", json!(bucket.sequence)),
    ]
}
