//! One place for starting ingest on a test's own stream, schema and store
//! (a temporary directory, or a bucket of its own on the S3 emulator: the
//! configuration is all that differs), calling it as a principal, and
//! looking beneath it: the blobs in the store, the events on the log.

use bytes::Bytes;
use gantry_eventlog::{EventLog, StreamSettings};
use gantry_ingest::Ingest;
use gantry_proto::artifacts::artifact_service_client::ArtifactServiceClient;
use gantry_proto::artifacts::{
    DownloadRequest, UploadHeader, UploadRequest, UploadResponse, download_response, upload_request,
};
use gantry_runtime::{Config, ShutdownTrigger};
use gantry_storage::{BlobStore, FsStore, Page, S3Settings, S3Store};
use gantry_testkit::TestEnv;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

pub(crate) const MIB: usize = 1024 * 1024;

/// The principals a test calls as: an agent of tenant acme, one of globex,
/// and an auditor of the platform team.
const PRINCIPALS: &[(&str, &[&str])] =
    &[("agent", &["tenant:acme"]), ("other", &["tenant:globex"]), ("auditor", &["platform-team"])];

/// Adds a principal's token to every call.
type Bearer = Box<dyn FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Send>;

/// An artifact API client that sends a principal's token.
pub(crate) type Client = ArtifactServiceClient<InterceptedService<Channel, Bearer>>;

/// Which store a test's ingest writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Filesystem,
    S3,
}

/// The emulator's endpoint; panics unless it is on loopback and the SDK
/// is kept from looking for credentials anywhere else.
fn emulator_endpoint() -> String {
    let endpoint = std::env::var("GANTRY_TEST_AWS_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:5000".into());
    assert!(
        endpoint.starts_with("http://127.0.0.1:") || endpoint.starts_with("http://localhost:"),
        "GANTRY_TEST_AWS_ENDPOINT {endpoint} is not on loopback"
    );
    assert!(
        std::env::var_os("AWS_ACCESS_KEY_ID").is_some()
            && std::env::var("AWS_EC2_METADATA_DISABLED").is_ok_and(|disabled| disabled == "true"),
        "export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_EC2_METADATA_DISABLED=true \
         (scripts/test.sh does)"
    );
    endpoint
}

struct Running {
    trigger: ShutdownTrigger,
    task: JoinHandle<anyhow::Result<()>>,
    address: SocketAddr,
}

/// Ingest of one test, its store and the log it writes.
pub(crate) struct Harness {
    env: Option<TestEnv>,
    config: Config,
    running: Option<Running>,
    tokens: HashMap<String, String>,
    /// The same store ingest writes to, for looking beneath it.
    pub(crate) store: Arc<dyn BlobStore>,
    directory: Option<tempfile::TempDir>,
    bucket: Option<(S3Store, String)>,
    /// The test's log, for feeding it what an upload long ago appended.
    pub(crate) log: EventLog,
    /// The configured name of the backend.
    pub(crate) backend: &'static str,
    /// More backends of the same kind (see [`Harness::add_backend`]).
    pub(crate) extra: Vec<Place>,
    kind: Kind,
}

/// Another backend's store: a directory or a bucket of its own.
pub(crate) struct Place {
    /// The store, for looking beneath ingest.
    pub(crate) store: Arc<dyn BlobStore>,
    directory: Option<tempfile::TempDir>,
    bucket: Option<(S3Store, String)>,
}

impl Place {
    /// Every file under the directory (temporary ones too), or every object
    /// and open multipart upload in the whole bucket: all that was written.
    pub(crate) async fn everything(&self) -> Vec<String> {
        if let Some((store, bucket)) = &self.bucket {
            let client = store.client();
            let objects = client.list_objects_v2().bucket(bucket).send().await.expect("objects");
            let uploads = client.list_multipart_uploads().bucket(bucket).send().await.expect("uploads");
            let objects = objects.contents().iter().map(|object| object.key().unwrap_or_default().to_owned());
            let uploads = uploads.uploads().iter().map(|upload| format!("upload {}", upload.key().unwrap_or_default()));
            return objects.chain(uploads).collect();
        }
        files_under(self.directory.as_ref().expect("a directory").path())
    }
}

