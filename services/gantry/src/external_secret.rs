//! `gantry database external-secret`: the ExternalSecret manifest
//! (`external-secrets.io/v1`, the operator's stable API) that syncs a ready
//! database's credentials from AWS Secrets Manager, through a
//! ClusterSecretStore, into a Kubernetes Secret with the `POSTGRES_*` keys
//! applications read. Built from typed structs and serialised, never from
//! a text template; pure, so the tests parse what it renders.

use crate::cli::{ExternalSecretArgs, format_duration};
use crate::failure::Failure;
use crate::output::{environment_word, resource_status_word};
use gantry_proto::provisioner as pb;
use serde::Serialize;
use std::collections::BTreeMap;

/// The API version of the manifest: v1 is served since external-secrets
/// 0.16 and the only one from 0.17 on (v1beta1 is no longer served).
pub(crate) const API_VERSION: &str = "external-secrets.io/v1";

/// Each key of the Kubernetes Secret and the property of the credentials'
/// JSON (`{username,password,host,port,dbname}`) it is read from.
pub(crate) const SECRET_KEYS: [(&str, &str); 5] = [
    ("POSTGRES_USER", "username"),
    ("POSTGRES_PASSWORD", "password"),
    ("POSTGRES_HOST", "host"),
    ("POSTGRES_PORT", "port"),
    ("POSTGRES_DB", "dbname"),
];

/// An `ExternalSecret` resource.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ExternalSecret {
    api_version: &'static str,
    kind: &'static str,
    metadata: Metadata,
    spec: Spec,
}

/// Its name, namespace and where it came from.
#[derive(Debug, Serialize)]
struct Metadata {
    name: String,
    namespace: String,
    annotations: BTreeMap<&'static str, String>,
}

/// What to read, from which store, into which Secret, how often.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    refresh_interval: String,
    secret_store_ref: StoreRef,
    target: Target,
    data: Vec<SecretData>,
}

/// The store that reads Secrets Manager.
#[derive(Debug, Serialize)]
struct StoreRef {
    name: String,
    kind: &'static str,
}

/// The Kubernetes Secret made (and owned, so deleted with it).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Target {
    name: String,
    creation_policy: &'static str,
}

/// One key of the Secret.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SecretData {
    secret_key: &'static str,
    remote_ref: RemoteRef,
}

/// One property of the secret in Secrets Manager.
#[derive(Debug, Serialize)]
struct RemoteRef {
    key: String,
    property: &'static str,
}

impl ExternalSecret {
    /// Returns the manifest for a database; it must be ready, with its
    /// credentials stored.
    pub(crate) fn for_database(database: &pb::Database, args: &ExternalSecretArgs) -> anyhow::Result<Self> {
        ensure_ready(database)?;
        let name = args.target_name.clone().unwrap_or_else(|| default_target_name(&database.database_name));
        let data = SECRET_KEYS
            .iter()
            .map(|(secret_key, property)| SecretData {
                secret_key,
                remote_ref: RemoteRef { key: database.secret_name.clone(), property },
            })
            .collect();
        let annotations = BTreeMap::from([
            ("gantry.dev/request-id", database.request_id.clone()),
            ("gantry.dev/database", database.database_name.clone()),
            ("gantry.dev/environment", environment_word(database.environment)),
        ]);
        Ok(Self {
            api_version: API_VERSION,
            kind: "ExternalSecret",
            metadata: Metadata { name: name.clone(), namespace: args.namespace.clone(), annotations },
            spec: Spec {
                refresh_interval: format_duration(args.refresh_interval),
                secret_store_ref: StoreRef { name: args.store.clone(), kind: "ClusterSecretStore" },
                target: Target { name, creation_policy: "Owner" },
                data,
            },
        })
    }

    /// Returns the manifest as one YAML document.
    pub(crate) fn to_yaml(&self) -> anyhow::Result<String> {
        Ok(serde_yaml_ng::to_string(self)?)
    }
}

/// Refuses a database that is not ready or has no stored credentials.
fn ensure_ready(database: &pb::Database) -> anyhow::Result<()> {
    let which = format!("database {} ({})", database.database_name, environment_word(database.environment));
    let ready = database.status == pb::ResourceStatus::Ready as i32;
    if ready && !database.secret_name.is_empty() {
        return Ok(());
    }
    let message = match ready {
        true => format!("{which} is ready but has no stored credentials to reference"),
        false => {
            format!("{which} is {}, not ready: no credentials to reference", resource_status_word(database.status))
        }
    };
    Err(Failure::new("FAILED_PRECONDITION", message)
        .with_hint(format!("follow it with `gantry request watch {}`", database.request_id))
        .into())
}

/// Returns `<database, _ as ->-postgres`, a legal Kubernetes name.
fn default_target_name(database: &str) -> String {
    format!("{}-postgres", database.replace('_', "-"))
}

/// Parses a namespace (a DNS-1123 label: a Kubernetes name without dots,
/// at most 63 characters).
pub(crate) fn parse_namespace(text: &str) -> Result<String, String> {
    match text.contains('.') || text.len() > 63 {
        true => Err(format!("{text:?} is not a namespace: at most 63 lower case letters, digits and '-'")),
        false => parse_kubernetes_name(text),
    }
}

/// Parses a Kubernetes object name (a DNS-1123 subdomain: lower case
/// letters, digits, `-` and `.`, at most 253, starting and ending with a
/// letter or digit).
pub(crate) fn parse_kubernetes_name(text: &str) -> Result<String, String> {
    let labels_are_legal = text.split('.').all(|label| {
        let bytes = label.as_bytes();
        let edges = |byte: Option<&u8>| byte.is_some_and(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit());
        edges(bytes.first())
            && edges(bytes.last())
            && bytes.iter().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || *byte == b'-')
            && bytes.len() <= 63
    });
    match labels_are_legal && text.len() <= 253 {
        true => Ok(text.to_owned()),
        false => Err(format!(
            "{text:?} is not a Kubernetes name: lower case letters, digits, '-' and '.', \
             starting and ending with a letter or digit"
        )),
    }
}

#[cfg(test)]
mod tests;
