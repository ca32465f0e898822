//! The words the command line accepts for enum flags (clap value enums, so
//! `--help` lists them and clap refuses a typo), their proto numbers, and
//! the duration syntax of `--timeout` and `--refresh-interval`.

use clap::ValueEnum;
use gantry_proto::intake as pb;
use gantry_proto::provisioner as provisioner_pb;
use gantry_proto::types;
use std::time::Duration;

/// Where a resource lives (`--env`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Environment {
    Dev,
    Test,
    Staging,
    Prod,
}

impl From<Environment> for types::Environment {
    fn from(environment: Environment) -> Self {
        match environment {
            Environment::Dev => Self::Dev,
            Environment::Test => Self::Test,
            Environment::Staging => Self::Staging,
            Environment::Prod => Self::Prod,
        }
    }
}

/// Risk class of the data (`--risk`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Risk {
    None,
    Low,
    Medium,
    High,
    Access,
}

impl From<Risk> for types::Risk {
    fn from(risk: Risk) -> Self {
        match risk {
            Risk::None => Self::None,
            Risk::Low => Self::Low,
            Risk::Medium => Self::Medium,
            Risk::High => Self::High,
            Risk::Access => Self::Access,
        }
    }
}

/// Size of a database (`--size`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Size {
    Small,
    Medium,
    Large,
    Xlarge,
}

impl From<Size> for types::Size {
    fn from(size: Size) -> Self {
        match size {
            Size::Small => Self::Small,
            Size::Medium => Self::Medium,
            Size::Large => Self::Large,
            Size::Xlarge => Self::Xlarge,
        }
    }
}

/// What a bucket is for (`--purpose`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Purpose {
    BackendState,
    Logs,
    Traces,
    Artifacts,
}

impl From<Purpose> for types::BucketPurpose {
    fn from(purpose: Purpose) -> Self {
        match purpose {
            Purpose::BackendState => Self::BackendState,
            Purpose::Logs => Self::Logs,
            Purpose::Traces => Self::Traces,
            Purpose::Artifacts => Self::Artifacts,
        }
    }
}

/// A request's status, as `request list --status` filters it; the words
/// are the ones the output prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub(crate) enum Status {
    #[value(alias = "pending-approval", alias = "pending")]
    PendingApproval,
    Approved,
    Rejected,
    Cancelled,
    Provisioning,
    Ready,
    Failed,
    DecommissionRequested,
    Decommissioning,
    Decommissioned,
}

impl From<Status> for pb::RequestStatus {
    fn from(status: Status) -> Self {
        match status {
            Status::PendingApproval => Self::PendingApproval,
            Status::Approved => Self::Approved,
            Status::Rejected => Self::Rejected,
            Status::Cancelled => Self::Cancelled,
            Status::Provisioning => Self::Provisioning,
            Status::Ready => Self::Ready,
            Status::Failed => Self::Failed,
            Status::DecommissionRequested => Self::DecommissionRequested,
            Status::Decommissioning => Self::Decommissioning,
            Status::Decommissioned => Self::Decommissioned,
        }
    }
}

/// Where a database or bucket is in its life (`database list --status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ResourceStatus {
    Provisioning,
    Ready,
    Failed,
    Decommissioning,
    Decommissioned,
}

impl From<ResourceStatus> for provisioner_pb::ResourceStatus {
    fn from(status: ResourceStatus) -> Self {
        match status {
            ResourceStatus::Provisioning => Self::Provisioning,
            ResourceStatus::Ready => Self::Ready,
            ResourceStatus::Failed => Self::Failed,
            ResourceStatus::Decommissioning => Self::Decommissioning,
            ResourceStatus::Decommissioned => Self::Decommissioned,
        }
    }
}

/// Whose catalog `catalog export` prints (`--from`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum CatalogSource {
    /// Intake: every database request that holds its name.
    Intake,
    /// The provisioner: the databases and buckets that exist.
    Provisioner,
}

/// Catalog export formats (`catalog export --format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum CatalogFormat {
    /// Intake's `rds-catalog.yaml` (requests that hold their name).
    #[value(alias = "rds-catalog")]
    Rds,
    /// The provisioner's platform catalog (databases and buckets that exist).
    Platform,
    /// Backstage `kind: Resource` entities.
    Backstage,
}

/// Audit export formats (`audit export --format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum AuditFormat {
    /// RFC 4180 CSV with a header row.
    Csv,
}

impl From<AuditFormat> for provisioner_pb::AuditFormat {
    fn from(format: AuditFormat) -> Self {
        match format {
            AuditFormat::Csv => Self::Csv,
        }
    }
}

/// Output formats (`--output`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Output {
    /// Tables and lines for humans.
    Table,
    /// JSON for scripts, errors included (on stderr).
    Json,
}

/// Parses a duration: plain seconds (`90`) or numbers with units `ms`, `s`,
/// `m`, `h`, `d`, combined (`10m`, `1h30m`, `2.5s` is not accepted).
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    let invalid = || format!("{text:?} is not a duration; for example 90, 90s, 10m or 1h30m");
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(invalid)?;
        let number: u64 = rest[..digits].parse().map_err(|_| invalid())?;
        let after_number = &rest[digits..];
        let unit_length = after_number.find(|c: char| c.is_ascii_digit()).unwrap_or(after_number.len());
        let unit = match &after_number[..unit_length] {
            "ms" => Duration::from_millis(1),
            "s" | "sec" => Duration::from_secs(1),
            "m" | "min" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            "d" => Duration::from_secs(86_400),
            _ => return Err(invalid()),
        };
        let part = u32::try_from(number).ok().and_then(|number| unit.checked_mul(number)).ok_or_else(invalid)?;
        total = total.checked_add(part).ok_or_else(invalid)?;
        rest = &after_number[unit_length..];
    }
    if text.is_empty() {
        return Err(invalid());
    }
    Ok(total)
}

/// Returns a duration as the user would write it, which is also how Go
/// (and so Kubernetes operators) parse one: `10m`, `1h30m`, `90s` → `1m30s`,
/// `300ms`, `0s`.
pub(crate) fn format_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if seconds == 0 {
        return match duration.as_millis() {
            0 => "0s".into(),
            millis => format!("{millis}ms"),
        };
    }
    let (hours, minutes, seconds) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    let parts = [(hours, "h"), (minutes, "m"), (seconds, "s")];
    parts.iter().filter(|(value, _)| *value > 0).map(|(value, unit)| format!("{value}{unit}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_seconds_or_units() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        for bad in ["", "m", "10x", "1.5s", "-3", "10m-", "99999999999h"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn every_word_maps_to_a_proto_value() {
        for environment in Environment::value_variants() {
            assert_ne!(types::Environment::from(*environment), types::Environment::Unspecified);
        }
        assert_eq!(Status::from_str("pending_approval", false), Ok(Status::PendingApproval));
        assert_eq!(Purpose::from_str("backend-state", false), Ok(Purpose::BackendState));
        assert_eq!(pb::RequestStatus::from(Status::Failed), pb::RequestStatus::Failed);
        assert_eq!(Status::from_str("decommission_requested", false), Ok(Status::DecommissionRequested));
        for status in ResourceStatus::value_variants() {
            assert_ne!(provisioner_pb::ResourceStatus::from(*status), provisioner_pb::ResourceStatus::Unspecified);
        }
    }

    #[test]
    fn durations_read_as_typed_and_as_go_parses_them() {
        assert_eq!(format_duration(Duration::from_secs(600)), "10m");
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_secs(172_800)), "48h");
        assert_eq!(format_duration(Duration::from_millis(300)), "300ms");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }
}
