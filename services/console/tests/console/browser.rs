//! The page in a real browser: Debian's chromium, headless, driven by
//! playwright-core (`tests/browser/watch-page.mjs`). A database request
//! appended to the log (as intake appends one) must show on the page — in
//! the live events and in the pending-approval table — within a second of
//! its append; the screenshot is kept at
//! `$CARGO_TARGET_DIR/test-artifacts/console.png` (by default
//! `target/test-artifacts/console.png`).

use crate::helpers::Mesh;
use gantry_proto::types::Environment;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

fn screenshot_path() -> PathBuf {
    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap().join("test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    artifacts.join("console.png")
}

async fn line(lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>, within: Duration) -> String {
    let next = tokio::time::timeout(within, lines.next_line()).await;
    next.expect("the browser script answers in time").expect("its output").expect("a line before it ended")
}

#[tokio::test]
async fn a_request_appended_to_the_log_shows_on_the_page_within_a_second() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(Path::new(&chromium).exists(), "{chromium} is missing: run scripts/test.sh (ensure_chromium installs it)");
    assert!(
        browser_dir().join("node_modules/playwright-core").exists(),
        "playwright-core is missing: run scripts/test.sh (ensure_browser_test_deps) or `npm ci` in {}",
        browser_dir().display()
    );
    let mesh = Mesh::start(&[]).await;
    let screenshot = screenshot_path();
    let _ = std::fs::remove_file(&screenshot);
    let mut script = tokio::process::Command::new("node")
        .arg("watch-page.mjs")
        .arg(format!("http://{}/", mesh.http))
        .arg(&screenshot)
        .current_dir(browser_dir())
        .env("GANTRY_TOKEN", &mesh.tokens["bob"])
        .env("CHROMIUM", &chromium)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let mut lines = BufReader::new(script.stdout.take().unwrap()).lines();
    assert_eq!(line(&mut lines, Duration::from_secs(60)).await, "READY");

    let started = Instant::now();
    let (id, _) = mesh.request("ledger", Environment::Prod).await;
    let appended = started.elapsed();
    let mut stdin = script.stdin.take().unwrap();
    stdin.write_all(format!("{id}\n").as_bytes()).await.unwrap();
    stdin.flush().await.unwrap();
    let seen = line(&mut lines, Duration::from_secs(10)).await;
    let total = started.elapsed();
    let status = tokio::time::timeout(Duration::from_secs(30), script.wait()).await.expect("the script ends").unwrap();
    assert!(seen.starts_with("SEEN "), "the request did not show on the page within 1 s: {seen}");
    assert!(status.success(), "the browser script failed: {status}");
    assert!(screenshot.exists(), "the screenshot is kept");
    println!(
        "append→page: {seen} (from reading the id); append→seen {:.1} ms in all, of which the append {:.1} ms; screenshot {}",
        total.as_secs_f64() * 1000.0,
        appended.as_secs_f64() * 1000.0,
        screenshot.display()
    );
    mesh.cleanup().await;
}
