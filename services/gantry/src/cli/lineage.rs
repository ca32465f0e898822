//! `gantry lineage ...`: the flags of the commands that ask lineage where
//! an artifact came from, what depends on it, what a run used and made,
//! and that export or draw the answer, or record an OpenLineage event.

use clap::{Args, Subcommand, ValueEnum};
use gantry_proto::lineage::{AsOf, as_of};
use std::path::PathBuf;
use std::str::FromStr as _;

/// `gantry lineage`.
#[derive(Debug, Subcommand)]
pub(crate) enum LineageCommand {
    /// What a node (artifact or dataset version) was made from, generation by generation.
    #[command(after_help = "\
Examples:
  gantry lineage upstream <ID>
  gantry lineage upstream <ID> --depth 5 --as-of 2025-03-01T00:00:00Z
  gantry lineage upstream <ID> --format mermaid > lineage.mmd")]
    Upstream(WalkArgs),
    /// What was made from a node.
    #[command(after_help = "\
Examples:
  gantry lineage downstream <ID> --agent trainer
  gantry --output json lineage downstream <ID> --as-of 1234 | jq '.nodes | length'")]
    Downstream(WalkArgs),
    /// Every input and output of a run's steps (or of an OpenLineage run).
    #[command(after_help = "\
Examples:
  gantry lineage run run-42 --tenant team-ml
  gantry lineage run run-42 --tenant team-ml --format dot | dot -Tsvg > run-42.svg")]
    Run(RunArgs),
    /// Everything downstream of a node, and the runs that would have to be run again.
    #[command(after_help = "\
Examples:
  gantry lineage impact <ID>
  gantry --output json lineage impact <ID> | jq -r '.runs[].run_id'")]
    Impact(WalkArgs),
    /// OpenLineage run events (JSON, one a line) of a walk or a run.
    #[command(after_help = "\
Examples:
  gantry lineage export <ID> > lineage.jsonl
  gantry lineage export <ID> --direction downstream --depth 3
  gantry lineage export --run run-42 --tenant team-ml")]
    Export(ExportArgs),
    /// A picture of a node's lineage: a Mermaid flowchart or a Graphviz DOT digraph.
    #[command(after_help = "\
Examples:
  gantry lineage show <ID> --format mermaid
  gantry lineage show <ID> --direction downstream --format dot | dot -Tpng > impact.png")]
    Show(ShowArgs),
    /// Record OpenLineage run events (a JSON object, or one a line) for a tenant.
    #[command(after_help = "\
Examples:
  gantry lineage record events.jsonl --tenant team-ml
  my-job --emit-openlineage | gantry lineage record - --tenant team-ml")]
    Record {
        /// A file of events, `-` for stdin.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The tenant the runs belong to (you must be one of its members).
        #[arg(long)]
        tenant: String,
    },
}

/// The point of the log a query reads the graph at: a stream sequence
/// (`1234`) or an RFC 3339 time (`2025-03-01T12:00:00Z`).
pub(crate) fn parse_as_of(text: &str) -> Result<AsOf, String> {
    let point = match text.parse::<u64>() {
        Ok(sequence) => as_of::Point::Sequence(sequence),
        Err(_) => as_of::Point::Time(prost_types::Timestamp::from_str(text).map_err(|_| {
            format!("{text:?} is neither a stream sequence nor an RFC 3339 time (2025-03-01T12:00:00Z)")
        })?),
    };
    Ok(AsOf { point: Some(point) })
}

/// What every walk takes.
#[derive(Debug, Args)]
pub(crate) struct WalkArgs {
    /// The node: an artifact id or a dataset version id.
    #[arg(value_name = "ID")]
    pub(crate) node_id: String,
    /// Generations to follow (default 20; impact: everything).
    #[arg(long)]
    pub(crate) depth: Option<u32>,
    /// Only this tenant's nodes.
    #[arg(long)]
    pub(crate) tenant: Option<String>,
    /// Only nodes this agent made (the walk goes through the others).
    #[arg(long)]
    pub(crate) agent: Option<String>,
    /// The graph as it was then: a stream sequence or an RFC 3339 time.
    #[arg(long, value_name = "SEQUENCE|TIME", value_parser = parse_as_of)]
    pub(crate) as_of: Option<AsOf>,
    /// Most nodes in the answer (default 10000).
    #[arg(long)]
    pub(crate) max_nodes: Option<u32>,
    /// Wait until lineage's view has applied this write (an upload's `sequence`).
    #[arg(long)]
    pub(crate) min_sequence: Option<u64>,
    /// How to print it (`--output json` means json too).
    #[arg(long, value_enum, default_value_t = GraphFormat::Table)]
    pub(crate) format: GraphFormat,
}

