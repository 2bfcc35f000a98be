//! Stack high-water measurement: the free stack is painted with a pattern at reset and
//! [`high_water`] finds how deep it was ever overwritten. Only the top [`WATCHED`] bytes are
//! painted (QEMU gives 4 MiB of RAM; the firmware needs a few KiB).

use core::ptr::{read_volatile, write_volatile};

const PATTERN: u32 = 0xA5A5_A5A5;
/// How much of the stack below the reset stack pointer is watched.
const WATCHED: usize = 32 * 1024;

unsafe extern "C" {
    /// The initial stack pointer (top of RAM), from cortex-m-rt's `link.x`.
    static _stack_start: u32;
}

fn top() -> usize {
    // Only the symbol's address is taken, never its value.
    core::ptr::addr_of!(_stack_start) as usize
}

/// Paints the watched stack below the current stack pointer: first thing in `main`, and again
/// once start-up is over, so that [`high_water`] tells start-up and steady state apart.
pub(crate) fn paint() {
    critical_section::with(|_| paint_below(cortex_m::register::msp::read() as usize));
}

fn paint_below(sp: usize) {
    // Leave what main's frame may use untouched.
    let end = sp.saturating_sub(256) & !3;
    let mut p = top().saturating_sub(WATCHED);
    while p < end {
        // SAFETY: `p` is word-aligned RAM below the live stack pointer (minus a margin), which
        // nothing uses; interrupts, which could, are masked by the caller.
        unsafe { write_volatile(p as *mut u32, PATTERN) };
        p += 4;
    }
}

/// Bytes of stack ever used (within the watched range).
pub(crate) fn high_water() -> usize {
    let bottom = top().saturating_sub(WATCHED);
    let mut p = bottom;
    // SAFETY: reads word-aligned RAM in the watched range.
    while p < top() && unsafe { read_volatile(p as *const u32) } == PATTERN {
        p += 4;
    }
    top() - p
}
