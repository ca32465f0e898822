//! What the client commands print on stdout: tables and field lists for
//! humans, JSON for scripts (one object per request; one line per change
//! when watching).
//!
//! # Layout
//!
//! - `fields`: a request's fields as words and JSON; the enum words.
//! - `resources`: databases and buckets the provisioner made.
//! - `results`: what the provisioner's other commands produced: the
//!   drift report, a manifest, files written.
//! - `rotation`: credentials' rotation, and the daily report.
//! - `artifacts`: what ingest stored, and what a verification found.
//! - `lineage`: lineage's graphs as tables, JSON, Mermaid or DOT.

mod artifacts;
mod fields;
mod lineage;
mod resources;
mod results;
mod rotation;

pub(crate) use fields::{
    environment_word, is_final, purpose_word, request_json, resource_status_word, status_word, waiting_for,
};
pub(crate) use results::remaining as remaining_drifts;
pub(crate) use rotation::Report;

use crate::approvals;
use crate::cli::{CatalogFormat, Output};
use comfy_table::Table;
use fields::{approvals_needed, spec_fields, summary, time};
use gantry_proto::intake as pb;
use serde_json::{Value, json};

/// Prints in the format the user chose.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Printer {
    output: Output,
}

impl Printer {
    /// A printer for `--output`.
    pub(crate) fn new(output: Output) -> Self {
        Self { output }
    }

    /// Prints one request with every field.
    pub(crate) fn request(&self, request: &pb::Request) {
        match self.output {
            Output::Json => println!("{}", request_json(request)),
            Output::Table => print!("{}", details(request)),
        }
    }

    /// Prints a page of requests.
    pub(crate) fn list(&self, response: &pb::ListRequestsResponse) {
        match self.output {
            Output::Json => println!(
                "{}",
                json!({
                    "requests": response.requests.iter().map(request_json).collect::<Vec<_>>(),
                    "next_page_token": response.next_page_token,
                })
            ),
            Output::Table => {
                println!("{}", table(&response.requests));
                if !response.next_page_token.is_empty() {
                    println!("more: --page-token {}", response.next_page_token);
                }
            }
        }
    }

    /// Prints one change a watch saw, with its time; `caught_up` adds what
    /// the request now waits for (history lines leave it out).
    pub(crate) fn watch_line(&self, request: &pb::Request, caught_up: bool) {
        match self.output {
            Output::Json => println!("{}", request_json(request)),
            Output::Table => {
                let mut line = format!("{}  {}", time(request.updated_at), status_word(request.status));
                if let Some(detail) = change_detail(request) {
                    line.push_str(&format!("  {detail}"));
                }
                println!("{line}");
                if let Some(waiting) = waiting_for(request).filter(|_| caught_up) {
                    println!("  waiting for {waiting}");
                }
            }
        }
    }

    /// Prints the catalog: the document as the server wrote it, or with
    /// `--output json` the same data as JSON (rds: the `rds-catalog.yaml`
    /// object; platform: the platform catalog object; backstage: an array
    /// of entities).
    pub(crate) fn catalog(&self, content: &str, format: CatalogFormat) -> anyhow::Result<()> {
        match self.output {
            Output::Table => print!("{content}"),
            Output::Json => println!("{}", catalog_json(content, format)?),
        }
        Ok(())
    }
}

/// Parses the YAML the server exported into JSON.
fn catalog_json(content: &str, format: CatalogFormat) -> anyhow::Result<Value> {
    use anyhow::Context as _;
    use serde::Deserialize as _;
    let mut documents = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(content) {
        let value = Value::deserialize(document).context("the server's catalog is not valid YAML")?;
        if !value.is_null() {
            documents.push(value);
        }
    }
    Ok(match format {
        CatalogFormat::Rds => documents.into_iter().next().unwrap_or_else(|| json!({"databases": []})),
        CatalogFormat::Platform => {
            documents.into_iter().next().unwrap_or_else(|| json!({"databases": [], "buckets": []}))
        }
        CatalogFormat::Backstage => Value::Array(documents),
    })
}

/// Says what a change brought, beyond the status.
/// Who approved, in order: `carol, dave`.
fn approvers(request: &pb::Request) -> String {
    let subjects: Vec<&str> = request
        .approvals
        .iter()
        .filter_map(|approval| approval.approver.as_ref().map(|principal| principal.subject.as_str()))
        .collect();
    subjects.join(", ")
}

