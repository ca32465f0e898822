//! `read_log`: one reader's cursor over the whole log, from a sequence, a
//! time or the next event, through one subject filter.

use futures::StreamExt as _;
use gantry_eventlog::{Decoded, EventLog, ExpectedSequence, NewEvent, StartAt, StreamSettings, read_log};
use gantry_proto::events::RequestRejected;
use gantry_proto::events::envelope::Payload;
use gantry_proto::types::Principal;
use gantry_testkit::{TestEnv, within};
use std::time::{Duration, SystemTime};

async fn open(env: &TestEnv) -> EventLog {
    let settings = StreamSettings {
        name: env.stream_name.clone(),
        subject_prefix: env.subject_prefix.clone(),
        ..StreamSettings::default()
    };
    EventLog::open(env.nats.clone(), settings).await.expect("stream")
}

async fn append(log: &EventLog, aggregate_type: &'static str, id: &str) -> u64 {
    let event = NewEvent {
        aggregate_type,
        aggregate_id: id.to_owned(),
        payload: Payload::RequestRejected(RequestRejected { reason: id.to_owned() }),
        actor: Principal { subject: "tester".into(), groups: vec![] },
        correlation_id: String::new(),
        causation_id: String::new(),
    };
    log.append(event, ExpectedSequence::Any).await.expect("appended").sequence
}

async fn next_sequences(
    entries: &mut futures::stream::BoxStream<'static, gantry_eventlog::LogEntry>,
    count: usize,
) -> Vec<u64> {
    let mut sequences = Vec::new();
    for _ in 0..count {
        let entry = within("the next entry", entries.next()).await.expect("the reader goes on");
        assert!(matches!(entry.decode(), Decoded::Known(_)));
        sequences.push(entry.sequence);
    }
    sequences
}

#[tokio::test]
async fn a_reader_starts_at_a_sequence_a_time_or_the_next_event_through_one_filter() {
    let env = TestEnv::new().await.unwrap();
    let log = open(&env).await;
    let everything = format!("{}.>", env.subject_prefix);
    let first = append(&log, "request", "a").await;
    let second = append(&log, "run", "b").await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let since = SystemTime::now();
    let third = append(&log, "request", "c").await;

    let mut from_second = read_log(log.clone(), everything.clone(), StartAt::Sequence(second));
    assert_eq!(next_sequences(&mut from_second, 2).await, [second, third]);
    let mut from_start = read_log(log.clone(), everything.clone(), StartAt::Sequence(0));
    assert_eq!(next_sequences(&mut from_start, 3).await, [first, second, third]);
    let mut requests = read_log(log.clone(), log.settings().subjects_of("request"), StartAt::Sequence(1));
    assert_eq!(next_sequences(&mut requests, 2).await, [first, third], "one aggregate type's subjects");
    let mut from_time = read_log(log.clone(), everything.clone(), StartAt::Time(since));
    assert_eq!(next_sequences(&mut from_time, 1).await, [third]);

    // From the next event: what is there already is not read, what comes is.
    let mut next = read_log(log.clone(), everything, StartAt::Next);
    let poll = tokio::time::timeout(Duration::from_millis(300), next.next()).await;
    assert!(poll.is_err(), "nothing before the next append");
    let fourth = append(&log, "request", "d").await;
    assert_eq!(next_sequences(&mut next, 1).await, [fourth]);
    assert_eq!(next_sequences(&mut from_second, 1).await, [fourth], "earlier readers follow live too");
    env.cleanup().await.unwrap();
}
