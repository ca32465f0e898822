//! The behaviours every backend must show, each on a harness of its own.

use crate::helpers::{Harness, MIB, content, download, header, messages, stays, upload, violated_fields};
use futures::StreamExt;
use gantry_proto::artifacts::{
    BlobStatus, ListRequest, StatRequest, UploadHeader, UploadRequest, VerifyRequest, upload_request,
};
use gantry_proto::events::RetentionPolicy;
use gantry_testkit::wait_until;
use sha2::{Digest as _, Sha256};
use std::time::Duration;
use tonic::Code;

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The content-addressed blobs in the store (staged uploads left out).
async fn blobs(harness: &Harness) -> Vec<String> {
    harness.keys().await.into_iter().filter(|key| key.contains("/sha256/")).collect()
}

pub(crate) async fn uploads_round_trip_whole_and_by_range(harness: &mut Harness) {
    let mut agent = harness.client("agent");
    // Above the S3 multipart threshold (5 MiB here), in chunks that do not divide it.
    let bytes = content(1, 6 * MIB + 12_345);
    let mut asked = header("run-1", "models/weights.bin");
    asked.expected_size_bytes = Some(bytes.len() as u64);
    asked.expected_sha256 = sha256(&bytes);
    asked.retention = RetentionPolicy::Days30 as i32;
    let stored = upload(&mut agent, asked, &bytes).await.expect("the upload is stored");
    let artifact = stored.artifact.expect("the artifact");
    assert!(!stored.already_stored);
    assert_eq!(artifact.sha256, sha256(&bytes));
    assert_eq!(artifact.blake3, blake3::hash(&bytes).to_hex().to_string());
    assert_eq!(artifact.size_bytes, bytes.len() as u64);
    let key = format!("sha256/{}/{}/{}", &artifact.sha256[..2], &artifact.sha256[2..4], artifact.sha256);
    assert!(artifact.storage_uri.ends_with(&format!("artifacts/{key}")), "{}", artifact.storage_uri);
    assert_eq!(blobs(harness).await, [format!("artifacts/{key}")]);
    let id = artifact.artifact_id.clone();

    let (_, whole) = download(&mut agent, &id, 0, 0, stored.sequence).await.expect("a whole download");
    assert!(whole == bytes, "the bytes came back");
    let size = bytes.len() as u64;
    for (offset, length, expected) in [
        (0, 1, 0..1),
        (100, 1000, 100..1100),
        (5 * MIB as u64 - 7, 20, 5 * MIB - 7..5 * MIB + 13),
        (size - 10, 0, bytes.len() - 10..bytes.len()),
        (size - 5, 100, bytes.len() - 5..bytes.len()),
    ] {
        let (_, part) = download(&mut agent, &id, offset, length, 0).await.expect("a ranged download");
        assert!(part == bytes[expected.clone()], "range {offset}+{length}");
    }
    let past = download(&mut agent, &id, size, 1, 0).await.expect_err("past the end");
    assert_eq!(past.code(), Code::OutOfRange, "{past:?}");

    let described = agent.stat(StatRequest { artifact_id: id.clone(), min_sequence: 0 }).await.unwrap().into_inner();
    let described = described.artifact.unwrap();
    assert_eq!((described.run_id.as_str(), described.name.as_str()), ("run-1", "models/weights.bin"));
    assert_eq!(described.blob_status, BlobStatus::Stored as i32);
    assert_eq!(described.retention, RetentionPolicy::Days30 as i32);
    assert_eq!(described.uploaded_by, "agent");
    let lifetime = described.expires_at.unwrap().seconds - described.stored_at.unwrap().seconds;
    // Both are read from the clock a moment apart, and cut to whole seconds.
    assert!((30 * 86_400 - 1..=30 * 86_400).contains(&lifetime), "{lifetime}");

    // An empty artifact is an artifact too.
    let empty = upload(&mut agent, header("run-1", "empty"), &bytes::Bytes::new()).await.expect("empty upload");
    let empty = empty.artifact.unwrap();
    assert_eq!(empty.sha256, sha256(b""));
    let (length, nothing) = download(&mut agent, &empty.artifact_id, 0, 0, empty.sequence).await.unwrap();
    assert_eq!((length, nothing.len()), (0, 0));
}

