//! SMS commands, TS 27.005 chapter 3 (PDU mode only): format, routing, storage, send, read,
//! list and delete.
//!
//! PDUs travel as bytes with their SCA prefix; the modem sees them as hex. Nothing here looks
//! inside a TPDU (that is `firmware/gsm`'s job).

use super::{AtCommand, EncodeError, ParseError, Response, int, query, set_ints, to_string};
use crate::digest::Mem;
use crate::hex;
use crate::params::{params, split_name};

/// Longest PDU with its SCA: 12 octets of SC address plus a 164-octet TPDU (TS 23.040 9.2.2).
pub const PDU_MAX: usize = 176;

/// A PDU as bytes (SCA prefix included).
pub type Pdu = heapless::Vec<u8, PDU_MAX>;

/// `AT+CMGF=<mode>`: 0 = PDU mode (3.2.3). We only speak PDU mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cmgf(pub u8);

impl AtCommand for Cmgf {
    type Response = ();
    const TIMEOUT_MS: u32 = 2_000;
    const RETRIES: u8 = 1;

    fn encode<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], EncodeError> {
        set_ints(buf, "+CMGF", &[i32::from(self.0)])
    }

    fn parse(&self, _: &Response<'_>) -> Result<(), ParseError> {
        Ok(())
    }
}

/// `AT+CNMI=<mode>,<mt>,<bm>,<ds>,<bfr>` (3.4.1) with the profile's parameter list, e.g.
/// `2,1,0,2,0` (store, announce with `+CMTI`/`+CDSI`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cnmi(pub &'static str);

impl AtCommand for Cnmi {
    type Response = ();
    const TIMEOUT_MS: u32 = 2_000;
    const RETRIES: u8 = 1;

    fn encode<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], EncodeError> {
        at_commands::builder::CommandBuilder::create_set(buf, true)
            .named("+CNMI")
            .with_raw_parameter(self.0)
            .finish_with(b"\r")
            .map_err(|_| EncodeError)
    }

    fn parse(&self, _: &Response<'_>) -> Result<(), ParseError> {
        Ok(())
    }
}

/// Used and total slots of the read/delete storage (`<used1>,<total1>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Usage {
    /// Messages stored.
    pub used: u16,
    /// Capacity.
    pub total: u16,
}

/// `AT+CPMS=<mem1>[,<mem2>[,<mem3>]]`: select storages for reading/deleting, writing/sending
/// and receiving (3.2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpmsSet {
    /// Read and delete.
    pub mem1: Mem,
    /// Write and send; `None` leaves it.
    pub mem2: Option<Mem>,
    /// Where received messages go; `None` leaves it.
    pub mem3: Option<Mem>,
}

impl AtCommand for CpmsSet {
    type Response = Usage;
    const TIMEOUT_MS: u32 = 5_000;
    const RETRIES: u8 = 1;

    fn encode<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], EncodeError> {
        let mut b = at_commands::builder::CommandBuilder::create_set(buf, true)
            .named("+CPMS")
            .with_string_parameter(self.mem1.as_str());
        if let Some(m) = self.mem2 {
            b = b.with_string_parameter(m.as_str());
            if let Some(m) = self.mem3 {
                b = b.with_string_parameter(m.as_str());
            }
        }
        b.finish_with(b"\r").map_err(|_| EncodeError)
    }

    /// `+CPMS: <used1>,<total1>,<used2>,<total2>,<used3>,<total3>`.
    fn parse(&self, response: &Response<'_>) -> Result<Usage, ParseError> {
        let mut ps = response.named(b"+CPMS")?;
        let used = u16::try_from(int(ps.next())?).map_err(|_| ParseError::Malformed)?;
        let total = u16::try_from(int(ps.next())?).map_err(|_| ParseError::Malformed)?;
        Ok(Usage { used, total })
    }
}

/// `AT+CPMS?`: the selected storages and their usage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpmsQuery;

impl AtCommand for CpmsQuery {
    type Response = (Mem, Usage);
    const TIMEOUT_MS: u32 = 5_000;
    const RETRIES: u8 = 1;

