//! The documents of a run's browsable layout (pure): `metadata.json`, each
//! step's `inputs/manifest.json` and `outputs/manifest.json`, and
//! `events/audit_trail.jsonl`, made from what the events say about the
//! run (its artifacts as the view folded them, the lineage inputs of each
//! step's outputs, its completion, its audit lines). The same events give
//! the same bytes, so writing them again is harmless.

use crate::audit::retention_word;
use crate::run_layout::{RunLayout, segment};
use crate::view::{ArtifactRow, timestamp};
use bytes::Bytes;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// When a run was completed, and by whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Completion {
    /// RFC 3339.
    pub(crate) at: String,
    pub(crate) by: String,
}

/// Everything a run's layout is written from.
#[derive(Debug, Clone)]
pub(crate) struct RunRecord {
    pub(crate) tenant: String,
    pub(crate) run_id: String,
    /// The run's artifacts, oldest first.
    pub(crate) outputs: Vec<ArtifactRow>,
    /// The tenant's artifacts that the outputs name as lineage inputs.
    pub(crate) inputs: Vec<ArtifactRow>,
    pub(crate) completion: Option<Completion>,
    /// (sequence, JSON line) of every event of the run, in log order.
    pub(crate) audit: Vec<(u64, String)>,
}

/// One file of the layout: its key (relative to the backend) and bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Document {
    pub(crate) key: String,
    pub(crate) bytes: Bytes,
}

fn entry(row: &ArtifactRow) -> Value {
    json!({
        "artifact_id": row.artifact_id.to_string(),
        "name": row.name,
        "media_type": row.media_type,
        "sha256": row.sha256,
        "blake3": row.blake3,
        "size_bytes": row.size_bytes,
        "storage_backend": row.storage_backend,
        "storage_uri": row.storage_uri,
        "run_id": row.run_id,
        "step_id": row.step_id,
        "agent": row.agent,
        "agent_version": row.agent_version,
        "input_artifact_ids": row.inputs.iter().map(Uuid::to_string).collect::<Vec<_>>(),
        "stored_at": timestamp(row.stored_micros).to_string(),
        "expires_at": row.expires_micros.map(|micros| timestamp(micros).to_string()),
        "retention": retention_word(row.retention),
        "expired": row.expired,
        "blob_status": row.blob_status,
    })
}

fn pretty(value: &Value) -> Bytes {
    let mut text = serde_json::to_string_pretty(value).expect("JSON values serialise");
    text.push('\n');
    Bytes::from(text)
}

/// The steps of a run in the order they first stored an artifact, each with its outputs.
fn steps(outputs: &[ArtifactRow]) -> Vec<(&str, Vec<&ArtifactRow>)> {
    let mut steps: Vec<(&str, Vec<&ArtifactRow>)> = Vec::new();
    for row in outputs {
        match steps.iter_mut().find(|(step, _)| *step == row.step_id) {
            Some((_, rows)) => rows.push(row),
            None => steps.push((&row.step_id, vec![row])),
        }
    }
    steps
}

impl RunRecord {
    /// Returns the layout's documents: metadata, then each step's inputs
    /// and outputs, then the audit trail.
    pub(crate) fn documents(&self) -> Vec<Document> {
        let layout = RunLayout::new(&self.tenant, &self.run_id);
        let by_id: BTreeMap<Uuid, &ArtifactRow> = self.inputs.iter().map(|row| (row.artifact_id, row)).collect();
        let steps = steps(&self.outputs);
        let mut documents = vec![Document { key: layout.metadata(), bytes: pretty(&self.metadata(&steps)) }];
        for (step, rows) in &steps {
            let inputs = self.step_inputs(step, rows, &by_id);
            documents.push(Document { key: layout.step_inputs(step), bytes: pretty(&inputs) });
            let outputs = json!({
                "tenant": self.tenant, "run_id": self.run_id, "step_id": step,
                "artifacts": rows.iter().map(|row| entry(row)).collect::<Vec<_>>(),
            });
            documents.push(Document { key: layout.step_outputs(step), bytes: pretty(&outputs) });
        }
        let lines: String = self.audit.iter().map(|(_, line)| format!("{line}\n")).collect();
        documents.push(Document { key: layout.audit_trail(), bytes: Bytes::from(lines) });
        documents
    }

    fn metadata(&self, steps: &[(&str, Vec<&ArtifactRow>)]) -> Value {
        let agents: BTreeSet<(&str, &str)> =
            self.outputs.iter().map(|row| (row.agent.as_str(), row.agent_version.as_str())).collect();
        let backends: BTreeSet<&str> = self.outputs.iter().map(|row| row.storage_backend.as_str()).collect();
        let stored = |row: Option<&ArtifactRow>| row.map(|row| timestamp(row.stored_micros).to_string());
        let steps: Vec<Value> = steps
            .iter()
            .map(|(step, rows)| {
                let base = format!("steps/{}", segment(step));
                json!({
                    "step_id": step,
                    "outputs": rows.len(),
                    "inputs_manifest": format!("{base}/inputs/manifest.json"),
                    "outputs_manifest": format!("{base}/outputs/manifest.json"),
                })
            })
            .collect();
        json!({
            "kind": "gantry.run/v1",
            "tenant": self.tenant,
            "run_id": self.run_id,
            "status": if self.completion.is_some() { "completed" } else { "open" },
            "completed_at": self.completion.as_ref().map(|completion| completion.at.clone()),
            "completed_by": self.completion.as_ref().map(|completion| completion.by.clone()),
            "artifact_count": self.outputs.len(),
            "total_size_bytes": self.outputs.iter().map(|row| row.size_bytes).sum::<i64>(),
            "first_stored_at": stored(self.outputs.first()),
            "last_stored_at": stored(self.outputs.last()),
            "agents": agents.iter().map(|(agent, version)| json!({"agent": agent, "agent_version": version})).collect::<Vec<_>>(),
            "storage_backends": backends,
            "steps": steps,
            "audit_trail": "events/audit_trail.jsonl",
            "through_sequence": self.audit.last().map_or(0, |(sequence, _)| *sequence),
        })
    }

