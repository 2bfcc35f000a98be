//! Encoding choice and segment planning for a text (TS 23.040 9.2.3.24.1, TS 23.038 6.2):
//! GSM 7-bit when every character fits, else UCS-2; 160/153 septets or 70/67 UTF-16 units
//! per part with an 8-bit concatenation reference (152 and 66 with a 16-bit one); an
//! extension character is never split from its escape, a surrogate pair never split.
//!
//! The planner does not allocate: [`Plan`] holds the counts and borrows the text, and
//! [`Plan::segments`] yields each part as a sub-slice of it.

use core::fmt;

use crate::address::Address;
use crate::dcs::Alphabet;
use crate::error::EncodeError;
use crate::gsm7;
use crate::tpdu::Submit;
use crate::ud::{MAX_UD_OCTETS, MAX_UD_SEPTETS, UserData};
use crate::udh::{Concat, Udh};

/// The default maximum number of parts.
pub const DEFAULT_MAX_PARTS: u8 = 10;

/// The text encodings a plan can choose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// GSM 7-bit default alphabet with the extension table; units are septets.
    Gsm7,
    /// UCS-2 (UTF-16); units are UTF-16 code units.
    Ucs2,
}

impl Encoding {
    /// The TP-DCS alphabet.
    pub const fn alphabet(self) -> Alphabet {
        match self {
            Encoding::Gsm7 => Alphabet::Gsm7,
            Encoding::Ucs2 => Alphabet::Ucs2,
        }
    }

    /// Units one unsplit message holds: 160 septets or 70 UTF-16 units.
    pub const fn single_capacity(self) -> usize {
        match self {
            Encoding::Gsm7 => MAX_UD_SEPTETS,
            Encoding::Ucs2 => MAX_UD_OCTETS / 2,
        }
    }

    /// Units one part of a concatenated message holds: 153/67 with an 8-bit reference
    /// (6-octet header), 152/66 with a 16-bit one (7 octets).
    pub const fn part_capacity(self, ref16: bool) -> usize {
        let udhl = if ref16 { 6 } else { 5 };
        match self {
            Encoding::Gsm7 => MAX_UD_SEPTETS - gsm7::udh_septets(udhl),
            Encoding::Ucs2 => (MAX_UD_OCTETS - udhl - 1) / 2,
        }
    }

    fn char_units(self, c: char) -> usize {
        match self {
            Encoding::Gsm7 => gsm7::char_septets(c).unwrap_or(1),
            Encoding::Ucs2 => c.len_utf16(),
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.alphabet(), f)
    }
}

/// How to plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PlanOptions {
    /// The most parts allowed (1–255); more is [`EncodeError::TooManyParts`].
    pub max_parts: u8,
    /// Use 16-bit concatenation references (IEI 0x08), one unit less per part.
    pub ref16: bool,
    /// Force an encoding; `None` picks GSM 7-bit when every character fits, else UCS-2.
    pub encoding: Option<Encoding>,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            max_parts: DEFAULT_MAX_PARTS,
            ref16: false,
            encoding: None,
        }
    }
}

/// The segment plan of a text: the counts a send form shows ("2 parts, 23 characters left")
/// and, through [`Plan::segments`], the parts themselves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan<'a> {
    text: &'a str,
    ref16: bool,
    /// The chosen encoding.
    pub encoding: Encoding,
    /// Number of parts (1 for a short or empty text).
    pub parts: usize,
    /// Units a part holds: 160/70 for one part, 153/67 (152/66 with 16-bit references)
    /// for several.
    pub units_per_part: usize,
    /// Units used in the last part.
    pub used_in_last: usize,
    /// Units left in the last part: `units_per_part - used_in_last`.
    pub left_in_last: usize,
    /// Units of the whole text: septets (an extension character counts 2) or UTF-16 code
    /// units (an emoji counts 2).
    pub total_units: usize,
}

