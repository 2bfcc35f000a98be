//! Carrier health: a circuit breaker per carrier and moving averages of its success rate and
//! latency, combined into one score the scheduler ranks carriers by.
//!
//! Everything takes the time as an argument (`now`), so the trackers are pure state machines a
//! test drives with any clock. The breaker follows the usual three states: *closed* (traffic
//! flows; consecutive failures are counted), *open* (no traffic until a cool-down passes; each
//! re-open doubles the cool-down up to a maximum) and *half-open* (one probe at a time; its
//! success closes the breaker, its failure re-opens it).

use std::time::Duration;

use domain::{Outcome, RejectReason, RetryReason, UnixMillis};

/// Breaker thresholds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failures that open a closed breaker (at least 1).
    pub open_after: u32,
    /// How long the breaker stays open the first time.
    pub open_for: Duration,
    /// The longest it stays open after repeated failed probes.
    pub open_for_max: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            open_after: 5,
            open_for: Duration::from_secs(30),
            open_for_max: Duration::from_secs(600),
        }
    }
}

/// What the breaker allows at an instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Traffic flows.
    Closed,
    /// No traffic until `until`.
    Open {
        /// When the breaker turns half-open.
        until: UnixMillis,
    },
    /// One probe may go; the scheduler sends it only when nothing else is in flight on the
    /// carrier.
    HalfOpen,
}

/// A circuit breaker with explicit time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    consecutive_failures: u32,
    /// How many times in a row the breaker opened without a success in between (sets the
    /// cool-down: `open_for * 2^(reopens-1)`).
    reopens: u32,
    open_until: Option<UnixMillis>,
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(config: BreakerConfig) -> CircuitBreaker {
        CircuitBreaker {
            config,
            consecutive_failures: 0,
            reopens: 0,
            open_until: None,
        }
    }

    /// The state at `now`: an open breaker whose cool-down has passed is half-open.
    pub fn state(&self, now: UnixMillis) -> BreakerState {
        match self.open_until {
            None => BreakerState::Closed,
            Some(until) if now < until => BreakerState::Open { until },
            Some(_) => BreakerState::HalfOpen,
        }
    }

    /// Failures in a row so far.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// A successful attempt: the breaker closes and forgets its history.
    pub fn on_success(&mut self) {
        self.consecutive_failures = 0;
        self.reopens = 0;
        self.open_until = None;
    }

    /// A failed attempt at `now`.
    pub fn on_failure(&mut self, now: UnixMillis) {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        match self.state(now) {
            BreakerState::Closed => {
                if self.consecutive_failures >= self.config.open_after.max(1) {
                    self.open(now);
                }
            }
            // A failed probe: open again, for longer.
            BreakerState::HalfOpen => self.open(now),
            // Attempts that were in flight when the breaker opened report late; they do not
            // extend the cool-down.
            BreakerState::Open { .. } => {}
        }
    }

    fn open(&mut self, now: UnixMillis) {
        self.reopens = self.reopens.saturating_add(1);
        let shift = self.reopens.saturating_sub(1).min(20);
        let base = self.config.open_for;
        let cool = base
            .checked_mul(1u32 << shift)
            .unwrap_or(self.config.open_for_max)
            .min(self.config.open_for_max.max(base));
        self.open_until = Some(now.plus(cool));
    }
}

/// An exponentially weighted moving average: `v ← v + α·(x − v)`, starting at the first sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ewma {
    alpha: f32,
    value: Option<f32>,
}

impl Ewma {
    /// An empty average with weight `alpha` for new samples (clamped to 0.0..=1.0).
    pub fn new(alpha: f32) -> Ewma {
        let alpha = if alpha.is_finite() {
            alpha.clamp(0.0, 1.0)
        } else {
            1.0
        };
        Ewma { alpha, value: None }
    }

    /// Adds a sample (non-finite samples are ignored).
    pub fn update(&mut self, x: f32) {
        if !x.is_finite() {
            return;
        }
        self.value = Some(match self.value {
            None => x,
            Some(v) => v + self.alpha * (x - v),
        });
    }

    /// The average, `None` before the first sample.
    pub fn get(&self) -> Option<f32> {
        self.value
    }
}

