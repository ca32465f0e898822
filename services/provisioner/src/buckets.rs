//! The bucket reactor: an approved bucket request becomes an S3 bucket with
//! every setting of its plan, each step recorded on the request.
//!
//! 1. `started`: provisioning started.
//! 2. The bucket: made, or found made by an earlier attempt of the same
//!    request (tagged with it; or, on a retry, untagged and empty — what a
//!    crash between creating and tagging leaves). Anyone else's is a
//!    permanent failure, never adopted.
//! 3. Tags, versioning, encryption, public access block, the TLS-only
//!    policy, lifecycle and replication: applied (each call idempotent),
//!    then read back and compared with the plan.
//! 4. `bucket`: what was made, then `ready`.

use crate::bucket_plan;
use crate::s3::{BucketStore, Owner};
use crate::settings::ProvisionerSettings;
use crate::steps::{self, Approved, Steps};
use futures::future::BoxFuture;
use gantry_eventlog::{NewEvent, ReactContext, ReactError, Reactor, RecordedEvent, Work};
use gantry_proto::events::envelope::Payload;
use gantry_proto::events::{BucketCreated, ProvisioningFailed, ProvisioningStarted, ResourceProvisioned};
use gantry_proto::types::BucketSpec;

/// The reactor's name: its consumer, checkpoint and work queue.
pub(crate) const NAME: &str = "buckets";

fn approved_bucket(event: &RecordedEvent) -> Option<&BucketSpec> {
    match steps::approved(event)? {
        Approved::Bucket(spec) => Some(spec),
        Approved::Database(_) => None,
    }
}

/// Provisions approved bucket requests.
#[derive(Debug)]
pub(crate) struct BucketReactor {
    filter_subject: String,
    settings: ProvisionerSettings,
    buckets: BucketStore,
}

impl BucketReactor {
    /// A reactor on the request subjects `filter_subject` (`<prefix>.request.>`).
    pub(crate) fn new(filter_subject: String, settings: ProvisionerSettings, buckets: BucketStore) -> Self {
        Self { filter_subject, settings, buckets }
    }

    async fn provision(&self, work: &Work, context: &ReactContext) -> Result<(), ReactError> {
        let trigger = work.trigger.as_ref().ok_or_else(|| ReactError::permanent("work without its approval"))?;
        let spec = approved_bucket(trigger).ok_or_else(|| ReactError::permanent("the trigger approves no bucket"))?;
        let request_id = work.key.as_str();
        let environment = steps::environment(spec.environment)?;
        let steps = Steps { context, request_id };
        if steps.withdrawn().await? {
            tracing::info!(request_id, "request withdrawn before provisioning; nothing to do");
            return Ok(());
        }
        steps.record("started", Payload::ProvisioningStarted(ProvisioningStarted {})).await?;

        let (region, bucket) = (spec.region.as_str(), spec.bucket_name.as_str());
        match self.buckets.owner(region, bucket, request_id).await? {
            Owner::Ours => {}
            Owner::Missing => self.buckets.create(region, bucket).await?,
            // Only a retry can have left it: a first attempt never made it.
            Owner::UntaggedEmpty if work.attempt > 1 => {
                tracing::warn!(request_id, bucket, "taking over the untagged, empty bucket an earlier attempt made");
            }
            Owner::UntaggedEmpty | Owner::Foreign => {
                return Err(ReactError::permanent(format!(
                    "bucket {bucket} exists and is not this request's; it is never adopted"
                )));
            }
        }
        self.buckets.tag(region, bucket, &bucket_plan::tags(spec, request_id, &environment)).await?;
        let plan = bucket_plan::plan(spec);
        self.buckets.apply(region, bucket, &plan, self.settings.replication_role_arn.as_deref()).await?;
        let found = self.buckets.inspect(region, bucket).await?;
        let differences = bucket_plan::differences(&plan, &found);
        if let Some((property, expected, actual)) = differences.first() {
            return Err(ReactError::retryable(format!(
                "bucket {bucket}: {property} reads back as {actual}, not {expected}"
            )));
        }
        let created = BucketCreated {
            bucket: bucket.to_owned(),
            environment,
            region: region.to_owned(),
            purpose: spec.purpose,
            versioning: found.versioning,
            encryption: found.encryption,
            kms_key_id: spec.kms_key_id.clone(),
            public_access_blocked: found.public_access_blocked,
            tls_only: found.tls_only,
            lifecycle_rules: found.lifecycle.len() as u32,
            replication_target: found.replication_target,
        };
        steps.record("bucket", Payload::BucketCreated(created)).await?;
        steps.record("ready", Payload::ResourceProvisioned(ResourceProvisioned { secret_path: String::new() })).await
    }
}

impl Reactor for BucketReactor {
    fn name(&self) -> &str {
        NAME
    }

    fn filter_subject(&self) -> String {
        self.filter_subject.clone()
    }

    fn select(&self, event: &RecordedEvent) -> Option<String> {
        approved_bucket(event).map(|_| event.envelope.aggregate_id.clone())
    }

    fn react<'a>(&'a self, work: &'a Work, context: &'a ReactContext) -> BoxFuture<'a, Result<(), ReactError>> {
        Box::pin(async move {
            let result = self.provision(work, context).await;
            crate::count_attempt("bucket", work, &result);
            result
        })
    }

    fn gave_up(&self, work: &Work, error: &ReactError) -> Option<NewEvent> {
        let failed = ProvisioningFailed { reason: error.reason.clone(), retryable: error.retryable };
        Some(steps::gave_up(work, Payload::ProvisioningFailed(failed)))
    }
}
