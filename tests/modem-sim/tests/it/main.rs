//! Integration tests of the modem simulator: the sans-I/O core on scripts (whole and one byte at
//! a time), our AT engine (`firmware/modem`) against the simulator including every fault, and
//! independent AT clients (gammu, smstools, python-gsmmodem-new, Kannel) through ptys.

mod core;
mod engine;
mod peers;
mod runner;
mod util;
