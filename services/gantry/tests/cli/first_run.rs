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
