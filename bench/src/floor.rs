//! The floor of the stack: a tonic service with intake's contract whose
//! `RequestDatabase` answers at once, doing nothing.

use gantry_proto::intake::{self as pb, intake_service_server::IntakeService};
use tonic::{Request, Response, Status};

#[derive(Debug, Clone, Copy)]
pub(crate) struct BareIntake;

fn unimplemented<T>() -> Result<Response<T>, Status> {
    Err(Status::unimplemented("the floor answers RequestDatabase only"))
}

#[tonic::async_trait]
impl IntakeService for BareIntake {
    async fn request_database(
        &self,
        request: Request<pb::RequestDatabaseRequest>,
    ) -> Result<Response<pb::RequestDatabaseResponse>, Status> {
        let message = request.into_inner();
        let database = gantry_proto::types::DatabaseSpec {
            database_name: message.database_name,
            username: message.username,
            owner: message.owner,
            requester: message.requester,
            environment: message.environment,
            domain: message.domain,
            risk: message.risk,
            size: message.size,
        };
        let request = pb::Request { spec: Some(pb::request::Spec::Database(database)), ..Default::default() };
        Ok(Response::new(pb::RequestDatabaseResponse { request: Some(request), sequence: 0 }))
    }

    async fn request_bucket(
        &self,
        _: Request<pb::RequestBucketRequest>,
    ) -> Result<Response<pb::RequestBucketResponse>, Status> {
        unimplemented()
    }

    async fn approve_request(
        &self,
        _: Request<pb::ApproveRequestRequest>,
    ) -> Result<Response<pb::ApproveRequestResponse>, Status> {
        unimplemented()
    }

    async fn reject_request(
        &self,
        _: Request<pb::RejectRequestRequest>,
    ) -> Result<Response<pb::RejectRequestResponse>, Status> {
        unimplemented()
    }

    async fn cancel_request(
        &self,
        _: Request<pb::CancelRequestRequest>,
    ) -> Result<Response<pb::CancelRequestResponse>, Status> {
        unimplemented()
    }

    async fn get_request(&self, _: Request<pb::GetRequestRequest>) -> Result<Response<pb::GetRequestResponse>, Status> {
        unimplemented()
    }

    async fn list_requests(
        &self,
        _: Request<pb::ListRequestsRequest>,
    ) -> Result<Response<pb::ListRequestsResponse>, Status> {
        unimplemented()
    }

    type WatchRequestStream = futures::stream::Empty<Result<pb::WatchRequestResponse, Status>>;

    async fn watch_request(
        &self,
        _: Request<pb::WatchRequestRequest>,
    ) -> Result<Response<Self::WatchRequestStream>, Status> {
        unimplemented()
    }

    async fn export_catalog(
        &self,
        _: Request<pb::ExportCatalogRequest>,
    ) -> Result<Response<pb::ExportCatalogResponse>, Status> {
        unimplemented()
    }

    async fn request_decommission(
        &self,
        _: Request<pb::RequestDecommissionRequest>,
    ) -> Result<Response<pb::RequestDecommissionResponse>, Status> {
        unimplemented()
    }
}
