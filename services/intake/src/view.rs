//! The intake view: the request catalog in Postgres, kept by applying the
//! `request` events of the log, and the queries the API and the catalog
//! export run on it.
//!
//! A batch is applied with at most three statements whatever its size: one
//! read of the existing rows it changes (while the batch before it is still
//! being written; that batch's rows are taken from it, not read), one `COPY`
//! of the rows it creates and one bulk `UPDATE` of the rows it changes. Each
//! event goes through the same `evolve` the command side uses.

use crate::domain::{Environment, RequestState, Status, evolve, is_void};
use anyhow::Context as _;
use futures::future::BoxFuture;
use gantry_eventlog::{ParkedEvent, Prepared, Projection, RecordedEvent};
use gantry_proto::events::envelope::Payload;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// Name of the view: its consumer's and its checkpoint's name.
pub const VIEW_NAME: &str = "intake";

/// The embedded migrations of intake's schema.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The request catalog projection.
#[derive(Debug, Clone)]
pub struct RequestsView {
    filter_subject: String,
}

impl RequestsView {
    /// Creates the projection of the `request` subjects (`<prefix>.request.>`).
    pub fn new(filter_subject: String) -> Self {
        Self { filter_subject }
    }

    async fn prepare(
        &self,
        pool: &PgPool,
        events: &[RecordedEvent],
        ahead: Option<&ChangedRequests>,
    ) -> anyhow::Result<Prepared<ChangedRequests>> {
        let (from_ahead, to_load): (Vec<Uuid>, Vec<Uuid>) =
            ids_to_load(events).into_iter().partition(|id| ahead.is_some_and(|ahead| ahead.states.contains_key(id)));
        let mut states = load_states(pool, &to_load).await?;
        if let Some(ahead) = ahead {
            states.extend(from_ahead.into_iter().map(|id| (id, ahead.states[&id].clone())));
        }
        // Rows there before this batch are updated; the others are new.
        let existing: HashSet<Uuid> = states.keys().copied().collect();
        let mut changed = HashSet::new();
        let mut refused = Vec::new();
        for event in events {
            if is_void(event) {
                continue;
            }
            let id = match event_request_id(event) {
                Ok(id) => id,
                Err(reason) => {
                    refused.push(ParkedEvent { sequence: event.sequence, reason });
                    continue;
                }
            };
            match evolve(states.get(&id).cloned(), event) {
                Ok(state) => {
                    states.insert(id, state);
                    changed.insert(id);
                }
                Err(reason) => refused.push(ParkedEvent { sequence: event.sequence, reason }),
            }
        }
        states.retain(|id, _| changed.contains(id));
        let rows = Rows::of(&states, &existing)?;
        Ok(Prepared { changes: ChangedRequests { states, rows }, refused })
    }
}

/// The requests a batch changes, as they stand after it, and their rows
/// ready to write.
#[derive(Debug, Default)]
pub struct ChangedRequests {
    states: HashMap<Uuid, RequestState>,
    rows: Rows,
}

impl Projection for RequestsView {
    type Changes = ChangedRequests;

    fn name(&self) -> &str {
        VIEW_NAME
    }

    fn filter_subject(&self) -> String {
        self.filter_subject.clone()
    }

    fn prepare<'a>(
        &'a self,
        pool: &'a PgPool,
        events: &'a [RecordedEvent],
        ahead: Option<&'a ChangedRequests>,
    ) -> BoxFuture<'a, anyhow::Result<Prepared<ChangedRequests>>> {
        Box::pin(self.prepare(pool, events, ahead))
    }

    fn write<'a>(
        &'a self,
        connection: &'a mut PgConnection,
        changes: &'a ChangedRequests,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(changes.rows.write(connection))
    }

    fn reset<'a>(&'a self, connection: &'a mut PgConnection) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            sqlx::query("TRUNCATE requests").execute(connection).await.context("emptying requests")?;
            Ok(())
        })
    }
}

