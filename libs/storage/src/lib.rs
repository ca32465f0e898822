//! Blob storage for the artifact store (ingest, DESIGN.md): one trait,
//! [`BlobStore`], and two backends behind it, the local filesystem
//! ([`FsStore`], the default) and S3 or any S3-compatible store
//! ([`S3Store`]). Nothing above the trait sees a path, a bucket or an SDK
//! error: callers get [`StorageError`] and opaque page tokens.
//!
//! # Layout
//!
//! - [`error`]: the one error enum, by what a caller can do about it.
//! - [`key`]: which keys are valid (the same rules for every backend).
//! - [`range`]: inclusive byte ranges, resolved against a blob's size.
//! - [`fs`]: the filesystem backend.
//! - [`s3`]: the S3 backend and its settings.
//!
//! # Keys
//!
//! A key is `/`-separated segments, at most 1,024 bytes: no empty segment
//! (so no leading, trailing or doubled slash), no segment starting with a
//! dot (so no `.`, `..` or hidden names; the filesystem backend keeps its
//! temporary files under `.tmp`), no control characters. Both backends
//! refuse the same keys, so a key that works on one works on the other.
//! On the filesystem a key cannot also be the directory of another key
//! (`a` and `a/b`); content-addressed keys never are.
//!
//! # Visible only when complete: stage, then promote
//!
//! A blob is never visible under its key while it is being written:
//!
//! - [`BlobStore::put`] is atomic per key. The filesystem writes a
//!   temporary file under `<root>/.tmp` (same filesystem as the tree),
//!   fsyncs it, renames it into place and fsyncs the directory. S3 makes
//!   an object visible only when its `PutObject` or
//!   `CompleteMultipartUpload` succeeds; a failed or abandoned multipart
//!   upload is aborted and never becomes an object.
//! - The digest of an upload is known only at its end, so ingest cannot
//!   put under the final, content-addressed key directly. It puts under a
//!   staging key of its own, checks the digest and size, then calls
//!   [`BlobStore::promote`] (staging → final), or [`BlobStore::delete`] on a
//!   mismatch. On the filesystem promote is a `rename` (atomic, same
//!   filesystem) and a directory fsync. On S3 it is a server-side
//!   `CopyObject` (a multipart `UploadPartCopy` above the copy threshold,
//!   5 GiB by default, S3's limit for one copy) and then a delete of the
//!   staging object: the final key appears at once when the copy
//!   completes, and no bytes travel through Gantry again. A multipart
//!   upload cannot be completed under another key than it was started
//!   with, so "upload straight to the final key" is not possible when the
//!   key is the digest of the bytes.
//! - A crash between the copy and the delete leaves a staging object: the
//!   final key is complete, and promoting again (or deleting the staging
//!   key) finishes the job. Promoting a missing staging key is
//!   [`StorageError::NotFound`]; a caller that retries checks the final
//!   key with [`BlobStore::head`] first. Promote overwrites the final key
//!   (for content-addressed keys the bytes are the same).
//!
//! # Integrity
//!
//! S3 uploads ask for SHA-256 checksums (`ChecksumAlgorithm::Sha256`,
//! computed by the SDK per request and per part). The emulator used in
//! tests does not verify explicit checksums, so this crate guarantees no
//! digest: the caller hashes while streaming and verifies.
//!
//! # Memory
//!
//! [`BlobStore::put`] consumes its input chunk by chunk. The filesystem
//! holds one chunk at a time. S3 holds at most the multipart threshold
//! (to decide between one `PutObject` and a multipart upload) and then
//! `parts_in_flight + 1` parts. S3 allows 10,000 parts: the part size
//! doubles every 1,000 parts (capped at 5 GiB), so an upload of unknown
//! length never runs out of parts, at the price of larger buffers for
//! very large blobs (about 8 GiB of blob before the first doubling with
//! 8 MiB parts).

pub mod error;
pub mod fs;
pub mod key;
pub mod range;
pub mod s3;

pub use error::{BoxError, StorageError};
pub use fs::FsStore;
pub use range::ByteRange;
pub use s3::{S3Settings, S3Store, ServerSideEncryption};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use std::sync::Arc;

