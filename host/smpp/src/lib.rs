//! Outpost's SMPP layer: ESME client links, the SMSC-side server, receipts and messages.
//!
//! Invariants kept here: no byte from a peer can panic (framing, PDU decoding and the receipt
//! parser are fuzzed); every submit ends in exactly one answer; every socket sets TCP_NODELAY.
#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod client;
pub mod concat;
pub mod frame;
pub mod message;
pub mod receipt;
pub mod server;
pub mod status;
pub mod tls;
