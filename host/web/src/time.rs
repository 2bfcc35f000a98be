//! Times on the wire: RFC 3339 in UTC (`2026-11-22T08:00:00.000Z`), or for input also a number of
//! Unix seconds.

use domain::UnixMillis;
use serde::{Deserialize, Deserializer, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Formats `t` as RFC 3339 UTC with milliseconds.
pub fn rfc3339(t: UnixMillis) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.0) * 1_000_000)
        .ok()
        .and_then(|dt| dt.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// Parses RFC 3339 (any offset).
pub fn parse_rfc3339(s: &str) -> Option<UnixMillis> {
    let dt = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    i64::try_from(dt.unix_timestamp_nanos() / 1_000_000)
        .ok()
        .map(UnixMillis)
}

pub(crate) fn ser<S: Serializer>(t: &UnixMillis, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*t))
}

pub(crate) fn ser_opt<S: Serializer>(t: &Option<UnixMillis>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&rfc3339(*t)),
        None => s.serialize_none(),
    }
}

/// A time given as RFC 3339 text or Unix seconds.
#[derive(Deserialize)]
#[serde(untagged)]
enum Given {
    Text(String),
    Seconds(i64),
}

pub(crate) fn de_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<UnixMillis>, D::Error> {
    match Option::<Given>::deserialize(d)? {
        None => Ok(None),
        Some(Given::Seconds(s)) => Ok(Some(UnixMillis(s.saturating_mul(1000)))),
        Some(Given::Text(t)) => parse_rfc3339(&t).map(Some).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{t:?} is not an RFC 3339 time such as 2026-11-22T09:30:00+08:00"
            ))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_offsets() {
        let t = parse_rfc3339("2026-11-22T09:30:00+08:00").unwrap();
        assert_eq!(rfc3339(t), "2026-11-22T01:30:00Z");
        assert_eq!(rfc3339(UnixMillis(1_500)), "1970-01-01T00:00:01.5Z");
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
