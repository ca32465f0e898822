//! The configured storage backends behind the `BlobStore` trait, each
//! opened on first use (so the service starts while S3 is unreachable),
//! with its key layout (content-addressed blobs, staged uploads) and the
//! URI that tells people where a blob lives; [`Backends`] holds them all
//! by name with the router that picks one per upload. Nothing outside
//! this module knows which kind of store a backend is.

use crate::routing::{Producer, Router};
use crate::settings::{IngestSettings, StorageSettings};
use gantry_service::api::ApiError;
use gantry_storage::{FsStore, S3Store, SharedStore, StorageError};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;
use tokio::sync::OnceCell;
use uuid::Uuid;

/// Every configured backend by name, and the routing rules.
#[derive(Debug, Clone)]
pub(crate) struct Backends {
    by_name: Arc<BTreeMap<String, Backend>>,
    router: Arc<Router>,
}

impl Backends {
    /// The backends and routes of `settings`, checked; nothing is opened yet.
    pub(crate) fn new(settings: &IngestSettings) -> Result<Self, String> {
        let named = settings.named_backends()?;
        let default = settings.default_backend_name(&named)?;
        let by_name: BTreeMap<String, Backend> = named
            .into_iter()
            .map(|(name, storage)| {
                let backend = Backend::new(name.clone(), storage, &settings.key_prefix);
                (name, backend)
            })
            .collect();
        let router = Router::new(settings, default, &|name| by_name.contains_key(name))?;
        Ok(Self { by_name: Arc::new(by_name), router: Arc::new(router) })
    }

    /// Returns the backend an upload of `producer` goes to.
    pub(crate) fn route(&self, producer: &Producer<'_>) -> &Backend {
        &self.by_name[self.router.pick(producer)]
    }

    /// Returns the backend named `name`; UNAVAILABLE when this replica
    /// has none of that name (its configuration lost one that holds blobs).
    pub(crate) fn named(&self, name: &str) -> Result<&Backend, ApiError> {
        self.by_name.get(name).ok_or_else(|| {
            tracing::error!(backend = name, "a blob is recorded on a backend this replica has not configured");
            ApiError::Unavailable(format!("storage backend {name:?} is not configured on this replica"))
        })
    }

    /// Returns the backend named `name` if there is one.
    pub(crate) fn get(&self, name: &str) -> Option<&Backend> {
        self.by_name.get(name)
    }

    /// Returns the routing rules.
    pub(crate) fn router(&self) -> &Router {
        &self.router
    }

    /// Returns every backend, by name.
    pub(crate) fn all(&self) -> impl Iterator<Item = &Backend> {
        self.by_name.values()
    }
}

/// One storage backend of this replica.
#[derive(Debug, Clone)]
pub(crate) struct Backend {
    name: String,
    settings: StorageSettings,
    layout: KeyLayout,
    store: Arc<OnceCell<SharedStore>>,
}

impl Backend {
    /// A backend as configured; nothing is opened yet.
    pub(crate) fn new(name: String, settings: StorageSettings, key_prefix: &str) -> Self {
        Self { name, settings, layout: KeyLayout::new(key_prefix), store: Arc::new(OnceCell::new()) }
    }

    /// Returns the backend's configured name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Returns where keys go.
    pub(crate) fn layout(&self) -> &KeyLayout {
        &self.layout
    }

    /// Returns the store, opening it on first use.
    pub(crate) async fn store(&self) -> Result<&SharedStore, StorageError> {
        self.store.get_or_try_init(|| open(&self.settings)).await
    }

    /// Returns the URI of `key`: `file:///<root>/<key>` or `s3://<bucket>/<key>`.
    pub(crate) fn uri(&self, key: &str) -> String {
        match &self.settings {
            StorageSettings::Filesystem { root, .. } => {
                let root = std::path::absolute(root).unwrap_or_else(|_| root.clone());
                format!("file://{}/{key}", root.display().to_string().trim_end_matches('/'))
            }
            StorageSettings::S3 { s3, .. } => match s3.key_prefix.trim_matches('/') {
                "" => format!("s3://{}/{key}", s3.bucket),
                prefix => format!("s3://{}/{prefix}/{key}", s3.bucket),
            },
        }
    }
}

async fn open(settings: &StorageSettings) -> Result<SharedStore, StorageError> {
    match settings {
        StorageSettings::Filesystem { root, .. } => Ok(Arc::new(FsStore::open(root.clone()).await?)),
        StorageSettings::S3 { s3, .. } => Ok(Arc::new(S3Store::connect(s3.clone()).await?)),
    }
}

