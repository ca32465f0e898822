//! Buckets on the emulator's S3: every setting applied and read back, the
//! crash between steps resumed, a bucket that is not Gantry's refused.

use crate::helpers::{Mesh, Options, Outcome, bucket_request};
use gantry_eventlog::ReactorFault;
use gantry_proto::provisioner::{GetBucketRequest, ResourceStatus};
use gantry_proto::types::BucketPurpose;

/// The bucket's settings as S3 answers them.
async fn read_back(mesh: &Mesh, bucket: &str) -> serde_json::Value {
    let s3 = mesh.s3();
    // The emulator answers under another root element than S3, which the SDK
    // cannot parse: read the status from the raw answer then.
    let versioning = match s3.get_bucket_versioning().bucket(bucket).send().await {
        Ok(versioning) => versioning.status().map(|status| status.as_str().to_owned()),
        Err(error) => {
            let body = error.raw_response().and_then(|response| response.body().bytes()).expect("an answer");
            let text = String::from_utf8_lossy(body);
            text.contains("<Status>Enabled</Status>").then(|| "Enabled".to_owned())
        }
    };
    let encryption = s3.get_bucket_encryption().bucket(bucket).send().await.unwrap();
    let default = encryption.server_side_encryption_configuration().unwrap().rules()[0]
        .apply_server_side_encryption_by_default()
        .unwrap()
        .clone();
    let block = s3.get_public_access_block().bucket(bucket).send().await.unwrap();
    let block = block.public_access_block_configuration().unwrap();
    let policy = s3.get_bucket_policy().bucket(bucket).send().await.unwrap();
    let policy: serde_json::Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    let tags = s3.get_bucket_tagging().bucket(bucket).send().await.unwrap();
    let tags: serde_json::Map<String, serde_json::Value> =
        tags.tag_set().iter().map(|tag| (tag.key().to_owned(), tag.value().into())).collect();
    let lifecycle = s3.get_bucket_lifecycle_configuration().bucket(bucket).send().await.unwrap();
    let rule = &lifecycle.rules()[0];
    serde_json::json!({
        "versioning": versioning,
        "sse": default.sse_algorithm().as_str(),
        "kms": default.kms_master_key_id(),
        "blocked": [block.block_public_acls(), block.ignore_public_acls(), block.block_public_policy(), block.restrict_public_buckets()],
        "policy": policy,
        "tags": tags,
        "rules": lifecycle.rules().len(),
        "expiration": rule.expiration().and_then(|expiration| expiration.days()),
        "noncurrent": rule.noncurrent_version_expiration().and_then(|expiration| expiration.noncurrent_days()),
        "abort": rule.abort_incomplete_multipart_upload().and_then(|abort| abort.days_after_initiation()),
        "transitions": rule.transitions().iter().map(|transition| {
            (transition.days(), transition.storage_class().map(|class| class.as_str().to_owned()))
        }).collect::<Vec<_>>(),
    })
}

#[tokio::test]
async fn an_approved_logs_bucket_gets_every_setting_of_its_purpose() {
    let mesh = Mesh::start(None).await;
    let bucket = mesh.bucket("logs");
    let request = mesh.submit_bucket(bucket_request(&bucket, BucketPurpose::Logs, "eu-west-1", 365)).await;
    assert_eq!(mesh.wait_for_outcome(&request).await, Outcome::Ready { secret_path: String::new() });

    let found = read_back(&mesh, &bucket).await;
    assert_eq!(found["versioning"], "Enabled");
    assert_eq!(found["sse"], "AES256");
    assert_eq!(found["blocked"], serde_json::json!([true, true, true, true]));
    // The TLS-only policy, checked by reading it back (the emulator does not enforce its condition).
    let statement = &found["policy"]["Statement"][0];
    assert_eq!(statement["Effect"], "Deny");
    assert_eq!(statement["Condition"]["Bool"]["aws:SecureTransport"], "false");
    assert_eq!(found["tags"]["gantry:request-id"], request.as_str());
    assert_eq!((found["tags"]["owner"].as_str(), found["tags"]["purpose"].as_str()), (Some("team-obs"), Some("logs")));
    // Logs: expire at the retention, old versions after 7 days, uploads after 1, IA at 30, Glacier at 90.
    assert_eq!(
        (found["expiration"].as_i64(), found["noncurrent"].as_i64(), found["abort"].as_i64()),
        (Some(365), Some(7), Some(1))
    );
    assert_eq!(found["transitions"], serde_json::json!([[30, "STANDARD_IA"], [90, "GLACIER"]]));
    let location = mesh.s3().get_bucket_location().bucket(&bucket).send().await.unwrap();
    assert_eq!(location.location_constraint().map(|location| location.as_str()), Some("eu-west-1"));

    let types = mesh.event_types(&request).await;
    for expected in
        ["provisioner.provisioning_started.v1", "provisioner.bucket_created.v1", "provisioner.resource_provisioned.v1"]
    {
        assert_eq!(types.iter().filter(|kind| *kind == expected).count(), 1, "{expected} in {types:?}");
    }
    let answer = mesh
        .client("alice")
        .await
        .get_bucket(GetBucketRequest { bucket_name: bucket.clone(), min_sequence: mesh.last_sequence(&request).await })
        .await
        .unwrap()
        .into_inner()
        .bucket
        .unwrap();
    assert_eq!(answer.status, ResourceStatus::Ready as i32);
    assert_eq!((answer.region.as_str(), answer.encryption.as_str(), answer.versioning), ("eu-west-1", "AES256", true));
    mesh.cleanup().await;
}

