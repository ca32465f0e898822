//! A lineage graph as others read it, in one place for the service and
//! the CLI: a Mermaid flowchart or a Graphviz DOT digraph of a query's
//! answer (nodes as boxes, producers as rounded boxes between their inputs
//! and outputs, the node asked about in bold, expired ones dashed), and
//! OpenLineage run events (one per producer). Pure functions of the
//! answer's messages.

use gantry_proto::lineage::{self as pb, NodeKind, ProducerKind};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};

/// The `schemaURL` of the run events exported: the vendored schema's version.
pub const OPENLINEAGE_SCHEMA_URL: &str = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";
/// The `schemaURL` of the parent run facet a step's event carries.
const PARENT_FACET_SCHEMA_URL: &str =
    "https://openlineage.io/spec/facets/1-1-0/ParentRunFacet.json#/$defs/ParentRunFacet";

/// The `producer` URI of the run events exported.
pub fn producer_uri() -> String {
    format!("urn:gantry:lineage:{}", env!("CARGO_PKG_VERSION"))
}

/// The OpenLineage namespace of a tenant's artifacts and steps.
pub fn tenant_namespace(tenant: &str) -> String {
    format!("gantry://{tenant}")
}

/// The last 8 characters of an id, for labels: UUIDv7s made the same
/// minute share their first ones (a time), their tails are random.
fn short(id: &str) -> &str {
    id.get(id.len().saturating_sub(8)..).unwrap_or(id)
}

/// A node's label lines.
fn node_lines(node: &pb::Node) -> Vec<String> {
    let mut lines = if node.kind == NodeKind::Dataset as i32 {
        vec![node.name.clone(), node.namespace.clone()]
    } else {
        vec![node.name.clone(), node.media_type.clone()]
    };
    lines.push(short(&node.node_id).to_owned());
    if node.expired {
        lines.push("expired".to_owned());
    }
    lines.retain(|line| !line.is_empty());
    lines
}

/// A producer's label lines.
fn producer_lines(producer: &pb::Producer) -> Vec<String> {
    if producer.kind == ProducerKind::OpenLineageRun as i32 {
        let state = if producer.state.is_empty() { String::new() } else { format!(" {}", producer.state) };
        vec![
            format!("{}/{}", producer.job_namespace, producer.job_name),
            format!("run {}{state}", short(&producer.run_id)),
        ]
    } else {
        vec![
            format!("{} / {}", producer.run_id, producer.step_id),
            format!("{} {}", producer.agent, producer.agent_version),
        ]
    }
}

/// The picture's parts, with short aliases (`n0`, `p0`) for ids.
struct Picture<'a> {
    graph: &'a pb::Graph,
    nodes: HashMap<&'a str, String>,
    producers: HashMap<&'a str, String>,
}

impl<'a> Picture<'a> {
    fn new(graph: &'a pb::Graph) -> Self {
        let nodes =
            graph.nodes.iter().enumerate().map(|(index, node)| (node.node_id.as_str(), format!("n{index}"))).collect();
        let producers = graph
            .producers
            .iter()
            .enumerate()
            .map(|(index, producer)| (producer.producer_id.as_str(), format!("p{index}")))
            .collect();
        Self { graph, nodes, producers }
    }

    /// Every arrow: input → producer, producer → output, once each.
    fn arrows(&self) -> BTreeSet<(String, String)> {
        let mut arrows = BTreeSet::new();
        for edge in &self.graph.edges {
            if let (Some(input), Some(producer)) =
                (self.nodes.get(edge.input_id.as_str()), self.producers.get(edge.producer_id.as_str()))
            {
                arrows.insert((input.clone(), producer.clone()));
            }
        }
        for node in &self.graph.nodes {
            if let Some(producer) = self.producers.get(node.producer_id.as_str()) {
                arrows.insert((producer.clone(), self.nodes[node.node_id.as_str()].clone()));
            }
        }
        arrows
    }
}

fn mermaid_text(lines: &[String]) -> String {
    lines
        .iter()
        .map(|line| line.replace('"', "#quot;").replace('<', "#lt;").replace('>', "#gt;").replace(['\n', '\r'], " "))
        .collect::<Vec<_>>()
        .join("<br/>")
}

