//! The digester: a pure, sans-I/O classifier that turns the modem's byte stream into [`Item`]s.
//!
//! It keeps these invariants:
//! - Classification is by line grammar only (ITU-T V.250 5.7: a response line is
//!   `<CR><LF>text<CR><LF>`; extended results start with `+NAME:`), with exact matches for `OK`,
//!   `ERROR` and the boot banners. It never searches for a substring, so `+CMTI: "SM",1` arriving
//!   in the middle of a response is a URC, and a line such as `OKAY` is nothing but text.
//! - Input may be split at any byte: feeding a stream whole, byte by byte or in random chunks
//!   gives the same items (tested by proptest).
//! - Memory is fixed: one line buffer and one echo buffer of `N` bytes each. A longer line is
//!   reported once as [`Garbage::Overflow`] and skipped up to the next CR/LF.
//! - It never panics, whatever the bytes (fuzzed).
//!
//! The caller tells it about the command in flight ([`Digester::begin`]) so it can recognise the
//! echo (`ATE1`) and tell the command's own `+NAME:` information lines from unsolicited result
//! codes with a different name. After `+CMT: [<alpha>],<length>`, `+CDS: <length>` (TS 27.005
//! 3.4.1, PDU mode) and the `+CMGR:`/`+CMGL:` headers (3.4.3, 3.4.2) it expects the PDU line.

use heapless::Vec;

use crate::error::{CmeError, CmsError};
use crate::params::{Param, params, split_name};

/// Default line capacity. An SMS PDU line is at most 2 × (12 + 164) = 352 hex digits.
pub const LINE_CAP: usize = 512;

/// A final result code: the end of a command's response (V.250 5.7.1; TS 27.007 9.2; TS 27.005 3.2.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Final {
    /// `OK`
    Ok,
    /// `ERROR` (no extended code: `+CMEE=0`, or a syntax error)
    Error,
    /// `+CME ERROR: <err>`
    Cme(CmeError),
    /// `+CMS ERROR: <err>`
    Cms(CmsError),
}

/// SMS storage (TS 27.005 3.1 `<mem1>`…`<mem3>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mem {
    /// `"SM"`: the SIM.
    Sm,
    /// `"ME"`: the modem's own memory.
    Me,
    /// `"MT"`: SM and ME together (ME first on most modems).
    Mt,
    /// `"SR"`: status-report storage.
    Sr,
    /// `"BM"`: broadcast messages.
    Bm,
    /// `"TA"`: terminal adaptor.
    Ta,
}

impl Mem {
    /// Parses the storage name (without quotes).
    pub fn parse(s: &[u8]) -> Option<Self> {
        Some(match s {
            b"SM" => Self::Sm,
            b"ME" => Self::Me,
            b"MT" => Self::Mt,
            b"SR" => Self::Sr,
            b"BM" => Self::Bm,
            b"TA" => Self::Ta,
            _ => return None,
        })
    }

    /// The storage name as the modem spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sm => "SM",
            Self::Me => "ME",
            Self::Mt => "MT",
            Self::Sr => "SR",
            Self::Bm => "BM",
            Self::Ta => "TA",
        }
    }
}

/// Network registration status `<stat>` (TS 27.007 7.2 `+CREG`, 10.1.19 `+CEREG`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegStat {
    /// 0: not registered, not searching.
    NotSearching,
    /// 1: registered, home network.
    Home,
    /// 2: not registered, searching.
    Searching,
    /// 3: registration denied.
    Denied,
    /// 4: unknown (e.g. out of coverage).
    Unknown,
    /// 5: registered, roaming.
    Roaming,
    /// 6: registered for SMS only, home network (E-UTRAN).
    SmsOnlyHome,
    /// 7: registered for SMS only, roaming (E-UTRAN).
    SmsOnlyRoaming,
    /// 8: attached for emergency bearer services only.
    EmergencyOnly,
    /// Any other value.
    Other(u8),
}

