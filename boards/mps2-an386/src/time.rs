//! The embassy time driver on SysTick: a 1 kHz tick (embassy-time's `tick-hz-1_000`) counted in
//! a 64-bit tick number, and the timer queue of `embassy-time-queue-utils` checked on every
//! tick. QEMU's SysTick follows host wall-clock time (`shared/reference/qemu.md`).
//!
//! A periodic tick costs one interrupt a millisecond even when idle; QEMU handles that with
//! little host CPU (about 2 % measured), and it keeps the driver to a few lines.

use core::cell::{Cell, RefCell};
use core::task::Waker;

use cortex_m::peripheral::SYST;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::exception;
use critical_section::Mutex;
use embassy_time_driver::Driver;
use embassy_time_queue_utils::Queue;

use crate::board::CORE_HZ;

struct SysTickDriver {
    ticks: Mutex<Cell<u64>>,
    /// Tick at which the queue has its next expiry (`u64::MAX`: none).
    alarm: Mutex<Cell<u64>>,
    queue: Mutex<RefCell<Queue>>,
}

embassy_time_driver::time_driver_impl!(static DRIVER: SysTickDriver = SysTickDriver {
    ticks: Mutex::new(Cell::new(0)),
    alarm: Mutex::new(Cell::new(u64::MAX)),
    queue: Mutex::new(RefCell::new(Queue::new())),
});

impl Driver for SysTickDriver {
    fn now(&self) -> u64 {
        critical_section::with(|cs| self.ticks.borrow(cs).get())
    }

    fn schedule_wake(&self, at: u64, waker: &Waker) {
        critical_section::with(|cs| {
            let mut queue = self.queue.borrow(cs).borrow_mut();
            if queue.schedule_wake(at, waker) {
                // Wakes what is already due and says when the next one is.
                let now = self.ticks.borrow(cs).get();
                self.alarm.borrow(cs).set(queue.next_expiration(now));
            }
        });
    }
}

/// Starts the 1 kHz tick.
pub(crate) fn init(mut syst: SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(CORE_HZ / 1_000 - 1);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

/// Milliseconds since boot and the position inside the current millisecond in core cycles:
/// together a 40 ns timestamp, used to derive the boot id from when the host's first byte came.
pub(crate) fn stamp() -> (u64, u32) {
    critical_section::with(|cs| (DRIVER.ticks.borrow(cs).get(), SYST::get_current()))
}

/// Milliseconds since boot (the bank's clock).
pub(crate) fn now_ms() -> u64 {
    DRIVER.now()
}

#[exception]
fn SysTick() {
    critical_section::with(|cs| {
        let ticks = DRIVER.ticks.borrow(cs);
        let now = ticks.get() + 1;
        ticks.set(now);
        let alarm = DRIVER.alarm.borrow(cs);
        if now >= alarm.get() {
            let next = DRIVER.queue.borrow(cs).borrow_mut().next_expiration(now);
            alarm.set(next);
        }
    });
}
