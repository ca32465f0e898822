//! The intake gRPC service: thin methods that parse the message, run a
//! command or a query, and answer.

use crate::catalog;
use crate::commands::{Caller, Commands, Outcome};
use crate::convert;
use crate::domain::validate::check_idempotency_key;
use crate::domain::{
    DecommissionForm, RequestState, ResourceSpec, TEXT_MAX_BYTES, Violations, check_text, decide_approve,
    decide_cancel, decide_reject, decide_request_decommission, evolve, is_void,
};
use crate::error::Error;
use crate::view::{self, ListFilter, VIEW_NAME};
use futures::StreamExt as _;
use futures::stream::BoxStream;
use gantry_eventlog::{FollowError, RecordedEvent, Tail};
use gantry_proto::intake as pb;
use gantry_runtime::grpc::page;
use gantry_runtime::{Shutdown, principal_of};
use gantry_service::{Readiness, ViewNotReady};
use sqlx::PgPool;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use uuid::Uuid;

/// The intake API over the log and the view.
#[derive(Debug, Clone)]
pub(crate) struct IntakeApi {
    pub(crate) commands: Commands,
    pub(crate) pool: PgPool,
    /// Whether the schema is migrated (reads answer UNAVAILABLE before).
    pub(crate) readiness: Readiness,
    pub(crate) read_wait: Duration,
    /// The live end of the request subjects, shared by every watch.
    pub(crate) tail: Tail,
    /// Ends open watches, so a graceful stop does not wait on them.
    pub(crate) shutdown: Shutdown,
}

fn caller<T>(request: &Request<T>) -> Result<Caller, Status> {
    Ok(Caller::new(principal_of(request)?))
}

fn answer(outcome: Outcome) -> (Option<pb::Request>, u64) {
    (Some(convert::request(&outcome.state)), outcome.sequence)
}

/// Joins the idempotency key's check to a form's checks.
fn with_key<T>(key: &str, spec: Result<T, Violations>) -> Result<T, Error> {
    let mut violations = Violations::default();
    violations.check("idempotency_key", check_idempotency_key(key));
    match spec {
        Ok(spec) if violations.0.is_empty() => Ok(spec),
        Ok(_) => Err(violations.into()),
        Err(more) => {
            violations.0.extend(more.0);
            Err(violations.into())
        }
    }
}

/// Parses a request id and a free-text field, reporting both at once.
fn id_and_text(id: &str, field: &str, text: &str, required: bool) -> Result<Uuid, Error> {
    let mut violations = Violations::default();
    let parsed = convert::request_id(id);
    violations.check("request_id", parsed.as_ref().map(|_| ()).map_err(Clone::clone));
    violations.check(field, check_text(text, TEXT_MAX_BYTES, required));
    violations.into_result(|| ())?;
    Ok(parsed.expect("checked"))
}

/// Parses a request id. A bad one is reported with every violation of the
/// decommission form that can be found without the request (the form is
/// checked in full, its confirmation included, once the request is read).
fn id_and_form(id: &str, form: &DecommissionForm) -> Result<Uuid, Error> {
    let description = match convert::request_id(id) {
        Ok(id) => return Ok(id),
        Err(description) => description,
    };
    let mut violations = Violations::default();
    violations.check("request_id", Err(description));
    if let Err(more) = form.validate(None) {
        violations.0.extend(more.0);
    }
    Err(violations.into())
}

impl IntakeApi {
    /// Bounds a read of the view: a Postgres that stops answering (rather
    /// than refusing) answers UNAVAILABLE after the read wait and a second,
    /// instead of holding the call until TCP gives up.
    async fn bounded<T>(&self, read: impl std::future::Future<Output = Result<T, Error>>) -> Result<T, Error> {
        let bound = self.read_wait + Duration::from_secs(1);
        tokio::time::timeout(bound, read).await.unwrap_or(Err(Error::ViewUnavailable))
    }

