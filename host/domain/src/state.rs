//! The message lifecycle's states (DESIGN "Message lifecycle") and message priority.
//!
//! A message moves `queued → dispatching → submitted → delivered | undeliverable | expired | failed`;
//! a retry moves it from `dispatching` (or `submitted`, for a re-send on a negative receipt) back to
//! `queued`. Final states never change again.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a message is in its life. The names are part of the HTTP API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageState {
    /// Stored, waiting for its send time, a free carrier or a retry delay.
    Queued,
    /// Handed to a carrier; the attempt's outcome is not known yet.
    Dispatching,
    /// A carrier accepted every part; waiting for delivery reports.
    Submitted,
    /// Every part was reported delivered to the handset. Final.
    Delivered,
    /// The network reported a part undeliverable (and no re-send is configured). Final.
    Undeliverable,
    /// The validity period ran out before delivery. Final.
    Expired,
    /// Rejected permanently, or out of retries. Final.
    Failed,
}

impl MessageState {
    /// Every state, in lifecycle order.
    pub const ALL: [MessageState; 7] = [
        MessageState::Queued,
        MessageState::Dispatching,
        MessageState::Submitted,
        MessageState::Delivered,
        MessageState::Undeliverable,
        MessageState::Expired,
        MessageState::Failed,
    ];

    /// The API and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageState::Queued => "queued",
            MessageState::Dispatching => "dispatching",
            MessageState::Submitted => "submitted",
            MessageState::Delivered => "delivered",
            MessageState::Undeliverable => "undeliverable",
            MessageState::Expired => "expired",
            MessageState::Failed => "failed",
        }
    }

    /// Whether the message's life is over.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            MessageState::Delivered
                | MessageState::Undeliverable
                | MessageState::Expired
                | MessageState::Failed
        )
    }
}

/// A state name that is not one of [`MessageState::ALL`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown state {0:?}")]
pub struct UnknownState(pub String);

impl FromStr for MessageState {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, UnknownState> {
        MessageState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownState(s.to_owned()))
    }
}

impl fmt::Display for MessageState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where one part (segment) of a message is; a message is delivered when all parts are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartState {
    /// Not yet accepted by a carrier in the current attempt.
    Pending,
    /// Accepted by a carrier (it has a carrier reference); no final report yet.
    Submitted,
    /// Reported delivered.
    Delivered,
    /// Reported undeliverable, rejected or expired.
    Failed,
}

impl PartState {
    /// The database name.
    pub fn as_str(self) -> &'static str {
        match self {
            PartState::Pending => "pending",
            PartState::Submitted => "submitted",
            PartState::Delivered => "delivered",
            PartState::Failed => "failed",
        }
    }
}

impl FromStr for PartState {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, UnknownState> {
        [
            PartState::Pending,
            PartState::Submitted,
            PartState::Delivered,
            PartState::Failed,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
        .ok_or_else(|| UnknownState(s.to_owned()))
    }
}

/// The alphabet a message is sent in (TS 23.038): chosen once at accept, from the text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// GSM 7-bit default alphabet with the extension table.
    Gsm7,
    /// UCS-2 (UTF-16 code units).
    Ucs2,
}

impl Encoding {
    /// The API and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Gsm7 => "gsm7",
            Encoding::Ucs2 => "ucs2",
        }
    }

    /// Parses the API and database name.
    pub fn from_name(s: &str) -> Option<Encoding> {
        match s {
            "gsm7" => Some(Encoding::Gsm7),
            "ucs2" => Some(Encoding::Ucs2),
            _ => None,
        }
    }
}

/// Scheduling priority, 0 (bulk) to 9 (urgent, e.g. one-time passwords). Default 5.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Priority(u8);

impl Priority {
    /// The highest priority.
    pub const MAX: Priority = Priority(9);
    /// What a message gets when it does not say.
    pub const NORMAL: Priority = Priority(5);
    /// The lowest priority (bulk campaigns).
    pub const MIN: Priority = Priority(0);

    /// `Some` when `value` is 0..=9.
    pub fn new(value: u8) -> Option<Priority> {
        (value <= 9).then_some(Priority(value))
    }

    /// The numeric value.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl Default for Priority {
    fn default() -> Self {
        Priority::NORMAL
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_names_round_trip() {
        for st in MessageState::ALL {
            assert_eq!(st.as_str().parse::<MessageState>(), Ok(st));
        }
        assert!("sent".parse::<MessageState>().is_err());
        let finals: Vec<_> = MessageState::ALL
            .into_iter()
            .filter(|s| s.is_final())
            .map(MessageState::as_str)
            .collect();
        assert_eq!(finals, ["delivered", "undeliverable", "expired", "failed"]);
    }

    #[test]
    fn priority_is_bounded() {
        assert_eq!(Priority::new(9), Some(Priority::MAX));
        assert_eq!(Priority::new(10), None);
        assert!(Priority::MAX > Priority::NORMAL);
    }
}
