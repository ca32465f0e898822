//! What every provisioner reactor shares: which event approves what, the
//! principal its events are recorded as, and recording a step on the
//! request's subject (exactly once, see `ReactContext::record`).

use gantry_eventlog::{NewEvent, ReactContext, ReactError, RecordedEvent};
use gantry_proto::events::approval_granted;
use gantry_proto::events::envelope::Payload;
use gantry_proto::types::{BucketSpec, DatabaseSpec, Principal};

/// The principal the provisioner's events are recorded as.
pub(crate) fn principal() -> Principal {
    Principal { subject: "gantry-provisioner".into(), groups: vec!["gantry".into()] }
}

/// What an event approves.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Approved<'a> {
    Database(&'a DatabaseSpec),
    Bucket(&'a BucketSpec),
}

/// Returns what an event approves, if anything: a request created
/// auto-approved by a rule, or the approval that satisfied the policy
/// (which carries what was approved).
pub(crate) fn approved(event: &RecordedEvent) -> Option<Approved<'_>> {
    match event.envelope.payload.as_ref()? {
        Payload::DatabaseRequested(requested) if !requested.auto_approved_by_rule.is_empty() => {
            requested.spec.as_ref().map(Approved::Database)
        }
        Payload::BucketRequested(requested) if !requested.auto_approved_by_rule.is_empty() => {
            requested.spec.as_ref().map(Approved::Bucket)
        }
        Payload::ApprovalGranted(granted) if granted.policy_satisfied => match granted.approved.as_ref()? {
            approval_granted::Approved::Database(spec) => Some(Approved::Database(spec)),
            approval_granted::Approved::Bucket(spec) => Some(Approved::Bucket(spec)),
        },
        _ => None,
    }
}

/// The lower-case word of a known environment; an unknown one is a permanent error.
pub(crate) fn environment(value: i32) -> Result<String, ReactError> {
    Some(crate::view::environment_word(value))
        .filter(|word| !word.is_empty())
        .ok_or_else(|| ReactError::permanent(format!("unknown environment {value}")))
}

/// Records the steps of one request's work.
pub(crate) struct Steps<'a> {
    pub(crate) context: &'a ReactContext,
    pub(crate) request_id: &'a str,
}

impl Steps<'_> {
    /// Records `step` as `payload` on the request's subject, once.
    pub(crate) async fn record(&self, step: &str, payload: Payload) -> Result<(), ReactError> {
        let event = NewEvent {
            aggregate_type: "request",
            aggregate_id: self.request_id.to_owned(),
            payload,
            actor: principal(),
            correlation_id: String::new(),
            causation_id: String::new(),
        };
        self.context.record(step, event).await.map(drop)
    }

    /// The request's events so far.
    pub(crate) async fn history(&self) -> Result<Vec<RecordedEvent>, ReactError> {
        let history = self
            .context
            .log()
            .load("request", self.request_id)
            .await
            .map_err(|error| ReactError::retryable(format!("reading request {}: {error:#}", self.request_id)))?;
        Ok(history.events)
    }

    /// True when the request was cancelled or rejected after its approval
    /// and before provisioning started (intake refuses both once it has).
    pub(crate) async fn withdrawn(&self) -> Result<bool, ReactError> {
        Ok(self.history().await?.iter().any(|event| {
            matches!(event.envelope.payload, Some(Payload::RequestCancelled(_) | Payload::RequestRejected(_)))
        }))
    }
}

/// The event a reactor records when it gives up on a request.
pub(crate) fn gave_up(work: &gantry_eventlog::Work, payload: Payload) -> NewEvent {
    NewEvent {
        aggregate_type: "request",
        aggregate_id: work.key.clone(),
        payload,
        actor: principal(),
        correlation_id: work.correlation_id(),
        causation_id: work.causation_id(),
    }
}
