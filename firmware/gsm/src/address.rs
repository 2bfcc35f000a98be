//! Address fields (TS 23.040 9.1.2.5): TP-OA, TP-DA, TP-RA and the SCA before a TPDU
//! (TS 24.011 8.2.5.1), with numbers in swapped semi-octets and alphanumeric senders in
//! packed GSM 7-bit.
//!
//! The two length conventions differ and are kept apart: a TP address counts useful
//! semi-octets, the SCA counts octets (type-of-address included).

use core::fmt;

use crate::error::{AddressError, DecodeError, EncodeError, Field};
use crate::gsm7;

/// Bytes an address value can take: 20 digits, or 11 GSM characters of up to 3 UTF-8 bytes.
pub const ADDRESS_CAPACITY: usize = 32;
/// The longest number (TS 23.040 9.1.2.5: an address value is at most 10 octets).
pub const MAX_DIGITS: usize = 20;
/// The longest alphanumeric address in septets (10 octets).
pub const MAX_ALPHANUMERIC_SEPTETS: usize = 11;

/// Type of number (TS 23.040 9.1.2.5, bits 6..4 of the type-of-address octet).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TypeOfNumber {
    /// `000` unknown: the network interprets the digits (prefixes included).
    Unknown,
    /// `001` international number (shown with a leading `+`).
    International,
    /// `010` national number.
    National,
    /// `011` network-specific number.
    NetworkSpecific,
    /// `100` subscriber number.
    Subscriber,
    /// `101` alphanumeric, in GSM 7-bit.
    Alphanumeric,
    /// `110` abbreviated number.
    Abbreviated,
    /// `111` reserved for extension.
    Reserved,
}

impl TypeOfNumber {
    const fn from_bits(bits: u8) -> Self {
        match bits & 0x07 {
            0 => TypeOfNumber::Unknown,
            1 => TypeOfNumber::International,
            2 => TypeOfNumber::National,
            3 => TypeOfNumber::NetworkSpecific,
            4 => TypeOfNumber::Subscriber,
            5 => TypeOfNumber::Alphanumeric,
            6 => TypeOfNumber::Abbreviated,
            _ => TypeOfNumber::Reserved,
        }
    }

    const fn bits(self) -> u8 {
        match self {
            TypeOfNumber::Unknown => 0,
            TypeOfNumber::International => 1,
            TypeOfNumber::National => 2,
            TypeOfNumber::NetworkSpecific => 3,
            TypeOfNumber::Subscriber => 4,
            TypeOfNumber::Alphanumeric => 5,
            TypeOfNumber::Abbreviated => 6,
            TypeOfNumber::Reserved => 7,
        }
    }
}

impl fmt::Display for TypeOfNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TypeOfNumber::Unknown => "unknown",
            TypeOfNumber::International => "international",
            TypeOfNumber::National => "national",
            TypeOfNumber::NetworkSpecific => "network specific",
            TypeOfNumber::Subscriber => "subscriber",
            TypeOfNumber::Alphanumeric => "alphanumeric",
            TypeOfNumber::Abbreviated => "abbreviated",
            TypeOfNumber::Reserved => "reserved",
        })
    }
}

/// Numbering plan identification (TS 23.040 9.1.2.5, bits 3..0 of the type-of-address octet).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NumberingPlan {
    /// `0000` unknown.
    Unknown,
    /// `0001` ISDN/telephone (E.164).
    Isdn,
    /// `0011` data (X.121).
    Data,
    /// `0100` telex.
    Telex,
    /// `0101` service-centre-specific plan 1.
    ScSpecific1,
    /// `0110` service-centre-specific plan 2.
    ScSpecific2,
    /// `1000` national.
    National,
    /// `1001` private.
    Private,
    /// `1010` ERMES.
    Ermes,
    /// Any other value (reserved).
    Reserved(u8),
}