pub(crate) async fn the_same_bytes_are_stored_once(harness: &mut Harness) {
    let mut agent = harness.client("agent");
    let bytes = content(2, 300_000);
    let first = upload(&mut agent, header("run-1", "a.csv"), &bytes).await.unwrap();
    let second = upload(&mut agent, header("run-2", "b.csv"), &bytes).await.unwrap();
    assert!(!first.already_stored && second.already_stored);
    let (first, second) = (first.artifact.unwrap(), second.artifact.unwrap());
    assert_ne!(first.artifact_id, second.artifact_id);
    assert_eq!(
        (first.sha256.as_str(), first.storage_uri.as_str()),
        (second.sha256.as_str(), second.storage_uri.as_str())
    );
    assert_eq!(blobs(harness).await.len(), 1, "one blob for both");
    wait_until(Duration::from_secs(5), || async { Ok(harness.keys().await.len() == 1) })
        .await
        .expect("no staging left");
    let (_, back) = download(&mut agent, &second.artifact_id, 0, 0, second.sequence).await.unwrap();
    assert!(back == bytes);
}

pub(crate) async fn an_expected_size_or_digest_mismatch_stores_nothing(harness: &mut Harness) {
    let mut agent = harness.client("agent");
    let bytes = content(3, 200_000);
    let mut longer = header("run-1", "longer");
    longer.expected_size_bytes = Some(100_000);
    let mut shorter = header("run-1", "shorter");
    shorter.expected_size_bytes = Some(300_000);
    let mut digest = header("run-1", "digest");
    digest.expected_sha256 = sha256(b"something else");
    for (asked, field) in
        [(longer, "expected_size_bytes"), (shorter, "expected_size_bytes"), (digest, "expected_sha256")]
    {
        let refused = upload(&mut agent, asked, &bytes).await.expect_err("a mismatch is refused");
        assert_eq!(violated_fields(&refused), [field], "{refused:?}");
    }
    wait_until(Duration::from_secs(5), || async { Ok(harness.store_is_empty().await) })
        .await
        .expect("nothing is left in the store");
    assert_eq!(harness.event_count().await, 0, "no event");
}

pub(crate) async fn a_stream_cut_off_by_the_client_stores_nothing(harness: &mut Harness) {
    let mut agent = harness.client("agent");
    let (sender, receiver) = tokio::sync::mpsc::channel::<UploadRequest>(1);
    let call = tokio::spawn(async move { agent.upload(tokio_stream::wrappers::ReceiverStream::new(receiver)).await });
    let bytes = content(4, 16 * MIB);
    let sent: Vec<UploadRequest> = messages(header("run-1", "cut"), &bytes, 256 * 1024);
    // Three quarters of the chunks: past the S3 multipart threshold, so the
    // store is writing (a temporary file, a multipart upload) when the
    // client goes away.
    for message in sent.into_iter().take(48) {
        sender.send(message).await.expect("the call takes the message");
    }
    wait_until(Duration::from_secs(10), || async { Ok(harness.writes_in_progress().await == 1) })
        .await
        .expect("the store is writing the upload");
    call.abort();
    let _ = call.await;
    drop(sender);
    wait_until(Duration::from_secs(10), || async { Ok(harness.store_is_empty().await) })
        .await
        .expect("nothing is left in the store");
    stays(Duration::from_secs(1), || async { harness.store_is_empty().await }).await;
    assert_eq!(harness.event_count().await, 0, "no event");
}

pub(crate) async fn lineage_inputs_must_exist_in_the_tenant(harness: &mut Harness) {
    let (mut agent, mut other) = (harness.client("agent"), harness.client("other"));
    let input = upload(&mut agent, header("run-1", "raw.csv"), &content(5, 1000)).await.unwrap().artifact.unwrap();
    let mut theirs = header("run-9", "theirs.csv");
    theirs.tenant = "globex".into();
    let foreign = upload(&mut other, theirs, &content(6, 1000)).await.unwrap().artifact.unwrap();
    // Inputs stored a moment ago are found once the view has applied them.
    let min_sequence = input.sequence.max(foreign.sequence);

    let unknown = uuid::Uuid::now_v7().to_string();
    let mut derived = header("run-1", "clean.csv");
    derived.input_artifact_ids = vec![input.artifact_id.clone(), unknown.clone(), foreign.artifact_id.clone()];
    derived.min_sequence = min_sequence;
    let refused = upload(&mut agent, derived.clone(), &content(7, 1000)).await.expect_err("unknown inputs");
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert!(refused.message().contains(&unknown) && refused.message().contains(&foreign.artifact_id), "{refused:?}");
    assert!(!refused.message().contains(&input.artifact_id), "{refused:?}");

    derived.input_artifact_ids = vec![input.artifact_id.clone()];
    let stored = upload(&mut agent, derived, &content(7, 1000)).await.expect("known inputs");
    let artifact = stored.artifact.unwrap();
    assert_eq!(artifact.input_artifact_ids, std::slice::from_ref(&input.artifact_id));
    let request = StatRequest { artifact_id: artifact.artifact_id, min_sequence: stored.sequence };
    let described = agent.stat(request).await.unwrap().into_inner().artifact.unwrap();
    assert_eq!(described.input_artifact_ids, [input.artifact_id]);
}

