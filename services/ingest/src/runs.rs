//! Runs: `CompleteRun` records a run's completion on its own subject
//! (`<prefix>.run.<tenant>.<id>`, once: appended expecting the subject
//! empty), and both it and `WriteRunManifest` write the run's browsable
//! layout (`manifest`) from the events: the artifacts and audit lines the
//! view folded from the blobs' subjects, and the run's own events read
//! from its subject. No blob is copied.
//!
//! Where the layout goes: a tenant pinned to a backend has it there and
//! nowhere else; otherwise every backend that holds one of the run's
//! blobs gets the whole layout (so browsing any of them finds the run),
//! and a run with no artifact gets it on the default backend.

use crate::access;
use crate::api::IngestApi;
use crate::backend::Backend;
use crate::error::IngestError;
use crate::header::{label, tenant};
use crate::manifest::{Completion, RunRecord};
use crate::view;
use futures::StreamExt;
use gantry_eventlog::{AppendError, ExpectedSequence, NewEvent, RecordedEvent};
use gantry_proto::artifacts::{
    CompleteRunRequest, CompleteRunResponse, RunFile, WriteRunManifestRequest, WriteRunManifestResponse,
};
use gantry_proto::events::RunCompleted;
use gantry_proto::events::envelope::Payload;
use gantry_proto::types::Principal;
use gantry_service::api::{ApiError, Checks};
use uuid::Uuid;

/// The aggregate type of a run's own events.
pub(crate) const RUN: &str = "run";

/// The aggregate id of `run_id` of `tenant`: run ids are free labels, so
/// the subject carries a UUIDv5 of them.
pub(crate) fn run_aggregate_id(tenant: &str, run_id: &str) -> String {
    let id = Uuid::new_v5(&Uuid::NAMESPACE_OID, format!("gantry-run/{tenant}/{run_id}").as_bytes());
    format!("{tenant}.{}", id.simple())
}

/// Checks a request's tenant and run id.
fn run_of(tenant_field: &str, run_field: &str) -> Result<(String, String), ApiError> {
    let mut checks = Checks::default();
    let tenant = checks.take(tenant("tenant", tenant_field));
    let run_id = checks.take(label("run_id", run_field, 128));
    checks.finish()?;
    Ok((tenant.expect("checked"), run_id.expect("checked")))
}

fn unavailable(error: anyhow::Error) -> IngestError {
    tracing::warn!(error = format!("{error:#}"), "reading a run's events failed");
    ApiError::Unavailable("the event log did not answer; retry".into()).into()
}

/// The run's completion, from its subject's events.
fn completion_of(events: &[RecordedEvent]) -> Option<(u64, Completion)> {
    events.iter().find(|event| matches!(event.payload(), Some(Payload::RunCompleted(_)))).map(|event| {
        let at = event.envelope.occurred_at.map(|at| at.to_string()).unwrap_or_default();
        (event.sequence, Completion { at, by: event.actor().subject })
    })
}

impl IngestApi {
    /// `WriteRunManifest`: see the module docs.
    pub(crate) async fn write_run_manifest(
        &self,
        caller: Principal,
        request: WriteRunManifestRequest,
    ) -> Result<WriteRunManifestResponse, IngestError> {
        let (tenant, run_id) = run_of(&request.tenant, &request.run_id)?;
        if !access::may_read(&caller, &tenant) {
            return Err(ApiError::PermissionDenied(format!(
                "only members of group {}{tenant} (or {}) write its runs' manifests",
                access::TENANT_GROUP_PREFIX,
                access::PLATFORM_TEAM
            ))
            .into());
        }
        self.reads.at(request.min_sequence).await?;
        let record = self.run_record(&tenant, &run_id).await?;
        if record.outputs.is_empty() && record.completion.is_none() {
            return Err(ApiError::NotFound(format!("tenant {tenant} has no run {run_id:?}")).into());
        }
        let files = self.write_layout(&record).await?;
        Ok(WriteRunManifestResponse { files, artifact_count: record.outputs.len() as u32 })
    }

    /// `CompleteRun`: see the module docs.
    pub(crate) async fn complete_run(
        &self,
        caller: Principal,
        request: CompleteRunRequest,
    ) -> Result<CompleteRunResponse, IngestError> {
        let (tenant, run_id) = run_of(&request.tenant, &request.run_id)?;
        if !access::may_write(&caller, &tenant) {
            return Err(ApiError::PermissionDenied(format!(
                "only members of group {}{tenant} complete its runs",
                access::TENANT_GROUP_PREFIX
            ))
            .into());
        }
        self.reads.at(request.min_sequence).await?;
        let aggregate_id = run_aggregate_id(&tenant, &run_id);
        let already_completed = !self.record_completion(caller, &tenant, &run_id).await?;
        let record = self.run_record(&tenant, &run_id).await?;
        let files = self.write_layout(&record).await?;
        let events = self.log.load(RUN, &aggregate_id).await.map_err(unavailable)?.events;
        let (sequence, completion) =
            completion_of(&events).ok_or_else(|| unavailable(anyhow::anyhow!("the completion vanished")))?;
        let completed_at =
            events.iter().find(|event| event.sequence == sequence).and_then(|event| event.envelope.occurred_at);
        Ok(CompleteRunResponse { already_completed, sequence, completed_at, completed_by: completion.by, files })
    }

