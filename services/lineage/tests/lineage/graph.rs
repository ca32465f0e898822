//! The graph of artifact events: walks up and down with depth, filters and
//! a node cap (the first nodes by generation, whichever way the walk
//! ran), runs, impact, `as_of`, expiry, tenants, and inputs that
//! cannot make a cycle.

use crate::helpers::{Artifact, Harness, at_sequence, expect, ids_of, violated_fields, walk};
use gantry_proto::lineage::{self as pb, as_of};
use std::collections::HashSet;
use std::time::{Duration, SystemTime};
use tonic::Code;
use uuid::Uuid;

/// raw → clean → features → model → report, the model also fed by clean:
/// five artifacts of three runs; returns them and the last sequence.
async fn pipeline(harness: &Harness) -> ([Uuid; 5], u64) {
    let (raw, _) = harness.store(Artifact::acme("run-1", "extract", "raw.csv", &[])).await;
    let (clean, _) = harness.store(Artifact::acme("run-1", "clean", "clean.csv", &[raw])).await;
    let (features, _) = harness.store(Artifact::acme("run-2", "featurize", "features.parquet", &[clean])).await;
    let (model, _) = harness.store(Artifact::acme("run-2", "train", "model.bin", &[features, clean])).await;
    let evaluator = Artifact { agent: "evaluator", ..Artifact::acme("run-3", "evaluate", "report.html", &[model]) };
    let (report, last) = harness.store(evaluator).await;
    ([raw, clean, features, model, report], last)
}

#[tokio::test]
async fn upstream_and_downstream_follow_generations_up_to_the_depth() {
    let harness = Harness::start().await;
    let ([raw, clean, features, model, report], last) = pipeline(&harness).await;
    let mut client = harness.client("agent").await;

    let upstream = client.upstream(walk(report, last)).await.unwrap().into_inner();
    assert_eq!(ids_of(&upstream), expect(&[(report, 0), (model, 1), (features, 2), (clean, 2), (raw, 3)]));
    assert_eq!(upstream.edges.len(), 5, "{:?}", upstream.edges);
    assert!(!upstream.truncated && upstream.as_of_sequence >= last);
    let train = upstream.producers.iter().find(|producer| producer.step_id == "train").expect("the train step");
    let into_model: Vec<&pb::Edge> = upstream.edges.iter().filter(|edge| edge.output_id == model.to_string()).collect();
    assert_eq!(into_model.len(), 2);
    assert!(into_model.iter().all(|edge| edge.producer_id == train.producer_id));

    let shallow = client.upstream(pb::TraverseRequest { depth: 2, ..walk(report, 0) }).await.unwrap().into_inner();
    assert_eq!(ids_of(&shallow), expect(&[(report, 0), (model, 1), (features, 2), (clean, 2)]));

    let downstream = client.downstream(walk(raw, 0)).await.unwrap().into_inner();
    assert_eq!(ids_of(&downstream), expect(&[(raw, 0), (clean, 1), (features, 2), (model, 2), (report, 3)]));
    harness.stop().await;
}

#[tokio::test]
async fn filters_keep_a_tenant_or_an_agent_and_the_node_cap_truncates() {
    let harness = Harness::start().await;
    let ([raw, clean, _, _, report], last) = pipeline(&harness).await;
    let mut client = harness.client("auditor").await;

    let evaluated = pb::TraverseRequest { agent: "evaluator".into(), ..walk(raw, last) };
    let answer = client.downstream(evaluated).await.unwrap().into_inner();
    assert_eq!(ids_of(&answer), expect(&[(raw, 0), (report, 3)]));

    let acme = pb::TraverseRequest { tenant: "acme".into(), ..walk(raw, 0) };
    assert_eq!(client.downstream(acme).await.unwrap().into_inner().nodes.len(), 5);
    let globex = pb::TraverseRequest { tenant: "globex".into(), ..walk(raw, 0) };
    assert_eq!(client.downstream(globex).await.unwrap_err().code(), Code::NotFound);

    let capped = pb::TraverseRequest { max_nodes: 2, ..walk(raw, 0) };
    let answer = client.downstream(capped).await.unwrap().into_inner();
    assert_eq!(ids_of(&answer), expect(&[(raw, 0), (clean, 1)]));
    assert!(answer.truncated);
    harness.stop().await;
}

