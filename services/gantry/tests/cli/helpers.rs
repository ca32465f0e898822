//! Starts intake (and, as a test asks, the provisioner, rotation, ingest,
//! lineage and console beside it) for a test and runs the `gantry` binary
//! against them.

use gantry_eventlog::{EventLog, ExpectedSequence, NewEvent, StreamSettings};
use gantry_proto::events::envelope::Payload;
use gantry_proto::events::{
    BucketCreated, CredentialsStored, DatabaseCreated, ProvisioningStarted, ResourceProvisioned, RoleCreated,
};
use gantry_proto::types::BucketPurpose;
use gantry_proto::types::Principal;
use gantry_runtime::config::DatabaseSettings;
use gantry_runtime::{Config, ShutdownTrigger};
use gantry_testkit::TestEnv;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use tokio::task::JoinHandle;

/// The principals a test can call as.
const PRINCIPALS: &[(&str, &[&str])] = &[
    ("alice", &["developers"]),
    ("backstage", &["backstage"]),
    ("bob", &["databases-rds"]),
    ("carol", &["platform-team"]),
    ("agent", &["tenant:team-ml"]),
];

/// A service running in this test's process.
struct Running {
    name: &'static str,
    address: SocketAddr,
    trigger: ShutdownTrigger,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    fn start<S: gantry_service::Service>(built: gantry_service::Built<S>) -> Self {
        let (trigger, shutdown) = ShutdownTrigger::new();
        Self { name: S::NAME, address: built.local_addr(), trigger, task: tokio::spawn(built.run(shutdown)) }
    }

    fn start_console(server: gantry_console::ConsoleServer) -> Self {
        let (trigger, shutdown) = ShutdownTrigger::new();
        Self { name: "console", address: server.grpc_addr(), trigger, task: tokio::spawn(server.run(shutdown)) }
    }

    async fn stop(self) {
        self.trigger.trigger();
        let result = gantry_testkit::within(self.name, self.task).await.expect("the service's task");
        result.unwrap_or_else(|error| panic!("{} stops cleanly: {error:#}", self.name));
    }
}

/// The schema of a service beside intake, dropped even when a test fails
/// before its cleanup (the test's own schema is [`TestEnv`]'s to drop).
struct ServiceSchema {
    database: DatabaseSettings,
    name: String,
}

impl Drop for ServiceSchema {
    fn drop(&mut self) {
        let (database, name) = (self.database.clone(), self.name.clone());
        let dropper = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(gantry_runtime::postgres::drop_schema(&database, &name))
        });
        if let Ok(Err(error)) = dropper.join() {
            eprintln!("dropping schema {}: {error:#}", self.name);
        }
    }
}

/// A running intake (and provisioner, when asked for) and the tokens of
/// its principals.
pub(crate) struct TestApp {
    env: TestEnv,
    config: Config,
    tokens: HashMap<String, String>,
    log: EventLog,
    intake: Running,
    provisioner: Option<(Running, ServiceSchema)>,
    rotation: Option<(Running, ServiceSchema)>,
    ingest: Option<(Running, ServiceSchema)>,
    lineage: Option<(Running, ServiceSchema)>,
    console: Option<(Running, ServiceSchema)>,
    /// Console's HTTP address (the page and `/v1/events`), when it runs.
    console_http: Option<SocketAddr>,
}

/// What one run of the binary printed and how it exited.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) code: Option<i32>,
}

impl Run {
    /// Parses stdout as one JSON value.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|error| panic!("stdout is not JSON ({error}): {self:?}"))
    }

    /// Parses stderr as one JSON value (an error with `--output json`).
    pub(crate) fn error_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stderr).unwrap_or_else(|error| panic!("stderr is not JSON ({error}): {self:?}"))
    }
}

/// A resource the test made the provisioner's events for.
pub(crate) struct Provisioned {
    /// Its request's id.
    pub(crate) id: String,
    /// The sequence of its last event, for `--min-sequence`.
    pub(crate) sequence: String,
}

/// Starts intake on a fresh stream, schema and port; reads that wait for a
/// sequence give up after 300 ms.
pub(crate) async fn spawn_app() -> TestApp {
    let env = TestEnv::new().await.expect("test env");
    let tokens = env.write_tokens(PRINCIPALS).expect("tokens");
    let config = env.config().with("intake.read_wait_ms", 300);
    let intake = gantry_service::build::<gantry_intake::Intake>(&config).await.expect("intake builds");
    let intake = Running::start(intake);
    let settings: StreamSettings = config.section("stream").unwrap();
    let log = EventLog::open(env.nats.clone(), settings).await.expect("log");
    TestApp {
        env,
        config,
        tokens,
        log,
        intake,
        provisioner: None,
        rotation: None,
        ingest: None,
        lineage: None,
        console: None,
        console_http: None,
    }
}

