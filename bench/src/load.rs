//! A closed-loop load generator: `concurrency` workers each send one call,
//! wait for its answer, and send the next, for a fixed time after a warm-up.

use crate::cpu::CpuSample;
use hdrhistogram::Histogram;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What one load run measured.
#[derive(Debug)]
pub(crate) struct LoadReport {
    pub(crate) label: String,
    pub(crate) concurrency: usize,
    pub(crate) calls: u64,
    pub(crate) errors: u64,
    pub(crate) elapsed: Duration,
    pub(crate) latency_micros: Histogram<u64>,
    /// CPU used during the measured time, where `/proc` could be read.
    pub(crate) cpu: Option<CpuSample>,
}

impl LoadReport {
    pub(crate) fn rate(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64()
    }

    pub(crate) fn print(&self) {
        let millis = |quantile| self.latency_micros.value_at_quantile(quantile) as f64 / 1000.0;
        println!(
            "{:<34} concurrency {:>3}  {:>9.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  ({} calls, {} errors)",
            self.label,
            self.concurrency,
            self.rate(),
            millis(0.5),
            millis(0.99),
            self.calls,
            self.errors
        );
        if let Some(cpu) = &self.cpu {
            println!("{:<34} cpu per call: {}", "", cpu.per_call(self.calls));
        }
    }
}

/// Drives `call(worker, index)` from `concurrency` workers for `duration`
/// after a one-second warm-up whose calls are not counted.
pub(crate) async fn drive<F, Fut>(label: &str, concurrency: usize, duration: Duration, call: F) -> LoadReport
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let call = Arc::new(call);
    let warm_up_end = Instant::now() + Duration::from_secs(1);
    let end = warm_up_end + duration;
    let cpu = tokio::spawn(async move {
        tokio::time::sleep_until(warm_up_end.into()).await;
        let start = CpuSample::now();
        tokio::time::sleep_until(end.into()).await;
        Some(CpuSample::now()?.since(&start?))
    });
    let workers: Vec<_> = (0..concurrency)
        .map(|worker| {
            let call = call.clone();
            tokio::spawn(async move {
                let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
                let (mut calls, mut errors, mut index) = (0u64, 0u64, 0u64);
                loop {
                    let started = Instant::now();
                    if started >= end {
                        break;
                    }
                    let result = call(worker, index).await;
                    index += 1;
                    if started < warm_up_end {
                        continue;
                    }
                    match result {
                        Ok(()) => {
                            calls += 1;
                            histogram.saturating_record(started.elapsed().as_micros() as u64);
                        }
                        Err(error) => {
                            if errors == 0 {
                                eprintln!("first error of worker {worker}: {error:#}");
                            }
                            errors += 1;
                        }
                    }
                }
                (histogram, calls, errors)
            })
        })
        .collect();
    let mut report = LoadReport {
        label: label.to_owned(),
        concurrency,
        calls: 0,
        errors: 0,
        elapsed: duration,
        latency_micros: Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds"),
        cpu: cpu.await.expect("cpu sampler"),
    };
    for worker in workers {
        let (histogram, calls, errors) = worker.await.expect("worker");
        report.latency_micros.add(histogram).expect("same bounds");
        report.calls += calls;
        report.errors += errors;
    }
    report
}
