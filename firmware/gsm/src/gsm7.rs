//! The GSM 7-bit default alphabet and its extension table (TS 23.038 6.2.1 / 6.2.1.1), and the
//! packing of septets into octets with the fill bits that follow a user-data header
//! (TS 23.038 6.1.2.1, TS 23.040 9.2.3.24).
//!
//! Encoding never substitutes: a character outside both tables is reported to the caller.
//! Decoding follows the spec's fallbacks for undefined escapes, so any septet string decodes.
//!
//! # Counting rule (what the web page's live counter reimplements)
//! A character of the default table counts 1 septet, a character of the extension table
//! (`^ { } \ [ ~ ] | €` and form feed) counts 2 (escape + code); see [`char_septets`].

use crate::error::EncodeError;

/// The escape septet that selects the extension table for the next septet.
pub const ESCAPE: u8 = 0x1B;

/// The default alphabet, indexed by septet (TS 23.038 6.2.1). Position 0x1B is the escape to
/// the extension table; a space stands there because TS 23.038 6.2.1.1 has a lone or doubled
/// escape displayed as a space.
const DEFAULT: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', ' ', 'Æ', 'æ', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', //
];

/// ASCII → default-table septet, 0xFF where the ASCII character is not in the default table.
const ASCII_TO_DEFAULT: [u8; 128] = {
    let mut table = [0xFFu8; 128];
    let mut septet = 0;
    while septet < 128 {
        let c = DEFAULT[septet] as u32;
        if c < 128 && septet != ESCAPE as usize {
            table[c as usize] = septet as u8;
        }
        septet += 1;
    }
    // The 0x1B slot holds a display space; the real space is 0x20.
    table[b' ' as usize] = 0x20;
    table
};

/// How a character is written in GSM 7-bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Gsm7Char {
    /// One septet of the default table.
    Default(u8),
    /// The escape followed by this septet of the extension table.
    Extension(u8),
}

impl Gsm7Char {
    /// Septets the character takes: 1 or 2.
    pub const fn septets(self) -> usize {
        match self {
            Gsm7Char::Default(_) => 1,
            Gsm7Char::Extension(_) => 2,
        }
    }
}

/// Looks `c` up in the default table, then the extension table.
pub const fn encode_char(c: char) -> Option<Gsm7Char> {
    let code = c as u32;
    if code < 128 {
        let septet = ASCII_TO_DEFAULT[code as usize];
        if septet != 0xFF {
            return Some(Gsm7Char::Default(septet));
        }
    }
    if let Some(ext) = extension_code(c) {
        return Some(Gsm7Char::Extension(ext));
    }
    let septet = match c {
        '£' => 0x01,
        '¥' => 0x03,
        'è' => 0x04,
        'é' => 0x05,
        'ù' => 0x06,
        'ì' => 0x07,
        'ò' => 0x08,
        'Ç' => 0x09,
        'Ø' => 0x0B,
        'ø' => 0x0C,
        'Å' => 0x0E,
        'å' => 0x0F,
        'Δ' => 0x10,
        'Φ' => 0x12,
        'Γ' => 0x13,
        'Λ' => 0x14,
        'Ω' => 0x15,
        'Π' => 0x16,
        'Ψ' => 0x17,
        'Σ' => 0x18,
        'Θ' => 0x19,
        'Ξ' => 0x1A,
        'Æ' => 0x1C,
        'æ' => 0x1D,
        'ß' => 0x1E,
        'É' => 0x1F,
        '¤' => 0x24,
        '¡' => 0x40,
        'Ä' => 0x5B,
        'Ö' => 0x5C,
        'Ñ' => 0x5D,
        'Ü' => 0x5E,
        '§' => 0x5F,
        '¿' => 0x60,
        'ä' => 0x7B,
        'ö' => 0x7C,
        'ñ' => 0x7D,
        'ü' => 0x7E,
        'à' => 0x7F,
        _ => return None,
    };
    Some(Gsm7Char::Default(septet))
}

