//! In-memory reassembly of concatenated messages (UDH IE 0x00/0x08 or SAR TLVs), with a
//! timeout for parts that never come.
//!
//! A convenience for callers that do not reassemble in their store: the server's handler (long
//! submits from an application) and MO handling. Parts are grouped by a caller-chosen scope
//! (an account, a link) plus source, destination, reference and part count (TS 23.040
//! 9.2.3.24.1: the reference is only unique per sender and recipient). A repeated part replaces
//! the earlier copy, so a re-sent part does not complete a message twice.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::message::ShortMessage;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    scope: String,
    source: String,
    destination: String,
    reference: u16,
    total: u8,
}

#[derive(Debug)]
struct Pending {
    first_seen: Instant,
    parts: Vec<Option<ShortMessage>>,
    have: usize,
}

/// A whole message: its parts in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Complete {
    /// The parts, in sequence order (one for an unsplit message).
    pub parts: Vec<ShortMessage>,
}

impl Complete {
    /// The concatenated user data (each part without its UDH).
    pub fn user_data(&self) -> Vec<u8> {
        self.parts
            .iter()
            .flat_map(|p| p.user_data().to_vec())
            .collect()
    }
}

/// A message that timed out incomplete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incomplete {
    /// The scope it was pushed under.
    pub scope: String,
    /// Parts received, in order; the missing ones are absent.
    pub parts: Vec<ShortMessage>,
    /// How many parts the message has.
    pub total: u8,
}

/// Collects parts until each message is whole.
#[derive(Debug)]
pub struct Reassembler {
    pending: HashMap<Key, Pending>,
    timeout: Duration,
    max_pending: usize,
}

impl Reassembler {
    /// Keeps at most `max_pending` incomplete messages, each for at most `timeout`.
    pub fn new(timeout: Duration, max_pending: usize) -> Reassembler {
        Reassembler {
            pending: HashMap::new(),
            timeout,
            max_pending: max_pending.max(1),
        }
    }

    /// Adds one part. Returns the whole message when this part completes it (immediately for a
    /// message that is not concatenated, or whose concatenation facts are nonsense: part 0, or
    /// beyond the total).
    pub fn push(&mut self, scope: &str, msg: ShortMessage, now: Instant) -> Option<Complete> {
        let Some(c) = msg
            .concat()
            .filter(|c| c.total > 1 && c.seq >= 1 && c.seq <= c.total)
        else {
            return Some(Complete { parts: vec![msg] });
        };
        let key = Key {
            scope: scope.to_owned(),
            source: msg.source.addr.clone(),
            destination: msg.destination.addr.clone(),
            reference: c.reference,
            total: c.total,
        };
        if !self.pending.contains_key(&key) && self.pending.len() >= self.max_pending {
            // Make room by dropping the oldest incomplete message.
            if let Some(oldest) = self
                .pending
                .iter()
                .min_by_key(|(_, p)| p.first_seen)
                .map(|(k, _)| k.clone())
            {
                self.pending.remove(&oldest);
            }
        }
        let entry = self.pending.entry(key.clone()).or_insert_with(|| Pending {
            first_seen: now,
            parts: vec![None; usize::from(c.total)],
            have: 0,
        });
        let slot = entry.parts.get_mut(usize::from(c.seq) - 1)?;
        if slot.is_none() {
            entry.have += 1;
        }
        *slot = Some(msg);
        if entry.have < entry.parts.len() {
            return None;
        }
        let done = self.pending.remove(&key)?;
        Some(Complete {
            parts: done.parts.into_iter().flatten().collect(),
        })
    }

    /// Removes and returns messages older than the timeout.
    pub fn expire(&mut self, now: Instant) -> Vec<Incomplete> {
        let timeout = self.timeout;
        let old: Vec<Key> = self
            .pending
            .iter()
            .filter(|(_, p)| now.saturating_duration_since(p.first_seen) >= timeout)
            .map(|(k, _)| k.clone())
            .collect();
        old.into_iter()
            .filter_map(|k| {
                let p = self.pending.remove(&k)?;
                Some(Incomplete {
                    scope: k.scope,
                    total: k.total,
                    parts: p.parts.into_iter().flatten().collect(),
                })
            })
            .collect()
    }

