//! An upstream SMPP link as a carrier: `host/smpp`'s client session, plus what a carrier adds —
//! addressing and data-coding rules per link, long-message mode, and turning receipts and MO
//! into [`CarrierEvent`]s.
//!
//! A message's parts are cut by the same rules `firmware/gsm` counted at accept (153/67 per part
//! with a UDH, an escape or a surrogate pair never split); with `message_payload` the SMSC splits
//! and every part shares the one SMSC id. Receipts match by the link's canonical message id.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use domain::{CarrierId, Encoding, Outcome, RejectReason, UnixMillis};
use gsm::dcs::Alphabet;
use smpp::client::{DeliverAck, Link, LinkConfig, LinkEvent, LinkHandle, LinkState};
use smpp::message::{Address, LongMode, ShortMessage, SubmitRequest, Units, split};
use tokio::sync::mpsc;

use crate::{
    AckHandle, BoxFuture, Carrier, CarrierEvent, CarrierKind, CarrierState, CarrierStatus, Command,
    CommandError, Counters, InboundPart, OutboundMessage, Report,
};

/// How destination numbers are written in `submit_sm`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DestinationFormat {
    /// TON 1 / NPI 1, digits with country code (the SMPP norm).
    International,
    /// TON 2 / NPI 1, digits without this country code (some domestic SMSCs want
    /// `13800138000`, not `8613800138000`).
    National(u16),
}

/// Per-link settings beyond the session's [`LinkConfig`].
#[derive(Clone, Debug)]
pub struct SmppSettings {
    /// Carrier id.
    pub id: CarrierId,
    /// The session.
    pub link: LinkConfig,
    /// Source address when a message has no sender (or always, with `force_source`).
    pub source: Option<String>,
    /// Ignore the messages' senders and always use `source` (SMSCs that bind a sender to an
    /// account).
    pub force_source: bool,
    /// Destination numbering.
    pub destination: DestinationFormat,
    /// `data_coding` for GSM 7-bit text (0 = SMSC default alphabet; some SMSCs want 1 or 3).
    pub gsm7_data_coding: u8,
    /// How long messages go out.
    pub long_mode: LongMode,
    /// Ask for delivery receipts (`registered_delivery` 1).
    pub receipts: bool,
}

/// An SMPP link carrier.
pub struct SmppCarrier {
    id: CarrierId,
    link: LinkHandle,
    settings: SmppSettings,
    submitted: AtomicU64,
    failed: AtomicU64,
    reports: Arc<AtomicU64>,
    inbound: Arc<AtomicU64>,
}

impl SmppCarrier {
    /// Spawns the link and the task turning its events into [`CarrierEvent`]s.
    pub fn start(settings: SmppSettings, events: mpsc::Sender<CarrierEvent>) -> Arc<SmppCarrier> {
        // A receipt or MO is answered only once the service has stored it (DESIGN "nothing
        // accepted is lost", "Inbound"): a crash before that leaves it with the SMSC, which
        // offers it again.
        let mut link = settings.link.clone();
        link.defer_deliver_resp = true;
        let (link, link_events) = Link::spawn(link);
        let reports = Arc::new(AtomicU64::new(0));
        let inbound = Arc::new(AtomicU64::new(0));
        tokio::spawn(forward(
            settings.id.clone(),
            link_events,
            events,
            reports.clone(),
            inbound.clone(),
        ));
        Arc::new(SmppCarrier {
            id: settings.id.clone(),
            link,
            settings,
            submitted: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            reports,
            inbound,
        })
    }

