//! Test helpers shared by every crate's integration tests: each test gets
//! its own JetStream stream (and subject prefix), its own Postgres schema
//! and its own tokens file, against the real servers, and leaves nothing
//! behind. Servers come from `GANTRY_TEST_DATABASE_URL` and
//! `GANTRY_TEST_NATS_URL` (defaults: the local ones). Fault tests start
//! private servers of their own instead ([`servers`]).

use anyhow::Context as _;
use gantry_runtime::Config;
use gantry_runtime::auth::{TokenEntry, TokensFile, hash_token};
use gantry_runtime::config::DatabaseSettings;
use sqlx::PgPool;
use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;
use uuid::Uuid;

pub mod servers;

pub use servers::{NatsCluster, PrivateNats, PrivatePostgres};

/// One test's isolated slice of the real servers.
#[derive(Debug)]
pub struct TestEnv {
    /// Postgres URL.
    pub database_url: String,
    /// NATS URL.
    pub nats_url: String,
    /// This test's stream.
    pub stream_name: String,
    /// This test's subject prefix (streams may not share subjects).
    pub subject_prefix: String,
    /// This test's schema.
    pub schema: String,
    /// A connected NATS client.
    pub nats: async_nats::Client,
    /// A directory for this test's files (tokens).
    pub directory: PathBuf,
    cleaned: bool,
}

