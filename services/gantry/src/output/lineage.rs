//! Lineage's answers as the client prints them: a table of nodes (and, for
//! an impact, of the runs to re-run), one JSON object, or a picture —
//! Mermaid or DOT, drawn by `gantry_lineage::render`, the one place that
//! draws them (the service exports OpenLineage with the same module).

use super::fields::time;
use super::{Printer, plain_table};
use crate::cli::{GraphFormat, Output, PictureFormat};
use gantry_lineage::render;
use gantry_proto::lineage::{self as pb, NodeKind, ProducerKind};
use serde_json::{Value, json};
use std::collections::HashMap;

fn kind_word(kind: i32) -> &'static str {
    match NodeKind::try_from(kind) {
        Ok(NodeKind::Artifact) => "artifact",
        Ok(NodeKind::Dataset) => "dataset",
        _ => "unknown",
    }
}

fn producer_kind_word(kind: i32) -> &'static str {
    match ProducerKind::try_from(kind) {
        Ok(ProducerKind::Step) => "step",
        Ok(ProducerKind::OpenLineageRun) => "openlineage_run",
        _ => "unknown",
    }
}

fn node_json(node: &pb::Node) -> Value {
    json!({
        "node_id": node.node_id,
        "kind": kind_word(node.kind),
        "tenant": node.tenant,
        "name": node.name,
        "namespace": node.namespace,
        "media_type": node.media_type,
        "sha256": node.sha256,
        "size_bytes": node.size_bytes,
        "producer_id": node.producer_id,
        "depth": node.depth,
        "expired": node.expired,
        "appeared_at": time(node.appeared_at),
        "appeared_sequence": node.appeared_sequence,
        "expired_at": time(node.expired_at),
    })
}

fn producer_json(producer: &pb::Producer) -> Value {
    json!({
        "producer_id": producer.producer_id,
        "kind": producer_kind_word(producer.kind),
        "tenant": producer.tenant,
        "run_id": producer.run_id,
        "step_id": producer.step_id,
        "agent": producer.agent,
        "agent_version": producer.agent_version,
        "job_namespace": producer.job_namespace,
        "job_name": producer.job_name,
        "state": producer.state,
        "appeared_at": time(producer.appeared_at),
        "appeared_sequence": producer.appeared_sequence,
    })
}

/// A graph as one JSON object.
pub(crate) fn graph_json(graph: &pb::Graph) -> Value {
    json!({
        "root_id": graph.root_id,
        "nodes": graph.nodes.iter().map(node_json).collect::<Vec<_>>(),
        "edges": graph.edges.iter().map(|edge| json!({
            "input_id": edge.input_id, "output_id": edge.output_id, "producer_id": edge.producer_id,
        })).collect::<Vec<_>>(),
        "producers": graph.producers.iter().map(producer_json).collect::<Vec<_>>(),
        "truncated": graph.truncated,
        "as_of_sequence": graph.as_of_sequence,
    })
}

/// What made a node, in a few words: `run-42 / train` or `airflow/etl.load`.
fn made_by(node: &pb::Node, producers: &HashMap<&str, &pb::Producer>) -> String {
    match producers.get(node.producer_id.as_str()) {
        Some(producer) if producer.kind == ProducerKind::OpenLineageRun as i32 => {
            format!("{}/{}", producer.job_namespace, producer.job_name)
        }
        Some(producer) => {
            format!("{} / {} ({} {})", producer.run_id, producer.step_id, producer.agent, producer.agent_version)
        }
        None => String::new(),
    }
}

/// A graph's nodes as a table, with a line on the point it reflects.
fn graph_table(graph: &pb::Graph) -> String {
    let producers: HashMap<&str, &pb::Producer> =
        graph.producers.iter().map(|producer| (producer.producer_id.as_str(), producer)).collect();
    let mut table = plain_table(&["DEPTH", "KIND", "ID", "NAME", "TENANT", "MADE BY", "EXPIRED"]);
    for node in &graph.nodes {
        let name =
            if node.namespace.is_empty() { node.name.clone() } else { format!("{} ({})", node.name, node.namespace) };
        table.add_row(vec![
            node.depth.to_string(),
            kind_word(node.kind).to_owned(),
            node.node_id.clone(),
            name,
            node.tenant.clone(),
            made_by(node, &producers),
            if node.expired { "yes".to_owned() } else { String::new() },
        ]);
    }
    let mut text = format!(
        "{table}\n{} nodes, {} edges, as of sequence {}",
        graph.nodes.len(),
        graph.edges.len(),
        graph.as_of_sequence
    );
    if graph.truncated {
        text.push_str("; truncated at the node cap (raise --max-nodes or lower --depth)");
    }
    text.push('\n');
    text
}