#[tokio::test]
async fn a_state_bucket_with_a_kms_key_and_a_replica_keeps_its_history() {
    let mesh = Mesh::start(None).await;
    let replica = mesh.bucket("replica");
    mesh.s3().create_bucket().bucket(&replica).send().await.unwrap();
    let bucket = mesh.bucket("state");
    let mut spec = bucket_request(&bucket, BucketPurpose::BackendState, "us-east-1", 0);
    spec.kms_key_id = "alias/terraform-state".into();
    spec.replication_target = replica.clone();
    let request = mesh.submit_bucket(spec).await;
    assert_eq!(mesh.wait_for_outcome(&request).await, Outcome::Ready { secret_path: String::new() });

    let found = read_back(&mesh, &bucket).await;
    assert_eq!(found["versioning"], "Enabled");
    assert_eq!((found["sse"].as_str(), found["kms"].as_str()), (Some("aws:kms"), Some("alias/terraform-state")));
    // Backend state never expires; old versions stay 90 days, uploads 7.
    assert_eq!(
        (found["expiration"].as_i64(), found["noncurrent"].as_i64(), found["abort"].as_i64()),
        (None, Some(90), Some(7))
    );
    assert_eq!(found["transitions"], serde_json::json!([]));
    let replication = mesh.s3().get_bucket_replication().bucket(&bucket).send().await.unwrap();
    let rule = &replication.replication_configuration().unwrap().rules()[0];
    assert_eq!(rule.destination().unwrap().bucket(), format!("arn:aws:s3:::{replica}"));
    mesh.cleanup().await;
}

#[tokio::test]
async fn a_bucket_that_is_not_gantrys_is_never_adopted() {
    let mesh = Mesh::start(None).await;
    let bucket = mesh.bucket("squatted");
    mesh.s3().create_bucket().bucket(&bucket).send().await.unwrap();
    mesh.s3().put_object().bucket(&bucket).key("theirs.txt").body(b"not ours".to_vec().into()).send().await.unwrap();
    let request = mesh.submit_bucket(bucket_request(&bucket, BucketPurpose::Artifacts, "us-east-1", 0)).await;
    let Outcome::Failed { reason, retryable } = mesh.wait_for_outcome(&request).await else {
        panic!("a squatted bucket must fail the request");
    };
    assert!(reason.contains("never adopted") && !retryable, "{reason}");
    let tags = mesh.s3().get_bucket_tagging().bucket(&bucket).send().await;
    assert!(tags.is_err(), "the foreign bucket was tagged: {tags:?}");
    mesh.cleanup().await;
}

/// Crashes the provisioner at `fault` of a bucket's provisioning, starts
/// it again without, and checks the bucket ends ready, made once.
async fn bucket_resumes_after(fault: ReactorFault) {
    let mut mesh = Mesh::start_with(Options { fault: Some(fault), ..Options::default() }).await;
    let bucket = mesh.bucket("crash");
    let request = mesh.submit_bucket(bucket_request(&bucket, BucketPurpose::Traces, "us-east-1", 30)).await;
    mesh.wait_for_provisioner_crash().await;
    mesh.restart_provisioner().await;
    assert_eq!(mesh.wait_for_outcome(&request).await, Outcome::Ready { secret_path: String::new() });
    let found = read_back(&mesh, &bucket).await;
    assert_eq!((found["versioning"].as_str(), found["rules"].as_i64()), (Some("Enabled"), Some(1)));
    // Traces kept 30 days: no transition at or after the expiration.
    assert_eq!(found["transitions"], serde_json::json!([]));
    let types = mesh.event_types(&request).await;
    assert_eq!(types.iter().filter(|kind| *kind == "provisioner.bucket_created.v1").count(), 1, "{types:?}");
    mesh.cleanup().await;
}

#[tokio::test]
async fn a_bucket_crash_after_started_resumes() {
    bucket_resumes_after(ReactorFault::BeforeRecord(2)).await;
}

#[tokio::test]
async fn a_bucket_crash_before_ready_resumes() {
    bucket_resumes_after(ReactorFault::BeforeRecord(3)).await;
}
