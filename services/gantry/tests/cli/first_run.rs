//! The README's two first-run commands share one build: `scripts/dev-up.sh`
//! runs the dev-profile binary that `scripts/test.sh` builds too.

fn repository_file(path: &str) -> String {
    let full = format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|error| panic!("{full}: {error}"))
}

#[test]
fn dev_up_builds_and_runs_the_binary_the_tests_build() {
    let dev_up = repository_file("scripts/dev-up.sh");
    let test = repository_file("scripts/test.sh");
    let build = "\ncargo build -p gantry\n";
    assert!(dev_up.contains(build), "dev-up.sh must build the dev profile");
    assert!(test.contains("cargo build -p gantry"), "test.sh builds the same binary");
    assert!(dev_up.contains("/debug/gantry\""), "dev-up.sh must run target/debug/gantry");
    assert!(!dev_up.contains("cargo build --release"), "dev-up.sh builds a second profile");
}

#[test]
fn the_docs_point_at_the_debug_binary() {
    let readme = repository_file("README.md");
    assert!(readme.contains("alias gantry=target/debug/gantry"));
    for path in ["README.md", "scripts/dev-up.sh", "docs/cli.md", "docs/operations.md", "k8s/README.md"] {
        assert!(!repository_file(path).contains("target/release/gantry"), "{path} still names the release binary");
    }
}

/// The `gantry.toml` of a Kubernetes ConfigMap in the repository.
fn configmap_toml(path: &str) -> String {
    let document: serde_yaml_ng::Value = serde_yaml_ng::from_str(&repository_file(path)).unwrap();
    document["data"]["gantry.toml"].as_str().unwrap_or_else(|| panic!("{path} has no gantry.toml")).to_owned()
}

#[test]
fn the_kubernetes_configs_are_what_every_service_reads() {
    for path in ["k8s/base/configmap.yaml", "k8s/overlays/dev/configmap-patch.yaml"] {
        let directory = tempfile::tempdir().unwrap();
        let file = directory.path().join("gantry.toml");
        std::fs::write(&file, configmap_toml(path)).unwrap();
        let config = gantry_runtime::Config::load(Some(&file)).unwrap_or_else(|error| panic!("{path}: {error:#}"));
        let ingest: gantry_ingest::IngestSettings =
            config.section("ingest").unwrap_or_else(|error| panic!("{path}: {error:#}"));
        assert!(matches!(ingest.storage, Some(gantry_ingest::StorageSettings::S3 { .. })), "{path}: ingest on S3");
        config
            .section::<gantry_provisioner::ProvisionerSettings>("provisioner")
            .unwrap_or_else(|error| panic!("{path}: {error:#}"));
        config
            .section::<gantry_rotation::RotationSettings>("rotation")
            .unwrap_or_else(|error| panic!("{path}: {error:#}"));
        let lineage: gantry_lineage::LineageSettings =
            config.section("lineage").unwrap_or_else(|error| panic!("{path}: {error:#}"));
        let listen: Option<std::net::SocketAddr> =
            config.section::<gantry_service::ServiceSettings>("lineage").unwrap().listen;
        assert_eq!(listen.map(|address| address.port()), Some(50054), "{path}: lineage on its port");
        assert!(lineage.default_depth > 0, "{path}");
        let console: gantry_console::ConsoleSettings =
            config.section("console").unwrap_or_else(|error| panic!("{path}: {error:#}"));
        assert_eq!(console.http_listen.to_string(), "0.0.0.0:8080", "{path}: the page is reachable in the pod");
        let listen: gantry_service::ServiceSettings =
            config.section("console").unwrap_or_else(|error| panic!("{path}: {error:#}"));
        assert_eq!(listen.listen.map(|address| address.port()), Some(50056), "{path}: console's gRPC port");
    }
}
