//! What an attempt's outcome means for the message (DESIGN "Message lifecycle" step 4): done,
//! rotate to another carrier now, come back later, or fail. What it means for the *carrier* is
//! [`crate::Candidate::on_outcome`]'s business.
//!
//! Rotation is immediate: a failed attempt goes straight back to [`crate::pick`] with the carrier
//! excluded, so it moves to another link of the same pool, then to other pools, then to modem
//! slots, by the tier order. Backoff happens only between rounds ([`crate::Decision::NextRound`]).

use domain::{Outcome, RejectReason, RetryReason, UnixMillis};

/// The dispatcher's next step for a message after an attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NextStep {
    /// The carrier accepted it: the message is `submitted`; its receipts decide the rest.
    Done,
    /// Call [`crate::pick`] again now (the attempt counts in
    /// [`crate::MessageView::attempts`]). When `exclude` is true the attempt failed: add the
    /// carrier to the message's tried set for the rest of the round. When false the carrier was
    /// only throttled (and [`crate::Candidate::on_outcome`] paused it).
    RetryNow {
        /// Whether to exclude the carrier for the rest of the round.
        exclude: bool,
    },
    /// Put the message back in the queue, due at `at` (the service is shutting down).
    RetryAt {
        /// When it is due again.
        at: UnixMillis,
    },
    /// Final: the message cannot be sent by anyone (bad number or sender).
    Fail {
        /// Why.
        reason: RejectReason,
    },
}

/// The next step after `outcome` at `now`.
///
/// An invalid destination or sender fails the message: no other carrier will take it either.
/// A barred or other permanent reject may be one carrier's (a gateway's content filter), so the
/// message rotates to another carrier. A `maybe_sent` retry also rotates: the duplicate risk is
/// the carrier's in-flight window (DESIGN step 6), and the dispatcher records it in the trace.
pub fn after_outcome(outcome: &Outcome, now: UnixMillis) -> NextStep {
    match outcome {
        Outcome::Accepted { .. } => NextStep::Done,
        Outcome::Retry { after, reason, .. } => match reason {
            RetryReason::Throttled | RetryReason::QueueFull => {
                NextStep::RetryNow { exclude: false }
            }
            RetryReason::Shutdown => NextStep::RetryAt {
                at: now.plus(*after),
            },
            RetryReason::Unavailable(_) | RetryReason::Timeout | RetryReason::Temporary(_) => {
                NextStep::RetryNow { exclude: true }
            }
        },
        Outcome::Reject { reason } => match reason {
            RejectReason::InvalidDestination(_) | RejectReason::InvalidSender(_) => {
                NextStep::Fail {
                    reason: reason.clone(),
                }
            }
            RejectReason::Barred(_) | RejectReason::Permanent(_) | RejectReason::NoRoute(_) => {
                NextStep::RetryNow { exclude: true }
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn check(outcome: Outcome, expect: NextStep) {
        assert_eq!(
            after_outcome(&outcome, UnixMillis(1000)),
            expect,
            "{outcome:?}"
        );
    }

    fn retry(reason: RetryReason) -> Outcome {
        Outcome::Retry {
            after: Duration::from_secs(5),
            reason,
            maybe_sent: false,
        }
    }

    #[test]
    fn outcomes_map_to_next_steps() {
        let rotate = NextStep::RetryNow { exclude: true };
        check(
            Outcome::Accepted {
                carrier_refs: vec!["1".into()],
            },
            NextStep::Done,
        );
        check(
            retry(RetryReason::Throttled),
            NextStep::RetryNow { exclude: false },
        );
        check(
            retry(RetryReason::QueueFull),
            NextStep::RetryNow { exclude: false },
        );
        check(retry(RetryReason::Timeout), rotate.clone());
        check(
            retry(RetryReason::Unavailable("unbound".into())),
            rotate.clone(),
        );
        check(
            retry(RetryReason::Temporary("CMS 38".into())),
            rotate.clone(),
        );
        check(
            Outcome::Retry {
                after: Duration::from_secs(5),
                reason: RetryReason::Timeout,
                maybe_sent: true,
            },
            rotate.clone(),
        );
        check(
            retry(RetryReason::Shutdown),
            NextStep::RetryAt {
                at: UnixMillis(6000),
            },
        );
        let bad = RejectReason::InvalidDestination("SMPP 0x0000000B".into());
        check(
            Outcome::Reject {
                reason: bad.clone(),
            },
            NextStep::Fail { reason: bad },
        );
        let sender = RejectReason::InvalidSender("SMPP 0x0000000A".into());
        check(
            Outcome::Reject {
                reason: sender.clone(),
            },
            NextStep::Fail { reason: sender },
        );
        check(
            Outcome::Reject {
                reason: RejectReason::Barred("content".into()),
            },
            rotate.clone(),
        );
        check(
            Outcome::Reject {
                reason: RejectReason::Permanent("CMS 500".into()),
            },
            rotate.clone(),
        );
        check(
            Outcome::Reject {
                reason: RejectReason::NoRoute("x".into()),
            },
            rotate,
        );
    }
}
