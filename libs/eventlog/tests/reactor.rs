//! Reactors against a real JetStream and Postgres: a small reactor whose
//! effect is a file holding a random value made on first creation (like a
//! password), killed at each point between receiving, acting and recording;
//! retries and give-up of a failing trigger that blocks no other; two
//! replicas; recording after the de-duplication window; scheduled work.

use futures::future::BoxFuture;
use gantry_eventlog::envelope::NewEvent;
use gantry_eventlog::reactor::{self, ReactorFaultInjected, WorkRow, WorkState, recording_id};
use gantry_eventlog::{
    EventLog, ExpectedSequence, ReactContext, ReactError, Reactor, ReactorFault, ReactorOptions, ReactorRunner,
    RecordedEvent, StreamSettings, Work,
};
use gantry_proto::events::envelope::Payload;
use gantry_proto::events::{ProvisioningFailed, RequestCancelled, RequestRejected, ResourceProvisioned};
use gantry_proto::types::Principal;
use gantry_testkit::{TestEnv, wait_until, within};
use sqlx::PgPool;
use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use uuid::Uuid;

const NAME: &str = "files";

/// Makes one file per work key holding a random value created the first
/// time (reused afterwards), and records it as `ResourceProvisioned` on the
/// key's request subject. Keys starting with `poison` fail retryably,
/// `fatal` fails for good.
#[derive(Debug)]
struct FileReactor {
    filter: String,
    directory: PathBuf,
    /// How long each effect takes.
    pause: Duration,
    /// How often `react` was called, per key.
    reacts: Mutex<HashMap<String, u32>>,
    /// How often a file was created, per key.
    creations: Mutex<HashMap<String, u32>>,
    /// When `react` first ran, per key.
    first_run: Mutex<HashMap<String, SystemTime>>,
    /// Effects of each key running now, and how often two ran at once.
    running: Mutex<(HashMap<String, u32>, u32)>,
}

impl FileReactor {
    fn new(env: &TestEnv, log: &EventLog) -> Arc<Self> {
        Arc::new(Self {
            filter: log.settings().subjects_of("request"),
            directory: env.directory.join("effects"),
            pause: Duration::ZERO,
            reacts: Mutex::default(),
            creations: Mutex::default(),
            first_run: Mutex::default(),
            running: Mutex::default(),
        })
    }

    fn reacts(&self, key: &str) -> u32 {
        self.reacts.lock().unwrap().get(key).copied().unwrap_or(0)
    }

    fn creations(&self, key: &str) -> u32 {
        self.creations.lock().unwrap().get(key).copied().unwrap_or(0)
    }

    fn value(&self, key: &str) -> Option<String> {
        std::fs::read_to_string(self.directory.join(key)).ok()
    }

    /// The effect: create the file with a fresh random value, or reuse it.
    fn ensure_file(&self, key: &str) -> std::io::Result<String> {
        std::fs::create_dir_all(&self.directory)?;
        let path = self.directory.join(key);
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut file) => {
                let value = Uuid::new_v4().simple().to_string();
                file.write_all(value.as_bytes())?;
                file.sync_all()?;
                *self.creations.lock().unwrap().entry(key.to_owned()).or_default() += 1;
                Ok(value)
            }
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => std::fs::read_to_string(&path),
            Err(error) => Err(error),
        }
    }
}

fn on_request(key: &str, payload: Payload) -> NewEvent {
    NewEvent {
        aggregate_type: "request",
        aggregate_id: key.to_owned(),
        payload,
        actor: Principal { subject: "reactor".into(), groups: vec![] },
        correlation_id: String::new(),
        causation_id: String::new(),
    }
}

impl Reactor for FileReactor {
    fn name(&self) -> &str {
        NAME
    }

    fn filter_subject(&self) -> String {
        self.filter.clone()
    }

    fn select(&self, event: &RecordedEvent) -> Option<String> {
        matches!(event.payload(), Some(Payload::RequestRejected(_))).then(|| event.envelope.aggregate_id.clone())
    }

