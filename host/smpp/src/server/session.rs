//! One application connection to the SMPP server.
//!
//! Same shape as the client session: one task, one `select!` over frames in, the output buffer,
//! handler calls completing (a `FuturesUnordered`, so a slow store write for one submit does
//! not hold up the others or the reading), deliver requests from [`super::ServerHandle`], and
//! one timer. Responses may leave in a different order from the requests, which SMPP allows
//! (sequence numbers pair them).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use rusmpp::pdus::{
    BindReceiverResp, BindTransceiverResp, BindTransmitterResp, DataSmResp, DeliverSm, QuerySmResp,
    SubmitSmResp,
};
use rusmpp::tlvs::MessageDeliveryRequestTlvValue as D;
use rusmpp::types::{AnyOctetString, EmptyOrFullCOctetString, OctetString};
use rusmpp::values::{
    DataCoding, ErrorCodeNetworkType, EsmClass, InterfaceVersion, MessagePayload, MessageState,
    NetworkErrorCode, Npi, Ton,
};
use rusmpp::{Command as Pdu_, CommandStatus, Pdu};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::time::{Instant, sleep_until, timeout};
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use super::{
    BindKind, BindRequest, BoxFuture, CancelRequest, Command, DeliverError, DeliverRequest,
    Receiver, Session, SessionCounters, SessionEntry, Shared,
};
use crate::frame::{Frame, PduCodec, encode_into};
use crate::message::{Address, RequestError, ShortMessage, cstr};
use crate::status;

/// Builds the deliver_sm for a request, checking sizes.
pub(crate) fn deliver_pdu(req: &DeliverRequest) -> Result<DeliverSm, RequestError> {
    if req.short_message.len() > 254 {
        return Err(RequestError::TooLong(
            "short_message",
            req.short_message.len(),
        ));
    }
    let mut tlvs = Vec::new();
    if let Some(id) = &req.receipted_message_id {
        tlvs.push(D::ReceiptedMessageId(cstr("receipted_message_id", id)?));
    }
    if let Some(st) = req.message_state {
        tlvs.push(D::MessageState(MessageState::from(st)));
    }
    if let Some(n) = req.network_error {
        tlvs.push(D::NetworkErrorCode(NetworkErrorCode::new(
            ErrorCodeNetworkType::from(n.network_type),
            n.code,
        )));
    }
    if let Some(p) = &req.payload {
        if p.len() > usize::from(u16::MAX) {
            return Err(RequestError::TooLong("message_payload", p.len()));
        }
        tlvs.push(D::MessagePayload(MessagePayload::new(
            AnyOctetString::from_bytes(p.clone()),
        )));
    }
    if let Some((r, t, s)) = req.sar {
        tlvs.push(D::SarMsgRefNum(r));
        tlvs.push(D::SarTotalSegments(t));
        tlvs.push(D::SarSegmentSeqnum(s));
    }
    let mut d = DeliverSm::builder()
        .source_addr_ton(Ton::from(req.source.ton))
        .source_addr_npi(Npi::from(req.source.npi))
        .source_addr(cstr("source_addr", &req.source.addr)?)
        .dest_addr_ton(Ton::from(req.destination.ton))
        .dest_addr_npi(Npi::from(req.destination.npi))
        .destination_addr(cstr("destination_addr", &req.destination.addr)?)
        .esm_class(EsmClass::from(req.esm_class))
        .data_coding(DataCoding::from(req.data_coding))
        .short_message(
            OctetString::from_bytes(req.short_message.clone())
                .map_err(|_| RequestError::TooLong("short_message", req.short_message.len()))?,
        )
        .build();
    d.set_tlvs(tlvs);
    Ok(d)
}

enum Done {
    Submit {
        seq: u32,
        result: Result<String, u32>,
    },
    Query {
        seq: u32,
        message_id: String,
        result: Result<super::QueryAnswer, u32>,
    },
    Cancel {
        seq: u32,
        result: Result<(), u32>,
    },
}

struct PendingDeliver {
    reply: oneshot::Sender<Result<(), DeliverError>>,
    _permit: OwnedSemaphorePermit,
    start: u64,
}

