//! The platform's browsable layout of a run (pure): the keys of
//! `<tenant>/runs/<run_id>/metadata.json`,
//! `…/steps/<step_id>/inputs/manifest.json`, `…/outputs/manifest.json` and
//! `…/events/audit_trail.jsonl` in a backend, beside the content-addressed
//! blobs. Run and step ids are free labels, so each becomes one key
//! segment: bytes other than `A-Z a-z 0-9 - _ . ~` are percent-encoded
//! (`2024/11` → `2024%2F11`), as is a leading dot; ordinary ids are kept
//! as they are.

use std::fmt::Write as _;

/// The keys of one run's layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunLayout {
    /// `<tenant>/runs/<run segment>/`.
    base: String,
}

/// Returns `value` as one key segment (see the module docs).
pub(crate) fn segment(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for (index, byte) in value.bytes().enumerate() {
        let plain = byte.is_ascii_alphanumeric() || b"-_~".contains(&byte) || (byte == b'.' && index > 0);
        if plain {
            encoded.push(byte as char);
        } else {
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    encoded
}

impl RunLayout {
    /// The layout of `run_id` of `tenant` (a tenant name is a segment already).
    pub(crate) fn new(tenant: &str, run_id: &str) -> Self {
        Self { base: format!("{tenant}/runs/{}/", segment(run_id)) }
    }

    /// The run's metadata.
    pub(crate) fn metadata(&self) -> String {
        format!("{}metadata.json", self.base)
    }

    /// The manifest of a step's inputs (the lineage inputs of its outputs).
    pub(crate) fn step_inputs(&self, step_id: &str) -> String {
        format!("{}steps/{}/inputs/manifest.json", self.base, segment(step_id))
    }

    /// The manifest of a step's outputs (the artifacts it stored).
    pub(crate) fn step_outputs(&self, step_id: &str) -> String {
        format!("{}steps/{}/outputs/manifest.json", self.base, segment(step_id))
    }

    /// The run's events, one JSON object a line.
    pub(crate) fn audit_trail(&self) -> String {
        format!("{}events/audit_trail.jsonl", self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_ids_are_kept_and_others_encoded_into_one_segment() {
        let layout = RunLayout::new("acme", "run-2024.11_a~1");
        assert_eq!(layout.metadata(), "acme/runs/run-2024.11_a~1/metadata.json");
        assert_eq!(layout.step_outputs("train"), "acme/runs/run-2024.11_a~1/steps/train/outputs/manifest.json");
        assert_eq!(layout.step_inputs("train"), "acme/runs/run-2024.11_a~1/steps/train/inputs/manifest.json");
        assert_eq!(layout.audit_trail(), "acme/runs/run-2024.11_a~1/events/audit_trail.jsonl");
        assert_eq!(segment("2024/11/x y"), "2024%2F11%2Fx%20y");
        assert_eq!(segment(".."), "%2E.");
        assert_eq!(segment(".hidden"), "%2Ehidden");
        assert_eq!(segment("100%"), "100%25");
        assert_eq!(segment("étape"), "%C3%A9tape");
    }

    #[test]
    fn every_key_passes_the_store_key_rules() {
        for id in ["..", ".", "a/../b", "x//y", "/lead", "trail/", "sp ace", "%", "é"] {
            let layout = RunLayout::new("acme", id);
            for key in [layout.metadata(), layout.step_inputs(id), layout.step_outputs(id), layout.audit_trail()] {
                assert_eq!(gantry_storage::key::violation(&key), None, "{key}");
            }
        }
    }
}
