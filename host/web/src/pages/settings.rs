//! Runtime settings changed from the settings page, stored in the `settings` table: the
//! enterprise signature, the default country for national numbers, quiet hours, the default
//! daily limit per modem slot, and the time zone the pages display.
//!
//! The signature and the default country apply at once to everything sent from the page (send
//! form, inbox replies, channel tests) through [`RuntimeSettings::accept_config`]. Quiet hours
//! and the daily limit are scheduling policy, which the service reads at start
//! ([`RuntimeSettings::load`] is public for that), so the page says they apply after a restart.

use std::collections::BTreeMap;

use domain::NumberPolicy;
use engine::{AcceptConfig, Signature, SignaturePosition};
use store::{Store, StoreError};
use time::UtcOffset;

/// Settings as stored (validated on save).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuntimeSettings {
    /// The signature text (`【某某银行】`), if set here.
    pub signature: Option<String>,
    /// Suffix instead of the default prefix.
    pub signature_suffix: bool,
    /// ISO 3166 alpha-2 region for national numbers (`CN`).
    pub default_country: Option<String>,
    /// Quiet hours start, `HH:MM`.
    pub quiet_start: Option<String>,
    /// Quiet hours end, `HH:MM`.
    pub quiet_end: Option<String>,
    /// Default messages per 24 h per modem slot.
    pub daily_limit: Option<u32>,
    /// Display time zone, `+08:00`.
    pub utc_offset: Option<String>,
}

/// One invalid setting, named by its form field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingError {
    /// The form field.
    pub field: &'static str,
    /// The catalogue key of the message.
    pub message: &'static str,
}

fn hhmm(s: &str) -> bool {
    let Some((h, m)) = s.split_once(':') else {
        return false;
    };
    h.len() == 2
        && m.len() == 2
        && h.parse::<u8>().is_ok_and(|h| h < 24)
        && m.parse::<u8>().is_ok_and(|m| m < 60)
}

/// Parses `+08:00` / `-05:30` / `Z`.
pub fn parse_offset(s: &str) -> Option<UtcOffset> {
    if s == "Z" || s == "+00:00" {
        return Some(UtcOffset::UTC);
    }
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1i8, &s[1..]),
        b'-' => (-1i8, &s[1..]),
        _ => return None,
    };
    if !hhmm(rest) {
        return None;
    }
    let (h, m) = rest.split_once(':')?;
    let (h, m): (i8, i8) = (h.parse().ok()?, m.parse().ok()?);
    if h > 14 {
        return None;
    }
    UtcOffset::from_hms(sign * h, sign * m, 0).ok()
}

impl RuntimeSettings {
    /// Reads the settings from the store.
    pub async fn load(store: &Store) -> Result<RuntimeSettings, StoreError> {
        Ok(Self::from_map(&store.settings().await?))
    }

    /// From stored key/value pairs (values that no longer parse are ignored).
    pub fn from_map(m: &BTreeMap<String, String>) -> RuntimeSettings {
        let get = |k: &str| m.get(k).filter(|v| !v.is_empty()).cloned();
        RuntimeSettings {
            signature: get("signature"),
            signature_suffix: get("signature_position").as_deref() == Some("suffix"),
            default_country: get("default_country"),
            quiet_start: get("quiet_start").filter(|v| hhmm(v)),
            quiet_end: get("quiet_end").filter(|v| hhmm(v)),
            daily_limit: get("daily_limit").and_then(|v| v.parse().ok()),
            utc_offset: get("utc_offset").filter(|v| parse_offset(v).is_some()),
        }
    }

