//! The sans-I/O modem: bytes in, bytes out, time passed in explicitly. [`Modem::feed`] takes what
//! the client wrote, [`Modem::poll`] runs whatever is due (a delayed `+CMGS`, a status report, a
//! URC), [`Modem::take_output`] hands back what the modem wrote and [`Modem::next_deadline`] says
//! when to poll next. No clock, no thread, no socket: the same core runs over a pty, TCP or an
//! in-memory pipe, and in unit tests with a scripted clock.
//!
//! Behaviour follows `../shared/reference/at-clients.md` ("Requirements"):
//! - Line discipline (V.250 5.2.1): a command line is assembled across any number of writes and
//!   ends at CR; a lone ESC or ESC CR is ignored; bytes before `AT` (a boot banner from the
//!   other side) are skipped; echo per `ATE0`/`ATE1`, character by character.
//! - Framing (V.250 5.7.1): information `\r\n<text>\r\n`, final `\r\nOK\r\n`; errors `ERROR`,
//!   `+CME ERROR: <n>` (TS 27.007 9.2) or `+CMS ERROR: <n>` (TS 27.005 3.2.5) per `AT+CMEE`.
//! - SMS input (TS 27.005 3.5.1): prompt exactly `\r\n> `; body until Ctrl-Z, ESC cancels with
//!   `OK`; `<length>` must equal the TPDU octets after the SCA; `+CMGS: <mr>` with a per-modem
//!   reference that wraps at 255, after the configured send latency.
//! - Unsolicited result codes only between commands (no partial command line, no response
//!   pending, no `> ` input), one at a time with a gap (python-gsmmodem misses bunched URCs).
//!
//! Invariant: an SMS is logged [`Event::Accepted`] exactly when `+CMGS: <mr>` is written; a send
//! cut short by a reboot or hang is logged [`Event::SendLost`] and never acknowledged.

use std::collections::VecDeque;

use gsm::{
    Address, Dcs, Deliver, Direction, MessageClass, Pdu, Pid, PlanOptions, StatusCode,
    StatusReport, Tpdu, plan,
};

use crate::at::{self, Cmd, Op, unquote};
use crate::clock::{self, Millis};
use crate::config::{ModemConfig, Profile, Registration};
use crate::record::{self, Event, RejectReason, Route, Stats, Submitted, hex, unhex};
use crate::store::{Mem, Stat, Store, Stored, StoredKind};

const CTRL_Z: u8 = 0x1a;
const ESC: u8 = 0x1b;
const BACKSPACE: u8 = 0x08;
/// Longest command line kept; the rest of a longer line is dropped (V.250 allows the DCE a
/// limit; real modems keep a few hundred characters).
const LINE_MAX: usize = 1_024;
/// Longest SMS body accepted after the prompt (a 176-octet PDU is 352 hex digits).
const BODY_MAX: usize = 2_048;
/// Input held while a response is pending (a modem's receive buffer).
const HELD_MAX: usize = 4_096;
/// Commands kept in the transcript.
const TRANSCRIPT_MAX: usize = 2_000;
/// A client that stops in the middle of a line does not hold URCs back for longer than this.
const STALE_LINE_MS: Millis = 1_000;
/// Huawei `^RSSI` noise interval while `AT^CURC` is on.
const NOISE_MS: Millis = 10_000;

/// TS 27.007 9.2 `+CME ERROR` codes used here.
mod cme {
    pub(super) const NOT_ALLOWED: u16 = 3;
    pub(super) const NO_SIM: u16 = 10;
    pub(super) const PIN_REQUIRED: u16 = 11;
    pub(super) const WRONG_PASSWORD: u16 = 16;
    pub(super) const NO_NETWORK: u16 = 30;
}

/// TS 27.005 3.2.5 `+CMS ERROR` codes used here.
mod cms {
    pub(super) const NOT_ALLOWED: u16 = 302;
    pub(super) const BAD_PDU: u16 = 304;
    pub(super) const BAD_TEXT: u16 = 305;
    pub(super) const NO_SIM: u16 = 310;
    pub(super) const PIN_REQUIRED: u16 = 311;
    pub(super) const BAD_INDEX: u16 = 321;
    pub(super) const NO_NETWORK: u16 = 331;
}

/// Commands every profile answers, as `AT+CLAC` lists them (python-gsmmodem decides from this
/// list which features to use, so it must name every implemented command).
const COMMON_COMMANDS: &[&str] = &[
    "AT&F", "AT&W", "ATE", "ATI", "ATQ", "ATV", "ATZ", "ATS0", "AT+CBC", "AT+CFUN", "AT+CGATT",
    "AT+CGMI", "AT+CGMM", "AT+CGMR", "AT+CGREG", "AT+CGSN", "AT+CIMI", "AT+CLAC", "AT+CLIP",
    "AT+CMEE", "AT+CMGD", "AT+CMGF", "AT+CMGL", "AT+CMGR", "AT+CMGS", "AT+CMMS", "AT+CNMA",
    "AT+CNMI", "AT+CNUM", "AT+COPS", "AT+CPIN", "AT+CPMS", "AT+CREG", "AT+CRC", "AT+CSCA",
    "AT+CSCS", "AT+CSDH", "AT+CSMP", "AT+CSMS", "AT+CSQ", "AT+CUSD", "AT+CVHU", "AT+GCAP",
    "AT+GMI", "AT+GMM", "AT+GMR", "AT+GSN",
];

/// A final result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Final {
    Ok,
    Error,
    Cme(u16),
    Cms(u16),
}

/// What a command asks the line executor to do next.
enum Next {
    Continue,
    Prompt(Target),
    RebootAfterOk,
}

/// Where an SMS body goes once Ctrl-Z arrives.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Target {
    /// PDU mode, with the `<length>` given.
    Pdu { len: usize },
    /// Text mode, to this address.
    Text { da: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Mode {
    Command,
    Input {
        target: Target,
        buf: Vec<u8>,
    },
    /// A response is scheduled; input is held until it is written.
    Busy,
}

/// Settings a reboot or `ATZ` resets.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Settings {
    echo: bool,
    cmee: u8,
    text_mode: bool,
    cscs: String,
    csdh: bool,
    /// `AT+CSMP` `<fo>,<vp>,<pid>,<dcs>` (TS 27.005 3.3.2).
    csmp: [u8; 4],
    cnmi: [u8; 5],
    creg: u8,
    cgreg: u8,
    cereg: u8,
    cops_format: u8,
    mems: [Mem; 3],
    /// Huawei `^CURC`: periodic status URCs on.
    curc: bool,
    smsc: String,
}

impl Settings {
    fn defaults(cfg: &ModemConfig) -> Settings {
        Settings {
            echo: cfg.echo,
            cmee: 0,
            text_mode: false,
            cscs: "GSM".to_owned(),
            csdh: false,
            csmp: [17, 167, 0, 0],
            cnmi: cfg.cnmi,
            creg: 0,
            cgreg: 0,
            cereg: 0,
            cops_format: 0,
            mems: [Mem::Sm; 3],
            curc: true,
            smsc: cfg.smsc.clone(),
        }
    }
}

/// Something the modem does later.
#[derive(Clone, Debug)]
enum Action {
    /// Write a (delayed) response, then enter `then` (command mode when `None`).
    Respond {
        bytes: Vec<u8>,
        then: Option<Target>,
    },
    /// Answer a send: accepted (with the destination, for the report) or refused.
    FinishSend(Result<(Submitted, Address), (RejectReason, Final, Option<String>)>),
    /// The network sends a status report.
    Receipt {
        mr: u8,
        recipient: Address,
        submitted_at: Millis,
        status: u8,
    },
    /// Boot finished: print the banner.
    BootDone,
    /// A timed hang ends.
    HangEnd,
}

/// A message from the network waiting to be handed to the modem.
#[derive(Clone, Debug)]
struct NetMsg {
    /// SCA + TPDU.
    pdu: Vec<u8>,
    tpdu_len: usize,
    kind: StoredKind,
    class: Option<MessageClass>,
    /// For the log.
    from: String,
    text: String,
    concat: Option<gsm::Concat>,
    mr: u8,
    status: u8,
}

/// A run-time fault or condition, as the control socket and [`crate::ModemHandle::fault`]
/// take them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Stop answering (no echo, no results, no URCs) until [`Fault::Unhang`], a reboot or the
    /// power key; or for `Some(ms)`.
    Hang(Option<u64>),
    /// End a hang.
    Unhang,
    /// Answer the next `count` sends with `+CMS ERROR: <code>` after the body.
    CmsAfterBody {
        /// TS 27.005 3.2.5 code (e.g. 500 unknown error, 38 network out of order).
        code: u16,
        /// How many sends.
        count: u32,
    },
    /// Pull the SIM: `+CPIN: NOT READY`, no registration, SIM commands fail.
    SimRemoved,
    /// Put it back.
    SimInserted,
    /// Lose the network (searching, denied or idle).
    Deregister(Registration),
    /// Register again (home network).
    Register,
    /// Write these bytes between commands.
    Garbage(Vec<u8>),
    /// Reboot: settings reset, a send in progress is lost, the profile's banner follows.
    Reboot,
    /// Delay every response by this many ms (0 ends it).
    Slow(u64),
    /// Set the signal (`+CSQ` rssi).
    Signal(u8),
    /// End every fault: unhang, no CMS errors, not slow, SIM in, registered.
    Clear,
}

