//! The audit trail: what each event on a request means as one row of the
//! platform's `governance/{environment}/rds_request_audit.csv` (timestamp,
//! environment, request id, database or bucket, action, actor, outcome,
//! detail), and the CSV itself.

use gantry_proto::events::envelope::Payload;
use gantry_proto::types::SecretDeletionPolicy;

/// The header row of the audit CSV.
pub(crate) const HEADER: [&str; 8] =
    ["timestamp", "environment", "request_id", "resource", "action", "actor", "outcome", "detail"];

/// What one event says in the audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// What happened (`requested`, `approved`, `database created`, …).
    pub action: &'static str,
    /// How it ended (`pending approval`, `succeeded`, `failed (retryable)`, …).
    pub outcome: String,
    /// The rest worth knowing (a reason, a comment, a secret's name; never a secret).
    pub detail: String,
}

fn entry(action: &'static str, outcome: impl Into<String>, detail: impl Into<String>) -> Option<Entry> {
    Some(Entry { action, outcome: outcome.into(), detail: detail.into() })
}

fn failure_outcome(retryable: bool) -> &'static str {
    if retryable { "failed (retryable)" } else { "failed" }
}

/// Returns the audit row of an event on a request (`None` for events that
/// are not part of a request's story).
pub(crate) fn entry_of(payload: &Payload) -> Option<Entry> {
    match payload {
        Payload::DatabaseRequested(requested) => requested_entry(&requested.auto_approved_by_rule),
        Payload::BucketRequested(requested) => requested_entry(&requested.auto_approved_by_rule),
        Payload::ApprovalGranted(granted) => {
            let outcome = if granted.policy_satisfied { "approved" } else { "approval recorded" };
            entry("approved", outcome, granted.comment.clone())
        }
        Payload::RequestRejected(rejected) => entry("rejected", "rejected", rejected.reason.clone()),
        Payload::RequestCancelled(cancelled) => entry("cancelled", "cancelled", cancelled.reason.clone()),
        Payload::ProvisioningStarted(_) => entry("provisioning started", "started", ""),
        Payload::RoleCreated(role) => entry("role created", "succeeded", format!("role {}", role.role)),
        Payload::DatabaseCreated(created) => entry(
            "database created",
            "succeeded",
            format!(
                "owner {}, connection limit {}, statement logging {}",
                created.role,
                created.connection_limit,
                if created.audit_logging { "on" } else { "off" }
            ),
        ),
        Payload::CredentialsStored(stored) => entry(
            "credentials stored",
            "succeeded",
            format!("secret {} version {}", stored.secret_name, stored.version_id),
        ),
        Payload::BucketCreated(created) => entry(
            "bucket created",
            "succeeded",
            format!(
                "region {}, versioning {}, encryption {}, public access blocked, TLS only",
                created.region,
                if created.versioning { "on" } else { "off" },
                created.encryption
            ),
        ),
        Payload::ResourceProvisioned(provisioned) => entry("ready", "succeeded", provisioned.secret_path.clone()),
        Payload::ProvisioningFailed(failed) => {
            entry("provisioning failed", failure_outcome(failed.retryable), failed.reason.clone())
        }
        Payload::DriftDetected(drift) => entry(
            "drift detected",
            "drift",
            format!("{}: expected {}, found {}", drift.property, drift.expected, drift.actual),
        ),
        Payload::DriftRepaired(repaired) => entry(
            "drift resolved",
            "resolved",
            format!("{}: {} (was {})", repaired.property, repaired.expected, repaired.previous),
        ),
        Payload::DecommissionRequested(requested) => {
            entry("decommission requested", "pending approval", requested.reason.clone())
        }
        Payload::DecommissionApproved(approved) => {
            let policy = match SecretDeletionPolicy::try_from(approved.secret_policy) {
                Ok(SecretDeletionPolicy::Retain) => "secret retained".to_owned(),
                _ => format!("secret deleted with a {}-day recovery window", approved.recovery_window_days),
            };
            let detail = if approved.comment.is_empty() { policy } else { format!("{}; {policy}", approved.comment) };
            entry("decommission approved", "approved", detail)
        }
        Payload::DecommissionRejected(rejected) => entry("decommission rejected", "rejected", rejected.reason.clone()),
        Payload::DatabaseDropped(dropped) => {
            entry("database dropped", "succeeded", format!("database {} and role {}", dropped.database, dropped.role))
        }
        Payload::SecretDeleted(deleted) => {
            let detail = if deleted.retained {
                format!("secret {} retained", deleted.secret_name)
            } else {
                format!("secret {} deleted, recoverable for {} days", deleted.secret_name, deleted.recovery_window_days)
            };
            entry("secret deleted", "succeeded", detail)
        }
        Payload::Decommissioned(_) => entry("decommissioned", "succeeded", ""),
        Payload::DecommissionFailed(failed) => {
            entry("decommission failed", failure_outcome(failed.retryable), failed.reason.clone())
        }
        Payload::RotationRequested(requested) => entry(
            "rotation requested",
            "pending",
            format!("{} {}", requested.secret_name, requested.reason).trim().to_owned(),
        ),
        Payload::RotationStarted(started) => {
            entry("rotation started", "started", format!("pending version {}", started.pending_version_id))
        }
        Payload::CredentialsRotated(rotated) => entry(
            "credentials rotated",
            "succeeded",
            format!(
                "secret {} version {} (was {})",
                rotated.secret_name, rotated.version_id, rotated.previous_version_id
            ),
        ),
        Payload::RotationFailed(failed) => {
            entry("rotation failed", failure_outcome(failed.retryable), failed.reason.clone())
        }
        Payload::RotationDueSoon(due) => entry("rotation due soon", "warning", deadline(&due.deadline)),
        Payload::RotationOverdue(overdue) => entry("rotation overdue", "overdue", deadline(&overdue.deadline)),
        Payload::RotationPolicySet(policy) => entry(
            "rotation policy set",
            "succeeded",
            format!("period {} days (0: the tier's), strategy {}", policy.period_days, policy.strategy),
        ),
        Payload::NameReserved(_) | Payload::RequestVoided(_) => None,
        // Ingest's and lineage's events live on their own subjects, never on a request's.
        Payload::ArtifactStored(_)
        | Payload::ArtifactExpired(_)
        | Payload::BlobDeleted(_)
        | Payload::BlobVerified(_)
        | Payload::BlobCorrupted(_)
        | Payload::BlobDeletionStarted(_)
        | Payload::RunCompleted(_)
        | Payload::RunLayoutWritten(_)
        | Payload::OpenLineageRunEvent(_) => None,
    }
}