/// Every file beneath `root`, at any depth.
fn files_under(root: &std::path::Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut directories = vec![root.to_path_buf()];
    while let Some(directory) = directories.pop() {
        for entry in std::fs::read_dir(&directory).expect("a readable directory") {
            let path = entry.expect("an entry").path();
            if path.is_dir() { directories.push(path) } else { files.push(path.display().to_string()) }
        }
    }
    files
}

impl Harness {
    /// Starts ingest on a fresh store of `kind`, with 256 KiB chunks.
    pub(crate) async fn start(kind: Kind) -> Self {
        let env = TestEnv::new().await.expect("test env");
        let tokens = env.write_tokens(PRINCIPALS).expect("tokens");
        let config = env
            .config()
            .with("ingest.schema", &env.schema)
            .with("ingest.listen", "127.0.0.1:0")
            .with("ingest.max_chunk_bytes", 256 * 1024)
            // Retention acts at once: a sweep every 50 ms, no grace.
            .with("ingest.sweep_interval_ms", 50)
            .with("ingest.blob_grace_s", 0);
        let (config, store, directory, bucket): (Config, Arc<dyn BlobStore>, _, _) = match kind {
            Kind::Filesystem => {
                let directory = tempfile::tempdir().expect("a temporary directory");
                let config =
                    config.with("ingest.storage.kind", "filesystem").with("ingest.storage.root", directory.path());
                let store = FsStore::open(directory.path()).await.expect("the store opens");
                (config, Arc::new(store), Some(directory), None)
            }
            Kind::S3 => {
                let bucket = format!("gantry-ingest-{}", &env.schema[2..18]);
                let settings = S3Settings {
                    endpoint_url: Some(emulator_endpoint()),
                    bucket: bucket.clone(),
                    key_prefix: "gantry".into(),
                    multipart_threshold_bytes: 5 * MIB as u64,
                    part_size_bytes: 5 * MIB as u64,
                    parts_in_flight: 2,
                    ..S3Settings::default()
                };
                let store = S3Store::connect(settings.clone()).await.expect("the store connects");
                store.client().create_bucket().bucket(&bucket).send().await.expect("the bucket is made");
                let config = config
                    .with("ingest.storage.kind", "s3")
                    .with("ingest.storage.s3.endpoint_url", settings.endpoint_url.as_deref().unwrap())
                    .with("ingest.storage.s3.region", &settings.region)
                    .with("ingest.storage.s3.bucket", &bucket)
                    .with("ingest.storage.s3.key_prefix", &settings.key_prefix)
                    .with("ingest.storage.s3.multipart_threshold_bytes", settings.multipart_threshold_bytes)
                    .with("ingest.storage.s3.part_size_bytes", settings.part_size_bytes)
                    .with("ingest.storage.s3.parts_in_flight", settings.parts_in_flight);
                (config, Arc::new(store.clone()), None, Some((store, bucket)))
            }
        };
        let stream: StreamSettings = config.section("stream").expect("stream settings");
        let log = EventLog::open(env.nats.clone(), stream).await.expect("the log");
        let backend = if bucket.is_some() { "s3" } else { "local" };
        let mut harness = Self {
            env: Some(env),
            config,
            running: None,
            tokens,
            store,
            directory,
            bucket,
            log,
            backend,
            extra: Vec::new(),
            kind,
        };
        harness.start_ingest().await;
        harness
    }

    async fn start_ingest(&mut self) {
        let built = gantry_service::build::<Ingest>(&self.config).await.expect("ingest builds");
        let (trigger, shutdown) = ShutdownTrigger::new();
        let address = built.local_addr();
        self.running = Some(Running { trigger, address, task: tokio::spawn(built.run(shutdown)) });
    }

