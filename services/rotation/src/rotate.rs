//! The rotation reactor: the schedule of every credential, and rotation
//! itself, with Secrets Manager's staged protocol, each step idempotent.
//!
//! # The schedule
//!
//! Credentials stored or rotated, a policy set, or a failed rotation put in
//! durable work items ([`gantry_eventlog::reactor::schedule`]) for the
//! deadline they set (its *generation*, see [`crate::schedule`]): due
//! soon, overdue, rotate, and after a failure a retry one cycle later.
//! Work items are leased: whichever replica claims one acts on it, once; a
//! dead replica's item is taken over when its lease runs out. An item whose
//! generation is no longer the credential's does nothing. Due soon and
//! overdue are recorded with ids derived from the credential and
//! generation, so each crossing is reported once, whoever reports it.
//!
//! # A rotation
//!
//! 1. `started`: the pending version's id is derived from the work (a
//!    retry uses the same), recorded before anything changes.
//! 2. The pending version: found (an earlier attempt stored it: its
//!    password is the password), or stored with a new password from the OS,
//!    labelled `AWSPENDING`.
//! 3. The user gets the new password: the role (single user), or the one of
//!    `<role>` and `<role>_clone` that is not current (alternating users;
//!    the clone is made on first use). Only roles of this request.
//! 4. A login with it must work (a few tries).
//! 5. The pending version becomes `AWSCURRENT` (the old one
//!    `AWSPREVIOUS`), and loses `AWSPENDING`.
//! 6. `rotated`.
//!
//! A rotation that gives up (a permanent error, or its last attempt) takes
//! `AWSPENDING` off the pending version and, for a single user, sets the
//! role back to the current password, so role and secret never disagree;
//! then `failed`, and a retry is scheduled for the next cycle.

use crate::history::History;
use crate::schedule::{self, Item, Plan};
use crate::settings::RotationSettings;
use futures::future::BoxFuture;
use gantry_eventlog::reactor::schedule as put_in;
use gantry_eventlog::{NewEvent, ReactContext, ReactError, Reactor, RecordedEvent, Work};
use gantry_platform::password;
use gantry_platform::secrets::{Credentials, Found, SecretStore};
use gantry_platform::target::{EnvironmentTarget, Target, clone_of, try_login};
use gantry_proto::events::envelope::Payload;
use gantry_proto::events::{
    CredentialsRotated, RotationDueSoon, RotationFailed, RotationOverdue, RotationStarted, RotationStrategy,
};
use gantry_proto::types::Principal;
use std::time::{Duration, SystemTime};
use uuid::Uuid;

/// The reactor's name: its consumer, checkpoint and work queue.
pub(crate) const NAME: &str = "rotations";

/// The namespace of the ids of due-soon and overdue events.
const WARNING_NAMESPACE: Uuid = Uuid::from_u128(0x3b8e_91d4_7c2a_4f06_a5e1_0d9c_6b47_f218);

/// The principal rotation's events are recorded as.
pub(crate) fn principal() -> Principal {
    Principal { subject: "gantry-rotation".into(), groups: vec!["gantry".into()] }
}

/// The secret an event of a credential names, if any.
fn secret_of(event: &RecordedEvent) -> Option<&str> {
    Some(match event.envelope.payload.as_ref()? {
        Payload::RotationRequested(requested) => &requested.secret_name,
        Payload::CredentialsStored(stored) => &stored.secret_name,
        Payload::CredentialsRotated(rotated) => &rotated.secret_name,
        Payload::RotationPolicySet(policy) => &policy.secret_name,
        Payload::RotationFailed(failed) => &failed.secret_name,
        _ => return None,
    })
}

fn timestamp(time: SystemTime) -> prost_types::Timestamp {
    prost_types::Timestamp::from(time)
}

fn rfc3339(time: SystemTime) -> String {
    let seconds = time.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |since| since.as_secs());
    prost_types::Timestamp { seconds: seconds as i64, nanos: 0 }.to_string()
}

/// What one work item is.
enum Task<'a> {
    /// Rotate because someone asked (the trigger's reason).
    OnDemand(&'a str),
    /// Put in the schedule of the credential's current deadline.
    Plan,
    /// A scheduled item of a generation.
    Scheduled(Item, u64),
}