/// Where the provisioner and rotation may make and rotate things.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Platform {
    /// Nowhere: tests write the provisioner's events themselves, and
    /// rotations fail, saying so.
    Nowhere,
    /// The shared Postgres as the `dev` platform Postgres; credentials go
    /// to the AWS API emulator under a secret prefix of this test's own
    /// ([`TestApp::secret_prefix`]).
    Dev,
}

/// The AWS API emulator's endpoint (S3, Secrets Manager).
pub(crate) fn aws_endpoint() -> String {
    std::env::var("GANTRY_TEST_AWS_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:5000".into())
}

/// Starts intake and the provisioner on the same stream, each on its own
/// schema and port. The provisioner has no environment to provision in:
/// tests write its events themselves ([`TestApp::provisioned_database`]).
pub(crate) async fn spawn_mesh() -> TestApp {
    let mut app = spawn_app().await;
    app.start_provisioner(Platform::Nowhere).await;
    app
}

/// Starts intake, the provisioner and rotation. Rotation has no
/// environment to rotate in: its rotations fail, saying so.
pub(crate) async fn spawn_mesh_with_rotation() -> TestApp {
    let mut app = spawn_mesh().await;
    app.start_rotation(Platform::Nowhere).await;
    app
}

/// Starts intake, the provisioner and rotation on the `dev` platform
/// ([`Platform::Dev`]: dev requests are really made, their credentials
/// really stored and rotated), and console.
pub(crate) async fn spawn_platform_with_console() -> TestApp {
    let mut app = spawn_app().await;
    app.start_provisioner(Platform::Dev).await;
    app.start_rotation(Platform::Dev).await;
    app.start_console().await;
    app
}

/// Starts intake and ingest, ingest storing blobs under the test's directory
/// (`<dir>/blobs`).
pub(crate) async fn spawn_with_ingest() -> TestApp {
    let mut app = spawn_app().await;
    let schema = ServiceSchema { database: app.env.database(), name: format!("{}_ingest", app.env.schema) };
    let config = app
        .config
        .clone()
        .with("ingest.schema", &schema.name)
        .with("ingest.listen", "127.0.0.1:0")
        .with("ingest.storage.kind", "filesystem")
        .with("ingest.storage.root", app.env.directory.join("blobs"));
    let ingest = gantry_service::build::<gantry_ingest::Ingest>(&config).await.expect("ingest builds");
    app.ingest = Some((Running::start(ingest), schema));
    app
}

/// Starts intake, ingest (as [`spawn_with_ingest`]) and lineage beside it.
pub(crate) async fn spawn_with_lineage() -> TestApp {
    let mut app = spawn_with_ingest().await;
    let schema = ServiceSchema { database: app.env.database(), name: format!("{}_lineage", app.env.schema) };
    let config = app.config.clone().with("lineage.schema", &schema.name).with("lineage.listen", "127.0.0.1:0");
    let lineage = gantry_service::build::<gantry_lineage::Lineage>(&config).await.expect("lineage builds");
    app.lineage = Some((Running::start(lineage), schema));
    app
}

/// Starts intake and console (the event stream).
pub(crate) async fn spawn_with_console() -> TestApp {
    let mut app = spawn_app().await;
    app.start_console().await;
    app
}

