//! Per-slot sending limits (`SlotLimits` of a `Configure`): most submits per minute, hour and
//! day, counted in fixed windows of the bank's clock.
//!
//! Fixed windows (rather than sliding ones) keep the state to three counters per slot; a burst
//! straddling a window edge can reach twice a limit over one window's length, which operators'
//! per-SIM limits tolerate (they are themselves daily or hourly counts). A submit counts when
//! the bank accepts it into the slot's queue, whatever its outcome: a conservative count.

use link::msg::SlotLimits;

const MINUTE: u64 = 60_000;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

/// Counters for one window length.
#[derive(Debug, Clone, Copy, Default)]
struct Window {
    /// Which window (`now / length`) the count belongs to.
    id: u64,
    count: u32,
}

impl Window {
    fn count_at(&self, now: u64, len: u64) -> u32 {
        if self.id == now / len { self.count } else { 0 }
    }

    fn bump(&mut self, now: u64, len: u64) {
        let id = now / len;
        if self.id != id {
            *self = Window { id, count: 0 };
        }
        self.count = self.count.saturating_add(1);
    }
}

/// One slot's limits and counts.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Limiter {
    limits: SlotLimits,
    windows: [Window; 3],
}

impl Limiter {
    /// No limits.
    pub(crate) const fn new() -> Self {
        Self {
            limits: SlotLimits {
                per_minute: None,
                per_hour: None,
                per_day: None,
            },
            windows: [Window { id: 0, count: 0 }; 3],
        }
    }

    pub(crate) fn set(&mut self, limits: SlotLimits) {
        self.limits = limits;
    }

    fn each(&self) -> [(Option<u32>, u64); 3] {
        [
            (self.limits.per_minute.map(u32::from), MINUTE),
            (self.limits.per_hour.map(u32::from), HOUR),
            (self.limits.per_day, DAY),
        ]
    }

    /// Whether one more submit is allowed at `now`.
    pub(crate) fn allows(&self, now: u64) -> bool {
        self.each()
            .iter()
            .zip(&self.windows)
            .all(|(&(limit, len), w)| limit.is_none_or(|l| w.count_at(now, len) < l))
    }

    /// Counts one submit at `now`.
    pub(crate) fn record(&mut self, now: u64) {
        let lens = self.each().map(|(_, len)| len);
        for (w, len) in self.windows.iter_mut().zip(lens) {
            w.bump(now, len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_minute: Option<u16>, per_hour: Option<u16>, per_day: Option<u32>) -> Limiter {
        let mut l = Limiter::default();
        l.set(SlotLimits {
            per_minute,
            per_hour,
            per_day,
        });
        l
    }

    /// Submits attempted at each time (ms); the times accepted.
    fn run(mut l: Limiter, times: &[u64]) -> Vec<u64> {
        let mut ok = Vec::new();
        for &t in times {
            if l.allows(t) {
                l.record(t);
                ok.push(t);
            }
        }
        ok
    }

    #[test]
    fn limits() {
        let check = |l, times: &[u64], expect: &[u64]| assert_eq!(run(l, times), expect);
        check(limiter(None, None, None), &[0, 0, 0], &[0, 0, 0]);
        check(limiter(Some(2), None, None), &[0, 1, 2, 59_999], &[0, 1]);
        // A new minute starts a new count.
        check(
            limiter(Some(2), None, None),
            &[0, 1, 60_000, 60_001, 60_002],
            &[0, 1, 60_000, 60_001],
        );
        check(limiter(Some(0), None, None), &[0], &[]);
        // The hourly limit holds across minutes.
        check(
            limiter(Some(10), Some(3), None),
            &[0, 60_000, 120_000, 180_000, HOUR],
            &[0, 60_000, 120_000, HOUR],
        );
        check(limiter(None, None, Some(1)), &[0, HOUR, DAY], &[0, DAY]);
    }
}