fn task_of(work: &Work) -> Result<Task<'_>, ReactError> {
    if work.scheduled {
        let (item, generation) = Item::parse(&work.payload)
            .ok_or_else(|| ReactError::permanent("scheduled work of an unknown kind (a newer build's?)"))?;
        return Ok(Task::Scheduled(item, generation));
    }
    match work.trigger.as_ref().and_then(|trigger| trigger.envelope.payload.as_ref()) {
        Some(Payload::RotationRequested(asked)) => Ok(Task::OnDemand(&asked.reason)),
        Some(_) => Ok(Task::Plan),
        None => Err(ReactError::permanent("work without its trigger")),
    }
}

/// Schedules and rotates credentials.
#[derive(Debug)]
pub(crate) struct RotationReactor {
    filter_subject: String,
    settings: RotationSettings,
    secrets: SecretStore,
}

impl RotationReactor {
    /// A reactor on the request subjects `filter_subject`.
    pub(crate) fn new(filter_subject: String, settings: RotationSettings, secrets: SecretStore) -> Self {
        Self { filter_subject, settings, secrets }
    }

    fn plan_of(&self, history: &History) -> Plan {
        let id = history.request_id.parse().unwrap_or_default();
        schedule::plan(id, history.since, history.period_days(), &self.settings)
    }

    /// Puts in the items of the credential's current deadline (and, after
    /// a failed rotation, its retry one cycle later).
    async fn plan(&self, work: &Work, context: &ReactContext) -> Result<(), ReactError> {
        let Some(history) = History::load(context.log(), &work.key).await? else { return Ok(()) };
        if history.decommissioned || history.secret_name.is_empty() {
            return Ok(());
        }
        let plan = self.plan_of(&history);
        let generation = history.generation;
        let mut items = vec![
            (Item::DueSoon, plan.due_soon_at, 0),
            (Item::Overdue, plan.deadline, 0),
            (Item::Rotate, plan.rotate_at, 0),
        ];
        if let Some(failed) = work.trigger.as_ref().filter(|trigger| {
            matches!(trigger.envelope.payload, Some(Payload::RotationFailed(_))) && trigger.sequence > generation
        }) {
            let at = failed.occurred_at();
            let after = Duration::from_secs(self.settings.retry_failed_after_s);
            items.push((Item::Retry, at + after, failed.sequence));
        }
        for (item, due_at, extra) in items {
            put_in(
                context.pool(),
                NAME,
                &work.key,
                &item.occurrence(generation, extra),
                due_at,
                &item.payload(generation),
                work.trigger.as_ref(),
            )
            .await
            .map_err(|error| ReactError::retryable(format!("scheduling {}: {error:#}", work.key)))?;
        }
        Ok(())
    }

    /// Records due soon and overdue for the crossings of the current
    /// deadline reached by now, each once per generation.
    async fn warn(
        &self,
        work: &Work,
        context: &ReactContext,
        history: &History,
        plan: &Plan,
    ) -> Result<(), ReactError> {
        let now = SystemTime::now();
        let (secret_name, deadline, generation) =
            (history.secret_name.clone(), Some(timestamp(plan.deadline)), history.generation);
        let mut warnings = Vec::new();
        if now >= plan.due_soon_at {
            let due = RotationDueSoon { secret_name: secret_name.clone(), deadline, generation };
            warnings.push(("due_soon", Payload::RotationDueSoon(due)));
        }
        if now >= plan.deadline {
            warnings.push(("overdue", Payload::RotationOverdue(RotationOverdue { secret_name, deadline, generation })));
        }
        for (kind, payload) in warnings {
            let id = Uuid::new_v5(&WARNING_NAMESPACE, format!("{}/{kind}/{generation}", work.key).as_bytes());
            let event = NewEvent {
                aggregate_type: "request",
                aggregate_id: work.key.clone(),
                payload,
                actor: principal(),
                correlation_id: work.correlation_id(),
                causation_id: work.causation_id(),
            };
            let appended = context
                .log()
                .append_once(event, id)
                .await
                .map_err(|error| ReactError::retryable(format!("recording {kind}: {error}")))?;
            if !appended.duplicate {
                metrics::counter!("rotation_warnings_total", "kind" => kind).increment(1);
                tracing::warn!(request_id = %work.key, secret = %history.secret_name, kind, "rotation deadline crossing");
            }
        }
        Ok(())
    }

