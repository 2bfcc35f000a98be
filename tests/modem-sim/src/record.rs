//! The simulator's event log: what a test asserts on. Every SMS-SUBMIT the modem accepted (decoded
//! with `firmware/gsm`: destination, text, UDH, TP-SRR, the TP-MR given), every refusal, every
//! status report and inbound message handed over, every deletion, reboot and fault.
//!
//! The log is the ground truth for "no message is reported sent that the simulator did not
//! accept" (only [`Event::Accepted`] means accepted) and "no inbound message is deleted before
//! it was acknowledged" (compare [`Event::Deleted`] times with the test's acks).

use std::fmt::Write as _;

use gsm::{Alphabet, Concat, Direction, Tpdu};

use crate::clock::Millis;
use crate::store::{Mem, StoredKind};

/// An SMS-SUBMIT as the simulator understood it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submitted {
    /// When the modem answered `+CMGS`.
    pub at: Millis,
    /// The TP-MR the modem gave (`+CMGS: <mr>`); the one in the PDU is in `client_mr`.
    pub mr: u8,
    /// TP-MR as the client wrote it.
    pub client_mr: u8,
    /// TP-DA, with `+` for international numbers.
    pub destination: String,
    /// The text of this part (GSM 7-bit and UCS-2 decoded; 8-bit data as hex).
    pub text: String,
    /// The alphabet of TP-DCS.
    pub alphabet: Alphabet,
    /// TP-DCS.
    pub dcs: u8,
    /// The first octet (TP-MTI, RD, VPF, SRR, UDHI, RP).
    pub first_octet: u8,
    /// TP-SRR: a status report was requested.
    pub srr: bool,
    /// The user-data header, hex, if any.
    pub udh: Option<String>,
    /// The concatenation element, if any.
    pub concat: Option<Concat>,
    /// The SCA the client put before the TPDU (`None` for `00`).
    pub sca: Option<String>,
    /// TP-VP as text (`none`, `relative 167`, …).
    pub validity: String,
    /// The TPDU in hex (empty for a text-mode send).
    pub tpdu_hex: String,
    /// Sent with `AT+CMGF=1` (text mode) rather than a PDU.
    pub text_mode: bool,
}

/// Why a send was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RejectReason {
    /// The PDU did not decode, or `<length>` did not match it.
    BadPdu(String),
    /// An injected `+CMS ERROR` fault.
    Fault,
    /// No SIM, or its PIN not entered.
    NoSim,
    /// Not registered.
    NotRegistered,
}

/// Where a status report or inbound message went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// Stored at this index (announced with `+CMTI`/`+CDSI` if `AT+CNMI` asked).
    Stored(Mem, u16),
    /// Pushed as `+CMT`/`+CDS`, not stored.
    Direct,
    /// Dropped: `AT+CNMI` `<ds>` was 0, so reports are not routed to the TE.
    Dropped,
}

/// One entry of the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The modem answered `+CMGS: <mr>` and `OK` for this message.
    Accepted(Submitted),
    /// The modem refused a send with this final result.
    Rejected {
        /// When.
        at: Millis,
        /// The destination, if the PDU got that far.
        destination: Option<String>,
        /// Why.
        reason: RejectReason,
        /// The final result code written.
        result: String,
    },
    /// A send was cancelled with ESC during `> ` input.
    Cancelled {
        /// When.
        at: Millis,
    },
    /// A send in progress (body received, `+CMGS` not yet written) was lost to a reboot or a
    /// hang: the modem never confirmed it.
    SendLost {
        /// When.
        at: Millis,
        /// Destination of the lost message.
        destination: String,
    },
    /// A status report was produced.
    Receipt {
        /// When.
        at: Millis,
        /// TP-MR reported on.
        mr: u8,
        /// TP-RA.
        recipient: String,
        /// TP-ST.
        status: u8,
        /// Where it went.
        route: Route,
    },
    /// An inbound SMS-DELIVER was handed to the modem.
    Inbound {
        /// When.
        at: Millis,
        /// TP-OA.
        from: String,
        /// The part's text.
        text: String,
        /// Concatenation, if a part of a longer message.
        concat: Option<Concat>,
        /// Where it went.
        route: Route,
    },
    /// A stored message was read (`+CMGR`, `+CMGL`).
    Read {
        /// When.
        at: Millis,
        /// Storage.
        mem: Mem,
        /// Index.
        index: u16,
    },
    /// A stored message was deleted (`+CMGD`).
    Deleted {
        /// When.
        at: Millis,
        /// Storage.
        mem: Mem,
        /// Index.
        index: u16,
        /// What it was.
        kind: StoredKind,
        /// Whether it had been read before.
        was_read: bool,
    },
    /// The modem rebooted (fault, `AT+CFUN=1,1`, power key).
    Rebooted {
        /// When.
        at: Millis,
    },
    /// A fault was set or cleared.
    Fault {
        /// When.
        at: Millis,
        /// What, as the control socket spells it.
        what: String,
    },
}

