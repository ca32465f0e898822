//! The `gantry.events.v1.EventService`: `Watch` over the caller's
//! [`Watches`](crate::watch::Watches).

use crate::filter::AskedFilter;
use crate::watch::{Watched, Watches};
use futures::StreamExt as _;
use futures::stream::BoxStream;
use gantry_eventlog::StartAt;
use gantry_proto::events::event_service_server::EventService;
use gantry_proto::events::{WatchRequest, WatchResponse, watch_request};
use gantry_runtime::principal_of;
use gantry_service::api::ApiError;
use std::time::SystemTime;
use tonic::{Request, Response, Status};

/// The event service.
#[derive(Debug, Clone)]
pub(crate) struct EventApi {
    pub(crate) watches: Watches,
}

/// Returns the response of one watched event.
pub(crate) fn response(event: Watched) -> WatchResponse {
    WatchResponse {
        sequence: event.sequence,
        subject: event.subject,
        envelope: Some(event.envelope),
        environment: event.scope.environment,
        tenant: event.scope.tenant,
    }
}

fn asked(request: WatchRequest) -> Result<AskedFilter, ApiError> {
    let start = match request.start {
        None => None,
        Some(watch_request::Start::FromSequence(sequence)) => Some(StartAt::Sequence(sequence)),
        Some(watch_request::Start::Since(since)) => match SystemTime::try_from(since) {
            Ok(time) => Some(StartAt::Time(time)),
            Err(_) => return Err(ApiError::Invalid(vec![("since".into(), "not a valid time".into())])),
        },
    };
    Ok(AskedFilter {
        start,
        event_types: request.event_types,
        aggregate_types: request.aggregate_types,
        environments: request.environments,
        tenants: request.tenants,
    })
}

#[tonic::async_trait]
impl EventService for EventApi {
    type WatchStream = BoxStream<'static, Result<WatchResponse, Status>>;

    #[tracing::instrument(skip_all)]
    async fn watch(&self, request: Request<WatchRequest>) -> Result<Response<Self::WatchStream>, Status> {
        let caller = principal_of(&request)?;
        let filter = asked(request.into_inner())?.check()?;
        let events =
            self.watches.start(caller, filter).map_err(|refused| Status::resource_exhausted(refused.to_string()))?;
        let responses =
            events.map(|event| event.map(response).map_err(|end| Status::resource_exhausted(end.to_string())));
        Ok(Response::new(responses.boxed()))
    }
}