impl TestEnv {
    /// Creates fresh names for this test and connects to NATS.
    pub async fn new() -> anyhow::Result<Self> {
        let id = Uuid::new_v4().simple().to_string();
        let short = &id[..16];
        let nats_url = std::env::var("GANTRY_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
        let nats = async_nats::connect(&nats_url).await.with_context(|| format!("connecting to NATS at {nats_url}"))?;
        let directory = std::env::temp_dir().join(format!("gantry-test-{short}"));
        std::fs::create_dir_all(&directory)?;
        Ok(Self {
            database_url: std::env::var("GANTRY_TEST_DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into()),
            nats_url,
            stream_name: format!("TEST_{short}"),
            subject_prefix: format!("t{short}"),
            schema: format!("t_{short}"),
            nats,
            directory,
            cleaned: false,
        })
    }

    /// Returns the database settings of the servers.
    pub fn database(&self) -> DatabaseSettings {
        DatabaseSettings { max_connections: 8, ..DatabaseSettings::for_url(&self.database_url) }
    }

    /// Returns a pool on this test's schema (created if missing).
    pub async fn pool(&self) -> anyhow::Result<PgPool> {
        gantry_runtime::postgres::connect(&self.database(), &self.schema).await
    }

    /// Returns a configuration pointing every service at this test's slice,
    /// listening on port 0, without a metrics endpoint.
    pub fn config(&self) -> Config {
        Config::from_figment(Default::default())
            .with("database.url", &self.database_url)
            .with("database.max_connections", 8)
            .with("nats.url", &self.nats_url)
            .with("stream.name", &self.stream_name)
            .with("stream.subject_prefix", &self.subject_prefix)
            .with("intake.schema", &self.schema)
            .with("intake.listen", "127.0.0.1:0")
            .with("auth.tokens_file", self.directory.join("tokens.yaml"))
    }

    /// Writes a tokens file for these principals and returns each one's
    /// clear token by subject.
    pub fn write_tokens(&self, principals: &[(&str, &[&str])]) -> anyhow::Result<HashMap<String, String>> {
        let mut file = TokensFile::default();
        let mut tokens = HashMap::new();
        for (subject, groups) in principals {
            let token = format!("test-{subject}-{}", Uuid::new_v4().simple());
            file.tokens.push(TokenEntry {
                subject: subject.to_string(),
                groups: groups.iter().map(|group| group.to_string()).collect(),
                sha256: hash_token(&token),
            });
            tokens.insert(subject.to_string(), token);
        }
        let text = format!("tokens:\n{}", file.tokens.iter().map(entry_yaml).collect::<String>());
        std::fs::write(self.directory.join("tokens.yaml"), text)?;
        Ok(tokens)
    }

    /// Deletes the stream and drops the schema, and every `<schema>_<service>`
    /// schema of a service the test started beside it.
    pub async fn cleanup(mut self) -> anyhow::Result<()> {
        self.cleaned = true;
        cleanup(&self.nats_url, &self.stream_name, &self.database(), &self.schema, &self.directory).await
    }
}

fn entry_yaml(entry: &TokenEntry) -> String {
    format!("  - subject: {}\n    groups: [{}]\n    sha256: {}\n", entry.subject, entry.groups.join(", "), entry.sha256)
}

async fn cleanup(
    nats_url: &str,
    stream: &str,
    database: &DatabaseSettings,
    schema: &str,
    directory: &PathBuf,
) -> anyhow::Result<()> {
    let client = async_nats::connect(nats_url).await?;
    let _ = async_nats::jetstream::new(client).delete_stream(stream).await;
    gantry_runtime::postgres::drop_schema(database, schema).await?;
    // The schemas of services a test started on its own (`<schema>_<service>`).
    let pool = gantry_runtime::postgres::lazy_pool(database, "public")?;
    let derived: Vec<String> =
        sqlx::query_scalar("SELECT nspname::text FROM pg_namespace WHERE starts_with(nspname, $1)")
            .bind(format!("{schema}_"))
            .fetch_all(&pool)
            .await?;
    pool.close().await;
    for derived in derived {
        gantry_runtime::postgres::drop_schema(database, &derived).await?;
    }
    let _ = std::fs::remove_dir_all(directory);
    Ok(())
}

/// Drops databases and roles a test made on a shared Postgres (they are
/// cluster-wide, so no schema drop removes them), from a thread of its
/// own: for a test's `Drop`, so a failed test leaves nothing behind either.
/// Missing ones are fine; what cannot be dropped is only logged to stderr.
pub fn drop_cluster_objects(url: &str, databases: &[String], roles: &[String]) {
    let statements: Vec<String> = databases
        .iter()
        .map(|database| format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", database.replace('"', "\"\"")))
        .chain(roles.iter().map(|role| format!("DROP ROLE IF EXISTS \"{}\"", role.replace('"', "\"\""))))
        .collect();
    if statements.is_empty() {
        return;
    }
    let url = url.to_owned();
    let dropper = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(async move {
            use sqlx::Connection as _;
            let mut connection = sqlx::PgConnection::connect(&url).await?;
            for statement in statements {
                if let Err(error) = sqlx::raw_sql(&statement).execute(&mut connection).await {
                    eprintln!("cleanup: {statement}: {error}");
                }
            }
            anyhow::Ok(())
        })
    });
    if let Ok(Err(error)) = dropper.join() {
        eprintln!("cleanup: {error:#}");
    }
}

impl Drop for TestEnv {
    /// A test that failed before `cleanup` still leaves nothing behind.
    fn drop(&mut self) {
        if self.cleaned {
            return;
        }
        let (nats_url, stream, database, schema, directory) = (
            self.nats_url.clone(),
            self.stream_name.clone(),
            self.database(),
            self.schema.clone(),
            self.directory.clone(),
        );
        let cleaner = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(cleanup(&nats_url, &stream, &database, &schema, &directory))
        });
        let _ = cleaner.join();
    }
}

/// Polls `condition` until it returns true, failing after `timeout`.
pub async fn wait_until<F, Fut>(timeout: Duration, mut condition: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<bool>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if condition().await? {
            return Ok(());
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "condition not met within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Awaits `future`, failing the test with `what` if it takes over a minute
/// (a hang becomes a failure that names what hung).
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(60), future).await {
        Ok(output) => output,
        Err(_) => panic!("{what} did not finish within a minute"),
    }
}
