//! Ingest's own settings (config section `ingest`, beside the settings
//! every service has): the storage backends and the rules that route each
//! artifact to one of them, the key prefix, and how large chunks and
//! artifacts may be.

use gantry_storage::S3Settings;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

const MIB: usize = 1024 * 1024;

/// Ingest's settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct IngestSettings {
    /// The one storage backend of a single-backend setup (`[ingest.storage]`;
    /// unset and no `backends`: a filesystem under `.gantry/artifacts`).
    /// Beside `backends` it is one more backend (and the default one).
    pub storage: Option<StorageSettings>,
    /// Named backends (`[ingest.backends.<name>]`), the name being the key.
    pub backends: BTreeMap<String, StorageSettings>,
    /// The backend an artifact goes to when no residency pin nor route
    /// names one; empty: `storage`'s, or the only backend.
    pub default_backend: String,
    /// Data residency: tenant → the only backend its bytes are ever
    /// written to (staging included), whatever the routes say.
    pub residency: BTreeMap<String, String>,
    /// Ordered routing rules (`[[ingest.routes]]`): the first one that
    /// matches an upload's tenant, retention and agent picks its backend.
    pub routes: Vec<RouteSettings>,
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
    /// How often the orphan sweep lists every content-addressed key of
    /// every backend, in milliseconds (it always runs once at start-up,
    /// after the staging cleanup; 0: only then). Listing a large store is
    /// costly, so it is slower than the retention sweep.
    pub orphan_sweep_interval_ms: u64,
    /// How old (in seconds) a blob without any history must be before the
    /// orphan sweep deletes it: an upload (on this or another replica)
    /// promotes its bytes a moment before it records them. Set it above
    /// the longest pause between the two (the log's timeouts).
    pub orphan_grace_s: u64,
    /// How long an upload waits for a deletion of the same content under
    /// way to end, in milliseconds, before it answers UNAVAILABLE.
    pub deletion_wait_ms: u64,
    /// How long a presigned GET URL handed out by `Stat` for a blob on S3
    /// stays valid, in seconds (at most 604800, a week); 0 (the default):
    /// `Stat` hands out none.
    pub presigned_url_expiry_s: u64,
    /// Tests only: a pause between placing an upload's bytes and recording
    /// it, in milliseconds, which widens the window a deletion of the same
    /// content could slip into (0, the default: none).
    pub pause_before_record_ms: u64,
    /// Tests only: every upload fails (UNAVAILABLE) after placing its
    /// bytes and before recording them, as if the log were down then;
    /// what a crash there leaves (false, the default: never).
    pub fail_before_record: bool,
}

impl Default for IngestSettings {
    fn default() -> Self {
        Self {
            storage: None,
            backends: BTreeMap::new(),
            default_backend: String::new(),
            residency: BTreeMap::new(),
            routes: Vec::new(),
            key_prefix: "artifacts".into(),
            max_chunk_bytes: MIB,
            max_artifact_bytes: 0,
            staging_grace_s: 0,
            sweep_interval_ms: 300_000,
            blob_grace_s: 86_400,
            orphan_sweep_interval_ms: 86_400_000,
            orphan_grace_s: 3_600,
            deletion_wait_ms: 10_000,
            presigned_url_expiry_s: 0,
            pause_before_record_ms: 0,
            fail_before_record: false,
        }
    }
}

/// One routing rule: it matches an upload when each of its non-empty lists
/// holds the upload's value (empty lists match anything).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSettings {
    /// Tenants (`acme`).
    #[serde(default)]
    pub tenants: Vec<String>,
    /// Retention classes: `days_30`, `days_90`, `days_365`, `keep`.
    #[serde(default)]
    pub retention: Vec<String>,
    /// Producers: the agent named in the upload header (`trainer`).
    #[serde(default)]
    pub agents: Vec<String>,
    /// The backend the matching uploads go to.
    pub backend: String,
}

/// One storage backend, by kind; its name (lower-case letters, digits
/// and `-`) is recorded on every artifact stored there and names the
/// subjects of its blobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum StorageSettings {
    /// Files under a directory (the default).
    Filesystem {
        /// The backend's name: in `backends`, the key; as `storage`,
        /// `local` when empty.
        #[serde(default)]
        name: String,
        /// The directory blobs live under (created if missing).
        root: PathBuf,
    },
    /// Objects in an S3 bucket (or an S3-compatible store) that exists.
    S3 {
        /// The backend's name: in `backends`, the key; as `storage`, `s3`
        /// when empty.
        #[serde(default)]
        name: String,
        /// Endpoint, region, bucket, its own key prefix, storage class,
        /// encryption and multipart sizes (`[ingest.storage.s3]`).
        s3: S3Settings,
    },
}

impl Default for StorageSettings {
    fn default() -> Self {
        Self::Filesystem { name: String::new(), root: PathBuf::from(".gantry/artifacts") }
    }
}

