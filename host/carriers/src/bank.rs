//! The modem bank as carriers: one link task speaks `firmware/link` to the bank over a serial
//! line (or TCP, for QEMU and the host-side emulator), and each of the bank's slots is a carrier
//! of its own (`<bank>/slot1` …), because each slot is one SIM with its own limits and health.
//!
//! The link gives exactly-once, in-order delivery while both sides are up; across restarts the
//! application-level rules of `docs/link-protocol.md` §9 apply: a submit is matched to its result
//! by a host tag (a result for a tag nobody waits for any more is ignored), and inbound SMS and
//! status reports are acknowledged (`AckInbound`) only after the service stored them, so the bank
//! deletes nothing before that and offers it again after a restart.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use domain::{CarrierId, Outcome, RejectReason, RetryReason};
use embedded_io_async::{Read, Write};
use link::msg::{
    BankToHost, HostTag, HostToBank, Pdu, Registration, SlotId, SlotState, SlotStatus, SubmitError,
    SubmitOutcome,
};
use link::{Config, Event, HostSession, MAX_WIRE_LEN};
use tokio::sync::{mpsc, oneshot};

use crate::modem::{ModemPort, pdu_event};
use crate::port::Port;
use crate::{
    AckHandle, BoxFuture, Carrier, CarrierEvent, CarrierKind, CarrierState, CarrierStatus, Command,
    CommandError, Counters, OutboundMessage, SlotInfo, submit_pdus,
};

/// Settings of one modem bank.
#[derive(Clone, Debug)]
pub struct BankSettings {
    /// The bank's name; its slots are `<name>/slot1` … `<name>/slotN`.
    pub name: String,
    /// The serial line (or TCP endpoint) to the bank.
    pub port: ModemPort,
    /// Number of slots.
    pub slots: u8,
    /// How long one part may take from submit to result before the attempt is given up (the
    /// bank's own supervisor times out sooner).
    pub submit_timeout: Duration,
}

struct Shared {
    outbox: mpsc::UnboundedSender<HostToBank>,
    pending: Mutex<HashMap<u32, oneshot::Sender<SubmitOutcome>>>,
    status: Mutex<Vec<Option<SlotStatus>>>,
    link_up: std::sync::atomic::AtomicBool,
    next_tag: AtomicU32,
}

/// One slot of a bank.
pub struct BankSlot {
    id: CarrierId,
    slot: SlotId,
    shared: Arc<Shared>,
    submit_timeout: Duration,
    in_flight: AtomicU32,
    submitted: AtomicU32,
    failed: AtomicU32,
}

/// Starts the link task for a bank and returns its slots as carriers.
pub fn start(
    settings: &BankSettings,
    events: mpsc::Sender<CarrierEvent>,
) -> Result<Vec<Arc<BankSlot>>, domain::IdError> {
    let ids: Vec<CarrierId> = (1..=settings.slots)
        .map(|i| CarrierId::new(&format!("{}/slot{i}", settings.name)))
        .collect::<Result<_, _>>()?;
    let (outbox, rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        outbox,
        pending: Mutex::new(HashMap::new()),
        status: Mutex::new(vec![None; usize::from(settings.slots)]),
        link_up: std::sync::atomic::AtomicBool::new(false),
        next_tag: AtomicU32::new(1),
    });
    tokio::spawn(link_task(
        Port::new(settings.port.clone()),
        rx,
        shared.clone(),
        ids.clone(),
        events,
    ));
    Ok(ids
        .into_iter()
        .enumerate()
        .map(|(i, id)| {
            Arc::new(BankSlot {
                id,
                slot: SlotId(i as u8),
                shared: shared.clone(),
                submit_timeout: settings.submit_timeout,
                in_flight: AtomicU32::new(0),
                submitted: AtomicU32::new(0),
                failed: AtomicU32::new(0),
            })
        })
        .collect())
}

/// A boot id that differs between runs of the service (the link needs a new one per start).
fn boot_id() -> u32 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (t.as_nanos() as u32) ^ std::process::id().rotate_left(16) | 1
}

