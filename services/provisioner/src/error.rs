//! One error type for the provisioner's API and its one mapping to gRPC
//! status codes: the client gets the category and a safe message (field
//! violations as a `google.rpc.BadRequest`), the cause chain goes to the
//! log only.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

/// Why a provisioner call failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// Fields of the message are invalid: (field, what is wrong).
    #[error("invalid request: {}", .0.iter().map(|(field, why)| format!("{field}: {why}")).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<(String, String)>),
    /// Nothing of that name.
    #[error("{0}")]
    NotFound(String),
    /// The caller may not do this.
    #[error("{0}")]
    PermissionDenied(String),
    /// The view has not applied the asked-for sequence in time.
    #[error("the view has not reached sequence {0} yet; retry")]
    NotCaughtUp(u64),
    /// The view cannot be read now (Postgres down, schema not migrated yet).
    #[error("the provisioner's view is unavailable; retry")]
    ViewUnavailable,
    /// A dependency (the event log, a platform Postgres, AWS) did not answer.
    #[error("{0}")]
    Unavailable(String),
    /// Anything else; details only in the log.
    #[error("internal error")]
    Unexpected(#[from] anyhow::Error),
}

impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        Self::Unexpected(error.into())
    }
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        let message = error.to_string();
        match error {
            Error::Invalid(violations) => {
                let mut details = ErrorDetails::new();
                for (field, description) in violations {
                    details.add_bad_request_violation(field, description);
                }
                Status::with_error_details(Code::InvalidArgument, message, details)
            }
            Error::NotFound(_) => Status::not_found(message),
            Error::PermissionDenied(_) => Status::permission_denied(message),
            Error::NotCaughtUp(_) | Error::ViewUnavailable | Error::Unavailable(_) => Status::unavailable(message),
            Error::Unexpected(cause) if gantry_runtime::postgres::is_unavailable(&cause) => {
                tracing::warn!(error = format!("{cause:#}"), "view unavailable");
                Status::unavailable(Error::ViewUnavailable.to_string())
            }
            Error::Unexpected(cause) => {
                tracing::error!(error = format!("{cause:#}"), "unexpected error");
                Status::internal(message)
            }
        }
    }
}
