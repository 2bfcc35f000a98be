//! `ModemCarrier` (the `firmware/modem` supervisor on tokio) against `tests/modem-sim` over an
//! in-memory duplex, on tokio's paused clock (the modem's 3 s send latency costs no wall time).

use std::sync::Arc;
use std::time::Duration;

use carriers::modem::{ModemCarrier, ModemPort, ModemSettings};
use carriers::{Carrier, CarrierEvent, CarrierState, OutboundMessage};
use domain::{CarrierId, DlrStatus, Encoding, MessageId, Msisdn, Outcome, Priority, RetryReason};
use modem_sim::{Event, Fault, InboundSms, ModemConfig, ModemHandle, Profile};
use tokio::sync::mpsc;

fn settings(send_timeout: Duration) -> ModemSettings {
    ModemSettings {
        id: CarrierId::new("usb0").unwrap(),
        port: ModemPort::Tcp("in-memory".into()),
        pin: None,
        send_timeout,
    }
}

async fn setup(profile: Profile) -> (ModemHandle, Arc<ModemCarrier>, mpsc::Receiver<CarrierEvent>) {
    setup_with(profile, Duration::from_secs(120)).await
}

async fn setup_with(
    profile: Profile,
    send_timeout: Duration,
) -> (ModemHandle, Arc<ModemCarrier>, mpsc::Receiver<CarrierEvent>) {
    let sim = ModemHandle::new(sim_config(profile));
    let (carrier, rx) = connect(&sim, send_timeout).await;
    (sim, carrier, rx)
}

fn sim_config(profile: Profile) -> ModemConfig {
    let mut cfg = ModemConfig::new(profile);
    cfg.send_latency_ms = 3_000;
    cfg.receipt_delay_ms = 5_000;
    cfg.imsi = "460001234567890".into();
    cfg
}

/// Starts a carrier on a new connection to `sim` and waits (bounded) until it is up.
async fn connect(
    sim: &ModemHandle,
    send_timeout: Duration,
) -> (Arc<ModemCarrier>, mpsc::Receiver<CarrierEvent>) {
    let (a, b) = tokio::io::duplex(4096);
    let s = sim.clone();
    tokio::spawn(async move { s.serve(a).await });
    let (tx, rx) = mpsc::channel(64);
    let carrier = ModemCarrier::start(
        &settings(send_timeout),
        carriers::port::Port::from_stream(b),
        tx,
    );
    // Bounded wait for the supervisor to bring the modem up (power-on, init, registration).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while carrier.status().state != CarrierState::Up {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never up: {:?}",
            carrier.status()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (carrier, rx)
}

fn message(text: &str, encoding: Encoding, parts: u16) -> OutboundMessage {
    OutboundMessage {
        id: MessageId(42),
        to: Msisdn::from_e164("+8613800138000").unwrap(),
        sender: None,
        body: text.into(),
        encoding,
        parts,
        reference: 42,
        report: true,
        validity: Some(Duration::from_secs(86_400)),
        priority: Priority::NORMAL,
    }
}

