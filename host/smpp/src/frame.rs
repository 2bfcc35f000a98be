//! SMPP framing: splits a byte stream into PDUs by `command_length` and decodes each with rusmpp.
//!
//! rusmpp's own `CommandCodec` turns a PDU that fails to decode into a stream error, and a
//! `tokio_util` stream ends after its first error, so one malformed PDU from a peer would cost the
//! whole session. Here the frame is cut out of the buffer *before* it is decoded: a bad body
//! becomes [`Frame::Invalid`] (with the header fields needed for a `generic_nack` or an error
//! response, SMPP 3.4 §4.3) and the stream stays in sync. Only a `command_length` that cannot be
//! a PDU (below the 16-octet header or above the configured maximum) is fatal, because nothing
//! after it can be trusted (SMPP 3.4 §2.8: the receiver should then close the session).
//!
//! Deliver_sm and data_sm that fail the strict decoder get one repair attempt (see
//! [`repair_tlvs`]): receipts are the one thing an ESME must never drop because a carrier's SMSC
//! writes a TLV sloppily.

use bytes::{Buf, BufMut, BytesMut};
use rusmpp::decode::DecodeWithLength;
use rusmpp::{Command, CommandId, CommandStatus};
use tokio_util::codec::{Decoder, Encoder};

/// The SMPP header: command_length, command_id, command_status, sequence_number (SMPP 3.4 §3.2).
pub const HEADER_LEN: usize = 16;

/// The largest PDU accepted by default. A submit_sm with a full `message_payload` fits easily;
/// anything larger from a peer is treated as a framing error.
pub const DEFAULT_MAX_PDU: usize = 64 * 1024;

/// One PDU cut from the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A PDU rusmpp decoded.
    Command(Box<Command>),
    /// A PDU whose length was sane but whose body did not decode.
    Invalid(InvalidPdu),
}

/// The header of a PDU whose body did not decode, kept so the session can answer it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidPdu {
    /// The raw command_id.
    pub command_id: u32,
    /// The raw command_status.
    pub command_status: u32,
    /// The sequence number, echoed in the answer.
    pub sequence_number: u32,
    /// What the decoder said.
    pub reason: String,
}

impl InvalidPdu {
    /// The command_status an answer should carry (SMPP 3.4 §5.1.3): an unknown command_id is
    /// `ESME_RINVCMDID`, a known one with a bad body is `ESME_RINVMSGLEN`-ish; rusmpp reports both
    /// as decode errors, so the id decides.
    pub fn answer_status(&self) -> CommandStatus {
        if matches!(CommandId::from(self.command_id), CommandId::Other(_)) {
            CommandStatus::EsmeRinvcmdid
        } else {
            CommandStatus::EsmeRsyserr
        }
    }

    /// Whether the PDU was a request (bit 31 of command_id clear) and so expects an answer.
    pub fn is_request(&self) -> bool {
        self.command_id & 0x8000_0000 == 0
    }
}

/// A framing error: the stream cannot be resynchronised and the session must end.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The socket failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// `command_length` below the header size or above the maximum.
    #[error("invalid command_length {length} (allowed {min}..={max})")]
    BadLength {
        /// The length read.
        length: u32,
        /// The header size.
        min: usize,
        /// The configured maximum.
        max: usize,
    },
}

/// A `tokio_util` codec that yields [`Frame`]s and encodes rusmpp [`Command`]s.
#[derive(Debug, Clone)]
pub struct PduCodec {
    max_len: usize,
}

impl PduCodec {
    /// A codec accepting PDUs up to `max_len` octets (at least the header size).
    pub fn new(max_len: usize) -> PduCodec {
        PduCodec {
            max_len: max_len.max(HEADER_LEN),
        }
    }
}

impl Default for PduCodec {
    fn default() -> Self {
        PduCodec::new(DEFAULT_MAX_PDU)
    }
}

impl Decoder for PduCodec {
    type Item = Frame;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        let Some(len_bytes) = src.get(..4) else {
            return Ok(None);
        };
        let length = u32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]);
        let len = length as usize;
        if len < HEADER_LEN || len > self.max_len {
            return Err(FrameError::BadLength {
                length,
                min: HEADER_LEN,
                max: self.max_len,
            });
        }
        if src.len() < len {
            src.reserve(len - src.len());
            return Ok(None);
        }
        let frame = src.split_to(len);
        Ok(Some(decode_frame(frame)))
    }
}

