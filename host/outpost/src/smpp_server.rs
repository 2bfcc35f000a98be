//! The SMPP server for local applications (DESIGN "Interfaces": SMPP v3.4,
//! bind_transmitter/receiver/transceiver, receipts back to them): the service's
//! [`ServerHandler`] on `host/smpp`'s server framework.
//!
//! - bind: `[[smpp_server.account]]` logins (`system_id` + a password of at most 8 characters,
//!   SMPP 3.4 §4.1.1), each billed to an API key by name. API key secrets are too long for an SMPP
//!   3.4 password field, which is why SMPP logins live in the config.
//! - submit_sm: answered only after the message is on disk (`submit_sm_resp` means accepted).
//!   A whole message (`short_message` or `message_payload`) gets the message's id; a long message
//!   sent in parts (concatenation UDH, TS 23.040 9.2.3.24.1, or SAR TLVs, SMPP 3.4 §5.3.2.22–24)
//!   gets one id per part, each stored before it is answered, and is sent as one message once the
//!   last part is in (`engine::parts`). Ids are decimal; part ids start at [`PART_ID_BASE`] so
//!   they never equal a message id.
//! - query_sm answers from the store; cancel_sm cancels a message that is not due within the
//!   next second (a scheduled or backed-off one): [`CancelGate`] makes sure the dispatcher, which
//!   may hold it in memory, never hands it to a carrier.
//! - Receipts and MO go out through the notifier (`notify.rs`), from the durable outbox.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use carriers::{BoxFuture as CarrierFuture, Carrier, CarrierKind, CarrierStatus, Command};
use carriers::{CommandError, OutboundMessage, Outcome};
use domain::{ApiKeyId, MessageId, MessageState, Msisdn, RejectReason, UnixMillis};
use engine::{Engine, SendRequest, SubmitError};
use smpp::message::{Address, ShortMessage};
use smpp::receipt::ReceiptTime;
use smpp::server::{
    BindRequest, BoxFuture, CancelRequest, QueryAnswer, Server, ServerHandle, ServerHandler,
    Session,
};
use smpp::status;
use store::{FragmentEncoding, FragmentRequest, NewFragment, PartLookup, Source, StoreError};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::config::{SmppAccount, SmppServerSettings};

/// Ids given to parts of long messages start here (message ids stay far below).
pub const PART_ID_BASE: i64 = 1_000_000_000_000;

/// `ESME_RINVSCHED`: invalid scheduled delivery time (SMPP 3.4 §5.1.3).
const RINVSCHED: u32 = 0x61;
/// `ESME_RINVEXPIRY`: invalid validity period.
const RINVEXPIRY: u32 = 0x62;
/// `ESME_RINVPRTFLG`: invalid priority flag.
const RINVPRTFLG: u32 = 0x06;
/// `ESME_RINVESMCLASS`: a UDH other than concatenation.
const RINVESMCLASS: u32 = 0x43;
/// `ESME_RINVDCS` (SMPP 5.0 §4.7.6): a data coding we cannot carry as text.
const RINVDCS: u32 = 0x104;

/// Messages cancelled by `cancel_sm` that the dispatcher may still hold in memory: the carrier
/// wrapper [`GatedCarrier`] refuses them, so a cancelled message is never sent.
#[derive(Clone, Debug, Default)]
pub struct CancelGate(Arc<Mutex<HashSet<MessageId>>>);

impl CancelGate {
    fn insert(&self, id: MessageId) {
        if let Ok(mut s) = self.0.lock() {
            s.insert(id);
        }
    }

    fn remove(&self, id: MessageId) -> bool {
        self.0.lock().map(|mut s| s.remove(&id)).unwrap_or(false)
    }

    /// Wraps every carrier so cancelled messages are refused.
    pub fn wrap(&self, carriers: Vec<Arc<dyn Carrier>>) -> Vec<Arc<dyn Carrier>> {
        carriers
            .into_iter()
            .map(|inner| {
                Arc::new(GatedCarrier {
                    inner,
                    gate: self.clone(),
                }) as Arc<dyn Carrier>
            })
            .collect()
    }
}

