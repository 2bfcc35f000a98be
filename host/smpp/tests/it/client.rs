//! The ESME client against the simulator: binds, window, throttling, link loss, hung links,
//! receipts in either order, MO, garbage, v5.0 peers, transmitter + receiver, shutdown.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use domain::DlrStatus;
use smpp::client::{BindMode, DownReason, Link, LinkEvent, LinkState, Role, SubmitError};
use smpp::receipt::{IdFormat, UnmatchedReceipts};
use smsc_sim::{Addr, Faults, Garbage, Mo, OutcomeMix, ReceiptConfig, SimConfig};
use tokio::time::Instant;

use crate::util::{
    WAIT, link_config, sim, submit_until_accepted, text_submit, wait_bound, wait_event,
};

#[tokio::test]
async fn bind_submit_and_receipt() {
    let sim = sim(SimConfig::with_account("acme", "secret")).await;
    let (link, mut events) = Link::spawn(link_config(sim.port(), "acme", "secret"));
    wait_bound(&mut events, Role::Transceiver).await;
    assert_eq!(link.state(), LinkState::Bound);

    let resp = link
        .submit(&text_submit("4917000001", "hello"))
        .await
        .unwrap();
    assert_eq!(resp.message_id, "1");
    assert_eq!(resp.attempts, 1);
    let ev = wait_event(&mut events, "receipt", |e| {
        matches!(e, LinkEvent::Receipt(_))
    })
    .await;
    let LinkEvent::Receipt(r) = ev else {
        unreachable!()
    };
    assert_eq!(r.canonical_id, resp.canonical_id);
    assert_eq!(r.receipt.stat, DlrStatus::Delivered);
    assert_eq!(r.receipt.text.as_deref(), Some("hello"));
    assert_eq!(r.from.addr, "4917000001");
    let stats = sim
        .wait_until(WAIT, |s| s.receipts_acked == 1)
        .await
        .unwrap();
    assert_eq!(stats.submits, 1);
    assert_eq!(sim.submits()[0].text.as_deref(), Some("hello"));
    let st = link.status();
    assert_eq!(
        (
            st.counters.submitted,
            st.counters.accepted,
            st.counters.receipts
        ),
        (1, 1, 1)
    );
    link.shutdown().await;
    assert_eq!(link.state(), LinkState::Closed);
    sim.wait_until(WAIT, |s| s.unbinds == 1 && s.bound_now == 0)
        .await
        .unwrap();
}

#[tokio::test]
async fn refused_bind_is_reported_and_submits_fail_fast() {
    let sim = sim(SimConfig::with_account("acme", "secret")).await;
    let (link, mut events) = Link::spawn(link_config(sim.port(), "acme", "wrong"));
    let ev = wait_event(&mut events, "bind refusal", |e| {
        matches!(e, LinkEvent::Down { .. })
    })
    .await;
    assert_eq!(
        ev,
        LinkEvent::Down {
            role: Role::Transceiver,
            reason: DownReason::BindRefused(0x0E)
        }
    );
    assert_eq!(
        link.submit(&text_submit("1", "x")).await,
        Err(SubmitError::LinkDown { maybe_sent: false })
    );
    // It keeps trying with backoff.
    sim.wait_until(WAIT, |s| s.binds_failed >= 3).await.unwrap();
    link.shutdown().await;
}

