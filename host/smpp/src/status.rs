//! What an SMPP `command_status` means for a message: retry later, slow down, or give up.
//!
//! SMPP 3.4 §5.1.3 lists the codes but not their retry semantics; the split below follows what
//! SMSCs mean in practice (and what Kannel's `smpp_status_to_smscconn_failure_reason` does):
//! throttling and a full queue ask us to slow down, a system error or a temporary application
//! error (`ESME_RX_T_APPN`) is temporary, and errors about the message itself (addresses,
//! parameters, TLVs, data coding) are permanent. Codes outside the table (vendor range
//! 0x400-0x4FF, anything unknown) are *temporary*: a wrongly permanent answer fails a message
//! for good, a wrongly temporary one costs a bounded retry.

use std::fmt;

/// `ESME_ROK`.
pub const ROK: u32 = 0x0000_0000;
/// `ESME_RINVMSGLEN`: message length invalid.
pub const RINVMSGLEN: u32 = 0x0000_0001;
/// `ESME_RINVCMDLEN`: command length invalid.
pub const RINVCMDLEN: u32 = 0x0000_0002;
/// `ESME_RINVCMDID`: invalid command id.
pub const RINVCMDID: u32 = 0x0000_0003;
/// `ESME_RINVBNDSTS`: incorrect bind status for the command.
pub const RINVBNDSTS: u32 = 0x0000_0004;
/// `ESME_RALYBND`: already bound.
pub const RALYBND: u32 = 0x0000_0005;
/// `ESME_RSYSERR`: system error.
pub const RSYSERR: u32 = 0x0000_0008;
/// `ESME_RINVSRCADR`: invalid source address.
pub const RINVSRCADR: u32 = 0x0000_000A;
/// `ESME_RINVDSTADR`: invalid destination address.
pub const RINVDSTADR: u32 = 0x0000_000B;
/// `ESME_RINVMSGID`: invalid message id.
pub const RINVMSGID: u32 = 0x0000_000C;
/// `ESME_RBINDFAIL`: bind failed.
pub const RBINDFAIL: u32 = 0x0000_000D;
/// `ESME_RINVPASWD`: invalid password.
pub const RINVPASWD: u32 = 0x0000_000E;
/// `ESME_RINVSYSID`: invalid system id.
pub const RINVSYSID: u32 = 0x0000_000F;
/// `ESME_RCANCELFAIL`: cancel_sm failed.
pub const RCANCELFAIL: u32 = 0x0000_0011;
/// `ESME_RMSGQFUL`: the SMSC's message queue is full.
pub const RMSGQFUL: u32 = 0x0000_0014;
/// `ESME_RSUBMITFAIL`: submit_sm failed.
pub const RSUBMITFAIL: u32 = 0x0000_0045;
/// `ESME_RTHROTTLED`: throttling error, the ESME exceeded its allowed message rate.
pub const RTHROTTLED: u32 = 0x0000_0058;
/// `ESME_RX_T_APPN`: temporary application error (deliver_sm_resp: please re-deliver).
pub const RX_T_APPN: u32 = 0x0000_0064;
/// `ESME_RX_P_APPN`: permanent application error (deliver_sm_resp: do not re-deliver).
pub const RX_P_APPN: u32 = 0x0000_0065;
/// `ESME_RQUERYFAIL`: query_sm failed.
pub const RQUERYFAIL: u32 = 0x0000_0067;
/// `ESME_RUNKNOWNERR`: unknown error.
pub const RUNKNOWNERR: u32 = 0x0000_00FF;

/// What a non-zero status asks of the sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StatusClass {
    /// `ESME_ROK`.
    Ok,
    /// `ESME_RTHROTTLED`: slow down, then send the same message again.
    Throttled,
    /// `ESME_RMSGQFUL`: slow down, then send again.
    QueueFull,
    /// Try again later (possibly elsewhere).
    Temporary,
    /// The message itself was refused; sending it again will not help.
    Permanent,
}

/// Classifies a `command_status` from a submit_sm_resp (see the module docs for the policy).
pub fn classify(status: u32) -> StatusClass {
    match status {
        ROK => StatusClass::Ok,
        RTHROTTLED => StatusClass::Throttled,
        RMSGQFUL => StatusClass::QueueFull,
        // Message length, command id, priority flag, registered_delivery, addresses, service
        // type, esm_class, TON/NPI, system type, schedule/expiry, predefined message, the
        // permanent and rejected application errors, the TLV errors, and SMPP 5.0's
        // authorisation and data coding errors (0x100-0x104).
        0x01
        | 0x03
        | 0x06
        | 0x07
        | 0x0A
        | 0x0B
        | 0x15
        | 0x33
        | 0x34
        | 0x40
        | 0x42
        | 0x43
        | 0x44
        | 0x48
        | 0x49
        | 0x50
        | 0x51
        | 0x53
        | 0x55
        | 0x61
        | 0x62
        | 0x63
        | 0x65
        | 0x66
        | 0xC0..=0xC4
        | 0x100..=0x104 => StatusClass::Permanent,
        _ => StatusClass::Temporary,
    }
}

