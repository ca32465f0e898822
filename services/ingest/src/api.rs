//! The artifact gRPC service: thin tonic methods over `upload`,
//! `download` and the view's reads (`Stat`, `List`), with the tenant rule
//! of `access` applied to every call.

use crate::access;
use crate::backend::Backends;
use crate::download::DownloadStream;
use crate::error::IngestError;
use crate::header::{artifact_id, optional_label, tenant};
use crate::settings::IngestSettings;
use crate::view::{self, ArtifactRow, Listing};
use gantry_eventlog::EventLog;
use gantry_proto::artifacts::artifact_service_server::{ArtifactService, ArtifactServiceServer};
use gantry_proto::artifacts::{self as pb, BlobStatus};
use gantry_proto::events::ArtifactStored;
use gantry_proto::types::Principal;
use gantry_runtime::principal_of;
use gantry_service::api::{ApiError, Checks, ViewReads, next_page, page_size, page_token};
use std::time::{Duration, SystemTime};
use tonic::{Request, Response, Status, Streaming};
use uuid::Uuid;

/// The sizes an upload must keep to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// The largest chunk of one message.
    pub(crate) max_chunk_bytes: usize,
    /// The largest artifact; 0: no limit.
    pub(crate) max_artifact_bytes: u64,
    /// How long an upload waits for a deletion of the same content to end.
    pub(crate) deletion_wait: std::time::Duration,
    /// Tests only: the pause between placing bytes and recording them.
    pub(crate) pause_before_record: std::time::Duration,
    /// Tests only: every upload fails after placing its bytes, as if the
    /// log had not taken its record (what a crash there leaves).
    pub(crate) fail_before_record: bool,
}

/// The artifact API over the store, the log and the view.
#[derive(Debug, Clone)]
pub(crate) struct IngestApi {
    pub(crate) backends: Backends,
    pub(crate) log: EventLog,
    pub(crate) reads: ViewReads,
    pub(crate) limits: Limits,
    /// How long `Stat`'s presigned URLs live; `None`: none are handed out.
    pub(crate) presigned_url_expiry: Option<std::time::Duration>,
}

/// The longest a presigned URL may live (SigV4's limit).
const MAX_PRESIGNED_EXPIRY_S: u64 = 7 * 86_400;
/// Room for a message's framing and an upload header beside the largest chunk.
const MESSAGE_HEADROOM_BYTES: usize = 128 * 1024;

impl IngestApi {
    /// The API of ingest's settings on the skeleton's parts; settings that
    /// cannot work (a zero chunk, a URL expiry past S3's week, backends or
    /// routes that contradict each other) stop the service at start-up.
    pub(crate) fn new(parts: &gantry_service::Parts<IngestSettings>) -> anyhow::Result<Self> {
        let settings = &parts.settings;
        anyhow::ensure!(settings.max_chunk_bytes > 0, "ingest.max_chunk_bytes must be above 0");
        anyhow::ensure!(
            settings.presigned_url_expiry_s <= MAX_PRESIGNED_EXPIRY_S,
            "ingest.presigned_url_expiry_s must be at most {MAX_PRESIGNED_EXPIRY_S} (a week, S3's limit)"
        );
        let backends =
            Backends::new(settings).map_err(|violation| anyhow::anyhow!("invalid configuration: {violation}"))?;
        let limits = Limits {
            max_chunk_bytes: settings.max_chunk_bytes,
            max_artifact_bytes: settings.max_artifact_bytes,
            deletion_wait: Duration::from_millis(settings.deletion_wait_ms),
            pause_before_record: Duration::from_millis(settings.pause_before_record_ms),
            fail_before_record: settings.fail_before_record,
        };
        Ok(Self {
            backends,
            log: parts.log.clone(),
            reads: ViewReads::of(parts, view::VIEW_NAME),
            limits,
            presigned_url_expiry: Some(Duration::from_secs(settings.presigned_url_expiry_s))
                .filter(|expiry| !expiry.is_zero()),
        })
    }

