//! What the service skeleton promises, shown through intake: bad bytes are
//! the caller's error, connections are capped and idle ones closed, a
//! service outlives a Postgres it cannot reach, and it serves over TLS.

use crate::helpers::{self, database, spawn_app};
use bytes::{Buf as _, BufMut as _};
use gantry_proto::types::{Environment, Size};
use gantry_testkit::TestEnv;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt as _;
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};

/// Sends a message's bytes as they are, so a test can send what no
/// generated client would.
#[derive(Debug, Clone, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, buffer: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        buffer.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(&mut self, buffer: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        let bytes = buffer.copy_to_bytes(buffer.remaining());
        Ok(Some(bytes.to_vec()))
    }
}

/// Calls RequestDatabase with raw bytes as `subject`.
async fn raw_request_database(app: &helpers::TestApp, subject: &str, bytes: Vec<u8>) -> tonic::Status {
    let mut grpc = tonic::client::Grpc::new(app.channel().await);
    grpc.ready().await.unwrap();
    let mut request = tonic::Request::new(bytes);
    let token = format!("Bearer {}", app.tokens[subject]);
    request.metadata_mut().insert("authorization", token.parse().unwrap());
    let path = http::uri::PathAndQuery::from_static("/gantry.intake.v1.IntakeService/RequestDatabase");
    grpc.unary(request, path, RawCodec).await.expect_err("bad bytes are refused")
}

/// A client whose connection is made on its first call, not before.
fn lazy_client(app: &helpers::TestApp) -> helpers::Client {
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", app.address)).unwrap().connect_lazy();
    let token = app.tokens["backstage"].clone();
    gantry_proto::intake::intake_service_client::IntakeServiceClient::with_interceptor(
        channel,
        helpers::Bearer(Some(token)),
    )
}

async fn health_of(channel: tonic::transport::Channel) -> ServingStatus {
    let mut health = HealthClient::new(channel);
    let request = HealthCheckRequest { service: "gantry.intake.v1.IntakeService".into() };
    health.check(request).await.unwrap().into_inner().status()
}

#[tokio::test]
async fn bytes_that_are_not_the_message_are_invalid_argument_and_the_server_stays_healthy() {
    let app = spawn_app().await;
    let before = app.stream_messages().await;
    // Not protobuf at all: a field with wire type 7.
    let garbage = raw_request_database(&app, "backstage", vec![0xff, 0xff, 0xff, 0xff]).await;
    assert_eq!(garbage.code(), Code::InvalidArgument, "{garbage:?}");
    assert!(garbage.message().contains("not valid protobuf"), "{garbage:?}");
    // Field 2 (database_name) holding bytes that are not UTF-8.
    let not_utf8 = raw_request_database(&app, "backstage", vec![0x12, 0x02, 0xc3, 0x28]).await;
    assert_eq!(not_utf8.code(), Code::InvalidArgument, "{not_utf8:?}");
    // Over the 64 KiB limit.
    let mut oversized = vec![0x12];
    let mut length = Vec::new();
    prost::encoding::encode_varint(100_000, &mut length);
    oversized.extend(length);
    oversized.resize(oversized.len() + 100_000, b'a');
    let too_big = raw_request_database(&app, "backstage", oversized).await;
    assert_eq!(too_big.code(), Code::ResourceExhausted, "{too_big:?}");

    assert_eq!(app.stream_messages().await, before, "a refused call appends nothing");
    assert_eq!(health_of(app.channel().await).await, ServingStatus::Serving);
    helpers::submitted(&app, "after_bad_bytes", Size::Small).await;
    app.cleanup().await;
}

#[tokio::test]
async fn a_connection_without_calls_is_closed_after_the_idle_timeout() {
    let env = TestEnv::new().await.unwrap();
    let tokens = env.write_tokens(helpers::PRINCIPALS).unwrap();
    let app = helpers::start(env, tokens, |config| config.with("grpc.idle_timeout_ms", 300)).await;
    let mut idle = tokio::net::TcpStream::connect(app.address).await.unwrap();
    let opened = Instant::now();
    let mut buffer = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match idle.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue, // the server's HTTP/2 preface
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the idle connection was not closed");
    assert!(opened.elapsed() >= Duration::from_millis(250), "closed before its idle timeout");
    // A connection that makes calls stays usable.
    helpers::submitted(&app, "still_served", Size::Small).await;
    app.cleanup().await;
}

