//! Console's view (`console`): each request's status since when, and each
//! stored credential's rotation state, folded from the request subjects —
//! what the page summarises. Every statement applies one event to one row.

use futures::future::BoxFuture;
use gantry_eventlog::{RecordedEvent, View};
use gantry_proto::events::envelope::Payload;
use gantry_proto::types::Principal;
use gantry_service::api::environment_word;
use sqlx::PgConnection;

/// The view's name: its consumer and checkpoint.
pub(crate) const VIEW_NAME: &str = "console";

/// Console's migrations (its view's tables).
pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The console view over the request subjects.
#[derive(Debug)]
pub(crate) struct ConsoleView {
    pub(crate) filter_subject: String,
}

/// A request's new status, or none for an event that leaves it.
fn status_after(payload: &Payload) -> Option<(&'static str, String)> {
    let status = match payload {
        Payload::ApprovalGranted(granted) if granted.policy_satisfied => "approved",
        Payload::RequestRejected(rejected) => return Some(("rejected", rejected.reason.clone())),
        Payload::RequestCancelled(cancelled) => return Some(("cancelled", cancelled.reason.clone())),
        Payload::ProvisioningStarted(_) => "provisioning",
        Payload::ResourceProvisioned(_) => "ready",
        Payload::ProvisioningFailed(failed) => return Some(("failed", failed.reason.clone())),
        Payload::DecommissionRequested(_) => "decommission_pending",
        Payload::DecommissionApproved(_) => "decommissioning",
        Payload::DecommissionRejected(_) => "ready",
        Payload::Decommissioned(_) => "decommissioned",
        Payload::DecommissionFailed(failed) => return Some(("decommission_failed", failed.reason.clone())),
        _ => return None,
    };
    Some((status, String::new()))
}

/// A credential's new rotation state: (state, deadline seconds, reason).
fn credential_after(payload: &Payload) -> Option<(&'static str, Option<f64>, String)> {
    let seconds = |deadline: &Option<prost_types::Timestamp>| {
        deadline.as_ref().map(|deadline| deadline.seconds as f64 + f64::from(deadline.nanos) / 1e9)
    };
    Some(match payload {
        Payload::RotationDueSoon(due) => ("due_soon", seconds(&due.deadline), String::new()),
        Payload::RotationOverdue(overdue) => ("overdue", seconds(&overdue.deadline), String::new()),
        Payload::RotationRequested(_) | Payload::RotationStarted(_) => ("rotating", None, String::new()),
        Payload::CredentialsRotated(_) => ("ok", None, String::new()),
        Payload::RotationFailed(failed) => ("failed", None, failed.reason.clone()),
        _ => return None,
    })
}

/// Records a new request.
async fn insert_request(
    connection: &mut PgConnection,
    event: &RecordedEvent,
    (kind, name, environment, requester, auto_approved): (&str, &str, i32, &str, bool),
) -> anyhow::Result<()> {
    let status = if auto_approved { "approved" } else { "pending_approval" };
    sqlx::query(
        "INSERT INTO requests (request_id, kind, name, environment, requester, status, submitted_at, status_since, sequence)
         VALUES ($1, $2, $3, $4, $5, $6, to_timestamp($7), to_timestamp($7), $8) ON CONFLICT (request_id) DO NOTHING",
    )
    .bind(event.envelope.aggregate_id.parse::<uuid::Uuid>()?)
    .bind(kind)
    .bind(name)
    .bind(environment_word(environment))
    .bind(if requester.is_empty() { event.envelope.actor.as_ref().map_or("", |actor: &Principal| &actor.subject) } else { requester })
    .bind(status)
    .bind(event.occurred_seconds())
    .bind(event.sequence as i64)
    .execute(connection)
    .await?;
    Ok(())
}

