//! Reads: read-your-own-write, filtered pages, watching a request to a
//! terminal state, and the catalog export.

use crate::helpers::{database, spawn_app, status_of, submitted};
use futures::StreamExt as _;
use gantry_eventlog::{ExpectedSequence, NewEvent};
use gantry_proto::events::envelope::Payload;
use gantry_proto::events::{ProvisioningStarted, ResourceProvisioned};
use gantry_proto::intake as pb;
use gantry_proto::types::{Environment, Principal, Size};
use std::collections::HashSet;
use std::time::Duration;

#[tokio::test]
async fn a_read_with_min_sequence_sees_the_write() {
    let app = spawn_app().await;
    let (request, sequence) = submitted(&app, "orders", Size::Small).await;
    let approved = app
        .client("bob")
        .await
        .approve_request(pb::ApproveRequestRequest { request_id: request.request_id.clone(), comment: String::new() })
        .await
        .unwrap()
        .into_inner();
    assert!(approved.sequence > sequence);
    let read = pb::GetRequestRequest { request_id: request.request_id.clone(), min_sequence: approved.sequence };
    let seen = app.client("alice").await.get_request(read).await.unwrap().into_inner().request.unwrap();
    assert_eq!(status_of(&seen), pb::RequestStatus::Approved);
    assert_eq!(seen.sequence, approved.sequence);
    assert_eq!(seen, approved.request.unwrap(), "the view equals what the command answered");
    app.cleanup().await;
}

#[tokio::test]
async fn listing_filters_and_pages_without_gaps_or_repeats() {
    let app = spawn_app().await;
    let mut backstage = app.client("backstage").await;
    let mut last = 0;
    for index in 0..7 {
        let environment = if index % 2 == 0 { Environment::Prod } else { Environment::Staging };
        let response =
            backstage.request_database(database(&format!("db_{index}"), environment, Size::Medium)).await.unwrap();
        last = response.into_inner().sequence;
    }
    let mut seen = HashSet::new();
    let mut page_token = String::new();
    let mut pages = 0;
    loop {
        let page = pb::ListRequestsRequest {
            environment: Environment::Prod as i32,
            page_size: 2,
            page_token: page_token.clone(),
            min_sequence: last,
            ..Default::default()
        };
        let response = backstage.list_requests(page).await.unwrap().into_inner();
        pages += 1;
        for request in &response.requests {
            assert!(seen.insert(request.request_id.clone()), "repeated {}", request.request_id);
            assert_eq!(status_of(request), pb::RequestStatus::PendingApproval);
        }
        if response.next_page_token.is_empty() {
            break;
        }
        page_token = response.next_page_token;
    }
    assert_eq!(seen.len(), 4, "four prod requests");
    assert_eq!(pages, 2);
    let by_owner = pb::ListRequestsRequest { owner: "nobody".into(), ..Default::default() };
    assert!(backstage.list_requests(by_owner).await.unwrap().into_inner().requests.is_empty());
    let bad = pb::ListRequestsRequest { page_size: 10_000, page_token: "forged".into(), ..Default::default() };
    assert_eq!(backstage.list_requests(bad).await.unwrap_err().code(), tonic::Code::InvalidArgument);
    app.cleanup().await;
}

async fn next(updates: &mut tonic::Streaming<pb::WatchRequestResponse>) -> Option<pb::RequestStatus> {
    let update = tokio::time::timeout(Duration::from_secs(10), updates.next()).await.expect("an update in time");
    update.map(|message| status_of(&message.unwrap().request.unwrap()))
}