    fn step_inputs(&self, step: &str, rows: &[&ArtifactRow], by_id: &BTreeMap<Uuid, &ArtifactRow>) -> Value {
        let mut order: Vec<Uuid> = Vec::new();
        let mut used_by: BTreeMap<Uuid, Vec<String>> = BTreeMap::new();
        for row in rows {
            for input in &row.inputs {
                if !used_by.contains_key(input) {
                    order.push(*input);
                }
                used_by.entry(*input).or_default().push(row.artifact_id.to_string());
            }
        }
        let artifacts: Vec<Value> = order
            .iter()
            .map(|id| {
                let mut value = by_id
                    .get(id)
                    .map_or_else(|| json!({"artifact_id": id.to_string(), "missing": true}), |row| entry(row));
                value["used_by"] = json!(used_by[id]);
                value
            })
            .collect();
        json!({"tenant": self.tenant, "run_id": self.run_id, "step_id": step, "artifacts": artifacts})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(step: &str, name: &str, inputs: &[Uuid]) -> ArtifactRow {
        ArtifactRow {
            artifact_id: Uuid::now_v7(),
            tenant: "acme".into(),
            run_id: "r/1".into(),
            step_id: step.into(),
            agent: "trainer".into(),
            agent_version: "1.0".into(),
            name: name.into(),
            media_type: "text/csv".into(),
            inputs: inputs.to_vec(),
            retention: 4,
            expires_micros: None,
            sha256: format!("{name}-sha"),
            blake3: format!("{name}-blake3"),
            size_bytes: 10,
            storage_backend: "local".into(),
            storage_key: format!("artifacts/{name}"),
            storage_uri: format!("file:///data/artifacts/{name}"),
            uploaded_by: "agent".into(),
            stored_micros: 1_000_000,
            expired: false,
            blob_status: "stored".into(),
            blob_detail: String::new(),
            created_sequence: 1,
            sequence: 1,
        }
    }

    fn json_of(document: &Document) -> Value {
        serde_json::from_slice(&document.bytes).unwrap()
    }

    #[test]
    fn steps_in_order_of_first_output_and_inputs_listed_once_with_their_users() {
        let source = row("ingest", "source.csv", &[]);
        let clean = row("prepare", "clean.csv", &[source.artifact_id]);
        let model = row("train", "model.bin", &[clean.artifact_id, source.artifact_id]);
        let report = row("prepare", "report.html", &[source.artifact_id]);
        let record = RunRecord {
            tenant: "acme".into(),
            run_id: "r/1".into(),
            outputs: vec![clean.clone(), model.clone(), report.clone()],
            inputs: vec![source.clone(), clean.clone()],
            completion: None,
            audit: vec![(3, "{\"a\":1}".into()), (9, "{\"b\":2}".into())],
        };
        let documents = record.documents();
        let keys: Vec<&str> = documents.iter().map(|document| document.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "acme/runs/r%2F1/metadata.json",
                "acme/runs/r%2F1/steps/prepare/inputs/manifest.json",
                "acme/runs/r%2F1/steps/prepare/outputs/manifest.json",
                "acme/runs/r%2F1/steps/train/inputs/manifest.json",
                "acme/runs/r%2F1/steps/train/outputs/manifest.json",
                "acme/runs/r%2F1/events/audit_trail.jsonl",
            ]
        );
        let metadata = json_of(&documents[0]);
        assert_eq!((metadata["status"].as_str(), metadata["through_sequence"].as_u64()), (Some("open"), Some(9)));
        assert_eq!(metadata["steps"][0]["outputs"], 2);
        let prepare_inputs = json_of(&documents[1]);
        let users = &prepare_inputs["artifacts"][0]["used_by"];
        assert_eq!(users, &json!([clean.artifact_id.to_string(), report.artifact_id.to_string()]));
        assert_eq!(prepare_inputs["artifacts"].as_array().unwrap().len(), 1, "source.csv once");
        let train_inputs = json_of(&documents[3]);
        let names: Vec<&str> =
            train_inputs["artifacts"].as_array().unwrap().iter().map(|entry| entry["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["clean.csv", "source.csv"], "in the order the outputs name them");
        assert_eq!(json_of(&documents[4])["artifacts"][0]["retention"], "keep");
        assert_eq!(&documents[5].bytes[..], b"{\"a\":1}\n{\"b\":2}\n");
        assert_eq!(record.documents(), documents, "the same record, the same bytes");
    }

    #[test]
    fn an_input_missing_from_the_view_is_marked() {
        let ghost = Uuid::now_v7();
        let record = RunRecord {
            tenant: "acme".into(),
            run_id: "r".into(),
            outputs: vec![row("s", "out", &[ghost])],
            inputs: Vec::new(),
            completion: Some(Completion { at: "2026-12-01T00:00:00Z".into(), by: "agent".into() }),
            audit: Vec::new(),
        };
        let documents = record.documents();
        assert_eq!(json_of(&documents[0])["status"], "completed");
        let user = record.outputs[0].artifact_id.to_string();
        let expected = json!({"artifact_id": ghost.to_string(), "missing": true, "used_by": [user]});
        assert_eq!(json_of(&documents[1])["artifacts"][0], expected);
    }
}