    fn source(&self, msg: &OutboundMessage) -> Address {
        let sender = if self.settings.force_source {
            self.settings.source.as_deref()
        } else {
            msg.sender.as_deref().or(self.settings.source.as_deref())
        };
        match sender {
            None => Address::default(),
            Some(s) if s.starts_with('+') => Address::international(s),
            Some(s) if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) => Address {
                ton: 0,
                npi: 1,
                addr: s.to_owned(),
            },
            Some(s) => Address::alphanumeric(s),
        }
    }

    fn destination(&self, msg: &OutboundMessage) -> Address {
        match self.settings.destination {
            DestinationFormat::International => Address::international(msg.to.digits()),
            DestinationFormat::National(cc) => {
                let digits = msg.to.digits();
                match digits.strip_prefix(&cc.to_string()) {
                    Some(national) => Address {
                        ton: 2,
                        npi: 1,
                        addr: national.to_owned(),
                    },
                    None => Address::international(digits),
                }
            }
        }
    }

    /// The `submit_sm`s for `msg`, one per part (one in all with `message_payload`).
    fn requests(&self, msg: &OutboundMessage) -> Result<Vec<SubmitRequest>, String> {
        let (data, units, data_coding) = match msg.encoding {
            Encoding::Gsm7 => {
                let mut septets = Vec::with_capacity(msg.body.len());
                for c in msg.body.chars() {
                    match gsm::gsm7::encode_char(c) {
                        Some(gsm::gsm7::Gsm7Char::Default(s)) => septets.push(s),
                        Some(gsm::gsm7::Gsm7Char::Extension(s)) => septets.extend([0x1B, s]),
                        None => return Err(format!("{c:?} is not in the GSM 7-bit alphabet")),
                    }
                }
                (septets, Units::Gsm7Unpacked, self.settings.gsm7_data_coding)
            }
            Encoding::Ucs2 => (
                msg.body.encode_utf16().flat_map(u16::to_be_bytes).collect(),
                Units::Ucs2,
                8,
            ),
        };
        let parts = split(&data, units, self.settings.long_mode, msg.reference)
            .map_err(|e| e.to_string())?;
        let source = self.source(msg);
        let destination = self.destination(msg);
        Ok(parts
            .into_iter()
            .map(|p| {
                let mut req =
                    SubmitRequest::new(source.clone(), destination.clone(), data_coding, p.body);
                req.esm_class |= p.esm_class;
                req.registered_delivery = u8::from(self.settings.receipts && msg.report);
                req.priority = if msg.priority.get() >= 8 { 1 } else { 0 };
                if let Some(v) = msg.validity {
                    req.validity_period = relative_time(v);
                }
                req
            })
            .collect())
    }
}

/// SMPP 3.4 7.1.1 relative time `YYMMDDhhmmss000R`.
fn relative_time(d: Duration) -> String {
    let s = d.as_secs();
    let days = (s / 86_400).min(99);
    format!(
        "0000{:02}{:02}{:02}{:02}000R",
        days,
        (s / 3600) % 24,
        (s / 60) % 60,
        s % 60
    )
}

impl Carrier for SmppCarrier {
    fn id(&self) -> &CarrierId {
        &self.id
    }

    fn kind(&self) -> CarrierKind {
        CarrierKind::Smpp
    }

    fn submit<'a>(&'a self, msg: &'a OutboundMessage) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let reqs = match self.requests(msg) {
                Ok(r) => r,
                Err(e) => {
                    self.failed.fetch_add(1, Ordering::Relaxed);
                    return Outcome::Reject {
                        reason: RejectReason::Permanent(e),
                    };
                }
            };
            // Parts go out pipelined within the link's window.
            let results =
                futures_util::future::join_all(reqs.iter().map(|r| self.link.submit(r))).await;
            let mut refs = Vec::with_capacity(results.len());
            let mut failure = None;
            let mut any_sent = false;
            for r in results {
                match r {
                    Ok(resp) => {
                        any_sent = true;
                        refs.push(resp.canonical_id);
                    }
                    Err(e) => {
                        if failure.is_none() {
                            failure = Some(e);
                        }
                    }
                }
            }
            if let Some(e) = failure {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let mut outcome = e.to_outcome(Duration::from_secs(1));
                if let Outcome::Retry { maybe_sent, .. } = &mut outcome {
                    *maybe_sent |= any_sent;
                }
                return outcome;
            }
            // With message_payload the SMSC splits: every part carries the one id.
            while refs.len() < usize::from(msg.parts) {
                let first = refs.first().cloned().unwrap_or_default();
                refs.push(first);
            }
            self.submitted
                .fetch_add(refs.len() as u64, Ordering::Relaxed);
            Outcome::Accepted { carrier_refs: refs }
        })
    }

    fn status(&self) -> CarrierStatus {
        let st = self.link.status();
        let state = match st.state {
            LinkState::Bound => CarrierState::Up,
            LinkState::Connecting => CarrierState::Connecting,
            LinkState::Down | LinkState::Closed => CarrierState::Down,
        };
        CarrierStatus {
            id: self.id.clone(),
            kind: CarrierKind::Smpp,
            state,
            detail: format!(
                "{} {}:{} as {}, {} msg/s",
                match st.state {
                    LinkState::Bound => "bound to",
                    LinkState::Connecting => "connecting to",
                    LinkState::Down => "down, retrying",
                    LinkState::Closed => "closed",
                },
                self.settings.link.host,
                self.settings.link.port,
                self.settings.link.system_id,
                st.submits_per_sec
            ),
            in_flight: st.window_in_use as u32,
            window: st.window_limit as u32,
            slot: None,
            counters: Counters {
                submitted: self.submitted.load(Ordering::Relaxed),
                failed: self.failed.load(Ordering::Relaxed),
                reports: self.reports.load(Ordering::Relaxed),
                inbound: self.inbound.load(Ordering::Relaxed),
                resets: st.counters.reconnects,
            },
        }
    }

    fn drain(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move { self.link.shutdown().await })
    }

    fn command(&self, _cmd: Command) -> BoxFuture<'_, Result<(), CommandError>> {
        Box::pin(async { Err(CommandError::Unsupported) })
    }
}

