//! Names Gantry derives from a request: the default role name, the default
//! bucket name and the Backstage entity name of a database. A name derived
//! from legal input is itself legal: when the plain form would be too long,
//! its first part is shortened and a digest of the whole first part keeps
//! names of different inputs apart.

use super::spec::{BucketPurpose, Environment};
use super::validate::NAME_MAX_BYTES;
pub use gantry_tiers::names::{ENTITY_NAME_MAX_BYTES, check_entity_name};
use gantry_tiers::names::{entity_name, fit};

/// Longest S3 bucket name.
pub const BUCKET_NAME_MAX_BYTES: usize = 63;

/// The role of a database whose request names none: `<database>_user`,
/// shortened to Postgres' 63 bytes for long database names.
pub fn default_username(database_name: &str) -> String {
    fit(database_name, '_', "user", NAME_MAX_BYTES)
}

/// The bucket of a request that names none (the platform's pattern:
/// project, purpose, environment, region): `<owner>-<purpose>-<environment>-<region>`,
/// shortened to S3's 63 characters for long owner names. Bucket names are
/// global, so the region keeps one team's buckets of two regions apart.
pub fn default_bucket_name(owner: &str, purpose: BucketPurpose, environment: Environment, region: &str) -> String {
    fit(owner, '-', &format!("{purpose}-{environment}-{region}"), BUCKET_NAME_MAX_BYTES)
}

/// The Backstage `metadata.name` of a database: `<database with - for _>-<environment>`,
/// shortened to Backstage's 63 characters for long database names (the
/// platform's rule, shared with the provisioner's export).
pub fn database_entity_name(database_name: &str, environment: Environment) -> String {
    entity_name(database_name, environment.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::validate::{check_bucket_name, check_identifier, check_slug};

    #[test]
    fn short_names_stay_as_they_were() {
        assert_eq!(default_username("orders"), "orders_user");
        assert_eq!(
            default_bucket_name("team-obs", BucketPurpose::Logs, Environment::Prod, "eu-west-1"),
            "team-obs-logs-prod-eu-west-1"
        );
        assert_eq!(database_entity_name("orders_db", Environment::Prod), "orders-db-prod");
    }

    #[test]
    fn the_longest_legal_inputs_give_legal_names() {
        let longest_database = format!("a{}", "b_".repeat(31));
        assert_eq!(longest_database.len(), NAME_MAX_BYTES);
        assert!(check_identifier(&longest_database).is_ok());
        let username = default_username(&longest_database);
        assert!(check_identifier(&username).is_ok(), "{username}");
        assert!(username.ends_with("_user"), "{username}");
        for environment in Environment::ALL {
            let name = database_entity_name(&longest_database, *environment);
            assert!(check_entity_name(&name).is_ok(), "{name}");
            assert!(name.ends_with(environment.as_str()));
        }
        let longest_owner = format!("t{}", "-x".repeat(31));
        assert!(check_slug(&longest_owner).is_ok());
        for purpose in BucketPurpose::ALL {
            for environment in Environment::ALL {
                for region in super::super::validate::AWS_REGIONS {
                    let bucket = default_bucket_name(&longest_owner, *purpose, *environment, region);
                    assert!(check_bucket_name(&bucket).is_ok(), "{bucket}");
                }
            }
        }
    }

    #[test]
    fn shortened_names_of_different_inputs_differ() {
        let first = format!("{}a", "x".repeat(62));
        let second = format!("{}b", "x".repeat(62));
        assert_ne!(default_username(&first), default_username(&second));
        assert_ne!(database_entity_name(&first, Environment::Dev), database_entity_name(&second, Environment::Dev));
    }

    #[test]
    fn backstage_names_follow_its_rules() {
        for good in ["a", "orders-db-prod", "A.b_c-9"] {
            assert!(check_entity_name(good).is_ok(), "{good}");
        }
        for bad in ["", "-a", "a-", "a b", &"a".repeat(64)] {
            assert!(check_entity_name(bad).is_err(), "{bad}");
        }
    }
}
