//! Time stamps and validity periods: TP-SCTS / TP-DT (TS 23.040 9.2.3.11) and TP-VP in its
//! relative, absolute and enhanced formats (TS 23.040 9.2.3.12).

use core::fmt;

use crate::error::{DecodeError, EncodeError, Field};

/// A service-centre time stamp: local time in swapped semi-octets plus the offset from UTC
/// in quarter hours (TS 23.040 9.2.3.11).
///
/// The year has no century on the air; [`Timestamp::full_year`] takes it as 20yy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Timestamp {
    /// Year within the century, 0–99.
    pub year: u8,
    /// Month, 1–12.
    pub month: u8,
    /// Day, 1–31.
    pub day: u8,
    /// Hour, 0–23.
    pub hour: u8,
    /// Minute, 0–59.
    pub minute: u8,
    /// Second, 0–59.
    pub second: u8,
    /// Offset from UTC in quarter hours, −79 to +79 (two BCD digits and a sign bit).
    pub tz_quarters: i8,
}

const fn bcd(octet: u8) -> Option<u8> {
    // Swapped semi-octets: the low nibble is the tens digit.
    let tens = octet & 0x0F;
    let units = octet >> 4;
    if tens > 9 || units > 9 {
        None
    } else {
        Some(tens * 10 + units)
    }
}

const fn to_bcd(value: u8) -> u8 {
    ((value % 10) << 4) | (value / 10 % 10)
}

impl Timestamp {
    /// Octets on the wire.
    pub const LEN: usize = 7;

    /// Whether every field is in range.
    pub const fn is_valid(&self) -> bool {
        self.year <= 99
            && self.month >= 1
            && self.month <= 12
            && self.day >= 1
            && self.day <= 31
            && self.hour <= 23
            && self.minute <= 59
            && self.second <= 59
            && self.tz_quarters >= -79
            && self.tz_quarters <= 79
    }

    /// Decodes the 7 octets at the start of `data`.
    pub fn decode(data: &[u8], field: Field) -> Result<Timestamp, DecodeError> {
        let Some(&[y, mo, d, h, mi, s, tz]) = data.first_chunk::<7>() else {
            return Err(DecodeError::Truncated {
                field,
                needed: Self::LEN,
                remaining: data.len(),
            });
        };
        let bad = DecodeError::BadTimestamp { field };
        // The time zone's tens digit has the sign in its top bit (bit 3 of the low nibble).
        let quarters = bcd(tz & 0xF7).ok_or(bad)? as i8;
        let ts = Timestamp {
            year: bcd(y).ok_or(bad)?,
            month: bcd(mo).ok_or(bad)?,
            day: bcd(d).ok_or(bad)?,
            hour: bcd(h).ok_or(bad)?,
            minute: bcd(mi).ok_or(bad)?,
            second: bcd(s).ok_or(bad)?,
            tz_quarters: if tz & 0x08 != 0 { -quarters } else { quarters },
        };
        if ts.is_valid() { Ok(ts) } else { Err(bad) }
    }

    /// The 7 octets on the wire.
    pub fn encode(&self) -> Result<[u8; 7], EncodeError> {
        if !self.is_valid() {
            return Err(EncodeError::BadTimestamp);
        }
        let tz = to_bcd(self.tz_quarters.unsigned_abs());
        let sign = if self.tz_quarters < 0 { 0x08 } else { 0 };
        Ok([
            to_bcd(self.year),
            to_bcd(self.month),
            to_bcd(self.day),
            to_bcd(self.hour),
            to_bcd(self.minute),
            to_bcd(self.second),
            tz | sign,
        ])
    }

    /// The year with its century, taken as 2000–2099.
    pub const fn full_year(&self) -> u16 {
        2000 + self.year as u16
    }

    /// The offset from UTC in minutes.
    pub const fn utc_offset_minutes(&self) -> i32 {
        self.tz_quarters as i32 * 15
    }