/// A carrier that refuses messages cancelled through the SMPP server and passes everything else
/// to the carrier it wraps.
pub struct GatedCarrier {
    inner: Arc<dyn Carrier>,
    gate: CancelGate,
}

impl Carrier for GatedCarrier {
    fn id(&self) -> &domain::CarrierId {
        self.inner.id()
    }

    fn kind(&self) -> CarrierKind {
        self.inner.kind()
    }

    fn submit<'a>(&'a self, msg: &'a OutboundMessage) -> CarrierFuture<'a, Outcome> {
        if self.gate.remove(msg.id) {
            return Box::pin(async {
                Outcome::Reject {
                    reason: RejectReason::Permanent("cancelled by the application".into()),
                }
            });
        }
        self.inner.submit(msg)
    }

    fn status(&self) -> CarrierStatus {
        self.inner.status()
    }

    fn drain(&self) -> CarrierFuture<'_, ()> {
        self.inner.drain()
    }

    fn command(&self, cmd: Command) -> CarrierFuture<'_, Result<(), CommandError>> {
        self.inner.command(cmd)
    }
}

/// The service's [`ServerHandler`].
pub struct SmppFront {
    engine: Engine,
    accounts: Vec<SmppAccount>,
    gate: CancelGate,
    /// Told the account of every successful bind (the notifier then delivers what waits).
    bound: mpsc::UnboundedSender<ApiKeyId>,
}

/// Starts the SMPP server on `listener`. Binds are announced on the returned receiver.
pub fn start(
    engine: Engine,
    settings: &SmppServerSettings,
    listener: TcpListener,
    gate: CancelGate,
) -> (ServerHandle, mpsc::UnboundedReceiver<ApiKeyId>) {
    let (bound, binds) = mpsc::unbounded_channel();
    let front = Arc::new(SmppFront {
        engine,
        accounts: settings.accounts.clone(),
        gate,
        bound,
    });
    (
        Server::bind(listener, front, settings.server.clone()),
        binds,
    )
}

/// The id an application is told for a message or a part.
pub fn message_id_text(id: MessageId) -> String {
    id.0.to_string()
}

fn part_id_text(part: i64) -> String {
    PART_ID_BASE.saturating_add(part).to_string()
}

/// A destination or source address as the engine reads numbers: international ones with `+`.
fn number(a: &Address) -> String {
    let digits = a.addr.trim();
    if a.ton == 1 && !digits.starts_with('+') && !digits.is_empty() {
        format!("+{digits}")
    } else {
        digits.to_owned()
    }
}

fn sender(a: &Address) -> Option<String> {
    let s = number(a);
    (!s.is_empty()).then_some(s)
}

/// How `data_coding` encodes text (SMPP 3.4 §5.2.19, values 0x10 and up per TS 23.038 §4).
pub fn encoding_of(data_coding: u8) -> Result<FragmentEncoding, u32> {
    match data_coding {
        0x00 => Ok(FragmentEncoding::Gsm7),
        // IA5 (ASCII) is a subset of Latin-1.
        0x01 | 0x03 => Ok(FragmentEncoding::Latin1),
        0x08 => Ok(FragmentEncoding::Ucs2),
        // General data coding group without compression: bits 3–2 give the alphabet.
        0x10..=0x1F | 0x30..=0x3F => match (data_coding >> 2) & 0x03 {
            0 => Ok(FragmentEncoding::Gsm7),
            2 => Ok(FragmentEncoding::Ucs2),
            _ => Err(RINVDCS),
        },
        // Data coding/message class group: bit 2 clear is GSM 7-bit.
        0xF0..=0xFF if data_coding & 0x04 == 0 => Ok(FragmentEncoding::Gsm7),
        _ => Err(RINVDCS),
    }
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm, public domain).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// An SMPP time field that is neither empty nor a valid absolute or relative time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadSmppTime;

impl std::fmt::Display for BadSmppTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not an SMPP time (YYMMDDhhmmsstnnp)")
    }
}

impl std::error::Error for BadSmppTime {}

