//! The modem bank on QEMU's `mps2-an386`: `firmware/bank` with four `firmware/modem` slots,
//! UART0 the host link and UART1–4 the modems (`board.rs`), SysTick time (`time.rs`) and
//! interrupt-driven CMSDK UARTs (`uart.rs`), under an embassy executor that sleeps with `wfi`.
//!
//! Boot id: QEMU zeroes RAM and has nothing persistent, so the id mixes the host's wall-clock
//! time (semihosting `SYS_TIME`, seconds) with when the host's first byte arrived (SysTick
//! millisecond and the counter inside it, 40 ns resolution). Two boots get the same id only if
//! they start in the same second *and* see the host's first byte at the same 40 ns count; in
//! practice the timing alone differs every run. QEMU must therefore run with
//! `-semihosting-config enable=on`, which the exit on panic needs anyway.
#![no_std]
#![no_main]

mod board;
mod cell;
mod stack;
mod time;
mod uart;

use core::future::Future;
use core::sync::atomic::{AtomicBool, Ordering};

use bank::{BankState, LinkMemory, NoWatchdog};
use embassy_executor::{Spawner, raw};
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_time::{Delay, Timer};
use modem::slot::{self, NoPwrKey};
use panic_semihosting as _;

use crate::board::{HOST_UART, SLOT_UARTS};
use crate::cell::{Forever, Static, StaticMut};
use crate::uart::Uart;

type M = CriticalSectionRawMutex;
const SLOTS: usize = SLOT_UARTS.len();

/// The engines' shared state: its `const` initialiser is not all zeros, so it is written at
/// start-up (see `cell.rs`).
static ENGINES: [Static<slot::State<M>>; SLOTS] = [const { Static::new() }; SLOTS];
/// The bank's shared state; all zeros, so it lives in `.bss` as a plain `static`.
static BANK: BankState<M, SLOTS> = BankState::new();
/// The link task's working memory; all zeros too.
static LINK_MEMORY: StaticMut<LinkMemory<SLOTS>> = StaticMut::new(LinkMemory::new());
static EXECUTOR: Static<ThreadExecutor> = Static::new();

/// The executor, used only from thread mode (`main`'s loop); interrupt handlers never touch it.
struct ThreadExecutor(raw::Executor);

// SAFETY: see the type's docs: it is never accessed from two contexts.
unsafe impl Sync for ThreadExecutor {}

type Runner = slot::Runner<'static, M, Uart, NoPwrKey, Delay>;
type Link = bank::LinkRunner<'static, M, SLOTS, Uart, fn() -> u64, Delay, NoWatchdog>;

#[embassy_executor::task(pool_size = 4)]
fn engine(runner: Runner) -> impl Future<Output = ()> {
    Forever(runner.run())
}

#[embassy_executor::task(pool_size = 4)]
fn agent(agent: bank::SlotAgent<'static, M>) -> impl Future<Output = ()> {
    Forever(agent.run())
}

#[embassy_executor::task]
fn link(link: Link) -> impl Future<Output = ()> {
    Forever(link.run())
}

/// Prints the stack's high-water marks over semihosting now and then (for the README): the
/// one start-up reached, and the steady state's since.
#[embassy_executor::task]
async fn report(start_up: usize) {
    stack::paint();
    loop {
        Timer::after_secs(30).await;
        cortex_m_semihosting::hprintln!(
            "mps2: stack high-water {} bytes at start-up, {} bytes since",
            start_up,
            stack::high_water()
        );
    }
}

/// Starts everything once the host's first byte gave the boot id. Each step is its own
/// function so that their stack frames (the runners are built there before being moved into
/// their tasks) do not add up.
#[embassy_executor::task]
async fn start(spawner: Spawner, host: Uart, modems: [Uart; SLOTS]) {
    host.readable().await;
    let boot_id = boot_id();
    let Some(controls) = start_engines(spawner, modems) else {
        return;
    };
    start_bank(spawner, controls, host, boot_id);
    spawner.spawn(report(stack::high_water()).expect("report task"));
}