pub(crate) async fn tenants_see_only_their_own_artifacts(harness: &mut Harness) {
    let (mut agent, mut other, mut auditor) =
        (harness.client("agent"), harness.client("other"), harness.client("auditor"));
    let stored = upload(&mut agent, header("run-1", "secret.bin"), &content(8, 5000)).await.unwrap();
    let id = stored.artifact.unwrap().artifact_id;
    let stat = |id: &str, min_sequence| StatRequest { artifact_id: id.to_owned(), min_sequence };

    let hidden = other.stat(stat(&id, stored.sequence)).await.expect_err("another tenant's artifact");
    assert_eq!(hidden.code(), Code::NotFound);
    let absent = other.stat(stat(&uuid::Uuid::now_v7().to_string(), 0)).await.expect_err("no such artifact");
    assert_eq!((absent.code(), hidden.message().len()), (Code::NotFound, absent.message().len()), "alike");
    let hidden = download(&mut other, &id, 0, 0, 0).await.expect_err("another tenant's bytes");
    assert_eq!(hidden.code(), Code::NotFound);
    let listing = ListRequest { tenant: "acme".into(), ..ListRequest::default() };
    let denied = other.list(listing.clone()).await.expect_err("another tenant's listing");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let mut theirs = header("run-1", "intruder.bin");
    theirs.tenant = "acme".into();
    let denied = upload(&mut other, theirs, &content(9, 10)).await.expect_err("an upload for another tenant");
    assert_eq!(denied.code(), Code::PermissionDenied);

    // The platform team reads every tenant, and uploads for none.
    assert!(auditor.stat(stat(&id, 0)).await.is_ok());
    assert_eq!(auditor.list(listing).await.unwrap().into_inner().artifacts.len(), 1);
    let denied = upload(&mut auditor, header("run-1", "x"), &content(9, 10)).await.expect_err("not a member");
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert_eq!(harness.event_count().await, 1, "only the one artifact");
}

pub(crate) async fn listings_page_newest_first_by_run_and_name(harness: &mut Harness) {
    let mut agent = harness.client("agent");
    let mut ids = Vec::new();
    let mut last_sequence = 0;
    for index in 0..5u8 {
        let stored =
            upload(&mut agent, header("run-a", &format!("out-{index}")), &content(20 + index, 100)).await.unwrap();
        ids.push(stored.artifact.unwrap().artifact_id);
        last_sequence = stored.sequence;
    }
    let mut newest = last_sequence;
    for index in 0..2u8 {
        newest = upload(&mut agent, header("run-b", "out-0"), &content(30 + index, 100)).await.unwrap().sequence;
    }
    let mut listed = Vec::new();
    let mut request = ListRequest {
        tenant: "acme".into(),
        run_id: "run-a".into(),
        page_size: 2,
        min_sequence: last_sequence,
        ..ListRequest::default()
    };
    let mut pages = 0;
    loop {
        let page = agent.list(request.clone()).await.unwrap().into_inner();
        pages += 1;
        assert!(page.artifacts.len() <= 2);
        listed.extend(page.artifacts.into_iter().map(|artifact| artifact.artifact_id));
        if page.next_page_token.is_empty() {
            break;
        }
        request.page_token = page.next_page_token;
    }
    ids.reverse();
    assert_eq!((listed, pages), (ids, 3), "newest first, every one once");

    let by_name =
        ListRequest { tenant: "acme".into(), name: "out-0".into(), min_sequence: newest, ..ListRequest::default() };
    let named = agent.list(by_name).await.unwrap().into_inner().artifacts;
    assert_eq!(named.len(), 3, "out-0 of both runs");
    let whole = agent.list(ListRequest { tenant: "acme".into(), ..ListRequest::default() }).await.unwrap().into_inner();
    assert_eq!(whole.artifacts.len(), 7);
    let bad = ListRequest { tenant: "acme".into(), page_token: "garbage".into(), ..ListRequest::default() };
    assert_eq!(violated_fields(&agent.list(bad).await.unwrap_err()), ["page_token"]);
}

