//! The frame layer: `COBS(header ‖ body ‖ CRC-32C) ‖ 0x00` on the wire, and a streaming decoder
//! that turns arbitrary byte chunks back into CRC-checked frames.
//!
//! Invariant kept here: no byte sequence can panic the decoder or make it hold more than
//! [`MAX_WIRE_LEN`] bytes; after any noise it resynchronises on the next `0x00` delimiter
//! (`docs/link-protocol.md` §2).

use core::fmt;

use crc::{CRC_32_ISCSI, Crc};
use serde::{Deserialize, Serialize};

/// Length of the fixed frame header: kind, flags, seq (u16 LE), ack (u16 LE).
pub const HEADER_LEN: usize = 6;
/// Length of the CRC trailer (CRC-32C, little-endian).
pub const CRC_LEN: usize = 4;
/// Largest body (postcard-encoded message) a frame may carry.
///
/// The largest message is an inbound SMS: an SCA of up to 12 octets plus a TPDU of up to 164
/// octets (3GPP TS 23.040 §9.2.2), carried in a 180-octet [`crate::msg::Pdu`], plus a few bytes of
/// tag, slot and index; 246 leaves room and makes a whole decoded frame 256 bytes.
pub const MAX_BODY_LEN: usize = 246;
/// Largest decoded frame: header, body and CRC.
pub const MAX_FRAME_LEN: usize = HEADER_LEN + MAX_BODY_LEN + CRC_LEN;
/// Largest COBS-encoded frame, without the `0x00` delimiter.
pub const MAX_ENCODED_LEN: usize = cobs::max_encoding_length(MAX_FRAME_LEN);
/// Largest number of bytes one frame occupies on the wire, delimiter included; the size of the
/// buffer [`encode`] needs.
pub const MAX_WIRE_LEN: usize = MAX_ENCODED_LEN + 1;

/// CRC-32C (Castagnoli, reflected, init and xorout `0xFFFF_FFFF`; "CRC-32/ISCSI" in the CRC
/// catalogue). Chosen over CRC-32/ISO-HDLC for its larger Hamming distance at these frame lengths
/// (HD 6 up to 5243 bits), and over CRC-16 because a noisy line carries many corrupted frames
/// and a 1-in-65536 false accept would eventually deliver a corrupted message.
pub const CRC: Crc<u32> = Crc::<u32>::new(&CRC_32_ISCSI);

/// What a frame is for (header byte 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    /// Handshake, asking for an answer (body: [`Hello`]).
    Hello = 0x01,
    /// Handshake answer (body: [`Hello`]).
    HelloAck = 0x02,
    /// An application message with a sequence number (body: postcard message).
    Data = 0x03,
    /// A standalone acknowledgement (empty body).
    Ack = 0x04,
}

impl Kind {
    /// The kind for a header byte, or `None` for an unknown one.
    pub const fn from_u8(b: u8) -> Option<Self> {
        match b {
            0x01 => Some(Self::Hello),
            0x02 => Some(Self::HelloAck),
            0x03 => Some(Self::Data),
            0x04 => Some(Self::Ack),
            _ => None,
        }
    }
}

/// Header flag (byte 1): the receiver is missing frame `ack` (it saw a corrupted or
/// out-of-order frame); the sender should go back and resend from `ack` now.
pub const FLAG_NAK: u8 = 0x01;
/// Header flag (byte 1): please answer with an acknowledgement (keepalive probe).
pub const FLAG_PING: u8 = 0x02;

/// The fixed six-byte header that starts every decoded frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// What the frame is for.
    pub kind: Kind,
    /// [`FLAG_NAK`], [`FLAG_PING`]; unknown bits are ignored by receivers.
    pub flags: u8,
    /// Sequence number of a [`Kind::Data`] frame; 0 otherwise.
    pub seq: u16,
    /// Cumulative acknowledgement: the next sequence number the sender expects to receive.
    /// Meaningful in `Data` and `Ack` frames; 0 in handshakes.
    pub ack: u16,
}

