//! What the provisioner's other commands produced: the drift report of
//! `admin reconcile`, the manifest of `database external-secret`, and the
//! files `bucket backend-config` and `audit export` wrote.

use super::fields::environment_word;
use super::{Printer, plain_table};
use crate::backend_config::BackendFile;
use crate::cli::Output;
use crate::external_secret::ExternalSecret;
use gantry_proto::provisioner as pb;
use serde_json::{Value, json};
use std::path::Path;

impl Printer {
    /// Prints each difference a reconcile found and a summary line; with
    /// `--output json`, one object with both.
    pub(crate) fn reconciliation(&self, response: &pb::ReconcileResponse) {
        match self.output {
            Output::Json => println!("{}", reconciliation_json(response)),
            Output::Table => {
                if !response.drifts.is_empty() {
                    let header = ["ENV", "KIND", "RESOURCE", "PROPERTY", "EXPECTED", "ACTUAL", "REPAIRED"];
                    let mut table = plain_table(&header);
                    for drift in &response.drifts {
                        table.add_row(drift_row(drift));
                    }
                    println!("{table}");
                }
                println!("{}", summary(response));
            }
        }
    }

    /// Prints a manifest: YAML, or with `--output json` the same object as
    /// JSON (kubectl takes either).
    pub(crate) fn manifest(&self, manifest: &ExternalSecret) -> anyhow::Result<()> {
        match self.output {
            Output::Json => println!("{}", serde_json::to_value(manifest)?),
            Output::Table => print!("{}", manifest.to_yaml()?),
        }
        Ok(())
    }

    /// Says which backend files were written.
    pub(crate) fn backend_files(&self, files: &[BackendFile]) {
        match self.output {
            Output::Json => {
                let files: Vec<Value> = files
                    .iter()
                    .map(|file| json!({"layer": file.layer, "path": file.path.display().to_string(), "key": file.key}))
                    .collect();
                println!("{}", json!({ "written": files }));
            }
            Output::Table => {
                for file in files {
                    println!("wrote {}  (state key {})", file.path.display(), file.key);
                }
            }
        }
    }

    /// Says where an export went and how many rows it has.
    pub(crate) fn export_written(&self, path: &Path, rows: u32) {
        match self.output {
            Output::Json => println!("{}", json!({"file": path.display().to_string(), "rows": rows})),
            Output::Table => println!("wrote {} ({rows} rows)", path.display()),
        }
    }
}

fn drift_row(drift: &pb::Drift) -> [String; 7] {
    [
        environment_word(drift.environment),
        drift.resource_kind.clone(),
        drift.resource.clone(),
        drift.property.clone(),
        drift.expected.clone(),
        drift.actual.clone(),
        if drift.repaired { "yes" } else { "no" }.into(),
    ]
}

/// Returns how many differences a reconcile left unrepaired.
pub(crate) fn remaining(response: &pb::ReconcileResponse) -> usize {
    response.drifts.iter().filter(|drift| !drift.repaired).count()
}

/// Returns the summary: `checked 12 resources: 3 drifts, 1 repaired, 2 remain`.
fn summary(response: &pb::ReconcileResponse) -> String {
    let checked = format!("checked {} resource{}", response.checked, plural(response.checked as usize));
    let found = response.drifts.len();
    if found == 0 {
        return format!("{checked}: no drift");
    }
    let remaining = remaining(response);
    format!(
        "{checked}: {found} drift{}, {} repaired, {remaining} remain{}",
        plural(found),
        found - remaining,
        if remaining == 1 { "s" } else { "" }
    )
}

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}

fn reconciliation_json(response: &pb::ReconcileResponse) -> Value {
    let drifts: Vec<Value> = response
        .drifts
        .iter()
        .map(|drift| {
            json!({
                "request_id": drift.request_id, "resource_kind": drift.resource_kind, "resource": drift.resource,
                "environment": environment_word(drift.environment), "property": drift.property,
                "expected": drift.expected, "actual": drift.actual, "repaired": drift.repaired,
            })
        })
        .collect();
    let remaining = remaining(response);
    json!({
        "checked": response.checked, "drifts": drifts, "repaired": response.drifts.len() - remaining,
        "remaining": remaining, "sequence": response.sequence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drift(property: &str, repaired: bool) -> pb::Drift {
        pb::Drift {
            request_id: "r1".into(),
            resource_kind: "database".into(),
            resource: "orders".into(),
            environment: gantry_proto::types::Environment::Prod as i32,
            property: property.into(),
            expected: "20".into(),
            actual: "50".into(),
            repaired,
        }
    }

    #[test]
    fn the_summary_counts_what_remains() {
        let clean = pb::ReconcileResponse { checked: 1, drifts: vec![], sequence: 0 };
        assert_eq!(summary(&clean), "checked 1 resource: no drift");
        let drifts = vec![drift("connection_limit", true), drift("owner", false)];
        let response = pb::ReconcileResponse { checked: 12, drifts, sequence: 40 };
        assert_eq!(summary(&response), "checked 12 resources: 2 drifts, 1 repaired, 1 remains");
        assert_eq!(remaining(&response), 1);
        let json = reconciliation_json(&response);
        assert_eq!((json["repaired"].as_u64(), json["remaining"].as_u64()), (Some(1), Some(1)));
        assert_eq!(json["drifts"][1]["property"], "owner");
        assert_eq!(json["drifts"][1]["environment"], "prod");
        assert_eq!(drift_row(&response.drifts[0])[6], "yes");
    }
}