impl RegStat {
    /// The status for a `<stat>` value.
    pub fn from_code(v: u32) -> Self {
        match v {
            0 => Self::NotSearching,
            1 => Self::Home,
            2 => Self::Searching,
            3 => Self::Denied,
            4 => Self::Unknown,
            5 => Self::Roaming,
            6 => Self::SmsOnlyHome,
            7 => Self::SmsOnlyRoaming,
            8 => Self::EmergencyOnly,
            other => Self::Other(u8::try_from(other).unwrap_or(u8::MAX)),
        }
    }

    /// Registered and able to send SMS (home, roaming, or SMS-only).
    pub fn is_registered(self) -> bool {
        matches!(
            self,
            Self::Home | Self::Roaming | Self::SmsOnlyHome | Self::SmsOnlyRoaming
        )
    }

    /// Registered on a visited network.
    pub fn is_roaming(self) -> bool {
        matches!(self, Self::Roaming | Self::SmsOnlyRoaming)
    }
}

/// Which registration a `+xREG` line reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegKind {
    /// `+CREG`: circuit-switched (GSM/UMTS).
    Cs,
    /// `+CGREG`: GPRS packet domain.
    Gprs,
    /// `+CEREG`: EPS (LTE).
    Eps,
}

/// SIM state from `+CPIN: <code>` (TS 27.007 8.3, plus the vendors' `NOT READY`/`NOT INSERTED`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimState {
    /// `READY`: no password pending.
    Ready,
    /// `SIM PIN`
    PinRequired,
    /// `SIM PUK`: too many wrong PINs.
    PukRequired,
    /// `SIM PIN2`, `SIM PUK2`, `PH-…` and the personalisation locks: nothing we can enter.
    OtherLock,
    /// `NOT READY` (Quectel, SIMCom): the SIM was pulled or is initialising.
    NotReady,
    /// `NOT INSERTED` (SIMCom).
    NotInserted,
    /// Anything else.
    Unknown,
}

impl SimState {
    /// Parses the text after `+CPIN:`.
    pub fn parse(rest: &[u8]) -> Self {
        match rest.trim_ascii() {
            b"READY" => Self::Ready,
            b"SIM PIN" => Self::PinRequired,
            b"SIM PUK" => Self::PukRequired,
            b"NOT READY" => Self::NotReady,
            b"NOT INSERTED" => Self::NotInserted,
            s if s.starts_with(b"PH") || s.starts_with(b"SIM P") => Self::OtherLock,
            _ => Self::Unknown,
        }
    }
}

/// Boot and power banners: seen only when the modem (re)starts or shuts down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Banner {
    /// `RDY` (SIMCom with a fixed baud rate, Quectel).
    Rdy,
    /// `Call Ready` (SIMCom).
    CallReady,
    /// `SMS Ready` (SIMCom).
    SmsReady,
    /// `PB DONE` (older Quectel firmware).
    PbDone,
    /// `NORMAL POWER DOWN` (SIMCom, Quectel).
    PowerDown,
    /// `UNDER-VOLTAGE POWER DOWN` / `OVER-VOLTAGE POWER DOWN` (SIMCom).
    VoltagePowerDown,
}

impl Banner {
    fn parse(line: &[u8]) -> Option<Self> {
        Some(match line {
            b"RDY" => Self::Rdy,
            b"Call Ready" => Self::CallReady,
            b"SMS Ready" => Self::SmsReady,
            b"PB DONE" => Self::PbDone,
            b"NORMAL POWER DOWN" | b"POWERED DOWN" => Self::PowerDown,
            b"UNDER-VOLTAGE POWER DOWN" | b"OVER-VOLTAGE POWER DOWN" => Self::VoltagePowerDown,
            _ => return None,
        })
    }
}

