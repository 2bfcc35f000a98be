//! Phone numbers: parsing what people and legacy software type into one canonical E.164 form.
//!
//! Branch software sends numbers every way there is: `+8613800138000`, `008613800138000`,
//! `13800138000` (national, default country China), `138-0013-8000`, or `4917112345678` (international
//! without the plus, as Kannel clients do). [`Msisdn::parse`] turns all of them into `+<digits>`
//! (ITU-T E.164: at most 15 digits) and says precisely why when it cannot.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use phonenumber::country;
use serde::{Serialize, Serializer};

/// An ITU-T E.164 country calling code, e.g. 86 for China.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CountryCode(pub u16);

/// How numbers are interpreted and how strictly they are checked.
#[derive(Clone, Debug)]
pub struct NumberPolicy {
    /// Region (ISO 3166 alpha-2, e.g. `CN`) assumed for numbers written without a country code.
    pub default_region: Option<country::Id>,
    /// When true, a number must be valid by libphonenumber's metadata (a real range of its country);
    /// when false, any 7–15 digit number with a known country code is accepted (for private
    /// numbering plans and test ranges).
    pub strict: bool,
}

impl NumberPolicy {
    /// The appliance's default: China as home region, strict validation.
    pub fn china() -> Self {
        NumberPolicy {
            default_region: Some(country::Id::CN),
            strict: true,
        }
    }

    /// A policy with `region` (ISO 3166 alpha-2) as default.
    pub fn with_region(region: &str, strict: bool) -> Result<Self, MsisdnError> {
        let id = country::Id::from_str(&region.to_ascii_uppercase())
            .map_err(|_| MsisdnError::UnknownRegion)?;
        Ok(NumberPolicy {
            default_region: Some(id),
            strict,
        })
    }
}

/// Why a string is not a usable phone number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MsisdnError {
    /// Nothing but separators.
    #[error("is empty")]
    Empty,
    /// A character that is neither a digit nor a separator (` -.()`), or a `+` not at the start.
    #[error("has an invalid character {0:?}")]
    BadChar(char),
    /// Fewer than 7 digits.
    #[error("is too short")]
    TooShort,
    /// More than 15 digits (E.164 maximum).
    #[error("is too long (E.164 allows at most 15 digits)")]
    TooLong,
    /// A national number, and no default region is configured.
    #[error("has no country code and no default country is configured")]
    NoCountry,
    /// The country code is not assigned.
    #[error("has an unknown country code")]
    UnknownCountry,
    /// Well formed, but not a valid number in its country's numbering plan.
    #[error("is not a valid number for its country")]
    Invalid,
    /// The configured default region is not an ISO 3166 alpha-2 code.
    #[error("unknown region code")]
    UnknownRegion,
}

/// A validated phone number in E.164 form: `+` followed by 7–15 digits.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Msisdn(Arc<str>);

impl Msisdn {
    /// Parses a number as a person or application wrote it, under `policy`.
    pub fn parse(input: &str, policy: &NumberPolicy) -> Result<Msisdn, MsisdnError> {
        let (international, digits) = normalise(input)?;
        if international {
            return Self::international(&digits, policy.strict);
        }
        // National form first (the common case in a branch: 11-digit mobile numbers), then, for
        // clients that write international numbers without a plus, the same digits as
        // international.
        let national = match policy.default_region {
            Some(region) => Self::national(&digits, region, policy.strict),
            None => Err(MsisdnError::NoCountry),
        };
        match national {
            Ok(n) => Ok(n),
            Err(err) => Self::international(&digits, policy.strict).map_err(|_| err),
        }
    }

    /// Wraps a number already in canonical form (as stored in the database).
    pub fn from_e164(s: &str) -> Result<Msisdn, MsisdnError> {
        let digits = s.strip_prefix('+').ok_or(MsisdnError::NoCountry)?;
        check_digits(digits)?;
        Ok(Msisdn(Arc::from(s)))
    }

    fn international(digits: &str, strict: bool) -> Result<Msisdn, MsisdnError> {
        check_digits(digits)?;
        let text = format!("+{digits}");
        let parsed = phonenumber::parse(None, &text).map_err(|_| MsisdnError::UnknownCountry)?;
        if strict && !parsed.is_valid() {
            return Err(MsisdnError::Invalid);
        }
        Ok(Msisdn(Arc::from(text)))
    }

    fn national(digits: &str, region: country::Id, strict: bool) -> Result<Msisdn, MsisdnError> {
        let parsed = phonenumber::parse(Some(region), digits).map_err(|_| MsisdnError::Invalid)?;
        if strict && !parsed.is_valid() {
            return Err(MsisdnError::Invalid);
        }
        let national = parsed.national().to_string();
        let e164 = format!("{}{national}", parsed.code().value());
        check_digits(&e164)?;
        Ok(Msisdn(Arc::from(format!("+{e164}"))))
    }