/// The graph as a Mermaid flowchart (left to right).
pub fn mermaid(graph: &pb::Graph) -> String {
    let picture = Picture::new(graph);
    let mut out = String::from("flowchart LR\n");
    out.push_str("  classDef root stroke-width:3px\n  classDef expired stroke-dasharray: 5 5,color:#888\n");
    for node in &graph.nodes {
        out.push_str(&format!("  {}[\"{}\"]\n", picture.nodes[node.node_id.as_str()], mermaid_text(&node_lines(node))));
    }
    for producer in &graph.producers {
        let alias = &picture.producers[producer.producer_id.as_str()];
        out.push_str(&format!("  {alias}([\"{}\"])\n", mermaid_text(&producer_lines(producer))));
    }
    for (from, to) in picture.arrows() {
        out.push_str(&format!("  {from} --> {to}\n"));
    }
    for node in &graph.nodes {
        let alias = &picture.nodes[node.node_id.as_str()];
        if node.node_id == graph.root_id {
            out.push_str(&format!("  class {alias} root\n"));
        }
        if node.expired {
            out.push_str(&format!("  class {alias} expired\n"));
        }
    }
    out
}

fn dot_text(lines: &[String]) -> String {
    lines
        .iter()
        .map(|line| line.replace('\\', "\\\\").replace('"', "\\\"").replace(['\n', '\r'], " "))
        .collect::<Vec<_>>()
        .join("\\n")
}

/// The graph as a Graphviz DOT digraph (left to right).
pub fn dot(graph: &pb::Graph) -> String {
    let picture = Picture::new(graph);
    let mut out = String::from("digraph lineage {\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n");
    for node in &graph.nodes {
        let mut style = Vec::new();
        if node.node_id == graph.root_id {
            style.push("bold");
        }
        if node.expired {
            style.push("dashed");
        }
        let style = if style.is_empty() { String::new() } else { format!(", style=\"{}\"", style.join(",")) };
        let alias = &picture.nodes[node.node_id.as_str()];
        out.push_str(&format!("  {alias} [shape=box, label=\"{}\"{style}];\n", dot_text(&node_lines(node))));
    }
    for producer in &graph.producers {
        let alias = &picture.producers[producer.producer_id.as_str()];
        out.push_str(&format!(
            "  {alias} [shape=box, style=rounded, label=\"{}\"];\n",
            dot_text(&producer_lines(producer))
        ));
    }
    for (from, to) in picture.arrows() {
        out.push_str(&format!("  {from} -> {to};\n"));
    }
    out.push_str("}\n");
    out
}

/// A node as an OpenLineage dataset: a dataset version by its own
/// namespace and name, an artifact in its tenant's namespace by its id.
fn dataset(node: &pb::Node) -> Value {
    if node.kind == NodeKind::Dataset as i32 {
        json!({"namespace": node.namespace, "name": node.name})
    } else {
        json!({"namespace": tenant_namespace(&node.tenant), "name": node.node_id})
    }
}

fn rfc3339(timestamp: Option<prost_types::Timestamp>) -> String {
    timestamp.unwrap_or_default().to_string()
}

