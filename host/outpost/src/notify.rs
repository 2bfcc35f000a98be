//! Notifications to clients from the durable outbox (`store::outbox`): Kannel-style `dlr-url`
//! callbacks (GET with `%d %p %T %A …` filled in), JSON `callback_url` webhooks (POST), SMPP
//! receipts to the application's receiver or transceiver bind, and MO to bound receivers.
//!
//! Three tasks. The *collector* turns the engine's lifecycle events (announced after their
//! commit) into outbox rows, in batches: one read for the messages' details, one write for the
//! rows. The *dispatcher* delivers rows — new ones at once, owed ones when due or when their SMPP
//! application binds — with bounded concurrency and retries with doubling delays, bounded in
//! attempts and in time. The *recorder* writes the results in batches. A row is delivered at
//! least once: a crash between a successful call and its record repeats that call.
//!
//! Nothing owed is lost on a crash: rows are on disk; a report whose notification had not been
//! written yet is found again at start by [`store::Store::notifications_owed`], and MO by
//! replaying recent inbound messages (writing a row twice is a no-op).
//!
//! Kannel DLR types (Kannel user guide, `dlr-mask`): 1 delivered to phone, 2 not delivered to
//! phone, 4 queued on SMSC, 8 delivered to SMSC, 16 not delivered to SMSC. Outpost reports per
//! message (not per part): 1 and 2 from the final delivery report, 8 when every part was
//! accepted by a carrier, 4 for an intermediate report, 16 when the message failed without ever
//! reaching a network (2 instead if the mask asks for 2 but not 16).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use domain::{ApiKeyId, DlrStatus, MessageId, MessageState, UnixMillis};
use engine::{Engine, Event};
use serde_json::json;
use smpp::message::Address;
use smpp::receipt::{ReceiptTime, format_text};
use smpp::server::{DeliverError, DeliverRequest, ServerHandle};
use store::{Delivery, InboundMessage, NewNotification, Notification, NotifyInfo, Source, Store};
use tokio::sync::{Semaphore, broadcast, mpsc};
use tokio::task::JoinHandle;

use crate::config::{MoRoute, NotifySettings};
use crate::smpp_server::{PART_ID_BASE, message_id_text};

/// Events taken in one batch at most.
const BATCH: usize = 1024;
/// Rows read per poll of the outbox.
const POLL: u32 = 512;
/// How often the outbox is polled for rows that became due.
const POLL_EVERY: Duration = Duration::from_secs(1);
/// How long an SMPP notification waits when its application is not bound (a bind wakes it).
const UNBOUND_WAIT: Duration = Duration::from_secs(30);
/// How far back the start-up catch-up looks before the newest outbox row.
const CATCH_UP_MARGIN: Duration = Duration::from_secs(600);

/// What a lifecycle event asks to tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum What {
    /// Every part was accepted by a carrier.
    Submitted,
    /// An intermediate delivery report.
    Buffered,
    /// The message reached a final state; with the report that made it so, if one did.
    Final {
        /// Report status and error code.
        report: Option<(DlrStatus, Option<String>)>,
    },
}

/// Everything the notifier needs.
#[derive(Clone)]
pub struct Notifier {
    store: Store,
    settings: NotifySettings,
    smpp: Option<ServerHandle>,
    mo_routes: Arc<Vec<MoRoute>>,
    http: reqwest::Client,
    names: Arc<std::sync::Mutex<HashMap<ApiKeyId, String>>>,
}

/// The running notifier's tasks.
pub struct Running {
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops every task; owed rows stay in the outbox for the next start.
    pub fn stop(self) {
        for t in self.tasks {
            t.abort();
        }
    }
}

impl Notifier {
    /// A notifier for `engine`'s store; `smpp` delivers receipts and MO when the SMPP server runs.
    pub fn new(
        store: Store,
        settings: NotifySettings,
        smpp: Option<ServerHandle>,
        mo_routes: Vec<MoRoute>,
    ) -> anyhow::Result<Notifier> {
        // https callbacks use rustls with the ring provider (already in the binary for SMPP TLS).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .pool_max_idle_per_host(settings.concurrency)
            .tcp_nodelay(true)
            .user_agent(concat!("outpost/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Notifier {
            store,
            settings,
            smpp,
            mo_routes: Arc::new(mo_routes),
            http,
            names: Arc::default(),
        })
    }