struct Conn {
    shared: Arc<Shared>,
    id: u64,
    peer: SocketAddr,
    reader: FramedRead<OwnedReadHalf, PduCodec>,
    writer: OwnedWriteHalf,
    wbuf: BytesMut,
    encoded: u64,
    written: u64,
    seq: u32,
    session: Option<Session>,
    counters: Arc<SessionCounters>,
    busy: FuturesUnordered<BoxFuture<Done>>,
    limiter: Option<DefaultDirectRateLimiter>,
    delivers: HashMap<u32, PendingDeliver>,
    deadlines: VecDeque<(Instant, u32)>,
    enquire: Option<(u32, Instant)>,
    last_rx: Instant,
    unbind: Option<(u32, Instant)>,
    connected: Instant,
    closed: CancellationToken,
}

enum End {
    Close,
}

pub(super) async fn run(shared: Arc<Shared>, id: u64, tcp: TcpStream, peer: SocketAddr) {
    let (r, w) = tcp.into_split();
    let max_pdu = shared.config.max_pdu;
    let limiter = shared.config.max_rate.map(|rate| {
        RateLimiter::direct(
            Quota::per_second(rate).allow_burst(
                std::num::NonZeroU32::new((rate.get() / 10).max(1))
                    .unwrap_or(std::num::NonZeroU32::MIN),
            ),
        )
    });
    let now = Instant::now();
    let mut c = Conn {
        shared,
        id,
        peer,
        reader: FramedRead::new(r, PduCodec::new(max_pdu)),
        writer: w,
        wbuf: BytesMut::with_capacity(16 * 1024),
        encoded: 0,
        written: 0,
        seq: 1,
        session: None,
        counters: Arc::new(SessionCounters::default()),
        busy: FuturesUnordered::new(),
        limiter,
        delivers: HashMap::new(),
        deadlines: VecDeque::new(),
        enquire: None,
        last_rx: now,
        unbind: None,
        connected: now,
        closed: CancellationToken::new(),
    };
    let (tx, mut rx) = mpsc::channel::<Command>(64);
    c.serve(tx, &mut rx).await;
    c.teardown(&mut rx).await;
}

impl Conn {
    async fn serve(&mut self, tx: mpsc::Sender<Command>, rx: &mut mpsc::Receiver<Command>) {
        let cancel = self.shared.cancel.clone();
        let mut tx = Some(tx);
        loop {
            let now = Instant::now();
            if let Err(End::Close) = self.housekeeping(now) {
                return;
            }
            let wake = self.next_wake(now);
            let receiving = self.session.as_ref().is_some_and(|s| s.kind.receives());
            tokio::select! {
                frame = self.reader.next() => {
                    let Some(Ok(frame)) = frame else { return };
                    if let Err(End::Close) = self.on_frame(frame, &mut tx).await {
                        return;
                    }
                    for _ in 0..64 {
                        match self.reader.next().now_or_never() {
                            Some(Some(Ok(f))) => {
                                if let Err(End::Close) = self.on_frame(f, &mut tx).await {
                                    return;
                                }
                            }
                            Some(_) => return,
                            None => break,
                        }
                    }
                }
                res = self.writer.write(&self.wbuf), if !self.wbuf.is_empty() => {
                    match res {
                        Ok(n) if n > 0 => {
                            self.wbuf.advance(n);
                            self.written += n as u64;
                        }
                        _ => return,
                    }
                }
                Some(done) = self.busy.next(), if !self.busy.is_empty() => self.on_done(done),
                Some(cmd) = rx.recv(), if receiving && self.unbind.is_none() => self.on_command(cmd, now),
                _ = sleep_until(wake) => {}
                _ = cancel.cancelled(), if self.unbind.is_none() => {
                    if self.session.is_none() {
                        return; // nothing bound to unbind
                    }
                    let seq = self.next_seq();
                    self.queue(Pdu_::new(CommandStatus::EsmeRok, seq, Pdu::Unbind));
                    self.unbind = Some((seq, Instant::now() + self.shared.config.response_timeout));
                }
            }
        }
    }

