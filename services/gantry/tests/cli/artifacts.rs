//! `gantry artifact ...` and `gantry admin verify` against a real ingest:
//! a push with lineage, reading it back whole and by range, listing, and a
//! flipped byte on disk caught by verify and refused by pull.

use crate::helpers::{Run, TestApp, spawn_with_ingest};

/// `gantry --output json artifact push FILE` as the agent, for run-42's step `prepare`.
async fn push(app: &TestApp, file: &std::path::Path, extra: &[&str]) -> Run {
    let mut args = vec!["--output", "json", "artifact", "push", file.to_str().unwrap()];
    args.extend(["--tenant", "team-ml", "--run", "run-42", "--step", "prepare", "--chunk-bytes", "65536"]);
    args.extend(extra);
    app.gantry(Some("agent"), &args).await
}

#[tokio::test]
async fn push_pull_stat_ls_and_verify_catch_a_flipped_byte() {
    let app = spawn_with_ingest().await;
    let directory = app.directory().to_path_buf();
    let input_file = directory.join("features.csv");
    let bytes: Vec<u8> =
        (0..3 * 1024 * 1024 + 17).map(|index: u32| (index.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    std::fs::write(&input_file, &bytes).unwrap();
    let first = push(&app, &input_file, &[]).await;
    assert_eq!(first.code, Some(0), "{first:?}");
    let stored = first.json();
    let input_id = stored["artifact_id"].as_str().unwrap().to_owned();
    assert_eq!(stored["size_bytes"], bytes.len());
    assert_eq!(stored["already_stored"], false);
    assert_eq!(stored["name"], "features.csv");
    let sequence = stored["write_sequence"].to_string();

    let report = directory.join("report.html");
    std::fs::write(&report, b"<h1>accuracy 0.93</h1>").unwrap();
    let second =
        push(&app, &report, &["--input", &input_id, "--min-sequence", &sequence, "--media-type", "text/html"]).await;
    assert_eq!(second.code, Some(0), "{second:?}");
    let report_id = second.json()["artifact_id"].as_str().unwrap().to_owned();
    // Reads below wait for the view to hold both uploads (a loaded machine
    // may apply them after the answer).
    let written = second.json()["write_sequence"].to_string();
    let missing = push(&app, &report, &["--input", "0190c0de-0000-7000-8000-000000000000"]).await;
    assert_eq!(missing.code, Some(1), "{missing:?}");
    assert_eq!(missing.error_json()["code"], "FAILED_PRECONDITION", "{missing:?}");

    let stat = app.gantry(Some("agent"), &["artifact", "stat", &report_id, "--min-sequence", &written]).await;
    assert_eq!(stat.code, Some(0), "{stat:?}");
    assert!(stat.stdout.contains(&input_id) && stat.stdout.contains("text/html"), "{stat:?}");

    let pulled = directory.join("pulled.csv");
    let pull = app.gantry(Some("agent"), &["artifact", "pull", &input_id, "-o", pulled.to_str().unwrap()]).await;
    assert_eq!(pull.code, Some(0), "{pull:?}");
    assert!(std::fs::read(&pulled).unwrap() == bytes, "the bytes come back whole");
    let again = app.gantry(Some("agent"), &["artifact", "pull", &input_id, "-o", pulled.to_str().unwrap()]).await;
    assert_eq!(again.code, Some(1), "an existing file is kept without --force: {again:?}");
    let range = app.gantry(Some("agent"), &["artifact", "pull", &report_id, "--range", "4-11"]).await;
    assert_eq!((range.code, range.stdout.as_str()), (Some(0), "accuracy"), "{range:?}");

    let listed = app
        .gantry(Some("agent"), &["--output", "json", "artifact", "ls", "--tenant", "team-ml", "--run", "run-42"])
        .await;
    assert_eq!(listed.json()["artifacts"].as_array().unwrap().len(), 2, "{listed:?}");
    let foreign = app.gantry(Some("alice"), &["artifact", "stat", &report_id]).await;
    assert!(foreign.stderr.contains("NOT_FOUND"), "another tenant sees nothing: {foreign:?}");

    let layout = app
        .gantry(
            Some("agent"),
            &["--output", "json", "artifact", "complete", "run-42", "--tenant", "team-ml", "--min-sequence", &written],
        )
        .await;
    assert_eq!(layout.code, Some(0), "{layout:?}");
    let files: Vec<String> = layout.json()["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|file| file["key"].as_str().unwrap().to_owned())
        .collect();
    assert!(files.iter().any(|key| key.ends_with("team-ml/runs/run-42/metadata.json")), "{files:?}");
    assert!(files.iter().any(|key| key.ends_with("steps/prepare/outputs/manifest.json")), "{files:?}");
    let outputs =
        walk(&directory.join("blobs")).into_iter().find(|path| path.ends_with("steps/prepare/outputs/manifest.json"));
    let manifest = std::fs::read_to_string(outputs.expect("the outputs manifest on disk")).unwrap();
    assert!(manifest.contains(&input_id) && manifest.contains(&report_id), "{manifest}");

    let verified = app.gantry(Some("carol"), &["--output", "json", "admin", "verify"]).await;
    assert_eq!(verified.code, Some(0), "{verified:?}");
    assert_eq!(verified.json()["corrupted"], 0);

    // Flip one byte of the stored blob on disk.
    let sha = stored["sha256"].as_str().unwrap();
    let blob = walk(&directory.join("blobs")).into_iter().find(|path| path.ends_with(sha)).expect("the blob's file");
    let mut on_disk = std::fs::read(&blob).unwrap();
    on_disk[1000] ^= 0x01;
    std::fs::write(&blob, on_disk).unwrap();
    let caught = app.gantry(Some("carol"), &["admin", "verify"]).await;
    assert_eq!(caught.code, Some(7), "{caught:?}");
    assert!(caught.stdout.contains(sha), "{caught:?}");
    let refused = directory.join("refused.csv");
    let bad = app.gantry(Some("agent"), &["artifact", "pull", &input_id, "-o", refused.to_str().unwrap()]).await;
    assert!(bad.stderr.contains("DATA_LOSS"), "{bad:?}");
    assert!(!refused.exists(), "no file from a corrupted blob");
    app.cleanup().await;
}

fn walk(directory: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(directory).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() { found.extend(walk(&path)) } else { found.push(path) }
    }
    found
}
