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
use link::msg::{HostTag, Pdu, SlotConfig, SlotLimits, SubmitError, SubmitOutcome};
use modem::slot::StoredId;

/// Submits that may wait in one slot's queue besides the one being sent. With one waiting the
/// modem never idles between two sends; the second absorbs a host that refills late.
pub const SUBMIT_QUEUE: usize = 2;

/// Inbound SMS and status reports one slot holds until the host acknowledges them. When it
/// is full the agent stops taking events from the modem, whose own queue then fills and whose
/// runner leaves further messages in modem storage: nothing is lost, it only waits.
pub const INBOUND_HELD: usize = 2;

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
///
/// [`SlotCell::new`] is all zero bytes (no `Option` whose `None` is a niche value, no `true`
/// flag), so a `static` [`BankState`] lands in `.bss`: no flash for an initialiser and no
/// start-up copy. That is why some optional values are a flag plus a value.
#[derive(Debug)]
pub(crate) struct SlotCell {
    pub(crate) queue: Deque<Job, SUBMIT_QUEUE>,
    /// The submit the agent is sending now.
    pub(crate) in_progress: Option<HostTag>,
    /// A finished submit whose result the link task has not taken yet; `done_outcome` is its
    /// outcome. The agent takes no new job while this is set: that is the per-slot
    /// back-pressure that keeps results from piling up when the host stops acknowledging.
    done_tag: Option<HostTag>,
    done_outcome: SubmitOutcome,
    pub(crate) held: Vec<Held, INBOUND_HELD>,
    /// A reset request; a hard one (power cycle) wins over a soft one.
    reset: bool,
    reset_hard: bool,
    /// A configuration from the host, for the agent to apply; the latest wins.
    configure: bool,
    config: SlotConfig,
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
            done_tag: None,
            // Not meaningful while `done_tag` is `None`; this variant is the all-zero one.
            done_outcome: SubmitOutcome::Failed(SubmitError::Cms(0)),
            held: Vec::new(),
            reset: false,
            reset_hard: false,
            configure: false,
            config: SlotConfig {
                enabled: false,
                pin: None,
                profile: None,
                limits: SlotLimits {
                    per_minute: None,
                    per_hour: None,
                    per_day: None,
                },
            },
            status_changed: false,
            next_direct: 0,
        }
    }

    /// Whether a result waits for the link task.
    pub(crate) fn has_done(&self) -> bool {
        self.done_tag.is_some()
    }

    /// Leaves a result for the link task.
    pub(crate) fn set_done(&mut self, done: Done) {
        self.done_tag = Some(done.tag);
        self.done_outcome = done.outcome;
    }

    /// Takes the waiting result.
    pub(crate) fn take_done(&mut self) -> Option<Done> {
        let tag = self.done_tag.take()?;
        Some(Done {
            tag,
            outcome: self.done_outcome,
        })
    }

    /// Asks the agent for a reset.
    pub(crate) fn request_reset(&mut self, hard: bool) {
        self.reset_hard = hard || (self.reset && self.reset_hard);
        self.reset = true;
    }

    /// Takes a reset request: `Some(hard)`.
    pub(crate) fn take_reset(&mut self) -> Option<bool> {
        core::mem::take(&mut self.reset).then(|| core::mem::take(&mut self.reset_hard))
    }

    /// Asks the agent to apply `config`.
    pub(crate) fn request_configure(&mut self, config: SlotConfig) {
        self.config = config;
        self.configure = true;
    }

    /// Takes a configuration request.
    pub(crate) fn take_configure(&mut self) -> Option<SlotConfig> {
        core::mem::take(&mut self.configure).then(|| self.config.clone())
    }

    /// Whether `tag` is queued, being sent, or finished but not yet reported.
    pub(crate) fn has_tag(&self, tag: HostTag) -> bool {
        self.in_progress == Some(tag)
            || self.done_tag == Some(tag)
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