    async fn scheduled(
        &self,
        work: &Work,
        context: &ReactContext,
        item: Item,
        generation: u64,
    ) -> Result<(), ReactError> {
        let Some(history) = History::load(context.log(), &work.key).await? else { return Ok(()) };
        if history.decommissioned || history.generation != generation {
            return Ok(()); // rotated, re-planned or gone since: nothing to do
        }
        let plan = self.plan_of(&history);
        self.warn(work, context, &history, &plan).await?;
        match item {
            Item::DueSoon | Item::Overdue => Ok(()),
            Item::Rotate | Item::Retry => {
                let reason = format!("scheduled: deadline {}", rfc3339(plan.deadline));
                self.rotate(work, context, &history, &reason).await
            }
        }
    }

    async fn record(
        &self,
        context: &ReactContext,
        request_id: &str,
        step: &str,
        payload: Payload,
    ) -> Result<(), ReactError> {
        let event = NewEvent {
            aggregate_type: "request",
            aggregate_id: request_id.to_owned(),
            payload,
            actor: principal(),
            correlation_id: String::new(),
            causation_id: String::new(),
        };
        context.record(step, event).await.map(drop)
    }

    async fn rotate(
        &self,
        work: &Work,
        context: &ReactContext,
        history: &History,
        reason: &str,
    ) -> Result<(), ReactError> {
        let request_id = work.key.as_str();
        if history.decommissioned {
            return Err(ReactError::permanent("the database was decommissioned"));
        }
        if history.secret_name.is_empty() {
            return Err(ReactError::permanent("no credentials are stored for this request yet"));
        }
        let name = history.secret_name.as_str();
        let target = self.settings.environments.get(&history.environment).ok_or_else(|| {
            ReactError::permanent(format!("no platform Postgres is configured for environment {}", history.environment))
        })?;
        let (current_version, current) = match self.secrets.find(name, request_id).await? {
            Found::Ours { version_id, credentials } => (version_id, credentials),
            Found::Missing => return Err(ReactError::permanent(format!("secret {name} does not exist"))),
            Found::Foreign => return Err(ReactError::permanent(format!("secret {name} is not this request's"))),
        };
        // The same on every attempt: a retry finds what an earlier one stored.
        let token = Uuid::new_v5(&work.origin, b"pending").to_string();
        let strategy = history.strategy;
        let user = if current_version == token {
            current.username.clone() // promoted by an earlier attempt
        } else {
            let user = match strategy {
                RotationStrategy::AlternatingUsers if current.username == history.role => clone_of(&history.role),
                _ => history.role.clone(),
            };
            let started = RotationStarted {
                secret_name: name.to_owned(),
                pending_version_id: token.clone(),
                role: user.clone(),
                strategy: strategy as i32,
                reason: reason.to_owned(),
            };
            self.record(context, request_id, "started", Payload::RotationStarted(started)).await?;
            let outcome =
                self.staged(context, history, target, &current, &current_version, &token, &user, work.attempt).await;
            if let Err(error) = outcome {
                if !error.retryable || work.attempt >= self.settings.max_attempts.max(1) {
                    self.roll_back(history, target, &current, &token, &user).await;
                }
                return Err(error);
            }
            user
        };
        let previous_version_id = if current_version == token { String::new() } else { current_version };
        let rotated = CredentialsRotated {
            secret_name: name.to_owned(),
            version_id: token,
            previous_version_id,
            role: user,
            strategy: strategy as i32,
        };
        self.record(context, request_id, "rotated", Payload::CredentialsRotated(rotated)).await
    }

    /// Steps 2 to 5: the pending version, the user's password, a login,
    /// the promotion.
    #[allow(clippy::too_many_arguments)]
    async fn staged(
        &self,
        context: &ReactContext,
        history: &History,
        target: &EnvironmentTarget,
        current: &Credentials,
        current_version: &str,
        token: &str,
        user: &str,
        attempt: u32,
    ) -> Result<(), ReactError> {
        let name = history.secret_name.as_str();
        // Only an earlier attempt can have stored the pending version.
        let earlier = if attempt > 1 { self.secrets.version(name, token).await? } else { None };
        let fresh = earlier.is_none();
        let pending = match earlier {
            Some(pending) => pending,
            None => {
                let pending =
                    Credentials { username: user.to_owned(), password: password::generate(), ..current.clone() };
                self.secrets.put_pending(name, &pending, token).await?;
                pending
            }
        };
        context.step("pending stored")?;
        let mut admin = Target::connect(&history.environment, target).await?;
        let verifier = password::scram_verifier(&pending.password);
        let set = if pending.username == history.role {
            admin.set_password(&history.role, &history.request_id, &verifier).await
        } else {
            admin.ensure_clone(&history.database_plan(), &verifier).await
        };
        admin.close().await;
        set?;
        context.step("password set")?;
        try_login(&pending).await?;
        context.step("login checked")?;
        self.secrets.promote(name, token, current_version, fresh).await
    }

