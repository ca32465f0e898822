//! A Postgres pool bound to one service's own schema: the schema is created
//! if missing and every connection's `search_path` is set to it, so a
//! service's migrations and queries never see another service's tables.

use crate::config::DatabaseSettings;
use anyhow::Context as _;
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

/// Creates `schema` if missing and returns a pool whose connections use it.
pub async fn connect(settings: &DatabaseSettings, schema: &str) -> anyhow::Result<PgPool> {
    anyhow::ensure!(is_valid_schema(schema), "invalid schema name {schema:?}");
    let options = PgConnectOptions::from_str(&settings.url)
        .context("invalid database url")?
        .log_statements(tracing::log::LevelFilter::Trace);
    let mut connection = options.connect().await.context("connecting to Postgres")?;
    let create = format!("CREATE SCHEMA IF NOT EXISTS {schema}");
    sqlx::query(&create)
        .execute(&mut connection)
        .await
        .or_else(ignore_concurrent_create)
        .with_context(|| format!("creating schema {schema}"))?;
    connection.close().await?;
    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options.options([("search_path", schema)]))
        .await
        .context("opening the Postgres pool")
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
    let mut connection = PgConnectOptions::from_str(&settings.url)?.connect().await?;
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
}
