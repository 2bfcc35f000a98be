//! The ESME side: one [`Link`] per upstream SMSC account, with its own session task(s).
//!
//! [`Link::spawn`] starts a supervisor that connects (TCP_NODELAY, optional TLS), binds
//! (transceiver, or a transmitter + receiver pair), keeps the session alive with enquire_link,
//! and reconnects with exponential backoff and jitter whenever the session ends. Callers submit
//! through a cloneable [`LinkHandle`]; receipts, MO messages and state changes come out of the
//! event receiver.
//!
//! Written on rusmpp's PDU types with our own framing (see [`crate::frame`]) rather than on
//! rusmppc, because the session needs three things rusmppc does not give: knowing whether a
//! submit's octets reached the socket when the link dies (`maybe_sent`, which bounds
//! duplicates), surviving a malformed PDU from the peer without losing the session, and one
//! task that batches many submits into one write while reading receipts concurrently.
//!
//! Outcome contract (DESIGN "Submit"): every [`LinkHandle::submit`] resolves exactly once, to
//! the SMSC's answer or to an error that says whether the message may have been sent. A link
//! never re-sends a submit on its own after a connection loss (that is the scheduler's call,
//! with `maybe_sent` in hand); it does re-send after `ESME_RTHROTTLED`/`ESME_RMSGQFUL`, which
//! are explicit "not accepted" answers.

mod session;
mod throttle;

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use rusmpp::{Command, CommandStatus};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::message::{Address, RequestError, ShortMessage, SubmitRequest};
use crate::receipt::{IdFormat, IdSource, Receipt, ReceiptError, canonical_id};
use crate::status::{self, Status, StatusClass};

pub use crate::tls::TlsConfig;

/// How a link binds (SMPP 3.4 §2.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum BindMode {
    /// One session that submits and receives (bind_transceiver).
    #[default]
    Transceiver,
    /// Two sessions: bind_transmitter for submits, bind_receiver for receipts and MO.
    TransmitterReceiver,
    /// bind_transmitter only: no receipts or MO arrive.
    Transmitter,
}

/// Which bind a session holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// bind_transceiver.
    Transceiver,
    /// bind_transmitter.
    Transmitter,
    /// bind_receiver.
    Receiver,
}

impl Role {
    fn submits(self) -> bool {
        matches!(self, Role::Transceiver | Role::Transmitter)
    }
}

/// Reconnect delays: `min * 2^attempt`, capped at `max`, each multiplied by a random factor in
/// `[1 - jitter, 1 + jitter]` so that many links do not reconnect in lock-step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    /// The first delay.
    pub min: Duration,
    /// The largest delay.
    pub max: Duration,
    /// 0.0 (none) to 1.0.
    pub jitter: f64,
}

impl Backoff {
    /// The delay before reconnect attempt `attempt` (0-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let base = self
            .min
            .saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX))
            .min(self.max);
        let j = self.jitter.clamp(0.0, 1.0);
        let factor = 1.0 - j + 2.0 * j * fastrand::f64();
        base.mul_f64(factor).min(self.max.mul_f64(1.0 + j))
    }
}

/// How the link reacts to `ESME_RTHROTTLED` / `ESME_RMSGQFUL` (see `throttle.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// The first pause of new submits after a throttle answer.
    pub pause_min: Duration,
    /// The longest pause (reached only while throttles keep coming).
    pub pause_max: Duration,
    /// How many times one submit is re-sent after throttle answers before the caller gets
    /// [`SubmitError::Throttled`].
    pub retries: u32,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        ThrottlePolicy {
            pause_min: Duration::from_millis(10),
            pause_max: Duration::from_secs(1),
            retries: 5,
        }
    }
}