#[tokio::test]
async fn window_bounds_unanswered_submits() {
    let mut cfg = SimConfig::default();
    cfg.faults.response_delay = Duration::from_millis(40);
    let sim = sim(cfg).await;
    let mut lc = link_config(sim.port(), "a", "b");
    lc.window = 4;
    let (link, mut events) = Link::spawn(lc);
    wait_bound(&mut events, Role::Transceiver).await;
    let started = Instant::now();
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let link = link.clone();
            tokio::spawn(async move { link.submit(&text_submit("4917", &format!("m{i}"))).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    // 40 submits, 4 at a time, 40 ms each: at least 10 rounds.
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    let stats = sim.stats();
    assert_eq!(stats.accepted, 40);
    assert_eq!(stats.max_pending_responses, 4, "window not enforced");
    link.shutdown().await;
}

#[tokio::test]
async fn throttling_slows_the_link_but_fails_nothing() {
    let mut cfg = SimConfig::default();
    cfg.faults.throttle_share = 0.1;
    let sim = sim(cfg).await;
    let mut lc = link_config(sim.port(), "a", "b");
    lc.window = 10;
    let (link, mut events) = Link::spawn(lc);
    wait_bound(&mut events, Role::Transceiver).await;
    let started = Instant::now();
    let tasks: Vec<_> = (0..300)
        .map(|i| {
            let link = link.clone();
            tokio::spawn(async move { link.submit(&text_submit("4917", &format!("t{i}"))).await })
        })
        .collect();
    let mut retried = 0;
    for t in tasks {
        let r = t
            .await
            .unwrap()
            .expect("throttled submit must be re-sent, not failed");
        retried += r.attempts - 1;
    }
    let stats = sim.stats();
    assert_eq!(
        (stats.accepted, stats.unique, stats.duplicates),
        (300, 300, 0)
    );
    assert!(stats.throttled >= 30, "{stats:?}");
    assert_eq!(
        retried as u64, stats.throttled,
        "each throttle answer is one re-send"
    );
    // Kannel needs ~2 s per throttle answer (60 s here); the adaptive pause is milliseconds.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    wait_event(&mut events, "throttle event", |e| {
        matches!(e, LinkEvent::Throttled { .. })
    })
    .await;
    assert_eq!(link.status().counters.throttled, stats.throttled);
    link.shutdown().await;
}

#[tokio::test]
async fn dropped_link_mid_load_loses_nothing_and_duplicates_at_most_the_window() {
    let mut cfg = SimConfig::default();
    cfg.faults.drop_after = Some(50);
    cfg.faults.drop_repeat = true;
    let sim = sim(cfg).await;
    let mut lc = link_config(sim.port(), "a", "b");
    lc.window = 8;
    let (link, mut events) = Link::spawn(lc);
    wait_bound(&mut events, Role::Transceiver).await;
    let link = Arc::new(link);
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let link = link.clone();
            tokio::spawn(async move {
                submit_until_accepted(&link, &text_submit("4917", &format!("d{i}"))).await
            })
        })
        .collect();
    let mut maybe_sent = 0;
    for t in tasks {
        maybe_sent += t.await.unwrap().1;
    }
    let stats = sim.stats();
    assert_eq!(stats.unique, 200, "every message reached the SMSC");
    assert!(stats.drops >= 3, "{stats:?}");
    // Submits the SMSC took but whose answers died with the connection come twice: at most a
    // window's worth per drop, and the client knew each might have been sent.
    assert!(stats.duplicates <= stats.drops * 8, "{stats:?}");
    assert!(maybe_sent as u64 >= stats.duplicates);
    assert!(link.status().counters.reconnects >= 3);
    link.shutdown().await;
}

#[tokio::test]
async fn hung_link_is_detected_by_the_response_timeout() {
    let sim = sim(SimConfig::default()).await;
    let (link, mut events) = Link::spawn(link_config(sim.port(), "a", "b"));
    wait_bound(&mut events, Role::Transceiver).await;
    sim.set_faults(Faults {
        hang: true,
        ..Faults::default()
    });
    let started = Instant::now();
    let err = link
        .submit(&text_submit("4917", "into the void"))
        .await
        .unwrap_err();
    assert_eq!(err, SubmitError::Timeout { maybe_sent: true });
    assert!(started.elapsed() < Duration::from_secs(3));
    wait_event(&mut events, "down", |e| {
        matches!(
            e,
            LinkEvent::Down {
                reason: DownReason::ResponseTimeout,
                ..
            }
        )
    })
    .await;
    // Binds on the new connections hang too; once the SMSC recovers the link rebinds.
    sim.set_faults(Faults::default());
    wait_bound(&mut events, Role::Transceiver).await;
    link.submit(&text_submit("4917", "back")).await.unwrap();
    link.shutdown().await;
}

