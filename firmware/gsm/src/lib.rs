//! GSM SMS codec: alphabet, packing, segment planning and TPDUs (3GPP TS 23.038 / 23.040).
//!
//! Sans-I/O, `no_std`, no heap: bytes in, values out. Every decoder returns a typed error on
//! bad input and never panics (each has a fuzz target under `fuzz/`).
#![doc = include_str!("../README.md")]
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod address;
pub mod dcs;
pub mod dump;
pub mod error;
pub mod gsm7;
pub mod hex;
pub mod pid;
pub mod plan;
pub mod status;
pub mod time;
pub mod tpdu;
pub mod ucs2;
pub mod ud;
pub mod udh;

pub use address::{Address, NumberingPlan, TypeOfNumber};
pub use dcs::{Alphabet, CodingGroup, Dcs, MessageClass};
pub use dump::Dump;
pub use error::{AddressError, DecodeError, EncodeError, Field, TextError, UdhError};
pub use hex::{Hex, HexError};
pub use pid::{Pid, PidKind};
pub use plan::{Encoding, Plan, PlanOptions, Segment, Segments, plan};
pub use status::{StatusCategory, StatusCode, StatusKind};
pub use time::{EnhancedPeriod, EnhancedValidity, RelativeValidity, Timestamp, Validity};
pub use tpdu::{
    Deliver, Direction, Encoded, MessageType, Pdu, ReportQualifier, StatusReport, Submit, Tpdu,
    decode, decode_with_sca, split_sca,
};
pub use ud::{Text, UserData};
pub use udh::{Concat, Ie, Ports, Udh};
