//! An SMPP SMSC simulator (v3.4, optionally announcing v5.0) for tests, benchmarks and
//! `outpost demo`.
//!
//! [`SmscSim::start`] listens on 127.0.0.1 and serves any number of ESME sessions: binds
//! (transmitter, receiver, transceiver) against configured accounts, submit_sm answered with a
//! decimal or hex message id, delivery receipts after a delay with a configurable outcome mix,
//! MO injection, enquire_link, unbind. Faults can be set at start or changed at run time through
//! [`SimHandle::set_faults`]: a share of submits throttled, queue-full or rejected, the link
//! dropped after N submits, responses delayed or jittered, a hung SMSC (TCP up, nothing
//! answered), refused binds, garbage on the wire, the whole SMSC down.
//!
//! Every submit is recorded (with its text decoded when data_coding is GSM-7, Latin-1 or UCS-2)
//! and counted as unique or duplicate by a key, so tests can assert "nothing lost, duplicates
//! bounded". Tests wait on [`SimHandle::wait_until`] instead of sleeping.
#![forbid(unsafe_code)]

mod receipt;
mod session;
mod wire;

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use wire::Addr;

/// One account the SMSC accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// `system_id`.
    pub system_id: String,
    /// `password`.
    pub password: String,
}

/// How message ids are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IdFormat {
    /// `12345`.
    #[default]
    Decimal,
    /// `3039` (lower-case hex of the same counter).
    Hex,
}

/// Receipt outcome weights (any scale; all zero means no receipts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutcomeMix {
    /// `stat:DELIVRD`.
    pub delivered: u32,
    /// `stat:UNDELIV`.
    pub undeliverable: u32,
    /// `stat:EXPIRED`.
    pub expired: u32,
    /// `stat:REJECTD`.
    pub rejected: u32,
    /// No receipt at all.
    pub none: u32,
}

impl Default for OutcomeMix {
    fn default() -> Self {
        OutcomeMix {
            delivered: 1,
            undeliverable: 0,
            expired: 0,
            rejected: 0,
            none: 0,
        }
    }
}

/// Delivery receipts.
#[derive(Clone, Debug, PartialEq)]
pub struct ReceiptConfig {
    /// Time from submit_sm to the receipt's deliver_sm.
    pub delay: Duration,
    /// Outcomes.
    pub mix: OutcomeMix,
    /// Add `receipted_message_id` and `message_state` TLVs (SMPP 5.0 style).
    pub tlvs: bool,
    /// Base of the id in the receipt *text* (the TLV always uses the submit_sm_resp form):
    /// set it to the other base to simulate SMSCs that mix them.
    pub text_id_format: Option<IdFormat>,
    /// With a zero delay, send the receipt *before* the submit_sm_resp (some SMSCs race).
    pub before_response: bool,
    /// Store and forward, as real SMSCs do: a receipt with no receiver bound, or not yet
    /// acknowledged (`deliver_sm_resp`) when its session ends, is held and sent again to the
    /// next receiver or transceiver that binds with the same account. Off: such receipts are
    /// dropped (counted in `receipts_no_receiver` when no receiver was bound).
    pub redeliver: bool,
}

impl Default for ReceiptConfig {
    fn default() -> Self {
        ReceiptConfig {
            delay: Duration::ZERO,
            mix: OutcomeMix::default(),
            tlvs: true,
            text_id_format: None,
            before_response: false,
            redeliver: false,
        }
    }
}

/// Garbage the SMSC can write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Garbage {
    /// A well-framed PDU with an unknown command id and a junk body (expect generic_nack).
    Pdu,
    /// Octets that cannot be framed (expect the peer to drop and reconnect).
    Stream,
}

