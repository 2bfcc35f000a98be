//! [`Runner`]: the supervisor's task. It owns the serial port, the PWRKEY pin and the delay,
//! runs one AT command at a time, and is the only code that writes to the modem.
//!
//! Structure: [`Engine`] holds the port, the delay and the receive side in separate fields from
//! everything else ([`Ctx`]), so a timeout future can borrow the delay while the port is read and
//! the context updated. The runner itself only adds the health timer (a clone of the delay).
//!
//! Life cycle: `bring_up` (power, handshake, `ATE0`, `+CMEE=1`, profile, SIM, identity,
//! registration, PDU mode, storage, routing, stored-message scan) → `serve` (URCs, requests,
//! health polls) → on any exit, `recover` picks how far back to start (SIM stage, handshake,
//! power cycle) with exponential backoff once the modem stops answering.

use core::pin::pin;

use embassy_futures::select::{Either, Either3, select, select3};
use embassy_sync::blocking_mutex::raw::RawMutex;
use embedded_hal::digital::OutputPin;
use embedded_hal_async::delay::DelayNs;
use embedded_io_async::{Read, Write};
use heapless::Vec;

use super::{Config, Event, Request, SendError, SlotState, State, StoredId};
use crate::command::general::{At, CfunSet, Cgmi, Cgmm, Cmee, Echo};
use crate::command::network::{CopsFormat, CopsQuery, Csq};
use crate::command::sim::{Cimi, CpinEnter, CpinQuery, ReadIccid};
use crate::command::sms::{Cmgd, Cmgf, Cmgl, Cmgr, Cmgs, Cnmi, CpmsSet, ListEntry, Pdu};
use crate::command::{AtCommand, ParseError, Raw, ResponseBuf};
use crate::digest::{Banner, Digester, Final, Item, LINE_CAP, Mem, RegStat, SimState, Urc};
use crate::error::{CmeError, CmsError};
use crate::hex;
use crate::profile::{Profile, ProfileKind};

const RX_CHUNK: usize = 64;
const TX_CAP: usize = 64;
const RESP_CAP: usize = 512;
const UNREAD_CAP: usize = 32;
const OFFERED_CAP: usize = 16;
const ESC: u8 = 0x1b;
const CTRL_Z: u8 = 0x1a;
/// A write that takes longer than this means the port is stuck (flow control, dead USB).
const WRITE_TIMEOUT_MS: u32 = 2_000;
/// How long to listen for the answer to a command cancelled with ESC.
const ESC_DRAIN_MS: u32 = 1_000;
/// Pause after a PIN is accepted: the SIM reads its files before `+CPIN?` says `READY`.
const PIN_SETTLE_MS: u32 = 2_000;
/// Pause while the SIM says it is busy or gives an unknown state.
const SIM_BUSY_MS: u32 = 1_000;

/// How a command failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CmdError {
    Timeout,
    Io,
    Rebooted,
    SimLost,
    Error,
    Cme(CmeError),
    Cms(CmsError),
    Parse(ParseError),
    Encode,
}

impl CmdError {
    fn from_final(f: Final) -> Result<(), Self> {
        match f {
            Final::Ok => Ok(()),
            Final::Error => Err(Self::Error),
            Final::Cme(e) => Err(Self::Cme(e)),
            Final::Cms(e) => Err(Self::Cms(e)),
        }
    }

    /// The modem answered (with an error): it is alive.
    fn is_answer(self) -> bool {
        matches!(
            self,
            Self::Error | Self::Cme(_) | Self::Cms(_) | Self::Parse(_)
        )
    }
}

/// Why serving (or bringing up) stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Exit {
    /// Too many consecutive timeouts while serving.
    Unresponsive,
    /// No answer during bring-up.
    NoAnswer,
    Rebooted,
    SimLost,
    RegistrationLost,
    Reset {
        hard: bool,
    },
    Reconfigure,
    Io,
    /// The modem refused something we cannot do without (`AT+CMGF=0`).
    Fault,
}