/// Decodes one whole PDU (including its length word). Never panics on any input; a bad length
/// or body gives [`Frame::Invalid`] (with whatever header fields were readable).
pub fn decode_pdu(bytes: &[u8]) -> Frame {
    if bytes.len() < HEADER_LEN {
        return Frame::Invalid(InvalidPdu {
            command_id: 0,
            command_status: 0,
            sequence_number: 0,
            reason: format!("{} octets is shorter than the header", bytes.len()),
        });
    }
    let declared = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    let mut frame = BytesMut::from(bytes);
    if declared != bytes.len() {
        let (id, status, seq) = header_fields(&frame);
        return Frame::Invalid(InvalidPdu {
            command_id: id,
            command_status: status,
            sequence_number: seq,
            reason: format!("command_length {declared} but {} octets given", bytes.len()),
        });
    }
    frame.truncate(declared);
    decode_frame(frame)
}

fn header_fields(frame: &[u8]) -> (u32, u32, u32) {
    let word = |at: usize| {
        frame
            .get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .unwrap_or(0)
    };
    (word(4), word(8), word(12))
}

/// `frame` is exactly one PDU of at least [`HEADER_LEN`] octets.
fn decode_frame(mut frame: BytesMut) -> Frame {
    let (id, status, seq) = header_fields(&frame);
    let original = frame.clone();
    frame.advance(4);
    let body_len = frame.len();
    match Command::decode(&mut frame, body_len) {
        Ok((cmd, _)) => Frame::Command(Box::new(cmd)),
        Err(err) => {
            // One repair attempt for the PDUs that carry receipts and MO (see module docs).
            if matches!(
                CommandId::from(id),
                CommandId::DeliverSm | CommandId::DataSm | CommandId::SubmitSm
            ) && let Some(fixed) = repair_tlvs(&original, CommandId::from(id))
            {
                let mut fixed = BytesMut::from(&fixed[..]);
                fixed.advance(4);
                let body_len = fixed.len();
                if let Ok((cmd, _)) = Command::decode(&mut fixed, body_len) {
                    return Frame::Command(Box::new(cmd));
                }
            }
            Frame::Invalid(InvalidPdu {
                command_id: id,
                command_status: status,
                sequence_number: seq,
                reason: err.to_string(),
            })
        }
    }
}

/// The TLV tags whose value is a C-octet string (SMPP 5.0 §4.8.4): `receipted_message_id`
/// (0x001E) and `additional_status_info_text` (0x001D). Some SMSCs omit their NUL terminator.
const C_STRING_TLVS: [u16; 2] = [0x001E, 0x001D];

/// Rebuilds a deliver_sm / data_sm / submit_sm whose TLV section rusmpp rejected: C-string TLVs
/// lacking their terminating NUL get one, and TLVs that still do not decode alone are dropped
/// (they carry nothing this crate reads). Returns `None` when the mandatory part itself is
/// malformed; the caller then reports the PDU invalid.
pub fn repair_tlvs(pdu: &[u8], id: CommandId) -> Option<Vec<u8>> {
    let body = pdu.get(HEADER_LEN..)?;
    let tlv_start = HEADER_LEN + mandatory_len(body, id)?;
    let mut out = Vec::with_capacity(pdu.len() + 8);
    out.extend_from_slice(pdu.get(..tlv_start)?);
    let mut rest = pdu.get(tlv_start..)?;
    while !rest.is_empty() {
        let tag = u16::from_be_bytes([*rest.first()?, *rest.get(1)?]);
        let len = u16::from_be_bytes([*rest.get(2)?, *rest.get(3)?]) as usize;
        let value = rest.get(4..4 + len)?;
        rest = rest.get(4 + len..)?;
        let mut value = value.to_vec();
        if C_STRING_TLVS.contains(&tag) {
            // Cut at the first NUL (garbage after it) or add the missing one.
            if let Some(nul) = value.iter().position(|&b| b == 0) {
                value.truncate(nul);
            }
            value.retain(u8::is_ascii);
            if value.is_empty() {
                continue;
            }
            value.push(0);
        }
        if !tlv_decodes(tag, &value) {
            continue;
        }
        out.put_u16(tag);
        out.put_u16(u16::try_from(value.len()).ok()?);
        out.extend_from_slice(&value);
    }
    let total = u32::try_from(out.len()).ok()?;
    out.get_mut(..4)?.copy_from_slice(&total.to_be_bytes());
    Some(out)
}

