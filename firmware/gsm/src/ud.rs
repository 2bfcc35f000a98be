//! User data (TS 23.040 9.2.3.16 TP-UDL, 9.2.3.24 TP-UD): an optional header and a body in
//! GSM 7-bit, 8-bit data or UCS-2, in any of the forms it travels in.
//!
//! One [`UserData`] type serves both directions without copying: a decoded TPDU borrows its
//! packed septets, SMPP hands unpacked septets (one per octet), a sender hands a `&str`.
//! Whatever the form, it can be written as TP-UD ([`UserData::encode`]), as an SMPP
//! `short_message` ([`UserData::encode_smpp`]) or read as text ([`UserData::text`]).

use core::fmt;

use crate::dcs::{Alphabet, Dcs};
use crate::error::{DecodeError, EncodeError, Field, TextError, UdhError};
use crate::gsm7::{self, TextSeptets};
use crate::ucs2;
use crate::udh::{Concat, Ports, Udh};

/// TP-UD holds at most 140 octets (TS 23.040 9.2.3.24).
pub const MAX_UD_OCTETS: usize = 140;
/// ... which is 160 septets in GSM 7-bit.
pub const MAX_UD_SEPTETS: usize = 160;

#[derive(Clone, Copy, Debug)]
enum Body<'a> {
    /// Text to be sent; for GSM 7-bit it was checked to be encodable. `units` caches its
    /// septets or UTF-16 code units.
    Str {
        text: &'a str,
        alphabet: Alphabet,
        units: usize,
    },
    /// Packed septets as in a TPDU, after `fill` fill bits.
    Packed {
        bytes: &'a [u8],
        fill: u8,
        septets: usize,
    },
    /// Septets one per octet, as SMPP `data_coding` 0 carries them; each below 0x80.
    Septets(&'a [u8]),
    /// 8-bit data, UCS-2 octets, or compressed data of any alphabet.
    Octets {
        bytes: &'a [u8],
        alphabet: Alphabet,
        compressed: bool,
    },
}

/// User data: an optional [`Udh`] and a body. `Copy`, and borrows whatever it was made from.
#[derive(Clone, Copy, Debug)]
pub struct UserData<'a> {
    udh: Option<Udh<'a>>,
    body: Body<'a>,
}