#[tokio::test]
async fn a_watch_streams_every_status_until_the_request_is_ready() {
    let app = spawn_app().await;
    let (request, _) = submitted(&app, "orders", Size::Small).await;
    let id = request.request_id.clone();
    let mut updates = app
        .client("alice")
        .await
        .watch_request(pb::WatchRequestRequest { request_id: id.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next(&mut updates).await, Some(pb::RequestStatus::PendingApproval));
    app.client("bob")
        .await
        .approve_request(pb::ApproveRequestRequest { request_id: id.clone(), comment: String::new() })
        .await
        .unwrap();
    assert_eq!(next(&mut updates).await, Some(pb::RequestStatus::Approved));

    let provisioner = Principal { subject: "provisioner".into(), groups: vec![] };
    for payload in [
        Payload::ProvisioningStarted(ProvisioningStarted {}),
        Payload::ResourceProvisioned(ResourceProvisioned { secret_path: "goldenpath/prod/orders/postgres".into() }),
    ] {
        let event = NewEvent {
            aggregate_type: "request",
            aggregate_id: id.clone(),
            payload,
            actor: provisioner.clone(),
            correlation_id: String::new(),
            causation_id: String::new(),
        };
        app.log.append(event, ExpectedSequence::Any).await.unwrap();
    }
    assert_eq!(next(&mut updates).await, Some(pb::RequestStatus::Provisioning));
    assert_eq!(next(&mut updates).await, Some(pb::RequestStatus::Ready));
    assert_eq!(next(&mut updates).await, None, "the watch ends at a terminal status");

    let missing = pb::WatchRequestRequest { request_id: uuid::Uuid::new_v4().to_string() };
    assert_eq!(app.client("alice").await.watch_request(missing).await.unwrap_err().code(), tonic::Code::NotFound);
    app.cleanup().await;
}

#[tokio::test]
async fn a_watch_of_a_ready_request_replays_to_the_logs_end_before_it_ends() {
    use gantry_proto::events::DriftDetected;
    let app = spawn_app().await;
    let response = app
        .client("backstage")
        .await
        .request_database(database("orders", Environment::Dev, Size::Small))
        .await
        .unwrap()
        .into_inner();
    let id = response.request.unwrap().request_id;
    crate::helpers::provisioned(&app, &id).await;
    // An event after READY that changes nothing a watch shows.
    let drift =
        DriftDetected { resource_kind: "database".into(), property: "connection_limit".into(), ..Default::default() };
    crate::helpers::append_as_provisioner(&app, &id, [Payload::DriftDetected(drift)]).await;

    let updates = app.client("alice").await.watch_request(pb::WatchRequestRequest { request_id: id }).await.unwrap();
    let updates: Vec<_> = tokio::time::timeout(Duration::from_secs(10), updates.into_inner().collect::<Vec<_>>())
        .await
        .expect("the watch ends by itself");
    let seen: Vec<(pb::RequestStatus, bool)> = updates
        .into_iter()
        .map(|update| update.unwrap())
        .map(|update| (status_of(update.request.as_ref().unwrap()), update.caught_up))
        .collect();
    use pb::RequestStatus::{Approved, Provisioning, Ready};
    assert_eq!(seen, [(Approved, false), (Provisioning, false), (Ready, false), (Ready, true)], "the end is marked");
    app.cleanup().await;
}

#[tokio::test]
async fn the_catalog_exports_live_databases_in_both_formats() {
    let app = spawn_app().await;
    let (kept, _) = submitted(&app, "orders", Size::Large).await;
    let (dropped, _) = submitted(&app, "scratchpad", Size::Small).await;
    let cancel = pb::CancelRequestRequest { request_id: dropped.request_id, reason: String::new() };
    let last = app.client("alice").await.cancel_request(cancel).await.unwrap().into_inner().sequence;

    let mut client = app.client("carol").await;
    let rds =
        pb::ExportCatalogRequest { format: pb::CatalogFormat::RdsCatalog as i32, environment: 0, min_sequence: last };
    let yaml = client.export_catalog(rds).await.unwrap().into_inner().content;
    assert!(yaml.contains("name: orders") && yaml.contains("instance_class: db.t3.medium"), "{yaml}");
    assert!(yaml.contains(&kept.request_id));
    assert!(!yaml.contains("scratchpad"), "a cancelled request is not in the catalog");

    let backstage = pb::ExportCatalogRequest { format: pb::CatalogFormat::Backstage as i32, ..Default::default() };
    let entities = client.export_catalog(backstage).await.unwrap().into_inner().content;
    assert!(entities.contains("kind: Resource") && entities.contains("name: orders-prod"), "{entities}");
    let unspecified = pb::ExportCatalogRequest::default();
    assert_eq!(client.export_catalog(unspecified).await.unwrap_err().code(), tonic::Code::InvalidArgument);
    app.cleanup().await;
}
