//! Per-object exponential backoff: repeated failures of one object slow down its retries
//! without affecting the others.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bound of any retry delay: a minute keeps an object that failed a streak of
/// throttled calls from sitting idle for long once AWS has capacity again, while the
/// client-side rate limiter (not the backoff) is what keeps retries from storming.
pub const MAX_DELAY: Duration = Duration::from_secs(60);

/// Consecutive failures per object key.
#[derive(Debug, Default)]
pub struct Backoff {
    failures: Mutex<HashMap<String, u32>>,
}

impl Backoff {
    /// Record a failure of `key`; returns the delay before its next attempt:
    /// base·2^(n-1) capped at [`MAX_DELAY`], plus up to 10% jitter derived from the key so
    /// objects failing together spread out.
    pub fn failure(&self, key: &str, base: Duration) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let n = failures.entry(key.to_string()).or_insert(0);
        *n = n.saturating_add(1);
        delay(base, *n, key)
    }

    /// Forget the failures of `key` after a success.
    pub fn success(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    /// Consecutive failures of `key`.
    pub fn failures(&self, key: &str) -> u32 {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .copied()
            .unwrap_or(0)
    }
}

/// The delay after `n` consecutive failures.
pub fn delay(base: Duration, n: u32, key: &str) -> Duration {
    let exp = base.saturating_mul(1u32 << n.saturating_sub(1).min(16));
    let capped = exp.min(MAX_DELAY);
    let spread = key
        .bytes()
        .fold(n, |h, b| h.wrapping_mul(31).wrapping_add(b as u32))
        % 100;
    capped + capped.mul_f64(spread as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_then_cap() {
        let b = Duration::from_secs(2);
        let d: Vec<Duration> = (1..=12).map(|n| delay(b, n, "k")).collect();
        assert!(d[0] >= b && d[0] <= b.mul_f64(1.1));
        assert!(d[1] >= b * 2 && d[1] <= (b * 2).mul_f64(1.1));
        assert!(d[2] >= b * 4);
        assert!(d.iter().all(|x| *x <= MAX_DELAY.mul_f64(1.1)));
        assert!(d[11] >= MAX_DELAY);
    }

    #[test]
    fn failures_are_per_object_and_reset_on_success() {
        let b = Backoff::default();
        let base = Duration::from_secs(1);
        b.failure("a", base);
        b.failure("a", base);
        let third = b.failure("a", base);
        assert!(third >= Duration::from_secs(4));
        assert!(b.failure("b", base) < Duration::from_secs(2));
        b.success("a");
        assert_eq!(b.failures("a"), 0);
        assert_eq!(b.failures("b"), 1);
    }
}