#[tokio::test]
async fn idle_hung_link_is_detected_by_enquire_link() {
    let sim = sim(SimConfig::default()).await;
    let mut lc = link_config(sim.port(), "a", "b");
    lc.enquire_link_interval = Duration::from_millis(200);
    lc.response_timeout = Duration::from_millis(300);
    let (link, mut events) = Link::spawn(lc);
    wait_bound(&mut events, Role::Transceiver).await;
    // Healthy and idle: enquire_links flow and are answered.
    sim.wait_until(WAIT, |s| s.enquire_links >= 2)
        .await
        .unwrap();
    sim.set_faults(Faults {
        hang: true,
        ..Faults::default()
    });
    wait_event(&mut events, "down", |e| {
        matches!(
            e,
            LinkEvent::Down {
                reason: DownReason::EnquireLinkTimeout,
                ..
            }
        )
    })
    .await;
    link.shutdown().await;
}

#[tokio::test]
async fn receipts_before_and_after_the_response_match_by_canonical_id() {
    for before in [true, false] {
        let cfg = SimConfig {
            receipts: ReceiptConfig {
                before_response: before,
                ..ReceiptConfig::default()
            },
            ..SimConfig::default()
        };
        let sim = sim(cfg).await;
        let (link, mut events) = Link::spawn(link_config(sim.port(), "a", "b"));
        wait_bound(&mut events, Role::Transceiver).await;
        let resp = link.submit(&text_submit("4917", "race")).await.unwrap();
        let ev = wait_event(&mut events, "receipt", |e| {
            matches!(e, LinkEvent::Receipt(_))
        })
        .await;
        let LinkEvent::Receipt(r) = ev else {
            unreachable!()
        };
        // The lead parks receipts it cannot match yet and takes them when the submit outcome
        // is stored; either order ends with the same pairing.
        let mut parked = UnmatchedReceipts::new(100, Duration::from_secs(60));
        parked.park(
            r.canonical_id.clone(),
            r.receipt.clone(),
            std::time::Instant::now(),
        );
        let got = parked.take(&resp.canonical_id, std::time::Instant::now());
        assert_eq!(got.len(), 1, "before_response={before}");
        link.shutdown().await;
    }
}

#[tokio::test]
async fn hex_submit_ids_match_decimal_receipt_text() {
    let mut cfg = SimConfig {
        id_format: smsc_sim::IdFormat::Hex,
        ..SimConfig::default()
    };
    cfg.receipts.text_id_format = Some(smsc_sim::IdFormat::Decimal);
    cfg.receipts.tlvs = false;
    let sim = sim(cfg).await;
    let mut lc = link_config(sim.port(), "a", "b");
    lc.id_format = IdFormat::SubmitHexReceiptDecimal;
    let (link, mut events) = Link::spawn(lc);
    wait_bound(&mut events, Role::Transceiver).await;
    for i in 0..12 {
        let resp = link
            .submit(&text_submit("4917", &format!("h{i}")))
            .await
            .unwrap();
        let ev = wait_event(&mut events, "receipt", |e| {
            matches!(e, LinkEvent::Receipt(_))
        })
        .await;
        let LinkEvent::Receipt(r) = ev else {
            unreachable!()
        };
        assert_eq!(
            r.canonical_id, resp.canonical_id,
            "{} vs {}",
            resp.message_id, r.receipt.message_id
        );
        if i == 11 {
            assert_eq!(
                (resp.message_id.as_str(), r.receipt.message_id.as_str()),
                ("c", "12")
            );
        }
    }
    link.shutdown().await;
}

