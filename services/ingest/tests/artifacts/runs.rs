//! A run's browsable layout: `CompleteRun` and `WriteRunManifest` write
//! `<tenant>/runs/<run_id>/…` into the run's backend from the events, and
//! the files read back say what the uploads stored.

use crate::helpers::{Harness, content, header, upload};
use futures::StreamExt;
use gantry_proto::artifacts::{Artifact, CompleteRunRequest, RunFile, WriteRunManifestRequest};
use gantry_storage::BlobStore;
use serde_json::Value;
use tonic::Code;

/// Returns the whole blob under `key` of `store`.
pub(crate) async fn read_back(store: &dyn BlobStore, key: &str) -> Vec<u8> {
    let blob = store.get(key, None).await.unwrap_or_else(|error| panic!("{key}: {error}"));
    let mut bytes = Vec::new();
    let mut chunks = blob.chunks;
    while let Some(chunk) = chunks.next().await {
        bytes.extend_from_slice(&chunk.expect("a chunk"));
    }
    bytes
}

async fn json_at(harness: &Harness, key: &str) -> Value {
    serde_json::from_slice(&read_back(harness.store.as_ref(), key).await).expect("JSON")
}

async fn audit_lines(harness: &Harness, key: &str) -> Vec<Value> {
    let text = String::from_utf8(read_back(harness.store.as_ref(), key).await).expect("UTF-8");
    text.lines().map(|line| serde_json::from_str(line).expect("one JSON object a line")).collect()
}

fn keys(files: &[RunFile]) -> Vec<&str> {
    files.iter().map(|file| file.key.as_str()).collect()
}

/// Checks a manifest entry against the artifact an upload answered.
fn same_artifact(entry: &Value, artifact: &Artifact) {
    assert_eq!(entry["artifact_id"], artifact.artifact_id.as_str());
    assert_eq!(entry["name"], artifact.name.as_str());
    assert_eq!(entry["sha256"], artifact.sha256.as_str());
    assert_eq!(entry["blake3"], artifact.blake3.as_str());
    assert_eq!(entry["size_bytes"], artifact.size_bytes);
    assert_eq!(entry["storage_uri"], artifact.storage_uri.as_str());
    assert_eq!(entry["storage_backend"], artifact.storage_backend.as_str());
}

