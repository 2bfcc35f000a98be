//! A GSM modem driven directly by the host: a USB stick on `/dev/ttyUSB*`, or (for `outpost demo`
//! and tests) a simulated modem on TCP. The AT work is `firmware/modem`'s slot supervisor, the
//! same code the bank firmware runs, here on tokio.
//!
//! Inbound SMS and status reports are decoded with `firmware/gsm` and handed up as
//! [`CarrierEvent`]s; the supervisor deletes a stored SMS or report (`AT+CMGD`) only when the service
//! acknowledges it after storing it. A part is submitted with TP-SRR set; the modem's `+CMGS`
//! TP-MR is the part's carrier reference, which status reports carry back.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use domain::{CarrierId, DlrStatus, Outcome, RejectReason, RetryReason, UnixMillis};
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use gsm::status::StatusCategory;
use gsm::tpdu::{Direction, Tpdu, decode_with_sca};
use modem::slot::{self, Control, Event as SlotEvent, NoPwrKey, SendError, SlotState, SlotStatus};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::{
    AckHandle, BoxFuture, Carrier, CarrierEvent, CarrierKind, CarrierState, CarrierStatus, Command,
    CommandError, Counters, InboundPart, OutboundMessage, Report, SlotInfo, submit_pdus,
};

type Mutex = CriticalSectionRawMutex;

/// Where the modem is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModemPort {
    /// A serial device, e.g. `/dev/ttyUSB2`, at this baud rate.
    Serial {
        /// Device path.
        path: String,
        /// Baud rate.
        baud: u32,
    },
    /// A TCP endpoint speaking AT (a modem simulator, a serial-over-IP adapter).
    Tcp(String),
}

/// Settings of one directly driven modem.
#[derive(Clone, Debug)]
pub struct ModemSettings {
    /// Carrier id.
    pub id: CarrierId,
    /// Where it is.
    pub port: ModemPort,
    /// SIM PIN, if the SIM asks for one.
    pub pin: Option<String>,
    /// How long one part may take from `AT+CMGS` to `+CMGS` before the attempt is abandoned
    /// (the supervisor has its own, shorter, per-command timeouts).
    pub send_timeout: Duration,
}

/// A modem driven by the host.
pub struct ModemCarrier {
    id: CarrierId,
    control: Control<'static, Mutex>,
    submitted: AtomicU32,
    failed: AtomicU32,
    in_flight: AtomicU32,
    send_timeout: Duration,
    /// Set when the modem stopped answering a send (no prompt, no result, or a send that outlived
    /// `send_timeout`): the supervisor's recovery count at that moment.
    /// The modem counts as down until the supervisor recovers it (re-init, power cycle) or a
    /// send succeeds, so the dashboard and scheduler see a hung modem
    /// at once instead of after the supervisor's longer command timeouts.
    stalled_at: std::sync::Mutex<Option<u32>>,
}

/// `embedded-hal-async` delays on tokio's timer (so tests can pause time).
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioDelay;

impl embedded_hal_async::delay::DelayNs for TokioDelay {
    async fn delay_ns(&mut self, ns: u32) {
        tokio::time::sleep(Duration::from_nanos(u64::from(ns))).await;
    }
}

impl ModemCarrier {
    /// Starts the supervisor for a modem reachable through `io`, and the task that turns its
    /// events into [`CarrierEvent`]s on `events`. Must be called inside a tokio runtime.
    pub fn start(
        settings: &ModemSettings,
        io: crate::port::Port,
        events: mpsc::Sender<CarrierEvent>,
    ) -> Arc<ModemCarrier> {
        // One supervisor state per modem for the life of the process, like the bank's statics.
        let state: &'static slot::State<Mutex> = Box::leak(Box::new(slot::State::new()));
        let mut config = slot::Config::new();
        config.pin = settings
            .pin
            .as_deref()
            .and_then(|p| heapless::String::try_from(p).ok());
        let (control, runner) = slot::new(state, config, io, NoPwrKey, TokioDelay);
        tokio::spawn(async move {
            runner.run().await;
        });
        let carrier = Arc::new(ModemCarrier {
            id: settings.id.clone(),
            control,
            submitted: AtomicU32::new(0),
            failed: AtomicU32::new(0),
            in_flight: AtomicU32::new(0),
            send_timeout: settings.send_timeout,
            stalled_at: std::sync::Mutex::new(None),
        });
        tokio::spawn(forward_events(settings.id.clone(), control, events));
        carrier
    }