/// An unsolicited result code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Urc<'a> {
    /// `+CMTI: <mem>,<index>`: an SMS was stored (TS 27.005 3.4.1).
    Cmti {
        /// Where.
        mem: Mem,
        /// Its index there.
        index: u16,
    },
    /// `+CDSI: <mem>,<index>`: a status report was stored.
    Cdsi {
        /// Where.
        mem: Mem,
        /// Its index there.
        index: u16,
    },
    /// `+CMT: [<alpha>],<length>` followed by the PDU line: an SMS routed directly to us.
    Cmt {
        /// `<length>`: TPDU octets (without the SCA).
        len: u16,
        /// The PDU in hex, with its SCA.
        pdu: &'a [u8],
    },
    /// `+CDS: <length>` followed by the PDU line: a status report routed directly to us.
    Cds {
        /// `<length>`
        len: u16,
        /// The PDU in hex, with its SCA.
        pdu: &'a [u8],
    },
    /// `RING` (or `+CRING: …`): an incoming call.
    Ring,
    /// `+CREG`/`+CGREG`/`+CEREG` registration change.
    Registration {
        /// Which domain.
        kind: RegKind,
        /// The new status.
        stat: RegStat,
    },
    /// `+CPIN: <code>` sent on its own (SIM pulled, SIM ready after boot).
    Sim(SimState),
    /// A boot or power banner.
    Banner(Banner),
    /// Any other unsolicited line (vendor noise such as Huawei `^RSSI`, or unknown text).
    Other(&'a [u8]),
}

/// Bytes that could not be classified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Garbage {
    /// A line longer than the buffer; it was skipped up to the next CR/LF.
    Overflow,
    /// A line with control or invalid bytes (line noise, wrong baud rate, boot junk).
    Binary,
    /// A `+CMT`/`+CDS`/`+CMGR`/`+CMGL` header whose PDU line did not follow; the next line was
    /// classified on its own.
    MissingPdu,
}

