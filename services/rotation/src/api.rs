//! The rotation gRPC service: rotation on demand, and reads of every
//! credential's status from the view.

use crate::schedule::{effective_period, plan};
use crate::settings::RotationSettings;
use gantry_eventlog::{EventLog, ExpectedSequence, NewEvent};
use gantry_platform::target::{ROLE_NAME_MAX, clone_of};
use gantry_proto::events::envelope::Payload;
use gantry_proto::events::{RotationPolicySet, RotationRequested, RotationStrategy};
use gantry_proto::rotation::{self as pb, rotation_service_server::RotationService};
use gantry_proto::types::Principal;
use gantry_runtime::principal_of;
use gantry_service::api::{ApiError, Checks, ViewReads, environment, page_size, page_token};
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use uuid::Uuid;

/// The group that may rotate any credential.
const PLATFORM_TEAM: &str = "platform-team";
/// Longest secret name Secrets Manager takes.
const SECRET_NAME_MAX: usize = 512;
/// Longest reason.
const REASON_MAX: usize = 1024;

/// The rotation API over the view and the log.
#[derive(Debug, Clone)]
pub(crate) struct RotationApi {
    pub(crate) reads: ViewReads,
    pub(crate) log: EventLog,
    pub(crate) settings: RotationSettings,
}

/// A credential row as read, with its state computed at read time.
#[derive(Debug, sqlx::FromRow)]
struct Row {
    request_id: Uuid,
    secret_name: String,
    database_name: String,
    role_name: String,
    environment: String,
    risk: i32,
    tier_period_days: i32,
    own_period_days: i32,
    state: String,
    strategy: i32,
    last_rotated_micros: i64,
    deadline_micros: i64,
    next_rotation_micros: Option<i64>,
    current_username: String,
    version_id: String,
    rotations: i32,
    reason: String,
    owner: String,
    requester: String,
    sequence: i64,
}

fn timestamp(micros: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: (micros.rem_euclid(1_000_000) * 1000) as i32,
    })
}

fn state_of(word: &str) -> pb::RotationState {
    match word {
        "ok" => pb::RotationState::Ok,
        "due_soon" => pb::RotationState::DueSoon,
        "overdue" => pb::RotationState::Overdue,
        "rotating" => pb::RotationState::Rotating,
        "failed" => pb::RotationState::Failed,
        _ => pb::RotationState::Unspecified,
    }
}

fn state_word(state: pb::RotationState) -> Option<&'static str> {
    match state {
        pb::RotationState::Unspecified => None,
        pb::RotationState::Ok => Some("ok"),
        pb::RotationState::DueSoon => Some("due_soon"),
        pb::RotationState::Overdue => Some("overdue"),
        pb::RotationState::Rotating => Some("rotating"),
        pb::RotationState::Failed => Some("failed"),
    }
}

impl Row {
    fn message(&self) -> pb::Rotation {
        pb::Rotation {
            secret_name: self.secret_name.clone(),
            request_id: self.request_id.to_string(),
            database_name: self.database_name.clone(),
            role: self.role_name.clone(),
            environment: gantry_proto::types::Environment::from_str_name(&format!(
                "ENVIRONMENT_{}",
                self.environment.to_uppercase()
            ))
            .map_or(0, |environment| environment as i32),
            risk: self.risk,
            period_days: effective_period(self.tier_period_days.max(0) as u32, self.own_period_days.max(0) as u32),
            tier_period_days: self.tier_period_days.max(0) as u32,
            state: state_of(&self.state) as i32,
            strategy: self.strategy,
            last_rotated_at: timestamp(self.last_rotated_micros),
            deadline: timestamp(self.deadline_micros),
            version_id: self.version_id.clone(),
            rotations: self.rotations as u32,
            reason: self.reason.clone(),
            owner: self.owner.clone(),
            sequence: self.sequence as u64,
            next_rotation_at: self.next_rotation_micros.and_then(timestamp),
            current_user: self.current_username.clone(),
        }
    }
}