impl<'a> UserData<'a> {
    /// Text in GSM 7-bit when every character is in the default or extension table, else in
    /// UCS-2 (the encoding choice of the issue: never a substitution).
    pub fn from_text(text: &'a str) -> UserData<'a> {
        match UserData::gsm7(text) {
            Ok(ud) => ud,
            Err(_) => UserData::ucs2(text),
        }
    }

    /// Text in GSM 7-bit; an error names the first character outside the alphabet.
    pub fn gsm7(text: &'a str) -> Result<UserData<'a>, EncodeError> {
        let units = gsm7::count_septets(text)?;
        Ok(UserData {
            udh: None,
            body: Body::Str {
                text,
                alphabet: Alphabet::Gsm7,
                units,
            },
        })
    }

    /// Text already checked by the planner: `units` are its septets or UTF-16 units.
    pub(crate) fn from_checked(text: &'a str, alphabet: Alphabet, units: usize) -> Self {
        UserData {
            udh: None,
            body: Body::Str {
                text,
                alphabet,
                units,
            },
        }
    }

    /// Text in UCS-2 (UTF-16 big-endian).
    pub fn ucs2(text: &'a str) -> UserData<'a> {
        UserData {
            udh: None,
            body: Body::Str {
                text,
                alphabet: Alphabet::Ucs2,
                units: ucs2::units(text),
            },
        }
    }

    /// 8-bit binary data.
    pub fn binary(bytes: &'a [u8]) -> UserData<'a> {
        UserData::octets(bytes, Alphabet::Eight, false)
    }

    /// Raw body octets in UCS-2 (big-endian) or 8-bit data; `compressed` marks TS 23.042 data.
    /// For GSM 7-bit septets use [`UserData::from_smpp`] or a TPDU.
    pub fn octets(bytes: &'a [u8], alphabet: Alphabet, compressed: bool) -> UserData<'a> {
        UserData {
            udh: None,
            body: if alphabet == Alphabet::Gsm7 && !compressed {
                Body::Septets(bytes)
            } else {
                Body::Octets {
                    bytes,
                    alphabet,
                    compressed,
                }
            },
        }
    }

    /// Reads an SMPP `short_message`: the header first if `udhi` (`esm_class` bit 6), then
    /// septets one per octet (GSM 7-bit) or octets.
    pub fn from_smpp(
        short_message: &'a [u8],
        udhi: bool,
        alphabet: Alphabet,
    ) -> Result<UserData<'a>, DecodeError> {
        let (udh, body) = if udhi {
            let (udh, header) = split_udh(short_message)?;
            (Some(udh), short_message.get(header..).unwrap_or(&[]))
        } else {
            (None, short_message)
        };
        let body = if alphabet == Alphabet::Gsm7 {
            if let Some((position, &value)) = body.iter().enumerate().find(|(_, b)| **b > 0x7F) {
                return Err(DecodeError::BadSeptet { value, position });
            }
            Body::Septets(body)
        } else {
            Body::Octets {
                bytes: body,
                alphabet,
                compressed: false,
            }
        };
        Ok(UserData { udh, body })
    }

    /// Decodes TP-UD from `data` given TP-UDL, TP-DCS and TP-UDHI; returns it and the
    /// octets it took.
    pub(crate) fn decode_tp(
        data: &'a [u8],
        udl: u8,
        dcs: Dcs,
        udhi: bool,
    ) -> Result<(UserData<'a>, usize), DecodeError> {
        let alphabet = dcs.alphabet();
        let compressed = dcs.compressed();
        let septets = alphabet == Alphabet::Gsm7 && !compressed;
        let (max, octets) = if septets {
            (MAX_UD_SEPTETS, gsm7::packed_len(usize::from(udl), 0))
        } else {
            (MAX_UD_OCTETS, usize::from(udl))
        };
        if usize::from(udl) > max {
            return Err(DecodeError::UdlTooLong {
                udl,
                max: max as u8,
            });
        }
        let bytes = data.get(..octets).ok_or(DecodeError::Truncated {
            field: Field::Ud,
            needed: octets,
            remaining: data.len(),
        })?;
        let (udh, header_octets) = if udhi {
            if bytes.is_empty() {
                return Err(DecodeError::UdlShorterThanUdh { udl, header: 1 });
            }
            let (udh, header) = split_udh(bytes)?;
            (Some(udh), header)
        } else {
            (None, 0)
        };
        let rest = bytes.get(header_octets..).unwrap_or(&[]);
        let body = if septets {
            let (header_septets, fill) = match udh {
                Some(u) => (
                    gsm7::udh_septets(u.len()),
                    gsm7::fill_bits_after_udh(u.len()),
                ),
                None => (0, 0),
            };
            let body_septets = usize::from(udl).checked_sub(header_septets).ok_or(
                DecodeError::UdlShorterThanUdh {
                    udl,
                    header: header_septets,
                },
            )?;
            Body::Packed {
                bytes: rest,
                fill,
                septets: body_septets,
            }
        } else {
            Body::Octets {
                bytes: rest,
                alphabet,
                compressed,
            }
        };
        Ok((UserData { udh, body }, octets))
    }

    /// The same body with another header (or none).
    pub fn with_udh(self, udh: Option<Udh<'a>>) -> UserData<'a> {
        UserData { udh, ..self }
    }

    /// The header, if any.
    pub fn udh(&self) -> Option<Udh<'a>> {
        self.udh
    }

    /// The concatenation element of the header, if any.
    pub fn concat(&self) -> Option<Concat> {
        self.udh.as_ref().and_then(|u| u.concat())
    }

    /// The application-port element of the header, if any.
    pub fn ports(&self) -> Option<Ports> {
        self.udh.as_ref().and_then(Udh::ports)
    }

    /// The body's alphabet.
    pub fn alphabet(&self) -> Alphabet {
        match self.body {
            Body::Str { alphabet, .. } | Body::Octets { alphabet, .. } => alphabet,
            Body::Packed { .. } | Body::Septets(_) => Alphabet::Gsm7,
        }
    }

    /// Whether the body is compressed (TS 23.042).
    pub fn is_compressed(&self) -> bool {
        matches!(
            self.body,
            Body::Octets {
                compressed: true,
                ..
            }
        )
    }

    /// Whether TP-UDL counts septets (uncompressed GSM 7-bit) rather than octets.
    fn counts_septets(&self) -> bool {
        self.alphabet() == Alphabet::Gsm7 && !self.is_compressed()
    }

    /// Units of the body alone: septets (GSM 7-bit), UTF-16 code units (UCS-2 text), or
    /// octets (8-bit, compressed, raw UCS-2 octets).
    pub fn body_units(&self) -> usize {
        match self.body {
            Body::Str { units, .. } => units,
            Body::Packed { septets, .. } => septets,
            Body::Septets(s) => s.len(),
            Body::Octets { bytes, .. } => bytes.len(),
        }
    }

    fn body_octets(&self) -> usize {
        match self.body {
            Body::Str {
                alphabet: Alphabet::Ucs2,
                units,
                ..
            } => units * 2,
            Body::Octets { bytes, .. } => bytes.len(),
            _ => self.body_units(),
        }
    }

    /// TP-UDL: septets (header and fill bits included) for GSM 7-bit, else octets.
    pub fn udl(&self) -> usize {
        let header = self.udh.map_or(0, |u| u.len());
        if self.counts_septets() {
            let header_septets = self.udh.map_or(0, |_| gsm7::udh_septets(header));
            header_septets + self.body_units()
        } else {
            self.udh.map_or(0, |_| header + 1) + self.body_octets()
        }
    }

    /// Octets of TP-UD.
    pub fn encoded_len(&self) -> usize {
        if self.counts_septets() {
            gsm7::packed_len(self.udl(), 0)
        } else {
            self.udl()
        }
    }

    /// Checks that TP-UD fits one TPDU: 160 septets or 140 octets, header included.
    pub fn check_fits(&self) -> Result<(), EncodeError> {
        let (needed, max) = if self.counts_septets() {
            (self.udl(), MAX_UD_SEPTETS)
        } else {
            (self.udl(), MAX_UD_OCTETS)
        };
        if needed > max {
            return Err(EncodeError::UserDataTooLong { needed, max });
        }
        Ok(())
    }

    /// Writes TP-UD (header, fill bits, packed septets or octets; not TP-UDL). Returns the
    /// octets written.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        self.check_fits()?;
        let needed = self.encoded_len();
        let available = out.len();
        let dst = out
            .get_mut(..needed)
            .ok_or(EncodeError::BufferTooSmall { needed, available })?;
        let (header, fill) = match self.udh {
            Some(u) => (
                u.write(dst)?,
                if self.counts_septets() {
                    gsm7::fill_bits_after_udh(u.len())
                } else {
                    0
                },
            ),
            None => (0, 0),
        };
        let rest = dst.get_mut(header..).unwrap_or(&mut []);
        if self.counts_septets() {
            gsm7::pack(self.septets(), fill, rest)?;
        } else {
            self.write_octets(rest)?;
        }
        Ok(needed)
    }

    /// Octets of the SMPP `short_message` form.
    pub fn smpp_len(&self) -> usize {
        self.udh.map_or(0, |u| u.encoded_len()) + self.body_octets()
    }

    /// Writes the SMPP `short_message` form: the header (with UDHL) if any, then septets
    /// one per octet with escapes (`data_coding` 0) or the octets (UCS-2 big-endian, 8-bit).
    pub fn encode_smpp(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let needed = self.smpp_len();
        let available = out.len();
        let dst = out
            .get_mut(..needed)
            .ok_or(EncodeError::BufferTooSmall { needed, available })?;
        let header = match self.udh {
            Some(u) => u.write(dst)?,
            None => 0,
        };
        let rest = dst.get_mut(header..).unwrap_or(&mut []);
        if self.counts_septets() {
            for (slot, s) in rest.iter_mut().zip(self.septets()) {
                *slot = s;
            }
        } else {
            self.write_octets(rest)?;
        }
        Ok(needed)
    }

    fn write_octets(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        match self.body {
            Body::Str { text, .. } => ucs2::encode(text, out),
            Body::Octets { bytes, .. } => {
                let needed = bytes.len();
                let available = out.len();
                out.get_mut(..needed)
                    .ok_or(EncodeError::BufferTooSmall { needed, available })?
                    .copy_from_slice(bytes);
                Ok(needed)
            }
            Body::Packed { .. } | Body::Septets(_) => Ok(0),
        }
    }

    /// The body's septets, escapes included (empty for a body that is not GSM 7-bit).
    pub fn septets(&self) -> Septets<'a> {
        Septets(match self.body {
            Body::Str {
                text,
                alphabet: Alphabet::Gsm7,
                ..
            } => SeptetsRepr::Text(TextSeptets::new(text)),
            Body::Packed {
                bytes,
                fill,
                septets,
            } => SeptetsRepr::Packed(gsm7::unpack(bytes, fill, septets)),
            Body::Septets(s) => SeptetsRepr::Slice(s.iter()),
            _ => SeptetsRepr::Slice([].iter()),
        })
    }

    /// The raw body octets of 8-bit, compressed or raw UCS-2 data.
    pub fn octets_body(&self) -> Option<&'a [u8]> {
        match self.body {
            Body::Octets { bytes, .. } => Some(bytes),
            _ => None,
        }
    }

    /// The body as text, or why it is not text (8-bit data, compression).
    pub fn text(&self) -> Result<Text<'a>, TextError> {
        match self.body {
            Body::Octets {
                compressed: true, ..
            } => Err(TextError::Compressed),
            Body::Octets {
                alphabet: Alphabet::Eight,
                ..
            } => Err(TextError::Binary),
            body => Ok(Text { body }),
        }
    }