    /// Starts the tasks: subscribes to `engine`'s events first, catches up on what a previous
    /// run may have missed, then delivers. `binds` announces SMPP binds (what waited for them
    /// goes out at once).
    pub fn start(
        self,
        engine: &Engine,
        binds: Option<mpsc::UnboundedReceiver<ApiKeyId>>,
    ) -> Running {
        let events = engine.subscribe();
        let (new_tx, new_rx) = mpsc::unbounded_channel();
        let (result_tx, result_rx) = mpsc::unbounded_channel();
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let tasks = vec![
            tokio::spawn(self.clone().collector(events, new_tx)),
            tokio::spawn(self.clone().dispatcher(new_rx, binds, done_rx, result_tx)),
            tokio::spawn(self.clone().recorder(result_rx, done_tx)),
            tokio::spawn(self.housekeeping()),
        ];
        Running { tasks }
    }

    // ---- collector: events → outbox rows ----

    async fn collector(
        self,
        mut events: broadcast::Receiver<Event>,
        new: mpsc::UnboundedSender<Notification>,
    ) {
        let since = match self.store.outbox_latest().await {
            Ok(Some(t)) => UnixMillis(t.0.saturating_sub(millis(CATCH_UP_MARGIN))),
            _ => UnixMillis(UnixMillis::now().0.saturating_sub(3_600_000)),
        };
        self.catch_up(since, &new).await;
        loop {
            let mut batch = Vec::new();
            match events.recv().await {
                Ok(e) => batch.push(e),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(
                        missed = n,
                        "notifier fell behind the engine's events; catching up from the store"
                    );
                    let since =
                        UnixMillis(UnixMillis::now().0.saturating_sub(millis(CATCH_UP_MARGIN)));
                    self.catch_up(since, &new).await;
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
            while batch.len() < BATCH {
                match events.try_recv() {
                    Ok(e) => batch.push(e),
                    Err(_) => break,
                }
            }
            self.collect(batch, &new).await;
        }
    }

    async fn collect(&self, batch: Vec<Event>, new: &mpsc::UnboundedSender<Notification>) {
        let mut wanted: Vec<(MessageId, What)> = Vec::new();
        let mut inbound = Vec::new();
        for e in batch {
            match e {
                Event::Submitted { id } => wanted.push((id, What::Submitted)),
                Event::Report(a) if a.became_final => wanted.push((
                    a.message_id,
                    What::Final {
                        report: Some((a.status, a.error)),
                    },
                )),
                Event::Report(a) if a.status == DlrStatus::Enroute && !a.requeued => {
                    wanted.push((a.message_id, What::Buffered));
                }
                Event::Report(_) => {}
                Event::Final { id, .. } => wanted.push((id, What::Final { report: None })),
                Event::Inbound(m) => inbound.push(m),
            }
        }
        let mut rows = Vec::new();
        if !wanted.is_empty() {
            let ids: Vec<MessageId> = wanted.iter().map(|(id, _)| *id).collect();
            match self.store.notify_info(ids).await {
                Ok(infos) => {
                    let by_id: HashMap<MessageId, &NotifyInfo> =
                        infos.iter().map(|i| (i.id, i)).collect();
                    let now = UnixMillis::now();
                    let names = self.key_names(&infos).await;
                    for (id, what) in &wanted {
                        if let Some(info) = by_id.get(id) {
                            let name = info.api_key.and_then(|k| names.get(&k)).map(String::as_str);
                            rows.extend(build(info, what, now, name));
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "notifier could not read messages; the start-up catch-up will find final ones")
                }
            }
        }
        if !inbound.is_empty() {
            rows.extend(self.mo_rows(&inbound).await);
        }
        self.add(rows, new).await;
    }

    async fn add(&self, rows: Vec<NewNotification>, new: &mpsc::UnboundedSender<Notification>) {
        if rows.is_empty() {
            return;
        }
        match self.store.outbox_add(rows).await {
            Ok(created) => {
                for n in created {
                    let _ = new.send(n);
                }
            }
            Err(e) => tracing::error!(error = %e, "could not write notifications"),
        }
    }

    /// Writes what may have been missed since `since`: final notifications of messages, and MO.
    async fn catch_up(&self, since: UnixMillis, new: &mpsc::UnboundedSender<Notification>) {
        // Bounded: each page's rows leave the query once written.
        for _ in 0..1000 {
            let owed = match self.store.notifications_owed(since, 500).await {
                Ok(o) => o,
                Err(e) => {
                    tracing::error!(error = %e, "notification catch-up failed");
                    return;
                }
            };
            if owed.is_empty() {
                break;
            }
            let now = UnixMillis::now();
            let names = self.key_names(&owed).await;
            let mut rows = Vec::new();
            for info in &owed {
                let name = info.api_key.and_then(|k| names.get(&k)).map(String::as_str);
                let built = build(info, &What::Final { report: None }, now, name);
                if built.is_empty() {
                    // Wants nothing for this outcome: mark it so the query moves on.
                    rows.push(NewNotification {
                        kind: "dlr",
                        ref_id: info.id.0,
                        channel: "none",
                        event: "failed",
                        target: String::new(),
                        payload: String::new(),
                        at: now,
                    });
                }
                rows.extend(built);
            }
            let n = rows.len();
            self.add(rows, new).await;
            tracing::info!(
                notifications = n,
                "caught up on notifications a previous run owed"
            );
        }
        if self.mo_routes.is_empty() {
            return;
        }
        let mut before = None;
        for _ in 0..100 {
            let page = match self.store.inbound_list(before, None, 500).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(error = %e, "MO catch-up failed");
                    return;
                }
            };
            let recent: Vec<InboundMessage> = page
                .iter()
                .filter(|m| m.received_at >= since)
                .cloned()
                .collect();
            let more = recent.len() == page.len() && page.len() == 500;
            before = page.last().map(|m| m.id);
            let rows = self.mo_rows(&recent).await;
            self.add(rows, new).await;
            if !more {
                break;
            }
        }
    }

