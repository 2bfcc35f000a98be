//! Command-line syntax (ITU-T V.250 5.2–5.4, TS 27.007 4.1): what follows `AT` on a line,
//! split into basic commands (`E0`, `&F`, `Z`, `S0=0`) and extended ones (`+CMEE=1`), which may be
//! chained with `;` (`AT+CMEE=1;+CREG=2`, as smstools sends). Each extended command is an
//! action (`+CGMI`), a read (`+CREG?`), a test (`+CNMI=?`) or a set with parameters.
//!
//! Parameters are split at commas outside double quotes; quotes are kept so a handler can
//! tell `"SM"` from `SM` and strip them itself.

/// What to do with an extended command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// `+NAME`
    Exec,
    /// `+NAME?`
    Read,
    /// `+NAME=?`
    Test,
    /// `+NAME=<params>`
    Set(Vec<String>),
}

/// One command of a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cmd {
    /// A basic command: its name (`E`, `&F`, `S7`, `I`) upper-cased, and its number or
    /// `=value` / `?` as written (empty when none).
    Basic {
        /// Name.
        name: String,
        /// Number or `=value` / `?`.
        arg: String,
    },
    /// An extended command: its name with prefix (`+CMGS`, `^CURC`), upper-cased.
    Ext {
        /// Name.
        name: String,
        /// Operation.
        op: Op,
    },
}

/// A line that does not follow V.250 syntax (answered `ERROR`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyntaxError;

fn is_ext_prefix(c: char) -> bool {
    matches!(c, '+' | '^' | '$' | '*' | '%' | '#')
}

/// Splits `body` (the line after `AT`) into commands.
pub fn parse(body: &str) -> Result<Vec<Cmd>, SyntaxError> {
    let chars: Vec<char> = body.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        if c == ';' || c == ' ' {
            i += 1;
            continue;
        }
        if is_ext_prefix(c) {
            let mut name = String::from(c);
            i += 1;
            while let Some(&n) = chars.get(i) {
                if n.is_ascii_alphanumeric() || n == '_' || n == '.' {
                    name.push(n.to_ascii_uppercase());
                    i += 1;
                } else {
                    break;
                }
            }
            if name.len() < 2 {
                return Err(SyntaxError);
            }
            let op = match (chars.get(i), chars.get(i + 1)) {
                (Some('='), Some('?')) => {
                    i += 2;
                    Op::Test
                }
                (Some('?'), _) => {
                    i += 1;
                    Op::Read
                }
                (Some('='), _) => {
                    i += 1;
                    let start = i;
                    let mut quoted = false;
                    while let Some(&n) = chars.get(i) {
                        if n == '"' {
                            quoted = !quoted;
                        } else if n == ';' && !quoted {
                            break;
                        }
                        i += 1;
                    }
                    let raw: String = chars.get(start..i).unwrap_or_default().iter().collect();
                    Op::Set(split_params(&raw))
                }
                _ => Op::Exec,
            };
            out.push(Cmd::Ext { name, op });
            continue;
        }
        if c.is_ascii_alphabetic() || c == '&' {
            let mut name = String::new();
            if c == '&' {
                name.push('&');
                i += 1;
                let Some(&l) = chars.get(i).filter(|l| l.is_ascii_alphabetic()) else {
                    return Err(SyntaxError);
                };
                name.push(l.to_ascii_uppercase());
            } else {
                name.push(c.to_ascii_uppercase());
            }
            i += 1;
            let mut arg = String::new();
            if name == "S" {
                // S-parameters: Sn=value or Sn? (V.250 5.3.2).
                while let Some(&d) = chars.get(i).filter(|d| d.is_ascii_digit()) {
                    name.push(d);
                    i += 1;
                }
                match chars.get(i) {
                    Some('?') => {
                        arg.push('?');
                        i += 1;
                    }
                    Some('=') => {
                        arg.push('=');
                        i += 1;
                        while let Some(&d) = chars.get(i).filter(|d| d.is_ascii_digit()) {
                            arg.push(d);
                            i += 1;
                        }
                    }
                    _ => {}
                }
            } else {
                while let Some(&d) = chars.get(i).filter(|d| d.is_ascii_digit()) {
                    arg.push(d);
                    i += 1;
                }
            }
            out.push(Cmd::Basic { name, arg });
            continue;
        }
        return Err(SyntaxError);
    }
    Ok(out)
}

/// Splits parameters at commas outside quotes, trimming spaces.
pub fn split_params(raw: &str) -> Vec<String> {
    let mut params = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in raw.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' if !quoted => {
                params.push(cur.trim().to_owned());
                cur.clear();
            }
            _ => cur.push(c),
        }
    }
    params.push(cur.trim().to_owned());
    params
}

/// A parameter without its surrounding quotes.
pub fn unquote(p: &str) -> &str {
    p.strip_prefix('"')
        .and_then(|p| p.strip_suffix('"'))
        .unwrap_or(p)
}

/// A numeric parameter; an empty one is `None`.
pub fn num(p: Option<&String>) -> Result<Option<u32>, SyntaxError> {
    match p.map(|s| s.trim()) {
        None | Some("") => Ok(None),
        Some(s) => s.parse().map(Some).map_err(|_| SyntaxError),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(body: &str) -> String {
        match parse(body) {
            Err(SyntaxError) => "syntax error".into(),
            Ok(cmds) => cmds
                .iter()
                .map(|c| match c {
                    Cmd::Basic { name, arg } => format!("{name}[{arg}]"),
                    Cmd::Ext { name, op } => format!("{name} {op:?}"),
                })
                .collect::<Vec<_>>()
                .join(" | "),
        }
    }

    #[test]
    fn lines() {
        let cases = [
            ("", ""),
            ("E0", "E[0]"),
            ("E0V1&FZ", "E[0] | V[1] | &F[] | Z[]"),
            ("+CMEE=1;+CREG=2", "+CMEE Set([\"1\"]) | +CREG Set([\"2\"])"),
            ("+cpms?", "+CPMS Read"),
            ("+CNMI=?", "+CNMI Test"),
            (
                "+CPMS=\"SM\",\"ME\"",
                "+CPMS Set([\"\\\"SM\\\"\", \"\\\"ME\\\"\"])",
            ),
            ("+CMGS=\"+47;1\"", "+CMGS Set([\"\\\"+47;1\\\"\"])"),
            ("^CURC=0", "^CURC Set([\"0\"])"),
            ("$TSSPCSW=?", "$TSSPCSW Test"),
            ("S0=0", "S0[=0]"),
            ("S7?", "S7[?]"),
            ("+CGMI;", "+CGMI Exec"),
            ("+", "syntax error"),
            ("&", "syntax error"),
            ("!", "syntax error"),
            ("I", "I[]"),
        ];
        for (body, want) in cases {
            assert_eq!(show(body), want, "{body}");
        }
    }

    #[test]
    fn params() {
        assert_eq!(split_params("2,1,0,2,0"), ["2", "1", "0", "2", "0"]);
        assert_eq!(split_params(" \"a,b\" , 3"), ["\"a,b\"", "3"]);
        assert_eq!(unquote("\"SM\""), "SM");
        assert_eq!(unquote("SM"), "SM");
        assert_eq!(num(Some(&"12".to_string())), Ok(Some(12)));
        assert_eq!(num(Some(&"".to_string())), Ok(None));
        assert_eq!(num(None), Ok(None));
        assert!(num(Some(&"x".to_string())).is_err());
    }
}
