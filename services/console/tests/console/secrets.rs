//! No secret ever appears in the event stream: a database is provisioned
//! (credentials stored in the AWS API emulator) and its password rotated,
//! by the real provisioner and rotation services, then the whole stream —
//! over gRPC and over SSE — is searched for every password the secret ever
//! held.

use crate::helpers::{Beside, Mesh, SseReader, admin_url};
use gantry_proto::events::{WatchRequest, WatchResponse, watch_request};
use gantry_proto::intake::RequestDatabaseRequest;
use gantry_proto::rotation::RotateNowRequest;
use gantry_proto::types::{Environment, Risk, Size};
use std::time::Duration;

/// Waits on a watch of the request for an event of `event_type`; returns its sequence.
async fn wait_for(mesh: &Mesh, request_id: &str, event_type: &str) -> u64 {
    let request = WatchRequest {
        start: Some(watch_request::Start::FromSequence(1)),
        aggregate_types: vec!["request".into()],
        ..Default::default()
    };
    let mut stream = mesh.watch("root", request).await;
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

async fn last_sequence(mesh: &Mesh) -> u64 {
    let mut stream = mesh.log.jetstream().get_stream(&mesh.log.settings().name).await.unwrap();
    stream.info().await.unwrap().state.last_sequence
}

/// Everything the gRPC stream says, from the first event to `last`.
async fn grpc_text(mesh: &Mesh, last: u64) -> (String, Vec<String>) {
    let mut stream = mesh
        .watch("root", WatchRequest { start: Some(watch_request::Start::FromSequence(1)), ..Default::default() })
        .await;
    let (mut text, mut types) = (String::new(), Vec::new());
    loop {
        let event: WatchResponse = Mesh::take(&mut stream, 1).await.remove(0);
        text.push_str(&format!("{event:?}\n{}\n", gantry_console::event_json(&event)));
        text.push_str(&String::from_utf8_lossy(&prost::Message::encode_to_vec(&event)));
        types.push(event.envelope.unwrap().event_type);
        if event.sequence >= last {
            return (text, types);
        }
    }
}

/// Everything the SSE stream says, from the first event to `last`.
async fn sse_text(mesh: &Mesh, last: u64) -> String {
    let authorization = ("authorization", format!("Bearer {}", mesh.tokens["root"]));
    let mut reader = SseReader::new(mesh.get("/v1/events?from=1", &[authorization]).await);
    let mut text = String::new();
    loop {
        let event = reader.next().await.expect("the stream goes on");
        text.push_str(&event.data);
        let sequence: u64 = event.id.expect("an id").parse().unwrap();
        if sequence >= last {
            return text;
        }
    }
}

#[tokio::test]
async fn no_password_appears_in_the_stream_after_provisioning_and_rotation() {
    assert!(
        std::env::var_os("AWS_ACCESS_KEY_ID").is_some() && std::env::var_os("AWS_EC2_METADATA_DISABLED").is_some(),
        "AWS settings for the emulator are missing: run the tests with scripts/test.sh, or export \
         AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_EC2_METADATA_DISABLED=true"
    );
    let mesh = Mesh::start_beside(&[], Beside::Provisioning).await;
    let name = format!("console_{}", &mesh.env.schema[2..10]);
    let role = format!("{name}_user");
    let made = Made { databases: vec![name.clone()], roles: vec![format!("{role}_clone"), role.clone()] };

    // dev + small: approved on submission by the built-in policy.
    let request = RequestDatabaseRequest {
        database_name: name.clone(),
        owner: "team-orders".into(),
        requester: "alice".into(),
        environment: Environment::Dev as i32,
        domain: "payments".into(),
        risk: Risk::High as i32,
        size: Size::Small as i32,
        ..Default::default()
    };
    let answer = mesh.intake("alice").await.request_database(request).await.unwrap().into_inner();
    let id = answer.request.unwrap().request_id;
    let provisioned = wait_for(&mesh, &id, "provisioner.resource_provisioned.v1").await;

    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(mesh.config.section::<gantry_runtime::config::AwsSettings>("aws").unwrap().endpoint_url.unwrap())
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .load()
        .await;
    let secrets = aws_sdk_secretsmanager::Client::new(&aws);
    let prefix: String =
        mesh.config.section::<serde_json::Value>("provisioner").unwrap()["secret_prefix"].as_str().unwrap().to_owned();
    let secret_name = format!("{prefix}/dev/{name}/postgres");
    let first = password(&secrets, &secret_name, "AWSCURRENT").await;

    let rotate =
        RotateNowRequest { secret_name: secret_name.clone(), reason: "console test".into(), min_sequence: provisioned };
    mesh.rotation("root").await.rotate_now(rotate).await.expect("rotation starts");
    wait_for(&mesh, &id, "rotation.rotated.v1").await;
    let second = password(&secrets, &secret_name, "AWSCURRENT").await;
    assert_ne!(first, second, "the rotation changed the password");
    assert!(first.len() >= 16 && second.len() >= 16, "real passwords, so a miss means something");

    let last = last_sequence(&mesh).await;
    let (grpc, types) = grpc_text(&mesh, last).await;
    for expected in ["provisioner.credentials_stored.v1", "rotation.started.v1", "rotation.rotated.v1"] {
        assert!(types.iter().any(|kind| kind == expected), "the stream holds {expected}: {types:?}");
    }
    assert!(grpc.contains(&secret_name), "the stream names the secret (and so was read whole)");
    let sse = sse_text(&mesh, last).await;
    assert!(sse.contains(&secret_name));
    for (label, secret) in [("first", &first), ("rotated", &second)] {
        assert!(!grpc.contains(secret.as_str()), "the {label} password is in the gRPC stream");
        assert!(!sse.contains(secret.as_str()), "the {label} password is in the SSE stream");
    }

    let _ = secrets.delete_secret().secret_id(&secret_name).force_delete_without_recovery(true).send().await;
    mesh.cleanup().await;
    drop(made);
}

/// What the test made on the shared Postgres, dropped even when it fails.
struct Made {
    databases: Vec<String>,
    roles: Vec<String>,
}

impl Drop for Made {
    fn drop(&mut self) {
        gantry_testkit::drop_cluster_objects(&admin_url(), &self.databases, &self.roles);
    }
}
