//! Retry policies of ops (Dagster's `RetryPolicy`): how often a failed op is tried again and how
//! long to wait in between.

use std::time::Duration;

/// How the delay grows between attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backoff {
    /// The same delay every time.
    Constant,
    /// `delay * 2^(retry - 1)`.
    Exponential,
}

/// Randomness added to the delay so that many retries do not fire at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// No randomness.
    None,
    /// A delay drawn uniformly from `[0, delay]`.
    Full,
    /// A delay drawn uniformly from `[delay - delay/2, delay + delay/2]`.
    PlusMinus,
}

/// Retries of a failed op: at most `max_retries` more attempts, waiting `delay` (grown by
/// `backoff`, randomized by `jitter`) before each.
///
/// ```
/// use std::time::Duration;
/// use etl_runtime::retry::{Backoff, Jitter, RetryPolicy};
/// let policy = RetryPolicy::new(3).delay(Duration::from_millis(200)).backoff(Backoff::Exponential).jitter(Jitter::None);
/// assert_eq!(policy.delay_before(3, 0.5), Duration::from_millis(800));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts after the first.
    pub max_retries: u32,
    /// The base delay.
    pub delay: Duration,
    /// Growth of the delay.
    pub backoff: Backoff,
    /// Randomness of the delay.
    pub jitter: Jitter,
    /// Upper bound of any one delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// No retries.
    fn default() -> Self {
        RetryPolicy::new(0)
    }
}

impl RetryPolicy {
    /// `max_retries` retries, one second apart, no backoff, no jitter, at most 5 minutes each.
    pub fn new(max_retries: u32) -> Self {
        RetryPolicy {
            max_retries,
            delay: Duration::from_secs(1),
            backoff: Backoff::Constant,
            jitter: Jitter::None,
            max_delay: Duration::from_secs(300),
        }
    }

    /// Sets the base delay.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Sets the backoff.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Sets the jitter.
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// Caps every delay.
    pub fn max_delay(mut self, max: Duration) -> Self {
        self.max_delay = max;
        self
    }

    /// The wait before retry number `retry` (1-based), given a uniform random number in `[0, 1)`.
    pub fn delay_before(&self, retry: u32, random: f64) -> Duration {
        let base = match self.backoff {
            Backoff::Constant => self.delay,
            Backoff::Exponential => self.delay.saturating_mul(1u32 << retry.saturating_sub(1).min(20)),
        }
        .min(self.max_delay);
        let random = random.clamp(0.0, 1.0);
        match self.jitter {
            Jitter::None => base,
            Jitter::Full => base.mul_f64(random),
            Jitter::PlusMinus => base.mul_f64(0.5 + random),
        }
    }
}

/// A uniform random number in `[0, 1)` for jitter (std's OS-seeded hasher keys; no crypto needed).
pub(crate) fn random_unit() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_are_capped() {
        let p = RetryPolicy::new(5).delay(Duration::from_secs(1)).backoff(Backoff::Exponential).max_delay(Duration::from_secs(5));
        let d: Vec<u64> = (1..=5).map(|r| p.delay_before(r, 0.0).as_secs()).collect();
        assert_eq!(d, vec![1, 2, 4, 5, 5]);
        assert_eq!(RetryPolicy::new(1).delay_before(7, 0.3), Duration::from_secs(1));
    }

    #[test]
    fn jitter_stays_in_its_range() {
        let p = RetryPolicy::new(1).delay(Duration::from_millis(1000));
        assert_eq!(p.jitter(Jitter::Full).delay_before(1, 0.25), Duration::from_millis(250));
        assert_eq!(p.jitter(Jitter::PlusMinus).delay_before(1, 0.0), Duration::from_millis(500));
        assert_eq!(p.jitter(Jitter::PlusMinus).delay_before(1, 1.0), Duration::from_millis(1500));
        for _ in 0..100 {
            let r = random_unit();
            assert!((0.0..1.0).contains(&r));
        }
    }
}
