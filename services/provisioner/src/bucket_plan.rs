//! What a bucket must look like, from its request: versioning, default
//! encryption, the public access block, the TLS-only policy, tags, the
//! lifecycle rules of its purpose (DESIGN.md) and replication. Pure: the
//! S3 code applies a plan and reads the same shape back ([`BucketState`]),
//! so provisioning and drift compare like with like, semantically (the
//! emulator and S3 return some settings in other forms).

use gantry_proto::types::{BucketPurpose, BucketSpec};
use std::collections::BTreeMap;

/// A storage-class transition of a lifecycle rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Transition {
    pub days: i32,
    /// `STANDARD_IA` or `GLACIER`.
    pub storage_class: String,
}

/// One lifecycle rule, as far as Gantry sets it (whole bucket, enabled).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct LifecycleRule {
    pub id: String,
    pub expiration_days: Option<i32>,
    pub noncurrent_expiration_days: Option<i32>,
    pub abort_multipart_days: Option<i32>,
    pub transitions: Vec<Transition>,
}

/// The settings of a bucket, planned or read back.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct BucketState {
    pub versioning: bool,
    /// `AES256` or `aws:kms`.
    pub encryption: String,
    /// The KMS key (id, alias or ARN as given); empty for SSE-S3.
    pub kms_key_id: String,
    /// All four public access block settings on.
    pub public_access_blocked: bool,
    /// The policy denies every request not over TLS.
    pub tls_only: bool,
    /// Sorted by id.
    pub lifecycle: Vec<LifecycleRule>,
    /// The replication destination bucket; empty when none.
    pub replication_target: String,
}