/// Reads an SMPP time (SMPP 3.4 §7.1.1): empty is `None`; `YYMMDDhhmmsstnnp` is absolute
/// (`p` `+`/`-`: local time `nn` quarter hours ahead of/behind UTC) or relative (`p` = `R`:
/// years, months, days, hours, minutes, seconds from `now`; a month counts 30 days, a year 365).
pub fn parse_smpp_time(s: &str, now: UnixMillis) -> Result<Option<UnixMillis>, BadSmppTime> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let b = s.as_bytes();
    if b.len() != 16
        || !b
            .get(..15)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    {
        return Err(BadSmppTime);
    }
    let n = |i: usize| -> i64 {
        b.get(i..i + 2)
            .map(|d| i64::from(d[0] - b'0') * 10 + i64::from(d[1] - b'0'))
            .unwrap_or(0)
    };
    let (yy, mo, dd, hh, mi, ss) = (n(0), n(2), n(4), n(6), n(8), n(10));
    let tenths = i64::from(b[12] - b'0');
    match b[15] {
        b'R' => {
            let secs = ((yy * 365 + mo * 30 + dd) * 24 + hh) * 3600 + mi * 60 + ss;
            Ok(Some(UnixMillis(now.0.saturating_add(secs * 1000))))
        }
        p @ (b'+' | b'-') => {
            if !(1..=12).contains(&mo) || !(1..=31).contains(&dd) || hh > 23 || mi > 59 || ss > 59 {
                return Err(BadSmppTime);
            }
            let quarters = n(13);
            if quarters > 48 {
                return Err(BadSmppTime);
            }
            let local = ((days_from_civil(2000 + yy, mo, dd) * 24 + hh) * 60 + mi) * 60 + ss;
            let offset = quarters * 15 * 60;
            let utc = if p == b'+' {
                local - offset
            } else {
                local + offset
            };
            Ok(Some(UnixMillis(utc * 1000 + tenths * 100)))
        }
        _ => Err(BadSmppTime),
    }
}

/// `YYMMDDhhmmss000+` in UTC, for query_sm's `final_date`.
fn smpp_time(t: UnixMillis) -> String {
    let r = ReceiptTime::from_unix_millis_utc(t);
    format!(
        "{:02}{:02}{:02}{:02}{:02}{:02}000+",
        r.year % 100,
        r.month,
        r.day,
        r.hour,
        r.minute,
        r.second
    )
}

/// SMPP `priority_flag` 0–3 on the engine's 0–9 scale (0 normal … 3 very urgent).
fn priority_of(flag: u8) -> Result<Option<u8>, u32> {
    match flag {
        0 => Ok(None),
        1 => Ok(Some(6)),
        2 => Ok(Some(7)),
        3 => Ok(Some(9)),
        _ => Err(RINVPRTFLG),
    }
}

/// The command status for a refused submit.
fn status_of(e: &SubmitError) -> u32 {
    match e {
        SubmitError::Invalid(fields) => match fields.first().map(|f| f.field.as_str()) {
            Some("to") => status::RINVDSTADR,
            Some("sender") => status::RINVSRCADR,
            Some("text") => status::RINVMSGLEN,
            Some("priority") => RINVPRTFLG,
            Some("send_at") => RINVSCHED,
            Some("validity") => RINVEXPIRY,
            _ => status::RSUBMITFAIL,
        },
        // A full disk is temporary from the application's side: it should retry later.
        SubmitError::Unavailable(StoreError::Full) => status::RMSGQFUL,
        SubmitError::Unavailable(_) | SubmitError::ShuttingDown => status::RSYSERR,
    }
}

/// SMPP 3.4 §5.2.28 `message_state` for a message state (and its failure reason).
fn message_state(state: MessageState, error: Option<&str>) -> u8 {
    match state {
        MessageState::Queued | MessageState::Dispatching | MessageState::Submitted => 1,
        MessageState::Delivered => 2,
        MessageState::Expired => 3,
        MessageState::Undeliverable => 5,
        MessageState::Failed if error.is_some_and(|e| e.contains("cancelled")) => 4,
        MessageState::Failed => 8,
    }
}