/// The columns of a credential, its state computed from its phase and
/// deadline (`$1`: the warning window in days).
const COLUMNS: &str = "SELECT * FROM (
    SELECT c.request_id, c.secret_name, r.database_name, r.role_name, r.environment, r.risk,
           r.period_days AS tier_period_days, c.own_period_days,
           CASE WHEN c.phase <> 'idle' THEN c.phase
                WHEN c.deadline <= now() THEN 'overdue'
                WHEN c.deadline <= now() + make_interval(days => $1) THEN 'due_soon'
                ELSE 'ok' END AS state,
           c.strategy,
           (extract(epoch FROM c.last_rotated_at) * 1000000)::bigint AS last_rotated_micros,
           (extract(epoch FROM c.deadline) * 1000000)::bigint AS deadline_micros,
           (extract(epoch FROM c.next_rotation_at) * 1000000)::bigint AS next_rotation_micros,
           c.current_username, c.version_id, c.rotations, c.reason, r.owner, r.requester, c.sequence
    FROM credentials c JOIN requests r USING (request_id) WHERE NOT c.retired) AS rotation";

async fn by_secret(pool: &PgPool, due_soon_days: u32, secret_name: &str) -> Result<Option<Row>, ApiError> {
    let query = format!("{COLUMNS} WHERE secret_name = $2");
    Ok(sqlx::query_as(&query).bind(due_soon_days as i32).bind(secret_name).fetch_optional(pool).await?)
}

/// How many tracked credentials are in each state (every state, zeros
/// included): one pass over the view.
pub(crate) async fn state_counts(pool: &PgPool, due_soon_days: u32) -> Result<Vec<(&'static str, i64)>, sqlx::Error> {
    let query = format!("SELECT state, count(*) FROM ({COLUMNS}) AS counted GROUP BY state");
    let found: Vec<(String, i64)> = sqlx::query_as(&query).bind(due_soon_days as i32).fetch_all(pool).await?;
    Ok(["ok", "due_soon", "overdue", "rotating", "failed"]
        .into_iter()
        .map(|state| (state, found.iter().find(|(word, _)| word == state).map_or(0, |(_, count)| *count)))
        .collect())
}

fn secret_name(value: &str) -> Result<String, (String, String)> {
    if value.is_empty() {
        Err(("secret_name".into(), "required, e.g. goldenpath/prod/orders/postgres".into()))
    } else if value.len() > SECRET_NAME_MAX || value.chars().any(char::is_control) {
        Err(("secret_name".into(), format!("at most {SECRET_NAME_MAX} bytes, no control characters")))
    } else {
        Ok(value.to_owned())
    }
}

fn reason(value: &str) -> Result<String, (String, String)> {
    if value.len() > REASON_MAX || value.chars().any(char::is_control) {
        Err(("reason".into(), format!("at most {REASON_MAX} bytes, no control characters")))
    } else {
        Ok(value.to_owned())
    }
}

/// True when `caller` may rotate `row`: its requester, a member of its
/// owning team (a group of that name), or platform-team.
fn may_rotate(caller: &Principal, row: &Row) -> bool {
    caller.subject == row.requester || caller.groups.iter().any(|group| group == &row.owner || group == PLATFORM_TEAM)
}

