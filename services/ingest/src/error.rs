//! Ingest's one error: the shared API categories plus what only a blob
//! store has (lost data, a range past the end, a client that went away),
//! mapped to gRPC status codes in one place.

use gantry_service::api::ApiError;
use gantry_storage::StorageError;
use tonic::Status;

/// Why an ingest call failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum IngestError {
    /// One of the categories every service shares.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The stored bytes are missing or do not match their digest.
    #[error("{0}")]
    DataLoss(String),
    /// A byte range past the artifact's end.
    #[error("{0}")]
    OutOfRange(String),
    /// The client ended the upload before it was complete.
    #[error("the upload was cut off by the client: nothing stored")]
    Cancelled,
    /// The storage backend failed.
    #[error("storage failed")]
    Storage(#[from] StorageError),
}

impl From<sqlx::Error> for IngestError {
    fn from(error: sqlx::Error) -> Self {
        Self::Api(error.into())
    }
}

impl From<IngestError> for Status {
    fn from(error: IngestError) -> Self {
        match error {
            IngestError::Api(error) => error.into(),
            IngestError::DataLoss(message) => Status::data_loss(message),
            IngestError::OutOfRange(message) => Status::out_of_range(message),
            IngestError::Cancelled => Status::cancelled(IngestError::Cancelled.to_string()),
            IngestError::Storage(error) if error.is_retryable() => {
                tracing::warn!(error = %error, "storage unavailable");
                Status::unavailable("the artifact storage is unavailable; retry")
            }
            IngestError::Storage(StorageError::InvalidRange { range, size }) => {
                let size = size.map(|size| format!(" of {size} bytes")).unwrap_or_default();
                Status::out_of_range(format!("byte range {range} is past the end of the artifact{size}"))
            }
            IngestError::Storage(error) => {
                tracing::error!(error = format!("{:#}", anyhow::Error::new(error)), "storage failed");
                Status::internal("internal error")
            }
        }
    }
}