impl SmppFront {
    /// The key an account's messages are billed to, by name (exactly one live key).
    async fn key_of(&self, name: &str) -> Result<ApiKeyId, u32> {
        let keys = self
            .engine
            .store()
            .list_api_keys()
            .await
            .map_err(|_| status::RSYSERR)?;
        let mut live = keys
            .iter()
            .filter(|k| k.revoked_at.is_none() && k.name == name);
        match (live.next(), live.next()) {
            (Some(k), None) => Ok(k.id),
            (None, _) => {
                tracing::warn!(
                    api_key = name,
                    "SMPP bind refused: no live API key has this name"
                );
                Err(status::RBINDFAIL)
            }
            (Some(_), Some(_)) => {
                tracing::warn!(
                    api_key = name,
                    "SMPP bind refused: several live API keys have this name"
                );
                Err(status::RBINDFAIL)
            }
        }
    }

    async fn do_bind(&self, req: BindRequest) -> Result<ApiKeyId, u32> {
        let Some(account) = self.accounts.iter().find(|a| a.system_id == req.system_id) else {
            tracing::info!(system_id = %req.system_id, peer = %req.peer, "SMPP bind refused: unknown system_id");
            return Err(status::RINVSYSID);
        };
        if !account.password.matches(&req.password) {
            tracing::info!(system_id = %req.system_id, peer = %req.peer, "SMPP bind refused: wrong password");
            return Err(status::RINVPASWD);
        }
        let key = self.key_of(&account.api_key).await?;
        tracing::info!(system_id = %req.system_id, peer = %req.peer, kind = ?req.kind, "SMPP application bound");
        let _ = self.bound.send(key);
        Ok(key)
    }

    async fn do_submit(&self, session: Session, msg: ShortMessage) -> Result<String, u32> {
        let encoding = encoding_of(msg.data_coding)?;
        let now = UnixMillis::now();
        let send_at =
            parse_smpp_time(&msg.schedule_delivery_time, now).map_err(|BadSmppTime| RINVSCHED)?;
        let expires =
            parse_smpp_time(&msg.validity_period, now).map_err(|BadSmppTime| RINVEXPIRY)?;
        let start = send_at.unwrap_or(now).max(now);
        let validity = match expires {
            Some(e) if e <= start => return Err(RINVEXPIRY),
            Some(e) => Some(e.since(start)),
            None => None,
        };
        let priority = priority_of(msg.priority)?;
        // registered_delivery bits 1–0 (SMPP 3.4 §5.2.17): 01 a receipt on success or failure,
        // 10 on failure only. Kept as the message's DLR mask.
        let receipt_bits = msg.registered_delivery & 0x03;
        let report = matches!(receipt_bits, 1 | 2);
        let dlr_mask = report.then_some(receipt_bits);
        let to = number(&msg.destination);
        let concat = msg.concat();
        if msg.has_udh() && concat.is_none() {
            // Ports, indications …: a UDH we cannot carry as text.
            return Err(RINVESMCLASS);
        }
        match concat.filter(|c| c.total > 1 && c.seq >= 1 && c.seq <= c.total) {
            Some(c) => {
                // Refuse a bad number on the first part rather than after the last.
                if Msisdn::parse(&to, &self.engine.config().accept.numbers).is_err() {
                    return Err(status::RINVDSTADR);
                }
                let part = NewFragment {
                    api_key: session.account,
                    source: Source::Smpp,
                    group_key: format!(
                        "smpp:{}:{}:{}:{}:{}",
                        session.account.0,
                        msg.source.addr,
                        msg.destination.addr,
                        c.reference,
                        c.total
                    ),
                    total: c.total,
                    seq: c.seq,
                    encoding,
                    data: msg.user_data().to_vec(),
                    request: FragmentRequest {
                        to,
                        sender: sender(&msg.source),
                        priority,
                        send_at,
                        validity_ms: validity
                            .map(|v| i64::try_from(v.as_millis()).unwrap_or(i64::MAX)),
                        report,
                        dlr_mask,
                        dlr_url: None,
                    },
                    received_at: now,
                };
                match self.engine.submit_part(part).await {
                    Ok(p) => Ok(part_id_text(p.part_id)),
                    Err(e) => Err(status_of(&e)),
                }
            }
            None => {
                let req = SendRequest {
                    to,
                    text: engine::parts::decode_text(encoding, msg.user_data()),
                    sender: sender(&msg.source),
                    priority,
                    send_at,
                    validity,
                    report,
                    client_ref: None,
                    idempotency_key: None,
                    dlr_url: None,
                    dlr_mask,
                };
                match self
                    .engine
                    .submit(Some(session.account), Source::Smpp, &[req])
                    .await
                {
                    Ok(stored) => stored
                        .first()
                        .map(|a| message_id_text(a.id))
                        .ok_or(status::RSYSERR),
                    Err(e) => Err(status_of(&e)),
                }
            }
        }
    }

