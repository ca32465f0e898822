//! Database credentials in AWS Secrets Manager: one secret per database,
//! its value the JSON `{username,password,host,port,dbname}`, tagged with
//! the request it belongs to. A secret not tagged with the request is never
//! read or changed.

use crate::aws::Aws;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::types::Tag;
use gantry_eventlog::ReactError;
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime};

/// The tag naming the request a secret belongs to.
pub const REQUEST_TAG: &str = "gantry:request-id";

/// What applications read from their secret. The password is only in
/// memory here; `Debug` leaves it out.
#[derive(Clone, Serialize, Deserialize)]
pub struct Credentials {
    /// The login role.
    pub username: String,
    /// Its password.
    #[serde(serialize_with = "expose", deserialize_with = "secret")]
    pub password: SecretString,
    /// Where applications connect.
    pub host: String,
    /// The port they connect to.
    pub port: u16,
    /// Their database.
    pub dbname: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Credentials")
            .field("username", &self.username)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("dbname", &self.dbname)
            .finish_non_exhaustive()
    }
}

fn expose<S: serde::Serializer>(password: &SecretString, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(password.expose_secret())
}

fn secret<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<SecretString, D::Error> {
    String::deserialize(deserializer).map(SecretString::from)
}

/// A secret found under a name.
#[derive(Debug)]
pub enum Found {
    /// No secret has the name.
    Missing,
    /// Ours: its current version and credentials.
    Ours {
        /// The `AWSCURRENT` version.
        version_id: String,
        /// Its value.
        credentials: Credentials,
    },
    /// Someone else's (no or another request tag).
    Foreign,
}

/// Secrets Manager as the provisioner uses it; the client is made on first use.
#[derive(Debug, Clone)]
pub struct SecretStore {
    aws: Aws,
    client: std::sync::Arc<tokio::sync::OnceCell<Client>>,
}

/// Describes an SDK error without anything secret (the SDK's own messages
/// name the operation and the service's error, never a secret's value).
fn described<E: std::error::Error + Send + Sync + 'static>(
    operation: &str,
    error: &aws_sdk_secretsmanager::error::SdkError<E>,
) -> String {
    format!("Secrets Manager {operation}: {}", aws_sdk_secretsmanager::error::DisplayErrorContext(error))
}

impl SecretStore {
    /// A store on the shared AWS configuration.
    pub fn new(aws: Aws) -> Self {
        Self { aws, client: Default::default() }
    }

    async fn client(&self) -> &Client {
        self.client.get_or_init(|| async { Client::new(self.aws.config().await) }).await
    }

    /// Looks `name` up: missing, ours (tagged with `request_id`) with its
    /// current credentials, or someone else's.
    pub async fn find(&self, name: &str, request_id: &str) -> Result<Found, ReactError> {
        let description = match self.client().await.describe_secret().secret_id(name).send().await {
            Ok(description) => description,
            Err(error) if error.as_service_error().is_some_and(|error| error.is_resource_not_found_exception()) => {
                return Ok(Found::Missing);
            }
            Err(error) => return Err(ReactError::retryable(described("DescribeSecret", &error))),
        };
        let ours =
            description.tags().iter().any(|tag| tag.key() == Some(REQUEST_TAG) && tag.value() == Some(request_id));
        if !ours {
            return Ok(Found::Foreign);
        }
        // Ask for AWSCURRENT by name: the emulator answers a stale version otherwise.
        let value = self
            .client()
            .await
            .get_secret_value()
            .secret_id(name)
            .version_stage("AWSCURRENT")
            .send()
            .await
            .map_err(|error| ReactError::retryable(described("GetSecretValue", &error)))?;
        let credentials = value
            .secret_string()
            .and_then(|text| serde_json::from_str::<Credentials>(text).ok())
            .ok_or_else(|| ReactError::permanent(format!("secret {name} does not hold database credentials")))?;
        Ok(Found::Ours { version_id: value.version_id().unwrap_or_default().to_owned(), credentials })
    }

    /// Creates `name` holding `credentials`, tagged; `token` makes a retry
    /// of the same call create nothing more. Returns the version id.
    pub async fn create(
        &self,
        name: &str,
        credentials: &Credentials,
        tags: &[(&str, &str)],
        token: &str,
    ) -> Result<String, ReactError> {
        let value = serde_json::to_string(credentials)
            .map_err(|error| ReactError::permanent(format!("encoding credentials: {error}")))?;
        let tags = tags.iter().map(|(key, value)| Tag::builder().key(*key).value(*value).build()).collect();
        let created = self
            .client()
            .await
            .create_secret()
            .name(name)
            .description("Database credentials managed by Gantry")
            .secret_string(value)
            .client_request_token(token)
            .set_tags(Some(tags))
            .send()
            .await
            // A concurrent or earlier creation is found by the next attempt.
            .map_err(|error| ReactError::retryable(described("CreateSecret", &error)))?;
        Ok(created.version_id().unwrap_or_default().to_owned())
    }