/// A fault line that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "bad fault `{0}`: expected hang [ms] | unhang | cms <code> [count] | sim-removed | sim-inserted | deregister [searching|denied|idle] | register | garbage [text] | reboot | slow <ms> | signal <0-31> | clear"
)]
pub struct BadFault(pub String);

impl std::str::FromStr for Fault {
    type Err = BadFault;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadFault(s.to_owned());
        let mut words = s.split_whitespace();
        let verb = words.next().ok_or_else(bad)?;
        let arg = words.next();
        let num = |a: Option<&str>| -> Result<Option<u64>, BadFault> {
            a.map(|a| a.parse::<u64>().map_err(|_| bad())).transpose()
        };
        Ok(match verb {
            "hang" => Fault::Hang(num(arg)?),
            "unhang" => Fault::Unhang,
            "cms" => Fault::CmsAfterBody {
                code: u16::try_from(num(arg)?.ok_or_else(bad)?).map_err(|_| bad())?,
                count: u32::try_from(num(words.next())?.unwrap_or(1)).map_err(|_| bad())?,
            },
            "sim-removed" => Fault::SimRemoved,
            "sim-inserted" => Fault::SimInserted,
            "deregister" => Fault::Deregister(match arg {
                None | Some("searching") => Registration::Searching,
                Some("denied") => Registration::Denied,
                Some("idle") => Registration::NotSearching,
                Some(_) => return Err(bad()),
            }),
            "register" => Fault::Register,
            "garbage" => Fault::Garbage(match s.trim().strip_prefix("garbage") {
                Some(rest) if !rest.trim().is_empty() => {
                    format!("{}\r\n", rest.trim()).into_bytes()
                }
                _ => b"\r\n\x00\xff\xfe~#noise\x07\r\n".to_vec(),
            }),
            "reboot" => Fault::Reboot,
            "slow" => Fault::Slow(num(arg)?.ok_or_else(bad)?),
            "signal" => Fault::Signal(
                u8::try_from(num(arg)?.ok_or_else(bad)?)
                    .ok()
                    .filter(|v| *v <= 31 || *v == 99)
                    .ok_or_else(bad)?,
            ),
            "clear" => Fault::Clear,
            _ => return Err(bad()),
        })
    }
}

/// An inbound SMS to hand to the modem as if the network delivered it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboundSms {
    /// TP-OA: `+<digits>` (international), digits, or alphanumeric text (≤ 11 GSM characters).
    pub from: String,
    /// The text; split into concatenated parts (8-bit reference UDH) when it does not fit one.
    pub text: String,
    /// TP-DCS message class, if any (class 0 is "flash").
    pub class: Option<MessageClass>,
}

impl InboundSms {
    /// A plain message from `from`.
    pub fn new(from: impl Into<String>, text: impl Into<String>) -> InboundSms {
        InboundSms {
            from: from.into(),
            text: text.into(),
            class: None,
        }
    }
}

/// Why an injection failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InjectError {
    /// The sender is not a number nor a valid alphanumeric sender.
    #[error("bad sender: {0}")]
    Sender(gsm::AddressError),
    /// The text cannot be encoded (too many parts).
    #[error("cannot encode the text: {0}")]
    Text(gsm::EncodeError),
    /// A raw PDU that is not hex or not an SMS-DELIVER / SMS-STATUS-REPORT with SCA.
    #[error("bad PDU: {0}")]
    Pdu(String),
}

/// A simulated modem.
#[derive(Debug)]
pub struct Modem {
    cfg: ModemConfig,
    s: Settings,
    sm: Store,
    me: Store,
    sim_present: bool,
    pin_ok: bool,
    radio: bool,
    reg: Registration,
    signal: u8,
    mr: u8,
    concat_ref: u8,
    rng: u64,
    mode: Mode,
    line: Vec<u8>,
    last_line: Vec<u8>,
    held: VecDeque<u8>,
    out: Vec<u8>,
    timers: Vec<(Millis, u64, Action)>,
    timer_seq: u64,
    urcs: VecDeque<Vec<u8>>,
    network: VecDeque<NetMsg>,
    hung: bool,
    booting: bool,
    slow_ms: u64,
    cms_faults: VecDeque<u16>,
    last_final: Millis,
    last_urc: Option<Millis>,
    last_input: Millis,
    next_noise: Millis,
    log: Vec<Event>,
    transcript: VecDeque<(Millis, String)>,
    commands: usize,
    now: Millis,
}

