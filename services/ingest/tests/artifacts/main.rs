//! Ingest against the real things: ingest in-process on a test's own
//! stream and schema, the local Postgres and NATS JetStream, and one
//! suite of behaviours ([`suite`]) run twice, on the filesystem backend
//! (a temporary directory) and on S3 (a bucket of its own on the AWS API
//! emulator, `GANTRY_TEST_AWS_ENDPOINT`, credentials from the environment
//! as `scripts/test.sh` exports them). Only the configuration differs.

mod helpers;
mod suite;

/// Declares one test per behaviour for each backend.
macro_rules! on_both_backends {
    ($($behaviour:ident),* $(,)?) => {
        mod filesystem {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $behaviour() {
                    crate::run(crate::helpers::Kind::Filesystem, crate::suite::$behaviour).await;
                }
            )*
        }
        mod s3 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $behaviour() {
                    crate::run(crate::helpers::Kind::S3, crate::suite::$behaviour).await;
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
    uploads_round_trip_whole_and_by_range,
    the_same_bytes_are_stored_once,
    an_expected_size_or_digest_mismatch_stores_nothing,
    a_stream_cut_off_by_the_client_stores_nothing,
    lineage_inputs_must_exist_in_the_tenant,
    tenants_see_only_their_own_artifacts,
    listings_page_newest_first_by_run_and_name,
    bad_input_names_every_field,
    a_corrupted_blob_is_caught_and_repaired_by_an_upload,
    staged_leftovers_are_removed_at_start_up,
);