impl TestApp {
    /// Starts the provisioner beside intake, on `platform`.
    async fn start_provisioner(&mut self, platform: Platform) {
        // Without them the AWS SDK looks for credentials beyond loopback (IMDS).
        let emulator_credentials = std::env::var_os("AWS_ACCESS_KEY_ID").is_some()
            && std::env::var("AWS_EC2_METADATA_DISABLED").is_ok_and(|disabled| disabled == "true");
        assert!(
            emulator_credentials,
            "the emulator's AWS settings are missing: run the tests with scripts/test.sh, or export \
             AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_EC2_METADATA_DISABLED=true"
        );
        // Every service of the test talks to the emulator, never to AWS.
        self.config = self.config.clone().with("aws.endpoint_url", aws_endpoint());
        let schema = ServiceSchema { database: self.env.database(), name: format!("{}_provisioner", self.env.schema) };
        let config = self
            .config
            .clone()
            .with("provisioner.schema", &schema.name)
            .with("provisioner.listen", "127.0.0.1:0")
            // Reconciles run when a test asks, not on a timer.
            .with("provisioner.reconcile_interval_s", 0);
        let config = match platform {
            Platform::Nowhere => config,
            Platform::Dev => config
                .with("provisioner.environments.dev.admin_url", &self.env.database_url)
                .with("provisioner.secret_prefix", self.secret_prefix())
                .with("provisioner.retry_base_ms", 50),
        };
        let provisioner =
            gantry_service::build::<gantry_provisioner::Provisioner>(&config).await.expect("provisioner builds");
        self.provisioner = Some((Running::start(provisioner), schema));
    }

    /// Starts rotation beside intake, on `platform`.
    async fn start_rotation(&mut self, platform: Platform) {
        let schema = ServiceSchema { database: self.env.database(), name: format!("{}_rotation", self.env.schema) };
        let config = self.config.clone().with("rotation.schema", &schema.name).with("rotation.listen", "127.0.0.1:0");
        let config = match platform {
            Platform::Nowhere => config.with("rotation.max_attempts", 1),
            Platform::Dev => config
                .with("rotation.environments.dev.admin_url", &self.env.database_url)
                .with("rotation.retry_base_ms", 50),
        };
        let rotation = gantry_service::build::<gantry_rotation::Rotation>(&config).await.expect("rotation builds");
        self.rotation = Some((Running::start(rotation), schema));
    }

    /// Starts console (the event stream and the page) beside intake.
    async fn start_console(&mut self) {
        let schema = ServiceSchema { database: self.env.database(), name: format!("{}_console", self.env.schema) };
        let config = self
            .config
            .clone()
            .with("console.schema", &schema.name)
            .with("console.listen", "127.0.0.1:0")
            .with("console.http_listen", "127.0.0.1:0");
        let console = gantry_console::ConsoleServer::build(&config).await.expect("console builds");
        self.console_http = Some(console.http_addr());
        self.console = Some((Running::start_console(console), schema));
    }

    /// Runs `gantry <args>` as `subject` (a principal's token in
    /// `GANTRY_TOKEN`; `None`: no token at all).
    pub(crate) async fn gantry(&self, subject: Option<&str>, args: &[&str]) -> Run {
        let token = subject.map(|subject| self.tokens[subject].clone());
        self.gantry_with_token(token.as_deref(), args).await
    }

    /// Returns the clear token of a principal.
    pub(crate) fn token(&self, subject: &str) -> &str {
        &self.tokens[subject]
    }

    /// Runs `gantry <args>` with this `GANTRY_TOKEN` value (unset: `None`).
    pub(crate) async fn gantry_with_token(&self, token: Option<&str>, args: &[&str]) -> Run {
        let mut command = self.command(token, args);
        let output = tokio::task::spawn_blocking(move || command.output().expect("gantry runs"));
        let output = gantry_testkit::within("gantry", output).await.expect("joined");
        Run {
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            code: output.status.code(),
        }
    }

    /// Returns the command line of `gantry <args>` against this intake and
    /// provisioner (without one, an address where nothing listens).
    pub(crate) fn command(&self, token: Option<&str>, args: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_gantry"));
        let address = |service: &Option<(Running, ServiceSchema)>| {
            service.as_ref().map_or("127.0.0.1:1".into(), |(running, _)| running.address.to_string())
        };
        command
            .args(args)
            .env("GANTRY_SERVER", format!("http://{}", self.intake.address))
            .env("GANTRY_PROVISIONER_SERVER", format!("http://{}", address(&self.provisioner)))
            .env("GANTRY_ROTATION_SERVER", format!("http://{}", address(&self.rotation)))
            .env("GANTRY_INGEST_SERVER", format!("http://{}", address(&self.ingest)))
            .env("GANTRY_LINEAGE_SERVER", format!("http://{}", address(&self.lineage)))
            .env("GANTRY_EVENTS_SERVER", format!("http://{}", address(&self.console)));
        for variable in ["GANTRY_TOKEN", "GANTRY_CA_FILE", "GANTRY_TLS_DOMAIN", "GANTRY_CONFIG"] {
            command.env_remove(variable);
        }
        if let Some(token) = token {
            command.env("GANTRY_TOKEN", token);
        }
        command
    }

