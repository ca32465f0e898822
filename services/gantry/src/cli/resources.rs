//! `gantry database ...` and `gantry bucket ...`: the flags of the commands
//! that read what the provisioner made and write the files that use it.

use super::values::{Environment, Purpose, ResourceStatus, parse_duration};
use crate::backend_config::{Layer, parse_layer};
use crate::external_secret::{parse_kubernetes_name, parse_namespace};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

/// `gantry database`.
#[derive(Debug, Subcommand)]
pub(crate) enum DatabaseCommand {
    /// Show one database with every field: status, where it is, where its
    /// credentials are.
    #[command(after_help = "\
Examples:
  gantry database get orders --env prod
  gantry --output json database get orders --env prod | jq -r .secret_name")]
    Get {
        /// Which database.
        #[command(flatten)]
        database: DatabaseRef,
        /// Wait until the provisioner's view has applied this write (a
        /// command's `sequence`).
        #[arg(long)]
        min_sequence: Option<u64>,
    },
    /// List databases, newest first (every page).
    #[command(after_help = "\
Examples:
  gantry database list --env prod
  gantry database list --owner team-orders --status ready")]
    List(ResourceFilter),
    /// Print an ExternalSecret (external-secrets.io/v1) that syncs a ready
    /// database's credentials from Secrets Manager into a Kubernetes Secret
    /// with POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_HOST, POSTGRES_PORT
    /// and POSTGRES_DB, through a ClusterSecretStore.
    #[command(after_help = "\
Examples:
  gantry database external-secret orders --env prod --namespace team-orders | kubectl apply -f -
  gantry database external-secret orders --env prod --namespace team-orders \\
      --store aws-secrets-manager-prod --refresh-interval 15m --target-name orders-db")]
    ExternalSecret(ExternalSecretArgs),
}

/// A database: its name and environment.
#[derive(Debug, Args)]
pub(crate) struct DatabaseRef {
    /// Database name.
    #[arg(value_name = "DB")]
    pub(crate) name: String,
    /// Its environment.
    #[arg(long = "env", value_enum, value_name = "ENV")]
    pub(crate) environment: Environment,
}

/// The filters of `database list` and `bucket list`.
#[derive(Debug, Args)]
pub(crate) struct ResourceFilter {
    /// Only this environment.
    #[arg(long = "env", value_enum, value_name = "ENV")]
    pub(crate) environment: Option<Environment>,
    /// Only this owner.
    #[arg(long)]
    pub(crate) owner: Option<String>,
    /// Only this status.
    #[arg(long, value_enum)]
    pub(crate) status: Option<ResourceStatus>,
    /// Wait until the provisioner's view has applied this write (a
    /// command's `sequence`).
    #[arg(long)]
    pub(crate) min_sequence: Option<u64>,
}

/// `gantry database external-secret`.
#[derive(Debug, Args)]
pub(crate) struct ExternalSecretArgs {
    /// Which database (it must be ready).
    #[command(flatten)]
    pub(crate) database: DatabaseRef,
    /// The Kubernetes namespace of the ExternalSecret and its Secret.
    #[arg(long, value_parser = parse_namespace)]
    pub(crate) namespace: String,
    /// The ClusterSecretStore that reads AWS Secrets Manager.
    #[arg(long, value_name = "NAME", default_value = "aws-secrets-manager", value_parser = parse_kubernetes_name)]
    pub(crate) store: String,
    /// How often the operator reads the secret again (seconds, or `15m`,
    /// `1h`, `1h30m`; 0 reads it once).
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_duration)]
    pub(crate) refresh_interval: Duration,
    /// The Kubernetes Secret to create, also the ExternalSecret's name
    /// (default `<database, _ as ->-postgres`).
    #[arg(long, value_name = "NAME", value_parser = parse_kubernetes_name)]
    pub(crate) target_name: Option<String>,
}

/// `gantry bucket`.
#[derive(Debug, Subcommand)]
pub(crate) enum BucketCommand {
    /// Show one bucket with every field.
    #[command(after_help = "\
Examples:
  gantry bucket get team-obs-logs-prod-eu-west-1
  gantry --output json bucket get team-obs-logs-prod-eu-west-1 | jq .encryption")]
    Get {
        /// Bucket name.
        #[arg(value_name = "BUCKET")]
        name: String,
        /// Wait until the provisioner's view has applied this write (a
        /// command's `sequence`).
        #[arg(long)]
        min_sequence: Option<u64>,
    },
    /// List buckets, newest first (every page).
    #[command(after_help = "\
Examples:
  gantry bucket list --purpose backend-state
  gantry bucket list --env prod --owner team-obs --status ready")]
    List(BucketListArgs),
    /// Write a Terraform S3 backend file, `<layer>.hcl`, for each layer:
    /// state at `regions/<region>/layers/<layer>/<env>/terraform.tfstate`
    /// in a ready backend-state bucket, encrypted, locked with S3's own
    /// lock file (`use_lockfile`), with the bucket's KMS key under SSE-KMS.
    /// Existing files are left alone unless --force.
    #[command(after_help = "\
Examples:
  gantry bucket backend-config platform-backend-state-prod --layer network --layer eks --out-dir backends
  terraform init -backend-config=backends/network.hcl")]
    BackendConfig(BackendConfigArgs),
}

/// `gantry bucket list`.
#[derive(Debug, Args)]
pub(crate) struct BucketListArgs {
    /// Environment, owner, status.
    #[command(flatten)]
    pub(crate) filter: ResourceFilter,
    /// Only buckets for this purpose.
    #[arg(long, value_enum)]
    pub(crate) purpose: Option<Purpose>,
}

/// `gantry bucket backend-config`.
#[derive(Debug, Args)]
pub(crate) struct BackendConfigArgs {
    /// The backend-state bucket (it must be ready).
    #[arg(value_name = "BUCKET")]
    pub(crate) bucket: String,
    /// A Terraform layer (root module): lower case letters, digits, `-`
    /// and `_`, starting with a letter or digit. Repeat for more.
    #[arg(long = "layer", value_name = "NAME", required = true, value_parser = parse_layer)]
    pub(crate) layers: Vec<Layer>,
    /// The directory to write the files in (created if missing).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub(crate) out_dir: PathBuf,
    /// Also lock with this DynamoDB table, while moving off it (Terraform
    /// deprecates it; with both set it takes both locks).
    #[arg(long, value_name = "TABLE")]
    pub(crate) dynamodb_table: Option<String>,
    /// Replace files that exist.
    #[arg(long)]
    pub(crate) force: bool,
}