#[tokio::test]
async fn receipt_outcomes_and_missing_receipts() {
    let mut cfg = SimConfig::default();
    cfg.receipts.mix = OutcomeMix {
        delivered: 0,
        undeliverable: 1,
        expired: 0,
        rejected: 0,
        none: 0,
    };
    let sim = sim(cfg).await;
    let (link, mut events) = Link::spawn(link_config(sim.port(), "a", "b"));
    wait_bound(&mut events, Role::Transceiver).await;
    link.submit(&text_submit("4917", "fails")).await.unwrap();
    let ev = wait_event(&mut events, "receipt", |e| {
        matches!(e, LinkEvent::Receipt(_))
    })
    .await;
    let LinkEvent::Receipt(r) = ev else {
        unreachable!()
    };
    assert_eq!(r.receipt.stat, DlrStatus::Undeliverable);
    assert_eq!(r.receipt.message_state, Some(5));
    assert_eq!(r.receipt.err.as_deref(), Some("001"));
    link.shutdown().await;
}

#[tokio::test]
async fn mo_messages_arrive_with_concatenation_facts() {
    let sim = sim(SimConfig::default()).await;
    let (link, mut events) = Link::spawn(link_config(sim.port(), "svc", "pw"));
    wait_bound(&mut events, Role::Transceiver).await;
    let handset = Addr {
        ton: 1,
        npi: 1,
        addr: "4917012345".into(),
    };
    let service = Addr {
        ton: 0,
        npi: 1,
        addr: "1234".into(),
    };
    // Plain, UDH part, SAR part, message_payload.
    let mos = [
        Mo {
            source: handset.clone(),
            destination: service.clone(),
            data_coding: 0,
            esm_class: 0,
            short_message: Bytes::from_static(b"STOP"),
            payload: None,
            sar: None,
        },
        Mo {
            source: handset.clone(),
            destination: service.clone(),
            data_coding: 8,
            esm_class: 0x40,
            short_message: Bytes::from_static(b"\x05\x00\x03\x2a\x02\x01\x4e\x2d"),
            payload: None,
            sar: None,
        },
        Mo {
            source: handset.clone(),
            destination: service.clone(),
            data_coding: 0,
            esm_class: 0,
            short_message: Bytes::from_static(b"part two"),
            payload: None,
            sar: Some((0x0102, 2, 2)),
        },
        Mo {
            source: handset.clone(),
            destination: service.clone(),
            data_coding: 0,
            esm_class: 0,
            short_message: Bytes::new(),
            payload: Some(Bytes::from(vec![b'x'; 300])),
            sar: None,
        },
    ];
    for mo in mos {
        sim.inject_mo("svc", mo).unwrap();
    }
    let mut got = Vec::new();
    while got.len() < 4 {
        let LinkEvent::Mo(m, _) =
            wait_event(&mut events, "MO", |e| matches!(e, LinkEvent::Mo(..))).await
        else {
            unreachable!()
        };
        got.push(m);
    }
    assert_eq!(got[0].user_data(), b"STOP");
    assert_eq!(got[0].source.addr, "4917012345");
    assert_eq!(got[0].destination.addr, "1234");
    let c = got[1].concat().unwrap();
    assert_eq!(
        (c.reference, c.total, c.seq, got[1].user_data()),
        (0x2a, 2, 1, &b"\x4e\x2d"[..])
    );
    let c = got[2].concat().unwrap();
    assert_eq!((c.reference, c.total, c.seq), (0x0102, 2, 2));
    assert_eq!(got[3].user_data().len(), 300);
    sim.wait_until(WAIT, |s| s.mo_acked == 4).await.unwrap();
    assert_eq!(link.status().counters.mo, 4);
    link.shutdown().await;
}

