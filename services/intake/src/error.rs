//! One error type for intake and its one mapping to gRPC status codes. The
//! client gets the category and a safe message; the cause chain goes to the
//! log only.

use crate::domain::{DomainError, FieldViolation, Violations};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

/// Why an intake call failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// A rule of the domain refused it.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// Concurrent writers kept winning; the client may retry.
    #[error("too many concurrent changes to {0}; retry")]
    Contended(String),
    /// The view has not applied the asked-for sequence in time.
    #[error("the view has not reached sequence {0} yet; retry")]
    NotCaughtUp(u64),
    /// The view cannot be read now (Postgres down, schema not migrated yet).
    #[error("the request view is unavailable; retry")]
    ViewUnavailable,
    /// The event log did not answer.
    #[error("event log unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// Anything else; details only in the log.
    #[error("internal error")]
    Unexpected(#[from] anyhow::Error),
}

impl Error {
    /// One invalid field.
    pub(crate) fn invalid(field: &str, description: impl Into<String>) -> Self {
        Self::Domain(DomainError::Invalid(Violations(vec![FieldViolation {
            field: field.into(),
            description: description.into(),
        }])))
    }
}

impl From<Violations> for Error {
    fn from(violations: Violations) -> Self {
        Self::Domain(DomainError::Invalid(violations))
    }
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        let message = error.to_string();
        match error {
            Error::Domain(DomainError::Invalid(violations)) => {
                let mut details = ErrorDetails::new();
                for violation in violations.0 {
                    details.add_bad_request_violation(violation.field, violation.description);
                }
                Status::with_error_details(Code::InvalidArgument, message, details)
            }
            Error::Domain(DomainError::NotFound(_)) => Status::not_found(message),
            Error::Domain(DomainError::IdempotencyKeyReused { .. }) => Status::already_exists(message),
            Error::Domain(DomainError::NameTaken(taken)) => {
                // Which field to change, as a form shows it.
                let mut details = ErrorDetails::new();
                for name in taken.0 {
                    let description = name.to_string();
                    details.add_bad_request_violation(name.field, description);
                }
                Status::with_error_details(Code::AlreadyExists, message, details)
            }
            Error::Domain(DomainError::FailedPrecondition(_)) => Status::failed_precondition(message),
            Error::Domain(DomainError::PermissionDenied(_)) => Status::permission_denied(message),
            Error::Contended(_) => Status::aborted(message),
            Error::NotCaughtUp(_) | Error::ViewUnavailable => Status::unavailable(message),
            Error::Unavailable(cause) => {
                tracing::error!(error = format!("{cause:#}"), "event log unavailable");
                Status::unavailable(message)
            }
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