/// Counters over the log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Command lines executed (filled in by the modem, not from the log).
    pub commands: usize,
    /// Sends accepted.
    pub accepted: usize,
    /// Sends refused.
    pub rejected: usize,
    /// Sends lost to a reboot or hang.
    pub lost: usize,
    /// Status reports produced.
    pub receipts: usize,
    /// Inbound messages handed over.
    pub inbound: usize,
    /// Messages deleted.
    pub deleted: usize,
    /// Reboots.
    pub reboots: usize,
}

impl Stats {
    /// Counts over `log` (`commands` stays 0).
    pub fn of(log: &[Event]) -> Stats {
        let mut s = Stats::default();
        for e in log {
            match e {
                Event::Accepted(_) => s.accepted += 1,
                Event::Rejected { .. } => s.rejected += 1,
                Event::SendLost { .. } => s.lost += 1,
                Event::Receipt { .. } => s.receipts += 1,
                Event::Inbound { .. } => s.inbound += 1,
                Event::Deleted { .. } => s.deleted += 1,
                Event::Rebooted { .. } => s.reboots += 1,
                Event::Cancelled { .. } | Event::Read { .. } | Event::Fault { .. } => {}
            }
        }
        s
    }
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "commands={} accepted={} rejected={} lost={} receipts={} inbound={} deleted={} reboots={}",
            self.commands,
            self.accepted,
            self.rejected,
            self.lost,
            self.receipts,
            self.inbound,
            self.deleted,
            self.reboots
        )
    }
}

/// A whole message as the client meant it: accepted parts joined by their concatenation
/// element (same destination and reference), in part order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentMessage {
    /// Destination.
    pub destination: String,
    /// The reassembled text.
    pub text: String,
    /// Parts accepted, in order.
    pub parts: Vec<Submitted>,
    /// Whether every part of the message was accepted.
    pub complete: bool,
}

/// Groups the accepted submits of `log` into messages, in order of their first part.
pub fn messages(log: &[Event]) -> Vec<SentMessage> {
    let mut out: Vec<SentMessage> = Vec::new();
    let mut keys: Vec<Option<(String, u16, u8)>> = Vec::new();
    for e in log {
        let Event::Accepted(s) = e else { continue };
        let key = s
            .concat
            .map(|c| (s.destination.clone(), c.reference, c.total));
        let pos = key
            .as_ref()
            .and_then(|k| keys.iter().position(|x| x.as_ref() == Some(k)));
        // A second copy of a part (a client's retry) starts a new message.
        let pos = pos.filter(|&p| {
            out.get(p).is_some_and(|m| {
                !m.parts
                    .iter()
                    .any(|q| q.concat.map(|c| c.seq) == s.concat.map(|c| c.seq))
            })
        });
        match pos {
            Some(p) => {
                if let Some(m) = out.get_mut(p) {
                    m.parts.push(s.clone());
                }
            }
            None => {
                out.push(SentMessage {
                    destination: s.destination.clone(),
                    text: String::new(),
                    parts: vec![s.clone()],
                    complete: false,
                });
                keys.push(key);
            }
        }
    }
    for m in &mut out {
        m.parts.sort_by_key(|p| p.concat.map_or(0, |c| c.seq));
        m.text = m.parts.iter().map(|p| p.text.as_str()).collect();
        m.complete = match m.parts.first().and_then(|p| p.concat) {
            None => m.parts.len() == 1,
            Some(c) => m.parts.len() == usize::from(c.total),
        };
    }
    out
}

