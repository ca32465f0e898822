//! The suite on the S3 backend against the emulator, each test in a bucket
//! of its own, and what only S3 can show: uploads in parts, aborted
//! uploads, promotes by multipart copy, a dropped upload aborted.

use crate::helpers::{MIB, blob, chunked, failing_after, sha256, streamed_sha256};
use aws_sdk_s3::Client;
use aws_sdk_s3::types::ChecksumMode;
use futures::StreamExt;
use gantry_storage::{BlobStore, S3Settings, S3Store, StorageError};

/// The emulator's endpoint; panics unless it is on loopback and the SDK
/// is kept from looking for credentials anywhere else.
fn emulator_endpoint() -> String {
    let endpoint = std::env::var("GANTRY_TEST_AWS_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:5000".into());
    let authority = endpoint.split_once("://").map_or(endpoint.as_str(), |(_, rest)| rest);
    let host = authority.split(['/', '?']).next().unwrap_or_default();
    let host = host.rsplit_once(':').map_or(host, |(host, _port)| host);
    assert!(
        ["127.0.0.1", "localhost", "[::1]"].contains(&host),
        "GANTRY_TEST_AWS_ENDPOINT {endpoint} is not on loopback: these tests only talk to a local emulator"
    );
    let credentials = std::env::var_os("AWS_ACCESS_KEY_ID").is_some()
        && std::env::var_os("AWS_SECRET_ACCESS_KEY").is_some()
        && std::env::var("AWS_EC2_METADATA_DISABLED").is_ok_and(|disabled| disabled == "true");
    assert!(
        credentials,
        "the emulator's AWS settings are missing (the SDK would look for credentials beyond loopback): export \
         AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_EC2_METADATA_DISABLED=true"
    );
    endpoint
}

/// Settings for a fresh bucket: 5 MiB threshold and parts, 2 in flight.
fn test_settings(bucket: &str) -> S3Settings {
    S3Settings {
        endpoint_url: Some(emulator_endpoint()),
        region: "us-east-1".into(),
        bucket: bucket.into(),
        key_prefix: "blobs".into(),
        multipart_threshold_bytes: 5 * MIB as u64,
        part_size_bytes: 5 * MIB as u64,
        parts_in_flight: 2,
        ..S3Settings::default()
    }
}

/// A store on a bucket of its own.
struct Fixture {
    store: S3Store,
}

impl Fixture {
    async fn new() -> Self {
        Self::with(|_| {}).await
    }

