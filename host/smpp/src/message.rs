//! Short messages in both directions: what a caller submits ([`SubmitRequest`]) and a neutral
//! view of any message PDU that arrives ([`ShortMessage`], from deliver_sm, data_sm or
//! submit_sm), with the concatenation facts needed to reassemble long messages.
//!
//! Text is never encoded or decoded here: data coding stays bytes in, bytes out (the GSM codec
//! owns alphabets). Long messages travel one of three ways (SMPP 3.4 §2.2.1, §5.3.2.22-24,
//! 5.3.2.32): a user data header in `short_message` with esm_class UDHI (0x40), the SAR TLVs, or
//! the whole text in one `message_payload` TLV; [`split`] produces any of them from user data.

use bytes::Bytes;
use rusmpp::pdus::{DataSm, DeliverSm, SubmitSm};
use rusmpp::tlvs::{Tlv, TlvValue};
use rusmpp::types::{COctetString, EmptyOrFullCOctetString, OctetString};
use rusmpp::values::{
    DataCoding, EsmClass, MessagePayload, Npi, PriorityFlag, RegisteredDelivery,
    ReplaceIfPresentFlag, ServiceType, Ton,
};

use crate::receipt::{NetworkError, ReceiptTlvs};

/// esm_class bit 6: `short_message` starts with a user data header (SMPP 3.4 §5.2.12).
pub const ESM_UDHI: u8 = 0x40;
/// esm_class message-type bits 2-5 (SMPP 3.4 §5.2.12).
pub const ESM_TYPE_MASK: u8 = 0x3C;
/// Message type: SMSC delivery receipt.
pub const ESM_TYPE_RECEIPT: u8 = 0x04;
/// Message type: SME delivery acknowledgement.
pub const ESM_TYPE_SME_ACK: u8 = 0x08;
/// Message type: SME manual/user acknowledgement.
pub const ESM_TYPE_USER_ACK: u8 = 0x10;
/// Message type: intermediate delivery notification.
pub const ESM_TYPE_INTERMEDIATE: u8 = 0x20;

/// An SME address: type of number, numbering plan, digits or alphanumeric text.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Address {
    /// TON (0 unknown, 1 international, 2 national, 5 alphanumeric, …).
    pub ton: u8,
    /// NPI (0 unknown, 1 ISDN/E.164, …).
    pub npi: u8,
    /// The address, ASCII, at most 20 characters.
    pub addr: String,
}

impl Address {
    /// An international E.164 number (TON 1, NPI 1), digits without `+`.
    pub fn international(digits: &str) -> Address {
        Address {
            ton: 1,
            npi: 1,
            addr: digits.trim_start_matches('+').to_owned(),
        }
    }

    /// An alphanumeric sender (TON 5, NPI 0).
    pub fn alphanumeric(name: &str) -> Address {
        Address {
            ton: 5,
            npi: 0,
            addr: name.to_owned(),
        }
    }
}

/// How the user data of one submit_sm is carried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// In `short_message` (at most 254 octets); include the UDH and set [`ESM_UDHI`] in
    /// `esm_class` for a UDH-concatenated part.
    Short(Bytes),
    /// In the `message_payload` TLV (up to 64 KiB), `short_message` empty.
    Payload(Bytes),
    /// One part in `short_message` with the SAR TLVs.
    Sar {
        /// `sar_msg_ref_num`: the same for every part of one message.
        reference: u16,
        /// `sar_total_segments`.
        total: u8,
        /// `sar_segment_seqnum`, 1-based.
        seq: u8,
        /// This part's user data.
        data: Bytes,
    },
}

impl Body {
    /// The octets carried, without any SAR framing.
    pub fn data(&self) -> &[u8] {
        match self {
            Body::Short(b) | Body::Payload(b) => b,
            Body::Sar { data, .. } => data,
        }
    }
}

