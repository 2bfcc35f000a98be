//! Commands as types: each knows how to write itself, how long the modem may take, whether it
//! is safe to repeat, and how to parse its answer.
//!
//! The chapters follow the specifications: [`general`] (V.250 and TS 27.007 chapter 5),
//! [`network`] (TS 27.007 chapter 7), [`sim`] (TS 27.007 8.3 and the ICCID commands of each vendor)
//! and [`sms`] (TS 27.005). Commands are written with `at-commands`' `CommandBuilder` and end with
//! a single `\r` (V.250 S3; every client in `reference/at-clients.md` does the same).
//!
//! A response is handed to [`AtCommand::parse`] as the information lines (and PDU lines) that
//! arrived before `OK`; error finals never reach `parse`.

use crate::params::{Param, params, split_name};

pub mod general;
pub mod network;
pub mod sim;
pub mod sms;

/// Why a command could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodeError;

impl core::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("command does not fit the buffer")
    }
}

impl core::error::Error for EncodeError {}

/// Why an `OK` response could not be understood.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// The expected information line was not there.
    Missing,
    /// It was there but did not follow the grammar.
    Malformed,
    /// The collected response was cut short (more lines than the runner buffers).
    Truncated,
}

impl core::fmt::Display for ParseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Missing => "expected information line missing",
            Self::Malformed => "malformed information line",
            Self::Truncated => "response truncated",
        })
    }
}

impl core::error::Error for ParseError {}

/// The lines of one response, in order, as collected by the runner.
#[derive(Clone, Copy, Debug)]
pub struct Response<'a> {
    buf: &'a [u8],
    truncated: bool,
}

impl<'a> Response<'a> {
    /// A response over `buf`, whose lines are separated by `\n` (no line contains one).
    pub fn new(buf: &'a [u8], truncated: bool) -> Self {
        Self { buf, truncated }
    }

    /// The lines.
    pub fn lines(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let buf = self.buf;
        buf.split(|b| *b == b'\n').filter(|l| !l.is_empty())
    }

    /// Whether lines were dropped because the buffer was full.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }

    /// The parameters of the first line named `name` (`+CSQ`).
    pub fn named(&self, name: &[u8]) -> Result<crate::params::Params<'a>, ParseError> {
        self.lines()
            .filter_map(split_name)
            .find(|(n, _)| *n == name)
            .map(|(_, rest)| params(rest))
            .ok_or(if self.truncated {
                ParseError::Truncated
            } else {
                ParseError::Missing
            })
    }

    /// The first line that is not named (`+X:`), e.g. the IMSI of `AT+CIMI`.
    pub fn first_text(&self) -> Result<&'a [u8], ParseError> {
        self.lines()
            .find(|l| split_name(l).is_none())
            .ok_or(ParseError::Missing)
    }
}

/// A fixed buffer that collects response lines for [`Response`].
#[derive(Debug)]
pub struct ResponseBuf<const N: usize> {
    buf: heapless::Vec<u8, N>,
    truncated: bool,
}

impl<const N: usize> Default for ResponseBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> ResponseBuf<N> {
    /// An empty buffer.
    pub const fn new() -> Self {
        Self {
            buf: heapless::Vec::new(),
            truncated: false,
        }
    }

    /// Empties it.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.truncated = false;
    }

    /// Appends a line; if it does not fit, the response is marked truncated.
    pub fn push(&mut self, line: &[u8]) {
        if self.truncated || self.buf.len() + line.len() + 1 > N {
            self.truncated = true;
            return;
        }
        // Cannot fail: the room was checked above.
        let _ = self.buf.extend_from_slice(line);
        let _ = self.buf.push(b'\n');
    }

    /// The collected response.
    pub fn response(&self) -> Response<'_> {
        Response::new(&self.buf, self.truncated)
    }
}

/// One AT command: how to write it, how long to wait, whether to retry, how to parse the answer.
pub trait AtCommand {
    /// What a successful answer means.
    type Response;
    /// How long the modem may take to send the final result code, in milliseconds.
    const TIMEOUT_MS: u32;
    /// How many times the runner may send it again after a timeout. Zero for anything that is
    /// not safe to repeat (a send, a PIN entry).
    const RETRIES: u8;

    /// Writes the command line, ending with `\r`, into `buf`.
    fn encode<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], EncodeError>;

    /// Parses the lines that came before `OK`.
    fn parse(&self, response: &Response<'_>) -> Result<Self::Response, ParseError>;
}

