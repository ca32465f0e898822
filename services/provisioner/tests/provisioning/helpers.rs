//! One place for starting the provisioner on a test's own stream and
//! schema, for appending what intake would (the contracts in `proto/`, not
//! intake's code), and for looking at what it made: roles and databases on
//! the local Postgres, secrets in the emulator, its events on the log.

use gantry_eventlog::{EventLog, ExpectedSequence, NewEvent, ReactorFault, StreamSettings};
use gantry_proto::events::envelope::Payload;
use gantry_proto::events::{BucketRequested, DatabaseRequested, RequestCancelled};
use gantry_proto::provisioner::provisioner_service_client::ProvisionerServiceClient;
use gantry_proto::types::{BucketPurpose, BucketSpec, DatabaseSpec, Environment, Principal, Risk, Size};
use gantry_provisioner::Provisioner;
use gantry_runtime::{Config, ShutdownTrigger};
use gantry_testkit::TestEnv;
use serde::Deserialize;
use sqlx::{Connection as _, PgConnection};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::task::JoinHandle;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// The principals a test calls the API as.
const PRINCIPALS: &[(&str, &[&str])] = &[("alice", &["developers"]), ("root", &["platform-team"])];

/// Adds a principal's token to every call.
type Bearer = Box<dyn FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Send>;

/// A provisioner API client that sends a principal's token.
pub(crate) type Client = ProvisionerServiceClient<InterceptedService<Channel, Bearer>>;

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
    address: SocketAddr,
}

fn start<S: gantry_service::Service>(built: gantry_service::Built<S>) -> Running {
    let (trigger, shutdown) = ShutdownTrigger::new();
    let address = built.local_addr();
    Running { trigger, address, task: tokio::spawn(built.run(shutdown)) }
}

/// How a test's provisioner is set up beyond the defaults.
#[derive(Debug, Default)]
pub(crate) struct Options {
    /// A crash point armed in the first run.
    pub(crate) fault: Option<ReactorFault>,
    /// Where AWS is (default: the shared emulator).
    pub(crate) aws_endpoint: Option<String>,
    /// More settings, e.g. `("provisioner.environments.test.admin_url", url)`.
    pub(crate) settings: Vec<(&'static str, serde_json::Value)>,
}

/// The provisioner of one test, and the log it reads.
pub(crate) struct Mesh {
    env: TestEnv,
    config: Config,
    provisioner: Option<Running>,
    log: EventLog,
    secrets: aws_sdk_secretsmanager::Client,
    s3: aws_sdk_s3::Client,
    tokens: HashMap<String, String>,
    buckets: std::sync::Mutex<Vec<String>>,
    /// This test's secret prefix.
    pub(crate) secret_prefix: String,
    /// This test's names start with it (roles and databases are cluster-wide).
    suffix: String,
    names: std::sync::Mutex<Vec<String>>,
    provisioner_schema: String,
    cleaned: bool,
}

impl Drop for Mesh {
    /// A test that failed before `cleanup` leaves no role, database, secret or bucket behind.
    fn drop(&mut self) {
        if self.cleaned {
            return;
        }
        let databases = self.names.lock().map(|names| names.clone()).unwrap_or_default();
        let roles: Vec<String> = databases.iter().map(|name| format!("{name}_user")).collect();
        let url = std::env::var("GANTRY_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        gantry_testkit::drop_cluster_objects(&url, &databases, &roles);
        let buckets = self.buckets.lock().map(|buckets| buckets.clone()).unwrap_or_default();
        let s3 = self.s3.clone();
        let secrets = self.secrets.clone();
        let secret_names: Vec<String> = databases
            .iter()
            .flat_map(|name| {
                ["dev", "test"].map(|environment| format!("{}/{environment}/{name}/postgres", self.secret_prefix))
            })
            .collect();
        let deleter = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
            runtime.block_on(async move {
                for bucket in buckets {
                    delete_bucket(&s3, &bucket).await;
                }
                for name in secret_names {
                    let _ = secrets.delete_secret().secret_id(name).force_delete_without_recovery(true).send().await;
                }
            });
        });
        let _ = deleter.join();
    }
}

/// How a request's provisioning ended, as its events on the log say.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// `provisioner.resource_provisioned.v1`.
    Ready { secret_path: String },
    /// `provisioner.provisioning_failed.v1`.
    Failed { reason: String, retryable: bool },
}