/// Everything one submit_sm carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubmitRequest {
    /// `service_type` (at most 5 characters; empty for the SMSC default).
    pub service_type: String,
    /// Sender.
    pub source: Address,
    /// Recipient.
    pub destination: Address,
    /// `esm_class` (0, or [`ESM_UDHI`] for a UDH part).
    pub esm_class: u8,
    /// `protocol_id` (TS 23.040 TP-PID; 0 normally).
    pub protocol_id: u8,
    /// `priority_flag` (0-3).
    pub priority: u8,
    /// `schedule_delivery_time` in SMPP time format (16 characters) or empty for now.
    pub schedule_delivery_time: String,
    /// `validity_period` in SMPP time format (16 characters) or empty for the SMSC default.
    pub validity_period: String,
    /// `registered_delivery` (1: receipt on success and failure).
    pub registered_delivery: u8,
    /// `data_coding` (0 SMSC default / GSM-7, 3 Latin-1, 8 UCS-2, 4 binary).
    pub data_coding: u8,
    /// The user data and how it travels.
    pub body: Body,
}

impl SubmitRequest {
    /// A plain request: no schedule or validity, priority 0, no receipt.
    pub fn new(source: Address, destination: Address, data_coding: u8, body: Body) -> Self {
        SubmitRequest {
            service_type: String::new(),
            source,
            destination,
            esm_class: 0,
            protocol_id: 0,
            priority: 0,
            schedule_delivery_time: String::new(),
            validity_period: String::new(),
            registered_delivery: 0,
            data_coding,
            body,
        }
    }

    /// Builds the rusmpp PDU, checking every field against its SMPP size.
    pub fn to_pdu(&self) -> Result<SubmitSm, RequestError> {
        use rusmpp::tlvs::MessageSubmissionRequestTlvValue as S;
        let mut tlvs: Vec<S> = Vec::new();
        let short: Bytes = match &self.body {
            Body::Short(b) => b.clone(),
            Body::Payload(b) => {
                if b.len() > usize::from(u16::MAX) {
                    return Err(RequestError::TooLong("message_payload", b.len()));
                }
                tlvs.push(S::MessagePayload(MessagePayload::new(
                    rusmpp::types::AnyOctetString::from_bytes(b.clone()),
                )));
                Bytes::new()
            }
            Body::Sar {
                reference,
                total,
                seq,
                data,
            } => {
                tlvs.push(S::SarMsgRefNum(*reference));
                tlvs.push(S::SarTotalSegments(*total));
                tlvs.push(S::SarSegmentSeqnum(*seq));
                data.clone()
            }
        };
        if short.len() > 254 {
            return Err(RequestError::TooLong("short_message", short.len()));
        }
        let mut pdu = SubmitSm::builder()
            .service_type(service_type(&self.service_type)?)
            .source_addr_ton(Ton::from(self.source.ton))
            .source_addr_npi(Npi::from(self.source.npi))
            .source_addr(cstr("source_addr", &self.source.addr)?)
            .dest_addr_ton(Ton::from(self.destination.ton))
            .dest_addr_npi(Npi::from(self.destination.npi))
            .destination_addr(cstr("destination_addr", &self.destination.addr)?)
            .esm_class(EsmClass::from(self.esm_class))
            .protocol_id(self.protocol_id)
            .priority_flag(PriorityFlag::from(self.priority))
            .schedule_delivery_time(smpp_time(
                "schedule_delivery_time",
                &self.schedule_delivery_time,
            )?)
            .validity_period(smpp_time("validity_period", &self.validity_period)?)
            .registered_delivery(RegisteredDelivery::from(self.registered_delivery))
            .replace_if_present_flag(ReplaceIfPresentFlag::default())
            .data_coding(DataCoding::from(self.data_coding))
            .short_message({
                let len = short.len();
                // Bytes clones share the buffer: the user data is not copied.
                OctetString::from_bytes(short)
                    .map_err(|_| RequestError::TooLong("short_message", len))?
            })
            .build();
        pdu.set_tlvs(tlvs);
        Ok(pdu)
    }
}