    /// The characters of the body; see [`UserData::text`].
    pub fn chars(&self) -> Result<Chars<'a>, TextError> {
        self.text().map(|t| t.chars())
    }

    /// Writes the text into any `fmt::Write` sink (a `String`, a `heapless::String`).
    pub fn write_text<W: fmt::Write + ?Sized>(&self, w: &mut W) -> Result<(), TextError> {
        let text = self.text()?;
        for c in text.chars() {
            w.write_char(c).map_err(|_| TextError::Write)?;
        }
        Ok(())
    }

    fn same_body(&self, other: &Self) -> bool {
        if self.alphabet() != other.alphabet() || self.is_compressed() != other.is_compressed() {
            return false;
        }
        if self.counts_septets() {
            return self.septets().eq(other.septets());
        }
        match (self.body, other.body) {
            (Body::Str { text: a, .. }, Body::Str { text: b, .. }) => a == b,
            (Body::Str { text, .. }, Body::Octets { bytes, .. })
            | (Body::Octets { bytes, .. }, Body::Str { text, .. }) => text
                .encode_utf16()
                .flat_map(u16::to_be_bytes)
                .eq(bytes.iter().copied()),
            (Body::Octets { bytes: a, .. }, Body::Octets { bytes: b, .. }) => a == b,
            _ => false,
        }
    }
}

