//! `gantry database ...` and `gantry bucket ...`: the provisioner's view of
//! what it made, and the files made from it (an ExternalSecret manifest,
//! Terraform backend files).

use super::{ProvisionerClient, environment_number, every_page, provisioner};
use crate::backend_config;
use crate::cli::{BucketCommand, BucketListArgs, ClientArgs, DatabaseCommand, DatabaseRef, ResourceFilter};
use crate::external_secret::ExternalSecret;
use crate::failure::Failure;
use crate::output::Printer;
use gantry_proto::provisioner as pb;
use gantry_proto::types;

/// The page size of listings: the most the API allows, so few round trips.
const PAGE_SIZE: u32 = 500;

/// Runs a `gantry database` command.
pub(crate) async fn database(args: &ClientArgs, command: DatabaseCommand) -> anyhow::Result<()> {
    let mut client = provisioner(args).await?;
    let printer = Printer::new(args.output);
    match command {
        DatabaseCommand::Get { database, min_sequence } => {
            printer.database(&get_database(&mut client, &database, min_sequence).await?);
        }
        DatabaseCommand::List(filter) => {
            let message = list_databases_message(filter);
            let databases = every_page(|page_token| {
                let (mut client, message) =
                    (client.clone(), pb::ListDatabasesRequest { page_token, ..message.clone() });
                async move {
                    let page = client.list_databases(message).await?.into_inner();
                    Ok((page.databases, page.next_page_token))
                }
            })
            .await?;
            printer.databases(&databases);
        }
        DatabaseCommand::ExternalSecret(external_secret) => {
            let database = get_database(&mut client, &external_secret.database, None).await?;
            printer.manifest(&ExternalSecret::for_database(&database, &external_secret)?)?;
        }
    }
    Ok(())
}

/// Runs a `gantry bucket` command.
pub(crate) async fn bucket(args: &ClientArgs, command: BucketCommand) -> anyhow::Result<()> {
    let mut client = provisioner(args).await?;
    let printer = Printer::new(args.output);
    match command {
        BucketCommand::Get { name, min_sequence } => {
            printer.bucket(&get_bucket(&mut client, name, min_sequence).await?)
        }
        BucketCommand::List(list) => {
            let message = list_buckets_message(list);
            let buckets = every_page(|page_token| {
                let (mut client, message) = (client.clone(), pb::ListBucketsRequest { page_token, ..message.clone() });
                async move {
                    let page = client.list_buckets(message).await?.into_inner();
                    Ok((page.buckets, page.next_page_token))
                }
            })
            .await?;
            printer.buckets(&buckets);
        }
        BucketCommand::BackendConfig(config) => {
            let bucket = get_bucket(&mut client, config.bucket, None).await?;
            let table = config.dynamodb_table.as_deref();
            let files = backend_config::backend_files(&bucket, &config.layers, &config.out_dir, table)?;
            backend_config::write(&files, config.force)?;
            printer.backend_files(&files);
        }
    }
    Ok(())
}

async fn get_database(
    client: &mut ProvisionerClient,
    database: &DatabaseRef,
    min_sequence: Option<u64>,
) -> anyhow::Result<pb::Database> {
    let message = pb::GetDatabaseRequest {
        environment: types::Environment::from(database.environment) as i32,
        database_name: database.name.clone(),
        min_sequence: min_sequence.unwrap_or(0),
    };
    let answer = client.get_database(message).await?.into_inner().database;
    Ok(answer.ok_or_else(|| Failure::new("INTERNAL", "the server answered without the database"))?)
}

async fn get_bucket(
    client: &mut ProvisionerClient,
    name: String,
    min_sequence: Option<u64>,
) -> anyhow::Result<pb::Bucket> {
    let message = pb::GetBucketRequest { bucket_name: name, min_sequence: min_sequence.unwrap_or(0) };
    let answer = client.get_bucket(message).await?.into_inner().bucket;
    Ok(answer.ok_or_else(|| Failure::new("INTERNAL", "the server answered without the bucket"))?)
}

fn status_number(filter: &ResourceFilter) -> i32 {
    filter.status.map_or(0, |status| pb::ResourceStatus::from(status) as i32)
}

fn list_databases_message(filter: ResourceFilter) -> pb::ListDatabasesRequest {
    pb::ListDatabasesRequest {
        environment: environment_number(filter.environment),
        status: status_number(&filter),
        owner: filter.owner.unwrap_or_default(),
        page_size: PAGE_SIZE,
        page_token: String::new(),
        min_sequence: filter.min_sequence.unwrap_or(0),
    }
}

fn list_buckets_message(list: BucketListArgs) -> pb::ListBucketsRequest {
    let filter = list.filter;
    pb::ListBucketsRequest {
        environment: environment_number(filter.environment),
        status: status_number(&filter),
        purpose: list.purpose.map_or(0, |purpose| types::BucketPurpose::from(purpose) as i32),
        owner: filter.owner.unwrap_or_default(),
        page_size: PAGE_SIZE,
        page_token: String::new(),
        min_sequence: filter.min_sequence.unwrap_or(0),
    }
}
