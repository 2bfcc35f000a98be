//! What a carrier says about one attempt, and what a delivery report says about one part.
//!
//! DESIGN invariant: every attempt ends in exactly one [`Outcome`], returned as a value (never an
//! exception path or a log line). The scheduler alone decides what happens next.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The result of handing one message (all of its parts) to one carrier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The carrier accepted every part; `carrier_refs[i]` identifies part `i` in its delivery
    /// reports (an SMSC message id, or a slot's TP-MR).
    Accepted {
        /// One reference per part, in part order.
        carrier_refs: Vec<String>,
    },
    /// Not sent now; try again after `after` (on this carrier or, more likely, another).
    Retry {
        /// The earliest sensible retry.
        after: Duration,
        /// Why.
        reason: RetryReason,
        /// Whether some part may have reached the network anyway (a timeout after the PDU was
        /// written, a link lost with the submit in flight). Re-sending then risks a duplicate,
        /// which is counted.
        maybe_sent: bool,
    },
    /// The carrier refused the message for good (invalid number, barred, bad content).
    Reject {
        /// Why.
        reason: RejectReason,
    },
}

/// Why an attempt should be retried.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum RetryReason {
    /// The carrier asked us to slow down (SMPP `ESME_RTHROTTLED`, per-SIM limits).
    Throttled,
    /// The carrier's queue is full (SMPP `ESME_RMSGQFUL`).
    QueueFull,
    /// The link or modem is down, unbound or not registered.
    Unavailable(String),
    /// No answer in time.
    Timeout,
    /// A temporary network or modem error, with its code (e.g. `CMS 38`, `SMPP 0x00000008`).
    Temporary(String),
    /// The service is shutting down; the message goes back to the queue.
    Shutdown,
}

impl fmt::Display for RetryReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RetryReason::Throttled => f.write_str("throttled"),
            RetryReason::QueueFull => f.write_str("carrier queue full"),
            RetryReason::Unavailable(why) => write!(f, "unavailable: {why}"),
            RetryReason::Timeout => f.write_str("timeout"),
            RetryReason::Temporary(code) => write!(f, "temporary error {code}"),
            RetryReason::Shutdown => f.write_str("shutting down"),
        }
    }
}

/// Why a message was refused for good.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum RejectReason {
    /// The destination number is invalid or unknown to the network.
    InvalidDestination(String),
    /// The sender (source address) was refused.
    InvalidSender(String),
    /// The subscriber or content is barred.
    Barred(String),
    /// Any other permanent carrier error, with its code.
    Permanent(String),
    /// Every carrier that could take the message failed it, or the retry budget ran out.
    NoRoute(String),
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectReason::InvalidDestination(d) => write!(f, "invalid destination: {d}"),
            RejectReason::InvalidSender(d) => write!(f, "invalid sender: {d}"),
            RejectReason::Barred(d) => write!(f, "barred: {d}"),
            RejectReason::Permanent(d) => write!(f, "permanent error: {d}"),
            RejectReason::NoRoute(d) => write!(f, "no route: {d}"),
        }
    }
}

/// The status a delivery report gives one part (SMPP receipt `stat:` / `message_state`, or a
/// TS 23.040 9.2.3.15 TP-ST from a modem status report).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DlrStatus {
    /// Delivered to the handset (`DELIVRD`, TP-ST 0x00–0x02).
    Delivered,
    /// The network gave up (`UNDELIV`, TP-ST permanent errors).
    Undeliverable,
    /// The validity period expired (`EXPIRED`, TP-ST 0x46).
    Expired,
    /// The SMSC rejected it (`REJECTD`).
    Rejected,
    /// Deleted at the SMSC (`DELETED`).
    Deleted,
    /// Still trying (`ENROUTE`, `ACCEPTD`, TP-ST 0x20–0x3F): not final.
    Enroute,
    /// Unknown (`UNKNOWN`): treated as final and not delivered.
    Unknown,
}

impl DlrStatus {
    /// Whether this report closes the part's life.
    pub fn is_final(self) -> bool {
        !matches!(self, DlrStatus::Enroute)
    }

    /// The database name.
    pub fn as_str(self) -> &'static str {
        match self {
            DlrStatus::Delivered => "delivered",
            DlrStatus::Undeliverable => "undeliverable",
            DlrStatus::Expired => "expired",
            DlrStatus::Rejected => "rejected",
            DlrStatus::Deleted => "deleted",
            DlrStatus::Enroute => "enroute",
            DlrStatus::Unknown => "unknown",
        }
    }

    /// Parses the database name.
    pub fn from_name(s: &str) -> Option<DlrStatus> {
        [
            DlrStatus::Delivered,
            DlrStatus::Undeliverable,
            DlrStatus::Expired,
            DlrStatus::Rejected,
            DlrStatus::Deleted,
            DlrStatus::Enroute,
            DlrStatus::Unknown,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dlr_names_round_trip_and_only_enroute_is_intermediate() {
        for name in [
            "delivered",
            "undeliverable",
            "expired",
            "rejected",
            "deleted",
            "enroute",
            "unknown",
        ] {
            let st = DlrStatus::from_name(name).unwrap();
            assert_eq!(st.as_str(), name);
            assert_eq!(st.is_final(), name != "enroute");
        }
        assert_eq!(DlrStatus::from_name("DELIVRD"), None);
    }

    #[test]
    fn reasons_read_well_in_a_trace() {
        assert_eq!(
            RetryReason::Temporary("CMS 38".into()).to_string(),
            "temporary error CMS 38"
        );
        assert_eq!(
            RejectReason::InvalidDestination("SMPP 0x0000000B".into()).to_string(),
            "invalid destination: SMPP 0x0000000B"
        );
    }
}
