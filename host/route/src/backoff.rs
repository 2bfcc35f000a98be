//! Bounded exponential backoff between retry rounds, with jitter from a caller-supplied random
//! number so the function stays pure.
//!
//! Round `n` (1-based) waits somewhere in `[cap/2, cap]` where `cap = min(max, base · 2^(n−1))`
//! ("equal jitter"): never less than half the nominal delay, so a failing destination cannot be
//! hammered, and spread out so that the messages that failed together do not all come back in
//! the same millisecond.

use std::time::Duration;

/// The retry delay schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The nominal delay before round 1.
    pub base: Duration,
    /// The longest delay.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_secs(30),
            max: Duration::from_secs(600),
        }
    }
}

impl Backoff {
    /// The nominal (largest) delay before round `n`.
    pub fn cap(&self, n: u32) -> Duration {
        let shift = n.saturating_sub(1).min(30);
        self.base
            .checked_mul(1u32 << shift)
            .unwrap_or(self.max)
            .min(self.max.max(self.base))
    }

    /// The delay before round `n`, jittered by `random` (any `u32`; the same value gives the same
    /// delay).
    pub fn delay(&self, n: u32, random: u32) -> Duration {
        let cap = u64::try_from(self.cap(n).as_millis()).unwrap_or(u64::MAX);
        let half = cap / 2;
        let spread = cap - half; // cap/2 rounded up, so the result reaches `cap`
        let jitter = if spread == 0 {
            0
        } else {
            u64::from(random) % (spread + 1)
        };
        Duration::from_millis(half + jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(n: u32, random: u32, expect_ms: u64) {
        let b = Backoff {
            base: Duration::from_secs(10),
            max: Duration::from_secs(60),
        };
        assert_eq!(
            b.delay(n, random),
            Duration::from_millis(expect_ms),
            "round {n}, random {random}"
        );
    }

    #[test]
    fn delays_double_up_to_the_max_with_bounded_jitter() {
        check(1, 0, 5_000);
        check(1, 5_000, 10_000);
        check(1, 5_001, 5_000);
        check(2, 0, 10_000);
        check(2, 10_000, 20_000);
        check(3, 0, 20_000);
        check(4, 0, 30_000);
        check(4, 30_000, 60_000);
        check(50, 0, 30_000);
        check(u32::MAX, u32::MAX, 30_000 + u64::from(u32::MAX) % 30_001);
        // Round 0 is treated as round 1.
        check(0, 0, 5_000);
    }

    #[test]
    fn delay_always_within_half_cap_and_cap() {
        let b = Backoff::default();
        for n in 0..40 {
            let cap = b.cap(n);
            assert!(cap <= b.max);
            for r in [0, 1, 7, 1 << 20, u32::MAX] {
                let d = b.delay(n, r);
                assert!(d <= cap && d >= cap / 2, "round {n}: {d:?} vs cap {cap:?}");
            }
        }
        // A zero base never waits; a base above the max uses the base.
        assert_eq!(
            Backoff {
                base: Duration::ZERO,
                max: Duration::ZERO
            }
            .delay(3, 9),
            Duration::ZERO
        );
        let odd = Backoff {
            base: Duration::from_secs(9),
            max: Duration::from_secs(1),
        };
        assert_eq!(odd.cap(5), Duration::from_secs(9));
    }
}
