//! Staged uploads: an upload's bytes go to a staging key of their own
//! until they are verified. [`Staged`] removes them on every way out but
//! promotion (also when the call is dropped, as when the client resets
//! the stream), and [`clean`] removes what a crash left at start-up.

use crate::backend::Backend;
use gantry_storage::{Page, SharedStore, StorageError};
use std::time::SystemTime;

/// An upload's staging key, removed unless promoted.
#[derive(Debug)]
pub(crate) struct Staged {
    store: SharedStore,
    key: String,
    armed: bool,
}

impl Staged {
    /// A staging key of `store`, not written yet.
    pub(crate) fn new(store: SharedStore, key: String) -> Self {
        Self { store, key, armed: true }
    }

    /// Returns the staging key.
    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    /// Moves the staged bytes to `final_key`.
    pub(crate) async fn promote(mut self, final_key: &str) -> Result<(), StorageError> {
        self.store.promote(&self.key, final_key).await?;
        self.armed = false;
        Ok(())
    }

    /// Removes the staged bytes now (what is left on a failure is removed
    /// at the next start-up).
    pub(crate) async fn discard(mut self) {
        self.armed = false;
        if let Err(error) = self.store.delete(&self.key).await {
            tracing::warn!(key = %self.key, error = %error, "a staged upload could not be removed");
        }
    }
}

impl Drop for Staged {
    /// Removes the staged bytes in the background when the upload ended
    /// any other way (an error, or the call dropped).
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let (store, key) = (self.store.clone(), std::mem::take(&mut self.key));
        runtime.spawn(async move {
            if let Err(error) = store.delete(&key).await {
                tracing::warn!(key = %key, error = %error, "a staged upload could not be removed");
            }
        });
    }
}

/// Removes the staged uploads begun before `before` (what a crash or a
/// lost client left); returns how many.
pub(crate) async fn clean(backend: &Backend, before: SystemTime) -> Result<usize, StorageError> {
    let store = backend.store().await?;
    let (layout, prefix) = (backend.layout(), backend.layout().staging_prefix());
    let mut page = Page::first(gantry_storage::MAX_PAGE);
    let mut removed = 0;
    loop {
        let listing = store.list(&prefix, page.clone()).await?;
        for key in &listing.keys {
            if layout.staged_at(key).is_some_and(|began| began < before) {
                store.delete(key).await?;
                removed += 1;
            }
        }
        match listing.next {
            Some(token) => page.token = Some(token),
            None => return Ok(removed),
        }
    }
}