/// One classified unit of modem output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item<'a> {
    /// The echo of our command line or PDU body (echo on, `ATE1`).
    Echo,
    /// The `> ` prompt of `AT+CMGS` (TS 27.005 3.5.1).
    Prompt,
    /// A final result code.
    Final(Final),
    /// An information line of the pending command's response.
    Info(&'a [u8]),
    /// The hex PDU line following a `+CMGR:`/`+CMGL:` header.
    Pdu(&'a [u8]),
    /// An unsolicited result code.
    Urc(Urc<'a>),
    /// Unclassifiable input.
    Garbage(Garbage),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Await {
    Nothing,
    ResponsePdu,
    Cmt(u16),
    Cds(u16),
}

/// Longest `+NAME` we track as the pending command's response name.
const NAME_CAP: usize = 16;

/// The sans-I/O digester. See the module documentation.
#[derive(Debug)]
pub struct Digester<const N: usize = LINE_CAP> {
    line: Vec<u8, N>,
    /// The line buffer holds a line already handed out; clear it before the next byte.
    consumed: bool,
    /// The current line overflowed: drop bytes until CR/LF.
    skipping: bool,
    /// Classify the line in the buffer again (after a `MissingPdu`).
    reclassify: bool,
    awaiting: Await,
    echo: Vec<u8, N>,
    name: Vec<u8, NAME_CAP>,
    pending: bool,
}

impl<const N: usize> Default for Digester<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Digester<N> {
    /// A digester with nothing pending.
    pub const fn new() -> Self {
        Self {
            line: Vec::new(),
            consumed: false,
            skipping: false,
            reclassify: false,
            awaiting: Await::Nothing,
            echo: Vec::new(),
            name: Vec::new(),
            pending: false,
        }
    }

    /// Forgets all state (after a modem reset or a port reopen).
    pub fn reset(&mut self) {
        *self = Self::new();
    }

    /// Tells the digester we sent `command` (without its `\r`): its echo is recognised once, and
    /// information lines named like the command (`AT+CSQ` → `+CSQ:`) belong to its response
    /// until the next final result code.
    pub fn begin(&mut self, command: &[u8]) {
        self.set_echo(command);
        self.name.clear();
        if let Some(rest) = command.get(2..)
            && command
                .get(..2)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"AT"))
            && let Some((name, _)) = split_name_prefix(rest)
        {
            // A name longer than NAME_CAP cannot match anything we parse; leave it empty.
            let _ = self.name.extend_from_slice(name);
        }
        self.pending = true;
    }

    /// Expects the echo of a PDU body we wrote after the prompt (without the Ctrl-Z).
    pub fn expect_echo(&mut self, body: &[u8]) {
        self.set_echo(body);
    }

    /// Expects the echo of a PDU body we wrote as hex digits of `pdu` (what `AT+CMGS` sends).
    pub fn expect_echo_hex(&mut self, pdu: &[u8]) {
        self.echo.clear();
        for b in pdu {
            if self
                .echo
                .extend_from_slice(&crate::hex::encode_byte(*b))
                .is_err()
            {
                // Longer than a line can be: no echo can match.
                self.echo.clear();
                return;
            }
        }
    }

    fn set_echo(&mut self, text: &[u8]) {
        self.echo.clear();
        // Longer than the line buffer: it would overflow anyway, so no echo can match.
        let _ = self.echo.extend_from_slice(trim(text));
    }

    /// Whether a command is waiting for its final result code.
    pub fn is_pending(&self) -> bool {
        self.pending
    }

    /// Forgets the pending command without a final result (after a timeout).
    pub fn abandon(&mut self) {
        self.pending = false;
        self.name.clear();
        self.echo.clear();
    }

    /// Consumes bytes from `input` until one item is complete.
    ///
    /// Returns how many bytes were used and the item, if any. `None` means every byte was used
    /// and nothing is left to report; call again with the rest of the input after `Some`:
    ///
    /// ```
    /// # use modem::digest::{Digester, Item};
    /// let mut d: Digester = Digester::new();
    /// let mut rest: &[u8] = b"\r\n+CSQ: 21,0\r\n\r\nOK\r\n";
    /// d.begin(b"AT+CSQ");
    /// let mut n = 0;
    /// loop {
    ///     let (used, item) = d.feed(rest);
    ///     rest = &rest[used..];
    ///     match item {
    ///         Some(_) => n += 1,
    ///         None => break,
    ///     }
    /// }
    /// assert_eq!(n, 2);
    /// ```
    pub fn feed(&mut self, input: &[u8]) -> (usize, Option<Item<'_>>) {
        if self.reclassify {
            self.reclassify = false;
            self.consumed = true;
            if let Some(item) = self.classify() {
                return (0, Some(item.with_line(trim(&self.line))));
            }
        }
        let mut used = 0;
        while let Some(&b) = input.get(used) {
            used += 1;
            if self.consumed {
                self.line.clear();
                self.consumed = false;
            }
            if b == b'\r' || b == b'\n' {
                if self.skipping {
                    self.skipping = false;
                    continue;
                }
                if self.line.is_empty() {
                    continue;
                }
                self.consumed = true;
                if let Some(item) = self.classify() {
                    return (used, Some(item.with_line(trim(&self.line))));
                }
                continue;
            }
            if self.skipping {
                continue;
            }
            // `> ` at the start of a line is the prompt (TS 27.005 3.5.1: "<CR><LF><greater_than><space>").
            if b == b' ' && self.line.as_slice() == b">" {
                self.consumed = true;
                return (used, Some(Item::Prompt));
            }
            if self.line.push(b).is_err() {
                self.skipping = true;
                self.consumed = true;
                self.awaiting = Await::Nothing;
                return (used, Some(Item::Garbage(Garbage::Overflow)));
            }
        }
        (used, None)
    }

    /// Classifies the complete line in the buffer. Every slice an item carries is the trimmed
    /// line itself, so this returns placeholders that [`Item::with_line`] fills in (which keeps
    /// the borrow of the buffer out of this `&mut self` method).
    fn classify(&mut self) -> Option<Item<'static>> {
        let awaiting = core::mem::replace(&mut self.awaiting, Await::Nothing);
        let line = trim(&self.line);
        if line.is_empty() {
            self.awaiting = awaiting;
            return None;
        }
        if awaiting != Await::Nothing {
            if !is_hex(line) {
                self.reclassify = true;
                self.consumed = false;
                return Some(Item::Garbage(Garbage::MissingPdu));
            }
            return Some(match awaiting {
                Await::Cmt(len) => Item::Urc(Urc::Cmt { len, pdu: &[] }),
                Await::Cds(len) => Item::Urc(Urc::Cds { len, pdu: &[] }),
                _ => Item::Pdu(&[]),
            });
        }
        if !self.echo.is_empty() && line == trim(&self.echo) {
            self.echo.clear();
            return Some(Item::Echo);
        }
        if line.iter().any(|&b| b < 0x20 || b == 0x7f || b == 0xff) {
            return Some(Item::Garbage(Garbage::Binary));
        }
        if let Some(fin) = parse_final(line) {
            self.pending = false;
            self.name.clear();
            self.echo.clear();
            return Some(Item::Final(fin));
        }
        if let Some((name, rest)) = split_name(line) {
            if self.pending && !self.name.is_empty() && name == self.name.as_slice() {
                if matches!(name, b"+CMGR" | b"+CMGL")
                    && last_param(rest)
                        .and_then(|p| p.int())
                        .is_some_and(|n| n > 0)
                {
                    self.awaiting = Await::ResponsePdu;
                }
                return Some(Item::Info(&[]));
            }
            return match unsolicited(name, rest) {
                Unsolicited::Item(urc) => Some(Item::Urc(urc)),
                Unsolicited::Await(a) => {
                    self.awaiting = a;
                    None
                }
                // A basic command (`ATI`) has no name of its own: lines such as `+GCAP: …`
                // in its answer are information text.
                Unsolicited::Unknown if self.pending && self.name.is_empty() => {
                    Some(Item::Info(&[]))
                }
                Unsolicited::Unknown => Some(Item::Urc(Urc::Other(&[]))),
            };
        }
        if let Some(b) = Banner::parse(line) {
            return Some(Item::Urc(Urc::Banner(b)));
        }
        if line == b"RING" {
            return Some(Item::Urc(Urc::Ring));
        }
        if self.pending {
            Some(Item::Info(&[]))
        } else {
            Some(Item::Urc(Urc::Other(&[])))
        }
    }
}

