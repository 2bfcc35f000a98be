//! The memory shared between the link task and the slot agents: per slot, the submit queue,
//! the finished result waiting for the link, the inbound messages held until the host
//! acknowledges them, and pending reset/configure requests.
//!
//! Everything is fixed-size and lives in one caller-allocated [`BankState`] (a `static` on a
//! board). Access goes through a blocking mutex held only for a few copies, never across an
//! `await`, so neither side can stall the other: the link task only ever *marks* entries and
//! pushes to bounded queues it checked first, and each agent does the slow work (the modem
//! calls) on its own.

use core::cell::RefCell;

use embassy_sync::blocking_mutex::Mutex as BlockingMutex;
use embassy_sync::blocking_mutex::raw::RawMutex;
use embassy_sync::signal::Signal;
use heapless::{Deque, Vec};
use link::msg::{HostTag, Pdu, SubmitOutcome};
use modem::slot::StoredId;

/// Submits that may wait in one slot's queue besides the one being sent. With one waiting the
/// modem never idles between two sends; three absorb a host that refills in bursts.
pub const SUBMIT_QUEUE: usize = 3;

/// Inbound SMS and status reports one slot holds until the host acknowledges them. When it
/// is full the agent stops taking events from the modem, whose own queue then fills and whose
/// runner leaves further messages in modem storage: nothing is lost, it only waits.
pub const INBOUND_HELD: usize = 4;

/// A submit waiting for its slot.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub(crate) tag: HostTag,
    pub(crate) pdu: Pdu,
}

/// A finished submit whose result the link task has not taken yet.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Done {
    pub(crate) tag: HostTag,
    pub(crate) outcome: SubmitOutcome,
}

/// Where an inbound message stands towards the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offer {
    /// To be sent (again) to the current host incarnation.
    Fresh,
    /// Queued on the link at `at` as the `seq`-th message this bank sent (see
    /// `LinkRunner::link_acked`).
    Sent { at: u64, seq: u32 },
    /// The host stored it (`AckInbound`); the agent acks the modem and drops the entry.
    HostAcked,
}

/// An inbound SMS or status report held for the host.
#[derive(Debug, Clone)]
pub(crate) struct Held {
    /// The index the host echoes in `AckInbound` (see `convert::host_index`).
    pub(crate) index: u16,
    /// Where the modem keeps it; `None` for a directly routed message (nothing to delete).
    pub(crate) id: Option<StoredId>,
    /// A status report rather than an SMS-DELIVER.
    pub(crate) report: bool,
    pub(crate) pdu: Pdu,
    pub(crate) offer: Offer,
}

/// One slot's shared fields.
#[derive(Debug)]
pub(crate) struct SlotCell {
    pub(crate) queue: Deque<Job, SUBMIT_QUEUE>,
    /// The submit the agent is sending now.
    pub(crate) in_progress: Option<HostTag>,
    /// Its result, until the link task moves it into the link's window. The agent takes no
    /// new job while this is set: that is the per-slot back-pressure that keeps results from
    /// piling up when the host stops acknowledging.
    pub(crate) done: Option<Done>,
    pub(crate) held: Vec<Held, INBOUND_HELD>,
    /// A reset request (`true`: power cycle); a hard request wins over a soft one.
    pub(crate) reset: Option<bool>,
    /// A new modem configuration; the latest wins.
    pub(crate) configure: Option<modem::slot::Config>,
    /// The modem's state changed: the link task should compare the status.
    pub(crate) status_changed: bool,
    /// Counter for the indexes of directly routed messages.
    pub(crate) next_direct: u16,
}

impl SlotCell {
    const fn new() -> Self {
        Self {
            queue: Deque::new(),
            in_progress: None,
            done: None,
            held: Vec::new(),
            reset: None,
            configure: None,
            status_changed: false,
            next_direct: 0,
        }
    }

    /// Whether `tag` is queued, being sent, or finished but not yet reported.
    pub(crate) fn has_tag(&self, tag: HostTag) -> bool {
        self.in_progress == Some(tag)
            || self.done.is_some_and(|d| d.tag == tag)
            || self.queue.iter().any(|j| j.tag == tag)
    }

    /// Submits waiting or in progress (the `queued` field of `SlotStatus`).
    pub(crate) fn queued(&self) -> u8 {
        let n = self.queue.len() + usize::from(self.in_progress.is_some());
        u8::try_from(n).unwrap_or(u8::MAX)
    }
}

/// One slot's share of [`BankState`].
pub(crate) struct SlotShared<M: RawMutex> {
    cell: BlockingMutex<M, RefCell<SlotCell>>,
    /// Wakes the agent's submit loop (a job was queued, or its result was taken).
    pub(crate) submit_wake: Signal<M, ()>,
    /// Wakes the agent's event loop (an ack, reset or configure request; room for an event).
    pub(crate) event_wake: Signal<M, ()>,
}

impl<M: RawMutex> SlotShared<M> {
    const fn new() -> Self {
        Self {
            cell: BlockingMutex::new(RefCell::new(SlotCell::new())),
            submit_wake: Signal::new(),
            event_wake: Signal::new(),
        }
    }

    /// Runs `f` on the cell under the lock. `f` must not block; it never awaits (it cannot).
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut SlotCell) -> R) -> R {
        self.cell.lock(|c| f(&mut c.borrow_mut()))
    }
}

/// All the memory the bank application shares between its tasks, for `S` slots. Allocate it
/// where it outlives them (a `static`: [`BankState::new`] is `const`).
pub struct BankState<M: RawMutex, const S: usize> {
    pub(crate) slots: [SlotShared<M>; S],
    /// Wakes the link task (a result, an inbound message or a state change is waiting).
    pub(crate) link_wake: Signal<M, ()>,
}

impl<M: RawMutex, const S: usize> BankState<M, S> {
    /// Empty state.
    pub const fn new() -> Self {
        Self {
            slots: [const { SlotShared::new() }; S],
            link_wake: Signal::new(),
        }
    }
}

impl<M: RawMutex, const S: usize> Default for BankState<M, S> {
    fn default() -> Self {
        Self::new()
    }
}