/// Generations by breadth first over `edges` (input, output) from `root`.
fn generations(root: Uuid, edges: &[(Uuid, Uuid)], upstream: bool) -> Vec<(Uuid, u32)> {
    let mut found = vec![(root, 0)];
    let mut seen: HashSet<Uuid> = HashSet::from([root]);
    let mut frontier = vec![root];
    for depth in 1.. {
        let mut next: Vec<Uuid> = edges
            .iter()
            .filter_map(|&(input, output)| match upstream {
                true => frontier.contains(&output).then_some(input),
                false => frontier.contains(&input).then_some(output),
            })
            .filter(|node| seen.insert(*node))
            .collect();
        if next.is_empty() {
            break;
        }
        next.sort();
        found.extend(next.iter().map(|node| (*node, depth)));
        frontier = next;
    }
    found
}

/// The (input, output) ids of an answer's edges, sorted.
fn edge_ids(graph: &pb::Graph) -> Vec<(String, String)> {
    let mut edges: Vec<(String, String)> =
        graph.edges.iter().map(|edge| (edge.input_id.clone(), edge.output_id.clone())).collect();
    edges.sort();
    edges
}

#[tokio::test]
async fn every_cap_answers_the_first_nodes_by_generation_however_often_paths_meet() {
    let harness = Harness::start().await;
    // The first 14 artifacts each read the one before, and the ones at half
    // and a third of their index: nodes reached by several paths at several
    // depths (the walk one generation at a time answers most caps). Ten more
    // all read the 14th, and ten more read one of those each: a fan each node
    // of which is reached once (the recursive walk answers most caps, some
    // from the whole generations before the one its row limit cut).
    let (mut ids, mut edges, mut last) = (Vec::new(), Vec::new(), 0);
    for index in 0..34usize {
        let reads = match index {
            0..14 => vec![index.wrapping_sub(1), index / 2, index / 3],
            14..24 => vec![13],
            _ => vec![index - 10],
        };
        let mut inputs: Vec<Uuid> = reads.into_iter().filter(|input| *input < index).map(|input| ids[input]).collect();
        inputs.sort();
        inputs.dedup();
        let name = format!("part-{index}");
        let (id, sequence) = harness.store(Artifact::acme("run-1", "mix", &name, &inputs)).await;
        edges.extend(inputs.iter().map(|input| (*input, id)));
        ids.push(id);
        last = sequence;
    }
    let mut client = harness.client("auditor").await;
    for (root, upstream) in [(ids[0], false), (ids[13], true), (ids[13], false)] {
        let expected = generations(root, &edges, upstream);
        let traverse = |max_nodes: u32| pb::TraverseRequest { max_nodes, ..walk(root, last) };
        for max_nodes in (1..=expected.len() as u32 + 1).chain([0]) {
            let answer = match upstream {
                true => client.upstream(traverse(max_nodes)).await,
                false => client.downstream(traverse(max_nodes)).await,
            };
            let answer = answer.unwrap().into_inner();
            let kept = if max_nodes == 0 { expected.len() } else { expected.len().min(max_nodes as usize) };
            assert_eq!(ids_of(&answer), expect(&expected[..kept]), "max_nodes {max_nodes}, upstream {upstream}");
            assert_eq!(answer.truncated, kept < expected.len(), "max_nodes {max_nodes}");
            // Every edge between kept nodes, but a walk its cap stopped did
            // not step from the last generation it kept.
            let last = expected[..kept].last().map(|(_, depth)| *depth).unwrap_or(0);
            let stepped_from: HashSet<Uuid> = expected[..kept]
                .iter()
                .filter(|(_, depth)| kept == expected.len() || *depth < last)
                .map(|(id, _)| *id)
                .collect();
            let kept: HashSet<Uuid> = expected[..kept].iter().map(|(id, _)| *id).collect();
            let mut between: Vec<(String, String)> = edges
                .iter()
                .filter(|(input, output)| kept.contains(input) && kept.contains(output))
                .filter(|(input, output)| stepped_from.contains(if upstream { output } else { input }))
                .map(|(input, output)| (input.to_string(), output.to_string()))
                .collect();
            between.sort();
            assert_eq!(edge_ids(&answer), between, "max_nodes {max_nodes}, upstream {upstream}");
        }
    }
    let impact = client.impact(walk(ids[0], last)).await.unwrap().into_inner().graph.unwrap();
    assert_eq!(ids_of(&impact), expect(&generations(ids[0], &edges, false)));
    harness.stop().await;
}

