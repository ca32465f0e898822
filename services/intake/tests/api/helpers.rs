//! One place for starting intake in a test and talking to it.

use gantry_eventlog::{EventLog, StreamSettings};
use gantry_intake::Intake;
use gantry_proto::intake::{self as pb, intake_service_client::IntakeServiceClient};
use gantry_proto::types;
use gantry_runtime::{Config, ShutdownTrigger};
use gantry_testkit::TestEnv;
use sqlx::PgPool;
use std::collections::HashMap;
use std::net::SocketAddr;
use tokio::task::JoinHandle;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// The principals every test can call as.
pub(crate) const PRINCIPALS: &[(&str, &[&str])] = &[
    ("alice", &["developers"]),
    ("mallory", &["developers"]),
    ("backstage", &["backstage"]),
    ("bob", &["databases-rds"]),
    ("carol", &["platform-team"]),
    ("frank", &["platform-team"]),
    ("dave", &["security"]),
    ("erin", &["database-team"]),
];

/// A running intake and what a test needs around it.
pub(crate) struct TestApp {
    pub(crate) env: TestEnv,
    pub(crate) address: SocketAddr,
    pub(crate) tokens: HashMap<String, String>,
    pub(crate) log: EventLog,
    pub(crate) pool: PgPool,
    /// How many times the tokens file has been checked.
    pub(crate) token_checks: tokio::sync::watch::Receiver<u64>,
    trigger: ShutdownTrigger,
    task: JoinHandle<anyhow::Result<()>>,
}

/// Starts intake on a fresh stream, schema and port.
pub(crate) async fn spawn_app() -> TestApp {
    let env = TestEnv::new().await.expect("test env");
    let tokens = env.write_tokens(PRINCIPALS).expect("tokens");
    start(env, tokens, |config| config).await
}

/// Starts intake on an existing test env, with a config tweak.
pub(crate) async fn start(
    env: TestEnv,
    tokens: HashMap<String, String>,
    tweak: impl FnOnce(Config) -> Config,
) -> TestApp {
    let config = tweak(env.config());
    let intake = gantry_service::build::<Intake>(&config).await.expect("intake builds");
    let address = intake.local_addr();
    let pool = intake.pool().clone();
    let token_checks = intake.authenticator().checks();
    let (trigger, shutdown) = ShutdownTrigger::new();
    let task = tokio::spawn(intake.run(shutdown));
    let settings: StreamSettings = config.section("stream").unwrap();
    let log = EventLog::open(env.nats.clone(), settings).await.expect("log");
    TestApp { env, address, tokens, log, pool, token_checks, trigger, task }
}

/// A client that sends a bearer token.
pub(crate) type Client = IntakeServiceClient<InterceptedService<Channel, Bearer>>;

/// Adds the bearer token, if any.
#[derive(Clone)]
pub(crate) struct Bearer(pub(crate) Option<String>);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(token) = &self.0 {
            request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        Ok(request)
    }
}

impl TestApp {
    /// Returns a channel to the server.
    pub(crate) async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.address)).unwrap().connect().await.expect("connects")
    }

    /// Returns a client calling as `subject`.
    pub(crate) async fn client(&self, subject: &str) -> Client {
        let token = self.tokens.get(subject).unwrap_or_else(|| panic!("no token for {subject}")).clone();
        IntakeServiceClient::with_interceptor(self.channel().await, Bearer(Some(token)))
    }

    /// Returns a client with a given raw token (or none).
    pub(crate) async fn client_with_token(&self, token: Option<&str>) -> Client {
        IntakeServiceClient::with_interceptor(self.channel().await, Bearer(token.map(str::to_owned)))
    }

    /// Returns how many messages the test's stream holds.
    pub(crate) async fn stream_messages(&self) -> u64 {
        let mut stream = self.log.jetstream().get_stream(&self.env.stream_name).await.unwrap();
        stream.info().await.unwrap().state.messages
    }

    /// True once intake's run has ended (it should not, short of a stop).
    pub(crate) fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Stops intake gracefully and returns how its run ended, keeping the env.
    pub(crate) async fn stop(self) -> (anyhow::Result<()>, TestEnv, HashMap<String, String>) {
        self.trigger.trigger();
        let result = gantry_testkit::within("intake's graceful stop", self.task).await.expect("intake task");
        (result, self.env, self.tokens)
    }

    /// Waits for intake to stop on its own (a simulated crash).
    pub(crate) async fn crashed(self) -> (anyhow::Result<()>, TestEnv, HashMap<String, String>) {
        let result = gantry_testkit::within("intake's simulated crash", self.task).await.expect("intake task");
        (result, self.env, self.tokens)
    }

    /// Stops intake and removes everything the test made.
    pub(crate) async fn cleanup(self) {
        let (result, env, _) = self.stop().await;
        result.expect("intake stops cleanly");
        env.cleanup().await.expect("cleanup");
    }
}

