//! The command line: the top-level commands and the flags every command
//! shares. Global flags carry a help heading of their own so `--help` shows
//! them apart from a command's own flags, and every command ends its help
//! with examples.

mod artifacts;
mod events;
mod lineage;
mod operations;
mod request;
mod resources;
mod rotation;
mod values;

pub(crate) use artifacts::{ArtifactCommand, LsArgs, PullArgs, PushArgs, VerifyArgs};
pub(crate) use events::{EventsCommand, EventsWatchArgs};
pub(crate) use lineage::{Direction, ExportArgs, GraphFormat, LineageCommand, PictureFormat, ShowArgs, WalkArgs};
pub(crate) use operations::{AuditCommand, CatalogCommand, ReconcileArgs};
pub(crate) use request::{BucketArgs, DatabaseArgs, DecommissionArgs, ListArgs, RequestCommand, WatchArgs};
pub(crate) use resources::{
    BucketCommand, BucketListArgs, DatabaseCommand, DatabaseRef, ExternalSecretArgs, ResourceFilter,
};
pub(crate) use rotation::{PolicyArgs, ReportArgs, ReportFormat, RotationCommand};
pub(crate) use values::{CatalogFormat, CatalogSource, Environment, Output, Status, format_duration};

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// The heading of the flags that say how to reach the mesh.
const CONNECTION: &str = "Connection options";
/// The heading of the other flags every command takes.
const GLOBAL: &str = "Global options";

/// Gantry: a control plane for a platform team's data resources.
#[derive(Debug, Parser)]
#[command(name = "gantry", version, about, after_help = EXAMPLES)]
pub(crate) struct Cli {
    /// Config file (TOML); `GANTRY_*` variables override it.
    #[arg(long, global = true, env = "GANTRY_CONFIG", help_heading = GLOBAL)]
    pub(crate) config: Option<PathBuf>,
    /// How client commands reach the mesh and print.
    #[command(flatten)]
    pub(crate) client: ClientArgs,
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

const EXAMPLES: &str = "\
Examples:
  gantry serve all
  GANTRY_TOKEN=$BOB_TOKEN gantry request list --status pending_approval
  GANTRY_TOKEN=$BOB_TOKEN gantry --output json request show <ID>
  GANTRY_TOKEN=$BOB_TOKEN gantry database list --env prod";

/// How client commands reach the mesh: intake (`request`, `catalog export`),
/// the provisioner (`database`, `bucket`, `audit`, `admin reconcile`,
/// `catalog export --from provisioner`), ingest (`artifact`, `admin
/// verify`), rotation (`rotation`) and console (`events`) each have their
/// own address; the token
/// and TLS settings serve all.
#[derive(Debug, Args)]
pub(crate) struct ClientArgs {
    /// Intake's gRPC address (`request` and `catalog export`).
    #[arg(
        long,
        global = true,
        env = "GANTRY_SERVER",
        default_value = "http://127.0.0.1:50051",
        help_heading = CONNECTION
    )]
    pub(crate) server: String,
    /// The provisioner's gRPC address (`database`, `bucket`, `audit`,
    /// `admin reconcile`, `catalog export --from provisioner`).
    #[arg(
        long,
        global = true,
        env = "GANTRY_PROVISIONER_SERVER",
        default_value = "http://127.0.0.1:50052",
        help_heading = CONNECTION
    )]
    pub(crate) provisioner_server: String,
    /// Ingest's gRPC address (`artifact`, `admin verify`).
    #[arg(
        long,
        global = true,
        env = "GANTRY_INGEST_SERVER",
        default_value = "http://127.0.0.1:50053",
        help_heading = CONNECTION
    )]
    pub(crate) ingest_server: String,
    /// Lineage's gRPC address (`lineage`).
    #[arg(
        long,
        global = true,
        env = "GANTRY_LINEAGE_SERVER",
        default_value = "http://127.0.0.1:50054",
        help_heading = CONNECTION
    )]
    pub(crate) lineage_server: String,
    /// Console's gRPC address (`events`).
    #[arg(
        long,
        global = true,
        env = "GANTRY_EVENTS_SERVER",
        default_value = "http://127.0.0.1:50056",
        help_heading = CONNECTION
    )]
    pub(crate) events_server: String,
    /// Rotation's gRPC address (`rotation`).
    #[arg(
        long,
        global = true,
        env = "GANTRY_ROTATION_SERVER",
        default_value = "http://127.0.0.1:50055",
        help_heading = CONNECTION
    )]
    pub(crate) rotation_server: String,
    /// Bearer token (`gantry admin token create` makes one).
    #[arg(long, global = true, env = "GANTRY_TOKEN", hide_env_values = true, help_heading = CONNECTION)]
    pub(crate) token: Option<String>,
    /// CA certificate (PEM) to trust for an `https://` server (either one).
    #[arg(long, global = true, env = "GANTRY_CA_FILE", help_heading = CONNECTION)]
    pub(crate) ca_file: Option<PathBuf>,
    /// Name to verify the server's certificate against, when it differs
    /// from the host in the server's address (for example an IP address).
    #[arg(long, global = true, env = "GANTRY_TLS_DOMAIN", help_heading = CONNECTION)]
    pub(crate) tls_domain: Option<String>,
    /// Output format; with json, errors are JSON objects on stderr too.
    #[arg(long, global = true, value_enum, default_value_t = Output::Table, help_heading = GLOBAL)]
    pub(crate) output: Output,
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run services in this process: any of console, intake, ingest, lineage, provisioner and rotation, or `all`.
    #[command(
        after_help = "Examples:\n  gantry serve all\n  gantry --config gantry.toml serve intake --drain-timeout 10"
    )]
    Serve(ServeArgs),
    /// Request resources and follow requests.
    #[command(
        subcommand,
        after_help = "Examples:\n  gantry request list --status pending_approval\n  gantry request watch <ID> --timeout 10m"
    )]
    Request(RequestCommand),
    /// Databases the provisioner made, and manifests that use them.
    #[command(
        subcommand,
        after_help = "Examples:\n  gantry database list --env prod\n  gantry database external-secret orders --env prod --namespace team-orders"
    )]
    Database(DatabaseCommand),
    /// Buckets the provisioner made, and Terraform backend files in them.
    #[command(
        subcommand,
        after_help = "Examples:\n  gantry bucket list --purpose backend-state\n  gantry bucket backend-config acme-backend-state-prod --layer network"
    )]
    Bucket(BucketCommand),
    /// Artifacts: store a file with its lineage, read it back, list a tenant's.
    #[command(
        subcommand,
        after_help = "Examples:\n  gantry artifact push report.html --tenant team-ml --run run-42 --step evaluate --input <ID>\n  gantry artifact pull <ID> -o report.html"
    )]
    Artifact(ArtifactCommand),
    /// Lineage: where an artifact came from, what depends on it, as of any moment.
    #[command(
        subcommand,
        after_help = "Examples:\n  gantry lineage upstream <ID> --depth 5\n  gantry lineage show <ID> --format mermaid\n  gantry lineage impact <ID> --as-of 2025-03-01T00:00:00Z"
    )]
    Lineage(LineageCommand),
    /// Credentials' rotation: status, deadlines, rotation now, policy, the daily report.
    #[command(
        subcommand,
        after_help = "Examples:\n  gantry rotation report --within 7d --format markdown\n  gantry rotation rotate goldenpath/prod/orders/postgres --reason \"leaked\""
    )]
    Rotation(RotationCommand),
    /// The event log, live: follow every event you may see, filtered.
    #[command(
        subcommand,
        after_help = "Examples:\n  gantry events watch --from 1 --environment prod\n  gantry --output json events watch --type rotation.overdue.v1"
    )]
    Events(EventsCommand),
    /// Export the catalog: what was requested (intake) or what exists (the provisioner).
    #[command(
        subcommand,
        after_help = "Examples:\n  gantry catalog export --format backstage\n  gantry catalog export --from provisioner"
    )]
    Catalog(CatalogCommand),
    /// The audit trail of an environment.
    #[command(subcommand, after_help = "Examples:\n  gantry audit export --env prod --out-file audit-prod.csv")]
    Audit(AuditCommand),
    /// Operator tools: tokens and view rebuilds act on this machine;
    /// reconcile asks the provisioner.
    #[command(
        subcommand,
        after_help = "Examples:\n  gantry admin token create --subject bob --groups databases-rds\n  gantry admin reconcile --env prod"
    )]
    Admin(AdminCommand),
}