    /// The message an id names, if it is the account's (`Err` is the status to answer).
    async fn resolve(&self, account: ApiKeyId, id: &str, fail: u32) -> Result<Resolved, u32> {
        let n: i64 = id.trim().parse().map_err(|_| fail)?;
        let message = if n >= PART_ID_BASE {
            match self.engine.store().part_lookup(n - PART_ID_BASE).await {
                Ok(Some(PartLookup::Message { message_id, .. })) => message_id,
                Ok(Some(PartLookup::Waiting { api_key })) if api_key == account => {
                    return Ok(Resolved::Waiting);
                }
                Ok(_) => return Err(fail),
                Err(_) => return Err(status::RSYSERR),
            }
        } else {
            MessageId(n)
        };
        match self.engine.store().message(message).await {
            Ok(Some(d)) if d.message.api_key == Some(account) => Ok(Resolved::Message(Box::new(d))),
            Ok(_) => Err(fail),
            Err(_) => Err(status::RSYSERR),
        }
    }

    async fn do_query(&self, session: Session, id: String) -> Result<QueryAnswer, u32> {
        match self
            .resolve(session.account, &id, status::RQUERYFAIL)
            .await?
        {
            Resolved::Waiting => Ok(QueryAnswer {
                final_date: String::new(),
                message_state: 1,
                error_code: 0,
            }),
            Resolved::Message(d) => {
                let m = &d.message;
                let error_code = d
                    .parts
                    .iter()
                    .filter_map(|p| p.dlr_error.as_deref())
                    .find_map(|e| e.trim().parse::<u8>().ok())
                    .unwrap_or(0);
                Ok(QueryAnswer {
                    final_date: m.final_at.map(smpp_time).unwrap_or_default(),
                    message_state: message_state(m.state, m.error.as_deref()),
                    error_code,
                })
            }
        }
    }

    async fn do_cancel(&self, session: Session, req: CancelRequest) -> Result<(), u32> {
        if req.message_id.trim().is_empty() {
            // Cancelling by addresses (SMPP 3.4 §4.9.1) is not offered.
            return Err(status::RCANCELFAIL);
        }
        let Resolved::Message(d) = self
            .resolve(session.account, &req.message_id, status::RCANCELFAIL)
            .await?
        else {
            return Err(status::RCANCELFAIL);
        };
        let id = d.message.id;
        // Gate first, then the conditional write: whatever the dispatcher does from here on, a
        // cancelled message never reaches a carrier.
        self.gate.insert(id);
        let now = UnixMillis::now();
        let done = self
            .engine
            .store()
            .cancel_queued(
                id,
                now.plus(Duration::from_secs(1)),
                format!("cancelled by the application ({})", session.system_id),
                now,
            )
            .await
            .unwrap_or(false);
        if done {
            tracing::info!(message = %id, system_id = %session.system_id, "message cancelled");
            Ok(())
        } else {
            self.gate.remove(id);
            Err(status::RCANCELFAIL)
        }
    }
}

enum Resolved {
    Waiting,
    Message(Box<store::MessageDetail>),
}

