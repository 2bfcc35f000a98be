//! The simulator's notion of wall-clock time: a configured base (Unix seconds) plus the
//! explicit milliseconds the sans-I/O core is given, turned into TP-SCTS / TP-DT time stamps
//! (TS 23.040 9.2.3.11) and the `"yy/MM/dd,hh:mm:ss±zz"` strings of text mode
//! (TS 27.005 3.1 `<scts>`).

use gsm::Timestamp;

/// Milliseconds since the simulator started; the only clock the core knows.
pub type Millis = u64;

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar
/// (the well-known era algorithm: 400-year eras of 146 097 days).
fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The time stamp for `now` (ms since start) given the base and zone.
pub fn timestamp(base_unix: i64, tz_quarters: i8, now: Millis) -> Timestamp {
    let secs = i64::try_from(now / 1_000).unwrap_or(i64::MAX / 2);
    let local = base_unix
        .saturating_add(secs)
        .saturating_add(i64::from(tz_quarters) * 15 * 60);
    let days = local.div_euclid(86_400);
    let sod = local.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    Timestamp {
        year: y.rem_euclid(100) as u8,
        month: m,
        day: d,
        hour: (sod / 3_600) as u8,
        minute: (sod / 60 % 60) as u8,
        second: (sod % 60) as u8,
        tz_quarters: tz_quarters.clamp(-79, 79),
    }
}

/// Text-mode form: `24/01/01,12:00:00+04` (zone in quarter hours, TS 27.005 3.1).
pub fn text(ts: &Timestamp) -> String {
    let sign = if ts.tz_quarters < 0 { '-' } else { '+' };
    format!(
        "{:02}/{:02}/{:02},{:02}:{:02}:{:02}{}{:02}",
        ts.year,
        ts.month,
        ts.day,
        ts.hour,
        ts.minute,
        ts.second,
        sign,
        ts.tz_quarters.unsigned_abs()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps() {
        // 2024-01-01 12:00:00 UTC, +1 h.
        let t = timestamp(1_704_110_400, 4, 0);
        assert_eq!(text(&t), "24/01/01,13:00:00+04");
        // 2024-02-29 (leap day) 23:59:59 UTC plus one second, zone 0.
        let t = timestamp(1_709_251_199, 0, 1_000);
        assert_eq!(text(&t), "24/03/01,00:00:00+00");
        let t = timestamp(0, -8, 0);
        assert_eq!(text(&t), "69/12/31,22:00:00-08");
    }
}