/// Health tracking settings for one kind of carrier.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HealthConfig {
    /// The circuit breaker's thresholds.
    pub breaker: BreakerConfig,
    /// Weight of a new sample in the success-rate average.
    pub success_alpha: f32,
    /// Weight of a new sample in the latency average.
    pub latency_alpha: f32,
    /// The latency at which the latency factor of the score is one half (typical for the kind:
    /// an SMPP `submit_sm_resp` takes milliseconds, a modem `+CMGS` seconds).
    pub latency_ref: Duration,
    /// The shortest pause after a carrier says "throttled" with no or a zero delay.
    pub min_pause: Duration,
}

impl HealthConfig {
    /// Defaults for an upstream SMPP link.
    pub fn smpp() -> HealthConfig {
        HealthConfig {
            breaker: BreakerConfig::default(),
            success_alpha: 0.1,
            latency_alpha: 0.2,
            latency_ref: Duration::from_millis(500),
            min_pause: Duration::from_secs(1),
        }
    }

    /// Defaults for a modem (bank slot or USB modem).
    pub fn modem() -> HealthConfig {
        HealthConfig {
            latency_ref: Duration::from_secs(10),
            ..HealthConfig::smpp()
        }
    }
}

/// How one attempt counts toward a carrier's health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptResult {
    /// The carrier took the message.
    Success,
    /// The carrier failed (down, timeout, temporary error, unexplained permanent error).
    Failure,
    /// The carrier is fine but asked us to slow down until `until`.
    Throttled {
        /// When to offer it traffic again.
        until: UnixMillis,
    },
    /// Says nothing about the carrier (the number or sender is invalid, shutdown).
    Neutral,
}

impl AttemptResult {
    /// Classifies a carrier's outcome.
    pub fn of(outcome: &Outcome, now: UnixMillis) -> AttemptResult {
        match outcome {
            Outcome::Accepted { .. } => AttemptResult::Success,
            Outcome::Retry { after, reason, .. } => match reason {
                RetryReason::Throttled | RetryReason::QueueFull => AttemptResult::Throttled {
                    until: now.plus(*after),
                },
                RetryReason::Shutdown => AttemptResult::Neutral,
                RetryReason::Unavailable(_) | RetryReason::Timeout | RetryReason::Temporary(_) => {
                    AttemptResult::Failure
                }
            },
            Outcome::Reject { reason } => match reason {
                // The message's fault, not the carrier's.
                RejectReason::InvalidDestination(_)
                | RejectReason::InvalidSender(_)
                | RejectReason::Barred(_) => AttemptResult::Neutral,
                RejectReason::Permanent(_) | RejectReason::NoRoute(_) => AttemptResult::Failure,
            },
        }
    }
}

/// The highest [`Health::score`].
pub const MAX_SCORE: u16 = 1000;

/// One carrier's health: breaker, success and latency averages, and a throttle pause.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Health {
    config: HealthConfig,
    breaker: CircuitBreaker,
    success: Ewma,
    latency_ms: Ewma,
    paused_until: Option<UnixMillis>,
}

impl Health {
    /// A carrier with no history: closed breaker, full score.
    pub fn new(config: HealthConfig) -> Health {
        Health {
            config,
            breaker: CircuitBreaker::new(config.breaker),
            success: Ewma::new(config.success_alpha),
            latency_ms: Ewma::new(config.latency_alpha),
            paused_until: None,
        }
    }

    /// Applies new settings (after a config reload), keeping the history: breaker state,
    /// averages and pause.
    pub fn reconfigure(&mut self, config: HealthConfig) {
        self.config = config;
        self.breaker.config = config.breaker;
        self.success.alpha = Ewma::new(config.success_alpha).alpha;
        self.latency_ms.alpha = Ewma::new(config.latency_alpha).alpha;
    }

    /// Records one attempt's result and how long the carrier took to answer.
    pub fn record(&mut self, result: AttemptResult, latency: Duration, now: UnixMillis) {
        let ms = latency.as_millis().min(u128::from(u32::MAX)) as f32;
        match result {
            AttemptResult::Success => {
                self.breaker.on_success();
                self.success.update(1.0);
                self.latency_ms.update(ms);
            }
            AttemptResult::Failure => {
                self.breaker.on_failure(now);
                self.success.update(0.0);
                self.latency_ms.update(ms);
            }
            AttemptResult::Throttled { until } => {
                let until = until.max(now.plus(self.config.min_pause));
                self.paused_until = Some(self.paused_until.map_or(until, |p| p.max(until)));
            }
            AttemptResult::Neutral => {}
        }
    }

