//! The behaviours every backend has, on `&dyn BlobStore`. The S3 fixture
//! uses 5 MiB (S3's smallest) as threshold and part size, so an 11 MiB
//! blob goes up in three parts.

use crate::helpers::{MIB, blob, chunked, failing_after, list_all, read, sha256, streamed_sha256};
use gantry_storage::{BlobStore, ByteRange, StorageError};
use std::time::{Duration, SystemTime};

pub(crate) async fn small_blobs_round_trip(store: &dyn BlobStore) {
    let bytes = blob(1, 1000);
    let outcome = store.put("small/one", chunked(bytes.clone(), 7)).await.expect("put");
    assert_eq!(outcome.size, 1000);
    assert_eq!(read(store, "small/one", None).await.unwrap(), bytes);

    let empty = store.put("small/empty", chunked(bytes::Bytes::new(), 1)).await.expect("put empty");
    assert_eq!(empty.size, 0);
    assert_eq!(read(store, "small/empty", None).await.unwrap(), Vec::<u8>::new());
    assert_eq!(store.head("small/empty").await.unwrap().map(|meta| meta.size), Some(0));
    let ranged = store.get("small/empty", Some(ByteRange::inclusive(0, 0))).await;
    assert!(matches!(ranged, Err(StorageError::InvalidRange { .. })), "no byte of an empty blob: {ranged:?}");
}

pub(crate) async fn multipart_sized_blobs_round_trip(store: &dyn BlobStore) {
    let len = 11 * MIB + 3;
    let bytes = blob(2, len);
    let outcome = store.put("large/eleven", chunked(bytes.clone(), 64 * 1024 + 1)).await.expect("put");
    assert_eq!(outcome.size, len as u64);
    assert_eq!(store.head("large/eleven").await.unwrap().map(|meta| meta.size), Some(len as u64));
    assert_eq!(streamed_sha256(store, "large/eleven").await, (sha256(&bytes), len as u64));
}

pub(crate) async fn ranges_read_like_http(store: &dyn BlobStore) {
    let bytes = blob(3, 1000);
    store.put("ranged", chunked(bytes.clone(), 100)).await.expect("put");
    let cases = [
        (ByteRange::inclusive(0, 0), &bytes[0..1]),
        (ByteRange::inclusive(100, 199), &bytes[100..200]),
        (ByteRange::inclusive(999, 999), &bytes[999..]),
        (ByteRange::starting_at(990), &bytes[990..]),
        (ByteRange::inclusive(995, 5000), &bytes[995..]),
    ];
    for (range, expected) in cases {
        let blob = store.get("ranged", Some(range)).await.expect("ranged get");
        assert_eq!((blob.size, blob.first, blob.len), (1000, range.first, expected.len() as u64), "{range}");
        assert_eq!(read(store, "ranged", Some(range)).await.unwrap(), expected, "{range}");
    }
    for range in [ByteRange::inclusive(1000, 1000), ByteRange::starting_at(5000), ByteRange::inclusive(6, 5)] {
        let refused = store.get("ranged", Some(range)).await;
        assert!(matches!(refused, Err(StorageError::InvalidRange { .. })), "{range}: {refused:?}");
    }
    let missing = store.get("ranged-missing", Some(ByteRange::inclusive(0, 0))).await;
    assert!(matches!(missing, Err(StorageError::NotFound { .. })), "{missing:?}");
}

pub(crate) async fn head_tells_size_or_absence(store: &dyn BlobStore) {
    assert_eq!(store.head("head/blob").await.unwrap(), None);
    store.put("head/blob", chunked(blob(4, 4321), 1000)).await.expect("put");
    assert_eq!(store.head("head/blob").await.unwrap().map(|meta| meta.size), Some(4321));
    assert_eq!(store.head("head").await.unwrap(), None, "a prefix of a key is no blob");
}

pub(crate) async fn head_tells_when_a_blob_was_written_or_promoted(store: &dyn BlobStore) {
    // S3 keeps whole seconds: allow one either side.
    let second = Duration::from_secs(1);
    let before_put = SystemTime::now() - second;
    store.put("staging/when", chunked(blob(11, 1000), 500)).await.expect("put");
    let staged = store.head("staging/when").await.unwrap().and_then(|meta| meta.modified).expect("a time");
    assert!(staged >= before_put && staged <= SystemTime::now() + second, "{staged:?}");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let before_promote = SystemTime::now() - second;
    store.promote("staging/when", "sha256/aa/bb/when").await.expect("promote");
    let promoted = store.head("sha256/aa/bb/when").await.unwrap().and_then(|meta| meta.modified).expect("a time");
    assert!(promoted >= before_promote && promoted > staged, "promoting writes the key now: {promoted:?}");
}

pub(crate) async fn delete_twice_succeeds(store: &dyn BlobStore) {
    store.put("gone/blob", chunked(blob(5, 10), 10)).await.expect("put");
    store.delete("gone/blob").await.expect("first delete");
    assert_eq!(store.head("gone/blob").await.unwrap(), None);
    store.delete("gone/blob").await.expect("second delete");
    store.delete("never/there").await.expect("delete of a key never used");
    let read_back = store.get("gone/blob", None).await;
    assert!(matches!(read_back, Err(StorageError::NotFound { .. })), "{read_back:?}");
}

