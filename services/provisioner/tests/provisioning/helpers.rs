//! One place for starting intake and the provisioner on a test's own
//! stream and schemas, and for looking at what they made: roles and
//! databases on the local Postgres, secrets in the emulator, the log.

use gantry_eventlog::{EventLog, ReactorFault, StreamSettings};
use gantry_intake::Intake;
use gantry_proto::intake::{self as pb, intake_service_client::IntakeServiceClient};
use gantry_proto::types::{Environment, Risk, Size};
use gantry_provisioner::Provisioner;
use gantry_runtime::{Config, ShutdownTrigger};
use gantry_testkit::TestEnv;
use serde::Deserialize;
use sqlx::{Connection as _, PgConnection};
use std::collections::HashMap;
use std::time::Duration;
use tokio::task::JoinHandle;

/// How long provisioning may take in a test before it counts as stuck.
const PATIENCE: Duration = Duration::from_secs(30);

/// What a secret holds.
#[derive(Debug, Deserialize)]
pub(crate) struct StoredCredentials {
    pub(crate) username: String,
    pub(crate) password: String,
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) dbname: String,
}

struct Running {
    trigger: ShutdownTrigger,
    task: JoinHandle<anyhow::Result<()>>,
}

fn start<S: gantry_service::Service>(built: gantry_service::Built<S>) -> Running {
    let (trigger, shutdown) = ShutdownTrigger::new();
    Running { trigger, task: tokio::spawn(built.run(shutdown)) }
}

/// Intake and the provisioner of one test.
pub(crate) struct Mesh {
    env: TestEnv,
    config: Config,
    tokens: HashMap<String, String>,
    intake: Option<Running>,
    intake_address: std::net::SocketAddr,
    provisioner: Option<Running>,
    log: EventLog,
    secrets: aws_sdk_secretsmanager::Client,
    /// This test's secret prefix.
    pub(crate) secret_prefix: String,
    /// This test's names start with it (roles and databases are cluster-wide).
    suffix: String,
    names: std::sync::Mutex<Vec<String>>,
    provisioner_schema: String,
}

/// A dev-style database request of `environment` (`dev`, `test`) and `risk`.
pub(crate) fn database_request(name: &str, environment: &str, risk: Risk) -> pb::RequestDatabaseRequest {
    let environment = match environment {
        "dev" => Environment::Dev,
        "test" => Environment::Test,
        other => panic!("no {other} in these tests"),
    };
    pb::RequestDatabaseRequest {
        idempotency_key: String::new(),
        database_name: name.into(),
        username: String::new(),
        owner: "team-orders".into(),
        requester: "alice".into(),
        environment: environment as i32,
        domain: "payments".into(),
        risk: risk as i32,
        size: Size::Small as i32,
    }
}

/// A policy approving every small database on submission, so tests need no approver.
const POLICY: &str = "rules:
  - name: databases
    kind: database
    require:
      - [databases-rds]
auto_approve:
  - name: small-databases
    kind: database
    sizes: [small]
";