impl Header {
    /// A header with no flags and zero sequence numbers.
    pub const fn new(kind: Kind) -> Self {
        Self {
            kind,
            flags: 0,
            seq: 0,
            ack: 0,
        }
    }

    fn to_bytes(self) -> [u8; HEADER_LEN] {
        let [s0, s1] = self.seq.to_le_bytes();
        let [a0, a1] = self.ack.to_le_bytes();
        [self.kind as u8, self.flags, s0, s1, a0, a1]
    }

    fn from_bytes(b: [u8; HEADER_LEN]) -> Result<Self, FrameError> {
        let [k, flags, s0, s1, a0, a1] = b;
        Ok(Self {
            kind: Kind::from_u8(k).ok_or(FrameError::UnknownKind(k))?,
            flags,
            seq: u16::from_le_bytes([s0, s1]),
            ack: u16::from_le_bytes([a0, a1]),
        })
    }
}

/// The body of `Hello` and `HelloAck` frames. Its first two fields are frozen for every protocol
/// version so that any two versions can tell each other apart (`docs/link-protocol.md` §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Hello {
    /// Protocol major version of the sender.
    pub major: u8,
    /// Protocol minor version of the sender.
    pub minor: u8,
    /// The sender's boot id: a new value every time its session starts from scratch.
    pub boot_id: u32,
    /// The boot id the sender currently knows for the receiver, if any.
    pub peer_boot_id: Option<u32>,
    /// How many unacknowledged data frames the sender accepts in flight towards it.
    pub window: u8,
}

/// Why a frame could not be encoded or decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameError {
    /// The CRC-32C trailer does not match the header and body.
    Crc,
    /// The bytes between two delimiters are not valid COBS.
    Cobs,
    /// More than [`MAX_ENCODED_LEN`] bytes arrived without a delimiter (or a body to encode is
    /// larger than [`MAX_BODY_LEN`]).
    Oversize,
    /// The decoded frame is shorter than a header and a CRC.
    Short,
    /// The header names a frame kind this version does not know.
    UnknownKind(u8),
    /// The body is not a valid postcard encoding of the expected type.
    Body,
    /// The output buffer given to [`encode`] is too small (use [`MAX_WIRE_LEN`]).
    BufferTooSmall,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Crc => f.write_str("frame CRC mismatch"),
            Self::Cobs => f.write_str("invalid COBS encoding"),
            Self::Oversize => f.write_str("frame larger than the maximum frame size"),
            Self::Short => f.write_str("frame shorter than header and CRC"),
            Self::UnknownKind(k) => write!(f, "unknown frame kind 0x{k:02x}"),
            Self::Body => f.write_str("frame body does not decode"),
            Self::BufferTooSmall => f.write_str("output buffer too small for the frame"),
        }
    }
}

impl core::error::Error for FrameError {}

/// Encodes a frame with a raw (already postcard-encoded) body into `out`: COBS-encoded header,
/// body and CRC, then the `0x00` delimiter. Returns the number of bytes written.
///
/// # Errors
/// [`FrameError::Oversize`] if `body` is longer than [`MAX_BODY_LEN`];
/// [`FrameError::BufferTooSmall`] if `out` cannot hold the result ([`MAX_WIRE_LEN`] always can).
pub fn encode(header: &Header, body: &[u8], out: &mut [u8]) -> Result<usize, FrameError> {
    if body.len() > MAX_BODY_LEN {
        return Err(FrameError::Oversize);
    }
    let mut plain = [0u8; MAX_FRAME_LEN];
    let body_end = HEADER_LEN + body.len();
    let total = body_end + CRC_LEN;
    // In bounds: `total <= MAX_FRAME_LEN` because of the length check above.
    plain[..HEADER_LEN].copy_from_slice(&header.to_bytes());
    plain[HEADER_LEN..body_end].copy_from_slice(body);
    let crc = CRC.checksum(&plain[..body_end]);
    plain[body_end..total].copy_from_slice(&crc.to_le_bytes());
    let n = cobs::try_encode(&plain[..total], out).map_err(|_| FrameError::BufferTooSmall)?;
    *out.get_mut(n).ok_or(FrameError::BufferTooSmall)? = 0;
    Ok(n + 1)
}