    /// Starts a modem on its configured port (serial device or TCP), reopened whenever it fails.
    pub fn open(settings: &ModemSettings, events: mpsc::Sender<CarrierEvent>) -> Arc<ModemCarrier> {
        Self::start(
            settings,
            crate::port::Port::new(settings.port.clone()),
            events,
        )
    }

    /// The modem stopped answering: down until the supervisor recovers it, which it is asked
    /// to do now (a re-initialisation; if that fails the supervisor goes on to power-cycle).
    fn mark_stalled(&self) {
        if let Ok(mut s) = self.stalled_at.lock() {
            *s = Some(activity(&self.control.status()));
        }
        let control = self.control;
        tokio::spawn(async move { control.reset(false).await });
    }

    async fn send_parts(&self, msg: &OutboundMessage) -> Outcome {
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
            let sent = tokio::time::timeout(
                self.send_timeout,
                self.control.submit(&part.pdu, part.tpdu_len),
            )
            .await;
            match sent {
                Ok(Ok(mr)) => refs.push(mr.to_string()),
                Ok(Err(e)) => {
                    if matches!(e, SendError::NoPrompt | SendError::Timeout | SendError::Io) {
                        self.mark_stalled();
                    }
                    return outcome_of(e, !refs.is_empty());
                }
                Err(_) => {
                    self.mark_stalled();
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
}

/// A number that changes whenever the supervisor has recovered a sick modem (re-initialised
/// it, power-cycled it, or seen it reboot); its own command timeouts are not recovery.
fn activity(st: &SlotStatus) -> u32 {
    let c = &st.counters;
    c.reinits
        .wrapping_add(c.power_cycles)
        .wrapping_add(c.reboots)
}

/// What a failed send means for the message. `partly_sent`: earlier parts went out.
fn outcome_of(e: SendError, partly_sent: bool) -> Outcome {
    let retry = |reason| Outcome::Retry {
        after: Duration::ZERO,
        reason,
        maybe_sent: partly_sent || e.may_have_been_sent(),
    };
    match e {
        SendError::NotReady(state) => retry(RetryReason::Unavailable(format!(
            "modem not ready ({})",
            state_name(state)
        ))),
        SendError::SimRemoved => retry(RetryReason::Unavailable("SIM removed".into())),
        SendError::NoPrompt
        | SendError::Timeout
        | SendError::Rebooted
        | SendError::Io
        | SendError::Unconfirmed
        | SendError::Error => retry(RetryReason::Temporary(e.to_string())),
        SendError::Cme(c) => retry(RetryReason::Temporary(format!("CME {c}"))),
        SendError::Cms(c) if c.is_temporary() || c.is_sim_missing() => {
            retry(RetryReason::Temporary(format!("CMS {c}")))
        }
        SendError::Cms(c) => {
            let code = format!("CMS {}: {c}", c.code().unwrap_or(0));
            // TS 24.011 E.2: causes about the called party mean the number is wrong.
            match c.code() {
                Some(1 | 27 | 28 | 30) => Outcome::Reject {
                    reason: RejectReason::InvalidDestination(code),
                },
                Some(8 | 10) => Outcome::Reject {
                    reason: RejectReason::Barred(code),
                },
                _ => Outcome::Reject {
                    reason: RejectReason::Permanent(code),
                },
            }
        }
        SendError::InvalidPdu => Outcome::Reject {
            reason: RejectReason::Permanent("invalid PDU".into()),
        },
    }
}

fn state_name(s: SlotState) -> &'static str {
    match s {
        SlotState::Off => "off",
        SlotState::Booting => "booting",
        SlotState::NoSim => "no SIM",
        SlotState::PinNeeded => "PIN needed",
        SlotState::Searching => "searching",
        SlotState::Denied => "registration denied",
        SlotState::Registered => "registered",
        SlotState::Ready => "ready",
        SlotState::Sending => "sending",
        SlotState::Faulted => "faulted",
    }
}

/// The carrier view of a supervisor status (shared with the bank carrier).
pub(crate) fn slot_info(st: &SlotStatus) -> SlotInfo {
    use modem::digest::RegStat;
    SlotInfo {
        state: state_name(st.state).into(),
        sim_present: !matches!(st.state, SlotState::NoSim) && st.imsi.is_some(),
        imsi: st.imsi.as_ref().map(|s| s.to_string()),
        iccid: st.iccid.as_ref().map(|s| s.to_string()),
        operator: st.operator.as_ref().map(|s| s.to_string()),
        // The SIM's home network: MCC + 2-digit MNC from the IMSI (mainland China uses 2).
        plmn: st.imsi.as_ref().and_then(|i| i.get(..5)).map(str::to_owned),
        rssi: st.signal.map(|s| s.rssi),
        registration: match st.registration {
            Some(RegStat::Home | RegStat::SmsOnlyHome) => "home",
            Some(RegStat::Roaming | RegStat::SmsOnlyRoaming) => "roaming",
            Some(RegStat::Searching) => "searching",
            Some(RegStat::Denied) => "denied",
            Some(RegStat::NotSearching) => "not searching",
            Some(_) => "unknown",
            None => "",
        }
        .into(),
        profile: st.profile.map(|p| format!("{p:?}").to_lowercase()),
    }
}

/// Whether the scheduler may use a slot in this state.
pub(crate) fn carrier_state(s: SlotState) -> CarrierState {
    match s {
        SlotState::Ready | SlotState::Sending => CarrierState::Up,
        SlotState::Booting | SlotState::Searching | SlotState::Registered => {
            CarrierState::Connecting
        }
        SlotState::Off
        | SlotState::NoSim
        | SlotState::PinNeeded
        | SlotState::Denied
        | SlotState::Faulted => CarrierState::Down,
    }
}

impl Carrier for ModemCarrier {
    fn id(&self) -> &CarrierId {
        &self.id
    }

    fn kind(&self) -> CarrierKind {
        CarrierKind::Modem
    }

    fn submit<'a>(&'a self, msg: &'a OutboundMessage) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            self.in_flight.fetch_add(1, Ordering::Relaxed);
            let outcome = self.send_parts(msg).await;
            self.in_flight.fetch_sub(1, Ordering::Relaxed);
            match &outcome {
                Outcome::Accepted { carrier_refs } => {
                    if let Ok(mut s) = self.stalled_at.lock() {
                        *s = None;
                    }
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
        let st = self.control.status();
        let info = slot_info(&st);
        let mut state = carrier_state(st.state);
        let mut detail = match (&info.operator, info.rssi) {
            (Some(op), Some(rssi)) => format!("{}, {op}, signal {rssi}/31", info.state),
            _ => info.state.clone(),
        };
        if let Ok(mut stalled) = self.stalled_at.lock() {
            match *stalled {
                Some(at) if activity(&st) == at => {
                    state = CarrierState::Down;
                    detail = format!("not answering (a send took over {:?})", self.send_timeout);
                }
                Some(_) => *stalled = None,
                None => {}
            }
        }
        CarrierStatus {
            id: self.id.clone(),
            kind: CarrierKind::Modem,
            state,
            detail,
            in_flight: self.in_flight.load(Ordering::Relaxed),
            window: 1,
            slot: Some(info),
            counters: Counters {
                submitted: u64::from(self.submitted.load(Ordering::Relaxed)),
                failed: u64::from(self.failed.load(Ordering::Relaxed)),
                reports: u64::from(st.counters.reports),
                inbound: u64::from(st.counters.received),
                resets: u64::from(st.counters.reinits) + u64::from(st.counters.power_cycles),
            },
        }
    }

    fn drain(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // A send in progress finishes on its own (bounded by the send timeout).
            let deadline = tokio::time::Instant::now() + self.send_timeout;
            while self.in_flight.load(Ordering::Relaxed) > 0
                && tokio::time::Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    }

    fn command(&self, cmd: Command) -> BoxFuture<'_, Result<(), CommandError>> {
        Box::pin(async move {
            self.control.reset(cmd == Command::PowerCycle).await;
            Ok(())
        })
    }
}

/// Turns supervisor events into carrier events, forever.
async fn forward_events(
    id: CarrierId,
    control: Control<'static, Mutex>,
    events: mpsc::Sender<CarrierEvent>,
) {
    loop {
        let ev = control.next_event().await;
        let out = match ev {
            SlotEvent::StateChanged(_) => Some(CarrierEvent::Changed(id.clone())),
            SlotEvent::Inbound { id: stored, pdu } => {
                let ack = match stored {
                    Some(s) => AckHandle::new(move || {
                        tokio::spawn(async move { control.ack(s).await });
                    }),
                    None => AckHandle::none(),
                };
                pdu_event(&id, &pdu, ack)
            }
            SlotEvent::StatusReport { id: stored, pdu } => {
                // Like an inbound SMS: the modem's copy goes only once the service stored
                // the report.
                let ack = match stored {
                    Some(s) => AckHandle::new(move || {
                        tokio::spawn(async move { control.ack(s).await });
                    }),
                    None => AckHandle::none(),
                };
                pdu_event(&id, &pdu, ack)
            }
        };
        if let Some(ev) = out
            && events.send(ev).await.is_err()
        {
            return;
        }
    }
}

/// Decodes a PDU a modem handed over (an inbound SMS or a status report, whichever the PDU
/// says it is: storage listings do not always tell) into a carrier event carrying `ack`.
/// `None` (logged) for an undecodable PDU or one of another type, which is then acknowledged
/// at once so a broken PDU does not fill the modem's storage.
pub(crate) fn pdu_event(carrier: &CarrierId, pdu: &[u8], ack: AckHandle) -> Option<CarrierEvent> {
    let decoded = match decode_with_sca(pdu, Direction::ScToMs) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(carrier = %carrier, error = %e, pdu = %hex(pdu), "undecodable PDU from the modem; dropped");
            ack.ack();
            return None;
        }
    };
    match decoded.tpdu {
        Tpdu::Deliver(d) => Some(inbound_event(carrier, pdu, &d, ack)),
        Tpdu::StatusReport(r) => Some(report_event(carrier, pdu, &r, ack)),
        Tpdu::Submit(_) => {
            tracing::warn!(carrier = %carrier, pdu = %hex(pdu), "an SMS-SUBMIT from the modem; dropped");
            ack.ack();
            None
        }
    }
}