    /// API key names (for `%n`), refreshed when one is missing.
    async fn key_names(&self, infos: &[NotifyInfo]) -> HashMap<ApiKeyId, String> {
        let missing = {
            let names = self.names.lock().map(|n| n.clone()).unwrap_or_default();
            infos
                .iter()
                .filter_map(|i| i.api_key)
                .any(|k| !names.contains_key(&k))
        };
        if missing
            && let Ok(keys) = self.store.list_api_keys().await
            && let Ok(mut names) = self.names.lock()
        {
            names.clear();
            names.extend(keys.into_iter().map(|k| (k.id, k.name)));
        }
        self.names.lock().map(|n| n.clone()).unwrap_or_default()
    }

    async fn mo_rows(&self, inbound: &[InboundMessage]) -> Vec<NewNotification> {
        if self.mo_routes.is_empty() || inbound.is_empty() {
            return Vec::new();
        }
        let keys = match self.store.list_api_keys().await {
            Ok(k) => k,
            Err(e) => {
                tracing::error!(error = %e, "MO routing could not read API keys");
                return Vec::new();
            }
        };
        let mut rows = Vec::new();
        for m in inbound {
            let to = m.to.as_deref().unwrap_or("");
            for name in mo_targets(&self.mo_routes, to) {
                for k in keys
                    .iter()
                    .filter(|k| k.name == name && k.revoked_at.is_none())
                {
                    rows.push(NewNotification {
                        kind: "mo",
                        ref_id: m.id,
                        channel: "smpp",
                        event: "mo",
                        target: k.id.0.to_string(),
                        payload: json!({"from": m.from, "to": m.to, "text": m.body}).to_string(),
                        at: m.received_at,
                    });
                }
            }
        }
        rows
    }

    // ---- dispatcher: delivering rows ----

