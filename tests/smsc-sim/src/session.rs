//! One ESME connection to the simulator: bind, submits, receipts and MO out, faults.
//!
//! One task per connection with a `select!` over reading frames, writing the output buffer,
//! deliver_sm handed over by other sessions (receipts for a transmitter's submits go to a
//! receiver of the same account), delayed items coming due, and the "down" signal. Responses
//! are encoded straight into the output buffer, so a burst of submits is answered with one
//! write.

use std::cmp::{Ordering as CmpOrdering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::{Buf, Bytes, BytesMut};
use futures_util::{FutureExt, StreamExt};
use rusmpp::pdus::{
    BindReceiverResp, BindTransceiverResp, BindTransmitterResp, SubmitSm, SubmitSmResp,
};
use rusmpp::tlvs::TlvValue;
use rusmpp::types::COctetString;
use rusmpp::values::InterfaceVersion;
use rusmpp::{Command, Pdu};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tokio_util::codec::FramedRead;

use crate::wire::{self, Addr, DeliverSpec, Framing};
use crate::{Faults, Garbage, Inner, OutKind, Outbound, RecordedSubmit, receipt};

const ROK: u32 = 0;
const RINVBNDSTS: u32 = 0x04;
const RALYBND: u32 = 0x05;
const RINVDSTADR: u32 = 0x0B;
const RINVPASWD: u32 = 0x0E;
const RINVSYSID: u32 = 0x0F;
const RMSGQFUL: u32 = 0x14;
const RTHROTTLED: u32 = 0x58;
const RINVCMDID: u32 = 0x03;
const RSYSERR: u32 = 0x08;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum BindKind {
    Transmitter,
    Receiver,
    Transceiver,
}

impl BindKind {
    fn name(self) -> &'static str {
        match self {
            BindKind::Transmitter => "transmitter",
            BindKind::Receiver => "receiver",
            BindKind::Transceiver => "transceiver",
        }
    }
}

enum Item {
    Resp(Command),
    Out(Outbound),
}

struct Timed {
    due: Instant,
    order: u64,
    item: Item,
}

impl PartialEq for Timed {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.order) == (other.due, other.order)
    }
}
impl Eq for Timed {}
impl PartialOrd for Timed {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Timed {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        (self.due, self.order).cmp(&(other.due, other.order))
    }
}

struct Session {
    inner: Arc<Inner>,
    conn: u64,
    wbuf: BytesMut,
    bound: Option<(String, BindKind)>,
    tx: mpsc::UnboundedSender<Outbound>,
    delayed: BinaryHeap<Reverse<Timed>>,
    order: u64,
    seq: u32,
    /// deliver_sm sent and not yet answered, kept whole so a receipt can be held again.
    awaiting: HashMap<u32, Outbound>,
    submits: u64,
    garbage_done: bool,
}

enum Next {
    Continue,
    Close,
}

pub(crate) async fn run(inner: Arc<Inner>, conn: u64, tcp: TcpStream) {
    let (r, mut w) = tcp.into_split();
    let mut reader = FramedRead::new(r, Framing);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut down = inner.down_epoch.subscribe();
    let mut s = Session {
        inner: inner.clone(),
        conn,
        wbuf: BytesMut::with_capacity(64 * 1024),
        bound: None,
        tx,
        delayed: BinaryHeap::new(),
        order: 0,
        seq: 1,
        awaiting: HashMap::new(),
        submits: 0,
        garbage_done: false,
    };
    let far = Instant::now() + Duration::from_secs(86_400);
    // Whether to write out what is buffered before closing (an orderly close after a bind
    // refusal or unbind) rather than hang up abruptly (down, drop, socket error).
    let mut orderly = false;
    loop {
        let next_due = s.delayed.peek().map_or(far, |t| t.0.due);
        tokio::select! {
            frame = reader.next() => {
                let Some(Ok(frame)) = frame else { break };
                if let Next::Close = s.on_frame(frame) {
                    orderly = true;
                    break;
                }
                let mut closing = false;
                for _ in 0..256 {
                    match reader.next().now_or_never() {
                        Some(Some(Ok(f))) => {
                            if let Next::Close = s.on_frame(f) {
                                closing = true;
                                orderly = true;
                                break;
                            }
                        }
                        Some(_) => { closing = true; break; }
                        None => break,
                    }
                }
                if closing {
                    break;
                }
            }
            res = w.write(&s.wbuf), if !s.wbuf.is_empty() => {
                match res {
                    Ok(n) if n > 0 => s.wbuf.advance(n),
                    _ => break,
                }
            }
            Some(out) = rx.recv() => s.schedule_out(out),
            _ = sleep_until(next_due), if next_due < far => s.release_due(),
            _ = down.changed() => break,
        }
    }
    if orderly && !s.wbuf.is_empty() {
        flush(&mut w, &s.wbuf).await;
    }
    // Receipts other sessions handed over that never got out.
    rx.close();
    let mut undelivered = Vec::new();
    while let Ok(out) = rx.try_recv() {
        undelivered.push(out);
    }
    s.close(undelivered);
}