/// The extension-table code of `c` (TS 23.038 6.2.1.1), if it has one.
const fn extension_code(c: char) -> Option<u8> {
    Some(match c {
        '\u{0C}' => 0x0A,
        '^' => 0x14,
        '{' => 0x28,
        '}' => 0x29,
        '\\' => 0x2F,
        '[' => 0x3C,
        '~' => 0x3D,
        ']' => 0x3E,
        '|' => 0x40,
        '€' => 0x65,
        _ => return None,
    })
}

/// Whether `c` is in the default table (counts one septet).
pub const fn is_default(c: char) -> bool {
    matches!(encode_char(c), Some(Gsm7Char::Default(_)))
}

/// Whether `c` is in the extension table (counts two septets).
pub const fn is_extension(c: char) -> bool {
    extension_code(c).is_some()
}

/// Septets `c` takes in GSM 7-bit: 1 (default table), 2 (extension table) or `None`.
pub const fn char_septets(c: char) -> Option<usize> {
    match encode_char(c) {
        Some(g) => Some(g.septets()),
        None => None,
    }
}

/// Septets `text` takes in GSM 7-bit, or the first character that is not encodable.
pub fn count_septets(text: &str) -> Result<usize, EncodeError> {
    let mut n = 0;
    for (position, c) in text.chars().enumerate() {
        n += char_septets(c).ok_or(EncodeError::Unencodable { ch: c, position })?;
    }
    Ok(n)
}

/// The character of default-table septet `septet` (only the low 7 bits are used).
pub const fn decode_default(septet: u8) -> char {
    DEFAULT[(septet & 0x7F) as usize]
}

/// The character of extension-table code `septet`, if the table defines one.
pub const fn decode_extension(septet: u8) -> Option<char> {
    Some(match septet & 0x7F {
        0x0A => '\u{0C}',
        0x14 => '^',
        0x28 => '{',
        0x29 => '}',
        0x2F => '\\',
        0x3C => '[',
        0x3D => '~',
        0x3E => ']',
        0x40 => '|',
        0x65 => '€',
        _ => return None,
    })
}

/// Writes the septets of `text` one per octet (escapes included) into `out`, as SMPP
/// `data_coding` 0 carries them. Returns the number written.
pub fn encode_unpacked(text: &str, out: &mut [u8]) -> Result<usize, EncodeError> {
    let needed = count_septets(text)?;
    let available = out.len();
    let dst = out
        .get_mut(..needed)
        .ok_or(EncodeError::BufferTooSmall { needed, available })?;
    for (slot, septet) in dst.iter_mut().zip(TextSeptets::new(text)) {
        *slot = septet;
    }
    Ok(needed)
}

/// The septets of a text already checked to be GSM 7-bit encodable, escapes included.
///
/// A character that is not encodable yields nothing; callers check with [`count_septets`] first.
#[derive(Clone, Debug)]
pub(crate) struct TextSeptets<'a> {
    chars: core::str::Chars<'a>,
    pending: Option<u8>,
}

impl<'a> TextSeptets<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        TextSeptets {
            chars: text.chars(),
            pending: None,
        }
    }
}

impl Iterator for TextSeptets<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        if let Some(s) = self.pending.take() {
            return Some(s);
        }
        loop {
            match encode_char(self.chars.next()?) {
                Some(Gsm7Char::Default(s)) => return Some(s),
                Some(Gsm7Char::Extension(s)) => {
                    self.pending = Some(s);
                    return Some(ESCAPE);
                }
                None => continue,
            }
        }
    }
}

/// Decodes septets to characters, resolving escapes (TS 23.038 6.2.1.1).
///
/// An escape before a code the extension table does not define yields the default-table
/// character of that code, as the spec requires; a doubled escape (reserved for a further
/// table) and a trailing lone escape yield a space.
#[derive(Clone, Debug)]
pub struct Decoder<I> {
    septets: I,
}

impl<I: Iterator<Item = u8>> Decoder<I> {
    /// Decodes the given septets.
    pub fn new(septets: I) -> Self {
        Decoder { septets }
    }
}

