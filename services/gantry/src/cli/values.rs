//! The words the command line accepts for enum flags (clap value enums, so
//! `--help` lists them and clap refuses a typo), their proto numbers, and
//! the `--timeout` duration syntax.

use clap::ValueEnum;
use gantry_proto::intake as pb;
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
        }
    }
}

/// Catalog export formats (`catalog export --format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum CatalogFormat {
    /// The platform's `rds-catalog.yaml`.
    #[value(alias = "rds-catalog")]
    Rds,
    /// Backstage `kind: Resource` entities.
    Backstage,
}

impl From<CatalogFormat> for pb::CatalogFormat {
    fn from(format: CatalogFormat) -> Self {
        match format {
            CatalogFormat::Rds => Self::RdsCatalog,
            CatalogFormat::Backstage => Self::Backstage,
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
        assert_eq!(pb::CatalogFormat::from(CatalogFormat::Rds), pb::CatalogFormat::RdsCatalog);
    }
}
