//! Carrier integration tests against independent peers: the modem simulator for modems,
//! the SMSC simulator for SMPP links.

mod bank;
mod modem;
mod port;
mod smpp;