pub(crate) async fn bad_input_names_every_field(harness: &mut Harness) {
    let mut agent = harness.client("agent");
    let bad = UploadHeader {
        tenant: "Acme".into(),
        run_id: String::new(),
        agent: "trainer".into(),
        agent_version: "1".into(),
        name: "x".into(),
        step_id: "s".into(),
        input_artifact_ids: vec!["not-an-id".into()],
        expected_sha256: "xyz".into(),
        retention: 42,
        ..UploadHeader::default()
    };
    let refused = upload(&mut agent, bad, &content(10, 10)).await.expect_err("bad header");
    assert_eq!(
        violated_fields(&refused),
        ["tenant", "run_id", "input_artifact_ids[0]", "retention", "expected_sha256"],
        "{refused:?}"
    );
    // Bytes before any header.
    let chunk = UploadRequest { message: Some(upload_request::Message::Chunk(content(10, 10))) };
    let refused = agent.upload(futures::stream::iter([chunk])).await.expect_err("no header");
    assert_eq!(violated_fields(&refused), ["header"]);
    // Two headers.
    let twice: Vec<UploadRequest> = messages(header("r", "n"), &content(10, 10), 4)
        .into_iter()
        .chain(messages(header("r", "n"), &bytes::Bytes::new(), 1))
        .collect();
    let refused = agent.upload(futures::stream::iter(twice)).await.expect_err("a second header");
    assert_eq!(violated_fields(&refused), ["header"]);
    // A chunk above the limit (256 KiB in these tests).
    let refused = agent
        .upload(futures::stream::iter(messages(header("r", "n"), &content(10, 300_000), 300_000)))
        .await
        .expect_err("a chunk too large");
    assert_eq!(violated_fields(&refused), ["chunk"]);
    let refused = agent.stat(StatRequest { artifact_id: "nope".into(), min_sequence: 0 }).await.unwrap_err();
    assert_eq!(violated_fields(&refused), ["artifact_id"]);
    wait_until(Duration::from_secs(5), || async { Ok(harness.keys().await.is_empty()) }).await.expect("nothing stored");
    assert_eq!(harness.event_count().await, 0);
}

pub(crate) async fn a_corrupted_blob_is_caught_and_repaired_by_an_upload(harness: &mut Harness) {
    let mut agent = harness.client("agent");
    let bytes = content(11, 700_000);
    let stored = upload(&mut agent, header("run-1", "data.bin"), &bytes).await.unwrap();
    let artifact = stored.artifact.unwrap();
    let key = blobs(harness).await.pop().expect("the blob");
    // One byte flipped beneath ingest.
    let mut damaged = bytes.to_vec();
    damaged[123_456] ^= 0x01;
    let chunks = futures::stream::iter([Ok::<_, gantry_storage::BoxError>(bytes::Bytes::from(damaged))]).boxed();
    harness.store.put(&key, chunks).await.expect("the blob is overwritten");

    let caught = download(&mut agent, &artifact.artifact_id, 0, 0, stored.sequence).await.expect_err("caught");
    assert_eq!(caught.code(), Code::DataLoss, "{caught:?}");
    let stat = StatRequest { artifact_id: artifact.artifact_id.clone(), min_sequence: 0 };
    wait_until(Duration::from_secs(10), || {
        let (mut agent, stat) = (harness.client("agent"), stat.clone());
        async move {
            let artifact = agent.stat(stat).await?.into_inner().artifact.unwrap();
            Ok(artifact.blob_status == BlobStatus::Corrupted as i32)
        }
    })
    .await
    .expect("stat reports the blob corrupted");
    let refused =
        download(&mut agent, &artifact.artifact_id, 0, 10, 0).await.expect_err("no bytes of a corrupted blob");
    assert_eq!(refused.code(), Code::DataLoss);

    // The same bytes uploaded again replace the damaged blob.
    let repaired = upload(&mut agent, header("run-2", "data.bin"), &bytes).await.unwrap();
    assert!(!repaired.already_stored, "a corrupted blob is never deduplicated against");
    let request = StatRequest { artifact_id: artifact.artifact_id.clone(), min_sequence: repaired.sequence };
    let described = agent.stat(request).await.unwrap().into_inner().artifact.unwrap();
    assert_eq!(described.blob_status, BlobStatus::Stored as i32);
    let (_, back) = download(&mut agent, &artifact.artifact_id, 0, 0, 0).await.expect("whole again");
    assert!(back == bytes);
}

pub(crate) async fn staged_leftovers_are_removed_at_start_up(harness: &mut Harness) {
    let mut agent = harness.client("agent");
    let stored = upload(&mut agent, header("run-1", "kept"), &content(12, 1000)).await.unwrap();
    // What a crash mid-upload leaves: a staged upload begun before start-up.
    let leftover = format!("artifacts/staging/{}", uuid::Uuid::now_v7().simple());
    let chunks = futures::stream::iter([Ok::<_, gantry_storage::BoxError>(content(13, 1000))]).boxed();
    harness.store.put(&leftover, chunks).await.expect("a leftover");
    harness.restart().await;
    wait_until(Duration::from_secs(10), || async { Ok(!harness.keys().await.contains(&leftover)) })
        .await
        .expect("the leftover is removed");
    assert_eq!(blobs(harness).await.len(), 1, "the blob stays");
    let mut agent = harness.client("agent");
    let artifact_id = stored.artifact.unwrap().artifact_id;
    download(&mut agent, &artifact_id, 0, 0, stored.sequence).await.expect("still served");
}