/// A difference between plan and bucket: (property, expected, actual).
pub(crate) type Difference = (&'static str, String, String);

/// Days after which the logs/traces transitions apply.
const INFREQUENT_ACCESS_DAYS: i32 = 30;

fn transition(days: i32, storage_class: &str) -> Transition {
    Transition { days, storage_class: storage_class.into() }
}

/// The lifecycle rules of a purpose (DESIGN.md, "Bucket lifecycle by
/// purpose"). Transitions at or after the expiration are left out: S3
/// refuses a rule whose objects expire before they would move.
pub(crate) fn lifecycle(purpose: BucketPurpose, retention_days: u32) -> Vec<LifecycleRule> {
    let retention = i32::try_from(retention_days).unwrap_or(i32::MAX);
    let telemetry = |glacier_days: i32| {
        let transitions = [transition(INFREQUENT_ACCESS_DAYS, "STANDARD_IA"), transition(glacier_days, "GLACIER")]
            .into_iter()
            .filter(|transition| retention == 0 || transition.days < retention)
            .collect();
        LifecycleRule {
            id: "gantry-retention".into(),
            expiration_days: Some(retention).filter(|days| *days > 0),
            noncurrent_expiration_days: Some(7),
            abort_multipart_days: Some(1),
            transitions,
        }
    };
    let rule = match purpose {
        BucketPurpose::BackendState => LifecycleRule {
            id: "gantry-state-history".into(),
            noncurrent_expiration_days: Some(90),
            abort_multipart_days: Some(7),
            ..LifecycleRule::default()
        },
        BucketPurpose::Logs => telemetry(90),
        BucketPurpose::Traces => telemetry(60),
        BucketPurpose::Artifacts => LifecycleRule {
            id: "gantry-artifacts".into(),
            noncurrent_expiration_days: Some(365),
            abort_multipart_days: Some(7),
            transitions: vec![transition(INFREQUENT_ACCESS_DAYS, "STANDARD_IA"), transition(90, "GLACIER")],
            ..LifecycleRule::default()
        },
        BucketPurpose::Unspecified => return Vec::new(),
    };
    vec![rule]
}

/// What a bucket of this request must look like. Versioning is on for
/// every purpose: each keeps (and expires) old versions, and replication
/// needs it.
pub(crate) fn plan(spec: &BucketSpec) -> BucketState {
    let purpose = BucketPurpose::try_from(spec.purpose).unwrap_or(BucketPurpose::Unspecified);
    BucketState {
        versioning: true,
        encryption: if spec.kms_key_id.is_empty() { "AES256".into() } else { "aws:kms".into() },
        kms_key_id: spec.kms_key_id.clone(),
        public_access_blocked: true,
        tls_only: true,
        lifecycle: lifecycle(purpose, spec.retention_days),
        replication_target: spec.replication_target.clone(),
    }
}

/// True when two KMS key references name the same key: an id, an alias or
/// an ARN ending in either (S3 and the emulator answer different forms).
fn same_key(expected: &str, actual: &str) -> bool {
    let tail = |key: &str| key.rsplit_once(":key/").map_or(key, |(_, id)| id).to_owned();
    expected == actual || tail(expected) == tail(actual) || actual.ends_with(&format!(":{expected}"))
}

fn lifecycle_text(rules: &[LifecycleRule]) -> String {
    if rules.is_empty() {
        return "none".into();
    }
    rules
        .iter()
        .map(|rule| {
            let mut parts = vec![rule.id.clone()];
            if let Some(days) = rule.expiration_days {
                parts.push(format!("expire {days}d"));
            }
            if let Some(days) = rule.noncurrent_expiration_days {
                parts.push(format!("old versions {days}d"));
            }
            if let Some(days) = rule.abort_multipart_days {
                parts.push(format!("abort uploads {days}d"));
            }
            parts.extend(rule.transitions.iter().map(|t| format!("{} at {}d", t.storage_class, t.days)));
            parts.join(", ")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn on_off(value: bool) -> String {
    if value { "on".into() } else { "off".into() }
}

/// The differences of `actual` from `expected`, one per property.
pub(crate) fn differences(expected: &BucketState, actual: &BucketState) -> Vec<Difference> {
    let mut found = Vec::new();
    if expected.versioning != actual.versioning {
        found.push(("versioning", on_off(expected.versioning), on_off(actual.versioning)));
    }
    let encryption = |state: &BucketState| {
        if state.kms_key_id.is_empty() {
            state.encryption.clone()
        } else {
            format!("{} {}", state.encryption, state.kms_key_id)
        }
    };
    if expected.encryption != actual.encryption
        || (!expected.kms_key_id.is_empty() && !same_key(&expected.kms_key_id, &actual.kms_key_id))
    {
        found.push(("encryption", encryption(expected), encryption(actual)));
    }
    if expected.public_access_blocked != actual.public_access_blocked {
        found.push(("public_access_block", on_off(true), on_off(actual.public_access_blocked)));
    }
    if expected.tls_only != actual.tls_only {
        found.push(("tls_only_policy", on_off(true), on_off(actual.tls_only)));
    }
    let mut actual_rules = actual.lifecycle.clone();
    actual_rules.sort_by(|a, b| a.id.cmp(&b.id));
    let normalised: Vec<LifecycleRule> = actual_rules
        .into_iter()
        .map(|mut rule| {
            rule.transitions.sort();
            rule
        })
        .collect();
    if expected.lifecycle != normalised {
        found.push(("lifecycle", lifecycle_text(&expected.lifecycle), lifecycle_text(&normalised)));
    }
    if expected.replication_target != actual.replication_target {
        let text = |target: &str| if target.is_empty() { "none".to_owned() } else { target.to_owned() };
        found.push(("replication", text(&expected.replication_target), text(&actual.replication_target)));
    }
    found
}

/// The TLS-only bucket policy: every request not over TLS is denied.
pub(crate) fn tls_only_policy(bucket: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "GantryDenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}
        }]
    })
    .to_string()
}