    /// Configures one more backend named `name`, of the harness's kind (a
    /// directory, or a bucket of its own), for the next (re)start; returns
    /// its index in `extra`.
    pub(crate) async fn add_backend(&mut self, name: &str) -> usize {
        let key = |setting: &str| format!("ingest.backends.{name}.{setting}");
        let place = match self.kind {
            Kind::Filesystem => {
                let directory = tempfile::tempdir().expect("a temporary directory");
                self.config = self.config.with(&key("kind"), "filesystem").with(&key("root"), directory.path());
                let store = FsStore::open(directory.path()).await.expect("the store opens");
                Place { store: Arc::new(store), directory: Some(directory), bucket: None }
            }
            Kind::S3 => {
                let schema = &self.env.as_ref().unwrap().schema;
                let bucket = format!("gantry-ingest-{}-{name}", &schema[2..18]);
                let settings = S3Settings {
                    endpoint_url: Some(emulator_endpoint()),
                    region: "eu-west-1".into(),
                    bucket: bucket.clone(),
                    key_prefix: "eu-data".into(),
                    multipart_threshold_bytes: 5 * MIB as u64,
                    part_size_bytes: 5 * MIB as u64,
                    parts_in_flight: 2,
                    ..S3Settings::default()
                };
                let store = S3Store::connect(settings.clone()).await.expect("the store connects");
                // A bucket in another region, as a tenant pinned to the EU would have.
                let region = aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
                    .build();
                let create = store.client().create_bucket().bucket(&bucket).create_bucket_configuration(region);
                create.send().await.expect("the bucket is made");
                self.config = self
                    .config
                    .with(&key("kind"), "s3")
                    .with(&key("s3.endpoint_url"), settings.endpoint_url.as_deref().unwrap())
                    .with(&key("s3.region"), &settings.region)
                    .with(&key("s3.bucket"), &bucket)
                    .with(&key("s3.key_prefix"), &settings.key_prefix)
                    .with(&key("s3.multipart_threshold_bytes"), settings.multipart_threshold_bytes)
                    .with(&key("s3.part_size_bytes"), settings.part_size_bytes)
                    .with(&key("s3.parts_in_flight"), settings.parts_in_flight);
                Place { store: Arc::new(store.clone()), directory: None, bucket: Some((store, bucket)) }
            }
        };
        self.extra.push(place);
        self.extra.len() - 1
    }

    /// Everything written to the harness's own backend (see [`Place::everything`]).
    pub(crate) async fn everything_in_the_first_backend(&self) -> Vec<String> {
        if let Some((store, bucket)) = &self.bucket {
            let place =
                Place { store: self.store.clone(), directory: None, bucket: Some((store.clone(), bucket.clone())) };
            return place.everything().await;
        }
        files_under(self.directory.as_ref().expect("a directory").path())
    }

    /// Stops ingest and starts it again on the same store and log.
    pub(crate) async fn restart(&mut self) {
        let running = self.running.take().expect("a running ingest");
        running.trigger.trigger();
        let _ = tokio::time::timeout(Duration::from_secs(30), running.task).await;
        self.start_ingest().await;
    }

    /// Waits until the view has applied every event of the stream, then
    /// returns its rows as text (artifacts, blobs, run events), and the parked events.
    pub(crate) async fn view_snapshot(&self) -> (Vec<String>, usize) {
        let env = self.env.as_ref().unwrap();
        let mut stream = async_nats_jetstream(&env.nats).get_stream(&env.stream_name).await.expect("the stream");
        let last = stream.info().await.expect("stream info").state.last_sequence;
        let pool = env.pool().await.expect("a pool");
        let caught_up =
            gantry_eventlog::projection::wait_for_checkpoint(&pool, "artifacts", last, Duration::from_secs(10));
        assert!(caught_up.await.expect("the checkpoint"), "the view applied everything");
        let rows = sqlx::query_scalar(
            "SELECT row_to_json(a)::text FROM (SELECT * FROM artifacts ORDER BY artifact_id) a
             UNION ALL SELECT row_to_json(b)::text FROM (SELECT * FROM blobs ORDER BY sha256) b
             UNION ALL SELECT row_to_json(r)::text FROM (SELECT * FROM run_events ORDER BY sequence) r",
        )
        .fetch_all(&pool)
        .await
        .expect("the view's rows");
        let parked = gantry_eventlog::projection::parked(&pool, "artifacts").await.expect("parked").len();
        pool.close().await;
        (rows, parked)
    }