impl NumberingPlan {
    const fn from_bits(bits: u8) -> Self {
        match bits & 0x0F {
            0x0 => NumberingPlan::Unknown,
            0x1 => NumberingPlan::Isdn,
            0x3 => NumberingPlan::Data,
            0x4 => NumberingPlan::Telex,
            0x5 => NumberingPlan::ScSpecific1,
            0x6 => NumberingPlan::ScSpecific2,
            0x8 => NumberingPlan::National,
            0x9 => NumberingPlan::Private,
            0xA => NumberingPlan::Ermes,
            v => NumberingPlan::Reserved(v),
        }
    }

    const fn bits(self) -> u8 {
        match self {
            NumberingPlan::Unknown => 0x0,
            NumberingPlan::Isdn => 0x1,
            NumberingPlan::Data => 0x3,
            NumberingPlan::Telex => 0x4,
            NumberingPlan::ScSpecific1 => 0x5,
            NumberingPlan::ScSpecific2 => 0x6,
            NumberingPlan::National => 0x8,
            NumberingPlan::Private => 0x9,
            NumberingPlan::Ermes => 0xA,
            NumberingPlan::Reserved(v) => v & 0x0F,
        }
    }
}

impl fmt::Display for NumberingPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NumberingPlan::Unknown => f.write_str("unknown plan"),
            NumberingPlan::Isdn => f.write_str("ISDN/E.164"),
            NumberingPlan::Data => f.write_str("data/X.121"),
            NumberingPlan::Telex => f.write_str("telex"),
            NumberingPlan::ScSpecific1 => f.write_str("SC-specific plan 1"),
            NumberingPlan::ScSpecific2 => f.write_str("SC-specific plan 2"),
            NumberingPlan::National => f.write_str("national plan"),
            NumberingPlan::Private => f.write_str("private plan"),
            NumberingPlan::Ermes => f.write_str("ERMES"),
            NumberingPlan::Reserved(v) => write!(f, "reserved plan {v}"),
        }
    }
}

/// A phone number or alphanumeric sender.
///
/// `value` holds the digits (`0-9`, `*`, `#`, `a`, `b`, `c` as TS 23.040 9.1.2.3 maps BCD
/// 10..14) without any `+`, or the alphanumeric text. `Display` prints `+` before
/// international numbers: `+8613800138000`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Address {
    /// Type of number.
    pub ton: TypeOfNumber,
    /// Numbering plan.
    pub npi: NumberingPlan,
    value: heapless::String<ADDRESS_CAPACITY>,
}

const fn digit_nibble(c: char) -> Option<u8> {
    Some(match c {
        '0'..='9' => c as u8 - b'0',
        '*' => 0xA,
        '#' => 0xB,
        'a' | 'A' => 0xC,
        'b' | 'B' => 0xD,
        'c' | 'C' => 0xE,
        _ => return None,
    })
}

const fn nibble_digit(n: u8) -> Option<char> {
    Some(match n {
        0..=9 => (b'0' + n) as char,
        0xA => '*',
        0xB => '#',
        0xC => 'a',
        0xD => 'b',
        0xE => 'c',
        _ => return None,
    })
}

