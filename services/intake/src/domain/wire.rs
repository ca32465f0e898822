//! Conversions between the domain's types and their protobuf form on the
//! log (enum numbers follow the order of each vocabulary's `ALL`).

use super::spec::{BucketPurpose, BucketSpec, DatabaseSpec, Environment, Risk, Size};
use super::validate::Choice;
use gantry_proto::types as pb;

/// Returns the protobuf number of a vocabulary value (`UNSPECIFIED` is 0).
pub(crate) fn number_of<T: PartialEq>(all: &[T], value: &T) -> i32 {
    all.iter().position(|candidate| candidate == value).map(|index| index as i32 + 1).unwrap_or(0)
}

/// Returns the vocabulary value of a protobuf number, if it names one.
pub(crate) fn value_of<T: Copy>(all: &[T], number: i32) -> Option<T> {
    number.checked_sub(1).and_then(|index| usize::try_from(index).ok()).and_then(|index| all.get(index).copied())
}

/// Returns a protobuf number as a choice of the vocabulary: unset (0),
/// unknown, or a value.
pub(crate) fn choice_of<T: Copy>(all: &[T], number: i32) -> Choice<T> {
    match value_of(all, number) {
        Some(value) => Choice::Value(value),
        None if number == 0 => Choice::Unset,
        None => Choice::Unknown(number),
    }
}

fn enum_value<T: Copy>(all: &[T], number: i32, what: &str) -> Result<T, String> {
    value_of(all, number).ok_or_else(|| format!("unknown {what} {number}"))
}

/// Reads a database spec from an event.
pub(crate) fn database_spec(spec: &pb::DatabaseSpec) -> Result<DatabaseSpec, String> {
    Ok(DatabaseSpec {
        database_name: spec.database_name.clone(),
        username: spec.username.clone(),
        owner: spec.owner.clone(),
        requester: spec.requester.clone(),
        environment: enum_value(Environment::ALL, spec.environment, "environment")?,
        domain: spec.domain.clone(),
        risk: enum_value(Risk::ALL, spec.risk, "risk")?,
        size: enum_value(Size::ALL, spec.size, "size")?,
    })
}

/// Reads a bucket spec from an event.
pub(crate) fn bucket_spec(spec: &pb::BucketSpec) -> Result<BucketSpec, String> {
    Ok(BucketSpec {
        bucket_name: spec.bucket_name.clone(),
        purpose: enum_value(BucketPurpose::ALL, spec.purpose, "bucket purpose")?,
        environment: enum_value(Environment::ALL, spec.environment, "environment")?,
        region: spec.region.clone(),
        owner: spec.owner.clone(),
        requester: spec.requester.clone(),
        retention_days: spec.retention_days,
        kms_key_id: Some(spec.kms_key_id.clone()).filter(|key| !key.is_empty()),
        replication_target: Some(spec.replication_target.clone()).filter(|target| !target.is_empty()),
    })
}

impl From<&DatabaseSpec> for pb::DatabaseSpec {
    fn from(spec: &DatabaseSpec) -> Self {
        Self {
            database_name: spec.database_name.clone(),
            username: spec.username.clone(),
            owner: spec.owner.clone(),
            requester: spec.requester.clone(),
            environment: number_of(Environment::ALL, &spec.environment),
            domain: spec.domain.clone(),
            risk: number_of(Risk::ALL, &spec.risk),
            size: number_of(Size::ALL, &spec.size),
        }
    }
}

impl From<&BucketSpec> for pb::BucketSpec {
    fn from(spec: &BucketSpec) -> Self {
        Self {
            bucket_name: spec.bucket_name.clone(),
            purpose: number_of(BucketPurpose::ALL, &spec.purpose),
            environment: number_of(Environment::ALL, &spec.environment),
            region: spec.region.clone(),
            owner: spec.owner.clone(),
            requester: spec.requester.clone(),
            retention_days: spec.retention_days,
            kms_key_id: spec.kms_key_id.clone().unwrap_or_default(),
            replication_target: spec.replication_target.clone().unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::spec::SecretPolicy;

    #[test]
    fn numbers_match_the_proto_enums() {
        assert_eq!(number_of(Environment::ALL, &Environment::Prod), pb::Environment::Prod as i32);
        assert_eq!(number_of(Risk::ALL, &Risk::Access), pb::Risk::Access as i32);
        assert_eq!(number_of(Size::ALL, &Size::Xlarge), pb::Size::Xlarge as i32);
        assert_eq!(number_of(BucketPurpose::ALL, &BucketPurpose::Artifacts), pb::BucketPurpose::Artifacts as i32);
        assert_eq!(number_of(SecretPolicy::ALL, &SecretPolicy::Retain), pb::SecretDeletionPolicy::Retain as i32);
        assert_eq!(value_of(Environment::ALL, 0), None);
        assert_eq!(value_of(Environment::ALL, 99), None);
        assert_eq!(value_of(Environment::ALL, i32::MIN), None);
        assert_eq!(choice_of(Environment::ALL, 0), Choice::Unset);
        assert_eq!(choice_of(Environment::ALL, 99), Choice::Unknown(99));
        assert_eq!(choice_of(Environment::ALL, 1), Choice::Value(Environment::Dev));
    }
}