async fn apply_one(connection: &mut PgConnection, event: &RecordedEvent) -> anyhow::Result<()> {
    let Some(payload) = event.payload() else { return Ok(()) };
    let Ok(id) = event.envelope.aggregate_id.parse::<uuid::Uuid>() else { return Ok(()) };
    let (at, sequence) = (event.occurred_seconds(), event.sequence as i64);
    match payload {
        Payload::DatabaseRequested(requested) => {
            let Some(spec) = &requested.spec else { return Ok(()) };
            let auto = !requested.auto_approved_by_rule.is_empty();
            let row = ("database", spec.database_name.as_str(), spec.environment, spec.requester.as_str(), auto);
            return insert_request(connection, event, row).await;
        }
        Payload::BucketRequested(requested) => {
            let Some(spec) = &requested.spec else { return Ok(()) };
            let auto = !requested.auto_approved_by_rule.is_empty();
            let row = ("bucket", spec.bucket_name.as_str(), spec.environment, spec.requester.as_str(), auto);
            return insert_request(connection, event, row).await;
        }
        Payload::CredentialsStored(stored) => {
            sqlx::query(
                "INSERT INTO credentials (request_id, secret_name, environment, state, state_since, sequence)
                 SELECT request_id, $2, environment, 'ok', to_timestamp($3), $4 FROM requests WHERE request_id = $1
                 ON CONFLICT (request_id) DO NOTHING",
            )
            .bind(id)
            .bind(&stored.secret_name)
            .bind(at)
            .bind(sequence)
            .execute(&mut *connection)
            .await?;
        }
        Payload::Decommissioned(_) => {
            sqlx::query("DELETE FROM credentials WHERE request_id = $1").bind(id).execute(&mut *connection).await?;
        }
        _ => {}
    }
    if let Some((status, reason)) = status_after(payload) {
        sqlx::query(
            "UPDATE requests SET status = $2, reason = $3, status_since = to_timestamp($4), sequence = $5
             WHERE request_id = $1",
        )
        .bind(id)
        .bind(status)
        .bind(reason)
        .bind(at)
        .bind(sequence)
        .execute(&mut *connection)
        .await?;
    }
    if let Some((state, deadline, reason)) = credential_after(payload) {
        sqlx::query(
            "UPDATE credentials SET state = $2, deadline = COALESCE(to_timestamp($3), CASE WHEN $2 = 'ok' THEN NULL ELSE deadline END),
                 reason = $4, state_since = to_timestamp($5), sequence = $6
             WHERE request_id = $1",
        )
        .bind(id)
        .bind(state)
        .bind(deadline)
        .bind(reason)
        .bind(at)
        .bind(sequence)
        .execute(connection)
        .await?;
    }
    Ok(())
}

impl View for ConsoleView {
    fn name(&self) -> &str {
        VIEW_NAME
    }

    fn filter_subject(&self) -> String {
        self.filter_subject.clone()
    }

    fn tables(&self) -> &'static [&'static str] {
        &["credentials", "requests"]
    }

    fn apply_one<'a>(
        &'a self,
        transaction: &'a mut PgConnection,
        event: &'a RecordedEvent,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(apply_one(transaction, event))
    }
}

/// A request row as the page shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct RequestRow {
    pub(crate) request_id: uuid::Uuid,
    pub(crate) kind: String,
    pub(crate) name: String,
    pub(crate) environment: String,
    pub(crate) requester: String,
    pub(crate) status: String,
    pub(crate) reason: String,
    /// Milliseconds since the epoch when it got its status.
    pub(crate) since_ms: i64,
}

/// A credential row as the page shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct CredentialRow {
    pub(crate) request_id: uuid::Uuid,
    pub(crate) secret_name: String,
    pub(crate) environment: String,
    pub(crate) state: String,
    pub(crate) reason: String,
    /// Milliseconds since the epoch of its deadline, when known.
    pub(crate) deadline_ms: Option<i64>,
}

/// What the page summarises, read from the view.
#[derive(Debug, Clone, Default)]
pub(crate) struct Summary {
    pub(crate) pending: Vec<RequestRow>,
    pub(crate) in_flight: Vec<RequestRow>,
    pub(crate) failed: Vec<RequestRow>,
    pub(crate) credentials: Vec<CredentialRow>,
    /// The view's checkpoint (the log sequence it reflects).
    pub(crate) checkpoint: u64,
}

/// Most rows of each table on the page.
const ROWS: i64 = 200;

async fn requests_in(pool: &sqlx::PgPool, statuses: &[&str]) -> sqlx::Result<Vec<RequestRow>> {
    sqlx::query_as(
        "SELECT request_id, kind, name, environment, requester, status, reason,
                (extract(epoch FROM status_since) * 1000)::bigint AS since_ms
         FROM requests WHERE status = ANY($1) ORDER BY status_since, request_id LIMIT $2",
    )
    .bind(statuses.iter().map(|status| status.to_string()).collect::<Vec<_>>())
    .bind(ROWS)
    .fetch_all(pool)
    .await
}

/// Reads the summary.
pub(crate) async fn summary(pool: &sqlx::PgPool) -> anyhow::Result<Summary> {
    let credentials = sqlx::query_as(
        "SELECT request_id, secret_name, environment, state, reason,
                (extract(epoch FROM deadline) * 1000)::bigint AS deadline_ms
         FROM credentials WHERE state IN ('due_soon', 'overdue', 'rotating', 'failed')
         ORDER BY deadline NULLS LAST, secret_name LIMIT $1",
    )
    .bind(ROWS)
    .fetch_all(pool)
    .await?;
    Ok(Summary {
        pending: requests_in(pool, &["pending_approval", "decommission_pending"]).await?,
        in_flight: requests_in(pool, &["approved", "provisioning", "decommissioning"]).await?,
        failed: requests_in(pool, &["failed", "decommission_failed"]).await?,
        credentials,
        checkpoint: gantry_eventlog::projection::checkpoint(pool, VIEW_NAME).await?,
    })
}
