//! The dispatcher: one task that owns the live queue and the carrier table, asks the pure policy
//! (`route::pick`) what to do with each due message, hands messages to carriers, and turns each
//! attempt's one outcome into the message's next state.
//!
//! Every decision is the policy's; this file only executes them. Writes to the store are queued
//! in the order decisions are made (the store's writer preserves that order), so a message's trace
//! always reads start → outcome → start → outcome.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use carriers::{Carrier, CarrierState, OutboundMessage};
use domain::{CarrierId, MessageId, MessageState, OperatorId, Outcome, UnixMillis};
use route::{Candidate, Decision, MessageView, NextStep, Policy, WaitReason, after_outcome, pick};
use store::{AttemptResult, AttemptStart, OutcomeRecord, Store};
use tokio::sync::{mpsc, oneshot};

use crate::queue::{Live, Queue};
use crate::{Event, Shared};

/// What the dispatcher is told.
pub(crate) enum Inbox {
    /// A message to schedule (just accepted, or re-queued by a re-send rule).
    New(Live),
    /// An attempt ended.
    Done {
        index: usize,
        live: Live,
        no: u32,
        outcome: Outcome,
        latency: Duration,
    },
    /// A carrier's status changed; look at the table again.
    Wake,
    /// Stop taking new attempts, wait for those in flight (bounded), then answer.
    Drain(Duration, oneshot::Sender<()>),
}

/// How often carrier statuses are re-read even without a `Wake`.
const STATUS_REFRESH: Duration = Duration::from_millis(200);

pub(crate) struct Dispatcher {
    pub(crate) store: Store,
    pub(crate) policy: Arc<Policy>,
    pub(crate) carriers: Vec<Arc<dyn Carrier>>,
    pub(crate) table: Vec<Candidate>,
    pub(crate) queue: Queue,
    /// Messages every suitable carrier was too busy for; back in the queue when one frees up.
    pub(crate) parked: Vec<Live>,
    pub(crate) inbox: mpsc::UnboundedReceiver<Inbox>,
    pub(crate) inbox_tx: mpsc::UnboundedSender<Inbox>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) rotation: u32,
    /// Messages handed to a carrier whose outcome has not come back.
    pub(crate) in_flight: HashSet<MessageId>,
    pub(crate) refreshed: Option<Instant>,
}

/// What one dispatcher step decided.
enum Step {
    /// Wait at most this long for the next event.
    Sleep(Duration),
    /// Drained: stop.
    Stop,
}