    /// The tonic server of this API, taking messages as large as a chunk
    /// (and its framing) even above the service's usual limit.
    pub(crate) fn server(self, max_message_bytes: usize) -> ArtifactServiceServer<Self> {
        let largest = max_message_bytes.max(self.limits.max_chunk_bytes) + MESSAGE_HEADROOM_BYTES;
        ArtifactServiceServer::new(self).max_decoding_message_size(largest)
    }
}

/// Returns the API's artifact of a stored event just appended.
pub(crate) fn artifact_of(stored: &ArtifactStored, at: SystemTime, uploaded_by: &str, sequence: u64) -> pb::Artifact {
    pb::Artifact {
        artifact_id: stored.artifact_id.clone(),
        tenant: stored.tenant.clone(),
        run_id: stored.run_id.clone(),
        step_id: stored.step_id.clone(),
        agent: stored.agent.clone(),
        agent_version: stored.agent_version.clone(),
        name: stored.name.clone(),
        media_type: stored.media_type.clone(),
        input_artifact_ids: stored.input_artifact_ids.clone(),
        retention: stored.retention,
        sha256: stored.sha256.clone(),
        blake3: stored.blake3.clone(),
        size_bytes: stored.size_bytes,
        storage_backend: stored.storage_backend.clone(),
        storage_uri: stored.storage_uri.clone(),
        stored_at: Some(at.into()),
        expires_at: stored.expires_at,
        expired: false,
        blob_status: BlobStatus::Stored as i32,
        uploaded_by: uploaded_by.to_owned(),
        sequence,
    }
}

impl IngestApi {
    /// Returns an artifact the caller may read; NOT_FOUND for one that
    /// does not exist and for another tenant's alike.
    pub(crate) async fn readable(
        &self,
        caller: &Principal,
        id: Uuid,
        min_sequence: u64,
    ) -> Result<ArtifactRow, IngestError> {
        self.reads.at(min_sequence).await?;
        let row = self.reads.bounded(async { Ok(view::artifact(&self.reads.pool, id).await?) }).await?;
        row.filter(|row| access::may_read(caller, &row.tenant))
            .ok_or_else(|| ApiError::NotFound(format!("no artifact {id}")).into())
    }

    async fn stat(&self, caller: Principal, request: pb::StatRequest) -> Result<pb::StatResponse, IngestError> {
        let mut checks = Checks::default();
        let id = checks.take(artifact_id("artifact_id", &request.artifact_id));
        checks.finish()?;
        let row = self.readable(&caller, id.expect("checked"), request.min_sequence).await?;
        let (download_url, download_url_expires_at) = match self.presigned_url(&row).await {
            Some((url, expires_at)) => (url, Some(expires_at.into())),
            None => (String::new(), None),
        };
        Ok(pb::StatResponse { artifact: Some(row.message()), download_url, download_url_expires_at })
    }

    /// Returns a presigned GET URL of the artifact's blob and when it
    /// expires, when configured, the backend hands one out, and the bytes
    /// may be served (not expired, deleted or known corrupted).
    async fn presigned_url(&self, row: &ArtifactRow) -> Option<(String, SystemTime)> {
        let expiry = self.presigned_url_expiry?;
        if row.expired || row.blob_status != "stored" && row.blob_status != "verified" {
            return None;
        }
        let backend = self.backends.get(&row.storage_backend)?;
        let expires_at = SystemTime::now() + expiry;
        let signed = async { backend.store().await?.presigned_get(&row.storage_key, expiry).await };
        match signed.await {
            Ok(url) => url.map(|url| {
                metrics::counter!("ingest_presigned_urls_total", "backend" => row.storage_backend.clone()).increment(1);
                (url, expires_at)
            }),
            Err(error) => {
                tracing::warn!(error = %error, backend = %row.storage_backend, "presigning a download failed");
                None
            }
        }
    }

