//! A credential as its request's events tell it: what the reactor needs to
//! rotate it and to schedule its next deadline, read from the log itself
//! (not from the view, which may lag).

use crate::schedule::effective_period;
use crate::view::period_days;
use gantry_eventlog::{EventLog, ReactError, RecordedEvent};
use gantry_platform::target::DatabasePlan;
use gantry_proto::events::RotationStrategy;
use gantry_proto::events::envelope::Payload;
use gantry_service::api::environment_word;
use std::time::SystemTime;

/// One credential's history, folded.
#[derive(Debug, Clone)]
pub(crate) struct History {
    pub(crate) request_id: String,
    pub(crate) environment: String,
    pub(crate) database: String,
    /// The request's username: the role (and `<role>_clone` when alternating).
    pub(crate) role: String,
    pub(crate) connection_limit: u32,
    /// Empty until the provisioner stored the credentials.
    pub(crate) secret_name: String,
    pub(crate) tier_period_days: u32,
    /// The credential's own period (0: the tier's).
    pub(crate) own_period_days: u32,
    pub(crate) strategy: RotationStrategy,
    /// The sequence of the event that set the current deadline.
    pub(crate) generation: u64,
    /// When the current password was set.
    pub(crate) since: SystemTime,
    pub(crate) decommissioned: bool,
}

impl History {
    /// The period in force.
    pub(crate) fn period_days(&self) -> u32 {
        effective_period(self.tier_period_days, self.own_period_days)
    }

    /// The plan of the database's roles (for the clone role).
    pub(crate) fn database_plan(&self) -> DatabasePlan {
        DatabasePlan {
            database: self.database.clone(),
            role: self.role.clone(),
            connection_limit: self.connection_limit,
            audit_logging: false,
            request_id: self.request_id.clone(),
        }
    }

    /// Folds a request's events; `None` when it is not a database request.
    pub(crate) fn fold(request_id: &str, events: &[RecordedEvent]) -> Option<Self> {
        let mut history: Option<Self> = None;
        for event in events {
            let Some(payload) = &event.envelope.payload else { continue };
            if let Payload::DatabaseRequested(requested) = payload {
                let spec = requested.spec.as_ref()?;
                history = Some(Self {
                    request_id: request_id.to_owned(),
                    environment: environment_word(spec.environment),
                    database: spec.database_name.clone(),
                    role: spec.username.clone(),
                    connection_limit: 0,
                    secret_name: String::new(),
                    tier_period_days: period_days(spec.risk) as u32,
                    own_period_days: 0,
                    strategy: RotationStrategy::SingleUser,
                    generation: 0,
                    since: SystemTime::UNIX_EPOCH,
                    decommissioned: false,
                });
                continue;
            }
            let Some(history) = history.as_mut() else { continue };
            let at = event.occurred_at();
            match payload {
                Payload::DatabaseCreated(created) => history.connection_limit = created.connection_limit,
                Payload::CredentialsStored(stored) => {
                    history.secret_name = stored.secret_name.clone();
                    (history.generation, history.since) = (event.sequence, at);
                }
                Payload::CredentialsRotated(_) => (history.generation, history.since) = (event.sequence, at),
                Payload::RotationPolicySet(policy) => {
                    history.own_period_days = policy.period_days;
                    if let Ok(strategy) = RotationStrategy::try_from(policy.strategy)
                        && strategy != RotationStrategy::Unspecified
                    {
                        history.strategy = strategy;
                    }
                    history.generation = event.sequence;
                }
                Payload::DatabaseDropped(_) | Payload::Decommissioned(_) => history.decommissioned = true,
                _ => {}
            }
        }
        history
    }

    /// Reads and folds a request's events.
    pub(crate) async fn load(log: &EventLog, request_id: &str) -> Result<Option<Self>, ReactError> {
        let aggregate = log
            .load("request", request_id)
            .await
            .map_err(|error| ReactError::retryable(format!("reading request {request_id}: {error:#}")))?;
        Ok(Self::fold(request_id, &aggregate.events))
    }
}
