//! Identifier newtypes: message ids, carrier ids, API key ids and operator ids.
//!
//! Carrier and operator ids come from the config file and appear in URLs, logs and the database, so
//! they are restricted to a small, printable alphabet.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The store's id of an accepted message (an SQLite rowid, always positive).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageId(pub i64);

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The store's id of an API key (a department or application).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ApiKeyId(pub i64);

impl fmt::Display for ApiKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Why a name is not a valid identifier.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The name is empty.
    #[error("must not be empty")]
    Empty,
    /// The name is longer than [`MAX_ID_LEN`] bytes.
    #[error("must be at most {MAX_ID_LEN} characters")]
    TooLong,
    /// The name has a character outside `a-z A-Z 0-9 . _ - / :`.
    #[error("may only contain letters, digits and . _ - / : (found {0:?})")]
    BadChar(char),
}

/// The longest carrier or operator id accepted.
pub const MAX_ID_LEN: usize = 64;

fn validate(name: &str) -> Result<(), IdError> {
    if name.is_empty() {
        return Err(IdError::Empty);
    }
    if name.len() > MAX_ID_LEN {
        return Err(IdError::TooLong);
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ':')))
    {
        return Err(IdError::BadChar(c));
    }
    Ok(())
}

macro_rules! name_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Validates `name` (letters, digits and `. _ - / :`, at most 64 bytes).
            pub fn new(name: &str) -> Result<Self, IdError> {
                validate(name)?;
                Ok(Self(Arc::from(name)))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), &*self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::new(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

name_id!(
    /// A carrier channel: one upstream SMPP link, one modem-bank slot or one USB modem, named in
    /// the config (`cmcc-1`, `bank/slot2`, `usb0`).
    CarrierId
);

name_id!(
    /// A mobile operator (`cmcc`, `unicom`, `telecom`, or any name the config defines); routing
    /// rules map destination prefixes to operators and operators to carrier pools.
    OperatorId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carrier_ids_are_validated() {
        assert!(CarrierId::new("bank/slot2").is_ok());
        assert!(CarrierId::new("smpp:cmcc-1").is_ok());
        assert_eq!(CarrierId::new(""), Err(IdError::Empty));
        assert_eq!(CarrierId::new("a b"), Err(IdError::BadChar(' ')));
        assert_eq!(CarrierId::new("中"), Err(IdError::BadChar('中')));
        assert_eq!(CarrierId::new(&"x".repeat(65)), Err(IdError::TooLong));
    }
}
