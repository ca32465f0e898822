//! Starts rotation on a test's own stream, schema and port, and makes what
//! the provisioner would have made before it: a role and a database on the
//! local Postgres (the `dev` platform Postgres) and their secret in the
//! emulator, with the provisioner's events on the log (the contracts, not
//! the provisioner's code).

use gantry_eventlog::{EventLog, ExpectedSequence, NewEvent, ReactorFault, StreamSettings};
use gantry_platform::aws::Aws;
use gantry_platform::password;
use gantry_platform::secrets::{Credentials, REQUEST_TAG, SecretStore};
use gantry_platform::target::{DatabasePlan, EnvironmentTarget, Target};
use gantry_proto::events::envelope::Payload;
use gantry_proto::events::{CredentialsStored, DatabaseCreated, DatabaseRequested, ResourceProvisioned};
use gantry_proto::rotation::rotation_service_client::RotationServiceClient;
use gantry_proto::types::{DatabaseSpec, Environment, Principal, Risk, Size};
use gantry_rotation::Rotation;
use gantry_runtime::{Config, ShutdownTrigger};
use gantry_testkit::TestEnv;
use secrecy::{ExposeSecret as _, SecretString};
use sqlx::{Connection as _, PgConnection};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::task::JoinHandle;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// How long a rotation may take in a test before it counts as stuck.
pub(crate) const PATIENCE: Duration = Duration::from_secs(30);

/// alice asked for the databases; bob is in the owning team; root is platform-team; mallory is nobody.
const PRINCIPALS: &[(&str, &[&str])] = &[
    ("alice", &["developers"]),
    ("bob", &["team-orders"]),
    ("root", &["platform-team"]),
    ("mallory", &["developers"]),
];

type Bearer = Box<dyn FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Send>;

/// A rotation API client that sends a principal's token.
pub(crate) type Client = RotationServiceClient<InterceptedService<Channel, Bearer>>;

struct Running {
    trigger: ShutdownTrigger,
    task: JoinHandle<anyhow::Result<()>>,
    address: SocketAddr,
}

/// A database made as the provisioner makes one.
#[derive(Debug, Clone)]
pub(crate) struct Provisioned {
    pub(crate) request_id: String,
    pub(crate) database: String,
    pub(crate) role: String,
    pub(crate) secret_name: String,
    pub(crate) password: String,
    /// The sequence of its last event (the request is ready).
    pub(crate) sequence: u64,
}

/// Rotation of one test, with the log it reads.
pub(crate) struct Mesh {
    env: TestEnv,
    config: Config,
    rotation: Option<Running>,
    /// Further replicas on the same schema and stream.
    replicas: Vec<Running>,
    log: EventLog,
    secrets: SecretStore,
    raw_secrets: aws_sdk_secretsmanager::Client,
    tokens: HashMap<String, String>,
    suffix: String,
    made: std::sync::Mutex<Vec<Provisioned>>,
    schema: String,
    cleaned: bool,
}

impl Drop for Mesh {
    /// A test that failed before `cleanup` leaves no role or database behind.
    fn drop(&mut self) {
        if self.cleaned {
            return;
        }
        let made = self.made.lock().map(|made| made.clone()).unwrap_or_default();
        let databases: Vec<String> = made.iter().map(|made| made.database.clone()).collect();
        let roles: Vec<String> =
            made.iter().flat_map(|made| [format!("{}_clone", made.role), made.role.clone()]).collect();
        gantry_testkit::drop_cluster_objects(&admin_url(), &databases, &roles);
    }
}