/// The chunks a caller puts: its own failure (a client that went away)
/// ends the put with [`StorageError::Input`] and stores nothing.
pub type InputStream<'a> = BoxStream<'a, Result<Bytes, BoxError>>;

/// The chunks of a blob as read back.
pub type ChunkStream = BoxStream<'static, Result<Bytes, StorageError>>;

/// What a successful put stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PutOutcome {
    /// Bytes stored.
    pub size: u64,
}

/// What is known about a stored blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// The blob's size in bytes.
    pub size: u64,
    /// When the blob was last written under its key (put, or promoted to
    /// it), if the backend tells: the file's modification time, which
    /// promote sets (a rename would keep the staged file's), or the
    /// object's `LastModified` (whole seconds; a copy sets it).
    pub modified: Option<std::time::SystemTime>,
}

/// A blob (or a range of it) being read.
pub struct Blob {
    /// The size of the whole blob.
    pub size: u64,
    /// Offset of the first byte the stream yields.
    pub first: u64,
    /// How many bytes the stream yields.
    pub len: u64,
    /// The bytes, in order.
    pub chunks: ChunkStream,
}

impl std::fmt::Debug for Blob {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Blob")
            .field("size", &self.size)
            .field("first", &self.first)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

/// Where a listing starts and how much of it to return.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// The token of the previous page's [`Listing::next`]; `None` for the first page.
    pub token: Option<String>,
    /// At most this many keys (clamped to 1..=1000; 0 means 1000).
    pub limit: usize,
}

/// One page of keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// Keys in byte order.
    pub keys: Vec<String>,
    /// Token of the next page, if there may be more keys.
    pub next: Option<String>,
}

/// The most keys one page returns (S3's own limit).
pub const MAX_PAGE: usize = 1000;

impl Page {
    /// The first page of at most `limit` keys.
    pub fn first(limit: usize) -> Self {
        Self { token: None, limit }
    }

    /// The limit clamped to 1..=[`MAX_PAGE`].
    pub(crate) fn clamped_limit(&self) -> usize {
        if self.limit == 0 { MAX_PAGE } else { self.limit.min(MAX_PAGE) }
    }
}

/// Storage of whole blobs under string keys (see the crate docs for the
/// key rules and the stage-then-promote protocol).
pub trait BlobStore: Send + Sync + std::fmt::Debug {
    /// Stores the chunks under `key`, replacing what was there; the blob is
    /// visible only once complete, and a failure stores nothing.
    fn put<'a>(&'a self, key: &'a str, chunks: InputStream<'a>) -> BoxFuture<'a, Result<PutOutcome, StorageError>>;

    /// Reads the blob under `key`, or the inclusive `range` of it.
    fn get<'a>(&'a self, key: &'a str, range: Option<ByteRange>) -> BoxFuture<'a, Result<Blob, StorageError>>;

    /// Returns the blob's metadata, `None` when there is no blob under `key`.
    fn head<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Meta>, StorageError>>;

    /// Removes the blob under `key`; a missing key is not an error.
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StorageError>>;

    /// Lists the keys that start with `prefix` (a string prefix, not only
    /// whole segments), one page at a time.
    fn list<'a>(&'a self, prefix: &'a str, page: Page) -> BoxFuture<'a, Result<Listing, StorageError>>;

    /// Moves the complete blob under `staging` to `final_key`, which shows
    /// it whole or not at all; `staging` is gone afterwards.
    fn promote<'a>(&'a self, staging: &'a str, final_key: &'a str) -> BoxFuture<'a, Result<(), StorageError>>;

    /// Checks that the store can be reached and used.
    fn health(&self) -> BoxFuture<'_, Result<(), StorageError>>;

    /// Returns a URL that reads the whole blob under `key` with a plain
    /// HTTP GET, valid for `expires_in`, or `None` when the backend cannot
    /// hand one out (the filesystem). Nothing is checked or sent: the URL
    /// is signed locally, and fails when used if there is no such blob.
    fn presigned_get<'a>(
        &'a self,
        key: &'a str,
        expires_in: std::time::Duration,
    ) -> BoxFuture<'a, Result<Option<String>, StorageError>> {
        let _ = (key, expires_in);
        Box::pin(async { Ok(None) })
    }
}

/// A shared store, cheap to clone.
pub type SharedStore = Arc<dyn BlobStore>;
