//! The TPDUs (TS 23.040 9.2.2): SMS-DELIVER and SMS-STATUS-REPORT (SC→MS), SMS-SUBMIT
//! (MS→SC), each decoded and encoded; and the SCA prefix that `AT+CMGR`, `+CMT` and
//! `+CMGL` put before a TPDU and `AT+CMGS` takes (TS 27.005 3.1 `<pdu>`).
//!
//! TP-MTI alone does not say which TPDU it is: `00` is SMS-DELIVER from the SC but
//! SMS-DELIVER-REPORT from the MS. Decoding therefore takes a [`Direction`].

use core::fmt;

use crate::address::Address;
use crate::dcs::{Alphabet, Dcs, MessageClass};
use crate::error::{DecodeError, EncodeError, Field};
use crate::pid::Pid;
use crate::status::StatusCode;
use crate::time::{EnhancedValidity, RelativeValidity, Timestamp, Validity};
use crate::ud::UserData;

/// Which way a TPDU travels (TS 23.040 9.2.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the service centre to the mobile: SMS-DELIVER, SMS-STATUS-REPORT,
    /// SMS-SUBMIT-REPORT. What a modem reports in `+CMT`, `+CDS`, `+CMGR`.
    ScToMs,
    /// From the mobile to the service centre: SMS-SUBMIT, SMS-COMMAND, SMS-DELIVER-REPORT.
    /// What `AT+CMGS` sends.
    MsToSc,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::ScToMs => "SC→MS",
            Direction::MsToSc => "MS→SC",
        })
    }
}

/// The six TPDU types of TS 23.040 9.2.3.1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// SMS-DELIVER (SC→MS, MTI 00).
    Deliver,
    /// SMS-DELIVER-REPORT (MS→SC, MTI 00).
    DeliverReport,
    /// SMS-SUBMIT (MS→SC, MTI 01).
    Submit,
    /// SMS-SUBMIT-REPORT (SC→MS, MTI 01).
    SubmitReport,
    /// SMS-STATUS-REPORT (SC→MS, MTI 10).
    StatusReport,
    /// SMS-COMMAND (MS→SC, MTI 10).
    Command,
}

impl MessageType {
    /// The type a TP-MTI value means in a direction; `None` for the reserved `11`.
    pub const fn from_mti(mti: u8, direction: Direction) -> Option<MessageType> {
        Some(match (mti & 0x03, direction) {
            (0, Direction::ScToMs) => MessageType::Deliver,
            (0, Direction::MsToSc) => MessageType::DeliverReport,
            (1, Direction::ScToMs) => MessageType::SubmitReport,
            (1, Direction::MsToSc) => MessageType::Submit,
            (2, Direction::ScToMs) => MessageType::StatusReport,
            (2, Direction::MsToSc) => MessageType::Command,
            _ => return None,
        })
    }

    /// The TP-MTI value.
    pub const fn mti(self) -> u8 {
        match self {
            MessageType::Deliver | MessageType::DeliverReport => 0,
            MessageType::Submit | MessageType::SubmitReport => 1,
            MessageType::StatusReport | MessageType::Command => 2,
        }
    }

    /// The direction the type travels in.
    pub const fn direction(self) -> Direction {
        match self {
            MessageType::Deliver | MessageType::SubmitReport | MessageType::StatusReport => {
                Direction::ScToMs
            }
            _ => Direction::MsToSc,
        }
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MessageType::Deliver => "SMS-DELIVER",
            MessageType::DeliverReport => "SMS-DELIVER-REPORT",
            MessageType::Submit => "SMS-SUBMIT",
            MessageType::SubmitReport => "SMS-SUBMIT-REPORT",
            MessageType::StatusReport => "SMS-STATUS-REPORT",
            MessageType::Command => "SMS-COMMAND",
        })
    }
}

/// An SMS-DELIVER (TS 23.040 9.2.2.1): a message from the SC to the handset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deliver<'a> {
    /// More messages are waiting in the SC (TP-MMS bit clear).
    pub more_messages: bool,
    /// TP-LP, loop prevention.
    pub loop_prevention: bool,
    /// TP-SRI: a status report will be returned to the originator.
    pub status_report_indication: bool,
    /// TP-RP: a reply path exists.
    pub reply_path: bool,
    /// TP-OA, the sender.
    pub originator: Address,
    /// TP-PID.
    pub pid: Pid,
    /// TP-DCS.
    pub dcs: Dcs,
    /// TP-SCTS, when the SC received the message.
    pub sc_timestamp: Timestamp,
    /// TP-UD (TP-UDHI follows from whether it has a header).
    pub user_data: UserData<'a>,
}