    fn encode<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], EncodeError> {
        query(buf, "+CPMS")
    }

    /// `+CPMS: <mem1>,<used1>,<total1>,…`: the read storage and its usage.
    fn parse(&self, response: &Response<'_>) -> Result<(Mem, Usage), ParseError> {
        let mut ps = response.named(b"+CPMS")?;
        let mem =
            Mem::parse(ps.next().ok_or(ParseError::Missing)?.text).ok_or(ParseError::Malformed)?;
        let used = u16::try_from(int(ps.next())?).map_err(|_| ParseError::Malformed)?;
        let total = u16::try_from(int(ps.next())?).map_err(|_| ParseError::Malformed)?;
        Ok((mem, Usage { used, total }))
    }
}

/// `AT+CSCA?`: the service centre address (3.3.1), for display; our PDUs carry their own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CscaQuery;

impl AtCommand for CscaQuery {
    type Response = heapless::String<24>;
    const TIMEOUT_MS: u32 = 5_000;
    const RETRIES: u8 = 1;

    fn encode<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], EncodeError> {
        query(buf, "+CSCA")
    }

    fn parse(&self, response: &Response<'_>) -> Result<Self::Response, ParseError> {
        let mut ps = response.named(b"+CSCA")?;
        Ok(to_string(ps.next().ok_or(ParseError::Missing)?.text))
    }
}

/// `AT+CMGS=<length>` (3.5.1), the first half of a send: `<length>` counts TPDU octets, without
/// the SCA. The runner then waits for `> `, writes the PDU in hex and Ctrl-Z, and parses the
/// answer `+CMGS: <mr>[,<scts>]` with this type. Never retried: a repeat could send twice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cmgs {
    /// TPDU length in octets.
    pub tpdu_len: u8,
}

impl Cmgs {
    /// How long to wait for the `> ` prompt.
    pub const PROMPT_TIMEOUT_MS: u32 = 5_000;
}

impl AtCommand for Cmgs {
    type Response = u8;
    // Real modems take 2–6 s; the network may take much longer. Profiles may override.
    const TIMEOUT_MS: u32 = 60_000;
    const RETRIES: u8 = 0;

    fn encode<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], EncodeError> {
        set_ints(buf, "+CMGS", &[i32::from(self.tpdu_len)])
    }

    /// `+CMGS: <mr>`: the TP-Message-Reference the network will quote in the status report.
    fn parse(&self, response: &Response<'_>) -> Result<u8, ParseError> {
        let mut ps = response.named(b"+CMGS")?;
        u8::try_from(int(ps.next())?).map_err(|_| ParseError::Malformed)
    }
}

/// A PDU read from storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredPdu {
    /// 0 received unread, 1 received read, 2 stored unsent, 3 stored sent.
    pub stat: u8,
    /// TPDU length in octets, as the modem reports it.
    pub tpdu_len: u16,
    /// The PDU, SCA included.
    pub pdu: Pdu,
}

/// `AT+CMGR=<index>`: read one message from `<mem1>` (3.4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cmgr(pub u16);

impl AtCommand for Cmgr {
    /// `None` for an empty slot (`OK` alone, or a zero length).
    type Response = Option<StoredPdu>;
    const TIMEOUT_MS: u32 = 5_000;
    const RETRIES: u8 = 1;

    fn encode<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], EncodeError> {
        set_ints(buf, "+CMGR", &[i32::from(self.0)])
    }

    /// `+CMGR: <stat>,[<alpha>],<length>` then the PDU line.
    fn parse(&self, response: &Response<'_>) -> Result<Self::Response, ParseError> {
        let mut lines = response.lines();
        let Some(header) = lines.next() else {
            return Ok(None);
        };
        let (name, rest) = split_name(header).ok_or(ParseError::Malformed)?;
        if name != b"+CMGR" {
            return Err(ParseError::Malformed);
        }
        let mut ps = params(rest);
        let stat = u8::try_from(int(ps.next())?).map_err(|_| ParseError::Malformed)?;
        let tpdu_len = ps
            .last()
            .and_then(|p| p.int())
            .ok_or(ParseError::Malformed)?;
        let tpdu_len = u16::try_from(tpdu_len).map_err(|_| ParseError::Malformed)?;
        if tpdu_len == 0 {
            return Ok(None);
        }
        let line = lines.next().ok_or(ParseError::Missing)?;
        let mut pdu = Pdu::new();
        hex::decode(line, &mut pdu).map_err(|_| ParseError::Malformed)?;
        Ok(Some(StoredPdu {
            stat,
            tpdu_len,
            pdu,
        }))
    }
}