/// Equal when the headers and the bodies' units are equal, whatever form each came in.
impl PartialEq for UserData<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.udh == other.udh && self.same_body(other)
    }
}

impl Eq for UserData<'_> {}

fn split_udh(bytes: &[u8]) -> Result<(Udh<'_>, usize), DecodeError> {
    let (&udhl, rest) = bytes.split_first().ok_or(DecodeError::Truncated {
        field: Field::Udh,
        needed: 1,
        remaining: 0,
    })?;
    let ies = rest
        .get(..usize::from(udhl))
        .ok_or(UdhError::UdhlBeyondUd {
            udhl,
            available: rest.len(),
        })?;
    Ok((Udh::parse(ies)?, 1 + ies.len()))
}

#[derive(Clone, Debug)]
enum SeptetsRepr<'a> {
    Text(TextSeptets<'a>),
    Packed(gsm7::Unpack<'a>),
    Slice(core::slice::Iter<'a, u8>),
}

/// The septets of a GSM 7-bit body; see [`UserData::septets`].
#[derive(Clone, Debug)]
pub struct Septets<'a>(SeptetsRepr<'a>);

impl Iterator for Septets<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        match &mut self.0 {
            SeptetsRepr::Text(t) => t.next(),
            SeptetsRepr::Packed(p) => p.next(),
            SeptetsRepr::Slice(s) => s.next().copied(),
        }
    }
}

/// A body that is text: `Display` writes it, [`Text::chars`] iterates it.
#[derive(Clone, Copy, Debug)]
pub struct Text<'a> {
    body: Body<'a>,
}

impl<'a> Text<'a> {
    /// The characters.
    pub fn chars(&self) -> Chars<'a> {
        Chars(match self.body {
            Body::Str { text, .. } => CharsRepr::Str(text.chars()),
            Body::Octets { bytes, .. } => CharsRepr::Ucs2(ucs2::decode(bytes)),
            Body::Packed {
                bytes,
                fill,
                septets,
            } => CharsRepr::Gsm7(gsm7::Decoder::new(Septets(SeptetsRepr::Packed(
                gsm7::unpack(bytes, fill, septets),
            )))),
            Body::Septets(s) => {
                CharsRepr::Gsm7(gsm7::Decoder::new(Septets(SeptetsRepr::Slice(s.iter()))))
            }
        })
    }
}

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Body::Str { text, .. } = self.body {
            return f.write_str(text);
        }
        for c in self.chars() {
            fmt::Write::write_char(f, c)?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug)]