/// An SMS-SUBMIT (TS 23.040 9.2.2.2): a message from the handset to the SC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submit<'a> {
    /// TP-RD: the SC should reject a duplicate (same TP-MR and TP-DA).
    pub reject_duplicates: bool,
    /// TP-SRR: a status report is requested.
    pub status_report_request: bool,
    /// TP-RP: a reply path is requested.
    pub reply_path: bool,
    /// TP-MR; modems assign their own in `AT+CMGS` and report it in `+CMGS: <mr>`.
    pub message_ref: u8,
    /// TP-DA, the recipient.
    pub destination: Address,
    /// TP-PID.
    pub pid: Pid,
    /// TP-DCS; its alphabet must match the user data's.
    pub dcs: Dcs,
    /// TP-VP with its format TP-VPF.
    pub validity: Validity,
    /// TP-UD.
    pub user_data: UserData<'a>,
}

/// What an SMS-STATUS-REPORT reports on (TP-SRQ, TS 23.040 9.2.3.26).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReportQualifier {
    /// The result of an SMS-SUBMIT.
    Submit,
    /// The result of an SMS-COMMAND.
    Command,
}

/// An SMS-STATUS-REPORT (TS 23.040 9.2.2.3): the fate of a submitted message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusReport<'a> {
    /// More messages are waiting in the SC (TP-MMS bit clear).
    pub more_messages: bool,
    /// TP-LP, loop prevention.
    pub loop_prevention: bool,
    /// TP-SRQ.
    pub qualifier: ReportQualifier,
    /// TP-MR of the SMS-SUBMIT this reports on.
    pub message_ref: u8,
    /// TP-RA, the recipient of that message.
    pub recipient: Address,
    /// TP-SCTS of that message.
    pub sc_timestamp: Timestamp,
    /// TP-DT, when the status was reached (e.g. delivered).
    pub discharge_time: Timestamp,
    /// TP-ST.
    pub status: StatusCode,
    /// TP-PID, if TP-PI announces it.
    pub pid: Option<Pid>,
    /// TP-DCS, if TP-PI announces it.
    pub dcs: Option<Dcs>,
    /// TP-UD, if TP-PI announces TP-UDL.
    pub user_data: Option<UserData<'a>>,
}

/// A decoded or to-be-encoded TPDU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tpdu<'a> {
    /// SMS-DELIVER.
    Deliver(Deliver<'a>),
    /// SMS-SUBMIT.
    Submit(Submit<'a>),
    /// SMS-STATUS-REPORT.
    StatusReport(StatusReport<'a>),
}

/// A PDU as `AT+CMGS` takes it and `+CMGR`/`+CMT`/`+CMGL` print it: SCA, then TPDU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pdu<'a> {
    /// The service centre; `None` is the `00` that means "the one set in the modem".
    pub sca: Option<Address>,
    /// The TPDU.
    pub tpdu: Tpdu<'a>,
}

/// Lengths of an encoded PDU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Encoded {
    /// Octets written, SCA included.
    pub len: usize,
    /// Octets of the TPDU alone: the `<length>` of `AT+CMGS=<length>` (TS 27.005 3.5.1).
    pub tpdu_len: usize,
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn rest(&self) -> &'a [u8] {
        self.data.get(self.pos..).unwrap_or(&[])
    }

    fn take(&mut self, n: usize, field: Field) -> Result<&'a [u8], DecodeError> {
        let rest = self.rest();
        let got = rest.get(..n).ok_or(DecodeError::Truncated {
            field,
            needed: n,
            remaining: rest.len(),
        })?;
        self.pos += n;
        Ok(got)
    }

    fn u8(&mut self, field: Field) -> Result<u8, DecodeError> {
        match self.take(1, field)? {
            [b] => Ok(*b),
            _ => Err(DecodeError::Truncated {
                field,
                needed: 1,
                remaining: 0,
            }),
        }
    }

    fn address(&mut self, field: Field) -> Result<Address, DecodeError> {
        let (a, n) = Address::decode(self.rest(), field)?;
        self.pos += n;
        Ok(a)
    }

    fn timestamp(&mut self, field: Field) -> Result<Timestamp, DecodeError> {
        Timestamp::decode(self.take(Timestamp::LEN, field)?, field)
    }

    fn user_data(&mut self, dcs: Dcs, udhi: bool) -> Result<UserData<'a>, DecodeError> {
        let udl = self.u8(Field::Udl)?;
        let (ud, n) = UserData::decode_tp(self.rest(), udl, dcs, udhi)?;
        self.pos += n;
        Ok(ud)
    }

    fn finish(&self) -> Result<(), DecodeError> {
        match self.rest().len() {
            0 => Ok(()),
            count => Err(DecodeError::TrailingOctets { count }),
        }
    }
}

