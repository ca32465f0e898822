//! Integrity of stored blobs: a blob's events (`verified`, `corrupted`)
//! on its own subject (`blob_log`), and `Verify`,
//! which re-reads every blob of a backend (or of all) whole, recomputes its SHA-256
//! and size, and records what it found. A blob recorded corrupted is
//! refused by downloads (DATA_LOSS) until an upload of the same bytes
//! replaces it.

use crate::access;
use crate::api::IngestApi;
use crate::blob_log::{blob_event, ingest_principal};
use crate::digest::{Digested, Digests};
use crate::error::IngestError;
use futures::StreamExt;
use gantry_eventlog::ExpectedSequence;
use gantry_proto::artifacts::{VerifyRequest, VerifyResponse};
use gantry_proto::events::envelope::Payload;
use gantry_proto::events::{BlobCorrupted, BlobVerified};
use gantry_proto::types::Principal;
use gantry_service::api::ApiError;
use gantry_storage::StorageError;

/// The most corrupted digests one answer lists.
const MAX_LISTED: usize = 1000;
/// Blobs read from the view at a time.
const BATCH: i64 = 500;

/// A blob as recorded: where it is and what it must hash to.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct RecordedBlob {
    pub(crate) sha256: String,
    pub(crate) blake3: String,
    pub(crate) size_bytes: i64,
    pub(crate) storage_backend: String,
    pub(crate) storage_key: String,
}

/// What a read of a blob found wrong.
#[derive(Debug, Clone)]
pub(crate) struct Damage {
    /// The SHA-256 of what was read; empty when nothing could be.
    pub(crate) actual_sha256: String,
    pub(crate) actual_size: u64,
    /// `missing`, `size differs`, `digest differs`.
    pub(crate) detail: String,
}

impl Damage {
    /// Nothing under the blob's key.
    pub(crate) fn missing() -> Self {
        Self { actual_sha256: String::new(), actual_size: 0, detail: "missing".into() }
    }

    /// Returns what is wrong with `digested` as the bytes of `blob`, if anything.
    pub(crate) fn of(blob: &RecordedBlob, digested: Digested) -> Option<Self> {
        let detail = if digested.size != blob.size_bytes as u64 {
            "size differs"
        } else if digested.sha256 != blob.sha256 {
            "digest differs"
        } else {
            return None;
        };
        Some(Self { actual_sha256: digested.sha256, actual_size: digested.size, detail: detail.into() })
    }
}

impl IngestApi {
    /// Records `blob` corrupted; returns the event's sequence (0 when the
    /// log did not take it: the next read or verification records it).
    pub(crate) async fn record_corrupted(&self, blob: &RecordedBlob, damage: Damage) -> u64 {
        tracing::error!(sha256 = %blob.sha256, key = %blob.storage_key, detail = %damage.detail, "a blob is corrupted");
        metrics::counter!("ingest_blobs_corrupted_total", "backend" => blob.storage_backend.clone()).increment(1);
        let corrupted = BlobCorrupted {
            sha256: blob.sha256.clone(),
            storage_backend: blob.storage_backend.clone(),
            storage_key: blob.storage_key.clone(),
            actual_sha256: damage.actual_sha256,
            actual_size_bytes: damage.actual_size,
            detail: damage.detail,
        };
        let event =
            blob_event(&blob.storage_backend, &blob.sha256, Payload::BlobCorrupted(corrupted), ingest_principal());
        match self.log.append(event, ExpectedSequence::Any).await {
            Ok(appended) => appended.sequence,
            Err(error) => {
                tracing::warn!(error = %error, sha256 = %blob.sha256, "recording a corrupted blob failed");
                0
            }
        }
    }

    async fn record_verified(&self, blob: &RecordedBlob) -> Result<u64, IngestError> {
        let verified = BlobVerified {
            sha256: blob.sha256.clone(),
            blake3: blob.blake3.clone(),
            size_bytes: blob.size_bytes as u64,
            storage_backend: blob.storage_backend.clone(),
            storage_key: blob.storage_key.clone(),
        };
        let appended = self
            .log
            .append(
                blob_event(&blob.storage_backend, &blob.sha256, Payload::BlobVerified(verified), ingest_principal()),
                ExpectedSequence::Any,
            )
            .await
            .map_err(|error| ApiError::Unavailable(format!("the event log did not take a verification: {error}")))?;
        Ok(appended.sequence)
    }

