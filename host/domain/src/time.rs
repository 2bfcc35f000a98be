//! Wall-clock time as Unix milliseconds: what the database stores and the scheduler compares.
//!
//! The scheduler is pure, so it never reads the clock; callers pass `UnixMillis::now()` in, and
//! tests pass whatever instant they like.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Milliseconds since 1970-01-01T00:00:00Z.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct UnixMillis(pub i64);

impl UnixMillis {
    /// The current wall-clock time.
    pub fn now() -> UnixMillis {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        UnixMillis(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }

    /// `self + d`, saturating.
    pub fn plus(self, d: Duration) -> UnixMillis {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        UnixMillis(self.0.saturating_add(ms))
    }

    /// How long from `earlier` to `self`; zero if `earlier` is later.
    pub fn since(self, earlier: UnixMillis) -> Duration {
        Duration::from_millis(u64::try_from(self.0.saturating_sub(earlier.0)).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = UnixMillis(1_000);
        assert_eq!(t.plus(Duration::from_secs(2)), UnixMillis(3_000));
        assert_eq!(
            UnixMillis(i64::MAX).plus(Duration::from_secs(1)),
            UnixMillis(i64::MAX)
        );
        assert_eq!(UnixMillis(3_000).since(t), Duration::from_secs(2));
        assert_eq!(t.since(UnixMillis(3_000)), Duration::ZERO);
    }
}