impl Item<'static> {
    /// Fills the line into the slice fields of a classified item.
    fn with_line(self, line: &[u8]) -> Item<'_> {
        match self {
            Item::Info(_) => Item::Info(line),
            Item::Pdu(_) => Item::Pdu(line),
            Item::Urc(Urc::Cmt { len, .. }) => Item::Urc(Urc::Cmt { len, pdu: line }),
            Item::Urc(Urc::Cds { len, .. }) => Item::Urc(Urc::Cds { len, pdu: line }),
            Item::Urc(Urc::Other(_)) => Item::Urc(Urc::Other(line)),
            Item::Urc(u) => Item::Urc(u),
            Item::Echo => Item::Echo,
            Item::Prompt => Item::Prompt,
            Item::Final(f) => Item::Final(f),
            Item::Garbage(g) => Item::Garbage(g),
        }
    }
}

/// The `+NAME` at the start of a command body (`+CMGS=27` → `+CMGS`).
fn split_name_prefix(body: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&first, tail) = body.split_first()?;
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
    Some((body.get(..=len)?, body.get(len + 1..)?))
}

/// Trims spaces, tabs, boot noise (NUL, 0xFF) and a trailing Ctrl-Z/ESC (body echo).
fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|&b| !matches!(b, b' ' | b'\t' | 0x00 | 0xff))
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|&b| !matches!(b, b' ' | b'\t' | 0x00 | 0xff | 0x1a | 0x1b))
        .map_or(start, |i| i + 1);
    s.get(start..end.max(start)).unwrap_or_default()
}

