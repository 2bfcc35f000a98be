//! Send-rate limits with explicit time: sliding per-minute/hour/day counters for SIM cards and a
//! token bucket for messages-per-second caps on links.
//!
//! Operators block a SIM that sends too much in a minute, an hour or a day, so the counters are
//! *conservative*: [`SlidingWindow::count`] never under-counts the sends of the last period, and a
//! carrier is offered a message only while its count is below the limit. Hence no period-long
//! stretch of time (ending at a send) ever holds more than the limit, which a fixed-window counter
//! cannot promise (it allows twice the limit across a window boundary). The price is a little
//! over-counting: the window is kept in [`BUCKETS`] slices, and the oldest slice is counted whole.
//!
//! All state is small and `Copy`; nothing allocates.

use std::time::Duration;

use domain::UnixMillis;

/// Slices per period. Over-counting is at most one slice (1/12 of the period).
pub const BUCKETS: usize = 12;
/// Ring size: the current slice plus the [`BUCKETS`] before it, since the oldest of those still
/// overlaps the period that ends now.
const RING: usize = BUCKETS + 1;

/// A sliding-window counter of events over `period`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlidingWindow {
    slice_ms: i64,
    /// The slice number (`time / slice_ms`) of the newest recorded event.
    head: i64,
    counts: [u32; RING],
    /// Sum of `counts`, so that the common count (no slice has expired since the last send)
    /// costs nothing.
    total: u32,
}

impl SlidingWindow {
    /// An empty counter over `period` (at least [`BUCKETS`] ms).
    pub fn new(period: Duration) -> SlidingWindow {
        let ms = i64::try_from(period.as_millis()).unwrap_or(i64::MAX);
        SlidingWindow {
            slice_ms: (ms / BUCKETS as i64).max(1),
            head: i64::MIN,
            counts: [0; RING],
            total: 0,
        }
    }

    /// The period this window covers.
    pub fn period(&self) -> Duration {
        Duration::from_millis(
            u64::try_from(self.slice_ms.saturating_mul(BUCKETS as i64)).unwrap_or(0),
        )
    }

    fn slice(&self, t: UnixMillis) -> i64 {
        t.0.div_euclid(self.slice_ms)
    }

    fn at(&self, slice: i64) -> u32 {
        let i = slice.rem_euclid(RING as i64) as usize;
        self.counts.get(i).copied().unwrap_or(0)
    }

    /// The newest slice the counter considers current: `now`'s, or the head's if the clock went
    /// backwards (the counts recorded then still stand).
    fn current(&self, now: UnixMillis) -> i64 {
        self.slice(now).max(self.head)
    }

    /// Sum of the counts in slices `from..=head`.
    fn sum_from(&self, from: i64) -> u32 {
        if self.head == i64::MIN {
            return 0;
        }
        let oldest = from.max(self.head.saturating_sub(RING as i64 - 1));
        let mut sum = 0u32;
        let mut s = oldest;
        while s <= self.head {
            sum = sum.saturating_add(self.at(s));
            s += 1;
        }
        sum
    }

    /// Events in the period ending at `now` (never fewer than really happened in it).
    pub fn count(&self, now: UnixMillis) -> u32 {
        if self.head == i64::MIN {
            return 0;
        }
        // Slices up to `stale` have left the period; the ring holds `head - BUCKETS ..= head`.
        let stale = self.current(now).saturating_sub(RING as i64);
        let ring_oldest = self.head.saturating_sub(BUCKETS as i64);
        if stale < ring_oldest {
            return self.total;
        }
        if stale >= self.head {
            return 0;
        }
        let mut gone = 0u32;
        let mut s = ring_oldest;
        while s <= stale {
            gone = gone.saturating_add(self.at(s));
            s += 1;
        }
        self.total.saturating_sub(gone)
    }

    /// Records one event at `now`.
    pub fn record(&mut self, now: UnixMillis) {
        let s = self.slice(now);
        if self.head == i64::MIN || s > self.head {
            // Clear the slices that the ring reuses between the old head and the new one.
            let start = if self.head == i64::MIN {
                s.saturating_sub(RING as i64 - 1)
            } else {
                self.head
                    .saturating_add(1)
                    .max(s.saturating_sub(RING as i64 - 1))
            };
            let mut c = start;
            while c <= s {
                let i = c.rem_euclid(RING as i64) as usize;
                if let Some(slot) = self.counts.get_mut(i) {
                    self.total = self.total.saturating_sub(*slot);
                    *slot = 0;
                }
                c += 1;
            }
            self.head = s;
        }
        let i = self.head.rem_euclid(RING as i64) as usize;
        if let Some(slot) = self.counts.get_mut(i) {
            *slot = slot.saturating_add(1);
            self.total = self.total.saturating_add(1);
        }
    }

