//! `Upload`: the header is checked (fields, tenant, lineage inputs) before
//! any byte is stored; the chunks then stream into a staging key while
//! both digests are updated from each one (memory holds a chunk, never the
//! artifact); the size and digest are checked against what the client
//! expected; the bytes are promoted to their content address, or dropped
//! when that content is stored already; and only then is the artifact
//! appended to the log, on its blob's subject with the sequence read before
//! the bytes were placed (`blob_log`): a deletion of that blob that
//! landed in between makes the append fail, and the upload places its
//! bytes again once the deletion is done. Any failure before the append
//! leaves no blob, no artifact and no event.

use crate::access;
use crate::api::IngestApi;
use crate::backend::Backend;
use crate::blob_log::{BLOB, BlobHistory, Deletion, blob_event, blob_id};
use crate::digest::{Digested, Digests};
use crate::error::IngestError;
use crate::header::{ArtifactSpec, retention_days};
use crate::routing::Producer;
use crate::staging::Staged;
use crate::view;
use bytes::Bytes;
use futures::StreamExt;
use gantry_eventlog::{AppendError, ExpectedSequence};
use gantry_proto::artifacts::{UploadRequest, UploadResponse, upload_request::Message};
use gantry_proto::events::ArtifactStored;
use gantry_proto::events::envelope::Payload;
use gantry_proto::types::Principal;
use gantry_service::api::ApiError;
use gantry_storage::{BoxError, SharedStore, StorageError};
use std::time::{Duration, SystemTime};
use tonic::{Status, Streaming};
use uuid::Uuid;

/// How often an upload tries to append against concurrent writers of the
/// same blob before it answers UNAVAILABLE.
const MAX_APPEND_ATTEMPTS: usize = 10;

fn invalid(field: &str, why: impl Into<String>) -> IngestError {
    ApiError::Invalid(vec![(field.to_owned(), why.into())]).into()
}

/// The state of the chunks being received: their digests, the limits, and
/// why the stream was refused if it was.
struct Receiving {
    digests: Digests,
    max_chunk: usize,
    expected_size: Option<u64>,
    max_size: Option<u64>,
    refused: Option<IngestError>,
}

impl Receiving {
    /// Hashes the next chunk and hands it on to the store, or refuses the
    /// stream (the store then stores nothing).
    fn accept(&mut self, item: Result<UploadRequest, Status>) -> Result<Bytes, BoxError> {
        match self.check(item) {
            Ok(chunk) => {
                self.digests.update(&chunk);
                Ok(chunk)
            }
            Err(refused) => {
                let message = refused.to_string();
                self.refused = Some(refused);
                Err(message.into())
            }
        }
    }

    fn check(&self, item: Result<UploadRequest, Status>) -> Result<Bytes, IngestError> {
        let chunk = match item {
            Ok(UploadRequest { message: Some(Message::Chunk(chunk)) }) => chunk,
            Ok(_) => return Err(invalid("header", "only the first message is a header; every later one is a chunk")),
            Err(status) => {
                tracing::info!(code = ?status.code(), message = status.message(), "upload stream failed");
                return Err(IngestError::Cancelled);
            }
        };
        if chunk.len() > self.max_chunk {
            return Err(invalid("chunk", format!("at most {} bytes per message", self.max_chunk)));
        }
        let size = self.digests.size() + chunk.len() as u64;
        if let Some(expected) = self.expected_size.filter(|expected| size > *expected) {
            return Err(invalid(
                "expected_size_bytes",
                format!("the upload is longer than the {expected} bytes expected"),
            ));
        }
        if let Some(limit) = self.max_size.filter(|limit| size > *limit) {
            return Err(invalid("chunk", format!("an artifact is at most {limit} bytes")));
        }
        Ok(chunk)
    }
}

/// The violations of what the client expected, if any.
fn mismatches(spec: &ArtifactSpec, digested: &Digested) -> Vec<(String, String)> {
    let mut violations = Vec::new();
    if let Some(expected) = spec.expected_size.filter(|expected| *expected != digested.size) {
        violations
            .push(("expected_size_bytes".into(), format!("expected {expected} bytes, received {}", digested.size)));
    }
    if let Some(expected) = spec.expected_sha256.as_ref().filter(|expected| **expected != digested.sha256) {
        violations
            .push(("expected_sha256".into(), format!("expected {expected}, the content's is {}", digested.sha256)));
    }
    violations
}

