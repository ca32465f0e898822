//! The database reactor: an approved database request becomes a role, a
//! database and a secret, each step recorded by an event on the request.
//!
//! The steps, each idempotent and each ending in its recording (so a crash
//! between any two is resumed by the next attempt, with nothing made twice):
//!
//! 1. `started`: provisioning started (the request turns `provisioning`).
//! 2. The secret is looked up first: if an earlier attempt stored it, its
//!    password is the password; otherwise a new one is generated (nothing
//!    outside memory has it yet, so a lost one is never needed).
//! 3. `role`: the role, made or (ours already) given the password again.
//! 4. `database`: the database it owns, `CONNECT` for it alone, limits and
//!    logging from the tiers.
//! 5. `credentials`: the secret, unless step 2 found it.
//! 6. `ready`: the resource is ready with its secret's name.

use crate::settings::ProvisionerSettings;
use crate::steps::{self, Approved, Steps};
use futures::future::BoxFuture;
use gantry_eventlog::{NewEvent, ReactContext, ReactError, Reactor, RecordedEvent, Work};
use gantry_platform::password;
use gantry_platform::secrets::{Credentials, Found, REQUEST_TAG, SecretStore};
use gantry_platform::target::{DatabasePlan, Target};
use gantry_proto::events::envelope::Payload;
use gantry_proto::events::{
    CredentialsStored, DatabaseCreated, ProvisioningFailed, ProvisioningStarted, ResourceProvisioned, RoleCreated,
};
use gantry_proto::types::{DatabaseSpec, Risk, Size};
use gantry_tiers::{RiskTier, SizeTier};
use uuid::Uuid;

/// The reactor's name: its consumer, checkpoint and work queue.
pub(crate) const NAME: &str = "databases";

/// Returns the database spec an event approves, if it approves one.
pub(crate) fn approved_database(event: &RecordedEvent) -> Option<&DatabaseSpec> {
    match steps::approved(event)? {
        Approved::Database(spec) => Some(spec),
        Approved::Bucket(_) => None,
    }
}

/// A database's secret name: `<prefix>/<env>/<db>/postgres`.
pub(crate) fn secret_name(settings: &ProvisionerSettings, environment: &str, database: &str) -> String {
    format!("{}/{environment}/{database}/postgres", settings.secret_prefix.trim_end_matches('/'))
}

/// Provisions approved database requests.
#[derive(Debug)]
pub(crate) struct DatabaseReactor {
    filter_subject: String,
    settings: ProvisionerSettings,
    secrets: SecretStore,
}

impl DatabaseReactor {
    /// A reactor on the request subjects `filter_subject` (`<prefix>.request.>`).
    pub(crate) fn new(filter_subject: String, settings: ProvisionerSettings, secrets: SecretStore) -> Self {
        Self { filter_subject, settings, secrets }
    }