    fn react<'a>(&'a self, work: &'a Work, context: &'a ReactContext) -> BoxFuture<'a, Result<(), ReactError>> {
        Box::pin(async move {
            *self.reacts.lock().unwrap().entry(work.key.clone()).or_default() += 1;
            self.first_run.lock().unwrap().entry(work.key.clone()).or_insert_with(SystemTime::now);
            {
                let (running, overlaps) = &mut *self.running.lock().unwrap();
                let now = running.entry(work.key.clone()).or_default();
                *now += 1;
                if *now > 1 {
                    *overlaps += 1;
                }
            }
            tokio::time::sleep(self.pause).await;
            *self.running.lock().unwrap().0.entry(work.key.clone()).or_default() -= 1;
            if work.key.starts_with("poison") {
                return Err(ReactError::retryable("poisoned"));
            }
            if work.key == "fatal" {
                return Err(ReactError::permanent("refused for good"));
            }
            self.ensure_file(&work.key).map_err(|error| ReactError::retryable(format!("writing the file: {error}")))?;
            context.step("file written")?;
            let provisioned = ResourceProvisioned { secret_path: format!("files/{}", work.key) };
            context.record("provisioned", on_request(&work.key, Payload::ResourceProvisioned(provisioned))).await?;
            Ok(())
        })
    }

    fn gave_up(&self, work: &Work, error: &ReactError) -> Option<NewEvent> {
        let reason = format!("{}{}", if error.retryable { "retryable: " } else { "" }, error.reason);
        Some(on_request(
            &work.key,
            Payload::ProvisioningFailed(ProvisioningFailed { reason, retryable: error.retryable }),
        ))
    }
}

async fn open(env: &TestEnv, duplicate_window_secs: u64) -> EventLog {
    let settings = StreamSettings {
        name: env.stream_name.clone(),
        subject_prefix: env.subject_prefix.clone(),
        duplicate_window_secs,
        ..StreamSettings::default()
    };
    EventLog::open(env.nats.clone(), settings).await.expect("stream")
}

/// Appends the event that triggers work for `key`.
async fn trigger(log: &EventLog, key: &str) -> RecordedEvent {
    let mut event = on_request(key, Payload::RequestRejected(RequestRejected { reason: "go".into() }));
    event.correlation_id = format!("corr-{key}");
    event.causation_id = format!("cmd-{key}");
    let appended = log.append(event, ExpectedSequence::Any).await.unwrap();
    RecordedEvent { sequence: appended.sequence, subject: log.subject("request", key), envelope: appended.envelope }
}

fn options() -> ReactorOptions {
    ReactorOptions {
        concurrency: 2,
        max_attempts: 3,
        backoff_base: Duration::from_millis(100),
        backoff_cap: Duration::from_secs(1),
        lease: Duration::from_millis(1500),
        poll_interval: Duration::from_millis(50),
        ..ReactorOptions::default()
    }
}

/// A runner on its own task, and the switch that stops it.
struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    fn start(log: &EventLog, pool: &PgPool, reactor: &Arc<FileReactor>, options: ReactorOptions) -> Self {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let runner = ReactorRunner::new(log.clone(), pool.clone(), reactor.clone(), options);
        let task = tokio::spawn(runner.run(async move {
            let _ = stopped.await;
        }));
        Self { stop, task }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        within("the runner's stop", self.task).await.unwrap().unwrap();
    }
}

/// A pool on the test's schema with the work table in it.
async fn pool(env: &TestEnv) -> PgPool {
    let pool = env.pool().await.unwrap();
    reactor::install(&pool).await.unwrap();
    pool
}

async fn work(pool: &PgPool) -> Vec<WorkRow> {
    reactor::list_work(pool, NAME).await.unwrap()
}

async fn state_of(pool: &PgPool, key: &str) -> Option<WorkState> {
    work(pool).await.into_iter().find(|row| row.key == key).map(|row| row.state)
}