/// Returns the requests a batch changes that it does not create itself
/// (those must be read; the others are new).
fn ids_to_load(events: &[RecordedEvent]) -> Vec<Uuid> {
    let mut created = HashSet::new();
    let mut to_load = HashSet::new();
    for event in events {
        let Ok(id) = event_request_id(event) else { continue };
        let creates = matches!(event.payload(), Some(Payload::DatabaseRequested(_) | Payload::BucketRequested(_)));
        if creates {
            created.insert(id);
        } else if !created.contains(&id) {
            to_load.insert(id);
        }
    }
    to_load.into_iter().collect()
}

fn event_request_id(event: &RecordedEvent) -> Result<Uuid, String> {
    if event.envelope.aggregate_type != "request" {
        return Err(format!("aggregate type {:?} on a request subject", event.envelope.aggregate_type));
    }
    Uuid::parse_str(&event.envelope.aggregate_id).map_err(|_| "request id is not a uuid".to_owned())
}

async fn load_states(pool: &PgPool, ids: &[Uuid]) -> anyhow::Result<HashMap<Uuid, RequestState>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Uuid, Json<RequestState>)> =
        sqlx::query_as("SELECT request_id, state FROM requests WHERE request_id = ANY($1)")
            .bind(ids)
            .fetch_all(pool)
            .await
            .context("loading requests")?;
    Ok(rows.into_iter().map(|(id, Json(state))| (id, state)).collect())
}

/// The rows a batch writes: those it creates, in `COPY` text format, and
/// those it changes, column by column for one bulk `UPDATE`.
#[derive(Debug, Default)]
struct Rows {
    created: String,
    updated: UpdatedRows,
}

/// What a change after creation can touch: the status, the sequence and
/// the state (kind, name, environment, owner, requester and the creation
/// sequence never change).
#[derive(Debug, Default)]
struct UpdatedRows {
    ids: Vec<Uuid>,
    statuses: Vec<&'static str>,
    sequences: Vec<i64>,
    /// Serialized states, sent as text and cast to `json` (no `jsonb` parse).
    states: Vec<String>,
}

/// The columns of `requests` in the order of [`Rows::created`].
const COPY_NEW_ROWS: &str = "COPY requests (request_id, kind, name, environment, owner, requester, status, \
                             created_sequence, sequence, state) FROM STDIN";

impl Rows {
    /// Sorts `states` into new rows and updates of the `existing` ones.
    fn of(states: &HashMap<Uuid, RequestState>, existing: &HashSet<Uuid>) -> anyhow::Result<Self> {
        let mut rows = Rows::default();
        for (id, state) in states {
            let json = serde_json::to_string(state).context("serializing a request")?;
            if existing.contains(id) {
                rows.updated.ids.push(*id);
                rows.updated.statuses.push(state.status.as_str());
                rows.updated.sequences.push(state.sequence as i64);
                rows.updated.states.push(json);
                continue;
            }
            let (id, created_sequence, sequence) =
                (id.to_string(), state.created_sequence.to_string(), state.sequence.to_string());
            let fields = [
                id.as_str(),
                state.spec.kind(),
                state.spec.name(),
                state.spec.environment().as_str(),
                state.spec.owner(),
                state.spec.requester(),
                state.status.as_str(),
                &created_sequence,
                &sequence,
                &json,
            ];
            let created = &mut rows.created;
            for (index, field) in fields.into_iter().enumerate() {
                if index > 0 {
                    created.push('\t');
                }
                push_copy_text(created, field);
            }
            created.push('\n');
        }
        Ok(rows)
    }

    /// Inserts the new rows and updates the changed ones. A new row that
    /// exists already fails as a unique violation (a data error: the runner
    /// isolates and parks the event), never overwriting it.
    async fn write(&self, connection: &mut PgConnection) -> anyhow::Result<()> {
        if !self.created.is_empty() {
            let mut copy = connection.copy_in_raw(COPY_NEW_ROWS).await.context("copying new requests")?;
            copy.send(self.created.as_bytes()).await.context("copying new requests")?;
            copy.finish().await.context("copying new requests")?;
        }
        let updated = &self.updated;
        if updated.ids.is_empty() {
            return Ok(());
        }
        let result = sqlx::query(
            "UPDATE requests AS r SET status = u.status, sequence = u.sequence, state = u.state
             FROM UNNEST($1::uuid[], $2::text[], $3::bigint[], $4::text[]::json[]) AS u(request_id, status, sequence, state)
             WHERE r.request_id = u.request_id",
        )
        .bind(&updated.ids)
        .bind(&updated.statuses)
        .bind(&updated.sequences)
        .bind(&updated.states)
        .execute(connection)
        .await
        .context("updating requests")?;
        anyhow::ensure!(
            result.rows_affected() == updated.ids.len() as u64,
            "updated {} of {} requests read before the batch",
            result.rows_affected(),
            updated.ids.len()
        );
        Ok(())
    }
}

