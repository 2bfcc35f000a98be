//! An interrupt-driven driver for the ARM CMSDK APB UART (ARM DDI 0479, "Cortex-M System
//! Design Kit", APB UART), implementing `embedded-io-async` `Read` and `Write`.
//!
//! Each UART has a receive ring and a transmit ring. The receive interrupt moves bytes from the
//! one-byte data register into the ring; the transmit interrupt (raised each time the data
//! register empties) feeds the next byte. When the receive ring is full the driver stops
//! reading the data register and masks the receive interrupt: QEMU then holds further bytes
//! back (it delivers a byte only when `RXFULL` is clear), so no byte is ever lost; the reader
//! re-arms it after taking bytes. `read` is cancel-safe: bytes leave the ring only when it
//! returns them.

use core::cell::RefCell;
use core::future::poll_fn;
use core::ptr::{read_volatile, write_volatile};
use core::task::Poll;

use critical_section::{CriticalSection, Mutex};
use embassy_sync::waitqueue::AtomicWaker;
use heapless::Deque;

use crate::board::{UARTS, UartPins};

/// Receive ring per UART: a whole link frame (259 bytes) and then some.
const RX_RING: usize = 512;
/// Transmit ring per UART.
const TX_RING: usize = 256;

// Register offsets (DDI 0479 table 4-2).
const DATA: usize = 0x00;
const STATE: usize = 0x04;
const CTRL: usize = 0x08;
const INTCLEAR: usize = 0x0C;
const BAUDDIV: usize = 0x10;

const STATE_TXFULL: u32 = 1 << 0;
const STATE_RXFULL: u32 = 1 << 1;
const CTRL_TXEN: u32 = 1 << 0;
const CTRL_RXEN: u32 = 1 << 1;
const CTRL_TXIE: u32 = 1 << 2;
const CTRL_RXIE: u32 = 1 << 3;
const INT_TX: u32 = 1 << 0;
const INT_RX: u32 = 1 << 1;

struct Rings {
    rx: Deque<u8, RX_RING>,
    tx: Deque<u8, TX_RING>,
}

struct UartState {
    rings: Mutex<RefCell<Rings>>,
    rx_waker: AtomicWaker,
    tx_waker: AtomicWaker,
}

static STATES: [UartState; 5] = [const {
    UartState {
        rings: Mutex::new(RefCell::new(Rings {
            rx: Deque::new(),
            tx: Deque::new(),
        })),
        rx_waker: AtomicWaker::new(),
        tx_waker: AtomicWaker::new(),
    }
}; 5];

/// One CMSDK UART (index into [`UARTS`]).
pub(crate) struct Uart {
    n: usize,
}

fn reg(p: UartPins, offset: usize) -> *mut u32 {
    (p.base + offset) as *mut u32
}

fn read(p: UartPins, offset: usize) -> u32 {
    // SAFETY: `p.base` is a CMSDK UART's register block from the board table and `offset` one
    // of its registers; reads have no side effect other than DATA's, which only the driver
    // reads.
    unsafe { read_volatile(reg(p, offset)) }
}

fn write(p: UartPins, offset: usize, value: u32) {
    // SAFETY: as in `read`; the driver is the only writer of these registers.
    unsafe { write_volatile(reg(p, offset), value) }
}

#[derive(Clone, Copy)]
struct Irq(u16);

// SAFETY: the numbers come from the board table and are valid external interrupts.
unsafe impl cortex_m::interrupt::InterruptNumber for Irq {
    fn number(self) -> u16 {
        self.0
    }
}

impl Uart {
    /// Enables UART `n` (transmitter, receiver, both interrupts) and unmasks its interrupts.
    /// Call once per UART.
    pub(crate) fn new(n: usize) -> Option<Uart> {
        let p = *UARTS.get(n)?;
        // The baud rate is not modelled by QEMU; 16 is the smallest legal divider.
        write(p, BAUDDIV, 16);
        write(p, CTRL, CTRL_TXEN | CTRL_RXEN | CTRL_TXIE | CTRL_RXIE);
        // SAFETY: unmasking is sound once the handler's state (the static rings) is ready,
        // which it is from the start.
        unsafe {
            cortex_m::peripheral::NVIC::unmask(Irq(p.rx_irq));
            cortex_m::peripheral::NVIC::unmask(Irq(p.rx_irq + 1));
        }
        Some(Uart { n })
    }

