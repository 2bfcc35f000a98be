//! What a carrier is given to send, and the encodings carriers need from it.
//!
//! Segmentation follows `firmware/gsm`'s plan, so the number of parts a carrier sends is the
//! number counted (and billed) at accept time.

use std::sync::Arc;
use std::time::Duration;

use domain::{Encoding, MessageId, Msisdn, Priority};
use gsm::address::Address;
use gsm::plan::{PlanOptions, plan};
use gsm::time::Validity;

/// One message as the dispatcher hands it to a carrier.
#[derive(Clone, Debug)]
pub struct OutboundMessage {
    /// The store's id (for logs and tags).
    pub id: MessageId,
    /// Destination.
    pub to: Msisdn,
    /// Sender id, if any (an SMPP link may override it with its own).
    pub sender: Option<String>,
    /// Text to send.
    pub body: Arc<str>,
    /// Alphabet chosen at accept.
    pub encoding: Encoding,
    /// Parts counted at accept.
    pub parts: u16,
    /// Concatenation reference shared by the parts (low byte used with 8-bit references).
    pub reference: u16,
    /// Ask the network for a delivery report (always, unless a carrier is configured not to).
    pub report: bool,
    /// Validity period left, if the message expires.
    pub validity: Option<Duration>,
    /// Priority, for carriers that pass it on (SMPP `priority_flag`).
    pub priority: Priority,
}

/// Why a message could not be cut into parts the way it was planned at accept.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SegmentError {
    /// The codec refused the text (cannot happen for text accepted by the same rules).
    #[error("cannot encode the text: {0}")]
    Encode(String),
    /// The plan now gives another number of parts than at accept.
    #[error("text now needs {now} parts, {accepted} were counted at accept")]
    PartsChanged {
        /// Parts counted at accept.
        accepted: u16,
        /// Parts now.
        now: u16,
    },
    /// The destination does not fit a TP-DA.
    #[error("destination cannot be encoded: {0}")]
    Address(String),
}

/// One part's user data as an SMPP link sends it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartUserData {
    /// `short_message` bytes: UDH (if any) then septets one per octet, or UCS-2 big-endian.
    pub data: Vec<u8>,
    /// Whether `data` starts with a UDH (set esm_class UDHI).
    pub udhi: bool,
    /// SMPP `data_coding`: 0 (SMSC default alphabet, GSM 7-bit) or 8 (UCS-2).
    pub data_coding: u8,
    /// 1-based part number.
    pub seq: u8,
    /// Total parts.
    pub total: u8,
}

/// One part as an SMS-SUBMIT PDU for `AT+CMGS`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubmitPdu {
    /// SCA (here always `00`: the modem's default service centre) followed by the TPDU.
    pub pdu: Vec<u8>,
    /// The TPDU length, the `<n>` of `AT+CMGS=<n>`.
    pub tpdu_len: u8,
}

fn options(msg: &OutboundMessage) -> PlanOptions {
    PlanOptions {
        max_parts: u8::try_from(msg.parts).unwrap_or(u8::MAX).max(1),
        ref16: false,
        encoding: Some(match msg.encoding {
            Encoding::Gsm7 => gsm::plan::Encoding::Gsm7,
            Encoding::Ucs2 => gsm::plan::Encoding::Ucs2,
        }),
    }
}

/// The parts of `msg` as SMPP `short_message` payloads (long messages split with a UDH).
pub fn segments(msg: &OutboundMessage) -> Result<Vec<PartUserData>, SegmentError> {
    let p = plan(&msg.body, &options(msg)).map_err(|e| SegmentError::Encode(e.to_string()))?;
    if p.parts != usize::from(msg.parts) {
        return Err(SegmentError::PartsChanged {
            accepted: msg.parts,
            now: p.parts as u16,
        });
    }
    let total = p.parts as u8;
    let mut out = Vec::with_capacity(p.parts);
    for (i, seg) in p.segments(msg.reference).enumerate() {
        let mut buf = [0u8; 160];
        let n = seg
            .encode_smpp(&mut buf)
            .map_err(|e| SegmentError::Encode(e.to_string()))?;
        out.push(PartUserData {
            data: buf[..n].to_vec(),
            udhi: seg.concat.is_some(),
            data_coding: match msg.encoding {
                Encoding::Gsm7 => 0,
                Encoding::Ucs2 => 8,
            },
            seq: i as u8 + 1,
            total,
        });
    }
    Ok(out)
}