struct Writer<'a> {
    out: &'a mut [u8],
    pos: usize,
}

impl Writer<'_> {
    fn rest(&mut self) -> &mut [u8] {
        self.out.get_mut(self.pos..).unwrap_or(&mut [])
    }

    fn u8(&mut self, b: u8) {
        if let Some(slot) = self.out.get_mut(self.pos) {
            *slot = b;
        }
        self.pos += 1;
    }

    fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.u8(b);
        }
    }

    fn with(
        &mut self,
        f: impl FnOnce(&mut [u8]) -> Result<usize, EncodeError>,
    ) -> Result<(), EncodeError> {
        let n = f(self.rest())?;
        self.pos += n;
        Ok(())
    }
}

/// Checks the buffer once, so the writers below cannot run out of it.
fn prepare(out: &mut [u8], needed: usize) -> Result<Writer<'_>, EncodeError> {
    let available = out.len();
    let out = out
        .get_mut(..needed)
        .ok_or(EncodeError::BufferTooSmall { needed, available })?;
    Ok(Writer { out, pos: 0 })
}

const fn bit(flag: bool, mask: u8) -> u8 {
    if flag { mask } else { 0 }
}

/// Decodes a TPDU (no SCA prefix) travelling in `direction`.
pub fn decode(tpdu: &[u8], direction: Direction) -> Result<Tpdu<'_>, DecodeError> {
    let first = *tpdu.first().ok_or(DecodeError::Truncated {
        field: Field::FirstOctet,
        needed: 1,
        remaining: 0,
    })?;
    match MessageType::from_mti(first, direction) {
        Some(MessageType::Deliver) => Deliver::decode(tpdu).map(Tpdu::Deliver),
        Some(MessageType::Submit) => Submit::decode(tpdu).map(Tpdu::Submit),
        Some(MessageType::StatusReport) => StatusReport::decode(tpdu).map(Tpdu::StatusReport),
        Some(other) => Err(DecodeError::UnsupportedMessageType(other)),
        None => Err(DecodeError::ReservedMessageType { direction }),
    }
}

/// Splits a PDU into its SCA and the TPDU octets after it, without decoding the TPDU: what a
/// modem (or the simulator) checks `AT+CMGS=<length>` against (TS 27.005 3.5.1: the length
/// counts the TPDU only).
pub fn split_sca(pdu: &[u8]) -> Result<(Option<Address>, &[u8]), DecodeError> {
    let (sca, n) = Address::decode_sca(pdu)?;
    Ok((sca, pdu.get(n..).unwrap_or(&[])))
}

/// Decodes a PDU with its SCA prefix, as `AT+CMGR`, `+CMT` and `+CMGL` print it.
pub fn decode_with_sca(pdu: &[u8], direction: Direction) -> Result<Pdu<'_>, DecodeError> {
    let (sca, n) = Address::decode_sca(pdu)?;
    let tpdu = decode(pdu.get(n..).unwrap_or(&[]), direction)?;
    Ok(Pdu { sca, tpdu })
}