#[tokio::test]
async fn a_run_lists_its_steps_inputs_and_outputs_and_impact_the_runs_to_rerun() {
    let harness = Harness::start().await;
    let ([raw, clean, features, model, report], last) = pipeline(&harness).await;
    let mut client = harness.client("agent").await;

    let run = pb::RunRequest { tenant: "acme".into(), run_id: "run-2".into(), as_of: None, min_sequence: last };
    let answer = client.run(run).await.unwrap().into_inner();
    assert_eq!(ids_of(&answer), expect(&[(features, 0), (model, 0), (clean, 1)]));
    let mut steps: Vec<&str> = answer.producers.iter().map(|producer| producer.step_id.as_str()).collect();
    steps.sort();
    assert_eq!(steps, ["featurize", "train"]);
    let missing = pb::RunRequest { tenant: "acme".into(), run_id: "run-9".into(), as_of: None, min_sequence: 0 };
    assert_eq!(client.run(missing).await.unwrap_err().code(), Code::NotFound);

    let impact = client.impact(walk(clean, 0)).await.unwrap().into_inner();
    let graph = impact.graph.unwrap();
    assert_eq!(ids_of(&graph), expect(&[(clean, 0), (features, 1), (model, 1), (report, 2)]));
    let runs: Vec<(String, Vec<String>, u32)> =
        impact.runs.into_iter().map(|run| (run.run_id, run.step_ids, run.outputs)).collect();
    assert_eq!(
        runs,
        [
            ("run-2".to_owned(), vec!["featurize".to_owned(), "train".to_owned()], 2),
            ("run-3".to_owned(), vec!["evaluate".to_owned()], 1),
        ]
    );
    assert!(!ids_of(&graph).iter().any(|(id, _)| *id == raw.to_string()));
    harness.stop().await;
}

#[tokio::test]
async fn as_of_a_sequence_or_a_time_reads_the_graph_as_it_was_and_expired_nodes_stay() {
    let harness = Harness::start().await;
    let (raw, first) = harness.store(Artifact::acme("run-1", "extract", "raw.csv", &[])).await;
    let (clean, second) = harness.store(Artifact::acme("run-1", "clean", "clean.csv", &[raw])).await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    let between = SystemTime::now();
    tokio::time::sleep(Duration::from_millis(30)).await;
    let (model, third) = harness.store(Artifact::acme("run-2", "train", "model.bin", &[clean])).await;
    let expired = harness.expire(clean).await;
    let mut client = harness.client("agent").await;

    let now = client.downstream(walk(raw, expired)).await.unwrap().into_inner();
    assert_eq!(ids_of(&now), expect(&[(raw, 0), (clean, 1), (model, 2)]));
    let clean_now = now.nodes.iter().find(|node| node.node_id == clean.to_string()).unwrap();
    assert!(clean_now.expired && clean_now.expired_at.is_some(), "expired nodes stay, marked");

    let at_third = client.downstream(pb::TraverseRequest { as_of: at_sequence(third), ..walk(raw, 0) }).await.unwrap();
    let at_third = at_third.into_inner();
    assert_eq!(ids_of(&at_third), expect(&[(raw, 0), (clean, 1), (model, 2)]));
    assert!(at_third.nodes.iter().all(|node| !node.expired), "not expired yet as of {third}");
    assert_eq!(at_third.as_of_sequence, third);

    let at_second = client.downstream(pb::TraverseRequest { as_of: at_sequence(second), ..walk(raw, 0) }).await;
    assert_eq!(ids_of(&at_second.unwrap().into_inner()), expect(&[(raw, 0), (clean, 1)]));

    let time = Some(pb::AsOf { point: Some(as_of::Point::Time(between.into())) });
    let at_time = client.downstream(pb::TraverseRequest { as_of: time, ..walk(raw, 0) }).await.unwrap().into_inner();
    assert_eq!(ids_of(&at_time), expect(&[(raw, 0), (clean, 1)]));
    assert_eq!(at_time.as_of_sequence, second);

    let before = client.upstream(pb::TraverseRequest { as_of: at_sequence(first), ..walk(model, 0) }).await;
    assert_eq!(before.unwrap_err().code(), Code::NotFound, "the model did not exist yet");
    harness.stop().await;
}