    /// Incomplete messages held now.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Address, ConcatInfo, ESM_UDHI};
    use bytes::Bytes;

    fn part(from: &str, reference: u8, total: u8, seq: u8, text: &str) -> ShortMessage {
        let mut data = vec![5, 0, 3, reference, total, seq];
        data.extend_from_slice(text.as_bytes());
        let mut m = sar_part(from, 0, 0, 0, "");
        m.sar = None;
        m.esm_class = ESM_UDHI;
        m.short_message = Bytes::from(data);
        m
    }

    fn sar_part(from: &str, reference: u16, total: u8, seq: u8, text: &str) -> ShortMessage {
        ShortMessage {
            service_type: String::new(),
            source: Address::international(from),
            destination: Address::international("100"),
            esm_class: 0,
            protocol_id: 0,
            priority: 0,
            schedule_delivery_time: String::new(),
            validity_period: String::new(),
            registered_delivery: 0,
            data_coding: 0,
            short_message: Bytes::copy_from_slice(text.as_bytes()),
            message_payload: None,
            sar: (total > 0).then_some(ConcatInfo {
                reference,
                total,
                seq,
            }),
            receipt_tlvs: Default::default(),
            user_message_reference: None,
        }
    }

    #[test]
    fn parts_in_any_order_complete_once() {
        let t0 = Instant::now();
        let mut r = Reassembler::new(Duration::from_secs(60), 10);
        assert_eq!(r.push("k", part("1", 7, 3, 3, "c"), t0), None);
        assert_eq!(r.push("k", part("1", 7, 3, 1, "a"), t0), None);
        // Same reference from another sender is another message.
        assert_eq!(r.push("k", part("2", 7, 3, 1, "x"), t0), None);
        // A repeated part does not count twice.
        assert_eq!(r.push("k", part("1", 7, 3, 1, "a"), t0), None);
        let whole = r.push("k", part("1", 7, 3, 2, "b"), t0).unwrap();
        assert_eq!(whole.user_data(), b"abc");
        assert_eq!(r.len(), 1);
        // SAR parts reassemble the same way.
        assert_eq!(r.push("k", sar_part("3", 0x1234, 2, 2, "lo"), t0), None);
        let whole = r.push("k", sar_part("3", 0x1234, 2, 1, "hel"), t0).unwrap();
        assert_eq!(whole.user_data(), b"hello");
        // Unsplit and nonsense concatenation facts pass straight through.
        assert_eq!(
            r.push("k", sar_part("4", 0, 0, 0, "solo"), t0)
                .unwrap()
                .parts
                .len(),
            1
        );
        assert_eq!(
            r.push("k", part("4", 1, 2, 0, "zero"), t0)
                .unwrap()
                .parts
                .len(),
            1
        );
        assert_eq!(
            r.push("k", part("4", 1, 2, 3, "over"), t0)
                .unwrap()
                .parts
                .len(),
            1
        );
    }

    #[test]
    fn incomplete_messages_expire_and_are_bounded() {
        let t0 = Instant::now();
        let mut r = Reassembler::new(Duration::from_secs(10), 2);
        r.push("a", part("1", 1, 2, 1, "x"), t0);
        r.push("a", part("1", 2, 2, 1, "y"), t0 + Duration::from_secs(1));
        // A third message pushes out the oldest.
        r.push("a", part("1", 3, 2, 1, "z"), t0 + Duration::from_secs(2));
        assert_eq!(r.len(), 2);
        let gone = r.expire(t0 + Duration::from_secs(11));
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].parts[0].user_data(), b"y");
        assert_eq!(gone[0].total, 2);
        assert_eq!(r.expire(t0 + Duration::from_secs(12)).len(), 1);
        assert!(r.is_empty());
    }
}
