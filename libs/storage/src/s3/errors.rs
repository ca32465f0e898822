//! SDK errors into [`StorageError`]: what is missing, what is worth a
//! retry, and the rest. The SDK's detail stays in the message only.

use crate::StorageError;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// Error codes S3 answers when it is overloaded or failed on its side.
const RETRYABLE_CODES: [&str; 5] = ["SlowDown", "Throttling", "RequestTimeout", "ServiceUnavailable", "InternalError"];

/// What an SDK error says, in the crate's words.
#[derive(Debug)]
pub(super) struct Failure {
    /// The HTTP status, when S3 answered.
    pub(super) status: Option<u16>,
    /// S3's error code, when it sent one.
    pub(super) code: Option<String>,
    /// The error as a category; `NotFound` and `InvalidRange` are decided by callers.
    pub(super) error: StorageError,
}

impl Failure {
    /// Whether S3 said there is no such object (a HEAD answers 404 without a code).
    pub(super) fn is_missing_object(&self) -> bool {
        self.code.as_deref() == Some("NoSuchKey")
            || (self.status == Some(404) && !matches!(self.code.as_deref(), Some("NoSuchBucket" | "NoSuchUpload")))
    }

    /// Whether S3 refused a range as unsatisfiable.
    pub(super) fn is_unsatisfiable_range(&self) -> bool {
        self.status == Some(416) || self.code.as_deref() == Some("InvalidRange")
    }
}

/// Describes a failed S3 call.
pub(super) fn failure<E>(operation: &'static str, error: SdkError<E, HttpResponse>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = error.raw_response().map(|response| response.status().as_u16());
    let code = error.as_service_error().and_then(ProvideErrorMetadata::code).map(str::to_owned);
    let message = format!("S3 {operation}: {}", DisplayErrorContext(&error));
    let transient =
        matches!(error, SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_))
            || status.is_some_and(|status| status >= 500)
            || code.as_deref().is_some_and(|code| RETRYABLE_CODES.contains(&code));
    let error = if transient { StorageError::Unavailable(message) } else { StorageError::Other(message) };
    Failure { status, code, error }
}

/// Maps a failed S3 call to its category.
pub(super) fn classify<E>(operation: &'static str) -> impl FnOnce(SdkError<E, HttpResponse>) -> StorageError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    move |error| failure(operation, error).error
}

/// Maps a failed call on one object: a missing object is `NotFound`.
pub(super) fn classify_object<'a, E>(
    operation: &'static str,
    key: &'a str,
) -> impl FnOnce(SdkError<E, HttpResponse>) -> StorageError + 'a
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    move |error| {
        let failure = failure(operation, error);
        if failure.is_missing_object() { StorageError::not_found(key) } else { failure.error }
    }
}