pub(crate) async fn verify_reads_every_blob_and_records_what_it_found(harness: &mut Harness) {
    let (mut agent, mut auditor) = (harness.client("agent"), harness.client("auditor"));
    let (intact, damaged) = (content(14, 400_000), content(15, 300_000));
    upload(&mut agent, header("run-1", "intact"), &intact).await.unwrap();
    upload(&mut agent, header("run-2", "intact-again"), &intact).await.unwrap();
    let stored = upload(&mut agent, header("run-1", "damaged"), &damaged).await.unwrap();
    let damaged_id = stored.artifact.unwrap().artifact_id;
    let damaged_key =
        format!("artifacts/sha256/{}/{}/{}", &sha256(&damaged)[..2], &sha256(&damaged)[2..4], sha256(&damaged));
    let mut flipped = damaged.to_vec();
    flipped[0] ^= 0x80;
    let chunks = futures::stream::iter([Ok::<_, gantry_storage::BoxError>(bytes::Bytes::from(flipped))]).boxed();
    harness.store.put(&damaged_key, chunks).await.expect("the blob is overwritten");

    let asked = VerifyRequest { backend: String::new(), min_sequence: stored.sequence };
    let denied = agent.verify(asked.clone()).await.expect_err("only the platform team verifies");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let wrong = VerifyRequest { backend: "elsewhere".into(), min_sequence: 0 };
    assert_eq!(violated_fields(&auditor.verify(wrong).await.unwrap_err()), ["backend"]);
    let found = auditor.verify(asked).await.expect("verified").into_inner();
    assert_eq!((found.verified, found.corrupted), (1, 1), "one blob for the two intact artifacts");
    assert_eq!(found.corrupted_sha256, [sha256(&damaged)]);

    let stat = StatRequest { artifact_id: damaged_id.clone(), min_sequence: found.sequence };
    let described = agent.stat(stat).await.unwrap().into_inner().artifact.unwrap();
    assert_eq!(described.blob_status, BlobStatus::Corrupted as i32);
    let listing = ListRequest { tenant: "acme".into(), name: "intact".into(), ..ListRequest::default() };
    let intact_artifact = agent.list(listing).await.unwrap().into_inner().artifacts.pop().unwrap();
    assert_eq!(intact_artifact.blob_status, BlobStatus::Verified as i32);
    let refused = download(&mut agent, &damaged_id, 0, 0, 0).await.expect_err("no bytes of a corrupted blob");
    assert_eq!(refused.code(), Code::DataLoss);

    // A blob gone from the store is corrupted too.
    let intact_key =
        format!("artifacts/sha256/{}/{}/{}", &sha256(&intact)[..2], &sha256(&intact)[2..4], sha256(&intact));
    harness.store.delete(&intact_key).await.unwrap();
    let found = auditor.verify(VerifyRequest::default()).await.unwrap().into_inner();
    assert_eq!((found.verified, found.corrupted), (0, 2));
}

