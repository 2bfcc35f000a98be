//! The modem-bank application: the link task ([`LinkRunner`]) that speaks `firmware/link` to
//! the host, and one [`SlotAgent`] per slot beside each slot's AT engine (`firmware/modem`).
//!
//! Board-independent: generic over the serial ports (`embedded-io-async`), the clock
//! ([`Clock`]), delays (`embedded-hal-async`) and the watchdog ([`Watchdog`]); the PWRKEY pins
//! belong to the engines the board builds. The same code runs on the STM32 board, in QEMU and
//! on the host under tokio.
#![cfg_attr(not(test), no_std)]
#![doc = include_str!("../README.md")]

mod agent;
mod convert;
mod limits;
mod link_task;
mod shared;
mod tags;

use embassy_sync::blocking_mutex::raw::RawMutex;
use embedded_hal_async::delay::DelayNs;
use embedded_io_async::{Read, Write};
use modem::slot::Control;

pub use agent::SlotAgent;
pub use link_task::{LinkMemory, LinkRunner, TICK_MS, WINDOW};
pub use shared::{BankState, INBOUND_HELD, SUBMIT_QUEUE};
pub use tags::RECENT_RESULTS;

/// A monotonic millisecond clock, counting from the bank's boot.
pub trait Clock {
    /// Milliseconds since boot; never decreases.
    fn now_ms(&self) -> u64;
}

impl<F: Fn() -> u64> Clock for F {
    fn now_ms(&self) -> u64 {
        self()
    }
}

/// The hardware watchdog. The link task feeds it at least every [`TICK_MS`]: that proves the
/// executor runs and the link task is not stuck. A slot's engine may legitimately wait a long
/// time (a 60-second send, a backoff), so slots do not feed it; a slot stuck in a busy loop
/// starves the executor and the watchdog fires.
pub trait Watchdog {
    /// Restarts the watchdog's countdown.
    fn feed(&mut self);
}

/// A [`Watchdog`] for boards without one (QEMU, the host emulator).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoWatchdog;

impl Watchdog for NoWatchdog {
    fn feed(&mut self) {}
}

/// Settings of the bank application.
#[derive(Debug, Clone)]
pub struct Config {
    /// Link session settings; `link.boot_id` must differ on every boot (`docs/link-protocol.md`
    /// §4.1): the board derives it from a hardware RNG, a persistent counter or boot timing.
    pub link: link::Config,
    /// The engine settings every slot starts with; `Configure` from the host overrides the PIN
    /// and the profile.
    pub modem: modem::slot::Config,
    /// The firmware version reported in `BankInfo` (cut to 24 bytes).
    pub firmware: &'static str,
    /// A status whose only changes are counters or queue length is sent at most this often;
    /// state, registration, SIM and operator changes go at once.
    pub status_interval_ms: u32,
    /// An inbound message the host received but has not acked is offered again after this
    /// long.
    pub inbound_retry_ms: u32,
}

impl Config {
    /// Defaults for a 115 200 baud link and `boot_id`.
    pub const fn new(boot_id: u32) -> Self {
        Self {
            link: link::Config::new(boot_id),
            modem: modem::slot::Config::new(),
            firmware: env!("CARGO_PKG_VERSION"),
            status_interval_ms: 10_000,
            inbound_retry_ms: 30_000,
        }
    }
}

/// Splits the bank into its link task and one agent per slot.
///
/// `state` and `memory` are caller-allocated (both are all zero bytes when new, so `static`s
/// cost no flash). `controls` are the slots' engine handles (`modem::slot::new`), in slot
/// order; the board
/// spawns each engine's `Runner`, the returned [`LinkRunner`] and every [`SlotAgent`] (as
/// tasks, or joined in one). `link_io` is the host port: its `read` must be cancel-safe, like
/// the engines' ports.
#[allow(clippy::type_complexity, clippy::too_many_arguments)]
pub fn new<'a, M, const S: usize, IO, C, D, W>(
    state: &'a BankState<M, S>,
    memory: &'a mut LinkMemory<S>,
    config: Config,
    controls: [Control<'a, M>; S],
    link_io: IO,
    clock: C,
    delay: D,
    watchdog: W,
) -> (LinkRunner<'a, M, S, IO, C, D, W>, [SlotAgent<'a, M>; S])
where
    M: RawMutex,
    IO: Read + Write,
    C: Clock,
    D: DelayNs,
    W: Watchdog,
{
    let agents = core::array::from_fn(|i| {
        // `i < S` and both arrays have `S` entries.
        let (slot, control) = (&state.slots[i], controls[i]);
        SlotAgent::new(slot, control, &state.link_wake, config.modem.clone())
    });
    let link = LinkRunner::new(
        state, memory, controls, link_io, clock, delay, watchdog, config,
    );
    (link, agents)
}
