//! The client commands: `gantry request ...` and `gantry catalog export`.

use crate::cli::{CatalogCommand, ClientArgs, ListArgs, RequestCommand};
use crate::output::{Printer, describe_status};
use anyhow::Context as _;
use futures::StreamExt as _;
use gantry_proto::intake::{self as pb, intake_service_client::IntakeServiceClient};
use gantry_proto::types;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

type Client = IntakeServiceClient<InterceptedService<Channel, Bearer>>;

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Clone)]
pub(crate) struct Bearer(Option<MetadataValue<tonic::metadata::Ascii>>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request.metadata_mut().insert("authorization", value.clone());
        }
        Ok(request)
    }
}

async fn connect(args: &ClientArgs) -> anyhow::Result<Client> {
    let channel =
        gantry_runtime::grpc::client_endpoint(&args.server, args.ca_file.as_deref(), args.tls_domain.as_deref())
            .context("invalid --server or --ca-file")?
            .connect()
            .await
            .with_context(|| format!("connecting to {}", args.server))?;
    let bearer = match &args.token {
        Some(token) => Some(format!("Bearer {token}").parse().context("the token is not valid header text")?),
        None => None,
    };
    Ok(IntakeServiceClient::with_interceptor(channel, Bearer(bearer)))
}

/// Maps a word (`prod`, `backend-state`) to a protobuf enum number; 0 when
/// unknown, so the server reports it with the valid choices.
fn enum_number(prefix: &str, word: &str, from_name: impl Fn(&str) -> Option<i32>) -> i32 {
    from_name(&format!("{prefix}_{}", word.to_uppercase().replace('-', "_"))).unwrap_or(0)
}

fn environment(word: &str) -> i32 {
    enum_number("ENVIRONMENT", word, |name| types::Environment::from_str_name(name).map(|value| value as i32))
}

pub(crate) async fn request(args: &ClientArgs, command: RequestCommand) -> anyhow::Result<()> {
    let mut client = connect(args).await?;
    let printer = Printer::new(args.output);
    let result = match command {
        RequestCommand::Db(db) => {
            let message = pb::RequestDatabaseRequest {
                idempotency_key: db.idempotency_key,
                database_name: db.name,
                username: db.username,
                owner: db.owner,
                requester: db.requester,
                environment: environment(&db.environment),
                domain: db.domain,
                risk: enum_number("RISK", &db.risk, |n| types::Risk::from_str_name(n).map(|v| v as i32)),
                size: enum_number("SIZE", &db.size, |n| types::Size::from_str_name(n).map(|v| v as i32)),
            };
            client.request_database(message).await.map(|r| printer.request(r.into_inner().request))
        }
        RequestCommand::Bucket(bucket) => {
            let purpose = enum_number("BUCKET_PURPOSE", &bucket.purpose, |n| {
                types::BucketPurpose::from_str_name(n).map(|v| v as i32)
            });
            let message = pb::RequestBucketRequest {
                idempotency_key: bucket.idempotency_key,
                bucket_name: bucket.name,
                purpose,
                environment: environment(&bucket.environment),
                region: bucket.region,
                owner: bucket.owner,
                requester: bucket.requester,
                retention_days: bucket.retention_days,
                kms_key_id: bucket.kms_key,
                replication_target: bucket.replication_target,
            };
            client.request_bucket(message).await.map(|r| printer.request(r.into_inner().request))
        }
        RequestCommand::Approve { id, comment } => client
            .approve_request(pb::ApproveRequestRequest { request_id: id, comment })
            .await
            .map(|r| printer.request(r.into_inner().request)),
        RequestCommand::Reject { id, reason } => client
            .reject_request(pb::RejectRequestRequest { request_id: id, reason })
            .await
            .map(|r| printer.request(r.into_inner().request)),
        RequestCommand::Cancel { id, reason } => client
            .cancel_request(pb::CancelRequestRequest { request_id: id, reason })
            .await
            .map(|r| printer.request(r.into_inner().request)),
        RequestCommand::Show { id } => client
            .get_request(pb::GetRequestRequest { request_id: id, min_sequence: 0 })
            .await
            .map(|r| printer.request(r.into_inner().request)),
        RequestCommand::List(list) => {
            printer.list(list_requests(&mut client, list).await?);
            return Ok(());
        }
        RequestCommand::Watch { id } => return watch(&mut client, id, &printer).await,
    };
    result.map_err(describe_status)
}

/// Maps a filter word to its enum number; an unknown word is an error (a
/// typo must not silently widen a filter to "all").
fn filter(what: &str, word: Option<&str>, to_number: impl Fn(&str) -> i32) -> anyhow::Result<i32> {
    match word {
        None => Ok(0),
        Some(word) => match to_number(word) {
            0 => anyhow::bail!("unknown {what} {word:?}"),
            number => Ok(number),
        },
    }
}

fn status_number(word: &str) -> i32 {
    enum_number("REQUEST_STATUS", word, |n| pb::RequestStatus::from_str_name(n).map(|v| v as i32))
}

async fn list_requests(client: &mut Client, args: ListArgs) -> anyhow::Result<pb::ListRequestsResponse> {
    let message = pb::ListRequestsRequest {
        status: filter("status", args.status.as_deref(), status_number)?,
        environment: filter("environment", args.environment.as_deref(), environment)?,
        owner: args.owner.unwrap_or_default(),
        page_size: args.page_size,
        page_token: args.page_token,
        min_sequence: 0,
    };
    Ok(client.list_requests(message).await.map_err(describe_status)?.into_inner())
}

async fn watch(client: &mut Client, id: String, printer: &Printer) -> anyhow::Result<()> {
    let mut updates =
        client.watch_request(pb::WatchRequestRequest { request_id: id }).await.map_err(describe_status)?.into_inner();
    while let Some(update) = updates.next().await {
        printer.watch_line(update.map_err(describe_status)?.request);
    }
    Ok(())
}

pub(crate) async fn catalog(args: &ClientArgs, command: CatalogCommand) -> anyhow::Result<()> {
    let CatalogCommand::Export { format, environment: env } = command;
    let format = match format.as_str() {
        "rds" | "rds-catalog" => pb::CatalogFormat::RdsCatalog,
        "backstage" => pb::CatalogFormat::Backstage,
        other => anyhow::bail!("unknown format {other}; rds or backstage"),
    };
    let mut client = connect(args).await?;
    let message = pb::ExportCatalogRequest {
        format: format as i32,
        environment: filter("environment", env.as_deref(), environment)?,
        min_sequence: 0,
    };
    let response = client.export_catalog(message).await.map_err(describe_status)?;
    print!("{}", response.into_inner().content);
    Ok(())
}
