//! Modem profiles: what differs between models, one file each, and detection from the
//! `AT+CGMI`/`AT+CGMM` (or `ATI`) answer.
//!
//! A profile is plain data (`&'static`), so the supervisor's logic is the same for every model
//! and adding a model is adding a file.

use crate::command::sim::IccidCommand;
use crate::digest::{Mem, RegKind};

pub mod ec25;
pub mod generic;
pub mod huawei;
pub mod sim800;

/// The known profiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProfileKind {
    /// Any TS 27.005 modem.
    Generic,
    /// SIMCom SIM800/SIM900 family.
    Sim800,
    /// Quectel EC25/EG25 family (LTE).
    Ec25,
    /// Huawei USB sticks in modem mode (E3372 style).
    Huawei,
}

impl ProfileKind {
    /// The profile's data.
    pub fn profile(self) -> &'static Profile {
        match self {
            Self::Generic => &generic::PROFILE,
            Self::Sim800 => &sim800::PROFILE,
            Self::Ec25 => &ec25::PROFILE,
            Self::Huawei => &huawei::PROFILE,
        }
    }

    /// Picks the profile from identification text (`AT+CGMI` and `AT+CGMM` answers, or `ATI`).
    ///
    /// The text is split into words at anything that is not a letter or digit, and words are
    /// compared case-insensitively with each profile's manufacturer names and model prefixes
    /// (`SIMCOM_SIM800` → `SIMCOM`, `SIM800`). Unknown text gives [`ProfileKind::Generic`].
    pub fn detect(text: &[u8]) -> Self {
        let words = text
            .split(|b| !b.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty());
        for word in words {
            for kind in [Self::Sim800, Self::Ec25, Self::Huawei] {
                let p = kind.profile();
                if p.manufacturers.iter().any(|m| word.eq_ignore_ascii_case(m))
                    || p.models.iter().any(|m| starts_with_ignore_case(word, m))
                {
                    return kind;
                }
            }
        }
        Self::Generic
    }
}

fn starts_with_ignore_case(word: &[u8], prefix: &[u8]) -> bool {
    word.get(..prefix.len())
        .is_some_and(|w| w.eq_ignore_ascii_case(prefix))
}

/// Everything the supervisor needs to know about a model.
#[derive(Debug)]
pub struct Profile {
    /// Which one.
    pub kind: ProfileKind,
    /// For status pages.
    pub name: &'static str,
    /// Manufacturer words that identify it (`AT+CGMI`).
    pub manufacturers: &'static [&'static [u8]],
    /// Model prefixes that identify it (`AT+CGMM`).
    pub models: &'static [&'static [u8]],
    /// PWRKEY pulse that switches it on, in ms; 0 when power is not ours to switch (USB).
    pub pwrkey_on_ms: u32,
    /// PWRKEY pulse that switches it off, in ms.
    pub pwrkey_off_ms: u32,
    /// How long to wait after switching off before switching on again.
    pub off_wait_ms: u32,
    /// From switch-on until it answers `AT`.
    pub boot_ms: u32,
    /// Extra commands after `ATE0`/`AT+CMEE=1`, in order; an `ERROR` answer is tolerated.
    pub init: &'static [&'static str],
    /// Where received messages and reports are stored (`AT+CPMS`).
    pub storage: Mem,
    /// `AT+CNMI` parameters. Storage routing (`mt=1`, `ds=2`) is what keeps "nothing is
    /// deleted before the host has it": a directly routed `+CMT` lives only in our RAM.
    pub cnmi: &'static str,
    /// Registration queries; the slot is registered when any of them says so.
    pub registration: &'static [RegKind],
    /// How to read the ICCID, if the model can.
    pub iccid: Option<IccidCommand>,
    /// How long `+CMGS` may take after the PDU.
    pub send_timeout_ms: u32,
    /// Unsolicited lines that are routine for this model (`^RSSI`): counted as noise, not as
    /// unknown. Compared with the `+NAME`/`^NAME` of the line.
    pub noise: &'static [&'static [u8]],
}

impl Profile {
    /// Whether an unsolicited line is this model's routine noise.
    pub fn is_noise(&self, line: &[u8]) -> bool {
        match crate::params::split_name(line) {
            Some((name, _)) => self.noise.contains(&name),
            None => self.noise.contains(&line),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection() {
        let cases: &[(&[u8], ProfileKind)] = &[
            (b"SIMCOM_Ltd SIMCOM_SIM800", ProfileKind::Sim800),
            (b"SIMCOM_SIM800", ProfileKind::Sim800),
            (b"SIM800L", ProfileKind::Sim800),
            (b"Quectel EC25", ProfileKind::Ec25),
            (
                b"Quectel EC25 Revision: EC25EFAR06A06M4G",
                ProfileKind::Ec25,
            ),
            (b"EG25", ProfileKind::Ec25),
            (b"huawei E3372", ProfileKind::Huawei),
            (b"Manufacturer: huawei Model: E3372", ProfileKind::Huawei),
            (b"E3372h-153", ProfileKind::Huawei),
            (b"Telit LE910", ProfileKind::Generic),
            (b"", ProfileKind::Generic),
            // Words, not substrings: "xSIM800" is not a SIM800.
            (b"NOTSIM800", ProfileKind::Generic),
        ];
        for (text, want) in cases {
            assert_eq!(
                ProfileKind::detect(text),
                *want,
                "{}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn profiles_are_consistent() {
        for kind in [
            ProfileKind::Generic,
            ProfileKind::Sim800,
            ProfileKind::Ec25,
            ProfileKind::Huawei,
        ] {
            let p = kind.profile();
            assert_eq!(p.kind, kind);
            assert!(!p.registration.is_empty());
            assert!(p.send_timeout_ms >= 60_000);
            assert!(p.init.iter().all(|c| c.starts_with("AT")));
        }
        assert!(huawei::PROFILE.is_noise(b"^RSSI: 15"));
        assert!(!huawei::PROFILE.is_noise(b"+CMTI: \"SM\",1"));
    }
}
