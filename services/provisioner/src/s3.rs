//! S3 as the provisioner uses it: making a bucket (only ever for the
//! request that asked for it: a bucket carries its request id as a tag),
//! applying a [`BucketState`] plan, and reading the same shape back.
//! One client per region (a bucket is made and configured in its own).

use crate::bucket_plan::{self, BucketState, LifecycleRule, Transition};
use aws_sdk_s3::Client;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketLocationConstraint, BucketVersioningStatus,
    CreateBucketConfiguration, DeleteMarkerReplication, DeleteMarkerReplicationStatus, Destination, ExpirationStatus,
    LifecycleExpiration, LifecycleRuleFilter, NoncurrentVersionExpiration, PublicAccessBlockConfiguration,
    ReplicationConfiguration, ReplicationRule, ReplicationRuleFilter, ReplicationRuleStatus, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule, Tag, Tagging,
    TransitionStorageClass, VersioningConfiguration,
};
use gantry_eventlog::ReactError;
use gantry_platform::aws::Aws;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// Who a bucket of some name belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Owner {
    /// No bucket has the name.
    Missing,
    /// Tagged with this request.
    Ours,
    /// In our account, without any request tag and without objects: what
    /// a crash between creating and tagging leaves.
    UntaggedEmpty,
    /// Anyone else's.
    Foreign,
}

fn described<E: std::error::Error + Send + Sync + 'static, R: std::fmt::Debug>(
    operation: &str,
    error: &SdkError<E, R>,
) -> String {
    format!("S3 {operation}: {}", DisplayErrorContext(error))
}

fn retryable<E: std::error::Error + Send + Sync + 'static, R: std::fmt::Debug>(
    operation: &'static str,
) -> impl Fn(SdkError<E, R>) -> ReactError {
    move |error| ReactError::retryable(described(operation, &error))
}

fn invalid(what: &str, error: impl std::fmt::Display) -> ReactError {
    ReactError::permanent(format!("building {what}: {error}"))
}

/// The error code of a service error (`NoSuchTagSet`, …), if the call got an answer.
fn code<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> Option<&str> {
    error.as_service_error().and_then(ProvideErrorMetadata::code)
}

/// S3, one client per region.
#[derive(Debug, Clone)]
pub(crate) struct BucketStore {
    aws: Aws,
    clients: Arc<Mutex<HashMap<String, Client>>>,
}

impl BucketStore {
    /// A store on the shared AWS configuration.
    pub(crate) fn new(aws: Aws) -> Self {
        Self { aws, clients: Default::default() }
    }

    /// The client of `region` (path-style addressing when an endpoint is configured).
    pub(crate) async fn client(&self, region: &str) -> Client {
        if let Some(client) = self.clients.lock().expect("clients").get(region) {
            return client.clone();
        }
        let config = aws_sdk_s3::config::Builder::from(self.aws.config().await)
            .region(aws_sdk_s3::config::Region::new(region.to_owned()))
            .force_path_style(self.aws.has_endpoint())
            .build();
        let client = Client::from_conf(config);
        self.clients.lock().expect("clients").insert(region.to_owned(), client.clone());
        client
    }

    /// Who `bucket` belongs to, as seen from `region`.
    pub(crate) async fn owner(&self, region: &str, bucket: &str, request_id: &str) -> Result<Owner, ReactError> {
        let client = self.client(region).await;
        match client.head_bucket().bucket(bucket).send().await {
            Ok(_) => {}
            Err(error) if error.as_service_error().is_some_and(|error| error.is_not_found()) => {
                return Ok(Owner::Missing);
            }
            Err(error) if error.raw_response().is_some_and(|response| response.status().as_u16() == 403) => {
                return Ok(Owner::Foreign);
            }
            Err(error) => return Err(ReactError::retryable(described("HeadBucket", &error))),
        }
        let tags = match client.get_bucket_tagging().bucket(bucket).send().await {
            Ok(tagging) => tagging.tag_set().to_vec(),
            Err(error) if code(&error) == Some("NoSuchTagSet") => Vec::new(),
            Err(error) => return Err(ReactError::retryable(described("GetBucketTagging", &error))),
        };
        let request = tags.iter().find(|tag| tag.key() == gantry_platform::secrets::REQUEST_TAG);
        match request {
            Some(tag) if tag.value() == request_id => Ok(Owner::Ours),
            Some(_) => Ok(Owner::Foreign),
            None => {
                let listed = client
                    .list_object_versions()
                    .bucket(bucket)
                    .max_keys(1)
                    .send()
                    .await
                    .map_err(retryable("ListObjectVersions"))?;
                let empty = listed.versions().is_empty() && listed.delete_markers().is_empty();
                Ok(if tags.is_empty() && empty { Owner::UntaggedEmpty } else { Owner::Foreign })
            }
        }
    }

