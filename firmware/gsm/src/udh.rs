//! The user-data header (TS 23.040 9.2.3.24): concatenation with 8- and 16-bit references
//! (IEI 0x00 / 0x08, 9.2.3.24.1 / .8), application ports with 8- and 16-bit addresses
//! (IEI 0x04 / 0x05, 9.2.3.24.3 / .4), and any other element kept raw.
//!
//! A [`Udh`] is always well formed: [`Udh::parse`] checks every element's length and the
//! concatenation numbers, so iterating it cannot fail.

use core::fmt;

use crate::error::UdhError;

/// Octets a header built with [`Udh::from_ies`] can hold (a 16-bit concatenation and a
/// 16-bit port element take 12).
pub const BUILT_CAPACITY: usize = 32;
/// The longest header TS 23.040 allows: TP-UD is 140 octets, one of them the length.
pub const MAX_UDH: usize = 139;

/// IEI of concatenation with an 8-bit reference.
pub const IEI_CONCAT_8: u8 = 0x00;
/// IEI of application ports with 8-bit addresses.
pub const IEI_PORTS_8: u8 = 0x04;
/// IEI of application ports with 16-bit addresses.
pub const IEI_PORTS_16: u8 = 0x05;
/// IEI of concatenation with a 16-bit reference.
pub const IEI_CONCAT_16: u8 = 0x08;

/// One part of a concatenated message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Concat {
    /// The reference shared by all parts.
    pub reference: u16,
    /// Whether the reference is 16-bit (IEI 0x08) rather than 8-bit (IEI 0x00).
    pub ref16: bool,
    /// The number of parts, 1–255.
    pub total: u8,
    /// This part's number, 1–`total`.
    pub seq: u8,
}

/// Application port addressing (e.g. WAP push to port 2948).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ports {
    /// Destination port.
    pub destination: u16,
    /// Originator port.
    pub source: u16,
    /// Whether the ports are 16-bit (IEI 0x05) rather than 8-bit (IEI 0x04).
    pub wide: bool,
}

/// An information element.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ie<'a> {
    /// Concatenation (IEI 0x00 or 0x08).
    Concat(Concat),
    /// Application ports (IEI 0x04 or 0x05).
    Ports(Ports),
    /// Any other element, raw.
    Other {
        /// Its identifier.
        iei: u8,
        /// Its data.
        data: &'a [u8],
    },
}

impl Ie<'_> {
    /// The element's identifier.
    pub const fn iei(&self) -> u8 {
        match self {
            Ie::Concat(c) if c.ref16 => IEI_CONCAT_16,
            Ie::Concat(_) => IEI_CONCAT_8,
            Ie::Ports(p) if p.wide => IEI_PORTS_16,
            Ie::Ports(_) => IEI_PORTS_8,
            Ie::Other { iei, .. } => *iei,
        }
    }

    /// Octets of the element: identifier, length and data.
    pub const fn encoded_len(&self) -> usize {
        2 + match self {
            Ie::Concat(c) if c.ref16 => 4,
            Ie::Concat(_) => 3,
            Ie::Ports(p) if p.wide => 4,
            Ie::Ports(_) => 2,
            Ie::Other { data, .. } => data.len(),
        }
    }

    fn write(&self, out: &mut [u8]) -> Result<usize, UdhError> {
        let mut data = [0u8; 4];
        let body: &[u8] = match *self {
            Ie::Concat(c) => {
                check_concat(c.seq, c.total)?;
                let [hi, lo] = c.reference.to_be_bytes();
                if c.ref16 {
                    data = [hi, lo, c.total, c.seq];
                    &data
                } else {
                    data[..3].copy_from_slice(&[lo, c.total, c.seq]);
                    &data[..3]
                }
            }
            Ie::Ports(p) => {
                let [dh, dl] = p.destination.to_be_bytes();
                let [sh, sl] = p.source.to_be_bytes();
                if p.wide {
                    data = [dh, dl, sh, sl];
                    &data
                } else {
                    data[..2].copy_from_slice(&[dl, sl]);
                    &data[..2]
                }
            }
            Ie::Other { data, .. } => data,
        };
        let needed = 2 + body.len();
        let length = u8::try_from(body.len()).map_err(|_| UdhError::TooLong {
            needed,
            max: MAX_UDH,
        })?;
        let max = out.len();
        let dst = out
            .get_mut(..needed)
            .ok_or(UdhError::TooLong { needed, max })?;
        if let [iei, len, rest @ ..] = dst {
            *iei = self.iei();
            *len = length;
            rest.copy_from_slice(body);
        }
        Ok(needed)
    }
}

