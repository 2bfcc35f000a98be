//! Hex text ↔ bytes for PDUs: the modem speaks PDUs as hex digits (TS 27.005 3.1, `<pdu>`).

/// Why a hex string could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HexError {
    /// An odd number of digits.
    OddLength,
    /// A character that is not a hex digit.
    NotHex,
    /// More bytes than the destination holds.
    TooLong,
}

impl core::fmt::Display for HexError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::OddLength => "odd number of hex digits",
            Self::NotHex => "not a hex digit",
            Self::TooLong => "PDU too long",
        })
    }
}

impl core::error::Error for HexError {}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes hex digits into `out`, replacing its contents.
pub fn decode<const N: usize>(hex: &[u8], out: &mut heapless::Vec<u8, N>) -> Result<(), HexError> {
    out.clear();
    if !hex.len().is_multiple_of(2) {
        return Err(HexError::OddLength);
    }
    for pair in hex.chunks_exact(2) {
        let (Some(hi), Some(lo)) = (
            pair.first().and_then(|c| nibble(*c)),
            pair.get(1).and_then(|c| nibble(*c)),
        ) else {
            return Err(HexError::NotHex);
        };
        out.push((hi << 4) | lo).map_err(|_| HexError::TooLong)?;
    }
    Ok(())
}

const DIGITS: &[u8; 16] = b"0123456789ABCDEF";

/// The two upper-case hex digits of `b`.
pub fn encode_byte(b: u8) -> [u8; 2] {
    [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 0x0f)]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut v: heapless::Vec<u8, 4> = heapless::Vec::new();
        assert_eq!(decode(b"00aFff", &mut v), Ok(()));
        assert_eq!(v.as_slice(), &[0x00, 0xaf, 0xff]);
        assert_eq!(decode(b"0", &mut v), Err(HexError::OddLength));
        assert_eq!(decode(b"0g", &mut v), Err(HexError::NotHex));
        assert_eq!(decode(b"0000000000", &mut v), Err(HexError::TooLong));
        assert_eq!(encode_byte(0xaf), *b"AF");
        assert_eq!(encode_byte(0x07), *b"07");
    }
}