    /// Schedules `name` (ours only) for deletion, recoverable for
    /// `window_days`; returns when it will be gone, or `None` when there is
    /// no such secret. A secret already scheduled is left as it is.
    pub async fn delete(
        &self,
        name: &str,
        request_id: &str,
        window_days: u32,
    ) -> Result<Option<SystemTime>, ReactError> {
        let description = match self.client().await.describe_secret().secret_id(name).send().await {
            Ok(description) => description,
            Err(error) if error.as_service_error().is_some_and(|error| error.is_resource_not_found_exception()) => {
                return Ok(None);
            }
            Err(error) => return Err(ReactError::retryable(described("DescribeSecret", &error))),
        };
        let ours =
            description.tags().iter().any(|tag| tag.key() == Some(REQUEST_TAG) && tag.value() == Some(request_id));
        if !ours {
            return Err(ReactError::permanent(format!("secret {name} is not this request's; it is never deleted")));
        }
        let window = Duration::from_secs(u64::from(window_days) * 86_400);
        if let Some(deleted) = description.deleted_date() {
            return Ok(Some(SystemTime::try_from(*deleted).unwrap_or(SystemTime::UNIX_EPOCH) + window));
        }
        let deleted = self
            .client()
            .await
            .delete_secret()
            .secret_id(name)
            .recovery_window_in_days(i64::from(window_days))
            .send()
            .await
            .map_err(|error| ReactError::retryable(described("DeleteSecret", &error)))?;
        Ok(Some(
            deleted
                .deletion_date()
                .and_then(|date| SystemTime::try_from(*date).ok())
                .unwrap_or_else(|| SystemTime::now() + window),
        ))
    }

    /// The credentials of version `version_id`, or `None` when the secret
    /// has no such version (a rotation's pending version not stored yet).
    pub async fn version(&self, name: &str, version_id: &str) -> Result<Option<Credentials>, ReactError> {
        match self.client().await.get_secret_value().secret_id(name).version_id(version_id).send().await {
            Ok(value) => value
                .secret_string()
                .and_then(|text| serde_json::from_str::<Credentials>(text).ok())
                .map(Some)
                .ok_or_else(|| ReactError::permanent(format!("secret {name} does not hold database credentials"))),
            Err(error) if error.as_service_error().is_some_and(|error| error.is_resource_not_found_exception()) => {
                Ok(None)
            }
            Err(error) => Err(ReactError::retryable(described("GetSecretValue", &error))),
        }
    }

    /// Stores `credentials` as version `token` labelled `AWSPENDING` (the
    /// token makes a retried call store nothing more).
    pub async fn put_pending(&self, name: &str, credentials: &Credentials, token: &str) -> Result<(), ReactError> {
        let value = serde_json::to_string(credentials)
            .map_err(|error| ReactError::permanent(format!("encoding credentials: {error}")))?;
        self.client()
            .await
            .put_secret_value()
            .secret_id(name)
            .secret_string(value)
            .client_request_token(token)
            .version_stages("AWSPENDING")
            .send()
            .await
            .map_err(|error| ReactError::retryable(described("PutSecretValue", &error)))?;
        Ok(())
    }

    /// Makes version `version_id` current (the current one, `previous`,
    /// becomes `AWSPREVIOUS`) and takes `AWSPENDING` off it. Each move is
    /// skipped when done already, so a retry after a crash finishes it.
    /// `fresh`: this caller stored the version labelled `AWSPENDING` itself
    /// in this attempt, so the label is known to be there (one call fewer).
    pub async fn promote(&self, name: &str, version_id: &str, previous: &str, fresh: bool) -> Result<(), ReactError> {
        if previous != version_id {
            self.client()
                .await
                .update_secret_version_stage()
                .secret_id(name)
                .version_stage("AWSCURRENT")
                .move_to_version_id(version_id)
                .remove_from_version_id(previous)
                .send()
                .await
                .map_err(|error| ReactError::retryable(described("UpdateSecretVersionStage", &error)))?;
        }
        if fresh { self.remove_pending(name, version_id).await } else { self.unstage_pending(name, version_id).await }
    }

    /// Takes `AWSPENDING` off version `version_id`, if it has it (Secrets
    /// Manager moves only the label it names: a finished or abandoned
    /// rotation must remove it itself).
    pub async fn unstage_pending(&self, name: &str, version_id: &str) -> Result<(), ReactError> {
        let listed = self
            .client()
            .await
            .list_secret_version_ids()
            .secret_id(name)
            .send()
            .await
            .map_err(|error| ReactError::retryable(described("ListSecretVersionIds", &error)))?;
        let pending = listed.versions().iter().any(|version| {
            version.version_id() == Some(version_id)
                && version.version_stages().iter().any(|stage| stage == "AWSPENDING")
        });
        if pending { self.remove_pending(name, version_id).await } else { Ok(()) }
    }

    /// Takes `AWSPENDING` off version `version_id`, which has it.
    async fn remove_pending(&self, name: &str, version_id: &str) -> Result<(), ReactError> {
        self.client()
            .await
            .update_secret_version_stage()
            .secret_id(name)
            .version_stage("AWSPENDING")
            .remove_from_version_id(version_id)
            .send()
            .await
            .map_err(|error| ReactError::retryable(described("UpdateSecretVersionStage", &error)))?;
        Ok(())
    }
}