/// One upstream SMPP account.
#[derive(Clone, Debug)]
pub struct LinkConfig {
    /// A name for logs and events.
    pub name: String,
    /// SMSC host name or address.
    pub host: String,
    /// SMSC port (2775 usually).
    pub port: u16,
    /// `system_id` (at most 15 characters).
    pub system_id: String,
    /// `password` (at most 8 characters).
    pub password: String,
    /// `system_type` (at most 12 characters; often empty).
    pub system_type: String,
    /// `interface_version` sent in the bind: 0x34 (v3.4, default) or 0x50.
    pub interface_version: u8,
    /// `addr_ton`, `addr_npi`, `address_range` of the bind (receiver routing; usually empty).
    pub address_range: Address,
    /// Transceiver or transmitter + receiver.
    pub bind: BindMode,
    /// Maximum unacknowledged submit_sm.
    pub window: usize,
    /// Submits per second (token bucket), or `None` for no cap.
    pub max_rate: Option<NonZeroU32>,
    /// Send enquire_link after this long without any PDU from the SMSC.
    pub enquire_link_interval: Duration,
    /// How long a request (submit, enquire_link, bind, unbind) may wait for its response
    /// before the link is declared hung and reconnected.
    pub response_timeout: Duration,
    /// TCP (and TLS) connect timeout.
    pub connect_timeout: Duration,
    /// Reconnect delays.
    pub reconnect: Backoff,
    /// Reaction to throttling.
    pub throttle: ThrottlePolicy,
    /// How this SMSC writes ids in receipts versus submit_sm_resp.
    pub id_format: IdFormat,
    /// On shutdown, how long to wait for unanswered submits before unbinding.
    pub drain_timeout: Duration,
    /// Capacity of the event channel; when full, the session stops reading (TCP back-pressure
    /// on the SMSC) until the consumer catches up.
    pub event_capacity: usize,
    /// Largest PDU accepted from the SMSC.
    pub max_pdu: usize,
    /// TLS, when the SMSC requires it.
    pub tls: Option<TlsConfig>,
    /// Answer a `deliver_sm` / `data_sm` (receipt or MO) only when the owner releases the
    /// event's [`DeliverAck`] (after storing it), so a crash in between leaves it with the
    /// SMSC, which offers it again. Off (the default): answered on arrival.
    pub defer_deliver_resp: bool,
}

impl LinkConfig {
    /// A transceiver link with the defaults: window 10, no rate cap, enquire_link every 30 s,
    /// 10 s response timeout, reconnect 500 ms to 30 s with 20 % jitter.
    pub fn new(host: &str, port: u16, system_id: &str, password: &str) -> LinkConfig {
        LinkConfig {
            name: format!("{system_id}@{host}:{port}"),
            host: host.to_owned(),
            port,
            system_id: system_id.to_owned(),
            password: password.to_owned(),
            system_type: String::new(),
            interface_version: 0x34,
            address_range: Address::default(),
            bind: BindMode::Transceiver,
            window: 10,
            max_rate: None,
            enquire_link_interval: Duration::from_secs(30),
            response_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            reconnect: Backoff {
                min: Duration::from_millis(500),
                max: Duration::from_secs(30),
                jitter: 0.2,
            },
            throttle: ThrottlePolicy::default(),
            id_format: IdFormat::Same,
            drain_timeout: Duration::from_secs(5),
            event_capacity: 16_384,
            max_pdu: crate::frame::DEFAULT_MAX_PDU,
            tls: None,
            defer_deliver_resp: false,
        }
    }
}

/// The SMSC accepted a submit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubmitResponse {
    /// `message_id` as the SMSC sent it (empty if its response was malformed).
    pub message_id: String,
    /// [`canonical_id`] of it under the link's [`IdFormat`]: equal to the `canonical_id` of
    /// this message's receipts.
    pub canonical_id: String,
    /// How many times it was sent (more than 1 after throttling).
    pub attempts: u32,
}

/// Why a submit did not get an SMSC message id.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// The request does not fit SMPP (never sent).
    #[error("invalid request: {0}")]
    Invalid(#[from] RequestError),
    /// `ESME_RTHROTTLED` on every try (the SMSC did not accept it).
    #[error("throttled by the SMSC")]
    Throttled,
    /// `ESME_RMSGQFUL` on every try.
    #[error("SMSC queue full")]
    QueueFull,
    /// A permanent error for this message (invalid destination …).
    #[error("rejected: {}", Status(*.0))]
    Permanent(u32),
    /// A temporary error: try later or elsewhere.
    #[error("temporary error: {}", Status(*.0))]
    Temporary(u32),
    /// No response in time; the link was then reconnected. The submit was written, so it may
    /// have been accepted.
    #[error("no response in time (maybe sent: {maybe_sent})")]
    Timeout {
        /// Whether any octet of the submit reached the socket.
        maybe_sent: bool,
    },
    /// The link was not bound, or the session ended before the answer.
    #[error("link down (maybe sent: {maybe_sent})")]
    LinkDown {
        /// Whether any octet of the submit reached the socket (if so, the SMSC may have
        /// accepted it: re-sending may duplicate).
        maybe_sent: bool,
    },
}

