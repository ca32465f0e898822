//! `EventService/Watch`: starts, resumes, filters, access and the cut-off
//! of a slow client.

use crate::helpers::Mesh;
use gantry_proto::events::envelope::Payload;
use gantry_proto::events::{ArtifactStored, RequestRejected, RunCompleted, WatchRequest, watch_request};
use gantry_proto::types::Environment;
use std::time::Duration;

fn from(sequence: u64) -> WatchRequest {
    WatchRequest { start: Some(watch_request::Start::FromSequence(sequence)), ..Default::default() }
}

#[tokio::test]
async fn a_reconnecting_client_misses_nothing_and_sees_nothing_twice() {
    let mesh = Mesh::start(&[]).await;
    let mut appended = Vec::new();
    for index in 0..5 {
        appended.push(mesh.request(&format!("orders{index}"), Environment::Dev).await.1);
    }
    let mut first = mesh.watch("root", from(1)).await;
    let seen = Mesh::take(&mut first, 3).await;
    assert_eq!(seen.iter().map(|event| event.sequence).collect::<Vec<_>>(), appended[..3]);
    let envelope = seen[0].envelope.as_ref().unwrap();
    assert_eq!(
        (envelope.event_type.as_str(), envelope.aggregate_type.as_str()),
        ("intake.database_requested.v1", "request")
    );
    assert_eq!(envelope.actor.as_ref().unwrap().subject, "alice");
    assert!(matches!(envelope.payload, Some(Payload::DatabaseRequested(_))));
    assert_eq!(seen[0].environment, "dev");
    drop(first);

    // More is appended while the client is away; it comes back after its last.
    for index in 5..8 {
        appended.push(mesh.request(&format!("orders{index}"), Environment::Dev).await.1);
    }
    let last = seen.last().unwrap().sequence;
    let mut again = mesh.watch("root", from(last + 1)).await;
    let rest = Mesh::take(&mut again, 5).await;
    assert_eq!(rest.iter().map(|event| event.sequence).collect::<Vec<_>>(), appended[3..]);

    // A live event reaches both a resumed watch and one started now, once.
    let mut now = mesh.watch("root", WatchRequest::default()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, live) = mesh.request("live", Environment::Prod).await;
    assert_eq!(Mesh::take(&mut again, 1).await[0].sequence, live);
    assert_eq!(Mesh::take(&mut now, 1).await[0].sequence, live, "from now: only what comes after");
    mesh.cleanup().await;
}

#[tokio::test]
async fn a_watch_can_start_at_a_time() {
    let mesh = Mesh::start(&[]).await;
    mesh.request("before", Environment::Dev).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let since = std::time::SystemTime::now();
    let (_, after) = mesh.request("after", Environment::Dev).await;
    let request = WatchRequest { start: Some(watch_request::Start::Since(since.into())), ..Default::default() };
    let mut stream = mesh.watch("root", request).await;
    assert_eq!(Mesh::take(&mut stream, 1).await[0].sequence, after);
    mesh.cleanup().await;
}

#[tokio::test]
async fn filters_pick_types_aggregates_environments_and_tenants() {
    let mesh = Mesh::start(&[]).await;
    let (prod, _) = mesh.request("ledger", Environment::Prod).await;
    let (dev, _) = mesh.request("scratch", Environment::Dev).await;
    // A later event of the prod request names no environment: it is the request's.
    let rejected =
        mesh.append("request", &prod, Payload::RequestRejected(RequestRejected { reason: "no".into() })).await;
    mesh.append("request", &dev, Payload::RequestRejected(RequestRejected { reason: "no".into() })).await;
    let stored = ArtifactStored { tenant: "acme".into(), artifact_id: "a1".into(), ..Default::default() };
    let acme = mesh.append("blob", "fs.abc", Payload::ArtifactStored(stored)).await;
    let other = ArtifactStored { tenant: "globex".into(), artifact_id: "a2".into(), ..Default::default() };
    mesh.append("blob", "fs.def", Payload::ArtifactStored(other)).await;
    let run = RunCompleted { tenant: "acme".into(), run_id: "r1".into(), artifact_count: 1 };
    let acme_run = mesh.append("run", "acme.5f0c", Payload::RunCompleted(run)).await;

    let sequences = |events: Vec<gantry_proto::events::WatchResponse>| {
        events.into_iter().map(|event| event.sequence).collect::<Vec<_>>()
    };
    let prod_rejections = WatchRequest {
        event_types: vec!["intake.request_rejected.v1".into()],
        environments: vec!["prod".into()],
        ..from(1)
    };
    let mut stream = mesh.watch("root", prod_rejections).await;
    let first = Mesh::take(&mut stream, 1).await;
    assert_eq!((first[0].sequence, first[0].environment.as_str()), (rejected.sequence, "prod"));

    let tenant = WatchRequest { tenants: vec!["acme".into()], ..from(1) };
    let mut stream = mesh.watch("root", tenant).await;
    assert_eq!(sequences(Mesh::take(&mut stream, 2).await), [acme.sequence, acme_run.sequence]);

    let runs = WatchRequest { aggregate_types: vec!["run".into()], ..from(1) };
    let mut stream = mesh.watch("root", runs).await;
    let only = Mesh::take(&mut stream, 1).await;
    assert_eq!((only[0].sequence, only[0].tenant.as_str()), (acme_run.sequence, "acme"));

    // Nothing else passes: the next event that does is a new one.
    let mut stream =
        mesh.watch("root", WatchRequest { environments: vec!["prod".into()], ..from(rejected.sequence + 1) }).await;
    let (_, later) = mesh.request("later", Environment::Prod).await;
    assert_eq!(Mesh::take(&mut stream, 1).await[0].sequence, later);
    mesh.cleanup().await;
}