impl Session {
    fn faults(&self) -> Faults {
        self.inner.faults()
    }

    /// Updates a counter and wakes `wait_until` callers.
    fn count(&self, f: impl FnOnce(&mut crate::SimStats)) {
        f(&mut self.inner.lock().stats);
        self.inner.changed.notify_waiters();
    }

    fn next_seq(&mut self) -> u32 {
        let s = self.seq;
        self.seq = if s >= 0x7FFF_FFFF { 1 } else { s + 1 };
        s
    }

    fn push(&mut self, cmd: &Command) {
        wire::encode(cmd, &mut self.wbuf);
    }

    /// Queues a response now or after the configured delay and jitter.
    fn respond(&mut self, faults: &Faults, cmd: Command) {
        let mut delay = faults.response_delay;
        if !faults.response_jitter.is_zero() {
            let j = {
                let mut st = self.inner.lock();
                st.rng.f64()
            };
            delay += faults.response_jitter.mul_f64(j);
        }
        if delay.is_zero() {
            self.push(&cmd);
        } else {
            {
                let mut st = self.inner.lock();
                st.stats.pending_responses += 1;
                st.stats.max_pending_responses = st
                    .stats
                    .max_pending_responses
                    .max(st.stats.pending_responses);
            }
            self.order += 1;
            self.delayed.push(Reverse(Timed {
                due: Instant::now() + delay,
                order: self.order,
                item: Item::Resp(cmd),
            }));
        }
    }

    fn schedule_out(&mut self, out: Outbound) {
        if out.due <= Instant::now() {
            self.send_out(out);
        } else {
            self.order += 1;
            self.delayed.push(Reverse(Timed {
                due: out.due,
                order: self.order,
                item: Item::Out(out),
            }));
        }
    }

    fn release_due(&mut self) {
        let now = Instant::now();
        while let Some(top) = self.delayed.peek() {
            if top.0.due > now {
                break;
            }
            let Some(Reverse(t)) = self.delayed.pop() else {
                break;
            };
            match t.item {
                Item::Resp(cmd) => {
                    let mut st = self.inner.lock();
                    st.stats.pending_responses = st.stats.pending_responses.saturating_sub(1);
                    drop(st);
                    self.push(&cmd);
                }
                Item::Out(out) => self.send_out(out),
            }
        }
    }

    fn send_out(&mut self, out: Outbound) {
        let seq = self.next_seq();
        let cmd = wire::command(ROK, seq, wire::deliver_sm(&out.spec));
        self.push(&cmd);
        let kind = out.kind;
        self.awaiting.insert(seq, out);
        let mut st = self.inner.lock();
        match kind {
            OutKind::Receipt => st.stats.receipts_sent += 1,
            OutKind::Mo => st.stats.mo_sent += 1,
        }
        drop(st);
        self.inner.changed.notify_waiters();
    }

