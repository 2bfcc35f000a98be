//! The grammar of one information line: `+NAME: <param>,<param>,...` (ITU-T V.250 5.7.1,
//! 3GPP TS 27.007 4.1), split into a name and typed parameters without allocation.
//!
//! Written here rather than taken from `at-commands`' `CommandParser` because response lines
//! have a variable number of parameters (`+CREG: 1` vs `+CREG: 2,1,"1A2B","0C3D",7`), and
//! because its integer parser overflows (a panic with overflow checks on) on ten-digit numbers;
//! every integer here is parsed with a digit limit and checked arithmetic.

/// Splits `+NAME: rest` (or `^NAME:rest`, `*NAME:`, `$NAME:`) into `(b"+NAME", rest)`.
///
/// The name is the prefix character plus letters, digits, `_` and `-`; it must be followed
/// directly by `:`. `rest` has its leading spaces removed. Anything else is `None`.
pub fn split_name(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&first, tail) = line.split_first()?;
    if !matches!(first, b'+' | b'^' | b'*' | b'$' | b'#' | b'%') {
        return None;
    }
    let len = tail
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_' || **b == b'-')
        .count();
    if len == 0 {
        return None;
    }
    let name = line.get(..=len)?;
    let after = line.get(len + 1..)?;
    let rest = after.strip_prefix(b":")?;
    Some((name, trim_start(rest)))
}

fn trim_start(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|b| **b == b' ').count();
    s.get(n..).unwrap_or_default()
}

/// One parameter of an information line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param<'a> {
    /// The text, without surrounding quotes and spaces.
    pub text: &'a [u8],
    /// Whether it was a quoted string.
    pub quoted: bool,
}

impl<'a> Param<'a> {
    /// Parses an unquoted decimal integer of at most nine digits.
    pub fn int(&self) -> Option<u32> {
        if self.quoted {
            return None;
        }
        parse_u32(self.text)
    }

    /// Whether the parameter was left out (`1,,39`).
    pub fn is_empty(&self) -> bool {
        self.text.is_empty() && !self.quoted
    }

    /// The text as UTF-8, if it is.
    pub fn str(&self) -> Option<&'a str> {
        core::str::from_utf8(self.text).ok()
    }
}

/// Parses a decimal integer of one to nine digits (so it always fits a `u32`).
pub fn parse_u32(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 9 {
        return None;
    }
    s.iter().try_fold(0u32, |acc, &b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u32::from(b - b'0'))
        } else {
            None
        }
    })
}

/// Iterator over the comma-separated parameters of the text after `+NAME:`.
///
/// Commas inside quotes do not split; an unterminated quote runs to the end of the line.
#[derive(Clone, Debug)]
pub struct Params<'a> {
    rest: Option<&'a [u8]>,
}

/// The parameters of `rest` (the part after `+NAME:`).
pub fn params(rest: &[u8]) -> Params<'_> {
    Params { rest: Some(rest) }
}

impl<'a> Iterator for Params<'a> {
    type Item = Param<'a>;

    fn next(&mut self) -> Option<Param<'a>> {
        let rest = trim_start(self.rest?);
        if let Some(inner) = rest.strip_prefix(b"\"") {
            let close = inner.iter().position(|b| *b == b'"');
            let (text, after) = match close {
                Some(i) => (
                    inner.get(..i).unwrap_or_default(),
                    inner.get(i + 1..).unwrap_or_default(),
                ),
                None => (inner, &b""[..]),
            };
            // Skip to the next comma after the closing quote (ignoring stray characters).
            self.rest = after
                .iter()
                .position(|b| *b == b',')
                .and_then(|i| after.get(i + 1..));
            return Some(Param { text, quoted: true });
        }
        let (text, next) = match rest.iter().position(|b| *b == b',') {
            Some(i) => (rest.get(..i).unwrap_or_default(), rest.get(i + 1..)),
            None => (rest, None),
        };
        self.rest = next;
        Some(Param {
            text: text.trim_ascii(),
            quoted: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;
    use std::vec::Vec;

    fn show(line: &[u8]) -> String {
        let Some((name, rest)) = split_name(line) else {
            return "-".into();
        };
        let ps: Vec<String> = params(rest)
            .map(|p| {
                let t = String::from_utf8_lossy(p.text);
                if p.quoted {
                    std::format!("\"{t}\"")
                } else {
                    t.into()
                }
            })
            .collect();
        std::format!("{} [{}]", String::from_utf8_lossy(name), ps.join("|"))
    }

    #[test]
    fn lines() {
        let cases: &[(&[u8], &str)] = &[
            (b"+CSQ: 21,0", "+CSQ [21|0]"),
            (b"+CSQ:21,0", "+CSQ [21|0]"),
            (b"+CMGR: 0,,39", "+CMGR [0||39]"),
            (b"+CMT: ,39", "+CMT [|39]"),
            (b"+CMT: \"\",39", "+CMT [\"\"|39]"),
            (
                b"+CREG: 2,1,\"1A2B\",\"0C3D\"",
                "+CREG [2|1|\"1A2B\"|\"0C3D\"]",
            ),
            (b"+COPS: 0,0,\"Sim,Net\",7", "+COPS [0|0|\"Sim,Net\"|7]"),
            (b"+COPS: 0,0,\"open", "+COPS [0|0|\"open\"]"),
            (b"^RSSI: 15", "^RSSI [15]"),
            (b"+CPIN: READY", "+CPIN [READY]"),
            (b"+CPIN: SIM PIN", "+CPIN [SIM PIN]"),
            (b"+CMTI: \"SM\",3", "+CMTI [\"SM\"|3]"),
            (
                b"+CPMS: \"SM\",0,30,\"SM\",0,30",
                "+CPMS [\"SM\"|0|30|\"SM\"|0|30]",
            ),
            (b"+X:", "+X []"),
            (b"OK", "-"),
            (b"+", "-"),
            (b"+:", "-"),
            (b"+CSQ 21", "-"),
            (b"RDY", "-"),
        ];
        for (line, want) in cases {
            assert_eq!(show(line), *want, "{}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn ints_never_overflow() {
        assert_eq!(parse_u32(b"123456789"), Some(123_456_789));
        assert_eq!(parse_u32(b"9999999999"), None);
        assert_eq!(parse_u32(b"-1"), None);
        assert_eq!(parse_u32(b""), None);
        let p = Param {
            text: b"12",
            quoted: true,
        };
        assert_eq!(p.int(), None);
    }
}