pub(crate) async fn a_runs_layout_is_written_from_its_events(harness: &mut Harness) {
    let (mut agent, mut other, mut auditor) =
        (harness.client("agent"), harness.client("other"), harness.client("auditor"));
    let base = upload(&mut agent, header("run-0", "base.bin"), &content(70, 2000)).await.unwrap();
    let mut raw_header = header("run-1", "raw.csv");
    raw_header.step_id = "prepare".into();
    let raw = upload(&mut agent, raw_header, &content(71, 3000)).await.unwrap();
    let mut model_header = header("run-1", "model.bin");
    model_header.input_artifact_ids =
        vec![raw.artifact.as_ref().unwrap().artifact_id.clone(), base.artifact.as_ref().unwrap().artifact_id.clone()];
    model_header.min_sequence = raw.sequence;
    let model = upload(&mut agent, model_header, &content(72, 5000)).await.unwrap();
    // The same bytes as base: a second artifact, no second blob.
    let metrics = upload(&mut agent, header("run-1", "metrics.json"), &content(70, 2000)).await.unwrap();
    let (base, raw, model, metrics) =
        (base.artifact.unwrap(), raw.artifact.unwrap(), model.artifact.unwrap(), metrics.artifact.unwrap());

    let asked =
        WriteRunManifestRequest { tenant: "acme".into(), run_id: "run-1".into(), min_sequence: metrics.sequence };
    let written = agent.write_run_manifest(asked.clone()).await.expect("written").into_inner();
    let run = "acme/runs/run-1";
    let expected = [
        format!("{run}/metadata.json"),
        format!("{run}/steps/prepare/inputs/manifest.json"),
        format!("{run}/steps/prepare/outputs/manifest.json"),
        format!("{run}/steps/train/inputs/manifest.json"),
        format!("{run}/steps/train/outputs/manifest.json"),
        format!("{run}/events/audit_trail.jsonl"),
    ];
    assert_eq!(keys(&written.files), expected);
    assert_eq!(written.artifact_count, 3);
    assert!(written.files.iter().all(|file| file.storage_backend == harness.backend && file.uri.ends_with(&file.key)));

    let metadata = json_at(harness, &expected[0]).await;
    assert_eq!((metadata["tenant"].as_str(), metadata["run_id"].as_str()), (Some("acme"), Some("run-1")));
    assert_eq!(metadata["status"], "open");
    assert_eq!(metadata["artifact_count"], 3);
    assert_eq!(metadata["total_size_bytes"], 3000 + 5000 + 2000);
    let steps: Vec<&str> =
        metadata["steps"].as_array().unwrap().iter().map(|step| step["step_id"].as_str().unwrap()).collect();
    assert_eq!(steps, ["prepare", "train"]);
    assert_eq!(metadata["steps"][1]["outputs_manifest"], "steps/train/outputs/manifest.json");
    let outputs = json_at(harness, &expected[4]).await;
    let outputs = outputs["artifacts"].as_array().unwrap();
    assert_eq!(outputs.len(), 2);
    same_artifact(&outputs[0], &model);
    same_artifact(&outputs[1], &metrics);
    let inputs = json_at(harness, &expected[3]).await;
    let inputs = inputs["artifacts"].as_array().unwrap();
    assert_eq!(inputs.len(), 2, "raw.csv (this run) and base.bin (run-0)");
    same_artifact(&inputs[0], &raw);
    same_artifact(&inputs[1], &base);
    assert_eq!(inputs[1]["run_id"], "run-0");
    assert_eq!(inputs[0]["used_by"], serde_json::json!([model.artifact_id]));
    let prepare_inputs = json_at(harness, &expected[1]).await;
    assert_eq!(prepare_inputs["artifacts"].as_array().unwrap().len(), 0);
    let trail = audit_lines(harness, &expected[5]).await;
    let stored: Vec<&str> = trail.iter().map(|line| line["payload"]["artifact_id"].as_str().unwrap()).collect();
    assert_eq!(stored, [&raw.artifact_id, &model.artifact_id, &metrics.artifact_id], "the run's events in log order");
    assert!(trail.iter().all(|line| line["event_type"] == "artifact.stored.v1" && line["actor"] == "agent"));
    assert_eq!(trail[2]["sequence"], metrics.sequence);
    // Manifests beside the blobs, nothing copied: three distinct contents, four artifacts.
    let blobs = harness.keys().await.into_iter().filter(|key| key.contains("/sha256/")).count();
    assert_eq!(blobs, 3);
    assert_eq!(harness.keys().await.len(), 3 + expected.len());

    // Completing the run records it once and rewrites the layout.
    let complete = CompleteRunRequest { tenant: "acme".into(), run_id: "run-1".into(), min_sequence: metrics.sequence };
    let completed = agent.complete_run(complete.clone()).await.expect("completed").into_inner();
    assert!(!completed.already_completed);
    assert_eq!(completed.completed_by, "agent");
    assert_eq!(keys(&completed.files), expected);
    let metadata = json_at(harness, &expected[0]).await;
    assert_eq!((metadata["status"].as_str(), metadata["completed_by"].as_str()), (Some("completed"), Some("agent")));
    assert_eq!(metadata["through_sequence"], completed.sequence);
    let trail = audit_lines(harness, &expected[5]).await;
    assert_eq!(trail.len(), 4);
    assert_eq!(trail[3]["event_type"], "artifact.run_completed.v1");
    assert_eq!(trail[3]["payload"]["artifact_count"], 3);
    let again = agent.complete_run(complete.clone()).await.expect("completed again").into_inner();
    assert!(again.already_completed);
    assert_eq!((again.sequence, again.completed_at), (completed.sequence, completed.completed_at));
    let before = read_back(harness.store.as_ref(), &expected[5]).await;
    auditor.write_run_manifest(asked.clone()).await.expect("the platform team writes manifests");
    assert_eq!(read_back(harness.store.as_ref(), &expected[5]).await, before, "the same events, the same files");

    // Only the tenant's members complete its runs; only they and the platform team write its manifests.
    let denied = other.write_run_manifest(asked).await.expect_err("another tenant");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let denied = auditor.complete_run(complete.clone()).await.expect_err("not a member");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let unknown = WriteRunManifestRequest { tenant: "acme".into(), run_id: "never".into(), min_sequence: 0 };
    assert_eq!(agent.write_run_manifest(unknown).await.expect_err("no such run").code(), Code::NotFound);
    let bad = WriteRunManifestRequest { tenant: "Acme".into(), run_id: String::new(), min_sequence: 0 };
    let refused = agent.write_run_manifest(bad).await.expect_err("bad fields");
    assert_eq!(crate::helpers::violated_fields(&refused), ["tenant", "run_id"]);
}

