//! A message's life through the engine: delivered, rotated, failed, recovered, received.

use std::time::Duration;

use carriers::{AckHandle, CarrierEvent, CarrierKind, InboundPart};
use domain::{CarrierId, DlrStatus, MessageState, Outcome, RejectReason, RetryReason, UnixMillis};
use engine::{Event, SubmitError};
use store::Source;
use tokio::sync::{mpsc, oneshot};

use crate::support::{Fake, Script, req, start};

const BASIC: &str = "";

#[tokio::test]
async fn messages_are_submitted_then_delivered_by_report() {
    let (tx, rx) = mpsc::channel(1024);
    let a = Fake::new(
        "smpp-a",
        CarrierKind::Smpp,
        10,
        Script::Accept(Some(DlrStatus::Delivered)),
        tx.clone(),
    );
    let h = start(tempfile::tempdir().unwrap(), vec![a.clone()], rx, BASIC).await;
    let mut ids = Vec::new();
    for i in 0..50 {
        ids.push(h.send("13800138000", &format!("hello {i}")).await);
    }
    for id in &ids {
        let d = h.wait_state(*id, MessageState::Delivered).await;
        assert_eq!(d.attempts.len(), 1);
        assert_eq!(d.attempts[0].outcome.as_deref(), Some("accepted"));
        assert_eq!(d.parts[0].dlr_status, Some(DlrStatus::Delivered));
    }
    let mut sent = a.sent_ids();
    sent.sort();
    assert_eq!(sent, ids, "each message sent exactly once");
    let bill = h.engine.store().billing(None).await.unwrap();
    assert_eq!(bill[0].delivered_parts, 50);
}

#[tokio::test]
async fn a_failing_carrier_rotates_the_message_to_another() {
    let (tx, rx) = mpsc::channel(1024);
    let a = Fake::new(
        "smpp-a",
        CarrierKind::Smpp,
        10,
        Script::Answer(Outcome::Retry {
            after: Duration::ZERO,
            reason: RetryReason::Unavailable("bind lost".into()),
            maybe_sent: false,
        }),
        tx.clone(),
    );
    let b = Fake::new(
        "smpp-b",
        CarrierKind::Smpp,
        10,
        Script::Accept(None),
        tx.clone(),
    );
    // a is cheaper, so it is tried first.
    let routing = r#"
        [routing.carriers.smpp-a]
        cost = 1
        [routing.carriers.smpp-b]
        cost = 5
    "#;
    let h = start(
        tempfile::tempdir().unwrap(),
        vec![a.clone(), b.clone()],
        rx,
        routing,
    )
    .await;
    let id = h.send("13800138000", "rotate me").await;
    let d = h.wait_state(id, MessageState::Submitted).await;
    let carriers: Vec<_> = d
        .attempts
        .iter()
        .map(|a| (a.carrier.as_str(), a.outcome.clone().unwrap()))
        .collect();
    assert_eq!(
        carriers,
        [
            ("smpp-a", "retry".to_string()),
            ("smpp-b", "accepted".to_string())
        ]
    );
    assert_eq!(
        d.attempts[0].detail.as_deref(),
        Some("unavailable: bind lost")
    );
    assert_eq!(d.parts[0].carrier.as_deref(), Some("smpp-b"));
}

#[tokio::test]
async fn an_invalid_destination_fails_the_message() {
    let (tx, rx) = mpsc::channel(1024);
    let a = Fake::new(
        "smpp-a",
        CarrierKind::Smpp,
        10,
        Script::Answer(Outcome::Reject {
            reason: RejectReason::InvalidDestination("0x0000000B".into()),
        }),
        tx.clone(),
    );
    let h = start(tempfile::tempdir().unwrap(), vec![a], rx, BASIC).await;
    let id = h.send("13800138000", "x").await;
    let d = h.wait_state(id, MessageState::Failed).await;
    assert_eq!(
        d.message.error.as_deref(),
        Some("invalid destination: 0x0000000B")
    );
}