    fn on_frame(&mut self, frame: Result<Command, wire::BadPdu>) -> Next {
        let faults = self.faults();
        let cmd = match frame {
            Ok(c) => c,
            Err(bad) => {
                self.count(|s| s.bad_pdus += 1);
                if bad.command_id & 0x8000_0000 == 0 && !faults.hang {
                    self.push(&wire::command(
                        RSYSERR,
                        bad.sequence_number,
                        Pdu::GenericNack,
                    ));
                }
                return Next::Continue;
            }
        };
        let seq = cmd.sequence_number();
        let status = u32::from(cmd.status());
        match cmd.pdu() {
            Some(Pdu::BindTransmitter(b)) => self.on_bind(
                &faults,
                seq,
                BindKind::Transmitter,
                b.system_id.as_str(),
                b.password.as_str(),
            ),
            Some(Pdu::BindReceiver(b)) => self.on_bind(
                &faults,
                seq,
                BindKind::Receiver,
                b.system_id.as_str(),
                b.password.as_str(),
            ),
            Some(Pdu::BindTransceiver(b)) => self.on_bind(
                &faults,
                seq,
                BindKind::Transceiver,
                b.system_id.as_str(),
                b.password.as_str(),
            ),
            Some(Pdu::SubmitSm(sm)) => self.on_submit(&faults, seq, sm),
            Some(Pdu::EnquireLink) => {
                self.count(|s| s.enquire_links += 1);
                if !faults.hang {
                    self.respond(&faults, wire::command(ROK, seq, Pdu::EnquireLinkResp));
                }
                Next::Continue
            }
            Some(Pdu::Unbind) => {
                self.count(|s| s.unbinds += 1);
                if faults.hang {
                    return Next::Continue;
                }
                self.push(&wire::command(ROK, seq, Pdu::UnbindResp));
                Next::Close
            }
            Some(Pdu::DeliverSmResp(_)) | Some(Pdu::DataSmResp(_)) => {
                if let Some(out) = self.awaiting.remove(&seq) {
                    let mut st = self.inner.lock();
                    if status != ROK {
                        st.stats.deliver_errors += 1;
                    } else {
                        match out.kind {
                            OutKind::Receipt => st.stats.receipts_acked += 1,
                            OutKind::Mo => st.stats.mo_acked += 1,
                        }
                    }
                    drop(st);
                    self.inner.changed.notify_waiters();
                }
                Next::Continue
            }
            Some(Pdu::GenericNack) => {
                self.count(|s| s.generic_nacks += 1);
                Next::Continue
            }
            Some(Pdu::EnquireLinkResp) | Some(Pdu::UnbindResp) => Next::Continue,
            _ => {
                if !faults.hang && u32::from(cmd.id()) & 0x8000_0000 == 0 {
                    self.push(&wire::command(RINVCMDID, seq, Pdu::GenericNack));
                }
                Next::Continue
            }
        }
    }