/// A valid database request.
pub(crate) fn database(name: &str, environment: types::Environment, size: types::Size) -> pb::RequestDatabaseRequest {
    pb::RequestDatabaseRequest {
        idempotency_key: String::new(),
        database_name: name.into(),
        username: String::new(),
        owner: "team-orders".into(),
        requester: "alice".into(),
        environment: environment as i32,
        domain: "payments".into(),
        risk: types::Risk::Medium as i32,
        size: size as i32,
    }
}

/// A valid bucket request.
pub(crate) fn bucket(purpose: types::BucketPurpose, environment: types::Environment) -> pb::RequestBucketRequest {
    pb::RequestBucketRequest {
        idempotency_key: String::new(),
        bucket_name: String::new(),
        purpose: purpose as i32,
        environment: environment as i32,
        region: "eu-west-1".into(),
        owner: "team-obs".into(),
        requester: "alice".into(),
        retention_days: 30,
        kms_key_id: String::new(),
        replication_target: String::new(),
    }
}

/// Submits a prod database request as backstage for alice and returns it.
pub(crate) async fn submitted(app: &TestApp, name: &str, size: types::Size) -> (pb::Request, u64) {
    let response = app
        .client("backstage")
        .await
        .request_database(database(name, types::Environment::Prod, size))
        .await
        .expect("submitted")
        .into_inner();
    (response.request.unwrap(), response.sequence)
}

/// Returns the field names of an INVALID_ARGUMENT's violations.
pub(crate) fn violated_fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt as _;
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .expect("bad request details")
        .field_violations
        .into_iter()
        .map(|violation| violation.field)
        .collect()
}

pub(crate) fn status_of(request: &pb::Request) -> pb::RequestStatus {
    pb::RequestStatus::try_from(request.status).unwrap()
}

/// Waits until the view has applied `sequence`.
pub(crate) async fn wait_for_view(app: &TestApp, sequence: u64) {
    let reached = gantry_eventlog::projection::wait_for_checkpoint(
        &app.pool,
        gantry_intake::view::VIEW_NAME,
        sequence,
        std::time::Duration::from_secs(10),
    )
    .await
    .unwrap();
    assert!(reached, "the view did not reach {sequence}");
}

/// Returns the field names of an ALREADY_EXISTS's violations (the names
/// other live requests hold).
pub(crate) fn taken_fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt as _;
    assert_eq!(status.code(), tonic::Code::AlreadyExists, "{status:?}");
    let details = status.get_details_bad_request().expect("bad request details");
    details.field_violations.into_iter().map(|violation| violation.field).collect()
}

/// Appends events to a request as the provisioner would, and returns the
/// sequence of the last one.
pub(crate) async fn append_as_provisioner(
    app: &TestApp,
    request_id: &str,
    payloads: impl IntoIterator<Item = gantry_proto::events::envelope::Payload>,
) -> u64 {
    let provisioner = types::Principal { subject: "provisioner".into(), groups: vec![] };
    let mut last = 0;
    for payload in payloads {
        let event = gantry_eventlog::NewEvent {
            aggregate_type: "request",
            aggregate_id: request_id.to_owned(),
            payload,
            actor: provisioner.clone(),
            correlation_id: String::new(),
            causation_id: String::new(),
        };
        last = app.log.append(event, gantry_eventlog::ExpectedSequence::Any).await.expect("appended").sequence;
    }
    last
}

/// Appends what the provisioner records for a database it made, so the
/// request is ready; returns the sequence of the last event.
pub(crate) async fn provisioned(app: &TestApp, request_id: &str) -> u64 {
    use gantry_proto::events::envelope::Payload;
    use gantry_proto::events::{ProvisioningStarted, ResourceProvisioned};
    let secret_path = "goldenpath/prod/orders/postgres".to_owned();
    let payloads = [
        Payload::ProvisioningStarted(ProvisioningStarted {}),
        Payload::ResourceProvisioned(ResourceProvisioned { secret_path }),
    ];
    append_as_provisioner(app, request_id, payloads).await
}