    /// Waits until the view has applied `min_sequence` (none: at once);
    /// fails UNAVAILABLE while the view cannot be read.
    async fn wait_for(&self, min_sequence: u64) -> Result<(), Error> {
        self.readiness.view_at(&self.pool, VIEW_NAME, min_sequence, self.read_wait).await.map_err(|error| match error {
            ViewNotReady::Unavailable => Error::ViewUnavailable,
            ViewNotReady::Behind(sequence) => Error::NotCaughtUp(sequence),
            ViewNotReady::Failed(cause) => Error::Unexpected(cause),
        })
    }

    /// Reads one request: from the view when it has applied the request's
    /// events up to `min_sequence`, otherwise from the log, so a request
    /// just acknowledged is found before the view has caught up.
    async fn inner_get(&self, id: Uuid, min_sequence: u64) -> Result<Option<RequestState>, Error> {
        if !self.readiness.is_ready() {
            return Err(Error::ViewUnavailable);
        }
        match view::get(&self.pool, id).await? {
            Some(state) if state.sequence >= min_sequence => Ok(Some(state)),
            _ => {
                metrics::counter!("intake_reads_from_log_total").increment(1);
                Ok(self.commands.load(&id.to_string()).await?.0.into_request())
            }
        }
    }

    async fn inner_list(&self, message: pb::ListRequestsRequest) -> Result<pb::ListRequestsResponse, Error> {
        let page_size =
            page::size(message.page_size).map_err(|error| Error::invalid("page_size", error.to_string()))?;
        let owner = Some(message.owner).filter(|owner| !owner.is_empty());
        if let Some(owner) = &owner {
            check_text(owner, 63, false).map_err(|description| Error::invalid("owner", description))?;
        }
        let filter = ListFilter {
            status: convert::status_filter(message.status)?,
            environment: convert::environment_filter(message.environment)?,
            owner,
            created_before: convert::parse_page_token(&message.page_token)?,
            limit: page_size + 1,
        };
        self.wait_for(message.min_sequence).await?;
        let mut states = view::list(&self.pool, &filter).await?;
        let next_page_token = if states.len() > page_size as usize {
            states.truncate(page_size as usize);
            states.last().map(|last| page::token(last.created_sequence)).unwrap_or_default()
        } else {
            String::new()
        };
        Ok(pb::ListRequestsResponse { requests: states.iter().map(convert::request).collect(), next_page_token })
    }

    async fn inner_export(&self, message: pb::ExportCatalogRequest) -> Result<String, Error> {
        let format = pb::CatalogFormat::try_from(message.format).unwrap_or(pb::CatalogFormat::Unspecified);
        let environment = convert::environment_filter(message.environment)?;
        if format == pb::CatalogFormat::Unspecified {
            return Err(Error::invalid("format", "required; RDS_CATALOG or BACKSTAGE"));
        }
        self.wait_for(message.min_sequence).await?;
        let states = view::databases(&self.pool, environment).await?;
        Ok(match format {
            pb::CatalogFormat::Backstage => catalog::backstage_entities(&states)?,
            _ => catalog::rds_catalog(&states)?,
        })
    }

    /// Streams the request's state on every status change, ending at a
    /// terminal status: its history from the log, then its new events
    /// from the shared tail.
    async fn inner_watch(&self, id: Uuid) -> Result<ReceiverStream<Result<pb::WatchRequestResponse, Status>>, Error> {
        let id = id.to_string();
        let log = self.commands.log();
        let last = log.last("request", &id).await.map_err(Error::Unavailable)?;
        let voided = last.as_ref().and_then(|(_, event)| event.as_ref()).is_some_and(is_void);
        if last.is_none() || voided {
            return Err(crate::domain::DomainError::NotFound(id).into());
        }
        let history_end = last.map_or(0, |(sequence, _)| sequence);
        let events = self.tail.follow("request", &id).await.map_err(|error| Error::Unavailable(error.into()))?;
        let (sender, receiver) = tokio::sync::mpsc::channel(16);
        tokio::spawn(forward_changes(id, history_end, events, sender, self.shutdown.clone()));
        Ok(ReceiverStream::new(receiver))
    }
}