    /// The earliest instant at or after `now` at which the count is below `limit`; `None` when
    /// `limit` is 0 (never).
    pub fn ready_at(&self, now: UnixMillis, limit: u32) -> Option<UnixMillis> {
        if limit == 0 {
            return None;
        }
        if self.count(now) < limit {
            return Some(now);
        }
        // As time passes, slices drop off the oldest end one at a time.
        let cur = self.current(now);
        for k in 1..=RING as i64 {
            let from = cur.saturating_add(k).saturating_sub(BUCKETS as i64);
            if self.sum_from(from) < limit {
                return Some(UnixMillis(
                    cur.saturating_add(k).saturating_mul(self.slice_ms),
                ));
            }
        }
        Some(UnixMillis(
            cur.saturating_add(RING as i64)
                .saturating_mul(self.slice_ms),
        ))
    }
}

/// Per-carrier send limits (`None`: unlimited).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlotLimits {
    /// Messages in any 60 s.
    pub per_minute: Option<u32>,
    /// Messages in any hour.
    pub per_hour: Option<u32>,
    /// Messages in any 24 h.
    pub per_day: Option<u32>,
}

/// A carrier's recent sends, counted for [`SlotLimits`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    minute: SlidingWindow,
    hour: SlidingWindow,
    day: SlidingWindow,
}

impl Default for Usage {
    fn default() -> Self {
        Usage::new()
    }
}

/// What the limits say about a carrier at an instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Headroom {
    /// `None` if a message may go now; otherwise when the limits allow the next one.
    pub blocked_until: Option<UnixMillis>,
    /// The fullest limit's use, in thousandths (0 when unlimited).
    pub load_permille: u32,
}

impl Usage {
    /// No sends yet.
    pub fn new() -> Usage {
        Usage {
            minute: SlidingWindow::new(Duration::from_secs(60)),
            hour: SlidingWindow::new(Duration::from_secs(3600)),
            day: SlidingWindow::new(Duration::from_secs(86_400)),
        }
    }

    /// Records one message sent at `now`.
    pub fn record(&mut self, now: UnixMillis) {
        self.minute.record(now);
        self.hour.record(now);
        self.day.record(now);
    }

    /// Sends in the last minute, hour and day (conservative counts).
    pub fn counts(&self, now: UnixMillis) -> (u32, u32, u32) {
        (
            self.minute.count(now),
            self.hour.count(now),
            self.day.count(now),
        )
    }

    /// Whether `limits` allow a send at `now`, and how full they are.
    pub fn headroom(&self, limits: &SlotLimits, now: UnixMillis) -> Headroom {
        let mut out = Headroom {
            blocked_until: None,
            load_permille: 0,
        };
        for (window, limit) in [
            (&self.minute, limits.per_minute),
            (&self.hour, limits.per_hour),
            (&self.day, limits.per_day),
        ] {
            let Some(limit) = limit else { continue };
            let count = window.count(now);
            let permille = u32::try_from(u64::from(count) * 1000 / u64::from(limit.max(1)))
                .unwrap_or(u32::MAX);
            out.load_permille = out.load_permille.max(permille);
            if count >= limit {
                let ready = window.ready_at(now, limit).unwrap_or(UnixMillis(i64::MAX));
                out.blocked_until = Some(out.blocked_until.map_or(ready, |b| b.max(ready)));
            }
        }
        out
    }
}

/// A messages-per-second cap with bursts (a link's contracted throughput).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Sustained messages per second (at least 1).
    pub per_second: u32,
    /// How many may go at once after a quiet spell (at least 1).
    pub burst: u32,
}

/// A token bucket for a [`Rate`], with explicit time. Tokens are kept in thousandths so that
/// integer arithmetic is exact at millisecond resolution: `per_second` thousandths accrue per ms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenBucket {
    rate: Rate,
    milli_tokens: u64,
    last: UnixMillis,
}

const TOKEN: u64 = 1000;