fn tlv_decodes(tag: u16, value: &[u8]) -> bool {
    let mut buf = BytesMut::with_capacity(value.len() + 4);
    buf.put_u16(tag);
    let Ok(len) = u16::try_from(value.len()) else {
        return false;
    };
    buf.put_u16(len);
    buf.extend_from_slice(value);
    let total = buf.len();
    match rusmpp::tlvs::Tlv::decode(&mut buf, total) {
        Ok((_, used)) => used == total,
        Err(_) => false,
    }
}

/// The length of the mandatory parameters of a deliver_sm / submit_sm / data_sm body
/// (SMPP 3.4 §4.4.1, §4.6.1, §4.7.1), walking C-strings by their NUL.
fn mandatory_len(body: &[u8], id: CommandId) -> Option<usize> {
    let mut at = 0usize;
    let cstr = |at: &mut usize| -> Option<()> {
        let nul = body.get(*at..)?.iter().position(|&b| b == 0)?;
        *at += nul + 1;
        Some(())
    };
    let octets = |at: &mut usize, n: usize| -> Option<()> {
        body.get(*at..*at + n)?;
        *at += n;
        Some(())
    };
    // service_type, source_addr_ton, source_addr_npi, source_addr,
    // dest_addr_ton, dest_addr_npi, destination_addr, esm_class
    cstr(&mut at)?;
    octets(&mut at, 2)?;
    cstr(&mut at)?;
    octets(&mut at, 2)?;
    cstr(&mut at)?;
    octets(&mut at, 1)?;
    if id == CommandId::DataSm {
        // registered_delivery, data_coding
        octets(&mut at, 2)?;
        return Some(at);
    }
    // protocol_id, priority_flag, schedule_delivery_time, validity_period,
    // registered_delivery, replace_if_present_flag, data_coding, sm_default_msg_id, sm_length
    octets(&mut at, 2)?;
    cstr(&mut at)?;
    cstr(&mut at)?;
    octets(&mut at, 4)?;
    let sm_len = *body.get(at)? as usize;
    octets(&mut at, 1)?;
    octets(&mut at, sm_len)?;
    Some(at)
}

impl Encoder<&Command> for PduCodec {
    type Error = FrameError;

    fn encode(&mut self, cmd: &Command, dst: &mut BytesMut) -> Result<(), FrameError> {
        encode_into(cmd, dst);
        Ok(())
    }
}

/// Appends the wire form of `cmd` to `dst`.
pub fn encode_into(cmd: &Command, dst: &mut BytesMut) {
    let mut codec = rusmpp::tokio_codec::CommandCodec::new();
    // rusmpp's encoder only fails on I/O, which a BytesMut cannot produce.
    if let Err(err) = codec.encode(cmd, dst) {
        tracing::error!(%err, "rusmpp failed to encode into memory");
    }
}

