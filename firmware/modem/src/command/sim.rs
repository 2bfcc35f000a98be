//! SIM commands: PIN state and entry (TS 27.007 8.3), IMSI (5.6) and the ICCID, which every
//! vendor reads with its own command (`+CCID` SIMCom, `+QCCID` Quectel, `^ICCID?` Huawei).

use super::{AtCommand, EncodeError, ParseError, Response, execute, query, to_string};
use crate::digest::SimState;
use crate::params::split_name;

/// IMSI text (15 digits).
pub type Imsi = heapless::String<16>;
/// ICCID text (19–20 digits, sometimes with a trailing `F`).
pub type Iccid = heapless::String<24>;

/// `AT+CPIN?`: is a password needed?
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpinQuery;

impl AtCommand for CpinQuery {
    type Response = SimState;
    // SIMCom documents 5 s for +CPIN?.
    const TIMEOUT_MS: u32 = 5_000;
    const RETRIES: u8 = 1;

    fn encode<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], EncodeError> {
        query(buf, "+CPIN")
    }

    fn parse(&self, response: &Response<'_>) -> Result<SimState, ParseError> {
        let line = response
            .lines()
            .filter_map(split_name)
            .find(|(n, _)| *n == b"+CPIN")
            .ok_or(ParseError::Missing)?;
        Ok(SimState::parse(line.1))
    }
}

/// `AT+CPIN="<pin>"`: enter the PIN. Never retried: three wrong entries lock the SIM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpinEnter<'p> {
    /// The PIN: 4 to 8 digits (anything else is refused before it reaches the modem).
    pub pin: &'p str,
}

impl AtCommand for CpinEnter<'_> {
    type Response = ();
    const TIMEOUT_MS: u32 = 5_000;
    const RETRIES: u8 = 0;

    fn encode<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], EncodeError> {
        if !(4..=8).contains(&self.pin.len()) || !self.pin.bytes().all(|b| b.is_ascii_digit()) {
            return Err(EncodeError);
        }
        at_commands::builder::CommandBuilder::create_set(buf, true)
            .named("+CPIN")
            .with_string_parameter(self.pin)
            .finish_with(b"\r")
            .map_err(|_| EncodeError)
    }

    fn parse(&self, _: &Response<'_>) -> Result<(), ParseError> {
        Ok(())
    }
}

/// `AT+CIMI`: the IMSI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cimi;

impl AtCommand for Cimi {
    type Response = Imsi;
    // SIMCom documents up to 20 s.
    const TIMEOUT_MS: u32 = 20_000;
    const RETRIES: u8 = 1;

    fn encode<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], EncodeError> {
        execute(buf, "+CIMI")
    }

    fn parse(&self, response: &Response<'_>) -> Result<Imsi, ParseError> {
        let line = response.first_text()?;
        if line.is_empty() || !line.iter().all(u8::is_ascii_digit) {
            return Err(ParseError::Malformed);
        }
        Ok(to_string(line))
    }
}

/// Which command reads the ICCID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IccidCommand {
    /// `AT+CCID` (SIMCom; the answer is bare digits or `+CCID: …`).
    Ccid,
    /// `AT+QCCID` (Quectel).
    Qccid,
    /// `AT^ICCID?` (Huawei).
    Huawei,
}

/// Reads the ICCID with the profile's command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadIccid(pub IccidCommand);

impl AtCommand for ReadIccid {
    type Response = Iccid;
    const TIMEOUT_MS: u32 = 2_000;
    const RETRIES: u8 = 1;

    fn encode<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], EncodeError> {
        match self.0 {
            IccidCommand::Ccid => execute(buf, "+CCID"),
            IccidCommand::Qccid => execute(buf, "+QCCID"),
            IccidCommand::Huawei => query(buf, "^ICCID"),
        }
    }

    fn parse(&self, response: &Response<'_>) -> Result<Iccid, ParseError> {
        let line = response.lines().next().ok_or(ParseError::Missing)?;
        let text = match split_name(line) {
            Some((_, rest)) => rest,
            None => line,
        };
        let text = text.trim_ascii();
        let text = text.strip_prefix(b"\"").unwrap_or(text);
        let text = text.strip_suffix(b"\"").unwrap_or(text);
        if text.is_empty() || !text.iter().all(u8::is_ascii_hexdigit) {
            return Err(ParseError::Malformed);
        }
        Ok(to_string(text))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{line, parse};
    use super::*;

    #[test]
    fn lines_and_answers() {
        assert_eq!(line(&CpinQuery), "AT+CPIN?\r");
        assert_eq!(line(&CpinEnter { pin: "1234" }), "AT+CPIN=\"1234\"\r");
        let mut buf = [0u8; 32];
        assert_eq!(
            CpinEnter { pin: "12\"4" }.encode(&mut buf),
            Err(EncodeError)
        );
        assert_eq!(CpinEnter { pin: "123" }.encode(&mut buf), Err(EncodeError));
        assert_eq!(line(&Cimi), "AT+CIMI\r");
        assert_eq!(line(&ReadIccid(IccidCommand::Ccid)), "AT+CCID\r");
        assert_eq!(line(&ReadIccid(IccidCommand::Qccid)), "AT+QCCID\r");
        assert_eq!(line(&ReadIccid(IccidCommand::Huawei)), "AT^ICCID?\r");

        assert_eq!(parse(&CpinQuery, "+CPIN: READY"), Ok(SimState::Ready));
        assert_eq!(
            parse(&CpinQuery, "+CPIN: SIM PIN"),
            Ok(SimState::PinRequired)
        );
        assert_eq!(
            parse(&CpinQuery, "+CPIN: SIM PUK"),
            Ok(SimState::PukRequired)
        );
        assert_eq!(
            parse(&CpinQuery, "+CPIN: PH-NET PIN"),
            Ok(SimState::OtherLock)
        );
        assert_eq!(parse(&CpinQuery, ""), Err(ParseError::Missing));
        assert_eq!(
            parse(&Cimi, "242011234567890").unwrap().as_str(),
            "242011234567890"
        );
        assert_eq!(parse(&Cimi, "ERRORISH"), Err(ParseError::Malformed));
        let iccid = ReadIccid(IccidCommand::Qccid);
        assert_eq!(
            parse(&iccid, "+QCCID: 89860318740214683012")
                .unwrap()
                .as_str(),
            "89860318740214683012"
        );
        let iccid = ReadIccid(IccidCommand::Ccid);
        assert_eq!(
            parse(&iccid, "8947080036201234567F").unwrap().as_str(),
            "8947080036201234567F"
        );
        let iccid = ReadIccid(IccidCommand::Huawei);
        assert_eq!(
            parse(&iccid, "^ICCID: \"98681031098310024233\"")
                .unwrap()
                .as_str(),
            "98681031098310024233"
        );
    }
}
