//! Promote: a server-side copy of the staging object to the final key
//! (one `CopyObject` up to the copy threshold, a multipart copy above it),
//! then a delete of the staging object. The final key shows the blob only
//! once the copy completes; a crash after the copy leaves the staging
//! object for a retry or a delete to remove.

use super::errors::{classify, classify_object};
use super::multipart::{Multipart, Target};
use super::upload::with_object_settings;
use super::{MAX_PARTS, S3Store};
use crate::{BlobStore, StorageError};
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedPart};
use std::sync::Arc;

/// Moves the blob under `staging` to `final_key`.
pub(super) async fn promote(store: &S3Store, staging: &str, final_key: &str) -> Result<(), StorageError> {
    crate::key::check_promote(staging, final_key)?;
    let source_key = store.object_key(staging)?;
    let target_key = store.object_key(final_key)?;
    let size = store.head(staging).await?.ok_or_else(|| StorageError::not_found(staging))?.size;
    let source = copy_source(&store.settings.bucket, &source_key);
    if size <= store.settings.copy_threshold_bytes {
        copy_whole(store, &source, &target_key, staging).await?;
    } else {
        copy_in_parts(store, &source, &target_key, size).await?;
    }
    store.delete(staging).await
}

async fn copy_whole(store: &S3Store, source: &str, target_key: &str, staging: &str) -> Result<(), StorageError> {
    let settings = &store.settings;
    let request = store.client.copy_object().bucket(&settings.bucket).key(target_key).copy_source(source);
    with_object_settings!(request, settings)
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .send()
        .await
        .map_err(classify_object("CopyObject", staging))?;
    Ok(())
}

async fn copy_in_parts(store: &S3Store, source: &str, target_key: &str, size: u64) -> Result<(), StorageError> {
    let part_size = store.settings.copy_part_size_bytes.max(size.div_ceil(MAX_PARTS));
    let mut upload = Multipart::create(store, target_key).await?;
    let mut started = Ok(());
    for (index, first) in (0..size).step_by(part_size as usize).enumerate() {
        let last = (first + part_size).min(size) - 1;
        let (source, number) = (source.to_owned(), index as i32 + 1);
        started = upload.spawn_part(|target| copy_part(target, source, number, (first, last))).await;
        if started.is_err() {
            break;
        }
    }
    match started {
        Ok(()) => upload.complete().await,
        Err(error) => {
            upload.abort().await;
            Err(error)
        }
    }
}

async fn copy_part(
    target: Arc<Target>,
    source: String,
    number: i32,
    (first, last): (u64, u64),
) -> Result<CompletedPart, StorageError> {
    let output = target
        .client
        .upload_part_copy()
        .bucket(&target.bucket)
        .key(&target.key)
        .upload_id(&target.upload_id)
        .part_number(number)
        .copy_source(source)
        .copy_source_range(format!("bytes={first}-{last}"))
        .send()
        .await
        .map_err(classify("UploadPartCopy"))?;
    let result = output.copy_part_result.unwrap_or_else(|| aws_sdk_s3::types::CopyPartResult::builder().build());
    Ok(CompletedPart::builder()
        .part_number(number)
        .set_e_tag(result.e_tag)
        .set_checksum_sha256(result.checksum_sha256)
        .build())
}

/// The `x-amz-copy-source` of an object: `bucket/key`, the key
/// percent-encoded except for its slashes.
fn copy_source(bucket: &str, object_key: &str) -> String {
    let mut encoded = String::with_capacity(bucket.len() + object_key.len() + 1);
    encoded.push_str(bucket);
    encoded.push('/');
    for byte in object_key.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => encoded.push(byte as char),
            other => encoded.push_str(&format!("%{other:02X}")),
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::copy_source;

    #[test]
    fn encodes_all_but_slashes_and_unreserved() {
        assert_eq!(copy_source("b", "staging/a b+ü"), "b/staging/a%20b%2B%C3%BC");
    }
}
