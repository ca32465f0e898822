//! A watch's start and filters, from a gRPC request or an HTTP query,
//! checked field by field (every violation answered at once).

use crate::scope::Scope;
use gantry_eventlog::{StartAt, StreamSettings};
use gantry_service::api::{ApiError, Checks};
use std::collections::BTreeSet;
use std::time::SystemTime;

/// The environments a request can be in.
const ENVIRONMENTS: [&str; 4] = ["dev", "test", "staging", "prod"];
/// Most values one filter takes.
const MAX_VALUES: usize = 64;
/// Longest value of a filter.
const MAX_VALUE_BYTES: usize = 128;

/// Where a watch starts and what it lets through.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WatchFilter {
    /// Where the stream starts.
    pub(crate) start: StartAt,
    /// Event types let through; empty: all.
    pub(crate) event_types: BTreeSet<String>,
    /// Aggregate types let through; empty: all.
    pub(crate) aggregate_types: BTreeSet<String>,
    /// Environments let through; empty: all.
    pub(crate) environments: BTreeSet<String>,
    /// Tenants let through; empty: all.
    pub(crate) tenants: BTreeSet<String>,
}

/// A filter as asked for, before it is checked.
#[derive(Debug, Default)]
pub(crate) struct AskedFilter {
    pub(crate) start: Option<StartAt>,
    pub(crate) event_types: Vec<String>,
    pub(crate) aggregate_types: Vec<String>,
    pub(crate) environments: Vec<String>,
    pub(crate) tenants: Vec<String>,
}

/// True for a lower-case word of letters, digits and `_`, starting with a letter.
fn is_word(value: &str) -> bool {
    value.starts_with(|c: char| c.is_ascii_lowercase())
        && value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// `<service>.<event>.v<N>`, as the envelope names event types.
fn is_event_type(value: &str) -> bool {
    let parts: Vec<&str> = value.split('.').collect();
    matches!(parts.as_slice(), [service, event, version]
        if is_word(service) && is_word(event)
            && version.strip_prefix('v').is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit())))
}

/// A tenant name: printable, no spaces, no NATS wildcards.
fn is_tenant(value: &str) -> bool {
    !value.is_empty() && value.chars().all(|c| c.is_ascii_graphic() && c != '*' && c != '>')
}

fn values(
    field: &str,
    asked: Vec<String>,
    valid: impl Fn(&str) -> bool,
    expected: &str,
) -> Result<BTreeSet<String>, (String, String)> {
    if asked.len() > MAX_VALUES {
        return Err((field.to_owned(), format!("at most {MAX_VALUES} values")));
    }
    let mut kept = BTreeSet::new();
    for value in asked {
        let value = value.trim().to_owned();
        if value.len() > MAX_VALUE_BYTES || !valid(&value) {
            let shown: String = value.chars().take(40).collect();
            return Err((field.to_owned(), format!("{shown:?} is not {expected}")));
        }
        kept.insert(value);
    }
    Ok(kept)
}

impl AskedFilter {
    /// Checks every field; the violations all at once.
    pub(crate) fn check(self) -> Result<WatchFilter, ApiError> {
        let mut checks = Checks::default();
        let event_types = checks.take(values(
            "event_types",
            self.event_types,
            is_event_type,
            "an event type such as intake.database_requested.v1",
        ));
        let aggregate_types =
            checks.take(values("aggregate_types", self.aggregate_types, is_word, "an aggregate type such as request"));
        let environments = checks.take(values(
            "environments",
            self.environments,
            |value| ENVIRONMENTS.contains(&value),
            "one of dev, test, staging, prod",
        ));
        let tenants = checks.take(values("tenants", self.tenants, is_tenant, "a tenant name"));
        checks.finish()?;
        Ok(WatchFilter {
            start: self.start.unwrap_or(StartAt::Next),
            event_types: event_types.unwrap_or_default(),
            aggregate_types: aggregate_types.unwrap_or_default(),
            environments: environments.unwrap_or_default(),
            tenants: tenants.unwrap_or_default(),
        })
    }
}