/// Faults; all off by default. Change them at run time with [`SimHandle::set_faults`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Faults {
    /// Share of submit_sm answered `ESME_RTHROTTLED` (exact: an accumulator, not a coin).
    pub throttle_share: f64,
    /// Share answered `ESME_RMSGQFUL`.
    pub queue_full_share: f64,
    /// Share answered with `error_status`.
    pub error_share: f64,
    /// The status for `error_share` (default `ESME_RINVDSTADR` 0x0B when 0).
    pub error_status: u32,
    /// Close the connection on the Nth submit_sm of a connection, without answering it (that
    /// submit counts as accepted: the SMSC got it, the ESME never hears so).
    pub drop_after: Option<u64>,
    /// Drop every connection at N, not just the first one to get there.
    pub drop_repeat: bool,
    /// Delay every response by this much.
    pub response_delay: Duration,
    /// Plus a uniformly random 0..jitter.
    pub response_jitter: Duration,
    /// Hung SMSC: read everything, answer nothing (binds included if `hang_binds`).
    pub hang: bool,
    /// Never answer binds (TCP accepted, bind ignored).
    pub hang_binds: bool,
    /// Refuse every bind with this status (e.g. 0x0D `ESME_RBINDFAIL`).
    pub reject_binds: Option<u32>,
    /// After this many submits on a connection, write garbage once.
    pub garbage_after: Option<(u64, Garbage)>,
}

/// How submits are compared to find duplicates.
#[derive(Clone, Default)]
pub enum DedupKey {
    /// Destination address and decoded text (or the raw octets in hex when not decodable).
    #[default]
    DestinationAndText,
    /// The decoded text alone.
    Text,
    /// A caller-supplied key.
    Custom(Arc<dyn Fn(&RecordedSubmit) -> String + Send + Sync>),
}

impl fmt::Debug for DedupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DedupKey::DestinationAndText => f.write_str("DestinationAndText"),
            DedupKey::Text => f.write_str("Text"),
            DedupKey::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

/// The simulator's configuration.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Where to listen; port 0 picks a free one. Must be a loopback address.
    pub listen: SocketAddr,
    /// Accepted accounts; empty accepts any credentials.
    pub accounts: Vec<Account>,
    /// `system_id` in bind responses.
    pub smsc_system_id: String,
    /// `sc_interface_version` TLV in bind responses: `Some(0x50)` plays an SMPP 5.0 SMSC,
    /// `None` a 3.4 one that sends no TLV.
    pub interface_version: Option<u8>,
    /// submit_sm_resp message id base.
    pub id_format: IdFormat,
    /// Receipts.
    pub receipts: ReceiptConfig,
    /// Faults at start.
    pub faults: Faults,
    /// Duplicate detection.
    pub dedup: DedupKey,
    /// Keep at most this many submits in [`SimHandle::submits`] (counting continues beyond).
    pub record_limit: usize,
    /// Seed for the outcome mix and jitter, for repeatable runs.
    pub seed: u64,
    /// Store and forward for MO, like [`ReceiptConfig::redeliver`] for receipts: an injected MO
    /// not acknowledged when its session ends is sent again after the account's next bind.
    pub mo_redeliver: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            accounts: Vec::new(),
            smsc_system_id: "smsc-sim".into(),
            interface_version: Some(0x34),
            id_format: IdFormat::Decimal,
            receipts: ReceiptConfig::default(),
            faults: Faults::default(),
            dedup: DedupKey::default(),
            record_limit: 1_000_000,
            seed: 0x5eed,
            mo_redeliver: false,
        }
    }
}

impl SimConfig {
    /// One account, defaults otherwise.
    pub fn with_account(system_id: &str, password: &str) -> SimConfig {
        SimConfig {
            accounts: vec![Account {
                system_id: system_id.into(),
                password: password.into(),
            }],
            ..SimConfig::default()
        }
    }
}

/// One submit_sm as the SMSC saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedSubmit {
    /// Connection number (1-based, in accept order).
    pub conn: u64,
    /// The bound `system_id`.
    pub system_id: String,
    /// Sender.
    pub source: Addr,
    /// Recipient.
    pub destination: Addr,
    /// `esm_class`.
    pub esm_class: u8,
    /// `data_coding`.
    pub data_coding: u8,
    /// `registered_delivery`.
    pub registered_delivery: u8,
    /// `short_message` as sent.
    pub short_message: Bytes,
    /// `message_payload`, if present.
    pub payload: Option<Bytes>,
    /// SAR TLVs (reference, total, seq), if present.
    pub sar: Option<(u16, u8, u8)>,
    /// The text after any UDH, decoded for data_coding 0 (GSM 03.38), 1/3 (Latin-1) and 8
    /// (UCS-2); `None` otherwise.
    pub text: Option<String>,
    /// The answer: the message id when accepted, else `None`.
    pub message_id: Option<String>,
    /// The command_status answered (0 when accepted; also 0 for a submit the link was dropped
    /// on).
    pub status: u32,
}