impl Address {
    /// Parses what a user types: `+` and digits is international (E.164); digits alone
    /// (and `*#`) are of unknown type, which lets the network apply its dialling rules;
    /// anything else is an alphanumeric sender of at most 11 GSM 7-bit septets.
    pub fn parse(s: &str) -> Result<Address, AddressError> {
        if let Some(digits) = s.strip_prefix('+') {
            // Positions in errors count from the start of what the user typed.
            return Address::international(digits).map_err(|e| match e {
                AddressError::BadDigit { ch, position } => AddressError::BadDigit {
                    ch,
                    position: position + 1,
                },
                e => e,
            });
        }
        if !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_digit() || c == '*' || c == '#')
        {
            return Address::number(TypeOfNumber::Unknown, NumberingPlan::Isdn, s);
        }
        Address::alphanumeric(s)
    }

    /// An international E.164 number, given without the `+`.
    pub fn international(digits: &str) -> Result<Address, AddressError> {
        Address::number(TypeOfNumber::International, NumberingPlan::Isdn, digits)
    }

    /// A national number.
    pub fn national(digits: &str) -> Result<Address, AddressError> {
        Address::number(TypeOfNumber::National, NumberingPlan::Isdn, digits)
    }

    /// A number of any numeric type: 1 to 20 of `0-9 * # a b c`.
    pub fn number(
        ton: TypeOfNumber,
        npi: NumberingPlan,
        digits: &str,
    ) -> Result<Address, AddressError> {
        if digits.is_empty() {
            return Err(AddressError::Empty);
        }
        let mut value = heapless::String::new();
        for (position, ch) in digits.chars().enumerate() {
            let nibble = digit_nibble(ch).ok_or(AddressError::BadDigit { ch, position })?;
            if position >= MAX_DIGITS {
                return Err(AddressError::TooLong);
            }
            let normal = nibble_digit(nibble).ok_or(AddressError::BadDigit { ch, position })?;
            value.push(normal).map_err(|_| AddressError::TooLong)?;
        }
        Ok(Address { ton, npi, value })
    }

    /// An alphanumeric sender (TON `101`), at most 11 septets of GSM 7-bit.
    pub fn alphanumeric(text: &str) -> Result<Address, AddressError> {
        if text.is_empty() {
            return Err(AddressError::Empty);
        }
        let septets = gsm7::count_septets(text).map_err(|e| match e {
            EncodeError::Unencodable { ch, position } => AddressError::Unencodable { ch, position },
            _ => AddressError::TooLong,
        })?;
        if septets > MAX_ALPHANUMERIC_SEPTETS {
            return Err(AddressError::TooLong);
        }
        let mut value = heapless::String::new();
        value.push_str(text).map_err(|_| AddressError::TooLong)?;
        Ok(Address {
            ton: TypeOfNumber::Alphanumeric,
            npi: NumberingPlan::Unknown,
            value,
        })
    }

    /// The digits (without `+`) or the alphanumeric text.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether the address is alphanumeric text rather than digits.
    pub fn is_alphanumeric(&self) -> bool {
        self.ton == TypeOfNumber::Alphanumeric
    }

    /// The type-of-address octet: `0x80 | TON << 4 | NPI`.
    pub const fn type_of_address(&self) -> u8 {
        0x80 | (self.ton.bits() << 4) | self.npi.bits()
    }

    fn value_octets(&self) -> usize {
        if self.is_alphanumeric() {
            gsm7::packed_len(self.septets(), 0)
        } else {
            self.value.len().div_ceil(2)
        }
    }

    fn septets(&self) -> usize {
        gsm7::count_septets(&self.value).unwrap_or(0)
    }

    /// Octets of the field as TP-OA/TP-DA/TP-RA: length, type and value.
    pub fn encoded_len(&self) -> usize {
        2 + self.value_octets()
    }

    /// The TP address-length octet: useful semi-octets (TS 23.040 9.1.2.5); for an
    /// alphanumeric address, the semi-octets its packed septets occupy.
    pub fn length_semi_octets(&self) -> usize {
        if self.is_alphanumeric() {
            (self.septets() * 7).div_ceil(4)
        } else {
            self.value.len()
        }
    }

    /// Writes the field as TP-OA/TP-DA/TP-RA; returns the octets written.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let needed = self.encoded_len();
        let dst = check_out(out, needed)?;
        if let [len, toa, value @ ..] = dst {
            *len = self.length_semi_octets() as u8;
            *toa = self.type_of_address();
            self.write_value(value)?;
        }
        Ok(needed)
    }

    /// Octets of the field as SCA: length, and if present type and value.
    pub fn sca_encoded_len(sca: Option<&Address>) -> usize {
        match sca {
            Some(a) => 2 + a.value_octets(),
            None => 1,
        }
    }

    /// Writes an SCA field (TS 24.011 8.2.5.1: its length counts octets, type included);
    /// `None` writes the single `00` that means "the SC configured in the modem".
    pub fn encode_sca(sca: Option<&Address>, out: &mut [u8]) -> Result<usize, EncodeError> {
        let needed = Address::sca_encoded_len(sca);
        let dst = check_out(out, needed)?;
        match (sca, dst) {
            (Some(a), [len, toa, value @ ..]) => {
                *len = (1 + a.value_octets()) as u8;
                *toa = a.type_of_address();
                a.write_value(value)?;
            }
            (_, [len, ..]) => *len = 0,
            (_, []) => {}
        }
        Ok(needed)
    }

    fn write_value(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        if self.is_alphanumeric() {
            return gsm7::pack(gsm7::TextSeptets::new(&self.value), 0, out);
        }
        let needed = self.value_octets();
        let dst = check_out(out, needed)?;
        let mut nibbles = self.value.chars().map(|c| digit_nibble(c).unwrap_or(0xF));
        for slot in dst.iter_mut() {
            let lo = nibbles.next().unwrap_or(0xF);
            let hi = nibbles.next().unwrap_or(0xF);
            *slot = (hi << 4) | lo;
        }
        Ok(needed)
    }

    /// Decodes a TP-OA/TP-DA/TP-RA field at the start of `data`; returns the address and the
    /// octets it took.
    pub fn decode(data: &[u8], field: Field) -> Result<(Address, usize), DecodeError> {
        let (&len, rest) = data.split_first().ok_or(DecodeError::Truncated {
            field,
            needed: 2,
            remaining: 0,
        })?;
        let semi_octets = usize::from(len);
        if semi_octets > MAX_DIGITS {
            return Err(DecodeError::AddressTooLong { field, length: len });
        }
        let octets = semi_octets.div_ceil(2);
        let (&toa, value) = rest.split_first().ok_or(DecodeError::Truncated {
            field,
            needed: 2 + octets,
            remaining: data.len(),
        })?;
        let value = value.get(..octets).ok_or(DecodeError::Truncated {
            field,
            needed: 2 + octets,
            remaining: data.len(),
        })?;
        let address = Address::from_parts(toa, value, semi_octets, field)?;
        Ok((address, 2 + octets))
    }

    /// Decodes the SCA field at the start of `data` (length in octets; `00` is "none").
    pub fn decode_sca(data: &[u8]) -> Result<(Option<Address>, usize), DecodeError> {
        let field = Field::Sca;
        let (&len, rest) = data.split_first().ok_or(DecodeError::Truncated {
            field,
            needed: 1,
            remaining: 0,
        })?;
        if len == 0 {
            return Ok((None, 1));
        }
        let octets = usize::from(len);
        if octets > 11 {
            return Err(DecodeError::AddressTooLong { field, length: len });
        }
        let body = rest.get(..octets).ok_or(DecodeError::Truncated {
            field,
            needed: 1 + octets,
            remaining: data.len(),
        })?;
        let (&toa, value) = body.split_first().ok_or(DecodeError::Truncated {
            field,
            needed: 1 + octets,
            remaining: data.len(),
        })?;
        let address = Address::from_parts(toa, value, value.len() * 2, field)?;
        Ok((Some(address), 1 + octets))
    }

    fn from_parts(
        toa: u8,
        value: &[u8],
        semi_octets: usize,
        field: Field,
    ) -> Result<Address, DecodeError> {
        let ton = TypeOfNumber::from_bits(toa >> 4);
        let npi = NumberingPlan::from_bits(toa);
        let mut text = heapless::String::new();
        let too_long = DecodeError::AddressTooLong {
            field,
            length: semi_octets as u8,
        };
        if ton == TypeOfNumber::Alphanumeric {
            let mut septets = semi_octets * 4 / 7;
            // Some encoders (python-gsmmodem among them) count two semi-octets per octet, so
            // 7 characters in 7 octets claim 14 semi-octets, room for 8 septets: the eighth
            // is zero padding. 14 is the only even length ≤ 20 where this happens; a real
            // trailing '@' in an 8-character sender (also 14) is the rarer reading.
            if semi_octets == 14 && gsm7::unpack(value, 0, septets).last() == Some(0) {
                septets -= 1;
            }
            for c in gsm7::Decoder::new(gsm7::unpack(value, 0, septets)) {
                text.push(c).map_err(|_| too_long)?;
            }
        } else {
            // Digits, low nibble first; an 0xF nibble is filler and ends the number.
            let nibbles = value
                .iter()
                .flat_map(|b| [b & 0x0F, b >> 4])
                .take(semi_octets);
            for n in nibbles {
                match nibble_digit(n) {
                    Some(c) => text.push(c).map_err(|_| too_long)?,
                    None => break,
                }
            }
        }
        Ok(Address {
            ton,
            npi,
            value: text,
        })
    }
}

