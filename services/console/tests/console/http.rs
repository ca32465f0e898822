//! The HTTP side: `/v1/events` as Server-Sent Events (resume by
//! `Last-Event-ID`, filters, auth), the login cookie, and the page as plain
//! HTML without JavaScript.

use crate::helpers::{Mesh, SseReader};
use gantry_proto::types::Environment;
use http_body_util::BodyExt as _;

fn bearer(mesh: &Mesh, subject: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {}", mesh.tokens[subject]))
}

#[tokio::test]
async fn sse_streams_from_a_sequence_and_resumes_after_last_event_id() {
    let mesh = Mesh::start(&[]).await;
    let mut appended = Vec::new();
    for index in 0..4 {
        appended.push(mesh.request(&format!("shop{index}"), Environment::Prod).await);
    }
    let response = mesh.get("/v1/events?from=1&type=intake.database_requested.v1", &[bearer(&mesh, "root")]).await;
    let mut reader = SseReader::new(response);
    let events = reader.take(2).await;
    let ids: Vec<u64> = events.iter().map(|event| event.id.as_deref().unwrap().parse().unwrap()).collect();
    assert_eq!(ids, [appended[0].1, appended[1].1], "id: is the sequence");
    let json: serde_json::Value = serde_json::from_str(&events[0].data).unwrap();
    assert_eq!(json["sequence"], appended[0].1);
    assert_eq!(json["environment"], "prod");
    assert_eq!(json["envelope"]["aggregate_id"], appended[0].0);
    assert_eq!(json["envelope"]["database_requested"]["spec"]["database_name"], "shop0");
    assert_eq!(json["envelope"]["database_requested"]["spec"]["environment"], "ENVIRONMENT_PROD");
    drop(reader);

    // Reconnecting with Last-Event-ID: the rest, not the first two again.
    let last = ("last-event-id", ids[1].to_string());
    let mut resumed = SseReader::new(mesh.get("/v1/events?from=1", &[bearer(&mesh, "root"), last]).await);
    let rest = resumed.take(2).await;
    let rest: Vec<u64> = rest.iter().map(|event| event.id.as_deref().unwrap().parse().unwrap()).collect();
    assert_eq!(rest, [appended[2].1, appended[3].1]);
    let (_, live) = mesh.request("live", Environment::Dev).await;
    assert_eq!(resumed.next().await.unwrap().id.unwrap(), live.to_string());
    mesh.cleanup().await;
}

#[tokio::test]
async fn sse_refuses_strangers_and_bad_queries() {
    let mesh = Mesh::start(&[]).await;
    let anonymous = mesh.get("/v1/events", &[]).await;
    assert_eq!(anonymous.status(), 401);
    let unknown = mesh.get("/v1/events", &[("authorization", "Bearer nope".into())]).await;
    assert_eq!(unknown.status(), 401);
    let bad = mesh.get("/v1/events?from=x&environment=moon&colour=red", &[bearer(&mesh, "root")]).await;
    assert_eq!(bad.status(), 400);
    let body = bad.into_body().collect().await.unwrap().to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["code"], "INVALID_ARGUMENT");
    let fields: Vec<&str> =
        json["field_violations"].as_array().unwrap().iter().map(|v| v["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["from", "colour", "environments"]);
    mesh.cleanup().await;
}

#[tokio::test]
async fn the_page_without_javascript_lists_a_pending_request_and_logs_in_with_a_cookie() {
    let mesh = Mesh::start(&[]).await;
    let (id, sequence) = mesh.request("ledger", Environment::Prod).await;
    let path = format!("/summary?min_sequence={sequence}");
    let (status, _) = mesh.get_text(&path, "root").await;
    assert_eq!(status, 200, "the view reaches the request");

    let (status, page) = mesh.get_text("/", "bob").await;
    assert_eq!(status, 200);
    let row_start = page.find(&format!("<tr data-request-id=\"{id}\"")).expect("the request's row is on the page");
    let pending_table = page.find("<table id=\"pending\">").unwrap();
    let next_table = page.find("<table id=\"in-flight\">").unwrap();
    assert!(pending_table < row_start && row_start < next_table, "in the pending approval table");
    let row = &page[row_start..page[row_start..].find("</tr>").unwrap() + row_start];
    assert!(row.contains("ledger") && row.contains("prod") && row.contains("pending_approval"), "{row}");
    assert!(row.contains("class=\"age\""), "with its age: {row}");
    assert!(page.contains("<table id=\"lag\">") && page.contains("console"), "the views' lag is listed");

    // Without a token: the login form; with it, a cookie that opens the page.
    let anonymous = mesh.get("/", &[]).await;
    assert_eq!(anonymous.status(), 401);
    let login = login(&mesh, &mesh.tokens["bob"]).await;
    assert_eq!(login.status(), 303);
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let pair = cookie.split(';').next().unwrap().to_owned();
    let with_cookie = mesh.get("/", &[("cookie", pair.clone())]).await;
    assert_eq!(with_cookie.status(), 200);
    let events = mesh.get("/v1/events", &[("cookie", pair)]).await;
    assert_eq!(events.status(), 200, "EventSource authenticates with the cookie");
    assert_eq!(login_status(&mesh, "wrong").await, 401);
    mesh.cleanup().await;
}

async fn login(mesh: &Mesh, token: &str) -> hyper::Response<hyper::body::Incoming> {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let body = format!("token={token}");
    let request = hyper::Request::post(format!("http://{}/login", mesh.http))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
        .unwrap();
    client.request(request).await.unwrap()
}

async fn login_status(mesh: &Mesh, token: &str) -> u16 {
    login(mesh, token).await.status().as_u16()
}

/// The rows of one table of the summary (`<table id="…">` to `</table>`).
fn table<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page.find(&format!("<table id=\"{id}\">")).unwrap_or_else(|| panic!("no table {id}"));
    let end = page[start..].find("</table>").unwrap() + start;
    &page[start..end]
}