/// The SMPP name of a status, for logs and attempt traces (`ESME_RTHROTTLED`), or `None` for
/// codes outside SMPP 3.4 / 5.0.
pub fn name(status: u32) -> Option<&'static str> {
    Some(match status {
        0x00 => "ESME_ROK",
        0x01 => "ESME_RINVMSGLEN",
        0x02 => "ESME_RINVCMDLEN",
        0x03 => "ESME_RINVCMDID",
        0x04 => "ESME_RINVBNDSTS",
        0x05 => "ESME_RALYBND",
        0x06 => "ESME_RINVPRTFLG",
        0x07 => "ESME_RINVREGDLVFLG",
        0x08 => "ESME_RSYSERR",
        0x0A => "ESME_RINVSRCADR",
        0x0B => "ESME_RINVDSTADR",
        0x0C => "ESME_RINVMSGID",
        0x0D => "ESME_RBINDFAIL",
        0x0E => "ESME_RINVPASWD",
        0x0F => "ESME_RINVSYSID",
        0x11 => "ESME_RCANCELFAIL",
        0x13 => "ESME_RREPLACEFAIL",
        0x14 => "ESME_RMSGQFUL",
        0x15 => "ESME_RINVSERTYP",
        0x33 => "ESME_RINVNUMDESTS",
        0x34 => "ESME_RINVDLNAME",
        0x40 => "ESME_RINVDESTFLAG",
        0x42 => "ESME_RINVSUBREP",
        0x43 => "ESME_RINVESMCLASS",
        0x44 => "ESME_RCNTSUBDL",
        0x45 => "ESME_RSUBMITFAIL",
        0x48 => "ESME_RINVSRCTON",
        0x49 => "ESME_RINVSRCNPI",
        0x50 => "ESME_RINVDSTTON",
        0x51 => "ESME_RINVDSTNPI",
        0x53 => "ESME_RINVSYSTYP",
        0x54 => "ESME_RINVREPFLAG",
        0x55 => "ESME_RINVNUMMSGS",
        0x58 => "ESME_RTHROTTLED",
        0x61 => "ESME_RINVSCHED",
        0x62 => "ESME_RINVEXPIRY",
        0x63 => "ESME_RINVDFTMSGID",
        0x64 => "ESME_RX_T_APPN",
        0x65 => "ESME_RX_P_APPN",
        0x66 => "ESME_RX_R_APPN",
        0x67 => "ESME_RQUERYFAIL",
        0xC0 => "ESME_RINVTLVSTREAM",
        0xC1 => "ESME_RTLVNOTALLWD",
        0xC2 => "ESME_RINVTLVLEN",
        0xC3 => "ESME_RMISSINGTLV",
        0xC4 => "ESME_RINVTLVVAL",
        0xFE => "ESME_RDELIVERYFAILURE",
        0xFF => "ESME_RUNKNOWNERR",
        0x100 => "ESME_RSERTYPUNAUTH",
        0x101 => "ESME_RPROHIBITED",
        0x102 => "ESME_RSERTYPUNAVAIL",
        0x103 => "ESME_RSERTYPDENIED",
        0x104 => "ESME_RINVDCS",
        _ => return None,
    })
}

/// A status shown as `0x00000058 ESME_RTHROTTLED` (or just the hex for unknown codes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Status(pub u32);

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match name(self.0) {
            Some(n) => write!(f, "{:#010x} {n}", self.0),
            None => write!(f, "{:#010x}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_the_policy() {
        let check = |s: u32, c: StatusClass| assert_eq!(classify(s), c, "{}", Status(s));
        check(ROK, StatusClass::Ok);
        check(RTHROTTLED, StatusClass::Throttled);
        check(RMSGQFUL, StatusClass::QueueFull);
        check(RSYSERR, StatusClass::Temporary);
        check(RX_T_APPN, StatusClass::Temporary);
        check(RSUBMITFAIL, StatusClass::Temporary);
        check(RINVBNDSTS, StatusClass::Temporary);
        check(0x0400, StatusClass::Temporary);
        check(RINVDSTADR, StatusClass::Permanent);
        check(RINVSRCADR, StatusClass::Permanent);
        check(0x104, StatusClass::Permanent);
        check(RX_P_APPN, StatusClass::Permanent);
        assert_eq!(Status(RTHROTTLED).to_string(), "0x00000058 ESME_RTHROTTLED");
        assert_eq!(Status(0x401).to_string(), "0x00000401");
    }
}