    /// Everything a closing session owes: the handler hears the unbind, deliver callers their
    /// answer, and what is buffered gets a bounded chance to leave.
    async fn teardown(&mut self, rx: &mut mpsc::Receiver<Command>) {
        rx.close();
        while let Ok(Command::Deliver { reply, .. }) = rx.try_recv() {
            let _ = reply.send(Err(DeliverError::SessionClosed {
                maybe_delivered: false,
            }));
        }
        // Submits still being handled: let them finish so their answers are not lost, bounded.
        let deadline = Instant::now() + self.shared.config.response_timeout;
        while !self.busy.is_empty() {
            match timeout_at_opt(deadline, self.busy.next()).await {
                Some(Some(done)) => self.on_done(done),
                _ => break,
            }
        }
        if !self.wbuf.is_empty() {
            let _ = timeout(
                Duration::from_millis(500),
                self.writer.write_all(&self.wbuf),
            )
            .await;
            self.written += self.wbuf.len() as u64;
            self.wbuf.clear();
        }
        let _ = self.writer.shutdown().await;
        for (_, p) in self.delivers.drain() {
            let _ = p.reply.send(Err(DeliverError::SessionClosed {
                maybe_delivered: self.written > p.start,
            }));
        }
        if let Some(session) = self.session.take() {
            {
                let mut r = self.shared.lock_receivers();
                if let Some(list) = r.get_mut(&session.account) {
                    list.retain(|x| x.session_id != self.id);
                    if list.is_empty() {
                        r.remove(&session.account);
                    }
                }
            }
            self.shared.lock_sessions().remove(&self.id);
            self.shared.handler.unbound(&session);
        }
        self.closed.cancel();
    }

    fn housekeeping(&mut self, now: Instant) -> Result<(), End> {
        let shared = self.shared.clone();
        let cfg = &shared.config;
        if self.session.is_none()
            && self.unbind.is_none()
            && self.connected + cfg.bind_timeout <= now
        {
            return Err(End::Close);
        }
        while let Some(&(deadline, seq)) = self.deadlines.front() {
            if !self.delivers.contains_key(&seq) {
                self.deadlines.pop_front();
                continue;
            }
            if deadline > now {
                break;
            }
            // An application that does not answer a deliver_sm is hung: close it, so the
            // receipts go to a live session instead.
            if let Some(p) = self.delivers.remove(&seq) {
                let _ = p.reply.send(Err(DeliverError::Timeout));
            }
            return Err(End::Close);
        }
        match self.enquire {
            Some((_, d)) if d <= now => return Err(End::Close),
            None if self.session.is_some() && self.last_rx + cfg.enquire_link_interval <= now => {
                let seq = self.next_seq();
                self.queue(Pdu_::new(CommandStatus::EsmeRok, seq, Pdu::EnquireLink));
                self.enquire = Some((seq, now + cfg.response_timeout));
            }
            _ => {}
        }
        if let Some((_, d)) = self.unbind
            && d <= now
        {
            return Err(End::Close);
        }
        Ok(())
    }

    fn next_wake(&self, now: Instant) -> Instant {
        let cfg = &self.shared.config;
        let mut next = now + Duration::from_secs(3600);
        if self.session.is_none() {
            next = next.min(self.connected + cfg.bind_timeout);
        }
        if let Some(&(d, _)) = self.deadlines.front() {
            next = next.min(d);
        }
        match self.enquire {
            Some((_, d)) => next = next.min(d),
            None if self.session.is_some() => {
                next = next.min(self.last_rx + cfg.enquire_link_interval)
            }
            None => {}
        }
        if let Some((_, d)) = self.unbind {
            next = next.min(d);
        }
        next
    }

    fn next_seq(&mut self) -> u32 {
        let s = self.seq;
        self.seq = if s >= 0x7FFF_FFFF { 1 } else { s + 1 };
        s
    }

    fn queue(&mut self, cmd: Pdu_) {
        let before = self.wbuf.len();
        encode_into(&cmd, &mut self.wbuf);
        self.encoded += (self.wbuf.len() - before) as u64;
    }