impl ServerHandler for SmppFront {
    fn bind(self: Arc<Self>, req: BindRequest) -> BoxFuture<Result<ApiKeyId, u32>> {
        Box::pin(async move { self.do_bind(req).await })
    }

    fn submit(
        self: Arc<Self>,
        session: Session,
        msg: ShortMessage,
    ) -> BoxFuture<Result<String, u32>> {
        Box::pin(async move { self.do_submit(session, msg).await })
    }

    fn query(
        self: Arc<Self>,
        session: Session,
        message_id: String,
        _source: Address,
    ) -> BoxFuture<Result<QueryAnswer, u32>> {
        Box::pin(async move { self.do_query(session, message_id).await })
    }

    fn cancel(self: Arc<Self>, session: Session, req: CancelRequest) -> BoxFuture<Result<(), u32>> {
        Box::pin(async move { self.do_cancel(session, req).await })
    }

    fn unbound(&self, session: &Session) {
        tracing::info!(system_id = %session.system_id, peer = %session.peer, "SMPP application unbound");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: UnixMillis = UnixMillis(1_700_000_000_000); // 2023-11-14T22:13:20Z

    fn time(s: &str) -> String {
        match parse_smpp_time(s, NOW) {
            Ok(None) => "none".into(),
            Ok(Some(t)) => format!("{:+}s {}", (t.0 - NOW.0) / 1000, smpp_time(t)),
            Err(BadSmppTime) => "invalid".into(),
        }
    }

    #[test]
    fn smpp_times() {
        assert_eq!(time(""), "none");
        // Relative: one day, two hours, 30 s.
        assert_eq!(time("000001020030000R"), "+93630s 231116001350000+");
        // Absolute UTC, and the same instant written in UTC+8 (32 quarter hours).
        assert_eq!(time("231114221320000+"), "+0s 231114221320000+");
        assert_eq!(time("231115061320032+"), "+0s 231114221320000+");
        assert_eq!(time("231114211320004-"), "+0s 231114221320000+");
        for bad in [
            "2311142213",
            "231314221320000+",
            "23111422132000x+",
            "231114221320049+",
            "23111422132000aR",
        ] {
            assert_eq!(time(bad), "invalid", "{bad}");
        }
    }

    #[test]
    fn data_codings() {
        let check = |dcs: u8, expect: Result<FragmentEncoding, u32>| {
            assert_eq!(encoding_of(dcs), expect, "{dcs:#04x}");
        };
        check(0x00, Ok(FragmentEncoding::Gsm7));
        check(0x01, Ok(FragmentEncoding::Latin1));
        check(0x03, Ok(FragmentEncoding::Latin1));
        check(0x08, Ok(FragmentEncoding::Ucs2));
        check(0x18, Ok(FragmentEncoding::Ucs2));
        check(0x11, Ok(FragmentEncoding::Gsm7));
        check(0xF1, Ok(FragmentEncoding::Gsm7));
        check(0x02, Err(RINVDCS));
        check(0x04, Err(RINVDCS));
        check(0xF5, Err(RINVDCS));
        check(0x14, Err(RINVDCS));
        check(0x06, Err(RINVDCS));
    }

    #[test]
    fn addresses_and_states() {
        let a = |ton, s: &str| Address {
            ton,
            npi: 1,
            addr: s.into(),
        };
        assert_eq!(number(&a(1, "8613800138000")), "+8613800138000");
        assert_eq!(number(&a(0, "13800138000")), "13800138000");
        assert_eq!(sender(&a(5, "MyBank")).as_deref(), Some("MyBank"));
        assert_eq!(sender(&a(0, "")), None);
        assert_eq!(message_state(MessageState::Submitted, None), 1);
        assert_eq!(message_state(MessageState::Delivered, None), 2);
        assert_eq!(
            message_state(
                MessageState::Failed,
                Some("cancelled by the application (crm)")
            ),
            4
        );
        assert_eq!(message_state(MessageState::Failed, Some("no route")), 8);
        assert_eq!(part_id_text(7), "1000000000007");
        assert_eq!(priority_of(3), Ok(Some(9)));
        assert_eq!(priority_of(4), Err(RINVPRTFLG));
    }
}