    async fn with(adjust: impl FnOnce(&mut S3Settings)) -> Self {
        let bucket = format!("gantry-storage-{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
        let mut settings = test_settings(&bucket);
        adjust(&mut settings);
        let store = S3Store::connect(settings).await.expect("connect");
        store.client().create_bucket().bucket(&bucket).send().await.expect("create bucket");
        Self { store }
    }

    fn store(&self) -> &dyn BlobStore {
        &self.store
    }

    fn client(&self) -> &Client {
        self.store.client()
    }

    fn bucket(&self) -> &str {
        &self.store.settings().bucket
    }

    /// The multipart uploads not completed nor aborted.
    async fn open_uploads(&self) -> Vec<(String, String)> {
        let listed = self.client().list_multipart_uploads().bucket(self.bucket()).send().await.expect("list uploads");
        listed
            .uploads()
            .iter()
            .map(|upload| {
                (upload.key().unwrap_or_default().to_owned(), upload.upload_id().unwrap_or_default().to_owned())
            })
            .collect()
    }

    /// Waits (polling, up to `limit`) until `count` uploads are open;
    /// returns whether they were.
    async fn wait_for_open_uploads(&self, count: usize, limit: std::time::Duration) -> bool {
        let poll = std::time::Duration::from_millis(5);
        for _ in 0..limit.as_millis() / poll.as_millis() {
            if self.open_uploads().await.len() == count {
                return true;
            }
            tokio::time::sleep(poll).await;
        }
        false
    }

    /// Aborts leftover uploads, deletes every object and the bucket, then
    /// fails if an upload was left open.
    async fn cleanup(self) {
        let leftovers = self.open_uploads().await;
        for (key, upload_id) in &leftovers {
            let abort = self.client().abort_multipart_upload().bucket(self.bucket()).key(key).upload_id(upload_id);
            // A background abort of the store may win the race: no matter.
            let _ = abort.send().await;
        }
        let mut objects = self.client().list_objects_v2().bucket(self.bucket()).into_paginator().send();
        while let Some(page) = objects.next().await {
            for object in page.expect("list objects").contents() {
                let delete = self.client().delete_object().bucket(self.bucket()).key(object.key().unwrap());
                delete.send().await.expect("delete object");
            }
        }
        self.client().delete_bucket().bucket(self.bucket()).send().await.expect("delete bucket");
        assert!(leftovers.is_empty(), "multipart uploads left open: {leftovers:?}");
    }
}

crate::whole_suite!();

/// Runs `check` on a fixture and cleans up even if it panics.
async fn with_fixture(fixture: Fixture, check: impl AsyncFnOnce(&Fixture)) {
    use futures::FutureExt;
    let outcome = std::panic::AssertUnwindSafe(check(&fixture)).catch_unwind().await;
    fixture.cleanup().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_blobs_go_up_in_parts_with_checksums() {
    with_fixture(Fixture::new().await, async |fixture: &Fixture| {
        fixture.store.put("parts", chunked(blob(20, 11 * MIB), 100_000)).await.expect("put");
        let whole_bytes = blob(21, MIB);
        fixture.store.put("whole", chunked(whole_bytes.clone(), 100_000)).await.expect("put");
        let head = |key: &'static str| {
            fixture.client().head_object().bucket(fixture.bucket()).key(key).checksum_mode(ChecksumMode::Enabled).send()
        };
        let parts = head("blobs/parts").await.expect("head parts");
        assert!(parts.e_tag().unwrap_or_default().ends_with("-3\""), "three parts: {:?}", parts.e_tag());
        let whole = head("blobs/whole").await.expect("head whole");
        assert!(!whole.e_tag().unwrap_or_default().contains('-'), "one PutObject: {:?}", whole.e_tag());
        use base64::Engine;
        use sha2::Digest;
        let whole_digest = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&whole_bytes));
        assert_eq!(whole.checksum_sha256(), Some(whole_digest.as_str()), "the SDK's SHA-256 of the bytes");
        assert!(parts.checksum_sha256().is_some(), "a SHA-256 checksum of the parts");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_multipart_upload_is_aborted() {
    with_fixture(Fixture::new().await, async |fixture: &Fixture| {
        let failed = fixture.store.put("aborted", failing_after(17 * MIB)).await;
        assert!(matches!(failed, Err(StorageError::Input(_))), "{failed:?}");
        assert_eq!(fixture.open_uploads().await, [], "the upload was aborted before put returned");
        assert_eq!(fixture.store.head("aborted").await.unwrap(), None);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_multipart_upload_is_aborted_in_the_background() {
    // 12 MiB: the upload exists and two parts are started.
    with_fixture(Fixture::new().await, async |fixture: &Fixture| drop_put_after(fixture, 12).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_dropped_while_its_upload_is_created_aborts_it() {
    // 6 MiB: the threshold is crossed, CreateMultipartUpload is (most
    // likely) under way when the put is dropped.
    with_fixture(Fixture::new().await, async |fixture: &Fixture| drop_put_after(fixture, 6).await).await;
}

/// Drops a put once it has taken `chunks` MiB of an input that never
/// ends, then waits until no upload is open.
async fn drop_put_after(fixture: &Fixture, chunks: usize) {
    let (sender, receiver) = futures::channel::mpsc::unbounded();
    for chunk in (0..chunks).map(|_| Ok(blob(22, MIB))) {
        sender.unbounded_send(chunk).unwrap();
    }
    let taken = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = receiver.inspect({
        let taken = taken.clone();
        move |_| {
            taken.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let mut put = fixture.store.put("dropped", counted.boxed());
    let all_taken = async {
        for _ in 0..1000 {
            if taken.load(std::sync::atomic::Ordering::SeqCst) == chunks {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        panic!("the put never took its input");
    };
    tokio::select! {
        outcome = &mut put => panic!("the put ended without its input ending: {outcome:?}"),
        () = all_taken => {}
    }
    drop(put);
    // The upload is created even when the put was dropped before the
    // answer; it may come and go between two polls, so its coming is
    // waited for only so long.
    fixture.wait_for_open_uploads(1, std::time::Duration::from_secs(5)).await;
    let aborted = fixture.wait_for_open_uploads(0, std::time::Duration::from_secs(10)).await;
    assert!(aborted, "aborted after the drop: {:?}", fixture.open_uploads().await);
    drop(sender);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_copies_in_parts_above_the_copy_threshold() {
    let fixture = Fixture::with(|settings| {
        settings.copy_threshold_bytes = 5 * MIB as u64;
        settings.copy_part_size_bytes = 5 * MIB as u64;
    })
    .await;
    with_fixture(fixture, async |fixture: &Fixture| {
        let bytes = blob(23, 11 * MIB + 5);
        fixture.store.put("staging/copy", chunked(bytes.clone(), 1 << 20)).await.expect("put");
        fixture.store.promote("staging/copy", "final/copy").await.expect("promote");
        assert_eq!(streamed_sha256(&fixture.store, "final/copy").await, (sha256(&bytes), bytes.len() as u64));
        assert_eq!(fixture.store.head("staging/copy").await.unwrap(), None);
        let head = fixture.client().head_object().bucket(fixture.bucket()).key("blobs/final/copy").send().await;
        assert!(head.unwrap().e_tag().unwrap_or_default().ends_with("-3\""), "copied in three parts");
    })
    .await;
}

#[tokio::test]
async fn a_missing_bucket_is_unhealthy() {
    let store = S3Store::connect(test_settings("gantry-storage-no-such-bucket")).await.expect("connect");
    let health = store.health().await;
    assert!(matches!(health, Err(StorageError::Other(_))), "{health:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presigned_get_urls_name_the_object_and_their_expiry() {
    with_fixture(Fixture::new().await, async |fixture: &Fixture| {
        let week = std::time::Duration::from_secs(7 * 86_400);
        let url = fixture.store.presigned_get("a/b", week).await.expect("signed").expect("S3 hands one out");
        let path = format!("/{}/blobs/a/b?", fixture.bucket());
        assert!(url.contains(&path) && url.contains("X-Amz-Expires=604800"), "{url}");
        assert!(url.contains("X-Amz-Signature="), "{url}");
        let too_long = fixture.store.presigned_get("a/b", week + std::time::Duration::from_secs(1)).await;
        assert!(too_long.is_err(), "SigV4 URLs live a week at most");
        assert!(fixture.store.presigned_get("../x", week).await.is_err(), "the key rules hold");
    })
    .await;
}