pub(crate) async fn retention_expires_artifacts_and_deletes_blobs_nothing_refers_to(harness: &mut Harness) {
    let mut agent = harness.client("agent");
    let (shared, alone) = (content(16, 50_000), content(17, 60_000));
    let live = upload(&mut agent, header("run-1", "live"), &shared).await.unwrap();
    let live_id = live.artifact.unwrap().artifact_id;
    let expired_shared = crate::helpers::expired_artifact(harness, "old-shared", &shared).await;
    let expired_alone = crate::helpers::expired_artifact(harness, "old-alone", &alone).await;

    let stat = |id: &str| StatRequest { artifact_id: id.to_owned(), min_sequence: 0 };
    wait_until(Duration::from_secs(15), || {
        let (mut agent, request) = (harness.client("agent"), stat(&expired_alone));
        async move {
            // Not found until the view has applied it.
            let Ok(answer) = agent.stat(request).await else { return Ok(false) };
            let artifact = answer.into_inner().artifact.unwrap();
            Ok(artifact.expired && artifact.blob_status == BlobStatus::Deleted as i32)
        }
    })
    .await
    .expect("the lone expired artifact's blob is deleted");
    assert_eq!(blobs(harness).await.len(), 1, "only the shared blob is left");
    assert_eq!(
        crate::helpers::blob_history(harness, &sha256(&alone)).await,
        ["artifact.stored.v1", "artifact.expired.v1", "artifact.blob_deletion_started.v1", "artifact.blob_deleted.v1"]
    );

    // The shared blob stays for its live artifact.
    let old = agent.stat(stat(&expired_shared)).await.unwrap().into_inner().artifact.unwrap();
    assert!(old.expired);
    let gone = download(&mut agent, &expired_shared, 0, 0, 0).await.expect_err("an expired artifact");
    assert_eq!(gone.code(), Code::FailedPrecondition);
    let (_, back) = download(&mut agent, &live_id, 0, 0, 0).await.expect("the live artifact");
    assert!(back == shared);
    let listing = ListRequest { tenant: "acme".into(), ..ListRequest::default() };
    assert_eq!(agent.list(listing.clone()).await.unwrap().into_inner().artifacts.len(), 1, "live ones only");
    let everything = ListRequest { include_expired: true, ..listing };
    assert_eq!(agent.list(everything).await.unwrap().into_inner().artifacts.len(), 3);

    // The same content uploaded again is stored afresh.
    let again = upload(&mut agent, header("run-2", "again"), &alone).await.unwrap();
    assert!(!again.already_stored);
    let (_, back) = download(&mut agent, &again.artifact.unwrap().artifact_id, 0, 0, again.sequence).await.unwrap();
    assert!(back == alone);
}

pub(crate) async fn an_upload_racing_the_sweeper_keeps_its_bytes(harness: &mut Harness) {
    // Each upload pauses between placing its bytes and recording them: long
    // enough for the sweeper (every 50 ms) to expire the old artifact of
    // the same content and delete its blob in between.
    harness.restart_with("ingest.pause_before_record_ms", 400).await;
    let mut agent = harness.client("agent");
    let bytes = content(40, 40_000);
    let old = crate::helpers::expired_artifact(harness, "old", &bytes).await;
    let stored = upload(&mut agent, header("run-1", "new"), &bytes).await.expect("the upload");
    let history = crate::helpers::blob_history(harness, &sha256(&bytes)).await;
    assert_eq!(
        history,
        [
            "artifact.stored.v1",
            "artifact.expired.v1",
            "artifact.blob_deletion_started.v1",
            "artifact.blob_deleted.v1",
            "artifact.stored.v1"
        ],
        "the deletion came first; the upload stored the bytes again after it"
    );
    assert!(!stored.already_stored, "written afresh");
    let artifact = stored.artifact.unwrap();
    let (_, back) = download(&mut agent, &artifact.artifact_id, 0, 0, stored.sequence).await.expect("its bytes");
    assert!(back == bytes);
    stays(Duration::from_millis(500), || async { blobs(harness).await.len() == 1 }).await;
    let old = agent.stat(StatRequest { artifact_id: old, min_sequence: 0 }).await.unwrap().into_inner();
    assert!(old.artifact.unwrap().expired);
}

pub(crate) async fn a_view_rebuilt_from_the_log_is_the_same(harness: &mut Harness) {
    let (mut agent, mut other, mut auditor) =
        (harness.client("agent"), harness.client("other"), harness.client("auditor"));
    let first = upload(&mut agent, header("run-1", "a"), &content(50, 3000)).await.unwrap();
    let mut derived = header("run-1", "b");
    derived.input_artifact_ids = vec![first.artifact.unwrap().artifact_id];
    derived.min_sequence = first.sequence;
    upload(&mut agent, derived, &content(51, 4000)).await.unwrap();
    upload(&mut agent, header("run-2", "a-again"), &content(50, 3000)).await.unwrap();
    let mut theirs = header("run-9", "theirs");
    theirs.tenant = "globex".into();
    upload(&mut other, theirs, &content(52, 5000)).await.unwrap();
    let expired = crate::helpers::expired_artifact(harness, "old", &content(53, 100)).await;
    wait_until(Duration::from_secs(15), || {
        let (mut agent, request) =
            (harness.client("agent"), StatRequest { artifact_id: expired.clone(), min_sequence: 0 });
        async move {
            let Ok(answer) = agent.stat(request).await else { return Ok(false) };
            Ok(answer.into_inner().artifact.unwrap().blob_status == BlobStatus::Deleted as i32)
        }
    })
    .await
    .expect("the old blob is deleted");
    auditor.verify(VerifyRequest::default()).await.unwrap();

    let (live, parked) = harness.view_snapshot().await;
    assert_eq!(parked, 0, "nothing parked");
    assert_eq!(live.len(), 5 + 4 + 6, "five artifacts, four blobs, six artifact events of runs");
    harness.stop_and_rebuild().await;
    let (rebuilt, _) = harness.view_snapshot().await;
    assert_eq!(rebuilt, live);
}

