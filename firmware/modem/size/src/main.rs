//! Links one slot supervisor for measuring: a `Runner` over a dummy port, pin and delay, its
//! `run()` future polled with a no-op waker, and a `Control` submitting through `black_box`.
//! `--features baseline` links none of it.
#![no_std]
#![no_main]

use core::hint::black_box;
use core::panic::PanicInfo;

#[panic_handler]
fn panic(_: &PanicInfo<'_>) -> ! {
    loop {}
}

#[cfg(not(feature = "baseline"))]
mod engine {
    use core::future::Future;
    use core::hint::black_box;
    use core::pin::pin;
    use core::task::{Context, Poll, Waker};

    use embassy_sync::blocking_mutex::raw::NoopRawMutex;
    use modem::slot::{self, Config, State};

    pub(crate) struct Port;

    impl embedded_io_async::ErrorType for Port {
        type Error = embedded_io_async::ErrorKind;
    }

    impl embedded_io_async::Read for Port {
        async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
            let n = black_box(buf.len());
            Ok(n)
        }
    }

    impl embedded_io_async::Write for Port {
        async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
            Ok(black_box(buf).len())
        }

        async fn flush(&mut self) -> Result<(), Self::Error> {
            Ok(())
        }
    }

    #[derive(Clone)]
    pub(crate) struct Delay;

    impl embedded_hal_async::delay::DelayNs for Delay {
        async fn delay_ns(&mut self, ns: u32) {
            black_box(ns);
        }
    }

    pub(crate) struct Pin;

    impl embedded_hal::digital::ErrorType for Pin {
        type Error = core::convert::Infallible;
    }

    impl embedded_hal::digital::OutputPin for Pin {
        fn set_low(&mut self) -> Result<(), Self::Error> {
            Ok(())
        }

        fn set_high(&mut self) -> Result<(), Self::Error> {
            Ok(())
        }
    }

    pub(crate) fn exercise() {
        let state: State<NoopRawMutex> = State::new();
        let (control, runner) = slot::new(&state, Config::new(), Port, Pin, Delay);
        let mut cx = Context::from_waker(Waker::noop());
        let mut run = pin!(runner.run());
        let mut submit = pin!(control.submit(black_box(&[0u8; 30]), 23));
        for _ in 0..black_box(100) {
            let _ = run.as_mut().poll(&mut cx);
            if let Poll::Ready(r) = submit.as_mut().poll(&mut cx) {
                let _ = black_box(r);
            }
            black_box(control.status());
        }
    }
}

/// The entry point named in `link.x`.
// SAFETY: `_start` is the only symbol of this name in the program; the linker script makes
// it the entry and nothing else defines it.
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    loop {
        #[cfg(not(feature = "baseline"))]
        engine::exercise();
        black_box(0);
    }
}