/// A field that does not fit its SMPP definition.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// A string field is too long or not ASCII.
    #[error("{0} {1:?} is not an ASCII string of at most {2} characters")]
    BadString(&'static str, String, usize),
    /// A time field is neither empty nor 16 characters (SMPP 3.4 §7.1.1).
    #[error("{0} {1:?} is not an SMPP time (16 characters) or empty")]
    BadTime(&'static str, String),
    /// User data is too long for where it goes.
    #[error("{0} of {1} octets is too long")]
    TooLong(&'static str, usize),
}

pub(crate) fn cstr<const MIN: usize, const MAX: usize>(
    field: &'static str,
    s: &str,
) -> Result<COctetString<MIN, MAX>, RequestError> {
    COctetString::from_string(s.to_owned())
        .map_err(|_| RequestError::BadString(field, s.to_owned(), MAX - 1))
}

fn service_type(s: &str) -> Result<ServiceType, RequestError> {
    Ok(ServiceType::new(cstr("service_type", s)?))
}

fn smpp_time(field: &'static str, s: &str) -> Result<EmptyOrFullCOctetString<17>, RequestError> {
    if s.is_empty() {
        return Ok(EmptyOrFullCOctetString::empty());
    }
    let mut bytes = s.as_bytes().to_vec();
    bytes.push(0);
    EmptyOrFullCOctetString::from_bytes(Bytes::from(bytes))
        .map_err(|_| RequestError::BadTime(field, s.to_owned()))
}

/// Concatenation facts of one part, from a UDH (IE 0x00 or 0x08, TS 23.040 9.2.3.24.1/8) or
/// the SAR TLVs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConcatInfo {
    /// The reference shared by all parts (8-bit references widened).
    pub reference: u16,
    /// Number of parts.
    pub total: u8,
    /// This part's number, 1-based.
    pub seq: u8,
}

/// A message PDU as received: from an SMSC (deliver_sm, data_sm) or from an application
/// (submit_sm, on the server side).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShortMessage {
    /// `service_type`.
    pub service_type: String,
    /// Sender (for MO: the handset).
    pub source: Address,
    /// Recipient (for MO: our number).
    pub destination: Address,
    /// `esm_class`.
    pub esm_class: u8,
    /// `protocol_id` (0 for data_sm, which has none).
    pub protocol_id: u8,
    /// `priority_flag`.
    pub priority: u8,
    /// `schedule_delivery_time` (submit_sm).
    pub schedule_delivery_time: String,
    /// `validity_period` (submit_sm).
    pub validity_period: String,
    /// `registered_delivery`.
    pub registered_delivery: u8,
    /// `data_coding`.
    pub data_coding: u8,
    /// `short_message`, as sent (with its UDH, if any).
    pub short_message: Bytes,
    /// The `message_payload` TLV, if present.
    pub message_payload: Option<Bytes>,
    /// The SAR TLVs, when all three are present.
    pub sar: Option<ConcatInfo>,
    /// Receipt TLVs (deliver_sm/data_sm only).
    pub receipt_tlvs: ReceiptTlvs,
    /// `user_message_reference`, if present.
    pub user_message_reference: Option<u16>,
}

impl ShortMessage {
    /// The message octets: `message_payload` when present (SMPP 3.4 §5.3.2.32 says it replaces
    /// `short_message`), else `short_message`. Includes the UDH if there is one.
    pub fn payload(&self) -> &[u8] {
        match &self.message_payload {
            Some(p) if !p.is_empty() || self.short_message.is_empty() => p,
            _ => &self.short_message,
        }
    }

    /// Whether esm_class marks a delivery receipt or acknowledgement rather than a message.
    pub fn is_receipt(&self) -> bool {
        self.esm_class & ESM_TYPE_MASK != 0
    }

    /// Whether the payload starts with a user data header.
    pub fn has_udh(&self) -> bool {
        self.esm_class & ESM_UDHI != 0
    }

    /// The user data header (with its length octet), when UDHI is set and the header fits.
    pub fn udh(&self) -> Option<&[u8]> {
        if !self.has_udh() {
            return None;
        }
        let p = self.payload();
        let len = usize::from(*p.first()?);
        p.get(..=len)
    }

    /// The user data after any UDH. A UDHI flag with a header longer than the payload gives
    /// the whole payload (the message is malformed; keep the octets rather than drop them).
    pub fn user_data(&self) -> &[u8] {
        match self.udh() {
            Some(h) => self.payload().get(h.len()..).unwrap_or_default(),
            None => self.payload(),
        }
    }

    /// Concatenation facts from the SAR TLVs or, failing that, from the UDH.
    pub fn concat(&self) -> Option<ConcatInfo> {
        self.sar.or_else(|| self.udh().and_then(udh_concat))
    }