impl Mesh {
    /// Starts intake and the provisioner (with `fault` armed, if any).
    pub(crate) async fn start(fault: Option<ReactorFault>) -> Self {
        let aws_endpoint = std::env::var("GANTRY_TEST_AWS_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:5000".into());
        assert!(
            std::env::var_os("AWS_ACCESS_KEY_ID").is_some(),
            "AWS credentials for the emulator are missing: run the tests with scripts/test.sh, \
             or export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing"
        );
        let env = TestEnv::new().await.expect("test env");
        let tokens = env.write_tokens(&[("backstage", &["backstage"])]).expect("tokens");
        let suffix = env.schema.trim_start_matches("t_")[..8].to_owned();
        let secret_prefix = format!("gantry-test-{suffix}");
        let provisioner_schema = format!("{}_provisioner", env.schema);
        let policy_file = env.directory.join("policy.yaml");
        std::fs::write(&policy_file, POLICY).unwrap();
        let admin_url = std::env::var("GANTRY_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let config = env
            .config()
            .with("intake.policy_file", &policy_file)
            .with("provisioner.schema", &provisioner_schema)
            .with("provisioner.listen", "127.0.0.1:0")
            .with("provisioner.secret_prefix", &secret_prefix)
            .with("provisioner.environments.dev.admin_url", &admin_url)
            .with("provisioner.retry_base_ms", 50)
            .with("provisioner.retry_cap_ms", 500)
            .with("provisioner.max_attempts", 5)
            // A crashed replica's request is taken over this soon.
            .with("provisioner.lease_ms", 1000)
            .with("aws.endpoint_url", &aws_endpoint);
        let intake = gantry_service::build::<Intake>(&config).await.expect("intake builds");
        let intake_address = intake.local_addr();
        let intake = Some(start(intake));
        let mut provisioner_config = config.clone();
        if let Some(fault) = fault {
            provisioner_config = provisioner_config.with("provisioner.reactor_fault", fault_value(fault));
        }
        let provisioner = gantry_service::build::<Provisioner>(&provisioner_config).await.expect("provisioner builds");
        let provisioner = Some(start(provisioner));
        let settings: StreamSettings = config.section("stream").unwrap();
        let log = EventLog::open(env.nats.clone(), settings).await.expect("log");
        let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(&aws_endpoint)
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .load()
            .await;
        let secrets = aws_sdk_secretsmanager::Client::new(&aws);
        Self {
            env,
            config,
            tokens,
            intake,
            intake_address,
            provisioner,
            log,
            secrets,
            secret_prefix,
            suffix,
            names: Default::default(),
            provisioner_schema,
        }
    }

    /// A database name of this test (cleaned up with it).
    pub(crate) fn name(&self, stem: &str) -> String {
        let name = format!("{stem}_{}", self.suffix);
        self.names.lock().unwrap().push(name.clone());
        name
    }

    async fn client(
        &self,
    ) -> IntakeServiceClient<
        tonic::service::interceptor::InterceptedService<tonic::transport::Channel, impl tonic::service::Interceptor>,
    > {
        let channel = tonic::transport::Channel::from_shared(format!("http://{}", self.intake_address))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let token: tonic::metadata::MetadataValue<_> = format!("Bearer {}", self.tokens["backstage"]).parse().unwrap();
        IntakeServiceClient::with_interceptor(channel, move |mut request: tonic::Request<()>| {
            request.metadata_mut().insert("authorization", token.clone());
            Ok(request)
        })
    }

    /// Submits a request and returns its id.
    pub(crate) async fn submit(&self, request: pb::RequestDatabaseRequest) -> String {
        let response = self.client().await.request_database(request).await.expect("submitted").into_inner();
        let request = response.request.unwrap();
        assert_eq!(request.status, pb::RequestStatus::Approved as i32, "the test policy approves it");
        request.request_id
    }

    /// Waits until the request has `status` and returns it.
    pub(crate) async fn wait_for_status(&self, id: &str, status: pb::RequestStatus) -> pb::Request {
        let mut client = self.client().await;
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let message = pb::GetRequestRequest { request_id: id.to_owned(), min_sequence: 0 };
            let request = client.get_request(message).await.unwrap().into_inner().request.unwrap();
            if request.status == status as i32 {
                return request;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "request {id} is {:?}, not {status:?}: {}",
                pb::RequestStatus::try_from(request.status),
                request.reason
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Cancels a request as its submitter.
    pub(crate) async fn cancel(&self, id: &str) {
        let message = pb::CancelRequestRequest { request_id: id.to_owned(), reason: "changed my mind".into() };
        self.client().await.cancel_request(message).await.expect("cancelled");
    }

    /// Waits until the provisioner's every work item is done.
    pub(crate) async fn wait_for_work_done(&self) {
        use gantry_eventlog::reactor::{WorkState, list_work};
        let pool = gantry_runtime::postgres::connect(&self.env.database(), &self.provisioner_schema).await.unwrap();
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let work = list_work(&pool, "databases").await.unwrap();
            if !work.is_empty() && work.iter().all(|row| row.state == WorkState::Done) {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "work not done: {work:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for the provisioner to stop on its own (an injected crash).
    pub(crate) async fn wait_for_provisioner_crash(&mut self) {
        let running = self.provisioner.take().expect("a running provisioner");
        let ended = tokio::time::timeout(PATIENCE, running.task).await.expect("the provisioner crashed in time");
        assert!(ended.expect("the provisioner's task").is_err(), "the provisioner stopped on its fault");
    }

    /// Starts the provisioner again, without a fault.
    pub(crate) async fn restart_provisioner(&mut self) {
        let built = gantry_service::build::<Provisioner>(&self.config).await.expect("provisioner builds");
        self.provisioner = Some(start(built));
    }

    /// The credentials in the secret of database `name`.
    pub(crate) async fn credentials(&self, name: &str) -> StoredCredentials {
        let value = self
            .secrets
            .get_secret_value()
            .secret_id(self.secret_name(name))
            .version_stage("AWSCURRENT")
            .send()
            .await
            .expect("the secret exists");
        serde_json::from_str(value.secret_string().unwrap()).expect("credentials JSON")
    }

    fn secret_name(&self, name: &str) -> String {
        format!("{}/dev/{name}/postgres", self.secret_prefix)
    }

    /// How many versions the secret of database `name` has (0: none).
    pub(crate) async fn secret_versions(&self, name: &str) -> usize {
        // Asked first: the emulator answers 500 when listing a missing secret's versions.
        match self.secrets.describe_secret().secret_id(self.secret_name(name)).send().await {
            Err(error) if error.as_service_error().is_some_and(|error| error.is_resource_not_found_exception()) => {
                return 0;
            }
            described => described.expect("describing the secret"),
        };
        let listed = self.secrets.list_secret_version_ids().secret_id(self.secret_name(name)).send().await;
        listed.expect("listing the secret's versions").versions().len()
    }

    /// Connects to `database` with the stored credentials.
    pub(crate) async fn connect_as(
        &self,
        credentials: &StoredCredentials,
        database: &str,
    ) -> Result<PgConnection, sqlx::Error> {
        let options = sqlx::postgres::PgConnectOptions::new()
            .host(&credentials.host)
            .port(credentials.port)
            .username(&credentials.username)
            .password(&credentials.password)
            .database(database);
        PgConnection::connect_with(&options).await
    }

    async fn admin(&self) -> PgConnection {
        let url = std::env::var("GANTRY_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        PgConnection::connect(&url).await.expect("admin connection")
    }

    pub(crate) async fn count_roles(&self, role: &str) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM pg_roles WHERE rolname = $1")
            .bind(role)
            .fetch_one(&mut self.admin().await)
            .await
            .unwrap()
    }

    pub(crate) async fn count_databases(&self, name: &str) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname = $1")
            .bind(name)
            .fetch_one(&mut self.admin().await)
            .await
            .unwrap()
    }

    pub(crate) async fn role_connection_limit(&self, role: &str) -> i32 {
        sqlx::query_scalar("SELECT rolconnlimit FROM pg_roles WHERE rolname = $1")
            .bind(role)
            .fetch_one(&mut self.admin().await)
            .await
            .unwrap()
    }

    /// A setting made with `ALTER DATABASE … SET`, if any.
    pub(crate) async fn database_setting(&self, database: &str, setting: &str) -> Option<String> {
        let rows: Vec<(Vec<String>,)> = sqlx::query_as(
            "SELECT s.setconfig FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
             WHERE d.datname = $1 AND s.setrole = 0",
        )
        .bind(database)
        .fetch_all(&mut self.admin().await)
        .await
        .unwrap();
        let prefix = format!("{setting}=");
        rows.into_iter()
            .flat_map(|(settings,)| settings)
            .find_map(|entry| entry.strip_prefix(&prefix).map(str::to_owned))
    }

    /// Makes a role outside Gantry (a squatter).
    pub(crate) async fn create_foreign_role(&self, role: &str) {
        sqlx::raw_sql(&format!("CREATE ROLE \"{role}\" LOGIN")).execute(&mut self.admin().await).await.unwrap();
    }

    /// The event types on a request's subject, in order.
    pub(crate) async fn event_types(&self, id: &str) -> Vec<String> {
        let aggregate = self.log.load("request", id).await.unwrap();
        aggregate.events.into_iter().map(|event| event.envelope.event_type).collect()
    }

    /// True when any message on the test's stream holds `needle`.
    pub(crate) async fn log_contains(&self, needle: &[u8]) -> bool {
        let mut stream = self.log.jetstream().get_stream(&self.env.stream_name).await.unwrap();
        let last = stream.info().await.unwrap().state.last_sequence;
        for sequence in 1..=last {
            if let Ok(message) = stream.get_raw_message(sequence).await
                && message.payload.windows(needle.len()).any(|window| window == needle)
            {
                return true;
            }
        }
        false
    }

    /// The provisioner view's status and secret of a request.
    pub(crate) async fn view_row(&self, id: &str) -> (String, String) {
        let pool = gantry_runtime::postgres::connect(&self.env.database(), &self.provisioner_schema).await.unwrap();
        let id: uuid::Uuid = id.parse().unwrap();
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let row: Option<(String, String)> =
                sqlx::query_as("SELECT status, secret_name FROM databases WHERE request_id = $1")
                    .bind(id)
                    .fetch_optional(&pool)
                    .await
                    .unwrap();
            match row {
                Some(row) if row.0 == "ready" || tokio::time::Instant::now() > deadline => return row,
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Stops both services and removes everything the test made.
    pub(crate) async fn cleanup(mut self) {
        for running in [self.intake.take(), self.provisioner.take()].into_iter().flatten() {
            running.trigger.trigger();
            let _ = tokio::time::timeout(PATIENCE, running.task).await;
        }
        let mut admin = self.admin().await;
        let names = self.names.lock().unwrap().clone();
        for name in names {
            for drop in [
                format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
                format!("DROP ROLE IF EXISTS \"{name}_user\""),
            ] {
                sqlx::raw_sql(&drop).execute(&mut admin).await.expect("dropping what the test made");
            }
            let _ = self
                .secrets
                .delete_secret()
                .secret_id(format!("{}/dev/{name}/postgres", self.secret_prefix))
                .force_delete_without_recovery(true)
                .send()
                .await;
        }
        gantry_runtime::postgres::drop_schema(&self.env.database(), &self.provisioner_schema).await.unwrap();
        self.env.cleanup().await.expect("cleanup");
    }
}

/// The config value of a fault (`before_record = 3` in TOML).
fn fault_value(fault: ReactorFault) -> serde_json::Value {
    serde_json::to_value(fault).unwrap()
}
