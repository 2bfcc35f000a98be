//! Outpost's shared vocabulary: the validated values and states every host crate speaks.
//!
//! Raw input (an HTTP field, a config key, an SMPP address) becomes one of these types once, at the
//! edge, through a constructor that validates it; past the edge nothing re-checks. Nothing here does
//! I/O.
#![forbid(unsafe_code)]

mod ids;
mod msisdn;
mod outcome;
mod state;
mod time;

pub use ids::{ApiKeyId, CarrierId, IdError, MAX_ID_LEN, MessageId, OperatorId};
pub use msisdn::{CountryCode, Msisdn, MsisdnError, NumberPolicy};
pub use outcome::{DlrStatus, Outcome, RejectReason, RetryReason};
pub use state::{Encoding, MessageState, PartState, Priority, UnknownState};
pub use time::UnixMillis;
