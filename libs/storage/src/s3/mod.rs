//! The S3 backend (AWS or any S3-compatible store): blobs are objects in
//! one bucket under an optional key prefix. Small blobs go up in one
//! `PutObject`, larger ones as multipart uploads with a bounded number
//! of parts in flight, aborted on any failure (`upload`, `multipart`);
//! promote is a server-side copy and a delete (`copy`). Uploads ask for
//! SHA-256 checksums. With an endpoint configured (an emulator, MinIO, …) the
//! client uses path-style addressing.
//!
//! What the emulator (moto 5.2) does differently from S3, as the tests
//! found or DESIGN.md lists: it needs path-style addressing; it stores the
//! SDK's SHA-256 of a `PutObject` but verifies no explicit checksum (so the
//! caller verifies its digests); a multipart object's checksum comes back
//! without S3's `-<parts>` suffix (tests only check that one is there); an
//! `UploadPart` after an abort answers 500, which is why parts still
//! running are stopped and awaited before an upload is aborted.

mod copy;
mod errors;
mod multipart;
mod settings;
mod upload;

pub use settings::{MAX_PART_BYTES, MAX_PARTS, MIN_PART_BYTES, S3Settings, ServerSideEncryption};

use crate::{Blob, BlobStore, ByteRange, ChunkStream, InputStream, Listing, Meta, Page, PutOutcome, StorageError, key};
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use errors::{classify, classify_object, failure};
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt, TryStreamExt};
use std::sync::Arc;

/// Blobs as objects in an S3 bucket.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    settings: Arc<S3Settings>,
}

impl S3Store {
    /// Connects with credentials from the standard AWS chain, over rustls
    /// with ring (nothing is sent until the first call).
    pub async fn connect(settings: S3Settings) -> Result<Self, StorageError> {
        use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
        let http =
            aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(http)
            .region(aws_config::Region::new(settings.region.clone()));
        if let Some(endpoint) = &settings.endpoint_url {
            loader = loader.endpoint_url(endpoint);
        }
        let config = loader.load().await;
        let s3_config =
            aws_sdk_s3::config::Builder::from(&config).force_path_style(settings.endpoint_url.is_some()).build();
        Self::with_client(Client::from_conf(s3_config), settings)
    }

    /// A store on a client made by the caller.
    pub fn with_client(client: Client, settings: S3Settings) -> Result<Self, StorageError> {
        if let Some(violation) = settings.violation() {
            return Err(StorageError::Other(violation));
        }
        Ok(Self { client, settings: Arc::new(settings) })
    }

    /// The SDK client, for tools and tests that look beneath the trait
    /// (multipart uploads left over, object checksums).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The settings in use.
    pub fn settings(&self) -> &S3Settings {
        &self.settings
    }

    /// The object key of a blob key (checked against the key rules).
    fn object_key(&self, key: &str) -> Result<String, StorageError> {
        key::check(key)?;
        Ok(self.prefixed(key))
    }

    fn prefixed(&self, key: &str) -> String {
        match self.settings.key_prefix.trim_end_matches('/') {
            "" => key.to_owned(),
            prefix => format!("{prefix}/{key}"),
        }
    }

    async fn open_blob(&self, key: &str, range: Option<ByteRange>) -> Result<Blob, StorageError> {
        let object_key = self.object_key(key)?;
        let mut request = self.client.get_object().bucket(&self.settings.bucket).key(&object_key);
        if let Some(range) = range {
            range.check_order()?;
            request = request.range(range.header());
        }
        let output = request.send().await.map_err(|error| {
            let failure = failure("GetObject", error);
            match range {
                Some(range) if failure.is_unsatisfiable_range() => range.unsatisfiable(None),
                _ if failure.is_missing_object() => StorageError::not_found(key),
                _ => failure.error,
            }
        })?;
        let len = output.content_length().unwrap_or_default().max(0) as u64;
        let (first, size) = match output.content_range() {
            Some(content_range) => parse_content_range(content_range)?,
            None => (0, len),
        };
        if range.is_some_and(|range| range.first != first) {
            return Err(StorageError::Other(format!("S3 GetObject answered bytes from {first}, not the range asked")));
        }
        Ok(Blob { size, first, len, chunks: body_chunks(output.body) })
    }

    async fn meta(&self, key: &str) -> Result<Option<Meta>, StorageError> {
        let object_key = self.object_key(key)?;
        match self.client.head_object().bucket(&self.settings.bucket).key(&object_key).send().await {
            Ok(output) => Ok(Some(Meta {
                size: output.content_length().unwrap_or_default().max(0) as u64,
                modified: output.last_modified().and_then(|modified| std::time::SystemTime::try_from(*modified).ok()),
            })),
            Err(error) => match failure("HeadObject", error) {
                failure if failure.is_missing_object() => Ok(None),
                failure => Err(failure.error),
            },
        }
    }