    /// Stops ingest and rebuilds its view from the log.
    pub(crate) async fn stop_and_rebuild(&mut self) {
        let running = self.running.take().expect("a running ingest");
        running.trigger.trigger();
        let _ = tokio::time::timeout(Duration::from_secs(30), running.task).await;
        let rebuilt = gantry_service::rebuild::<Ingest>(&self.config).await.expect("the rebuild");
        assert_eq!(rebuilt.len(), 1, "one view");
        assert!(rebuilt[0].replayed_here);
    }

    /// Sets one more setting for the next (re)start.
    pub(crate) fn set(&mut self, key: &str, value: impl serde::Serialize) {
        self.config = self.config.with(key, value);
    }

    /// Returns the configuration ingest runs with.
    pub(crate) fn config(&self) -> Config {
        self.config.clone()
    }

    /// Restarts ingest with one more setting.
    pub(crate) async fn restart_with(&mut self, key: &str, value: impl serde::Serialize) {
        self.config = self.config.with(key, value);
        self.restart().await;
    }

    /// A client calling as `subject` (`agent`, `other`, `auditor`).
    pub(crate) fn client(&self, subject: &str) -> Client {
        let address = self.running.as_ref().expect("a running ingest").address;
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}")).unwrap().connect_lazy();
        let header: tonic::metadata::MetadataValue<_> = format!("Bearer {}", self.tokens[subject]).parse().unwrap();
        let interceptor: Bearer = Box::new(move |mut request: tonic::Request<()>| {
            request.metadata_mut().insert("authorization", header.clone());
            Ok(request)
        });
        ArtifactServiceClient::with_interceptor(channel, interceptor).max_decoding_message_size(64 * MIB)
    }

    /// Every key in the store (blobs and staged uploads).
    pub(crate) async fn keys(&self) -> Vec<String> {
        let listing = self.store.list("", Page::first(1000)).await.expect("the store lists");
        listing.keys
    }

    /// Writes under way beneath the trait: the filesystem store's temporary
    /// files, or the multipart uploads open in the bucket.
    pub(crate) async fn writes_in_progress(&self) -> usize {
        if let Some((store, bucket)) = &self.bucket {
            let uploads = store.client().list_multipart_uploads().bucket(bucket).send().await.expect("uploads");
            return uploads.uploads().len();
        }
        self.directory
            .as_ref()
            .and_then(|directory| std::fs::read_dir(directory.path().join(".tmp")).ok())
            .map_or(0, |entries| entries.count())
    }

    /// True when the store holds nothing at all, not even a write under way.
    pub(crate) async fn store_is_empty(&self) -> bool {
        self.keys().await.is_empty() && self.writes_in_progress().await == 0
    }

    /// How many events this test's stream holds.
    pub(crate) async fn event_count(&self) -> u64 {
        let env = self.env.as_ref().unwrap();
        let jetstream = async_nats_jetstream(&env.nats);
        let mut stream = jetstream.get_stream(&env.stream_name).await.expect("the stream");
        stream.info().await.expect("stream info").state.messages
    }

    /// Stops ingest, removes the bucket or directory, the stream and the schema.
    pub(crate) async fn cleanup(mut self) {
        if let Some(running) = self.running.take() {
            running.trigger.trigger();
            let _ = tokio::time::timeout(Duration::from_secs(30), running.task).await;
        }
        if let Some((store, bucket)) = self.bucket.take() {
            empty_and_delete(store.client(), &bucket).await;
        }
        drop(self.directory.take());
        for place in self.extra.drain(..) {
            if let Some((store, bucket)) = &place.bucket {
                empty_and_delete(store.client(), bucket).await;
            }
        }
        if let Some(env) = self.env.take() {
            env.cleanup().await.expect("cleanup");
        }
    }
}

