//! `gantry rotation ...`: the flags of the commands that read and act on
//! rotation: a credential's status, the listing, rotation now, a
//! credential's own policy, and the daily report.

use super::values::{Environment, parse_duration};
use clap::{Args, Subcommand, ValueEnum};
use std::time::Duration;

/// `gantry rotation`.
#[derive(Debug, Subcommand)]
pub(crate) enum RotationCommand {
    /// Show one credential's rotation: period, deadline, next rotation, state.
    #[command(after_help = "\
Examples:
  gantry rotation status goldenpath/prod/orders/postgres
  gantry --output json rotation status goldenpath/prod/orders/postgres | jq -r .deadline")]
    Status {
        /// The credentials' secret.
        #[arg(value_name = "SECRET")]
        secret_name: String,
        /// Wait until rotation's view has applied this write (a command's `sequence`).
        #[arg(long)]
        min_sequence: Option<u64>,
    },
    /// List credentials, soonest deadline first (every page).
    #[command(after_help = "\
Examples:
  gantry rotation list --state overdue
  gantry rotation list --env prod --state due-soon")]
    List {
        /// Only this state.
        #[arg(long, value_enum)]
        state: Option<RotationStateFlag>,
        /// Only this environment.
        #[arg(long = "env", value_enum, value_name = "ENV")]
        environment: Option<Environment>,
        /// Wait until rotation's view has applied this write.
        #[arg(long)]
        min_sequence: Option<u64>,
    },
    /// Rotate a credential now (its requester, its owning team, or
    /// platform-team); prints it as `rotating` and returns.
    #[command(after_help = "\
Examples:
  gantry rotation rotate goldenpath/prod/orders/postgres --reason \"leaked in a CI log\"")]
    Rotate {
        /// The credentials' secret.
        #[arg(value_name = "SECRET")]
        secret_name: String,
        /// Why (kept on the log).
        #[arg(long)]
        reason: Option<String>,
        /// Wait until rotation's view has applied this write.
        #[arg(long)]
        min_sequence: Option<u64>,
    },
    /// Set a credential's own period (at most its risk tier's) and strategy.
    #[command(after_help = "\
Examples:
  gantry rotation policy goldenpath/prod/orders/postgres --period-days 7
  gantry rotation policy goldenpath/prod/orders/postgres --strategy alternating-users --reason \"caches credentials\"
  gantry rotation policy goldenpath/prod/orders/postgres --period-days 0   # back to the tier's")]
    Policy(PolicyArgs),
    /// What is overdue and what is due within a window: the platform's
    /// daily check, as a table, Markdown (for an issue or a pull-request
    /// comment) or JSON.
    #[command(after_help = "\
Exit status: 0 when nothing is overdue (credentials due soon are listed,
not failed); 6 when at least one credential is overdue; 1 on any other
error. A CI job can warn or gate on it.

Examples:
  gantry rotation report --within 7d
  gantry rotation report --within 14d --env prod --format markdown > rotation.md
  gantry rotation report --format json | jq '.overdue | length'")]
    Report(ReportArgs),
}

/// `gantry rotation policy`.
#[derive(Debug, Args)]
pub(crate) struct PolicyArgs {
    /// The credentials' secret.
    #[arg(value_name = "SECRET")]
    pub(crate) secret_name: String,
    /// Days between rotations, 1 to the risk tier's period; 0 for the tier's.
    #[arg(long, default_value_t = 0)]
    pub(crate) period_days: u32,
    /// How it is rotated (unchanged when left out).
    #[arg(long, value_enum)]
    pub(crate) strategy: Option<StrategyFlag>,
    /// Why (kept on the log).
    #[arg(long)]
    pub(crate) reason: Option<String>,
    /// Wait until rotation's view has applied this write.
    #[arg(long)]
    pub(crate) min_sequence: Option<u64>,
}

/// `gantry rotation report`.
#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// The window: credentials whose deadline is within it are due (`7d`,
    /// `36h`, seconds).
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = parse_duration)]
    pub(crate) within: Duration,
    /// Only this environment.
    #[arg(long = "env", value_enum, value_name = "ENV")]
    pub(crate) environment: Option<Environment>,
    /// How to print it (`--output json` means `--format json` too).
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub(crate) format: ReportFormat,
}

/// The formats of `rotation report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ReportFormat {
    /// Tables for a terminal.
    Table,
    /// GitHub-flavoured Markdown.
    Markdown,
    /// One JSON object.
    Json,
}

/// A rotation state (`--state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum RotationStateFlag {
    Ok,
    DueSoon,
    Overdue,
    Rotating,
    Failed,
}

impl From<RotationStateFlag> for gantry_proto::rotation::RotationState {
    fn from(state: RotationStateFlag) -> Self {
        match state {
            RotationStateFlag::Ok => Self::Ok,
            RotationStateFlag::DueSoon => Self::DueSoon,
            RotationStateFlag::Overdue => Self::Overdue,
            RotationStateFlag::Rotating => Self::Rotating,
            RotationStateFlag::Failed => Self::Failed,
        }
    }
}

/// A rotation strategy (`--strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum StrategyFlag {
    /// One role; its password changes.
    SingleUser,
    /// `<user>` and `<user>_clone` take turns.
    AlternatingUsers,
}

impl From<StrategyFlag> for gantry_proto::events::RotationStrategy {
    fn from(strategy: StrategyFlag) -> Self {
        match strategy {
            StrategyFlag::SingleUser => Self::SingleUser,
            StrategyFlag::AlternatingUsers => Self::AlternatingUsers,
        }
    }
}