fn check_out(out: &mut [u8], needed: usize) -> Result<&mut [u8], EncodeError> {
    let available = out.len();
    out.get_mut(..needed)
        .ok_or(EncodeError::BufferTooSmall { needed, available })
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ton == TypeOfNumber::International {
            f.write_str("+")?;
        }
        f.write_str(&self.value)
    }
}

impl core::str::FromStr for Address {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Address::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hex::Hex;
    use std::format;
    use std::string::{String, ToString};

    fn tp(addr: &str) -> String {
        let a = Address::parse(addr).unwrap();
        let mut out = [0u8; 16];
        let n = a.encode(&mut out).unwrap();
        let (back, used) = Address::decode(&out[..n], Field::Da).unwrap();
        assert_eq!((&back, used), (&a, n), "round trip of {addr}");
        format!("{}", Hex(&out[..n]))
    }

    #[test]
    fn encodes_tp_addresses() {
        assert_eq!(tp("+8613800138000"), "0D91683108108300F0");
        assert_eq!(tp("+31641600986"), "0B911346610089F6");
        assert_eq!(tp("13800138000"), "0B813108108300F0");
        assert_eq!(tp("*#1"), "0381BAF1");
        // TS 23.040 9.1.2.5: "Google" as an alphanumeric sender, 11 useful semi-octets.
        assert_eq!(tp("Google"), "0BD0C7F7FBCC2E03");
    }

