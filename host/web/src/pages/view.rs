//! Small formatting helpers the templates share: times in the display zone, URL encoding,
//! signal bars, and the CSS class of each state.

use domain::UnixMillis;
use time::{OffsetDateTime, UtcOffset};

/// A time as templates hand it over (by value or by reference).
pub(crate) trait Millis {
    fn millis(&self) -> UnixMillis;
}

impl Millis for UnixMillis {
    fn millis(&self) -> UnixMillis {
        *self
    }
}

impl<T: Millis + ?Sized> Millis for &T {
    fn millis(&self) -> UnixMillis {
        (**self).millis()
    }
}

/// An optional time as templates hand it over.
pub(crate) trait OptMillis {
    fn opt_millis(&self) -> Option<UnixMillis>;
}

impl OptMillis for Option<UnixMillis> {
    fn opt_millis(&self) -> Option<UnixMillis> {
        *self
    }
}

impl<T: OptMillis + ?Sized> OptMillis for &T {
    fn opt_millis(&self) -> Option<UnixMillis> {
        (**self).opt_millis()
    }
}

/// `2026-11-22 13:05:09` in `offset`.
pub(crate) fn local_time(t: UnixMillis, offset: UtcOffset) -> String {
    let Ok(dt) = OffsetDateTime::from_unix_timestamp(t.0.div_euclid(1000)) else {
        return "—".to_owned();
    };
    let d = dt.to_offset(offset);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        d.year(),
        u8::from(d.month()),
        d.day(),
        d.hour(),
        d.minute(),
        d.second()
    )
}

/// `13:05` in `offset` (chart axis labels).
pub(crate) fn clock(t: UnixMillis, offset: UtcOffset) -> String {
    let Ok(dt) = OffsetDateTime::from_unix_timestamp(t.0.div_euclid(1000)) else {
        return String::new();
    };
    let d = dt.to_offset(offset);
    format!("{:02}:{:02}", d.hour(), d.minute())
}

/// Parses a `YYYY-MM-DD` date in `offset` to the Unix milliseconds of its midnight.
pub(crate) fn parse_date(s: &str, offset: UtcOffset) -> Option<UnixMillis> {
    let mut it = s.trim().split('-');
    let (y, m, d) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let month = time::Month::try_from(m.parse::<u8>().ok()?).ok()?;
    let date = time::Date::from_calendar_date(y.parse().ok()?, month, d.parse().ok()?).ok()?;
    let dt = date.with_time(time::Time::MIDNIGHT).assume_offset(offset);
    Some(UnixMillis(dt.unix_timestamp() * 1000))
}

/// Percent-encodes a query value.
pub(crate) fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Signal bars (0–4) for a `+CSQ` RSSI (0–31, 99 unknown), after the usual thresholds
/// (≥ -73 dBm excellent, ≥ -83 good, ≥ -93 fair, else weak; RSSI = (dBm + 113) / 2).
pub(crate) fn bars(rssi: Option<u8>) -> u8 {
    match rssi {
        None | Some(99..) => 0,
        Some(r) if r >= 20 => 4,
        Some(r) if r >= 15 => 3,
        Some(r) if r >= 10 => 2,
        Some(r) if r >= 2 => 1,
        Some(_) => 0,
    }
}

/// dBm for a `+CSQ` RSSI (TS 27.007 8.5: 0 is -113 dBm or less, 31 is -51 or more).
pub(crate) fn dbm(rssi: Option<u8>) -> Option<i32> {
    match rssi {
        Some(r @ 0..=31) => Some(-113 + 2 * i32::from(r)),
        _ => None,
    }
}

/// CSS class of a message state.
pub(crate) fn state_class(state: &str) -> &'static str {
    match state {
        "delivered" => "ok",
        "submitted" | "dispatching" => "info",
        "queued" => "muted",
        "undeliverable" | "failed" | "expired" | "rejected" => "bad",
        _ => "muted",
    }
}

/// CSS class of a carrier state.
pub(crate) fn carrier_class(state: carriers::CarrierState) -> &'static str {
    match state {
        carriers::CarrierState::Up => "ok",
        carriers::CarrierState::Connecting => "warn",
        carriers::CarrierState::Down => "bad",
        carriers::CarrierState::Disabled => "muted",
    }
}

/// Catalogue key of a carrier state.
pub(crate) fn carrier_state_key(state: carriers::CarrierState) -> &'static str {
    match state {
        carriers::CarrierState::Up => "carrier.up",
        carriers::CarrierState::Connecting => "carrier.connecting",
        carriers::CarrierState::Down => "carrier.down",
        carriers::CarrierState::Disabled => "carrier.disabled",
    }
}

/// Catalogue key of a carrier kind.
pub(crate) fn kind_key(kind: carriers::CarrierKind) -> &'static str {
    match kind {
        carriers::CarrierKind::Smpp => "kind.smpp",
        carriers::CarrierKind::BankSlot => "kind.slot",
        carriers::CarrierKind::Modem => "kind.modem",
    }
}

/// Catalogue key of a message state.
pub(crate) fn state_key(state: domain::MessageState) -> &'static str {
    match state {
        domain::MessageState::Queued => "state.queued",
        domain::MessageState::Dispatching => "state.dispatching",
        domain::MessageState::Submitted => "state.submitted",
        domain::MessageState::Delivered => "state.delivered",
        domain::MessageState::Undeliverable => "state.undeliverable",
        domain::MessageState::Expired => "state.expired",
        domain::MessageState::Failed => "state.failed",
    }
}

/// Percent `part / whole` (0 when `whole` is 0), rounded.
pub(crate) fn percent(part: u64, whole: u64) -> u64 {
    (part * 100).checked_div(whole).unwrap_or(0).min(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let cn = UtcOffset::from_hms(8, 0, 0).unwrap();
        assert_eq!(
            local_time(UnixMillis(1_700_000_000_000), cn),
            "2023-11-15 06:13:20"
        );
        assert_eq!(
            clock(UnixMillis(1_700_000_000_000), UtcOffset::UTC),
            "22:13"
        );
        let d = parse_date("2023-11-15", cn).unwrap();
        assert_eq!(local_time(d, cn), "2023-11-15 00:00:00");
        assert_eq!(parse_date("15/11/2023", cn), None);
        assert_eq!(
            urlencode("/send?a=1&b=中"),
            "%2Fsend%3Fa%3D1%26b%3D%E4%B8%AD"
        );
        assert_eq!(
            [
                None,
                Some(99),
                Some(1),
                Some(9),
                Some(14),
                Some(19),
                Some(31)
            ]
            .map(bars),
            [0, 0, 0, 1, 2, 3, 4]
        );
        assert_eq!(dbm(Some(21)), Some(-71));
        assert_eq!(dbm(Some(99)), None);
        assert_eq!(percent(1, 3), 33);
        assert_eq!(percent(1, 0), 0);
    }
}