/// Owns the line: the session, reads, writes, timers, and the dispatch of what the bank says.
///
/// Cancellation: runs for the life of the service; a failing line is reopened by [`Port`].
async fn link_task(
    mut port: Port,
    mut outbox: mpsc::UnboundedReceiver<HostToBank>,
    shared: Arc<Shared>,
    ids: Vec<CarrierId>,
    events: mpsc::Sender<CarrierEvent>,
) {
    let mut session: HostSession<8> = HostSession::new(Config::new(boot_id()));
    let start = Instant::now();
    let now_ms = || start.elapsed().as_millis() as u64;
    let mut waiting: std::collections::VecDeque<HostToBank> = std::collections::VecDeque::new();
    let mut rx_buf = [0u8; 512];
    let mut tx_buf = [0u8; MAX_WIRE_LEN];
    let mut happened: Vec<Event<BankToHost>> = Vec::new();
    loop {
        // Queue what the window allows, then write everything the session has.
        while let Some(msg) = waiting.front() {
            match session.send(msg) {
                Ok(()) => {
                    waiting.pop_front();
                }
                Err(link::SendError::WindowFull) => break,
                Err(e) => {
                    tracing::error!(error = ?e, "bank message refused by the link; dropped");
                    waiting.pop_front();
                }
            }
        }
        while let Some(n) = session.poll_transmit(now_ms(), &mut tx_buf) {
            if port.write_all(&tx_buf[..n]).await.is_err() || port.flush().await.is_err() {
                break;
            }
        }
        let wait = session
            .next_timeout()
            .map(|t| Duration::from_millis(t.saturating_sub(now_ms())))
            .unwrap_or(Duration::from_millis(500));
        tokio::select! {
            read = port.read(&mut rx_buf) => match read {
                Ok(n) => session.handle_bytes(&rx_buf[..n], now_ms(), |e| happened.push(e)),
                Err(_) => {
                    tracing::error!("bank line closed");
                    return;
                }
            },
            msg = outbox.recv() => match msg {
                Some(m) => waiting.push_back(m),
                None => return,
            },
            () = tokio::time::sleep(wait) => session.handle_timeout(now_ms(), |e| happened.push(e)),
        }
        for ev in happened.drain(..) {
            handle(ev, &shared, &ids, &events, &mut waiting).await;
        }
    }
}

async fn handle(
    ev: Event<BankToHost>,
    shared: &Shared,
    ids: &[CarrierId],
    events: &mpsc::Sender<CarrierEvent>,
    waiting: &mut std::collections::VecDeque<HostToBank>,
) {
    let carrier = |slot: SlotId| ids.get(usize::from(slot.0)).cloned();
    match ev {
        Event::LinkUp => {
            shared.link_up.store(true, Ordering::Relaxed);
            waiting.push_back(HostToBank::Query);
            for id in ids {
                let _ = events.send(CarrierEvent::Changed(id.clone())).await;
            }
        }
        Event::LinkDown(reason) => {
            tracing::warn!(?reason, "bank link down");
            shared.link_up.store(false, Ordering::Relaxed);
            for id in ids {
                let _ = events.send(CarrierEvent::Changed(id.clone())).await;
            }
        }
        Event::PeerRestarted { .. } => {
            // §9: ask for every slot's state again. Submits whose results are lost with the old
            // bank time out in their carriers (outcome unknown, counted as maybe sent).
            tracing::warn!("the bank restarted");
            waiting.push_back(HostToBank::Query);
        }
        Event::Message(BankToHost::SubmitResult { tag, outcome, .. }) => {
            let waiter = shared
                .pending
                .lock()
                .ok()
                .and_then(|mut p| p.remove(&tag.0));
            match waiter {
                Some(tx) => {
                    let _ = tx.send(outcome);
                }
                // A result for a tag nobody waits for (a repeat after a restart, or an attempt
                // that already timed out): the attempt's outcome was recorded; ignore it.
                None => tracing::debug!(tag = tag.0, "result for an unknown tag"),
            }
        }
        Event::Message(BankToHost::SlotStatus(st)) => {
            let slot = st.slot;
            if let Ok(mut s) = shared.status.lock()
                && let Some(entry) = s.get_mut(usize::from(slot.0))
            {
                *entry = Some(st);
            }
            if let Some(id) = carrier(slot) {
                let _ = events.send(CarrierEvent::Changed(id)).await;
            }
        }
        // Both are deleted from the modem only once the service has stored them.
        Event::Message(
            BankToHost::InboundSms { slot, index, pdu }
            | BankToHost::StatusReport { slot, index, pdu },
        ) => {
            let Some(id) = carrier(slot) else { return };
            let outbox = shared.outbox.clone();
            let ack = AckHandle::new(move || {
                let _ = outbox.send(HostToBank::AckInbound { slot, index });
            });
            if let Some(ev) = pdu_event(&id, &pdu.octets, ack) {
                let _ = events.send(ev).await;
            }
        }
        Event::Message(BankToHost::Log(l)) => {
            tracing::info!(slot = ?l.slot, level = ?l.level, "bank: {}", l.text);
        }
        Event::Message(BankToHost::BankInfo(info)) => {
            tracing::info!(firmware = %info.firmware, slots = info.slot_count, uptime_ms = info.uptime_ms, "bank info");
        }
        Event::VersionMismatch { ours, theirs } => {
            tracing::error!(?ours, ?theirs, "bank speaks another link protocol version");
        }
        Event::Undecodable { seq } => {
            tracing::warn!(seq, "undecodable message from the bank (newer firmware?)");
        }
    }
}