fn async_nats_jetstream(client: &async_nats::Client) -> async_nats::jetstream::Context {
    async_nats::jetstream::new(client.clone())
}

async fn empty_and_delete(client: &aws_sdk_s3::Client, bucket: &str) {
    if let Ok(uploads) = client.list_multipart_uploads().bucket(bucket).send().await {
        for upload in uploads.uploads() {
            let abort = client.abort_multipart_upload().bucket(bucket).key(upload.key().unwrap_or_default());
            let _ = abort.upload_id(upload.upload_id().unwrap_or_default()).send().await;
        }
    }
    let mut objects = client.list_objects_v2().bucket(bucket).into_paginator().send();
    while let Some(Ok(page)) = objects.next().await {
        for object in page.contents() {
            let _ = client.delete_object().bucket(bucket).key(object.key().unwrap_or_default()).send().await;
        }
    }
    let _ = client.delete_bucket().bucket(bucket).send().await;
}

/// A header of tenant acme for `name` in run `run`.
pub(crate) fn header(run: &str, name: &str) -> UploadHeader {
    UploadHeader {
        tenant: "acme".into(),
        run_id: run.into(),
        step_id: "train".into(),
        agent: "trainer".into(),
        agent_version: "1.0.0".into(),
        name: name.into(),
        media_type: "application/octet-stream".into(),
        ..UploadHeader::default()
    }
}

/// `len` bytes that differ by `seed`.
pub(crate) fn content(seed: u8, len: usize) -> Bytes {
    (0..len as u64)
        .map(|offset| ((offset.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as u8) ^ seed)
        .collect::<Vec<u8>>()
        .into()
}

/// The messages of an upload: the header, then `bytes` in chunks of `chunk`.
pub(crate) fn messages(header: UploadHeader, bytes: &Bytes, chunk: usize) -> Vec<UploadRequest> {
    let first = UploadRequest { message: Some(upload_request::Message::Header(header)) };
    let chunks = (0..bytes.len()).step_by(chunk.max(1)).map(|at| UploadRequest {
        message: Some(upload_request::Message::Chunk(bytes.slice(at..(at + chunk).min(bytes.len())))),
    });
    std::iter::once(first).chain(chunks).collect()
}

/// Uploads `bytes` under `header` in 64 KiB chunks.
pub(crate) async fn upload(
    client: &mut Client,
    header: UploadHeader,
    bytes: &Bytes,
) -> Result<UploadResponse, tonic::Status> {
    let messages = messages(header, bytes, 64 * 1024);
    client.upload(futures::stream::iter(messages)).await.map(tonic::Response::into_inner)
}

/// Downloads `length` bytes from `offset` (0: to the end) of an artifact.
pub(crate) async fn download(
    client: &mut Client,
    artifact_id: &str,
    offset: u64,
    length: u64,
    min_sequence: u64,
) -> Result<(u64, Vec<u8>), tonic::Status> {
    let request = DownloadRequest { artifact_id: artifact_id.into(), offset, length, min_sequence };
    let mut stream = client.download(request).await?.into_inner();
    let mut announced = None;
    let mut bytes = Vec::new();
    while let Some(message) = stream.message().await? {
        match message.message {
            Some(download_response::Message::Header(header)) => announced = Some(header.length),
            Some(download_response::Message::Chunk(chunk)) => bytes.extend_from_slice(&chunk),
            None => panic!("an empty download message"),
        }
    }
    let announced = announced.expect("a header first");
    assert_eq!(announced, bytes.len() as u64, "the download sent the length it announced");
    Ok((announced, bytes))
}

/// The field names of an INVALID_ARGUMENT's bad-request details.
pub(crate) fn violated_fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt as _;
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    let details = status.get_details_bad_request().expect("a bad-request detail");
    details.field_violations.into_iter().map(|violation| violation.field).collect()
}

