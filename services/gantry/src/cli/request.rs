//! `gantry request ...`: the flags of each request command and its examples.

use super::values::{Environment, Purpose, Risk, Size, Status, parse_duration};
use clap::{Args, Subcommand};
use std::time::Duration;

/// `gantry request`.
#[derive(Debug, Subcommand)]
pub(crate) enum RequestCommand {
    /// Request a Postgres database.
    #[command(after_help = "\
Examples:
  GANTRY_TOKEN=$BACKSTAGE_TOKEN gantry request db --name orders --owner team-orders \\
      --requester alice --env prod --domain payments --risk high --size small")]
    Db(DatabaseArgs),
    /// Request an S3 bucket.
    #[command(after_help = "\
Examples:
  GANTRY_TOKEN=$BACKSTAGE_TOKEN gantry request bucket --purpose logs --env prod \\
      --region eu-west-1 --owner team-obs --requester alice --retention-days 30")]
    Bucket(BucketArgs),
    /// Approve a request.
    #[command(after_help = "Examples:\n  GANTRY_TOKEN=$BOB_TOKEN gantry request approve <ID> --comment lgtm")]
    Approve {
        /// Request id.
        id: String,
        /// Comment.
        #[arg(long)]
        comment: Option<String>,
    },
    /// Reject a request.
    #[command(
        after_help = "Examples:\n  GANTRY_TOKEN=$BOB_TOKEN gantry request reject <ID> --reason \"use the shared cluster\""
    )]
    Reject {
        /// Request id.
        id: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Cancel a request.
    #[command(after_help = "Examples:\n  GANTRY_TOKEN=$ALICE_TOKEN gantry request cancel <ID> --reason \"not needed\"")]
    Cancel {
        /// Request id.
        id: String,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Show one request with every field.
    #[command(after_help = "\
Examples:
  gantry request show <ID>
  gantry --output json request show <ID> --min-sequence 42")]
    Show {
        /// Request id.
        id: String,
        /// Wait until the view has applied this write (the `sequence` a
        /// request command printed), so the answer includes it.
        #[arg(long)]
        min_sequence: Option<u64>,
    },
    /// List requests, newest first.
    #[command(after_help = "\
Examples:
  gantry request list --status pending_approval
  gantry request list --env prod --owner team-orders --page-size 20")]
    List(ListArgs),
    /// Print a request's status history, then follow it until it is final
    /// (ready, rejected, cancelled, failed or decommissioned).
    #[command(after_help = "\
Exit status: 0 when the request is ready; 3 when it ended rejected, cancelled,
failed or decommissioned; 4 when --timeout passed first; 1 on any other error.

Examples:
  gantry request watch <ID>
  gantry request watch <ID> --timeout 10m
  gantry --output json request watch <ID> --timeout 90")]
    Watch(WatchArgs),
    /// Break-glass: ask to drop a ready database, its role and (unless
    /// kept) its secret. A platform-team member other than you approves it
    /// with `request approve` (or turns it down with `request reject`).
    #[command(after_help = "\
Examples:
  GANTRY_TOKEN=$CAROL_TOKEN gantry request decommission <ID> --confirm orders \\
      --reason \"replaced by orders_v2\"
  GANTRY_TOKEN=$CAROL_TOKEN gantry request decommission <ID> --confirm orders \\
      --reason \"moved to another account\" --retain-secret")]
    Decommission(DecommissionArgs),
}

/// `gantry request db`.
#[derive(Debug, Args)]
pub(crate) struct DatabaseArgs {
    /// Database name.
    #[arg(long)]
    pub(crate) name: String,
    /// Role name (default `<name>_user`).
    #[arg(long)]
    pub(crate) username: Option<String>,
    /// Owning team.
    #[arg(long)]
    pub(crate) owner: String,
    /// Who asks.
    #[arg(long)]
    pub(crate) requester: String,
    /// Environment.
    #[arg(long = "env", value_enum, value_name = "ENV")]
    pub(crate) environment: Environment,
    /// Business domain.
    #[arg(long)]
    pub(crate) domain: String,
    /// Risk class of the data.
    #[arg(long, value_enum)]
    pub(crate) risk: Risk,
    /// Size.
    #[arg(long, value_enum)]
    pub(crate) size: Size,
    /// Makes a retry return the same request.
    #[arg(long)]
    pub(crate) idempotency_key: Option<String>,
}

/// `gantry request bucket`.
#[derive(Debug, Args)]
pub(crate) struct BucketArgs {
    /// Bucket name (default `<owner>-<purpose>-<env>`).
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// What the bucket is for.
    #[arg(long, value_enum)]
    pub(crate) purpose: Purpose,
    /// Environment.
    #[arg(long = "env", value_enum, value_name = "ENV")]
    pub(crate) environment: Environment,
    /// AWS region.
    #[arg(long)]
    pub(crate) region: String,
    /// Owning team.
    #[arg(long)]
    pub(crate) owner: String,
    /// Who asks.
    #[arg(long)]
    pub(crate) requester: String,
    /// Retention in days (required for logs and traces).
    #[arg(long)]
    pub(crate) retention_days: Option<u32>,
    /// KMS key for SSE-KMS (SSE-S3 when left out).
    #[arg(long)]
    pub(crate) kms_key: Option<String>,
    /// Replication destination bucket.
    #[arg(long)]
    pub(crate) replication_target: Option<String>,
    /// Makes a retry return the same request.
    #[arg(long)]
    pub(crate) idempotency_key: Option<String>,
}

/// `gantry request list`.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Only this status.
    #[arg(long, value_enum)]
    pub(crate) status: Option<Status>,
    /// Only this environment.
    #[arg(long = "env", value_enum, value_name = "ENV")]
    pub(crate) environment: Option<Environment>,
    /// Only this owner.
    #[arg(long)]
    pub(crate) owner: Option<String>,
    /// Rows per page (at most 500).
    #[arg(long, default_value_t = 50)]
    pub(crate) page_size: u32,
    /// Page token from a previous listing.
    #[arg(long)]
    pub(crate) page_token: Option<String>,
    /// Wait until the view has applied this write (the `sequence` a
    /// request command printed).
    #[arg(long)]
    pub(crate) min_sequence: Option<u64>,
}

/// `gantry request watch`.
#[derive(Debug, Args)]
pub(crate) struct WatchArgs {
    /// Request id.
    pub(crate) id: String,
    /// Give up after this long (seconds, or `90s`, `10m`, `1h30m`); no limit
    /// when left out.
    #[arg(long, value_parser = parse_duration)]
    pub(crate) timeout: Option<Duration>,
}

/// `gantry request decommission`.
#[derive(Debug, Args)]
pub(crate) struct DecommissionArgs {
    /// The request of the ready database.
    pub(crate) id: String,
    /// The database's name, typed again to confirm.
    #[arg(long, value_name = "NAME")]
    pub(crate) confirm: String,
    /// Why (recorded on the log).
    #[arg(long)]
    pub(crate) reason: String,
    /// Keep the credentials' secret in Secrets Manager.
    #[arg(long, conflicts_with = "recovery_window")]
    pub(crate) retain_secret: bool,
    /// Days the deleted secret stays recoverable, 7 to 30 (default 30).
    #[arg(long, value_name = "DAYS")]
    pub(crate) recovery_window: Option<u32>,
}