pub(crate) async fn run_and_step_ids_become_one_key_segment_each(harness: &mut Harness) {
    let mut agent = harness.client("agent");
    let mut asked = header("nightly/2026-11-30", "out.bin");
    asked.step_id = "../escape".into();
    let stored = upload(&mut agent, asked, &content(73, 100)).await.unwrap();
    let complete = CompleteRunRequest {
        tenant: "acme".into(),
        run_id: "nightly/2026-11-30".into(),
        min_sequence: stored.sequence,
    };
    let completed = agent.complete_run(complete).await.expect("completed").into_inner();
    let run = "acme/runs/nightly%2F2026-11-30";
    assert_eq!(
        keys(&completed.files)[..3],
        [
            format!("{run}/metadata.json"),
            format!("{run}/steps/%2E.%2Fescape/inputs/manifest.json"),
            format!("{run}/steps/%2E.%2Fescape/outputs/manifest.json"),
        ]
    );
    let metadata = json_at(harness, &format!("{run}/metadata.json")).await;
    assert_eq!(metadata["run_id"], "nightly/2026-11-30");
    assert_eq!(metadata["steps"][0]["step_id"], "../escape");
    // A completed run without artifacts has a layout too (on the default backend).
    let empty = CompleteRunRequest { tenant: "acme".into(), run_id: "empty".into(), min_sequence: 0 };
    let completed = agent.complete_run(empty).await.expect("completed").into_inner();
    assert_eq!(keys(&completed.files), ["acme/runs/empty/metadata.json", "acme/runs/empty/events/audit_trail.jsonl"]);
    assert_eq!(json_at(harness, "acme/runs/empty/metadata.json").await["artifact_count"], 0);
}

pub(crate) async fn a_completion_whose_caller_died_still_gets_its_layout(harness: &mut Harness) {
    use gantry_proto::events::{RunCompleted, envelope::Payload};
    let mut agent = harness.client("agent");
    let stored = upload(&mut agent, header("run-7", "out.bin"), &content(74, 4000)).await.unwrap();
    let artifact = stored.artifact.unwrap();
    // What a CompleteRun that died right after its append leaves: the
    // completion on the run's subject, and no layout.
    let aggregate_id =
        format!("acme.{}", uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, b"gantry-run/acme/run-7").simple());
    let completed = RunCompleted { tenant: "acme".into(), run_id: "run-7".into(), artifact_count: 1 };
    let event = gantry_eventlog::NewEvent {
        aggregate_type: "run",
        aggregate_id: aggregate_id.clone(),
        payload: Payload::RunCompleted(completed),
        actor: gantry_proto::types::Principal { subject: "agent".into(), groups: vec!["tenant:acme".into()] },
        correlation_id: uuid::Uuid::now_v7().to_string(),
        causation_id: String::new(),
    };
    let appended = harness.log.append(event, gantry_eventlog::ExpectedSequence::NoEvents).await.expect("appended");
    gantry_testkit::wait_until(std::time::Duration::from_secs(15), || async {
        let history = harness.log.load("run", &aggregate_id).await?;
        let types: Vec<String> = history.events.into_iter().map(|event| event.envelope.event_type).collect();
        Ok(types == ["artifact.run_completed.v1", "artifact.run_layout_written.v1"])
    })
    .await
    .expect("the reactor writes the layout and records it once on the run's subject");
    let metadata = json_at(harness, "acme/runs/run-7/metadata.json").await;
    assert_eq!((metadata["status"].as_str(), metadata["artifact_count"].as_u64()), (Some("completed"), Some(1)));
    assert_eq!(metadata["through_sequence"], appended.sequence);
    let outputs = json_at(harness, "acme/runs/run-7/steps/train/outputs/manifest.json").await;
    same_artifact(&outputs["artifacts"][0], &artifact);
    let trail = audit_lines(harness, "acme/runs/run-7/events/audit_trail.jsonl").await;
    assert_eq!(trail.len(), 2, "the upload and the completion");
    // CompleteRun now answers the completion that was there.
    let complete = CompleteRunRequest { tenant: "acme".into(), run_id: "run-7".into(), min_sequence: 0 };
    let again = agent.complete_run(complete).await.expect("completed").into_inner();
    assert!(again.already_completed);
    assert_eq!(again.sequence, appended.sequence);
}