    /// Creates `bucket` in `region`. A bucket someone else holds is a
    /// permanent error; one our account holds is left for [`owner`](Self::owner).
    pub(crate) async fn create(&self, region: &str, bucket: &str) -> Result<(), ReactError> {
        let mut create = self.client(region).await.create_bucket().bucket(bucket);
        // us-east-1 is the one region that takes no location constraint.
        if region != "us-east-1" {
            let configuration = CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region))
                .build();
            create = create.create_bucket_configuration(configuration);
        }
        match create.send().await {
            Ok(_) => Ok(()),
            Err(error) if error.as_service_error().is_some_and(|error| error.is_bucket_already_owned_by_you()) => {
                Ok(())
            }
            Err(error) if error.as_service_error().is_some_and(|error| error.is_bucket_already_exists()) => {
                Err(ReactError::permanent(format!("bucket {bucket} exists in another account; S3 names are global")))
            }
            Err(error) => Err(ReactError::retryable(described("CreateBucket", &error))),
        }
    }

    /// Tags the bucket (replacing its tags).
    pub(crate) async fn tag(
        &self,
        region: &str,
        bucket: &str,
        tags: &BTreeMap<&str, String>,
    ) -> Result<(), ReactError> {
        let tags = tags
            .iter()
            .map(|(key, value)| Tag::builder().key(*key).value(value).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| invalid("the tags", error))?;
        let tagging = Tagging::builder().set_tag_set(Some(tags)).build().map_err(|error| invalid("the tags", error))?;
        self.client(region)
            .await
            .put_bucket_tagging()
            .bucket(bucket)
            .tagging(tagging)
            .send()
            .await
            .map_err(retryable("PutBucketTagging"))?;
        Ok(())
    }

    /// Applies every setting of `plan` (each call idempotent).
    pub(crate) async fn apply(
        &self,
        region: &str,
        bucket: &str,
        plan: &BucketState,
        replication_role: Option<&str>,
    ) -> Result<(), ReactError> {
        let client = self.client(region).await;
        let status = if plan.versioning { BucketVersioningStatus::Enabled } else { BucketVersioningStatus::Suspended };
        client
            .put_bucket_versioning()
            .bucket(bucket)
            .versioning_configuration(VersioningConfiguration::builder().status(status).build())
            .send()
            .await
            .map_err(retryable("PutBucketVersioning"))?;

        let mut default = ServerSideEncryptionByDefault::builder()
            .sse_algorithm(ServerSideEncryption::from(plan.encryption.as_str()));
        if !plan.kms_key_id.is_empty() {
            default = default.kms_master_key_id(&plan.kms_key_id);
        }
        let rule = ServerSideEncryptionRule::builder()
            .apply_server_side_encryption_by_default(default.build().map_err(|error| invalid("encryption", error))?)
            .bucket_key_enabled(!plan.kms_key_id.is_empty())
            .build();
        let encryption = ServerSideEncryptionConfiguration::builder()
            .rules(rule)
            .build()
            .map_err(|error| invalid("encryption", error))?;
        client
            .put_bucket_encryption()
            .bucket(bucket)
            .server_side_encryption_configuration(encryption)
            .send()
            .await
            .map_err(retryable("PutBucketEncryption"))?;

        let block = plan.public_access_blocked;
        let access = PublicAccessBlockConfiguration::builder()
            .block_public_acls(block)
            .ignore_public_acls(block)
            .block_public_policy(block)
            .restrict_public_buckets(block)
            .build();
        client
            .put_public_access_block()
            .bucket(bucket)
            .public_access_block_configuration(access)
            .send()
            .await
            .map_err(retryable("PutPublicAccessBlock"))?;

        if plan.tls_only {
            client
                .put_bucket_policy()
                .bucket(bucket)
                .policy(bucket_plan::tls_only_policy(bucket))
                .send()
                .await
                .map_err(retryable("PutBucketPolicy"))?;
        }

        let rules = plan.lifecycle.iter().map(lifecycle_rule).collect::<Result<Vec<_>, _>>()?;
        if !rules.is_empty() {
            let lifecycle = BucketLifecycleConfiguration::builder()
                .set_rules(Some(rules))
                .build()
                .map_err(|error| invalid("the lifecycle", error))?;
            client
                .put_bucket_lifecycle_configuration()
                .bucket(bucket)
                .lifecycle_configuration(lifecycle)
                .send()
                .await
                .map_err(retryable("PutBucketLifecycleConfiguration"))?;
        }

        if !plan.replication_target.is_empty() {
            let role = replication_role.ok_or_else(|| {
                ReactError::permanent("replication needs an IAM role: set provisioner.replication_role_arn")
            })?;
            let destination = Destination::builder()
                .bucket(format!("arn:aws:s3:::{}", plan.replication_target))
                .build()
                .map_err(|error| invalid("the replication destination", error))?;
            let rule = ReplicationRule::builder()
                .id("gantry-replication")
                .priority(1)
                .status(ReplicationRuleStatus::Enabled)
                .filter(ReplicationRuleFilter::builder().prefix("").build())
                .delete_marker_replication(
                    DeleteMarkerReplication::builder().status(DeleteMarkerReplicationStatus::Disabled).build(),
                )
                .destination(destination)
                .build()
                .map_err(|error| invalid("the replication rule", error))?;
            let replication = ReplicationConfiguration::builder()
                .role(role)
                .rules(rule)
                .build()
                .map_err(|error| invalid("the replication", error))?;
            client
                .put_bucket_replication()
                .bucket(bucket)
                .replication_configuration(replication)
                .send()
                .await
                .map_err(retryable("PutBucketReplication"))?;
        }
        Ok(())
    }

    /// Reads the bucket's settings back in the plan's shape.
    pub(crate) async fn inspect(&self, region: &str, bucket: &str) -> Result<BucketState, ReactError> {
        let client = self.client(region).await;
        let versioning = match client.get_bucket_versioning().bucket(bucket).send().await {
            Ok(versioning) => versioning.status() == Some(&BucketVersioningStatus::Enabled),
            Err(error) => match emulator_versioning(&error) {
                Some(enabled) => enabled,
                None => return Err(ReactError::retryable(described("GetBucketVersioning", &error))),
            },
        };
        let mut state = BucketState { versioning, ..BucketState::default() };

        match client.get_bucket_encryption().bucket(bucket).send().await {
            Ok(encryption) => {
                let default = encryption
                    .server_side_encryption_configuration()
                    .and_then(|configuration| configuration.rules().first())
                    .and_then(|rule| rule.apply_server_side_encryption_by_default());
                if let Some(default) = default {
                    state.encryption = default.sse_algorithm().as_str().to_owned();
                    state.kms_key_id = default.kms_master_key_id().unwrap_or_default().to_owned();
                }
            }
            Err(error) if code(&error) == Some("ServerSideEncryptionConfigurationNotFoundError") => {}
            Err(error) => return Err(ReactError::retryable(described("GetBucketEncryption", &error))),
        }

        match client.get_public_access_block().bucket(bucket).send().await {
            Ok(access) => {
                state.public_access_blocked = access.public_access_block_configuration().is_some_and(|block| {
                    [
                        block.block_public_acls(),
                        block.ignore_public_acls(),
                        block.block_public_policy(),
                        block.restrict_public_buckets(),
                    ]
                    .iter()
                    .all(|setting| *setting == Some(true))
                });
            }
            Err(error) if code(&error) == Some("NoSuchPublicAccessBlockConfiguration") => {}
            Err(error) => return Err(ReactError::retryable(described("GetPublicAccessBlock", &error))),
        }

        match client.get_bucket_policy().bucket(bucket).send().await {
            Ok(policy) => {
                state.tls_only = policy.policy().is_some_and(|policy| bucket_plan::is_tls_only(policy, bucket))
            }
            Err(error) if code(&error) == Some("NoSuchBucketPolicy") => {}
            Err(error) => return Err(ReactError::retryable(described("GetBucketPolicy", &error))),
        }

        match client.get_bucket_lifecycle_configuration().bucket(bucket).send().await {
            Ok(lifecycle) => state.lifecycle = lifecycle.rules().iter().map(read_rule).collect(),
            Err(error) if code(&error) == Some("NoSuchLifecycleConfiguration") => {}
            Err(error) => return Err(ReactError::retryable(described("GetBucketLifecycleConfiguration", &error))),
        }

        match client.get_bucket_replication().bucket(bucket).send().await {
            Ok(replication) => {
                state.replication_target = replication
                    .replication_configuration()
                    .and_then(|configuration| configuration.rules().first())
                    .and_then(|rule| rule.destination())
                    .map(|destination| destination.bucket().trim_start_matches("arn:aws:s3:::").to_owned())
                    .unwrap_or_default();
            }
            Err(error) if code(&error) == Some("ReplicationConfigurationNotFoundError") => {}
            Err(error) => return Err(ReactError::retryable(described("GetBucketReplication", &error))),
        }
        Ok(state)
    }
}