impl TokenBucket {
    /// A full bucket at `now`.
    pub fn new(rate: Rate, now: UnixMillis) -> TokenBucket {
        let rate = Rate {
            per_second: rate.per_second.max(1),
            burst: rate.burst.max(1),
        };
        TokenBucket {
            rate,
            milli_tokens: u64::from(rate.burst) * TOKEN,
            last: now,
        }
    }

    fn level(&self, now: UnixMillis) -> u64 {
        let elapsed = u64::try_from(now.0.saturating_sub(self.last.0)).unwrap_or(0);
        let cap = u64::from(self.rate.burst) * TOKEN;
        self.milli_tokens
            .saturating_add(elapsed.saturating_mul(u64::from(self.rate.per_second)))
            .min(cap)
    }

    /// Whether a message may go at `now`.
    pub fn available(&self, now: UnixMillis) -> bool {
        self.level(now) >= TOKEN
    }

    /// Spends one token at `now` (the caller checked [`TokenBucket::available`]; without a token
    /// the bucket just stays empty).
    pub fn take(&mut self, now: UnixMillis) {
        let level = self.level(now);
        self.milli_tokens = level.saturating_sub(TOKEN);
        self.last = self.last.max(now);
    }

    /// The earliest instant at or after `now` when a token is available.
    pub fn ready_at(&self, now: UnixMillis) -> UnixMillis {
        let level = self.level(now);
        if level >= TOKEN {
            return now;
        }
        let per_ms = u64::from(self.rate.per_second);
        let ms = (TOKEN - level).div_ceil(per_ms);
        UnixMillis(now.0.saturating_add(i64::try_from(ms).unwrap_or(i64::MAX)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    /// Records sends at the given seconds, then checks `count` and `ready_at(limit)` at `at`.
    fn check(sends: &[i64], at: i64, limit: u32, expect: (u32, i64)) {
        let mut w = SlidingWindow::new(Duration::from_secs(60));
        for &s in sends {
            w.record(UnixMillis(s * 1000));
        }
        let now = UnixMillis(at * 1000);
        let ready = w.ready_at(now, limit).unwrap();
        assert_eq!(
            (w.count(now), ready.0),
            (expect.0, expect.1),
            "sends {sends:?} at {at}"
        );
    }

    #[test]
    fn minute_window_rolls_over() {
        // Slices are 5 s; the count covers the current slice and the 12 before it.
        check(&[], 0, 1, (0, 0));
        check(&[0, 1, 2], 3, 5, (3, 3_000));
        check(&[0, 1, 2], 3, 3, (3, 65_000));
        check(&[0, 1, 2], 59, 3, (3, 65_000));
        check(&[0, 1, 2], 64, 3, (3, 65_000));
        check(&[0, 1, 2], 65, 3, (0, 65_000));
        // Sends spread out drop off one slice at a time.
        check(&[0, 10, 20], 30, 3, (3, 65_000));
        check(&[0, 10, 20], 30, 2, (3, 75_000));
        check(&[0, 10, 20], 70, 3, (2, 70_000));
        // Long idle: everything has expired, including slices the ring reused.
        check(&[0, 1, 2], 10 * 60, 1, (0, 600_000));
        check(&[0, 200, 201], 202, 2, (2, 265_000));
    }

    #[test]
    fn window_survives_a_clock_step_backwards() {
        let mut w = SlidingWindow::new(Duration::from_secs(60));
        w.record(UnixMillis(100 * 1000));
        w.record(UnixMillis(10 * 1000)); // clock stepped back: still counted
        assert_eq!(w.count(UnixMillis(10 * 1000)), 2);
        assert_eq!(w.count(UnixMillis(100 * 1000)), 2);
        assert_eq!(w.ready_at(UnixMillis(0), 0), None);
        // Negative times (before 1970) do not break slice arithmetic.
        let mut w = SlidingWindow::new(Duration::from_secs(60));
        w.record(UnixMillis(-1));
        assert_eq!(w.count(UnixMillis(0)), 1);
    }

    #[test]
    fn never_more_than_the_limit_in_any_period() {
        // Send whenever allowed, one attempt per second for ten minutes, and check every
        // 60-second stretch afterwards.
        let limit = 7;
        let mut w = SlidingWindow::new(Duration::from_secs(60));
        let mut sent = Vec::new();
        for s in 0..600 {
            let now = UnixMillis(s * 1000);
            if w.count(now) < limit {
                w.record(now);
                sent.push(now.0);
            }
        }
        for (i, &t) in sent.iter().enumerate() {
            let in_window = sent[..=i].iter().filter(|&&x| x > t - MIN).count();
            assert!(
                in_window <= limit as usize,
                "{in_window} sends in the minute before {t}"
            );
        }
        // And the conservative counting costs at most one slice per period:
        // 7 per 65 s at worst, so more than 7 * 600 / 65 = 64 in ten minutes.
        assert!(sent.len() >= 64, "only {} sends", sent.len());
    }

    proptest::proptest! {
        /// The count holds every event of the last period and nothing older than one more
        /// slice, and the fast running total agrees with summing the slices.
        #[test]
        fn count_is_conservative_and_tight(
            steps in proptest::collection::vec((0i64..20_000, proptest::bool::ANY), 1..300),
        ) {
            let mut w = SlidingWindow::new(Duration::from_secs(60));
            let mut t = 0i64;
            let mut events = Vec::new();
            for (dt, record) in steps {
                t += dt;
                let now = UnixMillis(t);
                if record {
                    w.record(now);
                    events.push(t);
                }
                let c = w.count(now);
                let exact = events.iter().filter(|&&e| e > t - MIN).count() as u32;
                let loose = events.iter().filter(|&&e| e > t - MIN - 5_000).count() as u32;
                proptest::prop_assert!(exact <= c && c <= loose, "{exact} <= {c} <= {loose} at {t}");
                proptest::prop_assert_eq!(c, w.sum_from(w.current(now) - BUCKETS as i64));
            }
        }
    }

    #[test]
    fn usage_reports_the_fullest_limit() {
        let limits = SlotLimits {
            per_minute: Some(4),
            per_hour: Some(10),
            per_day: None,
        };
        let mut u = Usage::new();
        let now = UnixMillis(0);
        assert_eq!(
            u.headroom(&limits, now),
            Headroom {
                blocked_until: None,
                load_permille: 0
            }
        );
        for _ in 0..2 {
            u.record(now);
        }
        assert_eq!(u.headroom(&limits, now).load_permille, 500);
        for _ in 0..2 {
            u.record(now);
        }
        let h = u.headroom(&limits, now);
        assert_eq!(h.load_permille, 1000);
        assert_eq!(h.blocked_until, Some(UnixMillis(65_000)));
        assert_eq!(u.counts(now), (4, 4, 4));
        assert_eq!(u.headroom(&SlotLimits::default(), now).load_permille, 0);
    }

    #[test]
    fn usage_waits_for_the_latest_of_several_blocked_limits() {
        let limits = SlotLimits {
            per_minute: Some(2),
            per_hour: Some(2),
            per_day: None,
        };
        let mut u = Usage::new();
        u.record(UnixMillis(0));
        u.record(UnixMillis(0));
        // The hour window's slices are 5 min; it frees at 65 min.
        assert_eq!(
            u.headroom(&limits, UnixMillis(1000)).blocked_until,
            Some(UnixMillis(65 * MIN))
        );
    }

    #[test]
    fn token_bucket_refills_at_the_rate() {
        let rate = Rate {
            per_second: 4,
            burst: 2,
        };
        let mut b = TokenBucket::new(rate, UnixMillis(0));
        assert!(b.available(UnixMillis(0)));
        b.take(UnixMillis(0));
        b.take(UnixMillis(0));
        assert!(!b.available(UnixMillis(0)));
        assert_eq!(b.ready_at(UnixMillis(0)), UnixMillis(250));
        assert_eq!(b.ready_at(UnixMillis(100)), UnixMillis(250));
        assert!(b.available(UnixMillis(250)));
        // Refills to the burst, not beyond.
        assert!(b.available(UnixMillis(10_000)));
        b.take(UnixMillis(10_000));
        b.take(UnixMillis(10_000));
        assert!(!b.available(UnixMillis(10_000)));
        // Taking without a token leaves it empty rather than in debt.
        b.take(UnixMillis(10_000));
        assert_eq!(b.ready_at(UnixMillis(10_000)), UnixMillis(10_250));
        // A zero rate is treated as one per second.
        let z = TokenBucket::new(
            Rate {
                per_second: 0,
                burst: 0,
            },
            UnixMillis(0),
        );
        assert!(z.available(UnixMillis(0)));
    }
}
