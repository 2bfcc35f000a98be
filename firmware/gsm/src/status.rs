//! TP-ST, the status of a status report (TS 23.040 9.2.3.15): whether the message was
//! delivered, is still being tried, or failed for good.

use core::fmt;

/// TP-ST as received or to be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct StatusCode(pub u8);

/// The four outcomes TS 23.040 9.2.3.15 groups status values into (bits 6..5), plus the
/// values with bit 7 set, which are reserved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StatusCategory {
    /// `0x00`–`0x1F`: short message transaction completed.
    Completed,
    /// `0x20`–`0x3F`: temporary error, the SC is still trying to transfer the message.
    TemporaryStillTrying,
    /// `0x40`–`0x5F`: permanent error, the SC is not making any more transfer attempts.
    PermanentError,
    /// `0x60`–`0x7F`: temporary error, the SC is not making any more transfer attempts.
    TemporaryGaveUp,
    /// `0x80`–`0xFF`: reserved.
    Reserved,
}

/// Whether a value is defined by TS 23.040, reserved within its category, or left to each SC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StatusKind {
    /// A value TS 23.040 defines.
    Defined,
    /// A reserved value.
    Reserved,
    /// A value specific to each service centre.
    ScSpecific,
}

impl StatusCode {
    /// "Short message received by the SME".
    pub const DELIVERED: StatusCode = StatusCode(0x00);

    /// The outcome category.
    pub const fn category(self) -> StatusCategory {
        match self.0 {
            0x00..=0x1F => StatusCategory::Completed,
            0x20..=0x3F => StatusCategory::TemporaryStillTrying,
            0x40..=0x5F => StatusCategory::PermanentError,
            0x60..=0x7F => StatusCategory::TemporaryGaveUp,
            _ => StatusCategory::Reserved,
        }
    }

    /// Whether the value is defined, reserved or SC-specific.
    pub const fn kind(self) -> StatusKind {
        match self.0 {
            0x00..=0x02 | 0x20..=0x25 | 0x40..=0x49 | 0x60..=0x65 => StatusKind::Defined,
            0x10..=0x1F | 0x30..=0x3F | 0x50..=0x5F | 0x70..=0x7F => StatusKind::ScSpecific,
            _ => StatusKind::Reserved,
        }
    }

    /// Whether the message reached the recipient (category completed).
    pub const fn is_delivered(self) -> bool {
        matches!(self.category(), StatusCategory::Completed)
    }

    /// Whether the SC will not try again (permanent error or gave up).
    pub const fn is_final_failure(self) -> bool {
        matches!(
            self.category(),
            StatusCategory::PermanentError | StatusCategory::TemporaryGaveUp
        )
    }

    /// The meaning TS 23.040 9.2.3.15 gives the value.
    pub const fn description(self) -> &'static str {
        match self.0 {
            0x00 => "short message received by the SME",
            0x01 => "forwarded by the SC to the SME but the SC is unable to confirm delivery",
            0x02 => "short message replaced by the SC",
            0x20 | 0x60 => "congestion",
            0x21 | 0x61 => "SME busy",
            0x22 | 0x62 => "no response from SME",
            0x23 | 0x63 => "service rejected",
            0x24 | 0x44 | 0x64 => "quality of service not available",
            0x25 | 0x65 => "error in SME",
            0x40 => "remote procedure error",
            0x41 => "incompatible destination",
            0x42 => "connection rejected by SME",
            0x43 => "not obtainable",
            0x45 => "no interworking available",
            0x46 => "SM validity period expired",
            0x47 => "SM deleted by originating SME",
            0x48 => "SM deleted by SC administration",
            0x49 => "SM does not exist",
            _ => match self.kind() {
                StatusKind::ScSpecific => "SC-specific value",
                _ => "reserved value",
            },
        }
    }
}

impl fmt::Display for StatusCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StatusCategory::Completed => "completed",
            StatusCategory::TemporaryStillTrying => "temporary error, SC still trying",
            StatusCategory::PermanentError => "permanent error",
            StatusCategory::TemporaryGaveUp => "temporary error, SC gave up",
            StatusCategory::Reserved => "reserved",
        })
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "0x{:02X} ({}: {})",
            self.0,
            self.category(),
            self.description()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn meanings() {
        let cases = [
            (0x00, "0x00 (completed: short message received by the SME)"),
            (0x02, "0x02 (completed: short message replaced by the SC)"),
            (0x05, "0x05 (completed: reserved value)"),
            (0x1A, "0x1A (completed: SC-specific value)"),
            (0x21, "0x21 (temporary error, SC still trying: SME busy)"),
            (
                0x30,
                "0x30 (temporary error, SC still trying: SC-specific value)",
            ),
            (0x41, "0x41 (permanent error: incompatible destination)"),
            (0x46, "0x46 (permanent error: SM validity period expired)"),
            (0x4A, "0x4A (permanent error: reserved value)"),
            (
                0x62,
                "0x62 (temporary error, SC gave up: no response from SME)",
            ),
            (0x66, "0x66 (temporary error, SC gave up: reserved value)"),
            (0x80, "0x80 (reserved: reserved value)"),
        ];
        for (v, expect) in cases {
            assert_eq!(StatusCode(v).to_string(), expect);
        }
        assert!(StatusCode(0x00).is_delivered());
        assert!(StatusCode(0x46).is_final_failure() && StatusCode(0x65).is_final_failure());
        assert!(!StatusCode(0x20).is_final_failure() && !StatusCode(0x20).is_delivered());
    }
}