    async fn dispatcher(
        self,
        mut new: mpsc::UnboundedReceiver<Notification>,
        mut binds: Option<mpsc::UnboundedReceiver<ApiKeyId>>,
        mut done: mpsc::UnboundedReceiver<i64>,
        results: mpsc::UnboundedSender<(i64, Delivery)>,
    ) {
        let limit = Arc::new(Semaphore::new(self.settings.concurrency));
        let mut in_flight: HashSet<i64> = HashSet::new();
        let mut poll = tokio::time::interval(POLL_EVERY);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let mut due: Vec<Notification> = Vec::new();
            tokio::select! {
                n = new.recv() => match n {
                    Some(n) => {
                        due.push(n);
                        while due.len() < BATCH {
                            match new.try_recv() {
                                Ok(n) => due.push(n),
                                Err(_) => break,
                            }
                        }
                    }
                    None => return,
                },
                d = done.recv() => {
                    if let Some(id) = d {
                        in_flight.remove(&id);
                    }
                    while let Ok(id) = done.try_recv() {
                        in_flight.remove(&id);
                    }
                    continue;
                }
                key = async {
                    match binds.as_mut() {
                        Some(b) => b.recv().await,
                        None => std::future::pending().await,
                    }
                } => {
                    let Some(key) = key else {
                        binds = None;
                        continue;
                    };
                    // The session registers as a receiver right after its bind_resp.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    match self.store.outbox_due(UnixMillis(i64::MAX), Some("smpp"), Some(key.0.to_string()), POLL).await {
                        Ok(rows) => due = rows,
                        Err(e) => tracing::error!(error = %e, "outbox read failed"),
                    }
                }
                _ = poll.tick() => {
                    match self.store.outbox_due(UnixMillis::now(), None, None, POLL).await {
                        Ok(rows) => due = rows,
                        Err(e) => tracing::error!(error = %e, "outbox read failed"),
                    }
                }
            }
            for n in due {
                if !in_flight.insert(n.id) {
                    continue;
                }
                let Ok(permit) = limit.clone().acquire_owned().await else {
                    return;
                };
                let me = self.clone();
                let results = results.clone();
                tokio::spawn(async move {
                    let d = me.deliver(&n).await;
                    let _ = results.send((n.id, d));
                    drop(permit);
                });
            }
        }
    }

    async fn deliver(&self, n: &Notification) -> Delivery {
        let now = UnixMillis::now();
        let attempt = match n.channel.as_str() {
            "kannel" => self.http(self.http.get(&n.target)).await,
            "webhook" => {
                self.http(
                    self.http
                        .post(&n.target)
                        .header("content-type", "application/json")
                        .body(n.payload.clone()),
                )
                .await
            }
            "smpp" => match self.smpp(n).await {
                Ok(()) => Ok(()),
                Err(SmppFailure::NotBound) => {
                    return Delivery::Wait {
                        next_at: now.plus(UNBOUND_WAIT),
                    };
                }
                Err(SmppFailure::Permanent(e)) => return Delivery::GiveUp { error: e },
                Err(SmppFailure::Temporary(e)) => Err(e),
            },
            "none" => Ok(()),
            other => {
                return Delivery::GiveUp {
                    error: format!("unknown channel {other:?}"),
                };
            }
        };
        match attempt {
            Ok(()) => Delivery::Sent,
            Err(error) if n.attempts + 1 >= self.settings.max_attempts => {
                tracing::warn!(notification = n.id, %error, "notification given up after the last attempt");
                Delivery::GiveUp { error }
            }
            Err(error) => Delivery::Retry {
                next_at: now.plus(backoff(&self.settings, n.attempts)),
                error,
            },
        }
    }

    async fn http(&self, req: reqwest::RequestBuilder) -> Result<(), String> {
        match req.send().await {
            Ok(resp) if resp.status().is_success() => {
                // Read the body so the connection goes back to the pool.
                let _ = resp.bytes().await;
                Ok(())
            }
            Ok(resp) => Err(format!("HTTP {}", resp.status().as_u16())),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn smpp(&self, n: &Notification) -> Result<(), SmppFailure> {
        let Some(srv) = &self.smpp else {
            return Err(SmppFailure::Permanent(
                "the SMPP server is not configured".into(),
            ));
        };
        let key = n
            .target
            .parse::<i64>()
            .map(ApiKeyId)
            .map_err(|_| SmppFailure::Permanent(format!("bad target {:?}", n.target)))?;
        if !srv.can_deliver(key) {
            return Err(SmppFailure::NotBound);
        }
        let requests = match n.kind.as_str() {
            "mo" => mo_request(&n.payload).map(|r| vec![r]),
            _ => receipt_requests(&n.payload),
        }
        .ok_or_else(|| SmppFailure::Permanent("unreadable payload".into()))?;
        for req in requests {
            match srv.deliver(key, req).await {
                Ok(()) => {}
                Err(DeliverError::NotBound) => return Err(SmppFailure::NotBound),
                Err(DeliverError::Invalid(e)) => return Err(SmppFailure::Permanent(e.to_string())),
                Err(DeliverError::Rejected(st)) if st == smpp::status::RX_P_APPN => {
                    return Err(SmppFailure::Permanent(
                        DeliverError::Rejected(st).to_string(),
                    ));
                }
                Err(e) => return Err(SmppFailure::Temporary(e.to_string())),
            }
        }
        Ok(())
    }

    // ---- recorder: results → outbox ----

    async fn recorder(
        self,
        mut results: mpsc::UnboundedReceiver<(i64, Delivery)>,
        done: mpsc::UnboundedSender<i64>,
    ) {
        while let Some(first) = results.recv().await {
            let mut batch = vec![first];
            while batch.len() < BATCH {
                match results.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
            let ids: Vec<i64> = batch.iter().map(|(id, _)| *id).collect();
            if let Err(e) = self.store.outbox_record(batch, UnixMillis::now()).await {
                tracing::error!(error = %e, "could not record notification results; they will be tried again");
            }
            for id in ids {
                let _ = done.send(id);
            }
        }
    }

    async fn housekeeping(self) {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = UnixMillis::now();
            let before = UnixMillis(now.0.saturating_sub(millis(self.settings.retention)));
            match self.store.outbox_prune(before, before, now).await {
                Ok((expired, _)) if expired > 0 => {
                    tracing::warn!(
                        expired,
                        "notifications given up: older than notify.retention"
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "outbox housekeeping failed"),
            }
        }
    }
}

enum SmppFailure {
    NotBound,
    Temporary(String),
    Permanent(String),
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The delay before try `attempts + 1`: `retry_min` doubling, at most `retry_max`.
pub fn backoff(s: &NotifySettings, attempts: u32) -> Duration {
    let factor = 1u32.checked_shl(attempts.min(20)).unwrap_or(u32::MAX);
    s.retry_min.saturating_mul(factor).min(s.retry_max)
}

/// The accounts (API key names) MO to `to` goes to: the routes with the longest matching
/// prefix (all of them on a tie); `""` matches everything.
pub fn mo_targets<'r>(routes: &'r [MoRoute], to: &str) -> Vec<&'r str> {
    let digits = to.trim_start_matches('+');
    let matching: Vec<&MoRoute> = routes
        .iter()
        .filter(|r| digits.starts_with(&r.prefix))
        .collect();
    let Some(longest) = matching.iter().map(|r| r.prefix.len()).max() else {
        return Vec::new();
    };
    let mut out: Vec<&str> = matching
        .iter()
        .filter(|r| r.prefix.len() == longest)
        .map(|r| r.api_key.as_str())
        .collect();
    out.dedup();
    out
}

/// The receipt status a message's outcome is reported with.
fn final_status(info: &NotifyInfo, report: Option<&(DlrStatus, Option<String>)>) -> DlrStatus {
    match (info.state, report) {
        (MessageState::Delivered, _) => DlrStatus::Delivered,
        (MessageState::Expired, _) => DlrStatus::Expired,
        (_, Some((s, _))) if s.is_final() => *s,
        (MessageState::Undeliverable, _) => DlrStatus::Undeliverable,
        (MessageState::Failed, _)
            if info
                .error
                .as_deref()
                .is_some_and(|e| e.contains("cancelled")) =>
        {
            DlrStatus::Deleted
        }
        _ => DlrStatus::Rejected,
    }
}

/// The numeric error code of a report (`err:` / TP-ST), 0 if none.
fn error_code(report: Option<&(DlrStatus, Option<String>)>) -> u16 {
    report
        .and_then(|(_, e)| e.as_deref())
        .and_then(|e| {
            let e = e.trim();
            e.strip_prefix("0x")
                .map_or_else(|| e.parse().ok(), |h| u16::from_str_radix(h, 16).ok())
        })
        .unwrap_or(0)
}

/// The notifications one event owes for one message.
pub fn build(
    info: &NotifyInfo,
    what: &What,
    now: UnixMillis,
    key_name: Option<&str>,
) -> Vec<NewNotification> {
    let mut out = Vec::new();
    let row = |channel: &'static str, event: &'static str, target: String, payload: String| {
        NewNotification {
            kind: "dlr",
            ref_id: info.id.0,
            channel,
            event,
            target,
            payload,
            at: now,
        }
    };
    let report = match what {
        What::Final { report } => report.as_ref(),
        _ => None,
    };
    match (info.source, &info.dlr_url, info.dlr_mask) {
        // Kannel sendsms: a GET of dlr-url for each requested DLR type.
        (Source::Sendsms, Some(url), Some(mask)) => {
            let kind = match what {
                What::Submitted => Some((8u8, "submitted")),
                What::Buffered => Some((4, "buffered")),
                What::Final { .. } => match info.state {
                    MessageState::Delivered => Some((1, "delivered")),
                    MessageState::Undeliverable | MessageState::Expired => Some((2, "failed")),
                    MessageState::Failed if mask & 16 != 0 => Some((16, "rejected")),
                    MessageState::Failed => Some((2, "failed")),
                    _ => None,
                },
            };
            if let Some((t, event)) = kind.filter(|(t, _)| mask & t != 0) {
                let reply = match t {
                    8 => "ACK/".to_owned(),
                    16 => format!("NACK/{}", info.error.as_deref().unwrap_or("")),
                    _ => receipt_text(info, what, now),
                };
                let fill = KannelFill {
                    dlr_type: t,
                    reply: &reply,
                    info,
                    now,
                    username: key_name.unwrap_or(""),
                };
                out.push(row("kannel", event, fill_kannel(url, &fill), String::new()));
            }
        }
        // JSON API: one POST when the message is final.
        (Source::Http | Source::Web | Source::Test, Some(url), None)
            if matches!(what, What::Final { .. }) && info.state.is_final() =>
        {
            let payload = json!({
                "id": info.id.0,
                "client_ref": info.client_ref,
                "to": info.to,
                "state": info.state.as_str(),
                "status": final_status(info, report).as_str(),
                "error": info.error,
                "parts": info.parts,
                "at": info.final_at.unwrap_or(now).0,
            });
            out.push(row(
                "webhook",
                final_event(info.state),
                url.clone(),
                payload.to_string(),
            ));
        }
        // SMPP: receipts to the application's bind, per its registered_delivery.
        (Source::Smpp, _, mask) if info.report && matches!(what, What::Final { .. }) => {
            let Some(key) = info.api_key else {
                return out;
            };
            let stat = final_status(info, report);
            let failures_only = mask == Some(2);
            if failures_only && stat == DlrStatus::Delivered {
                return out;
            }
            let ids: Vec<String> = if info.part_ids.is_empty() {
                vec![message_id_text(info.id)]
            } else {
                info.part_ids
                    .iter()
                    .map(|p| PART_ID_BASE.saturating_add(*p).to_string())
                    .collect()
            };
            let payload = json!({
                "ids": ids,
                "stat": stat.as_str(),
                "err": error_code(report),
                "to": info.to,
                "from": info.sender,
                "submit": info.created_at.0,
                "done": info.final_at.unwrap_or(now).0,
                "text": info.body.chars().take(20).collect::<String>(),
            });
            out.push(row(
                "smpp",
                final_event(info.state),
                key.0.to_string(),
                payload.to_string(),
            ));
        }
        _ => {}
    }
    out
}

fn final_event(state: MessageState) -> &'static str {
    match state {
        MessageState::Delivered => "delivered",
        MessageState::Failed => "rejected",
        _ => "failed",
    }
}