/// The parts of `msg` as SMS-SUBMIT PDUs for a modem, with TP-SRR set when a report is wanted
/// and the validity period (relative) when the message expires.
pub fn submit_pdus(msg: &OutboundMessage) -> Result<Vec<SubmitPdu>, SegmentError> {
    let p = plan(&msg.body, &options(msg)).map_err(|e| SegmentError::Encode(e.to_string()))?;
    if p.parts != usize::from(msg.parts) {
        return Err(SegmentError::PartsChanged {
            accepted: msg.parts,
            now: p.parts as u16,
        });
    }
    let da = Address::international(msg.to.digits())
        .map_err(|e| SegmentError::Address(e.to_string()))?;
    let validity = match msg.validity {
        // TS 23.040 9.2.3.12.1: at most 63 weeks; longer is capped, shorter rounds up.
        Some(d) => Validity::relative_seconds(d.as_secs().clamp(300, 63 * 7 * 86_400))
            .map_err(|e| SegmentError::Encode(e.to_string()))?,
        None => Validity::None,
    };
    let mut out = Vec::with_capacity(p.parts);
    for seg in p.segments(msg.reference) {
        let submit = seg
            .submit(da.clone())
            .with_status_report(msg.report)
            .with_validity(validity);
        let mut buf = [0u8; 200];
        let enc = submit
            .encode_with_sca(None, &mut buf)
            .map_err(|e| SegmentError::Encode(e.to_string()))?;
        out.push(SubmitPdu {
            pdu: buf[..enc.len].to_vec(),
            tpdu_len: enc.tpdu_len as u8,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(text: &str, encoding: Encoding, parts: u16) -> OutboundMessage {
        OutboundMessage {
            id: MessageId(1),
            to: Msisdn::from_e164("+8613800138000").unwrap(),
            sender: None,
            body: Arc::from(text),
            encoding,
            parts,
            reference: 0x1234,
            report: true,
            validity: None,
            priority: Priority::NORMAL,
        }
    }

    #[test]
    fn smpp_parts_carry_udh_only_when_concatenated() {
        let one = segments(&msg("hello", Encoding::Gsm7, 1)).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].data, b"hello");
        assert!(!one[0].udhi);
        let text = "中".repeat(71);
        let two = segments(&msg(&text, Encoding::Ucs2, 2)).unwrap();
        assert_eq!(two.len(), 2);
        assert_eq!(&two[0].data[..6], &[0x05, 0x00, 0x03, 0x34, 0x02, 0x01]);
        assert_eq!(two[0].data.len(), 6 + 67 * 2);
        assert_eq!((two[1].seq, two[1].total, two[1].data_coding), (2, 2, 8));
        assert!(two[1].udhi);
    }

    #[test]
    fn parts_must_match_the_accepted_count() {
        assert_eq!(
            segments(&msg("hello", Encoding::Gsm7, 2)),
            Err(SegmentError::PartsChanged {
                accepted: 2,
                now: 1
            })
        );
    }

    #[test]
    fn modem_pdus_request_reports_and_give_cmgs_length() {
        let pdus = submit_pdus(&msg("hello", Encoding::Gsm7, 1)).unwrap();
        assert_eq!(pdus.len(), 1);
        // SCA 00, first octet 0x21 (SUBMIT + SRR, no VP), MR 0, DA +8613800138000.
        assert_eq!(&pdus[0].pdu[..3], &[0x00, 0x21, 0x00]);
        assert_eq!(usize::from(pdus[0].tpdu_len), pdus[0].pdu.len() - 1);
        let mut m = msg("hello", Encoding::Gsm7, 1);
        m.report = false;
        m.validity = Some(Duration::from_secs(86_400));
        let pdus = submit_pdus(&m).unwrap();
        // VPF relative (0x10) and SUBMIT, no SRR.
        assert_eq!(pdus[0].pdu[1], 0x11);
    }
}
