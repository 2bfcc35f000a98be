//! TP-DCS, the data coding scheme (TS 23.038 4 "SMS Data Coding Scheme"): which alphabet the
//! user data is in, its message class, and whether it is compressed.

use core::fmt;

/// The alphabet of the user data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Alphabet {
    /// The GSM 7-bit default alphabet, packed (TP-UDL counts septets).
    Gsm7,
    /// 8-bit data (TP-UDL counts octets).
    Eight,
    /// UCS-2, taken as UTF-16 big-endian (TP-UDL counts octets).
    Ucs2,
}

impl fmt::Display for Alphabet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Alphabet::Gsm7 => "GSM-7",
            Alphabet::Eight => "8-bit",
            Alphabet::Ucs2 => "UCS-2",
        })
    }
}

/// The message class (TS 23.038 4): where the handset puts the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageClass {
    /// Class 0, "flash": shown at once, not stored.
    Class0,
    /// Class 1: ME-specific (stored in the phone).
    Class1,
    /// Class 2: (U)SIM-specific.
    Class2,
    /// Class 3: TE-specific.
    Class3,
}

impl MessageClass {
    const fn from_bits(bits: u8) -> MessageClass {
        match bits & 0x03 {
            0 => MessageClass::Class0,
            1 => MessageClass::Class1,
            2 => MessageClass::Class2,
            _ => MessageClass::Class3,
        }
    }

    const fn bits(self) -> u8 {
        match self {
            MessageClass::Class0 => 0,
            MessageClass::Class1 => 1,
            MessageClass::Class2 => 2,
            MessageClass::Class3 => 3,
        }
    }
}

impl fmt::Display for MessageClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "class {}", self.bits())
    }
}

/// The coding group: the high bits of TP-DCS (TS 23.038 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CodingGroup {
    /// `00xx xxxx`: general data coding.
    General,
    /// `01xx xxxx`: general data coding, message marked for automatic deletion.
    AutoDeletion,
    /// `1000`–`1011`: reserved; the data is taken as GSM 7-bit, as TS 23.038 4 requires.
    Reserved,
    /// `1100`: message waiting indication, discard message (GSM 7-bit).
    MwiDiscard,
    /// `1101`: message waiting indication, store message (GSM 7-bit).
    MwiStore,
    /// `1110`: message waiting indication, store message (UCS-2).
    MwiStoreUcs2,
    /// `1111`: data coding / message class.
    DataClass,
}

/// TP-DCS as received or to be sent; the accessors decode its coding group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Dcs(pub u8);

impl Dcs {
    /// GSM 7-bit, no class: `0x00`.
    pub const GSM7: Dcs = Dcs(0x00);
    /// UCS-2, no class: `0x08`.
    pub const UCS2: Dcs = Dcs(0x08);
    /// 8-bit data, no class: `0x04`.
    pub const EIGHT_BIT: Dcs = Dcs(0x04);

    /// The general-data-coding value (group `00`) for an alphabet and an optional class,
    /// e.g. `0x10` for GSM 7-bit class 0 ("flash"), `0x18` for UCS-2 class 0.
    pub const fn new(alphabet: Alphabet, class: Option<MessageClass>) -> Dcs {
        let a = match alphabet {
            Alphabet::Gsm7 => 0x00,
            Alphabet::Eight => 0x04,
            Alphabet::Ucs2 => 0x08,
        };
        match class {
            Some(c) => Dcs(0x10 | a | c.bits()),
            None => Dcs(a),
        }
    }

    /// The coding group.
    pub const fn group(self) -> CodingGroup {
        match self.0 >> 4 {
            0x0..=0x3 => CodingGroup::General,
            0x4..=0x7 => CodingGroup::AutoDeletion,
            0x8..=0xB => CodingGroup::Reserved,
            0xC => CodingGroup::MwiDiscard,
            0xD => CodingGroup::MwiStore,
            0xE => CodingGroup::MwiStoreUcs2,
            _ => CodingGroup::DataClass,
        }
    }