enum CharsRepr<'a> {
    Str(core::str::Chars<'a>),
    Ucs2(ucs2::Chars<'a>),
    Gsm7(gsm7::Decoder<Septets<'a>>),
}

/// The characters of a text body.
#[derive(Clone, Debug)]
pub struct Chars<'a>(CharsRepr<'a>);

impl Iterator for Chars<'_> {
    type Item = char;

    fn next(&mut self) -> Option<char> {
        match &mut self.0 {
            CharsRepr::Str(c) => c.next(),
            CharsRepr::Ucs2(c) => c.next(),
            CharsRepr::Gsm7(c) => c.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hex::Hex;
    use std::format;
    use std::string::String;

    fn tp_ud(ud: &UserData<'_>) -> String {
        let mut out = [0u8; 200];
        let n = ud.encode(&mut out).unwrap();
        format!("UDL={} {}", ud.udl(), Hex(&out[..n]))
    }

    fn smpp(ud: &UserData<'_>) -> String {
        let mut out = [0u8; 300];
        let n = ud.encode_smpp(&mut out).unwrap();
        format!("{}", Hex(&out[..n]))
    }

    #[test]
    fn encodes_forms() {
        let concat = Udh::for_concat(Concat {
            reference: 0x42,
            ref16: false,
            total: 2,
            seq: 1,
        })
        .unwrap();
        let ud = UserData::from_text("Hi€").with_udh(Some(concat));
        assert_eq!(ud.alphabet(), Alphabet::Gsm7);
        assert_eq!(tp_ud(&ud), "UDL=11 05000342020190E94D19");
        assert_eq!(smpp(&ud), "05000342020148691B65");
        let ud = UserData::from_text("你好😀");
        assert_eq!(ud.alphabet(), Alphabet::Ucs2);
        assert_eq!(tp_ud(&ud), "UDL=8 4F60597DD83DDE00");
        assert_eq!(smpp(&ud), "4F60597DD83DDE00");
        assert_eq!(tp_ud(&UserData::binary(&[1, 2])), "UDL=2 0102");
    }

    #[test]
    fn too_long() {
        let long = "a".repeat(161);
        assert_eq!(
            UserData::from_text(&long).encode(&mut [0u8; 200]),
            Err(EncodeError::UserDataTooLong {
                needed: 161,
                max: 160
            })
        );
        let long = "中".repeat(71);
        assert_eq!(
            UserData::from_text(&long).encode(&mut [0u8; 200]),
            Err(EncodeError::UserDataTooLong {
                needed: 142,
                max: 140
            })
        );
    }

    #[test]
    fn smpp_round_trip() {
        let bytes = [0x05, 0x00, 0x03, 0x01, 0x02, 0x02, 0x48, 0x1B, 0x65];
        let ud = UserData::from_smpp(&bytes, true, Alphabet::Gsm7).unwrap();
        assert_eq!(ud.concat().map(|c| c.seq), Some(2));
        assert_eq!(format!("{}", ud.text().unwrap()), "H€");
        assert_eq!(smpp(&ud), "050003010202481B65");
        assert_eq!(
            UserData::from_smpp(&[0x41, 0x80], false, Alphabet::Gsm7),
            Err(DecodeError::BadSeptet {
                value: 0x80,
                position: 1
            })
        );
        let big = [0x41u8; 300];
        let a = UserData::from_smpp(&big, false, Alphabet::Ucs2).unwrap();
        assert_eq!(a, UserData::octets(&big, Alphabet::Ucs2, false));
        assert_eq!(
            UserData::ucs2("AB"),
            UserData::octets(&[0, 0x41, 0, 0x42], Alphabet::Ucs2, false)
        );
        assert_eq!(
            UserData::from_smpp(&[0x05, 0x00], true, Alphabet::Ucs2),
            Err(DecodeError::Udh(UdhError::UdhlBeyondUd {
                udhl: 5,
                available: 1
            }))
        );
    }

    #[test]
    fn text_errors() {
        assert_eq!(UserData::binary(&[1]).text().err(), Some(TextError::Binary));
        let compressed = UserData::octets(&[1], Alphabet::Gsm7, true);
        assert_eq!(compressed.text().err(), Some(TextError::Compressed));
        let mut s = String::new();
        UserData::ucs2("ok").write_text(&mut s).unwrap();
        assert_eq!(s, "ok");
    }
}