    /// From a deliver_sm.
    pub fn from_deliver_sm(d: &DeliverSm) -> ShortMessage {
        let mut m = ShortMessage {
            service_type: d.service_type.value().as_str().to_owned(),
            source: Address {
                ton: d.source_addr_ton.into(),
                npi: d.source_addr_npi.into(),
                addr: d.source_addr.as_str().to_owned(),
            },
            destination: Address {
                ton: d.dest_addr_ton.into(),
                npi: d.dest_addr_npi.into(),
                addr: d.destination_addr.as_str().to_owned(),
            },
            esm_class: d.esm_class.into(),
            protocol_id: d.protocol_id,
            priority: d.priority_flag.into(),
            schedule_delivery_time: time_str(&d.schedule_delivery_time),
            validity_period: time_str(&d.validity_period),
            registered_delivery: d.registered_delivery.into(),
            data_coding: d.data_coding.into(),
            short_message: Bytes::copy_from_slice(d.short_message().as_ref()),
            ..ShortMessage::empty()
        };
        m.apply_tlvs(d.tlvs());
        m
    }

    /// From a data_sm (no `short_message`; the text is in `message_payload`).
    pub fn from_data_sm(d: &DataSm) -> ShortMessage {
        let mut m = ShortMessage {
            service_type: d.service_type.value().as_str().to_owned(),
            source: Address {
                ton: d.source_addr_ton.into(),
                npi: d.source_addr_npi.into(),
                addr: d.source_addr.as_str().to_owned(),
            },
            destination: Address {
                ton: d.dest_addr_ton.into(),
                npi: d.dest_addr_npi.into(),
                addr: d.destination_addr.as_str().to_owned(),
            },
            esm_class: d.esm_class.into(),
            registered_delivery: d.registered_delivery.into(),
            data_coding: d.data_coding.into(),
            ..ShortMessage::empty()
        };
        m.apply_tlvs(d.tlvs());
        m
    }

    /// From a submit_sm (the server side).
    pub fn from_submit_sm(d: &SubmitSm) -> ShortMessage {
        let mut m = ShortMessage {
            service_type: d.service_type.value().as_str().to_owned(),
            source: Address {
                ton: d.source_addr_ton.into(),
                npi: d.source_addr_npi.into(),
                addr: d.source_addr.as_str().to_owned(),
            },
            destination: Address {
                ton: d.dest_addr_ton.into(),
                npi: d.dest_addr_npi.into(),
                addr: d.destination_addr.as_str().to_owned(),
            },
            esm_class: d.esm_class.into(),
            protocol_id: d.protocol_id,
            priority: d.priority_flag.into(),
            schedule_delivery_time: time_str(&d.schedule_delivery_time),
            validity_period: time_str(&d.validity_period),
            registered_delivery: d.registered_delivery.into(),
            data_coding: d.data_coding.into(),
            short_message: Bytes::copy_from_slice(d.short_message().as_ref()),
            ..ShortMessage::empty()
        };
        m.apply_tlvs(d.tlvs());
        m
    }

    fn empty() -> ShortMessage {
        ShortMessage {
            service_type: String::new(),
            source: Address::default(),
            destination: Address::default(),
            esm_class: 0,
            protocol_id: 0,
            priority: 0,
            schedule_delivery_time: String::new(),
            validity_period: String::new(),
            registered_delivery: 0,
            data_coding: 0,
            short_message: Bytes::new(),
            message_payload: None,
            sar: None,
            receipt_tlvs: ReceiptTlvs::default(),
            user_message_reference: None,
        }
    }

    fn apply_tlvs(&mut self, tlvs: &[Tlv]) {
        let (mut r, mut t, mut s) = (None, None, None);
        for tlv in tlvs {
            match tlv.value() {
                Some(TlvValue::MessagePayload(p)) => {
                    self.message_payload = Some(Bytes::copy_from_slice(p.value.as_ref()));
                }
                Some(TlvValue::SarMsgRefNum(n)) => r = Some(*n),
                Some(TlvValue::SarTotalSegments(n)) => t = Some(*n),
                Some(TlvValue::SarSegmentSeqnum(n)) => s = Some(*n),
                Some(TlvValue::ReceiptedMessageId(id)) => {
                    self.receipt_tlvs.receipted_message_id = Some(id.as_str().to_owned());
                }
                Some(TlvValue::MessageState(st)) => {
                    self.receipt_tlvs.message_state = Some(u8::from(*st));
                }
                Some(TlvValue::NetworkErrorCode(n)) => {
                    self.receipt_tlvs.network_error = Some(NetworkError {
                        network_type: u8::from(n.network_type),
                        code: n.error_code,
                    });
                }
                Some(TlvValue::UserMessageReference(u)) => {
                    self.user_message_reference = Some(u.value);
                }
                _ => {}
            }
        }
        if let (Some(reference), Some(total), Some(seq)) = (r, t, s) {
            self.sar = Some(ConcatInfo {
                reference,
                total,
                seq,
            });
        }
    }
}