#[tokio::test]
async fn the_summary_follows_provisioning_and_rotation_from_the_log() {
    use gantry_proto::events::envelope::Payload;
    use gantry_proto::events::{
        CredentialsStored, ProvisioningFailed, ProvisioningStarted, ResourceProvisioned, RotationOverdue,
    };
    let mesh = Mesh::start(&[]).await;
    let (in_flight, _) = mesh.request("building", Environment::Prod).await;
    mesh.append("request", &in_flight, Payload::ProvisioningStarted(ProvisioningStarted {})).await;
    let (failed, _) = mesh.request("broken", Environment::Prod).await;
    mesh.append("request", &failed, Payload::ProvisioningStarted(ProvisioningStarted {})).await;
    let failure = ProvisioningFailed { reason: "the platform Postgres refused".into(), retryable: false };
    mesh.append("request", &failed, Payload::ProvisioningFailed(failure)).await;
    let (overdue, _) = mesh.request("stale", Environment::Dev).await;
    let secret = "goldenpath/dev/stale/postgres".to_owned();
    let stored = CredentialsStored { secret_name: secret.clone(), ..Default::default() };
    mesh.append("request", &overdue, Payload::CredentialsStored(stored)).await;
    mesh.append("request", &overdue, Payload::ResourceProvisioned(ResourceProvisioned { secret_path: secret.clone() }))
        .await;
    let deadline = prost_types::Timestamp { seconds: 1_700_000_000, nanos: 0 };
    let late = RotationOverdue { secret_name: secret.clone(), deadline: Some(deadline), generation: 1 };
    let last = mesh.append("request", &overdue, Payload::RotationOverdue(late)).await.sequence;

    let (status, summary) = mesh.get_text(&format!("/summary?min_sequence={last}"), "alice").await;
    assert_eq!(status, 200);
    assert!(table(&summary, "in-flight").contains(&in_flight), "{summary}");
    assert!(!table(&summary, "pending").contains(&in_flight), "no longer pending");
    let failed_rows = table(&summary, "failed");
    assert!(failed_rows.contains(&failed) && failed_rows.contains("the platform Postgres refused"), "{failed_rows}");
    let credentials = table(&summary, "credentials");
    assert!(
        credentials.contains(&secret) && credentials.contains("overdue") && credentials.contains(" ago"),
        "{credentials}"
    );
    assert!(!table(&summary, "in-flight").contains(&overdue), "ready is neither pending nor in flight");
    mesh.cleanup().await;
}