#[tokio::test]
async fn invalid_requests_store_nothing() {
    let (tx, rx) = mpsc::channel(16);
    let a = Fake::new("smpp-a", CarrierKind::Smpp, 10, Script::Accept(None), tx);
    let h = start(tempfile::tempdir().unwrap(), vec![a.clone()], rx, BASIC).await;
    let err = h
        .engine
        .submit(
            None,
            Source::Http,
            &[req("13800138000", "ok"), req("123", "")],
        )
        .await
        .unwrap_err();
    let SubmitError::Invalid(errs) = err else {
        panic!("{err:?}")
    };
    let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["messages[1].to", "messages[1].text"]);
    assert!(
        h.engine
            .store()
            .search(Default::default())
            .await
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_restart_resends_what_was_in_flight_and_loses_nothing() {
    const WIDE: &str = "[routing.smpp]\nwindow = 100\n";
    let dir = tempfile::tempdir().unwrap();
    // First run, in its own runtime: 20 messages go out on a carrier that never answers, then
    // the runtime is dropped with them in flight, which kills every engine task mid-attempt.
    let first = tokio::runtime::Runtime::new().unwrap();
    let (ids, dir) = first.block_on(async {
        let (tx, rx) = mpsc::channel(1024);
        let hang = Fake::new("smpp-a", CarrierKind::Smpp, 100, Script::Hang, tx);
        let h = start(dir, vec![hang.clone()], rx, WIDE).await;
        let mut ids = Vec::new();
        for i in 0..20 {
            ids.push(h.send("13800138000", &format!("m{i}")).await);
        }
        let mut events = h.engine.subscribe();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while hang.sent_ids().len() < 20 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {} in flight",
                hang.sent_ids().len()
            );
            let _ = tokio::time::timeout(Duration::from_millis(20), events.recv()).await;
        }
        h.engine.store().flush().await.unwrap();
        (ids, h.dir)
    });
    drop(first);
    let second = tokio::runtime::Runtime::new().unwrap();
    second.block_on(async {
        let (tx, rx) = mpsc::channel(1024);
        let ok = Fake::new(
            "smpp-a",
            CarrierKind::Smpp,
            100,
            Script::Accept(Some(DlrStatus::Delivered)),
            tx,
        );
        let h = start(dir, vec![ok.clone()], rx, WIDE).await;
        for id in &ids {
            let d = h.wait_state(*id, MessageState::Delivered).await;
            assert_eq!(d.attempts[0].outcome.as_deref(), Some("lost"));
            assert!(d.attempts[0].maybe_sent);
            assert_eq!(
                d.attempts.last().unwrap().outcome.as_deref(),
                Some("accepted")
            );
        }
        assert_eq!(
            ok.sent_ids().len(),
            20,
            "each in-flight message re-sent once"
        );
    });
}

