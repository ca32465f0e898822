//! Routing to named backends and data residency: the behaviours every
//! kind of backend must show when ingest has two of them (a second
//! directory, or a second bucket standing for another region).

use crate::helpers::{Harness, MIB, content, download, header, messages, stays, upload, violated_fields};
use gantry_proto::artifacts::{CompleteRunRequest, StatRequest, UploadRequest, VerifyRequest};
use gantry_proto::events::RetentionPolicy;
use gantry_testkit::wait_until;
use std::time::Duration;

/// Tenant acme is pinned to backend `eu`; keep-forever artifacts and the
/// `archiver` agent's go to `eu` by route; the rest to the default.
async fn pinned_and_routed(harness: &mut Harness) -> usize {
    let eu = harness.add_backend("eu").await;
    harness.set("ingest.residency.acme", "eu");
    let routes = serde_json::json!([
        {"retention": ["keep"], "backend": "eu"},
        {"agents": ["archiver"], "backend": "eu"},
    ]);
    harness.restart_with("ingest.routes", routes).await;
    eu
}

pub(crate) async fn a_pinned_tenant_never_writes_a_byte_elsewhere(harness: &mut Harness) {
    let eu = pinned_and_routed(harness).await;
    let mut agent = harness.client("agent");
    // A large upload (multipart on S3), one refused for its digest after
    // it was staged, and one cut off by the client while it is written.
    let bytes = content(60, 6 * MIB + 7);
    let stored = upload(&mut agent, header("run-eu", "big.bin"), &bytes).await.expect("stored");
    let artifact = stored.artifact.clone().unwrap();
    assert_eq!(artifact.storage_backend, "eu");
    let mut mismatch = header("run-eu", "mismatch.bin");
    mismatch.expected_sha256 = "0".repeat(64);
    let refused = upload(&mut agent, mismatch, &content(61, 2 * MIB)).await.expect_err("a digest mismatch");
    assert_eq!(violated_fields(&refused), ["expected_sha256"]);
    let (sender, receiver) = tokio::sync::mpsc::channel::<UploadRequest>(1);
    let mut cut_agent = harness.client("agent");
    let call =
        tokio::spawn(async move { cut_agent.upload(tokio_stream::wrappers::ReceiverStream::new(receiver)).await });
    for message in messages(header("run-eu", "cut"), &content(62, 16 * MIB), 256 * 1024).into_iter().take(48) {
        sender.send(message).await.expect("the call takes the message");
    }
    wait_until(Duration::from_secs(10), || async { Ok(!harness.extra[eu].everything().await.is_empty()) })
        .await
        .expect("the cut upload is being written to eu");
    call.abort();
    let _ = call.await;
    drop(sender);

    // Everything the tenant wrote is on eu; the default backend holds nothing at all.
    stays(Duration::from_secs(1), || async { harness.everything_in_the_first_backend().await.is_empty() }).await;
    let eu_blob = format!("artifacts/sha256/{}/{}/{}", &artifact.sha256[..2], &artifact.sha256[2..4], artifact.sha256);
    wait_until(Duration::from_secs(10), || async {
        Ok(harness.extra[eu].store.list("", gantry_storage::Page::first(100)).await?.keys == [eu_blob.clone()])
    })
    .await
    .expect("eu holds the one blob, its staged uploads gone");
    let (_, back) = download(&mut agent, &artifact.artifact_id, 0, 0, stored.sequence).await.expect("read back");
    assert!(back == bytes);
    let request = StatRequest { artifact_id: artifact.artifact_id, min_sequence: stored.sequence };
    let described = agent.stat(request).await.unwrap().into_inner().artifact.unwrap();
    assert_eq!(described.storage_backend, "eu");

    // The run's layout goes to the tenant's backend only, too.
    let complete = CompleteRunRequest { tenant: "acme".into(), run_id: "run-eu".into(), min_sequence: stored.sequence };
    let completed = agent.complete_run(complete).await.expect("completed").into_inner();
    assert!(completed.files.iter().all(|file| file.storage_backend == "eu"), "{:?}", completed.files);
    let metadata = crate::runs::read_back(harness.extra[eu].store.as_ref(), "acme/runs/run-eu/metadata.json").await;
    assert!(!metadata.is_empty());
    stays(Duration::from_millis(300), || async { harness.everything_in_the_first_backend().await.is_empty() }).await;
}