async fn next_event(rx: &mut mpsc::Receiver<CarrierEvent>) -> CarrierEvent {
    loop {
        match tokio::time::timeout(Duration::from_secs(120), rx.recv()).await {
            Ok(Some(CarrierEvent::Changed(_))) => continue,
            Ok(Some(ev)) => return ev,
            other => panic!("no event: {other:?}"),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn sends_every_part_and_matches_status_reports_by_mr() {
    let (sim, carrier, mut rx) = setup(Profile::Sim800).await;
    let st = carrier.status();
    let slot = st.slot.unwrap();
    assert_eq!(
        (slot.plmn.as_deref(), slot.operator.as_deref()),
        (Some("46000"), Some("SimNet"))
    );
    let text = "中".repeat(71);
    let outcome = carrier.submit(&message(&text, Encoding::Ucs2, 2)).await;
    let Outcome::Accepted { carrier_refs } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(carrier_refs.len(), 2);
    // The simulator saw one message in two parts, with a status report requested.
    let sent = sim.messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].text, text);
    let accepted = sim.accepted();
    assert!(accepted.iter().all(|s| s.srr), "TP-SRR set on every part");
    assert_eq!(
        accepted
            .iter()
            .map(|s| s.mr.to_string())
            .collect::<Vec<_>>(),
        carrier_refs
    );
    // Both status reports come back as delivered, keyed by the MR the modem gave.
    let mut reported = Vec::new();
    for _ in 0..2 {
        match next_event(&mut rx).await {
            CarrierEvent::Report(r) => {
                assert_eq!(r.status, DlrStatus::Delivered);
                reported.push(r.carrier_ref);
            }
            other => panic!("{other:?}"),
        }
    }
    reported.sort();
    let mut refs = carrier_refs.clone();
    refs.sort();
    assert_eq!(reported, refs);
}

#[tokio::test(start_paused = true)]
async fn inbound_is_deleted_from_the_modem_only_after_the_ack() {
    let (sim, _carrier, mut rx) = setup(Profile::Ec25).await;
    sim.inject(&InboundSms::new("+8613900139000", "退订"))
        .unwrap();
    let CarrierEvent::Inbound(part) = next_event(&mut rx).await else {
        panic!("no inbound")
    };
    assert_eq!(
        (part.from.as_str(), part.text.as_str()),
        ("+8613900139000", "退订")
    );
    let deleted = |log: &[Event]| log.iter().any(|e| matches!(e, Event::Deleted { .. }));
    // Give the supervisor every chance to delete early: it must not.
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(!deleted(&sim.log()), "deleted before the ack");
    part.ack.ack();
    sim.wait_log(Duration::from_secs(30), deleted)
        .await
        .expect("deleted after the ack");
}

#[tokio::test(start_paused = true)]
async fn a_stored_status_report_is_deleted_only_after_the_ack() {
    let (sim, carrier, mut rx) = setup(Profile::Ec25).await;
    let o = carrier.submit(&message("hi", Encoding::Gsm7, 1)).await;
    assert!(matches!(o, Outcome::Accepted { .. }), "{o:?}");
    let CarrierEvent::Report(report) = next_event(&mut rx).await else {
        panic!("no report")
    };
    let deleted = |log: &[Event]| {
        log.iter().any(|e| {
            matches!(
                e,
                Event::Deleted {
                    kind: modem_sim::StoredKind::StatusReport,
                    ..
                }
            )
        })
    };
    // Give the supervisor every chance to delete early: it must not.
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(!deleted(&sim.log()), "report deleted before the ack");
    report.ack.ack();
    sim.wait_log(Duration::from_secs(30), deleted)
        .await
        .expect("report deleted after the ack");
}

#[tokio::test(start_paused = true)]
async fn modem_failures_become_typed_outcomes() {
    let (sim, carrier, _rx) = setup(Profile::Sim800).await;
    sim.fault(Fault::CmsAfterBody { code: 38, count: 1 });
    let o = carrier.submit(&message("hi", Encoding::Gsm7, 1)).await;
    assert!(
        matches!(&o, Outcome::Retry { reason: RetryReason::Temporary(r), maybe_sent: false, .. } if r.contains("38")),
        "{o:?}"
    );
    sim.fault(Fault::CmsAfterBody { code: 1, count: 1 });
    let o = carrier.submit(&message("hi", Encoding::Gsm7, 1)).await;
    assert!(matches!(o, Outcome::Reject { .. }), "{o:?}");
    sim.fault(Fault::SimRemoved);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while carrier.status().state == CarrierState::Up {
        assert!(
            tokio::time::Instant::now() < deadline,
            "SIM loss never noticed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let o = carrier.submit(&message("hi", Encoding::Gsm7, 1)).await;
    assert!(
        matches!(
            o,
            Outcome::Retry {
                reason: RetryReason::Unavailable(_),
                ..
            }
        ),
        "{o:?}"
    );
    assert_eq!(carrier.status().state, CarrierState::Down);
    // Nothing was reported accepted that the simulator did not accept.
    assert_eq!(sim.accepted().len(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_hung_modem_is_down_at_once_and_up_again_after_recovery() {
    let (sim, carrier, _rx) = setup_with(Profile::Sim800, Duration::from_secs(20)).await;
    sim.fault(Fault::Hang(None));
    let o = carrier.submit(&message("hi", Encoding::Gsm7, 1)).await;
    assert!(matches!(o, Outcome::Retry { .. }), "{o:?}");
    let st = carrier.status();
    assert_eq!(st.state, CarrierState::Down, "{st:?}");
    assert!(st.detail.contains("not answering"), "{}", st.detail);
    // The modem comes back; the supervisor re-initialises it and the carrier is usable again.
    sim.fault(Fault::Unhang);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    while carrier.status().state != CarrierState::Up {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never recovered: {:?}",
            carrier.status()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let o = carrier.submit(&message("again", Encoding::Gsm7, 1)).await;
    assert!(matches!(o, Outcome::Accepted { .. }), "{o:?}");
}

#[tokio::test(start_paused = true)]
async fn a_modem_left_waiting_for_sms_input_by_a_dead_host_is_brought_back() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let sim = ModemHandle::new(sim_config(Profile::Sim800));
    // The previous host (the service before a kill -9) got the `> ` prompt and died there:
    // the modem now takes whatever comes as message text, `AT` included, until Ctrl-Z or ESC.
    let (a, mut host) = tokio::io::duplex(4096);
    let s = sim.clone();
    let served = tokio::spawn(async move { s.serve(a).await });
    let mut seen = Vec::new();
    for (cmd, want) in [
        (&b"AT+CMGF=0\r"[..], &b"OK\r\n"[..]),
        (b"AT+CMGS=27\r", b"> "),
    ] {
        host.write_all(cmd).await.unwrap();
        while !seen.ends_with(want) {
            let mut buf = [0u8; 256];
            let n = tokio::time::timeout(Duration::from_secs(30), host.read(&mut buf))
                .await
                .expect("the simulator answers")
                .unwrap();
            assert!(n > 0, "the simulator hung up");
            seen.extend_from_slice(&buf[..n]);
        }
    }
    drop(host);
    let _ = served.await;
    // The next host brings the modem up and can send.
    let (carrier, _rx) = connect(&sim, Duration::from_secs(120)).await;
    let outcome = carrier
        .submit(&message("after the crash", Encoding::Gsm7, 1))
        .await;
    assert!(matches!(outcome, Outcome::Accepted { .. }), "{outcome:?}");
    assert_eq!(sim.messages().len(), 1, "only the new message was sent");
}