impl<I: Iterator<Item = u8>> Iterator for Decoder<I> {
    type Item = char;

    fn next(&mut self) -> Option<char> {
        let septet = self.septets.next()? & 0x7F;
        if septet != ESCAPE {
            return Some(decode_default(septet));
        }
        Some(match self.septets.next().map(|s| s & 0x7F) {
            None | Some(ESCAPE) => ' ',
            Some(code) => decode_extension(code).unwrap_or_else(|| decode_default(code)),
        })
    }
}

/// Octets `septets` septets take when packed after `fill_bits` fill bits.
pub const fn packed_len(septets: usize, fill_bits: u8) -> usize {
    (fill_bits as usize + septets * 7).div_ceil(8)
}

/// Packs septets into octets, least significant bit first, after `fill_bits` zero bits
/// (TS 23.038 6.1.2.1.1). Returns the number of octets written.
///
/// Pass the fill that [`fill_bits_after_udh`] computes (0–6). Bits above the seventh of each
/// septet are ignored.
pub fn pack<I>(septets: I, fill_bits: u8, out: &mut [u8]) -> Result<usize, EncodeError>
where
    I: IntoIterator<Item = u8>,
    I::IntoIter: Clone,
{
    let septets = septets.into_iter();
    let needed = packed_len(septets.clone().count(), fill_bits);
    let available = out.len();
    let dst = out
        .get_mut(..needed)
        .ok_or(EncodeError::BufferTooSmall { needed, available })?;
    let mut slots = dst.iter_mut();
    let mut acc: u32 = 0;
    let mut bits = u32::from(fill_bits);
    for septet in septets {
        acc |= u32::from(septet & 0x7F) << bits;
        bits += 7;
        while bits >= 8 {
            if let Some(slot) = slots.next() {
                *slot = acc as u8;
            }
            acc >>= 8;
            bits -= 8;
        }
    }
    if bits > 0
        && let Some(slot) = slots.next()
    {
        *slot = acc as u8;
    }
    Ok(needed)
}

/// The fill bits between a user-data header of `udhl` octets (plus its length octet) and the
/// first septet, so that the text starts on a septet boundary (TS 23.040 9.2.3.24).
pub const fn fill_bits_after_udh(udhl: usize) -> u8 {
    let bits = (udhl + 1) * 8;
    ((7 - bits % 7) % 7) as u8
}

/// Septets a user-data header of `udhl` octets (plus its length octet) occupies, fill bits
/// included: what it adds to TP-UDL in GSM 7-bit.
pub const fn udh_septets(udhl: usize) -> usize {
    ((udhl + 1) * 8).div_ceil(7)
}

/// Unpacks septets from packed octets (TS 23.038 6.1.2.1.1); see [`unpack`].
#[derive(Clone, Debug)]
pub struct Unpack<'a> {
    data: &'a [u8],
    bit: usize,
    remaining: usize,
}

/// Unpacks at most `count` septets from `data`, skipping `fill_bits` first. Stops early if
/// `data` ends, so any input is safe.
pub fn unpack(data: &[u8], fill_bits: u8, count: usize) -> Unpack<'_> {
    let available = (data.len() * 8).saturating_sub(usize::from(fill_bits)) / 7;
    Unpack {
        data,
        bit: usize::from(fill_bits),
        remaining: count.min(available),
    }
}