/// True when a policy document denies all non-TLS requests to the whole bucket.
pub(crate) fn is_tls_only(policy: &str, bucket: &str) -> bool {
    let Ok(document) = serde_json::from_str::<serde_json::Value>(policy) else { return false };
    let as_list = |value: &serde_json::Value| match value {
        serde_json::Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    };
    as_list(&document["Statement"]).iter().any(|statement| {
        let resources: Vec<String> =
            as_list(&statement["Resource"]).iter().filter_map(|value| value.as_str().map(str::to_owned)).collect();
        let actions: Vec<String> =
            as_list(&statement["Action"]).iter().filter_map(|value| value.as_str().map(str::to_owned)).collect();
        let insecure = &statement["Condition"]["Bool"]["aws:SecureTransport"];
        statement["Effect"] == "Deny"
            && (statement["Principal"] == "*" || statement["Principal"]["AWS"] == "*")
            && actions.iter().any(|action| action == "s3:*")
            && resources.contains(&format!("arn:aws:s3:::{bucket}"))
            && resources.contains(&format!("arn:aws:s3:::{bucket}/*"))
            && (insecure == "false" || insecure == false)
    })
}

/// The tags of a bucket (the request tag marks it as Gantry's).
pub(crate) fn tags(spec: &BucketSpec, request_id: &str, environment: &str) -> BTreeMap<&'static str, String> {
    let purpose = crate::view::purpose_word(spec.purpose);
    BTreeMap::from([
        (gantry_platform::secrets::REQUEST_TAG, request_id.to_owned()),
        ("owner", spec.owner.clone()),
        ("environment", environment.to_owned()),
        ("purpose", purpose),
        ("region", spec.region.clone()),
        ("managed-by", "gantry".to_owned()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycles_follow_the_purpose_table() {
        let state = &lifecycle(BucketPurpose::BackendState, 0)[0];
        assert_eq!(
            (state.expiration_days, state.noncurrent_expiration_days, state.abort_multipart_days),
            (None, Some(90), Some(7))
        );
        assert!(state.transitions.is_empty());
        let logs = &lifecycle(BucketPurpose::Logs, 365)[0];
        assert_eq!(logs.expiration_days, Some(365));
        assert_eq!(logs.noncurrent_expiration_days, Some(7));
        assert_eq!(logs.abort_multipart_days, Some(1));
        assert_eq!(logs.transitions, vec![transition(30, "STANDARD_IA"), transition(90, "GLACIER")]);
        let traces = &lifecycle(BucketPurpose::Traces, 365)[0];
        assert_eq!(traces.transitions[1], transition(60, "GLACIER"));
        let artifacts = &lifecycle(BucketPurpose::Artifacts, 0)[0];
        assert_eq!(artifacts.noncurrent_expiration_days, Some(365));
        assert_eq!(artifacts.transitions, vec![transition(30, "STANDARD_IA"), transition(90, "GLACIER")]);
    }

    #[test]
    fn transitions_after_the_expiration_are_left_out() {
        let short = &lifecycle(BucketPurpose::Logs, 14)[0];
        assert!(short.transitions.is_empty());
        let medium = &lifecycle(BucketPurpose::Logs, 60)[0];
        assert_eq!(medium.transitions, vec![transition(30, "STANDARD_IA")]);
    }

    #[test]
    fn the_policy_written_reads_back_as_tls_only() {
        assert!(is_tls_only(&tls_only_policy("team-logs-dev"), "team-logs-dev"));
        assert!(!is_tls_only(&tls_only_policy("other"), "team-logs-dev"));
        let allow = tls_only_policy("b").replace("Deny", "Allow");
        assert!(!is_tls_only(&allow, "b"));
        assert!(!is_tls_only("not json", "b"));
    }

    #[test]
    fn differences_are_semantic() {
        let spec = BucketSpec {
            purpose: BucketPurpose::Logs as i32,
            retention_days: 90,
            kms_key_id: "1234abcd".into(),
            ..BucketSpec::default()
        };
        let expected = plan(&spec);
        let mut actual = expected.clone();
        actual.kms_key_id = "arn:aws:kms:us-east-1:123456789012:key/1234abcd".into();
        actual.lifecycle[0].transitions.reverse();
        assert!(differences(&expected, &actual).is_empty(), "{:?}", differences(&expected, &actual));
        actual.versioning = false;
        actual.public_access_blocked = false;
        let found: Vec<&str> = differences(&expected, &actual).iter().map(|(property, ..)| *property).collect();
        assert_eq!(found, vec!["versioning", "public_access_block"]);
    }
}
