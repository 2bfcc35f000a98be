//! The slot supervisor: one per modem. It powers the modem on, initialises it, keeps it
//! healthy, sends what it is given and hands over what arrives.
//!
//! Shape (as embassy's network drivers): [`new`] splits a caller-allocated [`State`] into a
//! [`Control`] (used from any task) and a [`Runner`] (spawned once, `runner.run().await`, never
//! returns). They talk through `embassy-sync` channels and signals, generic over a `RawMutex`.
//!
//! Invariants:
//! - A message is reported sent only after the modem answered `+CMGS: <mr>` and `OK`.
//! - Nothing is deleted from modem storage before the caller acknowledged it ([`Control::ack`]);
//!   until then it stays in storage, and after a re-initialisation it is offered again.
//! - Inbound messages are never dropped for lack of room: when the event queue is full the
//!   runner stops reading from storage (the messages wait there) and resumes when there is room.
//!   The one exception is a directly routed `+CMT`/`+CDS`, which exists only in RAM; our profiles
//!   never ask for direct routing, and such drops are counted.

use core::cell::RefCell;

use embassy_sync::blocking_mutex::Mutex as BlockingMutex;
use embassy_sync::blocking_mutex::raw::RawMutex;
use embassy_sync::channel::Channel;
use embassy_sync::mutex::Mutex;
use embassy_sync::signal::Signal;

use crate::command::general::IdentText;
use crate::command::network::{OperatorName, Signal as SignalQuality};
use crate::command::sim::{Iccid, Imsi};
use crate::command::sms::Pdu;
use crate::digest::{Mem, RegStat};
use crate::error::{CmeError, CmsError};
use crate::profile::ProfileKind;

mod control;
mod runner;

pub use control::Control;
pub use runner::Runner;

/// How many inbound messages and status reports may wait for the caller.
pub const EVENT_QUEUE: usize = 4;
/// How many control requests may wait for the runner.
const REQUEST_QUEUE: usize = 4;

/// What the slot is doing. Visible through [`Control::status`] and [`Event::StateChanged`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotState {
    /// Not started, or switched off.
    Off,
    /// Powering on, waiting for the modem to answer, initialising.
    Booting,
    /// No SIM (absent, pulled, failed). Polled slowly until one appears.
    NoSim,
    /// The SIM wants a PIN that is not configured or was rejected, or a PUK.
    PinNeeded,
    /// Looking for a network.
    Searching,
    /// The network refused registration. Polled slowly.
    Denied,
    /// Registered; SMS set-up in progress.
    Registered,
    /// Registered and set up: sends are accepted.
    Ready,
    /// A send is in progress.
    Sending,
    /// The modem does not answer even after power-cycling; retried with backoff.
    Faulted,
}

/// Counters for health pages and alarms. They only grow (wrapping after 2³²).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Commands that timed out (after their retries).
    pub timeouts: u32,
    /// Re-initialisations (after timeouts, a soft reset request or a reconfiguration).
    pub reinits: u32,
    /// Power cycles through PWRKEY.
    pub power_cycles: u32,
    /// Reboots the modem did on its own (a boot banner outside of start-up).
    pub reboots: u32,
    /// Times the SIM went away.
    pub sim_losses: u32,
    /// Messages accepted by the modem (`+CMGS`).
    pub sent: u32,
    /// Sends that failed, for any reason.
    pub send_failures: u32,
    /// Inbound messages handed to the caller.
    pub received: u32,
    /// Status reports handed to the caller.
    pub reports: u32,
    /// Messages deleted from storage after the caller's ack.
    pub deleted: u32,
    /// Directly routed `+CMT`/`+CDS` dropped because the event queue was full.
    pub dropped: u32,
    /// Stored messages that could not be read (malformed answer); they stay in storage.
    pub unreadable: u32,
    /// Overlong or binary lines, missing PDU lines.
    pub garbage: u32,
    /// Routine vendor URCs (the profile's noise list).
    pub noise: u32,
    /// Other unsolicited lines we do not know.
    pub unknown: u32,
}

/// Everything the caller can see about a slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotStatus {
    /// The state.
    pub state: SlotState,
    /// Last registration status seen.
    pub registration: Option<RegStat>,
    /// Last signal quality seen.
    pub signal: Option<SignalQuality>,
    /// Operator name, when registered.
    pub operator: Option<OperatorName>,
    /// IMSI of the SIM, once read.
    pub imsi: Option<Imsi>,
    /// ICCID of the SIM, once read (if the profile can).
    pub iccid: Option<Iccid>,
    /// The profile in use, once known.
    pub profile: Option<ProfileKind>,
    /// `AT+CGMM` answer, once read.
    pub model: Option<IdentText>,
    /// Counters.
    pub counters: Counters,
}

