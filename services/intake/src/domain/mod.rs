//! The intake domain, pure and free of I/O: what a request is, the rules it
//! must pass, the approval policy, and the decider — `decide_*` turns a
//! command and the current state into an event, `evolve` folds events into
//! state. The clock and ids are passed in.

pub mod decide;
pub mod decommission;
pub mod names;
pub mod policy;
pub mod request;
pub mod spec;
pub mod tiers;
pub mod validate;
pub(crate) mod wire;

pub use decide::{Decision, NameHold, decide_approve, decide_cancel, decide_reject, decide_submit, name_hold};
pub use decommission::{
    Decommission, DecommissionForm, DecommissionOrder, DecommissionStage, decide_request_decommission,
};
pub use policy::{Policy, PolicyOutcome};
pub use request::{Approval, Folded, RequestState, Status, evolve, fold, is_void};
pub use spec::{
    BucketPurpose, BucketSpec, DatabaseSpec, Environment, ReservedName, ResourceSpec, Risk, SecretPolicy, Size,
};
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
    /// Live requests already hold one or more of the request's names.
    #[error("{0}")]
    NameTaken(TakenNames),
    /// The request is not in a state that allows this command.
    #[error("{0}")]
    FailedPrecondition(String),
    /// The caller may not do this.
    #[error("{0}")]
    PermissionDenied(String),
}

/// A name another live request holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakenName {
    /// The request's field that gives the name (`database_name`, `username`).
    pub field: String,
    /// What the name is: `role orders_user (prod)`.
    pub name: String,
    /// The request that holds it.
    pub holder: String,
}

/// Every name of a request that other live requests hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakenNames(pub Vec<TakenName>);

impl TakenNames {
    /// Returns the refusal of `name`, held by request `holder`.
    pub fn one(name: &ReservedName, holder: String) -> Self {
        Self(vec![TakenName { field: name.field.to_owned(), name: name.description.clone(), holder }])
    }
}

impl std::fmt::Display for TakenName {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{} is already requested by {}", self.name, self.holder)
    }
}

impl std::fmt::Display for TakenNames {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        formatter.write_str(&parts.join("; "))
    }
}
