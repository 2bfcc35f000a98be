//! The SMSC side: an SMPP v3.4 server for local applications.
//!
//! [`Server::bind`] takes a listener and a [`ServerHandler`] (the service's policy: who may
//! bind, what a submit means) and runs one task per connection. The framework owns the protocol:
//! bind states (SMPP 3.4 §2.3), per-bind window and rate (excess submits get `ESME_RTHROTTLED`
//! at once rather than queueing), enquire_link both ways, unbind, `generic_nack` for PDUs that do
//! not decode, TCP_NODELAY. Receipts and MO go out through [`ServerHandle::deliver`], which waits
//! for the application's deliver_sm_resp.
//!
//! Long messages arrive part by part (UDH, SAR TLVs) or whole (`message_payload`); the handler
//! sees each submit_sm as a [`ShortMessage`] with [`ShortMessage::concat`] and decides how to
//! store them ([`crate::concat::Reassembler`] reassembles in memory if that is enough).

mod session;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use domain::{ApiKeyId, DlrStatus};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::message::{Address, RequestError, ShortMessage};
use crate::receipt::{NetworkError, ReceiptTime, format_text, message_state};

/// A boxed, sendable future: what [`ServerHandler`] methods return (the trait is used as
/// `dyn`, so its methods cannot be `async fn`).
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Which bind an application asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BindKind {
    /// bind_transmitter: submits only.
    Transmitter,
    /// bind_receiver: receives receipts and MO only.
    Receiver,
    /// bind_transceiver: both.
    Transceiver,
}

impl BindKind {
    /// Whether this bind may submit.
    pub fn submits(self) -> bool {
        self != BindKind::Receiver
    }

    /// Whether deliver_sm may be sent to it.
    pub fn receives(self) -> bool {
        self != BindKind::Transmitter
    }
}

/// A bind request, for the handler to authenticate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindRequest {
    /// `system_id`.
    pub system_id: String,
    /// `password` (compare in constant time; never log it).
    pub password: String,
    /// `system_type`.
    pub system_type: String,
    /// `interface_version` (0x34 for v3.4; older and newer are accepted).
    pub interface_version: u8,
    /// Which bind.
    pub kind: BindKind,
    /// The application's address.
    pub peer: SocketAddr,
}

/// Who is asking, for every call after the bind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The account the bind authenticated as.
    pub account: ApiKeyId,
    /// The `system_id` it bound with.
    pub system_id: String,
    /// A number unique to this connection while the server runs.
    pub id: u64,
    /// Which bind.
    pub kind: BindKind,
    /// The application's address.
    pub peer: SocketAddr,
}

/// A query_sm answer (SMPP 3.4 §4.8.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryAnswer {
    /// `final_date` in SMPP time format, empty while not final.
    pub final_date: String,
    /// `message_state` (1 ENROUTE … 8 REJECTED).
    pub message_state: u8,
    /// `error_code` (network error, 0 if none).
    pub error_code: u8,
}

/// A cancel_sm request (SMPP 3.4 §4.9.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CancelRequest {
    /// The message to cancel, or empty to cancel by addresses.
    pub message_id: String,
    /// `service_type`.
    pub service_type: String,
    /// The original sender.
    pub source: Address,
    /// The original recipient (used when `message_id` is empty).
    pub destination: Address,
}

/// The service's side of the server. Errors are SMPP `command_status` values (see
/// [`crate::status`]), sent back to the application as they are.
pub trait ServerHandler: Send + Sync + 'static {
    /// Authenticates a bind; `Ok` names the account. Typical errors: `ESME_RINVSYSID`,
    /// `ESME_RINVPASWD`, `ESME_RBINDFAIL`.
    fn bind(self: Arc<Self>, req: BindRequest) -> BoxFuture<Result<ApiKeyId, u32>>;

    /// Accepts one submit_sm; `Ok` is the message id for submit_sm_resp (ASCII, at most 64
    /// characters; it is what receipts will carry). Answer only once the message is stored:
    /// the application treats the response as acceptance.
    fn submit(
        self: Arc<Self>,
        session: Session,
        msg: ShortMessage,
    ) -> BoxFuture<Result<String, u32>>;

    /// Answers query_sm. The default says `ESME_RQUERYFAIL`.
    fn query(
        self: Arc<Self>,
        session: Session,
        message_id: String,
        source: Address,
    ) -> BoxFuture<Result<QueryAnswer, u32>> {
        let _ = (session, message_id, source);
        Box::pin(async { Err(crate::status::RQUERYFAIL) })
    }

    /// Cancels a message. The default says `ESME_RCANCELFAIL`.
    fn cancel(self: Arc<Self>, session: Session, req: CancelRequest) -> BoxFuture<Result<(), u32>> {
        let _ = (session, req);
        Box::pin(async { Err(crate::status::RCANCELFAIL) })
    }

    /// Told when a bound session ends (unbind or disconnect). The default does nothing.
    fn unbound(&self, session: &Session) {
        let _ = session;
    }
}