/// Sends the request's state on every change of status or approvals until
/// a terminal status as of the log's end, the client leaving, or shutdown
/// (which ends it with UNAVAILABLE). The event at `history_end` (the last
/// before the call) is always sent, marked `caught_up` like everything
/// after it.
async fn forward_changes(
    id: String,
    history_end: u64,
    mut events: BoxStream<'static, Result<RecordedEvent, FollowError>>,
    sender: mpsc::Sender<Result<pb::WatchRequestResponse, Status>>,
    shutdown: Shutdown,
) {
    let shutdown = shutdown.wait();
    tokio::pin!(shutdown);
    let mut state: Option<RequestState> = None;
    let mut caught_up = false;
    loop {
        let event = tokio::select! {
            _ = &mut shutdown => {
                // A client that stopped reading must not hold the stop up.
                let _ = sender.try_send(Err(Status::unavailable("server shutting down; watch again")));
                return;
            }
            _ = sender.closed() => return,
            event = events.next() => match event {
                Some(event) => event,
                None => return,
            },
        };
        let event = match event {
            Ok(event) => event,
            Err(error) => {
                // A watch that cannot keep up is cut off, not buffered.
                let status = match error {
                    FollowError::FellBehind(_) => Status::resource_exhausted(error.to_string()),
                    FollowError::Stopped | FollowError::Unavailable(_) => {
                        Status::unavailable("watch interrupted; watch again")
                    }
                };
                tracing::info!(request_id = %id, error = %error, "watch ended");
                let _ = sender.try_send(Err(status));
                return;
            }
        };
        let next = match evolve(state.clone(), &event) {
            Ok(next) => next,
            Err(reason) => {
                tracing::warn!(request_id = %id, reason, "watch stopped");
                let _ = sender.try_send(Err(Status::internal("watch interrupted")));
                return;
            }
        };
        let changed = state
            .as_ref()
            .is_none_or(|previous| previous.status != next.status || previous.approvals.len() != next.approvals.len());
        let reaches_the_present = !caught_up && event.sequence >= history_end;
        caught_up |= reaches_the_present;
        if changed || reaches_the_present {
            let message = pb::WatchRequestResponse { request: Some(convert::request(&next)), caught_up };
            let sent = tokio::select! {
                _ = &mut shutdown => {
                    let _ = sender.try_send(Err(Status::unavailable("server shutting down; watch again")));
                    return;
                }
                sent = sender.send(Ok(message)) => sent,
            };
            if sent.is_err() {
                return;
            }
        }
        // A request can leave a resting status (a ready database asked to
        // be decommissioned): the past is replayed to its end before that
        // counts.
        if caught_up && next.status.is_terminal() {
            return;
        }
        state = Some(next);
    }
}

#[tonic::async_trait]
impl pb::intake_service_server::IntakeService for IntakeApi {
    #[tracing::instrument(skip_all)]
    async fn request_database(
        &self,
        request: Request<pb::RequestDatabaseRequest>,
    ) -> Result<Response<pb::RequestDatabaseResponse>, Status> {
        let caller = caller(&request)?;
        let message = request.into_inner();
        let spec = with_key(&message.idempotency_key, convert::database_form(&message).validate())?;
        let outcome = self.commands.submit(ResourceSpec::Database(spec), &message.idempotency_key, &caller).await?;
        let (request, sequence) = answer(outcome);
        Ok(Response::new(pb::RequestDatabaseResponse { request, sequence }))
    }

    #[tracing::instrument(skip_all)]
    async fn request_bucket(
        &self,
        request: Request<pb::RequestBucketRequest>,
    ) -> Result<Response<pb::RequestBucketResponse>, Status> {
        let caller = caller(&request)?;
        let message = request.into_inner();
        let spec = with_key(&message.idempotency_key, convert::bucket_form(&message).validate())?;
        let outcome = self.commands.submit(ResourceSpec::Bucket(spec), &message.idempotency_key, &caller).await?;
        let (request, sequence) = answer(outcome);
        Ok(Response::new(pb::RequestBucketResponse { request, sequence }))
    }

    #[tracing::instrument(skip_all)]
    async fn approve_request(
        &self,
        request: Request<pb::ApproveRequestRequest>,
    ) -> Result<Response<pb::ApproveRequestResponse>, Status> {
        let caller = caller(&request)?;
        let message = request.into_inner();
        let id = id_and_text(&message.request_id, "comment", &message.comment, false)?.to_string();
        let approver = caller.principal.clone();
        let decide = |state: Option<&RequestState>| decide_approve(state, &id, &approver, &message.comment);
        let (request, sequence) = answer(self.commands.execute(&id, &caller, decide).await?);
        Ok(Response::new(pb::ApproveRequestResponse { request, sequence }))
    }