impl WatchFilter {
    /// The one subject filter the log reader takes (NATS 2.9): one
    /// aggregate type's wildcard, or the whole log.
    pub(crate) fn filter_subject(&self, stream: &StreamSettings) -> String {
        match self.aggregate_types.iter().collect::<Vec<_>>().as_slice() {
            [only] => stream.subjects_of(only),
            _ => format!("{}.>", stream.subject_prefix),
        }
    }

    /// True when the filters let an event through (the type and aggregate
    /// checks come first: they need no scope).
    pub(crate) fn admits_kind(&self, event_type: &str, aggregate_type: &str) -> bool {
        (self.event_types.is_empty() || self.event_types.contains(event_type))
            && (self.aggregate_types.is_empty() || self.aggregate_types.contains(aggregate_type))
    }

    /// True when the event's scope passes the environment and tenant filters.
    pub(crate) fn admits_scope(&self, scope: &Scope) -> bool {
        (self.environments.is_empty() || self.environments.contains(&scope.environment))
            && (self.tenants.is_empty() || self.tenants.contains(&scope.tenant))
    }
}

/// Reads an RFC 3339 time (`2026-12-01T02:00:00Z`) into a start.
pub(crate) fn parse_since(field: &str, value: &str) -> Result<StartAt, (String, String)> {
    value
        .parse::<prost_types::Timestamp>()
        .ok()
        .and_then(|timestamp| SystemTime::try_from(timestamp).ok())
        .map(StartAt::Time)
        .ok_or_else(|| (field.to_owned(), format!("{value:?} is not an RFC 3339 time such as 2026-12-01T02:00:00Z")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked() -> AskedFilter {
        AskedFilter {
            event_types: vec!["intake.database_requested.v1".into()],
            aggregate_types: vec!["request".into()],
            environments: vec!["prod".into()],
            tenants: vec!["team-ml".into()],
            ..Default::default()
        }
    }

    #[test]
    fn good_filters_pass_and_pick_one_subject() {
        let filter = asked().check().unwrap();
        assert_eq!(filter.start, StartAt::Next);
        assert_eq!(filter.filter_subject(&StreamSettings::default()), "gantry.request.>");
        let two = AskedFilter { aggregate_types: vec!["request".into(), "run".into()], ..asked() }.check().unwrap();
        assert_eq!(two.filter_subject(&StreamSettings::default()), "gantry.>");
        assert!(filter.admits_kind("intake.database_requested.v1", "request"));
        assert!(!filter.admits_kind("intake.request_rejected.v1", "request"));
        assert!(!filter.admits_kind("intake.database_requested.v1", "name"));
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let bad = AskedFilter {
            event_types: vec!["requested".into()],
            aggregate_types: vec!["Request>".into()],
            environments: vec!["production".into()],
            tenants: vec!["a b".into()],
            ..Default::default()
        };
        let ApiError::Invalid(violations) = bad.check().unwrap_err() else { panic!("not invalid") };
        let fields: Vec<&str> = violations.iter().map(|(field, _)| field.as_str()).collect();
        assert_eq!(fields, ["event_types", "aggregate_types", "environments", "tenants"]);
    }

    #[test]
    fn scope_filters_match_environment_and_tenant() {
        let filter = asked().check().unwrap();
        let scope = |environment: &str, tenant: &str| Scope { environment: environment.into(), tenant: tenant.into() };
        assert!(filter.admits_scope(&scope("prod", "team-ml")));
        assert!(!filter.admits_scope(&scope("dev", "team-ml")));
        assert!(!filter.admits_scope(&scope("prod", "")));
        let open = AskedFilter::default().check().unwrap();
        assert!(open.admits_scope(&scope("", "")));
    }

    #[test]
    fn since_takes_rfc3339_only() {
        assert!(matches!(parse_since("since", "2026-12-01T02:00:00Z"), Ok(StartAt::Time(_))));
        assert_eq!(parse_since("since", "yesterday").unwrap_err().0, "since");
    }
}
