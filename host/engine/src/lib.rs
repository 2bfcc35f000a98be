//! The message lifecycle (DESIGN "Message lifecycle"): accept, schedule, submit, delivery reports,
//! inbound, crash recovery and graceful shutdown, wired around the store, the pure policy in
//! `route` and the carriers.
//!
//! [`Engine`] is what every front door talks to. It owns three tasks: the dispatcher (the only
//! place attempts start and end), the event task (delivery reports and inbound SMS from carriers)
//! and housekeeping (reassembly timeouts). Invariants kept here: a message is in the store before
//! [`Engine::submit`] answers; an inbound part is acknowledged to its carrier only after it is
//! stored; every attempt ends in exactly one recorded outcome.
#![forbid(unsafe_code)]

pub mod accept;
pub mod admin;
mod dispatch;
mod events;
pub mod parts;
mod queue;
pub mod receipts;
mod via;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use carriers::{Carrier, CarrierEvent, CarrierStatus};
use domain::{ApiKeyId, CarrierId, MessageId, MessageState, OperatorId, UnixMillis};
use route::{Candidate, Policy};
use store::{Accepted, ApiKey, DlrApplied, InboundMessage, Source, Store, StoreError};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

pub use accept::{AcceptConfig, FieldError, SendRequest, Signature, SignaturePosition};

use dispatch::{Dispatcher, Inbox};
use queue::{Live, Queue};

/// Everything the engine needs besides the store and the carriers.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Validation and signature rules.
    pub accept: AcceptConfig,
    /// The scheduling policy (routing, health, limits, retries, re-sends).
    pub policy: Arc<Policy>,
    /// How long parts of a concatenated inbound message wait for their siblings.
    pub reassembly_timeout: Duration,
}

/// Something that happened to a message, for front doors that notify clients (webhooks, DLR
/// URLs, SMPP receipts) and for the dashboard.
#[derive(Clone, Debug)]
pub enum Event {
    /// A carrier accepted every part.
    Submitted {
        /// The message.
        id: MessageId,
    },
    /// A delivery report was applied to a part.
    Report(DlrApplied),
    /// The message reached a final state without a report (failed, expired).
    Final {
        /// The message.
        id: MessageId,
        /// Its final state.
        state: MessageState,
    },
    /// An inbound message was stored complete (or released incomplete).
    Inbound(InboundMessage),
}

/// Why a submission was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// Some fields are invalid; nothing was stored.
    #[error("invalid request")]
    Invalid(Vec<FieldError>),
    /// The store could not take it (disk full, database error); nothing was stored.
    #[error("storage unavailable: {0}")]
    Unavailable(#[from] StoreError),
    /// The engine is shutting down.
    #[error("shutting down")]
    ShuttingDown,
}

/// State shared between the engine handle and its tasks.
pub(crate) struct Shared {
    pub(crate) events: broadcast::Sender<Event>,
    pub(crate) statuses: RwLock<Vec<CarrierStatus>>,
    /// Each carrier's operator channel (for re-send rules), refreshed with the statuses.
    pub(crate) channels: RwLock<HashMap<CarrierId, Option<OperatorId>>>,
    /// Carriers an admin switched off.
    pub(crate) disabled: RwLock<HashSet<CarrierId>>,
    pub(crate) queued: AtomicU64,
    pub(crate) in_flight: AtomicU64,
    pub(crate) accepted: AtomicU64,
}

impl Shared {
    pub(crate) fn emit(&self, event: Event) {
        // No subscriber is fine: notifications are best effort, the store is the record.
        let _ = self.events.send(event);
    }
}

struct Inner {
    store: Store,
    config: EngineConfig,
    /// The accept rules in force: `config.accept` with the settings page's signature and default
    /// country ([`Engine::set_accept_config`]); every front door validates with these.
    accept: RwLock<Arc<AcceptConfig>>,
    carriers: Vec<Arc<dyn Carrier>>,
    inbox: mpsc::UnboundedSender<Inbox>,
    shared: Arc<Shared>,
    keys: RwLock<HashMap<String, (ApiKey, std::time::Instant)>>,
    tasks: std::sync::Mutex<Vec<JoinHandle<()>>>,
    closing: std::sync::atomic::AtomicBool,
}

/// The running lifecycle; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

/// Counters for `/metrics` and the dashboard.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Messages waiting in the dispatcher (due or scheduled).
    pub queued: u64,
    /// Attempts in flight.
    pub in_flight: u64,
    /// Messages accepted since start.
    pub accepted: u64,
    /// Store writes committed since start.
    pub commits: u64,
    /// Store write jobs since start.
    pub writes: u64,
}

