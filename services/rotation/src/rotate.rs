//! The rotation reactor: a rotation request becomes a new password, with
//! Secrets Manager's staged protocol, each step idempotent:
//!
//! 1. `started`: the pending version's id is derived from the request (a
//!    retry uses the same), recorded before anything changes.
//! 2. The pending version: found (an earlier attempt stored it: its
//!    password is the password), or stored with a new password from the OS,
//!    labelled `AWSPENDING`.
//! 3. The role gets the new password (only a role of this request).
//! 4. A login with it must work (a few tries).
//! 5. The pending version becomes `AWSCURRENT` (the old one
//!    `AWSPREVIOUS`), and loses `AWSPENDING`.
//! 6. `rotated`.
//!
//! A rotation that gives up (a permanent error, or its last attempt) sets
//! the role back to the current password and takes `AWSPENDING` off the
//! pending version, so role and secret never disagree; then `failed`.

use crate::settings::RotationSettings;
use futures::future::BoxFuture;
use gantry_eventlog::{NewEvent, ReactContext, ReactError, Reactor, RecordedEvent, Work};
use gantry_platform::password;
use gantry_platform::secrets::{Credentials, Found, SecretStore};
use gantry_platform::target::{Target, try_login};
use gantry_proto::events::envelope::Payload;
use gantry_proto::events::{CredentialsRotated, RotationFailed, RotationRequested, RotationStarted, RotationStrategy};
use gantry_proto::types::Principal;
use gantry_service::api::environment_word;
use uuid::Uuid;

/// The reactor's name: its consumer, checkpoint and work queue.
pub(crate) const NAME: &str = "rotations";

/// The principal rotation's events are recorded as.
pub(crate) fn principal() -> Principal {
    Principal { subject: "gantry-rotation".into(), groups: vec!["gantry".into()] }
}

fn requested(event: &RecordedEvent) -> Option<&RotationRequested> {
    match event.envelope.payload.as_ref()? {
        Payload::RotationRequested(requested) => Some(requested),
        _ => None,
    }
}

/// What rotating one credential needs from its request's history.
struct Subject {
    environment: String,
    role: String,
}

/// Rotates credentials on request.
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

    /// The database's environment and role, from its request's events; a
    /// decommissioned database is not rotated.
    async fn subject(&self, context: &ReactContext, request_id: &str) -> Result<Subject, ReactError> {
        let history = context
            .log()
            .load("request", request_id)
            .await
            .map_err(|error| ReactError::retryable(format!("reading request {request_id}: {error:#}")))?;
        let mut found = None;
        for event in &history.events {
            match &event.envelope.payload {
                Some(Payload::DatabaseRequested(requested)) => {
                    if let Some(spec) = &requested.spec {
                        found = Some(Subject {
                            environment: environment_word(spec.environment),
                            role: spec.username.clone(),
                        });
                    }
                }
                Some(Payload::DatabaseDropped(_) | Payload::Decommissioned(_)) => {
                    return Err(ReactError::permanent("the database was decommissioned"));
                }
                _ => {}
            }
        }
        found.ok_or_else(|| ReactError::permanent(format!("request {request_id} is not a database")))
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

    async fn rotate(&self, work: &Work, context: &ReactContext) -> Result<(), ReactError> {
        let trigger = work.trigger.as_ref().ok_or_else(|| ReactError::permanent("work without its request"))?;
        let asked = requested(trigger).ok_or_else(|| ReactError::permanent("the trigger asks for no rotation"))?;
        let (request_id, name) = (work.key.as_str(), asked.secret_name.as_str());
        let subject = self.subject(context, request_id).await?;
        let target = self.settings.environments.get(&subject.environment).ok_or_else(|| {
            ReactError::permanent(format!("no platform Postgres is configured for environment {}", subject.environment))
        })?;
        let (current_version, current) = match self.secrets.find(name, request_id).await? {
            Found::Ours { version_id, credentials } => (version_id, credentials),
            Found::Missing => return Err(ReactError::permanent(format!("secret {name} does not exist"))),
            Found::Foreign => return Err(ReactError::permanent(format!("secret {name} is not this request's"))),
        };
        // The same on every attempt: a retry finds what an earlier one stored.
        let token = Uuid::new_v5(&work.origin, b"pending").to_string();
        let started = RotationStarted {
            secret_name: name.to_owned(),
            pending_version_id: token.clone(),
            role: subject.role.clone(),
        };
        self.record(context, request_id, "started", Payload::RotationStarted(started)).await?;

        let outcome = async {
            if current_version != token {
                let pending = match self.secrets.version(name, &token).await? {
                    Some(pending) => pending,
                    None => {
                        let pending = Credentials { password: password::generate(), ..current.clone() };
                        self.secrets.put_pending(name, &pending, &token).await?;
                        pending
                    }
                };
                let mut admin = Target::connect(&subject.environment, target).await?;
                let verifier = password::scram_verifier(&pending.password);
                let set = admin.set_password(&subject.role, request_id, &verifier).await;
                admin.close().await;
                set?;
                try_login(&pending).await?;
                self.secrets.promote(name, &token, &current_version).await?;
            }
            Ok::<_, ReactError>(())
        }
        .await;
        if let Err(error) = outcome {
            let last = !error.retryable || work.attempt >= self.settings.max_attempts.max(1);
            if last && current_version != token {
                self.roll_back(&subject, target, request_id, name, &current, &token).await;
            }
            return Err(error);
        }
        let previous_version_id = if current_version == token { String::new() } else { current_version };
        let rotated = CredentialsRotated {
            secret_name: name.to_owned(),
            version_id: token,
            previous_version_id,
            role: subject.role,
            strategy: RotationStrategy::SingleUser as i32,
        };
        self.record(context, request_id, "rotated", Payload::CredentialsRotated(rotated)).await
    }

    /// Sets the role back to the current password and takes `AWSPENDING`
    /// off the pending version (best effort: what fails is logged, and the
    /// next rotation starts from the current version again).
    async fn roll_back(
        &self,
        subject: &Subject,
        target: &gantry_platform::target::EnvironmentTarget,
        request_id: &str,
        name: &str,
        current: &Credentials,
        token: &str,
    ) {
        // The secret first: its current version never changed, so without
        // the pending label it is as before whatever the role allows.
        let restored = async {
            self.secrets.unstage_pending(name, token).await?;
            let mut admin = Target::connect(&subject.environment, target).await?;
            let set = admin.set_password(&subject.role, request_id, &password::scram_verifier(&current.password)).await;
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
        requested(event).map(|_| event.envelope.aggregate_id.clone())
    }

    fn react<'a>(&'a self, work: &'a Work, context: &'a ReactContext) -> BoxFuture<'a, Result<(), ReactError>> {
        Box::pin(async move {
            let result = self.rotate(work, context).await;
            let outcome = match &result {
                Ok(()) => "rotated",
                Err(error) if error.retryable => "retry",
                Err(_) => "failed",
            };
            metrics::counter!("rotation_attempts_total", "outcome" => outcome).increment(1);
            result
        })
    }

    fn gave_up(&self, work: &Work, error: &ReactError) -> Option<NewEvent> {
        let secret_name = work.trigger.as_ref().and_then(requested).map(|asked| asked.secret_name.clone());
        let failed = RotationFailed {
            secret_name: secret_name.unwrap_or_default(),
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