fn outcome_of(e: SubmitError, partly_sent: bool) -> Outcome {
    let retry = |reason, maybe| Outcome::Retry {
        after: Duration::ZERO,
        reason,
        maybe_sent: partly_sent || maybe,
    };
    match e {
        SubmitError::Cms(code) => match code {
            1 | 27 | 28 | 30 => Outcome::Reject {
                reason: RejectReason::InvalidDestination(format!("CMS {code}")),
            },
            8 | 10 => Outcome::Reject {
                reason: RejectReason::Barred(format!("CMS {code}")),
            },
            38 | 41 | 42 | 47 | 300..=500 => {
                retry(RetryReason::Temporary(format!("CMS {code}")), false)
            }
            _ => Outcome::Reject {
                reason: RejectReason::Permanent(format!("CMS {code}")),
            },
        },
        SubmitError::Cme(code) => retry(RetryReason::Temporary(format!("CME {code}")), false),
        SubmitError::Timeout => retry(RetryReason::Timeout, true),
        SubmitError::ModemError => retry(RetryReason::Temporary("modem error".into()), true),
        SubmitError::NoPrompt => retry(RetryReason::Temporary("no prompt".into()), false),
        SubmitError::SlotNotReady | SubmitError::NoSuchSlot | SubmitError::SlotDisabled => {
            retry(RetryReason::Unavailable(format!("{e:?}")), false)
        }
        SubmitError::QueueFull => retry(RetryReason::QueueFull, false),
        SubmitError::RateLimited => retry(RetryReason::Throttled, false),
        SubmitError::Cancelled => retry(RetryReason::Temporary("cancelled".into()), false),
        SubmitError::InvalidPdu => Outcome::Reject {
            reason: RejectReason::Permanent("the bank refused the PDU".into()),
        },
    }
}

impl BankSlot {
    async fn send_parts(&self, msg: &OutboundMessage) -> Outcome {
        if !self.shared.link_up.load(Ordering::Relaxed) {
            return Outcome::Retry {
                after: Duration::ZERO,
                reason: RetryReason::Unavailable("bank link down".into()),
                maybe_sent: false,
            };
        }
        let pdus = match submit_pdus(msg) {
            Ok(p) => p,
            Err(e) => {
                return Outcome::Reject {
                    reason: RejectReason::Permanent(e.to_string()),
                };
            }
        };
        let mut refs = Vec::with_capacity(pdus.len());
        for part in &pdus {
            let Ok(pdu) = Pdu::new(&part.pdu, part.tpdu_len) else {
                return Outcome::Reject {
                    reason: RejectReason::Permanent("PDU too long for the bank link".into()),
                };
            };
            let tag = self.shared.next_tag.fetch_add(1, Ordering::Relaxed);
            let (tx, rx) = oneshot::channel();
            if let Ok(mut p) = self.shared.pending.lock() {
                p.insert(tag, tx);
            }
            let sent = self.shared.outbox.send(HostToBank::Submit {
                slot: self.slot,
                tag: HostTag(tag),
                pdu,
            });
            let result = if sent.is_err() {
                None
            } else {
                tokio::time::timeout(self.submit_timeout, rx)
                    .await
                    .ok()
                    .and_then(Result::ok)
            };
            if result.is_none()
                && let Ok(mut p) = self.shared.pending.lock()
            {
                p.remove(&tag);
            }
            match result {
                Some(SubmitOutcome::Accepted { mr }) => refs.push(mr.to_string()),
                Some(SubmitOutcome::Failed(e)) => return outcome_of(e, !refs.is_empty()),
                None => {
                    return Outcome::Retry {
                        after: Duration::ZERO,
                        reason: RetryReason::Timeout,
                        maybe_sent: true,
                    };
                }
            }
        }
        Outcome::Accepted { carrier_refs: refs }
    }

    fn slot_status(&self) -> Option<SlotStatus> {
        self.shared
            .status
            .lock()
            .ok()
            .and_then(|s| s.get(usize::from(self.slot.0)).cloned().flatten())
    }
}