/// The `%A` text of a DLR: the receipt as an SMSC would word it.
fn receipt_text(info: &NotifyInfo, what: &What, now: UnixMillis) -> String {
    let (stat, report) = match what {
        What::Final { report } => (final_status(info, report.as_ref()), report.as_ref()),
        _ => (DlrStatus::Enroute, None),
    };
    format_text(
        &message_id_text(info.id),
        stat,
        ReceiptTime::from_unix_millis_utc(info.created_at),
        ReceiptTime::from_unix_millis_utc(info.final_at.unwrap_or(now)),
        error_code(report),
        &info.body,
    )
}

/// What a Kannel `dlr-url` escape can say.
pub struct KannelFill<'a> {
    /// `%d`.
    pub dlr_type: u8,
    /// `%A`.
    pub reply: &'a str,
    /// The message.
    pub info: &'a NotifyInfo,
    /// `%T`/`%t`.
    pub now: UnixMillis,
    /// `%n`: the sendsms user (API key name).
    pub username: &'a str,
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b));
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Fills Kannel's escape codes in a `dlr-url` (Kannel user guide, "sms-service" escapes as
/// applied to DLRs): `%d` DLR type, `%A` SMSC reply, `%p` the handset (the DLR's sender), `%P`
/// the original sender, `%q`/`%Q` the same with `+`, `%T` Unix time, `%t` `YYYY-MM-DD HH:MM:SS`,
/// `%i` carrier id, `%I` message id, `%n` sendsms user, `%b`/`%a` text, `%%` a percent sign.
/// Values are URL-encoded; unknown escapes stay as written.
pub fn fill_kannel(url: &str, f: &KannelFill<'_>) -> String {
    let mut out = String::with_capacity(url.len() + 64);
    let mut chars = url.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(code) = chars.next() else {
            out.push('%');
            break;
        };
        let handset = f.info.to.trim_start_matches('+');
        let sender = f.info.sender.as_deref().unwrap_or("");
        let value = match code {
            'd' => f.dlr_type.to_string(),
            'A' => f.reply.to_owned(),
            'p' => handset.to_owned(),
            'q' => format!("+{handset}"),
            'P' => sender.to_owned(),
            'Q' => sender
                .strip_prefix("00")
                .map_or_else(|| sender.to_owned(), |s| format!("+{s}")),
            'T' => (f.now.0 / 1000).to_string(),
            't' => {
                let r = ReceiptTime::from_unix_millis_utc(f.now);
                format!(
                    "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                    r.year, r.month, r.day, r.hour, r.minute, r.second
                )
            }
            'i' => f.info.carrier.clone().unwrap_or_default(),
            'I' => f.info.id.0.to_string(),
            'n' => f.username.to_owned(),
            'a' | 'b' => f.info.body.clone(),
            '%' => {
                out.push('%');
                continue;
            }
            other => {
                out.push('%');
                out.push(other);
                continue;
            }
        };
        out.push_str(&url_encode(&value));
    }
    out
}

