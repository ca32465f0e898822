//! The provisioner's API as its users call it: reads with paging, the
//! catalog and audit exports, and clear errors for bad input.

use crate::helpers::{Mesh, Outcome, bucket_request, database_request};
use gantry_proto::provisioner::{
    AuditFormat, CatalogFormat, ExportAuditRequest, ExportCatalogRequest, GetDatabaseRequest, ListBucketsRequest,
    ListDatabasesRequest, ResourceStatus,
};
use gantry_proto::types::{BucketPurpose, Environment, Risk};
use tonic_types::StatusExt as _;

#[tokio::test]
async fn reads_page_and_exports_describe_what_exists() {
    let mesh = Mesh::start(None).await;
    let names = [mesh.name("first"), mesh.name("second"), mesh.name("third")];
    let mut last = String::new();
    for name in &names {
        last = mesh.submit(database_request(name, "dev", Risk::Medium)).await;
        assert!(matches!(mesh.wait_for_outcome(&last).await, Outcome::Ready { .. }));
    }
    let bucket = mesh.bucket("state");
    let state = mesh.submit_bucket(bucket_request(&bucket, BucketPurpose::BackendState, "eu-central-1", 0)).await;
    assert!(matches!(mesh.wait_for_outcome(&state).await, Outcome::Ready { .. }));
    let sequence = mesh.last_sequence(&state).await.max(mesh.last_sequence(&last).await);
    let mut client = mesh.client("alice").await;

    // Pages of one, newest first, until the token runs out.
    let mut listed = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = ListDatabasesRequest {
            environment: Environment::Dev as i32,
            status: ResourceStatus::Ready as i32,
            page_size: 1,
            page_token: page_token.clone(),
            min_sequence: sequence,
            ..ListDatabasesRequest::default()
        };
        let page = client.list_databases(request).await.unwrap().into_inner();
        assert!(page.databases.len() <= 1);
        listed.extend(page.databases.into_iter().map(|database| database.database_name));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let mine: Vec<&String> = listed.iter().filter(|name| names.contains(name)).collect();
    assert_eq!(mine, names.iter().rev().collect::<Vec<_>>(), "newest first, each once");
    let buckets = client
        .list_buckets(ListBucketsRequest {
            purpose: BucketPurpose::BackendState as i32,
            min_sequence: sequence,
            ..ListBucketsRequest::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(buckets.buckets.iter().filter(|found| found.bucket_name == bucket).count(), 1);

    // The platform catalog and Backstage entities, with dependsOn the owner's system.
    let catalog = client
        .export_catalog(ExportCatalogRequest {
            format: CatalogFormat::Platform as i32,
            environment: Environment::Dev as i32,
            min_sequence: sequence,
        })
        .await
        .unwrap()
        .into_inner()
        .content;
    let catalog: serde_yaml_ng::Value = serde_yaml_ng::from_str(&catalog).unwrap();
    let entry =
        catalog["databases"].as_sequence().unwrap().iter().find(|entry| entry["name"] == names[0].as_str()).unwrap();
    assert_eq!((entry["connection_limit"].as_u64(), entry["backup_retention_days"].as_u64()), (Some(20), Some(14)));
    assert_eq!(entry["secret_name"], format!("{}/dev/{}/postgres", mesh.secret_prefix, names[0]).as_str());
    let entry =
        catalog["buckets"].as_sequence().unwrap().iter().find(|entry| entry["name"] == bucket.as_str()).unwrap();
    assert_eq!((entry["region"].as_str(), entry["purpose"].as_str()), (Some("eu-central-1"), Some("backend-state")));
    let entities = client
        .export_catalog(ExportCatalogRequest {
            format: CatalogFormat::Backstage as i32,
            environment: 0,
            min_sequence: sequence,
        })
        .await
        .unwrap()
        .into_inner()
        .content;
    let entity = entities
        .split("---\n")
        .filter(|document| !document.is_empty())
        .map(|document| serde_yaml_ng::from_str::<serde_yaml_ng::Value>(document).unwrap())
        .find(|entity| entity["metadata"]["name"] == format!("{}-dev", names[0].replace('_', "-")).as_str())
        .expect("the database's entity");
    assert_eq!(entity["kind"], "Resource");
    assert_eq!(entity["spec"]["dependsOn"][0], "system:default/payments");
    assert_eq!(entity["spec"]["owner"], "team-orders");

    // The audit: one row per event of the environment's requests, valid CSV.
    let audit = client
        .export_audit(ExportAuditRequest {
            environment: Environment::Dev as i32,
            format: AuditFormat::Csv as i32,
            min_sequence: sequence,
        })
        .await
        .unwrap()
        .into_inner();
    let mut reader = csv::Reader::from_reader(audit.content.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(header, ["timestamp", "environment", "request_id", "resource", "action", "actor", "outcome", "detail"]);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len() as u32, audit.rows);
    let first: Vec<(String, String, String)> = rows
        .iter()
        .filter(|row| &row[3] == names[0].as_str())
        .map(|row| (row[4].to_owned(), row[5].to_owned(), row[6].to_owned()))
        .collect();
    let actions: Vec<&str> = first.iter().map(|(action, ..)| action.as_str()).collect();
    assert_eq!(
        actions,
        ["requested", "provisioning started", "role created", "database created", "credentials stored", "ready"]
    );
    assert_eq!((first[0].1.as_str(), first[0].2.as_str()), ("alice", "approved"));
    assert_eq!(first[5].1, "gantry-provisioner");
    assert!(rows.iter().all(|row| &row[1] == "dev" && row[0].ends_with('Z')));
    mesh.cleanup().await;
}

#[tokio::test]
async fn bad_input_names_every_field_and_unknown_names_are_not_found() {
    let mesh = Mesh::start(None).await;
    let mut client = mesh.client("alice").await;
    let status = client
        .get_database(GetDatabaseRequest { environment: 0, database_name: String::new(), min_sequence: 0 })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    let details = status.get_error_details();
    let fields: Vec<&str> = details.bad_request().unwrap().field_violations.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(fields, ["environment", "database_name"]);
    let status = client
        .list_databases(ListDatabasesRequest {
            environment: 99,
            page_size: 501,
            page_token: "forged".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    let details = status.get_error_details();
    let fields: Vec<&str> = details.bad_request().unwrap().field_violations.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(fields, ["environment", "page_token", "page_size"]);
    let status = client
        .get_database(GetDatabaseRequest {
            environment: Environment::Dev as i32,
            database_name: "nobody_has_this".into(),
            min_sequence: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound);
    let status =
        client.export_audit(ExportAuditRequest { environment: 0, format: 0, min_sequence: 0 }).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    mesh.cleanup().await;
}
