//! Capped exponential backoff with jitter, one shape for every retry in
//! Gantry: reactor work, a runner that lost Postgres or NATS, a service
//! waiting for its dependencies at start-up.

use rand::Rng as _;
use std::time::Duration;

/// The delay before the attempt after `failures` failures (from 1):
/// `base * 2^(failures-1)`, capped, then "equal jitter" (half of it fixed,
/// half random) so that replicas and items failing together spread out.
pub fn delay(base: Duration, cap: Duration, failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(31);
    let ceiling = base.saturating_mul(1u32 << exponent).min(cap);
    let half = ceiling / 2;
    half + rand::rng().random_range(Duration::ZERO..=half)
}

/// Consecutive failures of one loop (claiming work, reconnecting, waiting
/// for a dependency), for warnings with a count and a growing pause.
#[derive(Debug, Default)]
pub struct Failures(u32);

impl Failures {
    const BASE: Duration = Duration::from_millis(200);
    const CAP: Duration = Duration::from_secs(10);

    /// Counts one more failure and returns the count and the pause to take
    /// (200 ms doubling, capped at 10 s, jittered).
    pub fn record(&mut self) -> (u32, Duration) {
        self.0 = self.0.saturating_add(1);
        (self.0, delay(Self::BASE, Self::CAP, self.0))
    }

    /// True when the last try succeeded (or there was none).
    pub fn is_clear(&self) -> bool {
        self.0 == 0
    }

    /// Forgets the failures after a success.
    pub fn reset(&mut self) {
        self.0 = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_stay_capped_and_jitter_within_half() {
        let (base, cap) = (Duration::from_millis(100), Duration::from_secs(1));
        for _ in 0..100 {
            let first = delay(base, cap, 1);
            assert!(first >= base / 2 && first <= base, "{first:?}");
            let third = delay(base, cap, 3);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400), "{third:?}");
            let late = delay(base, cap, 40);
            assert!(late >= cap / 2 && late <= cap, "{late:?}");
        }
    }
}
