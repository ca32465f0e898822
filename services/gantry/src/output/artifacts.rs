//! Artifacts as the client prints them: a push's answer, one artifact
//! (every field, one a line; JSON: one object), a listing (a table; JSON:
//! `{"artifacts": [...]}`), and what a verification found.

use super::fields::{time, word};
use super::{Printer, aligned, labelled, plain_table};
use crate::cli::Output;
use gantry_proto::artifacts as pb;
use serde_json::{Value, json};

fn retention_word(number: i32) -> String {
    match gantry_proto::events::RetentionPolicy::try_from(number) {
        Ok(gantry_proto::events::RetentionPolicy::Days30) => "30d".into(),
        Ok(gantry_proto::events::RetentionPolicy::Days90) => "90d".into(),
        Ok(gantry_proto::events::RetentionPolicy::Days365) => "365d".into(),
        Ok(gantry_proto::events::RetentionPolicy::Keep) => "keep".into(),
        _ => "unspecified".into(),
    }
}

fn blob_status_word(number: i32) -> String {
    pb::BlobStatus::try_from(number).map_or("unknown".into(), |status| word(status.as_str_name(), "BLOB_STATUS_"))
}

/// An artifact's fields, by the API's names, in the order they print.
fn artifact_fields(artifact: &pb::Artifact) -> Vec<(&'static str, Value)> {
    vec![
        ("artifact_id", json!(artifact.artifact_id)),
        ("tenant", json!(artifact.tenant)),
        ("name", json!(artifact.name)),
        ("media_type", json!(artifact.media_type)),
        ("size_bytes", json!(artifact.size_bytes)),
        ("run_id", json!(artifact.run_id)),
        ("step_id", json!(artifact.step_id)),
        ("agent", json!(artifact.agent)),
        ("agent_version", json!(artifact.agent_version)),
        ("input_artifact_ids", json!(artifact.input_artifact_ids)),
        ("sha256", json!(artifact.sha256)),
        ("blake3", json!(artifact.blake3)),
        ("storage_backend", json!(artifact.storage_backend)),
        ("storage_uri", json!(artifact.storage_uri)),
        ("blob_status", json!(blob_status_word(artifact.blob_status))),
        ("retention", json!(retention_word(artifact.retention))),
        ("stored_at", json!(time(artifact.stored_at))),
        ("expires_at", json!(time(artifact.expires_at))),
        ("expired", json!(artifact.expired)),
        ("uploaded_by", json!(artifact.uploaded_by)),
        ("sequence", json!(artifact.sequence)),
    ]
}

impl Printer {
    /// Prints what a push stored.
    pub(crate) fn pushed(&self, answer: &pb::UploadResponse) {
        let mut fields = artifact_fields(&answer.artifact.clone().unwrap_or_default());
        fields.insert(1, ("already_stored", json!(answer.already_stored)));
        fields.push(("write_sequence", json!(answer.sequence)));
        self.one(fields);
    }

    /// Prints what `Stat` answered: the artifact, and a presigned download
    /// URL when the service hands one out.
    pub(crate) fn stat(&self, answer: &pb::StatResponse) {
        let mut fields = artifact_fields(&answer.artifact.clone().unwrap_or_default());
        if !answer.download_url.is_empty() {
            fields.push(("download_url", json!(answer.download_url)));
            fields.push(("download_url_expires_at", json!(time(answer.download_url_expires_at))));
        }
        self.one(fields);
    }

    /// Prints the files of a run's layout (and, for a completion, when and
    /// by whom): a table, or one JSON object.
    pub(crate) fn run_files(&self, files: &[pb::RunFile], completed: Option<&pb::CompleteRunResponse>) {
        match self.output {
            Output::Json => {
                let files: Vec<Value> = files
                    .iter()
                    .map(|file| json!({"storage_backend": file.storage_backend, "key": file.key, "uri": file.uri}))
                    .collect();
                let mut object = json!({ "files": files });
                if let Some(completed) = completed {
                    object["already_completed"] = json!(completed.already_completed);
                    object["completed_at"] = json!(time(completed.completed_at));
                    object["completed_by"] = json!(completed.completed_by);
                    object["sequence"] = json!(completed.sequence);
                }
                println!("{object}");
            }
            Output::Table => {
                if let Some(completed) = completed {
                    let state = if completed.already_completed { "was completed" } else { "completed" };
                    println!("{state} at {} by {}", time(completed.completed_at), completed.completed_by);
                }
                let mut table = plain_table(&["BACKEND", "KEY", "URI"]);
                for file in files {
                    table.add_row([file.storage_backend.clone(), file.key.clone(), file.uri.clone()]);
                }
                println!("{table}");
            }
        }
    }

    /// Prints artifacts: a table, or `{"artifacts": [...]}`.
    pub(crate) fn artifacts(&self, artifacts: &[pb::Artifact]) {
        let header = ["ARTIFACT", "NAME", "SIZE", "RUN", "STEP", "AGENT", "SHA256", "STORED", "BLOB"];
        let row = |artifact: &pb::Artifact| {
            [
                artifact.artifact_id.clone(),
                artifact.name.clone(),
                artifact.size_bytes.to_string(),
                artifact.run_id.clone(),
                artifact.step_id.clone(),
                artifact.agent.clone(),
                artifact.sha256.chars().take(12).collect(),
                time(artifact.stored_at),
                blob_status_word(artifact.blob_status),
            ]
        };
        self.many("artifacts", &header, artifacts.iter().map(|artifact| (artifact_fields(artifact), row(artifact))));
    }

    /// Prints what a verification found.
    pub(crate) fn verified(&self, answer: &pb::VerifyResponse) {
        match self.output {
            Output::Json => println!(
                "{}",
                json!({
                    "verified": answer.verified,
                    "corrupted": answer.corrupted,
                    "corrupted_sha256": answer.corrupted_sha256,
                    "sequence": answer.sequence,
                })
            ),
            Output::Table => {
                let lines = vec![
                    ("verified", json!(answer.verified)),
                    ("corrupted", json!(answer.corrupted)),
                    ("sequence", json!(answer.sequence)),
                ];
                print!("{}", aligned(&labelled(lines).collect::<Vec<_>>()));
                if !answer.corrupted_sha256.is_empty() {
                    let mut table = plain_table(&["CORRUPTED SHA256"]);
                    for digest in &answer.corrupted_sha256 {
                        table.add_row([digest.clone()]);
                    }
                    println!("{table}");
                }
            }
        }
    }
}
