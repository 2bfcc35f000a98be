//! The simulator from the outside: its library API with a raw ESME, and the `smsc-sim` binary.

use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use rusmpp::pdus::{BindReceiver, BindTransceiver, BindTransmitter, SubmitSm};
use rusmpp::tokio_codec::CommandCodec;
use rusmpp::types::{COctetString, OctetString};
use rusmpp::values::RegisteredDelivery;
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use smsc_sim::{Addr, Faults, Mo, SimConfig, SimError, SmscSim};
use tokio::io::AsyncBufReadExt;
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

const WAIT: Duration = Duration::from_secs(10);

struct Esme(Framed<TcpStream, CommandCodec>);

impl Esme {
    async fn connect(port: u16) -> Esme {
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        Esme(Framed::new(tcp, CommandCodec::new()))
    }

    async fn send(&mut self, seq: u32, pdu: impl Into<Pdu>) {
        self.0
            .send(Command::new(CommandStatus::EsmeRok, seq, pdu))
            .await
            .unwrap();
    }

    async fn recv(&mut self) -> Option<Command> {
        match tokio::time::timeout(WAIT, self.0.next()).await {
            Ok(Some(Ok(c))) => Some(c),
            Ok(_) => None,
            Err(_) => panic!("nothing from the simulator in time"),
        }
    }

    async fn bind(&mut self, kind: &str, id: &str, pw: &str) -> u32 {
        let sid = COctetString::from_string(id.into()).unwrap();
        let pw = COctetString::from_string(pw.into()).unwrap();
        match kind {
            "tx" => {
                self.send(
                    1,
                    BindTransmitter::builder()
                        .system_id(sid)
                        .password(pw)
                        .build(),
                )
                .await
            }
            "rx" => {
                self.send(
                    1,
                    BindReceiver::builder().system_id(sid).password(pw).build(),
                )
                .await
            }
            _ => {
                self.send(
                    1,
                    BindTransceiver::builder()
                        .system_id(sid)
                        .password(pw)
                        .build(),
                )
                .await
            }
        }
        u32::from(self.recv().await.expect("bind_resp").status())
    }

    async fn submit(&mut self, seq: u32, to: &str, text: &str, receipt: bool) -> Command {
        let sm = SubmitSm::builder()
            .source_addr(COctetString::from_string("Sim".into()).unwrap())
            .destination_addr(COctetString::from_string(to.into()).unwrap())
            .registered_delivery(RegisteredDelivery::from(u8::from(receipt)))
            .short_message(OctetString::from_vec(text.as_bytes().to_vec()).unwrap())
            .build();
        self.send(seq, sm).await;
        self.recv().await.expect("submit_sm_resp")
    }
}

#[tokio::test]
async fn shares_are_exact_and_duplicates_are_counted() {
    let mut cfg = SimConfig::with_account("a", "b");
    cfg.faults.throttle_share = 0.25;
    let sim = SmscSim::start(cfg).await.unwrap();
    let mut e = Esme::connect(sim.port()).await;
    assert_eq!(e.bind("trx", "a", "b").await, 0);
    let mut throttled = 0;
    for i in 0..100u32 {
        let r = e
            .submit(i + 2, "4917", &format!("m{}", i % 90), false)
            .await;
        if u32::from(r.status()) == 0x58 {
            throttled += 1;
        }
    }
    assert_eq!(throttled, 25);
    let s = sim.stats();
    assert_eq!((s.submits, s.accepted, s.throttled), (100, 75, 25));
    assert_eq!(s.unique + s.duplicates, 75);
    assert!(s.duplicates > 0);
    sim.reset();
    assert_eq!(sim.stats().submits, 0);
    assert!(sim.submits().is_empty());
}

#[tokio::test]
async fn receipts_of_a_transmitter_go_to_a_receiver_of_the_same_account() {
    let sim = SmscSim::start(SimConfig::with_account("a", "b"))
        .await
        .unwrap();
    let mut tx = Esme::connect(sim.port()).await;
    assert_eq!(tx.bind("tx", "a", "b").await, 0);
    let r = tx.submit(2, "4917", "no receiver yet", true).await;
    assert_eq!(u32::from(r.status()), 0);
    sim.wait_until(WAIT, |s| s.receipts_no_receiver == 1)
        .await
        .unwrap();
    let mut rx = Esme::connect(sim.port()).await;
    assert_eq!(rx.bind("rx", "a", "b").await, 0);
    let r = tx.submit(3, "4917", "to the receiver", true).await;
    let Some(Pdu::SubmitSmResp(resp)) = r.pdu() else {
        panic!("{r:?}")
    };
    let id = resp.message_id().as_str().to_owned();
    let d = rx.recv().await.unwrap();
    assert_eq!(d.id(), CommandId::DeliverSm);
    let Some(Pdu::DeliverSm(d)) = d.pdu() else {
        unreachable!()
    };
    let text = String::from_utf8_lossy(d.short_message().as_ref()).into_owned();
    assert!(text.starts_with(&format!("id:{id} ")), "{text}");
    assert!(
        text.contains("stat:DELIVRD") && text.ends_with("text:to the receiver"),
        "{text}"
    );
    // A receiver cannot submit.
    let r = rx.submit(4, "4917", "x", false).await;
    assert_eq!(u32::from(r.status()), 0x04);
}

