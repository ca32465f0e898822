//! Starts intake for a test and runs the `gantry` binary against it.

use gantry_eventlog::{EventLog, ExpectedSequence, NewEvent, StreamSettings};
use gantry_proto::events::envelope::Payload;
use gantry_proto::types::Principal;
use gantry_runtime::ShutdownTrigger;
use gantry_testkit::TestEnv;
use std::collections::HashMap;
use std::net::SocketAddr;
use tokio::task::JoinHandle;

/// The principals a test can call as.
const PRINCIPALS: &[(&str, &[&str])] =
    &[("alice", &["developers"]), ("backstage", &["backstage"]), ("bob", &["databases-rds"])];

/// A running intake and the tokens of its principals.
pub(crate) struct TestApp {
    env: TestEnv,
    address: SocketAddr,
    tokens: HashMap<String, String>,
    log: EventLog,
    trigger: ShutdownTrigger,
    task: JoinHandle<anyhow::Result<()>>,
}

/// What one run of the binary printed and how it exited.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) code: Option<i32>,
}

impl Run {
    /// Parses stdout as one JSON value.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|error| panic!("stdout is not JSON ({error}): {self:?}"))
    }

    /// Parses stderr as one JSON value (an error with `--output json`).
    pub(crate) fn error_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stderr).unwrap_or_else(|error| panic!("stderr is not JSON ({error}): {self:?}"))
    }
}

/// Starts intake on a fresh stream, schema and port; reads that wait for a
/// sequence give up after 300 ms.
pub(crate) async fn spawn_app() -> TestApp {
    let env = TestEnv::new().await.expect("test env");
    let tokens = env.write_tokens(PRINCIPALS).expect("tokens");
    let config = env.config().with("intake.read_wait_ms", 300);
    let intake = gantry_service::build::<gantry_intake::Intake>(&config).await.expect("intake builds");
    let address = intake.local_addr();
    let (trigger, shutdown) = ShutdownTrigger::new();
    let task = tokio::spawn(intake.run(shutdown));
    let settings: StreamSettings = config.section("stream").unwrap();
    let log = EventLog::open(env.nats.clone(), settings).await.expect("log");
    TestApp { env, address, tokens, log, trigger, task }
}

impl TestApp {
    /// Runs `gantry <args>` as `subject` (a principal's token in
    /// `GANTRY_TOKEN`; `None`: no token at all).
    pub(crate) async fn gantry(&self, subject: Option<&str>, args: &[&str]) -> Run {
        let token = subject.map(|subject| self.tokens[subject].clone());
        self.gantry_with_token(token.as_deref(), args).await
    }

    /// Returns the clear token of a principal.
    pub(crate) fn token(&self, subject: &str) -> &str {
        &self.tokens[subject]
    }

    /// Runs `gantry <args>` with this `GANTRY_TOKEN` value (unset: `None`).
    pub(crate) async fn gantry_with_token(&self, token: Option<&str>, args: &[&str]) -> Run {
        let mut command = self.command(token, args);
        let output = tokio::task::spawn_blocking(move || command.output().expect("gantry runs"));
        let output = gantry_testkit::within("gantry", output).await.expect("joined");
        Run {
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            code: output.status.code(),
        }
    }

    /// Returns the command line of `gantry <args>` against this intake.
    pub(crate) fn command(&self, token: Option<&str>, args: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_gantry"));
        command.args(args).env("GANTRY_SERVER", format!("http://{}", self.address));
        for variable in ["GANTRY_TOKEN", "GANTRY_CA_FILE", "GANTRY_TLS_DOMAIN", "GANTRY_CONFIG"] {
            command.env_remove(variable);
        }
        if let Some(token) = token {
            command.env("GANTRY_TOKEN", token);
        }
        command
    }

    /// Submits a database request through the CLI and returns its JSON.
    pub(crate) async fn submit(&self, name: &str, environment: &str) -> serde_json::Value {
        let run = self
            .gantry(
                Some("backstage"),
                &[
                    "--output",
                    "json",
                    "request",
                    "db",
                    "--name",
                    name,
                    "--owner",
                    "team-orders",
                    "--requester",
                    "alice",
                    "--env",
                    environment,
                    "--domain",
                    "payments",
                    "--risk",
                    "low",
                    "--size",
                    "small",
                ],
            )
            .await;
        assert_eq!(run.code, Some(0), "{run:?}");
        run.json()
    }

    /// Appends a provisioner's event to a request, as the provisioner would.
    pub(crate) async fn provisioner_appends(&self, request_id: &str, payload: Payload) {
        let event = NewEvent {
            aggregate_type: "request",
            aggregate_id: request_id.to_owned(),
            payload,
            actor: Principal { subject: "provisioner".into(), groups: vec![] },
            correlation_id: String::new(),
            causation_id: String::new(),
        };
        self.log.append(event, ExpectedSequence::Any).await.expect("appended");
    }

    /// Stops intake and removes the test's stream, schema and files.
    pub(crate) async fn cleanup(self) {
        self.trigger.trigger();
        let result = gantry_testkit::within("intake's stop", self.task).await.expect("intake task");
        result.expect("intake stops cleanly");
        self.env.cleanup().await.expect("cleanup");
    }
}
