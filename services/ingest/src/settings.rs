//! Ingest's own settings (config section `ingest`, beside the settings
//! every service has): where blobs are stored, under which key prefix, and
//! how large chunks and artifacts may be.

use gantry_storage::S3Settings;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

const MIB: usize = 1024 * 1024;

/// Ingest's settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct IngestSettings {
    /// The storage backend blobs go to (`[ingest.storage]`, `kind =
    /// "filesystem"` by default).
    pub storage: StorageSettings,
    /// Put in front of every blob key: blobs are
    /// `<key_prefix>/sha256/<hex[0:2]>/<hex[2:4]>/<hex>`, uploads in
    /// progress `<key_prefix>/staging/<uuid>`. Empty: no prefix.
    pub key_prefix: String,
    /// The largest chunk one upload message may carry, in bytes.
    pub max_chunk_bytes: usize,
    /// The largest artifact, in bytes; 0: no limit.
    pub max_artifact_bytes: u64,
    /// Staged uploads younger than this (in seconds) survive the start-up
    /// cleanup. 0 (the default) removes every staged upload begun before
    /// the process started, right for one replica per store; replicas that
    /// share a store set it above the longest upload.
    pub staging_grace_s: u64,
    /// How often the retention sweeper runs, in milliseconds (every
    /// replica; 0: never): it expires artifacts past their retention, then
    /// deletes the blobs no live artifact refers to.
    pub sweep_interval_ms: u64,
    /// How long a blob is kept after its last artifact expired, in seconds.
    pub blob_grace_s: u64,
    /// How long an upload waits for a deletion of the same content under
    /// way to end, in milliseconds, before it answers UNAVAILABLE.
    pub deletion_wait_ms: u64,
    /// Tests only: a pause between placing an upload's bytes and recording
    /// it, in milliseconds, which widens the window a deletion of the same
    /// content could slip into (0, the default: none).
    pub pause_before_record_ms: u64,
}

impl Default for IngestSettings {
    fn default() -> Self {
        Self {
            storage: StorageSettings::default(),
            key_prefix: "artifacts".into(),
            max_chunk_bytes: MIB,
            max_artifact_bytes: 0,
            staging_grace_s: 0,
            sweep_interval_ms: 300_000,
            blob_grace_s: 86_400,
            deletion_wait_ms: 10_000,
            pause_before_record_ms: 0,
        }
    }
}

/// One storage backend, by kind; its `name` (lower-case letters, digits
/// and `-`) is recorded on every artifact stored there and names the
/// subjects of its blobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum StorageSettings {
    /// Files under a directory (the default).
    Filesystem {
        /// The backend's name (`local`).
        #[serde(default = "local")]
        name: String,
        /// The directory blobs live under (created if missing).
        root: PathBuf,
    },
    /// Objects in an S3 bucket (or an S3-compatible store) that exists.
    S3 {
        /// The backend's name (`s3`).
        #[serde(default = "s3")]
        name: String,
        /// Endpoint, region, bucket, its own key prefix, storage class,
        /// encryption and multipart sizes (`[ingest.storage.s3]`).
        s3: S3Settings,
    },
}

fn local() -> String {
    "local".into()
}

fn s3() -> String {
    "s3".into()
}

impl Default for StorageSettings {
    fn default() -> Self {
        Self::Filesystem { name: local(), root: PathBuf::from(".gantry/artifacts") }
    }
}

impl StorageSettings {
    /// Returns why the backend's name is not valid, if it is not.
    pub fn name_violation(&self) -> Option<String> {
        let name = self.name();
        let valid = !name.is_empty()
            && name.len() <= 32
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        (!valid).then(|| format!("ingest.storage.name {name:?}: 1 to 32 of a-z, 0-9 and -"))
    }

    /// Returns the backend's configured name.
    pub fn name(&self) -> &str {
        match self {
            Self::Filesystem { name, .. } | Self::S3 { name, .. } => name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_either_backend_by_kind() {
        let filesystem: StorageSettings =
            serde_json::from_value(serde_json::json!({"kind": "filesystem", "root": "/data"})).unwrap();
        assert_eq!(filesystem, StorageSettings::Filesystem { name: "local".into(), root: "/data".into() });
        let s3: StorageSettings = serde_json::from_value(
            serde_json::json!({"kind": "s3", "name": "eu", "s3": {"bucket": "b", "region": "eu-west-1"}}),
        )
        .unwrap();
        assert_eq!(s3.name(), "eu");
        let unknown = serde_json::from_value::<StorageSettings>(serde_json::json!({"kind": "tape", "root": "/"}));
        assert!(unknown.is_err());
        let typo = serde_json::from_value::<StorageSettings>(serde_json::json!({"kind": "filesystem", "rot": "/"}));
        assert!(typo.is_err());
    }
}