    /// 0 (useless) to [`MAX_SCORE`] (perfect): success rate × latency factor, where the latency
    /// factor is `ref / (ref + latency)`. A carrier with no history scores [`MAX_SCORE`].
    pub fn score(&self) -> u16 {
        let success = self.success.get().unwrap_or(1.0).clamp(0.0, 1.0);
        let factor = match self.latency_ms.get() {
            None => 1.0,
            Some(lat) => {
                let r = self
                    .config
                    .latency_ref
                    .as_millis()
                    .min(u128::from(u32::MAX)) as f32;
                if r + lat > 0.0 { r / (r + lat) } else { 1.0 }
            }
        };
        (success * factor * f32::from(MAX_SCORE))
            .round()
            .clamp(0.0, f32::from(MAX_SCORE)) as u16
    }

    /// The breaker.
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// The average success rate (0.0–1.0), `None` before the first attempt.
    pub fn success_rate(&self) -> Option<f32> {
        self.success.get()
    }

    /// The average latency, `None` before the first attempt.
    pub fn latency(&self) -> Option<Duration> {
        self.latency_ms
            .get()
            .map(|ms| Duration::from_millis(ms.max(0.0) as u64))
    }

    /// Until when the carrier asked not to get traffic, if that is after `now`.
    pub fn paused_until(&self, now: UnixMillis) -> Option<UnixMillis> {
        self.paused_until.filter(|&p| p > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1000;

    fn cfg() -> BreakerConfig {
        BreakerConfig {
            open_after: 3,
            open_for: Duration::from_secs(10),
            open_for_max: Duration::from_secs(25),
        }
    }

    /// Runs `events` ("ok@t", "fail@t", "state@t") and checks the breaker states seen.
    fn check(events: &str, expect: &str) {
        let mut b = CircuitBreaker::new(cfg());
        let mut seen = Vec::new();
        for ev in events.split_whitespace() {
            let (what, t) = ev.split_once('@').unwrap();
            let now = UnixMillis(t.parse::<i64>().unwrap() * S);
            match what {
                "ok" => b.on_success(),
                "fail" => b.on_failure(now),
                "state" => seen.push(match b.state(now) {
                    BreakerState::Closed => "closed".to_owned(),
                    BreakerState::HalfOpen => "half".to_owned(),
                    BreakerState::Open { until } => format!("open<{}", until.0 / S),
                }),
                _ => panic!("bad event {ev}"),
            }
        }
        assert_eq!(seen.join(" "), expect, "events: {events}");
    }

    #[test]
    fn breaker_transitions_with_time() {
        // Opens after 3 consecutive failures, for 10 s.
        check("fail@0 fail@1 state@1 fail@2 state@2", "closed open<12");
        // A success in between resets the count.
        check("fail@0 fail@1 ok@1 fail@2 fail@3 state@3", "closed");
        // Half-open after the cool-down; a successful probe closes it.
        check(
            "fail@0 fail@0 fail@0 state@9 state@10 ok@11 state@11",
            "open<10 half closed",
        );
        // A failed probe re-opens for twice as long (20 s), then the maximum (25 s).
        check(
            "fail@0 fail@0 fail@0 fail@10 state@10 fail@30 state@30 state@55",
            "open<30 open<55 half",
        );
        // Late failures while open do not extend the cool-down.
        check("fail@0 fail@0 fail@0 fail@5 fail@6 state@6", "open<10");
        // After a close, the cool-down starts from the base again.
        check(
            "fail@0 fail@0 fail@0 fail@10 ok@30 fail@31 fail@31 fail@31 state@31",
            "open<41",
        );
    }

    #[test]
    fn breaker_with_open_after_zero_still_needs_one_failure() {
        let mut b = CircuitBreaker::new(BreakerConfig {
            open_after: 0,
            ..cfg()
        });
        assert_eq!(b.state(UnixMillis(0)), BreakerState::Closed);
        b.on_failure(UnixMillis(0));
        assert!(matches!(b.state(UnixMillis(0)), BreakerState::Open { .. }));
    }

    #[test]
    fn ewma_tracks_recent_samples() {
        let mut e = Ewma::new(0.5);
        assert_eq!(e.get(), None);
        e.update(1.0);
        assert_eq!(e.get(), Some(1.0));
        e.update(0.0);
        assert_eq!(e.get(), Some(0.5));
        e.update(0.0);
        assert_eq!(e.get(), Some(0.25));
        e.update(f32::NAN);
        assert_eq!(e.get(), Some(0.25));
        assert_eq!(Ewma::new(f32::NAN).alpha, 1.0);
        assert_eq!(Ewma::new(7.0).alpha, 1.0);
    }

    #[test]
    fn score_combines_success_and_latency() {
        let now = UnixMillis(0);
        let mut h = Health::new(HealthConfig {
            success_alpha: 0.5,
            latency_alpha: 1.0,
            ..HealthConfig::smpp()
        });
        assert_eq!(h.score(), MAX_SCORE);
        // Latency equal to the reference halves the score.
        h.record(AttemptResult::Success, Duration::from_millis(500), now);
        assert_eq!(h.score(), 500);
        h.record(AttemptResult::Success, Duration::ZERO, now);
        assert_eq!(h.score(), 1000);
        h.record(AttemptResult::Failure, Duration::ZERO, now);
        assert_eq!(h.score(), 500);
        // Neutral results change nothing.
        h.record(AttemptResult::Neutral, Duration::from_secs(99), now);
        assert_eq!(h.score(), 500);
        assert_eq!(h.success_rate(), Some(0.5));
        assert_eq!(h.latency(), Some(Duration::ZERO));
    }

    #[test]
    fn reconfigure_keeps_history_and_applies_new_thresholds() {
        let now = UnixMillis(0);
        let mut h = Health::new(HealthConfig::smpp());
        for _ in 0..2 {
            h.record(AttemptResult::Failure, Duration::ZERO, now);
        }
        assert_eq!(h.breaker().state(now), BreakerState::Closed);
        h.reconfigure(HealthConfig {
            breaker: BreakerConfig {
                open_after: 3,
                ..BreakerConfig::default()
            },
            ..HealthConfig::smpp()
        });
        assert_eq!(h.breaker().consecutive_failures(), 2);
        h.record(AttemptResult::Failure, Duration::ZERO, now);
        assert!(matches!(h.breaker().state(now), BreakerState::Open { .. }));
        assert_eq!(h.success_rate(), Some(0.0));
    }

    #[test]
    fn throttle_pauses_for_at_least_the_minimum() {
        let mut h = Health::new(HealthConfig::smpp());
        let now = UnixMillis(10_000);
        h.record(AttemptResult::Throttled { until: now }, Duration::ZERO, now);
        assert_eq!(h.paused_until(now), Some(UnixMillis(11_000)));
        h.record(
            AttemptResult::Throttled {
                until: UnixMillis(15_000),
            },
            Duration::ZERO,
            now,
        );
        assert_eq!(h.paused_until(now), Some(UnixMillis(15_000)));
        // A shorter pause does not cut a longer one.
        h.record(AttemptResult::Throttled { until: now }, Duration::ZERO, now);
        assert_eq!(h.paused_until(now), Some(UnixMillis(15_000)));
        assert_eq!(h.paused_until(UnixMillis(15_000)), None);
        // Throttling is not a failure.
        assert_eq!(h.breaker().consecutive_failures(), 0);
    }

    #[test]
    fn outcomes_are_classified() {
        let now = UnixMillis(0);
        let retry = |reason| Outcome::Retry {
            after: Duration::from_secs(2),
            reason,
            maybe_sent: false,
        };
        let reject = |reason| Outcome::Reject { reason };
        let cases = [
            (
                Outcome::Accepted {
                    carrier_refs: vec![],
                },
                AttemptResult::Success,
            ),
            (
                retry(RetryReason::Throttled),
                AttemptResult::Throttled {
                    until: UnixMillis(2000),
                },
            ),
            (
                retry(RetryReason::QueueFull),
                AttemptResult::Throttled {
                    until: UnixMillis(2000),
                },
            ),
            (retry(RetryReason::Timeout), AttemptResult::Failure),
            (
                retry(RetryReason::Unavailable("x".into())),
                AttemptResult::Failure,
            ),
            (
                retry(RetryReason::Temporary("CMS 38".into())),
                AttemptResult::Failure,
            ),
            (retry(RetryReason::Shutdown), AttemptResult::Neutral),
            (
                reject(RejectReason::InvalidDestination("x".into())),
                AttemptResult::Neutral,
            ),
            (
                reject(RejectReason::InvalidSender("x".into())),
                AttemptResult::Neutral,
            ),
            (
                reject(RejectReason::Barred("x".into())),
                AttemptResult::Neutral,
            ),
            (
                reject(RejectReason::Permanent("x".into())),
                AttemptResult::Failure,
            ),
            (
                reject(RejectReason::NoRoute("x".into())),
                AttemptResult::Failure,
            ),
        ];
        for (outcome, expect) in cases {
            assert_eq!(AttemptResult::of(&outcome, now), expect, "{outcome:?}");
        }
    }
}