fn address(number: &str) -> Address {
    if let Some(d) = number.strip_prefix('+') {
        Address::international(d)
    } else if !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) {
        Address {
            ton: 0,
            npi: 1,
            addr: number.to_owned(),
        }
    } else if number.is_empty() {
        Address::default()
    } else {
        Address::alphanumeric(number)
    }
}

fn receipt_requests(payload: &str) -> Option<Vec<DeliverRequest>> {
    let v: serde_json::Value = serde_json::from_str(payload).ok()?;
    let stat = DlrStatus::from_name(v["stat"].as_str()?)?;
    let err = u16::try_from(v["err"].as_u64().unwrap_or(0)).unwrap_or(u16::MAX);
    let submit = ReceiptTime::from_unix_millis_utc(UnixMillis(v["submit"].as_i64()?));
    let done = ReceiptTime::from_unix_millis_utc(UnixMillis(v["done"].as_i64()?));
    let to = address(v["to"].as_str()?);
    let from = address(v["from"].as_str().unwrap_or(""));
    let text = v["text"].as_str().unwrap_or("");
    v["ids"]
        .as_array()?
        .iter()
        .map(|id| {
            Some(DeliverRequest::receipt(
                id.as_str()?,
                stat,
                submit,
                done,
                err,
                text,
                to.clone(),
                from.clone(),
            ))
        })
        .collect()
}

