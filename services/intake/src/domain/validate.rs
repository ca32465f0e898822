//! The platform's input rules. Every check runs, and every violation is
//! reported at once, field by field.

use super::names::{default_bucket_name, default_username};
use super::spec::{BucketPurpose, BucketSpec, DatabaseSpec, Environment, Risk, Size};
use serde::Serialize;
use std::fmt::Display;

/// Longest database, role, owner, requester or domain name (Postgres' limit).
pub const NAME_MAX_BYTES: usize = 63;
/// Longest idempotency key.
pub const IDEMPOTENCY_KEY_MAX_BYTES: usize = 128;
/// Longest comment or reason.
pub const TEXT_MAX_BYTES: usize = 1024;
/// Longest KMS key id or ARN.
pub const KMS_KEY_MAX_BYTES: usize = 2048;
/// The AWS regions a bucket may be placed in (commercial, GovCloud, China
/// and the European Sovereign Cloud).
pub const AWS_REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "cn-north-1",
    "cn-northwest-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eusc-de-east-1",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-gov-east-1",
    "us-gov-west-1",
    "us-west-1",
    "us-west-2",
];
/// Longest bucket retention.
pub const RETENTION_MAX_DAYS: u32 = 3650;

/// Names Postgres or the platform keep for themselves (plus any `pg_` prefix).
const RESERVED_NAMES: &[&str] = &[
    "postgres",
    "template0",
    "template1",
    "public",
    "information_schema",
    "root",
    "admin",
    "rdsadmin",
    "rds_superuser",
    "gantry",
    "user",
    "current_user",
    "session_user",
    "none",
    "all",
];

/// One violated field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldViolation {
    /// The field's name as in the API (`database_name`).
    pub field: String,
    /// What is wrong, in words a form can show.
    pub description: String,
}

/// Lists a vocabulary with its protobuf numbers: `1 (dev), 2 (test), …`.
fn choices<T: Display>(all: &[T]) -> String {
    let listed: Vec<String> = all.iter().enumerate().map(|(index, value)| format!("{} ({value})", index + 1)).collect();
    listed.join(", ")
}

/// Describes a protobuf number that names no value of `all`.
pub fn unknown_choice<T: Display>(number: i32, all: &[T]) -> String {
    format!("unknown value {number}; one of {}", choices(all))
}

/// A choice from a closed vocabulary as it arrived.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Choice<T> {
    /// Not given (protobuf's 0).
    #[default]
    Unset,
    /// A number no value of the vocabulary has.
    Unknown(i32),
    /// A value of the vocabulary.
    Value(T),
}

/// Every violation of one input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Violations(pub Vec<FieldViolation>);

impl std::fmt::Display for Violations {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|v| format!("{}: {}", v.field, v.description)).collect();
        formatter.write_str(&parts.join("; "))
    }
}

impl Violations {
    /// Records the outcome of one check.
    pub fn check(&mut self, field: &str, outcome: Result<(), String>) {
        if let Err(description) = outcome {
            self.0.push(FieldViolation { field: field.to_owned(), description });
        }
    }

    /// Returns the value of a required choice, recording a violation when it
    /// is unset or not one of `all` (listed with their protobuf numbers).
    pub fn choose<T: Copy + Display>(&mut self, field: &str, choice: Choice<T>, all: &[T]) -> Option<T> {
        match choice {
            Choice::Value(value) => return Some(value),
            Choice::Unset => self.check(field, Err(format!("required; one of {}", choices(all)))),
            Choice::Unknown(number) => self.check(field, Err(unknown_choice(number, all))),
        }
        None
    }

    /// Returns `value` when nothing was violated.
    pub fn into_result<T>(self, value: impl FnOnce() -> T) -> Result<T, Violations> {
        if self.0.is_empty() { Ok(value()) } else { Err(self) }
    }
}

