//! One environment's platform Postgres, as the provisioner changes it: a
//! login role and a database it owns, made idempotently and only ever for
//! the request that made them (a role carries its request id as its
//! comment; a database is ours when our role owns it).
//!
//! Statements are never logged by the client (they hold SCRAM verifiers),
//! and passwords reach the server only as verifiers.

use crate::settings::EnvironmentTarget;
use gantry_eventlog::ReactError;
use secrecy::ExposeSecret as _;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions as _, Connection as _, PgConnection};
use std::str::FromStr as _;
use std::time::Duration;

/// How long connecting to an environment's Postgres may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What a database gets from its tiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DatabasePlan {
    /// The database's name.
    pub database: String,
    /// Its login role.
    pub role: String,
    /// Most connections of the role and of the database (size tier).
    pub connection_limit: u32,
    /// Every statement logged on this database (risk high and access).
    pub audit_logging: bool,
    /// The request both belong to, written on the role.
    pub request_id: String,
}

/// Quotes an identifier for SQL (names are validated by intake already;
/// quoting keeps a bad one from ever being anything but a name).
fn identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The comment a role of `request_id` carries.
fn marker(request_id: &str) -> String {
    format!("gantry request {request_id}")
}

fn retryable(what: &str, error: sqlx::Error) -> ReactError {
    ReactError::retryable(format!("{what}: {error}"))
}

/// An open admin connection to one environment's platform Postgres.
pub(crate) struct Target {
    connection: PgConnection,
    /// Where applications connect.
    pub host: String,
    /// The port they connect to.
    pub port: u16,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Target").field("host", &self.host).field("port", &self.port).finish_non_exhaustive()
    }
}

impl Target {
    /// Connects as the environment's admin; a refused or slow connection is
    /// retryable, a malformed URL is not.
    pub(crate) async fn connect(environment: &str, target: &EnvironmentTarget) -> Result<Self, ReactError> {
        let options = PgConnectOptions::from_str(target.admin_url.expose_secret())
            .map_err(|_| ReactError::permanent(format!("the admin URL of environment {environment} is malformed")))?
            .disable_statement_logging();
        let host = target.host.clone().unwrap_or_else(|| options.get_host().to_owned());
        let port = target.port.unwrap_or_else(|| options.get_port());
        let connection = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options))
            .await
            .map_err(|_| ReactError::retryable(format!("connecting to the {environment} platform Postgres timed out")))?
            .map_err(|error| retryable(&format!("connecting to the {environment} platform Postgres"), error))?;
        Ok(Self { connection, host, port })
    }

    /// Makes the role with this password verifier, or, when an earlier
    /// attempt of the same request made it, sets the verifier and limits
    /// again. A role of that name that is not this request's is refused.
    pub(crate) async fn ensure_role(&mut self, plan: &DatabasePlan, verifier: &str) -> Result<(), ReactError> {
        let existing: Option<(Option<String>,)> =
            sqlx::query_as("SELECT shobj_description(oid, 'pg_authid') FROM pg_catalog.pg_roles WHERE rolname = $1")
                .bind(&plan.role)
                .fetch_optional(&mut self.connection)
                .await
                .map_err(|error| retryable("looking up the role", error))?;
        let role = identifier(&plan.role);
        let limit = plan.connection_limit;
        match existing {
            None => {
                // One simple query is one transaction: a role never exists without its marker.
                let create = format!(
                    "CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS \
                     CONNECTION LIMIT {limit} PASSWORD '{verifier}'; \
                     COMMENT ON ROLE {role} IS '{}'",
                    marker(&plan.request_id)
                );
                self.run(&create, "creating the role").await?;
            }
            Some((Some(comment),)) if comment == marker(&plan.request_id) => {
                let alter = format!("ALTER ROLE {role} LOGIN CONNECTION LIMIT {limit} PASSWORD '{verifier}'");
                self.run(&alter, "updating the role").await?;
            }
            Some(_) => {
                return Err(ReactError::permanent(format!(
                    "role {} exists on the platform Postgres and is not this request's; it is never adopted",
                    plan.role
                )));
            }
        }
        Ok(())
    }

    /// Makes the database, owned by the role, or finds it made by an
    /// earlier attempt; then (again, idempotently) revokes `CONNECT` from
    /// `PUBLIC`, sets the connection limit and the risk's logging. A
    /// database of that name that the role does not own is refused.
    pub(crate) async fn ensure_database(&mut self, plan: &DatabasePlan) -> Result<(), ReactError> {
        let owner: Option<(String,)> =
            sqlx::query_as("SELECT pg_catalog.pg_get_userbyid(datdba) FROM pg_catalog.pg_database WHERE datname = $1")
                .bind(&plan.database)
                .fetch_optional(&mut self.connection)
                .await
                .map_err(|error| retryable("looking up the database", error))?;
        let (database, role, limit) = (identifier(&plan.database), identifier(&plan.role), plan.connection_limit);
        match owner {
            None => {
                // CREATE DATABASE cannot run in a transaction; it is atomic itself.
                let create = format!("CREATE DATABASE {database} OWNER {role} CONNECTION LIMIT {limit}");
                self.run(&create, "creating the database").await?;
            }
            Some((owner,)) if owner == plan.role => {}
            Some(_) => {
                return Err(ReactError::permanent(format!(
                    "database {} exists on the platform Postgres and is not this request's; it is never adopted",
                    plan.database
                )));
            }
        }
        let logging = if plan.audit_logging { "SET log_statement = 'all'" } else { "RESET log_statement" };
        let settings = format!(
            "REVOKE ALL ON DATABASE {database} FROM PUBLIC; \
             GRANT CONNECT, TEMPORARY ON DATABASE {database} TO {role}; \
             ALTER DATABASE {database} CONNECTION LIMIT {limit}; \
             ALTER DATABASE {database} {logging}"
        );
        self.run(&settings, "setting the database's access and controls").await
    }

    /// Runs statements as one simple query (one implicit transaction).
    async fn run(&mut self, statements: &str, what: &str) -> Result<(), ReactError> {
        // A query without arguments goes as one simple query.
        sqlx::Executor::execute(&mut self.connection, statements)
            .await
            .map(drop)
            .map_err(|error| retryable(what, error))
    }

    /// Closes the connection.
    pub(crate) async fn close(self) {
        let _ = self.connection.close().await;
    }
}
