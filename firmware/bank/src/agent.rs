//! [`SlotAgent`]: the bank's side of one slot. It feeds the slot's queued submits to the AT
//! engine one at a time, takes the engine's inbound messages and status reports into the
//! slot's held list, and carries out the host's acks, resets and reconfigurations.
//!
//! Each agent runs on its own (a task per slot, or one branch of a join), so a slot stuck in a
//! 60-second send or a power cycle holds up only itself: the link task never awaits an agent.
//! Two loops run side by side inside an agent for the same reason: a long send must not delay
//! the slot's own inbound messages or the deletion of acknowledged ones any longer than the
//! modem itself does.

use core::convert::Infallible;
use core::future::Future;

use embassy_futures::select::{Either, select};
use embassy_sync::blocking_mutex::raw::RawMutex;
use embassy_sync::signal::Signal;
use modem::slot::{Control, Event};

use crate::convert;
use crate::shared::{Done, Held, Offer, SlotShared};

/// One slot's worker; spawn [`SlotAgent::run`] once per slot.
pub struct SlotAgent<'a, M: RawMutex> {
    shared: &'a SlotShared<M>,
    control: Control<'a, M>,
    link_wake: &'a Signal<M, ()>,
    /// The engine settings a host `Configure` starts from.
    base: modem::slot::Config,
}

impl<'a, M: RawMutex> SlotAgent<'a, M> {
    pub(crate) fn new(
        shared: &'a SlotShared<M>,
        control: Control<'a, M>,
        link_wake: &'a Signal<M, ()>,
        base: modem::slot::Config,
    ) -> Self {
        Self {
            shared,
            control,
            link_wake,
            base,
        }
    }

    /// Runs the slot's agent; the future never completes.
    ///
    /// Cancellation: dropping it loses a send in progress (its result never reaches the host,
    /// which then treats the submit as of unknown outcome) but nothing else: held inbound
    /// messages are still in modem storage. Only drop it together with the whole bank.
    pub fn run(self) -> impl Future<Output = Infallible> {
        let this = self;
        async move {
            match select(this.submits(), this.events()).await {
                Either::First(never) | Either::Second(never) => never,
            }
        }
    }

    /// Sends queued submits in order, one at a time, and leaves each result for the link task.
    async fn submits(&self) -> Infallible {
        loop {
            let job = loop {
                let next = self.shared.with(|c| {
                    // Back-pressure: the previous result must have been taken first.
                    if c.has_done() || c.in_progress.is_some() {
                        return None;
                    }
                    let job = c.queue.pop_front()?;
                    c.in_progress = Some(job.tag);
                    Some(job)
                });
                if let Some(job) = next {
                    break job;
                }
                self.shared.submit_wake.wait().await;
            };
            let result = self.control.submit(&job.pdu.octets, job.pdu.tpdu_len).await;
            let outcome = convert::outcome(result);
            self.shared.with(|c| {
                c.in_progress = None;
                c.set_done(Done {
                    tag: job.tag,
                    outcome,
                });
            });
            self.link_wake.signal(());
        }
    }

    /// Carries out requests from the link task and takes events from the engine while there is
    /// room to hold them.
    async fn events(&self) -> Infallible {
        loop {
            self.requests().await;
            let room = self.shared.with(|c| !c.held.is_full());
            if room {
                match select(self.control.next_event(), self.shared.event_wake.wait()).await {
                    Either::First(event) => self.on_event(event),
                    Either::Second(()) => {}
                }
            } else {
                self.shared.event_wake.wait().await;
            }
        }
    }

    /// Resets, reconfigurations and acks of messages the host has stored.
    async fn requests(&self) {
        if let Some(hard) = self.shared.with(|c| c.take_reset()) {
            self.control.reset(hard).await;
        }
        if let Some(config) = self.shared.with(|c| c.take_configure()) {
            let mut modem = self.base.clone();
            modem.pin = config.pin.as_deref().map(convert::cut);
            // An unknown name (logged by the link task) means: detect from `+CGMM`.
            modem.profile = config.profile.as_deref().and_then(convert::profile);
            self.control.configure(modem).await;
        }
        loop {
            let acked = self.shared.with(|c| {
                let pos = c.held.iter().position(|h| h.offer == Offer::HostAcked)?;
                Some(c.held.remove(pos).id)
            });
            match acked {
                // Only now may the engine delete it from modem storage (`AT+CMGD`).
                Some(Some(id)) => self.control.ack(id).await,
                // Directly routed: nothing stored, nothing to delete.
                Some(None) => {}
                None => break,
            }
        }
    }

    fn on_event(&self, event: Event) {
        match event {
            Event::Inbound { id, pdu } => self.hold(id, false, &pdu),
            Event::StatusReport { id, pdu } => self.hold(id, true, &pdu),
            Event::StateChanged(_) => self.shared.with(|c| c.status_changed = true),
        }
        self.link_wake.signal(());
    }

    /// Holds an inbound message for the host. The engine offers a stored message again after
    /// every re-initialisation with a new epoch: the same index and PDU is the same message,
    /// so only its storage id is refreshed (an ack then deletes it under the current epoch).
    fn hold(&self, id: Option<modem::slot::StoredId>, announced: bool, pdu: &[u8]) {
        let pdu = convert::link_pdu(pdu);
        let report = convert::is_report(&pdu, announced);
        self.shared.with(|c| {
            let index = match id {
                Some(id) => convert::host_index(id),
                None => {
                    let n = c.next_direct;
                    c.next_direct = n.wrapping_add(1);
                    convert::direct_index(n)
                }
            };
            if let Some(h) = c.held.iter_mut().find(|h| h.index == index) {
                if h.pdu != pdu || h.report != report {
                    // Another message under the same index (a SIM swapped under us): the
                    // old one is no longer in this storage; offer the new one.
                    h.pdu = pdu;
                    h.report = report;
                    h.offer = Offer::Fresh;
                }
                h.id = id;
                return;
            }
            // Room was checked before taking the event; if the list is full anyway the
            // message stays in modem storage unacked and is offered again after the next
            // re-initialisation.
            let _ = c.held.push(Held {
                index,
                id,
                report,
                pdu,
                offer: Offer::Fresh,
            });
        });
    }
}
