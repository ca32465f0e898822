//! `gantry database ...` and `gantry bucket ...`: the flags of the commands
//! that read what the provisioner made and write the files that use it.

use super::values::{Environment, Purpose, ResourceStatus};
use clap::{Args, Subcommand};

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

/// `gantry bucket`.
#[derive(Debug, Subcommand)]
pub(crate) enum BucketCommand {
    /// Show one bucket with every field.
    #[command(after_help = "\
Examples:
  gantry bucket get team-obs-logs-prod
  gantry --output json bucket get team-obs-logs-prod | jq .encryption")]
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