fn state_words(s: SlotState) -> &'static str {
    match s {
        SlotState::Off => "off",
        SlotState::Booting => "booting",
        SlotState::NoSim => "no SIM",
        SlotState::PinRequired => "PIN needed",
        SlotState::SimBlocked => "SIM blocked",
        SlotState::Searching => "searching",
        SlotState::RegisteredHome | SlotState::RegisteredRoaming => "registered",
        SlotState::RegistrationDenied => "registration denied",
        SlotState::Ready => "ready",
        SlotState::Sending => "sending",
        SlotState::Faulted => "faulted",
        SlotState::Disabled => "disabled",
    }
}

impl Carrier for BankSlot {
    fn id(&self) -> &CarrierId {
        &self.id
    }

    fn kind(&self) -> CarrierKind {
        CarrierKind::BankSlot
    }

    fn submit<'a>(&'a self, msg: &'a OutboundMessage) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            self.in_flight.fetch_add(1, Ordering::Relaxed);
            let outcome = self.send_parts(msg).await;
            self.in_flight.fetch_sub(1, Ordering::Relaxed);
            match &outcome {
                Outcome::Accepted { carrier_refs } => {
                    self.submitted
                        .fetch_add(carrier_refs.len() as u32, Ordering::Relaxed);
                }
                _ => {
                    self.failed.fetch_add(1, Ordering::Relaxed);
                }
            }
            outcome
        })
    }

    fn status(&self) -> CarrierStatus {
        let link_up = self.shared.link_up.load(Ordering::Relaxed);
        let st = self.slot_status();
        let (state, detail, slot) = match (&st, link_up) {
            (_, false) => (CarrierState::Down, "bank link down".to_owned(), None),
            (None, true) => (
                CarrierState::Connecting,
                "waiting for the slot's status".to_owned(),
                None,
            ),
            (Some(st), true) => {
                let state = match st.state {
                    SlotState::Ready | SlotState::Sending => CarrierState::Up,
                    SlotState::Booting
                    | SlotState::Searching
                    | SlotState::RegisteredHome
                    | SlotState::RegisteredRoaming => CarrierState::Connecting,
                    SlotState::Disabled => CarrierState::Disabled,
                    _ => CarrierState::Down,
                };
                let imsi = st.sim.imsi.as_ref().map(|s| s.to_string());
                let info = SlotInfo {
                    state: state_words(st.state).into(),
                    sim_present: imsi.is_some() && st.state != SlotState::NoSim,
                    plmn: imsi.as_deref().and_then(|i| i.get(..5)).map(str::to_owned),
                    imsi,
                    iccid: st.sim.iccid.as_ref().map(|s| s.to_string()),
                    operator: st.operator.as_ref().map(|s| s.to_string()),
                    rssi: (st.signal.rssi != 99).then_some(st.signal.rssi),
                    registration: match st.registration {
                        Registration::Home => "home",
                        Registration::Roaming => "roaming",
                        Registration::Searching => "searching",
                        Registration::Denied => "denied",
                        Registration::NotRegistered => "not searching",
                        Registration::Unknown => "unknown",
                    }
                    .into(),
                    profile: None,
                };
                let detail = match (&info.operator, info.rssi) {
                    (Some(op), Some(rssi)) => format!("{}, {op}, signal {rssi}/31", info.state),
                    _ => info.state.clone(),
                };
                (state, detail, Some(info))
            }
        };
        let c = st.map(|s| s.counters);
        CarrierStatus {
            id: self.id.clone(),
            kind: CarrierKind::BankSlot,
            state,
            detail,
            in_flight: self.in_flight.load(Ordering::Relaxed),
            window: 1,
            slot,
            counters: Counters {
                submitted: u64::from(self.submitted.load(Ordering::Relaxed)),
                failed: u64::from(self.failed.load(Ordering::Relaxed)),
                reports: 0,
                inbound: c.map_or(0, |c| u64::from(c.received)),
                resets: c.map_or(0, |c| u64::from(c.reinits) + u64::from(c.power_cycles)),
            },
        }
    }

    fn drain(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + self.submit_timeout;
            while self.in_flight.load(Ordering::Relaxed) > 0
                && tokio::time::Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    }

    fn command(&self, cmd: Command) -> BoxFuture<'_, Result<(), CommandError>> {
        Box::pin(async move {
            if !self.shared.link_up.load(Ordering::Relaxed) {
                return Err(CommandError::Unavailable("bank link down".into()));
            }
            self.shared
                .outbox
                .send(HostToBank::ResetSlot {
                    slot: self.slot,
                    hard: cmd == Command::PowerCycle,
                })
                .map_err(|_| CommandError::Unavailable("bank link task stopped".into()))
        })
    }
}
