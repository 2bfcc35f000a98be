//! The Outpost service as a library: configuration, wiring and the demo. The `outpost` binary
//! (`main.rs`) is a thin command line over it; tests drive [`service::run`] in-process.
#![forbid(unsafe_code)]

pub mod config;
pub mod demo;
pub mod notify;
pub mod service;
pub mod smpp_server;