async fn forward(
    id: CarrierId,
    mut link_events: mpsc::Receiver<LinkEvent>,
    events: mpsc::Sender<CarrierEvent>,
    reports: Arc<AtomicU64>,
    inbound: Arc<AtomicU64>,
) {
    while let Some(ev) = link_events.recv().await {
        let out = match ev {
            LinkEvent::Bound { .. } | LinkEvent::Down { .. } => {
                Some(CarrierEvent::Changed(id.clone()))
            }
            LinkEvent::Receipt(r) => {
                reports.fetch_add(1, Ordering::Relaxed);
                Some(CarrierEvent::Report(Report {
                    carrier: id.clone(),
                    carrier_ref: r.canonical_id,
                    status: r.receipt.stat,
                    error: r.receipt.err.clone(),
                    raw: r.receipt.text.clone(),
                    at: UnixMillis::now(),
                    ack: delivery_ack(r.ack),
                }))
            }
            LinkEvent::BadReceipt { text, error } => {
                tracing::warn!(carrier = %id, %text, %error, "unparseable delivery receipt");
                None
            }
            LinkEvent::Mo(m, ack) => {
                inbound.fetch_add(1, Ordering::Relaxed);
                mo_event(&id, &m, delivery_ack(ack))
            }
            LinkEvent::Throttled { .. } => None,
        };
        if let Some(ev) = out
            && events.send(ev).await.is_err()
        {
            return;
        }
    }
}

/// A deliver_sm's [`DeliverAck`] as the service's acknowledgement: answered when the report or
/// MO is stored; never answered if the service drops it unstored (the SMSC offers it again).
fn delivery_ack(ack: DeliverAck) -> AckHandle {
    if !ack.is_pending() {
        return AckHandle::none();
    }
    let pending = Unanswered(Some(ack));
    AckHandle::new(move || {
        let mut pending = pending;
        if let Some(a) = pending.0.take() {
            a.ack();
        }
    })
}

/// Forgets its deliver_sm unless it was taken for an acknowledgement.
struct Unanswered(Option<DeliverAck>);

impl Drop for Unanswered {
    fn drop(&mut self) {
        if let Some(a) = self.0.take() {
            a.forget();
        }
    }
}

/// An MO `deliver_sm` as an inbound part; `ack` answers its `deliver_sm_resp` once stored.
fn mo_event(id: &CarrierId, m: &ShortMessage, ack: AckHandle) -> Option<CarrierEvent> {
    let alphabet = match m.data_coding {
        8 => Alphabet::Ucs2,
        0 | 1 | 3 => Alphabet::Gsm7,
        _ => Alphabet::Eight,
    };
    let udhi = m.udh().is_some();
    let text = match gsm::UserData::from_smpp(m.payload(), udhi, alphabet) {
        Ok(ud) => {
            let mut t = String::new();
            match ud.write_text(&mut t) {
                Ok(()) => t,
                Err(e) => format!("[binary message: {e}]"),
            }
        }
        // Latin-1 and other codings some SMSCs use: keep the bytes readable.
        Err(_) => m.user_data().iter().map(|&b| char::from(b)).collect(),
    };
    let from = if m.source.ton == 1 {
        format!("+{}", m.source.addr.trim_start_matches('+'))
    } else {
        m.source.addr.clone()
    };
    let concat = m.concat().map(|c| (c.reference, c.total, c.seq));
    // SMPP gives an MO no id of its own, and two identical "TD" replies are two messages, so
    // the fingerprint is unique per arrival. An MO stored but unanswered at a crash is offered
    // again and stored twice: a bounded duplicate (the SMSC's deliver window) rather than a
    // loss.
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let fingerprint = format!(
        "smpp:{id}:{}:{}:{}",
        UnixMillis::now().0,
        SEQ.fetch_add(1, Ordering::Relaxed),
        hex(m.payload())
    );
    Some(CarrierEvent::Inbound(InboundPart {
        carrier: id.clone(),
        from,
        to: Some(m.destination.addr.clone()),
        text,
        sc_timestamp: None,
        concat,
        fingerprint,
        received_at: UnixMillis::now(),
        ack,
    }))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_validity() {
        assert_eq!(
            relative_time(Duration::from_secs(86_400 + 3_661)),
            "000001010101000R"
        );
        assert_eq!(
            relative_time(Duration::from_secs(48 * 3600)),
            "000002000000000R"
        );
    }
}