/// Where bring-up starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Start {
    /// Try `AT`; if nobody answers, press PWRKEY (twice at most: one press may switch it off).
    Probe,
    /// The modem is on: handshake and initialise.
    Handshake,
    /// Only the SIM stage onwards (SIM lost, registration lost).
    Sim,
    /// Switch off, wait, then as `Probe` after the first `AT`.
    PowerCycle,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Want {
    /// No command: everything is unsolicited.
    Idle,
    /// A final result; information lines are collected.
    Final,
    /// The `> ` prompt, or a final result.
    Prompt,
    /// A final result; `+CMGL` entries are offered as they stream in.
    List,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Got {
    Prompt,
    Final(Final),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Sms,
    Report,
    /// Read from a listing: decided by the TPDU's message type.
    ByType,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stored {
    mem: Mem,
    index: u16,
    kind: Kind,
}

/// Inbound bookkeeping and the flags URCs raise.
#[derive(Debug)]
struct Book {
    /// Known to be in storage, not yet offered.
    unread: Vec<Stored, UNREAD_CAP>,
    /// `unread` overflowed: list storage again when there is room.
    rescan: bool,
    /// Offered to the caller in this epoch, not yet acknowledged.
    offered: Vec<(Mem, u16), OFFERED_CAP>,
    /// Acknowledged, to delete.
    to_delete: Vec<(Mem, u16), OFFERED_CAP>,
    epoch: u16,
    /// Storage being listed, and the last `+CMGL:` header.
    listing: Option<Mem>,
    entry: Option<ListEntry>,
    /// Serving: boot banners and SIM loss now abort what is going on.
    armed: bool,
    rebooted: bool,
    sim_lost: bool,
    /// Late boot banners (`Call Ready`, `SMS Ready`, `PB DONE`) seen since bring-up began; a
    /// second one means a new boot.
    late_banners: u8,
    /// `+CNMI` was refused: poll storage on every health check instead.
    poll_storage: bool,
}

impl Book {
    const fn new() -> Self {
        Self {
            unread: Vec::new(),
            rescan: false,
            offered: Vec::new(),
            to_delete: Vec::new(),
            epoch: 0,
            listing: None,
            entry: None,
            armed: false,
            rebooted: false,
            sim_lost: false,
            late_banners: 0,
            poll_storage: false,
        }
    }

    fn known(&self, mem: Mem, index: u16) -> bool {
        self.offered.contains(&(mem, index))
            || self.to_delete.contains(&(mem, index))
            || self.unread.iter().any(|s| s.mem == mem && s.index == index)
    }

    fn note_stored(&mut self, s: Stored) {
        if self.known(s.mem, s.index) {
            return;
        }
        if self.unread.push(s).is_err() {
            // It stays in storage; a later listing finds it.
            self.rescan = true;
        }
    }
}

/// The TP-MTI of a PDU with its SCA prefix (TS 23.040 9.2.3.1): 0 deliver, 2 status report.
fn message_type(pdu: &[u8]) -> Option<u8> {
    let sca_len = usize::from(*pdu.first()?);
    pdu.get(1 + sca_len).map(|fo| fo & 0x03)
}

/// Everything but the port, the delay and the receive side.
struct Ctx<'a, M: RawMutex, P> {
    shared: &'a State<M>,
    pwrkey: P,
    config: Config,
    profile: &'static Profile,
    tx: [u8; TX_CAP],
    resp: ResponseBuf<RESP_CAP>,
    book: Book,
    consecutive_timeouts: u8,
    backoff_ms: u32,
    pin_rejected: bool,
    cur_mem: Option<Mem>,
}

impl<M: RawMutex, P: OutputPin> Ctx<'_, M, P> {
    fn state(&self) -> SlotState {
        self.shared.update(|s| s.state)
    }

    fn set_state(&mut self, state: SlotState) {
        let changed = self.shared.update(|s| {
            let changed = s.state != state;
            s.state = state;
            changed
        });
        if changed {
            self.shared.state_changed.signal(state);
        }
    }

    fn note_timeout(&mut self) {
        self.consecutive_timeouts = self.consecutive_timeouts.saturating_add(1);
        self.shared
            .update(|s| s.counters.timeouts = s.counters.timeouts.wrapping_add(1));
    }

    fn count(&self, f: impl FnOnce(&mut super::Counters)) {
        self.shared.update(|s| f(&mut s.counters));
    }

    /// Room to offer one more stored message.
    fn room(&self) -> bool {
        self.shared.events.free_capacity() > 0 && !self.book.offered.is_full()
    }

    fn on_item(&mut self, item: Item<'_>, want: Want) -> Option<Result<Got, CmdError>> {
        match item {
            Item::Echo => {}
            Item::Prompt => {
                if want == Want::Prompt {
                    return Some(Ok(Got::Prompt));
                }
            }
            Item::Final(f) => {
                // A stray final with nothing pending (a late answer) is dropped.
                if want != Want::Idle {
                    return Some(Ok(Got::Final(f)));
                }
            }
            Item::Info(line) => match want {
                Want::List => match ListEntry::parse(line) {
                    Ok(entry) => self.book.entry = Some(entry),
                    Err(_) => self.count(|c| c.garbage = c.garbage.wrapping_add(1)),
                },
                Want::Idle => self.count(|c| c.unknown = c.unknown.wrapping_add(1)),
                Want::Final | Want::Prompt => self.resp.push(line),
            },
            Item::Pdu(line) => match want {
                Want::List => {
                    if let (Some(entry), Some(mem)) = (self.book.entry.take(), self.book.listing) {
                        self.offer_listed(mem, entry, line);
                    }
                }
                Want::Idle => self.count(|c| c.garbage = c.garbage.wrapping_add(1)),
                Want::Final | Want::Prompt => self.resp.push(line),
            },
            Item::Urc(urc) => self.on_urc(urc),
            Item::Garbage(_) => self.count(|c| c.garbage = c.garbage.wrapping_add(1)),
        }
        if self.book.armed && self.book.rebooted {
            return Some(Err(CmdError::Rebooted));
        }
        if self.book.armed && self.book.sim_lost {
            return Some(Err(CmdError::SimLost));
        }
        None
    }

    fn on_urc(&mut self, urc: Urc<'_>) {
        match urc {
            Urc::Cmti { mem, index } => self.book.note_stored(Stored {
                mem,
                index,
                kind: Kind::Sms,
            }),
            Urc::Cdsi { mem, index } => self.book.note_stored(Stored {
                mem,
                index,
                kind: Kind::Report,
            }),
            Urc::Cmt { pdu, .. } => self.direct(pdu, false),
            Urc::Cds { pdu, .. } => self.direct(pdu, true),
            Urc::Registration { stat, .. } => {
                self.shared.update(|s| s.registration = Some(stat));
            }
            Urc::Sim(SimState::NotReady | SimState::NotInserted) => self.book.sim_lost = true,
            // A SIM that asks for a PIN on its own was reset or swapped.
            Urc::Sim(SimState::PinRequired | SimState::PukRequired) => self.book.sim_lost = true,
            Urc::Sim(_) => {}
            Urc::Banner(b) => {
                let bit = match b {
                    Banner::CallReady => 1,
                    Banner::SmsReady => 2,
                    Banner::PbDone => 4,
                    Banner::Rdy | Banner::PowerDown | Banner::VoltagePowerDown => 0,
                };
                // `RDY` and power-down are only ever printed at boot/shutdown; the late
                // banners follow our own power-on too, so only a repeat means a new boot.
                if bit == 0 || self.book.late_banners & bit != 0 {
                    self.book.rebooted = true;
                }
                self.book.late_banners |= bit;
            }
            Urc::Ring => self.count(|c| c.noise = c.noise.wrapping_add(1)),
            Urc::Other(line) => {
                if self.profile.is_noise(line) {
                    self.count(|c| c.noise = c.noise.wrapping_add(1));
                } else {
                    self.count(|c| c.unknown = c.unknown.wrapping_add(1));
                }
            }
        }
    }

    /// A directly routed `+CMT`/`+CDS`: it exists only here, so it is queued if there is room
    /// and otherwise counted as dropped.
    fn direct(&mut self, hex_pdu: &[u8], report: bool) {
        let mut pdu = Pdu::new();
        if hex::decode(hex_pdu, &mut pdu).is_err() {
            self.count(|c| c.unreadable = c.unreadable.wrapping_add(1));
            return;
        }
        let event = if report {
            Event::StatusReport { id: None, pdu }
        } else {
            Event::Inbound { id: None, pdu }
        };
        if self.shared.events.try_send(event).is_err() {
            self.count(|c| c.dropped = c.dropped.wrapping_add(1));
        } else if report {
            self.count(|c| c.reports = c.reports.wrapping_add(1));
        } else {
            self.count(|c| c.received = c.received.wrapping_add(1));
        }
    }

    /// A `+CMGL` entry with its PDU line.
    fn offer_listed(&mut self, mem: Mem, entry: ListEntry, hex_pdu: &[u8]) {
        // Only received messages (0 unread, 1 read); stored outgoing ones are not ours.
        let index = entry.index;
        if entry.stat > 1
            || self.book.offered.contains(&(mem, index))
            || self.book.to_delete.contains(&(mem, index))
        {
            return;
        }
        // Announced earlier but not read yet: the listing carries the PDU, take it from here.
        if let Some(pos) = self
            .book
            .unread
            .iter()
            .position(|s| s.mem == mem && s.index == index)
        {
            if !self.room() {
                return;
            }
            self.book.unread.remove(pos);
        }
        if !self.room() {
            self.book.note_stored(Stored {
                mem,
                index: entry.index,
                kind: Kind::ByType,
            });
            return;
        }
        let mut pdu = Pdu::new();
        if hex::decode(hex_pdu, &mut pdu).is_err() {
            self.count(|c| c.unreadable = c.unreadable.wrapping_add(1));
            return;
        }
        self.offer(mem, entry.index, Kind::ByType, pdu);
    }

    /// Hands a stored message to the caller. The caller checked `room()`.
    fn offer(&mut self, mem: Mem, index: u16, kind: Kind, pdu: Pdu) {
        let report = match kind {
            Kind::Sms => false,
            Kind::Report => true,
            Kind::ByType => message_type(&pdu) == Some(2),
        };
        let id = Some(StoredId {
            mem,
            index,
            epoch: self.book.epoch,
        });
        let event = if report {
            Event::StatusReport { id, pdu }
        } else {
            Event::Inbound { id, pdu }
        };
        if self.book.offered.push((mem, index)).is_err() {
            return;
        }
        if self.shared.events.try_send(event).is_err() {
            // Cannot happen (room() was checked and we are the only sender); keep it stored.
            self.book.offered.pop();
            self.book.note_stored(Stored { mem, index, kind });
            return;
        }
        if report {
            self.count(|c| c.reports = c.reports.wrapping_add(1));
        } else {
            self.count(|c| c.received = c.received.wrapping_add(1));
        }
    }

    fn ack(&mut self, id: StoredId) {
        if id.epoch != self.book.epoch {
            return;
        }
        if let Some(pos) = self
            .book
            .offered
            .iter()
            .position(|o| *o == (id.mem, id.index))
        {
            self.book.offered.swap_remove(pos);
            // Room is guaranteed: both vectors have the same capacity and an entry moves.
            let _ = self.book.to_delete.push((id.mem, id.index));
        }
    }

    fn reply(&self, seq: u32, result: Result<u8, SendError>) {
        self.shared.submit_done.signal((seq, result));
    }

    /// A request that arrives while the slot is not serving.
    fn early_request(&mut self, req: Request) -> Result<(), Exit> {
        match req {
            Request::Submit { seq, .. } => {
                let state = self.state();
                self.reply(seq, Err(SendError::NotReady(state)));
                Ok(())
            }
            Request::Ack(id) => {
                self.ack(id);
                Ok(())
            }
            Request::Reset { hard } => Err(Exit::Reset { hard }),
            Request::Configure(config) => {
                self.config = config;
                self.pin_rejected = false;
                Err(Exit::Reconfigure)
            }
        }
    }
}

