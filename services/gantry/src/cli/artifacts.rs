//! `gantry artifact ...` and `gantry admin verify`: the flags of the
//! commands that store artifacts, read them back and check the store.

use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;

/// `gantry artifact`.
#[derive(Debug, Subcommand)]
pub(crate) enum ArtifactCommand {
    /// Store a file as an artifact of a run's step, with the artifacts it was
    /// made from; a progress bar on a terminal, the answer as JSON with
    /// `--output json`.
    #[command(after_help = "\
Examples:
  gantry artifact push report.html --tenant team-ml --run run-42 --step evaluate --input <ID> --input <ID>
  gantry --output json artifact push model.onnx --tenant team-ml --run run-42 --step train \\
      --agent trainer --agent-version 1.4.0 --retention 365d | jq -r .artifact_id")]
    Push(PushArgs),
    /// Write an artifact's bytes (or a byte range) to a file or stdout; a
    /// file is written whole or not at all.
    #[command(after_help = "\
Examples:
  gantry artifact pull <ID> -o report.html
  gantry artifact pull <ID> --range 0-1023 | xxd | head")]
    Pull(PullArgs),
    /// Show one artifact: producer, lineage inputs, digests, where it lives,
    /// retention and its blob's integrity.
    #[command(after_help = "\
Examples:
  gantry artifact stat <ID>
  gantry --output json artifact stat <ID> | jq .input_artifact_ids")]
    Stat {
        /// The artifact's id.
        #[arg(value_name = "ID")]
        artifact_id: String,
        /// Wait until ingest's view has applied this write (an upload's `sequence`).
        #[arg(long)]
        min_sequence: Option<u64>,
    },
    /// Write a run's browsable layout into its backend, from the events:
    /// `{tenant}/runs/{run}/metadata.json`, each step's inputs and outputs
    /// manifests, and the audit trail; prints the files written.
    #[command(after_help = "\
Examples:
  gantry artifact manifest run-42 --tenant team-ml
  gantry --output json artifact manifest run-42 --tenant team-ml | jq -r '.files[].uri'")]
    Manifest(RunArgs),
    /// Mark a run complete (once) and write its layout.
    #[command(after_help = "\
Examples:
  gantry artifact complete run-42 --tenant team-ml --min-sequence <SEQUENCE OF ITS LAST PUSH>")]
    Complete(RunArgs),
    /// List a tenant's artifacts, newest first (every page).
    #[command(after_help = "\
Examples:
  gantry artifact ls --tenant team-ml --run run-42
  gantry artifact ls --tenant team-ml --name reports/summary.html --include-expired")]
    Ls(LsArgs),
}

/// How long an artifact is kept (`--retention`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Retention {
    #[value(name = "30d")]
    Days30,
    #[value(name = "90d")]
    Days90,
    #[value(name = "365d")]
    Days365,
    /// Never expires.
    Keep,
}

impl From<Retention> for gantry_proto::events::RetentionPolicy {
    fn from(retention: Retention) -> Self {
        match retention {
            Retention::Days30 => Self::Days30,
            Retention::Days90 => Self::Days90,
            Retention::Days365 => Self::Days365,
            Retention::Keep => Self::Keep,
        }
    }
}

/// `gantry artifact push`.
#[derive(Debug, Args)]
pub(crate) struct PushArgs {
    /// The file to store.
    #[arg(value_name = "FILE")]
    pub(crate) file: PathBuf,
    /// The owning tenant (you must be in group `tenant:<tenant>`).
    #[arg(long)]
    pub(crate) tenant: String,
    /// The run that produced it.
    #[arg(long = "run", value_name = "RUN_ID")]
    pub(crate) run_id: String,
    /// The step of the run that produced it.
    #[arg(long = "step", value_name = "STEP_ID")]
    pub(crate) step_id: String,
    /// The agent that produced it.
    #[arg(long, default_value = "gantry-cli")]
    pub(crate) agent: String,
    /// The agent's version.
    #[arg(long, default_value = env!("CARGO_PKG_VERSION"))]
    pub(crate) agent_version: String,
    /// The artifact's name (default: the file's name).
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// Its media type, e.g. `text/html` (default `application/octet-stream`).
    #[arg(long)]
    pub(crate) media_type: Option<String>,
    /// An artifact it was made from (its id); repeat for more.
    #[arg(long = "input", value_name = "ID")]
    pub(crate) inputs: Vec<String>,
    /// How long to keep it (default: the service's, 90 days).
    #[arg(long, value_enum)]
    pub(crate) retention: Option<Retention>,
    /// Wait until ingest's view has applied this write before the inputs
    /// are looked up (the highest `sequence` their pushes answered).
    #[arg(long)]
    pub(crate) min_sequence: Option<u64>,
    /// Bytes per message.
    #[arg(long, default_value_t = 1024 * 1024, value_parser = clap::value_parser!(u32).range(1..=4 * 1024 * 1024))]
    pub(crate) chunk_bytes: u32,
}