impl Dispatcher {
    pub(crate) async fn run(mut self) {
        let mut drain: Option<(Instant, oneshot::Sender<()>)> = None;
        loop {
            // The decision work is synchronous; a bug there must not stop every message in the
            // branch, so a panic is logged, the queue rebuilt from the store, and work goes on.
            let step =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.step(&mut drain)));
            let sleep = match step {
                Ok(Step::Stop) => return,
                Ok(Step::Sleep(d)) => d,
                Err(_) => {
                    tracing::error!(
                        "dispatcher step panicked; rebuilding the queue from the store"
                    );
                    self.reload().await;
                    Duration::from_millis(100)
                }
            };
            let msg = tokio::select! {
                m = self.inbox.recv() => m,
                () = tokio::time::sleep(sleep) => continue,
            };
            let Some(first) = msg else { return };
            let handled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.handle(first, &mut drain);
                // Take whatever else arrived, in bulk, before deciding again.
                for _ in 0..4096 {
                    match self.inbox.try_recv() {
                        Ok(m) => self.handle(m, &mut drain),
                        Err(_) => break,
                    }
                }
            }));
            if handled.is_err() {
                tracing::error!(
                    "dispatcher panicked on an event; rebuilding the queue from the store"
                );
                self.reload().await;
            }
        }
    }

    /// One round of decisions; says how long to wait for the next event.
    fn step(&mut self, drain: &mut Option<(Instant, oneshot::Sender<()>)>) -> Step {
        let now = UnixMillis::now();
        if self.refreshed.is_none_or(|t| t.elapsed() >= STATUS_REFRESH) {
            self.refresh(now);
        }
        if drain.is_none() {
            self.dispatch(now);
        } else if self.in_flight.is_empty()
            || drain
                .as_ref()
                .is_some_and(|(until, _)| Instant::now() >= *until)
        {
            if let Some((_, reply)) = drain.take() {
                let _ = reply.send(());
            }
            return Step::Stop;
        }
        self.publish();
        Step::Sleep(self.sleep_for(now, drain.is_some()))
    }

    /// Rebuilds the queue from the store after a panic: every queued message not in flight.
    async fn reload(&mut self) {
        match self.store.load_live().await {
            Ok(live) => {
                self.queue = Queue::default();
                self.parked.clear();
                for p in live {
                    if p.state == MessageState::Queued && !self.in_flight.contains(&p.id) {
                        self.queue.push(Live::from(p));
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "could not reload the queue"),
        }
        self.refreshed = None;
    }

    fn handle(&mut self, msg: Inbox, drain: &mut Option<(Instant, oneshot::Sender<()>)>) {
        match msg {
            Inbox::New(live) => self.queue.push(live),
            Inbox::Done {
                index,
                live,
                no,
                outcome,
                latency,
            } => self.done(index, live, no, outcome, latency),
            Inbox::Wake => self.refreshed = None,
            Inbox::Drain(grace, reply) => {
                *drain = Some((Instant::now() + grace, reply));
            }
        }
    }

    /// How long to sleep before looking at the queue again.
    fn sleep_for(&self, now: UnixMillis, draining: bool) -> Duration {
        if draining {
            return Duration::from_millis(50);
        }
        let mut sleep = STATUS_REFRESH;
        if self.free_capacity() > 0
            && let Some(at) = self.queue.next_due()
        {
            let until =
                Duration::from_millis(u64::try_from(at.0.saturating_sub(now.0)).unwrap_or(0));
            sleep = sleep.min(until.max(Duration::from_millis(1)));
        }
        sleep
    }

    /// Re-reads every carrier's status into the candidate table.
    fn refresh(&mut self, now: UnixMillis) {
        let mut channels = HashMap::with_capacity(self.table.len());
        let mut statuses = Vec::with_capacity(self.table.len());
        for (cand, carrier) in self.table.iter_mut().zip(&self.carriers) {
            let st = carrier.status();
            cand.up = st.state == CarrierState::Up;
            cand.enabled = st.state != CarrierState::Disabled
                && !self
                    .shared
                    .disabled
                    .read()
                    .is_ok_and(|d| d.contains(&cand.id));
            if let Some(slot) = &st.slot {
                let network = slot
                    .plmn
                    .as_deref()
                    .and_then(|p| self.policy.operator_for_plmn(p))
                    .and_then(|r| self.policy.operator_id(r))
                    .cloned();
                cand.set_network(&self.policy, network.as_ref());
            }
            channels.insert(
                cand.id.clone(),
                route::channel_of(&self.policy, cand).cloned(),
            );
            statuses.push(st);
        }
        let _ = now;
        if let Ok(mut c) = self.shared.channels.write() {
            *c = channels;
        }
        if let Ok(mut s) = self.shared.statuses.write() {
            *s = statuses;
        }
        self.refreshed = Some(Instant::now());
    }

    fn publish(&self) {
        self.shared.queued.store(
            (self.queue.len() + self.parked.len()) as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        self.shared.in_flight.store(
            self.in_flight.len() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// Attempts the usable carriers could take right now.
    fn free_capacity(&self) -> u32 {
        self.table
            .iter()
            .filter(|c| c.up && c.enabled)
            .map(|c| c.profile.window.saturating_sub(c.state.in_flight))
            .sum()
    }

    /// Decides for due messages, bounded by what the carriers can take, so a long queue in
    /// front of busy carriers costs little.
    fn dispatch(&mut self, now: UnixMillis) {
        let free = self.free_capacity();
        let mut budget = if free == 0 { 16 } else { free as usize * 2 + 8 };
        while budget > 0 {
            let Some(mut m) = self.queue.pop_due(now) else {
                break;
            };
            budget -= 1;
            let avoid: Vec<OperatorId> = m
                .avoid
                .iter()
                .filter_map(|a| OperatorId::new(a).ok())
                .collect();
            let view = MessageView {
                destination: &m.to,
                priority: m.priority,
                bulk: false,
                not_before: None,
                expires_at: m.expires_at,
                tried: &m.tried,
                round: m.round,
                attempts: m.attempts,
                avoid_operators: &avoid,
                jitter: jitter(m.id, m.attempts),
                rotation: self.rotation,
            };
            self.rotation = self.rotation.wrapping_add(1);
            match pick(&self.table, &view, &self.policy, now) {
                Decision::Send { index, .. } => self.send(index, m, now),
                Decision::Wait {
                    reason: WaitReason::Busy,
                    ..
                } => self.parked.push(m),
                Decision::Wait { until, .. } => {
                    m.next_attempt_at = until;
                    self.queue.push(m);
                }
                Decision::NextRound { round, at } => {
                    m.round = round;
                    // A new round may use every carrier again, except those that already
                    // carried a message that is being re-sent.
                    m.tried.clone_from(&m.carried);
                    m.next_attempt_at = at;
                    self.queue.push(m);
                }
                Decision::Fail { reason } => {
                    self.finalize(m.id, MessageState::Failed, Some(reason.to_string()), now);
                }
                Decision::Expire => {
                    self.finalize(
                        m.id,
                        MessageState::Expired,
                        Some("validity period passed before it could be sent".into()),
                        now,
                    );
                }
            }
        }
    }

    fn finalize(&self, id: MessageId, state: MessageState, error: Option<String>, now: UnixMillis) {
        let done = self.store.finalize(id, state, error, now);
        let shared = self.shared.clone();
        tokio::spawn(async move {
            match done.await {
                Ok(true) => shared.emit(Event::Final { id, state }),
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(message = %id, error = %e, "could not record final state")
                }
            }
        });
    }

    fn send(&mut self, index: usize, mut m: Live, now: UnixMillis) {
        let cand = &mut self.table[index];
        cand.on_dispatch(now);
        m.attempts += 1;
        let no = m.attempts;
        m.tried.push(cand.id.clone());
        self.store.start_attempt(AttemptStart {
            message_id: m.id,
            no,
            carrier: cand.id.clone(),
            round: m.round,
            at: now,
        });
        self.in_flight.insert(m.id);
        let msg = OutboundMessage {
            id: m.id,
            to: m.to.clone(),
            sender: m.sender.clone(),
            body: m.body.clone(),
            encoding: m.encoding,
            parts: m.parts,
            // Concatenation reference: the low bits of the id differ between neighbours.
            reference: (m.id.0 & 0xFFFF) as u16,
            report: true,
            validity: m
                .expires_at
                .map(|e| e.since(now).max(Duration::from_secs(60))),
            priority: m.priority,
        };
        let carrier = self.carriers[index].clone();
        let tx = self.inbox_tx.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let outcome = carrier.submit(&msg).await;
            let _ = tx.send(Inbox::Done {
                index,
                live: m,
                no,
                outcome,
                latency: started.elapsed(),
            });
        });
    }

    fn done(&mut self, index: usize, m: Live, no: u32, outcome: Outcome, latency: Duration) {
        let now = UnixMillis::now();
        let id = m.id;
        self.in_flight.remove(&m.id);
        let carrier: CarrierId = self.table[index].id.clone();
        self.table[index].on_outcome(&outcome, latency, now);
        // Capacity came back: everything parked as "busy" gets another look.
        for p in self.parked.drain(..) {
            self.queue.push(p);
        }
        let step = after_outcome(&outcome, now);
        let (detail, maybe_sent) = match &outcome {
            Outcome::Retry {
                reason, maybe_sent, ..
            } => (reason.to_string(), *maybe_sent),
            Outcome::Reject { reason } => (reason.to_string(), false),
            Outcome::Accepted { .. } => (String::new(), false),
        };
        let result = match (step, outcome) {
            (NextStep::Done, Outcome::Accepted { carrier_refs }) => {
                AttemptResult::Accepted { refs: carrier_refs }
            }
            (NextStep::Done, _) => {
                // The policy only answers Done for an acceptance; anything else is a bug in the
                // policy, recovered from by retrying elsewhere.
                tracing::error!(message = %m.id, "policy said done for a non-accepted outcome");
                self.requeue(m, now, &carrier, true);
                AttemptResult::Retry {
                    detail,
                    maybe_sent,
                    next_attempt_at: now,
                    round: 0,
                }
            }
            (NextStep::RetryNow { exclude }, _) => {
                let round = m.round;
                self.requeue(m, now, &carrier, exclude);
                AttemptResult::Retry {
                    detail,
                    maybe_sent,
                    next_attempt_at: now,
                    round,
                }
            }
            (NextStep::RetryAt { at }, _) => {
                let round = m.round;
                self.requeue(m, at, &carrier, true);
                AttemptResult::Retry {
                    detail,
                    maybe_sent,
                    next_attempt_at: at,
                    round,
                }
            }
            (NextStep::Fail { reason }, _) => AttemptResult::Final {
                outcome: "reject",
                detail: reason.to_string(),
                state: MessageState::Failed,
            },
        };
        // Announced only once committed, so a listener that reads the store sees the change.
        let announce = match &result {
            AttemptResult::Accepted { .. } => Some(Event::Submitted { id }),
            AttemptResult::Final { state, .. } => Some(Event::Final { id, state: *state }),
            AttemptResult::Retry { .. } => None,
        };
        let done = self.store.finish_attempt(OutcomeRecord {
            message_id: id,
            no,
            carrier,
            at: now,
            result,
        });
        let shared = self.shared.clone();
        tokio::spawn(async move {
            match done.await {
                Ok(applied) => {
                    if let Some(e) = announce {
                        shared.emit(e);
                    }
                    for a in applied {
                        shared.emit(Event::Report(a));
                    }
                }
                Err(e) => tracing::error!(error = %e, "could not record an attempt's outcome"),
            }
        });
    }

    fn requeue(&mut self, mut m: Live, at: UnixMillis, carrier: &CarrierId, exclude: bool) {
        if !exclude {
            // Throttled: the carrier is fine, only slow; it may take the message again.
            m.tried.retain(|c| c != carrier);
        }
        m.next_attempt_at = at;
        self.queue.push(m);
    }
}

fn jitter(id: MessageId, attempts: u32) -> u32 {
    // A cheap deterministic mix (splitmix-style) so backoffs of neighbouring messages differ.
    let mut x = (id.0 as u64) ^ (u64::from(attempts) << 32);
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (x ^ (x >> 31)) as u32
}

/// Converts a carrier kind to the policy's carrier kind.
pub(crate) fn route_kind(kind: carriers::CarrierKind) -> route::CarrierKind {
    match kind {
        carriers::CarrierKind::Smpp => route::CarrierKind::Smpp,
        carriers::CarrierKind::BankSlot => route::CarrierKind::BankSlot,
        carriers::CarrierKind::Modem => route::CarrierKind::Modem,
    }
}
