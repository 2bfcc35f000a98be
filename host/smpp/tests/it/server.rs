//! The SMSC-side server framework: driven by our own client (`Link`) and by a raw ESME that
//! writes PDUs by hand (for the protocol corners a polite client never reaches).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use domain::{ApiKeyId, DlrStatus, UnixMillis};
use futures_util::StreamExt;
use rusmpp::pdus::{BindTransceiver, CancelSm, QuerySm};
use rusmpp::types::COctetString;
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use smpp::client::{BindMode, DownReason, Link, LinkEvent, Role, SubmitError};
use smpp::concat::Reassembler;
use smpp::frame::{Frame, PduCodec, encode};
use smpp::message::{Address, LongMode, ShortMessage, SubmitRequest, Units, split};
use smpp::receipt::ReceiptTime;
use smpp::server::{
    BindRequest, BoxFuture, CancelRequest, DeliverError, DeliverRequest, QueryAnswer, Server,
    ServerConfig, ServerHandle, ServerHandler, Session,
};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_util::codec::FramedRead;

use crate::util::{WAIT, link_config, text_submit, wait_bound, wait_event};

/// An in-memory service: two accounts, ids counting from 1000, every submit kept.
pub(crate) struct Memory {
    accounts: HashMap<&'static str, (&'static str, ApiKeyId)>,
    next: AtomicU64,
    pub(crate) stored: Mutex<Vec<(ApiKeyId, String, ShortMessage)>>,
    /// When set, submits wait for a permit (to hold them "in the store").
    gate: Option<Arc<Semaphore>>,
    pub(crate) unbound: AtomicU64,
    /// Successful binds so far (tests wait on it).
    pub(crate) binds: watch::Sender<u32>,
    /// Where each stored submit is also sent, once `feed` was called.
    feed: Mutex<Option<mpsc::UnboundedSender<(ApiKeyId, String, ShortMessage)>>>,
}

impl Memory {
    pub(crate) fn new(gate: Option<Arc<Semaphore>>) -> Arc<Memory> {
        Arc::new(Memory {
            accounts: HashMap::from([
                ("app", ("secret", ApiKeyId(1))),
                ("other", ("pw", ApiKeyId(2))),
            ]),
            next: AtomicU64::new(1000),
            stored: Mutex::new(Vec::new()),
            gate,
            unbound: AtomicU64::new(0),
            binds: watch::channel(0).0,
            feed: Mutex::new(None),
        })
    }

    /// Every submit stored from now on, as it is stored.
    pub(crate) fn feed(&self) -> mpsc::UnboundedReceiver<(ApiKeyId, String, ShortMessage)> {
        let (tx, rx) = mpsc::unbounded_channel();
        *self.feed.lock().unwrap() = Some(tx);
        rx
    }
}

impl ServerHandler for Memory {
    fn bind(self: Arc<Self>, req: BindRequest) -> BoxFuture<Result<ApiKeyId, u32>> {
        Box::pin(async move {
            match self.accounts.get(req.system_id.as_str()) {
                None => Err(0x0F),
                Some((pw, _)) if *pw != req.password => Err(0x0E),
                Some((_, id)) => {
                    self.binds.send_modify(|n| *n += 1);
                    Ok(*id)
                }
            }
        })
    }

    fn submit(
        self: Arc<Self>,
        session: Session,
        msg: ShortMessage,
    ) -> BoxFuture<Result<String, u32>> {
        Box::pin(async move {
            if let Some(gate) = &self.gate {
                let _permit = gate.acquire().await.map_err(|_| 0x08u32)?;
            }
            if msg.destination.addr.starts_with("000") {
                return Err(0x0B);
            }
            let id = self.next.fetch_add(1, Ordering::Relaxed).to_string();
            if let Some(feed) = self.feed.lock().unwrap().as_ref() {
                let _ = feed.send((session.account, id.clone(), msg.clone()));
            }
            self.stored
                .lock()
                .unwrap()
                .push((session.account, id.clone(), msg));
            Ok(id)
        })
    }

