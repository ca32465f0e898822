//! Name reservations: a request holds its names (a database's and its
//! role's, a bucket's) through `intake.name_reserved.v1` on each name's
//! subject, appended with the sequence last seen, so the first writer wins.
//! The newest reservation names the holder; the holder's own events say
//! whether it still holds the name.

use super::{Caller, Commands, MAX_ATTEMPTS};
use crate::domain::{DomainError, Folded, NameHold, ReservedName, ResourceSpec, TakenNames, name_hold};
use crate::error::Error;
use gantry_eventlog::{AppendError, ExpectedSequence};
use gantry_proto::events::{NameReserved, RequestVoided, envelope::Payload};
use std::time::SystemTime;

/// Who holds a name, and the sequence of the name's last event.
#[derive(Debug)]
struct NameRead {
    hold: NameHold,
    last_sequence: u64,
}

impl Commands {
    /// Reserves every name of the spec for request `id`. All are read before
    /// anything is appended, so names held by live requests are refused
    /// together and leave nothing behind. A name lost to a racer after that
    /// releases the names this attempt reserved: `id` is voided, so they are
    /// free at once (a crash instead leaves them to the orphan grace).
    pub(super) async fn reserve_names(&self, spec: &ResourceSpec, id: &str, caller: &Caller) -> Result<(), Error> {
        let names = spec.reserved_names();
        let mut reads = Vec::with_capacity(names.len());
        let mut taken = Vec::new();
        for name in &names {
            let read = self.read_hold(name, id).await?;
            if let NameHold::HeldBy(holder) = &read.hold {
                taken.extend(TakenNames::one(name, holder.clone()).0);
            }
            reads.push(read);
        }
        if !taken.is_empty() {
            return Err(DomainError::NameTaken(TakenNames(taken)).into());
        }
        for (index, (name, read)) in names.iter().zip(reads).enumerate() {
            match self.reserve_name(name, id, caller, read).await {
                Err(taken @ Error::Domain(DomainError::NameTaken(_))) if index > 0 => {
                    // The void fails only when `id` was created meanwhile (a
                    // racing retry of the same key), whose request then holds
                    // the names; the refusal stands for this call either way.
                    self.void(id, caller, "another request took one of its names first").await?;
                    return Err(taken);
                }
                result => result?,
            }
        }
        Ok(())
    }

    /// Reads who holds `name` as seen by request `id`.
    async fn read_hold(&self, name: &ReservedName, id: &str) -> Result<NameRead, Error> {
        let last = self.log.last("name", &name.id).await.map_err(Error::Unavailable)?;
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
        let hold = name_hold(id, &name.id, reservation, &holder, SystemTime::now());
        Ok(NameRead { hold, last_sequence })
    }

    /// Reserves `name` for request `id` unless a live request holds it,
    /// starting from what `read` found and reading again after a lost race.
    async fn reserve_name(&self, name: &ReservedName, id: &str, caller: &Caller, read: NameRead) -> Result<(), Error> {
        let mut read = read;
        for _ in 0..MAX_ATTEMPTS {
            match read.hold {
                NameHold::Ours => return Ok(()),
                NameHold::HeldBy(holder) => return Err(DomainError::NameTaken(TakenNames::one(name, holder)).into()),
                NameHold::Orphaned(holder) => {
                    if !self.void(&holder, caller, "its name reservation was orphaned and taken over").await? {
                        read = self.read_hold(name, id).await?;
                        continue;
                    }
                }
                NameHold::Free => {}
            }
            let expected = ExpectedSequence::after(read.last_sequence);
            if self.append_reservation(&name.id, id, caller, expected).await? {
                return Ok(());
            }
            read = self.read_hold(name, id).await?;
        }
        Err(Error::Contended(name.id.clone()))
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

    /// Voids an unused request id so it can never be created and holds no
    /// name; false when the id was used meanwhile (then everything must be
    /// read again).
    async fn void(&self, id: &str, caller: &Caller, reason: &str) -> Result<bool, Error> {
        let payload = Payload::RequestVoided(RequestVoided { reason: reason.to_owned() });
        let event = self.new_event("request", id.to_owned(), payload, caller);
        match self.log.append(event, ExpectedSequence::NoEvents).await {
            Ok(_) => Ok(true),
            Err(AppendError::Conflict { .. }) => Ok(false),
            Err(AppendError::Unavailable(cause)) => Err(Error::Unavailable(cause)),
        }
    }
}