    fn respond(&mut self, seq: u32, st: u32, pdu: Pdu) {
        self.queue(Pdu_::new(CommandStatus::from(st), seq, pdu));
    }

    fn on_command(&mut self, cmd: Command, now: Instant) {
        let Command::Deliver { pdu, reply, permit } = cmd;
        if reply.is_closed() {
            return; // the caller gave up before it was written
        }
        let seq = self.next_seq();
        let start = self.encoded;
        self.queue(Pdu_::new(CommandStatus::EsmeRok, seq, *pdu));
        self.deadlines
            .push_back((now + self.shared.config.response_timeout, seq));
        self.delivers.insert(
            seq,
            PendingDeliver {
                reply,
                _permit: permit,
                start,
            },
        );
    }

    fn on_done(&mut self, done: Done) {
        match done {
            Done::Submit { seq, result } => {
                let (st, id) = match result {
                    Ok(id) => (status::ROK, id),
                    Err(st) => (st, String::new()),
                };
                let message_id = cstr::<1, 65>("message_id", &id).unwrap_or_else(|e| {
                    tracing::error!(%e, "handler returned an unusable message id");
                    rusmpp::types::COctetString::empty()
                });
                if st == status::ROK {
                    self.counters
                        .submits
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                self.respond(
                    seq,
                    st,
                    SubmitSmResp::builder()
                        .message_id(message_id)
                        .build()
                        .into(),
                );
            }
            Done::Query {
                seq,
                message_id,
                result,
            } => {
                let mid = cstr::<1, 65>("message_id", &message_id).unwrap_or_default();
                match result {
                    Ok(a) => {
                        let mut fd = a.final_date.into_bytes();
                        if !fd.is_empty() {
                            fd.push(0);
                        }
                        let final_date = EmptyOrFullCOctetString::from_bytes(Bytes::from(fd))
                            .unwrap_or_else(|_| EmptyOrFullCOctetString::empty());
                        let resp = QuerySmResp::new(
                            mid,
                            final_date,
                            MessageState::from(a.message_state),
                            a.error_code,
                        );
                        self.respond(seq, status::ROK, resp.into());
                    }
                    Err(st) => self.respond(
                        seq,
                        st,
                        QuerySmResp::new(
                            mid,
                            EmptyOrFullCOctetString::empty(),
                            MessageState::Unknown,
                            0,
                        )
                        .into(),
                    ),
                }
            }
            Done::Cancel { seq, result } => {
                let st = match result {
                    Ok(()) => status::ROK,
                    Err(st) => st,
                };
                self.respond(seq, st, Pdu::CancelSmResp);
            }
        }
    }

    async fn on_frame(
        &mut self,
        frame: Frame,
        tx: &mut Option<mpsc::Sender<Command>>,
    ) -> Result<(), End> {
        self.last_rx = Instant::now();
        let cmd = match frame {
            Frame::Command(c) => c,
            Frame::Invalid(bad) => {
                tracing::debug!(session = self.id, peer = %self.peer, reason = %bad.reason, "undecodable PDU");
                if bad.is_request() {
                    let st = u32::from(bad.answer_status());
                    self.respond(bad.sequence_number, st, Pdu::GenericNack);
                }
                return Ok(());
            }
        };
        let seq = cmd.sequence_number();
        let st = u32::from(cmd.status());
        match cmd.pdu() {
            Some(Pdu::BindTransmitter(b)) => {
                let req = bind_request(
                    BindKind::Transmitter,
                    &b.system_id,
                    &b.password,
                    &b.system_type,
                    b.interface_version,
                    self.peer,
                );
                self.on_bind(seq, req, tx).await
            }
            Some(Pdu::BindReceiver(b)) => {
                let req = bind_request(
                    BindKind::Receiver,
                    &b.system_id,
                    &b.password,
                    &b.system_type,
                    b.interface_version,
                    self.peer,
                );
                self.on_bind(seq, req, tx).await
            }
            Some(Pdu::BindTransceiver(b)) => {
                let req = bind_request(
                    BindKind::Transceiver,
                    &b.system_id,
                    &b.password,
                    &b.system_type,
                    b.interface_version,
                    self.peer,
                );
                self.on_bind(seq, req, tx).await
            }
            Some(Pdu::SubmitSm(sm)) => {
                let Some(session) = self.session.clone().filter(|s| s.kind.submits()) else {
                    self.respond(seq, status::RINVBNDSTS, SubmitSmResp::default().into());
                    return Ok(());
                };
                if !self.admit() {
                    self.respond(seq, status::RTHROTTLED, SubmitSmResp::default().into());
                    return Ok(());
                }
                let msg = ShortMessage::from_submit_sm(sm);
                let fut = self.shared.handler.clone().submit(session, msg);
                self.busy.push(Box::pin(async move {
                    Done::Submit {
                        seq,
                        result: fut.await,
                    }
                }));
                Ok(())
            }
            Some(Pdu::QuerySm(q)) => {
                let message_id = q.message_id.as_str().to_owned();
                let Some(session) = self.session.clone().filter(|s| s.kind.submits()) else {
                    self.on_done(Done::Query {
                        seq,
                        message_id,
                        result: Err(status::RINVBNDSTS),
                    });
                    return Ok(());
                };
                if !self.admit() {
                    self.on_done(Done::Query {
                        seq,
                        message_id,
                        result: Err(status::RTHROTTLED),
                    });
                    return Ok(());
                }
                let source = Address {
                    ton: q.source_addr_ton.into(),
                    npi: q.source_addr_npi.into(),
                    addr: q.source_addr.as_str().to_owned(),
                };
                let fut = self
                    .shared
                    .handler
                    .clone()
                    .query(session, message_id.clone(), source);
                self.busy.push(Box::pin(async move {
                    Done::Query {
                        seq,
                        message_id,
                        result: fut.await,
                    }
                }));
                Ok(())
            }
            Some(Pdu::CancelSm(c)) => {
                let Some(session) = self.session.clone().filter(|s| s.kind.submits()) else {
                    self.respond(seq, status::RINVBNDSTS, Pdu::CancelSmResp);
                    return Ok(());
                };
                if !self.admit() {
                    self.respond(seq, status::RTHROTTLED, Pdu::CancelSmResp);
                    return Ok(());
                }
                let req = CancelRequest {
                    message_id: c.message_id.as_str().to_owned(),
                    service_type: c.service_type.value().as_str().to_owned(),
                    source: Address {
                        ton: c.source_addr_ton.into(),
                        npi: c.source_addr_npi.into(),
                        addr: c.source_addr.as_str().to_owned(),
                    },
                    destination: Address {
                        ton: c.dest_addr_ton.into(),
                        npi: c.dest_addr_npi.into(),
                        addr: c.destination_addr.as_str().to_owned(),
                    },
                };
                let fut = self.shared.handler.clone().cancel(session, req);
                self.busy.push(Box::pin(async move {
                    Done::Cancel {
                        seq,
                        result: fut.await,
                    }
                }));
                Ok(())
            }
            Some(Pdu::DeliverSmResp(_)) | Some(Pdu::DataSmResp(_)) => {
                self.on_deliver_resp(seq, st);
                Ok(())
            }
            Some(Pdu::GenericNack) => {
                // A nack of one of our deliver_sm is its answer.
                self.on_deliver_resp(seq, if st == 0 { status::RSYSERR } else { st });
                Ok(())
            }
            Some(Pdu::EnquireLink) => {
                self.respond(seq, status::ROK, Pdu::EnquireLinkResp);
                Ok(())
            }
            Some(Pdu::EnquireLinkResp) => {
                if self.enquire.is_some_and(|(s, _)| s == seq) {
                    self.enquire = None;
                }
                Ok(())
            }
            Some(Pdu::Unbind) => {
                self.respond(seq, status::ROK, Pdu::UnbindResp);
                Err(End::Close)
            }
            Some(Pdu::UnbindResp) => {
                if self.unbind.is_some_and(|(s, _)| s == seq) {
                    return Err(End::Close);
                }
                Ok(())
            }
            Some(Pdu::DataSm(_)) => {
                // data_sm from applications is not offered (SMPP 3.4 §4.7: optional).
                self.respond(seq, status::RINVCMDID, DataSmResp::default().into());
                Ok(())
            }
            _ => {
                if u32::from(cmd.id()) & 0x8000_0000 == 0 {
                    self.respond(seq, status::RINVCMDID, Pdu::GenericNack);
                }
                Ok(())
            }
        }
    }

    /// The per-bind window and rate: true when one more request may be handled now.
    fn admit(&mut self) -> bool {
        let over_window = self.busy.len() >= self.shared.config.window.max(1);
        let over_rate = self.limiter.as_ref().is_some_and(|l| l.check().is_err());
        if over_window || over_rate {
            self.counters
                .throttled
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return false;
        }
        true
    }

    fn on_deliver_resp(&mut self, seq: u32, st: u32) {
        let Some(p) = self.delivers.remove(&seq) else {
            return;
        };
        let result = if st == status::ROK {
            self.counters
                .delivered
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        } else {
            Err(DeliverError::Rejected(st))
        };
        let _ = p.reply.send(result);
    }

    async fn on_bind(
        &mut self,
        seq: u32,
        req: BindRequest,
        tx: &mut Option<mpsc::Sender<Command>>,
    ) -> Result<(), End> {
        let kind = req.kind;
        let resp = |sid| -> Pdu {
            // SMPP 3.4 §4.1.2: sc_interface_version tells a 3.4 ESME what we speak.
            let v = Some(InterfaceVersion::Smpp3_4);
            match kind {
                BindKind::Transmitter => BindTransmitterResp::new(sid, v).into(),
                BindKind::Receiver => BindReceiverResp::new(sid, v).into(),
                BindKind::Transceiver => BindTransceiverResp::new(sid, v).into(),
            }
        };
        let sid = cstr::<1, 16>("system_id", &self.shared.config.system_id).unwrap_or_default();
        if self.session.is_some() {
            self.respond(seq, status::RALYBND, resp(sid));
            return Ok(());
        }
        let system_id = req.system_id.clone();
        let handler = self.shared.handler.clone();
        let bound = timeout(self.shared.config.response_timeout, handler.bind(req)).await;
        let account = match bound {
            Ok(Ok(account)) => account,
            Ok(Err(st)) => {
                let st = if st == 0 { status::RBINDFAIL } else { st };
                self.respond(seq, st, resp(sid));
                // Like most SMSCs, hang up after a refused bind (the answer is flushed first).
                return Err(End::Close);
            }
            Err(_) => {
                self.respond(seq, status::RSYSERR, resp(sid));
                return Err(End::Close);
            }
        };
        let session = Session {
            account,
            system_id,
            id: self.id,
            kind,
            peer: self.peer,
        };
        self.shared.lock_sessions().insert(
            self.id,
            SessionEntry {
                session: session.clone(),
                counters: self.counters.clone(),
                closed: self.closed.clone(),
            },
        );
        if kind.receives()
            && let Some(tx) = tx.take()
        {
            self.shared
                .lock_receivers()
                .entry(account)
                .or_default()
                .push(Receiver {
                    session_id: self.id,
                    tx,
                    window: Arc::new(Semaphore::new(self.shared.config.deliver_window.max(1))),
                });
        }
        self.session = Some(session);
        self.respond(seq, status::ROK, resp(sid));
        Ok(())
    }
}

fn bind_request(
    kind: BindKind,
    system_id: &rusmpp::types::COctetString<1, 16>,
    password: &rusmpp::types::COctetString<1, 9>,
    system_type: &rusmpp::types::COctetString<1, 13>,
    version: InterfaceVersion,
    peer: SocketAddr,
) -> BindRequest {
    BindRequest {
        system_id: system_id.as_str().to_owned(),
        password: password.as_str().to_owned(),
        system_type: system_type.as_str().to_owned(),
        interface_version: version.into(),
        kind,
        peer,
    }
}

async fn timeout_at_opt<F: Future>(deadline: Instant, f: F) -> Option<F::Output> {
    tokio::time::timeout_at(deadline, f).await.ok()
}