pub(crate) async fn routes_pick_by_retention_and_agent_and_dedupe_per_backend(harness: &mut Harness) {
    let eu = pinned_and_routed(harness).await;
    let (mut agent, mut other, mut auditor) =
        (harness.client("agent"), harness.client("other"), harness.client("auditor"));
    let bytes = content(63, 300_000);
    let theirs = |name: &str| {
        let mut asked = header("run-g", name);
        asked.tenant = "globex".into();
        asked
    };
    let pinned = upload(&mut agent, header("run-a", "a.bin"), &bytes).await.unwrap();
    let default = upload(&mut other, theirs("g.bin"), &bytes).await.unwrap();
    let mut kept = theirs("kept.bin");
    kept.retention = RetentionPolicy::Keep as i32;
    let kept = upload(&mut other, kept, &bytes).await.unwrap();
    let mut archived = theirs("archived.bin");
    archived.agent = "archiver".into();
    let archived = upload(&mut other, archived, &content(64, 1000)).await.unwrap();
    let placed: Vec<(String, bool)> = [&pinned, &default, &kept, &archived]
        .iter()
        .map(|answer| (answer.artifact.as_ref().unwrap().storage_backend.clone(), answer.already_stored))
        .collect();
    let home = harness.backend.to_owned();
    assert_eq!(
        placed,
        [("eu".into(), false), (home.clone(), false), ("eu".into(), true), ("eu".into(), false)],
        "the same bytes are one blob per backend: stored on eu, again on {home}, deduplicated on eu"
    );
    let (default, kept) = (default.artifact.unwrap(), kept.artifact.unwrap());
    assert_ne!(default.storage_uri, kept.storage_uri);
    let (_, back) = download(&mut other, &default.artifact_id, 0, 0, archived.sequence).await.unwrap();
    assert!(back == bytes);
    assert_eq!(harness.extra[eu].store.list("", gantry_storage::Page::first(100)).await.unwrap().keys.len(), 2);

    // Verify by backend, or every backend at once.
    let on = |backend: &str| VerifyRequest { backend: backend.into(), min_sequence: archived.sequence };
    let found = auditor.verify(on("eu")).await.expect("eu verified").into_inner();
    assert_eq!((found.verified, found.corrupted), (2, 0));
    let found = auditor.verify(on(&home)).await.expect("the default verified").into_inner();
    assert_eq!((found.verified, found.corrupted), (1, 0));
    let found = auditor.verify(on("")).await.expect("all verified").into_inner();
    assert_eq!((found.verified, found.corrupted), (3, 0));
    assert_eq!(violated_fields(&auditor.verify(on("mars")).await.unwrap_err()), ["backend"]);
    let stat = StatRequest { artifact_id: kept.artifact_id, min_sequence: found.sequence };
    let described = other.stat(stat).await.unwrap().into_inner().artifact.unwrap();
    assert_eq!(described.blob_status, gantry_proto::artifacts::BlobStatus::Verified as i32);
}

pub(crate) async fn a_routing_rule_against_a_pin_is_refused_at_start(harness: &mut Harness) {
    harness.add_backend("eu").await;
    let config = harness
        .config()
        .with("ingest.residency.acme", "eu")
        .with("ingest.routes", serde_json::json!([{"tenants": ["acme"], "backend": harness.backend}]));
    let refused = refusal(&config).await;
    assert!(format!("{refused:#}").contains("pins it"), "{refused:#}");
    let unknown = harness.config().with("ingest.residency.acme", "mars");
    let refused = refusal(&unknown).await;
    assert!(format!("{refused:#}").contains("not a configured backend"), "{refused:#}");
}