impl SubmitError {
    /// Whether the SMSC may have accepted the message anyway.
    pub fn maybe_sent(&self) -> bool {
        match self {
            SubmitError::Timeout { maybe_sent } | SubmitError::LinkDown { maybe_sent } => {
                *maybe_sent
            }
            _ => false,
        }
    }

    /// The attempt's outcome in the scheduler's terms. `retry_after` is the delay suggested
    /// for temporary conditions (throttling uses a short one).
    pub fn to_outcome(&self, retry_after: Duration) -> domain::Outcome {
        use domain::{Outcome, RejectReason, RetryReason};
        let retry = |reason, after| Outcome::Retry {
            after,
            reason,
            maybe_sent: self.maybe_sent(),
        };
        match self {
            SubmitError::Invalid(e) => Outcome::Reject {
                reason: RejectReason::Permanent(e.to_string()),
            },
            SubmitError::Throttled => retry(RetryReason::Throttled, retry_after / 4),
            SubmitError::QueueFull => retry(RetryReason::QueueFull, retry_after),
            SubmitError::Permanent(s) => Outcome::Reject {
                reason: match *s {
                    status::RINVDSTADR => RejectReason::InvalidDestination(Status(*s).to_string()),
                    status::RINVSRCADR => RejectReason::InvalidSender(Status(*s).to_string()),
                    _ => RejectReason::Permanent(Status(*s).to_string()),
                },
            },
            SubmitError::Temporary(s) => {
                retry(RetryReason::Temporary(Status(*s).to_string()), retry_after)
            }
            SubmitError::Timeout { .. } => retry(RetryReason::Timeout, Duration::ZERO),
            SubmitError::LinkDown { .. } => retry(
                RetryReason::Unavailable("SMPP link down".into()),
                Duration::ZERO,
            ),
        }
    }
}

/// Why a session ended (or never started).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DownReason {
    /// TCP/TLS connect failed or timed out.
    Connect(String),
    /// The SMSC refused the bind with this status.
    BindRefused(u32),
    /// No bind response in time.
    BindTimeout,
    /// A submit got no response in time: the link is hung.
    ResponseTimeout,
    /// enquire_link got no response in time: the link is hung.
    EnquireLinkTimeout,
    /// The SMSC sent unbind.
    PeerUnbind,
    /// The SMSC closed the connection.
    Closed,
    /// A socket error.
    Io(String),
    /// A PDU length that cannot be framed.
    Framing(String),
    /// Graceful shutdown.
    Shutdown,
}

/// A receipt as the link reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiptEvent {
    /// The parsed receipt.
    pub receipt: Receipt,
    /// [`canonical_id`] of `receipt.message_id` under the link's [`IdFormat`].
    pub canonical_id: String,
    /// The receipt PDU's source (the handset, usually).
    pub from: Address,
    /// The receipt PDU's destination (our sender, usually).
    pub to: Address,
    /// Answers the receipt's PDU when released (with [`LinkConfig::defer_deliver_resp`]; a
    /// no-op otherwise).
    pub ack: DeliverAck,
}

/// Answers one `deliver_sm` (or `data_sm`), a receipt or an MO, with `ESME_ROK` when the last
/// clone is released, by [`DeliverAck::ack`] or by dropping it (SMPP 3.4 §4.6.2: the SMSC keeps
/// a message until it has its response, and offers it again on a later bind). If the session it
/// came on has ended, releasing it does nothing: the SMSC will offer it again.
#[derive(Clone, Default)]
pub struct DeliverAck(Option<Arc<AckOnRelease>>);

struct AckOnRelease {
    seq: u32,
    data_sm: bool,
    tx: mpsc::UnboundedSender<(u32, bool)>,
    forgotten: AtomicBool,
}