    fn on_bind(
        &mut self,
        faults: &Faults,
        seq: u32,
        kind: BindKind,
        system_id: &str,
        password: &str,
    ) -> Next {
        if faults.hang || faults.hang_binds {
            return Next::Continue;
        }
        let status = if self.bound.is_some() {
            RALYBND
        } else if let Some(st) = faults.reject_binds {
            st
        } else {
            match self
                .inner
                .config
                .accounts
                .iter()
                .find(|a| a.system_id == system_id)
            {
                _ if self.inner.config.accounts.is_empty() => ROK,
                None => RINVSYSID,
                Some(a) if a.password != password => RINVPASWD,
                Some(_) => ROK,
            }
        };
        let sc_version = self
            .inner
            .config
            .interface_version
            .map(InterfaceVersion::from);
        let sid: COctetString<1, 16> =
            COctetString::from_string(self.inner.config.smsc_system_id.clone()).unwrap_or_default();
        let resp: Pdu = match kind {
            BindKind::Transmitter => BindTransmitterResp::new(sid, sc_version).into(),
            BindKind::Receiver => BindReceiverResp::new(sid, sc_version).into(),
            BindKind::Transceiver => BindTransceiverResp::new(sid, sc_version).into(),
        };
        self.push(&wire::command(status, seq, resp));
        {
            let mut st = self.inner.lock();
            if status != ROK {
                st.stats.binds_failed += 1;
            } else {
                st.stats.binds_ok += 1;
                st.stats.bound_now += 1;
                if let Some(l) = st.links.get_mut(&self.conn) {
                    l.system_id = system_id.to_owned();
                    l.bind = kind.name();
                }
                if kind != BindKind::Transmitter {
                    st.receivers
                        .entry(system_id.to_owned())
                        .or_default()
                        .push((self.conn, self.tx.clone()));
                    // Store and forward: what waited for a receiver goes out now.
                    if let Some(held) = st.held.remove(system_id) {
                        for out in held {
                            match out.kind {
                                OutKind::Receipt => st.stats.receipts_redelivered += 1,
                                OutKind::Mo => st.stats.mo_redelivered += 1,
                            }
                            let _ = self.tx.send(Outbound {
                                due: Instant::now(),
                                ..out
                            });
                        }
                    }
                }
            }
        }
        self.inner.changed.notify_waiters();
        if status == ROK {
            self.bound = Some((system_id.to_owned(), kind));
            Next::Continue
        } else if status == RALYBND {
            Next::Continue
        } else {
            // SMPP 3.4 §4.1.2: a failed bind leaves the session open; we hang up after the
            // answer like most SMSCs (the output buffer is flushed in `close`).
            Next::Close
        }
    }

