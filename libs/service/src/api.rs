//! What the APIs of the services built on views share: one error type and
//! its mapping to gRPC status codes (field violations as a
//! `google.rpc.BadRequest`, causes in the log only), collecting every
//! field's violation at once, environment and paging fields, and the wait
//! for a view before a read.

use crate::{Readiness, ViewNotReady};
use gantry_proto::types::Environment;
use gantry_runtime::grpc::page;
use sqlx::PgPool;
use std::time::Duration;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Fields of the message are invalid: (field, what is wrong).
    #[error("invalid request: {}", .0.iter().map(|(field, why)| format!("{field}: {why}")).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<(String, String)>),
    /// Nothing of that name.
    #[error("{0}")]
    NotFound(String),
    /// The caller may not do this.
    #[error("{0}")]
    PermissionDenied(String),
    /// The resource's state does not allow it now (the message says why).
    #[error("{0}")]
    FailedPrecondition(String),
    /// The view has not applied the asked-for sequence in time.
    #[error("the view has not reached sequence {0} yet; retry")]
    NotCaughtUp(u64),
    /// The view cannot be read now (Postgres down, schema not migrated yet).
    #[error("the view is unavailable; retry")]
    ViewUnavailable,
    /// A dependency (the event log, a platform Postgres, AWS) did not answer.
    #[error("{0}")]
    Unavailable(String),
    /// Anything else; details only in the log.
    #[error("internal error")]
    Unexpected(#[from] anyhow::Error),
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        Self::Unexpected(error.into())
    }
}

impl From<ApiError> for Status {
    fn from(error: ApiError) -> Self {
        let message = error.to_string();
        match error {
            ApiError::Invalid(violations) => {
                let mut details = ErrorDetails::new();
                for (field, description) in violations {
                    details.add_bad_request_violation(field, description);
                }
                Status::with_error_details(Code::InvalidArgument, message, details)
            }
            ApiError::NotFound(_) => Status::not_found(message),
            ApiError::PermissionDenied(_) => Status::permission_denied(message),
            ApiError::FailedPrecondition(_) => Status::failed_precondition(message),
            ApiError::NotCaughtUp(_) | ApiError::ViewUnavailable | ApiError::Unavailable(_) => {
                Status::unavailable(message)
            }
            ApiError::Unexpected(cause) if gantry_runtime::postgres::is_unavailable(&cause) => {
                tracing::warn!(error = format!("{cause:#}"), "view unavailable");
                Status::unavailable(ApiError::ViewUnavailable.to_string())
            }
            ApiError::Unexpected(cause) => {
                tracing::error!(error = format!("{cause:#}"), "unexpected error");
                Status::internal(message)
            }
        }
    }
}

/// The lower-case word of an environment (`dev`), empty when unknown.
pub fn environment_word(environment: i32) -> String {
    Environment::try_from(environment)
        .ok()
        .filter(|environment| *environment != Environment::Unspecified)
        .map(|environment| environment.as_str_name().trim_start_matches("ENVIRONMENT_").to_lowercase())
        .unwrap_or_default()
}

/// Every environment, as the validation messages list them.
fn environments() -> String {
    [Environment::Dev, Environment::Test, Environment::Staging, Environment::Prod]
        .iter()
        .map(|environment| format!("{} ({})", *environment as i32, environment_word(*environment as i32)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads an environment field: `None` when unset and not required.
pub fn environment(field: &str, value: i32, required: bool) -> Result<Option<String>, (String, String)> {
    match environment_word(value) {
        word if !word.is_empty() => Ok(Some(word)),
        _ if value == 0 && !required => Ok(None),
        _ if value == 0 => Err((field.to_owned(), format!("required; one of {}", environments()))),
        _ => Err((field.to_owned(), format!("unknown value {value}; one of {}", environments()))),
    }
}

/// Collects field checks and answers them all at once.
#[derive(Debug, Default)]
pub struct Checks(pub Vec<(String, String)>);

impl Checks {
    /// Keeps a check's value, or its violation for the answer.
    pub fn take<T>(&mut self, result: Result<T, (String, String)>) -> Option<T> {
        result.map_err(|violation| self.0.push(violation)).ok()
    }

    /// Every violation at once, or nothing.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() { Ok(()) } else { Err(ApiError::Invalid(self.0)) }
    }
}

/// Reads `page_size` (0: the default).
pub fn page_size(value: u32) -> Result<u32, (String, String)> {
    page::size(value).map_err(|error| ("page_size".to_owned(), error.to_string()))
}

/// Reads `page_token` (empty: the first page).
pub fn page_token(value: &str) -> Result<Option<u64>, (String, String)> {
    page::parse(value).map_err(|error| ("page_token".to_owned(), error.to_string()))
}

/// The next page's token when the query returned one row more than the page.
pub fn next_page<T>(rows: &mut Vec<T>, limit: u32, created_sequence: impl Fn(&T) -> i64) -> String {
    if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|row| page::token(created_sequence(row) as u64)).unwrap_or_default()
    } else {
        String::new()
    }
}

/// A read of a view: its schema ready, `min_sequence` applied (waiting up
/// to `wait`), the read itself bounded (a Postgres that stops answering
/// answers UNAVAILABLE after the wait and a second).
#[derive(Debug, Clone)]
pub struct ViewReads {
    /// The service's pool.
    pub pool: PgPool,
    /// Whether the schema is migrated.
    pub readiness: Readiness,
    /// The view's name (its checkpoint).
    pub view: &'static str,
    /// How long a read waits for `min_sequence`.
    pub wait: Duration,
}

impl ViewReads {
    /// Reads of `view` with the service's pool, readiness and read wait.
    pub fn of<S>(parts: &crate::Parts<S>, view: &'static str) -> Self {
        Self { pool: parts.pool.clone(), readiness: parts.readiness.clone(), view, wait: parts.read_wait() }
    }

    /// Waits until the view has applied `min_sequence` (0: at once).
    pub async fn at(&self, min_sequence: u64) -> Result<(), ApiError> {
        self.readiness.view_at(&self.pool, self.view, min_sequence, self.wait).await.map_err(|error| match error {
            ViewNotReady::Unavailable => ApiError::ViewUnavailable,
            ViewNotReady::Behind(sequence) => ApiError::NotCaughtUp(sequence),
            ViewNotReady::Failed(cause) => ApiError::Unexpected(cause),
        })
    }

    /// Bounds a read.
    pub async fn bounded<T>(&self, read: impl Future<Output = Result<T, ApiError>>) -> Result<T, ApiError> {
        tokio::time::timeout(self.wait + Duration::from_secs(1), read).await.unwrap_or(Err(ApiError::ViewUnavailable))
    }
}
