//! One environment's platform Postgres, as Gantry changes it: a
//! login role and a database it owns, made idempotently and only ever for
//! the request that made them (a role carries its request id as its
//! comment; a database is ours when our role owns it).
//!
//! Statements are never logged by the client (they hold SCRAM verifiers),
//! and passwords reach the server only as verifiers.

use gantry_eventlog::ReactError;
use secrecy::ExposeSecret as _;
use secrecy::SecretString;
use serde::{Deserialize, Serialize, Serializer};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions as _, Connection as _, PgConnection};
use std::str::FromStr as _;
use std::time::Duration;

/// One environment's platform Postgres.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentTarget {
    /// A connection URL of a role that may create roles and databases
    /// (`postgres://admin:…@db.internal:5432/postgres`). Never logged.
    #[serde(serialize_with = "redacted")]
    pub admin_url: SecretString,
    /// The host applications connect to, as written into their secret; the
    /// admin URL's host when unset.
    pub host: Option<String>,
    /// The port applications connect to; the admin URL's port when unset.
    pub port: Option<u16>,
}

fn redacted<S: Serializer>(_: &SecretString, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str("[redacted]")
}

/// The longest role name Postgres keeps (longer names are truncated).
pub const ROLE_NAME_MAX: usize = 63;

/// The second role of alternating-users rotation: `<role>_clone`, a member
/// of `<role>` whose sessions act as `<role>` (so what it creates is owned
/// by `<role>`), and whose password changes while `<role>`'s still works.
pub fn clone_of(role: &str) -> String {
    format!("{role}_clone")
}

/// How long connecting to an environment's Postgres may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What a database gets from its tiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabasePlan {
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

/// A role as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleState {
    /// It carries this request's marker.
    pub ours: bool,
    pub connection_limit: i32,
    pub login: bool,
}

/// A database as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseFound {
    pub owner: String,
    pub connection_limit: i32,
    /// Who may connect (`PUBLIC` for everyone), sorted.
    pub connect: Vec<String>,
    /// `log_statement = all` is set on the database.
    pub statement_logging: bool,
}

/// What exists of a plan's role and database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseState {
    pub role: Option<RoleState>,
    pub database: Option<DatabaseFound>,
}

/// The differences of what exists from the plan: (property, expected, actual).
pub fn differences(plan: &DatabasePlan, found: &DatabaseState) -> Vec<(&'static str, String, String)> {
    let mut differences = Vec::new();
    let limit = plan.connection_limit as i32;
    match &found.role {
        None => differences.push(("role", format!("{} (Gantry's)", plan.role), "missing".into())),
        Some(role) if !role.ours => {
            differences.push(("role", format!("{} (Gantry's)", plan.role), "not Gantry's".into()))
        }
        Some(role) => {
            if !role.login {
                differences.push(("login", "allowed".into(), "not allowed".into()));
            }
            if role.connection_limit != limit {
                differences.push(("role_connection_limit", limit.to_string(), role.connection_limit.to_string()));
            }
        }
    }
    let Some(database) = &found.database else {
        differences.push(("database", plan.database.clone(), "missing".into()));
        return differences;
    };
    if database.owner != plan.role {
        differences.push(("owner", plan.role.clone(), database.owner.clone()));
    }
    if database.connection_limit != limit {
        differences.push(("connection_limit", limit.to_string(), database.connection_limit.to_string()));
    }
    if database.connect != [plan.role.clone()] {
        differences.push(("connect_grants", plan.role.clone(), database.connect.join(", ")));
    }
    if database.statement_logging != plan.audit_logging {
        let word = |on: bool| if on { "all" } else { "default" }.to_owned();
        differences.push(("statement_logging", word(plan.audit_logging), word(database.statement_logging)));
    }
    differences
}

