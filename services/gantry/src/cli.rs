//! The command line.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Gantry: a control plane for a platform team's data resources.
#[derive(Debug, Parser)]
#[command(name = "gantry", version, about)]
pub(crate) struct Cli {
    /// Config file (TOML); `GANTRY_*` variables override it.
    #[arg(long, global = true, env = "GANTRY_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) client: ClientArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// How client commands reach the mesh.
#[derive(Debug, Args)]
pub(crate) struct ClientArgs {
    /// Intake's gRPC address.
    #[arg(long, global = true, env = "GANTRY_SERVER", default_value = "http://127.0.0.1:50051")]
    pub(crate) server: String,
    /// Bearer token.
    #[arg(long, global = true, env = "GANTRY_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// CA certificate (PEM) to trust for an `https://` server.
    #[arg(long, global = true, env = "GANTRY_CA_FILE")]
    pub(crate) ca_file: Option<std::path::PathBuf>,
    /// Name to verify the server's certificate against, when it differs
    /// from the host in --server (for example an IP address).
    #[arg(long, global = true, env = "GANTRY_TLS_DOMAIN")]
    pub(crate) tls_domain: Option<String>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Output::Table)]
    pub(crate) output: Output,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Output {
    /// A table for humans.
    Table,
    /// JSON for scripts.
    Json,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run services in this process: any of intake, or `all`.
    Serve(ServeArgs),
    /// Request resources and follow requests.
    #[command(subcommand)]
    Request(RequestCommand),
    /// Export the catalog.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Operator tools.
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Services to run (`all` for every one).
    #[arg(required = true)]
    pub(crate) services: Vec<String>,
    /// Seconds a stop waits for in-flight calls and batches before it
    /// exits anyway (a second signal exits at once).
    #[arg(long, default_value_t = 30)]
    pub(crate) drain_timeout: u64,
}

#[derive(Debug, Subcommand)]
pub(crate) enum RequestCommand {
    /// Request a Postgres database.
    Db(DatabaseArgs),
    /// Request an S3 bucket.
    Bucket(BucketArgs),
    /// Approve a request.
    Approve {
        /// Request id.
        id: String,
        /// Comment.
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Reject a request.
    Reject {
        /// Request id.
        id: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Cancel a request.
    Cancel {
        /// Request id.
        id: String,
        /// Why.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Show one request.
    Show {
        /// Request id.
        id: String,
    },
    /// List requests, newest first.
    List(ListArgs),
    /// Follow a request's status until it is final.
    Watch {
        /// Request id.
        id: String,
    },
}

#[derive(Debug, Args)]
pub(crate) struct DatabaseArgs {
    /// Database name.
    #[arg(long)]
    pub(crate) name: String,
    /// Role name (default `<name>_user`).
    #[arg(long, default_value = "")]
    pub(crate) username: String,
    /// Owning team.
    #[arg(long)]
    pub(crate) owner: String,
    /// Who asks.
    #[arg(long)]
    pub(crate) requester: String,
    /// dev, test, staging or prod.
    #[arg(long = "env")]
    pub(crate) environment: String,
    /// Business domain.
    #[arg(long)]
    pub(crate) domain: String,
    /// none, low, medium, high or access.
    #[arg(long)]
    pub(crate) risk: String,
    /// small, medium, large or xlarge.
    #[arg(long)]
    pub(crate) size: String,
    /// Makes a retry return the same request.
    #[arg(long, default_value = "")]
    pub(crate) idempotency_key: String,
}

#[derive(Debug, Args)]
pub(crate) struct BucketArgs {
    /// Bucket name (default `<owner>-<purpose>-<env>`).
    #[arg(long, default_value = "")]
    pub(crate) name: String,
    /// backend-state, logs, traces or artifacts.
    #[arg(long)]
    pub(crate) purpose: String,
    /// dev, test, staging or prod.
    #[arg(long = "env")]
    pub(crate) environment: String,
    /// AWS region.
    #[arg(long)]
    pub(crate) region: String,
    /// Owning team.
    #[arg(long)]
    pub(crate) owner: String,
    /// Who asks.
    #[arg(long)]
    pub(crate) requester: String,
    /// Retention in days.
    #[arg(long, default_value_t = 0)]
    pub(crate) retention_days: u32,
    /// KMS key for SSE-KMS.
    #[arg(long, default_value = "")]
    pub(crate) kms_key: String,
    /// Replication destination bucket.
    #[arg(long, default_value = "")]
    pub(crate) replication_target: String,
    /// Makes a retry return the same request.
    #[arg(long, default_value = "")]
    pub(crate) idempotency_key: String,
}

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Only this status (pending_approval, approved, ...).
    #[arg(long)]
    pub(crate) status: Option<String>,
    /// Only this environment.
    #[arg(long = "env")]
    pub(crate) environment: Option<String>,
    /// Only this owner.
    #[arg(long)]
    pub(crate) owner: Option<String>,
    /// Rows per page.
    #[arg(long, default_value_t = 50)]
    pub(crate) page_size: u32,
    /// Page token from a previous listing.
    #[arg(long, default_value = "")]
    pub(crate) page_token: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum CatalogCommand {
    /// Print the catalog as `rds-catalog.yaml` or Backstage entities.
    Export {
        /// rds or backstage.
        #[arg(long, default_value = "rds")]
        format: String,
        /// Only this environment.
        #[arg(long = "env")]
        environment: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum AdminCommand {
    /// Manage bearer tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Drop a service's view and replay it from the first event.
    Rebuild {
        /// The service whose view to rebuild.
        service: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Create a token: prints it once and stores only its hash.
    Create {
        /// Principal name.
        #[arg(long)]
        subject: String,
        /// Comma-separated groups.
        #[arg(long, value_delimiter = ',', default_value = "")]
        groups: Vec<String>,
        /// The tokens file to append to (created if missing).
        #[arg(long, env = "GANTRY_AUTH__TOKENS_FILE", default_value = ".gantry/tokens.yaml")]
        tokens_file: PathBuf,
    },
}
