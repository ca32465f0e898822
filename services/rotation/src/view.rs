//! Rotation's view ("credentials"): every database request's risk (its
//! period) and every credential the provisioner stored, with its last
//! rotation, deadline and phase. Folded from the request subjects; each
//! statement only moves a row forward.

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
}

impl RotationsView {
    /// A view of the request subjects `filter_subject`.
    pub fn new(filter_subject: String) -> Self {
        Self { filter_subject }
    }
}

/// The rotation period of a risk (the tier table), 0 when unknown.
pub(crate) fn period_days(risk: i32) -> i32 {
    Risk::try_from(risk).ok().and_then(RiskTier::of).map_or(0, |tier| tier.rotation_days as i32)
}

async fn apply_one(connection: &mut PgConnection, event: &RecordedEvent) -> anyhow::Result<()> {
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
            sqlx::query(
                "INSERT INTO credentials (request_id, secret_name, version_id, last_rotated_at, deadline,
                                          created_sequence, sequence)
                 SELECT request_id, $2, $3, to_timestamp($4), to_timestamp($4) + make_interval(days => period_days),
                        $5, $5
                 FROM requests WHERE request_id = $1
                 ON CONFLICT (request_id) DO NOTHING",
            )
            .bind(id)
            .bind(&stored.secret_name)
            .bind(&stored.version_id)
            .bind(at)
            .bind(sequence)
            .execute(connection)
            .await?;
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
            sqlx::query(
                "UPDATE credentials c SET version_id = $2, last_rotated_at = to_timestamp($3),
                     deadline = to_timestamp($3) + make_interval(days => r.period_days), phase = 'idle',
                     strategy = $4, rotations = rotations + 1, reason = '', sequence = $5
                 FROM requests r
                 WHERE c.request_id = $1 AND r.request_id = c.request_id AND c.sequence < $5",
            )
            .bind(id)
            .bind(&rotated.version_id)
            .bind(at)
            .bind(rotated.strategy)
            .bind(sequence)
            .execute(connection)
            .await?;
        }
        Payload::RotationFailed(failed) => {
            sqlx::query(
                "UPDATE credentials SET phase = 'failed', reason = $2, sequence = $3
                 WHERE request_id = $1 AND sequence < $3",
            )
            .bind(id)
            .bind(&failed.reason)
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

    fn apply<'a>(
        &'a self,
        transaction: &'a mut PgConnection,
        events: &'a [RecordedEvent],
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            for event in events {
                apply_one(transaction, event).await?;
            }
            Ok(())
        })
    }

    fn reset<'a>(&'a self, transaction: &'a mut PgConnection) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            sqlx::query("TRUNCATE credentials, requests").execute(transaction).await?;
            Ok(())
        })
    }
}
