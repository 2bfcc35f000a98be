//! The host↔modem-bank wire protocol: frames, messages and the reliable session on top.
//!
//! Sans-I/O, `no_std` and allocation-free so that the bank firmware and the host service run the
//! very same code; the normative description is `docs/link-protocol.md`.
#![cfg_attr(not(test), no_std)]
#![doc = include_str!("../README.md")]

pub mod frame;
pub mod msg;
pub mod session;

pub use frame::{FrameDecoder, FrameError, MAX_BODY_LEN, MAX_WIRE_LEN};
pub use msg::{BankToHost, HostTag, HostToBank};
pub use session::{
    BankSession, Config, DownReason, Event, HostSession, LinkState, RetainError, SendError,
    Session, Stats, VERSION, Version,
};
