//! `Upload`: the header is checked (fields, tenant, lineage inputs) before
//! any byte is stored; the chunks then stream into a staging key while
//! both digests are updated from each one (memory holds a chunk, never the
//! artifact); the size and digest are checked against what the client
//! expected; the bytes are promoted to their content address, or dropped
//! when that content is stored already; and only then is the artifact
//! appended to the log. Any failure before the append leaves no blob, no
//! artifact and no event.

use crate::access;
use crate::api::IngestApi;
use crate::digest::{Digested, Digests};
use crate::error::IngestError;
use crate::header::{ArtifactSpec, retention_days};
use crate::staging::Staged;
use crate::view;
use bytes::Bytes;
use futures::StreamExt;
use gantry_eventlog::{AppendError, ExpectedSequence, NewEvent};
use gantry_proto::artifacts::{UploadRequest, UploadResponse, upload_request::Message};
use gantry_proto::events::ArtifactStored;
use gantry_proto::events::envelope::Payload;
use gantry_proto::types::Principal;
use gantry_service::api::ApiError;
use gantry_storage::{BoxError, StorageError};
use std::time::{Duration, SystemTime};
use tonic::{Status, Streaming};
use uuid::Uuid;

/// The aggregate type of an artifact's events.
pub(crate) const ARTIFACT: &str = "artifact";

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

/// Where an artifact's bytes went.
struct Placed {
    key: String,
    already_stored: bool,
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
        let store = self.backend.store().await?.clone();
        let staged = Staged::new(store, self.backend.layout().new_staging_key());
        let digested = self.receive_bytes(&spec, &staged, incoming).await?;
        let violations = mismatches(&spec, &digested);
        if !violations.is_empty() {
            staged.discard().await;
            return Err(ApiError::Invalid(violations).into());
        }
        let placed = self.place(staged, &digested).await?;
        self.record(caller, spec, digested, placed).await
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
    /// tenant, as the log says (a view might lag behind a fresh input).
    async fn check_inputs(&self, spec: &ArtifactSpec) -> Result<(), IngestError> {
        let looked_up: Vec<(Uuid, anyhow::Result<bool>)> = futures::stream::iter(spec.inputs.iter().copied())
            .map(|id| async move { (id, self.is_artifact_of(id, &spec.tenant).await) })
            .buffered(16)
            .collect()
            .await;
        let mut missing = Vec::new();
        for (id, found) in looked_up {
            match found {
                Ok(true) => {}
                Ok(false) => missing.push(id.to_string()),
                Err(error) => {
                    tracing::warn!(error = format!("{error:#}"), "reading a lineage input failed");
                    return Err(ApiError::Unavailable("the event log did not answer; retry".into()).into());
                }
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        Err(ApiError::FailedPrecondition(format!(
            "unknown lineage inputs (no artifact of tenant {} has these ids): {}",
            spec.tenant,
            missing.join(", ")
        ))
        .into())
    }

    async fn is_artifact_of(&self, id: Uuid, tenant: &str) -> anyhow::Result<bool> {
        let aggregate = self.log.load(ARTIFACT, &id.to_string()).await?;
        Ok(aggregate
            .events
            .iter()
            .any(|event| matches!(event.payload(), Some(Payload::ArtifactStored(stored)) if stored.tenant == tenant)))
    }

    /// Streams the chunks into the staging key, hashing each on its way.
    async fn receive_bytes(
        &self,
        spec: &ArtifactSpec,
        staged: &Staged,
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
        let stored = self.backend.store().await?.put(staged.key(), chunks).await;
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

    /// Promotes the staged bytes to their content address, unless an
    /// intact blob of that content is there already (then they are dropped).
    async fn place(&self, staged: Staged, digested: &Digested) -> Result<Placed, IngestError> {
        let key = self.backend.layout().content_key(&digested.sha256);
        let existing = self.backend.store().await?.head(&key).await?;
        // A blob known to be corrupted is replaced by these verified bytes.
        let corrupted = matches!(
            view::blob(&self.reads.pool, self.backend.name(), &digested.sha256).await,
            Ok(Some(status)) if status == "corrupted"
        );
        if existing.is_some_and(|meta| meta.size == digested.size) && !corrupted {
            staged.discard().await;
            return Ok(Placed { key, already_stored: true });
        }
        staged.promote(&key).await?;
        Ok(Placed { key, already_stored: false })
    }

    /// Appends the artifact's stored event and answers with it.
    async fn record(
        &self,
        caller: Principal,
        spec: ArtifactSpec,
        digested: Digested,
        placed: Placed,
    ) -> Result<UploadResponse, IngestError> {
        let artifact_id = Uuid::now_v7();
        let now = SystemTime::now();
        let expires_at = retention_days(spec.retention).map(|days| now + Duration::from_secs(days * 86_400));
        let stored = ArtifactStored {
            artifact_id: artifact_id.to_string(),
            tenant: spec.tenant,
            run_id: spec.run_id,
            step_id: spec.step_id,
            agent: spec.agent,
            agent_version: spec.agent_version,
            name: spec.name,
            media_type: spec.media_type,
            input_artifact_ids: spec.inputs.iter().map(Uuid::to_string).collect(),
            retention: spec.retention as i32,
            expires_at: expires_at.map(Into::into),
            sha256: digested.sha256,
            blake3: digested.blake3,
            size_bytes: digested.size,
            storage_backend: self.backend.name().to_owned(),
            storage_uri: self.backend.uri(&placed.key),
            storage_key: placed.key,
            deduplicated: placed.already_stored,
        };
        let event = NewEvent {
            aggregate_type: ARTIFACT,
            aggregate_id: artifact_id.to_string(),
            payload: Payload::ArtifactStored(stored.clone()),
            actor: caller.clone(),
            correlation_id: Uuid::now_v7().to_string(),
            causation_id: String::new(),
        };
        let appended = match self.log.append(event, ExpectedSequence::NoEvents).await {
            Ok(appended) => appended,
            Err(AppendError::Unavailable(error)) => {
                tracing::warn!(error = format!("{error:#}"), sha256 = %stored.sha256, "the artifact was not recorded");
                return Err(ApiError::Unavailable("the event log did not take the artifact; retry".into()).into());
            }
            Err(conflict) => return Err(ApiError::Unexpected(conflict.into()).into()),
        };
        tracing::info!(artifact_id = %artifact_id, sha256 = %stored.sha256, size = stored.size_bytes,
            deduplicated = stored.deduplicated, "artifact stored");
        let artifact = crate::api::artifact_of(&stored, now, &caller.subject, appended.sequence);
        Ok(UploadResponse {
            artifact: Some(artifact),
            already_stored: placed.already_stored,
            sequence: appended.sequence,
        })
    }
}