    fn query(
        self: Arc<Self>,
        _s: Session,
        message_id: String,
        _src: Address,
    ) -> BoxFuture<Result<QueryAnswer, u32>> {
        Box::pin(async move {
            let known = self
                .stored
                .lock()
                .unwrap()
                .iter()
                .any(|(_, id, _)| *id == message_id);
            if known {
                Ok(QueryAnswer {
                    final_date: "240229123000000+".into(),
                    message_state: 2,
                    error_code: 0,
                })
            } else {
                Err(0x67)
            }
        })
    }

    fn cancel(self: Arc<Self>, _s: Session, req: CancelRequest) -> BoxFuture<Result<(), u32>> {
        Box::pin(async move {
            let mut stored = self.stored.lock().unwrap();
            let before = stored.len();
            stored.retain(|(_, id, _)| *id != req.message_id);
            if stored.len() < before {
                Ok(())
            } else {
                Err(0x11)
            }
        })
    }

    fn unbound(&self, _session: &Session) {
        self.unbound.fetch_add(1, Ordering::Relaxed);
    }
}

pub(crate) async fn server(handler: Arc<Memory>, cfg: ServerConfig) -> (ServerHandle, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    (Server::bind(listener, handler, cfg), port)
}

/// A hand-driven ESME.
struct Raw {
    reader: FramedRead<tokio::net::tcp::OwnedReadHalf, PduCodec>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Raw {
    async fn connect(port: u16) -> Raw {
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let (r, w) = tcp.into_split();
        Raw {
            reader: FramedRead::new(r, PduCodec::default()),
            writer: w,
        }
    }

    async fn send(&mut self, seq: u32, pdu: impl Into<Pdu>) {
        let bytes = encode(&Command::new(CommandStatus::EsmeRok, seq, pdu));
        self.writer.write_all(&bytes).await.unwrap();
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.unwrap();
    }

    async fn recv(&mut self) -> Option<Box<Command>> {
        match tokio::time::timeout(WAIT, self.reader.next()).await {
            Ok(Some(Ok(Frame::Command(c)))) => Some(c),
            Ok(Some(Ok(Frame::Invalid(i)))) => panic!("server sent an undecodable PDU: {i:?}"),
            Ok(_) => None,
            Err(_) => panic!("no PDU from the server in time"),
        }
    }

    async fn bind(&mut self, system_id: &str, password: &str) -> u32 {
        self.send(
            1,
            BindTransceiver::builder()
                .system_id(COctetString::from_string(system_id.into()).unwrap())
                .password(COctetString::from_string(password.into()).unwrap())
                .build(),
        )
        .await;
        let resp = self.recv().await.expect("bind_resp");
        assert_eq!(resp.id(), CommandId::BindTransceiverResp);
        u32::from(resp.status())
    }
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[tokio::test]
async fn our_client_submits_and_gets_receipts_through_our_server() {
    let mem = Memory::new(None);
    let (server, port) = server(mem.clone(), ServerConfig::default()).await;
    let (link, mut events) = Link::spawn(link_config(port, "app", "secret"));
    wait_bound(&mut events, Role::Transceiver).await;
    let resp = link
        .submit(&text_submit("4917000001", "via our server"))
        .await
        .unwrap();
    assert_eq!(resp.message_id, "1000");
    {
        let stored = mem.stored.lock().unwrap();
        assert_eq!(stored[0].0, ApiKeyId(1));
        assert_eq!(stored[0].2.user_data(), b"via our server");
        assert_eq!(stored[0].2.registered_delivery, 1);
    }
    // The service reports delivery back to the application's bind.
    let t = ReceiptTime::from_unix_millis_utc(UnixMillis(1_709_209_800_000));
    server
        .deliver(
            ApiKeyId(1),
            DeliverRequest::receipt(
                "1000",
                DlrStatus::Delivered,
                t,
                t,
                0,
                "via our server",
                Address::international("4917000001"),
                Address::alphanumeric("Outpost"),
            ),
        )
        .await
        .unwrap();
    let LinkEvent::Receipt(r) = wait_event(&mut events, "receipt", |e| {
        matches!(e, LinkEvent::Receipt(_))
    })
    .await
    else {
        unreachable!()
    };
    assert_eq!(r.canonical_id, resp.canonical_id);
    assert_eq!(r.receipt.stat, DlrStatus::Delivered);
    assert_eq!(r.receipt.message_state, Some(2));
    // Permanent errors from the handler reach the application as they are.
    assert_eq!(
        link.submit(&text_submit("000123", "bad number")).await,
        Err(SubmitError::Permanent(0x0B))
    );
    let sessions = server.sessions();
    assert_eq!(sessions.len(), 1);
    assert_eq!((sessions[0].submits, sessions[0].delivered), (1, 1));
    link.shutdown().await;
    server.shutdown().await;
    assert_eq!(mem.unbound.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn bad_credentials_are_refused() {
    let (server, port) = server(Memory::new(None), ServerConfig::default()).await;
    let mut raw = Raw::connect(port).await;
    assert_eq!(raw.bind("app", "nope").await, 0x0E);
    // The server hangs up after a refused bind.
    assert!(raw.recv().await.is_none());
    let mut raw = Raw::connect(port).await;
    assert_eq!(raw.bind("ghost", "x").await, 0x0F);
    let (link, mut events) = Link::spawn(link_config(port, "app", "wrong"));
    let ev = wait_event(&mut events, "down", |e| matches!(e, LinkEvent::Down { .. })).await;
    assert!(matches!(
        ev,
        LinkEvent::Down {
            reason: DownReason::BindRefused(0x0E),
            ..
        }
    ));
    link.shutdown().await;
    server.shutdown().await;
}

#[tokio::test]
async fn window_overflow_is_throttled_not_queued() {
    let gate = Arc::new(Semaphore::new(0));
    let cfg = ServerConfig {
        window: 2,
        ..ServerConfig::default()
    };
    let (server, port) = server(Memory::new(Some(gate.clone())), cfg).await;
    let mut raw = Raw::connect(port).await;
    assert_eq!(raw.bind("app", "secret").await, 0);
    for seq in 2..=4 {
        let req = text_submit("4917", &format!("w{seq}")).to_pdu().unwrap();
        raw.send(seq, req).await;
    }
    // Two are in the (blocked) store; the third is refused at once.
    let r = raw.recv().await.unwrap();
    assert_eq!((r.sequence_number(), u32::from(r.status())), (4, 0x58));
    gate.add_permits(2);
    let mut seqs = vec![];
    for _ in 0..2 {
        let r = raw.recv().await.unwrap();
        assert_eq!(u32::from(r.status()), 0);
        seqs.push(r.sequence_number());
    }
    seqs.sort();
    assert_eq!(seqs, [2, 3]);
    assert_eq!(server.sessions()[0].throttled, 1);
    drop(raw);
    server.shutdown().await;
}

#[tokio::test]
async fn rate_cap_throttles_excess_and_our_client_slows_down() {
    let cfg = ServerConfig {
        max_rate: std::num::NonZeroU32::new(100),
        ..ServerConfig::default()
    };
    let mem = Memory::new(None);
    let (server, port) = server(mem.clone(), cfg).await;
    let mut lc = link_config(port, "app", "secret");
    lc.throttle.retries = 50;
    let (link, mut events) = Link::spawn(lc);
    wait_bound(&mut events, Role::Transceiver).await;
    let started = tokio::time::Instant::now();
    let tasks: Vec<_> = (0..60)
        .map(|i| {
            let link = link.clone();
            tokio::spawn(async move { link.submit(&text_submit("4917", &format!("r{i}"))).await })
        })
        .collect();
    for t in tasks {
        t.await
            .unwrap()
            .expect("throttled submits are retried by the client");
    }
    assert_eq!(mem.stored.lock().unwrap().len(), 60);
    assert!(server.sessions()[0].throttled > 0);
    // 60 at 100/s with a burst of 10: half a second at least.
    assert!(
        started.elapsed() >= Duration::from_millis(450),
        "{:?}",
        started.elapsed()
    );
    link.shutdown().await;
    server.shutdown().await;
}

#[tokio::test]
async fn protocol_corners() {
    let (server, port) = server(Memory::new(None), ServerConfig::default()).await;
    let mut raw = Raw::connect(port).await;
    // Submit before bind.
    raw.send(1, text_submit("4917", "early").to_pdu().unwrap())
        .await;
    let r = raw.recv().await.unwrap();
    assert_eq!(
        (r.id(), u32::from(r.status())),
        (CommandId::SubmitSmResp, 0x04)
    );
    assert_eq!(raw.bind("app", "secret").await, 0);
    // Bound twice.
    assert_eq!(raw.bind("app", "secret").await, 0x05);
    // Garbage with an honest length: generic_nack, and the session goes on.
    raw.send_raw(&[
        0, 0, 0, 20, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 9, 0xde, 0xad, 0xbe, 0xef,
    ])
    .await;
    let r = raw.recv().await.unwrap();
    assert_eq!((r.id(), r.sequence_number()), (CommandId::GenericNack, 9));
    // An unknown command.
    raw.send_raw(&[0, 0, 0, 16, 0, 0, 0x07, 0x77, 0, 0, 0, 0, 0, 0, 0, 10])
        .await;
    let r = raw.recv().await.unwrap();
    assert_eq!(
        (r.id(), u32::from(r.status()), r.sequence_number()),
        (CommandId::GenericNack, 0x03, 10)
    );
    // enquire_link.
    raw.send(11, Pdu::EnquireLink).await;
    let r = raw.recv().await.unwrap();
    assert_eq!(
        (r.id(), r.sequence_number()),
        (CommandId::EnquireLinkResp, 11)
    );
    // submit, query, cancel, query again.
    raw.send(12, text_submit("4917", "q").to_pdu().unwrap())
        .await;
    let r = raw.recv().await.unwrap();
    let Some(Pdu::SubmitSmResp(s)) = r.pdu() else {
        panic!("{r:?}")
    };
    let id = s.message_id().as_str().to_owned();
    let query = QuerySm::builder()
        .message_id(COctetString::from_string(id.clone()).unwrap())
        .build();
    raw.send(13, query.clone()).await;
    let r = raw.recv().await.unwrap();
    let Some(Pdu::QuerySmResp(q)) = r.pdu() else {
        panic!("{r:?}")
    };
    assert_eq!(
        (
            u32::from(r.status()),
            q.message_id.as_str(),
            u8::from(q.message_state)
        ),
        (0, id.as_str(), 2)
    );
    let cancel = CancelSm::builder()
        .message_id(COctetString::from_string(id.clone()).unwrap())
        .build();
    raw.send(14, cancel.clone()).await;
    let r = raw.recv().await.unwrap();
    assert_eq!(
        (r.id(), u32::from(r.status())),
        (CommandId::CancelSmResp, 0)
    );
    raw.send(15, cancel).await;
    assert_eq!(u32::from(raw.recv().await.unwrap().status()), 0x11);
    raw.send(16, query).await;
    assert_eq!(u32::from(raw.recv().await.unwrap().status()), 0x67);
    // An absurd length ends the session.
    raw.send_raw(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 17])
        .await;
    assert!(raw.recv().await.is_none());
    server.shutdown().await;
}

#[tokio::test]
async fn long_submits_in_every_form_reach_the_handler_ready_to_reassemble() {
    let mem = Memory::new(None);
    let (server, port) = server(mem.clone(), ServerConfig::default()).await;
    let (link, mut events) = Link::spawn(link_config(port, "app", "secret"));
    wait_bound(&mut events, Role::Transceiver).await;
    let text: Vec<u8> = (0..350u32).map(|i| b'a' + (i % 26) as u8).collect();
    for (reference, mode) in [
        (1, LongMode::Udh),
        (2, LongMode::Sar),
        (3, LongMode::Payload),
    ] {
        for part in split(&text, Units::Gsm7Unpacked, mode, reference).unwrap() {
            let mut req = SubmitRequest::new(
                Address::alphanumeric("Outpost"),
                Address::international("4917"),
                0,
                part.body,
            );
            req.esm_class = part.esm_class;
            link.submit(&req).await.unwrap();
        }
    }
    let stored: Vec<ShortMessage> = mem
        .stored
        .lock()
        .unwrap()
        .iter()
        .map(|(_, _, m)| m.clone())
        .collect();
    assert_eq!(stored.len(), 3 + 3 + 1);
    let mut r = Reassembler::new(Duration::from_secs(60), 16);
    let whole: Vec<_> = stored
        .into_iter()
        .filter_map(|m| r.push("app", m, std::time::Instant::now()))
        .collect();
    assert_eq!(whole.len(), 3);
    for w in whole {
        assert_eq!(w.user_data(), text);
    }
    link.shutdown().await;
    server.shutdown().await;
}

#[tokio::test]
async fn mo_goes_to_bound_receivers_only() {
    let (server, port) = server(Memory::new(None), ServerConfig::default()).await;
    let mo = || {
        DeliverRequest::mo(
            Address::international("4917012345"),
            Address::international("1234"),
            0,
            Bytes::from_static(b"STOP"),
        )
    };
    assert_eq!(
        server.deliver(ApiKeyId(1), mo()).await,
        Err(DeliverError::NotBound)
    );
    let mut lc = link_config(port, "app", "secret");
    lc.bind = BindMode::TransmitterReceiver;
    let (link, mut events) = Link::spawn(lc);
    wait_bound(&mut events, Role::Receiver).await;
    assert!(server.can_deliver(ApiKeyId(1)));
    assert!(!server.can_deliver(ApiKeyId(2)));
    server.deliver(ApiKeyId(1), mo()).await.unwrap();
    let LinkEvent::Mo(m, _) =
        wait_event(&mut events, "MO", |e| matches!(e, LinkEvent::Mo(..))).await
    else {
        unreachable!()
    };
    assert_eq!(
        (m.source.addr.as_str(), m.user_data()),
        ("4917012345", &b"STOP"[..])
    );
    let kinds: Vec<_> = server.sessions().iter().map(|s| s.session.kind).collect();
    assert_eq!(kinds.len(), 2);
    link.shutdown().await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_receiver_that_never_answers_times_out_and_is_dropped() {
    let cfg = ServerConfig {
        response_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    };
    let (server, port) = server(Memory::new(None), cfg).await;
    let mut raw = Raw::connect(port).await;
    assert_eq!(raw.bind("app", "secret").await, 0);
    let mo = DeliverRequest::mo(
        Address::international("1"),
        Address::international("2"),
        0,
        Bytes::from_static(b"hi"),
    );
    let deliver = {
        let server = server.clone();
        tokio::spawn(async move { server.deliver(ApiKeyId(1), mo).await })
    };
    let r = raw.recv().await.unwrap();
    assert_eq!(r.id(), CommandId::DeliverSm);
    // No deliver_sm_resp: the server gives up and closes the session.
    assert_eq!(deliver.await.unwrap(), Err(DeliverError::Timeout));
    assert!(raw.recv().await.is_none());
    assert!(!server.can_deliver(ApiKeyId(1)));
    server.shutdown().await;
}

#[tokio::test]
async fn rejected_deliveries_report_the_application_status() {
    let (server, port) = server(Memory::new(None), ServerConfig::default()).await;
    let mut raw = Raw::connect(port).await;
    assert_eq!(raw.bind("app", "secret").await, 0);
    let mo = DeliverRequest::mo(
        Address::international("1"),
        Address::international("2"),
        0,
        Bytes::from_static(b"hi"),
    );
    let deliver = {
        let server = server.clone();
        tokio::spawn(async move { server.deliver(ApiKeyId(1), mo).await })
    };
    let r = raw.recv().await.unwrap();
    let resp = Command::new(
        CommandStatus::EsmeRxTAppn,
        r.sequence_number(),
        Pdu::DeliverSmResp(Default::default()),
    );
    raw.send_raw(&encode(&resp)).await;
    assert_eq!(deliver.await.unwrap(), Err(DeliverError::Rejected(0x64)));
    // A raw client does not answer unbind: hang up first so shutdown need not wait for it.
    drop(raw);
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_unbinds_applications() {
    let (server, port) = server(Memory::new(None), ServerConfig::default()).await;
    let (link, mut events) = Link::spawn(link_config(port, "app", "secret"));
    wait_bound(&mut events, Role::Transceiver).await;
    server.shutdown().await;
    wait_event(&mut events, "unbind", |e| {
        matches!(
            e,
            LinkEvent::Down {
                reason: DownReason::PeerUnbind,
                ..
            }
        )
    })
    .await;
    assert!(server.sessions().is_empty());
    // The listener is gone.
    assert!(TcpStream::connect(addr(port)).await.is_err());
    link.shutdown().await;
}