/// An SMS-DELIVER as an inbound part.
fn inbound_event(
    carrier: &CarrierId,
    pdu: &[u8],
    d: &gsm::tpdu::Deliver<'_>,
    ack: AckHandle,
) -> CarrierEvent {
    let mut text = String::new();
    if let Err(e) = d.user_data.write_text(&mut text) {
        // 8-bit data (e.g. a WAP push) has no text; keep a readable trace of it.
        text = format!("[binary message: {e}]");
    }
    let concat = d.user_data.concat().map(|c| (c.reference, c.total, c.seq));
    CarrierEvent::Inbound(InboundPart {
        carrier: carrier.clone(),
        from: d.originator.to_string(),
        to: None,
        text,
        sc_timestamp: Some(d.sc_timestamp.to_string()),
        concat,
        fingerprint: fingerprint(carrier, pdu),
        received_at: UnixMillis::now(),
        ack,
    })
}

/// An SMS-STATUS-REPORT as a delivery report keyed by TP-MR.
fn report_event(
    carrier: &CarrierId,
    pdu: &[u8],
    r: &gsm::tpdu::StatusReport<'_>,
    ack: AckHandle,
) -> CarrierEvent {
    CarrierEvent::Report(Report {
        carrier: carrier.clone(),
        carrier_ref: r.message_ref.to_string(),
        status: dlr_status(r.status),
        error: (r.status.0 != 0).then(|| format!("{:02X}", r.status.0)),
        raw: Some(hex(pdu)),
        at: UnixMillis::now(),
        // Called by the service once the report is stored.
        ack,
    })
}