impl IngestApi {
    /// Takes one upload; see the module docs.
    pub(crate) async fn upload(
        &self,
        caller: Principal,
        mut incoming: Streaming<UploadRequest>,
    ) -> Result<UploadResponse, IngestError> {
        let spec = self.receive_header(&caller, &mut incoming).await?;
        self.check_inputs(&spec).await?;
        // Routed from the header: the staged bytes are where the blob will live.
        let producer = Producer { tenant: &spec.tenant, retention: spec.retention, agent: &spec.agent };
        let backend = self.backends.route(&producer).clone();
        let store = backend.store().await?.clone();
        let staged = Staged::new(store.clone(), backend.layout().new_staging_key());
        let digested = self.receive_bytes(&spec, &staged, &store, incoming).await?;
        let violations = mismatches(&spec, &digested);
        if !violations.is_empty() {
            staged.discard().await;
            return Err(ApiError::Invalid(violations).into());
        }
        self.place_and_record(&backend, caller, spec, digested, staged).await
    }

    async fn receive_header(
        &self,
        caller: &Principal,
        incoming: &mut Streaming<UploadRequest>,
    ) -> Result<ArtifactSpec, IngestError> {
        let header = match incoming.message().await {
            Ok(Some(UploadRequest { message: Some(Message::Header(header)) })) => header,
            Ok(_) => return Err(invalid("header", "required: the first message is the header")),
            Err(_) => return Err(IngestError::Cancelled),
        };
        let spec = ArtifactSpec::parse(&header).map_err(ApiError::Invalid)?;
        if !access::may_write(caller, &spec.tenant) {
            return Err(ApiError::PermissionDenied(format!(
                "only members of group {}{} store artifacts of tenant {}",
                access::TENANT_GROUP_PREFIX,
                spec.tenant,
                spec.tenant
            ))
            .into());
        }
        Ok(spec)
    }

    /// Refuses the upload unless every lineage input is an artifact of the
    /// tenant (the view, once it has applied the header's `min_sequence`).
    async fn check_inputs(&self, spec: &ArtifactSpec) -> Result<(), IngestError> {
        if spec.inputs.is_empty() {
            return Ok(());
        }
        self.reads.at(spec.min_sequence).await?;
        let found =
            self.reads.bounded(async { Ok(view::artifacts_of(&self.reads.pool, &spec.inputs, &spec.tenant).await?) });
        let found = found.await?;
        let missing: Vec<String> = spec.inputs.iter().filter(|id| !found.contains(id)).map(Uuid::to_string).collect();
        if missing.is_empty() {
            return Ok(());
        }
        Err(ApiError::FailedPrecondition(format!(
            "unknown lineage inputs (no artifact of tenant {} has these ids; pass the sequence their uploads \
             answered as min_sequence if they are new): {}",
            spec.tenant,
            missing.join(", ")
        ))
        .into())
    }

    /// Streams the chunks into the staging key, hashing each on its way.
    async fn receive_bytes(
        &self,
        spec: &ArtifactSpec,
        staged: &Staged,
        store: &SharedStore,
        incoming: Streaming<UploadRequest>,
    ) -> Result<Digested, IngestError> {
        let mut receiving = Receiving {
            digests: Digests::default(),
            max_chunk: self.limits.max_chunk_bytes,
            expected_size: spec.expected_size,
            max_size: Some(self.limits.max_artifact_bytes).filter(|limit| *limit > 0),
            refused: None,
        };
        let chunks = incoming.map(|item| receiving.accept(item)).boxed();
        let stored = store.put(staged.key(), chunks).await;
        match stored {
            Ok(outcome) if outcome.size == receiving.digests.size() => Ok(receiving.digests.finish()),
            Ok(outcome) => Err(IngestError::Storage(StorageError::Other(format!(
                "the store wrote {} bytes of {}",
                outcome.size,
                receiving.digests.size()
            )))),
            Err(StorageError::Input(_)) => Err(receiving.refused.take().unwrap_or(IngestError::Cancelled)),
            Err(error) => Err(error.into()),
        }
    }