    /// The alphabet. Reserved codings are GSM 7-bit, as TS 23.038 4 tells a receiver to
    /// assume.
    pub const fn alphabet(self) -> Alphabet {
        match self.group() {
            CodingGroup::General | CodingGroup::AutoDeletion => match (self.0 >> 2) & 0x03 {
                1 => Alphabet::Eight,
                2 => Alphabet::Ucs2,
                _ => Alphabet::Gsm7,
            },
            CodingGroup::MwiStoreUcs2 => Alphabet::Ucs2,
            CodingGroup::DataClass if self.0 & 0x04 != 0 => Alphabet::Eight,
            _ => Alphabet::Gsm7,
        }
    }

    /// Whether the general-data-coding alphabet bits are the reserved `11` (decoded as GSM
    /// 7-bit).
    pub const fn has_reserved_alphabet(self) -> bool {
        matches!(
            self.group(),
            CodingGroup::General | CodingGroup::AutoDeletion
        ) && (self.0 >> 2) & 0x03 == 3
    }

    /// The message class, if the DCS gives one.
    pub const fn class(self) -> Option<MessageClass> {
        match self.group() {
            CodingGroup::General | CodingGroup::AutoDeletion if self.0 & 0x10 != 0 => {
                Some(MessageClass::from_bits(self.0))
            }
            CodingGroup::DataClass => Some(MessageClass::from_bits(self.0)),
            _ => None,
        }
    }

    /// Whether the text is compressed (TS 23.042); the codec does not decompress it.
    pub const fn compressed(self) -> bool {
        matches!(
            self.group(),
            CodingGroup::General | CodingGroup::AutoDeletion
        ) && self.0 & 0x20 != 0
    }

    /// The same DCS with another class, moved to the general group if it was elsewhere.
    pub const fn with_class(self, class: Option<MessageClass>) -> Dcs {
        Dcs::new(self.alphabet(), class)
    }
}

impl fmt::Display for Dcs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:02X} ({}", self.0, self.alphabet())?;
        if self.has_reserved_alphabet() {
            f.write_str(", reserved alphabet")?;
        }
        match self.class() {
            Some(c) => write!(f, ", {c}")?,
            None => f.write_str(", no class")?,
        }
        if self.compressed() {
            f.write_str(", compressed")?;
        }
        match self.group() {
            CodingGroup::AutoDeletion => f.write_str(", automatic deletion")?,
            CodingGroup::Reserved => f.write_str(", reserved group")?,
            CodingGroup::MwiDiscard => f.write_str(", message waiting (discard)")?,
            CodingGroup::MwiStore | CodingGroup::MwiStoreUcs2 => {
                f.write_str(", message waiting (store)")?
            }
            CodingGroup::General | CodingGroup::DataClass => {}
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    fn check(dcs: u8, expect: &str) {
        assert_eq!(Dcs(dcs).to_string(), expect, "DCS 0x{dcs:02X}");
    }

    #[test]
    fn coding_groups() {
        check(0x00, "0x00 (GSM-7, no class)");
        check(0x04, "0x04 (8-bit, no class)");
        check(0x08, "0x08 (UCS-2, no class)");
        check(0x0C, "0x0C (GSM-7, reserved alphabet, no class)");
        check(0x10, "0x10 (GSM-7, class 0)");
        check(0x18, "0x18 (UCS-2, class 0)");
        check(0x11, "0x11 (GSM-7, class 1)");
        check(0x16, "0x16 (8-bit, class 2)");
        check(0x20, "0x20 (GSM-7, no class, compressed)");
        check(0x48, "0x48 (UCS-2, no class, automatic deletion)");
        check(0x80, "0x80 (GSM-7, no class, reserved group)");
        check(0xC0, "0xC0 (GSM-7, no class, message waiting (discard))");
        check(0xD8, "0xD8 (GSM-7, no class, message waiting (store))");
        check(0xE0, "0xE0 (UCS-2, no class, message waiting (store))");
        check(0xF0, "0xF0 (GSM-7, class 0)");
        check(0xF6, "0xF6 (8-bit, class 2)");
    }

    #[test]
    fn constructors() {
        assert_eq!(
            Dcs::new(Alphabet::Gsm7, Some(MessageClass::Class0)),
            Dcs(0x10)
        );
        assert_eq!(
            Dcs::new(Alphabet::Ucs2, Some(MessageClass::Class0)),
            Dcs(0x18)
        );
        assert_eq!(Dcs::new(Alphabet::Eight, None), Dcs::EIGHT_BIT);
        assert_eq!(Dcs(0xF1).with_class(None), Dcs::GSM7);
    }
}
