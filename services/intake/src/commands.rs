//! The command side: load a request's events from the log, decide, append
//! with the expected sequence, and retry when another writer got there first.
//! Set rules are decided on the log itself: the idempotency key names the
//! request (UUIDv5), and a name is reserved on its own subject.

use crate::domain::{
    Decision, DomainError, Folded, NameHold, Policy, RequestState, ResourceSpec, decide_submit, evolve, fold, name_hold,
};
use crate::error::Error;
use gantry_eventlog::{AppendError, EventLog, ExpectedSequence, NewEvent, RecordedEvent};
use gantry_proto::events::{NameReserved, RequestVoided, envelope::Payload};
use gantry_proto::types::Principal;
use std::time::SystemTime;
use uuid::Uuid;

/// How often a command is re-decided after losing a race.
const MAX_ATTEMPTS: usize = 8;

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
        if !idempotency_key.is_empty()
            && let Some(answer) = self.resubmitted(&id, &spec, idempotency_key).await?
        {
            return Ok(answer);
        }
        // A new request on a free name takes two appends. Two submissions of
        // one key racing here meet again below: the loser finds its own
        // reservation or its request.
        if let Err(error) = self.reserve_name(&spec, &id, caller).await {
            if idempotency_key.is_empty() || !matches!(error, Error::Domain(DomainError::NameTaken { .. })) {
                return Err(error);
            }
            // A retry of a request made earlier is answered with it, whoever
            // holds the name now (its request may have been rejected since).
            return self.resubmitted(&id, &spec, idempotency_key).await?.ok_or(error);
        }
        match self.append(&id, None, payload, caller, ExpectedSequence::NoEvents).await {
            Err(Error::Contended(_)) => {
                self.resubmitted(&id, &spec, idempotency_key).await?.ok_or_else(|| Error::Contended(id.clone()))
            }
            result => result,
        }
    }

    /// Answers a submission whose request id exists already: the same
    /// request again is answered with it; anything else is refused. `None`
    /// when the id was never used.
    async fn resubmitted(
        &self,
        id: &str,
        spec: &ResourceSpec,
        idempotency_key: &str,
    ) -> Result<Option<Outcome>, Error> {
        let (folded, last_sequence) = self.load(id).await?;
        let existing = match folded {
            Folded::Request(existing) => existing,
            Folded::Voided => {
                return Err(DomainError::FailedPrecondition(
                    "an earlier submission under this idempotency key stalled and was voided; use a new key".into(),
                )
                .into());
            }
            Folded::Missing => return Ok(None),
        };
        match decide_submit(Some(&existing), spec, idempotency_key, &self.policy)? {
            Decision::AlreadyDone => Ok(Some(Outcome { state: existing, sequence: last_sequence })),
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

    /// Reserves the spec's name for request `id` unless a live request holds it.
    async fn reserve_name(&self, spec: &ResourceSpec, id: &str, caller: &Caller) -> Result<(), Error> {
        let reservation_id = spec.reservation_id();
        // Most names were never used: try that first, and read only if not.
        if self.append_reservation(&reservation_id, id, caller, ExpectedSequence::NoEvents).await? {
            return Ok(());
        }
        for _ in 0..MAX_ATTEMPTS {
            let last = self.log.last("name", &reservation_id).await.map_err(Error::Unavailable)?;
            let last_sequence = last.as_ref().map_or(0, |(sequence, _)| *sequence);
            let reservation = last.and_then(|(_, event)| event).and_then(|event| match event.payload() {
                Some(Payload::NameReserved(reserved)) => Some((reserved.request_id.clone(), event.occurred_at())),
                _ => None,
            });
            let holder = match &reservation {
                Some((holder_id, _)) if holder_id != id => self.load(holder_id).await?.0,
                _ => Folded::Missing,
            };
            let reservation = reservation.as_ref().map(|(holder_id, at)| (holder_id.as_str(), *at));
            match name_hold(id, &reservation_id, reservation, &holder, SystemTime::now()) {
                NameHold::Ours => return Ok(()),
                NameHold::HeldBy(holder) => {
                    let name = format!("{} {} ({})", spec.kind(), spec.name(), spec.environment());
                    return Err(DomainError::NameTaken { name, holder }.into());
                }
                NameHold::Orphaned(holder) => {
                    if !self.void(&holder, caller).await? {
                        continue;
                    }
                }
                NameHold::Free => {}
            }
            if self.append_reservation(&reservation_id, id, caller, ExpectedSequence::after(last_sequence)).await? {
                return Ok(());
            }
        }
        Err(Error::Contended(reservation_id))
    }

    /// Appends a reservation of `reservation_id` for request `id`; false when
    /// the name's subject changed meanwhile.
    async fn append_reservation(
        &self,
        reservation_id: &str,
        id: &str,
        caller: &Caller,
        expected: ExpectedSequence,
    ) -> Result<bool, Error> {
        let payload = Payload::NameReserved(NameReserved { request_id: id.to_owned() });
        let event = self.new_event("name", reservation_id.to_owned(), payload, caller);
        match self.log.append(event, expected).await {
            Ok(_) => Ok(true),
            Err(AppendError::Conflict { .. }) => Ok(false),
            Err(AppendError::Unavailable(cause)) => Err(Error::Unavailable(cause)),
        }
    }

    /// Voids an unused request id so it can never be created; false when
    /// the id was used meanwhile (then everything must be read again).
    async fn void(&self, id: &str, caller: &Caller) -> Result<bool, Error> {
        let reason = "its name reservation was orphaned and taken over".to_owned();
        let event = self.new_event("request", id.to_owned(), Payload::RequestVoided(RequestVoided { reason }), caller);
        match self.log.append(event, ExpectedSequence::NoEvents).await {
            Ok(_) => Ok(true),
            Err(AppendError::Conflict { .. }) => Ok(false),
            Err(AppendError::Unavailable(cause)) => Err(Error::Unavailable(cause)),
        }
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