impl SlotStatus {
    const fn new() -> Self {
        Self {
            state: SlotState::Off,
            registration: None,
            signal: None,
            operator: None,
            imsi: None,
            iccid: None,
            profile: None,
            model: None,
            counters: Counters {
                timeouts: 0,
                reinits: 0,
                power_cycles: 0,
                reboots: 0,
                sim_losses: 0,
                sent: 0,
                send_failures: 0,
                received: 0,
                reports: 0,
                deleted: 0,
                dropped: 0,
                unreadable: 0,
                garbage: 0,
                noise: 0,
                unknown: 0,
            },
        }
    }
}

/// Where a stored message lives, valid for one initialisation of the modem (`epoch`).
///
/// The epoch changes at every re-initialisation; an ack carrying an old epoch is ignored (the
/// message is offered again with the new one), so an index is never deleted on the strength of
/// an ack for what may be a different message (e.g. after a SIM swap).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StoredId {
    /// Storage.
    pub mem: Mem,
    /// Index in it.
    pub index: u16,
    /// Initialisation count at the time it was read.
    pub epoch: u16,
}

/// Something for the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// An SMS-DELIVER (or anything that is not a status report). Ack it once it is stored
    /// durably; it may be offered more than once (after a re-initialisation), so store by
    /// content, not by arrival.
    Inbound {
        /// Where it is stored; `None` if it was routed directly (`+CMT`) and needs no ack.
        id: Option<StoredId>,
        /// The PDU with its SCA.
        pdu: Pdu,
    },
    /// An SMS-STATUS-REPORT. Ack it like an inbound message.
    StatusReport {
        /// Where it is stored; `None` if routed directly (`+CDS`).
        id: Option<StoredId>,
        /// The PDU with its SCA.
        pdu: Pdu,
    },
    /// The state changed (coalesced: only the latest state is kept if the caller is slow).
    StateChanged(SlotState),
}

/// Why a send failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    /// The PDU is longer than 176 octets, empty, or shorter than its TPDU length.
    InvalidPdu,
    /// The slot is not ready (no SIM, not registered, booting, faulted…). Nothing was sent.
    NotReady(SlotState),
    /// No `> ` prompt in time; the command was cancelled with ESC. Nothing was sent.
    NoPrompt,
    /// `+CMS ERROR` (before or after the PDU): the modem or the network refused it.
    Cms(CmsError),
    /// `+CME ERROR`.
    Cme(CmeError),
    /// Plain `ERROR`.
    Error,
    /// No final answer after the PDU in time. It may or may not have been sent.
    Timeout,
    /// `OK` without `+CMGS: <mr>`: not counted as sent.
    Unconfirmed,
    /// The modem rebooted during the send. It may or may not have been sent.
    Rebooted,
    /// The SIM went away during the send.
    SimRemoved,
    /// The serial port failed. It may or may not have been sent.
    Io,
}

impl SendError {
    /// Whether the message may have reached the network anyway (so a retry may duplicate it).
    pub fn may_have_been_sent(self) -> bool {
        matches!(self, Self::Timeout | Self::Rebooted | Self::Io)
    }
}

impl core::fmt::Display for SendError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::InvalidPdu => f.write_str("invalid PDU"),
            Self::NotReady(s) => write!(f, "slot not ready ({s:?})"),
            Self::NoPrompt => f.write_str("no prompt from modem"),
            Self::Cms(e) => write!(f, "{e}"),
            Self::Cme(e) => write!(f, "{e}"),
            Self::Error => f.write_str("ERROR"),
            Self::Timeout => f.write_str("no answer after the PDU"),
            Self::Unconfirmed => f.write_str("OK without +CMGS"),
            Self::Rebooted => f.write_str("modem rebooted"),
            Self::SimRemoved => f.write_str("SIM removed"),
            Self::Io => f.write_str("serial port failed"),
        }
    }
}

impl core::error::Error for SendError {}

/// The SIM PIN: 4 to 8 digits (TS 31.101 9.4; ETSI TS 102 221).
pub type Pin = heapless::String<8>;