async fn wait_for_state(pool: &PgPool, keys: &[&str], state: WorkState) {
    let reached = wait_until(Duration::from_secs(30), || async {
        let rows = work(pool).await;
        Ok(keys.iter().all(|key| rows.iter().any(|row| row.key == *key && row.state == state)))
    })
    .await;
    if let Err(error) = reached {
        panic!("{keys:?} not {state:?}: {error}; work: {:?}", work(pool).await);
    }
}

/// The events on `key`'s request subject with a payload matching `wanted`.
async fn events_of(log: &EventLog, key: &str, wanted: fn(&Payload) -> bool) -> Vec<RecordedEvent> {
    let aggregate = log.load("request", key).await.unwrap();
    aggregate.events.into_iter().filter(|event| event.payload().is_some_and(wanted)).collect()
}

fn is_provisioned(payload: &Payload) -> bool {
    matches!(payload, Payload::ResourceProvisioned(_))
}

fn is_failed(payload: &Payload) -> bool {
    matches!(payload, Payload::ProvisioningFailed(_))
}

/// Exactly one recording of the effect of `trigger`, with the derived id,
/// the trigger's correlation and the trigger as causation.
async fn assert_recorded_once(log: &EventLog, reactor: &FileReactor, trigger: &RecordedEvent) {
    let key = &trigger.envelope.aggregate_id;
    let recorded = events_of(log, key, is_provisioned).await;
    assert_eq!(recorded.len(), 1, "{key}: {recorded:?}");
    let origin = Uuid::parse_str(&trigger.envelope.event_id).unwrap();
    assert_eq!(recorded[0].envelope.event_id, recording_id(NAME, origin, "provisioned").to_string());
    assert_eq!(recorded[0].envelope.correlation_id, format!("corr-{key}"));
    assert_eq!(recorded[0].envelope.causation_id, trigger.envelope.event_id);
    assert_eq!(reactor.creations(key), 1, "{key} was created more than once");
}

#[tokio::test]
async fn each_trigger_is_acted_on_once_and_recorded_with_a_derived_id() {
    let env = TestEnv::new().await.unwrap();
    let log = open(&env, 300).await;
    let pool = pool(&env).await;
    let reactor = FileReactor::new(&env, &log);
    let mut triggers = Vec::new();
    for key in ["a", "b", "c"] {
        triggers.push(trigger(&log, key).await);
    }
    // Not selected: no work.
    log.append(on_request("x", Payload::RequestCancelled(RequestCancelled::default())), ExpectedSequence::Any)
        .await
        .unwrap();

    let running = Running::start(&log, &pool, &reactor, options());
    wait_for_state(&pool, &["a", "b", "c"], WorkState::Done).await;
    // Work that arrives while the runner idles is taken too.
    triggers.push(trigger(&log, "d").await);
    wait_for_state(&pool, &["d"], WorkState::Done).await;
    running.stop().await;

    assert_eq!(work(&pool).await.len(), 4, "only selected events make work");
    for trigger in &triggers {
        assert_recorded_once(&log, &reactor, trigger).await;
        assert_eq!(reactor.reacts(&trigger.envelope.aggregate_id), 1);
        assert!(reactor.value(&trigger.envelope.aggregate_id).is_some());
    }
    let position = gantry_eventlog::projection::checkpoint(&pool, NAME).await.unwrap();
    assert!(position >= triggers.last().unwrap().sequence, "the position lives in Postgres: {position}");
    env.cleanup().await.unwrap();
}