    /// The key/value pairs to store (empty values delete).
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        vec![
            ("signature".into(), s(&self.signature)),
            (
                "signature_position".into(),
                if self.signature_suffix {
                    "suffix".into()
                } else {
                    String::new()
                },
            ),
            ("default_country".into(), s(&self.default_country)),
            ("quiet_start".into(), s(&self.quiet_start)),
            ("quiet_end".into(), s(&self.quiet_end)),
            (
                "daily_limit".into(),
                self.daily_limit.map(|d| d.to_string()).unwrap_or_default(),
            ),
            ("utc_offset".into(), s(&self.utc_offset)),
        ]
    }

    /// Checks every field; errors name the form field.
    pub fn validate(&self) -> Vec<SettingError> {
        let mut errors = Vec::new();
        if let Some(sig) = &self.signature
            && sig.chars().count() > 40
        {
            errors.push(SettingError {
                field: "signature",
                message: "settings.err.signature",
            });
        }
        if let Some(c) = &self.default_country
            && NumberPolicy::with_region(c, true).is_err()
        {
            errors.push(SettingError {
                field: "default_country",
                message: "settings.err.country",
            });
        }
        match (&self.quiet_start, &self.quiet_end) {
            (None, None) => {}
            (Some(a), Some(b)) if hhmm(a) && hhmm(b) => {}
            _ => errors.push(SettingError {
                field: "quiet_start",
                message: "settings.err.quiet",
            }),
        }
        if self.daily_limit == Some(0) {
            errors.push(SettingError {
                field: "daily_limit",
                message: "settings.err.limit",
            });
        }
        if let Some(o) = &self.utc_offset
            && parse_offset(o).is_none()
        {
            errors.push(SettingError {
                field: "utc_offset",
                message: "settings.err.offset",
            });
        }
        errors
    }

    /// `base` with the signature and default country from these settings.
    pub fn accept_config(&self, base: &AcceptConfig) -> AcceptConfig {
        let mut c = base.clone();
        if let Some(text) = &self.signature {
            c.signature = Some(Signature {
                text: text.clone(),
                position: if self.signature_suffix {
                    SignaturePosition::Suffix
                } else {
                    SignaturePosition::Prefix
                },
            });
        }
        if let Some(region) = &self.default_country
            && let Ok(p) = NumberPolicy::with_region(region, base.numbers.strict)
        {
            c.numbers = p;
        }
        c
    }

    /// The display time zone (default UTC+8, the appliance's home market).
    pub fn offset(&self) -> UtcOffset {
        self.utc_offset
            .as_deref()
            .and_then(parse_offset)
            .unwrap_or_else(|| UtcOffset::from_hms(8, 0, 0).unwrap_or(UtcOffset::UTC))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_and_times() {
        assert_eq!(parse_offset("+08:00"), UtcOffset::from_hms(8, 0, 0).ok());
        assert_eq!(parse_offset("-05:30"), UtcOffset::from_hms(-5, -30, 0).ok());
        assert_eq!(parse_offset("Z"), Some(UtcOffset::UTC));
        assert_eq!(parse_offset("8"), None);
        assert_eq!(parse_offset("+15:00"), None);
        assert!(hhmm("22:00") && hhmm("07:30"));
        assert!(!hhmm("24:00") && !hhmm("7:30") && !hhmm("07:60"));
    }

    #[test]
    fn validation_names_fields() {
        let s = RuntimeSettings {
            signature: Some("x".repeat(41)),
            default_country: Some("XX".into()),
            quiet_start: Some("22:00".into()),
            daily_limit: Some(0),
            utc_offset: Some("8".into()),
            ..RuntimeSettings::default()
        };
        let fields: Vec<&str> = s.validate().iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "signature",
                "default_country",
                "quiet_start",
                "daily_limit",
                "utc_offset"
            ]
        );
        let good = RuntimeSettings {
            signature: Some("【某某银行】".into()),
            default_country: Some("cn".into()),
            quiet_start: Some("22:00".into()),
            quiet_end: Some("07:00".into()),
            daily_limit: Some(500),
            utc_offset: Some("+08:00".into()),
            ..RuntimeSettings::default()
        };
        assert!(good.validate().is_empty());
        let round = RuntimeSettings::from_map(&good.to_pairs().into_iter().collect());
        assert_eq!(round, good);
    }
}
