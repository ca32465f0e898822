//! The command side: load a request's events from the log, decide, append
//! with the expected sequence, and retry when another writer got there first.
//! Set rules are decided on the log itself: the idempotency key names the
//! request (UUIDv5), and each name a request holds (a database's and its
//! role's, a bucket's) is reserved on its own subject.

use crate::domain::{Decision, DomainError, Folded, Policy, RequestState, ResourceSpec, decide_submit, evolve, fold};
use crate::error::Error;
use gantry_eventlog::{AppendError, EventLog, ExpectedSequence, NewEvent, RecordedEvent};
use gantry_proto::events::envelope::Payload;
use gantry_proto::types::Principal;
use uuid::Uuid;

mod names;

/// How often a command is re-decided after losing a race.
const MAX_ATTEMPTS: usize = 8;

/// What a submission's request id holds already.
// Short-lived; boxing the request would only add an allocation, as `Folded`'s.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Resubmission {
    /// Nothing: the id was never used.
    Unused,
    /// It was voided (its submission stalled, or lost a name to a racer).
    Voided,
    /// The same request: the submission is a retry.
    Same(Outcome),
}

/// Refuses a key whose request id was voided.
fn voided_key() -> Error {
    DomainError::FailedPrecondition(
        "an earlier submission under this idempotency key stalled or lost a name to another request, and was \
         voided; use a new key"
            .into(),
    )
    .into()
}

/// Namespace of request ids derived from idempotency keys.
const IDEMPOTENCY_NAMESPACE: Uuid = Uuid::from_u128(0x6a1f_4c1e_93d2_4b7e_8f0a_5e2c_7d9b_1c30);

/// A command's result: the request after it, and the sequence to read it at.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub(crate) state: RequestState,
    pub(crate) sequence: u64,
}

/// Who asks, and the id tying the command's events together.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) principal: Principal,
    pub(crate) correlation_id: String,
}

impl Caller {
    pub(crate) fn new(principal: Principal) -> Self {
        Self { principal, correlation_id: Uuid::now_v7().to_string() }
    }
}

/// Returns the request id: derived from the submitter and the idempotency
/// key (so keys of different callers never collide), or fresh.
pub(crate) fn request_id_for(submitter: &str, idempotency_key: &str) -> Uuid {
    if idempotency_key.is_empty() {
        Uuid::now_v7()
    } else {
        Uuid::new_v5(&IDEMPOTENCY_NAMESPACE, format!("{submitter}\n{idempotency_key}").as_bytes())
    }
}

/// Executes intake's commands against the log.
#[derive(Debug, Clone)]
pub(crate) struct Commands {
    log: EventLog,
    policy: Policy,
}

impl Commands {
    pub(crate) fn new(log: EventLog, policy: Policy) -> Self {
        Self { log, policy }
    }

    pub(crate) fn log(&self) -> &EventLog {
        &self.log
    }

    /// Submits a request; the same idempotency key returns the same request.
    pub(crate) async fn submit(
        &self,
        spec: ResourceSpec,
        idempotency_key: &str,
        caller: &Caller,
    ) -> Result<Outcome, Error> {
        let id = request_id_for(&caller.principal.subject, idempotency_key).to_string();
        let Decision::Append(payload) = decide_submit(None, &spec, idempotency_key, &self.policy)? else {
            unreachable!("a new request is always appended")
        };
        // The key first: a retry is answered with its request, and a key used
        // for another request is refused before anything is reserved.
        if !idempotency_key.is_empty() {
            match self.resubmitted(&id, &spec, idempotency_key).await? {
                Resubmission::Same(answer) => return Ok(answer),
                Resubmission::Voided => return Err(voided_key()),
                Resubmission::Unused => {}
            }
        }
        // A new request on free names takes an append per name and one for
        // the request. Two submissions of one key racing here meet again
        // below: the loser finds its own reservations or its request.
        if let Err(error) = self.reserve_names(&spec, &id, caller).await {
            if idempotency_key.is_empty() || !matches!(error, Error::Domain(DomainError::NameTaken(_))) {
                return Err(error);
            }
            // A retry of a request made earlier is answered with it, whoever
            // holds the name now (its request may have been rejected since).
            return match self.resubmitted(&id, &spec, idempotency_key).await? {
                Resubmission::Same(answer) => Ok(answer),
                Resubmission::Voided | Resubmission::Unused => Err(error),
            };
        }
        match self.append(&id, None, payload, caller, ExpectedSequence::NoEvents).await {
            Err(Error::Contended(_)) => match self.resubmitted(&id, &spec, idempotency_key).await? {
                Resubmission::Same(answer) => Ok(answer),
                Resubmission::Voided => Err(voided_key()),
                Resubmission::Unused => Err(Error::Contended(id.clone())),
            },
            result => result,
        }
    }