pub(crate) async fn put_replaces_whole(store: &dyn BlobStore) {
    store.put("replaced", chunked(blob(6, 5000), 512)).await.expect("first put");
    let second = blob(7, 300);
    store.put("replaced", chunked(second.clone(), 512)).await.expect("second put");
    assert_eq!(read(store, "replaced", None).await.unwrap(), second);
}

pub(crate) async fn list_pages_through_a_prefix(store: &dyn BlobStore) {
    let keys = ["list/a/1", "list/a/2", "list/a-b", "list/a/sub/3", "list/b", "list/c/d/e", "lisx", "other/1"];
    for key in keys {
        store.put(key, chunked(blob(8, 3), 3)).await.expect("put");
    }
    let mut under_list: Vec<_> =
        keys.iter().filter(|key| key.starts_with("list/")).map(|key| key.to_string()).collect();
    under_list.sort();
    let (listed, pages) = list_all(store, "list/", 2).await;
    assert_eq!(listed, under_list, "in byte order, across pages");
    assert!(pages >= 3, "{pages} pages of 2 for {} keys", under_list.len());

    let (partial, _) = list_all(store, "list/a", 2).await;
    assert_eq!(partial, ["list/a-b", "list/a/1", "list/a/2", "list/a/sub/3"]);
    let (everything, _) = list_all(store, "", 1000).await;
    assert_eq!(everything.len(), keys.len());
    let (nothing, _) = list_all(store, "nothing/", 10).await;
    assert!(nothing.is_empty());
}

pub(crate) async fn failed_input_stores_nothing(store: &dyn BlobStore) {
    let failed = store.put("failed/small", failing_after(100 * 1024)).await;
    assert!(matches!(failed, Err(StorageError::Input(_))), "{failed:?}");
    assert_eq!(store.head("failed/small").await.unwrap(), None);
    assert!(list_all(store, "", 1000).await.0.is_empty());
}

pub(crate) async fn failed_input_past_the_threshold_stores_nothing(store: &dyn BlobStore) {
    let failed = store.put("failed/large", failing_after(12 * MIB)).await;
    assert!(matches!(failed, Err(StorageError::Input(_))), "{failed:?}");
    assert_eq!(store.head("failed/large").await.unwrap(), None);
    assert!(list_all(store, "", 1000).await.0.is_empty());
}

pub(crate) async fn staged_blobs_show_only_once_promoted(store: &dyn BlobStore) {
    for (staging, final_key, len) in
        [("staging/u1", "sha256/ab/cd/small", 2000), ("staging/u2", "sha256/ef/01/large", 11 * MIB)]
    {
        let bytes = blob(10, len);
        store.put(staging, chunked(bytes.clone(), 64 * 1024)).await.expect("put staging");
        assert_eq!(store.head(final_key).await.unwrap(), None, "not visible before promote");
        assert!(list_all(store, "sha256/", 1000).await.0.iter().all(|key| key != final_key));
        store.promote(staging, final_key).await.expect("promote");
        assert_eq!(store.head(final_key).await.unwrap().map(|meta| meta.size), Some(len as u64));
        assert_eq!(store.head(staging).await.unwrap(), None, "staging gone");
        assert_eq!(streamed_sha256(store, final_key).await, (sha256(&bytes), len as u64));
    }
    let onto_itself = store.promote("sha256/ab/cd/small", "sha256/ab/cd/small").await;
    assert!(matches!(onto_itself, Err(StorageError::InvalidKey { .. })), "{onto_itself:?}");
    let again = store.promote("staging/u1", "sha256/ab/cd/small").await;
    assert!(matches!(again, Err(StorageError::NotFound { .. })), "{again:?}");

    store.put("staging/u3", chunked(blob(10, 2000), 500)).await.expect("put same bytes");
    store.promote("staging/u3", "sha256/ab/cd/small").await.expect("promote over the same blob");
    assert_eq!(list_all(store, "", 1000).await.0, ["sha256/ab/cd/small", "sha256/ef/01/large"]);
}

pub(crate) async fn invalid_keys_are_refused(store: &dyn BlobStore) {
    for key in ["../escape", "/absolute", "a//b", "a/", "", ".tmp/x", "a/../../b"] {
        let put = store.put(key, chunked(blob(11, 10), 10)).await;
        assert!(matches!(put, Err(StorageError::InvalidKey { .. })), "put {key:?}: {put:?}");
        assert!(matches!(store.get(key, None).await, Err(StorageError::InvalidKey { .. })), "get {key:?}");
        assert!(matches!(store.head(key).await, Err(StorageError::InvalidKey { .. })), "head {key:?}");
        assert!(matches!(store.delete(key).await, Err(StorageError::InvalidKey { .. })), "delete {key:?}");
    }
    let listed = store.list("../", gantry_storage::Page::first(10)).await;
    assert!(matches!(listed, Err(StorageError::InvalidKey { .. })), "{listed:?}");
    assert!(list_all(store, "", 1000).await.0.is_empty());
}

pub(crate) async fn health_is_good(store: &dyn BlobStore) {
    store.health().await.expect("healthy");
}