/// The receipt's `id:` in a deliver_sm.
fn receipt_id(c: &Command) -> String {
    let Some(Pdu::DeliverSm(d)) = c.pdu() else {
        panic!("not a deliver_sm: {c:?}")
    };
    let text = String::from_utf8_lossy(d.short_message().as_ref()).into_owned();
    text.split_whitespace()
        .find_map(|w| w.strip_prefix("id:"))
        .unwrap_or_default()
        .to_owned()
}

fn resp_id(c: &Command) -> String {
    let Some(Pdu::SubmitSmResp(r)) = c.pdu() else {
        panic!("not a submit_sm_resp: {c:?}")
    };
    r.message_id().as_str().to_owned()
}

#[tokio::test]
async fn held_receipts_are_sent_again_after_the_next_bind() {
    let mut cfg = SimConfig::with_account("a", "b");
    cfg.receipts.redeliver = true;
    cfg.receipts.delay = Duration::from_millis(300);
    let sim = SmscSim::start(cfg).await.unwrap();
    // 1. A transceiver submits and goes away before its receipt is due.
    let mut e = Esme::connect(sim.port()).await;
    assert_eq!(e.bind("trx", "a", "b").await, 0);
    let first = resp_id(&e.submit(2, "4917", "due later", true).await);
    drop(e);
    sim.wait_until(WAIT, |s| s.receipts_held == 1 && s.bound_now == 0)
        .await
        .unwrap();
    // 2. A transmitter's receipt with no receiver bound waits too.
    let mut tx = Esme::connect(sim.port()).await;
    assert_eq!(tx.bind("tx", "a", "b").await, 0);
    let second = resp_id(&tx.submit(2, "4917", "nobody listens", true).await);
    sim.wait_until(WAIT, |s| s.receipts_held == 2)
        .await
        .unwrap();
    // 3. A receiver gets both; one it leaves unanswered is held again for the next bind.
    let mut rx = Esme::connect(sim.port()).await;
    assert_eq!(rx.bind("rx", "a", "b").await, 0);
    let a = rx.recv().await.unwrap();
    let b = rx.recv().await.unwrap();
    let mut got = vec![receipt_id(&a), receipt_id(&b)];
    got.sort();
    let mut want = vec![first.clone(), second];
    want.sort();
    assert_eq!(got, want);
    rx.0.send(Command::new(
        CommandStatus::EsmeRok,
        a.sequence_number(),
        Pdu::DeliverSmResp(Default::default()),
    ))
    .await
    .unwrap();
    sim.wait_until(WAIT, |s| s.receipts_acked == 1)
        .await
        .unwrap();
    drop(rx);
    let mut rx = Esme::connect(sim.port()).await;
    assert_eq!(rx.bind("rx", "a", "b").await, 0);
    let again = rx.recv().await.unwrap();
    assert_eq!(receipt_id(&again), receipt_id(&b));
    let s = sim.stats();
    assert_eq!((s.receipts_held, s.receipts_redelivered), (3, 3), "{s:?}");
    // Without `redeliver` (the default) the same receipt is simply lost.
    let sim = SmscSim::start(SimConfig::with_account("a", "b"))
        .await
        .unwrap();
    let mut tx = Esme::connect(sim.port()).await;
    assert_eq!(tx.bind("tx", "a", "b").await, 0);
    tx.submit(2, "4917", "lost", true).await;
    sim.wait_until(WAIT, |s| s.receipts_no_receiver == 1)
        .await
        .unwrap();
    assert_eq!(sim.stats().receipts_held, 0);
}