/// Serialises `msg` with postcard and encodes it as a frame body into `out`; see [`encode`].
///
/// # Errors
/// As [`encode`], and [`FrameError::Oversize`] if the message does not fit [`MAX_BODY_LEN`].
pub fn encode_message<T: Serialize>(
    header: &Header,
    msg: &T,
    out: &mut [u8],
) -> Result<usize, FrameError> {
    let mut body = [0u8; MAX_BODY_LEN];
    let used = postcard::to_slice(msg, &mut body).map_err(|_| FrameError::Oversize)?;
    encode(header, used, out)
}

/// A complete, CRC-checked frame borrowed from the decoder's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawFrame<'a> {
    /// The parsed header.
    pub header: Header,
    /// The body bytes (postcard), between header and CRC.
    pub body: &'a [u8],
}

impl<'a> RawFrame<'a> {
    /// Decodes the body as a `T` with postcard. Trailing bytes after a complete `T` are ignored,
    /// which is what lets a newer minor version append fields to a message
    /// (`docs/link-protocol.md` §6).
    ///
    /// # Errors
    /// [`FrameError::Body`] if the body is not a valid encoding of a `T`.
    pub fn decode_body<T: Deserialize<'a>>(&self) -> Result<T, FrameError> {
        postcard::from_bytes(self.body).map_err(|_| FrameError::Body)
    }
}

/// Streaming frame decoder: feed it any chunks of received bytes, get frames out.
///
/// It buffers at most one encoded frame ([`MAX_ENCODED_LEN`] bytes). Every run of bytes ended by
/// a `0x00` yields exactly one result (a frame or an error), except empty runs (two delimiters in
/// a row), which senders use to flush noise and are skipped silently.
#[derive(Clone)]
pub struct FrameDecoder {
    buf: [u8; MAX_ENCODED_LEN],
    len: usize,
    /// Set when the current run overflowed the buffer; the rest of it is dropped.
    overflowed: bool,
}