/// An MO as deliver_sm: GSM 7-bit (one septet per octet, `data_coding` 0) when the text fits
/// the default alphabet, else UCS-2 (8); longer than `short_message` allows goes in
/// `message_payload`.
fn mo_request(payload: &str) -> Option<DeliverRequest> {
    let v: serde_json::Value = serde_json::from_str(payload).ok()?;
    let text = v["text"].as_str()?;
    let from = address(v["from"].as_str()?);
    let to = address(v["to"].as_str().unwrap_or(""));
    let (dcs, bytes) = match gsm::gsm7::count_septets(text) {
        Ok(n) => {
            let mut buf = vec![0u8; n];
            let len = gsm::gsm7::encode_unpacked(text, &mut buf).ok()?;
            buf.truncate(len);
            (0u8, buf)
        }
        Err(_) => {
            let mut buf = vec![0u8; gsm::ucs2::units(text) * 2];
            let len = gsm::ucs2::encode(text, &mut buf).ok()?;
            buf.truncate(len);
            (8u8, buf)
        }
    };
    let mut req = DeliverRequest::mo(from, to, dcs, Bytes::new());
    if bytes.len() > 254 {
        req.payload = Some(Bytes::from(bytes));
    } else {
        req.short_message = Bytes::from(bytes);
    }
    Some(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(source: Source, state: MessageState) -> NotifyInfo {
        NotifyInfo {
            id: MessageId(42),
            api_key: Some(ApiKeyId(7)),
            source,
            client_ref: Some("r1".into()),
            to: "+4917012345678".into(),
            sender: Some("0049123".into()),
            body: "hello world, this is long".into(),
            parts: 1,
            state,
            created_at: UnixMillis(1_700_000_000_000),
            final_at: Some(UnixMillis(1_700_000_005_000)),
            error: None,
            carrier: Some("smsc-a".into()),
            report: true,
            dlr_url: Some(
                "http://h/dlr?t=%d&to=%p&q=%q&from=%Q&at=%T&id=%I&c=%i&u=%n&x=%x&p=100%%".into(),
            ),
            dlr_mask: Some(3),
            part_ids: Vec::new(),
        }
    }

    fn kannel(mask: u8, state: MessageState, what: What) -> Vec<String> {
        let mut i = info(Source::Sendsms, state);
        i.dlr_mask = Some(mask);
        build(&i, &what, UnixMillis(1_700_000_006_000), Some("ops"))
            .into_iter()
            .map(|n| format!("{} {}", n.event, n.target))
            .collect()
    }

    const DONE: What = What::Final { report: None };

    #[test]
    fn kannel_dlr_types_follow_the_mask() {
        let url = |t: u8| {
            format!(
                "http://h/dlr?t={t}&to=4917012345678&q=%2B4917012345678&from=%2B49123&at=1700000006&id=42&c=smsc-a&u=ops&x=%x&p=100%"
            )
        };
        assert_eq!(
            kannel(3, MessageState::Delivered, DONE),
            [format!("delivered {}", url(1))]
        );
        assert_eq!(
            kannel(3, MessageState::Undeliverable, DONE),
            [format!("failed {}", url(2))]
        );
        assert_eq!(
            kannel(1, MessageState::Undeliverable, DONE),
            Vec::<String>::new()
        );
        assert_eq!(
            kannel(2, MessageState::Failed, DONE),
            [format!("failed {}", url(2))]
        );
        assert_eq!(
            kannel(18, MessageState::Failed, DONE),
            [format!("rejected {}", url(16))]
        );
        assert_eq!(
            kannel(8, MessageState::Submitted, What::Submitted),
            [format!("submitted {}", url(8))]
        );
        assert_eq!(
            kannel(3, MessageState::Submitted, What::Submitted),
            Vec::<String>::new()
        );
        assert_eq!(
            kannel(4, MessageState::Submitted, What::Buffered),
            [format!("buffered {}", url(4))]
        );
    }

    #[test]
    fn kannel_reply_and_time_escapes() {
        let i = info(Source::Sendsms, MessageState::Delivered);
        let f = KannelFill {
            dlr_type: 1,
            reply: "id:42 stat:DELIVRD",
            info: &i,
            now: UnixMillis(1_700_000_006_000),
            username: "ops",
        };
        assert_eq!(
            fill_kannel("x?a=%A&t=%t&b=%b&end=%", &f),
            "x?a=id%3A42%20stat%3ADELIVRD&t=2023-11-14%2022%3A13%3A26&b=hello%20world%2C%20this%20is%20long&end=%"
        );
    }

    #[test]
    fn webhooks_and_smpp_receipts() {
        let mut i = info(Source::Http, MessageState::Delivered);
        i.dlr_mask = None;
        i.dlr_url = Some("http://app/cb".into());
        let rows = build(&i, &DONE, UnixMillis(0), None);
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].channel, rows[0].event), ("webhook", "delivered"));
        let v: serde_json::Value = serde_json::from_str(&rows[0].payload).unwrap();
        assert_eq!(v["state"], "delivered");
        assert_eq!(v["client_ref"], "r1");
        // Not for an intermediate event.
        assert!(build(&i, &What::Submitted, UnixMillis(0), None).is_empty());

        let mut s = info(Source::Smpp, MessageState::Undeliverable);
        s.dlr_url = None;
        s.dlr_mask = Some(1);
        s.part_ids = vec![5, 6];
        let report = What::Final {
            report: Some((DlrStatus::Undeliverable, Some("011".into()))),
        };
        let rows = build(&s, &report, UnixMillis(0), None);
        assert_eq!((rows[0].channel, rows[0].target.as_str()), ("smpp", "7"));
        let reqs = receipt_requests(&rows[0].payload).unwrap();
        let texts: Vec<String> = reqs
            .iter()
            .map(|r| String::from_utf8_lossy(&r.short_message).into_owned())
            .collect();
        assert_eq!(reqs.len(), 2);
        assert!(texts[0].starts_with("id:1000000000005 "), "{}", texts[0]);
        assert!(texts[1].contains("stat:UNDELIV err:011"), "{}", texts[1]);
        assert_eq!(
            reqs[0].receipted_message_id.as_deref(),
            Some("1000000000005")
        );
        assert_eq!(reqs[0].source.addr, "4917012345678");
        // registered_delivery 2: failures only.
        s.dlr_mask = Some(2);
        s.state = MessageState::Delivered;
        assert!(build(&s, &DONE, UnixMillis(0), None).is_empty());
    }

    #[test]
    fn mo_routing_and_encoding() {
        let r = |p: &str, k: &str| MoRoute {
            prefix: p.into(),
            api_key: k.into(),
        };
        let routes = [
            r("", "all"),
            r("1069", "crm"),
            r("106901", "erp"),
            r("106901", "erp2"),
        ];
        assert_eq!(mo_targets(&routes, "+8613800138000"), ["all"]);
        assert_eq!(mo_targets(&routes, "10690"), ["crm"]);
        assert_eq!(mo_targets(&routes, "1069012"), ["erp", "erp2"]);
        assert!(mo_targets(&routes[1..], "138").is_empty());
        let gsm = mo_request(
            &json!({"from": "+8613800138000", "to": "1069", "text": "TD @"}).to_string(),
        )
        .unwrap();
        assert_eq!(
            (gsm.data_coding, gsm.short_message.as_ref()),
            (0, &b"TD \x00"[..])
        );
        assert_eq!(gsm.source.ton, 1);
        let ucs2 =
            mo_request(&json!({"from": "x", "to": "1069", "text": "退订"}).to_string()).unwrap();
        assert_eq!((ucs2.data_coding, ucs2.short_message.len()), (8, 4));
        let long =
            mo_request(&json!({"from": "x", "to": "1", "text": "中".repeat(200)}).to_string())
                .unwrap();
        assert_eq!(long.payload.as_ref().map(Bytes::len), Some(400));
        assert!(long.short_message.is_empty());
    }

    #[test]
    fn retries_double_up_to_the_cap() {
        let s = NotifySettings::default();
        assert_eq!(backoff(&s, 0), Duration::from_secs(1));
        assert_eq!(backoff(&s, 3), Duration::from_secs(8));
        assert_eq!(backoff(&s, 30), Duration::from_secs(600));
    }
}
