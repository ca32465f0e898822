//! What `request show` and the catalog print.

use super::*;
use gantry_proto::types::{self, ApprovalClause, Principal};

fn timestamp(seconds: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos: 0 })
}

fn database_request(status: pb::RequestStatus) -> pb::Request {
    pb::Request {
        request_id: "r1".into(),
        kind: pb::RequestKind::Database as i32,
        status: status as i32,
        spec: Some(pb::request::Spec::Database(types::DatabaseSpec {
            database_name: "orders".into(),
            username: "orders_user".into(),
            owner: "team-orders".into(),
            requester: "alice".into(),
            environment: types::Environment::Prod as i32,
            domain: "payments".into(),
            risk: types::Risk::High as i32,
            size: types::Size::Large as i32,
        })),
        submitted_by: Some(Principal { subject: "backstage".into(), groups: vec![] }),
        required_approvals: vec![
            ApprovalClause { any_of_groups: vec!["platform-team".into()] },
            ApprovalClause { any_of_groups: vec!["security".into(), "database-team".into()] },
        ],
        // What intake says carol's approval leaves open.
        outstanding_approvals: vec![ApprovalClause { any_of_groups: vec!["security".into(), "database-team".into()] }],
        approvals: vec![pb::Approval {
            approver: Some(Principal { subject: "carol".into(), groups: vec!["platform-team".into()] }),
            comment: "fine by me".into(),
            approved_at: timestamp(1_800_000_100),
        }],
        created_at: timestamp(1_800_000_000),
        updated_at: timestamp(1_800_000_100),
        sequence: 7,
        ..Default::default()
    }
}

#[test]
fn show_prints_every_field_and_the_approvals_still_needed() {
    let text = details(&database_request(pb::RequestStatus::PendingApproval));
    for expected in [
        "request           r1",
        "kind              database",
        "status            pending_approval",
        "database name     orders",
        "username          orders_user",
        "environment       prod",
        "owner             team-orders",
        "requester         alice",
        "domain            payments",
        "risk              high",
        "size              large",
        "submitted by      backstage",
        "created           2027-01-15T08:00:00Z",
        "updated           2027-01-15T08:01:40Z",
        "sequence          7",
        "approved by       carol (platform-team) at 2027-01-15T08:01:40Z: \"fine by me\"",
        "approvals needed  one of security or database-team",
        "reason            -",
        "secret path       -",
    ] {
        assert!(text.contains(&format!("{expected}\n")), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn an_auto_approved_request_names_its_rule() {
    let mut request = database_request(pb::RequestStatus::Approved);
    request.approvals.clear();
    request.auto_approved_by_rule = "dev-small-databases".into();
    let text = details(&request);
    assert!(text.contains("approved by    rule dev-small-databases (on submission)\n"), "{text}");
    assert!(!text.contains("approvals needed"), "{text}");
    let json = request_json(&request);
    assert_eq!(json["auto_approved_by_rule"], "dev-small-databases");
    assert_eq!(json["approvals_needed"], json!([]));
    assert_eq!(json["waiting_for"], "provisioning");
}

#[test]
fn json_has_every_field() {
    let json = request_json(&database_request(pb::RequestStatus::PendingApproval));
    assert_eq!(json["spec"]["risk"], "high");
    assert_eq!(json["spec"]["username"], "orders_user");
    assert_eq!(json["approvals"][0]["approver"], "carol");
    assert_eq!(json["approvals"][0]["comment"], "fine by me");
    assert_eq!(json["approvals_needed"], json!([["security", "database-team"]]));
    assert_eq!(json["waiting_for"], "approval by one of security or database-team (not the requester)");
    assert_eq!(json["created_at"], "2027-01-15T08:00:00Z");
}

#[test]
fn the_catalog_becomes_json() {
    let rds = "# Generated\napiVersion: gantry.dev/v1\ndatabases:\n- name: orders\n  connection_limit: 20\n";
    let json = catalog_json(rds, CatalogFormat::Rds).unwrap();
    assert_eq!(json["databases"][0]["name"], "orders");
    assert_eq!(json["databases"][0]["connection_limit"], 20);
    let backstage = "---\nkind: Resource\nmetadata:\n  name: a\n---\nkind: Resource\nmetadata:\n  name: b\n";
    let json = catalog_json(backstage, CatalogFormat::Backstage).unwrap();
    assert_eq!(json[1]["metadata"]["name"], "b");
    assert_eq!(catalog_json("", CatalogFormat::Backstage).unwrap(), json!([]));
}

#[test]
fn a_decommission_waits_for_its_approval_then_for_the_provisioner() {
    let mut request = database_request(pb::RequestStatus::DecommissionRequested);
    request.outstanding_approvals = vec![ApprovalClause { any_of_groups: vec!["platform-team".into()] }];
    let json = request_json(&request);
    assert_eq!(json["status"], "decommission_requested");
    assert_eq!(json["waiting_for"], "approval of the decommission by platform-team (not who asked for it)");
    assert_eq!(json["approvals_needed"], json!([["platform-team"]]));
    let decommissioning = database_request(pb::RequestStatus::Decommissioning);
    assert_eq!(request_json(&decommissioning)["waiting_for"], "the decommission to finish");
    assert_eq!(request_json(&database_request(pb::RequestStatus::Decommissioned))["waiting_for"], json!(null));
    assert!(is_final(pb::RequestStatus::Decommissioned as i32) && !is_final(decommissioning.status));
}

#[test]
fn a_ready_line_says_where_the_credentials_or_the_bucket_are() {
    let mut database = database_request(pb::RequestStatus::Ready);
    database.secret_path = "goldenpath/prod/orders/postgres".into();
    assert_eq!(change_detail(&database).as_deref(), Some("credentials at goldenpath/prod/orders/postgres"));
    let bucket = pb::Request {
        kind: pb::RequestKind::Bucket as i32,
        status: pb::RequestStatus::Ready as i32,
        spec: Some(pb::request::Spec::Bucket(types::BucketSpec {
            bucket_name: "team-obs-logs-prod-eu-west-1".into(),
            region: "eu-west-1".into(),
            ..Default::default()
        })),
        ..Default::default()
    };
    assert_eq!(change_detail(&bucket).as_deref(), Some("bucket team-obs-logs-prod-eu-west-1 in eu-west-1"));
}
