//! The environment and tenant of an event, for the watch filters and for
//! access: from its payload when it says, else from its aggregate — a
//! request's environment is in its first event (the request), a name's in
//! its id (`<env>.<name>`), a run's tenant in its id (`<tenant>.<id>`).
//! A request's environment is remembered from its first event as the watch
//! passes it; one first seen mid-history is looked up (a direct get of its
//! subject's first message) only when the watch filters on environments —
//! otherwise its events' `environment` is left empty rather than cost a
//! round trip per request during a replay.

use gantry_eventlog::{Decoded, EventLog, RecordedEvent};
use gantry_proto::events::envelope::Payload;
use gantry_proto::events::{ApprovalGranted, approval_granted};
use gantry_service::api::environment_word;
use std::collections::HashMap;

/// Requests remembered per watch before the memory starts over.
const REMEMBERED: usize = 10_000;

/// An event's environment and tenant (empty when it has none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Scope {
    pub(crate) environment: String,
    pub(crate) tenant: String,
}

/// Resolves scopes for one watch.
#[derive(Debug)]
pub(crate) struct Scopes {
    log: EventLog,
    /// The stream, once a lookup needed it.
    stream: Option<async_nats::jetstream::stream::Stream>,
    /// Request id → environment.
    requests: HashMap<String, String>,
}

/// The environment a payload names itself, if any.
fn environment_of(payload: &Payload) -> Option<String> {
    let word = match payload {
        Payload::DatabaseRequested(requested) => environment_word(requested.spec.as_ref()?.environment),
        Payload::BucketRequested(requested) => environment_word(requested.spec.as_ref()?.environment),
        Payload::ApprovalGranted(ApprovalGranted { approved: Some(approved), .. }) => match approved {
            approval_granted::Approved::Database(spec) => environment_word(spec.environment),
            approval_granted::Approved::Bucket(spec) => environment_word(spec.environment),
        },
        Payload::DecommissionApproved(approved) => environment_word(approved.database.as_ref()?.environment),
        Payload::RoleCreated(created) => created.environment.clone(),
        Payload::DatabaseCreated(created) => created.environment.clone(),
        Payload::BucketCreated(created) => created.environment.clone(),
        Payload::DriftDetected(drift) => drift.environment.clone(),
        Payload::DriftRepaired(drift) => drift.environment.clone(),
        Payload::DatabaseDropped(dropped) => dropped.environment.clone(),
        _ => return None,
    };
    (!word.is_empty()).then_some(word)
}

/// The tenant a payload names, if any.
fn tenant_of(payload: &Payload) -> Option<&str> {
    match payload {
        Payload::ArtifactStored(stored) => Some(&stored.tenant),
        Payload::RunCompleted(completed) => Some(&completed.tenant),
        Payload::RunLayoutWritten(written) => Some(&written.tenant),
        _ => None,
    }
}

impl Scopes {
    pub(crate) fn new(log: EventLog) -> Self {
        Self { log, stream: None, requests: HashMap::new() }
    }

    /// Returns the event's scope (`payload` is unset for an unknown type);
    /// `look_up`: read a request's first event when its environment is not
    /// known yet.
    pub(crate) async fn of(
        &mut self,
        aggregate_type: &str,
        aggregate_id: &str,
        payload: Option<&Payload>,
        look_up: bool,
    ) -> Scope {
        let tenant = payload.and_then(tenant_of).map(str::to_owned);
        let tenant = tenant.unwrap_or_else(|| match aggregate_type {
            "run" => aggregate_id.rsplit_once('.').map(|(tenant, _)| tenant.to_owned()).unwrap_or_default(),
            _ => String::new(),
        });
        let environment = match (aggregate_type, payload.and_then(environment_of)) {
            ("request", Some(environment)) => {
                self.remember(aggregate_id, &environment);
                environment
            }
            (_, Some(environment)) => environment,
            ("request", None) if look_up => self.request_environment(aggregate_id).await,
            ("request", None) => self.requests.get(aggregate_id).cloned().unwrap_or_default(),
            ("name", None) => {
                aggregate_id.split_once('.').map(|(environment, _)| environment.to_owned()).unwrap_or_default()
            }
            _ => String::new(),
        };
        let environment = if environment == "s3" { String::new() } else { environment };
        Scope { environment, tenant }
    }

    fn remember(&mut self, request_id: &str, environment: &str) {
        if self.requests.len() >= REMEMBERED && !self.requests.contains_key(request_id) {
            self.requests.clear();
        }
        self.requests.insert(request_id.to_owned(), environment.to_owned());
    }

    /// A request's environment from its first event, remembered.
    async fn request_environment(&mut self, request_id: &str) -> String {
        if let Some(environment) = self.requests.get(request_id) {
            return environment.clone();
        }
        let environment = match self.first_event("request", request_id).await {
            Ok(Some(first)) => first.payload().and_then(environment_of).unwrap_or_default(),
            Ok(None) => String::new(),
            Err(error) => {
                // Not remembered: the next event of the request asks again.
                tracing::warn!(request_id, error = format!("{error:#}"), "cannot read a request's first event");
                return String::new();
            }
        };
        self.remember(request_id, &environment);
        environment
    }

    async fn first_event(&mut self, aggregate_type: &str, aggregate_id: &str) -> anyhow::Result<Option<RecordedEvent>> {
        let subject = self.log.subject(aggregate_type, aggregate_id);
        let stream = match &self.stream {
            Some(stream) => stream,
            None => self.stream.insert(self.log.jetstream().get_stream(&self.log.settings().name).await?),
        };
        let message = stream.direct_get_next_for_subject(subject.as_str(), Some(1)).await?;
        Ok(match gantry_eventlog::envelope::decode(message.sequence, &subject, &message.payload) {
            Decoded::Known(event) => Some(*event),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gantry_proto::events::{ArtifactStored, DatabaseRequested, RoleCreated};
    use gantry_proto::types::{DatabaseSpec, Environment};

    #[test]
    fn payloads_name_their_environment_and_tenant() {
        let requested = Payload::DatabaseRequested(DatabaseRequested {
            spec: Some(DatabaseSpec { environment: Environment::Prod as i32, ..Default::default() }),
            ..Default::default()
        });
        assert_eq!(environment_of(&requested).as_deref(), Some("prod"));
        let role = Payload::RoleCreated(RoleCreated { environment: "dev".into(), ..Default::default() });
        assert_eq!(environment_of(&role).as_deref(), Some("dev"));
        let stored = Payload::ArtifactStored(ArtifactStored { tenant: "team-ml".into(), ..Default::default() });
        assert_eq!(tenant_of(&stored), Some("team-ml"));
        assert_eq!(environment_of(&stored), None);
    }
}