fn time_str(t: &EmptyOrFullCOctetString<17>) -> String {
    let b: &[u8] = t.as_ref();
    let b = b.strip_suffix(&[0]).unwrap_or(b);
    String::from_utf8_lossy(b).into_owned()
}

/// Concatenation facts from a UDH (with its length octet): IE 0x00 (8-bit reference) or 0x08
/// (16-bit reference), TS 23.040 9.2.3.24.1 and 9.2.3.24.8. Malformed IEs are skipped.
pub fn udh_concat(udh: &[u8]) -> Option<ConcatInfo> {
    let mut ies = udh.get(1..)?;
    while let (Some(&iei), Some(&len)) = (ies.first(), ies.get(1)) {
        let data = ies.get(2..2 + usize::from(len))?;
        match (iei, data) {
            (0x00, [r, t, s]) if *t > 0 && *s > 0 => {
                return Some(ConcatInfo {
                    reference: u16::from(*r),
                    total: *t,
                    seq: *s,
                });
            }
            (0x08, [r1, r2, t, s]) if *t > 0 && *s > 0 => {
                return Some(ConcatInfo {
                    reference: u16::from_be_bytes([*r1, *r2]),
                    total: *t,
                    seq: *s,
                });
            }
            _ => {}
        }
        ies = ies.get(2 + usize::from(len)..)?;
    }
    None
}

/// How a link carries messages longer than one `short_message`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum LongMode {
    /// One submit_sm per part with a concatenation UDH (the default; every SMSC takes it).
    #[default]
    Udh,
    /// One submit_sm per part with the SAR TLVs.
    Sar,
    /// One submit_sm with the whole text in `message_payload`.
    Payload,
}

/// What the user data octets are, which decides part sizes and where a part may not be cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Units {
    /// GSM 7-bit default alphabet, one septet per octet (SMPP's unpacked form for DCS 0):
    /// 160 in one message, 153 per part; never cut after an escape (0x1B).
    Gsm7Unpacked,
    /// UCS-2 / UTF-16BE: 140 octets in one message, 134 per part; never cut a surrogate pair.
    Ucs2,
    /// Any 8-bit data: 140 octets, 134 per part.
    Octets,
}

/// One submit's worth of user data for a long message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    /// The body, ready for a [`SubmitRequest`].
    pub body: Body,
    /// The esm_class bits this part needs ([`ESM_UDHI`] for UDH parts, else 0).
    pub esm_class: u8,
}