    /// Takes `AWSPENDING` off the pending version and, when the rotation
    /// changed the current user's password (single user), sets it back
    /// (best effort: what fails is logged, and the next rotation starts
    /// from the current version again).
    async fn roll_back(
        &self,
        history: &History,
        target: &EnvironmentTarget,
        current: &Credentials,
        token: &str,
        user: &str,
    ) {
        let name = history.secret_name.as_str();
        let request_id = history.request_id.as_str();
        // The secret first: its current version never changed, so without
        // the pending label it is as before whatever the role allows.
        let restored = async {
            self.secrets.unstage_pending(name, token).await?;
            if user != current.username {
                return Ok(()); // alternating: the current user was never touched
            }
            let mut admin = Target::connect(&history.environment, target).await?;
            let set = admin.set_password(user, request_id, &password::scram_verifier(&current.password)).await;
            admin.close().await;
            set
        }
        .await;
        match restored {
            Ok(()) => tracing::info!(request_id, secret = name, "rotation rolled back to the current password"),
            Err(error) => tracing::error!(request_id, secret = name, error = %error.reason, "rolling back failed"),
        }
    }
}

impl Reactor for RotationReactor {
    fn name(&self) -> &str {
        NAME
    }

    fn filter_subject(&self) -> String {
        self.filter_subject.clone()
    }

    fn select(&self, event: &RecordedEvent) -> Option<String> {
        match event.envelope.payload.as_ref()? {
            Payload::RotationRequested(_)
            | Payload::CredentialsStored(_)
            | Payload::CredentialsRotated(_)
            | Payload::RotationPolicySet(_)
            | Payload::RotationFailed(_) => Some(event.envelope.aggregate_id.clone()),
            _ => None,
        }
    }

    fn react<'a>(&'a self, work: &'a Work, context: &'a ReactContext) -> BoxFuture<'a, Result<(), ReactError>> {
        Box::pin(async move {
            let (result, rotation) = match task_of(work)? {
                Task::Plan => return self.plan(work, context).await,
                Task::OnDemand(reason) => {
                    let history = History::load(context.log(), &work.key)
                        .await?
                        .ok_or_else(|| ReactError::permanent(format!("request {} is not a database", work.key)))?;
                    (self.rotate(work, context, &history, reason).await, true)
                }
                Task::Scheduled(item, generation) => {
                    (self.scheduled(work, context, item, generation).await, matches!(item, Item::Rotate | Item::Retry))
                }
            };
            if rotation {
                let outcome = match &result {
                    Ok(()) => "rotated",
                    Err(error) if error.retryable => "retry",
                    Err(_) => "failed",
                };
                metrics::counter!("rotation_attempts_total", "outcome" => outcome).increment(1);
            }
            result
        })
    }

    fn gave_up(&self, work: &Work, error: &ReactError) -> Option<NewEvent> {
        // Only a rotation fails as a rotation; the schedule's own items are
        // counted by the reactor's metrics.
        match task_of(work).ok()? {
            Task::OnDemand(_) | Task::Scheduled(Item::Rotate | Item::Retry, _) => {}
            Task::Plan | Task::Scheduled(..) => return None,
        }
        let failed = RotationFailed {
            secret_name: work.trigger.as_ref().and_then(secret_of).unwrap_or_default().to_owned(),
            reason: error.reason.clone(),
            retryable: error.retryable,
        };
        Some(NewEvent {
            aggregate_type: "request",
            aggregate_id: work.key.clone(),
            payload: Payload::RotationFailed(failed),
            actor: principal(),
            correlation_id: work.correlation_id(),
            causation_id: work.causation_id(),
        })
    }
}