impl<'a> Deliver<'a> {
    /// Decodes an SMS-DELIVER TPDU (TP-MTI is not checked: the caller chose the type).
    pub fn decode(tpdu: &'a [u8]) -> Result<Deliver<'a>, DecodeError> {
        let mut r = Reader { data: tpdu, pos: 0 };
        let first = r.u8(Field::FirstOctet)?;
        let originator = r.address(Field::Oa)?;
        let pid = Pid(r.u8(Field::Pid)?);
        let dcs = Dcs(r.u8(Field::Dcs)?);
        let sc_timestamp = r.timestamp(Field::Scts)?;
        let user_data = r.user_data(dcs, first & 0x40 != 0)?;
        r.finish()?;
        Ok(Deliver {
            more_messages: first & 0x04 == 0,
            loop_prevention: first & 0x08 != 0,
            status_report_indication: first & 0x20 != 0,
            reply_path: first & 0x80 != 0,
            originator,
            pid,
            dcs,
            sc_timestamp,
            user_data,
        })
    }

    /// The first octet: TP-MTI 00, TP-MMS, TP-LP, TP-SRI, TP-UDHI, TP-RP.
    pub fn first_octet(&self) -> u8 {
        bit(!self.more_messages, 0x04)
            | bit(self.loop_prevention, 0x08)
            | bit(self.status_report_indication, 0x20)
            | bit(self.user_data.udh().is_some(), 0x40)
            | bit(self.reply_path, 0x80)
    }

    /// Octets of the TPDU.
    pub fn encoded_len(&self) -> usize {
        1 + self.originator.encoded_len() + 2 + Timestamp::LEN + 1 + self.user_data.encoded_len()
    }

    /// Writes the TPDU; returns the octets written.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        check_dcs(self.dcs, &self.user_data)?;
        self.user_data.check_fits()?;
        let scts = self.sc_timestamp.encode()?;
        let mut w = prepare(out, self.encoded_len())?;
        w.u8(self.first_octet());
        w.with(|o| self.originator.encode(o))?;
        w.u8(self.pid.0);
        w.u8(self.dcs.0);
        w.bytes(&scts);
        w.u8(self.user_data.udl() as u8);
        w.with(|o| self.user_data.encode(o))?;
        Ok(w.pos)
    }
}

fn check_dcs(dcs: Dcs, ud: &UserData<'_>) -> Result<(), EncodeError> {
    if dcs.alphabet() != ud.alphabet() || dcs.compressed() != ud.is_compressed() {
        return Err(EncodeError::AlphabetMismatch);
    }
    Ok(())
}

impl<'a> Submit<'a> {
    /// A plain submit: TP-MR 0 (modems replace it), no status report, no validity period,
    /// PID 0, DCS from the user data's alphabet, no class.
    pub fn new(destination: Address, user_data: UserData<'a>) -> Submit<'a> {
        Submit {
            reject_duplicates: false,
            status_report_request: false,
            reply_path: false,
            message_ref: 0,
            destination,
            pid: Pid(0),
            dcs: Dcs::new(user_data.alphabet(), None),
            validity: Validity::None,
            user_data,
        }
    }

    /// Sets the message class (class 0 is "flash"), keeping the alphabet.
    pub fn with_class(mut self, class: Option<MessageClass>) -> Submit<'a> {
        self.dcs = self.dcs.with_class(class);
        self
    }