impl Drop for AckOnRelease {
    fn drop(&mut self) {
        if !self.forgotten.load(Ordering::Relaxed) {
            let _ = self.tx.send((self.seq, self.data_sm));
        }
    }
}

impl DeliverAck {
    /// An acknowledgement that answers `seq` through the session reading `tx`.
    pub(crate) fn new(seq: u32, data_sm: bool, tx: mpsc::UnboundedSender<(u32, bool)>) -> Self {
        DeliverAck(Some(Arc::new(AckOnRelease {
            seq,
            data_sm,
            tx,
            forgotten: AtomicBool::new(false),
        })))
    }

    /// Nothing to answer (the PDU was answered on arrival).
    pub fn none() -> DeliverAck {
        DeliverAck(None)
    }

    /// Whether the PDU is still waiting for this acknowledgement.
    pub fn is_pending(&self) -> bool {
        self.0.is_some()
    }

    /// Releases this handle: the PDU is answered once no clone is left.
    pub fn ack(self) {
        drop(self);
    }

    /// Never answers the PDU (nor do its clones): the owner could not keep it, so the SMSC must
    /// offer it again.
    pub fn forget(self) {
        if let Some(a) = &self.0 {
            a.forgotten.store(true, Ordering::Relaxed);
        }
    }
}

/// An acknowledgement is not part of a receipt's value: events compare equal without it.
impl PartialEq for DeliverAck {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for DeliverAck {}

impl std::fmt::Debug for DeliverAck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(a) => write!(f, "DeliverAck(seq {})", a.seq),
            None => f.write_str("DeliverAck(none)"),
        }
    }
}

/// What a link tells its owner.
#[derive(Clone, Debug, PartialEq)]
pub enum LinkEvent {
    /// A session bound.
    Bound {
        /// Which bind.
        role: Role,
    },
    /// A session ended or could not be started.
    Down {
        /// Which bind.
        role: Role,
        /// Why.
        reason: DownReason,
    },
    /// A delivery receipt (already answered with deliver_sm_resp).
    Receipt(ReceiptEvent),
    /// A receipt whose text and TLVs could not be read (answered all the same).
    BadReceipt {
        /// The text as received.
        text: String,
        /// What was missing.
        error: ReceiptError,
    },
    /// A mobile-originated message, and what answers its PDU when released (with
    /// [`LinkConfig::defer_deliver_resp`]; a no-op otherwise: already answered).
    Mo(ShortMessage, DeliverAck),
    /// The SMSC throttled us; the link slowed down.
    Throttled {
        /// New submits pause this long.
        pause: Duration,
        /// The window now.
        window: usize,
    },
}

/// Where a session is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkState {
    /// Connecting or binding.
    Connecting,
    /// Bound: submits go out.
    Bound,
    /// Waiting to reconnect.
    Down,
    /// Shut down for good.
    Closed,
}

impl LinkState {
    fn from_u8(v: u8) -> LinkState {
        match v {
            1 => LinkState::Bound,
            2 => LinkState::Down,
            3 => LinkState::Closed,
            _ => LinkState::Connecting,
        }
    }

    fn as_u8(self) -> u8 {
        match self {
            LinkState::Connecting => 0,
            LinkState::Bound => 1,
            LinkState::Down => 2,
            LinkState::Closed => 3,
        }
    }
}

/// Counters since the link was spawned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkCounters {
    /// submit_sm PDUs written (re-sends after throttling included).
    pub submitted: u64,
    /// Submits accepted.
    pub accepted: u64,
    /// Throttle / queue-full answers.
    pub throttled: u64,
    /// Submits finished with a temporary or permanent error.
    pub errors: u64,
    /// Submits timed out or lost with a session.
    pub lost: u64,
    /// Receipts received (parsed or not).
    pub receipts: u64,
    /// MO messages received.
    pub mo: u64,
    /// Sessions that ended after binding.
    pub reconnects: u64,
    /// Submits whose caller stopped waiting before they were sent (never sent).
    pub abandoned: u64,
    /// PDUs from the SMSC that did not decode.
    pub decode_errors: u64,
}