/// A database or role name: `^[a-z][a-z0-9_]*$`, at most 63 bytes, not reserved.
pub fn check_identifier(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("required".into());
    }
    if value.len() > NAME_MAX_BYTES {
        return Err(format!("at most {NAME_MAX_BYTES} bytes"));
    }
    let mut characters = value.chars();
    let well_formed = characters.next().is_some_and(|c| c.is_ascii_lowercase())
        && characters.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !well_formed {
        return Err("must match ^[a-z][a-z0-9_]*$".into());
    }
    if value.starts_with("pg_") || RESERVED_NAMES.contains(&value) {
        return Err(format!("{value:?} is reserved"));
    }
    Ok(())
}

/// The suffix of the second role alternating-users rotation makes for a
/// user (`gantry_platform::target::clone_of`): no request's user may look
/// like another's clone.
const CLONE_SUFFIX: &str = "_clone";

/// A role name: an identifier that does not end in `_clone`.
pub fn check_username(value: &str) -> Result<(), String> {
    check_identifier(value)?;
    if value.ends_with(CLONE_SUFFIX) {
        return Err(format!("names ending in {CLONE_SUFFIX} are kept for rotation's second user"));
    }
    Ok(())
}

/// A team, person or domain name (a Backstage entity name in lower case):
/// `^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`, at most 63 bytes.
pub fn check_slug(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("required".into());
    }
    if value.len() > NAME_MAX_BYTES {
        return Err(format!("at most {NAME_MAX_BYTES} bytes"));
    }
    let lower_alphanumeric = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let edges_ok = value.starts_with(lower_alphanumeric) && value.ends_with(lower_alphanumeric);
    if !edges_ok || !value.chars().all(|c| lower_alphanumeric(c) || c == '-') {
        return Err("must match ^[a-z0-9]([a-z0-9-]*[a-z0-9])?$".into());
    }
    Ok(())
}

/// An S3 bucket name without dots: 3 to 63 of `[a-z0-9-]`, starting and
/// ending with a letter or digit.
pub fn check_bucket_name(value: &str) -> Result<(), String> {
    if !(3..=63).contains(&value.len()) {
        return Err("3 to 63 characters".into());
    }
    let edges_ok = [value.chars().next(), value.chars().last()]
        .iter()
        .all(|c| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
    if !edges_ok || !value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        return Err("lowercase letters, digits and hyphens, starting and ending with a letter or digit".into());
    }
    const RESERVED_PREFIXES: &[&str] = &["xn--", "sthree-", "amzn-s3-demo-"];
    const RESERVED_SUFFIXES: &[&str] = &["-s3alias", "--ol-s3", "--x-s3", "--table-s3"];
    if RESERVED_PREFIXES.iter().any(|prefix| value.starts_with(prefix))
        || RESERVED_SUFFIXES.iter().any(|suffix| value.ends_with(suffix))
    {
        return Err("uses a prefix or suffix S3 reserves".into());
    }
    Ok(())
}

/// An AWS region name such as `eu-west-1`, one of [`AWS_REGIONS`].
pub fn check_region(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("required; an AWS region such as eu-west-1".into());
    }
    if !AWS_REGIONS.contains(&value) {
        let shown: String = value.chars().take(32).collect();
        return Err(format!("{shown:?} is not an AWS region; one such as eu-west-1 or us-east-1"));
    }
    Ok(())
}