#[tokio::test]
async fn tenants_see_only_their_own_nodes() {
    let harness = Harness::start().await;
    let (raw, _) = harness.store(Artifact::acme("run-1", "extract", "raw.csv", &[])).await;
    // A globex artifact naming an acme input gets no edge to it.
    let globex = Artifact { tenant: "globex", ..Artifact::acme("g-1", "steal", "copy.csv", &[raw]) };
    let (copy, last) = harness.store(globex).await;

    let mut other = harness.client("other").await;
    assert_eq!(other.upstream(walk(raw, last)).await.unwrap_err().code(), Code::NotFound);
    let own = other.upstream(walk(copy, 0)).await.unwrap().into_inner();
    assert_eq!(ids_of(&own), expect(&[(copy, 0)]));
    let other_run = pb::RunRequest { tenant: "acme".into(), run_id: "run-1".into(), as_of: None, min_sequence: 0 };
    assert_eq!(other.run(other_run).await.unwrap_err().code(), Code::NotFound);
    let filtered = pb::TraverseRequest { tenant: "acme".into(), ..walk(copy, 0) };
    assert_eq!(other.upstream(filtered).await.unwrap_err().code(), Code::PermissionDenied);

    let mut nobody = harness.client("nobody").await;
    assert_eq!(nobody.downstream(walk(raw, 0)).await.unwrap_err().code(), Code::NotFound);
    let mut auditor = harness.client("auditor").await;
    assert_eq!(auditor.downstream(walk(raw, 0)).await.unwrap().into_inner().nodes.len(), 1);
    harness.stop().await;
}

#[tokio::test]
async fn inputs_that_did_not_exist_before_their_output_make_no_edge_so_no_cycle() {
    let harness = Harness::start().await;
    let later = Uuid::now_v7();
    // An event naming an input that appears only afterwards (and itself).
    let (first, _) = harness.store(Artifact::acme("run-1", "a", "a.csv", &[later])).await;
    let (second, last) = harness.store(Artifact::acme("run-1", "b", "b.csv", &[first])).await;
    let mut client = harness.client("agent").await;
    let upstream = client.upstream(walk(first, last)).await.unwrap().into_inner();
    assert_eq!(ids_of(&upstream), expect(&[(first, 0)]));
    let downstream = client.downstream(walk(first, 0)).await.unwrap().into_inner();
    assert_eq!(ids_of(&downstream), expect(&[(first, 0), (second, 1)]));
    let edges: i64 = sqlx::query_scalar("SELECT count(*) FROM edges").fetch_one(&harness.pool).await.unwrap();
    assert_eq!(edges, 1);
    harness.stop().await;
}

#[tokio::test]
async fn bad_queries_are_refused_with_every_field_named() {
    let harness = Harness::start().await;
    let mut client = harness.client("agent").await;
    let bad =
        pb::TraverseRequest { node_id: "report".into(), depth: 100_000, as_of: at_sequence(0), ..Default::default() };
    let status = client.upstream(bad).await.unwrap_err();
    assert_eq!(violated_fields(&status), ["as_of.sequence", "depth", "node_id"]);
    let status = client.run(pb::RunRequest { tenant: "Acme".into(), ..Default::default() }).await.unwrap_err();
    assert_eq!(violated_fields(&status), ["run_id", "tenant"]);
    harness.stop().await;
}
