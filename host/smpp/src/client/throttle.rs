//! Adaptive slow-down when an SMSC answers `ESME_RTHROTTLED` / `ESME_RMSGQFUL`.
//!
//! Kannel pauses a link for about two seconds on every throttling answer (470 of 2,000 messages
//! delivered in 90 s at 10 % throttling, see the bench notes). Here a throttle answer instead
//! (1) halves the effective window (additive increase back, one slot per window's worth of
//! successes: AIMD as in TCP congestion control, RFC 5681 §3.1) and (2) pauses new submits
//! briefly, starting at a few milliseconds and doubling only while throttles keep coming. Only
//! the first throttle of a burst reacts: answers to submits sent before the last reaction were
//! caused by the old rate and say nothing new.
//!
//! The window is a `tokio::sync::Semaphore` whose permits the callers hold while a submit is
//! unanswered; shrinking forgets free permits and records the rest as debt, paid by forgetting
//! permits as submits complete.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::ThrottlePolicy;

#[derive(Debug)]
pub(crate) struct Throttle {
    policy: ThrottlePolicy,
    window: Arc<Semaphore>,
    configured: usize,
    effective: usize,
    debt: usize,
    successes: usize,
    pause: Duration,
    paused_until: Option<Instant>,
    last_reaction: Option<Instant>,
}

impl Throttle {
    pub(crate) fn new(policy: ThrottlePolicy, window: Arc<Semaphore>, configured: usize) -> Self {
        Throttle {
            policy,
            window,
            configured,
            effective: configured,
            debt: 0,
            successes: 0,
            pause: Duration::ZERO,
            paused_until: None,
            last_reaction: None,
        }
    }

    /// The window in force now.
    pub(crate) fn effective(&self) -> usize {
        self.effective
    }

    /// When new submits may go again, if paused.
    pub(crate) fn paused_until(&self, now: Instant) -> Option<Instant> {
        self.paused_until.filter(|t| *t > now)
    }

    /// A submit sent at `sent_at` was throttled. Returns the pause and window when this was a
    /// new reaction (worth an event), `None` when it belonged to a burst already reacted to.
    pub(crate) fn on_throttle(
        &mut self,
        now: Instant,
        sent_at: Instant,
    ) -> Option<(Duration, usize)> {
        if self.last_reaction.is_some_and(|t| sent_at <= t) {
            return None;
        }
        self.last_reaction = Some(now);
        self.successes = 0;
        self.pause = if self.pause.is_zero() {
            self.policy.pause_min
        } else {
            (self.pause * 2).min(self.policy.pause_max)
        };
        self.paused_until = Some(now + self.pause);
        let target = (self.effective / 2).max(1);
        let shrink = self.effective - target;
        if shrink > 0 {
            let forgotten = self.window.forget_permits(shrink);
            self.debt += shrink - forgotten;
            self.effective = target;
        }
        Some((self.pause, self.effective))
    }

    /// A submit was accepted: grow the window by one slot per window's worth of successes, and
    /// let the next throttle start from the shortest pause again.
    pub(crate) fn on_success(&mut self) {
        self.pause = Duration::ZERO;
        if self.effective >= self.configured {
            return;
        }
        self.successes += 1;
        if self.successes >= self.effective {
            self.successes = 0;
            self.effective += 1;
            if self.debt > 0 {
                self.debt -= 1;
            } else {
                self.window.add_permits(1);
            }
        }
    }

    /// Whether a permit being returned must be forgotten instead (paying shrink debt).
    pub(crate) fn take_debt(&mut self) -> bool {
        if self.debt > 0 {
            self.debt -= 1;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ThrottlePolicy {
        ThrottlePolicy {
            pause_min: Duration::from_millis(10),
            pause_max: Duration::from_millis(80),
            retries: 3,
        }
    }

    #[test]
    fn halves_once_per_burst_and_grows_back() {
        let sem = Arc::new(Semaphore::new(8));
        let mut t = Throttle::new(policy(), sem.clone(), 8);
        let t0 = Instant::now();
        // Eight submits in flight hold all permits.
        let held: Vec<_> = (0..8)
            .map(|_| sem.clone().try_acquire_owned().unwrap())
            .collect();
        let ms = Duration::from_millis;
        assert_eq!(t.on_throttle(t0 + ms(1), t0), Some((ms(10), 4)));
        // The rest of the burst was sent before the reaction: no further halving.
        assert_eq!(t.on_throttle(t0 + ms(2), t0), None);
        assert_eq!(t.paused_until(t0 + ms(5)), Some(t0 + ms(11)));
        assert_eq!(t.paused_until(t0 + ms(11)), None);
        // All permits were held, so the shrink is debt: four returns are forgotten.
        let mut returned = 0;
        for p in held {
            if t.take_debt() {
                p.forget();
            } else {
                drop(p);
                returned += 1;
            }
        }
        assert_eq!((returned, sem.available_permits()), (4, 4));
        // A throttle for a submit sent after the reaction halves again with a doubled pause.
        assert_eq!(t.on_throttle(t0 + ms(20), t0 + ms(15)), Some((ms(20), 2)));
        assert_eq!(sem.available_permits(), 2);
        // Additive increase: one slot per window's worth of successes.
        for _ in 0..2 {
            t.on_success();
        }
        assert_eq!((t.effective(), sem.available_permits()), (3, 3));
        for _ in 0..(3 + 4 + 5 + 6) {
            t.on_success();
        }
        assert_eq!((t.effective(), sem.available_permits()), (7, 7));
        for _ in 0..100 {
            t.on_success();
        }
        assert_eq!((t.effective(), sem.available_permits()), (8, 8));
        // After a success the pause starts small again.
        assert_eq!(t.on_throttle(t0 + ms(100), t0 + ms(99)), Some((ms(10), 4)));
    }

    #[test]
    fn pause_is_capped() {
        let sem = Arc::new(Semaphore::new(1));
        let mut t = Throttle::new(policy(), sem, 1);
        let t0 = Instant::now();
        let mut pauses = Vec::new();
        for i in 1..=6u64 {
            let now = t0 + Duration::from_millis(i * 100);
            let (p, w) = t.on_throttle(now, now).unwrap();
            assert_eq!(w, 1);
            pauses.push(p.as_millis());
        }
        assert_eq!(pauses, [10, 20, 40, 80, 80, 80]);
    }
}