/// Crashes a runner at `fault`, checks what it left, restarts it and checks
/// every trigger ends with one effect, its first value and one recording.
/// The stream forgets ids after one second, less than the lease a restarted
/// runner waits out, so a second recording is caught by the log alone.
async fn crash_and_restart(fault: ReactorFault) {
    let env = TestEnv::new().await.unwrap();
    let log = open(&env, 1).await;
    let pool = pool(&env).await;
    let reactor = FileReactor::new(&env, &log);
    let keys = ["k1", "k2", "k3"];
    let mut triggers = Vec::new();
    for key in keys {
        triggers.push(trigger(&log, key).await);
    }

    let crashing = ReactorRunner::new(
        log.clone(),
        pool.clone(),
        reactor.clone(),
        ReactorOptions { fault: Some(fault), ..options() },
    );
    let crash = within("the crashing runner", crashing.run(std::future::pending())).await.unwrap_err();
    assert!(
        matches!(crash.downcast_ref::<ReactorFaultInjected>(), Some(ReactorFaultInjected(point)) if *point == fault)
    );

    let mut values_at_crash = HashMap::new();
    let mut recorded_at_crash = Vec::new();
    for key in keys {
        if let Some(value) = reactor.value(key) {
            values_at_crash.insert(key, value);
        }
        if !events_of(&log, key, is_provisioned).await.is_empty() {
            recorded_at_crash.push(key);
        }
    }
    match fault {
        ReactorFault::AfterQueued => {
            let rows = work(&pool).await;
            assert_eq!(rows.len(), 3, "received and queued: {rows:?}");
            assert!(rows.iter().all(|row| row.state == WorkState::Pending && row.attempts == 0), "{rows:?}");
            assert!(values_at_crash.is_empty() && recorded_at_crash.is_empty());
        }
        ReactorFault::AfterEffectBeforeRecord | ReactorFault::BeforeRecord(1) | ReactorFault::AtStep(1) => {
            assert!(!values_at_crash.is_empty(), "an effect was done");
            assert!(recorded_at_crash.is_empty(), "nothing was recorded: {recorded_at_crash:?}");
        }
        ReactorFault::AfterRecordBeforeDone => {
            assert!(!recorded_at_crash.is_empty(), "an effect was recorded");
            let rows = work(&pool).await;
            assert!(rows.iter().all(|row| row.state == WorkState::Pending), "nothing marked done: {rows:?}");
        }
        ReactorFault::BeforeRecord(_) | ReactorFault::AtStep(_) => {
            unreachable!("this reactor records once and has one step per item")
        }
    }

    let running = Running::start(&log, &pool, &reactor, options());
    wait_for_state(&pool, &keys, WorkState::Done).await;
    running.stop().await;
    for trigger in &triggers {
        assert_recorded_once(&log, &reactor, trigger).await;
    }
    for (key, value) in &values_at_crash {
        assert_eq!(reactor.value(key).as_ref(), Some(value), "{key}'s value changed after the crash");
    }
    for key in &recorded_at_crash {
        assert!(reactor.reacts(key) >= 2, "{key} was acted on again after the crash, and recorded again");
    }
    env.cleanup().await.unwrap();
}

#[tokio::test]
async fn a_crash_after_queueing_loses_no_work() {
    crash_and_restart(ReactorFault::AfterQueued).await;
}

#[tokio::test]
async fn a_crash_between_effect_and_record_finishes_the_same_effect() {
    crash_and_restart(ReactorFault::AfterEffectBeforeRecord).await;
}

#[tokio::test]
async fn a_crash_at_a_step_that_records_nothing_finishes_the_same_effect() {
    crash_and_restart(ReactorFault::AtStep(1)).await;
}

#[tokio::test]
async fn a_crash_between_record_and_done_records_nothing_twice() {
    crash_and_restart(ReactorFault::AfterRecordBeforeDone).await;
}

