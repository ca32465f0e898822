//! Put: one `PutObject` for a blob up to the multipart threshold, a
//! multipart upload above it. The first bytes are held until the
//! threshold is crossed (or the input ends), then parts are cut from the
//! input as it arrives.

use super::S3Store;
use super::errors::classify;
use super::multipart::{Multipart, Target};
use crate::{InputStream, PutOutcome, StorageError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedPart};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use std::sync::Arc;

/// Sets the storage class and server-side encryption of the settings on
/// a request that makes an object (PutObject, CreateMultipartUpload, CopyObject).
macro_rules! with_object_settings {
    ($request:expr, $settings:expr) => {{
        let settings: &$crate::s3::S3Settings = $settings;
        let (encryption, kms_key) = match &settings.server_side_encryption {
            $crate::s3::ServerSideEncryption::None => (None, None),
            $crate::s3::ServerSideEncryption::Aes256 => (Some(aws_sdk_s3::types::ServerSideEncryption::Aes256), None),
            $crate::s3::ServerSideEncryption::Kms { key_id } => {
                (Some(aws_sdk_s3::types::ServerSideEncryption::AwsKms), key_id.clone())
            }
        };
        $request
            .set_storage_class(settings.storage_class.as_deref().map(aws_sdk_s3::types::StorageClass::from))
            .set_server_side_encryption(encryption)
            .set_ssekms_key_id(kms_key)
    }};
}
pub(super) use with_object_settings;

/// Stores the chunks as the object `object_key`.
pub(super) async fn put(
    store: &S3Store,
    object_key: &str,
    mut chunks: InputStream<'_>,
) -> Result<PutOutcome, StorageError> {
    let threshold = store.settings.multipart_threshold_bytes;
    let mut buffer = BytesMut::new();
    while buffer.len() as u64 <= threshold {
        match chunks.next().await {
            None => return put_whole(store, object_key, buffer.freeze()).await,
            Some(chunk) => buffer.extend_from_slice(&chunk.map_err(StorageError::Input)?),
        }
    }
    let mut upload = Multipart::create(store, object_key).await?;
    let cutter = PartCutter { carry: buffer.freeze(), chunks, ended: false };
    match feed_parts(store, &mut upload, cutter).await {
        Ok(size) => upload.complete().await.map(|()| PutOutcome { size }),
        Err(error) => {
            upload.abort().await;
            Err(error)
        }
    }
}

async fn put_whole(store: &S3Store, object_key: &str, bytes: Bytes) -> Result<PutOutcome, StorageError> {
    let size = bytes.len() as u64;
    let settings = &store.settings;
    let request = store.client.put_object().bucket(&settings.bucket).key(object_key);
    with_object_settings!(request, settings)
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .content_length(size as i64)
        .body(ByteStream::from(bytes))
        .send()
        .await
        .map_err(classify("PutObject"))?;
    Ok(PutOutcome { size })
}

/// Starts a part for each piece the cutter cuts; returns the blob's size.
async fn feed_parts(store: &S3Store, upload: &mut Multipart, mut cutter: PartCutter<'_>) -> Result<u64, StorageError> {
    let mut size = 0u64;
    for number in 1..=super::MAX_PARTS {
        let part_size = store.settings.part_size(number) as usize;
        let Some(body) = cutter.next_part(part_size).await? else { return Ok(size) };
        size += body.len() as u64;
        upload.spawn_part(|target| upload_part(target, number as i32, body)).await?;
    }
    match cutter.next_part(1).await? {
        None => Ok(size),
        Some(_) => Err(StorageError::Other("blob needs more than 10,000 parts".into())),
    }
}

/// Cuts the input into parts of a given size, holding at most one part
/// and one input chunk.
struct PartCutter<'a> {
    /// Input received but not yet in a part.
    carry: Bytes,
    chunks: InputStream<'a>,
    ended: bool,
}

impl PartCutter<'_> {
    /// Returns the next `part_size` bytes (fewer at the end; `None` once all is cut).
    async fn next_part(&mut self, part_size: usize) -> Result<Option<Bytes>, StorageError> {
        if self.carry.len() >= part_size {
            return Ok(Some(self.carry.split_to(part_size)));
        }
        let mut part = BytesMut::with_capacity(part_size);
        loop {
            let wanted = (part_size - part.len()).min(self.carry.len());
            part.extend_from_slice(&self.carry.split_to(wanted));
            if part.len() == part_size || self.ended {
                break;
            }
            match self.chunks.next().await {
                None => self.ended = true,
                Some(chunk) => self.carry = chunk.map_err(StorageError::Input)?,
            }
        }
        Ok((!part.is_empty()).then(|| part.freeze()))
    }
}

async fn upload_part(target: Arc<Target>, number: i32, body: Bytes) -> Result<CompletedPart, StorageError> {
    let output = target
        .client
        .upload_part()
        .bucket(&target.bucket)
        .key(&target.key)
        .upload_id(&target.upload_id)
        .part_number(number)
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .content_length(body.len() as i64)
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(classify("UploadPart"))?;
    Ok(CompletedPart::builder()
        .part_number(number)
        .set_e_tag(output.e_tag)
        .set_checksum_sha256(output.checksum_sha256)
        .build())
}