/// Logs in as `credentials` (a new password's proof), retrying a few times
/// a short while apart; a refused password stays an error.
pub async fn try_login(credentials: &crate::secrets::Credentials) -> Result<(), ReactError> {
    let options = PgConnectOptions::new()
        .host(&credentials.host)
        .port(credentials.port)
        .username(&credentials.username)
        .password(credentials.password.expose_secret())
        .database(&credentials.dbname)
        .disable_statement_logging();
    let mut last = String::new();
    for attempt in 0..5u32 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
        }
        match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options)).await {
            Ok(Ok(connection)) => {
                let _ = connection.close().await;
                return Ok(());
            }
            Ok(Err(error)) => last = error.to_string(),
            Err(_) => last = "timed out".into(),
        }
    }
    Err(ReactError::retryable(format!("a login as {} with the new password failed: {last}", credentials.username)))
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
pub struct Target {
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
    pub async fn connect(environment: &str, target: &EnvironmentTarget) -> Result<Self, ReactError> {
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
    pub async fn ensure_role(&mut self, plan: &DatabasePlan, verifier: &str) -> Result<(), ReactError> {
        let existing = self.role_marker(&plan.role).await?;
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
            Some(Some(comment)) if comment == marker(&plan.request_id) => {
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
    pub async fn ensure_database(&mut self, plan: &DatabasePlan) -> Result<(), ReactError> {
        let owner = self.database_owner(&plan.database).await?;
        let (database, role, limit) = (identifier(&plan.database), identifier(&plan.role), plan.connection_limit);
        match owner {
            None => {
                // CREATE DATABASE cannot run in a transaction; it is atomic itself.
                let create = format!("CREATE DATABASE {database} OWNER {role} CONNECTION LIMIT {limit}");
                self.run(&create, "creating the database").await?;
            }
            Some(owner) if owner == plan.role => {}
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

    /// Drops the database (when its role owns it) and the role (when it is
    /// this request's); what is gone already counts as dropped. Sessions
    /// still open on the database are ended (break-glass).
    pub async fn drop_database(&mut self, plan: &DatabasePlan) -> Result<(), ReactError> {
        let (database, role) = (identifier(&plan.database), identifier(&plan.role));
        match self.database_owner(&plan.database).await? {
            None => {}
            Some(owner) if owner == plan.role => {
                self.run(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"), "dropping the database").await?;
            }
            Some(_) => {
                return Err(ReactError::permanent(format!(
                    "database {} is not owned by {}; it is never dropped",
                    plan.database, plan.role
                )));
            }
        }
        // The clone of alternating-users rotation goes with its role; a
        // role of that name that is not this request's stays.
        let clone = clone_of(&plan.role);
        if self.role_marker(&clone).await?.flatten().is_some_and(|found| found == marker(&plan.request_id)) {
            self.run(&format!("DROP ROLE IF EXISTS {}", identifier(&clone)), "dropping the clone role").await?;
        }
        match self.role_marker(&plan.role).await? {
            None => Ok(()),
            Some(Some(marker_found)) if marker_found == marker(&plan.request_id) => {
                self.run(&format!("DROP ROLE IF EXISTS {role}"), "dropping the role").await
            }
            Some(_) => {
                Err(ReactError::permanent(format!("role {} is not this request's; it is never dropped", plan.role)))
            }
        }
    }

    /// Makes the clone of `plan.role` for alternating users with this
    /// password verifier ([`clone_of`]: a login role in `plan.role`, acting
    /// as it, with its connection limit and this request's marker), or sets
    /// the verifier of the one an earlier rotation made. A role of that
    /// name that is not this request's is refused.
    pub async fn ensure_clone(&mut self, plan: &DatabasePlan, verifier: &str) -> Result<(), ReactError> {
        let clone = clone_of(&plan.role);
        if clone.len() > ROLE_NAME_MAX {
            return Err(ReactError::permanent(format!(
                "role {clone} would be longer than {ROLE_NAME_MAX} bytes; alternating users need a shorter username"
            )));
        }
        let (quoted, role, limit) = (identifier(&clone), identifier(&plan.role), plan.connection_limit);
        match self.role_marker(&clone).await? {
            None => {
                // One simple query is one transaction: the clone never exists half made.
                let create = format!(
                    "CREATE ROLE {quoted} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS \
                     CONNECTION LIMIT {limit} PASSWORD '{verifier}' IN ROLE {role}; \
                     COMMENT ON ROLE {quoted} IS '{}'; \
                     ALTER ROLE {quoted} SET role = '{}'",
                    marker(&plan.request_id),
                    plan.role.replace('\'', "''")
                );
                self.run(&create, "creating the clone role").await
            }
            Some(Some(found)) if found == marker(&plan.request_id) => {
                let alter = format!("ALTER ROLE {quoted} LOGIN CONNECTION LIMIT {limit} PASSWORD '{verifier}'");
                self.run(&alter, "setting the clone role's password").await
            }
            Some(_) => Err(ReactError::permanent(format!(
                "role {clone} exists on the platform Postgres and is not this request's; it is never adopted"
            ))),
        }
    }

    /// The owner of a database, `None` when there is no such database.
    async fn database_owner(&mut self, database: &str) -> Result<Option<String>, ReactError> {
        let owner: Option<(String,)> =
            sqlx::query_as("SELECT pg_catalog.pg_get_userbyid(datdba) FROM pg_catalog.pg_database WHERE datname = $1")
                .bind(database)
                .fetch_optional(&mut self.connection)
                .await
                .map_err(|error| retryable("looking up the database", error))?;
        Ok(owner.map(|(owner,)| owner))
    }

    /// The comment of a role (`Some(None)`: a role without one), `None` when there is no such role.
    async fn role_marker(&mut self, role: &str) -> Result<Option<Option<String>>, ReactError> {
        let existing: Option<(Option<String>,)> =
            sqlx::query_as("SELECT shobj_description(oid, 'pg_authid') FROM pg_catalog.pg_roles WHERE rolname = $1")
                .bind(role)
                .fetch_optional(&mut self.connection)
                .await
                .map_err(|error| retryable("looking up the role", error))?;
        Ok(existing.map(|(comment,)| comment))
    }

    /// Reads what exists of the plan's role and database.
    pub async fn inspect(&mut self, plan: &DatabasePlan) -> Result<DatabaseState, ReactError> {
        let role: Option<(Option<String>, i32, bool)> = sqlx::query_as(
            "SELECT shobj_description(oid, 'pg_authid'), rolconnlimit, rolcanlogin FROM pg_catalog.pg_roles
             WHERE rolname = $1",
        )
        .bind(&plan.role)
        .fetch_optional(&mut self.connection)
        .await
        .map_err(|error| retryable("looking up the role", error))?;
        let database: Option<(String, i32, Vec<String>, bool)> = sqlx::query_as(
            "SELECT pg_catalog.pg_get_userbyid(d.datdba), d.datconnlimit,
                 COALESCE((SELECT array_agg(CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                                                 ELSE pg_catalog.pg_get_userbyid(a.grantee) END ORDER BY 1)
                           FROM aclexplode(COALESCE(d.datacl, acldefault('d', d.datdba))) a
                           WHERE a.privilege_type = 'CONNECT'), '{}'),
                 EXISTS (SELECT 1 FROM pg_catalog.pg_db_role_setting s
                         WHERE s.setdatabase = d.oid AND s.setrole = 0 AND 'log_statement=all' = ANY (s.setconfig))
             FROM pg_catalog.pg_database d WHERE d.datname = $1",
        )
        .bind(&plan.database)
        .fetch_optional(&mut self.connection)
        .await
        .map_err(|error| retryable("looking up the database", error))?;
        Ok(DatabaseState {
            role: role.as_ref().map(|(comment, limit, login)| RoleState {
                ours: comment.as_deref() == Some(marker(&plan.request_id).as_str()),
                connection_limit: *limit,
                login: *login,
            }),
            database: database.map(|(owner, connection_limit, mut connect, statement_logging)| {
                connect.sort();
                connect.dedup();
                DatabaseFound { owner, connection_limit, connect, statement_logging }
            }),
        })
    }

    /// Sets what drifted back to the plan: the owner, `CONNECT` for the role
    /// alone, limits and logging; the role's password from its secret when
    /// `verifier` is given. A missing database cannot be repaired.
    pub async fn repair(
        &mut self,
        plan: &DatabasePlan,
        verifier: Option<&str>,
        found: &DatabaseState,
    ) -> Result<(), ReactError> {
        let (database, role) = (identifier(&plan.database), identifier(&plan.role));
        match (&found.role, verifier) {
            (Some(state), _) if !state.ours => return Ok(()),
            (_, Some(verifier)) => self.ensure_role(plan, verifier).await?,
            (Some(_), None) => {
                let alter = format!("ALTER ROLE {role} LOGIN CONNECTION LIMIT {}", plan.connection_limit);
                self.run(&alter, "updating the role").await?;
            }
            (None, None) => return Ok(()),
        }
        let Some(existing) = &found.database else { return Ok(()) };
        if existing.owner != plan.role {
            self.run(&format!("ALTER DATABASE {database} OWNER TO {role}"), "giving the database back").await?;
        }
        for grantee in existing.connect.iter().filter(|grantee| **grantee != plan.role && *grantee != "PUBLIC") {
            let revoke = format!("REVOKE CONNECT ON DATABASE {database} FROM {}", identifier(grantee));
            self.run(&revoke, "revoking CONNECT").await?;
        }
        self.ensure_database(plan).await
    }

    /// Sets the password of `role` (only if it is `request_id`'s) to the one
    /// of this SCRAM verifier.
    pub async fn set_password(&mut self, role: &str, request_id: &str, verifier: &str) -> Result<(), ReactError> {
        match self.role_marker(role).await? {
            Some(Some(found)) if found == marker(request_id) => {
                let alter = format!("ALTER ROLE {} PASSWORD '{verifier}'", identifier(role));
                self.run(&alter, "setting the role's password").await
            }
            None => Err(ReactError::permanent(format!("role {role} does not exist"))),
            Some(_) => Err(ReactError::permanent(format!("role {role} is not this request's; it is never changed"))),
        }
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
    pub async fn close(self) {
        let _ = self.connection.close().await;
    }
}
