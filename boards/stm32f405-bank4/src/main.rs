//! The four-slot modem bank on an STM32F405RG: `firmware/bank` with four `firmware/modem`
//! slots on embassy-stm32. Wiring in `pins.rs` and README.md.
//!
//! - Clocks: 8 MHz HSE crystal, PLL to 168 MHz (the USARTs' dividers come from APB1 42 MHz and
//!   APB2 84 MHz) and 48 MHz on PLL Q for the RNG.
//! - Boot id: 32 bits from the hardware RNG (RM0090 §24), different on every boot as
//!   `docs/link-protocol.md` §4.1 wants.
//! - Watchdog: the independent watchdog (IWDG, its own 32 kHz oscillator) with a 2 s timeout,
//!   fed by the link task at least every 250 ms. A panic halts (`panic-halt`), so the watchdog
//!   then restarts the bank; a task stuck in a busy loop starves the executor and does too.
//! - Memory: the engines' state is written at start-up into `.bss` (its `const` initialiser is
//!   not all zeros and would otherwise cost 7.4 KB of flash); the bank's state and link memory
//!   are all zeros. Tasks take their runner's future as is (`Forever`), not through an `async
//!   fn` argument, which would hold the runner twice.
#![no_std]
#![no_main]

mod pins;

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use bank::{BankState, LinkMemory, Watchdog};
use embassy_executor::Spawner;
use embassy_stm32::gpio::Output;
use embassy_stm32::peripherals::IWDG;
use embassy_stm32::rcc::{
    AHBPrescaler, APBPrescaler, Hse, HseMode, Pll, PllMul, PllPDiv, PllPreDiv, PllQDiv, PllSource,
    Sysclk,
};
use embassy_stm32::rng::Rng;
use embassy_stm32::time::Hertz;
use embassy_stm32::usart::BufferedUart;
use embassy_stm32::wdg::IndependentWatchdog;
use embassy_sync::blocking_mutex::raw::ThreadModeRawMutex;
use embassy_time::{Delay, Instant};
use modem::slot;
use panic_halt as _;
use static_cell::{ConstStaticCell, StaticCell};

use crate::pins::Irqs;

/// Every task runs in thread mode on one executor, so thread-mode locks suffice.
type M = ThreadModeRawMutex;
const SLOTS: usize = 4;

/// Watchdog timeout: eight times the link task's longest sleep, and more than a frame's
/// transmission (22 ms) plus any poll.
const WATCHDOG_US: u32 = 2_000_000;

static ENGINES: [StaticCell<slot::State<M>>; SLOTS] = [const { StaticCell::new() }; SLOTS];
static BANK: BankState<M, SLOTS> = BankState::new();
static LINK_MEMORY: ConstStaticCell<LinkMemory<SLOTS>> = ConstStaticCell::new(LinkMemory::new());

type Io = BufferedUart<'static>;
type Runner = slot::Runner<'static, M, Io, Output<'static>, Delay>;
type Link = bank::LinkRunner<'static, M, SLOTS, Io, fn() -> u64, Delay, Iwdg>;

/// The independent watchdog as the bank's feed hook.
struct Iwdg(IndependentWatchdog<'static, IWDG>);

impl Watchdog for Iwdg {
    fn feed(&mut self) {
        self.0.pet();
    }
}

/// A future that never completes (a runner's `run()`), seen as one with output `()` as task
/// functions want.
struct Forever<F>(F);

impl<F: Future> Future for Forever<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: structural pinning of the only field; it is never moved out.
        let inner = unsafe { self.map_unchecked_mut(|s| &mut s.0) };
        inner.poll(cx).map(|_| ())
    }
}

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

fn clocks() -> embassy_stm32::Config {
    let mut config = embassy_stm32::Config::default();
    let rcc = &mut config.rcc;
    rcc.hse = Some(Hse {
        freq: Hertz(8_000_000),
        mode: HseMode::Oscillator,
    });
    rcc.pll_src = PllSource::HSE;
    // 8 MHz / 4 × 168 = 336 MHz VCO; / 2 = 168 MHz system clock; / 7 = 48 MHz for the RNG.
    rcc.pll = Some(Pll {
        prediv: PllPreDiv::DIV4,
        mul: PllMul::MUL168,
        divp: Some(PllPDiv::DIV2),
        divq: Some(PllQDiv::DIV7),
        divr: None,
    });
    rcc.sys = Sysclk::PLL1_P;
    rcc.ahb_pre = AHBPrescaler::DIV1;
    rcc.apb1_pre = APBPrescaler::DIV4;
    rcc.apb2_pre = APBPrescaler::DIV2;
    config
}

fn now_ms() -> u64 {
    Instant::now().as_millis()
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    let p = embassy_stm32::init(clocks());
    let Ok(board) = pins::wire(p) else {
        // Unreachable with the fixed configuration; the watchdog is not running yet, so halt.
        panic!("USART configuration");
    };
    let mut rng = Rng::new(board.rng, Irqs);
    let mut id = [0u8; 4];
    // The RNG only fails on a clock or seed error (RM0090 §24.3.2); retry a few times, then
    // keep the best we have (a repeat of the previous boot id only hides one restart).
    for _ in 0..4 {
        if rng.async_fill_bytes(&mut id).await.is_ok() {
            break;
        }
    }
    let boot_id = u32::from_le_bytes(id) ^ (now_ms() as u32);

    let mut wdg = IndependentWatchdog::new(board.iwdg, WATCHDOG_US);
    wdg.unleash();

    let pins::Board { host, slots, .. } = board;
    let Some(controls) = start_engines(spawner, slots) else {
        panic!("engines started twice");
    };
    start_bank(spawner, controls, host, boot_id, Iwdg(wdg));
}

/// Each step in its own frame: the runners are built on the stack before moving into their
/// tasks, and the frames should not add up.
#[inline(never)]
fn start_engines(
    spawner: Spawner,
    slots: [pins::Slot; SLOTS],
) -> Option<[slot::Control<'static, M>; SLOTS]> {
    let mut controls = heapless::Vec::<slot::Control<'static, M>, SLOTS>::new();
    for (cell, s) in ENGINES.iter().zip(slots) {
        let state: &'static slot::State<M> = cell.init_with(slot::State::new);
        // RESET stays released for good (`pins.rs`); the engine power-cycles with PWRKEY.
        core::mem::forget(s.reset);
        let (control, runner) = slot::new(state, slot::Config::new(), s.uart, s.pwrkey, Delay);
        let _ = controls.push(control);
        spawner.spawn(engine(runner).ok()?);
    }
    controls.into_array().ok()
}

#[inline(never)]
fn start_bank(
    spawner: Spawner,
    controls: [slot::Control<'static, M>; SLOTS],
    host: Io,
    boot_id: u32,
    watchdog: Iwdg,
) {
    let config = bank::Config::new(boot_id);
    let clock: fn() -> u64 = now_ms;
    let memory = LINK_MEMORY.take();
    let (l, agents) = bank::new(
        &BANK, memory, config, controls, host, clock, Delay, watchdog,
    );
    if let Ok(token) = link(l) {
        spawner.spawn(token);
    }
    for a in agents {
        if let Ok(token) = agent(a) {
            spawner.spawn(token);
        }
    }
}