    fn on_submit(&mut self, faults: &Faults, seq: u32, sm: &SubmitSm) -> Next {
        if faults.hang {
            self.count(|s| s.submits += 1);
            return Next::Continue;
        }
        let Some((system_id, kind)) = self.bound.clone() else {
            self.push(&wire::command(RINVBNDSTS, seq, SubmitSmResp::default()));
            return Next::Continue;
        };
        if kind == BindKind::Receiver {
            self.push(&wire::command(RINVBNDSTS, seq, SubmitSmResp::default()));
            return Next::Continue;
        }
        self.submits += 1;
        let mut rec = record(self.conn, &system_id, sm);
        let inner = self.inner.clone();
        let cfg = &inner.config;
        let mut st = self.inner.lock();
        st.stats.submits += 1;
        if let Some(l) = st.links.get_mut(&self.conn) {
            l.submits += 1;
        }
        let drop_now = faults
            .drop_after
            .is_some_and(|n| self.submits >= n && (faults.drop_repeat || !st.drop_done));
        let mut status = ROK;
        if !drop_now {
            st.throttle_acc += faults.throttle_share;
            st.queue_full_acc += faults.queue_full_share;
            st.error_acc += faults.error_share;
            if st.throttle_acc >= 1.0 {
                st.throttle_acc -= 1.0;
                status = RTHROTTLED;
                st.stats.throttled += 1;
            } else if st.queue_full_acc >= 1.0 {
                st.queue_full_acc -= 1.0;
                status = RMSGQFUL;
                st.stats.queue_full += 1;
            } else if st.error_acc >= 1.0 {
                st.error_acc -= 1.0;
                status = if faults.error_status == 0 {
                    RINVDSTADR
                } else {
                    faults.error_status
                };
                st.stats.errors += 1;
            }
        }
        let mut receipt = None;
        if status == ROK {
            let n = self
                .inner
                .next_id
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let id = self.inner.message_id(n, cfg.id_format);
            st.stats.accepted += 1;
            let key = dedup_key(&cfg.dedup, &rec);
            let count = st.seen.entry(key).or_insert(0);
            *count += 1;
            if *count == 1 {
                st.stats.unique += 1;
            } else {
                st.stats.duplicates += 1;
            }
            if !drop_now && rec.registered_delivery & 0x03 != 0 {
                let mix = cfg.receipts.mix;
                if let Some(o) = receipt::draw(&mix, &mut st.rng) {
                    // registered_delivery 2: receipts on failure only (SMPP 3.4 §5.2.17).
                    if rec.registered_delivery & 0x03 != 2 || o.state != 2 {
                        let text_id = match cfg.receipts.text_id_format {
                            Some(f) => self.inner.message_id(n, f),
                            None => id.clone(),
                        };
                        receipt = Some((id.clone(), text_id, o));
                    }
                }
            }
            rec.message_id = Some(id);
        }
        rec.status = status;
        if st.submits.len() < cfg.record_limit {
            st.submits.push(rec.clone());
        }
        if drop_now {
            st.drop_done = true;
            st.stats.drops += 1;
        }
        drop(st);
        self.inner.changed.notify_waiters();
        if drop_now {
            // Close without answering: this submit's octets arrived, its answer never leaves.
            self.wbuf.clear();
            return Next::Close;
        }
        let resp = wire::command(
            status,
            seq,
            SubmitSmResp::builder()
                .message_id(
                    COctetString::from_string(rec.message_id.clone().unwrap_or_default())
                        .unwrap_or_default(),
                )
                .build(),
        );
        if let Some((id, text_id, o)) = receipt {
            let now = SystemTime::now();
            let text = receipt::text(
                &text_id,
                o,
                now,
                now + cfg.receipts.delay,
                rec.text.as_deref().unwrap_or(""),
            );
            let spec = DeliverSpec {
                source: rec.destination.clone(),
                destination: rec.source.clone(),
                esm_class: 0x04,
                data_coding: 0,
                short_message: Bytes::from(text.into_bytes()),
                payload: None,
                receipted_message_id: cfg.receipts.tlvs.then_some(id),
                message_state: cfg.receipts.tlvs.then_some(o.state),
                sar: None,
            };
            let before = cfg.receipts.before_response
                && cfg.receipts.delay.is_zero()
                && kind == BindKind::Transceiver;
            if before {
                self.send_out(Outbound {
                    due: Instant::now(),
                    kind: OutKind::Receipt,
                    spec,
                });
                self.respond(faults, resp);
            } else {
                self.respond(faults, resp);
                let out = Outbound {
                    due: Instant::now() + cfg.receipts.delay,
                    kind: OutKind::Receipt,
                    spec,
                };
                if kind == BindKind::Transceiver {
                    // Our own receipts stay on this session (no channel hop).
                    self.schedule_out(out);
                } else {
                    let mut st = self.inner.lock();
                    if let Some(out) = st.route(&system_id, None, out) {
                        st.stats.receipts_no_receiver += 1;
                        if cfg.receipts.redeliver {
                            st.hold(&system_id, out);
                        }
                    }
                    drop(st);
                    self.inner.changed.notify_waiters();
                }
            }
        } else {
            self.respond(faults, resp);
        }
        if let Some((after, kind)) = faults.garbage_after
            && !self.garbage_done
            && self.submits >= after
        {
            self.garbage_done = true;
            match kind {
                Garbage::Pdu => {
                    let seq = self.next_seq();
                    wire::garbage_pdu(seq, &mut self.wbuf);
                }
                Garbage::Stream => wire::garbage_stream(&mut self.wbuf),
            }
        }
        Next::Continue
    }

    /// Ends the session's bookkeeping. With `redeliver`, receipts still scheduled here, handed
    /// over but not yet taken (`undelivered`), or sent but unanswered are held for the next
    /// bind of the same account.
    fn close(&mut self, undelivered: Vec<Outbound>) {
        let cfg = &self.inner.config;
        let keep = |kind: OutKind| match kind {
            OutKind::Receipt => cfg.receipts.redeliver,
            OutKind::Mo => cfg.mo_redeliver,
        };
        if (cfg.receipts.redeliver || cfg.mo_redeliver)
            && let Some((system_id, _)) = &self.bound
        {
            let mut pending: Vec<Outbound> = undelivered;
            pending.extend(self.delayed.drain().filter_map(|t| match t.0.item {
                Item::Out(out) => Some(out),
                Item::Resp(_) => None,
            }));
            pending.extend(self.awaiting.drain().map(|(_, out)| out));
            let mut st = self.inner.lock();
            for out in pending.into_iter().filter(|o| keep(o.kind)) {
                st.hold(system_id, out);
            }
        }
        let held = self
            .delayed
            .iter()
            .filter(|t| matches!(t.0.item, Item::Resp(_)))
            .count() as u64;
        let mut st = self.inner.lock();
        st.stats.pending_responses = st.stats.pending_responses.saturating_sub(held);
        if let Some(l) = st.links.get_mut(&self.conn) {
            l.open = false;
        }
        if let Some((system_id, kind)) = &self.bound {
            st.stats.bound_now = st.stats.bound_now.saturating_sub(1);
            if *kind != BindKind::Transmitter
                && let Some(list) = st.receivers.get_mut(system_id)
            {
                list.retain(|(c, _)| *c != self.conn);
            }
        }
        drop(st);
        self.inner.changed.notify_waiters();
    }
}