/// Splits `data` into submit bodies for `mode`. A message that fits one short_message is one
/// `Body::Short` whatever the mode. `reference` is the concatenation reference (keep it unique
/// per destination among recent messages; an 8-bit UDH uses its low octet). At most 255 parts.
pub fn split(
    data: &[u8],
    units: Units,
    mode: LongMode,
    reference: u16,
) -> Result<Vec<Part>, RequestError> {
    let single = match units {
        Units::Gsm7Unpacked => 160,
        Units::Ucs2 | Units::Octets => 140,
    };
    if data.len() <= single {
        return Ok(vec![Part {
            body: Body::Short(Bytes::copy_from_slice(data)),
            esm_class: 0,
        }]);
    }
    if mode == LongMode::Payload {
        if data.len() > usize::from(u16::MAX) {
            return Err(RequestError::TooLong("message_payload", data.len()));
        }
        return Ok(vec![Part {
            body: Body::Payload(Bytes::copy_from_slice(data)),
            esm_class: 0,
        }]);
    }
    // Six UDH octets (8-bit reference IE) leave 153 septets or 134 octets (TS 23.040 9.2.3.24).
    let per_part = match units {
        Units::Gsm7Unpacked => 153,
        Units::Ucs2 | Units::Octets => 134,
    };
    let mut chunks: Vec<&[u8]> = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let mut cut = per_part.min(rest.len());
        if cut < rest.len() {
            match units {
                Units::Gsm7Unpacked if rest.get(cut - 1) == Some(&0x1B) => cut -= 1,
                Units::Ucs2 => {
                    // cut is even; a high surrogate as the last unit moves to the next part.
                    let hi = rest.get(cut - 2).copied().unwrap_or(0);
                    if (0xD8..=0xDB).contains(&hi) {
                        cut -= 2;
                    }
                }
                _ => {}
            }
        }
        let (head, tail) = rest.split_at(cut);
        chunks.push(head);
        rest = tail;
    }
    let total =
        u8::try_from(chunks.len()).map_err(|_| RequestError::TooLong("message", data.len()))?;
    Ok(chunks
        .into_iter()
        .enumerate()
        .map(|(i, chunk)| {
            // i < total <= 255, so the part number fits.
            let seq = u8::try_from(i + 1).unwrap_or(u8::MAX);
            match mode {
                LongMode::Sar => Part {
                    body: Body::Sar {
                        reference,
                        total,
                        seq,
                        data: Bytes::copy_from_slice(chunk),
                    },
                    esm_class: 0,
                },
                _ => {
                    let mut b = Vec::with_capacity(6 + chunk.len());
                    b.extend_from_slice(&[0x05, 0x00, 0x03, reference as u8, total, seq]);
                    b.extend_from_slice(chunk);
                    Part {
                        body: Body::Short(Bytes::from(b)),
                        esm_class: ESM_UDHI,
                    }
                }
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{Frame, decode_pdu, encode};
    use rusmpp::{Command, CommandStatus, Pdu};

    fn round_trip(req: &SubmitRequest) -> ShortMessage {
        let cmd = Command::new(CommandStatus::EsmeRok, 1, req.to_pdu().unwrap());
        let Frame::Command(cmd) = decode_pdu(&encode(&cmd)) else {
            panic!("did not decode")
        };
        let Some(Pdu::SubmitSm(s)) = cmd.pdu() else {
            panic!("not submit_sm")
        };
        ShortMessage::from_submit_sm(s)
    }

    #[test]
    fn submit_fields_survive_the_wire() {
        let mut req = SubmitRequest::new(
            Address::alphanumeric("Outpost"),
            Address::international("+4917012345"),
            8,
            Body::Short(Bytes::from_static(b"\x00h\x00i")),
        );
        req.registered_delivery = 1;
        req.priority = 2;
        req.validity_period = "000001000000000R".into();
        let m = round_trip(&req);
        assert_eq!(
            m.source,
            Address {
                ton: 5,
                npi: 0,
                addr: "Outpost".into()
            }
        );
        assert_eq!(m.destination.addr, "4917012345");
        assert_eq!(
            (m.data_coding, m.registered_delivery, m.priority),
            (8, 1, 2)
        );
        assert_eq!(m.validity_period, "000001000000000R");
        assert_eq!(m.user_data(), b"\x00h\x00i");
        assert_eq!(m.concat(), None);
    }

    #[test]
    fn bad_fields_are_typed_errors() {
        let req = |src: &str, validity: &str, body: Body| {
            let mut r = SubmitRequest::new(
                Address::alphanumeric(src),
                Address::international("1"),
                0,
                body,
            );
            r.validity_period = validity.into();
            r.to_pdu().map(|_| ()).map_err(|e| e.to_string())
        };
        let short = || Body::Short(Bytes::from_static(b"x"));
        assert_eq!(req("abc", "", short()), Ok(()));
        assert_eq!(
            req("this sender is far too long", "", short()),
            Err(r#"source_addr "this sender is far too long" is not an ASCII string of at most 20 characters"#.into())
        );
        assert_eq!(
            req("ümlaut", "", short()).map_err(|e| e.starts_with("source_addr")),
            Err(true)
        );
        assert_eq!(
            req("a", "1h", short()),
            Err(r#"validity_period "1h" is not an SMPP time (16 characters) or empty"#.into())
        );
        assert_eq!(
            req("a", "", Body::Short(Bytes::from(vec![0; 255]))),
            Err("short_message of 255 octets is too long".into())
        );
    }

    #[test]
    fn long_messages_in_all_three_modes() {
        let text: Vec<u8> = (0..400u32).map(|i| b'a' + (i % 26) as u8).collect();
        // UDH: 153-septet parts with an 8-bit reference IE.
        let parts = split(&text, Units::Gsm7Unpacked, LongMode::Udh, 0x1234).unwrap();
        assert_eq!(parts.len(), 3);
        let mut joined = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            let mut req = SubmitRequest::new(
                Address::alphanumeric("a"),
                Address::international("1"),
                0,
                p.body.clone(),
            );
            req.esm_class = p.esm_class;
            let m = round_trip(&req);
            assert_eq!(
                m.concat(),
                Some(ConcatInfo {
                    reference: 0x34,
                    total: 3,
                    seq: i as u8 + 1
                })
            );
            joined.extend_from_slice(m.user_data());
        }
        assert_eq!(joined, text);
        // SAR.
        let parts = split(&text, Units::Gsm7Unpacked, LongMode::Sar, 0x1234).unwrap();
        let mut joined = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            let m = round_trip(&SubmitRequest::new(
                Address::alphanumeric("a"),
                Address::international("1"),
                0,
                p.body.clone(),
            ));
            assert_eq!(
                m.concat(),
                Some(ConcatInfo {
                    reference: 0x1234,
                    total: 3,
                    seq: i as u8 + 1
                })
            );
            joined.extend_from_slice(m.user_data());
        }
        assert_eq!(joined, text);
        // message_payload: one submit, empty short_message.
        let parts = split(&text, Units::Gsm7Unpacked, LongMode::Payload, 0).unwrap();
        assert_eq!(parts.len(), 1);
        let m = round_trip(&SubmitRequest::new(
            Address::alphanumeric("a"),
            Address::international("1"),
            0,
            parts[0].body.clone(),
        ));
        assert!(m.short_message.is_empty());
        assert_eq!(m.payload(), &text[..]);
        // Short enough: one plain part whatever the mode.
        assert_eq!(
            split(b"hi", Units::Octets, LongMode::Sar, 1).unwrap()[0].body,
            Body::Short(Bytes::from_static(b"hi"))
        );
    }

    #[test]
    fn parts_are_not_cut_inside_a_character() {
        // An escape (0x1B) at position 152 moves to the next part with its character.
        let mut gsm = vec![b'a'; 152];
        gsm.push(0x1B);
        gsm.push(0x65); // euro sign
        gsm.extend(vec![b'b'; 20]);
        let parts = split(&gsm, Units::Gsm7Unpacked, LongMode::Sar, 1).unwrap();
        assert_eq!(parts[0].body.data().len(), 152);
        assert_eq!(&parts[1].body.data()[..2], &[0x1B, 0x65]);
        // A surrogate pair straddling 134 octets moves whole.
        let mut ucs2 = [0x00, 0x41].repeat(66);
        ucs2.extend_from_slice(&[0xD8, 0x3D, 0xDE, 0x00]);
        ucs2.extend_from_slice(&[0x00, 0x42].repeat(10));
        let parts = split(&ucs2, Units::Ucs2, LongMode::Sar, 1).unwrap();
        assert_eq!(parts[0].body.data().len(), 132);
        assert_eq!(&parts[1].body.data()[..4], &[0xD8, 0x3D, 0xDE, 0x00]);
    }

    #[test]
    fn udh_parsing_is_tolerant() {
        let check = |udh: &[u8]| udh_concat(udh).map(|c| (c.reference, c.total, c.seq));
        assert_eq!(check(&[5, 0, 3, 7, 2, 1]), Some((7, 2, 1)));
        assert_eq!(check(&[6, 8, 4, 1, 2, 3, 1]), Some((0x102, 3, 1)));
        // Another IE first (port addressing), then concatenation.
        assert_eq!(
            check(&[11, 5, 4, 0, 1, 0, 2, 0, 3, 9, 2, 2]),
            Some((9, 2, 2))
        );
        assert_eq!(check(&[5, 0, 3, 7, 0, 1]), None, "zero parts");
        assert_eq!(check(&[5, 0, 9, 7]), None, "IE longer than header");
        assert_eq!(check(&[]), None);
        // UDHI set but the header claims more than the payload.
        let mut m = ShortMessage::empty();
        m.esm_class = ESM_UDHI;
        m.short_message = Bytes::from_static(&[40, 0, 3]);
        assert_eq!(m.udh(), None);
        assert_eq!(m.user_data(), &[40, 0, 3]);
    }
}
