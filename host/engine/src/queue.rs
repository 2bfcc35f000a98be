//! The dispatcher's in-memory view of the live queue: which messages are due, in what order.
//!
//! The database is the truth; this is an index over it, rebuilt from [`store::Store::load_live`]
//! at start and kept current by the accept path and by outcomes. Due messages leave in priority
//! order (9 first), then oldest first; messages with a future `next_attempt_at` wait in a timer
//! heap until then.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use domain::{CarrierId, Encoding, MessageId, Msisdn, Priority, UnixMillis};

/// A live message as the dispatcher keeps it.
#[derive(Clone, Debug)]
pub(crate) struct Live {
    pub(crate) id: MessageId,
    pub(crate) to: Msisdn,
    pub(crate) sender: Option<String>,
    pub(crate) body: Arc<str>,
    pub(crate) encoding: Encoding,
    pub(crate) parts: u16,
    pub(crate) priority: Priority,
    pub(crate) expires_at: Option<UnixMillis>,
    pub(crate) next_attempt_at: UnixMillis,
    pub(crate) round: u32,
    pub(crate) attempts: u32,
    /// Carriers tried in the current round (never picked again this round).
    pub(crate) tried: Vec<CarrierId>,
    /// For a re-sent message: the carriers that carried it before (avoided in every round).
    pub(crate) carried: Vec<CarrierId>,
    /// Operator channels a re-send avoids.
    pub(crate) avoid: Vec<String>,
}

impl From<store::Pending> for Live {
    fn from(p: store::Pending) -> Live {
        Live {
            id: p.id,
            to: p.to,
            sender: p.sender,
            body: Arc::from(p.body),
            encoding: p.encoding,
            parts: p.parts,
            priority: p.priority,
            expires_at: p.expires_at,
            next_attempt_at: p.next_attempt_at,
            round: p.round,
            attempts: p.attempts,
            tried: p.tried,
            carried: p.carried,
            avoid: p.avoid,
        }
    }
}

#[derive(PartialEq, Eq)]
struct Ready {
    priority: Priority,
    id: MessageId,
}

impl Ord for Ready {
    fn cmp(&self, other: &Self) -> Ordering {
        // Max-heap: higher priority first, then the older (smaller) id.
        self.priority
            .cmp(&other.priority)
            .then_with(|| other.id.cmp(&self.id))
    }
}

impl PartialOrd for Ready {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Due and waiting messages.
#[derive(Default)]
pub(crate) struct Queue {
    ready: BinaryHeap<Ready>,
    timed: BinaryHeap<Reverse<(UnixMillis, MessageId)>>,
    live: HashMap<MessageId, Live>,
}

impl Queue {
    /// Adds (or replaces) a message; it is due at its `next_attempt_at`.
    pub(crate) fn push(&mut self, m: Live) {
        let id = m.id;
        self.timed.push(Reverse((m.next_attempt_at, id)));
        self.live.insert(id, m);
    }

    /// Moves every message due at `now` into the ready heap.
    fn promote(&mut self, now: UnixMillis) {
        while let Some(Reverse((at, id))) = self.timed.peek().copied() {
            if at > now {
                break;
            }
            self.timed.pop();
            // Stale timer entries (the message moved on or was re-pushed with another time) are
            // skipped: only an entry matching the message's current time counts.
            if let Some(m) = self.live.get(&id)
                && m.next_attempt_at == at
            {
                self.ready.push(Ready {
                    priority: m.priority,
                    id,
                });
            }
        }
    }

    /// Takes the most urgent due message out of the queue.
    pub(crate) fn pop_due(&mut self, now: UnixMillis) -> Option<Live> {
        self.promote(now);
        while let Some(r) = self.ready.pop() {
            if let Some(m) = self.live.remove(&r.id) {
                return Some(m);
            }
        }
        None
    }

    /// When the next waiting message becomes due, if any is waiting.
    pub(crate) fn next_due(&self) -> Option<UnixMillis> {
        if !self.ready.is_empty() {
            return Some(UnixMillis(i64::MIN));
        }
        self.timed.peek().map(|Reverse((at, _))| *at)
    }

    /// Messages held (due or waiting).
    pub(crate) fn len(&self) -> usize {
        self.live.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(id: i64, priority: u8, at: i64) -> Live {
        Live {
            id: MessageId(id),
            to: Msisdn::from_e164("+8613800138000").unwrap(),
            sender: None,
            body: Arc::from("x"),
            encoding: Encoding::Gsm7,
            parts: 1,
            priority: Priority::new(priority).unwrap(),
            expires_at: None,
            next_attempt_at: UnixMillis(at),
            round: 0,
            attempts: 0,
            tried: Vec::new(),
            carried: Vec::new(),
            avoid: Vec::new(),
        }
    }

    fn drain(q: &mut Queue, now: i64) -> Vec<i64> {
        std::iter::from_fn(|| q.pop_due(UnixMillis(now)).map(|m| m.id.0)).collect()
    }

    #[test]
    fn due_messages_leave_by_priority_then_age() {
        let mut q = Queue::default();
        q.push(live(3, 5, 0));
        q.push(live(1, 5, 0));
        q.push(live(2, 9, 0));
        q.push(live(4, 0, 0));
        q.push(live(5, 9, 100)); // not due yet
        assert_eq!(q.next_due(), Some(UnixMillis(0)));
        assert_eq!(drain(&mut q, 10), [2, 1, 3, 4]);
        assert_eq!(q.next_due(), Some(UnixMillis(100)));
        assert_eq!(q.len(), 1);
        assert_eq!(drain(&mut q, 100), [5]);
        assert_eq!(q.next_due(), None);
    }

    #[test]
    fn a_re_pushed_message_keeps_only_its_latest_time() {
        let mut q = Queue::default();
        q.push(live(1, 5, 50));
        // Retry scheduled later: the old timer entry must not release it early.
        q.push(live(1, 5, 500));
        assert_eq!(drain(&mut q, 100), Vec::<i64>::new());
        assert_eq!(drain(&mut q, 500), [1]);
        assert_eq!(q.len(), 0);
    }
}
