//! What the client commands print: a table for humans, JSON for scripts,
//! and gRPC errors with every field violation.

use crate::cli::Output;
use comfy_table::Table;
use gantry_proto::intake as pb;
use gantry_proto::types;
use serde_json::{Value, json};
use tonic_types::StatusExt as _;

pub(crate) struct Printer {
    output: Output,
}

fn word(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix).unwrap_or(name).to_lowercase().replace('_', "-")
}

fn status_word(number: i32) -> String {
    pb::RequestStatus::try_from(number)
        .map_or("unknown".into(), |s| word(s.as_str_name(), "REQUEST_STATUS_"))
        .replace('-', "_")
}

fn environment_word(number: i32) -> String {
    types::Environment::try_from(number).map_or("unknown".into(), |e| word(e.as_str_name(), "ENVIRONMENT_"))
}

fn time(timestamp: Option<prost_types::Timestamp>) -> String {
    timestamp.map_or(String::new(), |t| t.to_string())
}

/// Returns the fields every view of a request shows.
fn summary(request: &pb::Request) -> (String, String, String, String) {
    match &request.spec {
        Some(pb::request::Spec::Database(db)) => {
            ("database".into(), db.database_name.clone(), environment_word(db.environment), db.owner.clone())
        }
        Some(pb::request::Spec::Bucket(bucket)) => {
            ("bucket".into(), bucket.bucket_name.clone(), environment_word(bucket.environment), bucket.owner.clone())
        }
        None => ("?".into(), String::new(), String::new(), String::new()),
    }
}

fn to_json(request: &pb::Request) -> Value {
    let (kind, name, environment, owner) = summary(request);
    let spec = match &request.spec {
        Some(pb::request::Spec::Database(db)) => json!({
            "database_name": db.database_name, "username": db.username, "owner": db.owner,
            "requester": db.requester, "environment": environment, "domain": db.domain,
            "risk": types::Risk::try_from(db.risk).map_or("unknown".into(), |r| word(r.as_str_name(), "RISK_")),
            "size": types::Size::try_from(db.size).map_or("unknown".into(), |s| word(s.as_str_name(), "SIZE_")),
        }),
        Some(pb::request::Spec::Bucket(b)) => json!({
            "bucket_name": b.bucket_name, "region": b.region, "owner": b.owner, "requester": b.requester,
            "environment": environment, "retention_days": b.retention_days, "kms_key_id": b.kms_key_id,
            "replication_target": b.replication_target,
            "purpose": types::BucketPurpose::try_from(b.purpose).map_or("unknown".into(), |p| word(p.as_str_name(), "BUCKET_PURPOSE_")),
        }),
        None => Value::Null,
    };
    json!({
        "request_id": request.request_id, "kind": kind, "name": name, "owner": owner,
        "status": status_word(request.status), "spec": spec,
        "submitted_by": request.submitted_by.as_ref().map(|p| p.subject.clone()),
        "required_approvals": request.required_approvals.iter().map(|c| c.any_of_groups.clone()).collect::<Vec<_>>(),
        "approvals": request.approvals.iter().map(|a| json!({
            "approver": a.approver.as_ref().map(|p| p.subject.clone()), "comment": a.comment, "at": time(a.approved_at),
        })).collect::<Vec<_>>(),
        "auto_approved_by_rule": request.auto_approved_by_rule, "reason": request.reason,
        "secret_path": request.secret_path, "created_at": time(request.created_at),
        "updated_at": time(request.updated_at), "sequence": request.sequence,
    })
}

impl Printer {
    pub(crate) fn new(output: Output) -> Self {
        Self { output }
    }

    fn table(&self, requests: &[pb::Request]) -> Table {
        let mut table = Table::new();
        table.load_preset(comfy_table::presets::NOTHING);
        table.set_header(["REQUEST", "KIND", "NAME", "ENV", "OWNER", "STATUS", "CREATED"]);
        for request in requests {
            let (kind, name, environment, owner) = summary(request);
            table.add_row([
                request.request_id.clone(),
                kind,
                name,
                environment,
                owner,
                status_word(request.status),
                time(request.created_at),
            ]);
        }
        table
    }

    pub(crate) fn request(&self, request: Option<pb::Request>) {
        let Some(request) = request else { return };
        match self.output {
            Output::Json => println!("{}", to_json(&request)),
            Output::Table => {
                println!("{}", self.table(std::slice::from_ref(&request)));
                let approvals: Vec<String> =
                    request.approvals.iter().filter_map(|a| a.approver.as_ref().map(|p| p.subject.clone())).collect();
                let needs: Vec<String> = request.required_approvals.iter().map(|c| c.any_of_groups.join("|")).collect();
                println!("needs: {}   approved by: {}", needs.join(" + "), approvals.join(", "));
                for (label, value) in [
                    ("auto-approved by", &request.auto_approved_by_rule),
                    ("reason", &request.reason),
                    ("secret", &request.secret_path),
                ] {
                    if !value.is_empty() {
                        println!("{label}: {value}");
                    }
                }
            }
        }
    }

    pub(crate) fn list(&self, response: pb::ListRequestsResponse) {
        match self.output {
            Output::Json => println!(
                "{}",
                json!({
                    "requests": response.requests.iter().map(to_json).collect::<Vec<_>>(),
                    "next_page_token": response.next_page_token,
                })
            ),
            Output::Table => {
                println!("{}", self.table(&response.requests));
                if !response.next_page_token.is_empty() {
                    println!("more: --page-token {}", response.next_page_token);
                }
            }
        }
    }

    pub(crate) fn watch_line(&self, request: Option<pb::Request>) {
        let Some(request) = request else { return };
        match self.output {
            Output::Json => println!("{}", to_json(&request)),
            Output::Table => {
                println!("{}  {}  {}", time(request.updated_at), request.request_id, status_word(request.status))
            }
        }
    }
}

/// Turns a gRPC status into an error that lists every field violation.
pub(crate) fn describe_status(status: tonic::Status) -> anyhow::Error {
    let Some(bad_request) = status.get_details_bad_request() else {
        return anyhow::anyhow!("{:?}: {}", status.code(), status.message());
    };
    let mut text = format!("{:?}: {} field(s) rejected", status.code(), bad_request.field_violations.len());
    for violation in bad_request.field_violations {
        text.push_str(&format!("\n  {}: {}", violation.field, violation.description));
    }
    anyhow::anyhow!(text)
}