/// Builds `AT<name>\r` (execute form, e.g. `AT+CSQ`, `ATI`).
pub(crate) fn execute<'b>(buf: &'b mut [u8], name: &str) -> Result<&'b [u8], EncodeError> {
    at_commands::builder::CommandBuilder::create_execute(buf, true)
        .named(name)
        .finish_with(b"\r")
        .map_err(|_| EncodeError)
}

/// Builds `AT<name>?\r`.
pub(crate) fn query<'b>(buf: &'b mut [u8], name: &str) -> Result<&'b [u8], EncodeError> {
    at_commands::builder::CommandBuilder::create_query(buf, true)
        .named(name)
        .finish_with(b"\r")
        .map_err(|_| EncodeError)
}

/// Builds `AT<name>=<i>,<i>,…\r` from integers.
pub(crate) fn set_ints<'b>(
    buf: &'b mut [u8],
    name: &str,
    values: &[i32],
) -> Result<&'b [u8], EncodeError> {
    let mut b = at_commands::builder::CommandBuilder::create_set(buf, true).named(name);
    for v in values {
        b = b.with_int_parameter(*v);
    }
    b.finish_with(b"\r").map_err(|_| EncodeError)
}

/// Parses an unsigned integer parameter that must be present.
pub(crate) fn int(p: Option<Param<'_>>) -> Result<u32, ParseError> {
    p.ok_or(ParseError::Missing)?
        .int()
        .ok_or(ParseError::Malformed)
}

/// Copies text into a fixed string, cutting at a character boundary if it is too long.
pub(crate) fn to_string<const N: usize>(text: &[u8]) -> heapless::String<N> {
    let mut s = heapless::String::new();
    let text = core::str::from_utf8(text).unwrap_or_else(|e| {
        // The valid prefix; the rest is not text.
        core::str::from_utf8(text.get(..e.valid_up_to()).unwrap_or_default()).unwrap_or_default()
    });
    for c in text.chars() {
        if s.push(c).is_err() {
            break;
        }
    }
    s
}

/// A command with no parameters and no answer beyond `OK`, from a profile's init list
/// (`AT+CSCS="GSM"`). Retried once: every such command is a setting, safe to repeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Raw(pub &'static str);

impl AtCommand for Raw {
    type Response = ();
    const TIMEOUT_MS: u32 = 5_000;
    const RETRIES: u8 = 1;

    fn encode<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], EncodeError> {
        let text = self.0.as_bytes();
        let len = text.len() + 1;
        let out = buf.get_mut(..len).ok_or(EncodeError)?;
        let (body, cr) = out.split_at_mut(text.len());
        body.copy_from_slice(text);
        cr.copy_from_slice(b"\r");
        Ok(out)
    }

    fn parse(&self, _: &Response<'_>) -> Result<(), ParseError> {
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod test_util {
    //! Helpers for the chapter tests.
    use super::*;
    use std::string::String;

    /// The command line as text.
    pub(crate) fn line<C: AtCommand>(cmd: &C) -> String {
        let mut buf = [0u8; 128];
        let out = cmd.encode(&mut buf).expect("fits");
        String::from_utf8_lossy(out).into_owned()
    }

    /// Parses `lines` (joined by `\n`) as `cmd`'s answer.
    pub(crate) fn parse<C: AtCommand>(cmd: &C, lines: &str) -> Result<C::Response, ParseError> {
        let mut r: ResponseBuf<1024> = ResponseBuf::new();
        for l in lines.split('\n') {
            r.push(l.as_bytes());
        }
        cmd.parse(&r.response())
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::*;
    use super::*;

    #[test]
    fn raw_and_buffer() {
        assert_eq!(line(&Raw("AT+CSCS=\"GSM\"")), "AT+CSCS=\"GSM\"\r");
        let mut small = [0u8; 3];
        assert_eq!(Raw("AT+CSQ").encode(&mut small), Err(EncodeError));
        let mut r: ResponseBuf<8> = ResponseBuf::new();
        r.push(b"1234");
        r.push(b"5678");
        assert!(r.response().is_truncated());
        assert_eq!(r.response().lines().count(), 1);
        assert_eq!(to_string::<4>(b"abcdef").as_str(), "abcd");
        assert_eq!(to_string::<8>(b"ab\xffcd").as_str(), "ab");
    }
}
