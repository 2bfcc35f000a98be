//! A readable, field-by-field dump of a PDU: what `outpost pdu decode` prints and what the
//! snapshot tests compare. One field per line, TS 23.040 names on the left.

use core::fmt;

use crate::address::Address;
use crate::tpdu::{Deliver, Pdu, ReportQualifier, StatusReport, Submit, Tpdu};
use crate::ud::UserData;

/// Displays a [`Pdu`] (with SCA) or a bare [`Tpdu`] field by field.
#[derive(Clone, Copy, Debug)]
pub struct Dump<'p, 'a> {
    sca: Option<Option<&'p Address>>,
    tpdu: &'p Tpdu<'a>,
}

impl<'p, 'a> Dump<'p, 'a> {
    /// Dumps a PDU with its SCA.
    pub fn new(pdu: &'p Pdu<'a>) -> Self {
        Dump {
            sca: Some(pdu.sca.as_ref()),
            tpdu: &pdu.tpdu,
        }
    }

    /// Dumps a TPDU without SCA.
    pub fn tpdu(tpdu: &'p Tpdu<'a>) -> Self {
        Dump { sca: None, tpdu }
    }
}

fn line(f: &mut fmt::Formatter<'_>, name: &str, value: impl fmt::Display) -> fmt::Result {
    writeln!(f, "{name:<12} {value}")
}

struct AddressDump<'a>(&'a Address);

impl fmt::Display for AddressDump<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}, {})", self.0, self.0.ton, self.0.npi)
    }
}

struct Flag(bool);

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0 { "1" } else { "0" })
    }
}

impl fmt::Display for Dump<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.sca {
            Some(Some(a)) => line(f, "SCA", AddressDump(a))?,
            Some(None) => line(f, "SCA", "(none: the modem's default)")?,
            None => {}
        }
        let t = self.tpdu.message_type();
        line(
            f,
            "type",
            format_args!(
                "{t} ({}), TPDU {} octets",
                t.direction(),
                self.tpdu.encoded_len()
            ),
        )?;
        match self.tpdu {
            Tpdu::Deliver(d) => deliver(f, d),
            Tpdu::Submit(s) => submit(f, s),
            Tpdu::StatusReport(r) => status_report(f, r),
        }
    }
}

fn deliver(f: &mut fmt::Formatter<'_>, d: &Deliver<'_>) -> fmt::Result {
    line(
        f,
        "first octet",
        format_args!(
            "0x{:02X}: TP-MMS={} ({}), TP-LP={}, TP-SRI={}, TP-UDHI={}, TP-RP={}",
            d.first_octet(),
            Flag(!d.more_messages),
            if d.more_messages {
                "more messages waiting"
            } else {
                "no more messages"
            },
            Flag(d.loop_prevention),
            Flag(d.status_report_indication),
            Flag(d.user_data.udh().is_some()),
            Flag(d.reply_path)
        ),
    )?;
    line(f, "TP-OA", AddressDump(&d.originator))?;
    line(f, "TP-PID", d.pid)?;
    line(f, "TP-DCS", d.dcs)?;
    line(f, "TP-SCTS", d.sc_timestamp)?;
    user_data(f, &d.user_data)
}

fn submit(f: &mut fmt::Formatter<'_>, s: &Submit<'_>) -> fmt::Result {
    line(
        f,
        "first octet",
        format_args!(
            "0x{:02X}: TP-RD={}, TP-VPF={:02b}, TP-SRR={}, TP-UDHI={}, TP-RP={}",
            s.first_octet(),
            Flag(s.reject_duplicates),
            s.validity.vpf(),
            Flag(s.status_report_request),
            Flag(s.user_data.udh().is_some()),
            Flag(s.reply_path)
        ),
    )?;
    line(f, "TP-MR", s.message_ref)?;
    line(f, "TP-DA", AddressDump(&s.destination))?;
    line(f, "TP-PID", s.pid)?;
    line(f, "TP-DCS", s.dcs)?;
    line(f, "TP-VP", s.validity)?;
    user_data(f, &s.user_data)
}

fn status_report(f: &mut fmt::Formatter<'_>, r: &StatusReport<'_>) -> fmt::Result {
    line(
        f,
        "first octet",
        format_args!(
            "0x{:02X}: TP-MMS={} ({}), TP-LP={}, TP-SRQ={} ({}), TP-UDHI={}",
            r.first_octet(),
            Flag(!r.more_messages),
            if r.more_messages {
                "more messages waiting"
            } else {
                "no more messages"
            },
            Flag(r.loop_prevention),
            Flag(r.qualifier == ReportQualifier::Command),
            match r.qualifier {
                ReportQualifier::Submit => "reports an SMS-SUBMIT",
                ReportQualifier::Command => "reports an SMS-COMMAND",
            },
            Flag(r.user_data.is_some_and(|u| u.udh().is_some()))
        ),
    )?;
    line(f, "TP-MR", r.message_ref)?;
    line(f, "TP-RA", AddressDump(&r.recipient))?;
    line(f, "TP-SCTS", r.sc_timestamp)?;
    line(f, "TP-DT", r.discharge_time)?;
    line(f, "TP-ST", r.status)?;
    if let Some(pid) = r.pid {
        line(f, "TP-PID", pid)?;
    }
    if let Some(dcs) = r.dcs {
        line(f, "TP-DCS", dcs)?;
    }
    if let Some(ud) = &r.user_data {
        user_data(f, ud)?;
    }
    Ok(())
}

struct Quoted<'u, 'a>(&'u UserData<'a>);

impl fmt::Display for Quoted<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        if let Ok(chars) = self.0.chars() {
            for c in chars {
                for e in c.escape_debug() {
                    fmt::Write::write_char(f, e)?;
                }
            }
        }
        f.write_str("\"")
    }
}

fn user_data(f: &mut fmt::Formatter<'_>, ud: &UserData<'_>) -> fmt::Result {
    let septets = ud.alphabet() == crate::dcs::Alphabet::Gsm7 && !ud.is_compressed();
    line(
        f,
        "TP-UDL",
        format_args!(
            "{} {}",
            ud.udl(),
            if septets { "septets" } else { "octets" }
        ),
    )?;
    if let Some(udh) = ud.udh() {
        line(f, "UDH", format_args!("{} octets", udh.len()))?;
        for ie in udh.ies() {
            line(f, "  IE", ie)?;
        }
    }
    match ud.text() {
        Ok(_) => line(f, "text", Quoted(ud)),
        Err(e) => line(
            f,
            "data",
            format_args!("{} ({e})", crate::hex::Hex(ud.octets_body().unwrap_or(&[]))),
        ),
    }
}