    /// Submits a low-risk, small database request through the CLI and
    /// returns its JSON.
    pub(crate) async fn submit(&self, name: &str, environment: &str) -> serde_json::Value {
        self.submit_with_risk(name, environment, "low").await
    }

    /// Submits a small database request of this risk through the CLI and
    /// returns its JSON.
    pub(crate) async fn submit_with_risk(&self, name: &str, environment: &str, risk: &str) -> serde_json::Value {
        let run = self
            .gantry(
                Some("backstage"),
                &[
                    "--output",
                    "json",
                    "request",
                    "db",
                    "--name",
                    name,
                    "--owner",
                    "team-orders",
                    "--requester",
                    "alice",
                    "--env",
                    environment,
                    "--domain",
                    "payments",
                    "--risk",
                    risk,
                    "--size",
                    "small",
                ],
            )
            .await;
        assert_eq!(run.code, Some(0), "{run:?}");
        run.json()
    }

    /// Appends a provisioner's event to a request, as the provisioner
    /// would, and returns its stream sequence.
    pub(crate) async fn provisioner_appends(&self, request_id: &str, payload: Payload) -> u64 {
        self.provisioner_appends_at(request_id, payload, std::time::SystemTime::now()).await
    }

    /// Appends a provisioner's event dated `at`, and returns its sequence.
    async fn provisioner_appends_at(&self, request_id: &str, payload: Payload, at: std::time::SystemTime) -> u64 {
        let event = NewEvent {
            aggregate_type: "request",
            aggregate_id: request_id.to_owned(),
            payload,
            actor: Principal { subject: "provisioner".into(), groups: vec![] },
            correlation_id: String::new(),
            causation_id: String::new(),
        };
        let subject = self.log.subject("request", request_id);
        self.log
            .append_envelope(subject, event.into_envelope(at), ExpectedSequence::Any)
            .await
            .expect("appended")
            .sequence
    }

    /// Submits a database request that waits for approval (so the
    /// provisioner's reactor leaves it alone), then appends what the
    /// provisioner appends when it makes it.
    pub(crate) async fn provisioned_database(&self, name: &str, environment: &str) -> Provisioned {
        self.provisioned_database_ago(name, environment, std::time::Duration::ZERO).await
    }

    /// As [`provisioned_database`](Self::provisioned_database), the
    /// provisioner's events dated `age` ago.
    pub(crate) async fn provisioned_database_ago(
        &self,
        name: &str,
        environment: &str,
        age: std::time::Duration,
    ) -> Provisioned {
        let at = std::time::SystemTime::now() - age;
        let id = self.submit(name, environment).await["request_id"].as_str().unwrap().to_owned();
        let role = format!("{name}_user");
        let steps = [
            Payload::ProvisioningStarted(ProvisioningStarted {}),
            Payload::RoleCreated(RoleCreated { role: role.clone(), environment: environment.into() }),
            Payload::DatabaseCreated(DatabaseCreated {
                database: name.into(),
                role,
                environment: environment.into(),
                host: "127.0.0.1".into(),
                port: 5432,
                connection_limit: 20,
                audit_logging: false,
            }),
            Payload::CredentialsStored(CredentialsStored {
                secret_name: format!("goldenpath/{environment}/{name}/postgres"),
                version_id: "v1".into(),
            }),
            Payload::ResourceProvisioned(ResourceProvisioned {
                secret_path: format!("goldenpath/{environment}/{name}/postgres"),
            }),
        ];
        let mut sequence = 0;
        for payload in steps {
            sequence = self.provisioner_appends_at(&id, payload, at).await;
        }
        Provisioned { id, sequence: sequence.to_string() }
    }

    /// Submits a database request and appends only the provisioner's
    /// start, so it stays `provisioning`.
    pub(crate) async fn provisioning_database(&self, name: &str, environment: &str) -> Provisioned {
        let id = self.submit(name, environment).await["request_id"].as_str().unwrap().to_owned();
        let sequence = self.provisioner_appends(&id, Payload::ProvisioningStarted(ProvisioningStarted {})).await;
        Provisioned { id, sequence: sequence.to_string() }
    }