fn deadline(deadline: &Option<prost_types::Timestamp>) -> String {
    deadline.as_ref().map(|deadline| format!("deadline {deadline}")).unwrap_or_default()
}

fn requested_entry(auto_rule: &str) -> Option<Entry> {
    if auto_rule.is_empty() {
        entry("requested", "pending approval", "")
    } else {
        entry("requested", "approved", format!("auto-approved by rule {auto_rule}"))
    }
}

/// One row as read from the view.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct Row {
    /// RFC 3339, UTC.
    pub timestamp: String,
    pub environment: String,
    pub request_id: uuid::Uuid,
    pub resource: String,
    pub action: String,
    pub actor: String,
    pub outcome: String,
    pub detail: String,
}

/// Renders rows as RFC 4180 CSV with the header (quoted where needed, so a
/// comma, quote or line break in a detail stays in its cell).
pub(crate) fn csv(rows: &[Row]) -> anyhow::Result<String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(HEADER)?;
    for row in rows {
        let id = row.request_id.to_string();
        writer.write_record([
            row.timestamp.as_str(),
            &row.environment,
            &id,
            &row.resource,
            &row.action,
            &row.actor,
            &row.outcome,
            &row.detail,
        ])?;
    }
    Ok(String::from_utf8(writer.into_inner()?)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gantry_proto::events::{ApprovalGranted, ProvisioningFailed};

    #[test]
    fn events_read_as_audit_rows() {
        let approved = entry_of(&Payload::ApprovalGranted(ApprovalGranted {
            comment: "ok".into(),
            policy_satisfied: true,
            approved: None,
        }))
        .unwrap();
        assert_eq!(
            (approved.action, approved.outcome.as_str(), approved.detail.as_str()),
            ("approved", "approved", "ok")
        );
        let failed =
            entry_of(&Payload::ProvisioningFailed(ProvisioningFailed { reason: "down".into(), retryable: true }))
                .unwrap();
        assert_eq!(failed.outcome, "failed (retryable)");
    }

    #[test]
    fn csv_quotes_what_would_break_a_cell() {
        let row = Row {
            timestamp: "2026-11-30T12:00:00Z".into(),
            environment: "dev".into(),
            request_id: uuid::Uuid::nil(),
            resource: "orders".into(),
            action: "rejected".into(),
            actor: "bob".into(),
            outcome: "rejected".into(),
            detail: "too big, \"xlarge\"\nask again".into(),
        };
        let text = csv(&[row]).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        assert_eq!(reader.headers().unwrap().iter().collect::<Vec<_>>(), HEADER);
        let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(records.len(), 1);
        assert_eq!(&records[0][7], "too big, \"xlarge\"\nask again");
    }
}
