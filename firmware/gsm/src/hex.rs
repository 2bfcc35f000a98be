//! Hex helpers for PDU strings as `AT+CMGS`, `+CMGR` and `+CMT` carry them (TS 27.005 3.1:
//! "hexadecimal format ... two IRA characters per octet").
//!
//! Output is upper case, as modems print it; input is case-insensitive. Odd lengths and
//! non-hex characters are errors carrying the position, never skipped.

use core::fmt;

/// A hex string that could not be decoded, or an output buffer that is too small.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HexError {
    /// An odd number of hex digits.
    OddLength {
        /// The number of digits.
        len: usize,
    },
    /// A character that is not a hex digit.
    BadDigit {
        /// Its byte position in the input.
        position: usize,
        /// The byte found.
        byte: u8,
    },
    /// The output buffer is too small.
    BufferTooSmall {
        /// Octets needed.
        needed: usize,
        /// Octets available.
        available: usize,
    },
}

impl fmt::Display for HexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            HexError::OddLength { len } => {
                write!(f, "bad hex: odd number of digits ({len})")
            }
            HexError::BadDigit { position, byte } => {
                if byte.is_ascii_graphic() {
                    write!(
                        f,
                        "bad hex: {:?} at position {position} is not a hex digit",
                        byte as char
                    )
                } else {
                    write!(
                        f,
                        "bad hex: byte 0x{byte:02X} at position {position} is not a hex digit"
                    )
                }
            }
            HexError::BufferTooSmall { needed, available } => write!(
                f,
                "output buffer too small: {needed} octets needed, {available} available"
            ),
        }
    }
}

impl core::error::Error for HexError {}

const DIGITS: &[u8; 16] = b"0123456789ABCDEF";

fn nibble(byte: u8, position: usize) -> Result<u8, HexError> {
    match byte {
        b'0'..=b'9' => Ok(byte - b'0'),
        b'a'..=b'f' => Ok(byte - b'a' + 10),
        b'A'..=b'F' => Ok(byte - b'A' + 10),
        _ => Err(HexError::BadDigit { position, byte }),
    }
}

/// The number of octets `hex` decodes to, after checking every digit.
pub fn decoded_len(hex: impl AsRef<[u8]>) -> Result<usize, HexError> {
    let hex = hex.as_ref();
    for (position, &byte) in hex.iter().enumerate() {
        nibble(byte, position)?;
    }
    if hex.len() % 2 != 0 {
        return Err(HexError::OddLength { len: hex.len() });
    }
    Ok(hex.len() / 2)
}

/// Decodes `hex` (either case) into `out` and returns the number of octets written.
///
/// A bad digit is reported before an odd length, so the position points at the culprit.
pub fn decode(hex: impl AsRef<[u8]>, out: &mut [u8]) -> Result<usize, HexError> {
    let hex = hex.as_ref();
    let len = decoded_len(hex)?;
    if out.len() < len {
        return Err(HexError::BufferTooSmall {
            needed: len,
            available: out.len(),
        });
    }
    for (i, (pair, slot)) in hex.chunks_exact(2).zip(out.iter_mut()).enumerate() {
        if let [hi, lo] = *pair {
            *slot = (nibble(hi, 2 * i)? << 4) | nibble(lo, 2 * i + 1)?;
        }
    }
    Ok(len)
}

/// Writes `bytes` as upper-case hex into `out` and returns the written part as a `&str`.
pub fn encode<'o>(bytes: &[u8], out: &'o mut [u8]) -> Result<&'o str, HexError> {
    let needed = bytes.len() * 2;
    let available = out.len();
    let Some(dst) = out.get_mut(..needed) else {
        return Err(HexError::BufferTooSmall { needed, available });
    };
    for (byte, pair) in bytes.iter().zip(dst.chunks_exact_mut(2)) {
        if let [hi, lo] = pair {
            *hi = DIGITS[usize::from(byte >> 4)];
            *lo = DIGITS[usize::from(byte & 0x0F)];
        }
    }
    // Only ASCII hex digits were written.
    core::str::from_utf8(dst).map_err(|_| HexError::BufferTooSmall { needed, available })
}

/// Writes `bytes` as upper-case hex into any `fmt::Write` sink (a `String`, a
/// `heapless::String`, a formatter).
pub fn write<W: fmt::Write + ?Sized>(bytes: &[u8], w: &mut W) -> fmt::Result {
    for &byte in bytes {
        w.write_char(char::from(DIGITS[usize::from(byte >> 4)]))?;
        w.write_char(char::from(DIGITS[usize::from(byte & 0x0F)]))?;
    }
    Ok(())
}

/// Displays a byte slice as upper-case hex: `format!("{}", Hex(&pdu))`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hex<'a>(pub &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write(self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expect: Result<&[u8], HexError>) {
        let mut buf = [0u8; 16];
        let got = decode(input, &mut buf).map(|n| &buf[..n]);
        assert_eq!(got, expect, "decoding {input:?}");
    }

    #[test]
    fn decodes_and_rejects() {
        check("", Ok(&[]));
        check("00", Ok(&[0]));
        check("0aFf", Ok(&[0x0A, 0xFF]));
        check("07911326", Ok(&[0x07, 0x91, 0x13, 0x26]));
        check("0", Err(HexError::OddLength { len: 1 }));
        check("abc", Err(HexError::OddLength { len: 3 }));
        check(
            "0g",
            Err(HexError::BadDigit {
                position: 1,
                byte: b'g',
            }),
        );
        check(
            "00 1",
            Err(HexError::BadDigit {
                position: 2,
                byte: b' ',
            }),
        );
        check(
            "x",
            Err(HexError::BadDigit {
                position: 0,
                byte: b'x',
            }),
        );
    }

    #[test]
    fn decode_reports_small_buffer() {
        let mut buf = [0u8; 1];
        assert_eq!(
            decode("0011", &mut buf),
            Err(HexError::BufferTooSmall {
                needed: 2,
                available: 1
            })
        );
    }

    #[test]
    fn encodes_upper_case() {
        let mut buf = [0u8; 8];
        assert_eq!(encode(&[0x00, 0xAB, 0x1f], &mut buf), Ok("00AB1F"));
        assert_eq!(
            encode(&[0; 5], &mut buf),
            Err(HexError::BufferTooSmall {
                needed: 10,
                available: 8
            })
        );
        assert_eq!(std::format!("{}", Hex(&[0xDE, 0xAD])), "DEAD");
        assert_eq!(
            HexError::BadDigit {
                position: 3,
                byte: b'z'
            }
            .to_string(),
            "bad hex: 'z' at position 3 is not a hex digit"
        );
    }
}
