//! The `run-layouts` reactor: every run completion (`<prefix>.run.>`) gets
//! its browsable layout written, and `artifact.run_layout_written.v1`
//! recorded on the run's subject. `CompleteRun` writes the layout itself
//! too, for its answer; the reactor is what makes a completion whose
//! caller (or process) died before writing end with a layout all the same.
//! Writing is idempotent, so doing it twice is harmless. The completion
//! carries how many artifacts the view held for the run; the reactor
//! retries until its own view holds at least as many, so the layout
//! lists every artifact stored before the completion.

use crate::api::IngestApi;
use crate::blob_log::ingest_principal;
use crate::runs::{RUN, run_aggregate_id};
use futures::future::BoxFuture;
use gantry_eventlog::{NewEvent, ReactContext, ReactError, Reactor, RecordedEvent, Work};
use gantry_proto::events::envelope::Payload;
use gantry_proto::events::{RunCompleted, RunLayoutWritten};

/// The reactor's name: its consumer, position and work queue.
pub(crate) const NAME: &str = "run-layouts";

/// How the reactor retries: soon at first (the view is usually a moment
/// behind the completion), then up to a minute apart.
pub(crate) fn options() -> gantry_eventlog::ReactorOptions {
    gantry_eventlog::ReactorOptions {
        backoff_base: std::time::Duration::from_millis(200),
        backoff_cap: std::time::Duration::from_secs(60),
        max_attempts: 20,
        ..gantry_eventlog::ReactorOptions::default()
    }
}

/// Writes the layout of every completed run.
#[derive(Debug)]
pub(crate) struct RunLayouts {
    pub(crate) api: IngestApi,
    /// `<prefix>.run.>`.
    pub(crate) filter_subject: String,
}

fn retryable(error: impl Into<anyhow::Error>) -> ReactError {
    ReactError::retryable(format!("{:#}", error.into()))
}

impl RunLayouts {
    async fn write(&self, completed: &RunCompleted, context: &ReactContext) -> Result<(), ReactError> {
        let record = self.api.run_record(&completed.tenant, &completed.run_id).await.map_err(retryable)?;
        if (record.outputs.len() as u64) < completed.artifact_count {
            return Err(ReactError::retryable(format!(
                "the view holds {} of the run's {} artifacts yet",
                record.outputs.len(),
                completed.artifact_count
            )));
        }
        let files = self.api.write_layout(&record).await.map_err(retryable)?;
        let mut backends: Vec<String> = files.iter().map(|file| file.storage_backend.clone()).collect();
        backends.dedup();
        let written = RunLayoutWritten {
            tenant: completed.tenant.clone(),
            run_id: completed.run_id.clone(),
            files: (files.len() / backends.len().max(1)) as u32,
            storage_backends: backends,
            through_sequence: record.audit.last().map_or(0, |(sequence, _)| *sequence),
        };
        let event = NewEvent {
            aggregate_type: RUN,
            aggregate_id: run_aggregate_id(&completed.tenant, &completed.run_id),
            payload: Payload::RunLayoutWritten(written),
            actor: ingest_principal(),
            correlation_id: String::new(),
            causation_id: String::new(),
        };
        context.record("layout", event).await?;
        Ok(())
    }
}

impl Reactor for RunLayouts {
    fn name(&self) -> &str {
        NAME
    }

    fn filter_subject(&self) -> String {
        self.filter_subject.clone()
    }

    fn select(&self, event: &RecordedEvent) -> Option<String> {
        matches!(event.payload(), Some(Payload::RunCompleted(_))).then(|| event.envelope.aggregate_id.clone())
    }

    fn react<'a>(&'a self, work: &'a Work, context: &'a ReactContext) -> BoxFuture<'a, Result<(), ReactError>> {
        Box::pin(async move {
            match work.trigger.as_ref().and_then(RecordedEvent::payload) {
                Some(Payload::RunCompleted(completed)) => self.write(completed, context).await,
                _ => Err(ReactError::permanent("a layout is written for a run completion only")),
            }
        })
    }

    fn gave_up(&self, work: &Work, error: &ReactError) -> Option<NewEvent> {
        tracing::error!(run = %work.key, error = %error.reason, "a completed run's layout was not written; CompleteRun or WriteRunManifest writes it");
        None
    }
}
