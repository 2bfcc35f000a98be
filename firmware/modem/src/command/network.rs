//! Network service commands, TS 27.007 chapter 7: registration (`+CREG`/`+CGREG`/`+CEREG`),
//! operator (`+COPS`) and signal quality (`+CSQ`).

use super::{AtCommand, EncodeError, ParseError, Response, int, query, set_ints, to_string};
use crate::digest::{RegKind, RegStat};

/// Operator name as the modem reports it.
pub type OperatorName = heapless::String<24>;

/// `AT+CREG?` / `AT+CGREG?` / `AT+CEREG?`: registration status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegQuery(pub RegKind);

impl RegQuery {
    fn name(self) -> &'static str {
        match self.0 {
            RegKind::Cs => "+CREG",
            RegKind::Gprs => "+CGREG",
            RegKind::Eps => "+CEREG",
        }
    }
}

impl AtCommand for RegQuery {
    type Response = RegStat;
    const TIMEOUT_MS: u32 = 2_000;
    const RETRIES: u8 = 1;

    fn encode<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], EncodeError> {
        query(buf, self.name())
    }

    /// `+CREG: <n>,<stat>[,<lac>,<ci>[,<AcT>]]` (7.2). A lone `<stat>` is accepted too.
    fn parse(&self, response: &Response<'_>) -> Result<RegStat, ParseError> {
        let mut ps = response.named(self.name().as_bytes())?;
        let first = int(ps.next())?;
        let stat = match ps.next() {
            Some(p) if !p.quoted && !p.is_empty() => p.int().ok_or(ParseError::Malformed)?,
            _ => first,
        };
        Ok(RegStat::from_code(stat))
    }
}

/// `AT+COPS=3,<format>`: choose how `+COPS?` names the operator (0 long alphanumeric,
/// 1 short, 2 numeric MCC/MNC), TS 27.007 7.3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CopsFormat(pub u8);

impl AtCommand for CopsFormat {
    type Response = ();
    const TIMEOUT_MS: u32 = 5_000;
    const RETRIES: u8 = 1;

    fn encode<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], EncodeError> {
        set_ints(buf, "+COPS", &[3, i32::from(self.0)])
    }

    fn parse(&self, _: &Response<'_>) -> Result<(), ParseError> {
        Ok(())
    }
}

/// The answer of `AT+COPS?`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operator {
    /// 0 automatic, 1 manual, 2 deregistered, 4 manual/automatic.
    pub mode: u8,
    /// The operator, if registered.
    pub name: Option<OperatorName>,
    /// Access technology (0 GSM, 2 UTRAN, 7 E-UTRAN…), if given.
    pub act: Option<u8>,
}

/// `AT+COPS?`: the current operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CopsQuery;

impl AtCommand for CopsQuery {
    type Response = Operator;
    const TIMEOUT_MS: u32 = 10_000;
    const RETRIES: u8 = 1;

    fn encode<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], EncodeError> {
        query(buf, "+COPS")
    }

    /// `+COPS: <mode>[,<format>,<oper>[,<AcT>]]`.
    fn parse(&self, response: &Response<'_>) -> Result<Operator, ParseError> {
        let mut ps = response.named(b"+COPS")?;
        let mode = u8::try_from(int(ps.next())?).map_err(|_| ParseError::Malformed)?;
        let _format = ps.next();
        let name = ps
            .next()
            .filter(|p| !p.text.is_empty())
            .map(|p| to_string(p.text));
        let act = ps
            .next()
            .and_then(|p| p.int())
            .and_then(|a| u8::try_from(a).ok());
        Ok(Operator { mode, name, act })
    }
}

/// Signal quality from `+CSQ` (TS 27.007 8.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Signal {
    /// 0..=31 (−113 dBm … −51 dBm), 99 unknown.
    pub rssi: u8,
    /// Bit error rate class 0..=7, 99 unknown.
    pub ber: u8,
}

impl Signal {
    /// Received power in dBm, if known.
    pub fn dbm(self) -> Option<i16> {
        (self.rssi <= 31).then(|| -113 + 2 * i16::from(self.rssi))
    }
}

/// `AT+CSQ`: signal quality.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Csq;

impl AtCommand for Csq {
    type Response = Signal;
    const TIMEOUT_MS: u32 = 2_000;
    const RETRIES: u8 = 1;

    fn encode<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], EncodeError> {
        super::execute(buf, "+CSQ")
    }

    /// `+CSQ: <rssi>,<ber>`.
    fn parse(&self, response: &Response<'_>) -> Result<Signal, ParseError> {
        let mut ps = response.named(b"+CSQ")?;
        let rssi = u8::try_from(int(ps.next())?).map_err(|_| ParseError::Malformed)?;
        let ber = u8::try_from(int(ps.next())?).map_err(|_| ParseError::Malformed)?;
        Ok(Signal { rssi, ber })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{line, parse};
    use super::*;

    #[test]
    fn lines_and_answers() {
        assert_eq!(line(&RegQuery(RegKind::Cs)), "AT+CREG?\r");
        assert_eq!(line(&RegQuery(RegKind::Eps)), "AT+CEREG?\r");
        assert_eq!(line(&CopsFormat(0)), "AT+COPS=3,0\r");
        assert_eq!(line(&CopsQuery), "AT+COPS?\r");
        assert_eq!(line(&Csq), "AT+CSQ\r");

        let creg = RegQuery(RegKind::Cs);
        assert_eq!(
            parse(&creg, "+CREG: 2,1,\"1A2B\",\"0C3D\""),
            Ok(RegStat::Home)
        );
        assert_eq!(parse(&creg, "+CREG: 0,5"), Ok(RegStat::Roaming));
        assert_eq!(parse(&creg, "+CREG: 0,3"), Ok(RegStat::Denied));
        assert_eq!(parse(&creg, "+CREG: 2"), Ok(RegStat::Searching));
        assert_eq!(parse(&creg, "+CEREG: 0,1"), Err(ParseError::Missing));
        assert_eq!(parse(&creg, "+CREG: x"), Err(ParseError::Malformed));
        let cereg = RegQuery(RegKind::Eps);
        assert_eq!(
            parse(&cereg, "+CEREG: 2,1,\"1A2B\",\"01A2B3C\",7"),
            Ok(RegStat::Home)
        );

        let op = parse(&CopsQuery, "+COPS: 0,0,\"SimNet\",7").unwrap();
        assert_eq!(op.mode, 0);
        assert_eq!(op.name.as_deref(), Some("SimNet"));
        assert_eq!(op.act, Some(7));
        let op = parse(&CopsQuery, "+COPS: 0").unwrap();
        assert_eq!(op.name, None);
        assert_eq!(parse(&Csq, "+CSQ: 21,0"), Ok(Signal { rssi: 21, ber: 0 }));
        assert_eq!(parse(&Csq, "+CSQ: 21"), Err(ParseError::Missing));
        assert_eq!(
            parse(&Csq, "+CSQ: 9999999999,0"),
            Err(ParseError::Malformed)
        );
        assert_eq!(Signal { rssi: 21, ber: 0 }.dbm(), Some(-71));
        assert_eq!(Signal { rssi: 99, ber: 99 }.dbm(), None);
    }
}