/// Per-connection figures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkStats {
    /// Connection number.
    pub conn: u64,
    /// Bound `system_id` (empty before the bind).
    pub system_id: String,
    /// `transmitter`, `receiver`, `transceiver`, or empty when not bound.
    pub bind: &'static str,
    /// Whether the connection is open now.
    pub open: bool,
    /// submit_sm received on it.
    pub submits: u64,
}

/// Counters since start (or the last [`SimHandle::reset`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// TCP connections accepted.
    pub connections: u64,
    /// Binds accepted.
    pub binds_ok: u64,
    /// Binds refused.
    pub binds_failed: u64,
    /// Sessions bound right now.
    pub bound_now: u64,
    /// submit_sm received (every one, throttled and dropped included).
    pub submits: u64,
    /// Submits accepted (including one the link was dropped on).
    pub accepted: u64,
    /// Answered `ESME_RTHROTTLED`.
    pub throttled: u64,
    /// Answered `ESME_RMSGQFUL`.
    pub queue_full: u64,
    /// Answered with `Faults::error_status`.
    pub errors: u64,
    /// Connections dropped by `drop_after`.
    pub drops: u64,
    /// Distinct keys among accepted submits.
    pub unique: u64,
    /// Accepted submits whose key had been accepted before.
    pub duplicates: u64,
    /// Receipts sent.
    pub receipts_sent: u64,
    /// deliver_sm_resp received for receipts.
    pub receipts_acked: u64,
    /// Receipts with no receiver bound to send them to.
    pub receipts_no_receiver: u64,
    /// Receipts held for a later bind (`ReceiptConfig::redeliver`), counted each time one is
    /// put aside.
    pub receipts_held: u64,
    /// Held receipts sent again after a bind.
    pub receipts_redelivered: u64,
    /// MO held for a later bind (`SimConfig::mo_redeliver`).
    pub mo_held: u64,
    /// Held MO sent again after a bind.
    pub mo_redelivered: u64,
    /// MO deliver_sm sent.
    pub mo_sent: u64,
    /// deliver_sm_resp received for MO.
    pub mo_acked: u64,
    /// deliver_sm_resp with a non-zero status.
    pub deliver_errors: u64,
    /// enquire_link received.
    pub enquire_links: u64,
    /// unbind received.
    pub unbinds: u64,
    /// generic_nack received.
    pub generic_nacks: u64,
    /// PDUs received that did not decode.
    pub bad_pdus: u64,
    /// Responses held back by `response_delay` right now, summed over sessions.
    pub pending_responses: u64,
    /// The most responses ever held back at once (with a response delay, this is the ESME's
    /// effective window).
    pub max_pending_responses: u64,
    /// Per connection, in accept order.
    pub links: Vec<LinkStats>,
}

/// An MO message to inject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mo {
    /// The handset.
    pub source: Addr,
    /// The service number.
    pub destination: Addr,
    /// `data_coding`.
    pub data_coding: u8,
    /// `esm_class` (0x40 when `short_message` carries a UDH).
    pub esm_class: u8,
    /// `short_message`.
    pub short_message: Bytes,
    /// Send the text in `message_payload` instead (short_message empty).
    pub payload: Option<Bytes>,
    /// SAR TLVs (reference, total, seq).
    pub sar: Option<(u16, u8, u8)>,
}

/// Errors of the simulator's API.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The listen address is not loopback.
    #[error("refusing to listen on non-loopback address {0}")]
    NotLoopback(SocketAddr),
    /// Binding the listener failed.
    #[error("listen: {0}")]
    Io(#[from] std::io::Error),
    /// No receiver or transceiver is bound for that system_id.
    #[error("no receiver bound for {0:?}")]
    NoReceiver(String),
}

/// Starts simulators.
#[derive(Debug)]
pub struct SmscSim;

