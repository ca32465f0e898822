//! One place for starting lineage on a test's own stream and schema,
//! calling it as a principal, and feeding its log the artifact events
//! ingest appends (or running the real ingest beside it).

use gantry_eventlog::{EventLog, NewEvent, StreamSettings};
use gantry_lineage::Lineage;
use gantry_proto::events::envelope::Payload;
use gantry_proto::events::{ArtifactExpired, ArtifactStored};
use gantry_proto::lineage::lineage_service_client::LineageServiceClient;
use gantry_proto::lineage::{self as pb, as_of};
use gantry_proto::types::Principal;
use gantry_runtime::{Config, ShutdownTrigger};
use gantry_testkit::TestEnv;
use std::collections::HashMap;
use std::net::SocketAddr;
use tokio::task::JoinHandle;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use uuid::Uuid;

/// The principals a test calls as: an agent of tenant acme, one of globex,
/// an auditor of the platform team, and someone of no tenant.
pub(crate) const PRINCIPALS: &[(&str, &[&str])] = &[
    ("agent", &["tenant:acme"]),
    ("other", &["tenant:globex"]),
    ("auditor", &["platform-team"]),
    ("nobody", &["developers"]),
];

/// Adds a principal's token to every call.
type Bearer = Box<dyn FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Send>;

/// A lineage client that sends a principal's token.
pub(crate) type Client = LineageServiceClient<InterceptedService<Channel, Bearer>>;

/// An artifact as a test describes it.
#[derive(Debug, Clone)]
pub(crate) struct Artifact<'a> {
    pub(crate) tenant: &'a str,
    pub(crate) run: &'a str,
    pub(crate) step: &'a str,
    pub(crate) agent: &'a str,
    pub(crate) name: &'a str,
    pub(crate) inputs: Vec<Uuid>,
}

impl<'a> Artifact<'a> {
    /// An artifact of acme's `run`/`step`, made by agent `trainer`.
    pub(crate) fn acme(run: &'a str, step: &'a str, name: &'a str, inputs: &[Uuid]) -> Self {
        Self { tenant: "acme", run, step, agent: "trainer", name, inputs: inputs.to_vec() }
    }
}

/// Lineage of one test, and the log it reads.
pub(crate) struct Harness {
    pub(crate) env: TestEnv,
    pub(crate) config: Config,
    pub(crate) log: EventLog,
    pub(crate) tokens: HashMap<String, String>,
    running: Option<(ShutdownTrigger, JoinHandle<anyhow::Result<()>>)>,
    /// Where lineage listens.
    pub(crate) address: SocketAddr,
    /// The pool on lineage's schema.
    pub(crate) pool: sqlx::PgPool,
}

impl Harness {
    /// Starts lineage on a fresh stream and schema.
    pub(crate) async fn start() -> Self {
        let env = TestEnv::new().await.expect("test env");
        let tokens = env.write_tokens(PRINCIPALS).expect("tokens");
        let config = env.config().with("lineage.schema", &env.schema).with("lineage.listen", "127.0.0.1:0");
        let stream: StreamSettings = config.section("stream").expect("stream settings");
        let log = EventLog::open(env.nats.clone(), stream).await.expect("the log");
        let built = gantry_service::build::<Lineage>(&config).await.expect("lineage builds");
        let (address, pool) = (built.local_addr(), built.pool().clone());
        let (trigger, shutdown) = ShutdownTrigger::new();
        let task = tokio::spawn(built.run(shutdown));
        Self { env, config, log, tokens, running: Some((trigger, task)), address, pool }
    }

    /// Stops the running lineage service (its view stays).
    pub(crate) async fn stop_service(&mut self) {
        if let Some((trigger, task)) = self.running.take() {
            trigger.trigger();
            task.await.expect("lineage joins").expect("lineage stops cleanly");
        }
    }

