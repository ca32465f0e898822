//! `gantry request watch`: prints the request's status history (each change
//! with its time), then follows it, saying what it waits for, until it is
//! final (ready, rejected, cancelled, failed, decommissioned) as of the
//! log's end, or `--timeout` passes. A final status in the history does not
//! end it: a ready database may have been asked to be decommissioned since.

use crate::cli::{WatchArgs, format_duration};
use crate::client::IntakeClient;
use crate::failure::{EXIT_NOT_READY, EXIT_TIMED_OUT, Failure};
use crate::output::{Printer, is_final, request_json, status_word, waiting_for};
use futures::StreamExt as _;
use gantry_proto::intake as pb;
use std::time::Duration;

/// Follows the request until it is final; a final state other than ready
/// and a timeout are failures with their own exit statuses.
pub(crate) async fn run(client: &mut IntakeClient, args: WatchArgs, printer: Printer) -> anyhow::Result<()> {
    let mut last_seen: Option<pb::Request> = None;
    let watching = follow(client, &args.id, printer, &mut last_seen);
    let finished = match args.timeout {
        Some(timeout) => match tokio::time::timeout(timeout, watching).await {
            Ok(finished) => finished?,
            Err(_) => return Err(timed_out(&args.id, timeout, last_seen.as_ref()).into()),
        },
        None => watching.await?,
    };
    match pb::RequestStatus::try_from(finished.status) {
        Ok(pb::RequestStatus::Ready) => Ok(()),
        _ => Err(not_ready(&finished).into()),
    }
}

/// Prints every change until a final one, which it returns; `last_seen`
/// keeps the latest state for a timeout's report.
async fn follow(
    client: &mut IntakeClient,
    id: &str,
    printer: Printer,
    last_seen: &mut Option<pb::Request>,
) -> anyhow::Result<pb::Request> {
    let message = pb::WatchRequestRequest { request_id: id.to_owned() };
    let mut changes = client.watch_request(message).await?.into_inner();
    while let Some(change) = changes.next().await {
        let change = change?;
        let Some(request) = change.request else { continue };
        // Intake marks where the past ends: from there, each line says what
        // the request waits for.
        printer.watch_line(&request, change.caught_up);
        *last_seen = Some(request.clone());
        if is_final(request.status) && change.caught_up {
            return Ok(request);
        }
    }
    Err(Failure::new("UNAVAILABLE", format!("the watch of {id} ended before the request was final; watch again"))
        .into())
}

fn timed_out(id: &str, timeout: Duration, last_seen: Option<&pb::Request>) -> Failure {
    let state = match last_seen {
        Some(request) => {
            let waiting = waiting_for(request).map(|waiting| format!(", waiting for {waiting}")).unwrap_or_default();
            format!("it is {}{waiting}", status_word(request.status))
        }
        None => "its state is unknown".into(),
    };
    let message = format!("gave up on request {id} after {}: {state}", format_duration(timeout));
    Failure { request: last_seen.map(request_json), exit: EXIT_TIMED_OUT, ..Failure::new("DEADLINE_EXCEEDED", message) }
        .with_hint("watch again, or raise --timeout")
}

fn not_ready(request: &pb::Request) -> Failure {
    let mut message = format!("request {} ended {}", request.request_id, status_word(request.status));
    if !request.reason.is_empty() {
        message.push_str(&format!(": {}", request.reason));
    }
    Failure { request: Some(request_json(request)), exit: EXIT_NOT_READY, ..Failure::new("NOT_READY", message) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_names_the_state_and_what_it_waits_for() {
        let request =
            pb::Request { request_id: "r1".into(), status: pb::RequestStatus::Approved as i32, ..Default::default() };
        let failure = timed_out("r1", Duration::from_secs(600), Some(&request));
        assert_eq!((failure.code, failure.exit), ("DEADLINE_EXCEEDED", EXIT_TIMED_OUT));
        assert_eq!(failure.message, "gave up on request r1 after 10m: it is approved, waiting for provisioning");
        assert_eq!(failure.to_json()["request"]["status"], "approved");
    }
}
