//! The upload header at the edge: every field checked at once into an
//! [`ArtifactSpec`], or one list of field violations. Pure, no I/O.

use gantry_proto::artifacts::UploadHeader;
use gantry_proto::events::RetentionPolicy;
use gantry_service::api::Checks;
use std::collections::BTreeSet;
use uuid::Uuid;

/// The most lineage inputs of one artifact.
pub(crate) const MAX_INPUTS: usize = 1000;
/// The media type of an upload that names none.
pub(crate) const DEFAULT_MEDIA_TYPE: &str = "application/octet-stream";

/// A field violation: (field, what is wrong).
type Violation = (String, String);

/// What an upload stores, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ArtifactSpec {
    pub(crate) tenant: String,
    pub(crate) run_id: String,
    pub(crate) step_id: String,
    pub(crate) agent: String,
    pub(crate) agent_version: String,
    pub(crate) name: String,
    pub(crate) media_type: String,
    /// Distinct, in the order given.
    pub(crate) inputs: Vec<Uuid>,
    /// Never unspecified: that is recorded as 90 days.
    pub(crate) retention: RetentionPolicy,
    pub(crate) expected_size: Option<u64>,
    /// Lower-case hex.
    pub(crate) expected_sha256: Option<String>,
    /// The view must have applied this sequence before inputs are looked up.
    pub(crate) min_sequence: u64,
}

/// Returns the retention's days, `None` for keep.
pub(crate) fn retention_days(retention: RetentionPolicy) -> Option<u64> {
    match retention {
        RetentionPolicy::Days30 => Some(30),
        RetentionPolicy::Unspecified | RetentionPolicy::Days90 => Some(90),
        RetentionPolicy::Days365 => Some(365),
        RetentionPolicy::Keep => None,
    }
}

pub(crate) use gantry_service::tenancy::tenant;

/// Checks a label: 1 to `max` bytes, no control characters.
pub(crate) fn label(field: &str, value: &str, max: usize) -> Result<String, Violation> {
    if value.is_empty() || value.len() > max || value.chars().any(char::is_control) {
        Err((field.into(), format!("required: 1 to {max} bytes, no control characters")))
    } else {
        Ok(value.to_owned())
    }
}

/// Checks an optional filter: empty, or a label.
pub(crate) fn optional_label(field: &str, value: &str, max: usize) -> Result<Option<String>, Violation> {
    if value.is_empty() { Ok(None) } else { label(field, value, max).map(Some) }
}

/// Checks an artifact id (a UUID).
pub(crate) fn artifact_id(field: &str, value: &str) -> Result<Uuid, Violation> {
    Uuid::try_parse(value).map_err(|_| (field.into(), format!("{value:?} is not an artifact id (a UUID)")))
}

fn media_type(value: &str) -> Result<String, Violation> {
    if value.is_empty() {
        return Ok(DEFAULT_MEDIA_TYPE.into());
    }
    let token = |part: &str| {
        !part.is_empty()
            && part.len() <= 127
            && part.chars().all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c))
    };
    match value.split_once('/') {
        Some((kind, subtype))
            if value.len() <= 255
                && token(kind)
                && token(subtype.split(';').next().unwrap_or(""))
                && !subtype.chars().any(char::is_control) =>
        {
            Ok(value.to_owned())
        }
        _ => Err((
            "media_type".into(),
            "type/subtype, e.g. application/parquet (empty: application/octet-stream)".into(),
        )),
    }
}

fn inputs(values: &[String]) -> Result<Vec<Uuid>, Violation> {
    if values.len() > MAX_INPUTS {
        return Err(("input_artifact_ids".into(), format!("at most {MAX_INPUTS}")));
    }
    let mut seen = BTreeSet::new();
    let mut inputs = Vec::with_capacity(values.len());
    for (index, value) in values.iter().enumerate() {
        let id = artifact_id(&format!("input_artifact_ids[{index}]"), value)?;
        if !seen.insert(id) {
            return Err((format!("input_artifact_ids[{index}]"), format!("{id} is listed twice")));
        }
        inputs.push(id);
    }
    Ok(inputs)
}

fn retention(value: i32) -> Result<RetentionPolicy, Violation> {
    match RetentionPolicy::try_from(value) {
        Ok(RetentionPolicy::Unspecified) => Ok(RetentionPolicy::Days90),
        Ok(retention) => Ok(retention),
        Err(_) => {
            Err(("retention".into(), format!("unknown value {value}; one of 1 (30 days), 2 (90), 3 (365), 4 (keep)")))
        }
    }
}