/// A validated small database spec of `environment` (`dev`, `test`) and
/// `risk`, as intake would have approved it (username `<name>_user`).
pub(crate) fn database_request(name: &str, environment: &str, risk: Risk) -> DatabaseSpec {
    let environment = match environment {
        "dev" => Environment::Dev,
        "test" => Environment::Test,
        other => panic!("no {other} in these tests"),
    };
    DatabaseSpec {
        database_name: name.into(),
        username: format!("{name}_user"),
        owner: "team-orders".into(),
        requester: "alice".into(),
        environment: environment as i32,
        domain: "payments".into(),
        risk: risk as i32,
        size: Size::Small as i32,
    }
}

impl Mesh {
    /// Starts the provisioner (with `fault` armed, if any).
    pub(crate) async fn start(fault: Option<ReactorFault>) -> Self {
        Self::start_with(Options { fault, ..Options::default() }).await
    }

    /// Starts the provisioner as `options` say.
    pub(crate) async fn start_with(options: Options) -> Self {
        let shared_aws = std::env::var("GANTRY_TEST_AWS_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:5000".into());
        let aws_endpoint = options.aws_endpoint.clone().unwrap_or_else(|| shared_aws.clone());
        let fault = options.fault;
        assert!(
            std::env::var_os("AWS_ACCESS_KEY_ID").is_some(),
            "AWS credentials for the emulator are missing: run the tests with scripts/test.sh, \
             or export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing"
        );
        let env = TestEnv::new().await.expect("test env");
        // Every service authenticates its API; nothing here calls it.
        let tokens = env.write_tokens(PRINCIPALS).expect("tokens");
        let suffix = env.schema.trim_start_matches("t_")[..8].to_owned();
        let secret_prefix = format!("gantry-test-{suffix}");
        let provisioner_schema = format!("{}_provisioner", env.schema);
        let admin_url = std::env::var("GANTRY_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let config = env
            .config()
            .with("provisioner.schema", &provisioner_schema)
            .with("provisioner.listen", "127.0.0.1:0")
            .with("provisioner.secret_prefix", &secret_prefix)
            .with("provisioner.environments.dev.admin_url", &admin_url)
            .with("provisioner.retry_base_ms", 50)
            .with("provisioner.retry_cap_ms", 500)
            .with("provisioner.max_attempts", 5)
            // A crashed replica's request is taken over this soon.
            .with("provisioner.lease_ms", 1000)
            .with("provisioner.replication_role_arn", "arn:aws:iam::123456789012:role/gantry-replication")
            .with("aws.endpoint_url", &aws_endpoint);
        let config = options.settings.iter().fold(config, |config, (key, value)| config.with(key, value));
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
            .endpoint_url(&shared_aws)
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .load()
            .await;
        let secrets = aws_sdk_secretsmanager::Client::new(&aws);
        let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&aws).force_path_style(true).build());
        Self {
            env,
            config,
            provisioner,
            log,
            secrets,
            s3,
            tokens,
            buckets: Default::default(),
            secret_prefix,
            suffix,
            names: Default::default(),
            provisioner_schema,
            cleaned: false,
        }
    }

    /// A database name of this test (cleaned up with it).
    pub(crate) fn name(&self, stem: &str) -> String {
        let name = format!("{stem}_{}", self.suffix);
        self.names.lock().unwrap().push(name.clone());
        name
    }

    /// A bucket name of this test (its buckets are deleted with it).
    pub(crate) fn bucket(&self, stem: &str) -> String {
        let name = format!("gantry-{stem}-{}", self.suffix);
        self.buckets.lock().unwrap().push(name.clone());
        name
    }

    /// The emulator's S3, as the test looks at it.
    pub(crate) fn s3(&self) -> &aws_sdk_s3::Client {
        &self.s3
    }

    /// The emulator's Secrets Manager, as the test looks at it.
    pub(crate) fn secrets(&self) -> &aws_sdk_secretsmanager::Client {
        &self.secrets
    }

    /// A client of the provisioner's API calling as `subject` (`alice`, `root`).
    pub(crate) async fn client(&self, subject: &str) -> Client {
        let address = self.provisioner.as_ref().expect("a running provisioner").address;
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
            .unwrap()
            .connect()
            .await
            .expect("the provisioner answers");
        let header: tonic::metadata::MetadataValue<_> = format!("Bearer {}", self.tokens[subject]).parse().unwrap();
        let interceptor: Bearer = Box::new(move |mut request: tonic::Request<()>| {
            request.metadata_mut().insert("authorization", header.clone());
            Ok(request)
        });
        ProvisionerServiceClient::with_interceptor(channel, interceptor)
    }

    /// Appends what intake appends for a bucket approved on submission by
    /// a policy rule, and returns the request's id.
    pub(crate) async fn submit_bucket(&self, spec: BucketSpec) -> String {
        let id = uuid::Uuid::now_v7().to_string();
        let requested = BucketRequested {
            spec: Some(spec),
            idempotency_key: String::new(),
            required_approvals: Vec::new(),
            auto_approved_by_rule: "dev-buckets".into(),
        };
        self.append(&id, Payload::BucketRequested(requested), ExpectedSequence::NoEvents).await;
        id
    }

    /// Appends an event on a request as `subject` of `group` (what intake would).
    pub(crate) async fn append_as(&self, id: &str, subject: &str, group: &str, payload: Payload) {
        let event = NewEvent {
            aggregate_type: "request",
            aggregate_id: id.to_owned(),
            payload,
            actor: Principal { subject: subject.into(), groups: vec![group.into()] },
            correlation_id: uuid::Uuid::now_v7().to_string(),
            causation_id: String::new(),
        };
        self.log.append(event, ExpectedSequence::Any).await.expect("appended");
    }

    /// Waits until a request has an event of `event_type`.
    pub(crate) async fn wait_for_event(&self, id: &str, event_type: &str) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !self.event_types(id).await.iter().any(|kind| kind == event_type) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "request {id} has no {event_type}: {:?}",
                self.event_types(id).await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The admin connection to the local Postgres (the `dev` platform Postgres).
    pub(crate) async fn admin_connection(&self) -> PgConnection {
        self.admin().await
    }

    /// Appends what intake appends for a request approved on submission
    /// by a policy rule, and returns the request's id.
    pub(crate) async fn submit(&self, spec: DatabaseSpec) -> String {
        let id = uuid::Uuid::now_v7().to_string();
        let requested = DatabaseRequested {
            spec: Some(spec),
            idempotency_key: String::new(),
            required_approvals: Vec::new(),
            auto_approved_by_rule: "small-databases".into(),
        };
        self.append(&id, Payload::DatabaseRequested(requested), ExpectedSequence::NoEvents).await;
        id
    }

    /// Appends what intake appends when the request is cancelled.
    pub(crate) async fn cancel(&self, id: &str) {
        let cancelled = RequestCancelled { reason: "changed my mind".into() };
        self.append(id, Payload::RequestCancelled(cancelled), ExpectedSequence::Any).await;
    }

    async fn append(&self, id: &str, payload: Payload, expected: ExpectedSequence) {
        let event = NewEvent {
            aggregate_type: "request",
            aggregate_id: id.to_owned(),
            payload,
            actor: Principal { subject: "alice".into(), groups: vec!["developers".into()] },
            correlation_id: uuid::Uuid::now_v7().to_string(),
            causation_id: String::new(),
        };
        self.log.append(event, expected).await.expect("appended");
    }

    /// Waits until the provisioner has recorded the request ready or failed.
    pub(crate) async fn wait_for_outcome(&self, id: &str) -> Outcome {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let history = self.log.load("request", id).await.unwrap();
            for event in history.events {
                match event.envelope.payload {
                    Some(Payload::ResourceProvisioned(ready)) => {
                        return Outcome::Ready { secret_path: ready.secret_path };
                    }
                    Some(Payload::ProvisioningFailed(failed)) => {
                        return Outcome::Failed { reason: failed.reason, retryable: failed.retryable };
                    }
                    _ => {}
                }
            }
            assert!(tokio::time::Instant::now() < deadline, "request {id} neither ready nor failed");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
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

    /// Waits until a reactor's work has failed `attempts` times; returns its last error.
    pub(crate) async fn wait_for_retry(&self, reactor: &str, attempts: u32) -> String {
        use gantry_eventlog::reactor::list_work;
        let pool = gantry_runtime::postgres::connect(&self.env.database(), &self.provisioner_schema).await.unwrap();
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            // The work table appears once the provisioner has installed it.
            let work = list_work(&pool, reactor).await.unwrap_or_default();
            if let Some(row) = work.iter().find(|row| row.attempts >= attempts && row.last_error.is_some()) {
                return row.last_error.clone().unwrap_or_default();
            }
            assert!(tokio::time::Instant::now() < deadline, "no retries: {work:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for the provisioner to stop on its own (an injected crash).
    pub(crate) async fn wait_for_provisioner_crash(&mut self) {
        let running = self.provisioner.take().expect("a running provisioner");
        let ended = tokio::time::timeout(PATIENCE, running.task).await.expect("the provisioner crashed in time");
        assert!(ended.expect("the provisioner's task").is_err(), "the provisioner stopped on its fault");
    }

    /// Stops the provisioner gracefully.
    pub(crate) async fn stop_provisioner(&mut self) {
        let running = self.provisioner.take().expect("a running provisioner");
        running.trigger.trigger();
        let _ = tokio::time::timeout(PATIENCE, running.task).await;
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

    /// The database as the provisioner's API answers it, once its view has
    /// applied the request's last event so far.
    pub(crate) async fn database(&self, id: &str, name: &str) -> gantry_proto::provisioner::Database {
        let request = gantry_proto::provisioner::GetDatabaseRequest {
            environment: Environment::Dev as i32,
            database_name: name.into(),
            min_sequence: self.last_sequence(id).await,
        };
        let answer = self.client("alice").await.get_database(request).await.expect("the database is found");
        answer.into_inner().database.expect("a database")
    }

    /// The sequence of the request's last event.
    pub(crate) async fn last_sequence(&self, id: &str) -> u64 {
        self.log.load("request", id).await.unwrap().events.last().map_or(0, |event| event.sequence)
    }

    /// Stops both services and removes everything the test made.
    pub(crate) async fn cleanup(mut self) {
        if self.provisioner.is_some() {
            self.stop_provisioner().await;
        }
        let buckets = self.buckets.lock().unwrap().clone();
        for bucket in buckets {
            delete_bucket(&self.s3, &bucket).await;
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
            for environment in ["dev", "test"] {
                let _ = self
                    .secrets
                    .delete_secret()
                    .secret_id(format!("{}/{environment}/{name}/postgres", self.secret_prefix))
                    .force_delete_without_recovery(true)
                    .send()
                    .await;
            }
        }
        gantry_runtime::postgres::drop_schema(&self.env.database(), &self.provisioner_schema).await.unwrap();
        // The stream and the test's schema go with the TestEnv.
        self.cleaned = true;
    }
}

/// The config value of a fault (`before_record = 3` in TOML).
fn fault_value(fault: ReactorFault) -> serde_json::Value {
    serde_json::to_value(fault).unwrap()
}

/// A bucket spec of this test, as intake would have approved it.
pub(crate) fn bucket_request(name: &str, purpose: BucketPurpose, region: &str, retention_days: u32) -> BucketSpec {
    BucketSpec {
        bucket_name: name.into(),
        purpose: purpose as i32,
        environment: Environment::Dev as i32,
        region: region.into(),
        owner: "team-obs".into(),
        requester: "alice".into(),
        retention_days,
        kms_key_id: String::new(),
        replication_target: String::new(),
    }
}

/// Deletes a bucket with every version in it (if it exists).
async fn delete_bucket(s3: &aws_sdk_s3::Client, bucket: &str) {
    if let Ok(listed) = s3.list_object_versions().bucket(bucket).send().await {
        for version in listed.versions() {
            let _ = s3
                .delete_object()
                .bucket(bucket)
                .key(version.key().unwrap_or_default())
                .set_version_id(version.version_id().map(str::to_owned))
                .send()
                .await;
        }
        for marker in listed.delete_markers() {
            let _ = s3
                .delete_object()
                .bucket(bucket)
                .key(marker.key().unwrap_or_default())
                .set_version_id(marker.version_id().map(str::to_owned))
                .send()
                .await;
        }
    }
    let _ = s3.delete_bucket().bucket(bucket).send().await;
}