pub(crate) async fn stat_hands_out_a_presigned_url_for_blobs_on_s3_only(harness: &mut Harness) {
    let mut agent = harness.client("agent");
    let bytes = content(80, 700_000);
    let stored = upload(&mut agent, header("run-1", "report.html"), &bytes).await.unwrap();
    let id = stored.artifact.unwrap().artifact_id;
    let stat = |id: &str, min_sequence| StatRequest { artifact_id: id.to_owned(), min_sequence };
    let off = agent.stat(stat(&id, stored.sequence)).await.unwrap().into_inner();
    assert_eq!((off.download_url.as_str(), off.download_url_expires_at), ("", None), "off by default");

    harness.restart_with("ingest.presigned_url_expiry_s", 300).await;
    let mut agent = harness.client("agent");
    let expired = crate::helpers::expired_artifact(harness, "old", &content(81, 100)).await;
    let answer = agent.stat(stat(&id, 0)).await.unwrap().into_inner();
    if harness.backend == "local" {
        assert_eq!((answer.download_url.as_str(), answer.download_url_expires_at), ("", None), "no URL for files");
        return;
    }
    let lifetime = answer.download_url_expires_at.expect("an expiry").seconds - now_seconds();
    assert!((295..=300).contains(&lifetime), "valid for the configured 300 s, not {lifetime}");
    let (status, body) = crate::helpers::plain_http_get(&answer.download_url).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(body == bytes, "the presigned URL serves the artifact's bytes");
    assert!(answer.download_url.contains("X-Amz-Expires=300"), "{}", answer.download_url);
    // No URL for bytes that may not be served.
    wait_until(Duration::from_secs(15), || {
        let (mut agent, request) = (harness.client("agent"), stat(&expired, 0));
        async move {
            let Ok(answer) = agent.stat(request).await else { return Ok(false) };
            let answer = answer.into_inner();
            Ok(answer.artifact.unwrap().expired && answer.download_url.is_empty())
        }
    })
    .await
    .expect("an expired artifact gets no URL");
}

fn now_seconds() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// The content address of `bytes` under the harness's key prefix.
fn content_key(bytes: &[u8]) -> String {
    let hex = sha256(bytes);
    format!("artifacts/sha256/{}/{}/{hex}", &hex[..2], &hex[2..4])
}

/// Puts `bytes` at their content address straight into the store, as an
/// upload that promoted them and died before recording them leaves them.
async fn orphan_of(harness: &Harness, bytes: &bytes::Bytes) -> String {
    let key = content_key(bytes);
    let chunks = futures::stream::iter([Ok::<_, gantry_storage::BoxError>(bytes.clone())]).boxed();
    harness.store.put(&key, chunks).await.expect("the orphan's bytes");
    key
}

const DELETION: [&str; 2] = ["artifact.blob_deletion_started.v1", "artifact.blob_deleted.v1"];

/// Waits until the deletion of the blob of `bytes` is recorded.
async fn deleted(harness: &Harness, bytes: &[u8]) {
    let sha256 = sha256(bytes);
    wait_until(Duration::from_secs(15), || async {
        Ok(crate::helpers::blob_history(harness, &sha256).await == DELETION)
    })
    .await
    .expect("the orphan's deletion is recorded");
}

pub(crate) async fn an_orphan_blob_a_crash_left_is_deleted_at_start_up(harness: &mut Harness) {
    let mut agent = harness.client("agent");
    let kept = content(30, 40_000);
    let stored = upload(&mut agent, header("run-1", "kept"), &kept).await.unwrap();
    let orphan = content(31, 30_000);
    let orphan_key = orphan_of(harness, &orphan).await;
    let events_before = harness.event_count().await;

    harness.restart_with("ingest.orphan_grace_s", 0).await;
    deleted(harness, &orphan).await;
    assert!(!harness.keys().await.contains(&orphan_key), "the orphan is deleted at start-up");
    assert_eq!(harness.event_count().await, events_before + 2, "no event besides the deletion's");
    let (_, parked) = harness.view_snapshot().await;
    assert_eq!(parked, 0);
    assert_eq!(blobs(harness).await, [content_key(&kept)], "the stored artifact's blob is untouched");
    assert_eq!(crate::helpers::blob_history(harness, &sha256(&kept)).await, ["artifact.stored.v1"]);
    let mut agent = harness.client("agent");
    let listing = ListRequest { tenant: "acme".into(), include_expired: true, ..ListRequest::default() };
    let listed = agent.list(listing).await.unwrap().into_inner().artifacts;
    assert_eq!(listed.len(), 1, "no artifact for the orphan");
    let artifact_id = stored.artifact.unwrap().artifact_id;
    let (_, back) = download(&mut agent, &artifact_id, 0, 0, stored.sequence).await.expect("still served");
    assert!(back == kept);

    // The same content uploaded now is stored afresh, and then no orphan.
    let again = upload(&mut agent, header("run-2", "again"), &orphan).await.unwrap();
    assert!(!again.already_stored);
    harness.restart().await;
    stays(Duration::from_secs(1), || async { harness.keys().await.contains(&orphan_key) }).await;
    let mut history = DELETION.to_vec();
    history.push("artifact.stored.v1");
    assert_eq!(crate::helpers::blob_history(harness, &sha256(&orphan)).await, history);
}