    /// The canonical form, `+8613800138000`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digits without the plus, `8613800138000` (what SMPP with TON international carries).
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }
}

/// Strips separators; returns whether the number was written in international form and its
/// digits (without `+` or `00`).
fn normalise(input: &str) -> Result<(bool, String), MsisdnError> {
    let trimmed = input.trim();
    let (plus, rest) = match trimmed.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, trimmed),
    };
    let mut digits = String::with_capacity(rest.len());
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            other => return Err(MsisdnError::BadChar(other)),
        }
    }
    if digits.is_empty() {
        return Err(MsisdnError::Empty);
    }
    if !plus && let Some(after) = digits.strip_prefix("00") {
        return Ok((true, after.to_owned()));
    }
    Ok((plus, digits))
}

fn check_digits(digits: &str) -> Result<(), MsisdnError> {
    if let Some(c) = digits.chars().find(|c| !c.is_ascii_digit()) {
        return Err(MsisdnError::BadChar(c));
    }
    if digits.len() < 7 {
        return Err(MsisdnError::TooShort);
    }
    if digits.len() > 15 {
        return Err(MsisdnError::TooLong);
    }
    if digits.starts_with('0') {
        return Err(MsisdnError::UnknownCountry);
    }
    Ok(())
}

impl fmt::Display for Msisdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Msisdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Msisdn({})", &*self.0)
    }
}

impl Serialize for Msisdn {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, policy: &NumberPolicy, expect: Result<&str, MsisdnError>) {
        let got = Msisdn::parse(input, policy);
        assert_eq!(
            got.as_ref().map(|m| m.as_str()).map_err(|e| *e),
            expect,
            "input {input:?}"
        );
    }

    #[test]
    fn parses_the_ways_people_write_numbers() {
        let cn = NumberPolicy::china();
        check("+8613800138000", &cn, Ok("+8613800138000"));
        check("13800138000", &cn, Ok("+8613800138000"));
        check("138-0013-8000", &cn, Ok("+8613800138000"));
        check(" 138 0013 8000 ", &cn, Ok("+8613800138000"));
        check("008613800138000", &cn, Ok("+8613800138000"));
        check("+86 (138) 0013.8000", &cn, Ok("+8613800138000"));
        // International without the plus, as Kannel clients send it.
        check("4917112345678", &cn, Ok("+4917112345678"));
        check("+4917112345678", &cn, Ok("+4917112345678"));
        // Unicom and Telecom mobiles.
        check("18612345678", &cn, Ok("+8618612345678"));
        check("13312345678", &cn, Ok("+8613312345678"));
    }

    #[test]
    fn rejects_with_the_reason() {
        let cn = NumberPolicy::china();
        check("", &cn, Err(MsisdnError::Empty));
        check("+", &cn, Err(MsisdnError::Empty));
        check("1380013800a", &cn, Err(MsisdnError::BadChar('a')));
        check("+86+138", &cn, Err(MsisdnError::BadChar('+')));
        check("+8612", &cn, Err(MsisdnError::TooShort));
        check("+8613800138000123", &cn, Err(MsisdnError::TooLong));
        check("+86123456789", &cn, Err(MsisdnError::Invalid));
        check("12345", &cn, Err(MsisdnError::Invalid));
    }

    #[test]
    fn lenient_policy_accepts_test_ranges() {
        let lenient = NumberPolicy::with_region("cn", false).unwrap();
        check("+4712345678", &lenient, Ok("+4712345678"));
        check("+86123456789", &lenient, Ok("+86123456789"));
        let strict = NumberPolicy::with_region("NO", true).unwrap();
        check("+4712345678", &strict, Err(MsisdnError::Invalid));
        check("41234567", &strict, Ok("+4741234567"));
    }

    #[test]
    fn no_default_region_needs_a_country_code() {
        let none = NumberPolicy {
            default_region: None,
            strict: true,
        };
        check("+8613800138000", &none, Ok("+8613800138000"));
        check("13800138000", &none, Err(MsisdnError::NoCountry));
    }

    #[test]
    fn stored_form_round_trips() {
        let m = Msisdn::from_e164("+8613800138000").unwrap();
        assert_eq!(m.digits(), "8613800138000");
        assert_eq!(
            Msisdn::from_e164("8613800138000"),
            Err(MsisdnError::NoCountry)
        );
        assert_eq!(Msisdn::from_e164("+86x"), Err(MsisdnError::BadChar('x')));
        assert!(NumberPolicy::with_region("XX", true).is_err());
    }
}