    #[test]
    fn encodes_sca() {
        let a = Address::parse("+31624000000").unwrap();
        let mut out = [0u8; 16];
        let n = Address::encode_sca(Some(&a), &mut out).unwrap();
        assert_eq!(format!("{}", Hex(&out[..n])), "07911326040000F0");
        assert_eq!(Address::decode_sca(&out[..n]), Ok((Some(a), 8)));
        assert_eq!(Address::encode_sca(None, &mut out), Ok(1));
        assert_eq!(Address::decode_sca(&[0]), Ok((None, 1)));
    }

    #[test]
    fn parse_errors() {
        assert_eq!(Address::parse(""), Err(AddressError::Empty));
        assert_eq!(Address::parse("+"), Err(AddressError::Empty));
        assert_eq!(
            Address::parse("+12x"),
            Err(AddressError::BadDigit {
                ch: 'x',
                position: 3
            })
        );
        assert_eq!(
            Address::parse("123456789012345678901"),
            Err(AddressError::TooLong)
        );
        assert_eq!(Address::parse("Outpost Bank"), Err(AddressError::TooLong));
        assert_eq!(
            Address::parse("银行"),
            Err(AddressError::Unencodable {
                ch: '银',
                position: 0
            })
        );
        assert_eq!(
            Address::parse("+8613800138000").unwrap().to_string(),
            "+8613800138000"
        );
    }

    #[test]
    fn decode_errors() {
        assert_eq!(
            Address::decode(&[0x0B, 0x91, 0x13], Field::Oa),
            Err(DecodeError::Truncated {
                field: Field::Oa,
                needed: 8,
                remaining: 3
            })
        );
        assert_eq!(
            Address::decode(&[0x15, 0x91], Field::Oa),
            Err(DecodeError::AddressTooLong {
                field: Field::Oa,
                length: 0x15
            })
        );
        assert_eq!(
            Address::decode(&[], Field::Ra),
            Err(DecodeError::Truncated {
                field: Field::Ra,
                needed: 2,
                remaining: 0
            })
        );
        assert_eq!(
            Address::decode_sca(&[0x0C]),
            Err(DecodeError::AddressTooLong {
                field: Field::Sca,
                length: 12
            })
        );
    }
}