    /// A client calling as `subject`.
    pub(crate) async fn client(&self, subject: &str) -> Client {
        let channel = Channel::from_shared(format!("http://{}", self.address)).unwrap().connect().await.unwrap();
        let header: tonic::metadata::MetadataValue<_> = format!("Bearer {}", self.tokens[subject]).parse().unwrap();
        let bearer: Bearer = Box::new(move |mut request: tonic::Request<()>| {
            request.metadata_mut().insert("authorization", header.clone());
            Ok(request)
        });
        LineageServiceClient::with_interceptor(channel, bearer)
    }

    /// Appends an `ArtifactStored` as ingest does (on its blob's subject)
    /// and returns the artifact's id and the event's sequence.
    pub(crate) async fn store(&self, artifact: Artifact<'_>) -> (Uuid, u64) {
        let id = Uuid::now_v7();
        let sha256 = format!("{:064x}", id.as_u128());
        let stored = ArtifactStored {
            artifact_id: id.to_string(),
            tenant: artifact.tenant.into(),
            run_id: artifact.run.into(),
            step_id: artifact.step.into(),
            agent: artifact.agent.into(),
            agent_version: "1.0".into(),
            name: artifact.name.into(),
            media_type: "text/csv".into(),
            input_artifact_ids: artifact.inputs.iter().map(Uuid::to_string).collect(),
            sha256: sha256.clone(),
            size_bytes: 42,
            storage_backend: "local".into(),
            ..Default::default()
        };
        let sequence = self.append_blob_event(&sha256, Payload::ArtifactStored(stored)).await;
        (id, sequence)
    }

    /// Appends an `ArtifactExpired` for `id` and returns its sequence.
    pub(crate) async fn expire(&self, id: Uuid) -> u64 {
        let sha256 = format!("{:064x}", id.as_u128());
        let expired = ArtifactExpired { artifact_id: id.to_string(), sha256: sha256.clone(), expires_at: None };
        self.append_blob_event(&sha256, Payload::ArtifactExpired(expired)).await
    }

    async fn append_blob_event(&self, sha256: &str, payload: Payload) -> u64 {
        let event = NewEvent {
            aggregate_type: "blob",
            aggregate_id: format!("local.{sha256}"),
            payload,
            actor: Principal { subject: "agent".into(), groups: vec!["tenant:acme".into()] },
            correlation_id: String::new(),
            causation_id: String::new(),
        };
        self.log.append(event, gantry_eventlog::ExpectedSequence::Any).await.expect("appended").sequence
    }

    /// Stops lineage and removes the test's stream and schema.
    pub(crate) async fn stop(mut self) {
        self.stop_service().await;
        self.pool.close().await;
        self.env.cleanup().await.expect("cleanup");
    }
}

/// A walk request from `node`, read once the view applied `min_sequence`.
pub(crate) fn walk(node: Uuid, min_sequence: u64) -> pb::TraverseRequest {
    pb::TraverseRequest { node_id: node.to_string(), min_sequence, ..Default::default() }
}

/// An `as_of` of a stream sequence.
pub(crate) fn at_sequence(sequence: u64) -> Option<pb::AsOf> {
    Some(pb::AsOf { point: Some(as_of::Point::Sequence(sequence)) })
}

/// The node ids of an answer, with their generation, sorted.
pub(crate) fn ids_of(graph: &pb::Graph) -> Vec<(String, u32)> {
    let mut ids: Vec<(String, u32)> = graph.nodes.iter().map(|node| (node.node_id.clone(), node.depth)).collect();
    ids.sort();
    ids
}

/// `(id, depth)` pairs, sorted, for comparing with [`ids_of`].
pub(crate) fn expect(pairs: &[(Uuid, u32)]) -> Vec<(String, u32)> {
    let mut ids: Vec<(String, u32)> = pairs.iter().map(|(id, depth)| (id.to_string(), *depth)).collect();
    ids.sort();
    ids
}

/// The field names of an INVALID_ARGUMENT's BadRequest detail.
pub(crate) fn violated_fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt as _;
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    let mut fields: Vec<String> = status
        .get_details_bad_request()
        .expect("a BadRequest detail")
        .field_violations
        .into_iter()
        .map(|violation| violation.field)
        .collect();
    fields.sort();
    fields
}
