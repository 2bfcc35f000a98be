//! The host↔modem-bank wire protocol: frames, messages and the reliable session on top.
//!
//! Sans-I/O, `no_std` and allocation-free so that the bank firmware and the host service run the
//! very same code; the normative description is `docs/link-protocol.md`.
#![cfg_attr(not(test), no_std)]

pub mod frame;
pub mod msg;