impl SmscSim {
    /// Binds the listener and spawns the accept loop on the current tokio runtime.
    pub async fn start(config: SimConfig) -> Result<SimHandle, SimError> {
        if !config.listen.ip().is_loopback() {
            return Err(SimError::NotLoopback(config.listen));
        }
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let (down_tx, _) = watch::channel(0u64);
        let inner = Arc::new(Inner {
            faults: RwLock::new(config.faults.clone()),
            state: Mutex::new(State {
                rng: fastrand::Rng::with_seed(config.seed),
                ..State::default()
            }),
            changed: Notify::new(),
            next_id: AtomicU64::new(1),
            conn_seq: AtomicU64::new(0),
            down: AtomicBool::new(false),
            down_epoch: down_tx,
            stop: CancellationToken::new(),
            addr,
            config,
        });
        tokio::spawn(accept_loop(inner.clone(), listener));
        Ok(SimHandle { inner })
    }
}

async fn accept_loop(inner: Arc<Inner>, listener: TcpListener) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = inner.stop.cancelled() => return,
        };
        let Ok((tcp, _)) = accepted else { continue };
        if inner.down.load(Ordering::Acquire) {
            drop(tcp); // "down": the port answers, then hangs up at once
            continue;
        }
        let _ = tcp.set_nodelay(true);
        let conn = inner.conn_seq.fetch_add(1, Ordering::Relaxed) + 1;
        {
            let mut st = inner.lock();
            st.stats.connections += 1;
            st.links.insert(
                conn,
                LinkStats {
                    conn,
                    system_id: String::new(),
                    bind: "",
                    open: true,
                    submits: 0,
                },
            );
        }
        tokio::spawn(session::run(inner.clone(), conn, tcp));
    }
}

/// Controls a running simulator. Cloneable; the simulator stops when [`SimHandle::stop`] is
/// called (dropping handles does not stop it, so a test can hand one to a helper).
#[derive(Clone, Debug)]
pub struct SimHandle {
    inner: Arc<Inner>,
}

impl SimHandle {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.inner.addr.port()
    }

    /// Replaces the faults; sessions see the change at their next PDU.
    pub fn set_faults(&self, faults: Faults) {
        match self.inner.faults.write() {
            Ok(mut f) => *f = faults,
            Err(p) => *p.into_inner() = faults,
        }
        self.inner.changed.notify_waiters();
    }

    /// The faults now.
    pub fn faults(&self) -> Faults {
        self.inner.faults()
    }

    /// Down: closes every session at once and hangs up on new connections. Up: accepts again.
    pub fn set_down(&self, down: bool) {
        self.inner.down.store(down, Ordering::Release);
        if down {
            self.inner.down_epoch.send_modify(|e| *e += 1);
        }
        self.inner.changed.notify_waiters();
    }

    /// Sends an MO deliver_sm to a receiver or transceiver bound as `system_id`.
    pub fn inject_mo(&self, system_id: &str, mo: Mo) -> Result<(), SimError> {
        let spec = wire::DeliverSpec {
            source: mo.source,
            destination: mo.destination,
            esm_class: mo.esm_class,
            data_coding: mo.data_coding,
            short_message: mo.short_message,
            payload: mo.payload,
            receipted_message_id: None,
            message_state: None,
            sar: mo.sar,
        };
        let mut st = self.inner.lock();
        let sent = st.route(
            system_id,
            None,
            Outbound {
                due: Instant::now(),
                kind: OutKind::Mo,
                spec,
            },
        );
        match sent {
            None => Ok(()),
            Some(_) => Err(SimError::NoReceiver(system_id.into())),
        }
    }

    /// The counters now.
    pub fn stats(&self) -> SimStats {
        self.inner.lock().snapshot()
    }

    /// The recorded submits, in arrival order.
    pub fn submits(&self) -> Vec<RecordedSubmit> {
        self.inner.lock().submits.clone()
    }

    /// Clears counters, recorded submits and duplicate keys (connections stay).
    pub fn reset(&self) {
        let mut st = self.inner.lock();
        let bound = st.stats.bound_now;
        let pending = st.stats.pending_responses;
        st.stats = SimStats {
            bound_now: bound,
            pending_responses: pending,
            ..SimStats::default()
        };
        st.submits.clear();
        st.seen.clear();
        for l in st.links.values_mut() {
            l.submits = 0;
        }
    }

    /// Waits until `pred` holds for the stats (checked at every change), or `timeout` passes.
    /// Returns the last stats either way: `Ok` when the predicate held.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        mut pred: impl FnMut(&SimStats) -> bool,
    ) -> Result<SimStats, SimStats> {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.inner.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let stats = self.stats();
            if pred(&stats) {
                return Ok(stats);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let stats = self.stats();
                return if pred(&stats) { Ok(stats) } else { Err(stats) };
            }
        }
    }

    /// Stops accepting and closes every session.
    pub fn stop(&self) {
        self.inner.stop.cancel();
        self.inner.down_epoch.send_modify(|e| *e += 1);
    }
}

