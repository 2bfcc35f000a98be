//! The memory of recently reported submit results, so that a `Submit` repeated after a host or
//! link restart gets the recorded outcome instead of sending a second SMS.
//!
//! The window is the last [`RECENT_RESULTS`] results the bank reported (a ring; the oldest is
//! forgotten first). A host that repeats a tag older than that gets a fresh send. The host
//! keeps tags unique across bank reboots (`docs/link-protocol.md` §5.3); the ring itself is
//! lost on a bank reboot, which §9 leaves to the host.

use heapless::Deque;
use link::msg::{HostTag, SlotId, SubmitOutcome};

/// How many reported results the bank remembers. At 80 messages a minute that is about the
/// last 48 seconds of traffic, more than a host needs to notice a restart and re-submit.
pub const RECENT_RESULTS: usize = 64;

/// A ring of `(tag, slot, outcome)`.
#[derive(Debug, Default)]
pub(crate) struct Recent {
    ring: Deque<(HostTag, SlotId, SubmitOutcome), RECENT_RESULTS>,
}

impl Recent {
    pub(crate) const fn new() -> Self {
        Self { ring: Deque::new() }
    }

    /// Remembers a reported result, forgetting the oldest when full.
    pub(crate) fn record(&mut self, tag: HostTag, slot: SlotId, outcome: SubmitOutcome) {
        if self.ring.is_full() {
            self.ring.pop_front();
        }
        // Room was just made.
        let _ = self.ring.push_back((tag, slot, outcome));
    }

    /// The recorded result for `tag`, newest first.
    pub(crate) fn get(&self, tag: HostTag) -> Option<(SlotId, SubmitOutcome)> {
        self.ring
            .iter()
            .rev()
            .find(|(t, _, _)| *t == tag)
            .map(|&(_, s, o)| (s, o))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_window_only() {
        let mut r = Recent::new();
        let ok = |mr| SubmitOutcome::Accepted { mr };
        for i in 0..=RECENT_RESULTS as u32 {
            r.record(HostTag(i), SlotId(1), ok(i as u8));
        }
        // Tag 0 fell out of the window; tag 1 is the oldest remembered.
        assert_eq!(r.get(HostTag(0)), None);
        assert_eq!(r.get(HostTag(1)), Some((SlotId(1), ok(1))));
        assert_eq!(
            r.get(HostTag(RECENT_RESULTS as u32)),
            Some((SlotId(1), ok(RECENT_RESULTS as u8)))
        );
        // A tag recorded twice answers with the newer result.
        r.record(HostTag(5), SlotId(2), ok(99));
        assert_eq!(r.get(HostTag(5)), Some((SlotId(2), ok(99))));
    }
}
