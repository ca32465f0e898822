//! Rotation's view ("credentials"): every database request's risk (its
//! period) and every credential the provisioner stored, with its last
//! rotation, deadline and phase. Folded from the request subjects; each
//! statement only moves a row forward.

use crate::schedule::{effective_period, plan};
use crate::settings::RotationSettings;
use futures::future::BoxFuture;
use gantry_eventlog::{RecordedEvent, View};
use gantry_proto::events::envelope::Payload;
use gantry_proto::types::Risk;
use gantry_service::api::environment_word;
use gantry_tiers::RiskTier;
use sqlx::PgConnection;

/// The view's name: its consumer and checkpoint.
pub const VIEW_NAME: &str = "credentials";

/// Rotation's migrations (its view's tables).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The rotations view.
#[derive(Debug)]
pub struct RotationsView {
    filter_subject: String,
    settings: RotationSettings,
}

impl RotationsView {
    /// A view of the request subjects `filter_subject`, planning deadlines
    /// with `settings` (the warning window, the lead and spread).
    pub fn new(filter_subject: String, settings: RotationSettings) -> Self {
        Self { filter_subject, settings }
    }
}

/// Sets a credential's deadline and next rotation from its period and last
/// rotation, as the schedule plans them ([`crate::schedule`]).
async fn replan(connection: &mut PgConnection, id: uuid::Uuid, settings: &RotationSettings) -> anyhow::Result<()> {
    let found: Option<(i32, i32, f64)> = sqlx::query_as(
        "SELECT r.period_days, c.own_period_days, extract(epoch FROM c.last_rotated_at)::float8
         FROM credentials c JOIN requests r USING (request_id) WHERE c.request_id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *connection)
    .await?;
    let Some((tier, own, since)) = found else { return Ok(()) };
    let since = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs_f64(since.max(0.0));
    let planned = plan(id, since, effective_period(tier.max(0) as u32, own.max(0) as u32), settings);
    let seconds = |time: std::time::SystemTime| {
        time.duration_since(std::time::SystemTime::UNIX_EPOCH).map_or(0.0, |since| since.as_secs_f64())
    };
    sqlx::query(
        "UPDATE credentials SET deadline = to_timestamp($2), next_rotation_at = to_timestamp($3) WHERE request_id = $1",
    )
    .bind(id)
    .bind(seconds(planned.deadline))
    .bind(seconds(planned.rotate_at))
    .execute(connection)
    .await?;
    Ok(())
}

/// The rotation period of a risk (the tier table), 0 when unknown.
pub(crate) fn period_days(risk: i32) -> i32 {
    Risk::try_from(risk).ok().and_then(RiskTier::of).map_or(0, |tier| tier.rotation_days as i32)
}

async fn apply_one(
    connection: &mut PgConnection,
    event: &RecordedEvent,
    settings: &RotationSettings,
) -> anyhow::Result<()> {
    let Some(payload) = event.envelope.payload.as_ref() else { return Ok(()) };
    let Ok(id) = event.envelope.aggregate_id.parse::<uuid::Uuid>() else { return Ok(()) };
    let (at, sequence) = (event.occurred_seconds(), event.sequence as i64);
    match payload {
        Payload::DatabaseRequested(requested) => {
            let Some(spec) = &requested.spec else { return Ok(()) };
            sqlx::query(
                "INSERT INTO requests (request_id, environment, database_name, role_name, owner, requester, risk,
                                       period_days)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (request_id) DO NOTHING",
            )
            .bind(id)
            .bind(environment_word(spec.environment))
            .bind(&spec.database_name)
            .bind(&spec.username)
            .bind(&spec.owner)
            .bind(&spec.requester)
            .bind(spec.risk)
            .bind(period_days(spec.risk))
            .execute(connection)
            .await?;
        }
        Payload::CredentialsStored(stored) => {
            let inserted = sqlx::query(
                "INSERT INTO credentials (request_id, secret_name, version_id, last_rotated_at, deadline,
                                          current_username, generation, created_sequence, sequence)
                 SELECT request_id, $2, $3, to_timestamp($4), to_timestamp($4), role_name, $5, $5, $5
                 FROM requests WHERE request_id = $1
                 ON CONFLICT (request_id) DO NOTHING",
            )
            .bind(id)
            .bind(&stored.secret_name)
            .bind(&stored.version_id)
            .bind(at)
            .bind(sequence)
            .execute(&mut *connection)
            .await?;
            if inserted.rows_affected() == 1 {
                replan(connection, id, settings).await?;
            }
        }
        Payload::RotationRequested(_) | Payload::RotationStarted(_) => {
            sqlx::query(
                "UPDATE credentials SET phase = 'rotating', sequence = $2 WHERE request_id = $1 AND sequence < $2",
            )
            .bind(id)
            .bind(sequence)
            .execute(connection)
            .await?;
        }
        Payload::CredentialsRotated(rotated) => {
            let updated = sqlx::query(
                "UPDATE credentials SET version_id = $2, last_rotated_at = to_timestamp($3), phase = 'idle',
                     strategy = $4, rotations = rotations + 1, reason = '', current_username = $5,
                     generation = $6, failed_at = NULL, sequence = $6
                 WHERE request_id = $1 AND sequence < $6",
            )
            .bind(id)
            .bind(&rotated.version_id)
            .bind(at)
            .bind(rotated.strategy)
            .bind(&rotated.role)
            .bind(sequence)
            .execute(&mut *connection)
            .await?;
            if updated.rows_affected() == 1 {
                replan(connection, id, settings).await?;
            }
        }
        Payload::RotationPolicySet(policy) => {
            let updated = sqlx::query(
                "UPDATE credentials SET own_period_days = $2, strategy = CASE WHEN $3 = 0 THEN strategy ELSE $3 END,
                     generation = $4, sequence = $4
                 WHERE request_id = $1 AND sequence < $4",
            )
            .bind(id)
            .bind(policy.period_days as i32)
            .bind(policy.strategy)
            .bind(sequence)
            .execute(&mut *connection)
            .await?;
            if updated.rows_affected() == 1 {
                replan(connection, id, settings).await?;
            }
        }
        Payload::RotationFailed(failed) => {
            sqlx::query(
                "UPDATE credentials SET phase = 'failed', reason = $2, failed_at = to_timestamp($3), sequence = $4
                 WHERE request_id = $1 AND sequence < $4",
            )
            .bind(id)
            .bind(&failed.reason)
            .bind(at)
            .bind(sequence)
            .execute(connection)
            .await?;
        }
        Payload::Decommissioned(_) => {
            sqlx::query("UPDATE credentials SET retired = true, sequence = $2 WHERE request_id = $1 AND sequence < $2")
                .bind(id)
                .bind(sequence)
                .execute(connection)
                .await?;
        }
        _ => {}
    }
    Ok(())
}

impl View for RotationsView {
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
        Box::pin(apply_one(transaction, event, &self.settings))
    }
}
