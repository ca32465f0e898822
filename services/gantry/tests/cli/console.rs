//! Console beside the services that write the log: no secret ever appears
//! in the event stream. A database is requested through the CLI, made by
//! the real provisioner (credentials stored in the AWS API emulator) and its
//! password rotated by real rotation, then the whole stream — over gRPC and
//! over SSE — is searched for every password the secret ever held.

use crate::helpers::{TestApp, spawn_platform_with_console};
use gantry_proto::events::event_service_client::EventServiceClient;
use gantry_proto::events::{WatchRequest, WatchResponse, watch_request};
use http_body_util::BodyExt as _;
use std::time::Duration;

/// Opens a watch of console's event service as `subject`.
async fn watch(app: &TestApp, subject: &str, request: WatchRequest) -> tonic::Streaming<WatchResponse> {
    let mut client = EventServiceClient::connect(format!("http://{}", app.console_grpc())).await.expect("console");
    let mut request = tonic::Request::new(request);
    let bearer = format!("Bearer {}", app.token(subject)).parse().unwrap();
    request.metadata_mut().insert("authorization", bearer);
    client.watch(request).await.expect("the watch starts").into_inner()
}

/// Waits on a watch of the request for an event of `event_type`; returns its sequence.
async fn wait_for(app: &TestApp, request_id: &str, event_type: &str) -> u64 {
    let request = WatchRequest {
        start: Some(watch_request::Start::FromSequence(1)),
        aggregate_types: vec!["request".into()],
        ..Default::default()
    };
    let mut stream = watch(app, "carol", request).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let next = tokio::time::timeout_at(deadline, stream.message()).await;
        let event = next.unwrap_or_else(|_| panic!("no {event_type} within a minute")).unwrap().unwrap();
        let envelope = event.envelope.as_ref().unwrap();
        assert_ne!(envelope.event_type, "provisioner.provisioning_failed.v1", "{event:?}");
        assert_ne!(envelope.event_type, "rotation.failed.v1", "{event:?}");
        if envelope.aggregate_id == request_id && envelope.event_type == event_type {
            return event.sequence;
        }
    }
}

async fn password(secrets: &aws_sdk_secretsmanager::Client, name: &str, stage: &str) -> String {
    let value = secrets.get_secret_value().secret_id(name).version_stage(stage).send().await.expect("the secret");
    let credentials: serde_json::Value = serde_json::from_str(value.secret_string().unwrap()).unwrap();
    credentials["password"].as_str().expect("a password").to_owned()
}

/// Everything the gRPC stream says, from the first event to `last`: each
/// event as Rust prints it, as console's JSON and as its protobuf bytes.
async fn grpc_text(app: &TestApp, last: u64) -> (String, Vec<String>) {
    let everything = WatchRequest { start: Some(watch_request::Start::FromSequence(1)), ..Default::default() };
    let mut stream = watch(app, "carol", everything).await;
    let (mut text, mut types) = (String::new(), Vec::new());
    loop {
        let next = tokio::time::timeout(Duration::from_secs(10), stream.message()).await;
        let event = next.expect("the next event comes in time").expect("the watch goes on").expect("not ended");
        text.push_str(&format!("{event:?}\n{}\n", gantry_console::event_json(&event)));
        text.push_str(&String::from_utf8_lossy(&prost::Message::encode_to_vec(&event)));
        types.push(event.envelope.unwrap().event_type);
        if event.sequence >= last {
            return (text, types);
        }
    }
}

/// Everything the SSE stream (`/v1/events`) says, from the first event to
/// `last`: the whole body, up to the end of the event whose `id:` is `last`.
async fn sse_text(app: &TestApp, last: u64) -> String {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<hyper::body::Bytes>>();
    let request = hyper::Request::get(format!("http://{}/v1/events?from=1", app.console_http()))
        .header("authorization", format!("Bearer {}", app.token("carol")))
        .body(http_body_util::Empty::new())
        .unwrap();
    let response = client.request(request).await.expect("console answers HTTP");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/event-stream"), "{content_type}");
    let mut body = response.into_body();
    let mut text = String::new();
    loop {
        // Events end with a blank line; the text after the last one is not whole yet.
        let whole = &text[..text.rfind("\n\n").map_or(0, |end| end + 2)];
        let ids = whole.lines().filter_map(|line| line.strip_prefix("id:"));
        if ids.map(|id| id.trim().parse::<u64>()).any(|id| id.is_ok_and(|id| id >= last)) {
            return text;
        }
        let frame = tokio::time::timeout(Duration::from_secs(10), body.frame()).await.expect("SSE in time");
        let frame = frame.expect("the stream goes on").expect("the SSE body");
        if let Ok(data) = frame.into_data() {
            text.push_str(&String::from_utf8_lossy(&data));
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_password_appears_in_the_stream_after_provisioning_and_rotation() {
    let app = spawn_platform_with_console().await;
    let name = app.unique("console").replace('-', "_");
    let role = format!("{name}_user");
    let made = Made {
        url: app.platform_postgres_url().to_owned(),
        databases: vec![name.clone()],
        roles: vec![format!("{role}_clone"), role.clone()],
    };

    // dev + small: approved on submission by the built-in policy.
    let id = app.submit_with_risk(&name, "dev", "high").await["request_id"].as_str().unwrap().to_owned();
    let provisioned = wait_for(&app, &id, "provisioner.resource_provisioned.v1").await;

    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(crate::helpers::aws_endpoint())
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .load()
        .await;
    let secrets = aws_sdk_secretsmanager::Client::new(&aws);
    let secret_name = format!("{}/dev/{name}/postgres", app.secret_prefix());
    let first = password(&secrets, &secret_name, "AWSCURRENT").await;

    let provisioned = provisioned.to_string();
    let rotate = ["rotation", "rotate", &secret_name, "--reason", "console test", "--min-sequence", &provisioned];
    let rotated = app.gantry(Some("carol"), &rotate).await;
    assert_eq!(rotated.code, Some(0), "rotation starts: {rotated:?}");
    wait_for(&app, &id, "rotation.rotated.v1").await;
    let second = password(&secrets, &secret_name, "AWSCURRENT").await;
    assert_ne!(first, second, "the rotation changed the password");
    assert!(first.len() >= 16 && second.len() >= 16, "real passwords, so a miss means something");

    let last = app.last_sequence().await;
    let (grpc, types) = grpc_text(&app, last).await;
    for expected in ["provisioner.credentials_stored.v1", "rotation.started.v1", "rotation.rotated.v1"] {
        assert!(types.iter().any(|kind| kind == expected), "the stream holds {expected}: {types:?}");
    }
    assert!(grpc.contains(&secret_name), "the stream names the secret (and so was read whole)");
    let sse = sse_text(&app, last).await;
    assert!(sse.contains(&secret_name));
    for (label, secret) in [("first", &first), ("rotated", &second)] {
        assert!(!grpc.contains(secret.as_str()), "the {label} password is in the gRPC stream");
        assert!(!sse.contains(secret.as_str()), "the {label} password is in the SSE stream");
    }

    let _ = secrets.delete_secret().secret_id(&secret_name).force_delete_without_recovery(true).send().await;
    app.cleanup().await;
    drop(made);
}

/// What the test made on the shared Postgres, dropped even when it fails.
struct Made {
    url: String,
    databases: Vec<String>,
    roles: Vec<String>,
}

impl Drop for Made {
    fn drop(&mut self) {
        gantry_testkit::drop_cluster_objects(&self.url, &self.databases, &self.roles);
    }
}