impl Modem {
    /// A modem switched on and idle at time 0 (no banner: it booted before anyone listened).
    pub fn new(cfg: ModemConfig) -> Modem {
        let s = Settings::defaults(&cfg);
        Modem {
            sm: Store::new(cfg.sm_capacity),
            me: Store::new(cfg.me_capacity),
            sim_present: true,
            pin_ok: cfg.pin.is_none(),
            radio: true,
            reg: cfg.registration,
            signal: cfg.signal,
            mr: 0,
            concat_ref: 0,
            rng: cfg.seed | 1,
            mode: Mode::Command,
            line: Vec::new(),
            last_line: Vec::new(),
            held: VecDeque::new(),
            out: Vec::new(),
            timers: Vec::new(),
            timer_seq: 0,
            urcs: VecDeque::new(),
            network: VecDeque::new(),
            hung: false,
            booting: false,
            slow_ms: 0,
            cms_faults: VecDeque::new(),
            last_final: 0,
            last_urc: None,
            last_input: 0,
            next_noise: NOISE_MS,
            log: Vec::new(),
            transcript: VecDeque::new(),
            commands: 0,
            now: 0,
            s,
            cfg,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ModemConfig {
        &self.cfg
    }

    /// The event log.
    pub fn log(&self) -> &[Event] {
        &self.log
    }

    /// Counters over the log.
    pub fn stats(&self) -> Stats {
        let mut s = Stats::of(&self.log);
        s.commands = self.commands;
        s
    }

    /// The last command lines executed, with their times (at most 2 000).
    pub fn transcript(&self) -> impl Iterator<Item = &(Millis, String)> {
        self.transcript.iter()
    }

    /// Messages in a store (used, capacity).
    pub fn store_usage(&self, mem: Mem) -> (usize, usize) {
        let st = self.store(mem);
        (st.used(), st.capacity())
    }

    /// A stored message.
    pub fn stored(&self, mem: Mem, index: u16) -> Option<&Stored> {
        self.store(mem).get(index)
    }

    /// Messages from the network not yet handed over (storage full, no SIM, not registered).
    pub fn network_backlog(&self) -> usize {
        self.network.len()
    }

    /// URCs waiting for a quiet moment.
    pub fn pending_urcs(&self) -> usize {
        self.urcs.len()
    }

    /// Whether the modem is hung.
    pub fn is_hung(&self) -> bool {
        self.hung
    }

    /// Takes what the modem wrote.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// When [`Modem::poll`] has something to do next, if anything.
    pub fn next_deadline(&self) -> Option<Millis> {
        let timer = self.timers.iter().map(|(t, _, _)| *t).min();
        let urc = self.urc_ready_at();
        let noise = (self.cfg.profile == Profile::Huawei && self.s.curc && !self.hung)
            .then_some(self.next_noise);
        [timer, urc, noise].into_iter().flatten().min()
    }

    /// Bytes from the client.
    pub fn feed(&mut self, now: Millis, bytes: &[u8]) {
        self.advance(now);
        if bytes.is_empty() {
            return;
        }
        self.last_input = now;
        if self.hung || self.booting {
            // A hung modem reads nothing; a booting one is not listening yet.
            return;
        }
        self.process(bytes);
        self.run_due();
    }

    /// Runs everything due at `now`.
    pub fn poll(&mut self, now: Millis) {
        self.advance(now);
        self.run_due();
    }

    fn advance(&mut self, now: Millis) {
        self.now = self.now.max(now);
    }

    fn run_due(&mut self) {
        // Bounded: each pass removes a timer or emits one URC; timers added while running
        // are due later (delays are added to `now`), except zero delays, which run once more.
        for _ in 0..10_000 {
            if let Some(pos) = self
                .timers
                .iter()
                .enumerate()
                .filter(|(_, (t, _, _))| *t <= self.now)
                .min_by_key(|(_, (t, seq, _))| (*t, *seq))
                .map(|(i, _)| i)
            {
                let (_, _, action) = self.timers.swap_remove(pos);
                self.run(action);
                continue;
            }
            self.deliver_network();
            if self.cfg.profile == Profile::Huawei
                && self.s.curc
                && !self.hung
                && self.now >= self.next_noise
            {
                self.next_noise = self.now.saturating_add(NOISE_MS);
                if self.urcs.is_empty() {
                    let line = format!("^RSSI: {}", self.signal);
                    self.urcs.push_back(frame(&line));
                }
            }
            if self.urc_ready_at().is_some_and(|t| t <= self.now) {
                if let Some(urc) = self.urcs.pop_front() {
                    self.out.extend_from_slice(&urc);
                    self.last_urc = Some(self.now);
                }
                continue;
            }
            break;
        }
    }

    fn urc_ready_at(&self) -> Option<Millis> {
        if self.urcs.is_empty() || self.hung || self.booting || self.mode != Mode::Command {
            return None;
        }
        if !self.held.is_empty() {
            return None;
        }
        let gap = self.cfg.urc_gap_ms;
        let mut t = self.last_final.saturating_add(gap);
        if let Some(u) = self.last_urc {
            t = t.max(u.saturating_add(gap));
        }
        if !self.line.is_empty() {
            t = t.max(self.last_input.saturating_add(STALE_LINE_MS));
        }
        Some(t)
    }

    fn schedule(&mut self, delay: u64, action: Action) {
        self.timer_seq = self.timer_seq.wrapping_add(1);
        self.timers
            .push((self.now.saturating_add(delay), self.timer_seq, action));
    }

    fn store(&self, mem: Mem) -> &Store {
        match mem {
            Mem::Sm => &self.sm,
            Mem::Me => &self.me,
        }
    }

    fn store_mut(&mut self, mem: Mem) -> &mut Store {
        match mem {
            Mem::Sm => &mut self.sm,
            Mem::Me => &mut self.me,
        }
    }

    fn sim_ready(&self) -> bool {
        self.sim_present && self.pin_ok
    }

    /// Registration as the network sees it: nothing without a SIM or radio.
    fn registration(&self) -> Registration {
        if !self.sim_ready() || !self.radio {
            Registration::NotSearching
        } else {
            self.reg
        }
    }

    fn draw(&mut self) -> u32 {
        // xorshift64*: deterministic per seed.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u32
    }

    fn stamp(&self, at: Millis) -> gsm::Timestamp {
        clock::timestamp(self.cfg.clock_base_unix, self.cfg.tz_quarters, at)
    }

    fn echo(&mut self, bytes: &[u8]) {
        if self.s.echo {
            self.out.extend_from_slice(bytes);
        }
    }

    // ---- input --------------------------------------------------------------------------

    fn process(&mut self, bytes: &[u8]) {
        let mut rest = bytes.iter().copied();
        while let Some(b) = rest.next() {
            if self.mode == Mode::Busy || self.hung || self.booting {
                if self.mode == Mode::Busy {
                    // A real UART buffer is finite: what does not fit is lost.
                    self.held.push_back(b);
                    self.held.extend(rest);
                    self.held.truncate(HELD_MAX);
                }
                return;
            }
            self.byte(b);
        }
    }

    fn byte(&mut self, b: u8) {
        if let Mode::Input { .. } = self.mode {
            self.input_byte(b);
            return;
        }
        match b {
            // V.250 leaves ESC undefined in command state; clients send ESC (CR) to abort an
            // SMS input that may still be pending. Ignore it.
            ESC => self.line.clear(),
            b'\r' => {
                self.echo(b"\r");
                let line = std::mem::take(&mut self.line);
                self.command_line(&line);
            }
            b'\n' => {}
            BACKSPACE => {
                if self.line.pop().is_some() {
                    self.echo(&[BACKSPACE]);
                }
            }
            _ => {
                self.echo(&[b]);
                if self.line.len() < LINE_MAX {
                    self.line.push(b);
                }
                // V.250 5.2.4: `A/` repeats the last command line at once, without CR.
                if self.line.len() == 2
                    && self
                        .line
                        .first()
                        .is_some_and(|c| c.eq_ignore_ascii_case(&b'A'))
                    && self.line.get(1) == Some(&b'/')
                {
                    self.line.clear();
                    let last = self.last_line.clone();
                    self.echo(b"\r");
                    self.execute(&last);
                }
            }
        }
    }

    fn input_byte(&mut self, b: u8) {
        let Mode::Input { target, buf } = &mut self.mode else {
            return;
        };
        match b {
            CTRL_Z => {
                let target = target.clone();
                let body = std::mem::take(buf);
                self.mode = Mode::Command;
                self.finish_input(target, body);
            }
            ESC => {
                // TS 27.005 3.5.1: ESC quits without sending.
                self.mode = Mode::Command;
                self.log.push(Event::Cancelled { at: self.now });
                self.respond(&[], Final::Ok, None);
            }
            b'\r' | b'\n' if matches!(target, Target::Pdu { .. }) => {}
            b'\r' => {
                // Text mode: a CR is a line break in the message, and the prompt comes again.
                if buf.len() < BODY_MAX {
                    buf.push(b'\n');
                }
                self.out.extend_from_slice(b"\r\n> ");
            }
            b'\n' => {}
            _ => {
                if buf.len() < BODY_MAX {
                    buf.push(b);
                }
                self.echo(&[b]);
            }
        }
    }

    /// A complete line (without its CR).
    fn command_line(&mut self, raw: &[u8]) {
        // V.250 5.2.1: the DCE ignores what comes before the `AT` prefix (line noise, the
        // other side's boot banner); a line without one is not a command.
        let start = raw
            .windows(2)
            .position(|w| matches!(w, [b'A' | b'a', b'T' | b't']));
        let Some(line) = start.and_then(|s| raw.get(s..)) else {
            return;
        };
        self.last_line = line.to_vec();
        self.execute(line);
    }

    fn execute(&mut self, line: &[u8]) {
        if line.len() < 2 {
            return;
        }
        self.commands = self.commands.wrapping_add(1);
        let text = String::from_utf8_lossy(line).into_owned();
        if self.transcript.len() >= TRANSCRIPT_MAX {
            self.transcript.pop_front();
        }
        self.transcript.push_back((self.now, text.clone()));
        let body = text.get(2..).unwrap_or("");
        let cmds = match at::parse(body) {
            Ok(c) => c,
            Err(_) => return self.respond(&[], Final::Error, None),
        };
        let mut info: Vec<String> = Vec::new();
        let mut reboot = false;
        for c in &cmds {
            match self.command(c, &mut info) {
                Ok(Next::Continue) => {}
                Ok(Next::RebootAfterOk) => reboot = true,
                Ok(Next::Prompt(target)) => {
                    return self.respond(&info, Final::Ok, Some(target));
                }
                Err(f) => return self.respond(&info, f, None),
            }
        }
        self.respond(&info, Final::Ok, None);
        if reboot {
            self.reboot();
        }
    }

    /// Writes information blocks and a final result (or the prompt), now or after the
    /// slow-response delay.
    fn respond(&mut self, info: &[String], fin: Final, prompt: Option<Target>) {
        let mut bytes = Vec::new();
        for block in info {
            bytes.extend_from_slice(&frame(block));
        }
        match prompt {
            Some(_) => bytes.extend_from_slice(b"\r\n> "),
            None => bytes.extend_from_slice(&frame(&self.final_text(fin))),
        }
        if self.slow_ms > 0 {
            self.mode = Mode::Busy;
            self.schedule(
                self.slow_ms,
                Action::Respond {
                    bytes,
                    then: prompt,
                },
            );
        } else {
            self.write_response(bytes, prompt);
        }
    }

    fn write_response(&mut self, bytes: Vec<u8>, then: Option<Target>) {
        self.out.extend_from_slice(&bytes);
        match then {
            Some(target) => {
                self.mode = Mode::Input {
                    target,
                    buf: Vec::new(),
                }
            }
            None => {
                self.mode = Mode::Command;
                self.last_final = self.now;
                self.release_held();
            }
        }
    }

    fn release_held(&mut self) {
        if self.mode == Mode::Busy {
            return;
        }
        let held: Vec<u8> = self.held.drain(..).collect();
        if !held.is_empty() {
            self.process(&held);
        }
    }

    fn final_text(&self, f: Final) -> String {
        match (f, self.s.cmee) {
            (Final::Ok, _) => "OK".to_owned(),
            (Final::Error, _) | (Final::Cme(_) | Final::Cms(_), 0) => "ERROR".to_owned(),
            (Final::Cme(n), 2) => format!("+CME ERROR: {}", cme_text(n)),
            (Final::Cme(n), _) => format!("+CME ERROR: {n}"),
            (Final::Cms(n), _) => format!("+CMS ERROR: {n}"),
        }
    }

    // ---- commands -----------------------------------------------------------------------

    fn need_sim(&self) -> Result<(), Final> {
        if !self.sim_present {
            Err(Final::Cme(cme::NO_SIM))
        } else if !self.pin_ok {
            Err(Final::Cme(cme::PIN_REQUIRED))
        } else {
            Ok(())
        }
    }

    fn need_sim_sms(&self) -> Result<(), Final> {
        if !self.sim_present {
            Err(Final::Cms(cms::NO_SIM))
        } else if !self.pin_ok {
            Err(Final::Cms(cms::PIN_REQUIRED))
        } else {
            Ok(())
        }
    }

    fn need_mem(&self, mem: Mem) -> Result<(), Final> {
        match mem {
            Mem::Sm => self.need_sim_sms(),
            Mem::Me => Ok(()),
        }
    }

    fn implemented(&self) -> Vec<&'static str> {
        let mut all: Vec<&'static str> = COMMON_COMMANDS.to_vec();
        all.extend_from_slice(self.cfg.profile.vendor_commands());
        all
    }

    fn command(&mut self, c: &Cmd, info: &mut Vec<String>) -> Result<Next, Final> {
        match c {
            Cmd::Basic { name, arg } => self.basic(name, arg, info),
            Cmd::Ext { name, op } => {
                if !self.implemented().contains(&format!("AT{name}").as_str()) {
                    return Err(Final::Error);
                }
                self.extended(name, op, info)
            }
        }
    }

    fn basic(&mut self, name: &str, arg: &str, info: &mut Vec<String>) -> Result<Next, Final> {
        let n: u32 = if arg.is_empty() {
            0
        } else {
            arg.parse().map_err(|_| Final::Error)?
        };
        match name {
            "E" => match n {
                0 | 1 => self.s.echo = n == 1,
                _ => return Err(Final::Error),
            },
            // Verbose results only (V.250 6.2.6); quiet mode off only.
            "V" if n == 1 => {}
            "Q" if n == 0 => {}
            "Z" | "&F" => {
                let smsc = self.s.smsc.clone();
                self.s = Settings::defaults(&self.cfg);
                // The SMSC lives on the SIM and survives a reset.
                self.s.smsc = smsc;
            }
            "&W" => {}
            "I" => info.push(self.identification()),
            s if s.starts_with('S') && s.len() > 1 => {
                if arg == "?" {
                    info.push("000".to_owned());
                }
            }
            _ => return Err(Final::Error),
        }
        Ok(Next::Continue)
    }

    fn identification(&self) -> String {
        let p = self.cfg.profile;
        match p {
            Profile::Huawei => format!(
                "Manufacturer: {}\r\nModel: {}\r\nRevision: {}\r\nIMEI: {}\r\n+GCAP: +CGSM,+DS,+ES",
                p.manufacturer(),
                p.model(),
                p.revision(),
                self.cfg.imei
            ),
            Profile::Ec25 => format!(
                "{}\r\n{}\r\nRevision: {}",
                p.manufacturer(),
                p.model(),
                p.revision()
            ),
            _ => format!("{}\r\n{}\r\n{}", p.manufacturer(), p.model(), p.revision()),
        }
    }

    fn extended(&mut self, name: &str, op: &Op, info: &mut Vec<String>) -> Result<Next, Final> {
        let p = self.cfg.profile;
        let set = |op: &Op| -> Option<Vec<String>> {
            match op {
                Op::Set(v) => Some(v.clone()),
                _ => None,
            }
        };
        match (name, op) {
            ("+CGMI" | "+GMI", Op::Exec) => info.push(p.manufacturer().to_owned()),
            ("+CGMM" | "+GMM", Op::Exec) => info.push(p.model().to_owned()),
            ("+CGMR" | "+GMR", Op::Exec) => info.push(match p {
                Profile::Ec25 | Profile::Huawei => format!("Revision: {}", p.revision()),
                _ => p.revision().to_owned(),
            }),
            ("+CGSN" | "+GSN", Op::Exec) => info.push(self.cfg.imei.clone()),
            ("+GCAP", Op::Exec) => info.push("+GCAP: +CGSM".to_owned()),
            ("+CIMI", Op::Exec) => {
                self.need_sim()?;
                info.push(self.cfg.imsi.clone());
            }
            ("+CCID", Op::Exec | Op::Read) => {
                self.need_sim()?;
                info.push(self.cfg.iccid.clone());
            }
            ("+QCCID", Op::Exec) => {
                self.need_sim()?;
                info.push(format!("+QCCID: {}", self.cfg.iccid));
            }
            ("^ICCID", Op::Read) => {
                self.need_sim()?;
                info.push(format!("^ICCID: {}", self.cfg.iccid));
            }
            ("+CNUM", Op::Exec) => {
                self.need_sim()?;
                info.push(format!("+CNUM: \"\",\"{}\",145", self.cfg.own_number));
            }
            ("+CLAC", Op::Exec) => info.push(self.implemented().join("\r\n")),
            ("+CMEE", Op::Read) => info.push(format!("+CMEE: {}", self.s.cmee)),
            ("+CMEE", Op::Test) => info.push("+CMEE: (0-2)".to_owned()),
            ("+CMEE", Op::Set(v)) => self.s.cmee = small(v.first(), 2)?,
            ("+CPIN", Op::Read) => {
                if !self.sim_present {
                    return Err(Final::Cme(cme::NO_SIM));
                }
                info.push(if self.pin_ok {
                    "+CPIN: READY".to_owned()
                } else {
                    "+CPIN: SIM PIN".to_owned()
                });
            }
            ("+CPIN", Op::Test) => {}
            ("+CPIN", Op::Set(v)) => {
                if !self.sim_present {
                    return Err(Final::Cme(cme::NO_SIM));
                }
                if self.pin_ok {
                    return Err(Final::Cme(cme::NOT_ALLOWED));
                }
                let given = v.first().map(|s| unquote(s).to_owned());
                if given.is_some() && given == self.cfg.pin {
                    let before = self.registration();
                    self.pin_ok = true;
                    self.urcs.push_back(frame("+CPIN: READY"));
                    self.reg_changed(before);
                } else {
                    return Err(Final::Cme(cme::WRONG_PASSWORD));
                }
            }
            ("+CREG" | "+CGREG" | "+CEREG", Op::Read) => {
                if name == "+CEREG" && !p.has_eps() {
                    return Err(Final::Error);
                }
                let n = self.reg_n(name);
                info.push(self.reg_line(name, Some(n)));
            }
            ("+CREG" | "+CGREG" | "+CEREG", Op::Test) => info.push(format!("{name}: (0-2)")),
            ("+CREG" | "+CGREG" | "+CEREG", Op::Set(v)) => {
                let n = small(v.first(), 2)?;
                match name {
                    "+CREG" => self.s.creg = n,
                    "+CGREG" => self.s.cgreg = n,
                    _ => self.s.cereg = n,
                }
            }
            ("+CSQ", Op::Exec) => info.push(format!("+CSQ: {},0", self.signal)),
            ("+CSQ", Op::Test) => info.push("+CSQ: (0-31,99),(0-7,99)".to_owned()),
            ("+CBC", Op::Exec) => info.push("+CBC: 0,95,4100".to_owned()),
            ("+CGATT", Op::Read) => info.push(format!(
                "+CGATT: {}",
                u8::from(self.registration().is_registered())
            )),
            ("+CGATT", Op::Set(_)) => {}
            ("+COPS", Op::Read) => {
                if self.registration().is_registered() {
                    let name = match self.s.cops_format {
                        1 => &self.cfg.operator_short,
                        2 => &self.cfg.plmn,
                        _ => &self.cfg.operator,
                    };
                    let act = if p.has_eps() { ",7" } else { "" };
                    info.push(format!(
                        "+COPS: 0,{},\"{}\"{}",
                        self.s.cops_format, name, act
                    ));
                } else {
                    info.push("+COPS: 0".to_owned());
                }
            }
            ("+COPS", Op::Test) => info.push(format!(
                "+COPS: (2,\"{}\",\"{}\",\"{}\"),,(0-4),(0-2)",
                self.cfg.operator, self.cfg.operator_short, self.cfg.plmn
            )),
            ("+COPS", Op::Set(v)) => {
                let mode = small(v.first(), 4)?;
                if mode == 3 {
                    self.s.cops_format = small(v.get(1), 2)?;
                }
            }
            ("+CFUN", Op::Read) => info.push(format!("+CFUN: {}", u8::from(self.radio))),
            ("+CFUN", Op::Test) => info.push("+CFUN: (0,1,4),(0,1)".to_owned()),
            ("+CFUN", Op::Set(v)) => {
                let fun = small(v.first(), 4)?;
                let reset = small(v.get(1), 1)? == 1;
                let before = self.registration();
                self.radio = fun == 1;
                self.reg_changed(before);
                if reset {
                    return Ok(Next::RebootAfterOk);
                }
            }
            ("+CSCS", Op::Read) => info.push(format!("+CSCS: \"{}\"", self.s.cscs)),
            // HEX is offered because text-mode bodies in HEX are decoded (gammu picks it).
            ("+CSCS", Op::Test) => {
                info.push("+CSCS: (\"IRA\",\"GSM\",\"UCS2\",\"HEX\")".to_owned())
            }
            ("+CSCS", Op::Set(v)) => {
                let cs = v.first().map(|s| unquote(s).to_ascii_uppercase());
                match cs.as_deref() {
                    Some(cs @ ("IRA" | "GSM" | "UCS2" | "HEX")) => self.s.cscs = cs.to_owned(),
                    _ => return Err(Final::Cme(cme::NOT_ALLOWED)),
                }
            }
            ("+CSCA", Op::Read) => {
                self.need_sim()?;
                info.push(format!("+CSCA: \"{}\",145", self.s.smsc));
            }
            ("+CSCA", Op::Set(v)) => {
                self.need_sim()?;
                if let Some(a) = v.first() {
                    self.s.smsc = unquote(a).to_owned();
                }
            }
            ("+CMGF", Op::Read) => info.push(format!("+CMGF: {}", u8::from(self.s.text_mode))),
            ("+CMGF", Op::Test) => info.push("+CMGF: (0,1)".to_owned()),
            ("+CMGF", Op::Set(v)) => self.s.text_mode = small(v.first(), 1)? == 1,
            ("+CSDH", Op::Read) => info.push(format!("+CSDH: {}", u8::from(self.s.csdh))),
            ("+CSDH", Op::Test) => info.push("+CSDH: (0,1)".to_owned()),
            ("+CSDH", Op::Set(v)) => self.s.csdh = small(v.first(), 1)? == 1,
            ("+CSMP", Op::Read) => {
                let [fo, vp, pid, dcs] = self.s.csmp;
                info.push(format!("+CSMP: {fo},{vp},{pid},{dcs}"));
            }
            ("+CSMP", Op::Set(v)) => {
                for (i, slot) in self.s.csmp.iter_mut().enumerate() {
                    if let Some(x) = at::num(v.get(i)).map_err(|_| Final::Error)? {
                        *slot = u8::try_from(x).map_err(|_| Final::Error)?;
                    }
                }
            }
            ("+CSMS", Op::Read) => info.push("+CSMS: 0,1,1,1".to_owned()),
            ("+CSMS", Op::Test) => info.push("+CSMS: (0,1)".to_owned()),
            ("+CSMS", Op::Set(v)) => {
                small(v.first(), 1)?;
                info.push("+CSMS: 1,1,1".to_owned());
            }
            ("+CNMI", Op::Read) => {
                let [a, b, c, d, e] = self.s.cnmi;
                info.push(format!("+CNMI: {a},{b},{c},{d},{e}"));
            }
            ("+CNMI", Op::Test) => info.push("+CNMI: (0-3),(0-3),(0,2),(0-2),(0,1)".to_owned()),
            ("+CNMI", Op::Set(v)) => {
                let limits = [3, 3, 2, 2, 1];
                let mut cnmi = self.s.cnmi;
                for (i, (slot, max)) in cnmi.iter_mut().zip(limits).enumerate() {
                    if let Some(x) = at::num(v.get(i)).map_err(|_| Final::Cms(cms::NOT_ALLOWED))? {
                        if x > max {
                            return Err(Final::Cms(cms::NOT_ALLOWED));
                        }
                        *slot = x as u8;
                    }
                }
                self.s.cnmi = cnmi;
            }
            ("+CNMA", Op::Exec | Op::Set(_)) => {}
            ("+CPMS", Op::Read) => {
                let parts: Vec<String> = self
                    .s
                    .mems
                    .iter()
                    .map(|m| {
                        let (u, t) = self.store_usage(*m);
                        format!("\"{m}\",{u},{t}")
                    })
                    .collect();
                info.push(format!("+CPMS: {}", parts.join(",")));
            }
            ("+CPMS", Op::Test) => {
                info.push("+CPMS: (\"SM\",\"ME\"),(\"SM\",\"ME\"),(\"SM\",\"ME\")".to_owned())
            }
            ("+CPMS", Op::Set(v)) => {
                let mut mems = self.s.mems;
                for (i, slot) in mems.iter_mut().enumerate() {
                    if let Some(name) = v.get(i).filter(|s| !s.is_empty()) {
                        let mem = Mem::parse(unquote(name)).ok_or(Final::Cms(cms::NOT_ALLOWED))?;
                        self.need_mem(mem)?;
                        *slot = mem;
                    }
                }
                if v.is_empty() {
                    return Err(Final::Error);
                }
                self.s.mems = mems;
                let parts: Vec<String> = mems
                    .iter()
                    .map(|m| {
                        let (u, t) = self.store_usage(*m);
                        format!("{u},{t}")
                    })
                    .collect();
                info.push(format!("+CPMS: {}", parts.join(",")));
            }
            ("+CMGS", Op::Set(v)) => return self.cmgs(v),
            ("+CMGL", Op::Exec | Op::Set(_)) => {
                let arg = set(op).and_then(|v| v.first().cloned());
                self.cmgl(arg.as_deref(), info)?;
            }
            ("+CMGL", Op::Test) => info.push(if self.s.text_mode {
                "+CMGL: (\"REC UNREAD\",\"REC READ\",\"STO UNSENT\",\"STO SENT\",\"ALL\")"
                    .to_owned()
            } else {
                "+CMGL: (0-4)".to_owned()
            }),
            ("+CMGR", Op::Set(v)) => {
                let index = index_param(v.first())?;
                self.cmgr(index, info)?;
            }
            ("+CMGD", Op::Set(v)) => {
                let index = index_param(v.first())?;
                let flag = small(v.get(1), 4)?;
                self.cmgd(index, flag)?;
            }
            ("+CMGD", Op::Test) => {
                let list: Vec<String> = self
                    .store(self.s.mems[0])
                    .indices()
                    .iter()
                    .map(u16::to_string)
                    .collect();
                info.push(format!("+CMGD: ({}),(0-4)", list.join(",")));
            }
            ("+CLIP" | "+CRC" | "+CVHU" | "+CUSD" | "+CMMS" | "+CSCLK" | "+CIURC", Op::Set(_)) => {}
            ("+CLIP" | "+CRC" | "+CVHU" | "+CUSD" | "+CMMS" | "+CSCLK", Op::Read) => {
                info.push(format!("{name}: 0"))
            }
            ("+QURCCFG", Op::Set(_) | Op::Read) => {
                if matches!(op, Op::Read) {
                    info.push("+QURCCFG: \"urcport\",\"uart1\"".to_owned());
                }
            }
            ("^CURC", Op::Set(v)) => self.s.curc = small(v.first(), 1)? == 1,
            ("^CURC", Op::Read) => info.push(format!("^CURC: {}", u8::from(self.s.curc))),
            // V.250 5.4.3: the test form of a supported command answers OK at least.
            (_, Op::Test) => {}
            _ => return Err(Final::Error),
        }
        Ok(Next::Continue)
    }

    fn reg_n(&self, name: &str) -> u8 {
        match name {
            "+CREG" => self.s.creg,
            "+CGREG" => self.s.cgreg,
            _ => self.s.cereg,
        }
    }

    /// `+CREG: [<n>,]<stat>[,"<lac>","<ci>"]` (TS 27.007 7.2); `n` is given for the read form.
    fn reg_line(&self, name: &str, n: Option<u8>) -> String {
        let reg = self.registration();
        let mode = n.unwrap_or(self.reg_n(name));
        let prefix = n.map(|n| format!("{n},")).unwrap_or_default();
        let loc = if mode == 2 && reg.is_registered() {
            format!(",\"{}\",\"{}\"", self.cfg.lac, self.cfg.ci)
        } else {
            String::new()
        };
        format!("{name}: {prefix}{}{loc}", reg.code())
    }

    /// Queues `+CREG: <stat>` style URCs for every registration the client enabled, if the
    /// status changed.
    fn reg_changed(&mut self, before: Registration) {
        if self.registration() == before {
            return;
        }
        let mut names = vec!["+CREG", "+CGREG"];
        if self.cfg.profile.has_eps() {
            names.push("+CEREG");
        }
        for name in names {
            if self.reg_n(name) > 0 {
                let line = self.reg_line(name, None);
                self.urcs.push_back(frame(&line));
            }
        }
    }

    fn cmgs(&mut self, v: &[String]) -> Result<Next, Final> {
        if self.s.text_mode {
            let da = v.first().map(|s| unquote(s).to_owned()).unwrap_or_default();
            if da.is_empty() {
                return Err(Final::Cms(cms::BAD_TEXT));
            }
            let da = if self.s.cscs == "UCS2" {
                decode_ucs2_hex(&da).unwrap_or(da)
            } else {
                da
            };
            Ok(Next::Prompt(Target::Text { da }))
        } else {
            let len = at::num(v.first())
                .map_err(|_| Final::Cms(cms::BAD_PDU))?
                .filter(|l| (7..=176).contains(l))
                .ok_or(Final::Cms(cms::BAD_PDU))?;
            Ok(Next::Prompt(Target::Pdu { len: len as usize }))
        }
    }

    fn finish_input(&mut self, target: Target, body: Vec<u8>) {
        let mr_next = self.mr;
        let decoded = match &target {
            Target::Pdu { len } => match unhex(&body) {
                None => Err(record::BadSubmit("body is not hex".into())),
                Some(pdu) => record::decode_submit(&pdu, *len, mr_next, self.now),
            },
            Target::Text { da } => self.text_submit(da, &body),
        };
        let sub = match decoded {
            Ok(s) => s,
            Err(e) => {
                let code = match target {
                    Target::Pdu { .. } => cms::BAD_PDU,
                    Target::Text { .. } => cms::BAD_TEXT,
                };
                return self.reject(None, RejectReason::BadPdu(e.0), Final::Cms(code));
            }
        };
        let dest = Some(sub.destination.clone());
        if let Err(f) = self.need_sim_sms() {
            return self.reject(dest, RejectReason::NoSim, f);
        }
        if !self.registration().is_registered() {
            return self.reject(
                dest,
                RejectReason::NotRegistered,
                Final::Cms(cms::NO_NETWORK),
            );
        }
        let Ok(address) = Address::parse(&sub.destination) else {
            return self.reject(
                dest,
                RejectReason::BadPdu("bad destination".into()),
                Final::Cms(cms::BAD_PDU),
            );
        };
        let delay = self.cfg.send_latency_ms.saturating_add(self.slow_ms);
        self.mode = Mode::Busy;
        let result = match self.cms_faults.pop_front() {
            Some(code) => Err((RejectReason::Fault, Final::Cms(code), dest)),
            None => {
                // TS 23.040 9.2.3.6: TP-MR is 0..=255 and wraps.
                self.mr = self.mr.wrapping_add(1);
                let mut sub = sub;
                sub.mr = self.mr;
                Ok((sub, address))
            }
        };
        self.schedule(delay, Action::FinishSend(result));
    }

    /// An immediate refusal after the body (or after the slow-response delay).
    fn reject(&mut self, destination: Option<String>, reason: RejectReason, f: Final) {
        let result = self.final_text(f);
        self.log.push(Event::Rejected {
            at: self.now,
            destination,
            reason,
            result,
        });
        self.respond(&[], f, None);
    }

    /// Builds the record of a text-mode send from `AT+CSMP` and `AT+CSCS`.
    fn text_submit(&self, da: &str, body: &[u8]) -> Result<Submitted, record::BadSubmit> {
        let [fo, vp, _pid, dcs_raw] = self.s.csmp;
        let dcs = Dcs(dcs_raw);
        let alphabet = dcs.alphabet();
        let raw = String::from_utf8_lossy(body).into_owned();
        let bad = |what: &str| record::BadSubmit(format!("text body is not {what}"));
        // TS 27.005 3.1: with an 8-bit or UCS2 DCS the body is hex octets; otherwise it is in
        // the TE character set (`AT+CSCS`).
        let text = match (alphabet, self.s.cscs.as_str()) {
            (gsm::Alphabet::Ucs2, _) | (_, "UCS2") => {
                decode_ucs2_hex(&raw).ok_or_else(|| bad("UCS2 hex"))?
            }
            (gsm::Alphabet::Gsm7, "HEX") => {
                let septets = unhex(raw.as_bytes()).ok_or_else(|| bad("hex"))?;
                septets
                    .iter()
                    .map(|&s| gsm::gsm7::decode_default(s & 0x7f))
                    .collect()
            }
            (gsm::Alphabet::Gsm7, _) => raw,
            _ => {
                let octets = unhex(raw.as_bytes()).ok_or_else(|| bad("hex"))?;
                hex(&octets)
            }
        };
        let vpf = (fo >> 3) & 0x03;
        Ok(Submitted {
            at: self.now,
            mr: 0,
            client_mr: 0,
            destination: da.to_owned(),
            text,
            alphabet,
            dcs: dcs_raw,
            first_octet: fo,
            srr: fo & 0x20 != 0,
            udh: None,
            concat: None,
            sca: None,
            validity: if vpf == 2 {
                format!("relative {vp}")
            } else {
                "none".to_owned()
            },
            tpdu_hex: String::new(),
            text_mode: true,
        })
    }

    // ---- storage commands ---------------------------------------------------------------

    fn cmgl(&mut self, arg: Option<&str>, info: &mut Vec<String>) -> Result<(), Final> {
        let mem = self.s.mems[0];
        self.need_mem(mem)?;
        let want: Option<Stat> = if self.s.text_mode {
            match arg.map(|a| unquote(a).to_ascii_uppercase()).as_deref() {
                None | Some("REC UNREAD") => Some(Stat::RecUnread),
                Some("REC READ") => Some(Stat::RecRead),
                Some("STO UNSENT") => Some(Stat::StoUnsent),
                Some("STO SENT") => Some(Stat::StoSent),
                Some("ALL") => None,
                Some(_) => return Err(Final::Cms(cms::BAD_TEXT)),
            }
        } else {
            match arg.map(|a| a.trim()) {
                None | Some("0") => Some(Stat::RecUnread),
                Some("1") => Some(Stat::RecRead),
                Some("2") => Some(Stat::StoUnsent),
                Some("3") => Some(Stat::StoSent),
                Some("4") => None,
                Some(_) => return Err(Final::Cms(cms::BAD_PDU)),
            }
        };
        let mut lines = Vec::new();
        for index in self.store(mem).indices() {
            let Some(msg) = self.store(mem).get(index).cloned() else {
                continue;
            };
            if want.is_some_and(|w| w != msg.stat) {
                continue;
            }
            if self.s.text_mode {
                lines.push(self.text_listing(index, &msg));
            } else {
                lines.push(format!(
                    "+CMGL: {},{},,{}\r\n{}",
                    index,
                    msg.stat.code(),
                    msg.tpdu_len,
                    hex(&msg.pdu)
                ));
            }
            self.mark_read(mem, index);
        }
        if !lines.is_empty() {
            info.push(lines.join("\r\n"));
        }
        Ok(())
    }

    fn mark_read(&mut self, mem: Mem, index: u16) {
        let now = self.now;
        if let Some(m) = self.store_mut(mem).get_mut(index)
            && m.stat == Stat::RecUnread
        {
            m.stat = Stat::RecRead;
        }
        self.log.push(Event::Read {
            at: now,
            mem,
            index,
        });
    }

    fn cmgr(&mut self, index: u16, info: &mut Vec<String>) -> Result<(), Final> {
        let mem = self.s.mems[0];
        self.need_mem(mem)?;
        if !self.store(mem).in_range(index) {
            return Err(Final::Cms(cms::BAD_INDEX));
        }
        let Some(msg) = self.store(mem).get(index).cloned() else {
            // SIM800 answers an empty index with a bare OK; others with an error.
            return match self.cfg.profile {
                Profile::Sim800 => Ok(()),
                _ => Err(Final::Cms(cms::BAD_INDEX)),
            };
        };
        if self.s.text_mode {
            info.push(self.text_read(&msg));
        } else {
            info.push(format!(
                "+CMGR: {},,{}\r\n{}",
                msg.stat.code(),
                msg.tpdu_len,
                hex(&msg.pdu)
            ));
        }
        self.mark_read(mem, index);
        Ok(())
    }

    fn cmgd(&mut self, index: u16, flag: u8) -> Result<(), Final> {
        let mem = self.s.mems[0];
        self.need_mem(mem)?;
        if flag == 0 && !self.store(mem).in_range(index) {
            return Err(Final::Cms(cms::BAD_INDEX));
        }
        // TS 27.005 3.5.4 `<delflag>`: 0 the index, 1 all read, 2 read and sent,
        // 3 read, sent and unsent, 4 all.
        let victims: Vec<u16> = if flag == 0 {
            vec![index]
        } else {
            self.store(mem)
                .indices()
                .into_iter()
                .filter(|i| {
                    self.store(mem).get(*i).is_some_and(|m| match flag {
                        1 => m.stat == Stat::RecRead,
                        2 => matches!(m.stat, Stat::RecRead | Stat::StoSent),
                        3 => m.stat != Stat::RecUnread,
                        _ => true,
                    })
                })
                .collect()
        };
        for i in victims {
            if let Some(m) = self.store_mut(mem).take(i) {
                self.log.push(Event::Deleted {
                    at: self.now,
                    mem,
                    index: i,
                    kind: m.kind,
                    was_read: m.stat != Stat::RecUnread,
                });
            }
        }
        // Room again: messages the network holds can come in.
        self.deliver_network();
        Ok(())
    }

    /// Text-mode data of a stored deliver (TS 27.005 3.1 `<data>`).
    fn text_data(&self, ud: &gsm::UserData<'_>) -> String {
        let text = record::ud_text(ud);
        match (ud.alphabet(), self.s.cscs.as_str()) {
            (gsm::Alphabet::Gsm7, "UCS2") | (gsm::Alphabet::Ucs2, _) => encode_ucs2_hex(&text),
            (gsm::Alphabet::Gsm7, "HEX") => {
                let mut buf = vec![0u8; 320];
                let n = gsm::gsm7::encode_unpacked(&text, &mut buf).unwrap_or(0);
                hex(buf.get(..n).unwrap_or_default())
            }
            _ => text,
        }
    }

    fn text_read(&self, msg: &Stored) -> String {
        let stat = msg.stat.name();
        match gsm::decode_with_sca(&msg.pdu, Direction::ScToMs).map(|p| p.tpdu) {
            Ok(Tpdu::Deliver(d)) => {
                let oa = d.originator.to_string();
                let scts = clock::text(&d.sc_timestamp);
                let data = self.text_data(&d.user_data);
                let head = if self.s.csdh {
                    format!(
                        "+CMGR: \"{stat}\",\"{oa}\",,\"{scts}\",{},{},{},{},\"{}\",145,{}",
                        d.originator.type_of_address(),
                        d.first_octet(),
                        d.pid.0,
                        d.dcs.0,
                        self.s.smsc,
                        d.user_data.body_units()
                    )
                } else {
                    format!("+CMGR: \"{stat}\",\"{oa}\",,\"{scts}\"")
                };
                format!("{head}\r\n{data}")
            }
            Ok(Tpdu::StatusReport(r)) => format!(
                "+CMGR: \"{stat}\",{},{},\"{}\",{},\"{}\",\"{}\",{}",
                r.first_octet(),
                r.message_ref,
                r.recipient,
                r.recipient.type_of_address(),
                clock::text(&r.sc_timestamp),
                clock::text(&r.discharge_time),
                r.status.0
            ),
            _ => format!("+CMGR: \"{stat}\""),
        }
    }

    fn text_listing(&self, index: u16, msg: &Stored) -> String {
        let stat = msg.stat.name();
        match gsm::decode_with_sca(&msg.pdu, Direction::ScToMs).map(|p| p.tpdu) {
            Ok(Tpdu::Deliver(d)) => {
                let oa = d.originator.to_string();
                let scts = clock::text(&d.sc_timestamp);
                let extra = if self.s.csdh {
                    format!(
                        ",{},{}",
                        d.originator.type_of_address(),
                        d.user_data.body_units()
                    )
                } else {
                    String::new()
                };
                format!(
                    "+CMGL: {index},\"{stat}\",\"{oa}\",,\"{scts}\"{extra}\r\n{}",
                    self.text_data(&d.user_data)
                )
            }
            Ok(Tpdu::StatusReport(r)) => format!(
                "+CMGL: {index},\"{stat}\",{},{},\"{}\",{},\"{}\",\"{}\",{}",
                r.first_octet(),
                r.message_ref,
                r.recipient,
                r.recipient.type_of_address(),
                clock::text(&r.sc_timestamp),
                clock::text(&r.discharge_time),
                r.status.0
            ),
            _ => format!("+CMGL: {index},\"{stat}\""),
        }
    }

    // ---- timed actions ------------------------------------------------------------------

    fn run(&mut self, action: Action) {
        match action {
            Action::Respond { bytes, then } => self.write_response(bytes, then),
            Action::FinishSend(Ok((sub, recipient))) => {
                let mut sub = sub;
                sub.at = self.now;
                let mr = sub.mr;
                let srr = sub.srr;
                let bytes = [frame(&format!("+CMGS: {mr}")), frame("OK")].concat();
                self.log.push(Event::Accepted(sub));
                self.write_response(bytes, None);
                if srr {
                    let r = self.draw();
                    if let Some(status) = self.cfg.receipt_mix.pick(r).status() {
                        let submitted_at = self.now;
                        self.schedule(
                            self.cfg.receipt_delay_ms,
                            Action::Receipt {
                                mr,
                                recipient,
                                submitted_at,
                                status,
                            },
                        );
                    }
                }
            }
            Action::FinishSend(Err((reason, fin, destination))) => {
                let result = self.final_text(fin);
                self.log.push(Event::Rejected {
                    at: self.now,
                    destination,
                    reason,
                    result,
                });
                let bytes = frame(&self.final_text(fin));
                self.write_response(bytes, None);
            }
            Action::Receipt {
                mr,
                recipient,
                submitted_at,
                status,
            } => self.receipt(mr, recipient, submitted_at, status),
            Action::BootDone => {
                self.booting = false;
                for line in self.cfg.profile.boot_banner() {
                    let line = if *line == "+CPIN: READY" {
                        match (self.sim_present, self.pin_ok) {
                            (false, _) => "+CPIN: NOT INSERTED",
                            (true, false) => "+CPIN: SIM PIN",
                            (true, true) => line,
                        }
                    } else {
                        line
                    };
                    self.out.extend_from_slice(&frame(line));
                }
                self.last_final = self.now;
            }
            Action::HangEnd => {
                if self.hung {
                    self.hung = false;
                    self.log.push(Event::Fault {
                        at: self.now,
                        what: "unhang".into(),
                    });
                }
            }
        }
    }

    fn receipt(&mut self, mr: u8, recipient: Address, submitted_at: Millis, status: u8) {
        let report = StatusReport {
            more_messages: false,
            loop_prevention: false,
            qualifier: gsm::ReportQualifier::Submit,
            message_ref: mr,
            recipient: recipient.clone(),
            sc_timestamp: self.stamp(submitted_at),
            discharge_time: self.stamp(self.now),
            status: StatusCode(status),
            pid: None,
            dcs: None,
            user_data: None,
        };
        let Some((pdu, tpdu_len)) = self.encode_sc(Tpdu::StatusReport(report)) else {
            return;
        };
        self.network.push_back(NetMsg {
            pdu,
            tpdu_len,
            kind: StoredKind::StatusReport,
            class: None,
            from: recipient.to_string(),
            text: String::new(),
            concat: None,
            mr,
            status,
        });
        self.deliver_network();
    }

    /// SCA (the configured SMSC) + TPDU.
    fn encode_sc(&self, tpdu: Tpdu<'_>) -> Option<(Vec<u8>, usize)> {
        let sca = Address::parse(&self.cfg.smsc).ok();
        let pdu = Pdu { sca, tpdu };
        let mut buf = vec![0u8; pdu.encoded_len()];
        let enc = pdu.encode(&mut buf).ok()?;
        buf.truncate(enc.len);
        Some((buf, enc.tpdu_len))
    }

    /// Hands waiting network messages to the modem while it can take them.
    fn deliver_network(&mut self) {
        while let Some(msg) = self.network.front().cloned() {
            let msg = &msg;
            if self.booting || !self.registration().is_registered() {
                return;
            }
            let [mode, mt, _bm, ds, _bfr] = self.s.cnmi;
            let mem = self.s.mems[2];
            let route = match msg.kind {
                StoredKind::Deliver => {
                    let direct = matches!(
                        (mt, msg.class),
                        (2, None | Some(MessageClass::Class0 | MessageClass::Class1))
                            | (3, Some(MessageClass::Class3))
                    );
                    if direct && mode != 0 {
                        Route::Direct
                    } else {
                        match self.store_mut(mem).put(stored(msg)) {
                            Some(i) => Route::Stored(mem, i),
                            // Full: the network keeps it and tries again later.
                            None => return,
                        }
                    }
                }
                StoredKind::StatusReport => match ds {
                    0 => Route::Dropped,
                    1 if mode != 0 => Route::Direct,
                    _ => match self.store_mut(mem).put(stored(msg)) {
                        Some(i) => Route::Stored(mem, i),
                        None => return,
                    },
                },
            };
            let Some(msg) = self.network.pop_front() else {
                return;
            };
            self.announce(&msg, route, mode, mt);
        }
    }

    fn announce(&mut self, msg: &NetMsg, route: Route, mode: u8, mt: u8) {
        let urc = match (msg.kind, route) {
            (_, Route::Dropped) => None,
            (StoredKind::Deliver, Route::Stored(mem, i)) => {
                (mode != 0 && mt != 0).then(|| format!("+CMTI: \"{mem}\",{i}"))
            }
            (StoredKind::StatusReport, Route::Stored(mem, i)) => {
                (mode != 0).then(|| format!("+CDSI: \"{mem}\",{i}"))
            }
            (StoredKind::Deliver, Route::Direct) => Some(self.direct_text(msg, "+CMT")),
            (StoredKind::StatusReport, Route::Direct) => Some(self.direct_text(msg, "+CDS")),
        };
        if let Some(urc) = urc {
            self.urcs.push_back(frame(&urc));
        }
        self.log.push(match msg.kind {
            StoredKind::Deliver => Event::Inbound {
                at: self.now,
                from: msg.from.clone(),
                text: msg.text.clone(),
                concat: msg.concat,
                route,
            },
            StoredKind::StatusReport => Event::Receipt {
                at: self.now,
                mr: msg.mr,
                recipient: msg.from.clone(),
                status: msg.status,
                route,
            },
        });
    }

    /// `+CMT: ,<length>\r\n<pdu>` / `+CDS: <length>\r\n<pdu>` (TS 27.005 3.4.1), or their
    /// text-mode forms.
    fn direct_text(&self, msg: &NetMsg, name: &str) -> String {
        if !self.s.text_mode {
            return match name {
                "+CMT" => format!("+CMT: ,{}\r\n{}", msg.tpdu_len, hex(&msg.pdu)),
                _ => format!("+CDS: {}\r\n{}", msg.tpdu_len, hex(&msg.pdu)),
            };
        }
        match gsm::decode_with_sca(&msg.pdu, Direction::ScToMs).map(|p| p.tpdu) {
            Ok(Tpdu::Deliver(d)) => format!(
                "+CMT: \"{}\",,\"{}\"\r\n{}",
                d.originator,
                clock::text(&d.sc_timestamp),
                self.text_data(&d.user_data)
            ),
            Ok(Tpdu::StatusReport(r)) => format!(
                "+CDS: {},{},\"{}\",{},\"{}\",\"{}\",{}",
                r.first_octet(),
                r.message_ref,
                r.recipient,
                r.recipient.type_of_address(),
                clock::text(&r.sc_timestamp),
                clock::text(&r.discharge_time),
                r.status.0
            ),
            _ => String::new(),
        }
    }

    // ---- control ------------------------------------------------------------------------

    /// The network delivers an SMS to this modem: split into parts if needed, each an
    /// SMS-DELIVER from the configured SMSC, stored or pushed per `AT+CNMI`.
    pub fn inject_sms(&mut self, now: Millis, sms: &InboundSms) -> Result<usize, InjectError> {
        self.advance(now);
        let from = Address::parse(&sms.from).map_err(InjectError::Sender)?;
        let planned = plan(&sms.text, &PlanOptions::default()).map_err(InjectError::Text)?;
        self.concat_ref = self.concat_ref.wrapping_add(1);
        let reference = u16::from(self.concat_ref);
        let scts = self.stamp(self.now);
        let mut parts = Vec::new();
        for seg in planned.segments(reference) {
            let deliver = Deliver {
                more_messages: false,
                loop_prevention: false,
                status_report_indication: false,
                reply_path: false,
                originator: from.clone(),
                pid: Pid(0),
                dcs: Dcs::new(seg.encoding.alphabet(), sms.class),
                sc_timestamp: scts,
                user_data: seg.user_data(),
            };
            let (pdu, tpdu_len) = self
                .encode_sc(Tpdu::Deliver(deliver))
                .ok_or_else(|| InjectError::Pdu("cannot encode".into()))?;
            parts.push(NetMsg {
                pdu,
                tpdu_len,
                kind: StoredKind::Deliver,
                class: sms.class,
                from: from.to_string(),
                text: seg.text.to_owned(),
                concat: seg.concat,
                mr: 0,
                status: 0,
            });
        }
        let n = parts.len();
        self.network.extend(parts);
        self.run_due();
        Ok(n)
    }

    /// The network delivers a raw PDU (hex, with SCA): an SMS-DELIVER or SMS-STATUS-REPORT.
    pub fn inject_pdu(&mut self, now: Millis, pdu_hex: &str) -> Result<(), InjectError> {
        self.advance(now);
        let pdu = unhex(pdu_hex.as_bytes()).ok_or_else(|| InjectError::Pdu("not hex".into()))?;
        let decoded = gsm::decode_with_sca(&pdu, Direction::ScToMs)
            .map_err(|e| InjectError::Pdu(e.to_string()))?;
        let sca_len = 1 + usize::from(pdu.first().copied().unwrap_or(0));
        let tpdu_len = pdu.len().saturating_sub(sca_len);
        let msg = match decoded.tpdu {
            Tpdu::Deliver(d) => NetMsg {
                pdu: pdu.clone(),
                tpdu_len,
                kind: StoredKind::Deliver,
                class: d.dcs.class(),
                from: d.originator.to_string(),
                text: record::ud_text(&d.user_data),
                concat: d.user_data.concat(),
                mr: 0,
                status: 0,
            },
            Tpdu::StatusReport(r) => NetMsg {
                pdu: pdu.clone(),
                tpdu_len,
                kind: StoredKind::StatusReport,
                class: None,
                from: r.recipient.to_string(),
                text: String::new(),
                concat: None,
                mr: r.message_ref,
                status: r.status.0,
            },
            Tpdu::Submit(_) => return Err(InjectError::Pdu("an SMS-SUBMIT".into())),
        };
        self.network.push_back(msg);
        self.run_due();
        Ok(())
    }

    /// Applies a fault or condition.
    pub fn fault(&mut self, now: Millis, fault: Fault) {
        self.advance(now);
        self.log.push(Event::Fault {
            at: self.now,
            what: fault_name(&fault),
        });
        match fault {
            Fault::Hang(for_ms) => {
                self.hang();
                if let Some(ms) = for_ms {
                    self.schedule(ms, Action::HangEnd);
                }
            }
            Fault::Unhang => self.hung = false,
            Fault::CmsAfterBody { code, count } => {
                let n = usize::try_from(count).unwrap_or(usize::MAX).min(10_000);
                self.cms_faults.extend(std::iter::repeat_n(code, n));
            }
            Fault::SimRemoved => {
                if self.sim_present {
                    let before = self.registration();
                    self.sim_present = false;
                    self.urcs.push_back(frame("+CPIN: NOT READY"));
                    self.reg_changed(before);
                }
            }
            Fault::SimInserted => {
                if !self.sim_present {
                    let before = self.registration();
                    self.sim_present = true;
                    self.pin_ok = self.cfg.pin.is_none();
                    self.urcs.push_back(frame(if self.pin_ok {
                        "+CPIN: READY"
                    } else {
                        "+CPIN: SIM PIN"
                    }));
                    self.reg_changed(before);
                }
            }
            Fault::Deregister(r) => {
                let before = self.registration();
                self.reg = r;
                self.reg_changed(before);
            }
            Fault::Register => {
                let before = self.registration();
                self.reg = Registration::Home;
                self.reg_changed(before);
            }
            Fault::Garbage(bytes) => self.urcs.push_back(bytes),
            Fault::Reboot => self.reboot(),
            Fault::Slow(ms) => self.slow_ms = ms,
            Fault::Signal(s) => self.signal = s,
            Fault::Clear => {
                self.hung = false;
                self.cms_faults.clear();
                self.slow_ms = 0;
                self.fault(now, Fault::SimInserted);
                self.fault(now, Fault::Register);
            }
        }
        self.run_due();
    }

    /// The power key was pressed: the modem switches off and on again (a reboot that also
    /// ends a hang).
    pub fn power_key(&mut self, now: Millis) {
        self.advance(now);
        self.reboot();
        self.run_due();
    }

    /// Stops the AT interface: whatever was in progress is lost.
    fn hang(&mut self) {
        self.hung = true;
        self.abort_in_progress();
    }

    fn abort_in_progress(&mut self) {
        let now = self.now;
        let mut lost = Vec::new();
        self.timers.retain(|(_, _, a)| match a {
            Action::FinishSend(Ok((sub, _))) => {
                lost.push(sub.destination.clone());
                false
            }
            Action::FinishSend(Err(_)) | Action::Respond { .. } | Action::BootDone => false,
            Action::Receipt { .. } | Action::HangEnd => true,
        });
        if let Mode::Input { target, .. } = &self.mode
            && let Target::Text { da } = target
        {
            lost.push(da.clone());
        }
        for destination in lost {
            self.log.push(Event::SendLost {
                at: now,
                destination,
            });
        }
        self.mode = Mode::Command;
        self.line.clear();
        self.held.clear();
    }

    fn reboot(&mut self) {
        self.abort_in_progress();
        // A TP-MR given but not confirmed is gone; the counter itself lives on (real modems
        // keep it on the SIM, TS 31.102 EF_SMSS).
        self.log.push(Event::Rebooted { at: self.now });
        self.hung = false;
        self.s = Settings::defaults(&self.cfg);
        self.pin_ok = self.cfg.pin.is_none();
        self.radio = true;
        self.urcs.clear();
        self.timers
            .retain(|(_, _, a)| !matches!(a, Action::HangEnd));
        self.booting = true;
        self.next_noise = self.now.saturating_add(NOISE_MS);
        self.schedule(self.cfg.boot_ms, Action::BootDone);
    }
}

fn stored(msg: &NetMsg) -> Stored {
    Stored {
        stat: Stat::RecUnread,
        pdu: msg.pdu.clone(),
        tpdu_len: msg.tpdu_len,
        kind: msg.kind,
    }
}

fn fault_name(f: &Fault) -> String {
    match f {
        Fault::Hang(None) => "hang".into(),
        Fault::Hang(Some(ms)) => format!("hang {ms}"),
        Fault::Unhang => "unhang".into(),
        Fault::CmsAfterBody { code, count } => format!("cms {code} {count}"),
        Fault::SimRemoved => "sim-removed".into(),
        Fault::SimInserted => "sim-inserted".into(),
        Fault::Deregister(r) => format!("deregister {}", r.code()),
        Fault::Register => "register".into(),
        Fault::Garbage(b) => format!("garbage {}", hex(b)),
        Fault::Reboot => "reboot".into(),
        Fault::Slow(ms) => format!("slow {ms}"),
        Fault::Signal(s) => format!("signal {s}"),
        Fault::Clear => "clear".into(),
    }
}

/// `\r\n<text>\r\n` (V.250 5.7.1 with S3 = CR, S4 = LF).
fn frame(text: &str) -> Vec<u8> {
    format!("\r\n{text}\r\n").into_bytes()
}

/// A numeric parameter in `0..=max` (absent is 0).
fn small(p: Option<&String>, max: u32) -> Result<u8, Final> {
    match at::num(p).map_err(|_| Final::Error)? {
        None => Ok(0),
        Some(v) if v <= max => Ok(v as u8),
        Some(_) => Err(Final::Cme(cme::NOT_ALLOWED)),
    }
}

fn index_param(p: Option<&String>) -> Result<u16, Final> {
    at::num(p)
        .map_err(|_| Final::Error)?
        .and_then(|v| u16::try_from(v).ok())
        .ok_or(Final::Cms(cms::BAD_INDEX))
}

fn cme_text(n: u16) -> &'static str {
    match n {
        cme::NOT_ALLOWED => "operation not allowed",
        cme::NO_SIM => "SIM not inserted",
        cme::PIN_REQUIRED => "SIM PIN required",
        cme::WRONG_PASSWORD => "incorrect password",
        cme::NO_NETWORK => "no network service",
        _ => "unknown",
    }
}

fn encode_ucs2_hex(text: &str) -> String {
    let mut out = String::new();
    for unit in text.encode_utf16() {
        out.push_str(&format!("{unit:04X}"));
    }
    out
}

fn decode_ucs2_hex(s: &str) -> Option<String> {
    let bytes = unhex(s.as_bytes())?;
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    let units: Vec<u16> = bytes
        .chunks(2)
        .map(|c| match c {
            [a, b] => u16::from_be_bytes([*a, *b]),
            _ => 0,
        })
        .collect();
    String::from_utf16(&units).ok()
}
