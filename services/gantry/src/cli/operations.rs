//! `gantry catalog export`, `gantry audit export` and `gantry admin
//! reconcile`: the flags of the exports and of the drift check.

use super::values::{AuditFormat, CatalogFormat, CatalogSource, Environment};
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// `gantry catalog`.
#[derive(Debug, Subcommand)]
pub(crate) enum CatalogCommand {
    /// Print a catalog: intake's (every database request that holds its
    /// name, as `rds-catalog.yaml` or Backstage entities) or, with `--from
    /// provisioner`, what exists (ready databases and buckets, as the
    /// platform catalog or Backstage entities). With `--output json`, the
    /// same catalog as JSON (rds, platform: the document; backstage: an
    /// array of entities).
    #[command(after_help = "\
Examples:
  gantry catalog export --format rds > rds-catalog.yaml
  gantry catalog export --format backstage --env prod
  gantry catalog export --from provisioner > platform-catalog.yaml
  gantry catalog export --from provisioner --format backstage
  gantry --output json catalog export | jq '.databases[].name'")]
    Export {
        /// Whose catalog: intake's requests, or what the provisioner made.
        #[arg(long, value_enum, default_value_t = CatalogSource::Intake)]
        from: CatalogSource,
        /// Which document to print: rds (intake only) or platform
        /// (provisioner only), or backstage; default rds from intake,
        /// platform from the provisioner.
        #[arg(long, value_enum)]
        format: Option<CatalogFormat>,
        /// Only this environment.
        #[arg(long = "env", value_enum, value_name = "ENV")]
        environment: Option<Environment>,
        /// Wait until the catalog includes this write (the `sequence` a
        /// command printed).
        #[arg(long)]
        min_sequence: Option<u64>,
    },
}

/// `gantry audit`.
#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Write an environment's audit trail (every request and provisioning
    /// event) as the provisioner exports it: CSV with a header row
    /// (timestamp, environment, request_id, resource, action, actor,
    /// outcome, detail), byte for byte. `--output` does not change the CSV;
    /// with a file, `--output json` prints `{"file", "rows"}`.
    #[command(after_help = "\
Examples:
  gantry audit export --env prod > audit-prod.csv
  gantry audit export --env prod --out-file audit-prod.csv")]
    Export(AuditExportArgs),
}

/// `gantry audit export`.
#[derive(Debug, Args)]
pub(crate) struct AuditExportArgs {
    /// The environment whose trail to export.
    #[arg(long = "env", value_enum, value_name = "ENV")]
    pub(crate) environment: Environment,
    /// The format of the export.
    #[arg(long, value_enum, default_value_t = AuditFormat::Csv)]
    pub(crate) format: AuditFormat,
    /// Where to write it: a file (replaced if it exists), or `-` for stdout.
    #[arg(long, value_name = "FILE", default_value = "-")]
    pub(crate) out_file: PathBuf,
    /// Wait until the export includes this write (a command's `sequence`).
    #[arg(long)]
    pub(crate) min_sequence: Option<u64>,
}

/// `gantry admin reconcile`.
#[derive(Debug, Args)]
pub(crate) struct ReconcileArgs {
    /// Only this environment (every one when left out).
    #[arg(long = "env", value_enum, value_name = "ENV")]
    pub(crate) environment: Option<Environment>,
    /// Set what differs back to what was provisioned (each repair is
    /// recorded on the log).
    #[arg(long)]
    pub(crate) repair: bool,
}
