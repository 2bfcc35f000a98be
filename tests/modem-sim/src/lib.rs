//! A GSM modem simulator that real AT clients (gammu, smstools, python-gsmmodem-new, Kannel)
//! and our own AT engine accept: N modems on ptys or TCP ports, SMS in PDU and text mode,
//! status reports, storage, URCs per `AT+CNMI`, and faults injected at run time.
//!
//! The core ([`Modem`]) is sans-I/O: bytes and explicit time in, bytes and deadlines out.
//! [`ModemHandle`] runs it on tokio over any byte stream; [`Sim`] starts several on ptys and
//! TCP listeners. The event log ([`Event`]) records what the modem accepted, decoded with
//! `firmware/gsm`, and is what tests assert on.
#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod at;
pub mod clock;
pub mod config;
pub mod control;
pub mod modem;
pub mod pty;
pub mod record;
pub mod runner;
pub mod store;

pub use clock::Millis;
pub use config::{ModemConfig, Outcome, Profile, ReceiptMix, Registration};
pub use modem::{Fault, InboundSms, InjectError, Modem};
pub use record::{Event, RejectReason, Route, SentMessage, Stats, Submitted};
pub use runner::{Endpoint, ModemHandle, Sim, Timeout};
pub use store::{Mem, Stat, StoredKind};
