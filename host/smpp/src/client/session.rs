//! One link role's life: connect, bind, run the session, reconnect; and the session loop itself.
//!
//! The session is one task and one `select!` loop over four sources: frames from the socket,
//! writes of the output buffer, new submits from callers, and a single timer. Submits are
//! encoded into the output buffer as they are taken (up to a batch at a time) and written with
//! one `write` for many PDUs; reading never waits for writing, so the SMSC can stream receipts
//! while we stream submits (a loop that blocks on its own write while the peer blocks on its
//! write would deadlock both). Every octet count is tracked so that, when a session dies, each
//! unanswered submit knows whether any of it reached the socket (`maybe_sent`).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use futures_util::{FutureExt, StreamExt};
use rusmpp::pdus::{BindReceiver, BindTransceiver, BindTransmitter, DataSmResp, DeliverSmResp};
use rusmpp::values::{InterfaceVersion, Npi, Ton};
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use super::throttle::Throttle;
use super::{
    DeliverAck, DownReason, Job, LinkEvent, LinkState, ReceiptEvent, Role, Shared, SubmitError,
    SubmitResponse, bump, outcome_of, pack_second,
};
use crate::frame::{Frame, PduCodec, encode_into};
use crate::message::ShortMessage;
use crate::receipt::{self, IdSource, canonical_id};
use crate::status::{self, StatusClass};

type Reader = FramedRead<Box<dyn AsyncRead + Send + Unpin>, PduCodec>;
type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// Stop taking new submits while this much is waiting to be written.
const WBUF_HIGH: usize = 256 * 1024;
/// Submits taken from the queue per loop turn, and frames read per turn.
const BATCH: usize = 128;

/// Runs one role of a link until shutdown.
pub(super) async fn supervise(
    shared: Arc<Shared>,
    role: Role,
    mut jobs: Option<mpsc::Receiver<Job>>,
    events: mpsc::Sender<LinkEvent>,
    cancel: CancellationToken,
) {
    let cfg = &shared.config;
    let mut throttle = Throttle::new(cfg.throttle, shared.window.clone(), cfg.window);
    let mut attempt: u32 = 0;
    loop {
        if cancel.is_cancelled() {
            break;
        }
        shared.set_state(role, LinkState::Connecting);
        let conn = refusing_jobs(&mut jobs, &cancel, connect_and_bind(&shared, role)).await;
        let reason = match conn {
            None => break, // cancelled while connecting
            Some(Err(reason)) => {
                tracing::warn!(link = %cfg.name, ?role, ?reason, "SMPP bind failed");
                reason
            }
            Some(Ok((reader, writer))) => {
                attempt = 0;
                shared.set_state(role, LinkState::Bound);
                tracing::info!(link = %cfg.name, ?role, "SMPP bound");
                let _ = events.send(LinkEvent::Bound { role }).await;
                let mut session =
                    Session::new(&shared, role, reader, writer, &events, &mut throttle);
                let reason = session.run(jobs.as_mut(), &cancel).await;
                // Down before the callers hear of it, so that none of them sees "bound" again.
                shared.set_state(role, LinkState::Down);
                session.fail_all();
                if reason != DownReason::Shutdown {
                    bump(&shared.counters.reconnects);
                    tracing::warn!(link = %cfg.name, ?role, ?reason, "SMPP session ended");
                }
                reason
            }
        };
        shared.set_state(role, LinkState::Down);
        let shutdown = reason == DownReason::Shutdown;
        let _ = events.send(LinkEvent::Down { role, reason }).await;
        if shutdown || cancel.is_cancelled() {
            break;
        }
        let delay = cfg.reconnect.delay(attempt);
        attempt = attempt.saturating_add(1);
        let wait = async {
            tokio::time::sleep(delay).await;
        };
        if refusing_jobs(&mut jobs, &cancel, wait).await.is_none() {
            break;
        }
    }
    shared.set_state(role, LinkState::Closed);
    if let Some(jobs) = jobs.as_mut() {
        jobs.close();
        while let Ok(job) = jobs.try_recv() {
            let _ = job
                .reply
                .send(Err(SubmitError::LinkDown { maybe_sent: false }));
        }
    }
}