impl RotationApi {
    async fn rotate_now_inner(
        &self,
        caller: Principal,
        message: pb::RotateNowRequest,
    ) -> Result<pb::RotateNowResponse, ApiError> {
        let mut checks = Checks::default();
        let name = checks.take(secret_name(&message.secret_name));
        let why = checks.take(reason(&message.reason));
        checks.finish()?;
        let (name, why) = (name.expect("checked"), why.expect("checked"));
        self.reads.at(message.min_sequence).await?;
        let row = by_secret(&self.reads.pool, self.settings.due_soon_days, &name)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("no credential {name} is tracked")))?;
        if !may_rotate(&caller, &row) {
            return Err(ApiError::PermissionDenied(format!(
                "only its requester, a member of {} or of {PLATFORM_TEAM} may rotate {name}",
                row.owner
            )));
        }
        if row.state == "rotating" {
            return Err(ApiError::FailedPrecondition(format!("a rotation of {name} is under way")));
        }
        let event = NewEvent {
            aggregate_type: "request",
            aggregate_id: row.request_id.to_string(),
            payload: Payload::RotationRequested(RotationRequested {
                secret_name: name.clone(),
                reason: why,
                strategy: row.strategy,
            }),
            actor: caller,
            correlation_id: Uuid::now_v7().to_string(),
            causation_id: String::new(),
        };
        let appended = self
            .log
            .append(event, ExpectedSequence::Any)
            .await
            .map_err(|error| ApiError::Unavailable(format!("the event log did not take the request: {error}")))?;
        let mut rotation = row.message();
        rotation.state = pb::RotationState::Rotating as i32;
        Ok(pb::RotateNowResponse { rotation: Some(rotation), sequence: appended.sequence })
    }

    async fn set_policy_inner(
        &self,
        caller: Principal,
        message: pb::SetRotationPolicyRequest,
    ) -> Result<pb::SetRotationPolicyResponse, ApiError> {
        let mut checks = Checks::default();
        let name = checks.take(secret_name(&message.secret_name));
        let why = checks.take(reason(&message.reason));
        let strategy = checks.take(RotationStrategy::try_from(message.strategy).map_err(|_| {
            (
                "strategy".to_owned(),
                format!("unknown value {}; 1 (single user) or 2 (alternating users)", message.strategy),
            )
        }));
        checks.finish()?;
        let (name, why, strategy) = (name.expect("checked"), why.expect("checked"), strategy.expect("checked"));
        self.reads.at(message.min_sequence).await?;
        let row = by_secret(&self.reads.pool, self.settings.due_soon_days, &name)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("no credential {name} is tracked")))?;
        if !may_rotate(&caller, &row) {
            return Err(ApiError::PermissionDenied(format!(
                "only its requester, a member of {} or of {PLATFORM_TEAM} may set the policy of {name}",
                row.owner
            )));
        }
        let mut checks = Checks::default();
        let tier = row.tier_period_days.max(1) as u32;
        if message.period_days > tier {
            checks.0.push((
                "period_days".into(),
                format!("at most {tier} days, the period of its risk tier; 0 for the tier's"),
            ));
        }
        if strategy == RotationStrategy::AlternatingUsers && clone_of(&row.role_name).len() > ROLE_NAME_MAX {
            checks.0.push((
                "strategy".into(),
                format!("alternating users need a role {} of at most {ROLE_NAME_MAX} bytes", clone_of(&row.role_name)),
            ));
        }
        checks.finish()?;
        let policy = RotationPolicySet {
            secret_name: name.clone(),
            period_days: message.period_days,
            strategy: strategy as i32,
            reason: why,
        };
        let event = NewEvent {
            aggregate_type: "request",
            aggregate_id: row.request_id.to_string(),
            payload: Payload::RotationPolicySet(policy),
            actor: caller,
            correlation_id: Uuid::now_v7().to_string(),
            causation_id: String::new(),
        };
        let appended = self
            .log
            .append(event, ExpectedSequence::Any)
            .await
            .map_err(|error| ApiError::Unavailable(format!("the event log did not take the policy: {error}")))?;
        let mut rotation = row.message();
        rotation.period_days = effective_period(tier, message.period_days);
        if strategy != RotationStrategy::Unspecified {
            rotation.strategy = strategy as i32;
        }
        let since = std::time::UNIX_EPOCH + std::time::Duration::from_micros(row.last_rotated_micros.max(0) as u64);
        let planned = plan(row.request_id, since, rotation.period_days, &self.settings);
        rotation.deadline = Some(planned.deadline.into());
        rotation.next_rotation_at = Some(planned.rotate_at.into());
        Ok(pb::SetRotationPolicyResponse { rotation: Some(rotation), sequence: appended.sequence })
    }

    async fn get_inner(&self, message: pb::GetRotationStatusRequest) -> Result<pb::Rotation, ApiError> {
        let mut checks = Checks::default();
        let name = checks.take(secret_name(&message.secret_name));
        checks.finish()?;
        let name = name.expect("checked");
        self.reads.at(message.min_sequence).await?;
        let row = by_secret(&self.reads.pool, self.settings.due_soon_days, &name).await?;
        row.map(|row| row.message()).ok_or_else(|| ApiError::NotFound(format!("no credential {name} is tracked")))
    }

    async fn list_inner(&self, message: pb::ListRotationsRequest) -> Result<pb::ListRotationsResponse, ApiError> {
        let mut checks = Checks::default();
        let state = match pb::RotationState::try_from(message.state) {
            Ok(state) => state_word(state),
            Err(_) => {
                checks
                    .0
                    .push(("state".into(), format!("unknown value {}; one of 1 (ok) to 5 (failed)", message.state)));
                None
            }
        };
        let environment = checks.take(environment("environment", message.environment, false)).flatten();
        let before = message.deadline_before.map(|before| before.seconds as f64 + f64::from(before.nanos) / 1e9);
        // The cursor of this listing is how many rows came before.
        let offset = checks.take(page_token(&message.page_token)).flatten().unwrap_or(0);
        let limit = checks.take(page_size(message.page_size)).unwrap_or_default();
        checks.finish()?;
        self.reads.at(message.min_sequence).await?;
        let query = format!(
            "{COLUMNS} WHERE ($2::text IS NULL OR state = $2) AND ($3::text IS NULL OR environment = $3)
               AND ($6::float8 IS NULL OR deadline_micros < $6 * 1000000)
             ORDER BY deadline_micros, secret_name OFFSET $4 LIMIT $5"
        );
        let mut rows: Vec<Row> = sqlx::query_as(&query)
            .bind(self.settings.due_soon_days as i32)
            .bind(state)
            .bind(environment)
            .bind(offset as i64)
            .bind(i64::from(limit) + 1)
            .bind(before)
            .fetch_all(&self.reads.pool)
            .await?;
        let next_page_token = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            gantry_runtime::grpc::page::token(offset + u64::from(limit))
        } else {
            String::new()
        };
        Ok(pb::ListRotationsResponse { rotations: rows.iter().map(Row::message).collect(), next_page_token })
    }
}

