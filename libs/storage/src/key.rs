//! The key rules, the same for every backend (see the crate docs).

use crate::StorageError;

/// The longest key, in bytes (S3's limit).
pub const MAX_KEY_BYTES: usize = 1024;

/// Returns why `key` is not a valid key, if it is not.
pub fn violation(key: &str) -> Option<&'static str> {
    if key.is_empty() {
        return Some("empty");
    }
    if key.len() > MAX_KEY_BYTES {
        return Some("longer than 1024 bytes");
    }
    if key.starts_with('/') {
        return Some("absolute (leading slash)");
    }
    if key.chars().any(char::is_control) {
        return Some("control character");
    }
    key.split('/').find_map(segment_violation)
}

fn segment_violation(segment: &str) -> Option<&'static str> {
    if segment.is_empty() {
        Some("empty segment (doubled or trailing slash)")
    } else if segment == ".." || segment == "." {
        Some("relative segment (. or ..)")
    } else if segment.starts_with('.') {
        Some("segment starting with a dot")
    } else {
        None
    }
}

/// Checks `key` against the key rules.
pub(crate) fn check(key: &str) -> Result<(), StorageError> {
    match violation(key) {
        None => Ok(()),
        Some(reason) => Err(StorageError::InvalidKey { key: key.to_owned(), reason }),
    }
}

/// Checks the two keys of a promote (valid, and not the same).
pub(crate) fn check_promote(staging: &str, final_key: &str) -> Result<(), StorageError> {
    check(staging)?;
    check(final_key)?;
    if staging == final_key {
        return Err(StorageError::InvalidKey { key: final_key.to_owned(), reason: "promoted onto itself" });
    }
    Ok(())
}

/// Checks a listing prefix: empty, or a key, or a key followed by a slash.
pub(crate) fn check_prefix(prefix: &str) -> Result<(), StorageError> {
    let whole = prefix.strip_suffix('/').unwrap_or(prefix);
    match violation(whole) {
        Some(reason) if !prefix.is_empty() => Err(StorageError::InvalidKey { key: prefix.to_owned(), reason }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::violation;

    #[test]
    fn accepts_content_addressed_and_staging_keys() {
        assert_eq!(violation("artifacts/sha256/ab/cd/abcdef"), None);
        assert_eq!(violation("staging/0193-upload"), None);
        assert_eq!(violation("a b/ü.bin"), None);
    }

    #[test]
    fn refuses_what_could_escape_or_collide() {
        for key in ["", "/etc/passwd", "a/../b", "..", "a/./b", "a//b", "a/", ".tmp/x", "a/.hidden", "a\0b", "a\nb"] {
            assert!(violation(key).is_some(), "{key:?} accepted");
        }
        assert!(violation(&"k".repeat(1025)).is_some());
    }
}
