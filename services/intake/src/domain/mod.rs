//! The intake domain, pure and free of I/O: what a request is, the rules it
//! must pass, the approval policy, and the decider — `decide_*` turns a
//! command and the current state into an event, `evolve` folds events into
//! state. The clock and ids are passed in.

pub mod decide;
pub mod names;
pub mod policy;
pub mod request;
pub mod spec;
pub mod tiers;
pub mod validate;
pub(crate) mod wire;

pub use decide::{Decision, NameHold, decide_approve, decide_cancel, decide_reject, decide_submit, name_hold};
pub use policy::{Policy, PolicyOutcome};
pub use request::{Approval, Folded, RequestState, Status, evolve, fold, is_void};
pub use spec::{BucketPurpose, BucketSpec, DatabaseSpec, Environment, ResourceSpec, Risk, Size};
pub use tiers::{RiskTier, SizeTier, risk_tier, size_tier};
pub use validate::{BucketForm, DatabaseForm, FieldViolation, TEXT_MAX_BYTES, Violations, check_text};

/// Why a command was refused; every variant is something a caller can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// Input breaks the rules; every violated field is listed.
    #[error("invalid request: {0}")]
    Invalid(Violations),
    /// No request with that id.
    #[error("request {0} not found")]
    NotFound(String),
    /// The idempotency key was used for a different request.
    #[error("idempotency key already used for a different request ({request_id})")]
    IdempotencyKeyReused {
        /// The request the key names.
        request_id: String,
    },
    /// A live request already holds the resource name.
    #[error("{name} is already requested by {holder}")]
    NameTaken {
        /// The resource name (with its environment).
        name: String,
        /// The request that holds it.
        holder: String,
    },
    /// The request is not in a state that allows this command.
    #[error("{0}")]
    FailedPrecondition(String),
    /// The caller may not do this.
    #[error("{0}")]
    PermissionDenied(String),
}
