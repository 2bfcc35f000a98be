//! UCS-2 user data as UTF-16 big-endian (TS 23.038 6.2.3), with surrogate pairs: an emoji is
//! two code units, counts two and is never split across parts (the planner sees to that).
//!
//! Decoding is lenient where the air interface is: a lone surrogate or a dangling odd octet
//! becomes U+FFFD, so a message from a broken sender is still shown.

use core::char::DecodeUtf16;
use core::iter::Map;
use core::slice::ChunksExact;

use crate::error::EncodeError;

/// UTF-16 code units `text` takes (a character outside the BMP takes two).
pub fn units(text: &str) -> usize {
    text.chars().map(char::len_utf16).sum()
}

/// Writes `text` as UTF-16 big-endian into `out`; returns the octets written.
pub fn encode(text: &str, out: &mut [u8]) -> Result<usize, EncodeError> {
    let needed = units(text) * 2;
    let available = out.len();
    let dst = out
        .get_mut(..needed)
        .ok_or(EncodeError::BufferTooSmall { needed, available })?;
    for (unit, pair) in text.encode_utf16().zip(dst.chunks_exact_mut(2)) {
        pair.copy_from_slice(&unit.to_be_bytes());
    }
    Ok(needed)
}

fn unit(pair: &[u8]) -> u16 {
    match *pair {
        [hi, lo] => u16::from_be_bytes([hi, lo]),
        _ => 0xFFFD,
    }
}

type Units<'a> = Map<ChunksExact<'a, u8>, fn(&[u8]) -> u16>;

/// The characters of UTF-16 big-endian octets; see [`decode`].
#[derive(Clone, Debug)]
pub struct Chars<'a> {
    inner: DecodeUtf16<Units<'a>>,
    odd: bool,
}

/// Decodes UTF-16 big-endian octets. Lone surrogates and a trailing odd octet yield U+FFFD.
pub fn decode(bytes: &[u8]) -> Chars<'_> {
    let units: Units<'_> = bytes.chunks_exact(2).map(unit as fn(&[u8]) -> u16);
    Chars {
        inner: char::decode_utf16(units),
        odd: bytes.len() % 2 == 1,
    }
}

impl Iterator for Chars<'_> {
    type Item = char;

    fn next(&mut self) -> Option<char> {
        match self.inner.next() {
            Some(r) => Some(r.unwrap_or(char::REPLACEMENT_CHARACTER)),
            None if self.odd => {
                self.odd = false;
                Some(char::REPLACEMENT_CHARACTER)
            }
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    #[test]
    fn emoji_is_a_surrogate_pair() {
        let mut out = [0u8; 16];
        assert_eq!(units("a😀"), 3);
        let n = encode("a😀", &mut out).unwrap();
        assert_eq!(&out[..n], &[0x00, 0x61, 0xD8, 0x3D, 0xDE, 0x00]);
        assert_eq!(decode(&out[..n]).collect::<String>(), "a😀");
    }

    #[test]
    fn lenient_decoding() {
        assert_eq!(decode(&[0xD8, 0x3D]).collect::<String>(), "\u{FFFD}");
        assert_eq!(decode(&[0x00, 0x41, 0x42]).collect::<String>(), "A\u{FFFD}");
        assert_eq!(decode(&[]).count(), 0);
    }

    #[test]
    fn small_buffer() {
        let mut out = [0u8; 3];
        assert_eq!(
            encode("ab", &mut out),
            Err(EncodeError::BufferTooSmall {
                needed: 4,
                available: 3
            })
        );
    }
}
