//! Backend files read back as HCL attributes, the refusals, layer names,
//! and writing without replacing.

use super::*;
use gantry_proto::types::Environment;
use std::collections::BTreeMap;

fn ready_bucket() -> pb::Bucket {
    pb::Bucket {
        request_id: "0193-r2".into(),
        bucket_name: "platform-backend-state-prod".into(),
        purpose: BucketPurpose::BackendState as i32,
        environment: Environment::Prod as i32,
        region: "eu-west-1".into(),
        status: pb::ResourceStatus::Ready as i32,
        encryption: "AES256".into(),
        ..Default::default()
    }
}

fn layers(names: &[&str]) -> Vec<Layer> {
    names.iter().map(|name| parse_layer(name).unwrap()).collect()
}

/// Reads a backend file as HCL attributes (`name = "text"` or `name =
/// true`), one a line, comments skipped; strings unescaped.
fn attributes(content: &str) -> BTreeMap<String, String> {
    let mut attributes = BTreeMap::new();
    for line in content.lines().filter(|line| !line.starts_with('#') && !line.trim().is_empty()) {
        let (name, value) = line.split_once(" = ").unwrap_or_else(|| panic!("not an attribute: {line:?}"));
        let name = name.trim_end();
        assert!(name.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{line:?}");
        let value = match value.strip_prefix('"').and_then(|value| value.strip_suffix('"')) {
            Some(quoted) => quoted.replace("\\\"", "\"").replace("\\\\", "\\"),
            None => {
                assert!(value == "true" || value == "false", "{line:?}");
                value.to_owned()
            }
        };
        assert!(attributes.insert(name.to_owned(), value).is_none(), "{name} twice");
    }
    attributes
}

#[test]
fn each_layer_gets_its_own_state_key_encrypted_and_locked_by_s3() {
    let files = backend_files(&ready_bucket(), &layers(&["network", "eks_core", "network"]), Path::new("out"), None);
    let files = files.unwrap();
    assert_eq!(files.len(), 2, "a layer named twice is written once");
    assert_eq!(files[0].path, Path::new("out/network.hcl"));
    assert_eq!(files[1].path, Path::new("out/eks_core.hcl"));
    let network = attributes(&files[0].content);
    let expected = [
        ("bucket", "platform-backend-state-prod"),
        ("key", "regions/eu-west-1/layers/network/prod/terraform.tfstate"),
        ("region", "eu-west-1"),
        ("encrypt", "true"),
        ("use_lockfile", "true"),
    ];
    assert_eq!(network, expected.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect());
    assert_eq!(files[1].key, "regions/eu-west-1/layers/eks_core/prod/terraform.tfstate");
    assert!(files[0].content.starts_with("# Terraform S3 backend of layer network"), "{}", files[0].content);
}

#[test]
fn a_kms_bucket_names_its_key_and_a_lock_table_only_when_given() {
    // An RFC 4122 key id: Terraform refuses AWS's documentation example (1234abcd-12ab-34cd-…).
    let key_arn = "arn:aws:kms:eu-west-1:111122223333:key/0e5b1d6f-3c2a-4b8e-9f1d-2a7c4e6b8d90";
    let kms = pb::Bucket { encryption: "aws:kms".into(), kms_key_id: key_arn.into(), ..ready_bucket() };
    let files = backend_files(&kms, &layers(&["network"]), Path::new("."), Some("terraform-locks")).unwrap();
    let network = attributes(&files[0].content);
    assert_eq!(network["kms_key_id"], key_arn);
    assert_eq!(network["dynamodb_table"], "terraform-locks");
    let plain = backend_files(&ready_bucket(), &layers(&["network"]), Path::new("."), None).unwrap();
    let plain = attributes(&plain[0].content);
    assert!(!plain.contains_key("kms_key_id") && !plain.contains_key("dynamodb_table"), "{plain:?}");
}

#[test]
fn only_a_ready_backend_state_bucket_is_used() {
    let logs = pb::Bucket { purpose: BucketPurpose::Logs as i32, ..ready_bucket() };
    let refuse = |bucket: &pb::Bucket| {
        crate::failure::from_error(backend_files(bucket, &layers(&["network"]), Path::new("."), None).unwrap_err())
    };
    let failure = refuse(&logs);
    assert_eq!(failure.code, "FAILED_PRECONDITION");
    assert_eq!(failure.message, "bucket platform-backend-state-prod is for logs, not backend-state");
    let provisioning = pb::Bucket { status: pb::ResourceStatus::Provisioning as i32, ..ready_bucket() };
    let failure = refuse(&provisioning);
    assert_eq!(failure.message, "bucket platform-backend-state-prod is provisioning, not ready");
    assert!(failure.to_text().contains("gantry request watch 0193-r2"), "{}", failure.to_text());
}

#[test]
fn layer_names_are_safe_as_files_and_key_segments() {
    for good in ["network", "eks-core", "0-base", "a_b"] {
        assert!(parse_layer(good).is_ok(), "{good}");
    }
    for bad in ["", "Network", "-x", "_x", "a/b", "..", "a.b", "a b", "../etc", &"a".repeat(64)] {
        assert!(parse_layer(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn strings_are_escaped_for_hcl() {
    assert_eq!(hcl_string("plain"), "\"plain\"");
    assert_eq!(hcl_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
    assert_eq!(hcl_string("${var.x} %{if}"), "\"$${var.x} %%{if}\"");
    assert_eq!(hcl_string("$5 and 100%"), "\"$5 and 100%\"");
    assert_eq!(hcl_string("a\nb"), "\"a\\nb\"");
}

#[test]
fn files_are_not_replaced_without_force() {
    let directory = std::env::temp_dir().join(format!("gantry-backend-config-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    let out_dir = directory.join("backends");
    let files = backend_files(&ready_bucket(), &layers(&["network", "eks"]), &out_dir, None).unwrap();
    write(&files[..1], false).unwrap();
    std::fs::write(&files[0].path, "mine").unwrap();
    let failure = crate::failure::from_error(write(&files, false).unwrap_err());
    assert_eq!(failure.code, "ALREADY_EXISTS");
    assert!(failure.message.ends_with("network.hcl exists; nothing written"), "{}", failure.message);
    assert!(!files[1].path.exists(), "nothing is written when one exists");
    assert_eq!(std::fs::read_to_string(&files[0].path).unwrap(), "mine");
    write(&files, true).unwrap();
    assert_eq!(std::fs::read_to_string(&files[0].path).unwrap(), files[0].content);
    assert_eq!(std::fs::read_to_string(&files[1].path).unwrap(), files[1].content);
    std::fs::remove_dir_all(&directory).unwrap();
}
