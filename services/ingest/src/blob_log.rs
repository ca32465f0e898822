//! The blob's subject, `<prefix>.blob.<backend>.<sha256>`: every event of
//! ingest is on the subject of the blob it concerns, so the rules over a
//! blob's references (may it be deleted? may an upload rely on its bytes?)
//! are decided on the log itself, with the expected sequence of that one
//! subject: an upload and a deletion that read the same state cannot both
//! land. This module names the subject, seals events for it and folds its
//! history (pure).

use gantry_eventlog::{NewEvent, RecordedEvent};
use gantry_proto::events::envelope::Payload;
use gantry_proto::types::Principal;
use std::collections::BTreeSet;
use std::time::SystemTime;
use uuid::Uuid;

/// The aggregate type of every ingest event.
pub(crate) const BLOB: &str = "blob";

/// The aggregate id of the blob of `sha256` on `backend`.
pub(crate) fn blob_id(backend: &str, sha256: &str) -> String {
    format!("{backend}.{sha256}")
}

/// The principal ingest's own events (verification, retention) are recorded as.
pub(crate) fn ingest_principal() -> Principal {
    Principal { subject: "ingest".into(), groups: Vec::new() }
}

/// An event on the blob of `sha256` on `backend`, caused by `actor`.
pub(crate) fn blob_event(backend: &str, sha256: &str, payload: Payload, actor: Principal) -> NewEvent {
    NewEvent {
        aggregate_type: BLOB,
        aggregate_id: blob_id(backend, sha256),
        payload,
        actor,
        correlation_id: Uuid::now_v7().to_string(),
        causation_id: String::new(),
    }
}

/// Where a blob's deletion stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Deletion {
    /// Not being deleted (or stored again since).
    #[default]
    None,
    /// Started: its bytes may vanish at any moment.
    Started,
    /// Done: its bytes are gone.
    Done,
}

/// A blob's history, folded.
#[derive(Debug, Clone, Default)]
pub(crate) struct BlobHistory {
    /// Artifacts stored with this content and not expired.
    pub(crate) live: BTreeSet<String>,
    /// When the last reference expired (`None`: none ever did).
    pub(crate) last_expired: Option<SystemTime>,
    /// The deletion's state.
    pub(crate) deletion: Deletion,
    /// True when the last integrity word on the blob is "corrupted".
    pub(crate) corrupted: bool,
}

impl BlobHistory {
    /// Folds one event into the history.
    pub(crate) fn evolve(mut self, event: &RecordedEvent) -> Self {
        match event.payload() {
            Some(Payload::ArtifactStored(stored)) => {
                self.live.insert(stored.artifact_id.clone());
                self.deletion = Deletion::None;
                // Fresh bytes replace corrupted ones; a deduplicated upload wrote none.
                self.corrupted &= stored.deduplicated;
            }
            Some(Payload::ArtifactExpired(expired)) => {
                self.live.remove(&expired.artifact_id);
                self.last_expired = Some(event.occurred_at());
            }
            Some(Payload::BlobDeletionStarted(_)) => self.deletion = Deletion::Started,
            Some(Payload::BlobDeleted(_)) => self.deletion = Deletion::Done,
            Some(Payload::BlobVerified(_)) => self.corrupted = false,
            Some(Payload::BlobCorrupted(_)) => self.corrupted = true,
            _ => {}
        }
        self
    }

    /// Folds a whole history.
    pub(crate) fn of(events: &[RecordedEvent]) -> Self {
        events.iter().fold(Self::default(), Self::evolve)
    }

    /// Returns true when the blob may be deleted at `now`: nothing refers
    /// to it, its last reference expired at least `grace` ago, and it is
    /// not deleted already.
    pub(crate) fn deletable(&self, now: SystemTime, grace: std::time::Duration) -> bool {
        self.live.is_empty()
            && self.deletion == Deletion::None
            && self.last_expired.is_some_and(|expired| expired + grace <= now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gantry_proto::events::{ArtifactExpired, ArtifactStored, BlobCorrupted, BlobDeleted, BlobDeletionStarted};
    use std::time::Duration;

    fn event(sequence: u64, seconds: u64, payload: Payload) -> RecordedEvent {
        let envelope = blob_event("local", "ab", payload, ingest_principal())
            .into_envelope(SystemTime::UNIX_EPOCH + Duration::from_secs(seconds));
        RecordedEvent { sequence, subject: "t.blob.local.ab".into(), envelope }
    }

    fn stored(id: &str, deduplicated: bool) -> Payload {
        Payload::ArtifactStored(ArtifactStored { artifact_id: id.into(), deduplicated, ..Default::default() })
    }

    fn expired(id: &str) -> Payload {
        Payload::ArtifactExpired(ArtifactExpired { artifact_id: id.into(), ..Default::default() })
    }

    #[test]
    fn a_blob_is_deletable_once_every_reference_expired_and_the_grace_passed() {
        let grace = Duration::from_secs(100);
        let history = BlobHistory::of(&[event(1, 0, stored("a", false)), event(2, 5, stored("b", true))]);
        assert!(!history.deletable(SystemTime::now(), grace), "live references");
        let history = history.evolve(&event(3, 1000, expired("a")));
        assert!(!history.deletable(SystemTime::now(), grace), "b is live");
        let history = history.evolve(&event(4, 1000, expired("b")));
        assert!(!history.deletable(SystemTime::UNIX_EPOCH + Duration::from_secs(1050), grace), "within the grace");
        assert!(history.deletable(SystemTime::UNIX_EPOCH + Duration::from_secs(1100), grace));
        let started = history.evolve(&event(5, 1200, Payload::BlobDeletionStarted(BlobDeletionStarted::default())));
        assert_eq!(started.deletion, Deletion::Started);
        assert!(!started.deletable(SystemTime::now(), grace), "once");
        let done = started.evolve(&event(6, 1201, Payload::BlobDeleted(BlobDeleted::default())));
        assert_eq!(done.deletion, Deletion::Done);
        let again = done.evolve(&event(7, 1300, stored("c", false)));
        assert_eq!((again.deletion, again.live.len()), (Deletion::None, 1), "stored afresh");
    }

    #[test]
    fn fresh_bytes_clear_corruption_and_deduplicated_ones_do_not() {
        let corrupted = BlobHistory::of(&[
            event(1, 0, stored("a", false)),
            event(2, 1, Payload::BlobCorrupted(BlobCorrupted::default())),
        ]);
        assert!(corrupted.corrupted);
        assert!(corrupted.clone().evolve(&event(3, 2, stored("b", true))).corrupted);
        assert!(!corrupted.evolve(&event(3, 2, stored("b", false))).corrupted);
    }
}