    /// Submits a prod bucket request for `purpose` in eu-west-1 (waiting for
    /// platform-team's approval), then appends what the provisioner appends
    /// when it makes it, with SSE-KMS when `kms_key_id` is given.
    pub(crate) async fn provisioned_bucket(&self, name: &str, purpose: &str, kms_key_id: Option<&str>) -> Provisioned {
        let mut request = vec!["--output", "json", "request", "bucket", "--name", name, "--purpose", purpose];
        request.extend(["--env", "prod", "--region", "eu-west-1", "--owner", "team-platform", "--requester", "alice"]);
        if purpose == "logs" {
            request.extend(["--retention-days", "30"]);
        }
        if let Some(key) = kms_key_id {
            request.extend(["--kms-key", key]);
        }
        let run = self.gantry(Some("backstage"), &request).await;
        assert_eq!(run.code, Some(0), "{run:?}");
        let id = run.json()["request_id"].as_str().unwrap().to_owned();
        let created = BucketCreated {
            bucket: name.into(),
            environment: "prod".into(),
            region: "eu-west-1".into(),
            purpose: purpose_number(purpose),
            versioning: true,
            encryption: if kms_key_id.is_some() { "aws:kms" } else { "AES256" }.into(),
            kms_key_id: kms_key_id.unwrap_or_default().into(),
            public_access_blocked: true,
            tls_only: true,
            lifecycle_rules: 2,
            replication_target: String::new(),
        };
        let secret_path = String::new();
        let steps = [
            Payload::ProvisioningStarted(ProvisioningStarted {}),
            Payload::BucketCreated(created),
            Payload::ResourceProvisioned(ResourceProvisioned { secret_path }),
        ];
        let mut sequence = 0;
        for payload in steps {
            sequence = self.provisioner_appends(&id, payload).await;
        }
        Provisioned { id, sequence: sequence.to_string() }
    }

    /// Returns `<stem>-<this test's id>`, a name no other test uses (for
    /// what is shared between tests, such as the emulator's buckets).
    pub(crate) fn unique(&self, stem: &str) -> String {
        format!("{stem}-{}", &self.env.schema.trim_start_matches("t_")[..12])
    }

    /// The provisioner's secret prefix on [`Platform::Dev`]: this test's own,
    /// so its secrets in the emulator are no other test's.
    pub(crate) fn secret_prefix(&self) -> String {
        self.unique("gantry-test")
    }

    /// The admin URL of the `dev` platform Postgres on [`Platform::Dev`]
    /// (the shared Postgres).
    pub(crate) fn platform_postgres_url(&self) -> &str {
        &self.env.database_url
    }

    /// Console's gRPC address (the event service); console must run.
    pub(crate) fn console_grpc(&self) -> SocketAddr {
        self.console.as_ref().expect("console runs in this test").0.address
    }

    /// Console's HTTP address (the page, `/v1/events`); console must run.
    pub(crate) fn console_http(&self) -> SocketAddr {
        self.console_http.expect("console runs in this test")
    }

    /// The sequence of the last event on this test's stream.
    pub(crate) async fn last_sequence(&self) -> u64 {
        let mut stream = self.log.jetstream().get_stream(&self.log.settings().name).await.expect("the stream");
        stream.info().await.expect("the stream's state").state.last_sequence
    }

    /// Each event of a request with the `traceparent` it was stored with.
    pub(crate) async fn traced_events(&self, id: &str) -> Vec<(String, Option<String>)> {
        let mut events = Vec::new();
        for event in self.log.load("request", id).await.unwrap().events {
            let headers = self.log.headers_at(event.sequence).await;
            let traceparent = headers.and_then(|headers| headers.get("traceparent").map(|value| value.to_string()));
            events.push((event.envelope.event_type, traceparent));
        }
        events
    }

    /// Returns a directory of this test's own (removed with it).
    pub(crate) fn directory(&self) -> &Path {
        &self.env.directory
    }

    /// Stops the services and removes the test's stream, schemas and files.
    pub(crate) async fn cleanup(self) {
        let others = self.rotation.into_iter().chain(self.provisioner).chain(self.ingest);
        for (service, schema) in others.chain(self.lineage).chain(self.console) {
            service.stop().await;
            drop(schema);
        }
        self.intake.stop().await;
        self.env.cleanup().await.expect("cleanup");
    }
}

fn purpose_number(purpose: &str) -> i32 {
    let purpose = match purpose {
        "backend-state" => BucketPurpose::BackendState,
        "logs" => BucketPurpose::Logs,
        "traces" => BucketPurpose::Traces,
        "artifacts" => BucketPurpose::Artifacts,
        other => panic!("no purpose {other}"),
    };
    purpose as i32
}
