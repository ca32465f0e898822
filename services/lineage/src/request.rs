//! Queries at the edge: every field of a request checked at once into a
//! [`Query`] or a [`RunQuery`], or one list of field violations. Pure.

use crate::settings::LineageSettings;
use gantry_proto::lineage::{self as pb, as_of};
use gantry_service::api::Checks;
use uuid::Uuid;

/// A field violation: (field, what is wrong).
type Violation = (String, String);

/// The point of the log a query reads the graph at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Point {
    /// What the view holds now.
    Now,
    /// As of this stream sequence.
    Sequence(u64),
    /// As of this time, in seconds since the epoch.
    Time(f64),
}

/// A checked Upstream, Downstream or Impact request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Query {
    pub(crate) node: Uuid,
    pub(crate) depth: u32,
    pub(crate) tenant: Option<String>,
    pub(crate) agent: Option<String>,
    pub(crate) point: Point,
    pub(crate) max_nodes: usize,
    pub(crate) min_sequence: u64,
}

/// A checked Run request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RunQuery {
    pub(crate) tenant: String,
    pub(crate) run_id: String,
    pub(crate) point: Point,
    pub(crate) min_sequence: u64,
}

fn field(prefix: &str, name: &str) -> String {
    if prefix.is_empty() { name.to_owned() } else { format!("{prefix}.{name}") }
}

fn point(prefix: &str, value: Option<&pb::AsOf>) -> Result<Point, Violation> {
    match value.and_then(|as_of| as_of.point.as_ref()) {
        None => Ok(Point::Now),
        Some(as_of::Point::Sequence(0)) => {
            Err((field(prefix, "as_of.sequence"), "a stream sequence, 1 or more (unset: now)".into()))
        }
        Some(as_of::Point::Sequence(sequence)) => Ok(Point::Sequence(*sequence)),
        Some(as_of::Point::Time(time)) if (0..1_000_000_000).contains(&time.nanos) => {
            Ok(Point::Time(time.seconds as f64 + f64::from(time.nanos) / 1e9))
        }
        Some(as_of::Point::Time(_)) => Err((field(prefix, "as_of.time"), "not a valid timestamp".into())),
    }
}

fn label(name: String, value: &str, max: usize) -> Result<Option<String>, Violation> {
    match value {
        "" => Ok(None),
        value if value.len() <= max && !value.chars().any(char::is_control) => Ok(Some(value.to_owned())),
        _ => Err((name, format!("at most {max} bytes, no control characters"))),
    }
}

fn bounded(name: String, value: u32, default: u32, limit: u32) -> Result<u32, Violation> {
    match value {
        0 => Ok(default.min(limit).max(1)),
        value if value <= limit => Ok(value),
        _ => Err((name, format!("at most {limit} (0: {default})"))),
    }
}

impl Query {
    /// Checks a walk's request; `default_depth` applies when it names none.
    pub(crate) fn parse(
        prefix: &str,
        message: &pb::TraverseRequest,
        settings: &LineageSettings,
        default_depth: u32,
    ) -> Result<Self, Vec<Violation>> {
        let mut checks = Checks::default();
        let node = checks.take(
            Uuid::try_parse(&message.node_id)
                .map_err(|_| (field(prefix, "node_id"), format!("{:?} is not a node id (a UUID)", message.node_id))),
        );
        let depth = checks.take(bounded(field(prefix, "depth"), message.depth, default_depth, settings.max_depth));
        let tenant = checks.take(match message.tenant.as_str() {
            "" => Ok(None),
            tenant => gantry_service::tenancy::tenant(&field(prefix, "tenant"), tenant).map(Some),
        });
        let agent = checks.take(label(field(prefix, "agent"), &message.agent, 128));
        let point = checks.take(point(prefix, message.as_of.as_ref()));
        let max_nodes = checks.take(bounded(
            field(prefix, "max_nodes"),
            message.max_nodes,
            settings.default_max_nodes,
            settings.max_nodes_limit,
        ));
        match (node, depth, tenant, agent, point, max_nodes) {
            (Some(node), Some(depth), Some(tenant), Some(agent), Some(point), Some(max_nodes))
                if checks.0.is_empty() =>
            {
                Ok(Self {
                    node,
                    depth,
                    tenant,
                    agent,
                    point,
                    max_nodes: max_nodes as usize,
                    min_sequence: message.min_sequence,
                })
            }
            _ => Err(checks.0),
        }
    }
}

impl RunQuery {
    /// Checks a Run request.
    pub(crate) fn parse(prefix: &str, message: &pb::RunRequest) -> Result<Self, Vec<Violation>> {
        let mut checks = Checks::default();
        let tenant = checks.take(gantry_service::tenancy::tenant(&field(prefix, "tenant"), &message.tenant));
        let run_id = checks.take(match label(field(prefix, "run_id"), &message.run_id, 128) {
            Ok(Some(run_id)) => Ok(run_id),
            Ok(None) => Err((field(prefix, "run_id"), "required".to_owned())),
            Err(violation) => Err(violation),
        });
        let point = checks.take(point(prefix, message.as_of.as_ref()));
        match (tenant, run_id, point) {
            (Some(tenant), Some(run_id), Some(point)) if checks.0.is_empty() => {
                Ok(Self { tenant, run_id, point, min_sequence: message.min_sequence })
            }
            _ => Err(checks.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_in_and_every_bad_field_is_named() {
        let settings = LineageSettings::default();
        let message = pb::TraverseRequest { node_id: Uuid::now_v7().to_string(), ..Default::default() };
        let query = Query::parse("", &message, &settings, 20).unwrap();
        assert_eq!((query.depth, query.max_nodes, query.point), (20, 10_000, Point::Now));
        let bad = pb::TraverseRequest {
            node_id: "x".into(),
            depth: 5000,
            tenant: "Acme".into(),
            agent: "a\nb".into(),
            as_of: Some(pb::AsOf { point: Some(as_of::Point::Sequence(0)) }),
            max_nodes: 1_000_000,
            min_sequence: 0,
        };
        let mut fields: Vec<String> =
            Query::parse("upstream", &bad, &settings, 20).unwrap_err().into_iter().map(|(field, _)| field).collect();
        fields.sort();
        assert_eq!(
            fields,
            [
                "upstream.agent",
                "upstream.as_of.sequence",
                "upstream.depth",
                "upstream.max_nodes",
                "upstream.node_id",
                "upstream.tenant"
            ]
        );
    }

    #[test]
    fn a_run_needs_its_tenant_and_id() {
        let fields: Vec<String> =
            RunQuery::parse("", &pb::RunRequest::default()).unwrap_err().into_iter().map(|(field, _)| field).collect();
        assert_eq!(fields, ["tenant", "run_id"]);
        let time = prost_types::Timestamp { seconds: 10, nanos: 500_000_000 };
        let message = pb::RunRequest {
            tenant: "acme".into(),
            run_id: "run-1".into(),
            as_of: Some(pb::AsOf { point: Some(as_of::Point::Time(time)) }),
            min_sequence: 3,
        };
        assert_eq!(RunQuery::parse("", &message).unwrap().point, Point::Time(10.5));
    }
}