/// A snapshot for the dashboard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkStatus {
    /// The submitting session's state.
    pub state: LinkState,
    /// The receiver session's state, in transmitter + receiver mode.
    pub receiver_state: Option<LinkState>,
    /// Submits written and not yet answered.
    pub window_in_use: usize,
    /// The window in force (below the configured one after throttling).
    pub window_limit: usize,
    /// Submits written in the last whole second.
    pub submits_per_sec: u64,
    /// Counters.
    pub counters: LinkCounters,
}

#[derive(Debug, Default)]
struct Counters {
    submitted: AtomicU64,
    accepted: AtomicU64,
    throttled: AtomicU64,
    errors: AtomicU64,
    lost: AtomicU64,
    receipts: AtomicU64,
    mo: AtomicU64,
    reconnects: AtomicU64,
    abandoned: AtomicU64,
    decode_errors: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

#[derive(Debug)]
struct Shared {
    config: LinkConfig,
    window: Arc<Semaphore>,
    state: AtomicU8,
    rx_state: AtomicU8,
    /// The submitting session's state, for waiters.
    state_watch: watch::Sender<LinkState>,
    counters: Counters,
    in_flight: AtomicUsize,
    window_limit: AtomicUsize,
    /// (second since start, submits in it) of the last whole second, packed by the session.
    last_second: AtomicU64,
    started: Instant,
}

impl Shared {
    fn set_state(&self, role: Role, st: LinkState) {
        let slot = if role == Role::Receiver {
            &self.rx_state
        } else {
            &self.state
        };
        slot.store(st.as_u8(), Ordering::Release);
        if role != Role::Receiver {
            self.state_watch.send_replace(st);
        }
    }