fn admin_url() -> String {
    std::env::var("GANTRY_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn start(built: gantry_service::Built<Rotation>) -> Running {
    let (trigger, shutdown) = ShutdownTrigger::new();
    let address = built.local_addr();
    Running { trigger, address, task: tokio::spawn(built.run(shutdown)) }
}

impl Mesh {
    /// Starts rotation (with `fault` armed, if any).
    pub(crate) async fn start(fault: Option<ReactorFault>) -> Self {
        Self::start_with(fault, |config| config).await
    }

    /// Starts rotation with settings of the test's own on top (`configure`).
    pub(crate) async fn start_with(fault: Option<ReactorFault>, configure: impl FnOnce(Config) -> Config) -> Self {
        assert!(
            std::env::var_os("AWS_ACCESS_KEY_ID").is_some() && std::env::var_os("AWS_EC2_METADATA_DISABLED").is_some(),
            "AWS settings for the emulator are missing: run the tests with scripts/test.sh, or export \
             AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_EC2_METADATA_DISABLED=true"
        );
        let aws_endpoint = std::env::var("GANTRY_TEST_AWS_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:5000".into());
        let env = TestEnv::new().await.expect("test env");
        let tokens = env.write_tokens(PRINCIPALS).expect("tokens");
        let suffix = env.schema.trim_start_matches("t_")[..8].to_owned();
        let schema = format!("{}_rotation", env.schema);
        let config = env
            .config()
            .with("rotation.schema", &schema)
            .with("rotation.listen", "127.0.0.1:0")
            .with("rotation.environments.dev.admin_url", admin_url())
            .with("rotation.retry_base_ms", 50)
            .with("rotation.retry_cap_ms", 500)
            .with("rotation.max_attempts", 3)
            .with("rotation.lease_ms", 1000)
            .with("aws.endpoint_url", &aws_endpoint);
        let config = configure(config);
        let mut first = config.clone();
        if let Some(fault) = fault {
            first = first.with("rotation.reactor_fault", serde_json::to_value(fault).unwrap());
        }
        let built = gantry_service::build::<Rotation>(&first).await.expect("rotation builds");
        let rotation = Some(start(built));
        let settings: StreamSettings = config.section("stream").unwrap();
        let log = EventLog::open(env.nats.clone(), settings).await.expect("log");
        let secrets = SecretStore::new(Aws::new(config.section("aws").unwrap()));
        let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(&aws_endpoint)
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .load()
            .await;
        let raw_secrets = aws_sdk_secretsmanager::Client::new(&aws);
        Self {
            env,
            config,
            rotation,
            replicas: Vec::new(),
            log,
            secrets,
            raw_secrets,
            tokens,
            suffix,
            made: Default::default(),
            schema,
            cleaned: false,
        }
    }

    /// Starts one more replica of rotation on the same schema and stream.
    pub(crate) async fn start_replica(&mut self) {
        let built = gantry_service::build::<Rotation>(&self.config).await.expect("a replica builds");
        self.replicas.push(start(built));
    }

    /// Makes a database, its role and its secret as the provisioner would,
    /// and appends the provisioner's events: the request is ready.
    pub(crate) async fn provisioned(&self, stem: &str, risk: Risk) -> Provisioned {
        self.provisioned_ago(stem, risk, Duration::ZERO).await
    }

    /// As [`provisioned`](Self::provisioned), with the provisioner's events
    /// dated `age` ago (credentials stored long ago, due or overdue now).
    pub(crate) async fn provisioned_ago(&self, stem: &str, risk: Risk, age: Duration) -> Provisioned {
        let request_id = uuid::Uuid::now_v7().to_string();
        let database = format!("{stem}_{}", self.suffix);
        let role = format!("{database}_user");
        let secret_name = format!("gantry-test-{}/dev/{database}/postgres", self.suffix);
        let password = password::generate();
        let plan = DatabasePlan {
            database: database.clone(),
            role: role.clone(),
            connection_limit: 20,
            audit_logging: false,
            request_id: request_id.clone(),
        };
        let target = EnvironmentTarget { admin_url: SecretString::from(admin_url()), host: None, port: None };
        let mut admin = Target::connect("dev", &target).await.expect("admin connection");
        admin.ensure_role(&plan, &password::scram_verifier(&password)).await.expect("role");
        admin.ensure_database(&plan).await.expect("database");
        let (host, port) = (admin.host.clone(), admin.port);
        admin.close().await;
        let credentials =
            Credentials { username: role.clone(), password: password.clone(), host, port, dbname: database.clone() };
        let version_id = self
            .secrets
            .create(&secret_name, &credentials, &[(REQUEST_TAG, &request_id)], &uuid::Uuid::now_v7().to_string())
            .await
            .expect("secret");
        let mut made = Provisioned {
            request_id: request_id.clone(),
            database: database.clone(),
            role: role.clone(),
            secret_name: secret_name.clone(),
            password: password.expose_secret().to_owned(),
            sequence: 0,
        };
        self.made.lock().unwrap().push(made.clone());
        let spec = DatabaseSpec {
            database_name: database.clone(),
            username: role.clone(),
            owner: "team-orders".into(),
            requester: "alice".into(),
            environment: Environment::Dev as i32,
            domain: "payments".into(),
            risk: risk as i32,
            size: Size::Small as i32,
        };
        let requested = DatabaseRequested {
            spec: Some(spec),
            idempotency_key: String::new(),
            required_approvals: Vec::new(),
            auto_approved_by_rule: "dev-small-databases".into(),
        };
        let at = std::time::SystemTime::now() - age;
        self.append_at(&request_id, Payload::DatabaseRequested(requested), at).await;
        let created = DatabaseCreated {
            database: database.clone(),
            role: role.clone(),
            environment: "dev".into(),
            host: credentials.host.clone(),
            port: u32::from(credentials.port),
            connection_limit: 20,
            audit_logging: false,
        };
        self.append_at(&request_id, Payload::DatabaseCreated(created), at).await;
        let stored = CredentialsStored { secret_name: secret_name.clone(), version_id };
        self.append_at(&request_id, Payload::CredentialsStored(stored), at).await;
        let ready = ResourceProvisioned { secret_path: secret_name };
        self.append_at(&request_id, Payload::ResourceProvisioned(ready), at).await;
        made.sequence = self.last_sequence(&request_id).await;
        made
    }

    /// Appends a provisioner event dated `at`.
    async fn append_at(&self, id: &str, payload: Payload, at: std::time::SystemTime) {
        let event = NewEvent {
            aggregate_type: "request",
            aggregate_id: id.to_owned(),
            payload,
            actor: Principal { subject: "gantry-provisioner".into(), groups: vec!["gantry".into()] },
            correlation_id: uuid::Uuid::now_v7().to_string(),
            causation_id: String::new(),
        };
        let subject = self.log.subject("request", id);
        self.log.append_envelope(subject, event.into_envelope(at), ExpectedSequence::Any).await.expect("appended");
    }

    /// How many events of `event_type` a request has.
    pub(crate) async fn count(&self, id: &str, event_type: &str) -> usize {
        self.event_types(id).await.iter().filter(|kind| *kind == event_type).count()
    }

    /// A client of rotation's API calling as `subject`.
    pub(crate) async fn client(&self, subject: &str) -> Client {
        let address = self.rotation.as_ref().expect("rotation runs").address;
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
            .unwrap()
            .connect()
            .await
            .expect("rotation answers");
        let header: tonic::metadata::MetadataValue<_> = format!("Bearer {}", self.tokens[subject]).parse().unwrap();
        let bearer: Bearer = Box::new(move |mut request: tonic::Request<()>| {
            request.metadata_mut().insert("authorization", header.clone());
            Ok(request)
        });
        RotationServiceClient::with_interceptor(channel, bearer)
    }

    /// The sequence of a request's last event.
    pub(crate) async fn last_sequence(&self, id: &str) -> u64 {
        self.log.load("request", id).await.unwrap().events.last().map_or(0, |event| event.sequence)
    }

    /// The event types on a request's subject, in order.
    pub(crate) async fn event_types(&self, id: &str) -> Vec<String> {
        self.log.load("request", id).await.unwrap().events.into_iter().map(|event| event.envelope.event_type).collect()
    }

    /// Waits until a request has an event of `event_type`.
    pub(crate) async fn wait_for_event(&self, id: &str, event_type: &str) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !self.event_types(id).await.iter().any(|kind| kind == event_type) {
            assert!(tokio::time::Instant::now() < deadline, "no {event_type}: {:?}", self.event_types(id).await);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The password of the secret's version with `stage`, and that version's id.
    pub(crate) async fn staged(&self, secret_name: &str, stage: &str) -> Option<(String, String)> {
        let value =
            self.raw_secrets.get_secret_value().secret_id(secret_name).version_stage(stage).send().await.ok()?;
        let json: serde_json::Value = serde_json::from_str(value.secret_string()?).ok()?;
        Some((json["password"].as_str()?.to_owned(), value.version_id()?.to_owned()))
    }

    /// The username of the secret's version with `stage`.
    pub(crate) async fn staged_user(&self, secret_name: &str, stage: &str) -> Option<String> {
        let value =
            self.raw_secrets.get_secret_value().secret_id(secret_name).version_stage(stage).send().await.ok()?;
        let json: serde_json::Value = serde_json::from_str(value.secret_string()?).ok()?;
        Some(json["username"].as_str()?.to_owned())
    }

    /// Waits until a request has `count` events of `event_type`.
    pub(crate) async fn wait_for_count(&self, id: &str, event_type: &str, count: usize) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while self.count(id, event_type).await < count {
            assert!(
                tokio::time::Instant::now() < deadline,
                "not {count} {event_type}: {:?}",
                self.event_types(id).await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every stage label on the secret's versions.
    pub(crate) async fn stages(&self, secret_name: &str) -> Vec<String> {
        let listed = self.raw_secrets.list_secret_version_ids().secret_id(secret_name).send().await.unwrap();
        listed.versions().iter().flat_map(|version| version.version_stages().to_vec()).collect()
    }

    /// Connects to the database as its role with `password`.
    pub(crate) async fn login(&self, made: &Provisioned, password: &str) -> Result<PgConnection, sqlx::Error> {
        self.login_as(made, &made.role, password).await
    }

    /// Connects to the database as `user` with `password`.
    pub(crate) async fn login_as(
        &self,
        made: &Provisioned,
        user: &str,
        password: &str,
    ) -> Result<PgConnection, sqlx::Error> {
        let options = sqlx::postgres::PgConnectOptions::new()
            .host("127.0.0.1")
            .port(5432)
            .username(user)
            .password(password)
            .database(&made.database);
        PgConnection::connect_with(&options).await
    }

    /// True when the role's stored SCRAM verifier is the one of `password`
    /// (what a login checks, whatever pg_hba.conf says on this machine).
    pub(crate) async fn role_has_password(&self, made: &Provisioned, password: &str) -> bool {
        self.user_has_password(&made.role, password).await
    }

    /// True when `user`'s stored SCRAM verifier is the one of `password`.
    pub(crate) async fn user_has_password(&self, user: &str, password: &str) -> bool {
        let verifier: Option<String> = sqlx::query_scalar("SELECT rolpassword FROM pg_authid WHERE rolname = $1")
            .bind(user)
            .fetch_one(&mut self.admin().await)
            .await
            .expect("the role exists");
        verifier.is_some_and(|verifier| password::matches(&SecretString::from(password.to_owned()), &verifier))
    }

    /// An admin connection to the local Postgres.
    pub(crate) async fn admin(&self) -> PgConnection {
        PgConnection::connect(&admin_url()).await.expect("admin connection")
    }

    /// Waits for rotation to stop on its own (an injected crash).
    pub(crate) async fn wait_for_crash(&mut self) {
        let running = self.rotation.take().expect("rotation runs");
        let ended = tokio::time::timeout(PATIENCE, running.task).await.expect("rotation crashed in time");
        assert!(ended.expect("rotation's task").is_err(), "rotation stopped on its fault");
    }

    /// Starts rotation again, without a fault.
    pub(crate) async fn restart(&mut self) {
        let built = gantry_service::build::<Rotation>(&self.config).await.expect("rotation builds");
        self.rotation = Some(start(built));
    }

    /// Stops rotation and removes every role, database and secret the test made.
    pub(crate) async fn cleanup(mut self) {
        for running in self.rotation.take().into_iter().chain(std::mem::take(&mut self.replicas)) {
            running.trigger.trigger();
            let _ = tokio::time::timeout(PATIENCE, running.task).await;
        }
        let mut admin = self.admin().await;
        let made = self.made.lock().unwrap().clone();
        for made in made {
            for drop in [
                format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", made.database),
                format!("DROP ROLE IF EXISTS \"{}_clone\"", made.role),
                format!("DROP ROLE IF EXISTS \"{}\"", made.role),
            ] {
                sqlx::raw_sql(&drop).execute(&mut admin).await.expect("dropping what the test made");
            }
            let _ = self
                .raw_secrets
                .delete_secret()
                .secret_id(&made.secret_name)
                .force_delete_without_recovery(true)
                .send()
                .await;
        }
        gantry_runtime::postgres::drop_schema(&self.env.database(), &self.schema).await.unwrap();
        self.cleaned = true;
    }
}