    /// Requests a status report (TP-SRR).
    pub fn with_status_report(mut self, requested: bool) -> Submit<'a> {
        self.status_report_request = requested;
        self
    }

    /// Sets the validity period.
    pub fn with_validity(mut self, validity: Validity) -> Submit<'a> {
        self.validity = validity;
        self
    }

    /// Sets TP-MR.
    pub fn with_message_ref(mut self, mr: u8) -> Submit<'a> {
        self.message_ref = mr;
        self
    }

    /// Decodes an SMS-SUBMIT TPDU (TP-MTI is not checked: the caller chose the type).
    pub fn decode(tpdu: &'a [u8]) -> Result<Submit<'a>, DecodeError> {
        let mut r = Reader { data: tpdu, pos: 0 };
        let first = r.u8(Field::FirstOctet)?;
        let message_ref = r.u8(Field::Mr)?;
        let destination = r.address(Field::Da)?;
        let pid = Pid(r.u8(Field::Pid)?);
        let dcs = Dcs(r.u8(Field::Dcs)?);
        let validity = match (first >> 3) & 0x03 {
            0b00 => Validity::None,
            0b10 => Validity::Relative(RelativeValidity(r.u8(Field::Vp)?)),
            0b11 => Validity::Absolute(r.timestamp(Field::Vp)?),
            _ => {
                let raw = r.take(7, Field::Vp)?;
                let mut octets = [0u8; 7];
                octets.copy_from_slice(raw);
                Validity::Enhanced(EnhancedValidity::decode(octets)?)
            }
        };
        let user_data = r.user_data(dcs, first & 0x40 != 0)?;
        r.finish()?;
        Ok(Submit {
            reject_duplicates: first & 0x04 != 0,
            status_report_request: first & 0x20 != 0,
            reply_path: first & 0x80 != 0,
            message_ref,
            destination,
            pid,
            dcs,
            validity,
            user_data,
        })
    }

    /// The first octet: TP-MTI 01, TP-RD, TP-VPF, TP-SRR, TP-UDHI, TP-RP.
    pub fn first_octet(&self) -> u8 {
        0x01 | bit(self.reject_duplicates, 0x04)
            | (self.validity.vpf() << 3)
            | bit(self.status_report_request, 0x20)
            | bit(self.user_data.udh().is_some(), 0x40)
            | bit(self.reply_path, 0x80)
    }

    /// Octets of the TPDU.
    pub fn encoded_len(&self) -> usize {
        2 + self.destination.encoded_len()
            + 2
            + self.validity.encoded_len()
            + 1
            + self.user_data.encoded_len()
    }

    /// Writes the TPDU; returns the octets written (the `AT+CMGS` length).
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        check_dcs(self.dcs, &self.user_data)?;
        self.user_data.check_fits()?;
        let vp: ([u8; 7], usize) = match self.validity {
            Validity::None => ([0; 7], 0),
            Validity::Relative(r) => ([r.0, 0, 0, 0, 0, 0, 0], 1),
            Validity::Absolute(t) => (t.encode()?, 7),
            Validity::Enhanced(e) => (e.raw(), 7),
        };
        let mut w = prepare(out, self.encoded_len())?;
        w.u8(self.first_octet());
        w.u8(self.message_ref);
        w.with(|o| self.destination.encode(o))?;
        w.u8(self.pid.0);
        w.u8(self.dcs.0);
        w.bytes(vp.0.get(..vp.1).unwrap_or(&[]));
        w.u8(self.user_data.udl() as u8);
        w.with(|o| self.user_data.encode(o))?;
        Ok(w.pos)
    }

    /// Writes SCA and TPDU, as `AT+CMGS` takes it after the prompt.
    pub fn encode_with_sca(
        &self,
        sca: Option<&Address>,
        out: &mut [u8],
    ) -> Result<Encoded, EncodeError> {
        encode_with_sca(sca, out, self.encoded_len(), |o| self.encode(o))
    }
}

fn encode_with_sca(
    sca: Option<&Address>,
    out: &mut [u8],
    tpdu_len: usize,
    tpdu: impl FnOnce(&mut [u8]) -> Result<usize, EncodeError>,
) -> Result<Encoded, EncodeError> {
    let needed = Address::sca_encoded_len(sca) + tpdu_len;
    let available = out.len();
    let out = out
        .get_mut(..needed)
        .ok_or(EncodeError::BufferTooSmall { needed, available })?;
    let n = Address::encode_sca(sca, out)?;
    let tpdu_len = tpdu(out.get_mut(n..).unwrap_or(&mut []))?;
    Ok(Encoded {
        len: n + tpdu_len,
        tpdu_len,
    })
}