#[derive(Debug)]
struct Inner {
    config: SimConfig,
    faults: RwLock<Faults>,
    state: Mutex<State>,
    changed: Notify,
    next_id: AtomicU64,
    conn_seq: AtomicU64,
    down: AtomicBool,
    down_epoch: watch::Sender<u64>,
    stop: CancellationToken,
    addr: SocketAddr,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn faults(&self) -> Faults {
        match self.faults.read() {
            Ok(f) => f.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn message_id(&self, n: u64, format: IdFormat) -> String {
        match format {
            IdFormat::Decimal => n.to_string(),
            IdFormat::Hex => format!("{n:x}"),
        }
    }
}

/// What a receiving session is asked to send.
#[derive(Debug)]
struct Outbound {
    due: Instant,
    kind: OutKind,
    spec: wire::DeliverSpec,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OutKind {
    Receipt,
    Mo,
}

#[derive(Debug, Default)]
struct State {
    stats: SimStats,
    links: HashMap<u64, LinkStats>,
    seen: HashMap<String, u32>,
    submits: Vec<RecordedSubmit>,
    throttle_acc: f64,
    queue_full_acc: f64,
    error_acc: f64,
    drop_done: bool,
    /// Sessions that can take deliver_sm, per system_id.
    receivers: HashMap<String, Vec<(u64, mpsc::UnboundedSender<Outbound>)>>,
    /// Receipts waiting for a receiver to bind, per system_id (`ReceiptConfig::redeliver`).
    held: HashMap<String, Vec<Outbound>>,
    rr: usize,
    rng: fastrand::Rng,
}

impl State {
    fn snapshot(&self) -> SimStats {
        let mut s = self.stats.clone();
        let mut links: Vec<_> = self.links.values().cloned().collect();
        links.sort_by_key(|l| l.conn);
        s.links = links;
        s
    }

    /// Hands a deliver_sm to a receiver of `system_id`: `prefer` (the submitting transceiver)
    /// when it can take it, else round-robin. Gives it back (`Some`) when none is bound.
    fn route(&mut self, system_id: &str, prefer: Option<u64>, out: Outbound) -> Option<Outbound> {
        let Some(list) = self.receivers.get_mut(system_id) else {
            return Some(out);
        };
        list.retain(|(_, tx)| !tx.is_closed());
        if list.is_empty() {
            return Some(out);
        }
        let idx = match prefer.and_then(|c| list.iter().position(|(id, _)| *id == c)) {
            Some(i) => i,
            None => {
                self.rr = self.rr.wrapping_add(1);
                self.rr % list.len()
            }
        };
        let Some((_, tx)) = list.get(idx) else {
            return Some(out);
        };
        tx.send(out).err().map(|e| e.0)
    }

    /// Store and forward (`ReceiptConfig::redeliver`, `SimConfig::mo_redeliver`): another
    /// bound receiver of the account takes the deliver_sm now, else it waits for the next bind.
    fn hold(&mut self, system_id: &str, out: Outbound) {
        match out.kind {
            OutKind::Receipt => self.stats.receipts_held += 1,
            OutKind::Mo => self.stats.mo_held += 1,
        }
        let out = Outbound {
            due: Instant::now(),
            ..out
        };
        if let Some(out) = self.route(system_id, None, out) {
            self.held.entry(system_id.to_owned()).or_default().push(out);
        }
    }
}