/// An SMS-SUBMIT PDU (SCA included) that did not decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadSubmit(pub String);

/// Decodes a PDU as `AT+CMGS` received it: SCA then TPDU of `tpdu_len` octets.
/// `mr` is the reference the modem gives; `at` the time of acceptance.
pub fn decode_submit(
    pdu: &[u8],
    tpdu_len: usize,
    mr: u8,
    at: Millis,
) -> Result<Submitted, BadSubmit> {
    let sca_len = usize::from(*pdu.first().ok_or_else(|| BadSubmit("empty PDU".into()))?);
    let actual = pdu.len().saturating_sub(1 + sca_len);
    // TS 27.005 3.5.1: `<length>` counts the TPDU octets, not the SCA.
    if actual != tpdu_len || pdu.len() < 1 + sca_len {
        return Err(BadSubmit(format!(
            "length {tpdu_len} given, TPDU has {actual} octets"
        )));
    }
    let decoded =
        gsm::decode_with_sca(pdu, Direction::MsToSc).map_err(|e| BadSubmit(e.to_string()))?;
    let Tpdu::Submit(s) = decoded.tpdu else {
        return Err(BadSubmit("not an SMS-SUBMIT".into()));
    };
    let ud = s.user_data;
    let text = ud_text(&ud);
    let tpdu = pdu.get(1 + sca_len..).unwrap_or_default();
    Ok(Submitted {
        at,
        mr,
        client_mr: s.message_ref,
        destination: s.destination.to_string(),
        text,
        alphabet: ud.alphabet(),
        dcs: s.dcs.0,
        first_octet: s.first_octet(),
        srr: s.status_report_request,
        udh: ud.udh().map(|h| hex(h.as_bytes())),
        concat: ud.concat(),
        sca: decoded.sca.map(|a| a.to_string()),
        validity: s.validity.to_string(),
        tpdu_hex: hex(tpdu),
        text_mode: false,
    })
}

/// The text of user data: GSM 7-bit and UCS-2 decoded, anything else as hex.
pub fn ud_text(ud: &gsm::UserData<'_>) -> String {
    let mut text = String::new();
    if ud.write_text(&mut text).is_err() {
        text.clear();
        let mut buf = vec![0u8; 160];
        let n = ud.encode(&mut buf).unwrap_or(0);
        text = hex(buf.get(..n).unwrap_or_default());
    }
    text
}

/// Upper-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02X}");
    }
    s
}

/// Bytes of a hex string (whitespace ignored); `None` if it is not hex.
pub fn unhex(s: &[u8]) -> Option<Vec<u8>> {
    let digits: Vec<u8> = s
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .chunks(2)
        .map(|p| {
            let s = std::str::from_utf8(p).ok()?;
            u8::from_str_radix(s, 16).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_gammu_pdu() {
        // gammu `sendsms` from reference/at-clients.md: SCA 07 91 7409001200, TPDU 27 octets.
        let pdu =
            unhex(b"0691740900120011000A9174214365870000FF10C8329BFD0699E5EF36E81C6EB7EB").unwrap();
        let s = decode_submit(&pdu, 27, 1, 0).unwrap();
        assert_eq!(s.destination, "+4712345678");
        assert_eq!(s.text, "Hello from gammu");
        assert_eq!(s.sca.as_deref(), Some("+4790002100"));
        assert!(!s.srr);
        assert_eq!(s.first_octet, 0x11);
        assert!(decode_submit(&pdu, 28, 1, 0).is_err());
        assert!(decode_submit(&[], 0, 1, 0).is_err());
        assert!(decode_submit(&[0x09, 0x91], 0, 1, 0).is_err());
    }

    #[test]
    fn hex_round_trip() {
        assert_eq!(unhex(b"00ff 1A"), Some(vec![0, 0xff, 0x1a]));
        assert_eq!(unhex(b"0"), None);
        assert_eq!(unhex(b"zz"), None);
        assert_eq!(hex(&[0xab, 1]), "AB01");
    }
}