impl<'a> StatusReport<'a> {
    /// Decodes an SMS-STATUS-REPORT TPDU (TP-MTI is not checked: the caller chose the type).
    pub fn decode(tpdu: &'a [u8]) -> Result<StatusReport<'a>, DecodeError> {
        let mut r = Reader { data: tpdu, pos: 0 };
        let first = r.u8(Field::FirstOctet)?;
        let message_ref = r.u8(Field::Mr)?;
        let recipient = r.address(Field::Ra)?;
        let sc_timestamp = r.timestamp(Field::Scts)?;
        let discharge_time = r.timestamp(Field::Dt)?;
        let status = StatusCode(r.u8(Field::St)?);
        let (mut pid, mut dcs, mut user_data) = (None, None, None);
        if !r.rest().is_empty() {
            // TS 23.040 9.2.3.27: TP-PI, then the parameters it announces. Extension
            // octets (bit 7) carry nothing defined yet and are skipped.
            let mut pi = r.u8(Field::Pi)?;
            let flags = pi;
            while pi & 0x80 != 0 {
                pi = r.u8(Field::Pi)?;
            }
            if flags & 0x01 != 0 {
                pid = Some(Pid(r.u8(Field::Pid)?));
            }
            if flags & 0x02 != 0 {
                dcs = Some(Dcs(r.u8(Field::Dcs)?));
            }
            if flags & 0x04 != 0 {
                user_data = Some(r.user_data(dcs.unwrap_or_default(), first & 0x40 != 0)?);
            }
        }
        r.finish()?;
        Ok(StatusReport {
            more_messages: first & 0x04 == 0,
            loop_prevention: first & 0x08 != 0,
            qualifier: if first & 0x20 != 0 {
                ReportQualifier::Command
            } else {
                ReportQualifier::Submit
            },
            message_ref,
            recipient,
            sc_timestamp,
            discharge_time,
            status,
            pid,
            dcs,
            user_data,
        })
    }

    /// The first octet: TP-MTI 10, TP-MMS, TP-LP, TP-SRQ, TP-UDHI.
    pub fn first_octet(&self) -> u8 {
        0x02 | bit(!self.more_messages, 0x04)
            | bit(self.loop_prevention, 0x08)
            | bit(self.qualifier == ReportQualifier::Command, 0x20)
            | bit(self.user_data.is_some_and(|u| u.udh().is_some()), 0x40)
    }

    fn pi(&self) -> u8 {
        bit(self.pid.is_some(), 0x01)
            | bit(self.dcs.is_some(), 0x02)
            | bit(self.user_data.is_some(), 0x04)
    }

    /// Octets of the TPDU.
    pub fn encoded_len(&self) -> usize {
        let optional = if self.pi() == 0 {
            0
        } else {
            1 + usize::from(self.pid.is_some())
                + usize::from(self.dcs.is_some())
                + self.user_data.map_or(0, |u| 1 + u.encoded_len())
        };
        2 + self.recipient.encoded_len() + 2 * Timestamp::LEN + 1 + optional
    }

    /// Writes the TPDU; returns the octets written.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        if let Some(ud) = &self.user_data {
            check_dcs(self.dcs.unwrap_or_default(), ud)?;
            ud.check_fits()?;
        }
        let scts = self.sc_timestamp.encode()?;
        let dt = self.discharge_time.encode()?;
        let mut w = prepare(out, self.encoded_len())?;
        w.u8(self.first_octet());
        w.u8(self.message_ref);
        w.with(|o| self.recipient.encode(o))?;
        w.bytes(&scts);
        w.bytes(&dt);
        w.u8(self.status.0);
        if self.pi() != 0 {
            w.u8(self.pi());
            if let Some(pid) = self.pid {
                w.u8(pid.0);
            }
            if let Some(dcs) = self.dcs {
                w.u8(dcs.0);
            }
            if let Some(ud) = &self.user_data {
                w.u8(ud.udl() as u8);
                w.with(|o| ud.encode(o))?;
            }
        }
        Ok(w.pos)
    }
}

impl<'a> Tpdu<'a> {
    /// The TPDU's type.
    pub fn message_type(&self) -> MessageType {
        match self {
            Tpdu::Deliver(_) => MessageType::Deliver,
            Tpdu::Submit(_) => MessageType::Submit,
            Tpdu::StatusReport(_) => MessageType::StatusReport,
        }
    }

    /// The user data, if the TPDU has any.
    pub fn user_data(&self) -> Option<&UserData<'a>> {
        match self {
            Tpdu::Deliver(d) => Some(&d.user_data),
            Tpdu::Submit(s) => Some(&s.user_data),
            Tpdu::StatusReport(r) => r.user_data.as_ref(),
        }
    }

    /// Octets of the TPDU.
    pub fn encoded_len(&self) -> usize {
        match self {
            Tpdu::Deliver(d) => d.encoded_len(),
            Tpdu::Submit(s) => s.encoded_len(),
            Tpdu::StatusReport(r) => r.encoded_len(),
        }
    }

    /// Writes the TPDU; returns the octets written.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        match self {
            Tpdu::Deliver(d) => d.encode(out),
            Tpdu::Submit(s) => s.encode(out),
            Tpdu::StatusReport(r) => r.encode(out),
        }
    }
}

impl Pdu<'_> {
    /// Octets of SCA and TPDU.
    pub fn encoded_len(&self) -> usize {
        Address::sca_encoded_len(self.sca.as_ref()) + self.tpdu.encoded_len()
    }

    /// Writes SCA and TPDU.
    pub fn encode(&self, out: &mut [u8]) -> Result<Encoded, EncodeError> {
        encode_with_sca(self.sca.as_ref(), out, self.tpdu.encoded_len(), |o| {
            self.tpdu.encode(o)
        })
    }
}

impl Alphabet {
    /// The DCS of this alphabet without a class.
    pub const fn dcs(self) -> Dcs {
        Dcs::new(self, None)
    }
}