    /// Reads `blob` whole and returns what is wrong with it, if anything.
    async fn check(&self, blob: &RecordedBlob) -> Result<Option<Damage>, IngestError> {
        let store = self.backends.named(&blob.storage_backend)?.store().await?;
        let read = match store.get(&blob.storage_key, None).await {
            Ok(read) => read,
            Err(StorageError::NotFound { .. }) => return Ok(Some(Damage::missing())),
            Err(error) => return Err(error.into()),
        };
        let mut digests = Digests::default();
        let mut chunks = read.chunks;
        while let Some(chunk) = chunks.next().await {
            digests.update(&chunk?);
        }
        Ok(Damage::of(blob, digests.finish()))
    }

    /// Verifies every blob of one backend (`request.backend`) or of every
    /// backend (empty); see the module docs.
    pub(crate) async fn verify(
        &self,
        caller: Principal,
        request: VerifyRequest,
    ) -> Result<VerifyResponse, IngestError> {
        if !caller.groups.iter().any(|group| group == access::PLATFORM_TEAM) {
            return Err(ApiError::PermissionDenied(format!("only {} verifies blobs", access::PLATFORM_TEAM)).into());
        }
        let names: Vec<String> = match request.backend.as_str() {
            "" => self.backends.all().map(|backend| backend.name().to_owned()).collect(),
            name if self.backends.get(name).is_some() => vec![name.to_owned()],
            name => {
                let known: Vec<&str> = self.backends.all().map(|backend| backend.name()).collect();
                let why = format!("no backend {name:?} here; one of {}", known.join(", "));
                return Err(ApiError::Invalid(vec![("backend".to_owned(), why)]).into());
            }
        };
        self.reads.at(request.min_sequence).await?;
        let mut answer = VerifyResponse::default();
        for name in names {
            self.verify_backend(&name, &mut answer).await?;
        }
        Ok(answer)
    }

    /// Verifies every blob recorded on backend `name`, adding to `answer`.
    async fn verify_backend(&self, name: &str, answer: &mut VerifyResponse) -> Result<(), IngestError> {
        let mut after = String::new();
        loop {
            let batch = recorded_blobs(&self.reads.pool, name, &after).await?;
            let Some(last) = batch.last() else { return Ok(()) };
            after = last.sha256.clone();
            for blob in &batch {
                match self.check(blob).await? {
                    None => {
                        answer.verified += 1;
                        answer.sequence = self.record_verified(blob).await?;
                    }
                    Some(damage) => {
                        answer.corrupted += 1;
                        answer.sequence = self.record_corrupted(blob, damage).await.max(answer.sequence);
                        if answer.corrupted_sha256.len() < MAX_LISTED {
                            answer.corrupted_sha256.push(blob.sha256.clone());
                        }
                    }
                }
            }
        }
    }
}

/// The next blobs of `backend` (by digest, after `after`) that are not
/// deleted, with what they must hash to.
async fn recorded_blobs(pool: &sqlx::PgPool, backend: &str, after: &str) -> sqlx::Result<Vec<RecordedBlob>> {
    sqlx::query_as(
        "SELECT DISTINCT ON (a.sha256) a.sha256, a.blake3, a.size_bytes, a.storage_backend, a.storage_key
         FROM artifacts a LEFT JOIN blobs b USING (storage_backend, sha256)
         WHERE a.storage_backend = $1 AND a.sha256 > $2 AND coalesce(b.status, 'stored') NOT IN ('deleting', 'deleted')
         ORDER BY a.sha256, a.created_sequence DESC LIMIT $3",
    )
    .bind(backend)
    .bind(after)
    .bind(BATCH)
    .fetch_all(pool)
    .await
}