/// `gantry serve`.
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

/// `gantry admin`.
#[derive(Debug, Subcommand)]
pub(crate) enum AdminCommand {
    /// Manage bearer tokens.
    #[command(subcommand, after_help = "Examples:\n  gantry admin token create --subject bob --groups databases-rds")]
    Token(TokenCommand),
    /// Drop a service's view and replay it from the first event.
    #[command(after_help = "Examples:\n  gantry admin rebuild intake")]
    Rebuild {
        /// The service whose view to rebuild.
        service: String,
    },
    /// Ask the provisioner to compare every ready resource with what
    /// exists (a client call, with --token and --provisioner-server),
    /// print each difference, and repair them with --repair.
    #[command(after_help = "\
Exit status: 0 when no difference remains (none found, or every one
repaired); 5 when a difference was found and not repaired; 1 on any other
error. Only platform-team may reconcile.

Examples:
  gantry admin reconcile --env prod
  gantry admin reconcile --env prod --repair
  gantry --output json admin reconcile | jq '.drifts[]'")]
    Reconcile(ReconcileArgs),
    /// Ask ingest to re-read every blob of a backend and check its digest
    /// (platform-team; a client call, with --token and --ingest-server).
    #[command(after_help = "\
Exit status: 0 when every blob matched; 7 when one was corrupted or
missing (each is recorded, its downloads fail with DATA_LOSS); 1 on any
other error.

Examples:
  gantry admin verify
  gantry admin verify --backend s3-eu")]
    Verify(VerifyArgs),
}

/// `gantry admin token`.
#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Create a token: prints it once and stores only its hash.
    #[command(after_help = "\
Examples:
  gantry admin token create --subject bob --groups databases-rds
  export GANTRY_TOKEN=$(gantry admin token create --subject alice --tokens-file /etc/gantry/tokens.yaml)")]
    Create {
        /// Principal name.
        #[arg(long)]
        subject: String,
        /// Comma-separated groups (none when left out).
        #[arg(long, value_delimiter = ',')]
        groups: Vec<String>,
        /// The tokens file to append to (created if missing).
        #[arg(long, env = "GANTRY_AUTH__TOKENS_FILE", default_value = ".gantry/tokens.yaml")]
        tokens_file: PathBuf,
    },
}

#[cfg(test)]
mod tests;