#[tonic::async_trait]
impl RotationService for RotationApi {
    async fn rotate_now(
        &self,
        request: Request<pb::RotateNowRequest>,
    ) -> Result<Response<pb::RotateNowResponse>, Status> {
        let caller = principal_of(&request)?;
        Ok(Response::new(self.rotate_now_inner(caller, request.into_inner()).await?))
    }

    async fn get_rotation_status(
        &self,
        request: Request<pb::GetRotationStatusRequest>,
    ) -> Result<Response<pb::GetRotationStatusResponse>, Status> {
        principal_of(&request)?;
        let rotation = self.reads.bounded(self.get_inner(request.into_inner())).await?;
        Ok(Response::new(pb::GetRotationStatusResponse { rotation: Some(rotation) }))
    }

    async fn set_rotation_policy(
        &self,
        request: Request<pb::SetRotationPolicyRequest>,
    ) -> Result<Response<pb::SetRotationPolicyResponse>, Status> {
        let caller = principal_of(&request)?;
        Ok(Response::new(self.set_policy_inner(caller, request.into_inner()).await?))
    }

    async fn list_rotations(
        &self,
        request: Request<pb::ListRotationsRequest>,
    ) -> Result<Response<pb::ListRotationsResponse>, Status> {
        principal_of(&request)?;
        Ok(Response::new(self.reads.bounded(self.list_inner(request.into_inner())).await?))
    }
}
