//! Bank slots as carriers against the real bank application on the host (`tests/bank-emu`:
//! `firmware/bank` with one `firmware/modem` engine per slot, simulated modems behind them),
//! over the `firmware/link` protocol on TCP.

use std::sync::Arc;
use std::time::Duration;

use bank_emu::{BankEmu, EmuConfig, SlotSpec};
use carriers::bank::{BankSettings, BankSlot, start};
use carriers::modem::ModemPort;
use carriers::{Carrier, CarrierEvent, CarrierState, OutboundMessage};
use domain::{DlrStatus, Encoding, MessageId, Msisdn, Outcome, Priority};
use modem_sim::{Event, InboundSms, ModemConfig, Profile};
use tokio::sync::mpsc;

fn emu() -> BankEmu {
    let slot = |i: usize| {
        let mut cfg = ModemConfig::new(Profile::Sim800);
        cfg.send_latency_ms = 50;
        cfg.receipt_delay_ms = 50;
        cfg.imsi = format!("46000123456789{i}");
        SlotSpec::Sim(Box::new(cfg))
    };
    BankEmu::start(EmuConfig::new(vec![slot(0), slot(1)])).unwrap()
}

async fn connect(emu: &BankEmu) -> (Vec<Arc<BankSlot>>, mpsc::Receiver<CarrierEvent>) {
    let settings = BankSettings {
        name: "bank".into(),
        port: ModemPort::Tcp(emu.link_addr().unwrap().to_string()),
        slots: 2,
        submit_timeout: Duration::from_secs(60),
    };
    let (tx, rx) = mpsc::channel(256);
    let slots = start(&settings, tx).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while slots.iter().any(|s| s.status().state != CarrierState::Up) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "slots never came up: {:?}",
            slots.iter().map(|s| s.status()).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (slots, rx)
}

fn message(text: &str) -> OutboundMessage {
    OutboundMessage {
        id: MessageId(3),
        to: Msisdn::from_e164("+8613800138000").unwrap(),
        sender: None,
        body: text.into(),
        encoding: Encoding::Gsm7,
        parts: 1,
        reference: 3,
        report: true,
        validity: None,
        priority: Priority::NORMAL,
    }
}

async fn next(rx: &mut mpsc::Receiver<CarrierEvent>) -> CarrierEvent {
    loop {
        match tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("event")
        {
            Some(CarrierEvent::Changed(_)) => continue,
            Some(ev) => return ev,
            None => panic!("events closed"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slots_send_and_report_through_the_bank() {
    let emu = emu();
    let (slots, mut rx) = connect(&emu).await;
    assert_eq!(slots[1].id().as_str(), "bank/slot2");
    let st = slots[0].status();
    assert_eq!(
        st.slot.as_ref().and_then(|s| s.plmn.clone()).as_deref(),
        Some("46000")
    );
    let o = slots[1].submit(&message("via slot 2")).await;
    let Outcome::Accepted { carrier_refs } = o else {
        panic!("{o:?}")
    };
    assert_eq!(emu.sim(1).unwrap().messages()[0].text, "via slot 2");
    assert!(emu.sim(0).unwrap().messages().is_empty());
    match next(&mut rx).await {
        CarrierEvent::Report(r) => {
            assert_eq!(
                (r.carrier.as_str(), r.status),
                ("bank/slot2", DlrStatus::Delivered)
            );
            assert_eq!(r.carrier_ref, carrier_refs[0]);
        }
        other => panic!("{other:?}"),
    }
    emu.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_is_deleted_only_after_the_ack_and_survives_a_bank_reboot() {
    let emu = emu();
    let (_slots, mut rx) = connect(&emu).await;
    let sim = emu.sim(0).unwrap().clone();
    sim.inject(&InboundSms::new("+8613900139000", "订阅"))
        .unwrap();
    let CarrierEvent::Inbound(first) = next(&mut rx).await else {
        panic!("no inbound")
    };
    assert_eq!(
        (first.carrier.as_str(), first.text.as_str()),
        ("bank/slot1", "订阅")
    );
    // Not acknowledged; the bank reboots: the SMS must still be in the modem and offered again.
    drop(first.ack);
    emu.reboot();
    let CarrierEvent::Inbound(again) = next(&mut rx).await else {
        panic!("not offered again")
    };
    assert_eq!(again.fingerprint, first.fingerprint, "the same stored SMS");
    let deleted = |log: &[Event]| log.iter().any(|e| matches!(e, Event::Deleted { .. }));
    assert!(!deleted(&sim.log()), "deleted before the ack");
    again.ack.ack();
    sim.wait_log(Duration::from_secs(30), deleted)
        .await
        .expect("deleted after the ack");
    emu.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_report_is_deleted_only_after_the_ack_and_survives_a_bank_reboot() {
    let emu = emu();
    let (slots, mut rx) = connect(&emu).await;
    let sim = emu.sim(0).unwrap().clone();
    let o = slots[0].submit(&message("report me")).await;
    assert!(matches!(o, Outcome::Accepted { .. }), "{o:?}");
    let CarrierEvent::Report(first) = next(&mut rx).await else {
        panic!("no report")
    };
    // Not acknowledged (the service crashed before storing it); the bank reboots: the report
    // must still be in the modem and offered again.
    drop(first.ack);
    emu.reboot();
    let CarrierEvent::Report(again) = next(&mut rx).await else {
        panic!("report not offered again")
    };
    assert_eq!(
        (again.carrier_ref.as_str(), again.raw.as_deref()),
        (first.carrier_ref.as_str(), first.raw.as_deref()),
        "the same stored report"
    );
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
    assert!(!deleted(&sim.log()), "deleted before the ack");
    again.ack.ack();
    sim.wait_log(Duration::from_secs(30), deleted)
        .await
        .expect("deleted after the ack");
    emu.shutdown();
}