#[tokio::test]
async fn garbage_pdu_is_nacked_and_the_session_survives() {
    let mut cfg = SimConfig::default();
    cfg.faults.garbage_after = Some((3, Garbage::Pdu));
    let sim = sim(cfg).await;
    let (link, mut events) = Link::spawn(link_config(sim.port(), "a", "b"));
    wait_bound(&mut events, Role::Transceiver).await;
    for i in 0..10 {
        link.submit(&text_submit("4917", &format!("g{i}")))
            .await
            .unwrap();
    }
    let stats = sim
        .wait_until(WAIT, |s| s.generic_nacks == 1)
        .await
        .unwrap();
    assert_eq!((stats.connections, stats.accepted), (1, 10));
    assert_eq!(link.status().counters.reconnects, 0);
    link.shutdown().await;
}

#[tokio::test]
async fn unframeable_garbage_drops_the_session_and_the_link_recovers() {
    let mut cfg = SimConfig::default();
    cfg.faults.garbage_after = Some((2, Garbage::Stream));
    let sim = sim(cfg).await;
    let (link, mut events) = Link::spawn(link_config(sim.port(), "a", "b"));
    wait_bound(&mut events, Role::Transceiver).await;
    for i in 0..6 {
        submit_until_accepted(&link, &text_submit("4917", &format!("s{i}"))).await;
    }
    wait_event(&mut events, "down", |e| {
        matches!(
            e,
            LinkEvent::Down {
                reason: DownReason::Framing(_),
                ..
            }
        )
    })
    .await;
    let stats = sim.stats();
    assert!(stats.connections >= 2, "{stats:?}");
    assert_eq!(stats.unique, 6);
    link.shutdown().await;
}

#[tokio::test]
async fn binds_to_an_smpp_5_peer() {
    for (ours, theirs) in [(0x34, Some(0x50)), (0x50, Some(0x50)), (0x34, None)] {
        let sim = sim(SimConfig {
            interface_version: theirs,
            ..SimConfig::default()
        })
        .await;
        let mut lc = link_config(sim.port(), "a", "b");
        lc.interface_version = ours;
        let (link, mut events) = Link::spawn(lc);
        wait_bound(&mut events, Role::Transceiver).await;
        link.submit(&text_submit("4917", "v5")).await.unwrap();
        link.shutdown().await;
    }
}

#[tokio::test]
async fn transmitter_and_receiver_pair() {
    let sim = sim(SimConfig::default()).await;
    let mut lc = link_config(sim.port(), "pair", "pw");
    lc.bind = BindMode::TransmitterReceiver;
    let (link, mut events) = Link::spawn(lc);
    wait_bound(&mut events, Role::Receiver).await;
    link.until_bound().await;
    let resp = link.submit(&text_submit("4917", "split")).await.unwrap();
    let ev = wait_event(&mut events, "receipt", |e| {
        matches!(e, LinkEvent::Receipt(_))
    })
    .await;
    let LinkEvent::Receipt(r) = ev else {
        unreachable!()
    };
    assert_eq!(r.canonical_id, resp.canonical_id);
    let stats = sim.stats();
    let binds: Vec<_> = stats.links.iter().map(|l| l.bind).collect();
    assert_eq!(binds.len(), 2);
    assert!(
        binds.contains(&"transmitter") && binds.contains(&"receiver"),
        "{binds:?}"
    );
    assert_eq!(link.status().receiver_state, Some(LinkState::Bound));
    link.shutdown().await;
}

#[tokio::test]
async fn shutdown_drains_in_flight_submits_then_unbinds() {
    let mut cfg = SimConfig::default();
    cfg.faults.response_delay = Duration::from_millis(150);
    let sim = sim(cfg).await;
    let (link, mut events) = Link::spawn(link_config(sim.port(), "a", "b"));
    wait_bound(&mut events, Role::Transceiver).await;
    let tasks: Vec<_> = (0..5)
        .map(|i| {
            let link = link.clone();
            tokio::spawn(async move { link.submit(&text_submit("4917", &format!("z{i}"))).await })
        })
        .collect();
    sim.wait_until(WAIT, |s| s.submits == 5).await.unwrap();
    link.shutdown().await;
    for t in tasks {
        t.await
            .unwrap()
            .expect("in-flight submits are answered before unbind");
    }
    assert_eq!(sim.stats().unbinds, 1);
    assert_eq!(
        link.submit(&text_submit("4917", "late")).await,
        Err(SubmitError::LinkDown { maybe_sent: false })
    );
}

