//! Inclusive byte ranges, as HTTP's `Range: bytes=first-last`.

use crate::StorageError;
use std::fmt;

/// Bytes `first..=last` of a blob; an open `last` reads to the end, and a
/// `last` past the end is cut at the end (as HTTP does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// Offset of the first byte.
    pub first: u64,
    /// Offset of the last byte, included; `None`: to the end.
    pub last: Option<u64>,
}

impl ByteRange {
    /// Bytes `first..=last`.
    pub fn inclusive(first: u64, last: u64) -> Self {
        Self { first, last: Some(last) }
    }

    /// Bytes from `first` to the end.
    pub fn starting_at(first: u64) -> Self {
        Self { first, last: None }
    }

    /// Returns the offsets `(first, len)` this range covers in a blob of
    /// `size` bytes, or `InvalidRange` when it covers none.
    pub fn resolve(self, size: u64) -> Result<(u64, u64), StorageError> {
        self.check_order()?;
        if self.first >= size {
            return Err(self.unsatisfiable(Some(size)));
        }
        let last = self.last.unwrap_or(u64::MAX).min(size - 1);
        Ok((self.first, last - self.first + 1))
    }

    /// Refuses a range that ends before it starts (S3 would ignore such a
    /// header and send the whole blob).
    pub(crate) fn check_order(self) -> Result<(), StorageError> {
        match self.last {
            Some(last) if last < self.first => Err(self.unsatisfiable(None)),
            _ => Ok(()),
        }
    }

    /// The `Range` header value.
    pub(crate) fn header(self) -> String {
        format!("bytes={self}")
    }

    pub(crate) fn unsatisfiable(self, size: Option<u64>) -> StorageError {
        StorageError::InvalidRange { range: self.to_string(), size }
    }
}

impl fmt::Display for ByteRange {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.last {
            Some(last) => write!(formatter, "{}-{last}", self.first),
            None => write!(formatter, "{}-", self.first),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ByteRange;
    use crate::StorageError;

    #[test]
    fn resolves_like_http() {
        assert_eq!(ByteRange::inclusive(0, 0).resolve(10).unwrap(), (0, 1));
        assert_eq!(ByteRange::inclusive(2, 5).resolve(10).unwrap(), (2, 4));
        assert_eq!(ByteRange::inclusive(9, 9).resolve(10).unwrap(), (9, 1));
        assert_eq!(ByteRange::inclusive(5, 100).resolve(10).unwrap(), (5, 5));
        assert_eq!(ByteRange::starting_at(3).resolve(10).unwrap(), (3, 7));
    }

    #[test]
    fn refuses_what_covers_nothing() {
        for (range, size) in [
            (ByteRange::inclusive(10, 10), 10),
            (ByteRange::starting_at(11), 10),
            (ByteRange::inclusive(0, 0), 0),
            (ByteRange::inclusive(5, 4), 10),
        ] {
            assert!(matches!(range.resolve(size), Err(StorageError::InvalidRange { .. })), "{range}");
        }
    }
}
