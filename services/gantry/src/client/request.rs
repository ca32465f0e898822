//! `gantry request ...`: intake's commands; each prints the request it
//! answers with, `list` a page of them, `watch` its history.

use super::{environment_number, intake};
use crate::cli::{BucketArgs, ClientArgs, DatabaseArgs, DecommissionArgs, ListArgs, RequestCommand, Status};
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
        RequestCommand::Decommission(decommission) => {
            client.request_decommission(decommission_message(decommission)).await?.into_inner().request
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

/// Returns the decommission message: the secret is deleted (with the
/// recovery window given, or intake's default) unless it is retained.
fn decommission_message(decommission: DecommissionArgs) -> pb::RequestDecommissionRequest {
    let secret_policy = match decommission.retain_secret {
        true => types::SecretDeletionPolicy::Retain,
        false => types::SecretDeletionPolicy::Delete,
    };
    pb::RequestDecommissionRequest {
        request_id: decommission.id,
        confirm_name: decommission.confirm,
        reason: decommission.reason,
        secret_policy: secret_policy as i32,
        recovery_window_days: decommission.recovery_window.unwrap_or(0),
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    fn decommission(extra: &[&str]) -> pb::RequestDecommissionRequest {
        let mut words = vec!["gantry", "request", "decommission", "r1", "--confirm", "orders", "--reason", "gone"];
        words.extend(extra);
        let cli = crate::cli::Cli::try_parse_from(words).unwrap();
        let crate::cli::Command::Request(RequestCommand::Decommission(args)) = cli.command else { panic!() };
        decommission_message(args)
    }

    #[test]
    fn a_decommission_deletes_the_secret_unless_it_is_retained() {
        let message = decommission(&[]);
        assert_eq!((message.confirm_name.as_str(), message.reason.as_str()), ("orders", "gone"));
        assert_eq!(message.secret_policy, types::SecretDeletionPolicy::Delete as i32);
        assert_eq!(message.recovery_window_days, 0, "intake's default window");
        assert_eq!(decommission(&["--recovery-window", "7"]).recovery_window_days, 7);
        let retained = decommission(&["--retain-secret"]);
        assert_eq!(retained.secret_policy, types::SecretDeletionPolicy::Retain as i32);
        let both = ["gantry", "request", "decommission", "r1", "--confirm", "o", "--reason", "r", "--retain-secret"];
        let error = crate::cli::Cli::try_parse_from([&both[..], &["--recovery-window", "7"]].concat()).unwrap_err();
        assert_eq!(error.kind(), clap::error::ErrorKind::ArgumentConflict);
    }
}