fn change_detail(request: &pb::Request) -> Option<String> {
    let status = pb::RequestStatus::try_from(request.status).ok()?;
    let detail = match status {
        pb::RequestStatus::Approved if !request.auto_approved_by_rule.is_empty() => {
            format!("auto-approved by rule {}", request.auto_approved_by_rule)
        }
        pb::RequestStatus::Approved => format!("approved by {}", approvers(request)),
        pb::RequestStatus::PendingApproval if !request.approvals.is_empty() => {
            format!("approved so far by {}", approvers(request))
        }
        pb::RequestStatus::Ready if !request.secret_path.is_empty() => {
            format!("credentials at {}", request.secret_path)
        }
        pb::RequestStatus::Ready => match &request.spec {
            Some(pb::request::Spec::Bucket(spec)) => format!("bucket {} in {}", spec.bucket_name, spec.region),
            _ => return None,
        },
        _ if !request.reason.is_empty() => format!("reason: {}", request.reason),
        _ => return None,
    };
    Some(detail)
}

/// Returns an empty table with this header, without borders.
fn plain_table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table.load_preset(comfy_table::presets::NOTHING);
    table.set_header(header);
    table
}

fn table(requests: &[pb::Request]) -> Table {
    let mut table = plain_table(&["REQUEST", "KIND", "NAME", "ENV", "OWNER", "STATUS", "CREATED"]);
    for request in requests {
        let [kind, name, environment, owner] = summary(request);
        let row = [request.request_id.clone(), kind, name, environment, owner];
        table.add_row(row.into_iter().chain([status_word(request.status), time(request.created_at)]));
    }
    table
}

/// Returns every field of a request, one `label  value` line each.
fn details(request: &pb::Request) -> String {
    let [kind, ..] = summary(request);
    let mut lines: Vec<(String, String)> = vec![
        ("request".into(), request.request_id.clone()),
        ("kind".into(), kind),
        ("status".into(), status_word(request.status)),
    ];
    lines.extend(labelled(spec_fields(request)));
    lines.push(("submitted by".into(), request.submitted_by.clone().unwrap_or_default().subject));
    lines.push(("created".into(), time(request.created_at)));
    lines.push(("updated".into(), time(request.updated_at)));
    lines.push(("sequence".into(), request.sequence.to_string()));
    lines.extend(decision_lines(request));
    aligned(&lines)
}

/// Returns fields as `(label, text)`: `_` in a name reads as a space, an
/// empty value as `-`.
fn labelled(fields: Vec<(&'static str, Value)>) -> impl Iterator<Item = (String, String)> {
    fields.into_iter().map(|(field, value)| {
        let text = match value {
            Value::String(text) => text,
            other => other.to_string(),
        };
        (field.replace('_', " "), if text.is_empty() { "-".into() } else { text })
    })
}

/// Returns `label  value` lines, the values aligned.
fn aligned(lines: &[(String, String)]) -> String {
    let width = lines.iter().map(|(label, _)| label.len()).max().unwrap_or(0);
    lines.iter().map(|(label, value)| format!("{label:<width$}  {value}\n")).collect()
}

/// Returns how the request was decided: the rule or the approvals, what is
/// still needed, why it ended, where its credentials are.
fn decision_lines(request: &pb::Request) -> Vec<(String, String)> {
    let mut lines = Vec::new();
    if !request.auto_approved_by_rule.is_empty() {
        lines.push(("approved by".into(), format!("rule {} (on submission)", request.auto_approved_by_rule)));
    }
    for approval in &request.approvals {
        let approver = approval.approver.clone().unwrap_or_default();
        let mut text =
            format!("{} ({}) at {}", approver.subject, approver.groups.join(", "), time(approval.approved_at));
        if !approval.comment.is_empty() {
            text.push_str(&format!(": {:?}", approval.comment));
        }
        lines.push(("approved by".into(), text));
    }
    if request.approvals.is_empty() && request.auto_approved_by_rule.is_empty() {
        lines.push(("approved by".into(), "-".into()));
    }
    let needed = approvals_needed(request);
    if !needed.is_empty() {
        lines.push(("approvals needed".into(), approvals::describe(&needed)));
    }
    for (label, value) in [("reason", &request.reason), ("secret path", &request.secret_path)] {
        lines.push((label.into(), if value.is_empty() { "-".into() } else { value.clone() }));
    }
    lines
}

#[cfg(test)]
mod tests;
