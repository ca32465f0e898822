//! The manifest parsed back: every field external-secrets reads, the
//! refusals, and the names the flags accept.

use super::*;
use clap::Parser as _;
use serde_json::Value;

fn ready_database() -> pb::Database {
    pb::Database {
        request_id: "0193-r1".into(),
        database_name: "order_events".into(),
        environment: gantry_proto::types::Environment::Prod as i32,
        status: pb::ResourceStatus::Ready as i32,
        secret_name: "goldenpath/prod/order_events/postgres".into(),
        ..Default::default()
    }
}

fn args(extra: &[&str]) -> ExternalSecretArgs {
    let words =
        ["gantry", "database", "external-secret", "order_events", "--env", "prod", "--namespace", "team-orders"];
    let cli = crate::cli::Cli::try_parse_from([&words[..], extra].concat()).unwrap();
    let crate::cli::Command::Database(crate::cli::DatabaseCommand::ExternalSecret(args)) = cli.command else {
        panic!("not external-secret")
    };
    args
}

/// Renders and parses the YAML back as a generic value.
fn rendered(database: &pb::Database, args: &ExternalSecretArgs) -> Value {
    let yaml = ExternalSecret::for_database(database, args).unwrap().to_yaml().unwrap();
    serde_yaml_ng::from_str(&yaml).unwrap_or_else(|error| panic!("not YAML ({error}):\n{yaml}"))
}

#[test]
fn the_manifest_reads_every_key_from_the_databases_secret_through_the_cluster_store() {
    let manifest = rendered(&ready_database(), &args(&[]));
    assert_eq!(manifest["apiVersion"], "external-secrets.io/v1");
    assert_eq!(manifest["kind"], "ExternalSecret");
    assert_eq!(manifest["metadata"]["name"], "order-events-postgres");
    assert_eq!(manifest["metadata"]["namespace"], "team-orders");
    assert_eq!(manifest["metadata"]["annotations"]["gantry.dev/request-id"], "0193-r1");
    assert_eq!(manifest["metadata"]["annotations"]["gantry.dev/environment"], "prod");
    let spec = &manifest["spec"];
    assert_eq!(spec["refreshInterval"], "1h");
    assert_eq!(
        spec["secretStoreRef"],
        serde_json::json!({"name": "aws-secrets-manager", "kind": "ClusterSecretStore"})
    );
    assert_eq!(spec["target"], serde_json::json!({"name": "order-events-postgres", "creationPolicy": "Owner"}));
    let data = spec["data"].as_array().unwrap();
    let pairs: Vec<(&str, &str)> = data
        .iter()
        .map(|item| (item["secretKey"].as_str().unwrap(), item["remoteRef"]["property"].as_str().unwrap()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("POSTGRES_USER", "username"),
            ("POSTGRES_PASSWORD", "password"),
            ("POSTGRES_HOST", "host"),
            ("POSTGRES_PORT", "port"),
            ("POSTGRES_DB", "dbname")
        ]
    );
    assert!(data.iter().all(|item| item["remoteRef"]["key"] == "goldenpath/prod/order_events/postgres"), "{data:?}");
}

#[test]
fn the_store_interval_and_target_can_be_chosen() {
    let chosen = args(&["--store", "aws-sm-prod", "--refresh-interval", "90", "--target-name", "orders-db"]);
    let manifest = rendered(&ready_database(), &chosen);
    assert_eq!(manifest["spec"]["secretStoreRef"]["name"], "aws-sm-prod");
    assert_eq!(manifest["spec"]["refreshInterval"], "1m30s", "a Go duration");
    assert_eq!(manifest["spec"]["target"]["name"], "orders-db");
    assert_eq!(manifest["metadata"]["name"], "orders-db");
}

#[test]
fn a_database_without_stored_credentials_is_refused_with_how_to_follow_it() {
    let provisioning = pb::Database { status: pb::ResourceStatus::Provisioning as i32, ..ready_database() };
    let refuse = |database: &pb::Database| {
        crate::failure::from_error(ExternalSecret::for_database(database, &args(&[])).unwrap_err())
    };
    let failure = refuse(&provisioning);
    assert_eq!(failure.code, "FAILED_PRECONDITION");
    assert_eq!(failure.message, "database order_events (prod) is provisioning, not ready: no credentials to reference");
    assert!(failure.to_text().contains("gantry request watch 0193-r1"), "{}", failure.to_text());
    let no_secret = pb::Database { secret_name: String::new(), ..ready_database() };
    let failure = refuse(&no_secret);
    assert!(failure.message.contains("no stored credentials"), "{}", failure.message);
}

#[test]
fn names_follow_kubernetes_rules() {
    for good in ["team-orders", "a", "orders.db-1", &"a".repeat(63)] {
        assert!(parse_kubernetes_name(good).is_ok(), "{good}");
    }
    for bad in ["", "Team", "-a", "a-", "a_b", "a..b", &"a".repeat(64), "a b"] {
        assert!(parse_kubernetes_name(bad).is_err(), "{bad:?}");
    }
    assert!(parse_namespace("team-orders").is_ok());
    assert!(parse_namespace("team.orders").is_err());
    let refused = crate::cli::Cli::try_parse_from([
        "gantry",
        "database",
        "external-secret",
        "x",
        "--env",
        "dev",
        "--namespace",
        "Team",
    ]);
    assert_eq!(refused.unwrap_err().kind(), clap::error::ErrorKind::ValueValidation);
}