/// Returns why `name` is not a valid backend name, if it is not.
pub fn backend_name_violation(name: &str) -> Option<String> {
    let valid = !name.is_empty()
        && name.len() <= 32
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    (!valid).then(|| format!("backend name {name:?}: 1 to 32 of a-z, 0-9 and -"))
}

impl StorageSettings {
    /// Returns the backend's name as `storage` (`local` or `s3` unless set).
    pub fn name(&self) -> &str {
        match self {
            Self::Filesystem { name, .. } if name.is_empty() => "local",
            Self::S3 { name, .. } if name.is_empty() => "s3",
            Self::Filesystem { name, .. } | Self::S3 { name, .. } => name,
        }
    }

    /// Returns the name written inside the settings (empty when none).
    fn written_name(&self) -> &str {
        match self {
            Self::Filesystem { name, .. } | Self::S3 { name, .. } => name,
        }
    }
}

impl IngestSettings {
    /// Returns every backend by name (`storage` and `backends`), checked:
    /// valid names, no name twice.
    pub fn named_backends(&self) -> Result<BTreeMap<String, StorageSettings>, String> {
        let mut named = BTreeMap::new();
        let single = match (&self.storage, self.backends.is_empty()) {
            (Some(storage), _) => Some(storage.clone()),
            (None, true) => Some(StorageSettings::default()),
            (None, false) => None,
        };
        if let Some(single) = single {
            named.insert(single.name().to_owned(), single);
        }
        for (name, backend) in &self.backends {
            let written = backend.written_name();
            if !written.is_empty() && written != name {
                return Err(format!("ingest.backends.{name}.name is {written:?}: leave it out (the key names it)"));
            }
            if named.insert(name.clone(), backend.clone()).is_some() {
                return Err(format!("backend {name:?} is configured twice (ingest.storage and ingest.backends)"));
            }
        }
        if let Some(violation) = named.keys().find_map(|name| backend_name_violation(name)) {
            return Err(violation);
        }
        Ok(named)
    }

    /// Returns the default backend's name: `default_backend`, else
    /// `storage`'s, else the only backend's.
    pub fn default_backend_name(&self, named: &BTreeMap<String, StorageSettings>) -> Result<String, String> {
        if !self.default_backend.is_empty() {
            return Ok(self.default_backend.clone());
        }
        if let Some(storage) = &self.storage {
            return Ok(storage.name().to_owned());
        }
        match named.keys().collect::<Vec<_>>().as_slice() {
            [only] => Ok((*only).clone()),
            _ => Err("several backends: set ingest.default_backend to one of them".into()),
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
        assert_eq!(filesystem, StorageSettings::Filesystem { name: String::new(), root: "/data".into() });
        assert_eq!(filesystem.name(), "local");
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

    fn settings(value: serde_json::Value) -> IngestSettings {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_single_storage_stays_the_one_default_backend() {
        let unset = settings(serde_json::json!({}));
        let named = unset.named_backends().unwrap();
        assert_eq!(named.keys().collect::<Vec<_>>(), ["local"]);
        assert_eq!(unset.default_backend_name(&named).unwrap(), "local");
        let s3 = settings(serde_json::json!({"storage": {"kind": "s3", "s3": {"bucket": "b"}}}));
        let named = s3.named_backends().unwrap();
        assert_eq!(s3.default_backend_name(&named).unwrap(), "s3");
    }

    #[test]
    fn named_backends_join_the_single_one_and_are_checked() {
        let both = settings(serde_json::json!({
            "storage": {"kind": "filesystem", "root": "/a"},
            "backends": {"eu": {"kind": "s3", "s3": {"bucket": "b", "region": "eu-west-1"}}},
            "routes": [{"tenants": ["acme"], "backend": "eu"}],
        }));
        let named = both.named_backends().unwrap();
        assert_eq!(named.keys().collect::<Vec<_>>(), ["eu", "local"]);
        assert_eq!(both.default_backend_name(&named).unwrap(), "local", "storage stays the default");
        let only_named = settings(serde_json::json!({
            "backends": {"eu": {"kind": "filesystem", "root": "/e"}, "us": {"kind": "filesystem", "root": "/u"}},
        }));
        let named = only_named.named_backends().unwrap();
        assert!(only_named.default_backend_name(&named).is_err(), "two backends, no default");
        let clash = settings(serde_json::json!({
            "storage": {"kind": "filesystem", "root": "/a"},
            "backends": {"local": {"kind": "filesystem", "root": "/b"}},
        }));
        assert!(clash.named_backends().is_err());
        let renamed =
            settings(serde_json::json!({"backends": {"eu": {"kind": "filesystem", "name": "us", "root": "/"}}}));
        assert!(renamed.named_backends().is_err());
        let bad = settings(serde_json::json!({"backends": {"EU": {"kind": "filesystem", "root": "/"}}}));
        assert!(bad.named_backends().is_err());
    }
}
