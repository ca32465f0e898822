//! Generates the Rust code of every contract under `proto/` with a vendored
//! `protoc`, so building needs no system protobuf compiler.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files = [
        "gantry/types/v1/types.proto",
        "gantry/events/v1/envelope.proto",
        "gantry/events/v1/intake.proto",
        "gantry/events/v1/provisioner.proto",
        "gantry/events/v1/rotation.proto",
        "gantry/events/v1/artifacts.proto",
        "gantry/events/v1/lineage.proto",
        "gantry/events/v1/watch.proto",
        "gantry/intake/v1/intake.proto",
        "gantry/provisioner/v1/provisioner.proto",
        "gantry/rotation/v1/rotation.proto",
        "gantry/artifacts/v1/artifacts.proto",
        "gantry/lineage/v1/lineage.proto",
        // Not Gantry's: googleapis' error details (vendored as published),
        // compiled only so reflection serves what errors carry.
        "google/rpc/error_details.proto",
    ];
    let paths: Vec<PathBuf> = files.iter().map(|file| proto_root.join(file)).collect();
    for path in &paths {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    // Artifact chunks are handed on without a copy (`bytes::Bytes`).
    config.bytes([".gantry.artifacts.v1"]);
    // protoc's own well-known types (google/protobuf/*.proto) ship with it.
    let includes = [proto_root, protoc_bin_vendored::include_path()?];
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("gantry_descriptor.bin"))
        .compile_with_config(config, &paths, &includes)?;
    Ok(())
}