/// One `+CMGL:` header (3.4.2): `<index>,<stat>,[<alpha>],<length>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListEntry {
    /// Storage index.
    pub index: u16,
    /// As for [`StoredPdu::stat`].
    pub stat: u8,
    /// TPDU length.
    pub tpdu_len: u16,
}

impl ListEntry {
    /// Parses an information line of `AT+CMGL`.
    pub fn parse(line: &[u8]) -> Result<Self, ParseError> {
        let (name, rest) = split_name(line).ok_or(ParseError::Malformed)?;
        if name != b"+CMGL" {
            return Err(ParseError::Malformed);
        }
        let mut ps = params(rest);
        let index = u16::try_from(int(ps.next())?).map_err(|_| ParseError::Malformed)?;
        let stat = u8::try_from(int(ps.next())?).map_err(|_| ParseError::Malformed)?;
        let tpdu_len = ps
            .last()
            .and_then(|p| p.int())
            .ok_or(ParseError::Malformed)?;
        let tpdu_len = u16::try_from(tpdu_len).map_err(|_| ParseError::Malformed)?;
        Ok(Self {
            index,
            stat,
            tpdu_len,
        })
    }
}

/// `AT+CMGL=<stat>`: list messages (3.4.2); 4 = all. The runner takes the entries as they
/// stream in (a full storage does not fit any buffer); `parse` counts them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cmgl(pub u8);

impl AtCommand for Cmgl {
    type Response = usize;
    // A full SIM takes a while to list.
    const TIMEOUT_MS: u32 = 30_000;
    const RETRIES: u8 = 1;

    fn encode<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], EncodeError> {
        set_ints(buf, "+CMGL", &[i32::from(self.0)])
    }

    fn parse(&self, response: &Response<'_>) -> Result<usize, ParseError> {
        let mut n = 0;
        for line in response.lines() {
            if split_name(line).is_some() {
                ListEntry::parse(line)?;
                n += 1;
            }
        }
        Ok(n)
    }
}

/// `AT+CMGD=<index>[,<delflag>]`: delete from `<mem1>` (3.5.4). Safe to repeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cmgd {
    /// Storage index.
    pub index: u16,
    /// `None`: just this one. Never used with a flag that deletes more than one message.
    pub flag: Option<u8>,
}

impl AtCommand for Cmgd {
    type Response = ();
    const TIMEOUT_MS: u32 = 5_000;
    const RETRIES: u8 = 1;

    fn encode<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], EncodeError> {
        match self.flag {
            Some(f) => set_ints(buf, "+CMGD", &[i32::from(self.index), i32::from(f)]),
            None => set_ints(buf, "+CMGD", &[i32::from(self.index)]),
        }
    }

    fn parse(&self, _: &Response<'_>) -> Result<(), ParseError> {
        Ok(())
    }
}

/// `AT+CNMA`: acknowledge a directly routed `+CMT`/`+CDS` when `+CSMS` service 1 is on (3.4.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cnma;

impl AtCommand for Cnma {
    type Response = ();
    const TIMEOUT_MS: u32 = 2_000;
    const RETRIES: u8 = 0;

