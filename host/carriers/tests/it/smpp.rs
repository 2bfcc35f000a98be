//! `SmppCarrier` against `tests/smsc-sim`: parts, data coding, receipts matched by id, MO.

use std::time::Duration;

use carriers::smpp::{DestinationFormat, SmppCarrier, SmppSettings};
use carriers::{Carrier, CarrierEvent, CarrierState, OutboundMessage};
use domain::{CarrierId, DlrStatus, Encoding, MessageId, Msisdn, Outcome, Priority};
use smpp::client::LinkConfig;
use smpp::message::LongMode;
use smsc_sim::{SimConfig, SmscSim};
use tokio::sync::mpsc;

fn message(text: &str, encoding: Encoding, parts: u16) -> OutboundMessage {
    OutboundMessage {
        id: MessageId(7),
        to: Msisdn::from_e164("+8613800138000").unwrap(),
        sender: Some("Outpost".into()),
        body: text.into(),
        encoding,
        parts,
        reference: 7,
        report: true,
        validity: Some(Duration::from_secs(3600)),
        priority: Priority::NORMAL,
    }
}

async fn start(
    mode: LongMode,
    destination: DestinationFormat,
) -> (
    smsc_sim::SimHandle,
    std::sync::Arc<SmppCarrier>,
    mpsc::Receiver<CarrierEvent>,
) {
    let sim = SmscSim::start(SimConfig::default()).await.unwrap();
    let addr = sim.addr();
    let settings = SmppSettings {
        id: CarrierId::new("cmcc-1").unwrap(),
        link: LinkConfig::new(&addr.ip().to_string(), addr.port(), "outpost", "secret"),
        source: None,
        force_source: false,
        destination,
        gsm7_data_coding: 0,
        long_mode: mode,
        receipts: true,
    };
    let (tx, rx) = mpsc::channel(256);
    let carrier = SmppCarrier::start(settings, tx);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while carrier.status().state != CarrierState::Up {
        assert!(tokio::time::Instant::now() < deadline, "never bound");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (sim, carrier, rx)
}

async fn reports(rx: &mut mpsc::Receiver<CarrierEvent>, n: usize) -> Vec<(String, DlrStatus)> {
    let mut out = Vec::new();
    while out.len() < n {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("receipt")
        {
            Some(CarrierEvent::Report(r)) => out.push((r.carrier_ref, r.status)),
            Some(_) => {}
            None => panic!("events closed"),
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[tokio::test]
async fn long_ucs2_goes_as_udh_parts_and_every_receipt_matches() {
    let (sim, carrier, mut rx) = start(LongMode::Udh, DestinationFormat::International).await;
    let text = "您好".repeat(40); // 80 UTF-16 units: two parts
    let Outcome::Accepted { carrier_refs } =
        carrier.submit(&message(&text, Encoding::Ucs2, 2)).await
    else {
        panic!("not accepted")
    };
    assert_eq!(carrier_refs.len(), 2);
    let subs = sim.submits();
    assert_eq!(subs.len(), 2);
    assert!(
        subs.iter()
            .all(|s| s.data_coding == 8 && s.esm_class & 0x40 != 0 && s.registered_delivery == 1)
    );
    assert_eq!(subs[0].destination.addr, "8613800138000");
    assert_eq!(
        subs.iter()
            .map(|s| s.text.clone().unwrap())
            .collect::<String>(),
        text
    );
    let mut want: Vec<_> = carrier_refs
        .into_iter()
        .map(|r| (r, DlrStatus::Delivered))
        .collect();
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(reports(&mut rx, 2).await, want);
}

#[tokio::test]
async fn payload_mode_sends_one_submit_and_national_numbers() {
    let (sim, carrier, mut rx) = start(LongMode::Payload, DestinationFormat::National(86)).await;
    let text = "x".repeat(200);
    let Outcome::Accepted { carrier_refs } =
        carrier.submit(&message(&text, Encoding::Gsm7, 2)).await
    else {
        panic!("not accepted")
    };
    // One submit_sm; both parts carry its id.
    assert_eq!(sim.submits().len(), 1);
    assert_eq!(carrier_refs[0], carrier_refs[1]);
    assert_eq!(sim.submits()[0].destination.addr, "13800138000");
    assert_eq!(reports(&mut rx, 1).await[0].0, carrier_refs[0]);
}

#[tokio::test]
async fn a_dead_smsc_is_a_retry_not_a_failure() {
    let (sim, carrier, _rx) = start(LongMode::Udh, DestinationFormat::International).await;
    sim.set_down(true);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while carrier.status().state == CarrierState::Up {
        assert!(
            tokio::time::Instant::now() < deadline,
            "link never noticed the SMSC going away"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let o = carrier.submit(&message("hi", Encoding::Gsm7, 1)).await;
    assert!(
        matches!(
            o,
            Outcome::Retry {
                maybe_sent: false,
                ..
            }
        ),
        "{o:?}"
    );
}
