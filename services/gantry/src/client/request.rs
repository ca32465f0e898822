//! `gantry request ...`: intake's commands; each prints the request it
//! answers with, `list` a page of them, `watch` its history.

use super::{environment_number, intake};
use crate::cli::{BucketArgs, ClientArgs, DatabaseArgs, ListArgs, RequestCommand, Status};
use crate::failure::Failure;
use crate::output::Printer;
use gantry_proto::intake as pb;
use gantry_proto::types;

/// Runs a `gantry request` command.
pub(crate) async fn request(args: &ClientArgs, command: RequestCommand) -> anyhow::Result<()> {
    let mut client = intake(args).await?;
    let printer = Printer::new(args.output);
    let request = match command {
        RequestCommand::Db(db) => client.request_database(database_message(db)).await?.into_inner().request,
        RequestCommand::Bucket(bucket) => client.request_bucket(bucket_message(bucket)).await?.into_inner().request,
        RequestCommand::Approve { id, comment } => {
            let message = pb::ApproveRequestRequest { request_id: id, comment: comment.unwrap_or_default() };
            client.approve_request(message).await?.into_inner().request
        }
        RequestCommand::Reject { id, reason } => {
            client.reject_request(pb::RejectRequestRequest { request_id: id, reason }).await?.into_inner().request
        }
        RequestCommand::Cancel { id, reason } => {
            let message = pb::CancelRequestRequest { request_id: id, reason: reason.unwrap_or_default() };
            client.cancel_request(message).await?.into_inner().request
        }
        RequestCommand::Show { id, min_sequence } => {
            let message = pb::GetRequestRequest { request_id: id, min_sequence: min_sequence.unwrap_or(0) };
            client.get_request(message).await?.into_inner().request
        }
        RequestCommand::List(list) => {
            printer.list(&client.list_requests(list_message(list)).await?.into_inner());
            return Ok(());
        }
        RequestCommand::Watch(watch) => return crate::watch::run(&mut client, watch, printer).await,
    };
    let request = request.ok_or_else(|| Failure::new("INTERNAL", "the server answered without the request"))?;
    printer.request(&request);
    Ok(())
}

fn database_message(db: DatabaseArgs) -> pb::RequestDatabaseRequest {
    pb::RequestDatabaseRequest {
        idempotency_key: db.idempotency_key.unwrap_or_default(),
        database_name: db.name,
        username: db.username.unwrap_or_default(),
        owner: db.owner,
        requester: db.requester,
        environment: environment_number(Some(db.environment)),
        domain: db.domain,
        risk: types::Risk::from(db.risk) as i32,
        size: types::Size::from(db.size) as i32,
    }
}

fn bucket_message(bucket: BucketArgs) -> pb::RequestBucketRequest {
    pb::RequestBucketRequest {
        idempotency_key: bucket.idempotency_key.unwrap_or_default(),
        bucket_name: bucket.name.unwrap_or_default(),
        purpose: types::BucketPurpose::from(bucket.purpose) as i32,
        environment: environment_number(Some(bucket.environment)),
        region: bucket.region,
        owner: bucket.owner,
        requester: bucket.requester,
        retention_days: bucket.retention_days.unwrap_or(0),
        kms_key_id: bucket.kms_key.unwrap_or_default(),
        replication_target: bucket.replication_target.unwrap_or_default(),
    }
}

fn list_message(list: ListArgs) -> pb::ListRequestsRequest {
    pb::ListRequestsRequest {
        status: list.status.map_or(0, |status: Status| pb::RequestStatus::from(status) as i32),
        environment: environment_number(list.environment),
        owner: list.owner.unwrap_or_default(),
        page_size: list.page_size,
        page_token: list.page_token.unwrap_or_default(),
        min_sequence: list.min_sequence.unwrap_or(0),
    }
}