impl Printer {
    /// Prints a graph in `format` (`--output json` always prints JSON).
    pub(crate) fn graph(&self, graph: &pb::Graph, format: GraphFormat) {
        match (self.output, format) {
            (Output::Json, _) | (_, GraphFormat::Json) => println!("{}", graph_json(graph)),
            (_, GraphFormat::Mermaid) => print!("{}", render::mermaid(graph)),
            (_, GraphFormat::Dot) => print!("{}", render::dot(graph)),
            (_, GraphFormat::Table) => print!("{}", graph_table(graph)),
        }
    }

    /// Prints a picture of a graph.
    pub(crate) fn picture(&self, graph: &pb::Graph, format: PictureFormat) {
        match format {
            PictureFormat::Mermaid => print!("{}", render::mermaid(graph)),
            PictureFormat::Dot => print!("{}", render::dot(graph)),
        }
    }

    /// Prints an impact: the graph, then the runs to re-run.
    pub(crate) fn impact(&self, impact: &pb::ImpactResponse, format: GraphFormat) {
        let graph = impact.graph.clone().unwrap_or_default();
        let runs = || {
            impact.runs.iter().map(|run| {
                json!({"tenant": run.tenant, "run_id": run.run_id, "step_ids": run.step_ids, "outputs": run.outputs})
            })
        };
        match (self.output, format) {
            (Output::Json, _) | (_, GraphFormat::Json) => {
                println!("{}", json!({"graph": graph_json(&graph), "runs": runs().collect::<Vec<_>>()}));
            }
            (_, GraphFormat::Table) => {
                print!("{}", graph_table(&graph));
                let mut table = plain_table(&["TENANT", "RUN", "STEPS TO RE-RUN", "OUTPUTS"]);
                for run in &impact.runs {
                    table.add_row(vec![
                        run.tenant.clone(),
                        run.run_id.clone(),
                        run.step_ids.join(", "),
                        run.outputs.to_string(),
                    ]);
                }
                println!("\nruns to re-run:\n{table}");
            }
            (_, other) => self.graph(&graph, other),
        }
    }

    /// Prints what recording an OpenLineage event appended.
    pub(crate) fn recorded(&self, answer: &pb::IngestOpenLineageResponse) {
        match self.output {
            Output::Json => println!("{}", json!({"sequence": answer.sequence, "producer_id": answer.producer_id})),
            Output::Table => println!("recorded at sequence {} (producer {})", answer.sequence, answer.producer_id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_graph_table_names_what_made_each_node_and_says_when_it_was_cut() {
        let graph = pb::Graph {
            nodes: vec![pb::Node {
                node_id: "n1".into(),
                kind: NodeKind::Artifact as i32,
                name: "model.bin".into(),
                tenant: "acme".into(),
                producer_id: "p1".into(),
                depth: 1,
                expired: true,
                ..Default::default()
            }],
            producers: vec![pb::Producer {
                producer_id: "p1".into(),
                run_id: "run-42".into(),
                step_id: "train".into(),
                agent: "trainer".into(),
                agent_version: "1.2".into(),
                ..Default::default()
            }],
            truncated: true,
            as_of_sequence: 77,
            ..Default::default()
        };
        let text = graph_table(&graph);
        assert!(text.contains("run-42 / train (trainer 1.2)") && text.contains("yes"), "{text}");
        assert!(text.contains("as of sequence 77; truncated"), "{text}");
        let json = graph_json(&graph);
        assert_eq!(json["nodes"][0]["kind"], "artifact");
        assert_eq!(json["as_of_sequence"], 77);
    }
}