    /// Appends the run's completion unless it is there; returns whether
    /// this call appended it (a concurrent call may win: its completion stands).
    async fn record_completion(&self, caller: Principal, tenant: &str, run_id: &str) -> Result<bool, IngestError> {
        let aggregate_id = run_aggregate_id(tenant, run_id);
        let aggregate = self.log.load(RUN, &aggregate_id).await.map_err(unavailable)?;
        if completion_of(&aggregate.events).is_some() {
            return Ok(false);
        }
        let artifacts = self.reads.bounded(async { Ok(view::run_artifacts(&self.reads.pool, tenant, run_id).await?) });
        let artifact_count = artifacts.await?.len() as u64;
        let completed = RunCompleted { tenant: tenant.to_owned(), run_id: run_id.to_owned(), artifact_count };
        let event = NewEvent {
            aggregate_type: RUN,
            aggregate_id,
            payload: Payload::RunCompleted(completed),
            actor: caller,
            correlation_id: Uuid::now_v7().to_string(),
            causation_id: String::new(),
        };
        match self.log.append(event, ExpectedSequence::after(aggregate.last_sequence)).await {
            Ok(_) => Ok(true),
            Err(AppendError::Conflict { .. }) => Ok(false),
            Err(AppendError::Unavailable(error)) => Err(unavailable(error)),
        }
    }

    /// Gathers what the run's layout is written from.
    pub(crate) async fn run_record(&self, tenant: &str, run_id: &str) -> Result<RunRecord, IngestError> {
        let pool = &self.reads.pool;
        let outputs = self.reads.bounded(async { Ok(view::run_artifacts(pool, tenant, run_id).await?) }).await?;
        let mut input_ids: Vec<Uuid> = outputs.iter().flat_map(|row| row.inputs.iter().copied()).collect();
        input_ids.sort_unstable();
        input_ids.dedup();
        let inputs = self.reads.bounded(async { Ok(view::artifacts_by_id(pool, &input_ids, tenant).await?) }).await?;
        let lines = self.reads.bounded(async { Ok(view::run_audit_lines(pool, tenant, run_id).await?) }).await?;
        let run_events = self.log.load(RUN, &run_aggregate_id(tenant, run_id)).await.map_err(unavailable)?.events;
        let mut audit: Vec<(u64, String)> = lines.into_iter().map(|(sequence, line)| (sequence as u64, line)).collect();
        audit.extend(run_events.iter().filter_map(|event| Some((event.sequence, crate::audit::line(event)?))));
        audit.sort_by_key(|(sequence, _)| *sequence);
        let completion = completion_of(&run_events).map(|(_, completion)| completion);
        Ok(RunRecord { tenant: tenant.to_owned(), run_id: run_id.to_owned(), outputs, inputs, completion, audit })
    }

    /// Returns the backends a run's layout goes to (see the module docs).
    fn layout_backends(&self, record: &RunRecord) -> Result<Vec<&Backend>, IngestError> {
        let router = self.backends.router();
        if let Some(pinned) = router.pinned(&record.tenant) {
            return Ok(vec![self.backends.named(pinned)?]);
        }
        let mut names: Vec<&str> = record.outputs.iter().map(|row| row.storage_backend.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        if names.is_empty() {
            names.push(router.default_backend());
        }
        Ok(names.into_iter().map(|name| self.backends.named(name)).collect::<Result<_, _>>()?)
    }

    /// Writes every document of the layout to each of its backends.
    pub(crate) async fn write_layout(&self, record: &RunRecord) -> Result<Vec<RunFile>, IngestError> {
        let documents = record.documents();
        let mut files = Vec::new();
        for backend in self.layout_backends(record)? {
            let store = backend.store().await?;
            for document in &documents {
                let chunks = futures::stream::iter([Ok(document.bytes.clone())]).boxed();
                store.put(&document.key, chunks).await?;
                let (storage_backend, key) = (backend.name().to_owned(), document.key.clone());
                files.push(RunFile { storage_backend, uri: backend.uri(&key), key });
            }
        }
        metrics::counter!("ingest_run_layouts_written_total").increment(1);
        tracing::info!(tenant = %record.tenant, run_id = %record.run_id, files = files.len(), "run layout written");
        Ok(files)
    }
}