    fn encode<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], EncodeError> {
        super::execute(buf, "+CNMA")
    }

    fn parse(&self, _: &Response<'_>) -> Result<(), ParseError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{line, parse};
    use super::*;

    #[test]
    fn lines() {
        assert_eq!(line(&Cmgf(0)), "AT+CMGF=0\r");
        assert_eq!(line(&Cnmi("2,1,0,2,0")), "AT+CNMI=2,1,0,2,0\r");
        let all = CpmsSet {
            mem1: Mem::Sm,
            mem2: Some(Mem::Sm),
            mem3: Some(Mem::Sm),
        };
        assert_eq!(line(&all), "AT+CPMS=\"SM\",\"SM\",\"SM\"\r");
        let one = CpmsSet {
            mem1: Mem::Me,
            mem2: None,
            mem3: None,
        };
        assert_eq!(line(&one), "AT+CPMS=\"ME\"\r");
        assert_eq!(line(&CpmsQuery), "AT+CPMS?\r");
        assert_eq!(line(&CscaQuery), "AT+CSCA?\r");
        assert_eq!(line(&Cmgs { tpdu_len: 27 }), "AT+CMGS=27\r");
        assert_eq!(line(&Cmgr(6)), "AT+CMGR=6\r");
        assert_eq!(line(&Cmgl(4)), "AT+CMGL=4\r");
        assert_eq!(
            line(&Cmgd {
                index: 6,
                flag: Some(0)
            }),
            "AT+CMGD=6,0\r"
        );
        assert_eq!(
            line(&Cmgd {
                index: 1,
                flag: None
            }),
            "AT+CMGD=1\r"
        );
        assert_eq!(line(&Cnma), "AT+CNMA\r");
    }

    #[test]
    fn answers() {
        let all = CpmsSet {
            mem1: Mem::Sm,
            mem2: Some(Mem::Sm),
            mem3: Some(Mem::Sm),
        };
        assert_eq!(
            parse(&all, "+CPMS: 1,30,1,30,1,30"),
            Ok(Usage { used: 1, total: 30 })
        );
        assert_eq!(
            parse(&CpmsQuery, "+CPMS: \"SM\",2,30,\"SM\",0,30,\"SM\",0,30"),
            Ok((Mem::Sm, Usage { used: 2, total: 30 }))
        );
        assert_eq!(
            parse(&CscaQuery, "+CSCA: \"+4790002100\",145")
                .unwrap()
                .as_str(),
            "+4790002100"
        );
        assert_eq!(parse(&Cmgs { tpdu_len: 27 }, "+CMGS: 12"), Ok(12));
        assert_eq!(
            parse(&Cmgs { tpdu_len: 27 }, "+CMGS: 12,\"24/01/01,12:00:00+04\""),
            Ok(12)
        );
        assert_eq!(
            parse(&Cmgs { tpdu_len: 27 }, "+CMGS: 300"),
            Err(ParseError::Malformed)
        );
        assert_eq!(parse(&Cmgs { tpdu_len: 27 }, ""), Err(ParseError::Missing));

        let got = parse(&Cmgr(1), "+CMGR: 0,,3\n0001AA").unwrap().unwrap();
        assert_eq!(got.stat, 0);
        assert_eq!(got.tpdu_len, 3);
        assert_eq!(got.pdu.as_slice(), &[0x00, 0x01, 0xaa]);
        assert_eq!(parse(&Cmgr(1), ""), Ok(None));
        assert_eq!(parse(&Cmgr(1), "+CMGR: 0,,0"), Ok(None));
        assert_eq!(parse(&Cmgr(1), "+CMGR: 0,,3"), Err(ParseError::Missing));
        assert_eq!(
            parse(&Cmgr(1), "+CMGR: 0,,3\n0G"),
            Err(ParseError::Malformed)
        );

        assert_eq!(
            ListEntry::parse(b"+CMGL: 1,0,,39"),
            Ok(ListEntry {
                index: 1,
                stat: 0,
                tpdu_len: 39
            })
        );
        assert_eq!(ListEntry::parse(b"+CMGL: 1"), Err(ParseError::Missing));
        assert_eq!(
            parse(&Cmgl(4), "+CMGL: 1,0,,39\n00AA\n+CMGL: 2,1,,24\n00BB"),
            Ok(2)
        );
    }
}
