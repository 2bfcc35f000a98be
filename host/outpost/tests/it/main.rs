//! End-to-end tests of the `outpost` binary: run it as a real child process against simulated
//! modems on TCP and a real SQLite file, and check what clients and the modems see.

mod admin;
mod bank;
mod pdu;
mod sendsms;
mod service;
mod smpp_clients;
mod smpp_failover;
mod support;