    /// Seconds since 1970-01-01T00:00:00Z.
    pub fn unix_seconds(&self) -> i64 {
        // Days from the civil date (Howard Hinnant's algorithm), proleptic Gregorian.
        let (y, m) = if self.month <= 2 {
            (i64::from(self.full_year()) - 1, i64::from(self.month) + 9)
        } else {
            (i64::from(self.full_year()), i64::from(self.month) - 3)
        };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * m + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        let local = days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second);
        local - i64::from(self.utc_offset_minutes()) * 60
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 style: `2002-08-26T19:37:41+02:00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let offset = self.utc_offset_minutes();
        let sign = if offset < 0 { '-' } else { '+' };
        let offset = offset.unsigned_abs();
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{sign}{:02}:{:02}",
            self.full_year(),
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second,
            offset / 60,
            offset % 60
        )
    }
}

/// A relative validity period, the TP-VP octet of TS 23.040 9.2.3.12.1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RelativeValidity(pub u8);

impl RelativeValidity {
    /// The longest period: 63 weeks.
    pub const MAX: RelativeValidity = RelativeValidity(255);

    /// The period in seconds:
    /// 0–143 → (VP+1)×5 min; 144–167 → 12 h + (VP−143)×30 min; 168–196 → (VP−166) days;
    /// 197–255 → (VP−192) weeks.
    pub const fn seconds(self) -> u32 {
        let vp = self.0 as u32;
        match self.0 {
            0..=143 => (vp + 1) * 300,
            144..=167 => 43_200 + (vp - 143) * 1800,
            168..=196 => (vp - 166) * 86_400,
            _ => (vp - 192) * 604_800,
        }
    }

    /// The shortest period that is at least `seconds` long, so a message never expires
    /// earlier than asked; an error beyond 63 weeks.
    pub fn from_seconds(seconds: u64) -> Result<RelativeValidity, EncodeError> {
        let vp = if seconds <= 43_200 {
            seconds.div_ceil(300).saturating_sub(1)
        } else if seconds <= 86_400 {
            (seconds - 43_200).div_ceil(1800) + 143
        } else if seconds <= 30 * 86_400 {
            seconds.div_ceil(86_400) + 166
        } else if seconds <= 63 * 604_800 {
            // 31..=34 days round up to 5 weeks.
            seconds.div_ceil(604_800).max(5) + 192
        } else {
            return Err(EncodeError::ValidityTooLong { seconds });
        };
        Ok(RelativeValidity(vp as u8))
    }
}

impl fmt::Display for RelativeValidity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (", self.0)?;
        write_duration(f, self.seconds())?;
        f.write_str(")")
    }
}

fn write_duration(f: &mut fmt::Formatter<'_>, seconds: u32) -> fmt::Result {
    let units = [
        (604_800, "w"),
        (86_400, "d"),
        (3600, "h"),
        (60, "min"),
        (1, "s"),
    ];
    let mut rest = seconds;
    let mut first = true;
    for (size, name) in units {
        if rest >= size {
            if !first {
                f.write_str(" ")?;
            }
            write!(f, "{}{name}", rest / size)?;
            rest %= size;
            first = false;
        }
    }
    if first {
        f.write_str("0s")?;
    }
    Ok(())
}

/// The period an enhanced validity period gives (TS 23.040 9.2.3.12.3, bits 2..0 of its
/// first octet).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EnhancedPeriod {
    /// `000`: no validity period specified.
    NotPresent,
    /// `001`: a relative period as in the relative format.
    Relative(RelativeValidity),
    /// `010`: a relative period of 0–255 seconds.
    Seconds(u8),
    /// `011`: a relative period as hours, minutes and seconds in semi-octets.
    Hms {
        /// Hours.
        hours: u8,
        /// Minutes.
        minutes: u8,
        /// Seconds.
        seconds: u8,
    },
}

/// An enhanced validity period (TS 23.040 9.2.3.12.3): 7 octets, decoded into
/// [`EnhancedPeriod`]; the raw octets are kept so re-encoding is exact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EnhancedValidity {
    raw: [u8; 7],
    period: EnhancedPeriod,
}

impl EnhancedValidity {
    /// Decodes the 7 octets; reserved formats and bad digits are a typed error.
    pub fn decode(raw: [u8; 7]) -> Result<EnhancedValidity, DecodeError> {
        let [first, a, b, c, ..] = raw;
        let bad = DecodeError::BadEnhancedValidity;
        // Bit 7 extends the indicator by one octet, moving the period one octet on.
        let (fmt_octet, p) = if first & 0x80 != 0 {
            (first, [b, c, raw[4]])
        } else {
            (first, [a, b, c])
        };
        let period = match fmt_octet & 0x07 {
            0 => EnhancedPeriod::NotPresent,
            1 => EnhancedPeriod::Relative(RelativeValidity(p[0])),
            2 => EnhancedPeriod::Seconds(p[0]),
            3 => EnhancedPeriod::Hms {
                hours: bcd(p[0]).ok_or(bad)?,
                minutes: bcd(p[1]).filter(|m| *m < 60).ok_or(bad)?,
                seconds: bcd(p[2]).filter(|s| *s < 60).ok_or(bad)?,
            },
            _ => return Err(bad),
        };
        Ok(EnhancedValidity { raw, period })
    }

    /// Builds one from a period; the single-shot flag asks the SC for one delivery attempt.
    pub fn new(period: EnhancedPeriod, single_shot: bool) -> EnhancedValidity {
        let mut raw = [0u8; 7];
        let (format, octets): (u8, [u8; 3]) = match period {
            EnhancedPeriod::NotPresent => (0, [0; 3]),
            EnhancedPeriod::Relative(r) => (1, [r.0, 0, 0]),
            EnhancedPeriod::Seconds(s) => (2, [s, 0, 0]),
            EnhancedPeriod::Hms {
                hours,
                minutes,
                seconds,
            } => (3, [to_bcd(hours), to_bcd(minutes), to_bcd(seconds)]),
        };
        raw[0] = format | if single_shot { 0x40 } else { 0 };
        raw[1..4].copy_from_slice(&octets);
        EnhancedValidity { raw, period }
    }

    /// The period.
    pub const fn period(&self) -> EnhancedPeriod {
        self.period
    }

    /// Whether the SC is asked for a single delivery attempt (bit 6).
    pub const fn single_shot(&self) -> bool {
        self.raw[0] & 0x40 != 0
    }

    /// The 7 octets.
    pub const fn raw(&self) -> [u8; 7] {
        self.raw
    }
}

impl fmt::Display for EnhancedValidity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("enhanced, ")?;
        match self.period {
            EnhancedPeriod::NotPresent => f.write_str("no period")?,
            EnhancedPeriod::Relative(r) => write!(f, "relative {r}")?,
            EnhancedPeriod::Seconds(s) => write!(f, "{s} s")?,
            EnhancedPeriod::Hms {
                hours,
                minutes,
                seconds,
            } => write!(f, "{hours:02}:{minutes:02}:{seconds:02}")?,
        }
        if self.single_shot() {
            f.write_str(", single shot")?;
        }
        Ok(())
    }
}

/// TP-VP with its format TP-VPF (TS 23.040 9.2.3.3 / 9.2.3.12).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Validity {
    /// TP-VPF `00`: no validity period; the SC applies its default.
    #[default]
    None,
    /// TP-VPF `10`: relative, one octet.
    Relative(RelativeValidity),
    /// TP-VPF `11`: absolute, a time stamp.
    Absolute(Timestamp),
    /// TP-VPF `01`: enhanced, seven octets.
    Enhanced(EnhancedValidity),
}

impl Validity {
    /// The two TP-VPF bits (bits 4..3 of the SMS-SUBMIT first octet), unshifted.
    pub const fn vpf(&self) -> u8 {
        match self {
            Validity::None => 0b00,
            Validity::Relative(_) => 0b10,
            Validity::Absolute(_) => 0b11,
            Validity::Enhanced(_) => 0b01,
        }
    }

    /// Octets TP-VP takes.
    pub const fn encoded_len(&self) -> usize {
        match self {
            Validity::None => 0,
            Validity::Relative(_) => 1,
            Validity::Absolute(_) | Validity::Enhanced(_) => 7,
        }
    }

    /// A relative period of at least `seconds`; see [`RelativeValidity::from_seconds`].
    pub fn relative_seconds(seconds: u64) -> Result<Validity, EncodeError> {
        RelativeValidity::from_seconds(seconds).map(Validity::Relative)
    }
}

impl fmt::Display for Validity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Validity::None => f.write_str("none"),
            Validity::Relative(r) => write!(f, "relative {r}"),
            Validity::Absolute(t) => write!(f, "absolute {t}"),
            Validity::Enhanced(e) => fmt::Display::fmt(e, f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn scts_with_time_zone() {
        // +02:00 is 8 quarters: tens digit 0 in the low nibble, units 8 in the high one.
        let raw = [0x20, 0x80, 0x62, 0x91, 0x73, 0x14, 0x80];
        let ts = Timestamp::decode(&raw, Field::Scts).unwrap();
        assert_eq!(ts.to_string(), "2002-08-26T19:37:41+02:00");
        assert_eq!(ts.encode(), Ok(raw));
        assert_eq!(ts.unix_seconds(), 1_030_383_461);
        // The classic example's 0x08 sets only the sign bit (TS 23.040 9.2.3.11): -0.
        let classic = Timestamp::decode(&[0x20, 0x80, 0x62, 0x91, 0x73, 0x14, 0x08], Field::Scts);
        assert_eq!(classic.unwrap().to_string(), "2002-08-26T19:37:41+00:00");
        // Negative offset: sign bit in the tens digit, -4:00 = 16 quarters.
        let west = Timestamp::decode(&[0x21, 0x10, 0x31, 0x32, 0x54, 0x75, 0x69], Field::Dt);
        assert_eq!(west.unwrap().to_string(), "2012-01-13T23:45:57-04:00");
    }

    #[test]
    fn bad_timestamps() {
        let bad = Err(DecodeError::BadTimestamp { field: Field::Scts });
        assert_eq!(
            Timestamp::decode(&[0x2A, 0x10, 0x10, 0, 0, 0, 0], Field::Scts),
            bad
        );
        assert_eq!(
            Timestamp::decode(&[0x20, 0x31, 0x10, 0, 0, 0, 0], Field::Scts),
            bad
        );
        assert_eq!(
            Timestamp::decode(&[0x20, 0x10], Field::Scts),
            Err(DecodeError::Truncated {
                field: Field::Scts,
                needed: 7,
                remaining: 2
            })
        );
    }

    #[test]
    fn relative_validity_table() {
        let cases: [(u64, u8, &str); 9] = [
            (0, 0, "0 (5min)"),
            (300, 0, "0 (5min)"),
            (301, 1, "1 (10min)"),
            (12 * 3600, 143, "143 (12h)"),
            (86_400, 167, "167 (1d)"),
            (2 * 86_400, 168, "168 (2d)"),
            (30 * 86_400, 196, "196 (4w 2d)"),
            (31 * 86_400, 197, "197 (5w)"),
            (63 * 604_800, 255, "255 (63w)"),
        ];
        for (secs, vp, shown) in cases {
            let r = RelativeValidity::from_seconds(secs).unwrap();
            assert_eq!((r.0, r.to_string().as_str()), (vp, shown), "{secs} s");
            assert!(u64::from(r.seconds()) >= secs);
        }
        assert_eq!(
            RelativeValidity::from_seconds(63 * 604_800 + 1),
            Err(EncodeError::ValidityTooLong {
                seconds: 63 * 604_800 + 1
            })
        );
        for vp in 0..=255u8 {
            let r = RelativeValidity(vp);
            assert_eq!(
                RelativeValidity::from_seconds(u64::from(r.seconds())),
                Ok(r)
            );
        }
    }

    #[test]
    fn enhanced_validity() {
        let e = EnhancedValidity::decode([0x03, 0x10, 0x30, 0x00, 0, 0, 0]).unwrap();
        assert_eq!(e.to_string(), "enhanced, 01:03:00");
        let e = EnhancedValidity::decode([0x42, 0x3C, 0, 0, 0, 0, 0]).unwrap();
        assert_eq!(e.to_string(), "enhanced, 60 s, single shot");
        assert_eq!(
            EnhancedValidity::decode([0x05, 0, 0, 0, 0, 0, 0]),
            Err(DecodeError::BadEnhancedValidity)
        );
        let built = EnhancedValidity::new(EnhancedPeriod::Relative(RelativeValidity(167)), false);
        assert_eq!(EnhancedValidity::decode(built.raw()), Ok(built));
    }
}
