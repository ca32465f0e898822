//! Ingest against the real things: ingest in-process on a test's own
//! stream and schema, the local Postgres and NATS JetStream, and one
//! suite of behaviours ([`suite`]) run twice, on the filesystem backend
//! (a temporary directory) and on S3 (a bucket of its own on the AWS API
//! emulator, `GANTRY_TEST_AWS_ENDPOINT`, credentials from the environment
//! as `scripts/test.sh` exports them). Only the configuration differs.

mod helpers;
mod routing;
mod runs;
mod suite;

/// Declares one test per behaviour for each backend.
macro_rules! on_both_backends {
    ($($module:ident :: $behaviour:ident),* $(,)?) => {
        mod filesystem {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $behaviour() {
                    crate::run(crate::helpers::Kind::Filesystem, crate::$module::$behaviour).await;
                }
            )*
        }
        mod s3 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $behaviour() {
                    crate::run(crate::helpers::Kind::S3, crate::$module::$behaviour).await;
                }
            )*
        }
    };
}

/// Runs `behaviour` on a fresh harness and cleans up even if it panics.
async fn run(kind: helpers::Kind, behaviour: impl AsyncFnOnce(&mut helpers::Harness)) {
    use futures::FutureExt;
    let mut harness = helpers::Harness::start(kind).await;
    let outcome = std::panic::AssertUnwindSafe(behaviour(&mut harness)).catch_unwind().await;
    harness.cleanup().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

on_both_backends!(
    suite::uploads_round_trip_whole_and_by_range,
    suite::the_same_bytes_are_stored_once,
    suite::an_expected_size_or_digest_mismatch_stores_nothing,
    suite::a_stream_cut_off_by_the_client_stores_nothing,
    suite::lineage_inputs_must_exist_in_the_tenant,
    suite::tenants_see_only_their_own_artifacts,
    suite::listings_page_newest_first_by_run_and_name,
    suite::bad_input_names_every_field,
    suite::a_corrupted_blob_is_caught_and_repaired_by_an_upload,
    suite::staged_leftovers_are_removed_at_start_up,
    suite::an_orphan_blob_a_crash_left_is_deleted_at_start_up,
    suite::a_young_orphan_is_kept_until_its_grace_passed,
    suite::bytes_put_back_after_their_deletion_are_an_orphan_too,
    suite::an_upload_that_died_between_promote_and_record_leaves_nothing_after_a_restart,
    suite::verify_reads_every_blob_and_records_what_it_found,
    suite::retention_expires_artifacts_and_deletes_blobs_nothing_refers_to,
    suite::an_upload_racing_the_sweeper_keeps_its_bytes,
    suite::a_view_rebuilt_from_the_log_is_the_same,
    suite::stat_hands_out_a_presigned_url_for_blobs_on_s3_only,
    routing::a_pinned_tenant_never_writes_a_byte_elsewhere,
    routing::routes_pick_by_retention_and_agent_and_dedupe_per_backend,
    routing::a_routing_rule_against_a_pin_is_refused_at_start,
    routing::the_sweeper_deletes_unreferenced_blobs_on_every_backend,
    routing::orphans_are_swept_on_every_backend,
    runs::a_runs_layout_is_written_from_its_events,
    runs::run_and_step_ids_become_one_key_segment_each,
    runs::a_completion_whose_caller_died_still_gets_its_layout,
);

/// Returns a field of `/proc/self/status` in KiB (`VmRSS`, `VmHWM`).
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status.lines().find(|line| line.starts_with(field)).expect("the field");
    line.split_whitespace().nth(1).and_then(|kib| kib.parse().ok()).expect("a size in kB")
}

/// More than 1 GiB through a client and ingest in this one process: the
/// peak resident memory grows by a few chunks' worth, not by the artifact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gibibyte_upload_keeps_memory_flat() {
    run(helpers::Kind::Filesystem, async |harness: &mut helpers::Harness| {
        use sha2::Digest as _;
        const CHUNK: usize = 256 * 1024;
        const CHUNKS: usize = 4 * 1024 + 3;
        let mut agent = harness.client("agent");
        // Warm up the connection, the view and the allocator.
        helpers::upload(&mut agent, helpers::header("warm", "up"), &helpers::content(1, 4 * CHUNK)).await.unwrap();
        // Reset the peak (VmHWM) to the resident size now.
        std::fs::write("/proc/self/clear_refs", "5").expect("the peak can be reset");
        let before_kib = status_kib("VmRSS:");
        let chunk = helpers::content(2, CHUNK);
        let mut expected = sha2::Sha256::new();
        for _ in 0..CHUNKS {
            expected.update(&chunk);
        }
        let header = gantry_proto::artifacts::UploadRequest {
            message: Some(gantry_proto::artifacts::upload_request::Message::Header(helpers::header("big", "big.bin"))),
        };
        let chunks = std::iter::repeat_n(chunk, CHUNKS).map(|chunk| gantry_proto::artifacts::UploadRequest {
            message: Some(gantry_proto::artifacts::upload_request::Message::Chunk(chunk)),
        });
        let messages = futures::stream::iter(std::iter::once(header).chain(chunks));
        let started = std::time::Instant::now();
        let stored = agent.upload(messages).await.expect("the big upload").into_inner();
        let elapsed = started.elapsed();
        let artifact = stored.artifact.unwrap();
        assert_eq!(artifact.size_bytes, (CHUNK * CHUNKS) as u64);
        assert_eq!(artifact.sha256, hex::encode(expected.finalize()));
        let grown_mib = status_kib("VmHWM:").saturating_sub(before_kib) / 1024;
        eprintln!(
            "uploaded {} MiB in {elapsed:?}; peak resident memory grew by {grown_mib} MiB",
            artifact.size_bytes >> 20
        );
        assert!(grown_mib < 64, "the peak resident memory grew by {grown_mib} MiB for a 1 GiB upload");
    })
    .await;
}
