//! How a command that did not succeed is reported: text for humans, or with
//! `--output json` one JSON object on stderr, and the exit status. gRPC
//! errors keep their code and every field violation of a
//! `google.rpc.BadRequest` detail.

use crate::cli::Output;
use gantry_runtime::grpc::code_name;
use serde_json::{Value, json};
use std::process::ExitCode;
use tonic_types::StatusExt as _;

/// Exit status of any error.
pub(crate) const EXIT_ERROR: u8 = 1;
/// Exit status of a command line clap refused.
pub(crate) const EXIT_USAGE: u8 = 2;
/// Exit status of a watch whose request ended rejected, cancelled or failed.
pub(crate) const EXIT_NOT_READY: u8 = 3;
/// Exit status of a watch whose `--timeout` passed first.
pub(crate) const EXIT_TIMED_OUT: u8 = 4;
/// Exit status of a reconcile that left a difference unrepaired.
pub(crate) const EXIT_DRIFT: u8 = 5;
/// `rotation report`: at least one credential is overdue.
pub(crate) const EXIT_OVERDUE: u8 = 6;
/// `admin verify`: a blob was corrupted or missing.
pub(crate) const EXIT_CORRUPTED: u8 = 7;

/// What to do about a missing or refused token.
pub(crate) const TOKEN_HINT: &str = "set GANTRY_TOKEN or pass --token <TOKEN>; \
     an operator makes one with `gantry admin token create --subject <name> --groups <groups>`";

/// One field the server (or the parser) refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Violation {
    /// The field, as the API names it (`database_name`) or the flag.
    pub(crate) field: String,
    /// What is wrong with it.
    pub(crate) description: String,
}

/// A command that did not succeed, with everything its report shows.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    /// A gRPC code name (`INVALID_ARGUMENT`), or `NOT_READY` for a request
    /// that ended without being ready, or `DRIFT` for a reconcile that left
    /// a difference unrepaired.
    pub(crate) code: &'static str,
    /// What happened, in one line.
    pub(crate) message: String,
    /// Every refused field, when any.
    pub(crate) violations: Vec<Violation>,
    /// What the user can do about it.
    pub(crate) hint: Option<String>,
    /// The request as last seen (a watch that timed out or ended not ready).
    pub(crate) request: Option<Value>,
    /// The process's exit status.
    pub(crate) exit: u8,
}