#[tokio::test]
async fn smsc_down_then_up() {
    let sim = sim(SimConfig::default()).await;
    let (link, mut events) = Link::spawn(link_config(sim.port(), "a", "b"));
    wait_bound(&mut events, Role::Transceiver).await;
    sim.set_down(true);
    wait_event(&mut events, "down", |e| matches!(e, LinkEvent::Down { .. })).await;
    assert_eq!(
        link.submit(&text_submit("4917", "x")).await,
        Err(SubmitError::LinkDown { maybe_sent: false })
    );
    sim.set_down(false);
    wait_bound(&mut events, Role::Transceiver).await;
    link.submit(&text_submit("4917", "y")).await.unwrap();
    link.shutdown().await;
}

#[tokio::test]
async fn rate_cap_spaces_submits() {
    let sim = sim(SimConfig::default()).await;
    let mut lc = link_config(sim.port(), "a", "b");
    lc.max_rate = NonZeroU32::new(200);
    let (link, mut events) = Link::spawn(lc);
    wait_bound(&mut events, Role::Transceiver).await;
    let started = Instant::now();
    for i in 0..100 {
        link.submit(&text_submit("4917", &format!("r{i}")))
            .await
            .unwrap();
    }
    // 100 at 200/s with a burst of 20: at least 0.4 s.
    assert!(
        started.elapsed() >= Duration::from_millis(390),
        "{:?}",
        started.elapsed()
    );
    link.shutdown().await;
}

#[tokio::test]
async fn permanent_and_temporary_errors_are_final_answers() {
    let mut cfg = SimConfig::default();
    cfg.faults.error_share = 1.0;
    let sim = sim(cfg).await;
    let (link, mut events) = Link::spawn(link_config(sim.port(), "a", "b"));
    wait_bound(&mut events, Role::Transceiver).await;
    assert_eq!(
        link.submit(&text_submit("4917", "bad")).await,
        Err(SubmitError::Permanent(0x0B))
    );
    sim.set_faults(Faults {
        error_share: 1.0,
        error_status: 0x08,
        ..Faults::default()
    });
    assert_eq!(
        link.submit(&text_submit("4917", "busy")).await,
        Err(SubmitError::Temporary(0x08))
    );
    sim.set_faults(Faults {
        queue_full_share: 1.0,
        ..Faults::default()
    });
    // Queue full on every try: re-sent `retries` times, then the caller hears it.
    assert_eq!(
        link.submit(&text_submit("4917", "full")).await,
        Err(SubmitError::QueueFull)
    );
    assert_eq!(
        sim.stats().queue_full,
        1 + u64::from(link.config().throttle.retries)
    );
    link.shutdown().await;
}

#[tokio::test]
async fn cancelled_submit_before_sending_is_never_sent() {
    let mut cfg = SimConfig::default();
    cfg.faults.response_delay = Duration::from_millis(200);
    let sim = sim(cfg).await;
    let mut lc = link_config(sim.port(), "a", "b");
    lc.window = 1;
    let (link, mut events) = Link::spawn(lc);
    wait_bound(&mut events, Role::Transceiver).await;
    let first = {
        let link = link.clone();
        tokio::spawn(async move { link.submit(&text_submit("4917", "first")).await })
    };
    sim.wait_until(WAIT, |s| s.submits == 1).await.unwrap();
    // The window is full: this one waits for a slot and is given up before it gets one.
    let waited = tokio::time::timeout(
        Duration::from_millis(50),
        link.submit(&text_submit("4917", "abandoned")),
    )
    .await;
    assert!(waited.is_err());
    first.await.unwrap().unwrap();
    link.submit(&text_submit("4917", "third")).await.unwrap();
    let texts: Vec<_> = sim.submits().into_iter().filter_map(|s| s.text).collect();
    assert_eq!(texts, ["first", "third"]);
    link.shutdown().await;
}