    async fn list(&self, caller: Principal, request: pb::ListRequest) -> Result<pb::ListResponse, IngestError> {
        let mut checks = Checks::default();
        let tenant = checks.take(tenant("tenant", &request.tenant));
        let run_id = checks.take(optional_label("run_id", &request.run_id, 128));
        let name = checks.take(optional_label("name", &request.name, 1024));
        let below = checks.take(page_token(&request.page_token));
        let limit = checks.take(page_size(request.page_size));
        checks.finish()?;
        let (tenant, limit) = (tenant.expect("checked"), limit.expect("checked"));
        if !access::may_read(&caller, &tenant) {
            return Err(ApiError::PermissionDenied(format!(
                "only members of group {}{tenant} (or {}) list its artifacts",
                access::TENANT_GROUP_PREFIX,
                access::PLATFORM_TEAM
            ))
            .into());
        }
        self.reads.at(request.min_sequence).await?;
        let listing = Listing {
            tenant,
            run_id: run_id.flatten(),
            name: name.flatten(),
            include_expired: request.include_expired,
            below: below.flatten(),
            limit: i64::from(limit) + 1,
        };
        let mut rows = self.reads.bounded(async { Ok(view::list(&self.reads.pool, &listing).await?) }).await?;
        let next_page_token = next_page(&mut rows, limit, |row| row.created_sequence);
        Ok(pb::ListResponse { artifacts: rows.iter().map(ArtifactRow::message).collect(), next_page_token })
    }
}

#[tonic::async_trait]
impl ArtifactService for IngestApi {
    #[tracing::instrument(skip_all)]
    async fn upload(
        &self,
        request: Request<Streaming<pb::UploadRequest>>,
    ) -> Result<Response<pb::UploadResponse>, Status> {
        let caller = principal_of(&request)?;
        let outcome = IngestApi::upload(self, caller, request.into_inner()).await;
        let word = match &outcome {
            Ok(answer) if answer.already_stored => "deduplicated",
            Ok(_) => "stored",
            Err(IngestError::Api(
                ApiError::Invalid(_) | ApiError::PermissionDenied(_) | ApiError::FailedPrecondition(_),
            )) => "refused",
            Err(IngestError::Cancelled) => "cancelled",
            Err(_) => "failed",
        };
        metrics::counter!("ingest_uploads_total", "outcome" => word).increment(1);
        let answer = outcome?;
        let size = answer.artifact.as_ref().map_or(0, |artifact| artifact.size_bytes);
        metrics::counter!("ingest_upload_bytes_total").increment(size);
        Ok(Response::new(answer))
    }

    type DownloadStream = DownloadStream;

    #[tracing::instrument(skip_all)]
    async fn download(&self, request: Request<pb::DownloadRequest>) -> Result<Response<DownloadStream>, Status> {
        let caller = principal_of(&request)?;
        Ok(Response::new(IngestApi::download(self, caller, request.into_inner()).await?))
    }

    #[tracing::instrument(skip_all)]
    async fn stat(&self, request: Request<pb::StatRequest>) -> Result<Response<pb::StatResponse>, Status> {
        let caller = principal_of(&request)?;
        Ok(Response::new(IngestApi::stat(self, caller, request.into_inner()).await?))
    }

    #[tracing::instrument(skip_all)]
    async fn verify(&self, request: Request<pb::VerifyRequest>) -> Result<Response<pb::VerifyResponse>, Status> {
        let caller = principal_of(&request)?;
        Ok(Response::new(IngestApi::verify(self, caller, request.into_inner()).await?))
    }

    #[tracing::instrument(skip_all)]
    async fn write_run_manifest(
        &self,
        request: Request<pb::WriteRunManifestRequest>,
    ) -> Result<Response<pb::WriteRunManifestResponse>, Status> {
        let caller = principal_of(&request)?;
        Ok(Response::new(IngestApi::write_run_manifest(self, caller, request.into_inner()).await?))
    }

    #[tracing::instrument(skip_all)]
    async fn complete_run(
        &self,
        request: Request<pb::CompleteRunRequest>,
    ) -> Result<Response<pb::CompleteRunResponse>, Status> {
        let caller = principal_of(&request)?;
        Ok(Response::new(IngestApi::complete_run(self, caller, request.into_inner()).await?))
    }

    #[tracing::instrument(skip_all)]
    async fn list(&self, request: Request<pb::ListRequest>) -> Result<Response<pb::ListResponse>, Status> {
        let caller = principal_of(&request)?;
        Ok(Response::new(IngestApi::list(self, caller, request.into_inner()).await?))
    }
}
