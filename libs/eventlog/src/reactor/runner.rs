//! [`ReactorRunner`]: the queue (a projection runner feeding the work
//! table) and the workers (claiming due work under a lease, running the
//! effect, retrying with backoff, giving up), together until shutdown.

use crate::backoff::{self, Failures};
use crate::log::EventLog;
use crate::reactor::context::ReactContext;
use crate::reactor::queue::Queue;
use crate::reactor::store::{self, Claimed, Finish};
use crate::reactor::{ReactError, Reactor, ReactorFault, ReactorOptions, Work};
use crate::runner::{FaultInjected, FaultPoint, ProjectionRunner, RunnerOptions};
use crate::trace;
use anyhow::Context as _;
use sqlx::PgPool;
use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tracing::Instrument as _;
use uuid::Uuid;

/// Why a reactor runner stopped on purpose (a test's simulated crash).
#[derive(Debug, thiserror::Error)]
#[error("fault injected at {0:?}")]
pub struct ReactorFaultInjected(pub ReactorFault);

/// Runs one [`Reactor`]: its queue and its workers.
#[derive(Debug)]
pub struct ReactorRunner<R> {
    log: EventLog,
    pool: PgPool,
    reactor: Arc<R>,
    options: ReactorOptions,
    /// This runner's lease owner id.
    owner: Uuid,
    /// Wakes the workers when the queue took new work.
    wake: Arc<Notify>,
}

impl<R: Reactor> ReactorRunner<R> {
    /// Creates a runner; nothing happens until [`run`](Self::run).
    pub fn new(log: EventLog, pool: PgPool, reactor: Arc<R>, mut options: ReactorOptions) -> Self {
        // A zero lease would be lost at once, a zero poll would spin.
        options.lease = options.lease.max(Duration::from_millis(100));
        options.poll_interval = options.poll_interval.max(Duration::from_millis(10));
        options.max_attempts = options.max_attempts.max(1);
        Self { log, pool, reactor, options, owner: Uuid::new_v4(), wake: Arc::new(Notify::new()) }
    }

