//! Outpost's SMPP layer (v3.4, accepting v5.0 peers), built on the `rusmpp` PDU codec.
#![forbid(unsafe_code)]

pub mod client;
pub mod concat;
pub mod frame;
pub mod message;
pub mod receipt;
pub mod server;
pub mod status;
pub mod tls;