    #[tracing::instrument(skip_all)]
    async fn reject_request(
        &self,
        request: Request<pb::RejectRequestRequest>,
    ) -> Result<Response<pb::RejectRequestResponse>, Status> {
        let caller = caller(&request)?;
        let message = request.into_inner();
        let id = id_and_text(&message.request_id, "reason", &message.reason, true)?.to_string();
        let reviewer = caller.principal.clone();
        let decide = |state: Option<&RequestState>| decide_reject(state, &id, &reviewer, &message.reason);
        let (request, sequence) = answer(self.commands.execute(&id, &caller, decide).await?);
        Ok(Response::new(pb::RejectRequestResponse { request, sequence }))
    }

    #[tracing::instrument(skip_all)]
    async fn cancel_request(
        &self,
        request: Request<pb::CancelRequestRequest>,
    ) -> Result<Response<pb::CancelRequestResponse>, Status> {
        let caller = caller(&request)?;
        let message = request.into_inner();
        let id = id_and_text(&message.request_id, "reason", &message.reason, false)?.to_string();
        let actor = caller.principal.clone();
        let decide = |state: Option<&RequestState>| decide_cancel(state, &id, &actor, &message.reason);
        let (request, sequence) = answer(self.commands.execute(&id, &caller, decide).await?);
        Ok(Response::new(pb::CancelRequestResponse { request, sequence }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_request(
        &self,
        request: Request<pb::GetRequestRequest>,
    ) -> Result<Response<pb::GetRequestResponse>, Status> {
        principal_of(&request)?;
        let message = request.into_inner();
        let id = convert::request_id(&message.request_id)
            .map_err(|description| Error::invalid("request_id", description))?;
        let state = self.bounded(self.inner_get(id, message.min_sequence)).await?;
        let state = state.ok_or_else(|| Error::from(crate::domain::DomainError::NotFound(id.to_string())))?;
        Ok(Response::new(pb::GetRequestResponse { request: Some(convert::request(&state)) }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_requests(
        &self,
        request: Request<pb::ListRequestsRequest>,
    ) -> Result<Response<pb::ListRequestsResponse>, Status> {
        principal_of(&request)?;
        Ok(Response::new(self.bounded(self.inner_list(request.into_inner())).await?))
    }

    type WatchRequestStream = ReceiverStream<Result<pb::WatchRequestResponse, Status>>;

    #[tracing::instrument(skip_all)]
    async fn watch_request(
        &self,
        request: Request<pb::WatchRequestRequest>,
    ) -> Result<Response<Self::WatchRequestStream>, Status> {
        principal_of(&request)?;
        let message = request.into_inner();
        let id = convert::request_id(&message.request_id)
            .map_err(|description| Error::invalid("request_id", description))?;
        Ok(Response::new(self.inner_watch(id).await?))
    }

    #[tracing::instrument(skip_all)]
    async fn export_catalog(
        &self,
        request: Request<pb::ExportCatalogRequest>,
    ) -> Result<Response<pb::ExportCatalogResponse>, Status> {
        principal_of(&request)?;
        let content = self.bounded(self.inner_export(request.into_inner())).await?;
        Ok(Response::new(pb::ExportCatalogResponse { content }))
    }

    #[tracing::instrument(skip_all)]
    async fn request_decommission(
        &self,
        request: Request<pb::RequestDecommissionRequest>,
    ) -> Result<Response<pb::RequestDecommissionResponse>, Status> {
        let caller = caller(&request)?;
        let message = request.into_inner();
        let form = convert::decommission_form(&message);
        let id = id_and_form(&message.request_id, &form)?.to_string();
        let actor = caller.principal.clone();
        let decide = |state: Option<&RequestState>| decide_request_decommission(state, &id, &actor, &form);
        let (request, sequence) = answer(self.commands.execute(&id, &caller, decide).await?);
        Ok(Response::new(pb::RequestDecommissionResponse { request, sequence }))
    }
}