/// Free text: at most `max` bytes, no control characters but newline and tab.
pub fn check_text(value: &str, max: usize, required: bool) -> Result<(), String> {
    if required && value.trim().is_empty() {
        return Err("required".into());
    }
    if value.len() > max {
        return Err(format!("at most {max} bytes"));
    }
    if value.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

/// An idempotency key: optional, printable ASCII, at most 128 bytes.
pub fn check_idempotency_key(value: &str) -> Result<(), String> {
    if value.len() > IDEMPOTENCY_KEY_MAX_BYTES {
        return Err(format!("at most {IDEMPOTENCY_KEY_MAX_BYTES} bytes"));
    }
    if !value.chars().all(|c| c.is_ascii_graphic()) {
        return Err("printable ASCII without spaces".into());
    }
    Ok(())
}

/// A KMS key id, alias or ARN.
fn check_kms_key(value: &str) -> Result<(), String> {
    if value.len() > KMS_KEY_MAX_BYTES {
        return Err(format!("at most {KMS_KEY_MAX_BYTES} bytes"));
    }
    if !value.chars().all(|c| c.is_ascii_alphanumeric() || ":/_-".contains(c)) {
        return Err("a KMS key id, alias or ARN".into());
    }
    Ok(())
}

/// A database request as submitted, before validation.
#[derive(Debug, Clone, Default)]
pub struct DatabaseForm {
    /// Requested database name.
    pub database_name: String,
    /// Requested role name; empty means [`default_username`].
    pub username: String,
    /// Owning team.
    pub owner: String,
    /// The person asking.
    pub requester: String,
    /// Environment.
    pub environment: Choice<Environment>,
    /// Business domain.
    pub domain: String,
    /// Risk.
    pub risk: Choice<Risk>,
    /// Size.
    pub size: Choice<Size>,
}

impl DatabaseForm {
    /// Checks every rule and returns the spec, or every violation.
    pub fn validate(self) -> Result<DatabaseSpec, Violations> {
        let mut violations = Violations::default();
        let database_name = check_identifier(&self.database_name);
        // The default is legal whenever the database name is, so only a
        // given username is checked (a bad database name is reported once).
        let username = if self.username.is_empty() {
            default_username(&self.database_name)
        } else {
            violations.check("username", check_username(&self.username));
            self.username.clone()
        };
        violations.check("database_name", database_name);
        violations.check("owner", check_slug(&self.owner));
        violations.check("requester", check_slug(&self.requester));
        violations.check("domain", check_slug(&self.domain));
        let environment = violations.choose("environment", self.environment, Environment::ALL);
        let risk = violations.choose("risk", self.risk, Risk::ALL);
        let size = violations.choose("size", self.size, Size::ALL);
        violations.into_result(|| DatabaseSpec {
            database_name: self.database_name,
            username,
            owner: self.owner,
            requester: self.requester,
            environment: environment.expect("checked"),
            domain: self.domain,
            risk: risk.expect("checked"),
            size: size.expect("checked"),
        })
    }
}

/// A bucket request as submitted, before validation.
#[derive(Debug, Clone, Default)]
pub struct BucketForm {
    /// Requested name; empty means [`default_bucket_name`].
    pub bucket_name: String,
    /// Purpose.
    pub purpose: Choice<BucketPurpose>,
    /// Environment.
    pub environment: Choice<Environment>,
    /// AWS region.
    pub region: String,
    /// Owning team.
    pub owner: String,
    /// The person asking.
    pub requester: String,
    /// Retention in days.
    pub retention_days: u32,
    /// KMS key; empty for SSE-S3.
    pub kms_key_id: String,
    /// Replication destination; empty for none.
    pub replication_target: String,
}

impl BucketForm {
    /// Checks every rule and returns the spec, or every violation.
    pub fn validate(self) -> Result<BucketSpec, Violations> {
        let mut violations = Violations::default();
        let purpose = violations.choose("purpose", self.purpose, BucketPurpose::ALL);
        let environment = violations.choose("environment", self.environment, Environment::ALL);
        let owner = check_slug(&self.owner);
        let owner_ok = owner.is_ok();
        violations.check("owner", owner);
        violations.check("requester", check_slug(&self.requester));
        violations.check("region", check_region(&self.region));
        let bucket_name = if !self.bucket_name.is_empty() {
            violations.check("bucket_name", check_bucket_name(&self.bucket_name));
            self.bucket_name.clone()
        } else if let (Some(purpose), Some(environment), true, true) =
            (purpose, environment, owner_ok, check_region(&self.region).is_ok())
        {
            let derived = default_bucket_name(&self.owner, purpose, environment, &self.region);
            // Short enough by construction; an owner can still make a name
            // S3 reserves (`sthree-…`): say what was derived and why.
            let checked = check_bucket_name(&derived).map_err(|why| {
                format!("the default name {derived:?} (owner-purpose-environment-region) {why}; give a bucket_name")
            });
            violations.check("bucket_name", checked);
            derived
        } else {
            // Whatever keeps the default from being derived is reported on its own field.
            String::new()
        };
        violations.check("retention_days", check_retention(purpose, self.retention_days));
        violations.check("kms_key_id", check_kms_key(&self.kms_key_id));
        if !self.replication_target.is_empty() {
            let target = check_bucket_name(&self.replication_target).and_then(|()| {
                if self.replication_target == bucket_name { Err("must differ from the bucket".into()) } else { Ok(()) }
            });
            violations.check("replication_target", target);
        }
        violations.into_result(|| BucketSpec {
            bucket_name,
            purpose: purpose.expect("checked"),
            environment: environment.expect("checked"),
            region: self.region,
            owner: self.owner,
            requester: self.requester,
            retention_days: self.retention_days,
            kms_key_id: Some(self.kms_key_id).filter(|key| !key.is_empty()),
            replication_target: Some(self.replication_target).filter(|target| !target.is_empty()),
        })
    }
}

fn check_retention(purpose: Option<BucketPurpose>, days: u32) -> Result<(), String> {
    match purpose {
        Some(BucketPurpose::Logs | BucketPurpose::Traces) if days == 0 => {
            Err(format!("required for logs and traces: 1 to {RETENTION_MAX_DAYS}"))
        }
        Some(BucketPurpose::BackendState) if days != 0 => Err("backend-state never expires; leave it 0".into()),
        _ if days > RETENTION_MAX_DAYS => Err(format!("at most {RETENTION_MAX_DAYS}")),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database_form() -> DatabaseForm {
        DatabaseForm {
            database_name: "orders".into(),
            username: String::new(),
            owner: "team-orders".into(),
            requester: "alice".into(),
            environment: Choice::Value(Environment::Prod),
            domain: "payments".into(),
            risk: Choice::Value(Risk::High),
            size: Choice::Value(Size::Small),
        }
    }

    fn fields(violations: &Violations) -> Vec<&str> {
        violations.0.iter().map(|v| v.field.as_str()).collect()
    }

    #[test]
    fn a_good_database_form_passes_and_defaults_the_username() {
        let spec = database_form().validate().unwrap();
        assert_eq!(spec.username, "orders_user");
    }

    #[test]
    fn identifiers_follow_postgres_rules() {
        assert!(check_identifier("orders_2").is_ok());
        for bad in ["", "Orders", "2orders", "or-ders", "postgres", "template1", "pg_stat", "public"] {
            assert!(check_identifier(bad).is_err(), "{bad}");
        }
        assert!(check_identifier(&"a".repeat(63)).is_ok());
        assert!(check_identifier(&"a".repeat(64)).is_err());
    }

    #[test]
    fn every_violation_is_reported_at_once() {
        let form = DatabaseForm {
            database_name: "Bad Name".into(),
            owner: String::new(),
            requester: "Alice!".into(),
            environment: Choice::Unset,
            domain: "x".repeat(64),
            risk: Choice::Unknown(99),
            size: Choice::Unset,
            ..database_form()
        };
        let violations = form.validate().unwrap_err();
        assert_eq!(
            fields(&violations),
            ["database_name", "owner", "requester", "domain", "environment", "risk", "size"]
        );
        let risk = &violations.0[5].description;
        assert!(risk.starts_with("unknown value 99; one of 1 (none), 2 (low)"), "{risk}");
        assert!(violations.0[4].description.starts_with("required; one of 1 (dev)"));
    }

    #[test]
    fn a_long_database_name_gets_a_legal_default_username() {
        let spec = DatabaseForm { database_name: "a".repeat(63), ..database_form() }.validate().unwrap();
        assert!(check_identifier(&spec.username).is_ok(), "{}", spec.username);
        let given = DatabaseForm { username: "a".repeat(64), ..database_form() };
        assert_eq!(fields(&given.validate().unwrap_err()), ["username"]);
        let clone = DatabaseForm { username: "orders_user_clone".into(), ..database_form() };
        let refused = clone.validate().unwrap_err();
        assert_eq!(fields(&refused), ["username"]);
        assert!(refused.0[0].description.contains("rotation"), "{refused}");
        let database_named_clone = DatabaseForm { database_name: "orders_clone".into(), ..database_form() };
        assert!(database_named_clone.validate().is_ok(), "only role names are kept");
    }

    fn bucket_form() -> BucketForm {
        BucketForm {
            purpose: Choice::Value(BucketPurpose::Logs),
            environment: Choice::Value(Environment::Prod),
            region: "eu-west-1".into(),
            owner: "team-obs".into(),
            requester: "alice".into(),
            retention_days: 30,
            ..Default::default()
        }
    }

    #[test]
    fn bucket_name_is_derived_when_empty() {
        let spec = bucket_form().validate().unwrap();
        assert_eq!(spec.bucket_name, "team-obs-logs-prod-eu-west-1");
        assert_eq!(spec.kms_key_id, None);
    }

    #[test]
    fn bucket_rules_are_checked() {
        let form = BucketForm {
            bucket_name: "Bad.Bucket".into(),
            region: "europe".into(),
            retention_days: 0,
            kms_key_id: "key with spaces".into(),
            replication_target: "Bad.Bucket".into(),
            ..bucket_form()
        };
        let violations = form.validate().unwrap_err();
        assert_eq!(
            fields(&violations),
            ["region", "bucket_name", "retention_days", "kms_key_id", "replication_target"]
        );
        let state =
            BucketForm { purpose: Choice::Value(BucketPurpose::BackendState), retention_days: 5, ..bucket_form() };
        assert_eq!(fields(&state.validate().unwrap_err()), ["retention_days"]);
        let unknown_region = BucketForm { region: "mars-north-9".into(), ..bucket_form() };
        assert_eq!(fields(&unknown_region.validate().unwrap_err()), ["region"]);
    }

    #[test]
    fn derived_bucket_names_are_legal_or_explained() {
        let long_owner = BucketForm { owner: format!("team-{}", "o".repeat(58)), ..bucket_form() };
        let spec = long_owner.validate().unwrap();
        assert!(check_bucket_name(&spec.bucket_name).is_ok(), "{}", spec.bucket_name);
        let reserved = BucketForm { owner: "sthree".into(), ..bucket_form() }.validate().unwrap_err();
        assert_eq!(fields(&reserved), ["bucket_name"]);
        assert!(reserved.0[0].description.contains("\"sthree-logs-prod-eu-west-1\""), "{reserved}");
        for bad_owner in ["-team", "team-", ""] {
            let violations = BucketForm { owner: bad_owner.into(), ..bucket_form() }.validate().unwrap_err();
            assert_eq!(fields(&violations), ["owner"], "{bad_owner}");
        }
    }

    #[test]
    fn text_limits_and_control_characters() {
        assert!(check_text("fine\nlines", 20, true).is_ok());
        assert!(check_text("  ", 20, true).is_err());
        assert!(check_text(&"x".repeat(21), 20, false).is_err());
        assert!(check_text("bell\u{7}", 20, false).is_err());
        assert!(check_idempotency_key("backstage:1234").is_ok());
        assert!(check_idempotency_key("has space").is_err());
        assert!(check_idempotency_key(&"k".repeat(129)).is_err());
        assert!(check_region("us-gov-west-1").is_ok());
        assert!(check_region("mars-north-9").is_err());
        assert!(check_region("").is_err());
    }
}