/// Server settings.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// `system_id` in bind responses.
    pub system_id: String,
    /// Submits (and queries, cancels) a bind may have unanswered; more are answered
    /// `ESME_RTHROTTLED` at once.
    pub window: usize,
    /// Submits per second per bind; excess gets `ESME_RTHROTTLED`. `None`: no cap.
    pub max_rate: Option<NonZeroU32>,
    /// deliver_sm a bind may have unanswered; [`ServerHandle::deliver`] waits for a slot.
    pub deliver_window: usize,
    /// How long deliver_sm (and our enquire_link, unbind) wait for a response.
    pub response_timeout: Duration,
    /// Send enquire_link after this long without a PDU from the application.
    pub enquire_link_interval: Duration,
    /// Close a connection that has not bound within this time.
    pub bind_timeout: Duration,
    /// Largest PDU accepted.
    pub max_pdu: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            system_id: "outpost".into(),
            window: 100,
            max_rate: None,
            deliver_window: 10,
            response_timeout: Duration::from_secs(10),
            enquire_link_interval: Duration::from_secs(60),
            bind_timeout: Duration::from_secs(30),
            max_pdu: crate::frame::DEFAULT_MAX_PDU,
        }
    }
}

/// What to deliver to an application: a receipt or an MO message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliverRequest {
    /// `source_addr` (for a receipt: the handset the message went to).
    pub source: Address,
    /// `destination_addr` (for a receipt: the application's original sender).
    pub destination: Address,
    /// `esm_class` (0x04 for a receipt, 0x40 with a UDH).
    pub esm_class: u8,
    /// `data_coding`.
    pub data_coding: u8,
    /// `short_message` (at most 254 octets).
    pub short_message: Bytes,
    /// `message_payload` instead, for longer user data.
    pub payload: Option<Bytes>,
    /// `receipted_message_id`.
    pub receipted_message_id: Option<String>,
    /// `message_state`.
    pub message_state: Option<u8>,
    /// `network_error_code`.
    pub network_error: Option<NetworkError>,
    /// SAR TLVs (reference, total, seq).
    pub sar: Option<(u16, u8, u8)>,
}

impl DeliverRequest {
    /// A delivery receipt for `message_id` (the id this server gave in submit_sm_resp), in the
    /// Appendix B text shape with the SMPP 5.0 TLVs; `to` is the handset, `from` the
    /// application's sender.
    #[allow(clippy::too_many_arguments)]
    pub fn receipt(
        message_id: &str,
        stat: DlrStatus,
        submitted: ReceiptTime,
        done: ReceiptTime,
        err: u16,
        excerpt: &str,
        to: Address,
        from: Address,
    ) -> DeliverRequest {
        let text = format_text(message_id, stat, submitted, done, err, excerpt);
        DeliverRequest {
            source: to,
            destination: from,
            esm_class: crate::message::ESM_TYPE_RECEIPT,
            data_coding: 0,
            short_message: Bytes::from(text.into_bytes()),
            payload: None,
            receipted_message_id: Some(message_id.to_owned()),
            message_state: Some(message_state(stat)),
            network_error: None,
            sar: None,
        }
    }

    /// An MO message.
    pub fn mo(
        source: Address,
        destination: Address,
        data_coding: u8,
        short_message: Bytes,
    ) -> Self {
        DeliverRequest {
            source,
            destination,
            esm_class: 0,
            data_coding,
            short_message,
            payload: None,
            receipted_message_id: None,
            message_state: None,
            network_error: None,
            sar: None,
        }
    }
}

