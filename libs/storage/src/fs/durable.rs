//! Durable writes: a temporary file that is removed unless persisted, and
//! directory fsyncs after a directory's entries change.

use super::io_error;
use crate::{InputStream, StorageError};
use futures::StreamExt;
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// A temporary file, removed when dropped unless persisted.
#[derive(Debug)]
pub(super) struct TempFile {
    path: PathBuf,
    file: Option<tokio::fs::File>,
}

impl TempFile {
    /// Creates a new, uniquely named file in `dir`.
    pub(super) async fn create(dir: &Path) -> Result<Self, StorageError> {
        let path = dir.join(uuid::Uuid::new_v4().simple().to_string());
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await
            .map_err(io_error("creating a temporary file"))?;
        Ok(Self { path, file: Some(file) })
    }

    /// Writes every chunk, then flushes the file to disk; returns the size.
    pub(super) async fn write_and_sync(&mut self, mut chunks: InputStream<'_>) -> Result<u64, StorageError> {
        let file = self.file.as_mut().expect("open until persisted");
        let mut size = 0u64;
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(StorageError::Input)?;
            file.write_all(&chunk).await.map_err(io_error("writing a temporary file"))?;
            size += chunk.len() as u64;
        }
        file.flush().await.map_err(io_error("writing a temporary file"))?;
        file.sync_all().await.map_err(io_error("syncing a temporary file"))?;
        Ok(size)
    }

    /// Renames the file to `target` and syncs `target`'s directory.
    pub(super) async fn persist(mut self, target: &Path) -> Result<(), StorageError> {
        drop(self.file.take());
        tokio::fs::rename(&self.path, target).await.map_err(io_error("renaming a temporary file into place"))?;
        self.path = PathBuf::new();
        sync_parent(target).await
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            // Best effort: a leftover is only disk space under `.tmp`.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Fsyncs the directory that holds `path`, so a change of its entries is durable.
pub(super) async fn sync_parent(path: &Path) -> Result<(), StorageError> {
    let dir = path.parent().expect("a blob's path has a parent").to_owned();
    tokio::task::spawn_blocking(move || sync_dir(&dir))
        .await
        .map_err(|error| StorageError::Other(format!("syncing a directory: {error}")))?
        .map_err(io_error("syncing a directory"))
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Creates the directories between `root` and `target`'s parent, each
/// made durable by a sync of the directory that holds it.
pub(super) async fn create_parents(root: &Path, target: &Path) -> Result<(), StorageError> {
    let root = root.to_owned();
    let parent = target.parent().expect("a blob's path has a parent").to_owned();
    tokio::task::spawn_blocking(move || create_parents_blocking(&root, &parent))
        .await
        .map_err(|error| StorageError::Other(format!("creating directories: {error}")))?
        .map_err(io_error("creating directories"))
}

fn create_parents_blocking(root: &Path, parent: &Path) -> std::io::Result<()> {
    let relative = parent.strip_prefix(root).expect("a blob's path is under the root");
    let mut dir = root.to_path_buf();
    for component in relative.components() {
        let holder = dir.clone();
        dir.push(component);
        match std::fs::create_dir(&dir) {
            Ok(()) => sync_dir(&holder)?,
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}