/// How long a verified API key is trusted before the store is asked again (revocation delay).
const KEY_CACHE_TTL: Duration = Duration::from_secs(30);

impl Engine {
    /// Recovers from a previous run, loads the live queue and starts the engine's tasks.
    /// `events` is the receiving end of the channel every carrier was given.
    pub async fn start(
        store: Store,
        carriers: Vec<Arc<dyn Carrier>>,
        events: mpsc::Receiver<CarrierEvent>,
        config: EngineConfig,
    ) -> Result<Engine, StoreError> {
        // Load libphonenumber's metadata now, not on the first request (it takes ~1 s in debug
        // builds and would stall that request).
        let _ = domain::Msisdn::parse("+8613800138000", &config.accept.numbers);
        let now = UnixMillis::now();
        let recovery = store.recover(now).await?;
        if recovery.requeued > 0 {
            tracing::warn!(
                requeued = recovery.requeued,
                lost_attempts = recovery.lost_attempts,
                "recovered messages that were in flight when the service stopped"
            );
        }
        let mut queue = Queue::default();
        for p in store.load_live().await? {
            if p.state == MessageState::Queued {
                queue.push(Live::from(p));
            }
        }
        let table: Vec<Candidate> = carriers
            .iter()
            .map(|c| {
                Candidate::new(
                    &config.policy,
                    c.id().clone(),
                    dispatch::route_kind(c.kind()),
                    now,
                )
            })
            .collect();
        let (inbox_tx, inbox) = mpsc::unbounded_channel();
        let (events_tx, _) = broadcast::channel(4096);
        let shared = Arc::new(Shared {
            events: events_tx,
            statuses: RwLock::new(carriers.iter().map(|c| c.status()).collect()),
            channels: RwLock::new(HashMap::new()),
            disabled: RwLock::new(HashSet::new()),
            queued: AtomicU64::new(queue.len() as u64),
            in_flight: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
        });
        let dispatcher = Dispatcher {
            store: store.clone(),
            policy: config.policy.clone(),
            carriers: carriers.clone(),
            table,
            queue,
            parked: Vec::new(),
            inbox,
            inbox_tx: inbox_tx.clone(),
            shared: shared.clone(),
            rotation: 0,
            in_flight: HashSet::new(),
            refreshed: None,
        };
        let engine = Engine {
            inner: Arc::new(Inner {
                store,
                accept: RwLock::new(Arc::new(config.accept.clone())),
                config,
                carriers,
                inbox: inbox_tx,
                shared,
                keys: RwLock::new(HashMap::new()),
                tasks: std::sync::Mutex::new(Vec::new()),
                closing: std::sync::atomic::AtomicBool::new(false),
            }),
        };
        let tasks = vec![
            tokio::spawn(dispatcher.run()),
            tokio::spawn(events::run(engine.clone(), events)),
            tokio::spawn(events::housekeeping(engine.clone())),
        ];
        if let Ok(mut t) = engine.inner.tasks.lock() {
            t.extend(tasks);
        }
        Ok(engine)
    }

    /// Validates and stores `requests` (all or none), then schedules them. Resolves once they are
    /// durable; duplicates of an earlier idempotency key come back with `duplicate: true`.
    ///
    /// Cancellation: dropping the future after validation does not unstore the messages (the
    /// write is already queued); clients retry with the same idempotency key.
    pub async fn submit(
        &self,
        api_key: Option<ApiKeyId>,
        source: Source,
        requests: &[SendRequest],
    ) -> Result<Vec<Accepted>, SubmitError> {
        if self.inner.closing.load(Ordering::Relaxed) {
            return Err(SubmitError::ShuttingDown);
        }
        let now = UnixMillis::now();
        let accept_config = self.accept_config();
        let mut messages = Vec::with_capacity(requests.len());
        let mut errors = Vec::new();
        let many = requests.len() > 1;
        for (i, req) in requests.iter().enumerate() {
            match accept::validate(req, &accept_config, api_key, source, now) {
                Ok(m) => messages.push(m),
                Err(errs) if many => errors.extend(
                    errs.into_iter()
                        .map(|e| e.within(&format!("messages[{i}]"))),
                ),
                Err(errs) => errors.extend(errs),
            }
        }
        if !errors.is_empty() {
            return Err(SubmitError::Invalid(errors));
        }
        let stored = self.inner.store.accept(messages.clone()).await?;
        for (m, a) in messages.into_iter().zip(&stored) {
            if a.duplicate {
                continue;
            }
            let live = Live {
                id: a.id,
                to: m.to,
                sender: m.sender,
                body: Arc::from(m.body),
                encoding: m.encoding,
                parts: m.parts,
                priority: m.priority,
                expires_at: m.expires_at,
                next_attempt_at: m.not_before.unwrap_or(now),
                round: 0,
                attempts: 0,
                tried: Vec::new(),
                carried: Vec::new(),
                avoid: Vec::new(),
            };
            let _ = self.inner.inbox.send(Inbox::New(live));
        }
        self.inner.shared.accepted.fetch_add(
            stored.iter().filter(|a| !a.duplicate).count() as u64,
            Ordering::Relaxed,
        );
        Ok(stored)
    }