#[tokio::test]
async fn connections_over_the_cap_wait_until_one_closes() {
    let env = TestEnv::new().await.unwrap();
    let tokens = env.write_tokens(helpers::PRINCIPALS).unwrap();
    let app =
        helpers::start(env, tokens, |config| config.with("grpc.max_connections", 2).with("grpc.idle_timeout_ms", 0))
            .await;
    let first = tokio::net::TcpStream::connect(app.address).await.unwrap();
    let second = tokio::net::TcpStream::connect(app.address).await.unwrap();
    let mut client = lazy_client(&app);
    let mut call = tonic::Request::new(database("capped", Environment::Prod, Size::Small));
    call.set_timeout(Duration::from_millis(500));
    let waited = client.request_database(call).await.unwrap_err();
    assert!(matches!(waited.code(), Code::DeadlineExceeded | Code::Cancelled | Code::Unavailable), "{waited:?}");
    // The waiting client gives up and leaves; a freed slot goes to the next.
    drop(client);
    drop(first);
    let client = lazy_client(&app);
    let served = tokio::time::timeout(Duration::from_secs(10), async move {
        let mut client = client;
        client.request_database(database("capped", Environment::Prod, Size::Small)).await
    })
    .await
    .expect("a freed slot takes the waiting client");
    served.unwrap();
    drop(second);
    app.cleanup().await;
}

#[tokio::test]
async fn without_postgres_intake_starts_takes_writes_and_answers_reads_unavailable_fast() {
    let env = TestEnv::new().await.unwrap();
    let tokens = env.write_tokens(helpers::PRINCIPALS).unwrap();
    // A port nothing listens on: Postgres is down from the start.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let app = helpers::start(env, tokens, |config| {
        config
            .with("database.url", format!("postgres://postgres@127.0.0.1:{closed}/postgres"))
            .with("database.acquire_timeout_ms", 500)
            .with("intake.health_interval_ms", 100)
    })
    .await;
    gantry_testkit::wait_until(Duration::from_secs(10), || async {
        Ok(health_of(app.channel().await).await == ServingStatus::NotServing)
    })
    .await
    .expect("health says NOT_SERVING without Postgres");

    let mut client = app.client("backstage").await;
    let written = client.request_database(database("no_pg", Environment::Prod, Size::Small)).await;
    let written = written.expect("writes need only the log").into_inner();
    assert!(written.sequence > 0);

    let started = Instant::now();
    let get = gantry_proto::intake::GetRequestRequest {
        request_id: written.request.unwrap().request_id,
        min_sequence: written.sequence,
    };
    let status = app.client("alice").await.get_request(get).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "reads fail fast, took {:?}", started.elapsed());
    let listed = app
        .client("alice")
        .await
        .list_requests(gantry_proto::intake::ListRequestsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(listed.code(), Code::Unavailable, "{listed:?}");
    app.cleanup().await;
}

/// A CA made for one test, and server certificates it signs.
struct TestCa {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    pem: String,
}

impl TestCa {
    fn new() -> Self {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let pem = params.self_signed(&key).unwrap().pem();
        Self { issuer: rcgen::Issuer::new(params, key), pem }
    }

    /// Writes a certificate for `localhost` and its key to `directory`.
    fn issue_into(&self, directory: &std::path::Path) {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        let certificate = params.signed_by(&key, &self.issuer).unwrap();
        // Key first: the server reloads once both files changed and match.
        std::fs::write(directory.join("server.key"), key.serialize_pem()).unwrap();
        std::fs::write(directory.join("server.pem"), certificate.pem()).unwrap();
    }

    /// Calls intake over TLS trusting only this CA.
    async fn call(&self, app: &helpers::TestApp) -> Result<(), String> {
        let directory = &app.env.directory;
        let ca_file = directory.join(format!("ca-{}.pem", uuid::Uuid::new_v4().simple()));
        std::fs::write(&ca_file, &self.pem).unwrap();
        let server = format!("https://{}", app.address);
        let endpoint = gantry_runtime::grpc::client_endpoint(&server, Some(&ca_file), Some("localhost")).unwrap();
        let channel = endpoint.connect().await.map_err(|error| format!("{error:?}"))?;
        let mut health = HealthClient::new(channel);
        let request = HealthCheckRequest { service: "gantry.intake.v1.IntakeService".into() };
        health.check(request).await.map(|_| ()).map_err(|status| format!("{status:?}"))
    }
}

#[tokio::test]
async fn intake_serves_over_tls_and_picks_up_a_renewed_certificate() {
    let env = TestEnv::new().await.unwrap();
    let tokens = env.write_tokens(helpers::PRINCIPALS).unwrap();
    let (first, second) = (TestCa::new(), TestCa::new());
    first.issue_into(&env.directory);
    let directory = env.directory.clone();
    let app = helpers::start(env, tokens, |config| {
        config
            .with("grpc.tls.cert_file", directory.join("server.pem"))
            .with("grpc.tls.key_file", directory.join("server.key"))
            .with("grpc.tls.reload_interval_ms", 100)
    })
    .await;
    first.call(&app).await.expect("a client trusting the CA is served over TLS");
    assert!(second.call(&app).await.is_err(), "a client trusting another CA is refused");
    let plaintext = tonic::transport::Channel::from_shared(format!("http://{}", app.address)).unwrap().connect_lazy();
    let mut plaintext = HealthClient::new(plaintext);
    assert!(plaintext.check(HealthCheckRequest::default()).await.is_err(), "plaintext is refused");

    // Renewed by another CA: new connections get the new certificate.
    second.issue_into(&app.env.directory);
    gantry_testkit::wait_until(Duration::from_secs(10), || async { Ok(second.call(&app).await.is_ok()) })
        .await
        .expect("the renewed certificate is served without a restart");
    assert!(first.call(&app).await.is_err(), "the old certificate is no longer served");
    app.cleanup().await;
}

