//! Quiet hours: the nightly window in which bulk (low-priority) messages wait (DESIGN "Message
//! lifecycle" step 3). Times are local to a fixed UTC offset from the config: mainland China has
//! used UTC+08:00 without daylight saving since 1991, so an offset is exact there, and it keeps the
//! policy free of a time zone database.

use domain::{Priority, UnixMillis};

const DAY_MS: i64 = 86_400_000;
const MINUTE_MS: i64 = 60_000;

/// A daily quiet window `[start, end)` in local time; it may cross midnight (`22:00`–`08:00`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuietHours {
    /// Start, minutes after local midnight (0–1439).
    pub start_minute: u16,
    /// End, minutes after local midnight (0–1439); not equal to the start.
    pub end_minute: u16,
    /// Local time minus UTC, in minutes (+480 for China).
    pub utc_offset_minutes: i16,
    /// Messages at or below this priority wait, as well as those marked bulk.
    pub max_priority: Priority,
}

impl QuietHours {
    /// Whether quiet hours hold back a message with this priority and bulk flag.
    pub fn applies_to(&self, priority: Priority, bulk: bool) -> bool {
        bulk || priority <= self.max_priority
    }

    /// If `now` is inside the quiet window, the instant it ends.
    pub fn ends_at(&self, now: UnixMillis) -> Option<UnixMillis> {
        let offset = i64::from(self.utc_offset_minutes) * MINUTE_MS;
        let local = now.0.saturating_add(offset);
        let into_day = local.rem_euclid(DAY_MS);
        let minute = into_day / MINUTE_MS;
        let (start, end) = (i64::from(self.start_minute), i64::from(self.end_minute));
        let midnight = now.0.saturating_sub(into_day);
        let end_today = midnight.saturating_add(end * MINUTE_MS);
        if start < end {
            (start <= minute && minute < end).then_some(UnixMillis(end_today))
        } else if minute >= start {
            Some(UnixMillis(end_today.saturating_add(DAY_MS)))
        } else if minute < end {
            Some(UnixMillis(end_today))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-06-01T00:00:00Z.
    const DAY0: i64 = 1_717_200_000_000;

    fn hm(s: &str) -> u16 {
        let (h, m) = s.split_once(':').unwrap();
        h.parse::<u16>().unwrap() * 60 + m.parse::<u16>().unwrap()
    }

    /// `at_utc` is "HH:MM" on DAY0 (or "+1 HH:MM" for the next day); expect is the UTC end as
    /// "d HH:MM" relative to DAY0, or "-" when not quiet.
    fn check(window: (&str, &str), offset: i16, at_utc: &str, expect: &str) {
        let q = QuietHours {
            start_minute: hm(window.0),
            end_minute: hm(window.1),
            utc_offset_minutes: offset,
            max_priority: Priority::MIN,
        };
        let (day, t) = at_utc
            .split_once(' ')
            .map_or((0, at_utc), |(d, t)| (d.parse().unwrap(), t));
        let now = UnixMillis(DAY0 + day * DAY_MS + i64::from(hm(t)) * MINUTE_MS);
        let got = match q.ends_at(now) {
            None => "-".to_owned(),
            Some(e) => {
                let rel = e.0 - DAY0;
                let d = rel.div_euclid(DAY_MS);
                let m = rel.rem_euclid(DAY_MS) / MINUTE_MS;
                format!("{d} {:02}:{:02}", m / 60, m % 60)
            }
        };
        assert_eq!(got, expect, "window {window:?} offset {offset} at {at_utc}");
    }

    #[test]
    fn quiet_window_crossing_midnight_in_china_time() {
        let w = ("22:00", "08:00");
        // 22:00 Beijing = 14:00 UTC; 08:00 Beijing = 00:00 UTC.
        check(w, 480, "13:59", "-");
        check(w, 480, "14:00", "1 00:00");
        check(w, 480, "15:30", "1 00:00");
        check(w, 480, "23:59", "1 00:00");
        check(w, 480, "1 00:00", "-");
        // 02:00 Beijing = 18:00 UTC the day before.
        check(w, 480, "18:00", "1 00:00");
        // Same window in UTC.
        check(w, 0, "21:59", "-");
        check(w, 0, "22:00", "1 08:00");
        check(w, 0, "1 03:00", "1 08:00");
        check(w, 0, "1 07:59", "1 08:00");
        check(w, 0, "1 08:00", "-");
        // Negative offsets (UTC−05:00): 22:00 local = 03:00 UTC next day.
        check(w, -300, "1 02:59", "-");
        check(w, -300, "1 03:00", "1 13:00");
    }

    #[test]
    fn quiet_window_within_a_day() {
        let w = ("12:00", "13:30");
        check(w, 0, "11:59", "-");
        check(w, 0, "12:00", "0 13:30");
        check(w, 0, "13:29", "0 13:30");
        check(w, 0, "13:30", "-");
        // Midnight-anchored windows.
        check(("00:00", "06:00"), 0, "00:00", "0 06:00");
        check(("23:00", "00:00"), 0, "23:30", "1 00:00");
        check(("23:00", "00:00"), 0, "1 00:00", "-");
    }

    #[test]
    fn only_bulk_or_low_priority_waits() {
        let q = QuietHours {
            start_minute: 0,
            end_minute: 60,
            utc_offset_minutes: 0,
            max_priority: Priority::new(2).unwrap(),
        };
        assert!(q.applies_to(Priority::MIN, false));
        assert!(q.applies_to(Priority::new(2).unwrap(), false));
        assert!(!q.applies_to(Priority::new(3).unwrap(), false));
        assert!(q.applies_to(Priority::MAX, true));
    }
}
