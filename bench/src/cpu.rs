//! Where a measured phase's CPU went: this process (load generator and
//! the service under test), the NATS server and Postgres, read from Linux's
//! `/proc`. Divided by the calls made, it shows what one call costs each of
//! them, which is what bounds a rate when they all share the machine.

use std::time::Duration;

/// CPU time used so far by each party (user + system).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CpuSample {
    this: Duration,
    nats: Duration,
    postgres: Duration,
}

impl CpuSample {
    /// Reads the counters now; `None` where `/proc` cannot be read.
    ///
    /// Postgres is the sum over its processes alive at this moment, so a
    /// backend that exits during a phase takes its time with it; the pools
    /// of the figures keep theirs open.
    pub(crate) fn now() -> Option<Self> {
        let ticks_per_second = procfs::ticks_per_second();
        let time = |stat: &procfs::process::Stat| {
            Duration::from_secs_f64((stat.utime + stat.stime) as f64 / ticks_per_second as f64)
        };
        let mut sample = Self { this: time(&procfs::process::Process::myself().ok()?.stat().ok()?), ..Self::default() };
        for process in procfs::process::all_processes().ok()?.flatten() {
            let Ok(stat) = process.stat() else { continue };
            match stat.comm.as_str() {
                "nats-server" => sample.nats += time(&stat),
                "postgres" => sample.postgres += time(&stat),
                _ => {}
            }
        }
        Some(sample)
    }

    /// The CPU used between `earlier` and this sample.
    pub(crate) fn since(&self, earlier: &Self) -> Self {
        Self {
            this: self.this.saturating_sub(earlier.this),
            nats: self.nats.saturating_sub(earlier.nats),
            postgres: self.postgres.saturating_sub(earlier.postgres),
        }
    }

    /// All three together.
    pub(crate) fn total(&self) -> Duration {
        self.this + self.nats + self.postgres
    }

    /// What each party spent on one of `calls` calls made in this interval.
    pub(crate) fn per_call(&self, calls: u64) -> Self {
        let calls = calls.max(1) as u32;
        Self { this: self.this / calls, nats: self.nats / calls, postgres: self.postgres / calls }
    }
}

impl std::fmt::Display for CpuSample {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let micros = |time: Duration| time.as_secs_f64() * 1e6;
        write!(
            formatter,
            "this process {:>4.0} µs, nats-server {:>4.0} µs, postgres {:>4.0} µs",
            micros(self.this),
            micros(self.nats),
            micros(self.postgres)
        )
    }
}