/// The receive side: raw bytes and the digester.
struct Rx {
    dig: Digester<LINE_CAP>,
    buf: [u8; RX_CHUNK],
    pos: usize,
    len: usize,
}

impl Rx {
    /// Classifies buffered bytes until `want` is met or a URC aborts; `None` once they are all used.
    fn pump<M: RawMutex, P: OutputPin>(
        &mut self,
        cx: &mut Ctx<'_, M, P>,
        want: Want,
    ) -> Option<Result<Got, CmdError>> {
        loop {
            let input = self.buf.get(self.pos..self.len).unwrap_or_default();
            let (used, item) = self.dig.feed(input);
            self.pos = self.pos.saturating_add(used).min(self.len);
            let item = item?;
            if let Some(done) = cx.on_item(item, want) {
                return Some(done);
            }
        }
    }
}

/// What woke the idle loop.
enum Wake {
    Input,
    Request(Request),
    Taken,
    IoError,
}

struct Engine<'a, M: RawMutex, IO, P, D> {
    io: IO,
    delay: D,
    rx: Rx,
    cx: Ctx<'a, M, P>,
}

impl<M, IO, P, D> Engine<'_, M, IO, P, D>
where
    M: RawMutex,
    IO: Read + Write,
    P: OutputPin,
    D: DelayNs,
{
    /// Writes with a time limit.
    async fn write(&mut self, bytes: &[u8]) -> Result<(), CmdError> {
        let write = async {
            self.io.write_all(bytes).await?;
            self.io.flush().await
        };
        match select(write, self.delay.delay_ms(WRITE_TIMEOUT_MS)).await {
            Either::First(Ok(())) => Ok(()),
            _ => Err(CmdError::Io),
        }
    }

    /// Writes a command line and tells the digester about it.
    async fn send_line<C: AtCommand>(&mut self, cmd: &C) -> Result<(), CmdError> {
        let line = cmd.encode(&mut self.cx.tx).map_err(|_| CmdError::Encode)?;
        let body = line.strip_suffix(b"\r").unwrap_or(line);
        self.rx.dig.begin(body);
        self.cx.resp.clear();
        let write = async {
            self.io.write_all(line).await?;
            self.io.flush().await
        };
        match select(write, self.delay.delay_ms(WRITE_TIMEOUT_MS)).await {
            Either::First(Ok(())) => Ok(()),
            _ => Err(CmdError::Io),
        }
    }

    /// Reads and classifies until `want` is met, `timeout_ms` passes, or a URC aborts.
    async fn wait(&mut self, timeout_ms: u32, want: Want) -> Result<Got, CmdError> {
        let mut deadline = pin!(self.delay.delay_ms(timeout_ms));
        loop {
            if let Some(done) = self.rx.pump(&mut self.cx, want) {
                return done;
            }
            match select(self.io.read(&mut self.rx.buf), deadline.as_mut()).await {
                Either::First(Ok(n)) if n > 0 => {
                    self.rx.pos = 0;
                    self.rx.len = n.min(RX_CHUNK);
                }
                // End of file (a USB modem gone) or a port error.
                Either::First(_) => return Err(CmdError::Io),
                Either::Second(()) => return Err(CmdError::Timeout),
            }
        }
    }

    async fn exec_once<C: AtCommand>(
        &mut self,
        cmd: &C,
        want: Want,
    ) -> Result<C::Response, CmdError> {
        self.send_line(cmd).await?;
        let got = self.wait(C::TIMEOUT_MS, want).await;
        if got.is_err() {
            self.rx.dig.abandon();
        }
        match got? {
            Got::Final(f) => {
                CmdError::from_final(f)?;
                cmd.parse(&self.cx.resp.response()).map_err(CmdError::Parse)
            }
            Got::Prompt => Err(CmdError::Parse(ParseError::Malformed)),
        }
    }

    /// Runs a command, retrying after a timeout as often as it allows.
    async fn exec_as<C: AtCommand>(
        &mut self,
        cmd: &C,
        want: Want,
    ) -> Result<C::Response, CmdError> {
        let mut tries = 0u8;
        loop {
            match self.exec_once(cmd, want).await {
                Err(CmdError::Timeout) if tries < C::RETRIES => tries += 1,
                Err(CmdError::Timeout) => {
                    self.cx.note_timeout();
                    return Err(CmdError::Timeout);
                }
                r => {
                    if r.is_ok() || r.as_ref().is_err_and(|e| e.is_answer()) {
                        self.cx.consecutive_timeouts = 0;
                    }
                    return r;
                }
            }
        }
    }

    async fn exec<C: AtCommand>(&mut self, cmd: &C) -> Result<C::Response, CmdError> {
        self.exec_as(cmd, Want::Final).await
    }

    /// Waits `ms` while handling URCs and requests; returns early on a reset or
    /// reconfiguration request.
    async fn idle(&mut self, ms: u32) -> Result<(), Exit> {
        let mut deadline = pin!(self.delay.delay_ms(ms));
        loop {
            if let Some(Err(e)) = self.rx.pump(&mut self.cx, Want::Idle) {
                return Err(exit_for(e));
            }
            let read = self.io.read(&mut self.rx.buf);
            match select3(read, self.cx.shared.requests.receive(), deadline.as_mut()).await {
                Either3::First(Ok(n)) if n > 0 => {
                    self.rx.pos = 0;
                    self.rx.len = n.min(RX_CHUNK);
                }
                Either3::First(_) => return Err(Exit::Io),
                Either3::Second(req) => self.cx.early_request(req)?,
                Either3::Third(()) => return Ok(()),
            }
        }
    }

    /// Waits `ms` without touching the port (it may be broken), handling requests.
    async fn rest(&mut self, ms: u32) -> Result<(), Exit> {
        let mut deadline = pin!(self.delay.delay_ms(ms));
        loop {
            match select(self.cx.shared.requests.receive(), deadline.as_mut()).await {
                Either::First(req) => self.cx.early_request(req)?,
                Either::Second(()) => return Ok(()),
            }
        }
    }

    async fn press(&mut self, ms: u32) {
        if ms == 0 {
            return;
        }
        let active_high = self.cx.config.pwrkey_active_high;
        // A pin error cannot be helped here; the handshake that follows tells.
        let _ = if active_high {
            self.cx.pwrkey.set_high()
        } else {
            self.cx.pwrkey.set_low()
        };
        self.delay.delay_ms(ms).await;
        let _ = if active_high {
            self.cx.pwrkey.set_low()
        } else {
            self.cx.pwrkey.set_high()
        };
    }

    /// Releases PWRKEY (its idle level) before anything else happens.
    fn release_pwrkey(&mut self) {
        let _ = if self.cx.config.pwrkey_active_high {
            self.cx.pwrkey.set_low()
        } else {
            self.cx.pwrkey.set_high()
        };
    }

    /// `AT` until it answers (autobaud needs a few): whether anything answered.
    async fn probe(&mut self) -> Result<bool, Exit> {
        match self.exec(&At).await {
            Ok(()) => Ok(true),
            Err(CmdError::Io) => Err(Exit::Io),
            // An error answer is still an answer: the modem is there.
            Err(e) if e.is_answer() => Ok(true),
            Err(_) => Ok(false),
        }
    }

    /// [`Self::probe`], and if the modem stays silent, ESC and `AT` once more: it may be
    /// waiting for SMS input (its last host died after the `> ` prompt), where `AT` is only more
    /// message text, for ever. gammu sends ESC before its first `AT` for the same reason.
    async fn handshake(&mut self) -> Result<(), Exit> {
        if self.probe().await? {
            return Ok(());
        }
        self.cancel_input().await.map_err(|_| Exit::Io)?;
        if self.probe().await? {
            Ok(())
        } else {
            Err(Exit::NoAnswer)
        }
    }

    /// ESC ends pending message input without sending (TS 27.005 3.5.1); the answer to the
    /// cancelled command, if any, is swallowed.
    async fn cancel_input(&mut self) -> Result<(), CmdError> {
        self.rx.dig.abandon();
        self.write(&[ESC]).await?;
        let _ = self.wait(ESC_DRAIN_MS, Want::Final).await;
        self.rx.dig.abandon();
        Ok(())
    }

    async fn power_on_and_handshake(&mut self) -> Result<(), Exit> {
        // One press switches a SIM800/EC25 on if it was off, but off if it was on and merely
        // deaf; a second press fixes that case.
        for _ in 0..2 {
            let p = self.cx.profile;
            self.press(p.pwrkey_on_ms).await;
            self.cx.book.late_banners = 0;
            self.idle(p.boot_ms).await?;
            // Only ever called after a handshake (with its ESC) got no answer, and a modem
            // just switched on is not in message input: `AT` alone tells.
            if self.probe().await? {
                return Ok(());
            }
        }
        Err(Exit::NoAnswer)
    }

    fn note_exit(&self, e: CmdError) -> Exit {
        exit_for(e)
    }

    /// A command during bring-up that must succeed.
    async fn must<C: AtCommand>(&mut self, cmd: &C) -> Result<C::Response, Exit> {
        self.exec(cmd).await.map_err(|e| match e {
            CmdError::Timeout => Exit::NoAnswer,
            CmdError::Io => Exit::Io,
            _ => Exit::Fault,
        })
    }

    /// A command during bring-up whose failure we can live with.
    async fn may<C: AtCommand>(&mut self, cmd: &C) -> Result<Option<C::Response>, Exit> {
        match self.exec(cmd).await {
            Ok(r) => Ok(Some(r)),
            Err(CmdError::Io) => Err(Exit::Io),
            Err(CmdError::Timeout)
                if self.cx.consecutive_timeouts >= self.cx.config.max_timeouts =>
            {
                Err(Exit::NoAnswer)
            }
            Err(_) => Ok(None),
        }
    }

    async fn bring_up(&mut self, start: Start) -> Result<(), Exit> {
        let book = &mut self.cx.book;
        // A new epoch: acks for what was offered before are void, and everything still stored
        // is offered again after the listing below.
        book.epoch = book.epoch.wrapping_add(1);
        book.offered.clear();
        book.to_delete.clear();
        book.unread.clear();
        book.rescan = false;
        book.armed = false;
        book.rebooted = false;
        book.sim_lost = false;
        self.cx.consecutive_timeouts = 0;
        self.cx.cur_mem = None;
        if start != Start::Sim {
            self.cx.book.late_banners = 0;
            self.cx.set_state(SlotState::Booting);
            self.rx.dig.reset();
            match start {
                Start::Probe => {
                    if self.handshake().await.is_err() {
                        self.power_on_and_handshake().await?;
                    }
                }
                Start::PowerCycle => {
                    let p = self.cx.profile;
                    if p.pwrkey_off_ms == 0 {
                        // No power key (USB): ask the modem to restart itself, if it listens.
                        let _ = self
                            .exec(&CfunSet {
                                fun: 1,
                                reset: true,
                            })
                            .await;
                    }
                    self.press(p.pwrkey_off_ms).await;
                    self.rest(p.off_wait_ms).await?;
                    if self.handshake().await.is_err() {
                        self.power_on_and_handshake().await?;
                    }
                }
                Start::Handshake | Start::Sim => self.handshake().await?,
            }
            self.init_modem().await?;
        }
        self.sim_stage().await?;
        self.identity().await?;
        self.registration().await?;
        self.sms_setup().await?;
        self.cx.backoff_ms = 0;
        // Banners and SIM changes seen while starting up belong to that start-up.
        self.cx.book.rebooted = false;
        self.cx.book.sim_lost = false;
        self.cx.book.armed = true;
        self.cx.set_state(SlotState::Ready);
        self.list_stored().await.map_err(exit_for)?;
        Ok(())
    }

    async fn init_modem(&mut self) -> Result<(), Exit> {
        self.must(&Echo(false)).await?;
        // Numeric +CME codes. Some firmware refuses; verbose or plain errors still parse.
        self.may(&Cmee(1)).await?;
        match self.cx.config.profile {
            Some(kind) => self.cx.profile = kind.profile(),
            None => {
                let mut text: heapless::String<130> = heapless::String::new();
                if let Some(m) = self.may(&Cgmi).await? {
                    let _ = text.push_str(&m);
                    let _ = text.push(' ');
                }
                let model = self.may(&Cgmm).await?;
                if let Some(m) = &model {
                    let _ = text.push_str(m);
                }
                self.cx.profile = ProfileKind::detect(text.as_bytes()).profile();
                self.cx.shared.update(|s| s.model = model);
            }
        }
        let kind = self.cx.profile.kind;
        self.cx.shared.update(|s| s.profile = Some(kind));
        for cmd in self.cx.profile.init {
            self.may(&Raw(cmd)).await?;
        }
        Ok(())
    }

    async fn sim_stage(&mut self) -> Result<(), Exit> {
        loop {
            self.cx.book.sim_lost = false;
            let answer = self.exec(&CpinQuery).await;
            let missing = match answer {
                Ok(SimState::Ready) => return Ok(()),
                Ok(SimState::PinRequired) => {
                    if let (Some(pin), false) = (self.cx.config.pin.clone(), self.cx.pin_rejected) {
                        match self.exec(&CpinEnter { pin: &pin }).await {
                            Ok(()) => {
                                self.idle(PIN_SETTLE_MS).await?;
                                continue;
                            }
                            Err(CmdError::Io) => return Err(Exit::Io),
                            Err(CmdError::Timeout) => return Err(Exit::NoAnswer),
                            // Wrong PIN (or one we could not even write): never again until
                            // reconfigured.
                            Err(_) => self.cx.pin_rejected = true,
                        }
                    }
                    false
                }
                Ok(SimState::PukRequired | SimState::OtherLock) => false,
                Ok(SimState::NotReady | SimState::NotInserted) => true,
                Err(CmdError::Cme(e)) if e.is_sim_missing() => true,
                Err(CmdError::Cms(e)) if e.is_sim_missing() => true,
                Err(CmdError::Timeout) => return Err(Exit::NoAnswer),
                Err(CmdError::Io) => return Err(Exit::Io),
                // SIM busy, unknown state: it is still starting.
                Ok(SimState::Unknown) | Err(_) => {
                    self.idle(SIM_BUSY_MS).await?;
                    continue;
                }
            };
            if missing {
                self.cx.shared.update(|s| {
                    s.imsi = None;
                    s.iccid = None;
                    s.registration = None;
                    s.operator = None;
                });
                self.cx.set_state(SlotState::NoSim);
            } else {
                self.cx.set_state(SlotState::PinNeeded);
            }
            self.idle(self.cx.config.sim_poll_ms).await?;
        }
    }

    async fn identity(&mut self) -> Result<(), Exit> {
        let imsi = self.may(&Cimi).await?;
        let iccid = match self.cx.profile.iccid {
            Some(c) => self.may(&ReadIccid(c)).await?,
            None => None,
        };
        self.cx.shared.update(|s| {
            s.imsi = imsi;
            s.iccid = iccid;
        });
        Ok(())
    }

    /// The best registration over the profile's queries (any registered wins; then denied).
    async fn query_registration(&mut self) -> Result<RegStat, CmdError> {
        let mut best: Option<RegStat> = None;
        for kind in self.cx.profile.registration {
            match self.exec(&crate::command::network::RegQuery(*kind)).await {
                Ok(stat) if stat.is_registered() => return Ok(stat),
                Ok(stat) => {
                    if best.is_none() || stat == RegStat::Denied {
                        best = Some(stat);
                    }
                }
                Err(e) if e.is_answer() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(best.unwrap_or(RegStat::Unknown))
    }

    async fn registration(&mut self) -> Result<(), Exit> {
        loop {
            if self.cx.book.sim_lost {
                return Err(Exit::SimLost);
            }
            let stat = match self.query_registration().await {
                Ok(stat) => stat,
                Err(CmdError::Io) => return Err(Exit::Io),
                Err(_) => return Err(Exit::NoAnswer),
            };
            self.cx.shared.update(|s| s.registration = Some(stat));
            if stat.is_registered() {
                self.cx.set_state(SlotState::Registered);
                break;
            }
            if stat == RegStat::Denied {
                self.cx.set_state(SlotState::Denied);
                self.idle(self.cx.config.denied_poll_ms).await?;
            } else {
                self.cx.set_state(SlotState::Searching);
                self.idle(self.cx.config.reg_poll_ms).await?;
            }
        }
        self.may(&CopsFormat(0)).await?;
        let op = self.may(&CopsQuery).await?;
        let signal = self.may(&Csq).await?;
        self.cx.shared.update(|s| {
            s.operator = op.and_then(|o| o.name);
            if signal.is_some() {
                s.signal = signal;
            }
        });
        Ok(())
    }

    async fn sms_setup(&mut self) -> Result<(), Exit> {
        self.must(&Cmgf(0)).await?;
        let mem = self.cx.profile.storage;
        let all = CpmsSet {
            mem1: mem,
            mem2: Some(mem),
            mem3: Some(mem),
        };
        if self.may(&all).await?.is_none() {
            let one = CpmsSet {
                mem1: mem,
                mem2: None,
                mem3: None,
            };
            self.may(&one).await?;
        }
        self.cx.cur_mem = Some(mem);
        self.cx.book.poll_storage = self.may(&Cnmi(self.cx.profile.cnmi)).await?.is_none();
        Ok(())
    }

    async fn select_mem(&mut self, mem: Mem) -> Result<(), CmdError> {
        if self.cx.cur_mem == Some(mem) {
            return Ok(());
        }
        self.exec(&CpmsSet {
            mem1: mem,
            mem2: None,
            mem3: None,
        })
        .await?;
        self.cx.cur_mem = Some(mem);
        Ok(())
    }

    /// `AT+CMGL=4` on the profile's storage, offering entries while there is room.
    async fn list_stored(&mut self) -> Result<(), CmdError> {
        let mem = self.cx.profile.storage;
        self.select_mem(mem).await?;
        self.cx.book.listing = Some(mem);
        self.cx.book.entry = None;
        let r = self.exec_as(&Cmgl(4), Want::List).await;
        self.cx.book.listing = None;
        match r {
            Ok(_) => Ok(()),
            // An empty or unsupported listing: nothing to offer.
            Err(e) if e.is_answer() => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn read_stored(&mut self, s: Stored) -> Result<(), CmdError> {
        self.select_mem(s.mem).await?;
        match self.exec(&Cmgr(s.index)).await {
            Ok(Some(stored)) if stored.stat <= 1 => {
                self.cx.offer(s.mem, s.index, s.kind, stored.pdu)
            }
            Ok(_) => {}
            Err(CmdError::Parse(_)) => self
                .cx
                .count(|c| c.unreadable = c.unreadable.wrapping_add(1)),
            // Gone (invalid index) or refused: nothing to offer.
            Err(e) if e.is_answer() => {}
            Err(e) => {
                // Try again later (if the list is full, a later listing finds it).
                if self.cx.book.unread.insert(0, s).is_err() {
                    self.cx.book.rescan = true;
                }
                return Err(e);
            }
        }
        Ok(())
    }

    /// Map a command error while serving to an exit, or carry on.
    fn check(&self, e: CmdError) -> Result<(), Exit> {
        match e {
            CmdError::Timeout if self.cx.consecutive_timeouts < self.cx.config.max_timeouts => {
                Ok(())
            }
            CmdError::Timeout => Err(Exit::Unresponsive),
            CmdError::Rebooted | CmdError::SimLost | CmdError::Io => Err(self.note_exit(e)),
            _ => Ok(()),
        }
    }

    /// Handles buffered input, then pending deletes and reads.
    async fn service(&mut self) -> Result<(), Exit> {
        if let Some(Err(e)) = self.rx.pump(&mut self.cx, Want::Idle) {
            return Err(exit_for(e));
        }
        while let Some(&(mem, index)) = self.cx.book.to_delete.first() {
            let r = match self.select_mem(mem).await {
                Ok(()) => self.exec(&Cmgd { index, flag: None }).await,
                Err(e) => Err(e),
            };
            match r {
                Ok(()) => {
                    self.cx.book.to_delete.remove(0);
                    self.cx.count(|c| c.deleted = c.deleted.wrapping_add(1));
                }
                // Already gone, or not deletable: do not try forever.
                Err(e) if e.is_answer() => {
                    self.cx.book.to_delete.remove(0);
                }
                Err(e) => {
                    self.check(e)?;
                    break;
                }
            }
        }
        while self.cx.room() && !self.cx.book.unread.is_empty() {
            let s = self.cx.book.unread.remove(0);
            if let Err(e) = self.read_stored(s).await {
                self.check(e)?;
                break;
            }
        }
        if self.cx.book.rescan && self.cx.book.unread.is_empty() && self.cx.room() {
            self.cx.book.rescan = false;
            if let Err(e) = self.list_stored().await {
                self.cx.book.rescan = true;
                self.check(e)?;
            }
        }
        Ok(())
    }

    async fn wait_wake(&mut self) -> Wake {
        let read = self.io.read(&mut self.rx.buf);
        match select3(
            read,
            self.cx.shared.requests.receive(),
            self.cx.shared.taken.wait(),
        )
        .await
        {
            Either3::First(Ok(n)) if n > 0 => {
                self.rx.pos = 0;
                self.rx.len = n.min(RX_CHUNK);
                Wake::Input
            }
            Either3::First(_) => Wake::IoError,
            Either3::Second(req) => Wake::Request(req),
            Either3::Third(()) => Wake::Taken,
        }
    }

    async fn on_wake(&mut self, wake: Wake) -> Result<(), Exit> {
        match wake {
            Wake::Input | Wake::Taken => Ok(()),
            Wake::IoError => Err(Exit::Io),
            Wake::Request(Request::Submit { seq, pdu, tpdu_len }) => {
                let result = self.send(&pdu, tpdu_len).await;
                self.cx.reply(seq, result);
                if self.cx.book.rebooted {
                    return Err(Exit::Rebooted);
                }
                if self.cx.book.sim_lost {
                    return Err(Exit::SimLost);
                }
                if result == Err(SendError::Io) {
                    return Err(Exit::Io);
                }
                if self.cx.consecutive_timeouts >= self.cx.config.max_timeouts {
                    return Err(Exit::Unresponsive);
                }
                Ok(())
            }
            Wake::Request(req) => self.cx.early_request(req),
        }
    }

    async fn health(&mut self) -> Result<(), Exit> {
        match self.exec(&Csq).await {
            Ok(sig) => self.cx.shared.update(|s| s.signal = Some(sig)),
            Err(e) => self.check(e)?,
        }
        match self.query_registration().await {
            Ok(stat) => {
                self.cx.shared.update(|s| s.registration = Some(stat));
                if !stat.is_registered() {
                    return Err(Exit::RegistrationLost);
                }
            }
            Err(e) => self.check(e)?,
        }
        if self.cx.book.poll_storage
            && self.cx.room()
            && let Err(e) = self.list_stored().await
        {
            self.check(e)?;
        }
        Ok(())
    }

    async fn send(&mut self, pdu: &[u8], tpdu_len: u8) -> Result<u8, SendError> {
        if self.cx.state() != SlotState::Ready {
            return Err(SendError::NotReady(self.cx.state()));
        }
        self.cx.set_state(SlotState::Sending);
        let result = self.send_inner(pdu, tpdu_len).await;
        match result {
            Ok(_) => self.cx.count(|c| c.sent = c.sent.wrapping_add(1)),
            Err(_) => self
                .cx
                .count(|c| c.send_failures = c.send_failures.wrapping_add(1)),
        }
        self.cx.set_state(SlotState::Ready);
        result
    }

    /// TS 27.005 3.5.1: `AT+CMGS=<length>\r`, wait for `> `, the PDU in hex and Ctrl-Z, then
    /// `+CMGS: <mr>` and `OK`.
    async fn send_inner(&mut self, pdu: &[u8], tpdu_len: u8) -> Result<u8, SendError> {
        let cmgs = Cmgs { tpdu_len };
        self.send_line(&cmgs).await.map_err(send_error)?;
        match self.wait(Cmgs::PROMPT_TIMEOUT_MS, Want::Prompt).await {
            Ok(Got::Prompt) => {}
            Ok(Got::Final(f)) => {
                self.cx.consecutive_timeouts = 0;
                return Err(match CmdError::from_final(f) {
                    Err(e) => send_error(e),
                    // OK without a prompt: nothing was sent.
                    Ok(()) => SendError::NoPrompt,
                });
            }
            Err(CmdError::Timeout) => {
                self.cx.note_timeout();
                self.cancel_input().await.map_err(send_error)?;
                return Err(SendError::NoPrompt);
            }
            Err(e) => {
                self.rx.dig.abandon();
                return Err(send_error(e));
            }
        }
        self.rx.dig.expect_echo_hex(pdu);
        let mut chunk = [0u8; 64];
        for part in pdu.chunks(chunk.len() / 2) {
            let mut n = 0;
            for b in part {
                let [hi, lo] = hex::encode_byte(*b);
                if let Some(dst) = chunk.get_mut(n..n + 2) {
                    dst.copy_from_slice(&[hi, lo]);
                }
                n += 2;
            }
            let bytes = chunk.get(..n).unwrap_or_default();
            if self.write_raw(bytes).await.is_err() {
                return Err(SendError::Io);
            }
        }
        self.write(&[CTRL_Z]).await.map_err(send_error)?;
        let timeout = self.cx.profile.send_timeout_ms;
        match self.wait(timeout, Want::Final).await {
            Ok(Got::Final(f)) => {
                self.cx.consecutive_timeouts = 0;
                CmdError::from_final(f).map_err(send_error)?;
                // Only `+CMGS: <mr>` means the modem took it.
                cmgs.parse(&self.cx.resp.response())
                    .map_err(|_| SendError::Unconfirmed)
            }
            Ok(Got::Prompt) => Err(SendError::Unconfirmed),
            Err(e) => {
                if e == CmdError::Timeout {
                    self.cx.note_timeout();
                }
                self.rx.dig.abandon();
                Err(send_error(e))
            }
        }
    }

    async fn write_raw(&mut self, bytes: &[u8]) -> Result<(), CmdError> {
        match select(
            self.io.write_all(bytes),
            self.delay.delay_ms(WRITE_TIMEOUT_MS),
        )
        .await
        {
            Either::First(Ok(())) => Ok(()),
            _ => Err(CmdError::Io),
        }
    }

    /// Decides how to start again after `exit`, waiting with backoff when the modem is lost.
    async fn recover(&mut self, exit: Exit, last: Start) -> Start {
        let bump = |cx: &Ctx<'_, M, P>, f: fn(&mut super::Counters)| cx.count(f);
        match exit {
            Exit::Reset { hard: false } | Exit::Reconfigure | Exit::Unresponsive => {
                bump(&self.cx, |c| c.reinits = c.reinits.wrapping_add(1));
                Start::Handshake
            }
            Exit::Reset { hard: true } => {
                bump(&self.cx, |c| {
                    c.power_cycles = c.power_cycles.wrapping_add(1)
                });
                Start::PowerCycle
            }
            Exit::Rebooted => {
                bump(&self.cx, |c| c.reboots = c.reboots.wrapping_add(1));
                Start::Handshake
            }
            Exit::SimLost => {
                bump(&self.cx, |c| c.sim_losses = c.sim_losses.wrapping_add(1));
                Start::Sim
            }
            Exit::RegistrationLost => Start::Sim,
            Exit::NoAnswer if last == Start::Handshake || last == Start::Sim => {
                // A re-initialisation failed: power-cycle straight away.
                bump(&self.cx, |c| {
                    c.power_cycles = c.power_cycles.wrapping_add(1)
                });
                Start::PowerCycle
            }
            Exit::NoAnswer | Exit::Io | Exit::Fault => {
                self.cx.set_state(SlotState::Faulted);
                let cfg = &self.cx.config;
                let wait = if self.cx.backoff_ms == 0 {
                    cfg.backoff_min_ms
                } else {
                    self.cx.backoff_ms.saturating_mul(2).min(cfg.backoff_max_ms)
                };
                self.cx.backoff_ms = wait;
                match self.rest(wait).await {
                    Ok(()) => {}
                    Err(Exit::Reset { hard: false } | Exit::Reconfigure) => {
                        return Start::Handshake;
                    }
                    Err(_) => {}
                }
                bump(&self.cx, |c| {
                    c.power_cycles = c.power_cycles.wrapping_add(1)
                });
                Start::PowerCycle
            }
        }
    }
}

fn exit_for(e: CmdError) -> Exit {
    match e {
        CmdError::Rebooted => Exit::Rebooted,
        CmdError::SimLost => Exit::SimLost,
        CmdError::Io => Exit::Io,
        CmdError::Timeout => Exit::Unresponsive,
        _ => Exit::Fault,
    }
}

fn send_error(e: CmdError) -> SendError {
    match e {
        CmdError::Timeout => SendError::Timeout,
        CmdError::Io | CmdError::Encode => SendError::Io,
        CmdError::Rebooted => SendError::Rebooted,
        CmdError::SimLost => SendError::SimRemoved,
        CmdError::Error => SendError::Error,
        CmdError::Cme(e) if e.is_sim_missing() => SendError::SimRemoved,
        CmdError::Cme(e) => SendError::Cme(e),
        CmdError::Cms(e) => SendError::Cms(e),
        CmdError::Parse(_) => SendError::Unconfirmed,
    }
}

/// The slot's task. Spawn it once: `runner.run().await` never returns.
pub struct Runner<'a, M: RawMutex, IO, P, D> {
    tick: D,
    eng: Engine<'a, M, IO, P, D>,
}

impl<'a, M, IO, P, D> Runner<'a, M, IO, P, D>
where
    M: RawMutex,
    IO: Read + Write,
    P: OutputPin,
    D: DelayNs + Clone,
{
    pub(super) fn new(state: &'a State<M>, config: Config, io: IO, pwrkey: P, delay: D) -> Self {
        let profile = config.profile.unwrap_or(ProfileKind::Generic).profile();
        Self {
            tick: delay.clone(),
            eng: Engine {
                io,
                delay,
                rx: Rx {
                    dig: Digester::new(),
                    buf: [0; RX_CHUNK],
                    pos: 0,
                    len: 0,
                },
                cx: Ctx {
                    shared: state,
                    pwrkey,
                    config,
                    profile,
                    tx: [0; TX_CAP],
                    resp: ResponseBuf::new(),
                    book: Book::new(),
                    consecutive_timeouts: 0,
                    backoff_ms: 0,
                    pin_rejected: false,
                    cur_mem: None,
                },
            },
        }
    }

    /// Runs the slot forever.
    ///
    /// Cancellation: dropping it stops the slot wherever it is; a send in progress is then of
    /// unknown outcome and its submitter waits forever. Drop the [`super::Control`]s with it.
    ///
    /// The runner moves into the returned future once (an `async fn` taking `self` would hold
    /// it twice: as the argument and as the local, 2 KiB more per slot in the bank's RAM).
    pub fn run(self) -> impl core::future::Future<Output = core::convert::Infallible> {
        let mut this = self;
        async move { this.run_loop().await }
    }

    async fn run_loop(&mut self) -> core::convert::Infallible {
        self.eng.release_pwrkey();
        let mut start = Start::Probe;
        loop {
            let exit = match self.eng.bring_up(start).await {
                Ok(()) => self.serve().await,
                Err(exit) => exit,
            };
            start = self.eng.recover(exit, start).await;
        }
    }

    async fn serve(&mut self) -> Exit {
        loop {
            let interval = self.eng.cx.config.health_interval_ms;
            let mut health = pin!(self.tick.delay_ms(interval));
            loop {
                if let Err(exit) = self.eng.service().await {
                    return exit;
                }
                match select(self.eng.wait_wake(), health.as_mut()).await {
                    Either::First(wake) => {
                        if let Err(exit) = self.eng.on_wake(wake).await {
                            return exit;
                        }
                    }
                    Either::Second(()) => break,
                }
            }
            if let Err(exit) = self.eng.health().await {
                return exit;
            }
        }
    }
}
