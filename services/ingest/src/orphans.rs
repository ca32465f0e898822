//! The orphan sweep: bytes under a content address that no event
//! accounts for. An upload promotes its bytes and then appends its
//! artifact; a crash, or the log down, in between leaves a blob with no
//! history on its subject, which the retention sweeper (it starts from
//! the view, so from events) never proposes. This sweep starts from the
//! store instead:
//!
//! 1. It lists every content-addressed key of a backend, page by page;
//!    blobs the view knows (any status but `deleted`) are skipped.
//! 2. For the others the blob's own history on the log decides: a blob is
//!    an orphan when its subject has no event at all, or when its last
//!    word is `blob_deleted` and nothing was stored since (an upload
//!    promoted after the deletion and never recorded). Any other history
//!    is the retention sweeper's.
//! 3. An orphan younger than `ingest.orphan_grace_s` (from the store's
//!    modification time, which promote sets) is left alone: an upload on
//!    this or another replica may have promoted it a moment ago and be
//!    about to append. An object whose time the store does not tell is kept.
//! 4. The deletion is claimed on the blob's subject expecting exactly the
//!    history read (no events: `ExpectedSequence::NoEvents`), so an upload
//!    that appended in between wins and nothing is deleted; an upload that
//!    comes after the claim finds the deletion under way and answers
//!    UNAVAILABLE (its bytes are gone), exactly as with the retention
//!    sweeper, whose claim and deletion this reuses.
//!
//! It runs once per backend at start-up (after the staging cleanup) and
//! then every `ingest.orphan_sweep_interval_ms` (daily by default: each
//! run lists the whole store).

use crate::backend::Backend;
use crate::blob_log::{BLOB, BlobHistory, Deletion, blob_id};
use crate::sweeper::Sweeper;
use gantry_eventlog::ExpectedSequence;
use gantry_storage::Page;
use std::collections::HashSet;
use std::time::{Duration, SystemTime};

/// What `blob_deleted` says of an orphan.
const ORPHANED: &str = "no artifact was recorded for it (an upload that did not finish)";

/// The orphan sweep of one replica.
#[derive(Debug, Clone)]
pub(crate) struct Orphans {
    pub(crate) sweeper: Sweeper,
    /// How old an orphan must be before it is deleted.
    pub(crate) grace: Duration,
}