/// Why a deliver did not get a positive deliver_sm_resp.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeliverError {
    /// The request does not fit SMPP.
    #[error("invalid deliver: {0}")]
    Invalid(#[from] RequestError),
    /// No receiver or transceiver of that account is bound.
    #[error("no receiver bound for the account")]
    NotBound,
    /// The application answered with this status (`ESME_RX_T_APPN` 0x64 means "later",
    /// `ESME_RX_P_APPN` 0x65 "never").
    #[error("rejected by the application: {}", crate::status::Status(*.0))]
    Rejected(u32),
    /// No answer in time (the session is then closed: an application that does not answer is
    /// hung).
    #[error("no deliver_sm_resp in time")]
    Timeout,
    /// The session ended first. `maybe_delivered`: the deliver_sm was written, so the
    /// application may have it.
    #[error("session closed (maybe delivered: {maybe_delivered})")]
    SessionClosed {
        /// Whether any octet reached the socket.
        maybe_delivered: bool,
    },
}

/// Runs the server.
#[derive(Debug)]
pub struct Server;

impl Server {
    /// Starts accepting on `listener` (already bound, e.g. to 127.0.0.1:2775) on the current
    /// tokio runtime.
    pub fn bind(
        listener: TcpListener,
        handler: Arc<dyn ServerHandler>,
        config: ServerConfig,
    ) -> ServerHandle {
        let shared = Arc::new(Shared {
            config,
            handler,
            receivers: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
            next_session: AtomicU64::new(1),
            rr: AtomicU64::new(0),
            cancel: CancellationToken::new(),
        });
        let local_addr = listener.local_addr().ok();
        let accept = tokio::spawn(accept_loop(shared.clone(), listener));
        ServerHandle {
            shared,
            local_addr,
            accept: Arc::new(Mutex::new(Some(accept))),
        }
    }
}

/// A bound session as the dashboard sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    /// The session.
    pub session: Session,
    /// Submits accepted on it.
    pub submits: u64,
    /// Submits answered `ESME_RTHROTTLED` by the window or rate.
    pub throttled: u64,
    /// deliver_sm answered.
    pub delivered: u64,
}

/// Controls a running server. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ServerHandle {
    shared: Arc<Shared>,
    local_addr: Option<SocketAddr>,
    accept: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl ServerHandle {
    /// The address the listener was bound to.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    /// Sends a deliver_sm to a bound receiver or transceiver of `account` (round-robin among
    /// them) and waits for its deliver_sm_resp: up to the bind's deliver window, then up to
    /// `response_timeout`.
    ///
    /// No retries here: on any error the caller (a durable outbox) tries again later, possibly
    /// reaching another session of the account. `SessionClosed { maybe_delivered: true }` and
    /// `Timeout` may mean the application got it, so a retry can duplicate (applications match
    /// receipts by `receipted_message_id`, which makes that harmless).
    ///
    /// Cancel safety: cancelling before the PDU is written means it is not written; after
    /// that, the application gets it and the answer is dropped.
    pub async fn deliver(
        &self,
        account: ApiKeyId,
        req: DeliverRequest,
    ) -> Result<(), DeliverError> {
        let pdu = session::deliver_pdu(&req)?;
        let target = self
            .shared
            .pick_receiver(account)
            .ok_or(DeliverError::NotBound)?;
        let permit = target.window.clone().acquire_owned().await.map_err(|_| {
            DeliverError::SessionClosed {
                maybe_delivered: false,
            }
        })?;
        let (reply, answer) = oneshot::channel();
        target
            .tx
            .send(Command::Deliver {
                pdu: Box::new(pdu),
                reply,
                permit,
            })
            .await
            .map_err(|_| DeliverError::SessionClosed {
                maybe_delivered: false,
            })?;
        answer.await.unwrap_or(Err(DeliverError::SessionClosed {
            maybe_delivered: true,
        }))
    }

    /// Whether `account` has a session that can receive deliver_sm.
    pub fn can_deliver(&self, account: ApiKeyId) -> bool {
        self.shared.pick_receiver(account).is_some()
    }

    /// Every bound session.
    pub fn sessions(&self) -> Vec<SessionInfo> {
        let mut v: Vec<_> = self
            .shared
            .lock_sessions()
            .values()
            .map(|s| SessionInfo {
                session: s.session.clone(),
                submits: s.counters.submits.load(Ordering::Relaxed),
                throttled: s.counters.throttled.load(Ordering::Relaxed),
                delivered: s.counters.delivered.load(Ordering::Relaxed),
            })
            .collect();
        v.sort_by_key(|s| s.session.id);
        v
    }

    /// Stops accepting, asks every session to unbind (waiting up to `response_timeout` for
    /// each answer and for submits being handled), and waits for the sessions to end.
    pub async fn shutdown(&self) {
        self.shared.cancel.cancel();
        let accept = match self.accept.lock() {
            Ok(mut a) => a.take(),
            Err(p) => p.into_inner().take(),
        };
        if let Some(a) = accept {
            let _ = a.await;
        }
        let deadline = tokio::time::Instant::now() + self.shared.config.response_timeout * 2;
        loop {
            let (notify, empty) = {
                let s = self.shared.lock_sessions();
                (s.values().next().map(|e| e.closed.clone()), s.is_empty())
            };
            if empty {
                break;
            }
            if let Some(closed) = notify
                && tokio::time::timeout_at(deadline, closed.cancelled())
                    .await
                    .is_err()
            {
                break;
            }
        }
    }
}

