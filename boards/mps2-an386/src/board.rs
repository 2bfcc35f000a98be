//! The board's peripheral table, in one place: which CMSDK UART serves what, at which address
//! and interrupt lines, and the core clock (QEMU `mps2-an386`, ARM AN386 application note).
//!
//! There is no GPIO for the modems' power keys: QEMU models none that a host process could see,
//! so the slots get `modem::slot::NoPwrKey` and a "power cycle" only waits (the simulated modem
//! must recover by itself, e.g. a hang with a duration). See README.md.

/// A CMSDK APB UART: registers at `base`, receive interrupt `rx_irq`, transmit interrupt
/// `rx_irq + 1`.
#[derive(Clone, Copy)]
pub(crate) struct UartPins {
    pub(crate) base: usize,
    pub(crate) rx_irq: u16,
}

/// UART0..UART4 in QEMU order (`-serial` options are assigned in this order).
pub(crate) const UARTS: [UartPins; 5] = [
    UartPins {
        base: 0x4000_4000,
        rx_irq: 0,
    },
    UartPins {
        base: 0x4000_5000,
        rx_irq: 2,
    },
    UartPins {
        base: 0x4000_6000,
        rx_irq: 4,
    },
    UartPins {
        base: 0x4000_7000,
        rx_irq: 18,
    },
    UartPins {
        base: 0x4000_9000,
        rx_irq: 20,
    },
];

/// UART0 carries the host link.
pub(crate) const HOST_UART: usize = 0;
/// UART1..UART4 are the modem slots 0..3.
pub(crate) const SLOT_UARTS: [usize; 4] = [1, 2, 3, 4];

/// The core (and SysTick) clock QEMU models for this board, whatever the firmware programs.
pub(crate) const CORE_HZ: u32 = 25_000_000;