/// Plans `text`: picks the encoding and counts the parts. Fails on a character outside
/// GSM 7-bit when GSM 7-bit is forced, or when more than `max_parts` parts are needed.
pub fn plan<'a>(text: &'a str, options: &PlanOptions) -> Result<Plan<'a>, EncodeError> {
    let encoding = match options.encoding {
        Some(Encoding::Gsm7) => {
            gsm7::count_septets(text)?;
            Encoding::Gsm7
        }
        Some(Encoding::Ucs2) => Encoding::Ucs2,
        None if gsm7::count_septets(text).is_ok() => Encoding::Gsm7,
        None => Encoding::Ucs2,
    };
    let total_units: usize = text.chars().map(|c| encoding.char_units(c)).sum();
    let single = encoding.single_capacity();
    let (parts, per, used) = if total_units <= single {
        (1, single, total_units)
    } else {
        let per = encoding.part_capacity(options.ref16);
        let mut parts = 1;
        let mut used = 0;
        for c in text.chars() {
            let u = encoding.char_units(c);
            if used + u > per {
                parts += 1;
                used = 0;
            }
            used += u;
        }
        (parts, per, used)
    };
    if parts > usize::from(options.max_parts) {
        return Err(EncodeError::TooManyParts {
            needed: parts,
            max: options.max_parts,
        });
    }
    Ok(Plan {
        text,
        ref16: options.ref16,
        encoding,
        parts,
        units_per_part: per,
        used_in_last: used,
        left_in_last: per - used,
        total_units,
    })
}

impl<'a> Plan<'a> {
    /// The planned text.
    pub fn text(&self) -> &'a str {
        self.text
    }

    /// Whether the parts carry a concatenation header.
    pub fn is_concatenated(&self) -> bool {
        self.parts > 1
    }

    /// The parts in order. `reference` is the concatenation reference shared by the parts;
    /// with 8-bit references only its low byte is used.
    pub fn segments(&self, reference: u16) -> Segments<'a> {
        Segments {
            rest: self.text,
            encoding: self.encoding,
            per: self.units_per_part,
            total: self.parts as u8,
            seq: 0,
            reference: if self.ref16 {
                reference
            } else {
                reference & 0xFF
            },
            ref16: self.ref16,
            concatenated: self.is_concatenated(),
        }
    }
}

impl fmt::Display for Plan<'_> {
    /// `2 parts, GSM-7, 23 characters left` (characters are the encoding's units).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} part{}, {}, {} characters left",
            self.parts,
            if self.parts == 1 { "" } else { "s" },
            self.encoding,
            self.left_in_last
        )
    }
}

/// The parts of a [`Plan`].
#[derive(Clone, Debug)]
pub struct Segments<'a> {
    rest: &'a str,
    encoding: Encoding,
    per: usize,
    total: u8,
    seq: u8,
    reference: u16,
    ref16: bool,
    concatenated: bool,
}

impl<'a> Iterator for Segments<'a> {
    type Item = Segment<'a>;

    fn next(&mut self) -> Option<Segment<'a>> {
        if self.seq >= self.total {
            return None;
        }
        self.seq += 1;
        let mut units = 0;
        let mut end = self.rest.len();
        for (i, c) in self.rest.char_indices() {
            let u = self.encoding.char_units(c);
            if units + u > self.per {
                end = i;
                break;
            }
            units += u;
        }
        let (text, rest) = self.rest.split_at_checked(end).unwrap_or((self.rest, ""));
        self.rest = rest;
        Some(Segment {
            text,
            encoding: self.encoding,
            units,
            concat: self.concatenated.then_some(Concat {
                reference: self.reference,
                ref16: self.ref16,
                total: self.total,
                seq: self.seq,
            }),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::from(self.total - self.seq.min(self.total));
        (n, Some(n))
    }
}

impl ExactSizeIterator for Segments<'_> {}

/// One part of a planned text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment<'a> {
    /// The part's text, a sub-slice of the planned text.
    pub text: &'a str,
    /// The encoding.
    pub encoding: Encoding,
    /// Units of the text.
    pub units: usize,
    /// The concatenation element, if the text has several parts.
    pub concat: Option<Concat>,
}

