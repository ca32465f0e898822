//! `gantry events ...`: the flags of the event stream's commands.

use super::values::parse_duration;
use clap::{Args, Subcommand};
use std::time::SystemTime;

/// `gantry events`.
#[derive(Debug, Subcommand)]
pub(crate) enum EventsCommand {
    /// Follow the event log (console's EventService): every event you may
    /// see, from a sequence, a time or now, until interrupted.
    #[command(after_help = "\
One line per event: sequence, time, type, aggregate, environment or
tenant, actor; with --output json, one JSON object per line (`sequence`,
`subject`, `environment`, `tenant` and the `envelope` as protobuf JSON).
A watch that ends (a slow reader cut off, console restarting) is resumed
after the last sequence printed, so nothing is missed or printed twice.

Examples:
  gantry events watch
  gantry events watch --from 1 --type intake.database_requested.v1 --environment prod
  gantry events watch --since 1h --aggregate-type request
  gantry --output json events watch --from 1 | jq -c 'select(.envelope.event_type | startswith(\"rotation.\"))'")]
    Watch(EventsWatchArgs),
}

/// `gantry events watch`.
#[derive(Debug, Args)]
pub(crate) struct EventsWatchArgs {
    /// Start at this sequence (inclusive; 1: the log's first event).
    #[arg(long, value_name = "SEQ", conflicts_with = "since")]
    pub(crate) from: Option<u64>,
    /// Start at this time: RFC 3339 (`2026-12-01T02:00:00Z`) or that long
    /// ago (`10m`, `2h`, `1d`). Neither --from nor --since: from now.
    #[arg(long, value_name = "TIME", value_parser = parse_since)]
    pub(crate) since: Option<SystemTime>,
    /// Only these event types (repeat or comma-separate).
    #[arg(long = "type", value_name = "TYPE", value_delimiter = ',')]
    pub(crate) event_types: Vec<String>,
    /// Only these aggregate types (`request`, `name`, `blob`, `run`).
    #[arg(long = "aggregate-type", value_name = "TYPE", value_delimiter = ',')]
    pub(crate) aggregate_types: Vec<String>,
    /// Only these environments (`dev`, `test`, `staging`, `prod`).
    #[arg(long = "environment", value_name = "ENV", value_delimiter = ',')]
    pub(crate) environments: Vec<String>,
    /// Only these tenants (the artifact store's).
    #[arg(long = "tenant", value_name = "TENANT", value_delimiter = ',')]
    pub(crate) tenants: Vec<String>,
    /// Stop after this many events (default: follow until interrupted).
    #[arg(long, value_name = "N")]
    pub(crate) limit: Option<u64>,
}

/// Reads `--since`: an RFC 3339 time, or a duration meaning that long ago.
fn parse_since(text: &str) -> Result<SystemTime, String> {
    if let Ok(timestamp) = text.parse::<prost_types::Timestamp>() {
        return SystemTime::try_from(timestamp).map_err(|error| error.to_string());
    }
    let ago = parse_duration(text).map_err(|_| format!("{text:?} is neither an RFC 3339 time nor a duration"))?;
    SystemTime::now().checked_sub(ago).ok_or_else(|| format!("{text} ago is before the epoch"))
}
