//! One multipart upload (of new bytes or of a copy): parts run as tasks,
//! at most `parts_in_flight` at once, and the upload is either completed
//! or aborted. On a failure the tasks still running are stopped and
//! awaited *before* the abort (an `UploadPart` that reaches S3 after the
//! abort fails anyway, and the emulator answers it with a 500). An upload
//! dropped half way (its caller went away), even while it was being
//! created, is aborted in the background.

use super::S3Store;
use super::errors::classify;
use crate::StorageError;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::create_multipart_upload::{CreateMultipartUploadError, CreateMultipartUploadOutput};
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use std::future::Future;
use std::sync::Arc;
use tokio::task::{JoinHandle, JoinSet};

/// Where the parts of one upload go.
#[derive(Debug)]
pub(super) struct Target {
    pub(super) client: Client,
    pub(super) bucket: String,
    pub(super) key: String,
    pub(super) upload_id: String,
}

/// A multipart upload in progress.
#[derive(Debug)]
pub(super) struct Multipart {
    target: Arc<Target>,
    tasks: JoinSet<Result<CompletedPart, StorageError>>,
    parts: Vec<CompletedPart>,
    parts_in_flight: usize,
    settled: bool,
}

impl Multipart {
    /// Starts an upload to `object_key`, with the store's object settings
    /// and SHA-256 checksums.
    pub(super) async fn create(store: &S3Store, object_key: &str) -> Result<Self, StorageError> {
        let settings = &store.settings;
        let request = super::upload::with_object_settings!(
            store.client.create_multipart_upload().bucket(&settings.bucket).key(object_key),
            settings
        )
        .checksum_algorithm(ChecksumAlgorithm::Sha256);
        let mut creating = Creating {
            request: Some(tokio::spawn(request.send())),
            client: store.client.clone(),
            bucket: settings.bucket.clone(),
            key: object_key.to_owned(),
        };
        let created = creating.request.as_mut().expect("just spawned").await;
        creating.request = None;
        let output = created
            .map_err(|error| StorageError::Other(format!("CreateMultipartUpload's task failed: {error}")))?
            .map_err(classify("CreateMultipartUpload"))?;
        let upload_id = output.upload_id.ok_or_else(|| StorageError::Other("S3 gave no upload id".into()))?;
        let target = Target {
            client: store.client.clone(),
            bucket: settings.bucket.clone(),
            key: object_key.to_owned(),
            upload_id,
        };
        Ok(Self {
            target: Arc::new(target),
            tasks: JoinSet::new(),
            parts: Vec::new(),
            parts_in_flight: settings.parts_in_flight,
            settled: false,
        })
    }

    /// Runs one part as a task, once fewer than `parts_in_flight` run.
    pub(super) async fn spawn_part<F, Fut>(&mut self, part: F) -> Result<(), StorageError>
    where
        F: FnOnce(Arc<Target>) -> Fut,
        Fut: Future<Output = Result<CompletedPart, StorageError>> + Send + 'static,
    {
        while self.tasks.len() >= self.parts_in_flight {
            self.collect_one().await?;
        }
        self.tasks.spawn(part(self.target.clone()));
        Ok(())
    }

    async fn collect_one(&mut self) -> Result<(), StorageError> {
        let Some(joined) = self.tasks.join_next().await else { return Ok(()) };
        let part = joined.map_err(|error| StorageError::Other(format!("an upload part's task failed: {error}")))??;
        self.parts.push(part);
        Ok(())
    }

    /// Waits for every part and completes the upload; aborts it on any failure.
    pub(super) async fn complete(mut self) -> Result<(), StorageError> {
        match self.complete_parts().await {
            Ok(()) => Ok(()),
            Err(error) => {
                self.abort().await;
                Err(error)
            }
        }
    }

    async fn complete_parts(&mut self) -> Result<(), StorageError> {
        while !self.tasks.is_empty() {
            self.collect_one().await?;
        }
        let mut parts = std::mem::take(&mut self.parts);
        parts.sort_by_key(|part| part.part_number);
        let target = &self.target;
        target
            .client
            .complete_multipart_upload()
            .bucket(&target.bucket)
            .key(&target.key)
            .upload_id(&target.upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .send()
            .await
            .map_err(classify("CompleteMultipartUpload"))?;
        self.settled = true;
        Ok(())
    }

    /// Stops the parts still running, then aborts the upload.
    pub(super) async fn abort(mut self) {
        self.tasks.shutdown().await;
        self.settled = true;
        abort_upload(self.target.clone()).await;
    }
}

impl Drop for Multipart {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let tasks = std::mem::take(&mut self.tasks);
        let target = self.target.clone();
        match tokio::runtime::Handle::try_current() {
            // The parts are stopped first, as in `abort`.
            Ok(runtime) => drop(runtime.spawn(async move {
                let mut tasks = tasks;
                tasks.shutdown().await;
                abort_upload(target).await;
            })),
            Err(_) => {
                tracing::warn!(upload_id = %target.upload_id, "a multipart upload dropped outside a runtime stays open")
            }
        }
    }
}

/// A `CreateMultipartUpload` under way, on a task of its own: if the put
/// is dropped before the answer arrives, the upload it makes is aborted.
#[derive(Debug)]
struct Creating {
    request: Option<JoinHandle<Result<CreateMultipartUploadOutput, SdkError<CreateMultipartUploadError>>>>,
    client: Client,
    bucket: String,
    key: String,
}

impl Drop for Creating {
    fn drop(&mut self) {
        let Some(request) = self.request.take() else { return };
        let (client, bucket, key) = (self.client.clone(), self.bucket.clone(), self.key.clone());
        drop(tokio::spawn(async move {
            if let Ok(Ok(CreateMultipartUploadOutput { upload_id: Some(upload_id), .. })) = request.await {
                abort_upload(Arc::new(Target { client, bucket, key, upload_id })).await;
            }
        }));
    }
}

/// Aborts the upload; a failure is logged (a bucket lifecycle rule that
/// aborts incomplete uploads is the backstop).
async fn abort_upload(target: Arc<Target>) {
    let aborted = target
        .client
        .abort_multipart_upload()
        .bucket(&target.bucket)
        .key(&target.key)
        .upload_id(&target.upload_id)
        .send()
        .await;
    if let Err(error) = aborted {
        let error = classify("AbortMultipartUpload")(error);
        tracing::warn!(upload_id = %target.upload_id, %error, "could not abort a multipart upload");
    }
}