impl<'a> Segment<'a> {
    /// The user-data header: the concatenation element, if any.
    pub fn udh(&self) -> Option<Udh<'static>> {
        self.concat.and_then(|c| Udh::for_concat(c).ok())
    }

    /// The part's user data, ready for [`Submit`] or [`UserData::encode_smpp`].
    pub fn user_data(&self) -> UserData<'a> {
        UserData::from_checked(self.text, self.encoding.alphabet(), self.units).with_udh(self.udh())
    }

    /// An SMS-SUBMIT carrying this part; adjust its fields before encoding.
    pub fn submit(&self, destination: Address) -> Submit<'a> {
        Submit::new(destination, self.user_data())
    }

    /// Writes the part as an SMPP `short_message`: header first, then septets one per octet
    /// (`data_coding` 0) or UCS-2 big-endian (`data_coding` 8). Set `esm_class` UDHI (0x40)
    /// when [`Segment::concat`] is `Some`.
    pub fn encode_smpp(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        self.user_data().encode_smpp(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;
    use std::string::String;
    use std::vec::Vec;

    fn check(text: &str, options: PlanOptions, expect: &str) {
        let got = match plan(text, &options) {
            Ok(p) => {
                let sizes: Vec<String> = p.segments(7).map(|s| format!("{}", s.units)).collect();
                format!("{p} [{}] total {}", sizes.join(" "), p.total_units)
            }
            Err(e) => format!("error: {e}"),
        };
        assert_eq!(got, expect, "{text:?}");
    }

    #[test]
    fn plans() {
        let o = PlanOptions::default();
        check("", o, "1 part, GSM-7, 160 characters left [0] total 0");
        check("hello", o, "1 part, GSM-7, 155 characters left [5] total 5");
        check(
            &"a".repeat(160),
            o,
            "1 part, GSM-7, 0 characters left [160] total 160",
        );
        check(
            &"a".repeat(161),
            o,
            "2 parts, GSM-7, 145 characters left [153 8] total 161",
        );
        check(
            &"€".repeat(80),
            o,
            "1 part, GSM-7, 0 characters left [160] total 160",
        );
        // 76 euros fill 152 septets; the 77th would split its escape, so it moves on.
        check(
            &"€".repeat(81),
            o,
            "2 parts, GSM-7, 143 characters left [152 10] total 162",
        );
        check(
            &"中".repeat(70),
            o,
            "1 part, UCS-2, 0 characters left [70] total 70",
        );
        check(
            &"中".repeat(71),
            o,
            "2 parts, UCS-2, 63 characters left [67 4] total 71",
        );
        // 33 emoji fill 66 units; the 34th pair would be split, so it moves on.
        check(
            &"😀".repeat(36),
            o,
            "2 parts, UCS-2, 61 characters left [66 6] total 72",
        );
        let r16 = PlanOptions { ref16: true, ..o };
        check(
            &"a".repeat(161),
            r16,
            "2 parts, GSM-7, 143 characters left [152 9] total 161",
        );
        check(
            &"中".repeat(71),
            r16,
            "2 parts, UCS-2, 61 characters left [66 5] total 71",
        );
        let max2 = PlanOptions { max_parts: 2, ..o };
        check(
            &"a".repeat(307),
            max2,
            "error: the text needs 3 parts, at most 2 allowed",
        );
        let gsm = PlanOptions {
            encoding: Some(Encoding::Gsm7),
            ..o
        };
        check(
            "a中",
            gsm,
            "error: '中' at position 1 is not in the GSM 7-bit alphabet",
        );
        let ucs = PlanOptions {
            encoding: Some(Encoding::Ucs2),
            ..o
        };
        check("abc", ucs, "1 part, UCS-2, 67 characters left [3] total 3");
    }

    #[test]
    fn segments_are_sub_slices_with_concat() {
        let text = "x".repeat(200);
        let p = plan(&text, &PlanOptions::default()).unwrap();
        let segs: Vec<Segment<'_>> = p.segments(0x1234).collect();
        assert_eq!(segs.len(), 2);
        assert_eq!(segs.iter().map(|s| s.text).collect::<String>(), text);
        assert_eq!(
            segs[1].concat,
            Some(Concat {
                reference: 0x34,
                ref16: false,
                total: 2,
                seq: 2
            })
        );
    }
}
