//! The retention sweeper, run every `ingest.sweep_interval_ms` on every
//! replica:
//!
//! 1. Artifacts past their expiry (from the view; every backend's, also
//!    one no longer configured here) get `artifact.expired.v1`
//!    on their blob's subject; its event id is derived from the artifact,
//!    so two replicas sweeping at once record it once.
//! 2. Blobs that no live artifact refers to, whose last reference expired
//!    more than `ingest.blob_grace_s` ago, are deleted, backend by
//!    backend (each configured one). The view only
//!    proposes them; the blob's own history on the log decides, and the
//!    deletion is claimed there first (`blob_deletion_started`, appended
//!    with the sequence the decision was read at), so an upload of the
//!    same content that appended in between wins and nothing is deleted.
//!    Then the bytes are removed and `blob_deleted` recorded. An upload
//!    that finds a deletion started waits for it to end and stores the
//!    bytes afresh; a sweeper that died in between is resumed by the next
//!    sweep.

use crate::api::IngestApi;
use crate::backend::Backend;
use crate::blob_log::{BLOB, BlobHistory, Deletion, blob_event, blob_id, ingest_principal};
use gantry_eventlog::{AppendError, ExpectedSequence};
use gantry_proto::events::envelope::Payload;
use gantry_proto::events::{ArtifactExpired, BlobDeleted, BlobDeletionStarted};
use std::time::{Duration, SystemTime};
use uuid::Uuid;

/// The most artifacts expired, or blobs deleted, in one sweep.
const BATCH: i64 = 500;

/// Why the sweeper deletes a blob's bytes, as `blob_deleted` says.
const UNREFERENCED: &str = "no live artifact refers to it";

/// The retention sweeper of one replica.
#[derive(Debug, Clone)]
pub(crate) struct Sweeper {
    pub(crate) api: IngestApi,
    /// How long a blob outlives its last reference.
    pub(crate) grace: Duration,
}

/// An artifact due to expire.
#[derive(Debug, sqlx::FromRow)]
struct Due {
    artifact_id: Uuid,
    sha256: String,
    storage_backend: String,
    expires_micros: i64,
}

impl Sweeper {
    /// Expires what is due, then deletes the blobs nothing refers to.
    pub(crate) async fn sweep(&self) -> anyhow::Result<()> {
        let expired = self.expire_due().await?;
        if expired > 0 {
            tracing::info!(expired, "retention sweep expired artifacts");
        }
        for backend in self.api.backends.all() {
            let deleted = self.delete_unreferenced(backend).await?;
            let name = backend.name().to_owned();
            metrics::counter!("ingest_blobs_deleted_total", "backend" => name).increment(deleted as u64);
            if deleted > 0 {
                tracing::info!(deleted, backend = backend.name(), "retention sweep deleted blobs");
            }
        }
        Ok(())
    }

    async fn expire_due(&self) -> anyhow::Result<usize> {
        let due: Vec<Due> = sqlx::query_as(
            "SELECT artifact_id, sha256, storage_backend,
                    (extract(epoch FROM expires_at) * 1000000)::bigint AS expires_micros
             FROM artifacts WHERE expired_at IS NULL AND expires_at <= now()
             ORDER BY expires_at LIMIT $1",
        )
        .bind(BATCH)
        .fetch_all(&self.api.reads.pool)
        .await?;
        for artifact in &due {
            let expired = ArtifactExpired {
                artifact_id: artifact.artifact_id.to_string(),
                sha256: artifact.sha256.clone(),
                expires_at: Some(crate::view::timestamp(artifact.expires_micros)),
            };
            let backend = artifact.storage_backend.as_str();
            let event = blob_event(backend, &artifact.sha256, Payload::ArtifactExpired(expired), ingest_principal());
            // The same id from every replica: the log keeps one.
            let id = Uuid::new_v5(&Uuid::NAMESPACE_OID, format!("expired/{}", artifact.artifact_id).as_bytes());
            let subject = self.api.log.subject(BLOB, &blob_id(backend, &artifact.sha256));
            let envelope = event.into_envelope_with_id(id, SystemTime::now());
            self.api.log.append_envelope(subject, envelope, ExpectedSequence::Any).await?;
            metrics::counter!("ingest_artifacts_expired_total", "backend" => backend.to_owned()).increment(1);
        }
        Ok(due.len())
    }