fn is_hex(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(u8::is_ascii_hexdigit)
}

fn last_param(rest: &[u8]) -> Option<Param<'_>> {
    params(rest).last()
}

/// Exact final result codes (V.250 5.7.1, TS 27.007 9.2, TS 27.005 3.2.5).
fn parse_final(line: &[u8]) -> Option<Final> {
    match line {
        b"OK" => return Some(Final::Ok),
        b"ERROR" => return Some(Final::Error),
        _ => {}
    }
    let (name, rest) = line.split_at_checked(10)?;
    let rest = rest.strip_prefix(b":")?;
    match name {
        b"+CME ERROR" => Some(Final::Cme(CmeError::parse(rest))),
        b"+CMS ERROR" => Some(Final::Cms(CmsError::parse(rest))),
        _ => None,
    }
}

enum Unsolicited {
    Item(Urc<'static>),
    Await(Await),
    Unknown,
}

/// The URCs we know by name; a malformed one is kept as `Other`.
fn unsolicited(name: &[u8], rest: &[u8]) -> Unsolicited {
    let stored = |rest: &[u8]| -> Option<(Mem, u16)> {
        let mut ps = params(rest);
        let mem = Mem::parse(ps.next()?.text)?;
        let index = u16::try_from(ps.next()?.int()?).ok()?;
        Some((mem, index))
    };
    match name {
        b"+CMTI" => match stored(rest) {
            Some((mem, index)) => Unsolicited::Item(Urc::Cmti { mem, index }),
            None => Unsolicited::Unknown,
        },
        b"+CDSI" => match stored(rest) {
            Some((mem, index)) => Unsolicited::Item(Urc::Cdsi { mem, index }),
            None => Unsolicited::Unknown,
        },
        // PDU mode: `+CMT: [<alpha>],<length>` (TS 27.005 3.4.1). The length is the last parameter.
        b"+CMT" => match last_param(rest).and_then(|p| p.int()).map(u16::try_from) {
            Some(Ok(len)) if params(rest).count() == 2 => Unsolicited::Await(Await::Cmt(len)),
            _ => Unsolicited::Unknown,
        },
        // PDU mode: `+CDS: <length>`; text mode has many parameters and no PDU line.
        b"+CDS" => {
            let mut ps = params(rest);
            match (ps.next().and_then(|p| p.int()), ps.next()) {
                (Some(len), None) => match u16::try_from(len) {
                    Ok(len) => Unsolicited::Await(Await::Cds(len)),
                    Err(_) => Unsolicited::Unknown,
                },
                _ => Unsolicited::Unknown,
            }
        }
        b"+CREG" | b"+CGREG" | b"+CEREG" => {
            let kind = match name {
                b"+CREG" => RegKind::Cs,
                b"+CGREG" => RegKind::Gprs,
                _ => RegKind::Eps,
            };
            // Unsolicited form `<stat>[,<lac>,<ci>…]` has a quoted second parameter; a late
            // query answer `<n>,<stat>…` has an unquoted one.
            let mut ps = params(rest);
            let first = ps.next().and_then(|p| p.int());
            let second = ps.next();
            let stat = match second {
                Some(p) if !p.quoted && !p.is_empty() => p.int(),
                _ => first,
            };
            match stat {
                Some(s) => Unsolicited::Item(Urc::Registration {
                    kind,
                    stat: RegStat::from_code(s),
                }),
                None => Unsolicited::Unknown,
            }
        }
        b"+CPIN" => Unsolicited::Item(Urc::Sim(SimState::parse(rest))),
        b"+CRING" => Unsolicited::Item(Urc::Ring),
        _ => Unsolicited::Unknown,
    }
}

#[cfg(test)]
mod tests;