/// TP-ST (TS 23.040 9.2.3.15) as a delivery status.
pub(crate) fn dlr_status(st: gsm::status::StatusCode) -> DlrStatus {
    match st.category() {
        StatusCategory::Completed => DlrStatus::Delivered,
        StatusCategory::TemporaryStillTrying => DlrStatus::Enroute,
        StatusCategory::PermanentError | StatusCategory::TemporaryGaveUp => match st.0 {
            0x46 => DlrStatus::Expired,
            0x47 | 0x48 => DlrStatus::Deleted,
            _ => DlrStatus::Undeliverable,
        },
        StatusCategory::Reserved => DlrStatus::Unknown,
    }
}

fn fingerprint(carrier: &CarrierId, pdu: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(carrier.as_str().as_bytes());
    h.update([0]);
    h.update(pdu);
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_map_to_report_states() {
        let check = |st: u8, want: DlrStatus| {
            assert_eq!(
                dlr_status(gsm::status::StatusCode(st)),
                want,
                "TP-ST {st:#04x}"
            )
        };
        check(0x00, DlrStatus::Delivered);
        check(0x02, DlrStatus::Delivered);
        check(0x20, DlrStatus::Enroute);
        check(0x41, DlrStatus::Undeliverable);
        check(0x46, DlrStatus::Expired);
        check(0x48, DlrStatus::Deleted);
        check(0x62, DlrStatus::Undeliverable);
        check(0x90, DlrStatus::Unknown);
    }

    #[test]
    fn send_errors_become_outcomes() {
        use modem::error::CmsError;
        let o = outcome_of(SendError::Cms(CmsError::UnassignedNumber), false);
        assert!(
            matches!(
                o,
                Outcome::Reject {
                    reason: RejectReason::InvalidDestination(_)
                }
            ),
            "{o:?}"
        );
        let o = outcome_of(SendError::Cms(CmsError::Congestion), false);
        assert!(
            matches!(
                o,
                Outcome::Retry {
                    maybe_sent: false,
                    ..
                }
            ),
            "{o:?}"
        );
        let o = outcome_of(SendError::Timeout, false);
        assert!(
            matches!(
                o,
                Outcome::Retry {
                    maybe_sent: true,
                    ..
                }
            ),
            "{o:?}"
        );
        let o = outcome_of(SendError::NotReady(SlotState::NoSim), true);
        assert!(
            matches!(
                o,
                Outcome::Retry {
                    maybe_sent: true,
                    reason: RetryReason::Unavailable(_),
                    ..
                }
            ),
            "{o:?}"
        );
    }

    #[test]
    fn inbound_pdus_decode_with_concat_and_fingerprint() {
        let carrier = CarrierId::new("usb0").unwrap();
        // "How are you?" from +31641600986 (the classic TS 23.040 example).
        let text = "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07";
        let mut buf = [0u8; 64];
        let n = gsm::hex::decode(text, &mut buf).unwrap();
        let pdu = &buf[..n];
        let Some(CarrierEvent::Inbound(p)) = pdu_event(&carrier, pdu, AckHandle::none()) else {
            panic!("not decoded");
        };
        assert_eq!(
            (p.from.as_str(), p.text.as_str(), p.concat),
            ("+31641600986", "How are you?", None)
        );
        assert_eq!(p.fingerprint.len(), 64);
        // A status report offered as an inbound SMS becomes a report, not a dropped message.
        let text = "0006D60B911326880736F4111011719551401110117195714000";
        let n = gsm::hex::decode(text, &mut buf).unwrap();
        let ev = pdu_event(&carrier, &buf[..n], AckHandle::none());
        assert!(
            matches!(ev, Some(CarrierEvent::Report(ref r)) if r.carrier_ref == "214"),
            "{ev:?}"
        );
        // Garbage is dropped (and acknowledged), never a panic.
        let (tx, rx) = std::sync::mpsc::channel();
        let ack = AckHandle::new(move || tx.send(()).unwrap());
        assert!(pdu_event(&carrier, &[0x00, 0x04], ack).is_none());
        assert!(
            rx.try_recv().is_ok(),
            "undecodable PDUs are acknowledged so they do not pile up"
        );
    }
}