/// Drives `fut` while answering every submit that arrives with `LinkDown { maybe_sent: false }`
/// (the link is not bound, so the scheduler should route elsewhere now rather than wait for a
/// reconnect). `None` when cancelled first.
async fn refusing_jobs<F: Future>(
    jobs: &mut Option<mpsc::Receiver<Job>>,
    cancel: &CancellationToken,
    fut: F,
) -> Option<F::Output> {
    tokio::pin!(fut);
    loop {
        tokio::select! {
            out = &mut fut => return Some(out),
            _ = cancel.cancelled() => return None,
            Some(job) = recv(jobs) => {
                let _ = job.reply.send(Err(SubmitError::LinkDown { maybe_sent: false }));
            }
        }
    }
}

async fn recv(jobs: &mut Option<mpsc::Receiver<Job>>) -> Option<Job> {
    match jobs {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn connect_and_bind(shared: &Shared, role: Role) -> Result<(Reader, Writer), DownReason> {
    let cfg = &shared.config;
    let tcp = timeout(
        cfg.connect_timeout,
        tokio::net::TcpStream::connect((cfg.host.as_str(), cfg.port)),
    )
    .await
    .map_err(|_| DownReason::Connect("connect timed out".into()))?
    .map_err(|e| DownReason::Connect(e.to_string()))?;
    // Without TCP_NODELAY a small deliver_sm_resp followed by a small submit_sm waits for the
    // peer's delayed ACK (Nagle): Kannel drops from ~2,700 to ~450 msg/s once receipts flow.
    tcp.set_nodelay(true)
        .map_err(|e| DownReason::Connect(e.to_string()))?;
    let (read, write): (Box<dyn AsyncRead + Send + Unpin>, Writer) = match &cfg.tls {
        None => {
            let (r, w) = tcp.into_split();
            (Box::new(r), Box::new(w))
        }
        Some(tls) => {
            let stream = timeout(
                cfg.connect_timeout,
                crate::tls::connect(tcp, &cfg.host, tls),
            )
            .await
            .map_err(|_| DownReason::Connect("TLS handshake timed out".into()))?
            .map_err(|e| DownReason::Connect(format!("TLS: {e}")))?;
            let (r, w) = tokio::io::split(stream);
            (Box::new(r), Box::new(w))
        }
    };
    let mut reader = FramedRead::new(read, PduCodec::new(cfg.max_pdu));
    let mut writer = write;
    let bind = bind_pdu(shared, role).map_err(|e| DownReason::Connect(e.to_string()))?;
    let bind = Command::new(CommandStatus::EsmeRok, 1, bind);
    let mut buf = BytesMut::new();
    encode_into(&bind, &mut buf);
    let exchange = async {
        writer
            .write_all(&buf)
            .await
            .map_err(|e| DownReason::Io(e.to_string()))?;
        loop {
            let frame = match reader.next().await {
                None => return Err(DownReason::Closed),
                Some(Err(e)) => return Err(DownReason::Framing(e.to_string())),
                Some(Ok(f)) => f,
            };
            match frame {
                Frame::Command(cmd) if cmd.sequence_number() == 1 => {
                    let st = u32::from(cmd.status());
                    let is_resp = matches!(
                        cmd.id(),
                        CommandId::BindTransceiverResp
                            | CommandId::BindTransmitterResp
                            | CommandId::BindReceiverResp
                            | CommandId::GenericNack
                    );
                    if is_resp {
                        return if st == status::ROK && cmd.id() != CommandId::GenericNack {
                            Ok(())
                        } else {
                            Err(DownReason::BindRefused(if st == 0 {
                                status::RBINDFAIL
                            } else {
                                st
                            }))
                        };
                    }
                }
                Frame::Command(cmd) if cmd.id() == CommandId::EnquireLink => {
                    let resp = Command::new(
                        CommandStatus::EsmeRok,
                        cmd.sequence_number(),
                        Pdu::EnquireLinkResp,
                    );
                    let mut b = BytesMut::new();
                    encode_into(&resp, &mut b);
                    writer
                        .write_all(&b)
                        .await
                        .map_err(|e| DownReason::Io(e.to_string()))?;
                }
                // Anything else before the bind answer is ignored (SMPP 3.4 §2.3: nothing but
                // the bind is valid in the OPEN state).
                _ => {}
            }
        }
    };
    match timeout(cfg.response_timeout, exchange).await {
        Err(_) => Err(DownReason::BindTimeout),
        Ok(Err(e)) => Err(e),
        Ok(Ok(())) => Ok((reader, writer)),
    }
}

fn bind_pdu(shared: &Shared, role: Role) -> Result<Pdu, crate::message::RequestError> {
    use crate::message::cstr;
    let cfg = &shared.config;
    let system_id = cstr("system_id", &cfg.system_id)?;
    let password = cstr("password", &cfg.password)?;
    let system_type = cstr("system_type", &cfg.system_type)?;
    let range = cstr("address_range", &cfg.address_range.addr)?;
    let version = InterfaceVersion::from(cfg.interface_version);
    let ton = Ton::from(cfg.address_range.ton);
    let npi = Npi::from(cfg.address_range.npi);
    Ok(match role {
        Role::Transceiver => BindTransceiver::builder()
            .system_id(system_id)
            .password(password)
            .system_type(system_type)
            .interface_version(version)
            .addr_ton(ton)
            .addr_npi(npi)
            .address_range(range)
            .build()
            .into(),
        Role::Transmitter => BindTransmitter::builder()
            .system_id(system_id)
            .password(password)
            .system_type(system_type)
            .interface_version(version)
            .addr_ton(ton)
            .addr_npi(npi)
            .address_range(range)
            .build()
            .into(),
        Role::Receiver => BindReceiver::builder()
            .system_id(system_id)
            .password(password)
            .system_type(system_type)
            .interface_version(version)
            .addr_ton(ton)
            .addr_npi(npi)
            .address_range(range)
            .build()
            .into(),
    })
}

struct InFlight {
    job: Job,
    /// Octets encoded before this PDU: it reached the socket iff `written > start`.
    start: u64,
    sent_at: Instant,
}

struct Session<'a> {
    shared: &'a Shared,
    role: Role,
    events: &'a mpsc::Sender<LinkEvent>,
    throttle: &'a mut Throttle,
    reader: Reader,
    writer: Writer,
    wbuf: BytesMut,
    encoded: u64,
    written: u64,
    seq: u32,
    inflight: HashMap<u32, InFlight>,
    /// The submit whose response timed out, answered when the session is torn down.
    timed_out: Option<InFlight>,
    /// (deadline, seq) in send order; entries whose seq is no longer in flight are stale.
    deadlines: VecDeque<(Instant, u32)>,
    /// Throttled submits waiting for the pause to end, oldest first.
    retry: VecDeque<Job>,
    enquire: Option<(u32, Instant)>,
    last_rx: Instant,
    /// Time spent blocked on a full event channel: deadlines move by this much, because the
    /// SMSC's answers may have been waiting unread in the socket meanwhile.
    blocked: Duration,
    draining: Option<Instant>,
    unbind: Option<(u32, Instant)>,
    second: (u64, u64),
    /// Receipts released by their owner ([`DeliverAck`]): (sequence, was a data_sm).
    acks_tx: mpsc::UnboundedSender<(u32, bool)>,
    acks_rx: mpsc::UnboundedReceiver<(u32, bool)>,
}

impl<'a> Session<'a> {
    fn new(
        shared: &'a Shared,
        role: Role,
        reader: Reader,
        writer: Writer,
        events: &'a mpsc::Sender<LinkEvent>,
        throttle: &'a mut Throttle,
    ) -> Self {
        let (acks_tx, acks_rx) = mpsc::unbounded_channel();
        Session {
            shared,
            role,
            events,
            throttle,
            reader,
            writer,
            wbuf: BytesMut::with_capacity(64 * 1024),
            encoded: 0,
            written: 0,
            seq: 1,
            inflight: HashMap::new(),
            timed_out: None,
            deadlines: VecDeque::new(),
            retry: VecDeque::new(),
            enquire: None,
            last_rx: Instant::now(),
            blocked: Duration::ZERO,
            draining: None,
            unbind: None,
            second: (0, 0),
            acks_tx,
            acks_rx,
        }
    }

    async fn run(
        &mut self,
        mut jobs: Option<&mut mpsc::Receiver<Job>>,
        cancel: &CancellationToken,
    ) -> DownReason {
        let timer = sleep_until(Instant::now() + Duration::from_secs(3600));
        tokio::pin!(timer);
        let mut armed = None;
        loop {
            let now = Instant::now();
            if let Err(reason) = self.housekeeping(now) {
                return reason;
            }
            if let Some((_, deadline)) = self.unbind
                && self.inflight.is_empty()
                && self.wbuf.is_empty()
                && deadline <= now
            {
                return DownReason::Shutdown;
            }
            let next = self.next_wake(now);
            if armed != Some(next) {
                timer.as_mut().reset(next);
                armed = Some(next);
            }
            let take_jobs = self.role.submits()
                && self.draining.is_none()
                && self.throttle.paused_until(now).is_none()
                && self.wbuf.len() < WBUF_HIGH;
            let jobs_open = jobs.is_some();
            tokio::select! {
                frame = self.reader.next() => {
                    let Some(frame) = frame else { return self.closed_reason() };
                    let frame = match frame {
                        Ok(f) => f,
                        Err(e) => return DownReason::Framing(e.to_string()),
                    };
                    if let Err(reason) = self.on_frame(frame).await {
                        return reason;
                    }
                    // Take what else is already buffered before going round the loop.
                    for _ in 0..BATCH {
                        match self.reader.next().now_or_never() {
                            Some(Some(Ok(f))) => {
                                if let Err(reason) = self.on_frame(f).await {
                                    return reason;
                                }
                            }
                            Some(Some(Err(e))) => return DownReason::Framing(e.to_string()),
                            Some(None) => return self.closed_reason(),
                            None => break,
                        }
                    }
                }
                res = self.writer.write(&self.wbuf), if !self.wbuf.is_empty() => {
                    match res {
                        Ok(0) => return DownReason::Closed,
                        Ok(n) => {
                            self.wbuf.advance(n);
                            self.written += n as u64;
                        }
                        Err(e) => return DownReason::Io(e.to_string()),
                    }
                }
                job = recv_some(&mut jobs), if take_jobs && jobs_open => {
                    match job {
                        None => {
                            // Every handle is gone: shut down gracefully.
                            jobs = None;
                            self.start_drain(Instant::now());
                        }
                        Some(job) => {
                            self.send_job(job);
                            if let Some(rx) = jobs.as_mut() {
                                for _ in 1..BATCH {
                                    if self.wbuf.len() >= WBUF_HIGH {
                                        break;
                                    }
                                    match rx.try_recv() {
                                        Ok(job) => self.send_job(job),
                                        Err(_) => break,
                                    }
                                }
                            }
                        }
                    }
                }
                Some((seq, data_sm)) = self.acks_rx.recv() => {
                    self.answer_delivery(seq, data_sm);
                    while let Ok((seq, data_sm)) = self.acks_rx.try_recv() {
                        self.answer_delivery(seq, data_sm);
                    }
                }
                _ = &mut timer => {
                    armed = None;
                }
                _ = cancel.cancelled(), if self.draining.is_none() => {
                    self.start_drain(Instant::now());
                    if let Some(rx) = jobs.as_mut() {
                        // Not written yet: refuse now so the scheduler can route elsewhere.
                        rx.close();
                        while let Ok(job) = rx.try_recv() {
                            let _ = job.reply.send(Err(SubmitError::LinkDown { maybe_sent: false }));
                        }
                    }
                }
            }
        }
    }

    fn closed_reason(&self) -> DownReason {
        if self.unbind.is_some() {
            DownReason::Shutdown
        } else {
            DownReason::Closed
        }
    }

    fn start_drain(&mut self, now: Instant) {
        if self.draining.is_none() {
            self.draining = Some(now + self.shared.config.drain_timeout);
            // Throttled submits waiting for a re-send were never accepted: give them back.
            while let Some(job) = self.retry.pop_front() {
                self.finish(job, Err(SubmitError::Throttled));
            }
        }
    }

    /// Timeouts, enquire_link, re-sends after a throttling pause, and the shutdown sequence.
    fn housekeeping(&mut self, now: Instant) -> Result<(), DownReason> {
        let cfg = &self.shared.config;
        // Response timeouts, oldest first.
        while let Some(&(deadline, seq)) = self.deadlines.front() {
            if !self.inflight.contains_key(&seq) {
                self.deadlines.pop_front();
                continue;
            }
            if deadline + self.blocked > now {
                break;
            }
            self.deadlines.pop_front();
            // Answered by `fail_all` once the link is marked down.
            self.timed_out = self.inflight.remove(&seq);
            return Err(DownReason::ResponseTimeout);
        }
        match self.enquire {
            Some((_, deadline)) if deadline + self.blocked <= now => {
                return Err(DownReason::EnquireLinkTimeout);
            }
            Some(_) => {}
            None if self.last_rx + cfg.enquire_link_interval <= now && self.unbind.is_none() => {
                let seq = self.next_seq();
                self.queue(Command::new(CommandStatus::EsmeRok, seq, Pdu::EnquireLink));
                self.enquire = Some((seq, now + cfg.response_timeout));
            }
            None => {}
        }
        if !self.retry.is_empty()
            && self.throttle.paused_until(now).is_none()
            && self.draining.is_none()
        {
            while let Some(job) = self.retry.pop_front() {
                self.send_job(job);
            }
        }
        if let Some(drain_deadline) = self.draining
            && self.unbind.is_none()
            && (self.inflight.is_empty() || drain_deadline <= now)
        {
            self.fail_all();
            let seq = self.next_seq();
            self.queue(Command::new(CommandStatus::EsmeRok, seq, Pdu::Unbind));
            self.unbind = Some((seq, now + cfg.response_timeout));
        }
        // Publish the window and the per-second submit count for `status()`.
        self.shared
            .in_flight
            .store(self.inflight.len() + self.retry.len(), Ordering::Relaxed);
        self.shared
            .window_limit
            .store(self.throttle.effective(), Ordering::Relaxed);
        Ok(())
    }

    fn next_wake(&self, now: Instant) -> Instant {
        let cfg = &self.shared.config;
        let mut next = now + Duration::from_secs(3600);
        if let Some(&(d, _)) = self.deadlines.front() {
            next = next.min(d + self.blocked);
        }
        match self.enquire {
            Some((_, d)) => next = next.min(d + self.blocked),
            None => next = next.min(self.last_rx + cfg.enquire_link_interval),
        }
        if let Some(t) = self.throttle.paused_until(now) {
            next = next.min(t);
        }
        if let Some(t) = self.draining
            && self.unbind.is_none()
        {
            next = next.min(t);
        }
        if let Some((_, t)) = self.unbind {
            next = next.min(t);
        }
        // Once a second, to roll the submits-per-second counter.
        next.min(now + Duration::from_secs(1))
    }

    fn next_seq(&mut self) -> u32 {
        // SMPP 3.4 §5.1.4: 0x00000001 to 0x7FFFFFFF, then wrap.
        let s = self.seq;
        self.seq = if s >= 0x7FFF_FFFF { 1 } else { s + 1 };
        s
    }

    fn queue(&mut self, cmd: Command) {
        let before = self.wbuf.len();
        encode_into(&cmd, &mut self.wbuf);
        self.encoded += (self.wbuf.len() - before) as u64;
    }

    fn send_job(&mut self, mut job: Job) {
        if job.reply.is_closed() {
            // The caller stopped waiting before anything was written: never send it.
            bump(&self.shared.counters.abandoned);
            return;
        }
        let seq = self.next_seq();
        job.cmd.sequence_number = seq;
        let start = self.encoded;
        let before = self.wbuf.len();
        encode_into(&job.cmd, &mut self.wbuf);
        self.encoded += (self.wbuf.len() - before) as u64;
        job.attempts += 1;
        let now = Instant::now();
        self.deadlines
            .push_back((now + self.shared.config.response_timeout, seq));
        self.inflight.insert(
            seq,
            InFlight {
                job,
                start,
                sent_at: now,
            },
        );
        bump(&self.shared.counters.submitted);
        let sec = now.saturating_duration_since(self.shared.started).as_secs();
        if sec != self.second.0 {
            if sec == self.second.0 + 1 {
                self.shared
                    .last_second
                    .store(pack_second(self.second.0, self.second.1), Ordering::Relaxed);
            }
            self.second = (sec, 0);
        }
        self.second.1 += 1;
    }

    /// Answers a job and returns its window slot (or forgets it, to pay throttle debt).
    fn finish(&mut self, job: Job, result: Result<SubmitResponse, SubmitError>) {
        let _ = job.reply.send(result);
        if self.throttle.take_debt() {
            job.permit.forget();
        }
    }

    /// Ends the session's obligations: every unanswered submit learns whether it may have been
    /// sent; throttled ones waiting for a re-send were not accepted.
    fn fail_all(&mut self) {
        let written = self.written;
        if let Some(inf) = self.timed_out.take() {
            bump(&self.shared.counters.lost);
            let maybe_sent = written > inf.start;
            self.finish(inf.job, Err(SubmitError::Timeout { maybe_sent }));
        }
        let inflight: Vec<_> = self.inflight.drain().map(|(_, v)| v).collect();
        for inf in inflight {
            bump(&self.shared.counters.lost);
            let maybe_sent = written > inf.start;
            self.finish(inf.job, Err(SubmitError::LinkDown { maybe_sent }));
        }
        while let Some(job) = self.retry.pop_front() {
            self.finish(job, Err(SubmitError::Throttled));
        }
        self.deadlines.clear();
        self.shared.in_flight.store(0, Ordering::Relaxed);
    }

    async fn emit(&mut self, event: LinkEvent) {
        match self.events.try_send(event) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
            Err(mpsc::error::TrySendError::Full(event)) => {
                let t = Instant::now();
                let _ = self.events.send(event).await;
                self.blocked += t.elapsed();
            }
        }
    }

    async fn on_frame(&mut self, frame: Frame) -> Result<(), DownReason> {
        self.last_rx = Instant::now();
        let cmd = match frame {
            Frame::Command(cmd) => cmd,
            Frame::Invalid(bad) => {
                bump(&self.shared.counters.decode_errors);
                tracing::warn!(link = %self.shared.config.name, id = bad.command_id, reason = %bad.reason, "undecodable PDU from SMSC");
                let seq = bad.sequence_number;
                match CommandId::from(bad.command_id) {
                    // A receipt or MO we cannot read: answer so the SMSC does not redeliver
                    // it forever, with the "permanent, do not retry" code.
                    CommandId::DeliverSm => {
                        self.respond(seq, status::RX_P_APPN, DeliverSmResp::default().into())
                    }
                    CommandId::DataSm => {
                        self.respond(seq, status::RX_P_APPN, DataSmResp::default().into())
                    }
                    CommandId::SubmitSmResp => {
                        // The header status still says what happened.
                        self.on_submit_resp(seq, bad.command_status, String::new());
                    }
                    _ if bad.is_request() => {
                        let st = u32::from(bad.answer_status());
                        self.respond(seq, st, Pdu::GenericNack);
                    }
                    _ => {}
                }
                return Ok(());
            }
        };
        let seq = cmd.sequence_number();
        let st = u32::from(cmd.status());
        match cmd.pdu() {
            Some(Pdu::SubmitSmResp(resp)) => {
                self.on_submit_resp(seq, st, resp.message_id().as_str().to_owned());
            }
            Some(Pdu::DeliverSm(d)) => {
                let sm = ShortMessage::from_deliver_sm(d);
                let ack = self.ack_for(seq, false);
                self.on_message(sm, ack).await;
            }
            Some(Pdu::DataSm(d)) => {
                let sm = ShortMessage::from_data_sm(d);
                let ack = self.ack_for(seq, true);
                self.on_message(sm, ack).await;
            }
            Some(Pdu::EnquireLink) => self.respond(seq, status::ROK, Pdu::EnquireLinkResp),
            Some(Pdu::EnquireLinkResp) => {
                if self.enquire.is_some_and(|(s, _)| s == seq) {
                    self.enquire = None;
                }
            }
            Some(Pdu::Unbind) => {
                self.respond(seq, status::ROK, Pdu::UnbindResp);
                // Best effort: let the answer out before the session ends.
                let _ = timeout(
                    Duration::from_millis(200),
                    self.writer.write_all(&self.wbuf),
                )
                .await;
                self.written += self.wbuf.len() as u64;
                self.wbuf.clear();
                return Err(DownReason::PeerUnbind);
            }
            Some(Pdu::UnbindResp) => {
                if self.unbind.is_some_and(|(s, _)| s == seq) {
                    return Err(DownReason::Shutdown);
                }
            }
            Some(Pdu::GenericNack) => {
                // A nack for one of our submits ends that submit; for anything else it is logged.
                if self.inflight.contains_key(&seq) {
                    let st = if st == 0 { status::RSYSERR } else { st };
                    self.on_submit_resp(seq, st, String::new());
                } else {
                    tracing::warn!(link = %self.shared.config.name, seq, status = %status::Status(st), "generic_nack from SMSC");
                }
            }
            Some(Pdu::AlertNotification(_)) | Some(Pdu::Outbind(_)) => {}
            _ => {
                // Requests we do not serve (replace_sm, submit_sm from an SMSC …) get a nack;
                // stray responses are ignored.
                if u32::from(cmd.id()) & 0x8000_0000 == 0 {
                    self.respond(seq, status::RINVCMDID, Pdu::GenericNack);
                }
            }
        }
        Ok(())
    }

    fn respond(&mut self, seq: u32, st: u32, pdu: Pdu) {
        self.queue(Command::new(CommandStatus::from(st), seq, pdu));
    }

    fn on_submit_resp(&mut self, seq: u32, st: u32, message_id: String) {
        let Some(inf) = self.inflight.remove(&seq) else {
            tracing::debug!(link = %self.shared.config.name, seq, "submit_sm_resp for nothing in flight");
            return;
        };
        let counters = &self.shared.counters;
        match outcome_of(st) {
            Ok(()) => {
                self.throttle.on_success();
                bump(&counters.accepted);
                let canonical_id = canonical_id(
                    &message_id,
                    IdSource::SubmitResp,
                    self.shared.config.id_format,
                );
                let attempts = inf.job.attempts;
                self.finish(
                    inf.job,
                    Ok(SubmitResponse {
                        message_id,
                        canonical_id,
                        attempts,
                    }),
                );
            }
            Err(err @ (SubmitError::Throttled | SubmitError::QueueFull)) => {
                bump(&counters.throttled);
                let now = Instant::now();
                if let Some((pause, window)) = self.throttle.on_throttle(now, inf.sent_at) {
                    tracing::debug!(link = %self.shared.config.name, ?pause, window, "throttled");
                    // Not awaited: a full event channel must not hold up the submit path.
                    let _ = self.events.try_send(LinkEvent::Throttled { pause, window });
                }
                if inf.job.attempts <= self.shared.config.throttle.retries
                    && self.draining.is_none()
                {
                    self.retry.push_back(inf.job);
                } else {
                    bump(&counters.errors);
                    self.finish(inf.job, Err(err));
                }
            }
            Err(err) => {
                debug_assert!(matches!(
                    status::classify(st),
                    StatusClass::Permanent | StatusClass::Temporary
                ));
                bump(&counters.errors);
                self.finish(inf.job, Err(err));
            }
        }
    }

    /// Answers a delivery now, or (with `defer_deliver_resp`) hands out the [`DeliverAck`]
    /// that answers it once the owner has stored it.
    fn ack_for(&mut self, seq: u32, data_sm: bool) -> DeliverAck {
        if self.shared.config.defer_deliver_resp {
            return DeliverAck::new(seq, data_sm, self.acks_tx.clone());
        }
        self.answer_delivery(seq, data_sm);
        DeliverAck::none()
    }

    fn answer_delivery(&mut self, seq: u32, data_sm: bool) {
        let resp: Pdu = if data_sm {
            DataSmResp::default().into()
        } else {
            DeliverSmResp::default().into()
        };
        self.respond(seq, status::ROK, resp);
    }

    /// A deliver_sm / data_sm: an MO or a receipt, answered by `ack` (which an unparseable
    /// receipt releases at once).
    async fn on_message(&mut self, sm: ShortMessage, ack: DeliverAck) {
        let counters = &self.shared.counters;
        if !sm.is_receipt() {
            bump(&counters.mo);
            self.emit(LinkEvent::Mo(sm, ack)).await;
            return;
        }
        bump(&counters.receipts);
        let text = receipt::receipt_text(sm.data_coding, sm.payload());
        let event = match receipt::parse(&text, &sm.receipt_tlvs) {
            Ok(receipt) => {
                let canonical_id = canonical_id(
                    &receipt.message_id,
                    IdSource::Receipt,
                    self.shared.config.id_format,
                );
                LinkEvent::Receipt(ReceiptEvent {
                    receipt,
                    canonical_id,
                    from: sm.source,
                    to: sm.destination,
                    ack,
                })
            }
            Err(error) => LinkEvent::BadReceipt { text, error },
        };
        self.emit(event).await;
    }
}

async fn recv_some(jobs: &mut Option<&mut mpsc::Receiver<Job>>) -> Option<Job> {
    match jobs {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