    /// Waits until at least one received byte is buffered, without taking it.
    pub(crate) async fn readable(&self) {
        let Some(state) = STATES.get(self.n) else {
            return;
        };
        poll_fn(|cx| {
            state.rx_waker.register(cx.waker());
            critical_section::with(|cs| {
                if state.rings.borrow_ref(cs).rx.is_empty() {
                    Poll::Pending
                } else {
                    Poll::Ready(())
                }
            })
        })
        .await;
    }
}

/// Interrupt work for UART `n`: drain the data register into the receive ring (while there is
/// room), and refill the transmit data register from the transmit ring.
fn service(cs: CriticalSection<'_>, n: usize) {
    let (Some(p), Some(state)) = (UARTS.get(n).copied(), STATES.get(n)) else {
        return;
    };
    write(p, INTCLEAR, INT_RX | INT_TX);
    let mut rings = state.rings.borrow_ref_mut(cs);
    let mut got = false;
    while read(p, STATE) & STATE_RXFULL != 0 {
        if rings.rx.is_full() {
            // Leave the byte in the data register: QEMU sends no more until it is read. The
            // reader re-arms the interrupt once it made room.
            write(p, CTRL, read(p, CTRL) & !CTRL_RXIE);
            break;
        }
        // Room was just checked.
        let _ = rings.rx.push_back(read(p, DATA) as u8);
        got = true;
    }
    let mut sent = false;
    while read(p, STATE) & STATE_TXFULL == 0 {
        let Some(b) = rings.tx.pop_front() else {
            break;
        };
        write(p, DATA, u32::from(b));
        sent = true;
    }
    drop(rings);
    if got {
        state.rx_waker.wake();
    }
    if sent {
        state.tx_waker.wake();
    }
}

/// Interrupt dispatch: every external interrupt lands in cortex-m-rt's `DefaultHandler` (no
/// device crate); the UART lines are the only ones unmasked.
#[cortex_m_rt::exception]
unsafe fn DefaultHandler(irqn: i16) {
    let Ok(irq) = u16::try_from(irqn) else {
        return;
    };
    if let Some(n) = UARTS
        .iter()
        .position(|p| irq == p.rx_irq || irq == p.rx_irq + 1)
    {
        critical_section::with(|cs| service(cs, n));
    }
}

impl embedded_io_async::ErrorType for Uart {
    type Error = core::convert::Infallible;
}

impl embedded_io_async::Read for Uart {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let (Some(p), Some(state)) = (UARTS.get(self.n).copied(), STATES.get(self.n)) else {
            return Ok(0);
        };
        if buf.is_empty() {
            return Ok(0);
        }
        let n = poll_fn(|cx| {
            state.rx_waker.register(cx.waker());
            critical_section::with(|cs| {
                let mut rings = state.rings.borrow_ref_mut(cs);
                let mut n = 0;
                for slot in buf.iter_mut() {
                    let Some(b) = rings.rx.pop_front() else {
                        break;
                    };
                    *slot = b;
                    n += 1;
                }
                drop(rings);
                if n == 0 {
                    return Poll::Pending;
                }
                // Re-arm first, then drain: a byte that arrived while the interrupt was masked
                // raised nothing and would otherwise sit in the data register for good.
                write(p, CTRL, read(p, CTRL) | CTRL_RXIE);
                service(cs, self.n);
                Poll::Ready(n)
            })
        })
        .await;
        Ok(n)
    }
}

impl embedded_io_async::Write for Uart {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        let Some(state) = STATES.get(self.n) else {
            return Ok(0);
        };
        if buf.is_empty() {
            return Ok(0);
        }
        let n = poll_fn(|cx| {
            state.tx_waker.register(cx.waker());
            critical_section::with(|cs| {
                let mut rings = state.rings.borrow_ref_mut(cs);
                let mut n = 0;
                for &b in buf {
                    if rings.tx.push_back(b).is_err() {
                        break;
                    }
                    n += 1;
                }
                drop(rings);
                if n == 0 {
                    return Poll::Pending;
                }
                // Start the transmitter if it is idle; its interrupt does the rest.
                service(cs, self.n);
                Poll::Ready(n)
            })
        })
        .await;
        Ok(n)
    }

    async fn flush(&mut self) -> Result<(), Self::Error> {
        let (Some(p), Some(state)) = (UARTS.get(self.n).copied(), STATES.get(self.n)) else {
            return Ok(());
        };
        poll_fn(|cx| {
            state.tx_waker.register(cx.waker());
            critical_section::with(|cs| {
                let idle =
                    state.rings.borrow_ref(cs).tx.is_empty() && read(p, STATE) & STATE_TXFULL == 0;
                if idle { Poll::Ready(()) } else { Poll::Pending }
            })
        })
        .await;
        Ok(())
    }
}