    /// Reads the blob's history, waiting out a deletion under way; returns
    /// it with the sequence it was read at.
    async fn settled_blob(&self, id: &str) -> Result<(BlobHistory, u64), IngestError> {
        let deadline = tokio::time::Instant::now() + self.limits.deletion_wait;
        loop {
            let aggregate = self.log.load(BLOB, id).await.map_err(|error| {
                tracing::warn!(error = format!("{error:#}"), "reading a blob's history failed");
                ApiError::Unavailable("the event log did not answer; retry".into())
            })?;
            let history = BlobHistory::of(&aggregate.events);
            if history.deletion != Deletion::Started {
                return Ok((history, aggregate.last_sequence));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ApiError::Unavailable("the same content is being deleted right now; retry".into()).into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Places the bytes (promoted, or dropped for an intact blob of the same
    /// content) and appends the artifact on the blob's subject, expecting
    /// the sequence read before placing; a concurrent writer makes it start over.
    async fn place_and_record(
        &self,
        backend: &Backend,
        caller: Principal,
        spec: ArtifactSpec,
        digested: Digested,
        staged: Staged,
    ) -> Result<UploadResponse, IngestError> {
        let (key, id) = (backend.layout().content_key(&digested.sha256), blob_id(backend.name(), &digested.sha256));
        let (mut staged, mut written_here) = (Some(staged), false);
        let spec_retention = spec.retention;
        let stored = stored_event(backend, spec, &digested, &key);
        for _ in 0..MAX_APPEND_ATTEMPTS {
            let (history, last_sequence) = self.settled_blob(&id).await?;
            let existing = backend.store().await?.head(&key).await?;
            // A blob known to be corrupted is replaced by these verified bytes.
            let corrupted = history.corrupted
                || matches!(view::blob(&self.reads.pool, backend.name(), &digested.sha256).await,
                            Ok(Some(status)) if status == "corrupted");
            let intact = existing.is_some_and(|meta| meta.size == digested.size) && !corrupted;
            if !intact {
                let Some(bytes) = staged.take() else {
                    return Err(
                        ApiError::Unavailable("the content was deleted while it was stored; retry".into()).into()
                    );
                };
                bytes.promote(&key).await?;
                written_here = true;
            }
            if !self.limits.pause_before_record.is_zero() {
                tokio::time::sleep(self.limits.pause_before_record).await;
            }
            if self.limits.fail_before_record {
                return Err(ApiError::Unavailable(
                    "the event log did not take the artifact; retry (a test's fault)".into(),
                )
                .into());
            }
            // The retention runs from the record, not from when the bytes began to arrive.
            let expires_at = retention_days(spec_retention)
                .map(|days| (SystemTime::now() + Duration::from_secs(days * 86_400)).into());
            let event = ArtifactStored { deduplicated: !written_here, expires_at, ..stored.clone() };
            let new =
                blob_event(backend.name(), &digested.sha256, Payload::ArtifactStored(event.clone()), caller.clone());
            match self.log.append(new, ExpectedSequence::after(last_sequence)).await {
                Ok(appended) => {
                    if let Some(bytes) = staged.take() {
                        bytes.discard().await;
                    }
                    tracing::info!(artifact_id = %event.artifact_id, sha256 = %event.sha256, size = event.size_bytes,
                        deduplicated = event.deduplicated, "artifact stored");
                    let artifact =
                        crate::api::artifact_of(&event, SystemTime::now(), &caller.subject, appended.sequence);
                    return Ok(UploadResponse {
                        artifact: Some(artifact),
                        already_stored: event.deduplicated,
                        sequence: appended.sequence,
                    });
                }
                Err(AppendError::Conflict { .. }) => continue,
                Err(AppendError::Unavailable(error)) => {
                    tracing::warn!(error = format!("{error:#}"), sha256 = %event.sha256, "the artifact was not recorded");
                    return Err(ApiError::Unavailable("the event log did not take the artifact; retry".into()).into());
                }
            }
        }
        Err(ApiError::Unavailable("too many concurrent writers of the same content; retry".into()).into())
    }
}

/// The stored event of an artifact whose bytes are under `key` of `backend`
/// (its expiry is set when it is recorded).
fn stored_event(backend: &Backend, spec: ArtifactSpec, digested: &Digested, key: &str) -> ArtifactStored {
    ArtifactStored {
        artifact_id: Uuid::now_v7().to_string(),
        tenant: spec.tenant,
        run_id: spec.run_id,
        step_id: spec.step_id,
        agent: spec.agent,
        agent_version: spec.agent_version,
        name: spec.name,
        media_type: spec.media_type,
        input_artifact_ids: spec.inputs.iter().map(Uuid::to_string).collect(),
        retention: spec.retention as i32,
        expires_at: None,
        sha256: digested.sha256.clone(),
        blake3: digested.blake3.clone(),
        size_bytes: digested.size,
        storage_backend: backend.name().to_owned(),
        storage_key: key.to_owned(),
        storage_uri: backend.uri(key),
        deduplicated: false,
    }
}