    async fn delete_unreferenced(&self, backend: &Backend) -> anyhow::Result<usize> {
        let candidates: Vec<String> = sqlx::query_scalar(
            "SELECT b.sha256 FROM blobs b
             WHERE b.storage_backend = $1 AND b.status <> 'deleted'
               AND NOT EXISTS (SELECT 1 FROM artifacts a WHERE a.storage_backend = b.storage_backend
                                 AND a.sha256 = b.sha256 AND a.expired_at IS NULL)
               AND (b.status = 'deleting'
                    OR (SELECT max(a.expired_at) FROM artifacts a WHERE a.storage_backend = b.storage_backend
                          AND a.sha256 = b.sha256) <= now() - make_interval(secs => $2))
             LIMIT $3",
        )
        .bind(backend.name())
        .bind(self.grace.as_secs_f64())
        .bind(BATCH)
        .fetch_all(&self.api.reads.pool)
        .await?;
        let mut deleted = 0;
        for sha256 in candidates {
            if self.delete_blob(backend, &sha256).await? {
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    /// Deletes one blob if its history on the log allows; returns whether it did.
    async fn delete_blob(&self, store: &Backend, sha256: &str) -> anyhow::Result<bool> {
        let aggregate = self.api.log.load(BLOB, &blob_id(store.name(), sha256)).await?;
        let history = BlobHistory::of(&aggregate.events);
        match history.deletion {
            // A deletion a sweeper began and did not finish.
            Deletion::Started => self.finish_deletion(store, sha256, aggregate.last_sequence, UNREFERENCED).await,
            Deletion::None if history.deletable(SystemTime::now(), self.grace) => {
                let why = format!("no live artifact refers to it for {} s", self.grace.as_secs());
                let expected = ExpectedSequence::after(aggregate.last_sequence);
                self.claim_and_delete(store, sha256, expected, why, UNREFERENCED).await
            }
            Deletion::None | Deletion::Done => Ok(false),
        }
    }

    /// Claims the deletion of a blob on its subject (`blob_deletion_started`
    /// with `started`, appended expecting `expected`: whoever appended
    /// since wins and nothing is deleted), then removes its bytes and
    /// records `blob_deleted` with `deleted`; returns whether it did.
    pub(crate) async fn claim_and_delete(
        &self,
        store: &Backend,
        sha256: &str,
        expected: ExpectedSequence,
        started: String,
        deleted: &str,
    ) -> anyhow::Result<bool> {
        let backend = store.name();
        let claim = BlobDeletionStarted {
            sha256: sha256.to_owned(),
            storage_backend: backend.to_owned(),
            storage_key: store.layout().content_key(sha256),
            reason: started,
        };
        let event = blob_event(backend, sha256, Payload::BlobDeletionStarted(claim), ingest_principal());
        match self.api.log.append(event, expected).await {
            Ok(appended) => self.finish_deletion(store, sha256, appended.sequence, deleted).await,
            // An upload (or another sweeper) came first: decide again next time.
            Err(AppendError::Conflict { .. }) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    /// Removes the bytes of a blob whose deletion was claimed at
    /// `claimed_at` and records `blob_deleted`; returns whether it recorded it.
    async fn finish_deletion(
        &self,
        store: &Backend,
        sha256: &str,
        claimed_at: u64,
        reason: &str,
    ) -> anyhow::Result<bool> {
        let (backend, key) = (store.name(), store.layout().content_key(sha256));
        store.store().await?.delete(&key).await?;
        let deleted = BlobDeleted {
            sha256: sha256.to_owned(),
            storage_backend: backend.to_owned(),
            storage_key: key,
            reason: reason.to_owned(),
        };
        let event = blob_event(backend, sha256, Payload::BlobDeleted(deleted), ingest_principal());
        match self.api.log.append(event, ExpectedSequence::At(claimed_at)).await {
            Ok(_) => Ok(true),
            // Another event came after the claim: the next sweep finishes it.
            Err(AppendError::Conflict { .. }) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }
}