#[tokio::test]
async fn a_failing_trigger_retries_with_backoff_gives_up_once_and_blocks_no_other() {
    let env = TestEnv::new().await.unwrap();
    let log = open(&env, 300).await;
    let pool = pool(&env).await;
    let reactor = FileReactor::new(&env, &log);
    // Retries come after at least 0.5 s and 1 s: time for the others.
    let options =
        ReactorOptions { backoff_base: Duration::from_secs(1), backoff_cap: Duration::from_secs(4), ..options() };
    let poison = trigger(&log, "poison").await;
    let fatal = trigger(&log, "fatal").await;
    let running = Running::start(&log, &pool, &reactor, options);
    wait_until(Duration::from_secs(30), || async { Ok(reactor.reacts("poison") >= 1) }).await.unwrap();

    let mut good = Vec::new();
    for key in ["g1", "g2", "g3"] {
        good.push(trigger(&log, key).await);
    }
    wait_for_state(&pool, &["g1", "g2", "g3"], WorkState::Done).await;
    assert_eq!(state_of(&pool, "poison").await, Some(WorkState::Pending), "still retrying while the others ran");
    assert!(reactor.reacts("poison") < 3);

    wait_for_state(&pool, &["poison", "fatal"], WorkState::Failed).await;
    running.stop().await;
    for trigger in &good {
        assert_recorded_once(&log, &reactor, trigger).await;
    }
    assert_eq!(reactor.reacts("poison"), 3, "max_attempts");
    assert_eq!(reactor.reacts("fatal"), 1, "a permanent error is not retried");
    let rows = work(&pool).await;
    let poison_row = rows.iter().find(|row| row.key == "poison").unwrap();
    assert_eq!(poison_row.attempts, 3);
    assert_eq!(poison_row.last_error.as_deref(), Some("poisoned"));

    for (trigger, reason) in [(&poison, "retryable: poisoned"), (&fatal, "refused for good")] {
        let key = &trigger.envelope.aggregate_id;
        let failed = events_of(&log, key, is_failed).await;
        assert_eq!(failed.len(), 1, "{key}: {failed:?}");
        let origin = Uuid::parse_str(&trigger.envelope.event_id).unwrap();
        assert_eq!(failed[0].envelope.event_id, recording_id(NAME, origin, "gave-up").to_string());
        assert_eq!(failed[0].envelope.causation_id, trigger.envelope.event_id);
        let Some(Payload::ProvisioningFailed(payload)) = failed[0].payload() else { unreachable!() };
        assert_eq!(payload.reason, reason);
        assert!(events_of(&log, key, is_provisioned).await.is_empty());
    }
    env.cleanup().await.unwrap();
}

#[tokio::test]
async fn two_replicas_run_each_item_once() {
    let env = TestEnv::new().await.unwrap();
    let log = open(&env, 300).await;
    let (first_pool, second_pool) = (pool(&env).await, pool(&env).await);
    let mut reactor = FileReactor::new(&env, &log);
    Arc::get_mut(&mut reactor).unwrap().pause = Duration::from_millis(30);
    let keys: Vec<String> = (0..20).map(|index| format!("r{index}")).collect();
    let mut triggers = Vec::new();
    for key in &keys {
        triggers.push(trigger(&log, key).await);
    }
    let options = ReactorOptions { concurrency: 3, lease: Duration::from_secs(30), ..options() };
    let first = Running::start(&log, &first_pool, &reactor, options.clone());
    let second = Running::start(&log, &second_pool, &reactor, options);
    let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    wait_for_state(&first_pool, &key_refs, WorkState::Done).await;
    first.stop().await;
    second.stop().await;
    for trigger in &triggers {
        assert_eq!(reactor.reacts(&trigger.envelope.aggregate_id), 1, "{}", trigger.envelope.aggregate_id);
        assert_recorded_once(&log, &reactor, trigger).await;
    }
    env.cleanup().await.unwrap();
}

#[tokio::test]
async fn a_recording_retried_after_the_duplicate_window_is_not_stored_twice() {
    let env = TestEnv::new().await.unwrap();
    let log = open(&env, 1).await;
    let id = Uuid::new_v4();
    let event = || on_request("late", Payload::ProvisioningStarted(Default::default()));
    let first = log.append_once(event(), id).await.unwrap();
    assert!(!first.duplicate);
    let (left, right) = tokio::join!(log.append_once(event(), id), log.append_once(event(), id));
    assert_eq!(left.unwrap().sequence, first.sequence);
    assert_eq!(right.unwrap().sequence, first.sequence);

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let late = log.append_once(event(), id).await.unwrap();
    assert!(late.duplicate);
    assert_eq!(late.sequence, first.sequence);
    assert_eq!(log.load("request", "late").await.unwrap().events.len(), 1);

    // The server alone has forgotten the id by now: a plain publish of the
    // same id is stored again (so the check above was the log's, not its).
    let envelope = event().into_envelope_with_id(id, SystemTime::now());
    let raw = log.append_envelope(log.subject("request", "late"), envelope, ExpectedSequence::Any).await.unwrap();
    assert!(!raw.duplicate && raw.sequence > first.sequence);
    env.cleanup().await.unwrap();
}

