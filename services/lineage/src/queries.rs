//! The answers: what the reads found turned into a [`pb::Graph`] (the
//! agent filter, the order, each edge with its producer), a run's inputs
//! and outputs, the runs an impact would re-run, and the producers' full
//! inputs and outputs for an OpenLineage export.

use crate::graph::{self, Found};
use gantry_proto::lineage as pb;
use sqlx::PgPool;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use uuid::Uuid;

/// Turns what was found into an answer read as of `answer_sequence`,
/// keeping only the nodes `agent` made (the root always stays), the edges
/// between kept nodes and the producers of kept nodes.
pub(crate) fn answer(found: Found, answer_sequence: u64, agent: Option<&str>) -> pb::Graph {
    let Found { root, mut nodes, mut producers, edges, truncated } = found;
    let agents: HashMap<&str, &str> =
        producers.iter().map(|producer| (producer.producer_id.as_str(), producer.agent.as_str())).collect();
    let root = root.map(|root| root.to_string()).unwrap_or_default();
    nodes.retain(|node| {
        node.node_id == root || agent.is_none_or(|agent| agents.get(node.producer_id.as_str()) == Some(&agent))
    });
    nodes.sort_by(|a, b| (a.depth, a.appeared_sequence, &a.node_id).cmp(&(b.depth, b.appeared_sequence, &b.node_id)));
    let made_by: HashMap<Uuid, &str> =
        nodes.iter().filter_map(|node| Some((node.node_id.parse().ok()?, node.producer_id.as_str()))).collect();
    let mut edges: Vec<pb::Edge> = edges
        .iter()
        .filter(|(input, _)| made_by.contains_key(input))
        .filter_map(|(input, output)| {
            Some(pb::Edge {
                producer_id: made_by.get(output)?.to_string(),
                input_id: input.to_string(),
                output_id: output.to_string(),
            })
        })
        .collect();
    edges.sort_by(|a, b| (&a.output_id, &a.input_id).cmp(&(&b.output_id, &b.input_id)));
    edges.dedup();
    let used: HashSet<&str> = made_by.values().copied().collect();
    producers.retain(|producer| used.contains(producer.producer_id.as_str()));
    in_order_of_appearance(&mut producers);
    pb::Graph { root_id: root, nodes, edges, producers, truncated, as_of_sequence: answer_sequence }
}

/// Puts producers in the order they appeared in the log.
pub(crate) fn in_order_of_appearance(producers: &mut [pb::Producer]) {
    producers.sort_by(|a, b| (a.appeared_sequence, &a.producer_id).cmp(&(b.appeared_sequence, &b.producer_id)));
}

/// Returns what a run's producers made and used, with their details:
/// outputs at depth 0, inputs at depth 1.
pub(crate) async fn run(pool: &PgPool, producers: &[Uuid], as_of: i64) -> sqlx::Result<Found> {
    let outputs = graph::outputs_of(pool, producers, as_of).await?;
    let output_ids: Vec<Uuid> = outputs.iter().map(|(node, _)| *node).collect();
    let edges = graph::inputs_of(pool, &output_ids, as_of).await?;
    let output_set: HashSet<Uuid> = output_ids.iter().copied().collect();
    let inputs: BTreeSet<Uuid> =
        edges.iter().map(|(input, _)| *input).filter(|input| !output_set.contains(input)).collect();
    let nodes: Vec<(Uuid, u32)> =
        output_ids.iter().map(|id| (*id, 0)).chain(inputs.iter().map(|id| (*id, 1))).collect();
    let (nodes, producers) = graph::details(pool, &nodes, as_of).await?;
    Ok(Found { root: None, nodes, producers, edges, truncated: false })
}

/// The runs whose steps made a node of `graph` other than its root: what
/// would have to be run again if the root were wrong.
pub(crate) fn runs_to_rerun(graph: &pb::Graph) -> Vec<pb::RunToRerun> {
    let producers: HashMap<&str, &pb::Producer> =
        graph.producers.iter().map(|producer| (producer.producer_id.as_str(), producer)).collect();
    let mut runs: BTreeMap<(String, String), (BTreeSet<String>, u32)> = BTreeMap::new();
    for node in graph.nodes.iter().filter(|node| node.node_id != graph.root_id) {
        let Some(producer) = producers.get(node.producer_id.as_str()) else { continue };
        let step = if producer.step_id.is_empty() { producer.job_name.clone() } else { producer.step_id.clone() };
        let run = runs.entry((producer.tenant.clone(), producer.run_id.clone())).or_default();
        run.0.insert(step);
        run.1 += 1;
    }
    runs.into_iter()
        .map(|((tenant, run_id), (steps, outputs))| pb::RunToRerun {
            tenant,
            run_id,
            step_ids: steps.into_iter().collect(),
            outputs,
        })
        .collect()
}

/// Every input and output of each producer of `graph` (not only those the
/// query reached), with the details of each node, for an export.
#[derive(Debug, Default)]
pub(crate) struct ProducerDatasets {
    /// Each producer's inputs and outputs: (inputs, outputs), node ids.
    pub(crate) by_producer: HashMap<String, (BTreeSet<String>, BTreeSet<String>)>,
    /// Every node named above.
    pub(crate) nodes: HashMap<String, pb::Node>,
}

/// Reads every input and output of `producers` as of `as_of`.
pub(crate) async fn producer_datasets(
    pool: &PgPool,
    producers: &[pb::Producer],
    as_of: i64,
) -> sqlx::Result<ProducerDatasets> {
    let ids: Vec<Uuid> = producers.iter().filter_map(|producer| producer.producer_id.parse().ok()).collect();
    let outputs = graph::outputs_of(pool, &ids, as_of).await?;
    let output_ids: Vec<Uuid> = outputs.iter().map(|(node, _)| *node).collect();
    let inputs = graph::inputs_of(pool, &output_ids, as_of).await?;
    let made_by: HashMap<Uuid, Uuid> = outputs.iter().copied().collect();
    let mut datasets = ProducerDatasets::default();
    for (node, producer) in &outputs {
        datasets.by_producer.entry(producer.to_string()).or_default().1.insert(node.to_string());
    }
    for (input, output) in &inputs {
        if let Some(producer) = made_by.get(output) {
            datasets.by_producer.entry(producer.to_string()).or_default().0.insert(input.to_string());
        }
    }
    let every: BTreeSet<Uuid> = output_ids.iter().copied().chain(inputs.iter().map(|(input, _)| *input)).collect();
    let every: Vec<Uuid> = every.into_iter().collect();
    for node in graph::nodes(pool, &every, as_of).await? {
        datasets.nodes.insert(node.node_id.clone(), node);
    }
    Ok(datasets)
}