/// Supervisor settings. `Config::default()` suits a bank slot with no PIN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The SIM PIN, if the SIM wants one. Entered once per configuration: a rejected PIN is not
    /// tried again until [`Control::configure`] gives a new config (three wrong PINs lock the SIM).
    pub pin: Option<Pin>,
    /// Force a profile instead of detecting it.
    pub profile: Option<ProfileKind>,
    /// Whether PWRKEY is pressed by driving the pin high (through a transistor) or low.
    pub pwrkey_active_high: bool,
    /// Signal and registration poll interval when idle.
    pub health_interval_ms: u32,
    /// Consecutive command timeouts before re-initialising.
    pub max_timeouts: u8,
    /// `AT+CPIN?` poll interval while there is no SIM or a PIN is needed.
    pub sim_poll_ms: u32,
    /// Registration poll interval while searching.
    pub reg_poll_ms: u32,
    /// Registration poll interval after a denial.
    pub denied_poll_ms: u32,
    /// First wait before retrying a faulted modem; doubles up to `backoff_max_ms`.
    pub backoff_min_ms: u32,
    /// Longest wait between retries of a faulted modem.
    pub backoff_max_ms: u32,
}

impl Config {
    /// The defaults.
    pub const fn new() -> Self {
        Self {
            pin: None,
            profile: None,
            pwrkey_active_high: true,
            health_interval_ms: 60_000,
            max_timeouts: 3,
            sim_poll_ms: 10_000,
            reg_poll_ms: 2_000,
            denied_poll_ms: 30_000,
            backoff_min_ms: 5_000,
            backoff_max_ms: 600_000,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}

/// Requests from [`Control`] to the runner.
#[derive(Debug)]
enum Request {
    Submit { seq: u32, pdu: Pdu, tpdu_len: u8 },
    Ack(StoredId),
    Reset { hard: bool },
    Configure(Config),
}

/// The memory shared by a slot's [`Control`] and [`Runner`]. Allocate it where it outlives both
/// (a `static`, a `StaticCell`, or a leaked box on the host).
pub struct State<M: RawMutex> {
    requests: Channel<M, Request, REQUEST_QUEUE>,
    submit_done: Signal<M, (u32, Result<u8, SendError>)>,
    /// Serialises submits; holds the last sequence number.
    submit_lock: Mutex<M, u32>,
    events: Channel<M, Event, EVENT_QUEUE>,
    state_changed: Signal<M, SlotState>,
    /// Signalled when the caller takes an event (room in the queue).
    taken: Signal<M, ()>,
    status: BlockingMutex<M, RefCell<SlotStatus>>,
}

impl<M: RawMutex> State<M> {
    /// Fresh state.
    pub const fn new() -> Self {
        Self {
            requests: Channel::new(),
            submit_done: Signal::new(),
            submit_lock: Mutex::new(0),
            events: Channel::new(),
            state_changed: Signal::new(),
            taken: Signal::new(),
            status: BlockingMutex::new(RefCell::new(SlotStatus::new())),
        }
    }

    fn update<R>(&self, f: impl FnOnce(&mut SlotStatus) -> R) -> R {
        self.status.lock(|s| f(&mut s.borrow_mut()))
    }
}

impl<M: RawMutex> Default for State<M> {
    fn default() -> Self {
        Self::new()
    }
}

/// Splits `state` into the slot's control handle and its runner.
///
/// `io` is the modem's serial port; its `read` must be cancel-safe (no byte lost when a read
/// future is dropped before completion), as embassy's buffered UARTs and
/// `embedded-io-adapters`' tokio adapter are. `pwrkey` drives the modem's power key (use
/// [`NoPwrKey`] for USB modems). `delay` is cloned once for the health timer.
pub fn new<'a, M, IO, P, D>(
    state: &'a State<M>,
    config: Config,
    io: IO,
    pwrkey: P,
    delay: D,
) -> (Control<'a, M>, Runner<'a, M, IO, P, D>)
where
    M: RawMutex,
    IO: embedded_io_async::Read + embedded_io_async::Write,
    P: embedded_hal::digital::OutputPin,
    D: embedded_hal_async::delay::DelayNs + Clone,
{
    (
        Control::new(state),
        Runner::new(state, config, io, pwrkey, delay),
    )
}

/// A PWRKEY for modems whose power is not ours to switch (USB sticks): does nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoPwrKey;

impl embedded_hal::digital::ErrorType for NoPwrKey {
    type Error = core::convert::Infallible;
}

impl embedded_hal::digital::OutputPin for NoPwrKey {
    fn set_low(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }

    fn set_high(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}