/// Appends `value` as a field of `COPY`'s text format: backslash, tab,
/// newline and carriage return are escaped, everything else is literal.
fn push_copy_text(buffer: &mut String, value: &str) {
    if !value.contains(['\\', '\t', '\n', '\r']) {
        buffer.push_str(value);
        return;
    }
    for character in value.chars() {
        match character {
            '\\' => buffer.push_str("\\\\"),
            '\t' => buffer.push_str("\\t"),
            '\n' => buffer.push_str("\\n"),
            '\r' => buffer.push_str("\\r"),
            other => buffer.push(other),
        }
    }
}

/// Filters of a listing; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only this status.
    pub status: Option<Status>,
    /// Only this environment.
    pub environment: Option<Environment>,
    /// Only this owner.
    pub owner: Option<String>,
    /// Only requests created before this sequence (the page cursor).
    pub created_before: Option<u64>,
    /// Most rows.
    pub limit: u32,
}

/// Returns one request.
pub async fn get(pool: &PgPool, id: Uuid) -> anyhow::Result<Option<RequestState>> {
    let state: Option<Json<RequestState>> = sqlx::query_scalar("SELECT state FROM requests WHERE request_id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
        .context("reading a request")?;
    Ok(state.map(|Json(state)| state))
}

/// Returns requests matching `filter`, newest first.
pub async fn list(pool: &PgPool, filter: &ListFilter) -> anyhow::Result<Vec<RequestState>> {
    let states: Vec<Json<RequestState>> = sqlx::query_scalar(
        "SELECT state FROM requests
         WHERE ($1::text IS NULL OR status = $1)
           AND ($2::text IS NULL OR environment = $2)
           AND ($3::text IS NULL OR owner = $3)
           AND ($4::bigint IS NULL OR created_sequence < $4)
         ORDER BY created_sequence DESC
         LIMIT $5",
    )
    .bind(filter.status.map(Status::as_str))
    .bind(filter.environment.map(Environment::as_str))
    .bind(filter.owner.as_deref())
    .bind(filter.created_before.map(|sequence| sequence as i64))
    .bind(i64::from(filter.limit))
    .fetch_all(pool)
    .await
    .context("listing requests")?;
    Ok(states.into_iter().map(|Json(state)| state).collect())
}

/// Returns the database requests that hold their name (the catalog), by
/// name: not rejected, cancelled, failed or decommissioned.
pub async fn databases(pool: &PgPool, environment: Option<Environment>) -> anyhow::Result<Vec<RequestState>> {
    let gone: Vec<&str> =
        Status::ALL.iter().filter(|status| !status.holds_name()).map(|status| status.as_str()).collect();
    let states: Vec<Json<RequestState>> = sqlx::query_scalar(
        "SELECT state FROM requests
         WHERE kind = 'database' AND status <> ALL($2::text[])
           AND ($1::text IS NULL OR environment = $1)
         ORDER BY environment, name",
    )
    .bind(environment.map(Environment::as_str))
    .bind(gone)
    .fetch_all(pool)
    .await
    .context("reading the catalog")?;
    Ok(states.into_iter().map(|Json(state)| state).collect())
}

/// Returns a digest of the whole view (to compare a rebuild with the live view).
pub async fn checksum(pool: &PgPool) -> anyhow::Result<String> {
    let digest: Option<String> =
        sqlx::query_scalar("SELECT md5(string_agg(r::text, '|' ORDER BY request_id)) FROM requests r")
            .fetch_one(pool)
            .await?;
    Ok(digest.unwrap_or_default())
}
