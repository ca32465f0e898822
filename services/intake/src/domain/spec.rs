//! The resources a request asks for, in domain types.

use serde::{Deserialize, Serialize};

macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "kebab-case")]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// Returns the lowercase name used in files, the CLI and the catalog.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            /// Parses the lowercase name.
            pub fn parse(text: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|value| value.as_str() == text)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str(self.as_str())
            }
        }
    };
}

vocabulary!(
    /// Where a resource lives.
    Environment { Dev = "dev", Test = "test", Staging = "staging", Prod = "prod" }
);
vocabulary!(
    /// Risk class of the data.
    Risk { None = "none", Low = "low", Medium = "medium", High = "high", Access = "access" }
);
vocabulary!(
    /// Database size.
    Size { Small = "small", Medium = "medium", Large = "large", Xlarge = "xlarge" }
);
vocabulary!(
    /// What a bucket is for.
    BucketPurpose { BackendState = "backend-state", Logs = "logs", Traces = "traces", Artifacts = "artifacts" }
);

vocabulary!(
    /// What becomes of a decommissioned database's secret.
    SecretPolicy { Delete = "delete", Retain = "retain" }
);

/// A requested Postgres database (validated).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseSpec {
    /// Database name.
    pub database_name: String,
    /// Role that owns it.
    pub username: String,
    /// Owning team.
    pub owner: String,
    /// The person who asked.
    pub requester: String,
    /// Environment.
    pub environment: Environment,
    /// Business domain.
    pub domain: String,
    /// Data risk.
    pub risk: Risk,
    /// Size.
    pub size: Size,
}

/// A requested S3 bucket (validated).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketSpec {
    /// Bucket name.
    pub bucket_name: String,
    /// Purpose (sets lifecycle rules).
    pub purpose: BucketPurpose,
    /// Environment.
    pub environment: Environment,
    /// AWS region.
    pub region: String,
    /// Owning team.
    pub owner: String,
    /// The person who asked.
    pub requester: String,
    /// Retention in days (0: never expires).
    pub retention_days: u32,
    /// KMS key for SSE-KMS; SSE-S3 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    /// Replication destination bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_target: Option<String>,
}

/// What a request is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ResourceSpec {
    /// A database.
    Database(DatabaseSpec),
    /// A bucket.
    Bucket(BucketSpec),
}

impl ResourceSpec {
    /// Returns `database` or `bucket`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Database(_) => "database",
            Self::Bucket(_) => "bucket",
        }
    }

    /// Returns the resource's name.
    pub fn name(&self) -> &str {
        match self {
            Self::Database(spec) => &spec.database_name,
            Self::Bucket(spec) => &spec.bucket_name,
        }
    }

    /// Returns the environment.
    pub fn environment(&self) -> Environment {
        match self {
            Self::Database(spec) => spec.environment,
            Self::Bucket(spec) => spec.environment,
        }
    }

    /// Returns the owning team.
    pub fn owner(&self) -> &str {
        match self {
            Self::Database(spec) => &spec.owner,
            Self::Bucket(spec) => &spec.owner,
        }
    }

    /// Returns the person who asked.
    pub fn requester(&self) -> &str {
        match self {
            Self::Database(spec) => &spec.requester,
            Self::Bucket(spec) => &spec.requester,
        }
    }

    /// Returns the names the request holds while it is live, in the order
    /// they are reserved: a database's name and its role's, one live request
    /// each per environment; a bucket's name (bucket names are global).
    pub fn reserved_names(&self) -> Vec<ReservedName> {
        match self {
            Self::Database(spec) => vec![
                ReservedName {
                    id: format!("{}.{}", spec.environment, spec.database_name),
                    field: "database_name",
                    description: format!("database {} ({})", spec.database_name, spec.environment),
                },
                ReservedName {
                    id: format!("{}.role.{}", spec.environment, spec.username),
                    field: "username",
                    description: format!("role {} ({})", spec.username, spec.environment),
                },
            ],
            Self::Bucket(spec) => vec![ReservedName {
                id: format!("s3.{}", spec.bucket_name),
                field: "bucket_name",
                description: format!("bucket {} ({})", spec.bucket_name, spec.environment),
            }],
        }
    }

    /// Returns true when `reservation_id` names one of the request's names.
    pub fn holds_reservation(&self, reservation_id: &str) -> bool {
        self.reserved_names().iter().any(|name| name.id == reservation_id)
    }
}

/// A name a live request holds, decided on its own subject of the `name`
/// aggregate. The ids never meet: a database's is `<env>.<database>` (two
/// tokens), a role's `<env>.role.<username>` (three), a bucket's
/// `s3.<bucket>` (no environment is called `s3`); names have no dots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservedName {
    /// Id of the reservation aggregate.
    pub id: String,
    /// The request's field that gives the name (for a field violation).
    pub field: &'static str,
    /// What it is, for messages: `role orders_user (prod)`.
    pub description: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabulary_round_trips() {
        for purpose in BucketPurpose::ALL {
            assert_eq!(BucketPurpose::parse(purpose.as_str()), Some(*purpose));
        }
        assert_eq!(BucketPurpose::BackendState.as_str(), "backend-state");
        assert_eq!(Environment::parse("production"), None);
    }

    #[test]
    fn a_database_reserves_its_name_and_its_role_on_subjects_that_never_meet() {
        let spec = ResourceSpec::Database(DatabaseSpec {
            database_name: "role".into(),
            username: "role".into(),
            owner: "team".into(),
            requester: "alice".into(),
            environment: Environment::Prod,
            domain: "d".into(),
            risk: Risk::Low,
            size: Size::Small,
        });
        let ids: Vec<String> = spec.reserved_names().into_iter().map(|name| name.id).collect();
        assert_eq!(ids, ["prod.role", "prod.role.role"]);
        assert!(spec.holds_reservation("prod.role.role") && !spec.holds_reservation("dev.role.role"));
    }
}
