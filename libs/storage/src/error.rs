//! The one error of the crate, by what a caller can do about it. No
//! backend's own error type leaves the crate: a message keeps the
//! backend's detail for the log.

/// Any error, as a caller's input stream reports it.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// There is no blob under the key.
    #[error("no blob under key {key:?}")]
    NotFound {
        /// The key asked for.
        key: String,
    },
    /// The range starts past the blob's end, or ends before it starts.
    #[error("byte range {range} not satisfiable{}", size.map(|size| format!(" for a blob of {size} bytes")).unwrap_or_default())]
    InvalidRange {
        /// The range asked for, as `first-last` (`first-` when open).
        range: String,
        /// The blob's size, when the backend told it.
        size: Option<u64>,
    },
    /// The key breaks the key rules (see the crate docs).
    #[error("invalid key {key:?}: {reason}")]
    InvalidKey {
        /// The key given.
        key: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// The caller's input stream failed; nothing was stored.
    #[error("the input stream failed")]
    Input(#[source] BoxError),
    /// The store cannot be reached or is overloaded: worth retrying.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Anything else (refused, misconfigured, disk full, …).
    #[error("storage failed: {0}")]
    Other(String),
}

impl StorageError {
    /// Returns true when trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    pub(crate) fn not_found(key: &str) -> Self {
        Self::NotFound { key: key.to_owned() }
    }
}