/// The wire form of `cmd`.
pub fn encode(cmd: &Command) -> BytesMut {
    let mut dst = BytesMut::new();
    encode_into(cmd, &mut dst);
    dst
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusmpp::Pdu;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn frames(bytes: &[u8]) -> Vec<Result<String, String>> {
        let mut codec = PduCodec::new(1024);
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(Frame::Command(c))) => {
                    out.push(Ok(format!("{:?} seq={}", c.id(), c.sequence_number())))
                }
                Ok(Some(Frame::Invalid(i))) => out.push(Err(format!(
                    "invalid id={:#x} seq={}",
                    i.command_id, i.sequence_number
                ))),
                Ok(None) => break,
                Err(e) => {
                    out.push(Err(e.to_string()));
                    break;
                }
            }
        }
        out
    }

    #[test]
    fn stream_stays_in_sync_after_a_bad_body() {
        let enquire = hex("00000010 00000015 00000000 00000007");
        // A submit_sm whose body is one stray octet: invalid, but the length is honest.
        let bad = hex("00000011 00000004 00000000 00000008 ff");
        let unknown = hex("00000010 000000ee 00000000 00000009");
        let mut stream = enquire.clone();
        stream.extend_from_slice(&bad);
        stream.extend_from_slice(&unknown);
        stream.extend_from_slice(&enquire);
        let got = frames(&stream);
        assert_eq!(got[0], Ok("EnquireLink seq=7".into()));
        assert_eq!(got[1], Err("invalid id=0x4 seq=8".into()));
        // rusmpp keeps unknown command ids as `Other`; the session answers them with a nack.
        assert_eq!(got[2], Ok("Other(238) seq=9".into()));
        assert_eq!(got[3], Ok("EnquireLink seq=7".into()));
        assert_eq!(got.len(), 4);
    }

    #[test]
    fn absurd_lengths_are_fatal() {
        let got = frames(&hex("00000004 00000015 00000000 00000001"));
        assert_eq!(
            got,
            [Err("invalid command_length 4 (allowed 16..=1024)".into())]
        );
        let got = frames(&hex("7fffffff 00000015 00000000 00000001"));
        assert_eq!(got.len(), 1);
        assert!(got[0].as_ref().is_err());
    }

    #[test]
    fn partial_frames_wait_for_more() {
        let enquire = hex("00000010 00000015 00000000 00000007");
        let mut codec = PduCodec::default();
        let mut buf = BytesMut::new();
        for (i, b) in enquire.iter().enumerate() {
            buf.put_u8(*b);
            let got = codec.decode(&mut buf).unwrap();
            assert_eq!(got.is_some(), i == enquire.len() - 1);
        }
    }

    #[test]
    fn round_trip_through_rusmpp() {
        let cmd = Command::new(CommandStatus::EsmeRok, 42, Pdu::EnquireLinkResp);
        let bytes = encode(&cmd);
        assert_eq!(decode_pdu(&bytes), Frame::Command(Box::new(cmd)));
    }

    /// A receipt deliver_sm whose receipted_message_id TLV has no NUL terminator, as some SMSCs
    /// send it; strict decoding rejects it, the repair keeps the receipt.
    #[test]
    fn receipt_with_unterminated_receipted_message_id_is_repaired() {
        let text = b"id:12345 sub:001 dlvr:001 submit date:2401011200 done date:2401011201 stat:DELIVRD err:000 text:hi";
        let mut body = Vec::new();
        body.extend_from_slice(b"\0"); // service_type
        body.extend_from_slice(&[1, 1]);
        body.extend_from_slice(b"4917000000\0");
        body.extend_from_slice(&[0, 0]);
        body.extend_from_slice(b"OUTPOST\0");
        body.push(0x04); // esm_class: SMSC delivery receipt
        body.extend_from_slice(&[0, 0]); // protocol_id, priority
        body.extend_from_slice(b"\0\0"); // schedule, validity
        body.extend_from_slice(&[0, 0, 0, 0]); // registered_delivery, replace, data_coding, default_msg_id
        body.push(text.len() as u8);
        body.extend_from_slice(text);
        // receipted_message_id "12345" without NUL, then message_state = 2 (DELIVERED)
        body.extend_from_slice(&hex("001e 0005"));
        body.extend_from_slice(b"12345");
        body.extend_from_slice(&hex("0427 0001 02"));
        let mut pdu = Vec::new();
        pdu.extend_from_slice(&((HEADER_LEN + body.len()) as u32).to_be_bytes());
        pdu.extend_from_slice(&hex("00000005 00000000 0000002a"));
        pdu.extend_from_slice(&body);

        let Frame::Command(cmd) = decode_pdu(&pdu) else {
            panic!("receipt was not repaired")
        };
        let Some(Pdu::DeliverSm(d)) = cmd.pdu() else {
            panic!("not a deliver_sm")
        };
        let tags: Vec<_> = d.tlvs().iter().map(|t| t.tag()).collect();
        assert_eq!(
            tags,
            [
                rusmpp::tlvs::TlvTag::ReceiptedMessageId,
                rusmpp::tlvs::TlvTag::MessageState
            ]
        );
        assert_eq!(d.short_message().as_ref(), text);
    }
}