/// `gantry artifact pull`.
#[derive(Debug, Args)]
pub(crate) struct PullArgs {
    /// The artifact's id.
    #[arg(value_name = "ID")]
    pub(crate) artifact_id: String,
    /// Where to write it (default: stdout).
    #[arg(short = 'o', long = "out-file", value_name = "FILE")]
    pub(crate) out_file: Option<PathBuf>,
    /// Only these bytes: `A-B` (inclusive, from 0), or `A-` to the end.
    #[arg(long, value_name = "A-B", value_parser = parse_range)]
    pub(crate) range: Option<ByteRange>,
    /// Replace the file if it exists.
    #[arg(long)]
    pub(crate) force: bool,
}

/// `gantry artifact ls`.
#[derive(Debug, Args)]
pub(crate) struct LsArgs {
    /// Whose artifacts.
    #[arg(long)]
    pub(crate) tenant: String,
    /// Only this run's.
    #[arg(long = "run", value_name = "RUN_ID")]
    pub(crate) run_id: Option<String>,
    /// Only artifacts of this name.
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// Expired artifacts too.
    #[arg(long)]
    pub(crate) include_expired: bool,
    /// Wait until ingest's view has applied this write.
    #[arg(long)]
    pub(crate) min_sequence: Option<u64>,
}

/// `gantry artifact manifest` and `gantry artifact complete`.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The run.
    #[arg(value_name = "RUN_ID")]
    pub(crate) run_id: String,
    /// Whose run.
    #[arg(long)]
    pub(crate) tenant: String,
    /// Wait until ingest's view has applied this write (the run's last push's `sequence`).
    #[arg(long)]
    pub(crate) min_sequence: Option<u64>,
}

/// `gantry admin verify`.
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The backend to check (default: every one).
    #[arg(long)]
    pub(crate) backend: Option<String>,
}

/// An inclusive byte range of `--range`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ByteRange {
    /// The first byte.
    pub(crate) offset: u64,
    /// How many bytes; `None`: to the end.
    pub(crate) length: Option<u64>,
}

/// Parses `A-B` (inclusive) or `A-`.
pub(crate) fn parse_range(text: &str) -> Result<ByteRange, String> {
    let invalid = || format!("{text:?} is not a byte range; for example 0-1023 or 1048576-");
    let (first, last) = text.trim().split_once('-').ok_or_else(invalid)?;
    let offset: u64 = first.parse().map_err(|_| invalid())?;
    if last.is_empty() {
        return Ok(ByteRange { offset, length: None });
    }
    let last: u64 = last.parse().map_err(|_| invalid())?;
    if last < offset {
        return Err(format!("{text:?}: the last byte comes before the first"));
    }
    Ok(ByteRange { offset, length: Some(last - offset + 1) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_inclusive_and_may_run_to_the_end() {
        assert_eq!(parse_range("0-1023"), Ok(ByteRange { offset: 0, length: Some(1024) }));
        assert_eq!(parse_range("10-10"), Ok(ByteRange { offset: 10, length: Some(1) }));
        assert_eq!(parse_range("1048576-"), Ok(ByteRange { offset: 1_048_576, length: None }));
        assert!(parse_range("9-3").unwrap_err().contains("before"));
        assert!(parse_range("x-3").is_err() && parse_range("12").is_err());
    }
}