fn sha256(value: &str) -> Result<Option<String>, Violation> {
    match value {
        "" => Ok(None),
        hex if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()) => Ok(Some(hex.to_ascii_lowercase())),
        _ => Err(("expected_sha256".into(), "64 hexadecimal characters (or empty)".into())),
    }
}

impl ArtifactSpec {
    /// Checks every field of `header`, answering all violations at once.
    pub(crate) fn parse(header: &UploadHeader) -> Result<Self, Vec<Violation>> {
        let mut checks = Checks::default();
        let tenant = checks.take(tenant("tenant", &header.tenant));
        let run_id = checks.take(label("run_id", &header.run_id, 128));
        let step_id = checks.take(label("step_id", &header.step_id, 128));
        let agent = checks.take(label("agent", &header.agent, 128));
        let agent_version = checks.take(label("agent_version", &header.agent_version, 64));
        let name = checks.take(label("name", &header.name, 1024));
        let media_type = checks.take(media_type(&header.media_type));
        let inputs = checks.take(inputs(&header.input_artifact_ids));
        let retention = checks.take(retention(header.retention));
        let expected_sha256 = checks.take(sha256(&header.expected_sha256));
        match (tenant, run_id, step_id, agent, agent_version, name, media_type, inputs, retention, expected_sha256) {
            (
                Some(tenant),
                Some(run_id),
                Some(step_id),
                Some(agent),
                Some(agent_version),
                Some(name),
                Some(media_type),
                Some(inputs),
                Some(retention),
                Some(expected_sha256),
            ) if checks.0.is_empty() => Ok(Self {
                tenant,
                run_id,
                step_id,
                agent,
                agent_version,
                name,
                media_type,
                inputs,
                retention,
                expected_size: header.expected_size_bytes,
                expected_sha256,
                min_sequence: header.min_sequence,
            }),
            _ => Err(checks.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> UploadHeader {
        UploadHeader {
            tenant: "acme".into(),
            run_id: "run-1".into(),
            step_id: "train".into(),
            agent: "trainer".into(),
            agent_version: "1.2.0".into(),
            name: "models/weights.bin".into(),
            media_type: String::new(),
            input_artifact_ids: vec![Uuid::now_v7().to_string()],
            retention: 0,
            expected_size_bytes: Some(0),
            expected_sha256: "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855".into(),
            min_sequence: 0,
        }
    }

    #[test]
    fn a_good_header_gets_its_defaults() {
        let spec = ArtifactSpec::parse(&header()).unwrap();
        assert_eq!(spec.media_type, DEFAULT_MEDIA_TYPE);
        assert_eq!(spec.retention, RetentionPolicy::Days90);
        assert_eq!(spec.expected_size, Some(0));
        assert_eq!(spec.expected_sha256.as_deref(), Some(&*header().expected_sha256.to_lowercase()));
    }

    #[test]
    fn every_violation_is_named_at_once() {
        let id = Uuid::now_v7().to_string();
        let bad = UploadHeader {
            tenant: "Acme".into(),
            run_id: String::new(),
            step_id: "x\ny".into(),
            agent: "a".repeat(129),
            agent_version: String::new(),
            name: String::new(),
            media_type: "not a type".into(),
            input_artifact_ids: vec![id.clone(), id],
            retention: 9,
            expected_size_bytes: None,
            expected_sha256: "abc".into(),
            min_sequence: 0,
        };
        let fields: Vec<String> = ArtifactSpec::parse(&bad).unwrap_err().into_iter().map(|(field, _)| field).collect();
        assert_eq!(
            fields,
            [
                "tenant",
                "run_id",
                "step_id",
                "agent",
                "agent_version",
                "name",
                "media_type",
                "input_artifact_ids[1]",
                "retention",
                "expected_sha256"
            ]
        );
    }

    #[test]
    fn media_types_and_inputs() {
        for good in ["text/html", "application/vnd.apache.parquet", "text/plain; charset=utf-8"] {
            assert_eq!(media_type(good).unwrap(), good);
        }
        for bad in ["text", "/html", "text/", "a b/c"] {
            assert!(media_type(bad).is_err(), "{bad}");
        }
        assert!(inputs(&["nope".into()]).unwrap_err().1.contains("not an artifact id"));
        assert!(inputs(&vec![Uuid::nil().to_string(); MAX_INPUTS + 1]).is_err());
    }

    #[test]
    fn retention_days_by_policy() {
        assert_eq!(retention_days(RetentionPolicy::Days30), Some(30));
        assert_eq!(retention_days(RetentionPolicy::Unspecified), Some(90));
        assert_eq!(retention_days(RetentionPolicy::Keep), None);
    }
}
