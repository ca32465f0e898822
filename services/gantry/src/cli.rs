//! The command line: the top-level commands and the flags every command
//! shares. Global flags carry a help heading of their own so `--help` shows
//! them apart from a command's own flags, and every command ends its help
//! with examples.

mod request;
mod values;

pub(crate) use request::{BucketArgs, DatabaseArgs, ListArgs, RequestCommand, WatchArgs};
pub(crate) use values::{CatalogFormat, Environment, Output, Status};

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
  GANTRY_TOKEN=$BOB_TOKEN gantry --output json request show <ID>";

/// How client commands reach the mesh.
#[derive(Debug, Args)]
pub(crate) struct ClientArgs {
    /// Intake's gRPC address.
    #[arg(
        long,
        global = true,
        env = "GANTRY_SERVER",
        default_value = "http://127.0.0.1:50051",
        help_heading = CONNECTION
    )]
    pub(crate) server: String,
    /// Bearer token (`gantry admin token create` makes one).
    #[arg(long, global = true, env = "GANTRY_TOKEN", hide_env_values = true, help_heading = CONNECTION)]
    pub(crate) token: Option<String>,
    /// CA certificate (PEM) to trust for an `https://` server.
    #[arg(long, global = true, env = "GANTRY_CA_FILE", help_heading = CONNECTION)]
    pub(crate) ca_file: Option<PathBuf>,
    /// Name to verify the server's certificate against, when it differs
    /// from the host in --server (for example an IP address).
    #[arg(long, global = true, env = "GANTRY_TLS_DOMAIN", help_heading = CONNECTION)]
    pub(crate) tls_domain: Option<String>,
    /// Output format; with json, errors are JSON objects on stderr too.
    #[arg(long, global = true, value_enum, default_value_t = Output::Table, help_heading = GLOBAL)]
    pub(crate) output: Output,
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run services in this process: any of intake, or `all`.
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
    /// Export the catalog.
    #[command(subcommand, after_help = "Examples:\n  gantry catalog export --format backstage")]
    Catalog(CatalogCommand),
    /// Operator tools.
    #[command(subcommand, after_help = "Examples:\n  gantry admin token create --subject bob --groups databases-rds")]
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

/// `gantry catalog`.
#[derive(Debug, Subcommand)]
pub(crate) enum CatalogCommand {
    /// Print the catalog as `rds-catalog.yaml` or Backstage entities; with
    /// `--output json`, the same catalog as JSON (rds: the document;
    /// backstage: an array of entities).
    #[command(after_help = "\
Examples:
  gantry catalog export --format rds > rds-catalog.yaml
  gantry catalog export --format backstage --env prod
  gantry --output json catalog export | jq '.databases[].name'")]
    Export {
        /// Which document to print.
        #[arg(long, value_enum, default_value_t = CatalogFormat::Rds)]
        format: CatalogFormat,
        /// Only this environment.
        #[arg(long = "env", value_enum, value_name = "ENV")]
        environment: Option<Environment>,
        /// Wait until the catalog includes this write (the `sequence` a
        /// request command printed).
        #[arg(long)]
        min_sequence: Option<u64>,
    },
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
