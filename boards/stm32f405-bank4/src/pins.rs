//! The board's pin and peripheral table, in one place: which USART serves what, on which pins,
//! and each slot's PWRKEY and RESET lines (STM32F405RG, LQFP64; RM0090 and the F405 datasheet
//! table 9 for the alternate functions). `README.md` has the same table with the wiring.
//!
//! | use     | peripheral | TX   | RX   | PWRKEY | RESET |
//! |---------|------------|------|------|--------|-------|
//! | host    | USART1     | PA9  | PA10 | –      | –     |
//! | slot 0  | USART2     | PA2  | PA3  | PB12   | PC0   |
//! | slot 1  | USART3     | PB10 | PB11 | PB13   | PC1   |
//! | slot 2  | UART4      | PC10 | PC11 | PB14   | PC2   |
//! | slot 3  | USART6     | PC6  | PC7  | PB15   | PC3   |
//!
//! PWRKEY and RESET drive NPN transistors that pull the modem's active-low inputs down, so a
//! high pin presses the key (`modem::slot::Config::pwrkey_active_high`, the default) and RESET
//! is released while its pin is low.
//!
//! All four slots get the same types (`BufferedUart<'static>`, `Output<'static>`), so the AT
//! engine is compiled once for all of them: four instances would cost four times its 60 KB.

use embassy_stm32::gpio::{Level, Output, Speed};
use embassy_stm32::usart::{self, BufferedInterruptHandler, BufferedUart};
use embassy_stm32::{Peri, Peripherals, bind_interrupts, peripherals, rng};
use static_cell::ConstStaticCell;

/// The modems' and the host's line speed (SIM800 and EC25 autobaud to it; the link's timers
/// are set for it, `docs/link-protocol.md` §4.6).
pub(crate) const BAUD: u32 = 115_200;

bind_interrupts!(pub(crate) struct Irqs {
    USART1 => BufferedInterruptHandler<peripherals::USART1>;
    USART2 => BufferedInterruptHandler<peripherals::USART2>;
    USART3 => BufferedInterruptHandler<peripherals::USART3>;
    UART4 => BufferedInterruptHandler<peripherals::UART4>;
    USART6 => BufferedInterruptHandler<peripherals::USART6>;
    RNG => rng::InterruptHandler<peripherals::RNG>;
});

// Serial buffers. A modem's receive buffer holds what arrives while its engine is busy (a
// `+CMGL` listing of several PDUs comes in one burst); writes wait for room, so the transmit
// buffers can be small. The host link's receive buffer holds two whole frames (259 bytes
// each): one may arrive while the link task writes one of its own.
static HOST_RX: ConstStaticCell<[u8; 512]> = ConstStaticCell::new([0; 512]);
static HOST_TX: ConstStaticCell<[u8; 256]> = ConstStaticCell::new([0; 256]);
static MODEM_RX: ConstStaticCell<[[u8; 256]; 4]> = ConstStaticCell::new([[0; 256]; 4]);
static MODEM_TX: ConstStaticCell<[[u8; 64]; 4]> = ConstStaticCell::new([[0; 64]; 4]);

/// One modem slot's wires.
pub(crate) struct Slot {
    pub(crate) uart: BufferedUart<'static>,
    pub(crate) pwrkey: Output<'static>,
    /// Held released; the engine power-cycles through PWRKEY (README.md).
    pub(crate) reset: Output<'static>,
}

/// Everything the application uses.
pub(crate) struct Board {
    pub(crate) host: BufferedUart<'static>,
    pub(crate) slots: [Slot; 4],
    pub(crate) iwdg: Peri<'static, peripherals::IWDG>,
    pub(crate) rng: Peri<'static, peripherals::RNG>,
}

/// Wires the peripherals per the table above; fails only if a USART rejects the configuration.
pub(crate) fn wire(p: Peripherals) -> Result<Board, usart::ConfigError> {
    let mut config = usart::Config::default();
    config.baudrate = BAUD;
    let [rx0, rx1, rx2, rx3] = MODEM_RX.take();
    let [tx0, tx1, tx2, tx3] = MODEM_TX.take();
    let host = BufferedUart::new(
        p.USART1,
        p.PA10,
        p.PA9,
        HOST_TX.take(),
        HOST_RX.take(),
        Irqs,
        config,
    )?;
    let slots = [
        Slot {
            uart: BufferedUart::new(p.USART2, p.PA3, p.PA2, tx0, rx0, Irqs, config)?,
            pwrkey: Output::new(p.PB12, Level::Low, Speed::Low),
            reset: Output::new(p.PC0, Level::Low, Speed::Low),
        },
        Slot {
            uart: BufferedUart::new(p.USART3, p.PB11, p.PB10, tx1, rx1, Irqs, config)?,
            pwrkey: Output::new(p.PB13, Level::Low, Speed::Low),
            reset: Output::new(p.PC1, Level::Low, Speed::Low),
        },
        Slot {
            uart: BufferedUart::new(p.UART4, p.PC11, p.PC10, tx2, rx2, Irqs, config)?,
            pwrkey: Output::new(p.PB14, Level::Low, Speed::Low),
            reset: Output::new(p.PC2, Level::Low, Speed::Low),
        },
        Slot {
            uart: BufferedUart::new(p.USART6, p.PC7, p.PC6, tx3, rx3, Irqs, config)?,
            pwrkey: Output::new(p.PB15, Level::Low, Speed::Low),
            reset: Output::new(p.PC3, Level::Low, Speed::Low),
        },
    ];
    Ok(Board {
        host,
        slots,
        iwdg: p.IWDG,
        rng: p.RNG,
    })
}
