//! Drift: each ready database and bucket compared with what exists (role,
//! owner, limits, `CONNECT` grants, logging; versioning, encryption, public
//! access block, TLS-only policy, lifecycle, replication). A difference is
//! recorded once when it appears (`DriftDetected`) and once when it is gone
//! (`DriftRepaired`: repaired by this run, or found as planned again), so a
//! check every hour does not flood the log. It repairs only when asked.

use crate::bucket_plan;
use crate::databases::secret_name;
use crate::reads::{self, BucketRow, DatabaseRow, environment_of};
use crate::s3::BucketStore;
use crate::settings::ProvisionerSettings;
use gantry_eventlog::{EventLog, ExpectedSequence, NewEvent};
use gantry_platform::secrets::{Found, SecretStore};
use gantry_platform::target::{self, DatabasePlan, Target};
use gantry_proto::events::envelope::Payload;
use gantry_proto::events::{DriftDetected, DriftRepaired};
use gantry_proto::provisioner as pb;
use gantry_proto::types::{Principal, Risk, Size};
use gantry_service::api::ApiError as Error;
use gantry_tiers::{RiskTier, SizeTier};
use sqlx::PgPool;
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// A difference found now: (property, expected, actual).
type Difference = (&'static str, String, String);

/// One resource's comparison.
struct Checked {
    request_id: Uuid,
    kind: &'static str,
    resource: String,
    environment: String,
    /// What differed before any repair.
    found: Vec<Difference>,
    /// What still differs after the repair (equal to `found` without one).
    remaining: Vec<Difference>,
}

/// Compares and repairs; shared by the API and the periodic check.
#[derive(Debug, Clone)]
pub(crate) struct Reconciler {
    pub(crate) pool: PgPool,
    pub(crate) log: EventLog,
    pub(crate) settings: ProvisionerSettings,
    pub(crate) secrets: SecretStore,
    pub(crate) buckets: BucketStore,
}

fn database_plan(row: &DatabaseRow) -> DatabasePlan {
    let spec = row.spec();
    DatabasePlan {
        database: row.database_name.clone(),
        role: row.role_name.clone(),
        connection_limit: Size::try_from(spec.size).ok().and_then(SizeTier::of).map_or(0, |tier| tier.connection_limit),
        audit_logging: Risk::try_from(spec.risk).ok().and_then(RiskTier::of).is_some_and(|tier| tier.audit_logging),
        request_id: row.request_id.to_string(),
    }
}

impl Reconciler {
    /// Checks every ready resource (of one environment, or all), repairs
    /// when asked, records what changed, and answers what differs.
    pub(crate) async fn reconcile(
        &self,
        environment: Option<&str>,
        repair: bool,
        actor: &Principal,
    ) -> Result<pb::ReconcileResponse, Error> {
        let (databases, buckets) = reads::all_in_status(&self.pool, environment, "ready").await?;
        let mut checked = Vec::new();
        let mut by_environment: BTreeMap<&str, Vec<&DatabaseRow>> = BTreeMap::new();
        for row in &databases {
            by_environment.entry(row.environment.as_str()).or_default().push(row);
        }
        for (environment, rows) in by_environment {
            checked.extend(self.check_databases(environment, &rows, repair).await?);
        }
        for row in &buckets {
            checked.push(self.check_bucket(row, repair).await?);
        }
        let sequence = self.record(&checked, actor).await?;
        let drifts = checked
            .iter()
            .flat_map(|resource| {
                resource.found.iter().map(move |(property, expected, actual)| pb::Drift {
                    request_id: resource.request_id.to_string(),
                    resource_kind: resource.kind.to_owned(),
                    resource: resource.resource.clone(),
                    environment: environment_of(&resource.environment) as i32,
                    property: (*property).to_owned(),
                    expected: expected.clone(),
                    actual: actual.clone(),
                    repaired: !resource.remaining.iter().any(|(still, ..)| still == property),
                })
            })
            .collect();
        metrics::counter!("provisioner_reconciles_total").increment(1);
        let mut remaining: BTreeMap<&str, usize> = BTreeMap::new();
        for resource in &checked {
            *remaining.entry(resource.environment.as_str()).or_default() += resource.remaining.len();
        }
        for (environment, count) in remaining {
            metrics::gauge!("provisioner_drifts_open", "environment" => environment.to_owned()).set(count as f64);
        }
        Ok(pb::ReconcileResponse { checked: checked.len() as u32, drifts, sequence })
    }

    async fn check_databases(
        &self,
        environment: &str,
        rows: &[&DatabaseRow],
        repair: bool,
    ) -> Result<Vec<Checked>, Error> {
        let settings = self.settings.environments.get(environment).ok_or_else(|| {
            Error::Unavailable(format!("no platform Postgres is configured for environment {environment}"))
        })?;
        let mut target =
            Target::connect(environment, settings).await.map_err(|error| Error::Unavailable(error.reason))?;
        let mut checked = Vec::new();
        let result = async {
            for row in rows {
                let plan = database_plan(row);
                let state = target.inspect(&plan).await?;
                let found = target::differences(&plan, &state);
                let remaining = if repair && !found.is_empty() {
                    let name = secret_name(&self.settings, environment, &plan.database);
                    // With alternating users the secret may hold the clone's
                    // password: the role's own is then not the secret's.
                    let verifier = match self.secrets.find(&name, &plan.request_id).await? {
                        Found::Ours { credentials, .. } if credentials.username == plan.role => {
                            Some(gantry_platform::password::scram_verifier(&credentials.password))
                        }
                        Found::Ours { .. } => None,
                        Found::Missing | Found::Foreign => None,
                    };
                    target.repair(&plan, verifier.as_deref(), &state).await?;
                    target::differences(&plan, &target.inspect(&plan).await?)
                } else {
                    found.clone()
                };
                checked.push(Checked {
                    request_id: row.request_id,
                    kind: "database",
                    resource: row.database_name.clone(),
                    environment: environment.to_owned(),
                    found,
                    remaining,
                });
            }
            Ok::<_, gantry_eventlog::ReactError>(())
        }
        .await;
        target.close().await;
        result.map_err(|error| Error::Unavailable(error.reason))?;
        Ok(checked)
    }

    async fn check_bucket(&self, row: &BucketRow, repair: bool) -> Result<Checked, Error> {
        let spec = row.spec();
        let plan = bucket_plan::plan(&spec);
        let region = row.region.as_str();
        let unavailable = |error: gantry_eventlog::ReactError| Error::Unavailable(error.reason);
        let (found, remaining) = match self.buckets.owner(region, &row.bucket_name, &row.request_id.to_string()).await {
            Ok(crate::s3::Owner::Ours) => {
                let found = bucket_plan::differences(
                    &plan,
                    &self.buckets.inspect(region, &row.bucket_name).await.map_err(unavailable)?,
                );
                let remaining = if repair && !found.is_empty() {
                    self.buckets
                        .apply(region, &row.bucket_name, &plan, self.settings.replication_role_arn.as_deref())
                        .await
                        .map_err(unavailable)?;
                    bucket_plan::differences(
                        &plan,
                        &self.buckets.inspect(region, &row.bucket_name).await.map_err(unavailable)?,
                    )
                } else {
                    found.clone()
                };
                (found, remaining)
            }
            Ok(owner) => {
                let actual = if owner == crate::s3::Owner::Missing { "missing" } else { "not Gantry's" };
                let difference = ("bucket", format!("{} (Gantry's)", row.bucket_name), actual.to_owned());
                (vec![difference.clone()], vec![difference])
            }
            Err(error) => return Err(unavailable(error)),
        };
        Ok(Checked {
            request_id: row.request_id,
            kind: "bucket",
            resource: row.bucket_name.clone(),
            environment: row.environment.clone(),
            found,
            remaining,
        })
    }

    /// Appends a `DriftDetected` for each difference not already open as it
    /// is, and a `DriftRepaired` for each open one that is gone; returns the
    /// last sequence appended (0 when none).
    async fn record(&self, checked: &[Checked], actor: &Principal) -> Result<u64, Error> {
        let open: Vec<(Uuid, String, String, String)> =
            sqlx::query_as("SELECT request_id, property, expected, actual FROM drifts").fetch_all(&self.pool).await?;
        let open: HashMap<(Uuid, String), (String, String)> =
            open.into_iter().map(|(id, property, expected, actual)| ((id, property), (expected, actual))).collect();
        let mut last = 0;
        for resource in checked {
            let mut events = Vec::new();
            for (property, expected, actual) in &resource.found {
                let known = open.get(&(resource.request_id, (*property).to_owned()));
                if known != Some(&(expected.clone(), actual.clone())) {
                    events.push(Payload::DriftDetected(DriftDetected {
                        resource_kind: resource.kind.to_owned(),
                        resource: resource.resource.clone(),
                        environment: resource.environment.clone(),
                        property: (*property).to_owned(),
                        expected: expected.clone(),
                        actual: actual.clone(),
                    }));
                }
            }
            let gone = open.iter().filter(|((id, property), _)| {
                *id == resource.request_id && !resource.remaining.iter().any(|(still, ..)| still == property)
            });
            let repaired_now = resource
                .found
                .iter()
                .filter(|(property, ..)| !resource.remaining.iter().any(|(still, ..)| still == property));
            let mut resolved: BTreeMap<String, (String, String)> = gone
                .map(|((_, property), (expected, actual))| (property.clone(), (expected.clone(), actual.clone())))
                .collect();
            for (property, expected, actual) in repaired_now {
                resolved.insert((*property).to_owned(), (expected.clone(), actual.clone()));
            }
            for (property, (expected, previous)) in resolved {
                events.push(Payload::DriftRepaired(DriftRepaired {
                    resource_kind: resource.kind.to_owned(),
                    resource: resource.resource.clone(),
                    environment: resource.environment.clone(),
                    property,
                    expected,
                    previous,
                }));
            }
            for payload in events {
                let event = NewEvent {
                    aggregate_type: "request",
                    aggregate_id: resource.request_id.to_string(),
                    payload,
                    actor: actor.clone(),
                    correlation_id: String::new(),
                    causation_id: String::new(),
                };
                let appended = self
                    .log
                    .append(event, ExpectedSequence::Any)
                    .await
                    .map_err(|error| Error::Unavailable(format!("event log: {error}")))?;
                last = appended.sequence;
            }
        }
        Ok(last)
    }

    /// One periodic check of everything: records drift, never repairs.
    pub(crate) async fn check(&self) -> anyhow::Result<()> {
        let answer = self.reconcile(None, false, &crate::steps::principal()).await?;
        tracing::info!(checked = answer.checked, drifts = answer.drifts.len(), "drift check");
        Ok(())
    }
}