pub(crate) async fn a_young_orphan_is_kept_until_its_grace_passed(harness: &mut Harness) {
    harness.set("ingest.orphan_sweep_interval_ms", 100);
    harness.restart_with("ingest.orphan_grace_s", 3).await;
    let mut agent = harness.client("agent");
    let kept = content(32, 20_000);
    upload(&mut agent, header("run-1", "kept"), &kept).await.unwrap();
    let orphan = content(33, 25_000);
    let orphan_key = orphan_of(harness, &orphan).await;
    // Sweeps run every 100 ms; an upload may be about to record these bytes.
    stays(Duration::from_secs(1), || async { harness.keys().await.contains(&orphan_key) }).await;
    assert!(crate::helpers::blob_history(harness, &sha256(&orphan)).await.is_empty());

    deleted(harness, &orphan).await;
    assert!(!harness.keys().await.contains(&orphan_key), "deleted by a periodic sweep once past its grace");
    assert_eq!(blobs(harness).await, [content_key(&kept)], "the stored artifact's blob is untouched");
    assert_eq!(crate::helpers::blob_history(harness, &sha256(&kept)).await, ["artifact.stored.v1"]);
}

pub(crate) async fn bytes_put_back_after_their_deletion_are_an_orphan_too(harness: &mut Harness) {
    let bytes = content(34, 20_000);
    crate::helpers::expired_artifact(harness, "old", &bytes).await;
    let retired = ["artifact.stored.v1", "artifact.expired.v1", DELETION[0], DELETION[1]];
    let digest = sha256(&bytes);
    wait_until(Duration::from_secs(15), || async {
        Ok(crate::helpers::blob_history(harness, &digest).await == retired)
    })
    .await
    .expect("the retention sweeper deletes the blob");
    // An upload that promoted the same bytes since and died before recording them.
    let key = orphan_of(harness, &bytes).await;
    harness.restart_with("ingest.orphan_grace_s", 0).await;
    let mut history = retired.to_vec();
    history.extend(DELETION);
    wait_until(Duration::from_secs(15), || async {
        Ok(crate::helpers::blob_history(harness, &digest).await == history)
    })
    .await
    .expect("the orphan sweep deletes them again");
    assert!(!harness.keys().await.contains(&key));
}

pub(crate) async fn an_upload_that_died_between_promote_and_record_leaves_nothing_after_a_restart(
    harness: &mut Harness,
) {
    let mut agent = harness.client("agent");
    let kept = content(35, 30_000);
    upload(&mut agent, header("run-1", "kept"), &kept).await.unwrap();
    // The log "down" between promote and record: the bytes are at their address, no event.
    harness.restart_with("ingest.fail_before_record", true).await;
    let mut agent = harness.client("agent");
    let lost = content(36, 6 * MIB + 7);
    let failed = upload(&mut agent, header("run-1", "lost"), &lost).await.expect_err("not recorded");
    assert_eq!(failed.code(), Code::Unavailable);
    assert!(harness.keys().await.contains(&content_key(&lost)), "promoted, then nothing");
    assert!(crate::helpers::blob_history(harness, &sha256(&lost)).await.is_empty());

    harness.set("ingest.fail_before_record", false);
    harness.restart_with("ingest.orphan_grace_s", 0).await;
    deleted(harness, &lost).await;
    assert_eq!(blobs(harness).await, [content_key(&kept)], "no blob of the lost upload, the stored one untouched");
    assert_eq!(crate::helpers::blob_history(harness, &sha256(&kept)).await, ["artifact.stored.v1"]);
    harness.view_snapshot().await;
    let mut agent = harness.client("agent");
    let listing = ListRequest { tenant: "acme".into(), include_expired: true, ..ListRequest::default() };
    let names: Vec<String> =
        agent.list(listing).await.unwrap().into_inner().artifacts.into_iter().map(|artifact| artifact.name).collect();
    assert_eq!(names, ["kept"], "no artifact of the lost upload");
}