/// Checks `condition` repeatedly for `duration` and fails if it ever is false.
pub(crate) async fn stays<F, Fut>(duration: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + duration;
    while tokio::time::Instant::now() < deadline {
        assert!(condition().await, "the condition stopped holding");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Feeds the log an artifact of `bytes` that expired a moment ago, as an
/// upload long ago would have recorded it, with its bytes in the store;
/// returns its id.
pub(crate) async fn expired_artifact(harness: &Harness, name: &str, bytes: &Bytes) -> String {
    expired_artifact_on(harness, harness.store.as_ref(), harness.backend, name, bytes).await
}

/// [`expired_artifact`] on backend `backend`, whose store is `store`.
pub(crate) async fn expired_artifact_on(
    harness: &Harness,
    store: &dyn BlobStore,
    backend: &str,
    name: &str,
    bytes: &Bytes,
) -> String {
    use gantry_proto::events::{ArtifactStored, RetentionPolicy, envelope::Payload};
    use sha2::Digest as _;
    let sha256 = hex::encode(sha2::Sha256::digest(bytes));
    let key = format!("artifacts/sha256/{}/{}/{sha256}", &sha256[..2], &sha256[2..4]);
    if store.head(&key).await.unwrap().is_none() {
        let chunks = futures::stream::iter([Ok::<_, gantry_storage::BoxError>(bytes.clone())]);
        store.put(&key, Box::pin(chunks)).await.expect("the old blob");
    }
    let artifact_id = uuid::Uuid::now_v7().to_string();
    let stored = ArtifactStored {
        artifact_id: artifact_id.clone(),
        tenant: "acme".into(),
        run_id: "old".into(),
        step_id: "old".into(),
        agent: "trainer".into(),
        agent_version: "0.9".into(),
        name: name.into(),
        media_type: "application/octet-stream".into(),
        retention: RetentionPolicy::Days30 as i32,
        expires_at: Some((std::time::SystemTime::now() - Duration::from_secs(1)).into()),
        sha256: sha256.clone(),
        blake3: blake3::hash(bytes).to_hex().to_string(),
        size_bytes: bytes.len() as u64,
        storage_backend: backend.into(),
        storage_uri: format!("test://{key}"),
        storage_key: key,
        input_artifact_ids: Vec::new(),
        deduplicated: false,
    };
    let event = gantry_eventlog::NewEvent {
        aggregate_type: "blob",
        aggregate_id: format!("{backend}.{sha256}"),
        payload: Payload::ArtifactStored(stored),
        actor: gantry_proto::types::Principal { subject: "agent".into(), groups: vec!["tenant:acme".into()] },
        correlation_id: uuid::Uuid::now_v7().to_string(),
        causation_id: String::new(),
    };
    harness.log.append(event, gantry_eventlog::ExpectedSequence::Any).await.expect("appended");
    artifact_id
}

/// The event types on the subject of the blob of `sha256`.
pub(crate) async fn blob_history(harness: &Harness, sha256: &str) -> Vec<String> {
    let aggregate = harness.log.load("blob", &format!("{}.{sha256}", harness.backend)).await.expect("the history");
    aggregate.events.into_iter().map(|event| event.envelope.event_type).collect()
}

/// GETs `url` with plain HTTP/1.1 (no SDK, no credentials), on loopback
/// only; returns the status code and the body.
pub(crate) async fn plain_http_get(url: &str) -> (u16, Vec<u8>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (authority, path) = rest.split_at(rest.find('/').expect("a path"));
    assert!(authority.starts_with("127.0.0.1:") || authority.starts_with("localhost:"), "{url} is not on loopback");
    let mut stream = tokio::net::TcpStream::connect(authority).await.expect("the store answers");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("the request is sent");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("the response is read");
    let end = response.windows(4).position(|window| window == b"\r\n\r\n").expect("a header") + 4;
    let head = String::from_utf8_lossy(&response[..end]).to_string();
    assert!(!head.to_ascii_lowercase().contains("transfer-encoding: chunked"), "{head}");
    let status = head.split_whitespace().nth(1).and_then(|code| code.parse().ok()).expect("a status");
    (status, response[end..].to_vec())
}