    /// Reads what a submission's request id holds already: the same request
    /// again is answered with it, another request under the id is refused.
    async fn resubmitted(&self, id: &str, spec: &ResourceSpec, idempotency_key: &str) -> Result<Resubmission, Error> {
        let (folded, last_sequence) = self.load(id).await?;
        let existing = match folded {
            Folded::Request(existing) => existing,
            Folded::Voided => return Ok(Resubmission::Voided),
            Folded::Missing => return Ok(Resubmission::Unused),
        };
        match decide_submit(Some(&existing), spec, idempotency_key, &self.policy)? {
            Decision::AlreadyDone => Ok(Resubmission::Same(Outcome { state: existing, sequence: last_sequence })),
            Decision::Append(_) => Err(Error::Contended(id.to_owned())),
        }
    }

    /// Loads a request, decides with `decide`, appends the event, and
    /// retries on a concurrent change.
    pub(crate) async fn execute(
        &self,
        id: &str,
        caller: &Caller,
        decide: impl Fn(Option<&RequestState>) -> Result<Decision, DomainError>,
    ) -> Result<Outcome, Error> {
        for _ in 0..MAX_ATTEMPTS {
            let (folded, last_sequence) = self.load(id).await?;
            let state = folded.into_request();
            match decide(state.as_ref())? {
                Decision::AlreadyDone => {
                    return Ok(Outcome { state: state.expect("decided on a state"), sequence: last_sequence });
                }
                Decision::Append(payload) => {
                    let expected = ExpectedSequence::after(last_sequence);
                    match self.append(id, state, payload, caller, expected).await {
                        Err(Error::Contended(_)) => continue,
                        result => return result,
                    }
                }
            }
        }
        Err(Error::Contended(id.to_owned()))
    }

    /// Loads what a request id amounts to and the sequence of its last event.
    pub(crate) async fn load(&self, id: &str) -> Result<(Folded, u64), Error> {
        let aggregate = self.log.load("request", id).await.map_err(Error::Unavailable)?;
        let folded =
            fold(&aggregate.events).map_err(|reason| anyhow::anyhow!("request {id} is inconsistent: {reason}"))?;
        Ok((folded, aggregate.last_sequence))
    }

    /// Appends one event to a request and returns its new state.
    async fn append(
        &self,
        id: &str,
        state: Option<RequestState>,
        payload: Payload,
        caller: &Caller,
        expected: ExpectedSequence,
    ) -> Result<Outcome, Error> {
        let event = self.new_event("request", id.to_owned(), payload, caller);
        let appended = match self.log.append(event, expected).await {
            Ok(appended) => appended,
            Err(AppendError::Conflict { subject }) => return Err(Error::Contended(subject)),
            Err(AppendError::Unavailable(cause)) => return Err(Error::Unavailable(cause)),
        };
        let recorded = RecordedEvent {
            sequence: appended.sequence,
            subject: self.log.subject("request", id),
            envelope: appended.envelope,
        };
        let state = evolve(state, &recorded).map_err(|reason| anyhow::anyhow!("applying own event: {reason}"))?;
        Ok(Outcome { state, sequence: appended.sequence })
    }

    fn new_event(
        &self,
        aggregate_type: &'static str,
        aggregate_id: String,
        payload: Payload,
        caller: &Caller,
    ) -> NewEvent {
        NewEvent {
            aggregate_type,
            aggregate_id,
            payload,
            actor: caller.principal.clone(),
            correlation_id: caller.correlation_id.clone(),
            causation_id: caller.correlation_id.clone(),
        }
    }
}