#[tokio::test]
async fn scheduled_work_waits_for_its_time_and_survives_a_restart() {
    let env = TestEnv::new().await.unwrap();
    let log = open(&env, 300).await;
    let pool = pool(&env).await;
    let reactor = FileReactor::new(&env, &log);
    let cause = trigger(&log, "cause").await;
    let due_later = SystemTime::now() + Duration::from_secs(3);
    assert!(reactor::schedule(&pool, NAME, "later", "1", due_later, b"rotate", Some(&cause)).await.unwrap());
    assert!(
        !reactor::schedule(&pool, NAME, "later", "1", SystemTime::now(), b"again", None).await.unwrap(),
        "once per key"
    );
    assert!(reactor::schedule(&pool, NAME, "now", "1", SystemTime::now(), b"", None).await.unwrap());

    let first = Running::start(&log, &pool, &reactor, options());
    wait_for_state(&pool, &["now", "cause"], WorkState::Done).await;
    assert!(SystemTime::now() < due_later, "the machine was too slow for this test");
    assert_eq!(reactor.reacts("later"), 0, "not run before it is due");
    first.stop().await;

    let second = Running::start(&log, &pool, &reactor, options());
    wait_for_state(&pool, &["later"], WorkState::Done).await;
    second.stop().await;
    assert_eq!(reactor.reacts("later"), 1);
    let ran = reactor.first_run.lock().unwrap()["later"];
    assert!(ran >= due_later, "ran {:?} before it was due", due_later.duration_since(ran));

    let origin =
        reactor::list_work(&pool, NAME).await.unwrap().into_iter().find(|row| row.key == "later").unwrap().origin;
    let recorded = events_of(&log, "later", is_provisioned).await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].envelope.event_id, recording_id(NAME, origin, "provisioned").to_string());
    assert_eq!(recorded[0].envelope.correlation_id, "corr-cause", "the cause's correlation");
    assert_eq!(recorded[0].envelope.causation_id, cause.envelope.event_id);
    env.cleanup().await.unwrap();
}

#[tokio::test]
async fn two_items_of_one_key_never_run_at_once_even_on_two_replicas() {
    let env = TestEnv::new().await.unwrap();
    let log = open(&env, 300).await;
    let (first_pool, second_pool) = (pool(&env).await, pool(&env).await);
    let mut reactor = FileReactor::new(&env, &log);
    Arc::get_mut(&mut reactor).unwrap().pause = Duration::from_millis(100);
    // Three triggers for each of four keys: three items a key.
    for _ in 0..3 {
        for index in 0..4 {
            trigger(&log, &format!("k{index}")).await;
        }
    }
    let options = ReactorOptions { concurrency: 4, lease: Duration::from_secs(30), ..options() };
    let first = Running::start(&log, &first_pool, &reactor, options.clone());
    let second = Running::start(&log, &second_pool, &reactor, options);
    let all_done = || async {
        let rows = work(&first_pool).await;
        Ok(rows.len() == 12 && rows.iter().all(|row| row.state == WorkState::Done))
    };
    within("every item done", wait_until(Duration::from_secs(30), all_done)).await.unwrap();
    first.stop().await;
    second.stop().await;
    for index in 0..4 {
        assert_eq!(reactor.reacts(&format!("k{index}")), 3, "each item of k{index} ran once");
    }
    assert_eq!(reactor.running.lock().unwrap().1, 0, "two effects of one key ran at once");
    env.cleanup().await.unwrap();
}