impl fmt::Debug for FrameDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameDecoder")
            .field("buffered", &self.len)
            .field("overflowed", &self.overflowed)
            .finish()
    }
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    /// An empty decoder.
    pub const fn new() -> Self {
        Self {
            buf: [0; MAX_ENCODED_LEN],
            len: 0,
            overflowed: false,
        }
    }

    /// Drops any partly received frame.
    pub fn reset(&mut self) {
        self.len = 0;
        self.overflowed = false;
    }

    /// Number of bytes of an unfinished frame currently buffered.
    pub fn buffered(&self) -> usize {
        self.len
    }

    /// Consumes bytes from the front of `input` up to and including the next delimiter and
    /// returns that frame's result; returns `None` once `input` is used up without completing a
    /// frame (the partial frame stays buffered for the next call).
    ///
    /// ```
    /// # use link::frame::{FrameDecoder, Header, Kind, encode, MAX_WIRE_LEN};
    /// let mut wire = [0u8; MAX_WIRE_LEN];
    /// let n = encode(&Header::new(Kind::Ack), &[], &mut wire).unwrap();
    /// let mut dec = FrameDecoder::new();
    /// let mut input = &wire[..n];
    /// while let Some(result) = dec.feed(&mut input) {
    ///     assert_eq!(result.unwrap().header.kind, Kind::Ack);
    /// }
    /// ```
    pub fn feed<'d>(&'d mut self, input: &mut &[u8]) -> Option<Result<RawFrame<'d>, FrameError>> {
        while let Some((&b, rest)) = input.split_first() {
            *input = rest;
            if b == 0 {
                let len = core::mem::replace(&mut self.len, 0);
                if core::mem::replace(&mut self.overflowed, false) {
                    return Some(Err(FrameError::Oversize));
                }
                if len == 0 {
                    continue;
                }
                return Some(self.finish(len));
            }
            if self.overflowed {
                continue;
            }
            match self.buf.get_mut(self.len) {
                Some(slot) => {
                    *slot = b;
                    self.len += 1;
                }
                None => {
                    self.overflowed = true;
                    self.len = 0;
                }
            }
        }
        None
    }

    fn finish(&mut self, len: usize) -> Result<RawFrame<'_>, FrameError> {
        let encoded = self.buf.get_mut(..len).ok_or(FrameError::Oversize)?;
        let n = cobs::decode_in_place(encoded).map_err(|_| FrameError::Cobs)?;
        let frame = encoded.get(..n).ok_or(FrameError::Cobs)?;
        if n < HEADER_LEN + CRC_LEN {
            return Err(FrameError::Short);
        }
        let (covered, crc) = frame.split_at(n - CRC_LEN);
        let crc: [u8; CRC_LEN] = crc.try_into().map_err(|_| FrameError::Short)?;
        if CRC.checksum(covered) != u32::from_le_bytes(crc) {
            return Err(FrameError::Crc);
        }
        let (head, body) = covered.split_at(HEADER_LEN);
        let head: [u8; HEADER_LEN] = head.try_into().map_err(|_| FrameError::Short)?;
        Ok(RawFrame {
            header: Header::from_bytes(head)?,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(header: Header, body: &[u8]) -> Vec<u8> {
        let mut out = [0u8; MAX_WIRE_LEN];
        let n = encode(&header, body, &mut out).unwrap();
        out[..n].to_vec()
    }

    /// Feeds `input` in chunks of `chunk` bytes; renders every result as a line.
    fn decode_all(input: &[u8], chunk: usize) -> Vec<String> {
        let mut dec = FrameDecoder::new();
        let mut out = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            let mut piece = piece;
            while let Some(r) = dec.feed(&mut piece) {
                out.push(match r {
                    Ok(f) => format!(
                        "{:?} flags={} seq={} ack={} body={:02x?}",
                        f.header.kind, f.header.flags, f.header.seq, f.header.ack, f.body
                    ),
                    Err(e) => format!("error: {e:?}"),
                });
            }
        }
        out
    }

    fn data(seq: u16, ack: u16) -> Header {
        Header {
            kind: Kind::Data,
            flags: 0,
            seq,
            ack,
        }
    }

    #[test]
    fn crc_is_crc32c() {
        // The catalogue check value of CRC-32/ISCSI.
        assert_eq!(CRC.checksum(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn sizes() {
        assert_eq!(MAX_FRAME_LEN, 256);
        assert_eq!(MAX_ENCODED_LEN, 258);
        assert_eq!(MAX_WIRE_LEN, 259);
    }

    #[test]
    fn round_trip_every_chunking() {
        let mut input = wire(data(7, 3), b"hello");
        input.extend(wire(Header::new(Kind::Ack), &[]));
        input.extend(wire(data(0xffff, 0x1234), &[0, 0, 0]));
        let expect = [
            "Data flags=0 seq=7 ack=3 body=[68, 65, 6c, 6c, 6f]",
            "Ack flags=0 seq=0 ack=0 body=[]",
            "Data flags=0 seq=65535 ack=4660 body=[00, 00, 00]",
        ];
        for chunk in 1..=input.len() {
            assert_eq!(decode_all(&input, chunk), expect, "chunk {chunk}");
        }
    }

    #[test]
    fn largest_body_round_trips_and_larger_is_refused() {
        let body = [0xAB; MAX_BODY_LEN];
        let w = wire(data(1, 2), &body);
        assert!(w.len() <= MAX_WIRE_LEN);
        let got = decode_all(&w, 64);
        assert_eq!(got.len(), 1);
        assert!(got[0].starts_with("Data flags=0 seq=1 ack=2"), "{got:?}");
        let mut out = [0u8; MAX_WIRE_LEN];
        assert_eq!(
            encode(&data(1, 2), &[0; MAX_BODY_LEN + 1], &mut out),
            Err(FrameError::Oversize)
        );
        assert_eq!(
            encode(&data(1, 2), &body, &mut out[..100]),
            Err(FrameError::BufferTooSmall)
        );
        // The worst case has no zero byte at all: find a header whose CRC has none.
        let worst = (0x0101..=0xFFFFu16)
            .map(|seq| Header {
                kind: Kind::Data,
                flags: 0x80,
                seq: seq | 0x0101,
                ack: 0x0101,
            })
            .find(|h| encode(h, &body, &mut out) == Ok(MAX_WIRE_LEN))
            .unwrap();
        assert_eq!(
            encode(&worst, &body, &mut out[..MAX_WIRE_LEN - 1]),
            Err(FrameError::BufferTooSmall)
        );
    }

    #[test]
    fn noise_between_frames_costs_only_the_noise() {
        let mut input = vec![0x55, 0x13, 0x37];
        input.extend(wire(data(1, 0), b"a"));
        input.extend([0, 0, 0]);
        input.extend([0x42, 0x42, 0]);
        input.extend(wire(data(2, 0), b"b"));
        assert_eq!(
            decode_all(&input, 3),
            [
                // The noise before the first frame glues onto it: the sender's leading 0x00
                // (sent before every handshake) exists to avoid exactly this.
                "error: Cobs",
                "error: Cobs",
                "Data flags=0 seq=2 ack=0 body=[62]",
            ]
        );
        let mut input = vec![0x55, 0x13, 0x37, 0];
        input.extend(wire(data(1, 0), b"a"));
        assert_eq!(
            decode_all(&input, 1),
            ["error: Cobs", "Data flags=0 seq=1 ack=0 body=[61]"]
        );
    }

    #[test]
    fn every_single_byte_corruption_is_detected() {
        let good = wire(data(300, 5), b"some body bytes");
        for i in 0..good.len() - 1 {
            for flip in [0x01u8, 0x80, 0xFF] {
                let mut bad = good.clone();
                bad[i] ^= flip;
                for line in decode_all(&bad, 7) {
                    assert!(line.starts_with("error"), "byte {i} ^ {flip:#x}: {line}");
                }
            }
        }
    }

    #[test]
    fn typed_errors() {
        let check = |input: &[u8], expect: &[&str]| assert_eq!(decode_all(input, 5), expect);
        // Valid COBS, too short for header and CRC.
        check(&[0x03, 1, 2, 0], &["error: Short"]);
        // COBS code pointing past the end of the run.
        check(&[0x09, 1, 2, 0], &["error: Cobs"]);
        // Unknown kind with a correct CRC.
        let mut plain = vec![0x7F, 0, 0, 0, 0, 0];
        plain.extend(CRC.checksum(&plain).to_le_bytes());
        let mut enc = vec![0u8; 32];
        let n = cobs::encode(&plain, &mut enc);
        enc.truncate(n);
        enc.push(0);
        check(&enc, &["error: UnknownKind(127)"]);
        // A run longer than any frame: one Oversize, then the decoder is back in sync.
        let mut long = vec![0x01; MAX_ENCODED_LEN + 10];
        long.push(0);
        long.extend(wire(Header::new(Kind::Ack), &[]));
        check(
            &long,
            &["error: Oversize", "Ack flags=0 seq=0 ack=0 body=[]"],
        );
        // Exactly the maximum encoded length is not oversize.
        let mut max = vec![0x01; MAX_ENCODED_LEN];
        max.push(0);
        assert_ne!(decode_all(&max, 9), ["error: Oversize"]);
    }

    #[test]
    fn body_decoding() {
        let hello = Hello {
            major: 1,
            minor: 0,
            boot_id: 0xDEAD_BEEF,
            peer_boot_id: None,
            window: 8,
        };
        let mut out = [0u8; MAX_WIRE_LEN];
        let n = encode_message(&Header::new(Kind::Hello), &hello, &mut out).unwrap();
        let mut dec = FrameDecoder::new();
        let mut input = &out[..n];
        let f = dec.feed(&mut input).unwrap().unwrap();
        assert_eq!(f.decode_body::<Hello>(), Ok(hello));
        assert_eq!(f.decode_body::<(Hello, u8)>(), Err(FrameError::Body));
        assert!(input.is_empty());
    }
}