#[tokio::test]
async fn watches_share_the_logs_tail_instead_of_opening_a_consumer_each() {
    use futures::StreamExt as _;
    use gantry_proto::intake as pb;
    let app = spawn_app().await;
    let (request, sequence) = helpers::submitted(&app, "watched", Size::Small).await;
    // The view's consumer exists once it has applied something.
    helpers::wait_for_view(&app, sequence).await;
    let consumers = || async {
        let mut stream = app.log.jetstream().get_stream(&app.env.stream_name).await.unwrap();
        stream.info().await.unwrap().state.consumer_count
    };
    let mut watches = Vec::new();
    let mut before = 0;
    for index in 0..20 {
        let watch = pb::WatchRequestRequest { request_id: request.request_id.clone() };
        let mut updates = app.client("alice").await.watch_request(watch).await.unwrap().into_inner();
        assert!(updates.message().await.unwrap().is_some(), "each watch starts with the request now");
        watches.push(updates);
        if index == 0 {
            // The view's consumer and the tail, which the first watch waited for.
            before = consumers().await;
        }
    }
    assert_eq!(consumers().await, before, "nineteen more watches opened no consumer of their own");
    assert!(before <= 2, "one watch opened at most the shared tail: {before} consumers");

    // Every watch sees the approval from the shared tail.
    let approve = pb::ApproveRequestRequest { request_id: request.request_id.clone(), comment: String::new() };
    app.client("bob").await.approve_request(approve).await.unwrap();
    for updates in &mut watches {
        let next = within_secs(10, updates.next()).await.expect("an update").unwrap();
        assert_eq!(helpers::status_of(&next.request.unwrap()), pb::RequestStatus::Approved);
    }
    drop(watches);
    app.cleanup().await;
}

async fn within_secs<T>(seconds: u64, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(seconds), future).await.expect("in time")
}

/// CPU time this process has used so far.
fn cpu_time() -> Duration {
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF).unwrap();
    let micros = |time: nix::sys::time::TimeVal| time.tv_sec() as u64 * 1_000_000 + time.tv_usec() as u64;
    Duration::from_micros(micros(usage.user_time()) + micros(usage.system_time()))
}

#[tokio::test]
async fn out_of_file_descriptors_the_server_backs_off_instead_of_spinning() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let app = spawn_app().await;
    // Each test runs in a process of its own (nextest): the limit is ours.
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    let open_now = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
    setrlimit(Resource::RLIMIT_NOFILE, open_now + 40, hard).unwrap();
    // Connect until the process runs out: the server's accepts then fail.
    let mut held = Vec::new();
    while let Ok(Ok(stream)) =
        tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(app.address)).await
    {
        held.push(stream);
        if held.len() > 200 {
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (cpu_before, wall) = (cpu_time(), Instant::now());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let cpu = cpu_time() - cpu_before;
    let share = cpu.as_secs_f64() / wall.elapsed().as_secs_f64();
    assert!(share < 0.5, "the process used {cpu:?} of CPU in {:?} while out of file descriptors", wall.elapsed());

    // Descriptors back: the server accepts and answers again.
    drop(held);
    setrlimit(Resource::RLIMIT_NOFILE, soft, hard).unwrap();
    let served = tokio::time::timeout(Duration::from_secs(10), helpers::submitted(&app, "fds_back", Size::Small)).await;
    assert!(served.is_ok(), "served again once descriptors were freed");
    app.cleanup().await;
}

#[tokio::test]
async fn a_schema_whose_migrations_changed_stops_the_service_instead_of_retrying_for_ever() {
    let app = spawn_app().await;
    let (stopped, env, tokens) = app.stop().await;
    stopped.unwrap();
    // The schema says migration 1 had other contents than this build's.
    let pool = env.pool().await.unwrap();
    sqlx::query("UPDATE _sqlx_migrations SET checksum = '\\x00'::bytea WHERE version = 1")
        .execute(&pool)
        .await
        .unwrap();
    let app = helpers::start(env, tokens, |config| config).await;
    let (ended, env, _) = app.crashed().await;
    let error = format!("{:#}", ended.expect_err("the service stops"));
    assert!(error.contains("cannot be migrated"), "{error}");
    env.cleanup().await.unwrap();
}
