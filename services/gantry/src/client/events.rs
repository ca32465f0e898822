//! `gantry events watch`: follows console's `EventService/Watch`, one line
//! per event (or JSON lines), resuming after the last sequence printed
//! when the stream ends early.

use super::events_client;
use crate::cli::{ClientArgs, EventsCommand, EventsWatchArgs, Output};
use crate::failure::Failure;
use gantry_proto::events::{WatchRequest, WatchResponse, watch_request};
use std::io::Write as _;
use std::time::Duration;

/// Watches in a row that may end before a printed event before it gives up.
const RESUMES: u32 = 5;

/// Runs a `gantry events` command.
pub(crate) async fn events(args: &ClientArgs, command: EventsCommand) -> anyhow::Result<()> {
    match command {
        EventsCommand::Watch(watch) => run_watch(args, watch).await,
    }
}

fn request(args: &EventsWatchArgs, resume_from: Option<u64>) -> WatchRequest {
    let start = match (resume_from, args.from, args.since) {
        (Some(sequence), _, _) | (None, Some(sequence), _) => Some(watch_request::Start::FromSequence(sequence)),
        (None, None, Some(since)) => Some(watch_request::Start::Since(since.into())),
        (None, None, None) => None,
    };
    WatchRequest {
        start,
        event_types: args.event_types.clone(),
        aggregate_types: args.aggregate_types.clone(),
        environments: args.environments.clone(),
        tenants: args.tenants.clone(),
    }
}

/// One event as a line for people.
pub(crate) fn line(event: &WatchResponse) -> String {
    let envelope = event.envelope.clone().unwrap_or_default();
    let time = envelope.occurred_at.map(|time| time.to_string()).unwrap_or_default();
    let scope = match (event.environment.as_str(), event.tenant.as_str()) {
        ("", "") => "-".to_owned(),
        (environment, "") => environment.to_owned(),
        ("", tenant) => format!("tenant:{tenant}"),
        (environment, tenant) => format!("{environment} tenant:{tenant}"),
    };
    let actor = envelope.actor.map(|actor| actor.subject).filter(|subject| !subject.is_empty());
    format!(
        "{:>8}  {time}  {:<40}  {}/{}  {scope}  {}",
        event.sequence,
        envelope.event_type,
        envelope.aggregate_type,
        envelope.aggregate_id,
        actor.unwrap_or_else(|| "-".into())
    )
}

async fn run_watch(args: &ClientArgs, watch: EventsWatchArgs) -> anyhow::Result<()> {
    let mut client = events_client(args).await?;
    let mut last: Option<u64> = None;
    let mut printed: u64 = 0;
    let mut fruitless = 0;
    loop {
        let message = request(&watch, last.map(|sequence| sequence + 1));
        let mut stream = client.watch(message).await?.into_inner();
        let before = last;
        let ended = loop {
            match stream.message().await {
                Ok(Some(event)) => {
                    let text = match args.output {
                        Output::Json => gantry_console::event_json(&event).to_string(),
                        Output::Table => line(&event),
                    };
                    let mut stdout = std::io::stdout().lock();
                    // A closed pipe (`| head`) ends the watch quietly.
                    if writeln!(stdout, "{text}").and_then(|()| stdout.flush()).is_err() {
                        return Ok(());
                    }
                    last = Some(event.sequence);
                    printed += 1;
                    if watch.limit.is_some_and(|limit| printed >= limit) {
                        return Ok(());
                    }
                }
                Ok(None) => break None,
                Err(status) if matches!(status.code(), tonic::Code::ResourceExhausted | tonic::Code::Unavailable) => {
                    break Some(status);
                }
                Err(status) => return Err(status.into()),
            }
        };
        fruitless = if last == before { fruitless + 1 } else { 0 };
        if fruitless >= RESUMES {
            let why = ended.map_or("the server ended it".to_owned(), |status| status.message().to_owned());
            return Err(Failure::new("UNAVAILABLE", format!("the watch keeps ending: {why}")).into());
        }
        tokio::time::sleep(Duration::from_millis(200 * u64::from(fruitless))).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gantry_proto::events::Envelope;
    use gantry_proto::types::Principal;

    #[test]
    fn a_line_shows_sequence_time_type_aggregate_scope_and_actor() {
        let event = WatchResponse {
            sequence: 42,
            environment: "prod".into(),
            envelope: Some(Envelope {
                event_type: "intake.request_rejected.v1".into(),
                aggregate_type: "request".into(),
                aggregate_id: "r1".into(),
                occurred_at: Some(prost_types::Timestamp { seconds: 1_800_000_000, nanos: 0 }),
                actor: Some(Principal { subject: "bob".into(), groups: vec![] }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let text = line(&event);
        assert!(text.starts_with("      42  2027-01-15T08:00:00Z  intake.request_rejected.v1"), "{text}");
        assert!(text.ends_with("request/r1  prod  bob"), "{text}");
    }

    #[test]
    fn a_resume_starts_after_the_last_sequence_printed() {
        let args = EventsWatchArgs {
            from: Some(3),
            since: None,
            event_types: vec!["intake.request_rejected.v1".into()],
            aggregate_types: vec![],
            environments: vec!["prod".into()],
            tenants: vec![],
            limit: None,
        };
        assert_eq!(request(&args, None).start, Some(watch_request::Start::FromSequence(3)));
        let resumed = request(&args, Some(10));
        assert_eq!(resumed.start, Some(watch_request::Start::FromSequence(10)));
        assert_eq!(resumed.environments, ["prod"]);
    }
}
