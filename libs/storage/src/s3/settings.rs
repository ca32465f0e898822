//! The S3 backend's settings, read from the configuration file.

use serde::{Deserialize, Serialize};

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

/// S3's smallest part (all but the last part of an upload).
pub const MIN_PART_BYTES: u64 = 5 * MIB;
/// S3's largest part, and largest single copy.
pub const MAX_PART_BYTES: u64 = 5 * GIB;
/// S3's most parts in one upload.
pub const MAX_PARTS: u64 = 10_000;

/// Where and how blobs are stored in S3 (or an S3-compatible store).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Settings {
    /// An S3-compatible endpoint or emulator (then with path-style
    /// addressing); `None`: AWS's own endpoints.
    pub endpoint_url: Option<String>,
    /// The bucket's region.
    pub region: String,
    /// The bucket blobs go to (it must exist).
    pub bucket: String,
    /// Put in front of every key (`artifacts` → `artifacts/<key>`); empty: none.
    pub key_prefix: String,
    /// The storage class of new objects (`STANDARD_IA`, …); `None`: the bucket's default.
    pub storage_class: Option<String>,
    /// Server-side encryption asked for on every new object.
    pub server_side_encryption: ServerSideEncryption,
    /// Blobs larger than this go up as multipart uploads.
    pub multipart_threshold_bytes: u64,
    /// The size of each part (the first 1,000; then doubling every 1,000 parts).
    pub part_size_bytes: u64,
    /// Parts uploaded at once per blob.
    pub parts_in_flight: usize,
    /// Blobs larger than this are promoted by a multipart copy (S3 copies
    /// at most 5 GiB in one request).
    pub copy_threshold_bytes: u64,
    /// The size of each part of a multipart copy (grown if a blob would need more than 10,000).
    pub copy_part_size_bytes: u64,
}

/// Server-side encryption of new objects.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", deny_unknown_fields)]
pub enum ServerSideEncryption {
    /// None asked for (the bucket's default encryption applies).
    #[default]
    #[serde(rename = "none")]
    None,
    /// SSE-S3.
    #[serde(rename = "AES256")]
    Aes256,
    /// SSE-KMS, with this key (`None`: the account's `aws/s3` key).
    #[serde(rename = "aws:kms")]
    Kms {
        /// Key id, alias or ARN.
        key_id: Option<String>,
    },
}

impl Default for S3Settings {
    fn default() -> Self {
        Self {
            endpoint_url: None,
            region: "us-east-1".into(),
            bucket: String::new(),
            key_prefix: String::new(),
            storage_class: None,
            server_side_encryption: ServerSideEncryption::None,
            multipart_threshold_bytes: 8 * MIB,
            part_size_bytes: 8 * MIB,
            parts_in_flight: 4,
            copy_threshold_bytes: MAX_PART_BYTES,
            copy_part_size_bytes: GIB,
        }
    }
}

impl S3Settings {
    /// Returns what is wrong with these settings, if anything.
    pub fn violation(&self) -> Option<String> {
        let part_sizes = MIN_PART_BYTES..=MAX_PART_BYTES;
        if self.bucket.is_empty() {
            Some("s3 bucket is not set".into())
        } else if let Some(reason) = self.key_prefix_violation() {
            Some(format!("s3 key_prefix is not a valid key: {reason}"))
        } else if !part_sizes.contains(&self.part_size_bytes) {
            Some(format!("s3 part_size_bytes must be between {MIN_PART_BYTES} and {MAX_PART_BYTES}"))
        } else if !part_sizes.contains(&self.copy_part_size_bytes) {
            Some(format!("s3 copy_part_size_bytes must be between {MIN_PART_BYTES} and {MAX_PART_BYTES}"))
        } else if self.multipart_threshold_bytes > MAX_PART_BYTES {
            Some(format!("s3 multipart_threshold_bytes must be at most {MAX_PART_BYTES}"))
        } else if self.copy_threshold_bytes > MAX_PART_BYTES {
            Some(format!("s3 copy_threshold_bytes must be at most {MAX_PART_BYTES}"))
        } else if self.parts_in_flight == 0 {
            Some("s3 parts_in_flight must be at least 1".into())
        } else {
            None
        }
    }

    fn key_prefix_violation(&self) -> Option<&'static str> {
        let prefix = self.key_prefix.trim_end_matches('/');
        if prefix.is_empty() { None } else { crate::key::violation(prefix) }
    }

    /// The size of upload part `number` (from 1): the configured size for
    /// the first 1,000 parts, doubling every 1,000 after, at most 5 GiB.
    pub(crate) fn part_size(&self, number: u64) -> u64 {
        let doublings = ((number - 1) / 1000).min(20) as u32;
        self.part_size_bytes.saturating_mul(1 << doublings).min(MAX_PART_BYTES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_what_a_file_leaves_out() {
        let settings: S3Settings = serde_json::from_str(
            r#"{"bucket": "artifacts", "server_side_encryption": {"mode": "aws:kms", "key_id": "alias/gantry"}}"#,
        )
        .unwrap();
        assert_eq!(settings.part_size_bytes, 8 * MIB);
        assert_eq!(settings.parts_in_flight, 4);
        assert_eq!(settings.server_side_encryption, ServerSideEncryption::Kms { key_id: Some("alias/gantry".into()) });
        assert_eq!(settings.violation(), None);
        assert!(serde_json::from_str::<S3Settings>(r#"{"bucket": "b", "part_size": 1}"#).is_err());
    }

    #[test]
    fn parts_grow_so_an_upload_never_runs_out() {
        let settings = S3Settings { bucket: "b".into(), ..S3Settings::default() };
        assert_eq!(settings.part_size(1), 8 * MIB);
        assert_eq!(settings.part_size(1000), 8 * MIB);
        assert_eq!(settings.part_size(1001), 16 * MIB);
        assert_eq!(settings.part_size(MAX_PARTS), 4 * GIB);
        let large_parts = S3Settings { part_size_bytes: GIB, ..settings.clone() };
        assert_eq!(large_parts.part_size(MAX_PARTS), MAX_PART_BYTES, "capped at S3's largest part");
        let total: u64 = (1..=MAX_PARTS).map(|number| settings.part_size(number)).sum();
        assert!(total > 5 * 1024 * GIB, "{total} bytes fit in 10,000 parts");
    }

    #[test]
    fn refuses_parts_s3_refuses() {
        let settings = S3Settings { bucket: "b".into(), part_size_bytes: MIB, ..S3Settings::default() };
        assert!(settings.violation().is_some());
        assert!(S3Settings::default().violation().is_some(), "no bucket");
        let escaping = S3Settings { bucket: "b".into(), key_prefix: "../x".into(), ..S3Settings::default() };
        assert!(escaping.violation().is_some());
    }
}
