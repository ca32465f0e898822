//! One place for starting console on a test's own stream, schema and
//! ports, for appending events as the other services would, and for
//! reading the stream over gRPC and HTTP. Nothing but console runs: tests
//! that need the other services beside it are the mesh's
//! (`services/gantry/tests/cli/console.rs`).

use gantry_console::ConsoleServer;
use gantry_eventlog::{Appended, EventLog, ExpectedSequence, NewEvent, StreamSettings};
use gantry_proto::events::envelope::Payload;
use gantry_proto::events::event_service_client::EventServiceClient;
use gantry_proto::events::{DatabaseRequested, WatchRequest, WatchResponse};
use gantry_proto::types::{DatabaseSpec, Environment, Principal, Risk, Size};
use gantry_runtime::ShutdownTrigger;
use gantry_testkit::TestEnv;
use http_body_util::BodyExt as _;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::task::JoinHandle;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// root is platform-team; alice a developer; acme a member of tenant acme;
/// bob reviews databases.
pub(crate) const PRINCIPALS: &[(&str, &[&str])] = &[
    ("root", &["platform-team"]),
    ("alice", &["developers"]),
    ("acme", &["tenant:acme"]),
    ("bob", &["databases-rds"]),
];

/// Adds a principal's token to every call.
pub(crate) type Bearer = Box<dyn FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Send>;
/// An event service client calling as one principal.
pub(crate) type Events = EventServiceClient<InterceptedService<Channel, Bearer>>;

/// Console of one test.
pub(crate) struct Mesh {
    pub(crate) env: TestEnv,
    pub(crate) log: EventLog,
    pub(crate) tokens: HashMap<String, String>,
    pub(crate) grpc: SocketAddr,
    pub(crate) http: SocketAddr,
    trigger: ShutdownTrigger,
    task: JoinHandle<anyhow::Result<()>>,
}

fn bearer(token: String) -> Bearer {
    let header: tonic::metadata::MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
    Box::new(move |mut request: tonic::Request<()>| {
        request.metadata_mut().insert("authorization", header.clone());
        Ok(request)
    })
}

async fn channel(address: SocketAddr) -> Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{address}")).unwrap().connect().await.expect("it answers")
}

impl Mesh {
    /// Starts console with the test's settings on top of the defaults.
    pub(crate) async fn start(settings: &[(&str, serde_json::Value)]) -> Self {
        let env = TestEnv::new().await.expect("test env");
        let tokens = env.write_tokens(PRINCIPALS).expect("tokens");
        let config = env
            .config()
            .with("console.schema", format!("{}_console", env.schema))
            .with("console.listen", "127.0.0.1:0")
            .with("console.http_listen", "127.0.0.1:0");
        let config = settings.iter().fold(config, |config, (key, value)| config.with(key, value));
        let console = ConsoleServer::build(&config).await.expect("console builds");
        let (grpc, http) = (console.grpc_addr(), console.http_addr());
        let (trigger, shutdown) = ShutdownTrigger::new();
        let task = tokio::spawn(console.run(shutdown));
        let stream: StreamSettings = config.section("stream").unwrap();
        let log = EventLog::open(env.nats.clone(), stream).await.expect("log");
        Self { env, log, tokens, grpc, http, trigger, task }
    }

    /// An event service client calling as `subject`.
    pub(crate) async fn events(&self, subject: &str) -> Events {
        EventServiceClient::with_interceptor(channel(self.grpc).await, bearer(self.tokens[subject].clone()))
    }

    /// Appends an event as a service would, and returns where it landed.
    pub(crate) async fn append(&self, aggregate_type: &'static str, aggregate_id: &str, payload: Payload) -> Appended {
        let event = NewEvent {
            aggregate_type,
            aggregate_id: aggregate_id.to_owned(),
            payload,
            actor: Principal { subject: "alice".into(), groups: vec!["developers".into()] },
            correlation_id: uuid::Uuid::now_v7().to_string(),
            causation_id: String::new(),
        };
        self.log.append(event, ExpectedSequence::Any).await.expect("appended")
    }

