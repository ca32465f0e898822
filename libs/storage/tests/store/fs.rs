//! The suite on the filesystem backend, and what only it can show: temp
//! files cleaned up, a 64 MiB stream in constant memory.

use crate::helpers::{MIB, chunked, failing_after, generated, streamed_sha256};
use bytes::Bytes;
use futures::StreamExt;
use gantry_storage::{BlobStore, FsStore};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A store in a temporary directory of its own.
struct Fixture {
    dir: tempfile::TempDir,
    store: FsStore,
}

impl Fixture {
    async fn new() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = FsStore::open(dir.path().join("blobs")).await.expect("open");
        Self { dir, store }
    }

    fn store(&self) -> &dyn BlobStore {
        &self.store
    }

    /// Checks that no temporary file was left, then removes the directory.
    async fn cleanup(self) {
        let leftovers = std::fs::read_dir(self.dir.path().join("blobs/.tmp")).expect("tmp dir").count();
        let escaped: Vec<_> =
            std::fs::read_dir(self.dir.path()).unwrap().map(|entry| entry.unwrap().file_name()).collect();
        drop(self.dir);
        assert_eq!(leftovers, 0, "temporary files left behind");
        assert_eq!(escaped, ["blobs"], "nothing written outside the root");
    }
}

crate::whole_suite!();

/// Counts the bytes of chunks alive at once (made and not yet dropped).
#[derive(Debug, Default)]
struct LiveBytes {
    now: AtomicUsize,
    peak: AtomicUsize,
}

/// One generated chunk that gives its bytes back to the count when dropped.
struct CountedChunk {
    bytes: Vec<u8>,
    live: Arc<LiveBytes>,
}

impl AsRef<[u8]> for CountedChunk {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Drop for CountedChunk {
    fn drop(&mut self) {
        self.live.now.fetch_sub(self.bytes.len(), Ordering::SeqCst);
    }
}

/// `chunks` generated chunks of `chunk` bytes, made on demand and counted.
fn counted_generator(chunks: usize, chunk: usize, live: Arc<LiveBytes>) -> gantry_storage::InputStream<'static> {
    futures::stream::iter(0..chunks)
        .map(move |index| {
            let bytes = generated(42, (index * chunk) as u64, chunk);
            let now = live.now.fetch_add(bytes.len(), Ordering::SeqCst) + bytes.len();
            live.peak.fetch_max(now, Ordering::SeqCst);
            Ok(Bytes::from_owner(CountedChunk { bytes, live: live.clone() }))
        })
        .boxed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_64_mib_without_holding_it() {
    let fixture = Fixture::new().await;
    let (chunk, chunks) = (256 * 1024, 256);
    let expected = {
        let mut hasher = Sha256::new();
        (0..chunks).for_each(|index| hasher.update(generated(42, (index * chunk) as u64, chunk)));
        hex::encode(hasher.finalize())
    };
    let live = Arc::new(LiveBytes::default());
    let outcome = fixture.store.put("big", counted_generator(chunks, chunk, live.clone())).await.expect("put");
    assert_eq!(outcome.size, 64 * MIB as u64);
    let peak = live.peak.load(Ordering::SeqCst);
    assert!(peak <= 2 * chunk, "at most {peak} bytes of input alive at once");
    assert_eq!(live.now.load(Ordering::SeqCst), 0);
    assert_eq!(streamed_sha256(&fixture.store, "big").await, (expected, 64 * MIB as u64));
    fixture.cleanup().await;
}

#[tokio::test]
async fn a_dropped_put_leaves_no_temporary_file() {
    let fixture = Fixture::new().await;
    let never_ending = chunked(Bytes::from(vec![1u8; 4096]), 1024).chain(futures::stream::pending()).boxed();
    let put = fixture.store.put("dropped", never_ending);
    let timed_out = tokio::time::timeout(std::time::Duration::from_millis(200), put).await;
    assert!(timed_out.is_err(), "the put waits for more input");
    assert_eq!(fixture.store.head("dropped").await.unwrap(), None);
    let failed = fixture.store.put("failed", failing_after(MIB)).await;
    assert!(failed.is_err());
    fixture.cleanup().await;
}

#[tokio::test]
async fn blobs_are_files_under_the_root() {
    let fixture = Fixture::new().await;
    fixture.store.put("sha256/ab/cd/abcd", chunked(Bytes::from_static(b"hello"), 2)).await.expect("put");
    let path = fixture.dir.path().join("blobs/sha256/ab/cd/abcd");
    assert_eq!(std::fs::read(path).unwrap(), b"hello");
    fixture.cleanup().await;
}

#[tokio::test]
async fn files_have_no_presigned_urls() {
    let fixture = Fixture::new().await;
    fixture.store.put("a", chunked(Bytes::from_static(b"hello"), 2)).await.expect("put");
    let url = fixture.store.presigned_get("a", std::time::Duration::from_secs(60)).await.expect("no error");
    assert_eq!(url, None);
    fixture.cleanup().await;
}
