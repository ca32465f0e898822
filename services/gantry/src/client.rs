//! The client commands: `gantry request ...` and `gantry catalog export`.
//! Every call carries the bearer token (checked here first, so a missing
//! one says how to get one); reads pass `--min-sequence` so they can see
//! a write the caller made.

use crate::cli::{BucketArgs, CatalogCommand, ClientArgs, DatabaseArgs, Environment, ListArgs, RequestCommand, Status};
use crate::failure::{Failure, TOKEN_HINT};
use crate::output::Printer;
use gantry_proto::intake::{self as pb, intake_service_client::IntakeServiceClient};
use gantry_proto::types;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// The intake client every command uses.
pub(crate) type Client = IntakeServiceClient<InterceptedService<Channel, Bearer>>;

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Clone)]
pub(crate) struct Bearer(MetadataValue<Ascii>);

impl std::fmt::Debug for Bearer {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Bearer(<redacted>)")
    }
}

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        request.metadata_mut().insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// Returns the `authorization` value of the token; a missing or empty
/// token (an empty `GANTRY_TOKEN` too) says how to set one.
fn bearer(token: Option<&str>) -> anyhow::Result<Bearer> {
    let token = token.map(str::trim).filter(|token| !token.is_empty());
    let Some(token) = token else {
        return Err(Failure::new("UNAUTHENTICATED", "no token: every call needs one").with_hint(TOKEN_HINT).into());
    };
    let value = format!("Bearer {token}").parse().map_err(|_| {
        Failure::new("UNAUTHENTICATED", "the token has characters a header cannot carry").with_hint(TOKEN_HINT)
    })?;
    Ok(Bearer(value))
}

/// Connects to intake, after checking there is a token to send.
pub(crate) async fn connect(args: &ClientArgs) -> anyhow::Result<Client> {
    let bearer = bearer(args.token.as_deref())?;
    let endpoint =
        gantry_runtime::grpc::client_endpoint(&args.server, args.ca_file.as_deref(), args.tls_domain.as_deref())
            .map_err(|error| Failure::new("INVALID_ARGUMENT", format!("invalid --server or --ca-file: {error:#}")))?;
    let channel = endpoint.connect().await.map_err(|error| {
        Failure::new("UNAVAILABLE", format!("cannot connect to {}: {}", args.server, error_chain(&error)))
            .with_hint("is the mesh running (scripts/dev-up.sh), and is --server / GANTRY_SERVER right?")
    })?;
    Ok(IntakeServiceClient::with_interceptor(channel, bearer))
}

/// Returns an error and its sources in one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

fn environment_number(environment: Option<Environment>) -> i32 {
    environment.map_or(0, |environment| types::Environment::from(environment) as i32)
}

/// Runs a `gantry request` command.
pub(crate) async fn request(args: &ClientArgs, command: RequestCommand) -> anyhow::Result<()> {
    let mut client = connect(args).await?;
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

/// Runs `gantry catalog export`.
pub(crate) async fn catalog(args: &ClientArgs, command: CatalogCommand) -> anyhow::Result<()> {
    let CatalogCommand::Export { format, environment, min_sequence } = command;
    let mut client = connect(args).await?;
    let message = pb::ExportCatalogRequest {
        format: pb::CatalogFormat::from(format) as i32,
        environment: environment_number(environment),
        min_sequence: min_sequence.unwrap_or(0),
    };
    let content = client.export_catalog(message).await?.into_inner().content;
    Printer::new(args.output).catalog(&content, format)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_empty_token_says_how_to_set_one() {
        for token in [None, Some(""), Some("   ")] {
            let failure = crate::failure::from_error(bearer(token).unwrap_err());
            assert_eq!(failure.code, "UNAUTHENTICATED");
            let text = failure.to_text();
            assert!(text.contains("GANTRY_TOKEN") && text.contains("--token"), "{text}");
            assert!(text.contains("gantry admin token create"), "{text}");
        }
        assert!(bearer(Some("gty_abc")).is_ok());
    }
}