/// The keys of blobs and staged uploads under the configured prefix.
#[derive(Debug, Clone)]
pub(crate) struct KeyLayout {
    /// `<prefix>/` or empty.
    prefix: String,
}

impl KeyLayout {
    pub(crate) fn new(prefix: &str) -> Self {
        match prefix.trim_matches('/') {
            "" => Self { prefix: String::new() },
            prefix => Self { prefix: format!("{prefix}/") },
        }
    }

    /// The content address of the bytes whose SHA-256 is `sha256` (lower-case hex).
    pub(crate) fn content_key(&self, sha256: &str) -> String {
        format!("{}sha256/{}/{}/{sha256}", self.prefix, &sha256[..2], &sha256[2..4])
    }

    /// Where content-addressed blobs live (a listing prefix).
    pub(crate) fn content_prefix(&self) -> String {
        format!("{}sha256/", self.prefix)
    }

    /// The SHA-256 (lower-case hex) whose content address `key` is, if it is one.
    pub(crate) fn sha256_of(&self, key: &str) -> Option<String> {
        let sha256 = key.strip_prefix(&self.content_prefix())?.rsplit('/').next()?;
        let valid = sha256.len() == 64 && sha256.bytes().all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'));
        (valid && self.content_key(sha256) == key).then(|| sha256.to_owned())
    }

    /// Where staged uploads live (a listing prefix).
    pub(crate) fn staging_prefix(&self) -> String {
        format!("{}staging/", self.prefix)
    }

    /// A fresh staging key; its UUIDv7 tells when the upload began.
    pub(crate) fn new_staging_key(&self) -> String {
        format!("{}{}", self.staging_prefix(), Uuid::now_v7().simple())
    }

    /// When the upload staged under `key` began, if `key` is a staging key of ours.
    pub(crate) fn staged_at(&self, key: &str) -> Option<SystemTime> {
        let id = Uuid::try_parse(key.strip_prefix(&self.staging_prefix())?).ok()?;
        let (seconds, nanos) = id.get_timestamp()?.to_unix();
        Some(SystemTime::UNIX_EPOCH + std::time::Duration::new(seconds, nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn content_keys_fan_out_by_the_first_bytes() {
        assert_eq!(KeyLayout::new("artifacts").content_key(SHA), format!("artifacts/sha256/e3/b0/{SHA}"));
        assert_eq!(KeyLayout::new("/a/b/").content_key(SHA), format!("a/b/sha256/e3/b0/{SHA}"));
        assert_eq!(KeyLayout::new("").content_key(SHA), format!("sha256/e3/b0/{SHA}"));
    }

    #[test]
    fn content_keys_are_read_back_and_nothing_else() {
        let layout = KeyLayout::new("artifacts");
        assert_eq!(layout.sha256_of(&layout.content_key(SHA)).as_deref(), Some(SHA));
        assert_eq!(KeyLayout::new("").sha256_of(&format!("sha256/e3/b0/{SHA}")).as_deref(), Some(SHA));
        for other in [
            format!("artifacts/sha256/e3/b1/{SHA}"),
            format!("artifacts/sha256/e3/b0/{}", SHA.to_uppercase()),
            format!("artifacts/sha256/e3/b0/{SHA}/x"),
            format!("other/sha256/e3/b0/{SHA}"),
            "artifacts/sha256/e3/b0/e3b0".into(),
            "artifacts/staging/0190".into(),
        ] {
            assert_eq!(layout.sha256_of(&other), None, "{other}");
        }
    }

    #[test]
    fn staging_keys_tell_when_they_began() {
        let layout = KeyLayout::new("artifacts");
        let before = SystemTime::now() - std::time::Duration::from_millis(2);
        let key = layout.new_staging_key();
        assert!(key.starts_with("artifacts/staging/"));
        assert!(layout.staged_at(&key).unwrap() >= before);
        assert_eq!(layout.staged_at("artifacts/staging/not-a-uuid"), None);
        assert_eq!(layout.staged_at(&format!("artifacts/sha256/e3/b0/{SHA}")), None);
    }

    #[test]
    fn uris_name_the_place() {
        let s3 = StorageSettings::S3 {
            name: String::new(),
            s3: gantry_storage::S3Settings { bucket: "bkt".into(), key_prefix: "p".into(), ..Default::default() },
        };
        assert_eq!(Backend::new("s3".into(), s3, "artifacts").uri("artifacts/x"), "s3://bkt/p/artifacts/x");
        let fs = StorageSettings::Filesystem { name: String::new(), root: "/data/".into() };
        assert_eq!(Backend::new("local".into(), fs, "artifacts").uri("artifacts/x"), "file:///data/artifacts/x");
    }
}