const fn check_concat(seq: u8, total: u8) -> Result<(), UdhError> {
    if total == 0 || seq == 0 || seq > total {
        Err(UdhError::BadConcat { seq, total })
    } else {
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum Repr<'a> {
    Raw(&'a [u8]),
    Built { buf: [u8; BUILT_CAPACITY], len: u8 },
}

/// A well-formed user-data header: the information elements, without the UDHL octet.
#[derive(Clone, Copy)]
pub struct Udh<'a> {
    repr: Repr<'a>,
}

impl<'a> Udh<'a> {
    /// Checks the elements in `ies` (the octets after UDHL) and borrows them.
    pub fn parse(ies: &'a [u8]) -> Result<Udh<'a>, UdhError> {
        if ies.len() > MAX_UDH {
            return Err(UdhError::TooLong {
                needed: ies.len(),
                max: MAX_UDH,
            });
        }
        let mut offset = 0;
        while offset < ies.len() {
            let rest = ies.get(offset..).unwrap_or(&[]);
            let [iei, length, data @ ..] = rest else {
                return Err(UdhError::IeTruncated { offset });
            };
            let data = data
                .get(..usize::from(*length))
                .ok_or(UdhError::IeOverflow {
                    iei: *iei,
                    length: *length,
                    remaining: rest.len() - 2,
                })?;
            decode_ie(*iei, data)?;
            offset += 2 + data.len();
        }
        Ok(Udh {
            repr: Repr::Raw(ies),
        })
    }

    /// The element octets (without UDHL).
    pub fn as_bytes(&self) -> &[u8] {
        match &self.repr {
            Repr::Raw(b) => b,
            Repr::Built { buf, len } => buf.get(..usize::from(*len)).unwrap_or(&[]),
        }
    }

    /// UDHL: octets of the elements.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the header has no elements (a UDHL of 0 is legal, if odd).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Octets the header takes in TP-UD, UDHL included.
    pub fn encoded_len(&self) -> usize {
        1 + self.len()
    }

    /// The elements in order.
    pub fn ies(&self) -> Ies<'_> {
        Ies {
            rest: self.as_bytes(),
        }
    }

    /// The first concatenation element, if any.
    pub fn concat(&self) -> Option<Concat> {
        self.ies().find_map(|ie| match ie {
            Ie::Concat(c) => Some(c),
            _ => None,
        })
    }

    /// The first application-port element, if any.
    pub fn ports(&self) -> Option<Ports> {
        self.ies().find_map(|ie| match ie {
            Ie::Ports(p) => Some(p),
            _ => None,
        })
    }

    /// Writes UDHL and the elements; returns the octets written.
    pub fn write(&self, out: &mut [u8]) -> Result<usize, UdhError> {
        let bytes = self.as_bytes();
        let needed = 1 + bytes.len();
        let max = out.len();
        let dst = out
            .get_mut(..needed)
            .ok_or(UdhError::TooLong { needed, max })?;
        if let [udhl, rest @ ..] = dst {
            *udhl = bytes.len() as u8;
            rest.copy_from_slice(bytes);
        }
        Ok(needed)
    }
}

impl Udh<'static> {
    /// Builds a header from elements into an owned buffer of [`BUILT_CAPACITY`] octets.
    pub fn from_ies(ies: &[Ie<'_>]) -> Result<Udh<'static>, UdhError> {
        let mut buf = [0u8; BUILT_CAPACITY];
        let needed: usize = ies.iter().map(Ie::encoded_len).sum();
        if needed > BUILT_CAPACITY {
            return Err(UdhError::TooLong {
                needed,
                max: BUILT_CAPACITY,
            });
        }
        let mut at = 0;
        for ie in ies {
            at += ie.write(buf.get_mut(at..).unwrap_or(&mut []))?;
        }
        Ok(Udh {
            repr: Repr::Built { buf, len: at as u8 },
        })
    }

    /// A header holding only a concatenation element.
    pub fn for_concat(c: Concat) -> Result<Udh<'static>, UdhError> {
        Udh::from_ies(&[Ie::Concat(c)])
    }
}

fn decode_ie(iei: u8, data: &[u8]) -> Result<Ie<'_>, UdhError> {
    let bad_len = |expected| UdhError::BadIeLength {
        iei,
        length: data.len() as u8,
        expected,
    };
    Ok(match iei {
        IEI_CONCAT_8 => {
            let [reference, total, seq] = *data else {
                return Err(bad_len(3));
            };
            check_concat(seq, total)?;
            Ie::Concat(Concat {
                reference: u16::from(reference),
                ref16: false,
                total,
                seq,
            })
        }
        IEI_CONCAT_16 => {
            let [hi, lo, total, seq] = *data else {
                return Err(bad_len(4));
            };
            check_concat(seq, total)?;
            Ie::Concat(Concat {
                reference: u16::from_be_bytes([hi, lo]),
                ref16: true,
                total,
                seq,
            })
        }
        IEI_PORTS_8 => {
            let [destination, source] = *data else {
                return Err(bad_len(2));
            };
            Ie::Ports(Ports {
                destination: u16::from(destination),
                source: u16::from(source),
                wide: false,
            })
        }
        IEI_PORTS_16 => {
            let [dh, dl, sh, sl] = *data else {
                return Err(bad_len(4));
            };
            Ie::Ports(Ports {
                destination: u16::from_be_bytes([dh, dl]),
                source: u16::from_be_bytes([sh, sl]),
                wide: true,
            })
        }
        _ => Ie::Other { iei, data },
    })
}