impl Iterator for Unpack<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        if self.remaining == 0 {
            return None;
        }
        let index = self.bit / 8;
        let shift = self.bit % 8;
        let lo = u16::from(*self.data.get(index)?);
        let hi = u16::from(self.data.get(index + 1).copied().unwrap_or(0));
        self.bit += 7;
        self.remaining -= 1;
        Some((((hi << 8) | lo) >> shift) as u8 & 0x7F)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for Unpack<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;
    use std::vec::Vec;

    fn packed(text: &str, fill: u8) -> String {
        let mut out = [0u8; 200];
        let n = pack(TextSeptets::new(text), fill, &mut out).unwrap();
        std::format!("{}", crate::hex::Hex(&out[..n]))
    }

    fn unpacked(hex: &str, fill: u8, count: usize) -> String {
        let mut buf = [0u8; 200];
        let n = crate::hex::decode(hex, &mut buf).unwrap();
        Decoder::new(unpack(&buf[..n], fill, count)).collect()
    }

    #[test]
    fn hellohello_spec_example() {
        // TS 23.038 6.1.2.1.1 example: "hellohello" packs to E8329BFD4697D9EC37.
        assert_eq!(packed("hellohello", 0), "E8329BFD4697D9EC37");
        assert_eq!(unpacked("E8329BFD4697D9EC37", 0, 10), "hellohello");
    }

    #[test]
    fn packing_cases() {
        assert_eq!(packed("", 0), "");
        assert_eq!(packed("A", 0), "41");
        assert_eq!(packed("How are you?", 0), "C8F71D14969741F977FD07");
        // Seven septets leave seven spare bits, which stay zero.
        assert_eq!(packed("1234567", 0), "31D98C56B3DD00");
        // One fill bit after a 6-octet UDH (05 00 03 ..).
        assert_eq!(packed("A", 1), "82");
        assert_eq!(packed("", 1), "00");
        assert_eq!(packed("[", 0), "1B1E");
    }

    #[test]
    fn fill_bits_and_header_septets() {
        let cases: Vec<(usize, u8, usize)> = (0..8)
            .map(|udhl| (udhl, fill_bits_after_udh(udhl), udh_septets(udhl)))
            .collect();
        assert_eq!(
            cases,
            [
                (0, 6, 2),
                (1, 5, 3),
                (2, 4, 4),
                (3, 3, 5),
                (4, 2, 6),
                (5, 1, 7),
                (6, 0, 8),
                (7, 6, 10)
            ]
        );
    }

    #[test]
    fn tables_round_trip() {
        for septet in 0u8..128 {
            if septet == ESCAPE {
                continue;
            }
            let c = decode_default(septet);
            assert_eq!(encode_char(c), Some(Gsm7Char::Default(septet)), "{c:?}");
        }
        for code in 0u8..128 {
            if let Some(c) = decode_extension(code) {
                assert_eq!(encode_char(c), Some(Gsm7Char::Extension(code)), "{c:?}");
            }
        }
    }

    #[test]
    fn counting_rule() {
        assert_eq!(count_septets("abc"), Ok(3));
        assert_eq!(count_septets("a€[]"), Ok(7));
        assert_eq!(count_septets("\u{0C}"), Ok(2));
        assert_eq!(
            count_septets("ab`"),
            Err(EncodeError::Unencodable {
                ch: '`',
                position: 2
            })
        );
        assert_eq!(
            count_septets("é中"),
            Err(EncodeError::Unencodable {
                ch: '中',
                position: 1
            })
        );
        // Lower-case ç is not in the table (only Ç): reported, not replaced.
        assert!(encode_char('ç').is_none());
        assert!(is_default('@') && !is_extension('@'));
        assert!(is_extension('€') && !is_default('€'));
        assert_eq!(char_septets('😀'), None);
    }

    #[test]
    fn escape_fallbacks() {
        let decode = |s: &[u8]| -> String { Decoder::new(s.iter().copied()).collect() };
        assert_eq!(decode(&[0x1B, 0x65]), "€");
        // Undefined extension code: the default character (TS 23.038 6.2.1.1).
        assert_eq!(decode(&[0x1B, 0x41]), "A");
        assert_eq!(decode(&[0x1B, 0x1B, 0x41]), " A");
        assert_eq!(decode(&[0x41, 0x1B]), "A ");
    }

    #[test]
    fn unpack_stops_at_end_of_data() {
        assert_eq!(unpack(&[0xFF], 0, 10).count(), 1);
        assert_eq!(unpack(&[0xFF], 2, 10).count(), 0);
        assert_eq!(unpack(&[], 0, 10).count(), 0);
    }
}