/// Why ingest does not start with `config`.
async fn refusal(config: &gantry_runtime::Config) -> anyhow::Error {
    match gantry_service::build::<gantry_ingest::Ingest>(config).await {
        Ok(_) => panic!("ingest started with a contradictory configuration"),
        Err(error) => error,
    }
}

pub(crate) async fn the_sweeper_deletes_unreferenced_blobs_on_every_backend(harness: &mut Harness) {
    let eu = pinned_and_routed(harness).await;
    let mut agent = harness.client("agent");
    let (old, live) = (content(65, 3000), content(66, 4000));
    let store = harness.extra[eu].store.clone();
    let expired = crate::helpers::expired_artifact_on(harness, store.as_ref(), "eu", "old", &old).await;
    let kept = upload(&mut agent, header("run-eu", "live"), &live).await.expect("stored on eu");
    assert_eq!(kept.artifact.as_ref().unwrap().storage_backend, "eu");
    wait_until(Duration::from_secs(15), || {
        let (mut agent, request) =
            (harness.client("agent"), StatRequest { artifact_id: expired.clone(), min_sequence: 0 });
        async move {
            let Ok(answer) = agent.stat(request).await else { return Ok(false) };
            let artifact = answer.into_inner().artifact.unwrap();
            Ok(artifact.expired && artifact.blob_status == gantry_proto::artifacts::BlobStatus::Deleted as i32)
        }
    })
    .await
    .expect("the expired artifact's blob on eu is deleted");
    let keys = store.list("", gantry_storage::Page::first(100)).await.unwrap().keys;
    let live_sha = &kept.artifact.unwrap().sha256;
    assert!(keys.len() == 1 && keys[0].ends_with(live_sha.as_str()), "only the live blob is left on eu: {keys:?}");
}

pub(crate) async fn orphans_are_swept_on_every_backend(harness: &mut Harness) {
    use futures::StreamExt;
    use sha2::Digest as _;
    let eu = pinned_and_routed(harness).await;
    let mut agent = harness.client("agent");
    let live = content(67, 5000);
    let kept = upload(&mut agent, header("run-eu", "live"), &live).await.expect("stored on eu");
    // Bytes an upload promoted on eu and never recorded, and the same on the default backend.
    let orphan = content(68, 6000);
    let sha256 = hex::encode(sha2::Sha256::digest(&orphan));
    let key = format!("artifacts/sha256/{}/{}/{sha256}", &sha256[..2], &sha256[2..4]);
    for store in [harness.extra[eu].store.clone(), harness.store.clone()] {
        let chunks = futures::stream::iter([Ok::<_, gantry_storage::BoxError>(orphan.clone())]).boxed();
        store.put(&key, chunks).await.expect("the orphan's bytes");
    }
    harness.restart_with("ingest.orphan_grace_s", 0).await;
    for backend in ["eu", harness.backend] {
        let id = format!("{backend}.{sha256}");
        wait_until(Duration::from_secs(15), || async {
            let events = harness.log.load("blob", &id).await.expect("the history").events;
            let types: Vec<String> = events.into_iter().map(|event| event.envelope.event_type).collect();
            Ok(types == ["artifact.blob_deletion_started.v1", "artifact.blob_deleted.v1"])
        })
        .await
        .expect("the orphan is deleted on each backend, on its own subject");
    }
    let eu_keys = harness.extra[eu].store.list("", gantry_storage::Page::first(100)).await.unwrap().keys;
    let live_sha = kept.artifact.unwrap().sha256;
    assert!(eu_keys.len() == 1 && eu_keys[0].ends_with(&live_sha), "only the live blob is left on eu: {eu_keys:?}");
    assert!(!harness.keys().await.contains(&key), "gone from the default backend too");
}