/// What the handle asks of a session task.
pub(crate) enum Command {
    Deliver {
        pdu: Box<rusmpp::pdus::DeliverSm>,
        reply: oneshot::Sender<Result<(), DeliverError>>,
        permit: OwnedSemaphorePermit,
    },
}

#[derive(Debug, Default)]
pub(crate) struct SessionCounters {
    pub(crate) submits: AtomicU64,
    pub(crate) throttled: AtomicU64,
    pub(crate) delivered: AtomicU64,
}

pub(crate) struct SessionEntry {
    pub(crate) session: Session,
    pub(crate) counters: Arc<SessionCounters>,
    /// Cancelled when the session task ends.
    pub(crate) closed: CancellationToken,
}

#[derive(Clone)]
pub(crate) struct Receiver {
    pub(crate) session_id: u64,
    pub(crate) tx: mpsc::Sender<Command>,
    pub(crate) window: Arc<Semaphore>,
}

pub(crate) struct Shared {
    pub(crate) config: ServerConfig,
    pub(crate) handler: Arc<dyn ServerHandler>,
    pub(crate) receivers: Mutex<HashMap<ApiKeyId, Vec<Receiver>>>,
    pub(crate) sessions: Mutex<HashMap<u64, SessionEntry>>,
    pub(crate) next_session: AtomicU64,
    rr: AtomicU64,
    pub(crate) cancel: CancellationToken,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn lock_receivers(&self) -> MutexGuard<'_, HashMap<ApiKeyId, Vec<Receiver>>> {
        match self.receivers.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    pub(crate) fn lock_sessions(&self) -> MutexGuard<'_, HashMap<u64, SessionEntry>> {
        match self.sessions.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn pick_receiver(&self, account: ApiKeyId) -> Option<Receiver> {
        let map = self.lock_receivers();
        let list = map.get(&account)?;
        let live: Vec<&Receiver> = list.iter().filter(|r| !r.tx.is_closed()).collect();
        if live.is_empty() {
            return None;
        }
        let i = self.rr.fetch_add(1, Ordering::Relaxed) as usize % live.len();
        live.get(i).map(|r| (*r).clone())
    }
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shared.cancel.cancelled() => return,
        };
        match accepted {
            Ok((tcp, peer)) => {
                if let Err(e) = tcp.set_nodelay(true) {
                    tracing::warn!(%peer, %e, "TCP_NODELAY failed");
                }
                let id = shared.next_session.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(session::run(shared.clone(), id, tcp, peer));
            }
            Err(e) => {
                // EMFILE and friends: log, back off briefly, keep serving the sessions we have.
                tracing::warn!(%e, "SMPP accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