/// Writes what is left in the buffer (bind refusals, unbind_resp) before the socket closes;
/// bounded, since a peer that does not read must not keep the session alive.
async fn flush(w: &mut tokio::net::tcp::OwnedWriteHalf, buf: &[u8]) {
    let _ = tokio::time::timeout(Duration::from_millis(500), w.write_all(buf)).await;
}

fn record(conn: u64, system_id: &str, sm: &SubmitSm) -> RecordedSubmit {
    let mut payload = None;
    let (mut r, mut t, mut s) = (None, None, None);
    for tlv in sm.tlvs() {
        match tlv.value() {
            Some(TlvValue::MessagePayload(p)) => {
                payload = Some(Bytes::copy_from_slice(p.value.as_ref()));
            }
            Some(TlvValue::SarMsgRefNum(n)) => r = Some(*n),
            Some(TlvValue::SarTotalSegments(n)) => t = Some(*n),
            Some(TlvValue::SarSegmentSeqnum(n)) => s = Some(*n),
            _ => {}
        }
    }
    let esm_class = u8::from(sm.esm_class);
    let data_coding = u8::from(sm.data_coding);
    let short_message = Bytes::copy_from_slice(sm.short_message().as_ref());
    let body: &[u8] = match &payload {
        Some(p) if short_message.is_empty() => p,
        _ => &short_message,
    };
    let user_data = if esm_class & 0x40 != 0 {
        let hl = body.first().map_or(0, |l| usize::from(*l) + 1);
        body.get(hl..).unwrap_or_default()
    } else {
        body
    };
    RecordedSubmit {
        conn,
        system_id: system_id.to_owned(),
        source: Addr {
            ton: sm.source_addr_ton.into(),
            npi: sm.source_addr_npi.into(),
            addr: sm.source_addr.as_str().to_owned(),
        },
        destination: Addr {
            ton: sm.dest_addr_ton.into(),
            npi: sm.dest_addr_npi.into(),
            addr: sm.destination_addr.as_str().to_owned(),
        },
        esm_class,
        data_coding,
        registered_delivery: u8::from(sm.registered_delivery),
        text: decode_text(data_coding, user_data),
        short_message,
        payload,
        sar: match (r, t, s) {
            (Some(r), Some(t), Some(s)) => Some((r, t, s)),
            _ => None,
        },
        message_id: None,
        status: 0,
    }
}

fn decode_text(data_coding: u8, data: &[u8]) -> Option<String> {
    match data_coding {
        // SMPP's DCS 0 carries GSM 03.38 septets one per octet.
        0 => Some(gsm::gsm7::Decoder::new(data.iter().copied()).collect()),
        1 | 3 => Some(data.iter().map(|&b| char::from(b)).collect()),
        8 => Some(gsm::ucs2::decode(data).collect()),
        _ => None,
    }
}

fn dedup_key(key: &crate::DedupKey, rec: &RecordedSubmit) -> String {
    let text = || {
        rec.text.clone().unwrap_or_else(|| {
            rec.short_message
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        })
    };
    match key {
        crate::DedupKey::DestinationAndText => format!("{}\u{1}{}", rec.destination.addr, text()),
        crate::DedupKey::Text => text(),
        crate::DedupKey::Custom(f) => f(rec),
    }
}