impl Orphans {
    /// Sweeps every configured backend; one that fails (unreachable) does
    /// not keep the others from being swept, and the sweep reports it.
    pub(crate) async fn sweep(&self) -> anyhow::Result<()> {
        let mut failed = None;
        for backend in self.sweeper.api.backends.all() {
            if let Err(error) = self.sweep_backend(backend).await {
                failed = Some(error.context(format!("the orphan sweep of backend {}", backend.name())));
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// Cleans one backend at start-up: removes the staged uploads begun
    /// before `before` (what a crash or a lost client left), then deletes
    /// its orphan blobs. Safe to run again after a failure.
    pub(crate) async fn clean_at_start(&self, backend: &Backend, before: std::time::SystemTime) -> anyhow::Result<()> {
        let removed = crate::staging::clean(backend, before).await?;
        tracing::info!(removed, backend = backend.name(), "staged uploads left from before start-up removed");
        self.sweep_backend(backend).await?;
        Ok(())
    }

    /// Deletes the orphans of one backend; returns how many.
    pub(crate) async fn sweep_backend(&self, backend: &Backend) -> anyhow::Result<usize> {
        let store = backend.store().await?;
        let (layout, prefix) = (backend.layout(), backend.layout().content_prefix());
        let mut page = Page::first(gantry_storage::MAX_PAGE);
        let mut deleted = 0;
        loop {
            let listing = store.list(&prefix, page.clone()).await?;
            let addressed: Vec<String> = listing.keys.iter().filter_map(|key| layout.sha256_of(key)).collect();
            let known: HashSet<String> = sqlx::query_scalar(
                "SELECT sha256 FROM blobs WHERE storage_backend = $1 AND sha256 = ANY($2) AND status <> 'deleted'",
            )
            .bind(backend.name())
            .bind(&addressed)
            .fetch_all(&self.sweeper.api.reads.pool)
            .await?
            .into_iter()
            .collect();
            for sha256 in addressed.iter().filter(|sha256| !known.contains(*sha256)) {
                if self.delete_orphan(backend, sha256).await? {
                    deleted += 1;
                }
            }
            match listing.next {
                Some(token) => page.token = Some(token),
                None => break,
            }
        }
        metrics::counter!("ingest_orphans_deleted_total", "backend" => backend.name().to_owned())
            .increment(deleted as u64);
        if deleted > 0 {
            tracing::info!(deleted, backend = backend.name(), "orphan sweep deleted blobs no event accounts for");
        }
        Ok(deleted)
    }

    /// Deletes the blob of `sha256` if it is an orphan old enough; returns whether it did.
    async fn delete_orphan(&self, backend: &Backend, sha256: &str) -> anyhow::Result<bool> {
        let aggregate = self.sweeper.api.log.load(BLOB, &blob_id(backend.name(), sha256)).await?;
        let history = BlobHistory::of(&aggregate.events);
        if !is_orphan(&history, aggregate.events.len()) {
            return Ok(false);
        }
        let key = backend.layout().content_key(sha256);
        let Some(meta) = backend.store().await?.head(&key).await? else { return Ok(false) };
        if !is_past_grace(meta.modified, SystemTime::now(), self.grace) {
            return Ok(false);
        }
        tracing::warn!(backend = backend.name(), sha256, "deleting an orphan blob (bytes no event accounts for)");
        let why = format!("no artifact was recorded for it and it is older than {} s", self.grace.as_secs());
        let expected = ExpectedSequence::after(aggregate.last_sequence);
        self.sweeper.claim_and_delete(backend, sha256, expected, why, ORPHANED).await
    }
}

/// Whether bytes whose subject holds `events` events folding to `history`
/// are accounted for by none: no event at all, or deleted and nothing
/// stored since (a store resets the deletion).
fn is_orphan(history: &BlobHistory, events: usize) -> bool {
    events == 0 || history.deletion == Deletion::Done
}

/// Whether an object written at `modified` is at least `grace` old at
/// `now`; an unknown time is never old enough.
fn is_past_grace(modified: Option<SystemTime>, now: SystemTime, grace: Duration) -> bool {
    modified.is_some_and(|modified| modified + grace <= now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob_log::{blob_event, ingest_principal};
    use gantry_eventlog::RecordedEvent;
    use gantry_proto::events::envelope::Payload;
    use gantry_proto::events::{ArtifactExpired, ArtifactStored, BlobDeleted, BlobDeletionStarted};

    fn event(sequence: u64, payload: Payload) -> RecordedEvent {
        let envelope = blob_event("local", "ab", payload, ingest_principal()).into_envelope(SystemTime::now());
        RecordedEvent { sequence, subject: "t.blob.local.ab".into(), envelope }
    }

    #[test]
    fn bytes_are_orphans_without_history_or_after_their_deletion_only() {
        let stored =
            event(1, Payload::ArtifactStored(ArtifactStored { artifact_id: "a".into(), ..Default::default() }));
        let expired =
            event(2, Payload::ArtifactExpired(ArtifactExpired { artifact_id: "a".into(), ..Default::default() }));
        let started = event(3, Payload::BlobDeletionStarted(BlobDeletionStarted::default()));
        let deleted = event(4, Payload::BlobDeleted(BlobDeleted::default()));
        let again = event(5, Payload::ArtifactStored(ArtifactStored { artifact_id: "b".into(), ..Default::default() }));
        let orphan = |events: &[RecordedEvent]| is_orphan(&BlobHistory::of(events), events.len());
        assert!(orphan(&[]), "no history");
        assert!(!orphan(std::slice::from_ref(&stored)), "a stored artifact");
        assert!(!orphan(&[stored.clone(), expired.clone()]), "the retention sweeper's");
        assert!(!orphan(&[stored.clone(), expired.clone(), started.clone()]), "a deletion under way");
        assert!(
            orphan(&[stored.clone(), expired.clone(), started.clone(), deleted.clone()]),
            "bytes after the deletion"
        );
        assert!(!orphan(&[stored, expired, started, deleted, again]), "stored afresh");
    }

    #[test]
    fn only_objects_known_to_be_old_enough_are_past_the_grace() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(10_000);
        let grace = Duration::from_secs(60);
        assert!(is_past_grace(Some(now - Duration::from_secs(60)), now, grace));
        assert!(!is_past_grace(Some(now - Duration::from_secs(59)), now, grace));
        assert!(!is_past_grace(None, now, grace), "an unknown age is kept");
        assert!(is_past_grace(Some(now), now, Duration::ZERO));
    }
}