#[tokio::test]
async fn an_unanswered_mo_is_sent_again_after_the_next_bind() {
    let sim = SmscSim::start(SimConfig {
        mo_redeliver: true,
        ..SimConfig::with_account("a", "b")
    })
    .await
    .unwrap();
    let mo = Mo {
        source: Addr {
            ton: 1,
            npi: 1,
            addr: "4917".into(),
        },
        destination: Addr {
            ton: 0,
            npi: 1,
            addr: "100".into(),
        },
        data_coding: 0,
        esm_class: 0,
        short_message: Bytes::from_static(b"kept"),
        payload: None,
        sar: None,
    };
    let mut e = Esme::connect(sim.port()).await;
    assert_eq!(e.bind("rx", "a", "b").await, 0);
    sim.inject_mo("a", mo).unwrap();
    assert_eq!(e.recv().await.unwrap().id(), CommandId::DeliverSm);
    // Gone without a deliver_sm_resp: the SMSC keeps the MO for the next bind.
    drop(e);
    sim.wait_until(WAIT, |s| s.mo_held == 1).await.unwrap();
    let mut e = Esme::connect(sim.port()).await;
    assert_eq!(e.bind("trx", "a", "b").await, 0);
    let again = e.recv().await.unwrap();
    let Some(Pdu::DeliverSm(d)) = again.pdu() else {
        panic!("{again:?}")
    };
    assert_eq!(d.short_message().as_ref(), b"kept");
    let s = sim.stats();
    assert_eq!((s.mo_sent, s.mo_redelivered, s.receipts_held), (2, 1, 0));
}

#[tokio::test]
async fn mo_needs_a_receiver() {
    let sim = SmscSim::start(SimConfig::default()).await.unwrap();
    let mo = Mo {
        source: Addr {
            ton: 1,
            npi: 1,
            addr: "4917".into(),
        },
        destination: Addr {
            ton: 0,
            npi: 1,
            addr: "100".into(),
        },
        data_coding: 0,
        esm_class: 0,
        short_message: Bytes::from_static(b"hi"),
        payload: None,
        sar: None,
    };
    assert!(matches!(
        sim.inject_mo("x", mo.clone()),
        Err(SimError::NoReceiver(_))
    ));
    let mut e = Esme::connect(sim.port()).await;
    assert_eq!(
        e.bind("trx", "x", "y").await,
        0,
        "no accounts: anyone binds"
    );
    sim.inject_mo("x", mo).unwrap();
    let d = e.recv().await.unwrap();
    assert_eq!(d.id(), CommandId::DeliverSm);
    // Nothing answered yet: waiting for an ack times out with the stats.
    let waited = sim
        .wait_until(Duration::from_millis(50), |s| s.mo_acked == 1)
        .await;
    assert_eq!(waited.unwrap_err().mo_sent, 1);
}

#[tokio::test]
async fn hung_and_refusing_smscs() {
    let sim = SmscSim::start(SimConfig::with_account("a", "b"))
        .await
        .unwrap();
    let mut e = Esme::connect(sim.port()).await;
    assert_eq!(e.bind("trx", "a", "wrong").await, 0x0E);
    sim.set_faults(Faults {
        reject_binds: Some(0x0D),
        ..Faults::default()
    });
    let mut e = Esme::connect(sim.port()).await;
    assert_eq!(e.bind("trx", "a", "b").await, 0x0D);
    sim.set_faults(Faults {
        hang_binds: true,
        ..Faults::default()
    });
    let mut e = Esme::connect(sim.port()).await;
    e.send(1, BindTransceiver::builder().build()).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(100), e.0.next())
            .await
            .is_err(),
        "bind must hang"
    );
    assert_eq!(sim.stats().binds_failed, 2);
}

#[tokio::test]
async fn refuses_non_loopback_addresses() {
    let cfg = SimConfig {
        listen: "0.0.0.0:0".parse().unwrap(),
        ..SimConfig::default()
    };
    assert!(matches!(
        SmscSim::start(cfg).await,
        Err(SimError::NotLoopback(_))
    ));
}

#[tokio::test]
async fn the_binary_serves_binds_submits_and_receipts() {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_smsc-sim"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--system-id",
            "demo",
            "--password",
            "pw",
        ])
        .args([
            "--stats-interval-ms",
            "0",
            "--max-runtime-s",
            "30",
            "--receipt-mix",
            "undeliv=1",
        ])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let addr = first
        .strip_prefix("smsc-sim listening on ")
        .expect("address line");
    let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
    let mut e = Esme::connect(port).await;
    assert_eq!(e.bind("trx", "demo", "nope").await, 0x0E);
    let mut e = Esme::connect(port).await;
    assert_eq!(e.bind("trx", "demo", "pw").await, 0);
    let r = e.submit(2, "4917", "from the binary", true).await;
    assert_eq!(
        (r.id(), u32::from(r.status())),
        (CommandId::SubmitSmResp, 0)
    );
    let d = e.recv().await.unwrap();
    let Some(Pdu::DeliverSm(d)) = d.pdu() else {
        panic!("{d:?}")
    };
    assert!(String::from_utf8_lossy(d.short_message().as_ref()).contains("stat:UNDELIV"));
    child.kill().await.unwrap();
}

#[test]
fn the_binary_rejects_bad_arguments() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_smsc-sim"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--receipt-mix",
            "bogus=1",
            "--max-runtime-s",
            "1",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown receipt outcome"));
}