    async fn remove(&self, key: &str) -> Result<(), StorageError> {
        let object_key = self.object_key(key)?;
        let request = self.client.delete_object().bucket(&self.settings.bucket).key(&object_key);
        request.send().await.map_err(classify_object("DeleteObject", key))?;
        Ok(())
    }

    async fn list_page(&self, prefix: &str, page: Page) -> Result<Listing, StorageError> {
        key::check_prefix(prefix)?;
        let store_prefix = self.prefixed("");
        let output = self
            .client
            .list_objects_v2()
            .bucket(&self.settings.bucket)
            .prefix(format!("{store_prefix}{prefix}"))
            .set_continuation_token(page.token.clone())
            .max_keys(page.clamped_limit() as i32)
            .send()
            .await
            .map_err(classify("ListObjectsV2"))?;
        let keys = output
            .contents()
            .iter()
            .filter_map(|object| object.key()?.strip_prefix(&store_prefix).map(str::to_owned))
            .collect();
        let next = if output.is_truncated() == Some(true) { output.next_continuation_token } else { None };
        Ok(Listing { keys, next })
    }

    /// Signs a `GetObject` of `key` valid for `expires_in` (at most a week, SigV4's limit).
    async fn presign_get(&self, key: &str, expires_in: std::time::Duration) -> Result<Option<String>, StorageError> {
        let object_key = self.object_key(key)?;
        let config = aws_sdk_s3::presigning::PresigningConfig::expires_in(expires_in)
            .map_err(|error| StorageError::Other(format!("presigning for {expires_in:?}: {error}")))?;
        let request = self.client.get_object().bucket(&self.settings.bucket).key(&object_key);
        let presigned = request.presigned(config).await.map_err(classify("GetObject presigning"))?;
        Ok(Some(presigned.uri().to_owned()))
    }

    async fn check_bucket(&self) -> Result<(), StorageError> {
        self.client.head_bucket().bucket(&self.settings.bucket).send().await.map_err(|error| {
            let failure = failure("HeadBucket", error);
            match failure.status {
                Some(404) => StorageError::Other(format!("bucket {:?} does not exist", self.settings.bucket)),
                _ => failure.error,
            }
        })?;
        Ok(())
    }
}

/// Returns `(first, size)` of a `Content-Range: bytes first-last/size`.
fn parse_content_range(content_range: &str) -> Result<(u64, u64), StorageError> {
    let parsed = content_range.strip_prefix("bytes ").and_then(|rest| {
        let (span, size) = rest.split_once('/')?;
        let (first, _) = span.split_once('-')?;
        Some((first.parse().ok()?, size.parse().ok()?))
    });
    parsed.ok_or_else(|| StorageError::Other(format!("S3 GetObject: unreadable Content-Range {content_range:?}")))
}

/// The body of a GET as chunks; a broken connection is retryable.
fn body_chunks(body: ByteStream) -> ChunkStream {
    futures::stream::try_unfold(body, |mut body| async move {
        match body.next().await {
            None => Ok(None),
            Some(Ok(chunk)) => Ok(Some((chunk, body))),
            Some(Err(error)) => Err(StorageError::Unavailable(format!("S3 GetObject body: {error}"))),
        }
    })
    .into_stream()
    .boxed()
}

impl BlobStore for S3Store {
    fn put<'a>(&'a self, key: &'a str, chunks: InputStream<'a>) -> BoxFuture<'a, Result<PutOutcome, StorageError>> {
        async move { upload::put(self, &self.object_key(key)?, chunks).await }.boxed()
    }

    fn get<'a>(&'a self, key: &'a str, range: Option<ByteRange>) -> BoxFuture<'a, Result<Blob, StorageError>> {
        self.open_blob(key, range).boxed()
    }

    fn head<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Meta>, StorageError>> {
        self.meta(key).boxed()
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StorageError>> {
        self.remove(key).boxed()
    }

    fn list<'a>(&'a self, prefix: &'a str, page: Page) -> BoxFuture<'a, Result<Listing, StorageError>> {
        self.list_page(prefix, page).boxed()
    }

    fn promote<'a>(&'a self, staging: &'a str, final_key: &'a str) -> BoxFuture<'a, Result<(), StorageError>> {
        copy::promote(self, staging, final_key).boxed()
    }

    fn health(&self) -> BoxFuture<'_, Result<(), StorageError>> {
        self.check_bucket().boxed()
    }

    fn presigned_get<'a>(
        &'a self,
        key: &'a str,
        expires_in: std::time::Duration,
    ) -> BoxFuture<'a, Result<Option<String>, StorageError>> {
        self.presign_get(key, expires_in).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::parse_content_range;

    #[test]
    fn reads_content_ranges() {
        assert_eq!(parse_content_range("bytes 5-9/100").unwrap(), (5, 100));
        assert!(parse_content_range("bytes */100").is_err());
    }
}
