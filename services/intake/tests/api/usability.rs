//! What a newcomer and a third-party client meet: names derived from legal
//! input are legal, a request just acknowledged can be read, a refused call
//! reserves nothing, errors name the bad value, and reflection lets generic
//! clients decode the field violations.

use crate::helpers::{bucket, database, spawn_app, violated_fields};
use gantry_proto::intake as pb;
use gantry_proto::types::{BucketPurpose, Environment, Size};
use tonic::Code;
use tonic_types::StatusExt as _;

fn database_spec(request: &pb::Request) -> &gantry_proto::types::DatabaseSpec {
    match request.spec.as_ref() {
        Some(pb::request::Spec::Database(spec)) => spec,
        other => panic!("a database request, not {other:?}"),
    }
}

#[tokio::test]
async fn the_longest_legal_names_derive_legal_roles_buckets_and_catalog_entities() {
    let app = spawn_app().await;
    let mut client = app.client("backstage").await;
    let name = format!("a{}", "b_".repeat(31));
    assert_eq!(name.len(), 63);
    let response = client.request_database(database(&name, Environment::Staging, Size::Small)).await;
    let request = response.expect("a legal name is accepted without a username").into_inner().request.unwrap();
    let username = &database_spec(&request).username;
    assert!(username.len() <= 63 && username.ends_with("_user"), "{username}");
    let entity = request.catalog_entity.strip_prefix("resource:default/").expect("an entity ref");
    assert!(entity.len() <= 63 && entity.ends_with("-staging"), "{entity}");

    let long_owner = format!("t{}", "-x".repeat(31));
    let message = pb::RequestBucketRequest {
        owner: long_owner,
        retention_days: 0,
        ..bucket(BucketPurpose::BackendState, Environment::Staging)
    };
    let response = client.request_bucket(message).await.expect("a legal owner without a bucket name is accepted");
    let request = response.into_inner().request.unwrap();
    let Some(pb::request::Spec::Bucket(spec)) = request.spec else { panic!("a bucket") };
    assert!(spec.bucket_name.len() <= 63 && spec.bucket_name.ends_with("-backend-state-staging-eu-west-1"), "{spec:?}");
    assert!(request.catalog_entity.is_empty(), "the export writes no bucket entities");
    app.cleanup().await;
}

#[tokio::test]
async fn a_request_just_acknowledged_can_be_read_without_min_sequence() {
    let app = spawn_app().await;
    let mut client = app.client("backstage").await;
    for index in 0..100 {
        let made = client
            .request_database(database(&format!("fresh_{index}"), Environment::Dev, Size::Small))
            .await
            .unwrap()
            .into_inner()
            .request
            .unwrap();
        let read = client
            .get_request(pb::GetRequestRequest { request_id: made.request_id.clone(), min_sequence: 0 })
            .await
            .unwrap_or_else(|status| panic!("read {index} after its write: {status:?}"))
            .into_inner()
            .request
            .unwrap();
        assert_eq!((read.request_id, read.status), (made.request_id, made.status));
    }
    // A stale view is not trusted for a sequence it has not reached either.
    let (made, sequence) = crate::helpers::submitted(&app, "approved_soon", Size::Small).await;
    let approved = app
        .client("bob")
        .await
        .approve_request(pb::ApproveRequestRequest { request_id: made.request_id.clone(), comment: String::new() })
        .await
        .unwrap()
        .into_inner();
    assert!(approved.sequence > sequence);
    let read = client
        .get_request(pb::GetRequestRequest { request_id: made.request_id, min_sequence: approved.sequence })
        .await
        .unwrap()
        .into_inner()
        .request
        .unwrap();
    assert_eq!(read.status, pb::RequestStatus::Approved as i32);
    let unknown = uuid::Uuid::now_v7().to_string();
    let status = client.get_request(pb::GetRequestRequest { request_id: unknown, min_sequence: 0 }).await;
    assert_eq!(status.unwrap_err().code(), Code::NotFound);
    app.cleanup().await;
}

#[tokio::test]
async fn a_reused_idempotency_key_is_refused_before_anything_is_reserved() {
    let metrics = gantry_runtime::telemetry::install_metrics(None).unwrap();
    let app = spawn_app().await;
    let conflicts = format!("eventlog_append_conflicts_total{{stream=\"{}\"}}", app.env.stream_name);
    let mut client = app.client("backstage").await;
    let first = pb::RequestDatabaseRequest {
        idempotency_key: "task-7".into(),
        ..database("orders", Environment::Prod, Size::Small)
    };
    client.request_database(first.clone()).await.unwrap();
    let messages = app.stream_messages().await;

    // The same call again is answered with the first request; the same key
    // for another database is refused; neither appends anything.
    client.request_database(first.clone()).await.unwrap();
    let reused = pb::RequestDatabaseRequest { database_name: "invoices".into(), ..first.clone() };
    assert_eq!(client.request_database(reused).await.unwrap_err().code(), Code::AlreadyExists);
    // A name held by a live request is refused: an answer, not contention.
    let taken = database("orders", Environment::Prod, Size::Small);
    assert_eq!(client.request_database(taken).await.unwrap_err().code(), Code::AlreadyExists);
    assert_eq!(app.stream_messages().await, messages, "refused calls append nothing");
    assert_eq!(sample(&metrics.render(), &conflicts), 0.0, "no race was lost");

    // The name the refused call asked for is free for anyone at once.
    let other = app.client("alice").await.request_database(database("invoices", Environment::Prod, Size::Small)).await;
    other.expect("no orphan reservation holds the name");
    app.cleanup().await;
}