    /// The live API key for `secret`, cached briefly so the API does not hit the database on
    /// every request.
    pub async fn authenticate(&self, secret: &str) -> Result<Option<ApiKey>, StoreError> {
        if let Ok(cache) = self.inner.keys.read()
            && let Some((key, at)) = cache.get(secret)
            && at.elapsed() < KEY_CACHE_TTL
        {
            return Ok(Some(key.clone()));
        }
        let key = self.inner.store.verify_api_key(secret.to_owned()).await?;
        if let (Some(k), Ok(mut cache)) = (&key, self.inner.keys.write()) {
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert(secret.to_owned(), (k.clone(), std::time::Instant::now()));
        }
        Ok(key)
    }

    /// Forgets cached keys (after a revocation).
    pub fn forget_keys(&self) {
        if let Ok(mut cache) = self.inner.keys.write() {
            cache.clear();
        }
    }

    /// The store, for queries.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The engine's configuration (as started; [`Engine::accept_config`] has the accept rules in
    /// force).
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// The accept rules every front door validates with now.
    pub fn accept_config(&self) -> Arc<AcceptConfig> {
        self.inner
            .accept
            .read()
            .map(|c| Arc::clone(&c))
            .unwrap_or_else(|poisoned| Arc::clone(&poisoned.into_inner()))
    }

    /// Replaces the accept rules (the settings page's signature and default country); requests
    /// validated from now on use them, stored messages keep the text they were accepted with.
    pub fn set_accept_config(&self, config: AcceptConfig) {
        match self.inner.accept.write() {
            Ok(mut c) => *c = Arc::new(config),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(config),
        }
    }

    /// The carriers, in configuration order.
    pub fn carriers(&self) -> &[Arc<dyn Carrier>] {
        &self.inner.carriers
    }

    /// The latest status snapshot of every carrier (refreshed by the dispatcher).
    pub fn carrier_statuses(&self) -> Vec<CarrierStatus> {
        self.inner
            .shared
            .statuses
            .read()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// Switches a carrier on or off for scheduling (an admin action; in-flight attempts finish).
    pub fn set_enabled(&self, carrier: &CarrierId, enabled: bool) {
        if let Ok(mut d) = self.inner.shared.disabled.write() {
            if enabled {
                d.remove(carrier);
            } else {
                d.insert(carrier.clone());
            }
        }
        let _ = self.inner.inbox.send(Inbox::Wake);
    }

    /// Subscribes to lifecycle events.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.shared.events.subscribe()
    }

    /// Counters.
    pub fn stats(&self) -> EngineStats {
        let s = &self.inner.shared;
        let st = self.inner.store.stats();
        EngineStats {
            queued: s.queued.load(Ordering::Relaxed),
            in_flight: s.in_flight.load(Ordering::Relaxed),
            accepted: s.accepted.load(Ordering::Relaxed),
            commits: st.commits,
            writes: st.jobs,
        }
    }

    /// Tells the dispatcher that carrier statuses changed.
    pub fn wake(&self) {
        let _ = self.inner.inbox.send(Inbox::Wake);
    }

    /// Graceful shutdown: refuse new submissions, let attempts in flight finish (at most
    /// `grace`), drain the carriers, and flush the store. Messages not yet attempted stay
    /// queued in the database for the next start.
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.closing.store(true, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        if self.inner.inbox.send(Inbox::Drain(grace, tx)).is_ok() {
            let _ = tokio::time::timeout(grace + Duration::from_secs(1), rx).await;
        }
        for c in &self.inner.carriers {
            let _ = tokio::time::timeout(grace, c.drain()).await;
        }
        if let Ok(mut tasks) = self.inner.tasks.lock() {
            for t in tasks.drain(..) {
                t.abort();
            }
        }
        if let Err(e) = self.inner.store.flush().await {
            tracing::error!(error = %e, "final store flush failed");
        }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.inner.shared
    }

    pub(crate) fn requeue(&self, live: Live) {
        let _ = self.inner.inbox.send(Inbox::New(live));
    }
}