    /// Appends a database request of `environment` and returns its id and sequence.
    pub(crate) async fn request(&self, name: &str, environment: Environment) -> (String, u64) {
        let id = uuid::Uuid::now_v7().to_string();
        let spec = DatabaseSpec {
            database_name: name.into(),
            username: format!("{name}_user"),
            owner: "team-orders".into(),
            requester: "alice".into(),
            environment: environment as i32,
            domain: "payments".into(),
            risk: Risk::Medium as i32,
            size: Size::Medium as i32,
        };
        let requested = DatabaseRequested { spec: Some(spec), ..Default::default() };
        let appended = self.append("request", &id, Payload::DatabaseRequested(requested)).await;
        (id, appended.sequence)
    }

    /// Reads `count` events of a watch, failing after a few seconds.
    pub(crate) async fn take(stream: &mut tonic::Streaming<WatchResponse>, count: usize) -> Vec<WatchResponse> {
        let mut events = Vec::new();
        while events.len() < count {
            let next = tokio::time::timeout(Duration::from_secs(10), stream.message()).await;
            match next.expect("the next event comes in time").expect("the watch goes on") {
                Some(event) => events.push(event),
                None => panic!("the watch ended after {} events", events.len()),
            }
        }
        events
    }

    /// Opens a watch as `subject`.
    pub(crate) async fn watch(&self, subject: &str, request: WatchRequest) -> tonic::Streaming<WatchResponse> {
        self.events(subject).await.watch(request).await.expect("the watch starts").into_inner()
    }

    /// Sends an HTTP GET to console with these headers; returns the status,
    /// headers and the response (its body unread).
    pub(crate) async fn get(&self, path: &str, headers: &[(&str, String)]) -> hyper::Response<hyper::body::Incoming> {
        let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http::<http_body_util::Empty<bytes::Bytes>>();
        let mut request = hyper::Request::get(format!("http://{}{path}", self.http));
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        client.request(request.body(http_body_util::Empty::new()).unwrap()).await.expect("console answers HTTP")
    }

    /// GETs a path as `subject` (bearer header) and returns status and body.
    pub(crate) async fn get_text(&self, path: &str, subject: &str) -> (u16, String) {
        let response = self.get(path, &[("authorization", format!("Bearer {}", self.tokens[subject]))]).await;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.expect("the body").to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// Stops console and removes what the test made.
    pub(crate) async fn cleanup(self) {
        self.trigger.trigger();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task).await;
        self.env.cleanup().await.expect("cleanup");
    }
}

/// One server-sent event.
#[derive(Debug, Clone, Default)]
pub(crate) struct SseEvent {
    pub(crate) id: Option<String>,
    pub(crate) event: Option<String>,
    pub(crate) data: String,
}

/// Reads server-sent events from a response body.
pub(crate) struct SseReader {
    body: hyper::body::Incoming,
    buffer: String,
}

impl SseReader {
    pub(crate) fn new(response: hyper::Response<hyper::body::Incoming>) -> Self {
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(content_type.starts_with("text/event-stream"), "{content_type}");
        Self { body: response.into_body(), buffer: String::new() }
    }

    /// The next event (comments skipped); `None` when the stream ended.
    pub(crate) async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent::default();
                let mut data = Vec::new();
                for line in block.lines() {
                    match line.split_once(':') {
                        Some(("id", value)) => event.id = Some(value.trim_start().to_owned()),
                        Some(("event", value)) => event.event = Some(value.trim_start().to_owned()),
                        Some(("data", value)) => data.push(value.strip_prefix(' ').unwrap_or(value).to_owned()),
                        _ => {}
                    }
                }
                if data.is_empty() && event.id.is_none() && event.event.is_none() {
                    continue;
                }
                event.data = data.join("\n");
                return Some(event);
            }
            let frame = tokio::time::timeout(Duration::from_secs(10), self.body.frame()).await.expect("SSE in time")?;
            if let Ok(data) = frame.expect("the SSE body").into_data() {
                self.buffer.push_str(&String::from_utf8_lossy(&data));
            }
        }
    }

    /// The next `count` events.
    pub(crate) async fn take(&mut self, count: usize) -> Vec<SseEvent> {
        let mut events = Vec::new();
        while events.len() < count {
            events.push(self.next().await.unwrap_or_else(|| panic!("the stream ended after {}", events.len())));
        }
        events
    }
}
