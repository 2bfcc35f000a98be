//! TP-PID, the protocol identifier (TS 23.040 9.2.3.9): plain SME-to-SME messages, telematic
//! interworking, "replace short message" types, SIM data download and so on.

use core::fmt;

/// TP-PID as received or to be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Pid(pub u8);

/// What a TP-PID value means (TS 23.040 9.2.3.9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PidKind {
    /// `0x00`: a plain message between SMEs, no interworking.
    Default,
    /// `0x01`–`0x1F`: SME-to-SME protocol given by the low bits.
    SmeToSme(u8),
    /// `0x20`–`0x3F`: telematic interworking with the device type in the low 5 bits
    /// (e.g. 0x01 telex, 0x02 fax group 3, 0x12 e-mail).
    Telematic(u8),
    /// `0x40`: short message type 0, acknowledged and discarded by the handset.
    Type0,
    /// `0x41`–`0x47`: replace short message type 1 to 7.
    Replace(u8),
    /// `0x5E`: Enhanced Message Service (obsolete).
    Ems,
    /// `0x5F`: return call message.
    ReturnCall,
    /// `0x7C`: ANSI-136 R-DATA.
    AnsiRData,
    /// `0x7D`: ME data download.
    MeDataDownload,
    /// `0x7E`: ME de-personalisation short message.
    MeDepersonalization,
    /// `0x7F`: (U)SIM data download.
    SimDataDownload,
    /// `0xC0`–`0xFF`: values specific to each service centre.
    ScSpecific(u8),
    /// Any other value: reserved.
    Reserved(u8),
}

impl Pid {
    /// What the value means.
    pub const fn kind(self) -> PidKind {
        match self.0 {
            0x00 => PidKind::Default,
            v @ 0x01..=0x1F => PidKind::SmeToSme(v),
            v @ 0x20..=0x3F => PidKind::Telematic(v & 0x1F),
            0x40 => PidKind::Type0,
            v @ 0x41..=0x47 => PidKind::Replace(v & 0x0F),
            0x5E => PidKind::Ems,
            0x5F => PidKind::ReturnCall,
            0x7C => PidKind::AnsiRData,
            0x7D => PidKind::MeDataDownload,
            0x7E => PidKind::MeDepersonalization,
            0x7F => PidKind::SimDataDownload,
            v @ 0xC0..=0xFF => PidKind::ScSpecific(v),
            v => PidKind::Reserved(v),
        }
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:02X} (", self.0)?;
        match self.kind() {
            PidKind::Default => f.write_str("default")?,
            PidKind::SmeToSme(v) => write!(f, "SME-to-SME protocol {v}")?,
            PidKind::Telematic(d) => write!(f, "telematic interworking, device 0x{d:02X}")?,
            PidKind::Type0 => f.write_str("short message type 0")?,
            PidKind::Replace(n) => write!(f, "replace short message type {n}")?,
            PidKind::Ems => f.write_str("Enhanced Message Service")?,
            PidKind::ReturnCall => f.write_str("return call message")?,
            PidKind::AnsiRData => f.write_str("ANSI-136 R-DATA")?,
            PidKind::MeDataDownload => f.write_str("ME data download")?,
            PidKind::MeDepersonalization => f.write_str("ME de-personalisation")?,
            PidKind::SimDataDownload => f.write_str("(U)SIM data download")?,
            PidKind::ScSpecific(_) => f.write_str("SC specific")?,
            PidKind::Reserved(_) => f.write_str("reserved")?,
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn kinds() {
        let cases = [
            (0x00, "0x00 (default)"),
            (0x22, "0x22 (telematic interworking, device 0x02)"),
            (0x40, "0x40 (short message type 0)"),
            (0x41, "0x41 (replace short message type 1)"),
            (0x5F, "0x5F (return call message)"),
            (0x7F, "0x7F ((U)SIM data download)"),
            (0x80, "0x80 (reserved)"),
            (0xC3, "0xC3 (SC specific)"),
        ];
        for (v, expect) in cases {
            assert_eq!(Pid(v).to_string(), expect);
        }
    }
}