/// One OpenLineage `RunEvent` of a producer with its inputs and outputs:
/// an OpenLineage run as it last reported itself; a step as a COMPLETE run
/// of job `<step>` in its tenant's namespace (run id: the producer id),
/// with its pipeline run as the parent run facet.
pub fn openlineage_event(producer: &pb::Producer, inputs: &[&pb::Node], outputs: &[&pb::Node]) -> Value {
    let last_output = outputs.iter().filter_map(|node| node.appeared_at).max_by_key(|time| (time.seconds, time.nanos));
    let event_time = last_output.or(producer.appeared_at);
    let uri = producer_uri();
    let (run, job, event_type) = if producer.kind == ProducerKind::OpenLineageRun as i32 {
        let state = if producer.state.is_empty() { "OTHER".to_owned() } else { producer.state.clone() };
        (
            json!({"runId": producer.run_id}),
            json!({"namespace": producer.job_namespace, "name": producer.job_name}),
            state,
        )
    } else {
        let namespace = tenant_namespace(&producer.tenant);
        let parent = json!({
            "_producer": uri,
            "_schemaURL": PARENT_FACET_SCHEMA_URL,
            "run": {"runId": crate::ids::pipeline_run(&producer.tenant, &producer.run_id).to_string()},
            "job": {"namespace": namespace, "name": producer.run_id},
        });
        (
            json!({"runId": producer.producer_id, "facets": {"parent": parent}}),
            json!({"namespace": namespace, "name": producer.step_id}),
            "COMPLETE".to_owned(),
        )
    };
    json!({
        "eventType": event_type,
        "eventTime": rfc3339(event_time),
        "producer": uri,
        "schemaURL": OPENLINEAGE_SCHEMA_URL,
        "run": run,
        "job": job,
        "inputs": inputs.iter().map(|node| dataset(node)).collect::<Vec<_>>(),
        "outputs": outputs.iter().map(|node| dataset(node)).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph() -> pb::Graph {
        let node = |id: &str, name: &str, producer: &str, expired: bool| pb::Node {
            node_id: id.into(),
            kind: NodeKind::Artifact as i32,
            tenant: "acme".into(),
            name: name.into(),
            media_type: "text/csv".into(),
            producer_id: producer.into(),
            expired,
            ..Default::default()
        };
        pb::Graph {
            root_id: "00000000-0000-7000-8000-000022222222".into(),
            nodes: vec![
                node("00000000-0000-7000-8000-000022222222", "report \"final\".html", "p-eval", false),
                node("00000000-0000-7000-8000-000011111111", "raw.csv", "", true),
            ],
            edges: vec![pb::Edge {
                input_id: "00000000-0000-7000-8000-000011111111".into(),
                output_id: "00000000-0000-7000-8000-000022222222".into(),
                producer_id: "p-eval".into(),
            }],
            producers: vec![pb::Producer {
                producer_id: "p-eval".into(),
                kind: ProducerKind::Step as i32,
                tenant: "acme".into(),
                run_id: "run-42".into(),
                step_id: "evaluate".into(),
                agent: "trainer".into(),
                agent_version: "1.2".into(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn mermaid_draws_input_producer_output_with_escaped_labels() {
        let text = mermaid(&graph());
        assert!(text.starts_with("flowchart LR\n"), "{text}");
        assert!(text.contains("n0[\"report #quot;final#quot;.html<br/>text/csv<br/>22222222\"]"), "{text}");
        assert!(text.contains("p0([\"run-42 / evaluate<br/>trainer 1.2\"])"), "{text}");
        assert!(text.contains("  n1 --> p0\n") && text.contains("  p0 --> n0\n"), "{text}");
        assert!(text.contains("class n0 root") && text.contains("class n1 expired"), "{text}");
    }

    #[test]
    fn dot_draws_the_same_graph() {
        let text = dot(&graph());
        assert!(text.starts_with("digraph lineage {"), "{text}");
        assert!(
            text.contains("n0 [shape=box, label=\"report \\\"final\\\".html\\ntext/csv\\n22222222\", style=\"bold\"];"),
            "{text}"
        );
        assert!(text.contains("n1 [shape=box") && text.contains("style=\"dashed\""), "{text}");
        assert!(text.contains("  n1 -> p0;\n  p0 -> n0;\n"), "{text}");
        assert!(text.trim_end().ends_with('}'));
    }

    #[test]
    fn a_step_exports_as_a_complete_run_with_its_pipeline_as_parent() {
        let graph = graph();
        let event = openlineage_event(&graph.producers[0], &[&graph.nodes[1]], &[&graph.nodes[0]]);
        assert_eq!(event["eventType"], "COMPLETE");
        assert_eq!(event["job"], json!({"namespace": "gantry://acme", "name": "evaluate"}));
        assert_eq!(event["run"]["facets"]["parent"]["job"]["name"], "run-42");
        assert_eq!(event["inputs"][0]["name"], "00000000-0000-7000-8000-000011111111");
        assert_eq!(event["schemaURL"], OPENLINEAGE_SCHEMA_URL);
    }
}
