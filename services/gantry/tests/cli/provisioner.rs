//! The provisioner's commands against a real provisioner whose view the
//! test feeds with the provisioner's own events: reads of databases and
//! buckets, the ExternalSecret, backend files, the audit CSV, its catalog.

use crate::helpers::spawn_mesh;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn databases_and_buckets_read_as_fields_tables_and_json() {
    let app = spawn_mesh().await;
    let orders = app.provisioned_database("orders", "prod").await;
    let state = app.provisioned_bucket("platform-backend-state-prod", "backend-state", None).await;

    let get = ["database", "get", "orders", "--env", "prod", "--min-sequence", &orders.sequence];
    let shown = app.gantry(Some("alice"), &get).await;
    assert_eq!(shown.code, Some(0), "{shown:?}");
    for (label, value) in [("status", "ready"), ("secret name", "goldenpath/prod/orders/postgres"), ("port", "5432")] {
        assert_eq!(field(&shown.stdout, label).as_deref(), Some(value), "{label}:\n{}", shown.stdout);
    }
    let json = app.gantry(Some("alice"), &[&["--output", "json"], &get[..]].concat()).await.json();
    assert_eq!((json["database_name"].as_str(), json["environment"].as_str()), (Some("orders"), Some("prod")));
    assert_eq!((json["request_id"].as_str(), json["connection_limit"].as_u64()), (Some(orders.id.as_str()), Some(20)));

    let listed = app.gantry(Some("alice"), &["--output", "json", "database", "list", "--env", "prod"]).await.json();
    assert_eq!(listed["databases"].as_array().map(Vec::len), Some(1), "{listed}");
    let none = app.gantry(Some("alice"), &["--output", "json", "database", "list", "--status", "failed"]).await;
    assert_eq!(none.json()["databases"], serde_json::json!([]), "{none:?}");
    let table = app.gantry(Some("alice"), &["database", "list"]).await;
    assert!(table.stdout.lines().any(|line| line.contains("orders") && line.contains("ready")), "{table:?}");

    let get_bucket = ["bucket", "get", "platform-backend-state-prod", "--min-sequence", &state.sequence];
    let bucket = app.gantry(Some("alice"), &[&["--output", "json"], &get_bucket[..]].concat()).await.json();
    assert_eq!((bucket["purpose"].as_str(), bucket["status"].as_str()), (Some("backend-state"), Some("ready")));
    assert_eq!((bucket["region"].as_str(), bucket["encryption"].as_str()), (Some("eu-west-1"), Some("AES256")));
    let buckets = app.gantry(Some("alice"), &["bucket", "list", "--purpose", "backend-state"]).await;
    assert!(buckets.stdout.contains("platform-backend-state-prod"), "{buckets:?}");
    let logs = app.gantry(Some("alice"), &["--output", "json", "bucket", "list", "--purpose", "logs"]).await;
    assert_eq!(logs.json()["buckets"], serde_json::json!([]), "{logs:?}");

    let missing = app.gantry(Some("alice"), &["--output", "json", "database", "get", "nothing", "--env", "prod"]).await;
    assert_eq!((missing.code, missing.error_json()["code"].as_str()), (Some(1), Some("NOT_FOUND")), "{missing:?}");
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_external_secret_references_a_ready_databases_secret() {
    let app = spawn_mesh().await;
    let ready = app.provisioned_database("order_events", "prod").await;
    let pending = app.provisioning_database("ledger", "prod").await;
    // The view has both once it has the later write.
    assert!(!ready.id.is_empty());
    let caught_up = ["database", "get", "ledger", "--env", "prod", "--min-sequence", &pending.sequence];
    assert_eq!(app.gantry(Some("alice"), &caught_up).await.code, Some(0));

    let args = ["database", "external-secret", "order_events", "--env", "prod", "--namespace", "team-orders"];
    let run = app.gantry(Some("alice"), &args).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let manifest: Value = serde_yaml_ng::from_str(&run.stdout).expect("YAML");
    assert_eq!(manifest["apiVersion"], "external-secrets.io/v1");
    assert_eq!(manifest["metadata"]["name"], "order-events-postgres");
    assert_eq!(manifest["spec"]["secretStoreRef"]["kind"], "ClusterSecretStore");
    assert_eq!(manifest["spec"]["data"][1]["secretKey"], "POSTGRES_PASSWORD");
    assert_eq!(manifest["spec"]["data"][1]["remoteRef"]["key"], "goldenpath/prod/order_events/postgres");
    assert_eq!(manifest["spec"]["data"][1]["remoteRef"]["property"], "password");
    let json = app.gantry(Some("alice"), &[&["--output", "json"], &args[..]].concat()).await.json();
    assert_eq!(json, manifest, "the same manifest as JSON");

    let not_ready = ["--output", "json", "database", "external-secret", "ledger", "--env", "prod", "--namespace", "x"];
    let refused = app.gantry(Some("alice"), &not_ready).await;
    assert_eq!(refused.code, Some(1), "{refused:?}");
    let error = refused.error_json();
    assert_eq!(error["code"], "FAILED_PRECONDITION");
    assert_eq!(error["message"], "database ledger (prod) is provisioning, not ready: no credentials to reference");
    assert!(error["hint"].as_str().unwrap().contains(&pending.id), "{error}");
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn backend_config_writes_a_file_per_layer_and_replaces_none_without_force() {
    let app = spawn_mesh().await;
    let key = "arn:aws:kms:eu-west-1:111122223333:key/0e5b1d6f-3c2a-4b8e-9f1d-2a7c4e6b8d90";
    app.provisioned_bucket("team-obs-logs-prod", "logs", None).await;
    let state = app.provisioned_bucket("platform-backend-state-prod", "backend-state", Some(key)).await;
    let caught_up = ["bucket", "get", "platform-backend-state-prod", "--min-sequence", &state.sequence];
    assert_eq!(app.gantry(Some("alice"), &caught_up).await.code, Some(0));
    let out_dir = app.directory().join("backends");
    let out = out_dir.to_str().unwrap();
    let args = ["bucket", "backend-config", "platform-backend-state-prod", "--layer", "network", "--layer", "eks"];
    let args = [&args[..], &["--out-dir", out]].concat();

    let run = app.gantry(Some("alice"), &args).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.contains("network.hcl  (state key regions/eu-west-1/layers/network/prod/terraform.tfstate)"));
    let network = std::fs::read_to_string(out_dir.join("network.hcl")).unwrap();
    let attributes: Vec<(&str, &str)> = network
        .lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| line.split_once(" = ").map(|(name, value)| (name.trim_end(), value)).expect("name = value"))
        .collect();
    let expected_key = "\"regions/eu-west-1/layers/network/prod/terraform.tfstate\"";
    let quoted_key = format!("\"{key}\"");
    assert_eq!(
        attributes,
        [
            ("bucket", "\"platform-backend-state-prod\""),
            ("key", expected_key),
            ("region", "\"eu-west-1\""),
            ("encrypt", "true"),
            ("use_lockfile", "true"),
            ("kms_key_id", quoted_key.as_str()),
        ]
    );
    assert!(std::fs::read_to_string(out_dir.join("eks.hcl")).unwrap().contains("/layers/eks/prod/"));

    let again = app.gantry(Some("alice"), &[&["--output", "json"], &args[..]].concat()).await;
    assert_eq!((again.code, again.error_json()["code"].as_str()), (Some(1), Some("ALREADY_EXISTS")), "{again:?}");
    let forced = app.gantry(Some("alice"), &[&["--output", "json"], &args[..], &["--force"]].concat()).await;
    assert_eq!(forced.code, Some(0), "{forced:?}");
    assert_eq!(forced.json()["written"][1]["layer"], "eks");

    let logs = ["bucket", "backend-config", "team-obs-logs-prod", "--layer", "network", "--out-dir", out];
    let refused = app.gantry(Some("alice"), &logs).await;
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert!(refused.stderr.contains("is for logs, not backend-state (FAILED_PRECONDITION)"), "{refused:?}");
    let bad_layer = app.gantry(Some("alice"), &["bucket", "backend-config", "b", "--layer", "../etc"]).await;
    assert_eq!(bad_layer.code, Some(2), "{bad_layer:?}");
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_audit_csv_is_written_as_the_provisioner_exports_it() {
    let app = spawn_mesh().await;
    let orders = app.provisioned_database("orders", "prod").await;
    let export = ["audit", "export", "--env", "prod", "--min-sequence", &orders.sequence];
    let stdout = app.gantry(Some("alice"), &export).await;
    assert_eq!(stdout.code, Some(0), "{stdout:?}");
    let header = stdout.stdout.lines().next().unwrap_or_default();
    assert_eq!(header, "timestamp,environment,request_id,resource,action,actor,outcome,detail", "{stdout:?}");
    assert!(stdout.stdout.contains(&orders.id), "{stdout:?}");

    let file = app.directory().join("audit-prod.csv");
    let to_file = [&export[..], &["--out-file", file.to_str().unwrap()]].concat();
    let written = app.gantry(Some("alice"), &[&["--output", "json"], &to_file[..]].concat()).await;
    assert_eq!(written.code, Some(0), "{written:?}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), stdout.stdout, "the same bytes");
    let rows = written.json()["rows"].as_u64().unwrap();
    assert_eq!(rows as usize, stdout.stdout.lines().count() - 1, "{written:?}");
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_provisioners_catalog_is_what_exists() {
    let app = spawn_mesh().await;
    app.provisioning_database("ledger", "prod").await;
    let orders = app.provisioned_database("orders", "prod").await;
    let export = ["catalog", "export", "--from", "provisioner", "--min-sequence", &orders.sequence];
    let yaml = app.gantry(Some("alice"), &export).await;
    assert_eq!(yaml.code, Some(0), "{yaml:?}");
    assert!(yaml.stdout.contains("orders") && !yaml.stdout.contains("ledger"), "only what is ready: {yaml:?}");
    let json = app.gantry(Some("alice"), &[&["--output", "json"], &export[..]].concat()).await;
    assert_eq!(json.code, Some(0), "{json:?}");
    assert!(json.json().is_object(), "{json:?}");
    let backstage = [&export[..], &["--format", "backstage"]].concat();
    let entities = app.gantry(Some("alice"), &[&["--output", "json"], &backstage[..]].concat()).await.json();
    assert_eq!(entities[0]["kind"], "Resource", "{entities}");

    let mixed = app.gantry(Some("alice"), &["--output", "json", "catalog", "export", "--format", "platform"]).await;
    assert_eq!(mixed.code, Some(2), "{mixed:?}");
    assert_eq!(mixed.error_json()["field_violations"][0]["field"], "--format");
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_provisioner_that_is_not_there_names_its_flag() {
    let app = crate::helpers::spawn_app().await;
    let run = app.gantry(Some("alice"), &["--output", "json", "database", "list"]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    let error = run.error_json();
    assert_eq!(error["code"], "UNAVAILABLE");
    assert!(error["hint"].as_str().unwrap().contains("--provisioner-server / GANTRY_PROVISIONER_SERVER"), "{error}");
    app.cleanup().await;
}

/// Returns the value of a `label  value` line of a `get`.
fn field(stdout: &str, label: &str) -> Option<String> {
    let line = stdout.lines().find(|line| line.strip_prefix(label).is_some_and(|rest| rest.starts_with("  ")))?;
    Some(line[label.len()..].trim().to_owned())
}