#[tokio::test]
async fn inbound_parts_are_acknowledged_only_after_they_are_stored() {
    let (tx, rx) = mpsc::channel(16);
    let a = Fake::new(
        "bank/slot1",
        CarrierKind::BankSlot,
        1,
        Script::Accept(None),
        tx.clone(),
    );
    let h = start(tempfile::tempdir().unwrap(), vec![a], rx, BASIC).await;
    let mut events = h.engine.subscribe();
    let part = |seq: u8, text: &str, ack: oneshot::Sender<()>| InboundPart {
        carrier: CarrierId::new("bank/slot1").unwrap(),
        from: "+8613800138000".into(),
        to: None,
        text: text.into(),
        sc_timestamp: None,
        concat: Some((7, 2, seq)),
        fingerprint: format!("fp-{seq}"),
        received_at: UnixMillis::now(),
        ack: AckHandle::new(move || {
            let _ = ack.send(());
        }),
    };
    let (ack2, acked2) = oneshot::channel();
    tx.send(CarrierEvent::Inbound(part(2, "world", ack2)))
        .await
        .unwrap();
    acked2.await.expect("part 2 acknowledged");
    let (ack1, acked1) = oneshot::channel();
    tx.send(CarrierEvent::Inbound(part(1, "hello ", ack1)))
        .await
        .unwrap();
    acked1.await.expect("part 1 acknowledged");
    // Acknowledged means stored: the message is in the database now.
    let list = h.engine.store().inbound_list(None, None, 10).await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].body, "hello world");
    loop {
        match tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .unwrap()
            .unwrap()
        {
            Event::Inbound(m) => {
                assert_eq!(m.body, "hello world");
                break;
            }
            _ => continue,
        }
    }
    // Offered again (the bank rebooted before it saw the ack): acknowledged, not stored twice.
    let (ack, acked) = oneshot::channel();
    tx.send(CarrierEvent::Inbound(part(1, "hello ", ack)))
        .await
        .unwrap();
    acked.await.unwrap();
    assert_eq!(
        h.engine
            .store()
            .inbound_list(None, None, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_negative_receipt_resends_through_another_operator_channel() {
    let (tx, rx) = mpsc::channel(1024);
    let cmcc = Fake::new(
        "cmcc-1",
        CarrierKind::Smpp,
        10,
        Script::Accept(Some(DlrStatus::Undeliverable)),
        tx.clone(),
    );
    let other = Fake::new(
        "unicom-1",
        CarrierKind::Smpp,
        10,
        Script::Accept(Some(DlrStatus::Delivered)),
        tx.clone(),
    );
    let routing = r#"
        [routing.operators.cmcc]
        pool = ["cmcc-1"]
        [routing.operators.unicom]
        pool = ["unicom-1"]
        [routing.resend]
        on = ["undeliverable"]
        max = 1
    "#;
    let h = start(
        tempfile::tempdir().unwrap(),
        vec![cmcc.clone(), other.clone()],
        rx,
        routing,
    )
    .await;
    // 138 is a China Mobile number: its own pool first.
    let id = h.send("13800138000", "resend me").await;
    let d = h.wait_state(id, MessageState::Delivered).await;
    let trace: Vec<_> = d
        .attempts
        .iter()
        .map(|a| (a.carrier.as_str(), a.outcome.clone().unwrap()))
        .collect();
    assert_eq!(
        trace,
        [
            ("cmcc-1", "accepted".to_string()),
            ("cmcc-1", "resend".to_string()),
            ("unicom-1", "accepted".to_string())
        ]
    );
    assert_eq!(cmcc.sent_ids(), [id]);
    assert_eq!(other.sent_ids(), [id]);
}

#[tokio::test]
async fn shutdown_lets_attempts_in_flight_finish() {
    let (tx, rx) = mpsc::channel(16);
    let a = Fake::new("smpp-a", CarrierKind::Smpp, 10, Script::Accept(None), tx);
    let h = start(tempfile::tempdir().unwrap(), vec![a], rx, BASIC).await;
    let id = h.send("13800138000", "x").await;
    h.wait_state(id, MessageState::Submitted).await;
    h.engine.shutdown(Duration::from_secs(2)).await;
    let err = h
        .engine
        .submit(None, Source::Http, &[req("13800138000", "late")])
        .await
        .unwrap_err();
    assert!(matches!(err, SubmitError::ShuttingDown));
}

/// Regression: a carrier that is up but whose breaker is open still counted as free capacity, so
/// a dispatch round could end with due messages left; computing the next wake-up then overflowed
/// and the panic killed the dispatcher, stalling every message in the branch.
#[tokio::test]
async fn an_open_breaker_with_due_messages_left_does_not_stall_the_dispatcher() {
    let (tx, rx) = mpsc::channel(4096);
    let bad = Fake::new(
        "bad",
        CarrierKind::Smpp,
        1,
        Script::Answer(Outcome::Retry {
            after: Duration::ZERO,
            reason: RetryReason::Temporary("0x00000008".into()),
            maybe_sent: false,
        }),
        tx.clone(),
    );
    let slow = Fake::new(
        "slow",
        CarrierKind::Smpp,
        1,
        Script::Slow(Duration::from_millis(20)),
        tx,
    );
    let routing = "[routing.smpp]\nwindow = 1\n[routing.carriers.bad]\ncost = 1\n[routing.carriers.slow]\ncost = 9\n";
    let h = start(
        tempfile::tempdir().unwrap(),
        vec![bad, slow.clone()],
        rx,
        routing,
    )
    .await;
    let reqs: Vec<_> = (0..60)
        .map(|i| req("13800138000", &format!("m{i}")))
        .collect();
    let ids = h
        .engine
        .submit(None, store::Source::Http, &reqs)
        .await
        .unwrap();
    for a in &ids {
        h.wait_state(a.id, MessageState::Delivered).await;
    }
    assert_eq!(slow.sent_ids().len(), 60);
}
