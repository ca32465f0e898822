//! Listing: a walk of the tree in the byte order of whole keys, so pages
//! follow each other like S3's. Within a directory, entries are sorted by
//! their name, a subdirectory's name followed by `/`: every key below a
//! subdirectory then sorts exactly where the subdirectory does. Subtrees
//! that cannot hold a key of the prefix, or hold only keys at or before
//! the page token (the last key of the previous page), are skipped.

use super::io_error;
use crate::{Listing, Page, StorageError, key};
use std::path::{Path, PathBuf};

/// Lists one page of the keys under `root` that start with `prefix`.
pub(super) async fn list(root: PathBuf, prefix: &str, page: Page) -> Result<Listing, StorageError> {
    key::check_prefix(prefix)?;
    let limit = page.clamped_limit();
    let walk = Walk { prefix: prefix.to_owned(), after: page.token, wanted: limit + 1 };
    let mut keys = tokio::task::spawn_blocking(move || walk.run(&root))
        .await
        .map_err(|error| StorageError::Other(format!("listing blobs: {error}")))?
        .map_err(io_error("listing blobs"))?;
    let next = if keys.len() > limit {
        keys.truncate(limit);
        keys.last().cloned()
    } else {
        None
    };
    Ok(Listing { keys, next })
}

/// One page's walk.
struct Walk {
    prefix: String,
    after: Option<String>,
    wanted: usize,
}

impl Walk {
    fn run(&self, root: &Path) -> std::io::Result<Vec<String>> {
        let mut keys = Vec::new();
        self.visit(root, "", &mut keys)?;
        Ok(keys)
    }

    /// Visits the directory of keys starting with `relative` (`""` or ending in `/`).
    fn visit(&self, root: &Path, relative: &str, keys: &mut Vec<String>) -> std::io::Result<()> {
        for (name, is_dir) in sorted_entries(&root.join(relative))? {
            if keys.len() >= self.wanted {
                break;
            }
            let path = format!("{relative}{name}");
            if is_dir && self.may_hold_keys_of_page(&path) {
                self.visit(root, &path, keys)?;
            } else if !is_dir && self.is_on_page(&path) {
                keys.push(path);
            }
        }
        Ok(())
    }

    /// Whether the subtree of keys starting with `directory` (ends in `/`)
    /// may hold a key of the prefix after the token.
    fn may_hold_keys_of_page(&self, directory: &str) -> bool {
        let matches_prefix = directory.starts_with(&self.prefix) || self.prefix.starts_with(directory);
        let all_before_token =
            self.after.as_deref().is_some_and(|after| after > directory && !after.starts_with(directory));
        matches_prefix && !all_before_token
    }

    fn is_on_page(&self, key: &str) -> bool {
        key.starts_with(&self.prefix) && self.after.as_deref().is_none_or(|after| key > after)
    }
}

/// The entries of a directory (none if it is missing), a subdirectory's
/// name followed by `/`, in byte order; hidden entries (`.tmp`) and names
/// that are not UTF-8 (no key maps to them) are left out.
fn sorted_entries(dir: &Path) -> std::io::Result<Vec<(String, bool)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else { continue };
        if name.starts_with('.') {
            continue;
        }
        let is_dir = entry.file_type()?.is_dir();
        names.push(if is_dir { (format!("{name}/"), true) } else { (name, false) });
    }
    names.sort_unstable();
    Ok(names)
}