#[tokio::test]
async fn a_deferred_receipt_or_mo_is_answered_when_released_and_offered_again_if_never() {
    let mut cfg = SimConfig::with_account("acme", "secret");
    cfg.receipts.redeliver = true;
    cfg.mo_redeliver = true;
    let sim = sim(cfg).await;
    let mut lc = link_config(sim.port(), "acme", "secret");
    lc.defer_deliver_resp = true;
    let (link, mut events) = Link::spawn(lc);
    wait_bound(&mut events, Role::Transceiver).await;
    let resp = link
        .submit(&text_submit("4917000001", "held"))
        .await
        .unwrap();
    let is_receipt = |e: &LinkEvent| matches!(e, LinkEvent::Receipt(_));
    let LinkEvent::Receipt(first) = wait_event(&mut events, "receipt", is_receipt).await else {
        unreachable!()
    };
    assert!(first.ack.is_pending());
    // While its owner holds it (storing it, say), the receipt stays unanswered.
    let held = sim
        .wait_until(Duration::from_millis(300), |s| s.receipts_acked > 0)
        .await;
    assert!(held.is_err(), "answered before release: {held:?}");
    // The session ends with the receipt unanswered (the owner crashed): the SMSC offers it
    // again after the next bind, and releasing the stale handle answers nothing.
    sim.set_down(true);
    wait_event(&mut events, "down", |e| matches!(e, LinkEvent::Down { .. })).await;
    sim.set_down(false);
    let LinkEvent::Receipt(again) = wait_event(&mut events, "receipt again", is_receipt).await
    else {
        unreachable!()
    };
    assert_eq!(again.canonical_id, resp.canonical_id);
    first.ack.ack();
    again.ack.ack();
    let s = sim
        .wait_until(WAIT, |s| s.receipts_acked == 1)
        .await
        .unwrap();
    assert_eq!((s.receipts_held, s.receipts_redelivered), (1, 1), "{s:?}");
    // An MO likewise waits for its owner.
    let mo = Mo {
        source: Addr {
            ton: 1,
            npi: 1,
            addr: "4917000009".into(),
        },
        destination: Addr {
            ton: 0,
            npi: 1,
            addr: "1234".into(),
        },
        data_coding: 0,
        esm_class: 0,
        short_message: Bytes::from_static(b"stored first"),
        payload: None,
        sar: None,
    };
    sim.inject_mo("acme", mo).unwrap();
    let LinkEvent::Mo(m, ack) =
        wait_event(&mut events, "MO", |e| matches!(e, LinkEvent::Mo(..))).await
    else {
        unreachable!()
    };
    assert_eq!(m.user_data(), b"stored first");
    assert!(ack.is_pending());
    let held = sim
        .wait_until(Duration::from_millis(300), |s| s.mo_acked > 0)
        .await;
    assert!(held.is_err(), "answered before release: {held:?}");
    ack.ack();
    sim.wait_until(WAIT, |s| s.mo_acked == 1).await.unwrap();
    // Without deferral (the default) a receipt is answered on arrival.
    let (plain, mut ev2) = Link::spawn(link_config(sim.port(), "acme", "secret"));
    wait_bound(&mut ev2, Role::Transceiver).await;
    plain
        .submit(&text_submit("4917000002", "plain"))
        .await
        .unwrap();
    let LinkEvent::Receipt(r) = wait_event(&mut ev2, "receipt", is_receipt).await else {
        unreachable!()
    };
    assert!(!r.ack.is_pending());
    sim.wait_until(WAIT, |s| s.receipts_acked == 2)
        .await
        .unwrap();
    drop(r);
    plain.shutdown().await;
    link.shutdown().await;
}
