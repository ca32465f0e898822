//! The decommission reactor (break-glass): an approved decommission drops
//! the database and its role and deletes (or keeps) the secret, each step
//! recorded on the request, each idempotent.
//!
//! 1. `dropped`: the database (its sessions ended) and the role are gone;
//!    one that is not the request's is never dropped.
//! 2. `secret`: the secret scheduled for deletion with its recovery window,
//!    or kept (policy `RETAIN`).
//! 3. `decommissioned`: the request ends.

use crate::databases::secret_name;
use crate::settings::ProvisionerSettings;
use crate::steps::{self, Steps};
use futures::future::BoxFuture;
use gantry_eventlog::{NewEvent, ReactContext, ReactError, Reactor, RecordedEvent, Work};
use gantry_platform::secrets::SecretStore;
use gantry_platform::target::{DatabasePlan, Target};
use gantry_proto::events::envelope::Payload;
use gantry_proto::events::{DatabaseDropped, DecommissionApproved, DecommissionFailed, Decommissioned, SecretDeleted};
use gantry_proto::types::SecretDeletionPolicy;

/// The reactor's name: its consumer, checkpoint and work queue.
pub(crate) const NAME: &str = "decommissions";

/// Days Secrets Manager keeps a deleted secret when the approval names none.
const DEFAULT_RECOVERY_DAYS: u32 = 30;

fn approval(event: &RecordedEvent) -> Option<&DecommissionApproved> {
    match event.envelope.payload.as_ref()? {
        Payload::DecommissionApproved(approved) => Some(approved),
        _ => None,
    }
}

/// Decommissions databases whose decommission was approved.
#[derive(Debug)]
pub(crate) struct DecommissionReactor {
    filter_subject: String,
    settings: ProvisionerSettings,
    secrets: SecretStore,
}

impl DecommissionReactor {
    /// A reactor on the request subjects `filter_subject`.
    pub(crate) fn new(filter_subject: String, settings: ProvisionerSettings, secrets: SecretStore) -> Self {
        Self { filter_subject, settings, secrets }
    }

    async fn decommission(&self, work: &Work, context: &ReactContext) -> Result<(), ReactError> {
        let trigger = work.trigger.as_ref().ok_or_else(|| ReactError::permanent("work without its approval"))?;
        let approved =
            approval(trigger).ok_or_else(|| ReactError::permanent("the trigger approves no decommission"))?;
        let spec = approved.database.as_ref().ok_or_else(|| ReactError::permanent("the approval names no database"))?;
        let request_id = work.key.as_str();
        let environment = steps::environment(spec.environment)?;
        let steps = Steps { context, request_id };
        let target_settings = self.settings.environments.get(&environment).ok_or_else(|| {
            ReactError::permanent(format!("no platform Postgres is configured for environment {environment}"))
        })?;
        let plan = DatabasePlan {
            database: spec.database_name.clone(),
            role: spec.username.clone(),
            connection_limit: 0,
            audit_logging: false,
            request_id: request_id.to_owned(),
        };
        let mut target = Target::connect(&environment, target_settings).await?;
        let dropped = target.drop_database(&plan).await;
        target.close().await;
        dropped?;
        let dropped = DatabaseDropped {
            database: plan.database.clone(),
            role: plan.role.clone(),
            environment: environment.clone(),
        };
        steps.record("dropped", Payload::DatabaseDropped(dropped)).await?;

        let name = secret_name(&self.settings, &environment, &plan.database);
        let retain = SecretDeletionPolicy::try_from(approved.secret_policy) == Ok(SecretDeletionPolicy::Retain);
        let deleted = if retain {
            SecretDeleted { secret_name: name, retained: true, recovery_window_days: 0, deletion_date: None }
        } else {
            let window = match approved.recovery_window_days {
                0 => DEFAULT_RECOVERY_DAYS,
                days => days,
            };
            let gone_at = self.secrets.delete(&name, request_id, window).await?;
            SecretDeleted {
                secret_name: name,
                retained: false,
                recovery_window_days: window,
                deletion_date: gone_at.map(prost_types::Timestamp::from),
            }
        };
        steps.record("secret", Payload::SecretDeleted(deleted)).await?;
        steps.record("decommissioned", Payload::Decommissioned(Decommissioned {})).await
    }
}

impl Reactor for DecommissionReactor {
    fn name(&self) -> &str {
        NAME
    }

    fn filter_subject(&self) -> String {
        self.filter_subject.clone()
    }

    fn select(&self, event: &RecordedEvent) -> Option<String> {
        approval(event).map(|_| event.envelope.aggregate_id.clone())
    }

    fn react<'a>(&'a self, work: &'a Work, context: &'a ReactContext) -> BoxFuture<'a, Result<(), ReactError>> {
        Box::pin(async move {
            let result = self.decommission(work, context).await;
            crate::count_attempt("decommission", work, &result);
            result
        })
    }

    fn gave_up(&self, work: &Work, error: &ReactError) -> Option<NewEvent> {
        let failed = DecommissionFailed { reason: error.reason.clone(), retryable: error.retryable };
        Some(steps::gave_up(work, Payload::DecommissionFailed(failed)))
    }
}
