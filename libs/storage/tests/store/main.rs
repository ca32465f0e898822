//! One suite of behaviours ([`suite`]) run against both backends: each
//! backend module makes a fixture per test (a temporary directory, or a
//! bucket with a random name on the S3 emulator), runs the behaviour on
//! `&dyn BlobStore`, and cleans up even when the behaviour panics. Each
//! backend module adds the checks only it can make.
//!
//! The S3 tests need the emulator on loopback (`GANTRY_TEST_AWS_ENDPOINT`,
//! default `http://127.0.0.1:5000`) and `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY` and `AWS_EC2_METADATA_DISABLED=true` in the
//! environment; they refuse to run otherwise.

mod fs;
mod helpers;
mod s3;
mod suite;

/// Declares one test per behaviour of the suite, for the `Fixture` of the
/// module it is used in (`Fixture::new`, `store`, `cleanup`).
macro_rules! behaviours {
    ($($behaviour:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $behaviour() {
                use futures::FutureExt;
                let fixture = Fixture::new().await;
                let outcome = std::panic::AssertUnwindSafe(crate::suite::$behaviour(fixture.store()))
                    .catch_unwind()
                    .await;
                fixture.cleanup().await;
                if let Err(panic) = outcome {
                    std::panic::resume_unwind(panic);
                }
            }
        )*
    };
}

/// Declares the whole suite for a backend.
macro_rules! whole_suite {
    () => {
        crate::behaviours!(
            small_blobs_round_trip,
            multipart_sized_blobs_round_trip,
            ranges_read_like_http,
            head_tells_size_or_absence,
            head_tells_when_a_blob_was_written_or_promoted,
            delete_twice_succeeds,
            put_replaces_whole,
            list_pages_through_a_prefix,
            failed_input_stores_nothing,
            failed_input_past_the_threshold_stores_nothing,
            staged_blobs_show_only_once_promoted,
            invalid_keys_are_refused,
            health_is_good,
        );
    };
}

pub(crate) use {behaviours, whole_suite};