/// The elements of a [`Udh`].
#[derive(Clone, Debug)]
pub struct Ies<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Ies<'a> {
    type Item = Ie<'a>;

    fn next(&mut self) -> Option<Ie<'a>> {
        let [iei, length, rest @ ..] = self.rest else {
            return None;
        };
        let len = usize::from(*length);
        let (data, after) = (rest.get(..len)?, rest.get(len..)?);
        self.rest = after;
        // A `Udh` is checked when built, so this does not fail; stop rather than panic.
        decode_ie(*iei, data).ok()
    }
}

impl PartialEq for Udh<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Udh<'_> {}

impl fmt::Debug for Udh<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.ies()).finish()
    }
}

impl fmt::Display for Ie<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ie::Concat(c) => write!(
                f,
                "concatenation part {} of {}, {}-bit reference {}",
                c.seq,
                c.total,
                if c.ref16 { 16 } else { 8 },
                c.reference
            ),
            Ie::Ports(p) => write!(
                f,
                "application ports {}-bit, destination {}, source {}",
                if p.wide { 16 } else { 8 },
                p.destination,
                p.source
            ),
            Ie::Other { iei, data } => {
                write!(f, "IE 0x{iei:02X} [")?;
                crate::hex::write(data, f)?;
                f.write_str("]")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;
    use std::string::String;
    use std::vec::Vec;

    fn check(ies: &[u8], expect: &str) {
        let got = match Udh::parse(ies) {
            Ok(u) => u
                .ies()
                .map(|ie| format!("{ie}"))
                .collect::<Vec<String>>()
                .join("; "),
            Err(e) => format!("error: {e}"),
        };
        assert_eq!(got, expect);
    }

    #[test]
    fn parses_elements() {
        check(
            &[0x00, 0x03, 0xAB, 0x02, 0x01],
            "concatenation part 1 of 2, 8-bit reference 171",
        );
        check(
            &[0x08, 0x04, 0x12, 0x34, 0x03, 0x03],
            "concatenation part 3 of 3, 16-bit reference 4660",
        );
        check(
            &[
                0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0, 0x00, 0x03, 0x01, 0x02, 0x02,
            ],
            "application ports 16-bit, destination 2948, source 9200; \
             concatenation part 2 of 2, 8-bit reference 1",
        );
        check(
            &[0x04, 0x02, 0x10, 0x20],
            "application ports 8-bit, destination 16, source 32",
        );
        check(&[0x24, 0x01, 0x01, 0x70, 0x00], "IE 0x24 [01]; IE 0x70 []");
        check(&[], "");
    }

    #[test]
    fn rejects_malformed() {
        check(
            &[0x00, 0x03, 0x01, 0x02],
            "error: bad UDH: IE 0x00 claims 3 octets, 2 remain in the header",
        );
        check(
            &[0x00],
            "error: bad UDH: information element at offset 0 is cut off",
        );
        check(
            &[0x00, 0x02, 0x01, 0x02],
            "error: bad UDH: IE 0x00 has length 2, TS 23.040 defines 3",
        );
        check(
            &[0x00, 0x03, 0x01, 0x02, 0x00],
            "error: bad UDH: concatenation part 0 of 2 (parts count from 1 to the total)",
        );
        check(
            &[0x00, 0x03, 0x01, 0x02, 0x03],
            "error: bad UDH: concatenation part 3 of 2 (parts count from 1 to the total)",
        );
        check(
            &[0x08, 0x04, 0x01, 0x02, 0x00, 0x00],
            "error: bad UDH: concatenation part 0 of 0 (parts count from 1 to the total)",
        );
        check(
            &[0x05, 0x02, 0x01, 0x02],
            "error: bad UDH: IE 0x05 has length 2, TS 23.040 defines 4",
        );
    }

    #[test]
    fn builds_elements() {
        let c = Concat {
            reference: 0x1234,
            ref16: true,
            total: 2,
            seq: 1,
        };
        let p = Ports {
            destination: 2948,
            source: 9200,
            wide: true,
        };
        let udh = Udh::from_ies(&[Ie::Concat(c), Ie::Ports(p)]).unwrap();
        assert_eq!(
            udh.as_bytes(),
            &[
                0x08, 0x04, 0x12, 0x34, 0x02, 0x01, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0
            ]
        );
        assert_eq!((udh.concat(), udh.ports()), (Some(c), Some(p)));
        assert_eq!(Udh::parse(udh.as_bytes()), Ok(udh));
        let bad = Concat { seq: 3, ..c };
        assert_eq!(
            Udh::for_concat(bad),
            Err(UdhError::BadConcat { seq: 3, total: 2 })
        );
        let big = [0u8; 40];
        assert_eq!(
            Udh::from_ies(&[Ie::Other {
                iei: 0x70,
                data: &big
            }]),
            Err(UdhError::TooLong {
                needed: 42,
                max: BUILT_CAPACITY
            })
        );
    }
}
