//! `Download`: an artifact's bytes, whole or a byte range, streamed from
//! its blob as they are read. A blob recorded corrupted is refused with
//! DATA_LOSS; a whole download is also hashed on its way out, and bytes
//! that do not match their content address (or a missing blob) end the
//! stream with DATA_LOSS and are recorded as a corrupted blob.

use crate::api::IngestApi;
use crate::digest::Digests;
use crate::error::IngestError;
use crate::header::artifact_id;
use crate::integrity::Damage;
use crate::view::ArtifactRow;
use futures::{Stream, StreamExt};
use gantry_proto::artifacts::{DownloadHeader, DownloadRequest, DownloadResponse, download_response::Message};
use gantry_proto::types::Principal;
use gantry_service::api::{ApiError, Checks};
use gantry_storage::{Blob, ByteRange, StorageError};
use std::pin::Pin;
use tokio::sync::mpsc;
use tonic::Status;

/// The messages of one download.
pub(crate) type DownloadStream = Pin<Box<dyn Stream<Item = Result<DownloadResponse, Status>> + Send>>;

/// Returns the `(offset, length)` a request covers in `size` bytes.
fn covered(offset: u64, length: u64, size: u64) -> Result<(u64, u64), IngestError> {
    if offset > size || (offset == size && size > 0) {
        return Err(IngestError::OutOfRange(format!("offset {offset} is past the end of the artifact ({size} bytes)")));
    }
    let available = size - offset;
    Ok((offset, if length == 0 { available } else { length.min(available) }))
}

impl IngestApi {
    /// Starts a download; see the module docs.
    pub(crate) async fn download(
        &self,
        caller: Principal,
        request: DownloadRequest,
    ) -> Result<DownloadStream, IngestError> {
        let mut checks = Checks::default();
        let id = checks.take(artifact_id("artifact_id", &request.artifact_id));
        checks.finish()?;
        let row = self.readable(&caller, id.expect("checked"), request.min_sequence).await?;
        let id = row.artifact_id;
        if row.expired {
            return Err(ApiError::FailedPrecondition(format!("artifact {id} expired; its bytes are gone")).into());
        }
        match row.blob_status.as_str() {
            "corrupted" => {
                return Err(IngestError::DataLoss(format!(
                    "the content of artifact {id} is corrupted ({}); an upload of the same bytes repairs it",
                    row.blob_detail
                )));
            }
            "deleting" | "deleted" => {
                return Err(ApiError::FailedPrecondition(format!("the content of artifact {id} was deleted")).into());
            }
            _ => {}
        }
        let size = row.size_bytes as u64;
        let (offset, length) = covered(request.offset, request.length, size)?;
        let whole = offset == 0 && length == size;
        let range = (!whole).then(|| ByteRange::inclusive(offset, offset + length - 1));
        let store = self.backends.named(&row.storage_backend)?.store().await?;
        let blob = match store.get(&row.storage_key, range).await {
            Ok(blob) => blob,
            Err(StorageError::NotFound { .. }) => {
                return Err(self.corrupted(&row, Damage::missing()).await);
            }
            Err(error) => return Err(error.into()),
        };
        if blob.size != size {
            let damage = Damage { actual_sha256: String::new(), actual_size: blob.size, detail: "size differs".into() };
            return Err(self.corrupted(&row, damage).await);
        }
        let header = DownloadHeader { artifact: Some(row.message()), offset, length };
        let (sender, receiver) = mpsc::channel(4);
        sender.try_send(Ok(DownloadResponse { message: Some(Message::Header(header)) })).expect("an empty channel");
        tokio::spawn(self.clone().send_bytes(row, blob, whole, sender));
        Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(receiver)))
    }

    /// Sends the blob's chunks; a whole download is checked against its
    /// content address at the end.
    async fn send_bytes(
        self,
        row: ArtifactRow,
        blob: Blob,
        whole: bool,
        sender: mpsc::Sender<Result<DownloadResponse, Status>>,
    ) {
        let mut digests = Digests::default();
        let mut chunks = blob.chunks;
        while let Some(chunk) = chunks.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(error) => {
                    let _ = sender.send(Err(IngestError::Storage(error).into())).await;
                    return;
                }
            };
            if whole {
                digests.update(&chunk);
            }
            if sender.send(Ok(DownloadResponse { message: Some(Message::Chunk(chunk)) })).await.is_err() {
                return;
            }
        }
        let digested = digests.finish();
        if whole && (digested.sha256 != row.sha256 || digested.size != row.size_bytes as u64) {
            let damage =
                Damage { actual_sha256: digested.sha256, actual_size: digested.size, detail: "digest differs".into() };
            let _ = sender.send(Err(self.corrupted(&row, damage).await.into())).await;
        }
    }

    /// Records the blob of `row` corrupted and returns the caller's error.
    async fn corrupted(&self, row: &ArtifactRow, damage: Damage) -> IngestError {
        let detail = damage.detail.clone();
        self.record_corrupted(&row.blob(), damage).await;
        IngestError::DataLoss(format!(
            "the content of artifact {} is corrupted ({detail}); discard what was received",
            row.artifact_id
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::covered;

    #[test]
    fn ranges_are_cut_at_the_end_and_refused_past_it() {
        assert_eq!(covered(0, 0, 10).unwrap(), (0, 10));
        assert_eq!(covered(2, 3, 10).unwrap(), (2, 3));
        assert_eq!(covered(8, 100, 10).unwrap(), (8, 2));
        assert_eq!(covered(0, 0, 0).unwrap(), (0, 0));
        assert!(covered(10, 1, 10).is_err());
        assert!(covered(1, 0, 0).is_err());
    }
}