    /// Runs until `shutdown` resolves, then lets the items in flight finish.
    ///
    /// Transient failures (Postgres or NATS down) never end it: they are
    /// logged at warn with a count and retried after a capped, jittered
    /// pause. It returns an error only for an injected fault.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
        // Shared with the tasks that run the effects.
        let this = Arc::new(self);
        let (stop, stopped) = watch::channel(false);
        let work = async {
            let this = &this;
            this.install(stopped.clone()).await;
            if this.options.fault == Some(ReactorFault::AfterQueued) {
                // Receive only: the crash comes after work was queued and
                // before anything acted on it.
                let _ = stopped.clone().wait_for(|stop| *stop).await;
                return Ok(());
            }
            Self::work(this, stopped.clone()).await
        };
        let intake = async {
            this.install(stopped.clone()).await;
            this.intake(stopped.clone()).await
        };
        tokio::pin!(shutdown, work, intake);
        tokio::select! {
            _ = &mut shutdown => {}
            end = &mut work => return end,
            end = &mut intake => return end,
        }
        stop.send_replace(true);
        let (worked, taken) = tokio::join!(work, intake);
        worked.and(taken)
    }

    /// Creates the tables, retrying until it works or the runner stops.
    async fn install(&self, mut stopped: watch::Receiver<bool>) {
        let mut failures = Failures::default();
        while !*stopped.borrow() {
            let error = match store::install(&self.pool).await {
                Ok(()) => return,
                Err(error) => error,
            };
            let (count, pause) = failures.record();
            tracing::warn!(
                reactor = self.reactor.name(),
                failures = count,
                error = format!("{error:#}"),
                "installing the work table failed; retrying"
            );
            let _ = tokio::time::timeout(pause, stopped.changed()).await;
        }
    }

    /// Runs the queue's projection runner, again after each failure.
    async fn intake(&self, mut stopped: watch::Receiver<bool>) -> anyhow::Result<()> {
        let name = self.reactor.name();
        let queue = Arc::new(Queue { reactor: self.reactor.clone() });
        let fault = (self.options.fault == Some(ReactorFault::AfterQueued)).then_some(FaultPoint::AfterCommitBeforeAck);
        let options = RunnerOptions {
            batch_size: self.options.batch_size.max(1),
            stop_when_caught_up: false,
            wait_for_leadership: true,
            fault,
        };
        let mut failures = Failures::default();
        loop {
            if *stopped.borrow() {
                return Ok(());
            }
            let runner = ProjectionRunner::new(self.log.clone(), self.pool.clone(), queue.clone(), options.clone());
            let mut checkpoints = runner.checkpoints();
            let wake = self.wake.clone();
            let forward = async move {
                while checkpoints.changed().await.is_ok() {
                    wake.notify_one();
                }
                std::future::pending::<()>().await
            };
            let mut until_stopped = stopped.clone();
            let run = runner.run(async move {
                let _ = until_stopped.wait_for(|stop| *stop).await;
            });
            let outcome = tokio::select! {
                outcome = run => outcome,
                _ = forward => unreachable!("forwarding never ends"),
            };
            let error = match outcome {
                Ok(_) => return Ok(()),
                Err(error) if error.is::<FaultInjected>() => {
                    return Err(ReactorFaultInjected(ReactorFault::AfterQueued).into());
                }
                Err(error) => error,
            };
            let (count, pause) = failures.record();
            tracing::warn!(
                reactor = name,
                failures = count,
                error = format!("{error:#}"),
                "reactor queue stopped; restarting"
            );
            let _ = tokio::time::timeout(pause, stopped.changed()).await;
        }
    }

    /// Claims and runs due work until stopped, then finishes what runs.
    /// Each item's effect runs on a task of its own, so it keeps moving
    /// while this loop waits on Postgres (claims, lease renewals).
    async fn work(self: &Arc<Self>, mut stopped: watch::Receiver<bool>) -> anyhow::Result<()> {
        let name = self.reactor.name();
        let concurrency = self.options.concurrency.max(1);
        let mut running: JoinSet<(i64, anyhow::Result<()>)> = JoinSet::new();
        let mut held = HashSet::new();
        let mut stopping = *stopped.borrow();
        let mut failures = Failures::default();
        let mut next_claim = tokio::time::Instant::now();
        let mut renewal = tokio::time::interval(self.options.lease / 3);
        renewal.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut gauge = tokio::time::interval(Duration::from_secs(1));
        gauge.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if stopping && running.is_empty() {
                return Ok(());
            }
            let free = concurrency - running.len();
            if !stopping && free > 0 && tokio::time::Instant::now() >= next_claim {
                match store::claim(&self.pool, name, self.owner, self.options.lease, free).await {
                    Ok(claimed) => {
                        failures.reset();
                        let full = claimed.len() == free;
                        for item in claimed {
                            let id = item.work.id;
                            held.insert(id);
                            let this = self.clone();
                            running.spawn(async move { (id, this.process(item).await) });
                        }
                        let pause = if full { Duration::ZERO } else { self.options.poll_interval };
                        next_claim = tokio::time::Instant::now() + pause;
                    }
                    Err(error) => {
                        let (count, pause) = failures.record();
                        tracing::warn!(
                            reactor = name,
                            failures = count,
                            error = format!("{error:#}"),
                            "claiming work failed; retrying"
                        );
                        next_claim = tokio::time::Instant::now() + pause;
                    }
                }
            }
            let can_claim = !stopping && running.len() < concurrency;
            tokio::select! {
                Some(joined) = running.join_next(), if !running.is_empty() => {
                    let (id, outcome) = joined.context("a reactor's effect panicked")?;
                    held.remove(&id);
                    outcome?;
                    if failures.is_clear() {
                        next_claim = tokio::time::Instant::now();
                    }
                }
                _ = self.wake.notified(), if can_claim => {
                    if failures.is_clear() {
                        next_claim = tokio::time::Instant::now();
                    }
                }
                _ = tokio::time::sleep_until(next_claim), if can_claim => {}
                _ = renewal.tick(), if !held.is_empty() => {
                    let ids: Vec<i64> = held.iter().copied().collect();
                    match store::renew(&self.pool, self.owner, &ids, self.options.lease).await {
                        Ok(kept) if kept.len() < ids.len() => {
                            // Another replica may run them now; finishing
                            // checks the lease, so only one records.
                            let lost: Vec<&i64> = ids.iter().filter(|id| !kept.contains(id)).collect();
                            tracing::warn!(reactor = name, ?lost, "leases lost (Postgres away longer than a lease?)");
                            metrics::counter!("reactor_leases_lost_total", "reactor" => name.to_owned())
                                .increment(lost.len() as u64);
                        }
                        Ok(_) => {}
                        Err(error) => tracing::warn!(reactor = name, error = format!("{error:#}"), "renewing leases failed"),
                    }
                }
                _ = gauge.tick() => {
                    if let Ok(depth) = store::depth(&self.pool, name).await {
                        metrics::gauge!("reactor_queue_depth", "reactor" => name.to_owned()).set(depth as f64);
                    }
                }
                changed = stopped.changed(), if !stopping => {
                    stopping = changed.is_err() || *stopped.borrow();
                }
            }
        }
    }

    /// Runs one claimed item and moves it on. Fails only for an injected fault.
    async fn process(&self, claimed: Claimed) -> anyhow::Result<()> {
        let span = self.span(&claimed.work).await;
        self.attempt(claimed).instrument(span).await
    }

    /// The span an item's attempt runs in, after the OpenTelemetry messaging
    /// conventions (a `process` span of the consumer): a child of the
    /// trigger's trace, so what the effect records (its `traceparent`)
    /// stays in the trace of the call that caused it; scheduled work, which
    /// runs long after its cause, starts a trace of its own linked to it.
    async fn span(&self, work: &Work) -> tracing::Span {
        let name = self.reactor.name();
        let (subject, message_id) = work
            .trigger
            .as_ref()
            .map_or(("", ""), |trigger| (trigger.subject.as_str(), trigger.envelope.event_id.as_str()));
        let span = tracing::info_span!(
            "reactor.process",
            otel.name = format!("process {name}"),
            otel.kind = "consumer",
            messaging.system = "nats",
            messaging.operation.type = "process",
            messaging.destination.name = subject,
            messaging.message.id = message_id,
            messaging.consumer.group.name = name,
            work.key = %work.key,
            work.attempt = work.attempt,
        );
        if let Some(trigger) = work.trigger.as_ref().filter(|_| !span.is_disabled())
            && let Some(headers) = self.log.headers_at(trigger.sequence).await
        {
            if work.scheduled {
                trace::link_from(&span, &headers);
            } else {
                trace::set_parent_from(&span, &headers);
            }
        }
        span
    }

    /// Runs one claimed item (inside its span) and moves it on.
    async fn attempt(&self, claimed: Claimed) -> anyhow::Result<()> {
        let Claimed { work, giving_up, last_error, unreadable } = claimed;
        let name = self.reactor.name();
        let context = ReactContext::new(self.log.clone(), self.pool.clone(), name, &work, self.options.fault);
        let failure = if let Some(error) = giving_up {
            Some(error)
        } else if let Some(reason) = unreadable {
            Some(ReactError::permanent(reason))
        } else if work.attempt > self.options.max_attempts {
            // Every attempt so far crashed or lost its lease before it ended.
            let reason = last_error.unwrap_or_else(|| "no attempt finished".into());
            Some(ReactError::retryable(format!("{} attempts: {reason}", self.options.max_attempts)))
        } else {
            let started = Instant::now();
            let result = self.reactor.react(&work, &context).await;
            metrics::histogram!("reactor_attempt_seconds", "reactor" => name.to_owned())
                .record(started.elapsed().as_secs_f64());
            if context.crashed() {
                let fault = self.options.fault.unwrap_or(ReactorFault::AfterEffectBeforeRecord);
                return Err(ReactorFaultInjected(fault).into());
            }
            match result {
                Ok(()) => {
                    // Only work that recorded something is "recorded, not marked
                    // done"; work that records nothing (a reactor's own
                    // bookkeeping, say its schedule) finishes as usual.
                    if self.options.fault == Some(ReactorFault::AfterRecordBeforeDone) && context.recorded_any() {
                        return Err(ReactorFaultInjected(ReactorFault::AfterRecordBeforeDone).into());
                    }
                    self.finish(&work, Finish::Done).await;
                    count(name, "done");
                    return Ok(());
                }
                Err(error) if error.retryable && work.attempt < self.options.max_attempts => {
                    let delay = backoff::delay(self.options.backoff_base, self.options.backoff_cap, work.attempt);
                    tracing::warn!(
                        reactor = name,
                        key = %work.key,
                        attempt = work.attempt,
                        max_attempts = self.options.max_attempts,
                        retry_in_ms = delay.as_millis() as u64,
                        error = %error,
                        "work failed; retrying"
                    );
                    self.finish(&work, Finish::Retry { delay, error: &error }).await;
                    count(name, "retry");
                    return Ok(());
                }
                Err(error) => Some(error),
            }
        };
        if let Some(error) = failure {
            self.give_up(&work, &context, &error).await;
        }
        Ok(())
    }

    /// Records the reactor's give-up event and marks the item failed; if
    /// recording fails, tries again later (the item stays `giving_up`).
    async fn give_up(&self, work: &Work, context: &ReactContext, error: &ReactError) {
        let name = self.reactor.name();
        tracing::warn!(reactor = name, key = %work.key, attempt = work.attempt, retryable = error.retryable, error = %error, "work failed for good");
        if !self.finish(work, Finish::GivingUp { error }).await {
            return;
        }
        let recorded = match self.reactor.gave_up(work, error) {
            Some(event) => context.record("gave-up", event).await.map(drop),
            None => Ok(()),
        };
        match recorded {
            Ok(()) => {
                if self.finish(work, Finish::Failed).await {
                    count(name, "failed");
                    metrics::counter!("reactor_work_failed_total", "reactor" => name.to_owned()).increment(1);
                }
            }
            Err(record_error) => {
                let delay = backoff::delay(self.options.backoff_base, self.options.backoff_cap, work.attempt);
                tracing::warn!(reactor = name, key = %work.key, error = %record_error, "recording the give-up failed; retrying");
                self.finish(work, Finish::GiveUpLater { delay }).await;
            }
        }
    }

    /// Stores what became of an item, retrying a few times while Postgres
    /// fails; false if that did not happen (the lease then runs out and
    /// the item is taken again: the effect is idempotent).
    async fn finish(&self, work: &Work, finish: Finish<'_>) -> bool {
        let name = self.reactor.name();
        let mut failures = Failures::default();
        loop {
            match store::finish(&self.pool, work.id, self.owner, &finish).await {
                Ok(true) => return true,
                Ok(false) => {
                    tracing::warn!(reactor = name, key = %work.key, "the item's lease was lost; another runner has it");
                    return false;
                }
                Err(error) => {
                    let (count, pause) = failures.record();
                    tracing::warn!(reactor = name, key = %work.key, failures = count, error = format!("{error:#}"), "storing a work outcome failed");
                    if count >= 5 {
                        return false;
                    }
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }
}

fn count(reactor: &str, outcome: &'static str) {
    metrics::counter!("reactor_work_total", "reactor" => reactor.to_owned(), "outcome" => outcome).increment(1);
}