#[tokio::test]
async fn a_reader_sees_only_what_its_principal_may() {
    let mesh = Mesh::start(&[]).await;
    let (_, requested) = mesh.request("ledger", Environment::Prod).await;
    let theirs = ArtifactStored { tenant: "globex".into(), artifact_id: "a2".into(), ..Default::default() };
    let globex = mesh.append("blob", "fs.def", Payload::ArtifactStored(theirs)).await;
    let verified = gantry_proto::events::BlobVerified { sha256: "def".into(), ..Default::default() };
    let blob = mesh.append("blob", "fs.def", Payload::BlobVerified(verified)).await;
    let ours = ArtifactStored { tenant: "acme".into(), artifact_id: "a1".into(), ..Default::default() };
    let acme = mesh.append("blob", "fs.abc", Payload::ArtifactStored(ours)).await;

    let seen = |events: Vec<gantry_proto::events::WatchResponse>| {
        events.into_iter().map(|event| event.sequence).collect::<Vec<_>>()
    };
    // A tenant member: requests, and its own tenant's artifacts only.
    let mut member = mesh.watch("acme", from(1)).await;
    assert_eq!(seen(Mesh::take(&mut member, 2).await), [requested, acme.sequence]);
    // Anyone else authenticated: requests only.
    let mut developer = mesh.watch("alice", from(1)).await;
    assert_eq!(seen(Mesh::take(&mut developer, 1).await), [requested]);
    let (_, next) = mesh.request("next", Environment::Dev).await;
    assert_eq!(seen(Mesh::take(&mut developer, 1).await), [next], "no artifact event in between");
    // The platform team: everything.
    let mut platform = mesh.watch("root", from(1)).await;
    assert_eq!(seen(Mesh::take(&mut platform, 4).await), [requested, globex.sequence, blob.sequence, acme.sequence]);

    let mut anonymous = gantry_proto::events::event_service_client::EventServiceClient::new(
        tonic::transport::Endpoint::from_shared(format!("http://{}", mesh.grpc)).unwrap().connect().await.unwrap(),
    );
    let refused = anonymous.watch(from(1)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    mesh.cleanup().await;
}

#[tokio::test]
async fn bad_filters_are_invalid_with_every_field_named() {
    let mesh = Mesh::start(&[]).await;
    let bad = WatchRequest {
        event_types: vec!["requested".into()],
        environments: vec!["production".into()],
        tenants: vec!["a b".into()],
        ..from(1)
    };
    let status = mesh.events("root").await.watch(bad).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    let details = tonic_types::StatusExt::get_error_details(&status);
    let fields: Vec<&str> = details.bad_request().unwrap().field_violations.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(fields, ["event_types", "environments", "tenants"]);
    mesh.cleanup().await;
}

#[tokio::test]
async fn a_slow_client_is_cut_off_and_the_server_holds_only_its_buffer() {
    let settings = [
        ("console.client_buffer_events", serde_json::json!(8)),
        ("console.slow_client_ms", serde_json::json!(300)),
        ("console.max_watches", serde_json::json!(2)),
    ];
    let mesh = Mesh::start(&settings).await;
    let mut appended = Vec::new();
    for index in 0..300 {
        appended.push(mesh.request(&format!("bulk{index}"), Environment::Dev).await.1);
    }
    // Small HTTP/2 windows, so the transport cannot absorb the backlog either.
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", mesh.grpc))
        .unwrap()
        .initial_stream_window_size(Some(1024))
        .initial_connection_window_size(Some(1024))
        .connect()
        .await
        .unwrap();
    let token = mesh.tokens["root"].clone();
    let mut client = gantry_proto::events::event_service_client::EventServiceClient::with_interceptor(
        channel,
        move |mut request: tonic::Request<()>| {
            request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
            Ok(request)
        },
    );
    let mut slow = client.watch(from(1)).await.unwrap().into_inner();
    // The client reads nothing for a while, then everything it can.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut received = Vec::new();
    let status = loop {
        match tokio::time::timeout(Duration::from_secs(10), slow.message()).await.expect("in time") {
            Ok(Some(event)) => received.push(event.sequence),
            Ok(None) => panic!("the watch ended without a status after {} events", received.len()),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("slower than the log"), "{}", status.message());
    // Its 8-event buffer plus what the small HTTP/2 windows hold: nowhere
    // near the 300 the log had for it.
    assert!(received.len() < 100, "cut off early, not after buffering the backlog: {} events", received.len());
    assert_eq!(received, appended[..received.len()], "what it got was in order, without gaps");

    // It resumes from its last sequence and gets the rest.
    let next = received.last().map_or(1, |last| last + 1);
    let mut resumed = mesh.watch("root", from(next)).await;
    let rest = Mesh::take(&mut resumed, appended.len() - received.len()).await;
    assert_eq!(rest.last().unwrap().sequence, *appended.last().unwrap());

    // Watches beyond the limit are refused.
    let _second = mesh.watch("root", WatchRequest::default()).await;
    let third = mesh.events("root").await.watch(WatchRequest::default()).await.unwrap_err();
    assert_eq!(third.code(), tonic::Code::ResourceExhausted);
    mesh.cleanup().await;
}
