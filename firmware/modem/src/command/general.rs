//! General commands: V.250 basics (`AT`, `ATE`, `ATI`) and TS 27.007 chapter 5 (identification,
//! `+CMEE`, `+CFUN`).

use super::{
    AtCommand, EncodeError, ParseError, Response, execute, int, query, set_ints, to_string,
};
use crate::params::split_name;

/// Identification text (manufacturer, model, revision, IMEI).
pub type IdentText = heapless::String<64>;

/// `AT`: is anyone there? Used for the handshake, where SIMCom modems in autobaud mode need a
/// few of them before they lock onto the baud rate, so it is retried more than anything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct At;

impl AtCommand for At {
    type Response = ();
    const TIMEOUT_MS: u32 = 500;
    const RETRIES: u8 = 4;

    fn encode<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], EncodeError> {
        execute(buf, "")
    }

    fn parse(&self, _: &Response<'_>) -> Result<(), ParseError> {
        Ok(())
    }
}

/// `ATE<n>`: command echo (V.250 6.2.4). We send `ATE0`; the digester copes with either.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Echo(pub bool);

impl AtCommand for Echo {
    type Response = ();
    const TIMEOUT_MS: u32 = 1_000;
    const RETRIES: u8 = 1;

    fn encode<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], EncodeError> {
        execute(buf, if self.0 { "E1" } else { "E0" })
    }

    fn parse(&self, _: &Response<'_>) -> Result<(), ParseError> {
        Ok(())
    }
}

/// `AT+CMEE=<n>`: report errors as `+CME ERROR: <code>` (1) or verbose text (2), TS 27.007 9.1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cmee(pub u8);

impl AtCommand for Cmee {
    type Response = ();
    const TIMEOUT_MS: u32 = 1_000;
    const RETRIES: u8 = 1;

    fn encode<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], EncodeError> {
        set_ints(buf, "+CMEE", &[i32::from(self.0)])
    }

    fn parse(&self, _: &Response<'_>) -> Result<(), ParseError> {
        Ok(())
    }
}

/// The text of an identification answer: the first line, without a `+NAME:` prefix that some
/// firmware adds (`+CGMM: EC25`).
fn ident(response: &Response<'_>) -> Result<IdentText, ParseError> {
    let line = response.lines().next().ok_or(ParseError::Missing)?;
    let text = match split_name(line) {
        Some((_, rest)) => rest,
        None => line,
    };
    Ok(to_string(text.trim_ascii()))
}

macro_rules! ident_command {
    ($(#[$m:meta])* $name:ident, $at:literal, $timeout:literal) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct $name;

        impl AtCommand for $name {
            type Response = IdentText;
            const TIMEOUT_MS: u32 = $timeout;
            const RETRIES: u8 = 1;

            fn encode<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], EncodeError> {
                execute(buf, $at)
            }

            fn parse(&self, response: &Response<'_>) -> Result<IdentText, ParseError> {
                ident(response)
            }
        }
    };
}

ident_command!(
    /// `AT+CGMI`: manufacturer (TS 27.007 5.1).
    Cgmi, "+CGMI", 1_000
);
ident_command!(
    /// `AT+CGMM`: model (TS 27.007 5.2); the main input of profile detection.
    Cgmm, "+CGMM", 1_000
);
ident_command!(
    /// `AT+CGMR`: firmware revision (TS 27.007 5.3).
    Cgmr, "+CGMR", 1_000
);
ident_command!(
    /// `AT+CGSN`: IMEI (TS 27.007 5.4).
    Cgsn, "+CGSN", 1_000
);

/// `ATI`: product identification (V.250 6.1.3); all lines joined by spaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ati;

impl AtCommand for Ati {
    type Response = heapless::String<128>;
    const TIMEOUT_MS: u32 = 1_000;
    const RETRIES: u8 = 1;

    fn encode<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], EncodeError> {
        execute(buf, "I")
    }

    fn parse(&self, response: &Response<'_>) -> Result<Self::Response, ParseError> {
        let mut out = heapless::String::new();
        for line in response.lines() {
            let piece: heapless::String<128> = to_string(line);
            if !out.is_empty() && out.push(' ').is_err() {
                break;
            }
            if out.push_str(&piece).is_err() {
                break;
            }
        }
        Ok(out)
    }
}

/// `AT+CFUN=<fun>[,<rst>]`: functionality level (TS 27.007 8.2). `CfunSet { fun: 1, reset: true }`
/// restarts the modem, our soft reset when there is no PWRKEY to pulse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CfunSet {
    /// 0 minimum, 1 full, 4 flight mode.
    pub fun: u8,
    /// Reset the MT before setting it.
    pub reset: bool,
}

impl AtCommand for CfunSet {
    type Response = ();
    // SIMCom documents up to 10 s for +CFUN.
    const TIMEOUT_MS: u32 = 15_000;
    const RETRIES: u8 = 0;

    fn encode<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], EncodeError> {
        if self.reset {
            set_ints(buf, "+CFUN", &[i32::from(self.fun), 1])
        } else {
            set_ints(buf, "+CFUN", &[i32::from(self.fun)])
        }
    }

    fn parse(&self, _: &Response<'_>) -> Result<(), ParseError> {
        Ok(())
    }
}

/// `AT+CFUN?`: the current functionality level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CfunQuery;

impl AtCommand for CfunQuery {
    type Response = u8;
    const TIMEOUT_MS: u32 = 15_000;
    const RETRIES: u8 = 1;

    fn encode<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], EncodeError> {
        query(buf, "+CFUN")
    }

    fn parse(&self, response: &Response<'_>) -> Result<u8, ParseError> {
        let mut ps = response.named(b"+CFUN")?;
        u8::try_from(int(ps.next())?).map_err(|_| ParseError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{line, parse};
    use super::*;

    #[test]
    fn lines_and_answers() {
        assert_eq!(line(&At), "AT\r");
        assert_eq!(line(&Echo(false)), "ATE0\r");
        assert_eq!(line(&Cmee(1)), "AT+CMEE=1\r");
        assert_eq!(line(&Ati), "ATI\r");
        assert_eq!(line(&Cgmm), "AT+CGMM\r");
        assert_eq!(
            line(&CfunSet {
                fun: 1,
                reset: true
            }),
            "AT+CFUN=1,1\r"
        );
        assert_eq!(
            line(&CfunSet {
                fun: 0,
                reset: false
            }),
            "AT+CFUN=0\r"
        );
        assert_eq!(line(&CfunQuery), "AT+CFUN?\r");

        assert_eq!(
            parse(&Cgmm, "SIMCOM_SIM800").unwrap().as_str(),
            "SIMCOM_SIM800"
        );
        assert_eq!(parse(&Cgmm, "+CGMM: EC25").unwrap().as_str(), "EC25");
        assert_eq!(parse(&Cgmm, ""), Err(ParseError::Missing));
        assert_eq!(
            parse(&Ati, "Quectel\nEC25\nRevision: EC25EFAR06A06M4G")
                .unwrap()
                .as_str(),
            "Quectel EC25 Revision: EC25EFAR06A06M4G"
        );
        assert_eq!(parse(&CfunQuery, "+CFUN: 1"), Ok(1));
        assert_eq!(parse(&CfunQuery, "+CFUN: x"), Err(ParseError::Malformed));
    }
}
