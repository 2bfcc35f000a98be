//! Integration tests of the bank emulator (the firmware application on tokio) and, in `qemu`,
//! of the same application built for `boards/mps2-an386` and run in QEMU.

mod emu;
mod host;
mod qemu;