/// `gantry lineage run`.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The run's id (a pipeline run, or an OpenLineage runId).
    #[arg(value_name = "RUN")]
    pub(crate) run_id: String,
    /// The tenant it belongs to.
    #[arg(long)]
    pub(crate) tenant: String,
    /// The graph as it was then: a stream sequence or an RFC 3339 time.
    #[arg(long, value_name = "SEQUENCE|TIME", value_parser = parse_as_of)]
    pub(crate) as_of: Option<AsOf>,
    /// Wait until lineage's view has applied this write.
    #[arg(long)]
    pub(crate) min_sequence: Option<u64>,
    /// How to print it (`--output json` means json too).
    #[arg(long, value_enum, default_value_t = GraphFormat::Table)]
    pub(crate) format: GraphFormat,
}

/// `gantry lineage export`.
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// The node whose walk to export (or `--run`).
    #[arg(value_name = "ID", required_unless_present = "run", conflicts_with = "run")]
    pub(crate) node_id: Option<String>,
    /// Export a run instead of a walk (with `--tenant`).
    #[arg(long, requires = "tenant")]
    pub(crate) run: Option<String>,
    /// The run's tenant, or the walk's tenant filter.
    #[arg(long)]
    pub(crate) tenant: Option<String>,
    /// Which way to walk.
    #[arg(long, value_enum, default_value_t = Direction::Upstream)]
    pub(crate) direction: Direction,
    /// Generations to follow (default 20).
    #[arg(long)]
    pub(crate) depth: Option<u32>,
    /// The graph as it was then: a stream sequence or an RFC 3339 time.
    #[arg(long, value_name = "SEQUENCE|TIME", value_parser = parse_as_of)]
    pub(crate) as_of: Option<AsOf>,
}

/// `gantry lineage show`.
#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// The node to draw.
    #[arg(value_name = "ID")]
    pub(crate) node_id: String,
    /// Which way to walk.
    #[arg(long, value_enum, default_value_t = Direction::Upstream)]
    pub(crate) direction: Direction,
    /// Generations to follow (default 20).
    #[arg(long)]
    pub(crate) depth: Option<u32>,
    /// The graph as it was then: a stream sequence or an RFC 3339 time.
    #[arg(long, value_name = "SEQUENCE|TIME", value_parser = parse_as_of)]
    pub(crate) as_of: Option<AsOf>,
    /// The picture's language.
    #[arg(long, value_enum, default_value_t = PictureFormat::Mermaid)]
    pub(crate) format: PictureFormat,
}

/// Which way a walk goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Direction {
    /// What it was made from.
    Upstream,
    /// What was made from it.
    Downstream,
}

/// How a graph prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum GraphFormat {
    /// A table of nodes for a terminal.
    Table,
    /// One JSON object.
    Json,
    /// A Mermaid flowchart.
    Mermaid,
    /// A Graphviz DOT digraph.
    Dot,
}

/// A picture's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum PictureFormat {
    /// A Mermaid flowchart.
    Mermaid,
    /// A Graphviz DOT digraph.
    Dot,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_of_reads_a_sequence_or_a_time() {
        assert_eq!(parse_as_of("42").unwrap().point, Some(as_of::Point::Sequence(42)));
        let Some(as_of::Point::Time(time)) = parse_as_of("2025-03-01T12:00:00Z").unwrap().point else {
            panic!("a time")
        };
        assert_eq!(time.seconds, 1_740_830_400);
        assert!(parse_as_of("yesterday").unwrap_err().contains("RFC 3339"));
    }
}