/// The boot id (module docs).
fn boot_id() -> u32 {
    let (ms, cycles) = time::stamp();
    // SAFETY: SYS_TIME takes no argument block; QEMU runs with semihosting enabled (module
    // docs), so the BKPT is answered rather than faulting.
    let wall = unsafe { cortex_m_semihosting::syscall!(TIME) } as u32;
    mix(wall, ms as u32, cycles)
}

#[inline(never)]
fn start_engines(
    spawner: Spawner,
    modems: [Uart; SLOTS],
) -> Option<[slot::Control<'static, M>; SLOTS]> {
    let mut controls = heapless::Vec::<slot::Control<'static, M>, SLOTS>::new();
    for (cell, io) in ENGINES.iter().zip(modems) {
        let state = cell.init_with(slot::State::new)?;
        let (control, runner) = slot::new(state, slot::Config::new(), io, NoPwrKey, Delay);
        let _ = controls.push(control);
        spawner.spawn(engine(runner).expect("engine task"));
    }
    controls.into_array().ok()
}

#[inline(never)]
fn start_bank(
    spawner: Spawner,
    controls: [slot::Control<'static, M>; SLOTS],
    host: Uart,
    boot_id: u32,
) {
    let config = bank::Config::new(boot_id);
    let clock: fn() -> u64 = time::now_ms;
    let Some(memory) = LINK_MEMORY.take() else {
        return;
    };
    let (l, agents) = bank::new(
        &BANK, memory, config, controls, host, clock, Delay, NoWatchdog,
    );
    spawner.spawn(link(l).expect("link task"));
    for a in agents {
        spawner.spawn(agent(a).expect("agent task"));
    }
}

/// A 32-bit mix (the finaliser of MurmurHash3) of the three boot-time values.
fn mix(a: u32, b: u32, c: u32) -> u32 {
    let mut h = a ^ b.rotate_left(13) ^ c.rotate_left(23);
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// Set by the executor's pender (a task was woken), cleared before sleeping.
static PENDED: AtomicBool = AtomicBool::new(false);

// The executor's wake-up hook: a woken task must not be slept through.
#[unsafe(export_name = "__pender")]
fn pender(_context: *mut ()) {
    PENDED.store(true, Ordering::Release);
}

#[cortex_m_rt::entry]
fn main() -> ! {
    stack::paint();
    let Some(p) = cortex_m::Peripherals::take() else {
        panic!("peripherals taken twice");
    };
    time::init(p.SYST);
    let (Some(host), Some(u1), Some(u2), Some(u3), Some(u4)) = (
        Uart::new(HOST_UART),
        Uart::new(SLOT_UARTS[0]),
        Uart::new(SLOT_UARTS[1]),
        Uart::new(SLOT_UARTS[2]),
        Uart::new(SLOT_UARTS[3]),
    ) else {
        panic!("UART table");
    };
    let Some(ThreadExecutor(executor)) =
        EXECUTOR.init(ThreadExecutor(raw::Executor::new(core::ptr::null_mut())))
    else {
        panic!("executor created twice");
    };
    executor
        .spawner()
        .spawn(start(executor.spawner(), host, [u1, u2, u3, u4]).expect("start task"));
    loop {
        // SAFETY: `poll` is only called from this thread-mode loop, never re-entered.
        unsafe { executor.poll() };
        // Sleep until an interrupt, unless a task was woken since the poll. With interrupts
        // masked, an interrupt that arrives between the check and `wfi` still ends the `wfi`
        // (ARMv7-M B1.5.19), so no wake-up is lost. `wfe` would not do: QEMU treats it as a
        // no-op and the loop would burn a host core (shared/reference/qemu.md).
        cortex_m::interrupt::disable();
        if !PENDED.swap(false, Ordering::AcqRel) {
            cortex_m::asm::wfi();
        }
        // SAFETY: re-enables what was enabled at the top of the loop.
        unsafe { cortex_m::interrupt::enable() };
    }
}
