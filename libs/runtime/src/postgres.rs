//! A Postgres pool bound to one service's own schema: the schema is created
//! if missing and every connection's `search_path` is set to it, so a
//! service's migrations and queries never see another service's tables.

use crate::config::DatabaseSettings;
use anyhow::Context as _;
use secrecy::ExposeSecret as _;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions as _, Connection as _, PgPool};
use std::str::FromStr as _;
use std::time::Duration;

/// Returns true for a schema name Gantry accepts (a plain lowercase identifier).
pub fn is_valid_schema(schema: &str) -> bool {
    let mut characters = schema.chars();
    matches!(characters.next(), Some('a'..='z' | '_'))
        && characters.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
        && schema.len() <= 63
}

/// Returns a pool whose connections use `schema`, without connecting: a
/// service starts while Postgres is down, and its calls that need Postgres
/// fail after `acquire_timeout` until it is back (see [`is_unavailable`]).
pub fn lazy_pool(settings: &DatabaseSettings, schema: &str) -> anyhow::Result<PgPool> {
    anyhow::ensure!(is_valid_schema(schema), "invalid schema name {schema:?}");
    let options = connect_options(settings)?;
    Ok(PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout())
        .connect_lazy_with(options.options([("search_path", schema)])))
}

/// Creates `schema` if it is missing.
pub async fn create_schema(settings: &DatabaseSettings, schema: &str) -> anyhow::Result<()> {
    anyhow::ensure!(is_valid_schema(schema), "invalid schema name {schema:?}");
    let options = connect_options(settings)?;
    let mut connection =
        tokio::time::timeout(settings.acquire_timeout().max(Duration::from_secs(5)), options.connect())
            .await
            .context("connecting to Postgres timed out")?
            .context("connecting to Postgres")?;
    let create = format!("CREATE SCHEMA IF NOT EXISTS {schema}");
    sqlx::query(&create)
        .execute(&mut connection)
        .await
        .or_else(ignore_concurrent_create)
        .with_context(|| format!("creating schema {schema}"))?;
    connection.close().await?;
    Ok(())
}

/// Creates `schema` if missing and returns a pool whose connections use it.
pub async fn connect(settings: &DatabaseSettings, schema: &str) -> anyhow::Result<PgPool> {
    create_schema(settings, schema).await?;
    lazy_pool(settings, schema)
}

fn connect_options(settings: &DatabaseSettings) -> anyhow::Result<PgConnectOptions> {
    // The URL may hold a password: the parse error must not echo it.
    Ok(PgConnectOptions::from_str(settings.url.expose_secret())
        .map_err(|_| anyhow::anyhow!("invalid database url"))?
        .log_statements(tracing::log::LevelFilter::Trace))
}

/// True when `error` comes from Postgres being unreachable or going away
/// (no connection in time, refused, reset, shutting down, starting up)
/// rather than from the query: the caller answers `UNAVAILABLE` and may
/// retry, instead of `INTERNAL`.
pub fn is_unavailable(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| match cause.downcast_ref::<sqlx::Error>() {
        Some(sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_)) => true,
        Some(sqlx::Error::Database(database)) => database.code().is_some_and(|code| {
            // 08: connection exception; 57P01-03: shutdown, crash, starting.
            code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03")
        }),
        Some(sqlx::Error::Protocol(_)) => true,
        _ => cause.downcast_ref::<std::io::Error>().is_some(),
    })
}

/// Two processes creating the same schema at once: the loser's unique
/// violation means the schema exists, which is what it wanted.
fn ignore_concurrent_create(error: sqlx::Error) -> Result<sqlx::postgres::PgQueryResult, sqlx::Error> {
    match &error {
        sqlx::Error::Database(database) if database.code().as_deref() == Some("23505") => Ok(Default::default()),
        _ => Err(error),
    }
}

/// Drops a schema and everything in it (tests, `admin` tools).
pub async fn drop_schema(settings: &DatabaseSettings, schema: &str) -> anyhow::Result<()> {
    anyhow::ensure!(is_valid_schema(schema), "invalid schema name {schema:?}");
    let mut connection = connect_options(settings)?.connect().await?;
    // Fail rather than wait forever behind a session that still holds locks.
    sqlx::query("SET lock_timeout = '30s'").execute(&mut connection).await?;
    let drop = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
    sqlx::query(&drop).execute(&mut connection).await?;
    connection.close().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_plain_identifiers() {
        assert!(is_valid_schema("intake"));
        assert!(is_valid_schema("t_0193abc"));
        assert!(!is_valid_schema("Intake"));
        assert!(!is_valid_schema("1x"));
        assert!(!is_valid_schema("x; DROP TABLE y"));
        assert!(!is_valid_schema(""));
    }

    #[test]
    fn connection_trouble_is_unavailable_and_query_errors_are_not() {
        assert!(is_unavailable(&anyhow::Error::new(sqlx::Error::PoolTimedOut).context("reading")));
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(is_unavailable(&anyhow::Error::new(sqlx::Error::Io(refused))));
        assert!(!is_unavailable(&anyhow::Error::new(sqlx::Error::RowNotFound)));
        assert!(!is_unavailable(&anyhow::anyhow!("a bug")));
    }
}