    async fn provision(&self, work: &Work, context: &ReactContext) -> Result<(), ReactError> {
        let trigger = work.trigger.as_ref().ok_or_else(|| ReactError::permanent("work without its approval"))?;
        let spec =
            approved_database(trigger).ok_or_else(|| ReactError::permanent("the trigger approves no database"))?;
        let request_id = work.key.as_str();
        let environment = steps::environment(spec.environment)?;
        let risk = Risk::try_from(spec.risk).ok().and_then(RiskTier::of);
        let size = Size::try_from(spec.size).ok().and_then(SizeTier::of);
        let (Some(risk), Some(size)) = (risk, size) else {
            return Err(ReactError::permanent("the approved spec has no known risk or size"));
        };
        let plan = DatabasePlan {
            database: spec.database_name.clone(),
            role: spec.username.clone(),
            connection_limit: size.connection_limit,
            audit_logging: risk.audit_logging,
            request_id: request_id.to_owned(),
        };
        let steps = Steps { context, request_id };
        let record = |step: &'static str, payload: Payload| steps.record(step, payload);

        if steps.withdrawn().await? {
            tracing::info!(request_id, "request withdrawn before provisioning; nothing to do");
            return Ok(());
        }
        record("started", Payload::ProvisioningStarted(ProvisioningStarted {})).await?;
        let target_settings = self.settings.environments.get(&environment).ok_or_else(|| {
            ReactError::permanent(format!("no platform Postgres is configured for environment {environment}"))
        })?;
        let secret_name = secret_name(&self.settings, &environment, &plan.database);
        let stored = match self.secrets.find(&secret_name, request_id).await? {
            Found::Foreign => {
                return Err(ReactError::permanent(format!(
                    "secret {secret_name} exists and is not this request's; it is never adopted"
                )));
            }
            Found::Missing => None,
            Found::Ours { version_id, credentials } => Some((version_id, credentials)),
        };
        let password = match &stored {
            Some((_, credentials)) => credentials.password.clone(),
            None => password::generate(),
        };

        let mut target = Target::connect(&environment, target_settings).await?;
        let made = async {
            target.ensure_role(&plan, &password::scram_verifier(&password)).await?;
            record(
                "role",
                Payload::RoleCreated(RoleCreated { role: plan.role.clone(), environment: environment.clone() }),
            )
            .await?;
            target.ensure_database(&plan).await?;
            let created = DatabaseCreated {
                database: plan.database.clone(),
                role: plan.role.clone(),
                environment: environment.clone(),
                host: target.host.clone(),
                port: u32::from(target.port),
                connection_limit: plan.connection_limit,
                audit_logging: plan.audit_logging,
            };
            record("database", Payload::DatabaseCreated(created)).await?;
            Ok::<_, ReactError>((target.host.clone(), target.port))
        }
        .await;
        target.close().await;
        let (host, port) = made?;

        let version_id = match stored {
            Some((version_id, _)) => version_id,
            None => {
                let credentials =
                    Credentials { username: plan.role.clone(), password, host, port, dbname: plan.database.clone() };
                let tags = [
                    (REQUEST_TAG, request_id),
                    ("owner", spec.owner.as_str()),
                    ("domain", spec.domain.as_str()),
                    ("risk", risk_word(spec.risk)),
                    ("environment", environment.as_str()),
                    ("managed-by", "gantry"),
                ];
                // The same token on every attempt: a retry of the call creates nothing more.
                let token = Uuid::new_v5(&work.origin, b"secret").to_string();
                self.secrets.create(&secret_name, &credentials, &tags, &token).await?
            }
        };
        let stored = CredentialsStored { secret_name: secret_name.clone(), version_id };
        record("credentials", Payload::CredentialsStored(stored)).await?;
        record("ready", Payload::ResourceProvisioned(ResourceProvisioned { secret_path: secret_name })).await?;
        Ok(())
    }
}

fn risk_word(risk: i32) -> &'static str {
    match Risk::try_from(risk) {
        Ok(Risk::None) => "none",
        Ok(Risk::Low) => "low",
        Ok(Risk::Medium) => "medium",
        Ok(Risk::High) => "high",
        Ok(Risk::Access) => "access",
        _ => "unspecified",
    }
}

impl Reactor for DatabaseReactor {
    fn name(&self) -> &str {
        NAME
    }

    fn filter_subject(&self) -> String {
        self.filter_subject.clone()
    }

    fn select(&self, event: &RecordedEvent) -> Option<String> {
        approved_database(event).map(|_| event.envelope.aggregate_id.clone())
    }

    fn react<'a>(&'a self, work: &'a Work, context: &'a ReactContext) -> BoxFuture<'a, Result<(), ReactError>> {
        Box::pin(async move {
            let result = self.provision(work, context).await;
            crate::count_attempt("database", work, &result);
            result
        })
    }

    fn gave_up(&self, work: &Work, error: &ReactError) -> Option<NewEvent> {
        let failed = ProvisioningFailed { reason: error.reason.clone(), retryable: error.retryable };
        Some(steps::gave_up(work, Payload::ProvisioningFailed(failed)))
    }
}
