//! The simulator's wire: PDU framing on rusmpp and the few PDUs the SMSC builds itself.
//!
//! Independent of `host/smpp` on purpose: the simulator is the other side of the protocol, and
//! sharing the client's framing would let one bug hide on both ends.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use rusmpp::decode::DecodeWithLength;
use rusmpp::pdus::DeliverSm;
use rusmpp::tlvs::MessageDeliveryRequestTlvValue as D;
use rusmpp::types::{COctetString, OctetString};
use rusmpp::values::{DataCoding, EsmClass, MessageState, Npi, Ton};
use rusmpp::{Command, CommandStatus};
use tokio_util::codec::{Decoder, Encoder};

/// Frames by `command_length`; a body that does not decode yields `Err(header)` and the stream
/// stays in sync, an impossible length is an I/O error (the session ends).
#[derive(Debug, Default)]
pub(crate) struct Framing;

/// Header fields of a PDU that did not decode.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BadPdu {
    pub(crate) command_id: u32,
    pub(crate) sequence_number: u32,
}

impl Decoder for Framing {
    type Item = Result<Command, BadPdu>;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, std::io::Error> {
        let Some(len) = src.get(..4) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        if !(16..=70_000).contains(&len) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("command_length {len}"),
            ));
        }
        if src.len() < len {
            src.reserve(len - src.len());
            return Ok(None);
        }
        let mut frame = src.split_to(len);
        let word = |f: &BytesMut, at: usize| {
            f.get(at..at + 4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                .unwrap_or(0)
        };
        let bad = BadPdu {
            command_id: word(&frame, 4),
            sequence_number: word(&frame, 12),
        };
        frame.advance(4);
        let body = frame.len();
        Ok(Some(match Command::decode(&mut frame, body) {
            Ok((cmd, _)) => Ok(cmd),
            Err(_) => Err(bad),
        }))
    }
}

impl Encoder<&Command> for Framing {
    type Error = std::io::Error;

    fn encode(&mut self, cmd: &Command, dst: &mut BytesMut) -> Result<(), std::io::Error> {
        rusmpp::tokio_codec::CommandCodec::new()
            .encode(cmd, dst)
            .map_err(|e| std::io::Error::other(e.to_string()))
    }
}

pub(crate) fn encode(cmd: &Command, dst: &mut BytesMut) {
    // Encoding into memory cannot fail.
    let _ = Framing.encode(cmd, dst);
}

/// A well-framed PDU with an unknown command_id and a junk body: a polite peer answers
/// generic_nack and carries on.
pub(crate) fn garbage_pdu(seq: u32, dst: &mut BytesMut) {
    dst.put_u32(16 + 7);
    dst.put_u32(0x0000_0777);
    dst.put_u32(0);
    dst.put_u32(seq);
    dst.put_slice(b"\xde\xad\xbe\xef\x00\xff\x13");
}

/// Octets that cannot start a PDU (command_length 0xFFFFFF00): the peer must drop the session.
pub(crate) fn garbage_stream(dst: &mut BytesMut) {
    dst.put_slice(b"\xff\xff\xff\x00GARBAGE-GARBAGE!");
}

/// An SME address on the wire.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Addr {
    /// TON.
    pub ton: u8,
    /// NPI.
    pub npi: u8,
    /// The address.
    pub addr: String,
}

fn cstr<const MIN: usize, const MAX: usize>(s: &str) -> COctetString<MIN, MAX> {
    // Addresses come from decoded PDUs or test code; fall back to empty rather than fail.
    COctetString::from_string(s.to_owned()).unwrap_or_else(|_| COctetString::empty())
}

/// Everything the simulator needs to build a deliver_sm (receipt or MO).
#[derive(Clone, Debug)]
pub(crate) struct DeliverSpec {
    pub(crate) source: Addr,
    pub(crate) destination: Addr,
    pub(crate) esm_class: u8,
    pub(crate) data_coding: u8,
    pub(crate) short_message: Bytes,
    pub(crate) payload: Option<Bytes>,
    pub(crate) receipted_message_id: Option<String>,
    pub(crate) message_state: Option<u8>,
    pub(crate) sar: Option<(u16, u8, u8)>,
}

pub(crate) fn deliver_sm(spec: &DeliverSpec) -> DeliverSm {
    let mut tlvs = Vec::new();
    if let Some(id) = &spec.receipted_message_id {
        tlvs.push(D::ReceiptedMessageId(cstr(id)));
    }
    if let Some(st) = spec.message_state {
        tlvs.push(D::MessageState(MessageState::from(st)));
    }
    if let Some(p) = &spec.payload {
        tlvs.push(D::MessagePayload(rusmpp::values::MessagePayload::new(
            rusmpp::types::AnyOctetString::from_bytes(p.clone()),
        )));
    }
    if let Some((r, t, s)) = spec.sar {
        tlvs.push(D::SarMsgRefNum(r));
        tlvs.push(D::SarTotalSegments(t));
        tlvs.push(D::SarSegmentSeqnum(s));
    }
    let sm = OctetString::from_bytes(spec.short_message.clone()).unwrap_or_default();
    let mut d = DeliverSm::builder()
        .source_addr_ton(Ton::from(spec.source.ton))
        .source_addr_npi(Npi::from(spec.source.npi))
        .source_addr(cstr(&spec.source.addr))
        .dest_addr_ton(Ton::from(spec.destination.ton))
        .dest_addr_npi(Npi::from(spec.destination.npi))
        .destination_addr(cstr(&spec.destination.addr))
        .esm_class(EsmClass::from(spec.esm_class))
        .data_coding(DataCoding::from(spec.data_coding))
        .short_message(sm)
        .build();
    d.set_tlvs(tlvs);
    d
}

pub(crate) fn command(status: u32, seq: u32, pdu: impl Into<rusmpp::Pdu>) -> Command {
    Command::new(CommandStatus::from(status), seq, pdu)
}