    fn state(&self) -> LinkState {
        LinkState::from_u8(self.state.load(Ordering::Acquire))
    }
}

/// A submit on its way to the session: the PDU, the caller's reply slot and its window slot.
#[derive(Debug)]
struct Job {
    cmd: Command,
    reply: oneshot::Sender<Result<SubmitResponse, SubmitError>>,
    permit: OwnedSemaphorePermit,
    attempts: u32,
}

/// Starts links.
#[derive(Debug)]
pub struct Link;

impl Link {
    /// Spawns the link's supervisor task(s) on the current tokio runtime and returns the handle
    /// and the event receiver. The link runs until [`LinkHandle::shutdown`] or until every
    /// handle is dropped (both drain gracefully). Events are dropped if the receiver is.
    pub fn spawn(mut config: LinkConfig) -> (LinkHandle, mpsc::Receiver<LinkEvent>) {
        config.window = config.window.max(1);
        let (events_tx, events_rx) = mpsc::channel(config.event_capacity.max(16));
        let (jobs_tx, jobs_rx) = mpsc::channel(config.window.max(64));
        let window = Arc::new(Semaphore::new(config.window));
        let limiter = config.max_rate.map(|rate| {
            // A burst of a tenth of a second's worth keeps the rate smooth.
            let burst = NonZeroU32::new((rate.get() / 10).max(1)).unwrap_or(NonZeroU32::MIN);
            RateLimiter::direct(Quota::per_second(rate).allow_burst(burst))
        });
        let shared = Arc::new(Shared {
            window_limit: AtomicUsize::new(config.window),
            window: window.clone(),
            state: AtomicU8::new(LinkState::Connecting.as_u8()),
            rx_state: AtomicU8::new(LinkState::Connecting.as_u8()),
            state_watch: watch::channel(LinkState::Connecting).0,
            counters: Counters::default(),
            in_flight: AtomicUsize::new(0),
            last_second: AtomicU64::new(0),
            started: Instant::now(),
            config,
        });
        let cancel = CancellationToken::new();
        let mut tasks = Vec::new();
        let (tx_role, rx_role) = match shared.config.bind {
            BindMode::Transceiver => (Role::Transceiver, None),
            BindMode::Transmitter => (Role::Transmitter, None),
            BindMode::TransmitterReceiver => (Role::Transmitter, Some(Role::Receiver)),
        };
        tasks.push(tokio::spawn(session::supervise(
            shared.clone(),
            tx_role,
            Some(jobs_rx),
            events_tx.clone(),
            cancel.clone(),
        )));
        if let Some(role) = rx_role {
            tasks.push(tokio::spawn(session::supervise(
                shared.clone(),
                role,
                None,
                events_tx,
                cancel.clone(),
            )));
        }
        let handle = LinkHandle {
            inner: Arc::new(HandleInner {
                jobs: jobs_tx,
                shared,
                limiter,
                cancel,
                tasks: Mutex::new(tasks),
            }),
        };
        (handle, events_rx)
    }
}

/// Submits to a link and reads its status. Cheap to clone; the link shuts down gracefully when
/// the last clone is dropped.
#[derive(Clone, Debug)]
pub struct LinkHandle {
    inner: Arc<HandleInner>,
}

#[derive(Debug)]
struct HandleInner {
    jobs: mpsc::Sender<Job>,
    shared: Arc<Shared>,
    limiter: Option<DefaultDirectRateLimiter>,
    cancel: CancellationToken,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for HandleInner {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl LinkHandle {
    /// Submits one message and waits for the SMSC's answer.
    ///
    /// Fails fast with `LinkDown { maybe_sent: false }` when the link is not bound. Otherwise
    /// waits for the rate cap, then for a window slot (this is how a full window applies
    /// back-pressure), then for the submit_sm_resp. Throttling answers are retried inside the
    /// link (see [`ThrottlePolicy`]).
    ///
    /// Cancel safety: dropping the future before the PDU is written means it is never written
    /// (the session skips submits whose caller is gone; counted as `abandoned`). Dropping it
    /// after the PDU was written does not unsend it: the SMSC may accept the message and its
    /// receipt will arrive for an id the caller never saw. Callers that need every outcome must
    /// not cancel; time limits belong to the link (`response_timeout`).
    pub async fn submit(&self, req: &SubmitRequest) -> Result<SubmitResponse, SubmitError> {
        let pdu = req.to_pdu()?;
        let shared = &self.inner.shared;
        if shared.state() != LinkState::Bound {
            return Err(SubmitError::LinkDown { maybe_sent: false });
        }
        if let Some(limiter) = &self.inner.limiter {
            limiter.until_ready().await;
        }
        let permit = shared
            .window
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| SubmitError::LinkDown { maybe_sent: false })?;
        // The link may have gone down while this call waited for a slot.
        if shared.state() != LinkState::Bound {
            return Err(SubmitError::LinkDown { maybe_sent: false });
        }
        let (reply, answer) = oneshot::channel();
        let job = Job {
            cmd: Command::new(CommandStatus::EsmeRok, 0, pdu),
            reply,
            permit,
            attempts: 0,
        };
        if self.inner.jobs.send(job).await.is_err() {
            return Err(SubmitError::LinkDown { maybe_sent: false });
        }
        // The session answers every job it takes; a dropped reply means it was dropped
        // unanswered, which only happens if the task died: assume the worst.
        answer
            .await
            .unwrap_or(Err(SubmitError::LinkDown { maybe_sent: true }))
    }

    /// The state of the submitting session.
    pub fn state(&self) -> LinkState {
        self.inner.shared.state()
    }

    /// Waits until the submitting session is bound. Returns `false` if the link is shut down
    /// first. Safe to cancel (it only watches the state).
    pub async fn until_bound(&self) -> bool {
        let mut rx = self.inner.shared.state_watch.subscribe();
        let result = rx
            .wait_for(|s| matches!(s, LinkState::Bound | LinkState::Closed))
            .await
            .map(|s| *s == LinkState::Bound);
        result.unwrap_or(false)
    }

    /// A snapshot for the dashboard.
    pub fn status(&self) -> LinkStatus {
        let s = &self.inner.shared;
        let c = &s.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let (sec, count) = unpack_second(s.last_second.load(Ordering::Relaxed));
        let now_sec = s.started.elapsed().as_secs();
        LinkStatus {
            state: s.state(),
            receiver_state: (s.config.bind == BindMode::TransmitterReceiver)
                .then(|| LinkState::from_u8(s.rx_state.load(Ordering::Acquire))),
            window_in_use: s.in_flight.load(Ordering::Relaxed),
            window_limit: s.window_limit.load(Ordering::Relaxed),
            // The packed count is for second `sec`; it is "the last whole second" only if that
            // was the one just before now.
            submits_per_sec: if sec + 1 == now_sec { count } else { 0 },
            counters: LinkCounters {
                submitted: load(&c.submitted),
                accepted: load(&c.accepted),
                throttled: load(&c.throttled),
                errors: load(&c.errors),
                lost: load(&c.lost),
                receipts: load(&c.receipts),
                mo: load(&c.mo),
                reconnects: load(&c.reconnects),
                abandoned: load(&c.abandoned),
                decode_errors: load(&c.decode_errors),
            },
        }
    }

    /// The link's configuration.
    pub fn config(&self) -> &LinkConfig {
        &self.inner.shared.config
    }

    /// The canonical form of a submit_sm_resp id under this link's [`IdFormat`].
    pub fn canonical_submit_id(&self, message_id: &str) -> String {
        canonical_id(
            message_id,
            IdSource::SubmitResp,
            self.inner.shared.config.id_format,
        )
    }

    /// Shuts the link down gracefully and waits for it: new submits fail with `LinkDown`,
    /// queued ones that were not written fail with `maybe_sent: false`, written ones get up to
    /// `drain_timeout` for their answers, then the session unbinds (waiting up to
    /// `response_timeout` for unbind_resp) and closes.
    pub async fn shutdown(&self) {
        self.inner.cancel.cancel();
        let tasks = match self.inner.tasks.lock() {
            Ok(mut t) => std::mem::take(&mut *t),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        for t in tasks {
            let _ = t.await;
        }
    }
}

fn pack_second(sec: u64, count: u64) -> u64 {
    (sec << 32) | (count & 0xFFFF_FFFF)
}

fn unpack_second(v: u64) -> (u64, u64) {
    (v >> 32, v & 0xFFFF_FFFF)
}

/// How the session answers a finished submit, in one place so every path counts the same.
fn outcome_of(status: u32) -> Result<(), SubmitError> {
    match status::classify(status) {
        StatusClass::Ok => Ok(()),
        StatusClass::Throttled => Err(SubmitError::Throttled),
        StatusClass::QueueFull => Err(SubmitError::QueueFull),
        StatusClass::Temporary => Err(SubmitError::Temporary(status)),
        StatusClass::Permanent => Err(SubmitError::Permanent(status)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let b = Backoff {
            min: Duration::from_millis(100),
            max: Duration::from_secs(2),
            jitter: 0.0,
        };
        let d: Vec<_> = (0..7).map(|a| b.delay(a).as_millis()).collect();
        assert_eq!(d, [100, 200, 400, 800, 1600, 2000, 2000]);
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(2));
        let j = Backoff { jitter: 0.5, ..b };
        for a in 0..50 {
            let d = j.delay(a % 4).as_secs_f64();
            let base = b.delay(a % 4).as_secs_f64();
            assert!(
                d >= base * 0.5 - 1e-9 && d <= base * 1.5 + 1e-9,
                "{d} vs {base}"
            );
        }
    }

    #[test]
    fn errors_map_to_outcomes() {
        use domain::{Outcome, RejectReason, RetryReason};
        let after = Duration::from_secs(4);
        assert_eq!(
            SubmitError::LinkDown { maybe_sent: true }.to_outcome(after),
            Outcome::Retry {
                after: Duration::ZERO,
                reason: RetryReason::Unavailable("SMPP link down".into()),
                maybe_sent: true
            }
        );
        assert_eq!(
            SubmitError::Throttled.to_outcome(after),
            Outcome::Retry {
                after: Duration::from_secs(1),
                reason: RetryReason::Throttled,
                maybe_sent: false
            }
        );
        assert_eq!(
            SubmitError::Permanent(status::RINVDSTADR).to_outcome(after),
            Outcome::Reject {
                reason: RejectReason::InvalidDestination("0x0000000b ESME_RINVDSTADR".into())
            }
        );
        assert_eq!(
            outcome_of(status::RSYSERR),
            Err(SubmitError::Temporary(status::RSYSERR))
        );
    }

    #[test]
    fn second_counter_packs() {
        assert_eq!(unpack_second(pack_second(7, 12_345)), (7, 12_345));
    }
}