impl Failure {
    /// A failure with just a code and a message, exit status 1.
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), violations: Vec::new(), hint: None, request: None, exit: EXIT_ERROR }
    }

    /// Adds what the user can do about it.
    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Returns the JSON object printed with `--output json`.
    pub(crate) fn to_json(&self) -> Value {
        let violations: Vec<Value> = self
            .violations
            .iter()
            .map(|violation| json!({"field": violation.field, "description": violation.description}))
            .collect();
        let mut object = json!({"code": self.code, "message": self.message, "field_violations": violations});
        if let Some(hint) = &self.hint {
            object["hint"] = json!(hint);
        }
        if let Some(request) = &self.request {
            object["request"] = request.clone();
        }
        object
    }

    /// Returns the text printed for humans.
    pub(crate) fn to_text(&self) -> String {
        let mut text = format!("error: {} ({})", self.message, self.code);
        for violation in &self.violations {
            text.push_str(&format!("\n  {}: {}", violation.field, violation.description));
        }
        if let Some(hint) = &self.hint {
            text.push_str(&format!("\nhint: {hint}"));
        }
        text
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for Failure {}

impl From<tonic::Status> for Failure {
    fn from(status: tonic::Status) -> Self {
        let violations = status
            .get_details_bad_request()
            .map(|bad_request| {
                bad_request
                    .field_violations
                    .into_iter()
                    .map(|violation| Violation { field: violation.field, description: violation.description })
                    .collect()
            })
            .unwrap_or_default();
        let message = match status.message() {
            "" => format!("the server answered {}", code_name(status.code())),
            message => message.to_owned(),
        };
        let failure = Self { violations, ..Self::new(code_name(status.code()), message) };
        match status.code() {
            tonic::Code::Unauthenticated => failure.with_hint(format!("the server refused the token: {TOKEN_HINT}")),
            tonic::Code::PermissionDenied => {
                failure.with_hint("the token's groups do not allow this; see the approval policy")
            }
            _ => failure,
        }
    }
}

/// Turns any error into a failure: one already made keeps its code; any
/// other (a connection that failed, a bad file) is `UNKNOWN` with its
/// whole cause chain as the message.
pub(crate) fn from_error(error: anyhow::Error) -> Failure {
    match error.downcast::<Failure>() {
        Ok(failure) => failure,
        Err(error) => match error.downcast::<tonic::Status>() {
            Ok(status) => status.into(),
            Err(error) => Failure::new("UNKNOWN", format!("{error:#}")),
        },
    }
}

/// Prints the failure on stderr in the chosen format and returns its exit status.
pub(crate) fn report(failure: &Failure, output: Output) -> ExitCode {
    match output {
        Output::Json => eprintln!("{}", failure.to_json()),
        Output::Table => eprintln!("{}", failure.to_text()),
    }
    ExitCode::from(failure.exit)
}

/// Reports a command line clap refused. Help and version go to stdout as
/// usual; with `--output json` among the arguments, a usage error is a
/// JSON object too (the argument and why in `field_violations`).
pub(crate) fn report_usage(error: &clap::Error, arguments: &[std::ffi::OsString]) -> ExitCode {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let arguments: Vec<String> = arguments.iter().map(|argument| argument.to_string_lossy().into_owned()).collect();
    let wants_json = arguments.windows(2).any(|pair| pair[0] == "--output" && pair[1] == "json")
        || arguments.iter().any(|argument| argument == "--output=json");
    if !wants_json || matches!(error.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        error.exit();
    }
    let rendered = error.render().to_string();
    let message = rendered.lines().next().unwrap_or_default().trim_start_matches("error: ").to_owned();
    let mut failure = Failure { exit: EXIT_USAGE, ..Failure::new("INVALID_ARGUMENT", message.clone()) };
    if let Some(ContextValue::String(argument)) = error.get(ContextKind::InvalidArg) {
        let valid = match error.get(ContextKind::ValidValue) {
            Some(ContextValue::Strings(values)) => format!("; one of {}", values.join(", ")),
            _ => String::new(),
        };
        let flag = argument.split(' ').next().unwrap_or(argument).to_owned();
        failure.violations.push(Violation { field: flag, description: format!("{message}{valid}") });
    }
    report(&failure, Output::Json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::ErrorDetails;

    #[test]
    fn a_bad_request_keeps_every_violation() {
        let mut details = ErrorDetails::new();
        details.add_bad_request_violation("database_name", "must match ^[a-z][a-z0-9_]*$");
        details.add_bad_request_violation("owner", "required");
        let status = tonic::Status::with_error_details(tonic::Code::InvalidArgument, "invalid request", details);
        let failure = Failure::from(status);
        let json = failure.to_json();
        assert_eq!(json["code"], "INVALID_ARGUMENT");
        assert_eq!(json["message"], "invalid request");
        assert_eq!(json["field_violations"][1]["field"], "owner");
        assert!(failure.to_text().contains("\n  database_name: must match"));
    }

    #[test]
    fn unauthenticated_says_how_to_get_a_token() {
        let failure = Failure::from(tonic::Status::unauthenticated("unknown token"));
        assert!(failure.to_text().contains("gantry admin token create"), "{}", failure.to_text());
        assert_eq!(failure.to_json()["field_violations"], json!([]));
    }

    #[test]
    fn any_error_becomes_a_failure() {
        let failure = from_error(anyhow::anyhow!("no route").context("connecting to http://x"));
        assert_eq!((failure.code, failure.message.as_str()), ("UNKNOWN", "connecting to http://x: no route"));
        let failure = from_error(anyhow::Error::new(Failure::new("NOT_FOUND", "gone")));
        assert_eq!(failure.code, "NOT_FOUND");
    }
}