/// Returns the value of one series in Prometheus text (0 when absent).
fn sample(text: &str, series: &str) -> f64 {
    text.lines().find_map(|line| line.strip_prefix(series)?.trim().parse().ok()).unwrap_or(0.0)
}

#[tokio::test]
async fn unknown_enum_values_and_regions_are_named_with_the_valid_ones() {
    let app = spawn_app().await;
    let mut client = app.client("backstage").await;
    let message = pb::RequestDatabaseRequest { environment: 99, ..database("orders", Environment::Prod, Size::Small) };
    let status = client.request_database(message).await.unwrap_err();
    assert_eq!(violated_fields(&status), ["environment"]);
    let description = &status.get_details_bad_request().unwrap().field_violations[0].description;
    assert!(description.contains("unknown value 99") && description.contains("4 (prod)"), "{description}");

    let message =
        pb::RequestBucketRequest { region: "mars-north-9".into(), ..bucket(BucketPurpose::Logs, Environment::Prod) };
    let status = client.request_bucket(message).await.unwrap_err();
    assert_eq!(violated_fields(&status), ["region"]);
    let listing = pb::ListRequestsRequest { status: 42, ..Default::default() };
    let status = client.list_requests(listing).await.unwrap_err();
    let description = &status.get_details_bad_request().unwrap().field_violations[0].description;
    assert!(description.contains("unknown value 42") && description.contains("1 (pending_approval)"), "{description}");
    app.cleanup().await;
}

#[tokio::test]
async fn reflection_serves_the_error_details_errors_carry() {
    use tonic_reflection::pb::v1;
    let app = spawn_app().await;
    let mut client = v1::server_reflection_client::ServerReflectionClient::new(app.channel().await);
    let ask = |request: v1::server_reflection_request::MessageRequest| v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    };
    // What grpcurl asks to decode a status's details: the symbol, then the
    // files it imports.
    let requests = [
        ask(v1::server_reflection_request::MessageRequest::FileContainingSymbol("google.rpc.BadRequest".into())),
        ask(v1::server_reflection_request::MessageRequest::FileByFilename("google/protobuf/duration.proto".into())),
    ];
    let mut responses = client.server_reflection_info(futures::stream::iter(requests)).await.unwrap().into_inner();
    for expected in ["google/rpc/error_details.proto", "google/protobuf/duration.proto"] {
        let response = responses.message().await.unwrap().unwrap();
        let Some(v1::server_reflection_response::MessageResponse::FileDescriptorResponse(files)) =
            response.message_response
        else {
            panic!("{expected}: {:?}", response.message_response)
        };
        let names: Vec<String> = files
            .file_descriptor_proto
            .iter()
            .map(|bytes| <prost_types::FileDescriptorProto as prost::Message>::decode(bytes.as_slice()).unwrap())
            .map(|file| file.name().to_owned())
            .collect();
        assert!(names.contains(&expected.to_owned()), "{expected} not in {names:?}");
    }
    app.cleanup().await;
}

#[tokio::test]
async fn a_watch_shows_each_approval_and_marks_where_the_past_ends() {
    let app = spawn_app().await;
    let (request, _) = crate::helpers::submitted(&app, "warehouse", Size::Xlarge).await;
    let approve = |subject: &'static str| {
        let id = request.request_id.clone();
        let app = &app;
        async move {
            app.client(subject)
                .await
                .approve_request(pb::ApproveRequestRequest { request_id: id, comment: String::new() })
                .await
                .unwrap()
        }
    };
    approve("carol").await;
    let mut updates = app
        .client("alice")
        .await
        .watch_request(pb::WatchRequestRequest { request_id: request.request_id.clone() })
        .await
        .unwrap()
        .into_inner();
    let mut next = async || {
        let update = updates.message().await.unwrap().expect("an update");
        let request = update.request.unwrap();
        let outstanding: Vec<Vec<String>> =
            request.outstanding_approvals.into_iter().map(|clause| clause.any_of_groups).collect();
        (request.status, request.approvals.len(), outstanding, update.caught_up)
    };
    let pending = pb::RequestStatus::PendingApproval as i32;
    let security_or_database_team = vec!["security".to_string(), "database-team".to_string()];
    assert_eq!(
        next().await,
        (pending, 0, vec![vec!["platform-team".to_string()], security_or_database_team.clone()], false)
    );
    assert_eq!(next().await, (pending, 1, vec![security_or_database_team], true), "carol's approval, caught up");
    approve("dave").await;
    assert_eq!(next().await, (pb::RequestStatus::Approved as i32, 2, vec![], true));
    app.cleanup().await;
}