/// Reads versioning from the answer the emulator (moto 5.2) gives, which
/// S3's SDK cannot parse: the right content under the root
/// `GetBucketVersioningResponse` instead of `VersioningConfiguration`.
/// `None` for any other failure.
fn emulator_versioning<E>(error: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> Option<bool> {
    let body = error.raw_response()?.body().bytes()?;
    let text = std::str::from_utf8(body).ok()?;
    text.contains("<GetBucketVersioningResponse").then(|| text.contains("<Status>Enabled</Status>"))
}

fn lifecycle_rule(rule: &LifecycleRule) -> Result<aws_sdk_s3::types::LifecycleRule, ReactError> {
    let mut built = aws_sdk_s3::types::LifecycleRule::builder()
        .id(&rule.id)
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix("").build());
    if let Some(days) = rule.expiration_days {
        built = built.expiration(LifecycleExpiration::builder().days(days).build());
    }
    if let Some(days) = rule.noncurrent_expiration_days {
        built =
            built.noncurrent_version_expiration(NoncurrentVersionExpiration::builder().noncurrent_days(days).build());
    }
    if let Some(days) = rule.abort_multipart_days {
        built = built.abort_incomplete_multipart_upload(
            AbortIncompleteMultipartUpload::builder().days_after_initiation(days).build(),
        );
    }
    for transition in &rule.transitions {
        built = built.transitions(
            aws_sdk_s3::types::Transition::builder()
                .days(transition.days)
                .storage_class(TransitionStorageClass::from(transition.storage_class.as_str()))
                .build(),
        );
    }
    built.build().map_err(|error| invalid("a lifecycle rule", error))
}

fn read_rule(rule: &aws_sdk_s3::types::LifecycleRule) -> LifecycleRule {
    LifecycleRule {
        id: rule.id().unwrap_or_default().to_owned(),
        expiration_days: rule.expiration().and_then(|expiration| expiration.days()),
        noncurrent_expiration_days: rule
            .noncurrent_version_expiration()
            .and_then(|expiration| expiration.noncurrent_days()),
        abort_multipart_days: rule.abort_incomplete_multipart_upload().and_then(|abort| abort.days_after_initiation()),
        transitions: rule
            .transitions()
            .iter()
            .filter_map(|transition| {
                Some(Transition {
                    days: transition.days()?,
                    storage_class: transition.storage_class()?.as_str().to_owned(),
                })
            })
            .collect(),
    }
}
