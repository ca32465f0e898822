//! The local filesystem backend: the blob under key `a/b/c` is the file
//! `<root>/a/b/c`. Writes go to a temporary file under `<root>/.tmp` (the
//! same filesystem as the tree), are fsynced, renamed into place, and the
//! directory is fsynced, so a blob is either whole or absent, also after a
//! power loss. Reads are a file opened once (a concurrent replace does not
//! change what a reader sees) and seeked to the range's start.
//!
//! Empty directories are left behind by deletes: removing them would race
//! with a put creating a file inside.

mod durable;
mod list;

use crate::{Blob, BlobStore, ByteRange, ChunkStream, InputStream, Listing, Meta, Page, PutOutcome, StorageError, key};
use bytes::BytesMut;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt, TryStreamExt};
use std::io::{ErrorKind, SeekFrom};
use std::path::{Path, PathBuf};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// The directory of temporary files, under the root.
const TMP_DIR: &str = ".tmp";

/// The most bytes one read yields.
const READ_CHUNK_BYTES: usize = 256 * 1024;

/// Blobs as files under a root directory.
#[derive(Debug, Clone)]
pub struct FsStore {
    root: PathBuf,
}

/// Maps an I/O error to [`StorageError::Other`] with what was being done.
pub(crate) fn io_error(doing: &'static str) -> impl FnOnce(std::io::Error) -> StorageError {
    move |error| StorageError::Other(format!("{doing}: {error}"))
}

/// Whether an error means "nothing at this path".
fn is_absent(error: &std::io::Error) -> bool {
    matches!(error.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory)
}

impl FsStore {
    /// Opens the store at `root`, creating its directories if needed.
    pub async fn open(root: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let root = root.into();
        tokio::fs::create_dir_all(root.join(TMP_DIR)).await.map_err(io_error("creating the store's directories"))?;
        Ok(Self { root })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, key: &str) -> Result<PathBuf, StorageError> {
        key::check(key)?;
        Ok(self.root.join(key))
    }

    async fn put_chunks(&self, key: &str, chunks: InputStream<'_>) -> Result<PutOutcome, StorageError> {
        let target = self.path_of(key)?;
        let mut temp = durable::TempFile::create(&self.root.join(TMP_DIR)).await?;
        let size = temp.write_and_sync(chunks).await?;
        durable::create_parents(&self.root, &target).await?;
        temp.persist(&target).await?;
        Ok(PutOutcome { size })
    }

    async fn open_blob(&self, key: &str, range: Option<ByteRange>) -> Result<Blob, StorageError> {
        let path = self.path_of(key)?;
        if let Some(range) = range {
            range.check_order()?;
        }
        let mut file = match tokio::fs::File::open(&path).await {
            Ok(file) => file,
            Err(error) if is_absent(&error) => return Err(StorageError::not_found(key)),
            Err(error) => return Err(io_error("opening a blob")(error)),
        };
        let metadata = file.metadata().await.map_err(io_error("reading a blob's metadata"))?;
        if !metadata.is_file() {
            return Err(StorageError::not_found(key));
        }
        let size = metadata.len();
        let (first, len) = match range {
            Some(range) => range.resolve(size)?,
            None => (0, size),
        };
        file.seek(SeekFrom::Start(first)).await.map_err(io_error("seeking in a blob"))?;
        Ok(Blob { size, first, len, chunks: read_chunks(file, len) })
    }

    async fn meta(&self, key: &str) -> Result<Option<Meta>, StorageError> {
        let path = self.path_of(key)?;
        match tokio::fs::metadata(&path).await {
            Ok(metadata) if metadata.is_file() => {
                Ok(Some(Meta { size: metadata.len(), modified: metadata.modified().ok() }))
            }
            Ok(_) => Ok(None),
            Err(error) if is_absent(&error) => Ok(None),
            Err(error) => Err(io_error("reading a blob's metadata")(error)),
        }
    }

    async fn remove(&self, key: &str) -> Result<(), StorageError> {
        let path = self.path_of(key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => durable::sync_parent(&path).await,
            Err(error) if is_absent(&error) || error.kind() == ErrorKind::IsADirectory => Ok(()),
            Err(error) => Err(io_error("removing a blob")(error)),
        }
    }

    async fn rename_blob(&self, staging: &str, final_key: &str) -> Result<(), StorageError> {
        key::check_promote(staging, final_key)?;
        let source = self.path_of(staging)?;
        let target = self.path_of(final_key)?;
        if self.meta(staging).await?.is_none() {
            return Err(StorageError::not_found(staging));
        }
        // The blob is written under `final_key` now, not when it was staged.
        touch(source.clone()).await?;
        durable::create_parents(&self.root, &target).await?;
        tokio::fs::rename(&source, &target).await.map_err(io_error("renaming a staged blob"))?;
        durable::sync_parent(&target).await?;
        if source.parent() != target.parent() {
            durable::sync_parent(&source).await?;
        }
        Ok(())
    }

    async fn check_writable(&self) -> Result<(), StorageError> {
        let temp = durable::TempFile::create(&self.root.join(TMP_DIR)).await?;
        drop(temp);
        Ok(())
    }
}

/// Sets the modification time of the file at `path` to now.
async fn touch(path: PathBuf) -> Result<(), StorageError> {
    let touched = tokio::task::spawn_blocking(move || {
        std::fs::File::options().write(true).open(&path)?.set_modified(std::time::SystemTime::now())
    });
    touched
        .await
        .map_err(|error| StorageError::Other(format!("touching a staged blob: {error}")))?
        .map_err(io_error("touching a staged blob"))
}

/// Reads `len` bytes from the file's position, in chunks.
fn read_chunks(file: tokio::fs::File, len: u64) -> ChunkStream {
    futures::stream::try_unfold((file, len), |(mut file, remaining)| async move {
        if remaining == 0 {
            return Ok(None);
        }
        let want = remaining.min(READ_CHUNK_BYTES as u64) as usize;
        let mut buffer = BytesMut::zeroed(want);
        let read = file.read(&mut buffer).await.map_err(io_error("reading a blob"))?;
        if read == 0 {
            return Err(StorageError::Other("reading a blob: it ended early".into()));
        }
        buffer.truncate(read);
        Ok(Some((buffer.freeze(), (file, remaining - read as u64))))
    })
    .into_stream()
    .boxed()
}

impl BlobStore for FsStore {
    fn put<'a>(&'a self, key: &'a str, chunks: InputStream<'a>) -> BoxFuture<'a, Result<PutOutcome, StorageError>> {
        self.put_chunks(key, chunks).boxed()
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
        list::list(self.root.clone(), prefix, page).boxed()
    }

    fn promote<'a>(&'a self, staging: &'a str, final_key: &'a str) -> BoxFuture<'a, Result<(), StorageError>> {
        self.rename_blob(staging, final_key).boxed()
    }

    fn health(&self) -> BoxFuture<'_, Result<(), StorageError>> {
        self.check_writable().boxed()
    }
}
