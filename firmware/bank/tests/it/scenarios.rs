//! What the issue asks of the bank, one scenario per test: submits and their results exactly
//! once, refusals, inbound messages deleted only after the host's ack and offered again after
//! restarts of either side, status reports, a slow or hung slot not holding up the others, and
//! a corrupted line losing nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

use link::msg::{
    HostTag, Pdu, SlotConfig, SlotId, SlotLimits, SlotState, SubmitError, SubmitOutcome,
};
use link::{BankToHost, Event, HostToBank};
use modem_sim::{Fault, InboundSms, ModemConfig, Profile};
use tokio::time::Instant;

use crate::rig::{Rig, SLOTS, stored, submit_pdu};

const SEC: Duration = Duration::from_secs(1);

async fn local<F: Future>(f: F) -> F::Output {
    tokio::task::LocalSet::new().run_until(f).await
}

fn sim(latency_ms: u64) -> ModemConfig {
    ModemConfig {
        send_latency_ms: latency_ms,
        ..ModemConfig::new(Profile::Sim800)
    }
}

fn accepted(o: SubmitOutcome) -> bool {
    matches!(o, SubmitOutcome::Accepted { .. })
}

fn failed(e: SubmitError) -> SubmitOutcome {
    SubmitOutcome::Failed(e)
}

/// Every `SubmitResult` seen so far, per tag.
fn results(rig: &Rig) -> BTreeMap<u32, Vec<SubmitOutcome>> {
    let mut out: BTreeMap<u32, Vec<SubmitOutcome>> = BTreeMap::new();
    for ev in &rig.host.seen {
        if let Event::Message(BankToHost::SubmitResult { tag, outcome, .. }) = ev {
            out.entry(tag.0).or_default().push(*outcome);
        }
    }
    out
}

/// Waits for the next inbound SMS (not a report); returns its slot, index and PDU.
async fn next_inbound(rig: &mut Rig, timeout: Duration) -> (SlotId, u16, Pdu) {
    rig.host
        .expect(timeout, |ev| match ev {
            Event::Message(BankToHost::InboundSms { slot, index, pdu }) => {
                Some((*slot, *index, pdu.clone()))
            }
            _ => None,
        })
        .await
}

#[tokio::test(start_paused = true)]
async fn boot_reports_bank_info_then_every_slot_ready() {
    local(async {
        let mut rig = Rig::start(sim(0));
        let info = rig
            .host
            .expect(10 * SEC, |ev| match ev {
                Event::Message(BankToHost::BankInfo(info)) => Some(info.clone()),
                _ => None,
            })
            .await;
        assert_eq!(info.slot_count, SLOTS as u8);
        assert_eq!(info.firmware.as_str(), env!("CARGO_PKG_VERSION"));
        rig.all_ready().await;
        // A Query is answered with BankInfo and one status per slot.
        rig.host.idle(SEC).await;
        rig.host.clear();
        rig.host.send(HostToBank::Query).await;
        let mut slots = BTreeSet::new();
        rig.host
            .expect(10 * SEC, |ev| {
                if let Event::Message(BankToHost::SlotStatus(s)) = ev {
                    slots.insert(s.slot.0);
                    assert_eq!(s.state, SlotState::Ready);
                    assert_eq!(s.sim.imsi.as_deref(), Some("242011234567890"));
                    assert_eq!(s.operator.as_deref(), Some("SimNet"));
                }
                (slots.len() == SLOTS).then_some(())
            })
            .await;
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn submit_is_sent_once_and_its_mr_reported() {
    local(async {
        let mut rig = Rig::start(sim(0));
        rig.all_ready().await;
        rig.host.submit(2, 10, submit_pdu("hello", false)).await;
        let outcome = rig.host.result(10, 30 * SEC).await;
        let sent = rig.sims[2].accepted();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].text, "hello");
        assert_eq!(outcome, SubmitOutcome::Accepted { mr: sent[0].mr });
        for other in [0, 1, 3] {
            assert!(rig.sims[other].accepted().is_empty());
        }
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn repeated_tag_gets_the_recorded_result_not_a_second_sms() {
    local(async {
        let mut rig = Rig::start(sim(0));
        rig.all_ready().await;
        rig.host.submit(0, 7, submit_pdu("once", false)).await;
        let first = rig.host.result(7, 30 * SEC).await;
        assert!(accepted(first));
        // The host restarted and submits the same tag again.
        rig.restart_host(0x4057_0002);
        rig.host.submit(0, 7, submit_pdu("once", false)).await;
        assert_eq!(rig.host.result(7, 30 * SEC).await, first);
        assert_eq!(rig.sims[0].accepted().len(), 1);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn repeated_tag_in_flight_is_sent_and_reported_once() {
    local(async {
        let mut rig = Rig::start(sim(3_000));
        rig.all_ready().await;
        rig.host.submit(1, 8, submit_pdu("twice?", false)).await;
        rig.host.submit(1, 8, submit_pdu("twice?", false)).await;
        assert!(accepted(rig.host.result(8, 30 * SEC).await));
        rig.host.idle(20 * SEC).await;
        assert_eq!(results(&rig)[&8].len(), 1);
        assert_eq!(rig.sims[1].accepted().len(), 1);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn full_queue_refuses_and_every_tag_gets_one_result() {
    local(async {
        let mut rig = Rig::start(sim(10_000));
        rig.all_ready().await;
        for tag in 1..=6 {
            rig.host.submit(3, tag, submit_pdu("q", false)).await;
        }
        for tag in 1..=6 {
            rig.host.result(tag, 120 * SEC).await;
        }
        let all = results(&rig);
        let refused = all
            .values()
            .filter(|o| o[..] == [failed(SubmitError::QueueFull)])
            .count();
        let sent = all
            .values()
            .filter(|o| o.len() == 1 && accepted(o[0]))
            .count();
        assert_eq!(all.len(), 6);
        assert!(
            refused >= 3,
            "one in progress and two queued at most: {all:?}"
        );
        assert_eq!(refused + sent, 6, "{all:?}");
        assert_eq!(rig.sims[3].accepted().len(), sent);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn immediate_refusals() {
    local(async {
        let mut rig = Rig::start(sim(0));
        rig.all_ready().await;
        let pdu = submit_pdu("x", false);
        rig.host.submit(9, 1, pdu.clone()).await;
        assert_eq!(
            rig.host.result(1, 10 * SEC).await,
            failed(SubmitError::NoSuchSlot)
        );
        let bad = Pdu {
            tpdu_len: 0,
            octets: pdu.octets.clone(),
        };
        rig.host.submit(0, 2, bad).await;
        assert_eq!(
            rig.host.result(2, 10 * SEC).await,
            failed(SubmitError::InvalidPdu)
        );
        // One a minute: the second within the minute is refused.
        let limited = SlotConfig {
            enabled: true,
            pin: None,
            profile: None,
            limits: SlotLimits {
                per_minute: Some(1),
                ..SlotLimits::default()
            },
        };
        rig.host
            .send(HostToBank::Configure {
                slot: SlotId(1),
                config: limited,
            })
            .await;
        rig.host.submit(1, 3, pdu.clone()).await;
        rig.host.submit(1, 4, pdu.clone()).await;
        assert_eq!(
            rig.host.result(4, 10 * SEC).await,
            failed(SubmitError::RateLimited)
        );
        // Configuring re-initialises the slot, so the first may find it not ready yet; either
        // way it has its one result.
        rig.host.result(3, 60 * SEC).await;
        // A disabled slot refuses and says so.
        let disabled = SlotConfig {
            enabled: false,
            pin: None,
            profile: None,
            limits: SlotLimits::default(),
        };
        rig.host
            .send(HostToBank::Configure {
                slot: SlotId(2),
                config: disabled,
            })
            .await;
        rig.host
            .expect(10 * SEC, |ev| match ev {
                Event::Message(BankToHost::SlotStatus(s))
                    if s.slot == SlotId(2) && s.state == SlotState::Disabled =>
                {
                    Some(())
                }
                _ => None,
            })
            .await;
        rig.host.submit(2, 5, pdu).await;
        assert_eq!(
            rig.host.result(5, 10 * SEC).await,
            failed(SubmitError::SlotDisabled)
        );
        assert!(rig.sims[2].accepted().is_empty());
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn cancel_withdraws_a_queued_submit() {
    local(async {
        let mut rig = Rig::start(sim(5_000));
        rig.all_ready().await;
        rig.host.submit(0, 1, submit_pdu("first", false)).await;
        rig.host.submit(0, 2, submit_pdu("second", false)).await;
        rig.host.send(HostToBank::Cancel { tag: HostTag(2) }).await;
        assert_eq!(
            rig.host.result(2, 10 * SEC).await,
            failed(SubmitError::Cancelled)
        );
        assert!(accepted(rig.host.result(1, 30 * SEC).await));
        rig.host.idle(10 * SEC).await;
        let sent = rig.sims[0].accepted();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].text, "first");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn inbound_is_deleted_from_the_modem_only_after_the_host_ack() {
    local(async {
        let mut rig = Rig::start(sim(0));
        rig.all_ready().await;
        rig.sims[1]
            .inject(&InboundSms::new("+4798765432", "ping"))
            .unwrap();
        let (slot, index, pdu) = next_inbound(&mut rig, 30 * SEC).await;
        assert_eq!(slot, SlotId(1));
        let deliver = gsm::tpdu::decode(pdu.tpdu().unwrap(), gsm::tpdu::Direction::ScToMs);
        assert!(format!("{deliver:?}").contains("4798765432"), "{deliver:?}");
        // Not acknowledged: it stays in the modem, however long we wait.
        rig.host.idle(20 * SEC).await;
        assert_eq!(stored(&rig.sims[1]), 1);
        rig.host.send(HostToBank::AckInbound { slot, index }).await;
        let sim = rig.sims[1].clone();
        let deleted = async {
            sim.wait_for(30 * SEC, |m| {
                (m.store_usage(modem_sim::Mem::Sm).0 + m.store_usage(modem_sim::Mem::Me).0 == 0)
                    .then_some(())
            })
            .await
        };
        // Keep the link pumping while waiting for the deletion.
        tokio::select! {
            r = deleted => r.expect("deleted after the ack"),
            _ = rig.host.idle(40 * SEC) => panic!("not deleted after the ack"),
        }
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn unacked_inbound_is_offered_again_after_a_host_restart() {
    local(async {
        let mut rig = Rig::start(sim(0));
        rig.all_ready().await;
        rig.sims[3]
            .inject(&InboundSms::new("+4798765432", "again"))
            .unwrap();
        let (slot, index, pdu) = next_inbound(&mut rig, 30 * SEC).await;
        rig.restart_host(0x4057_0009);
        // At once, not after the periodic re-offer (30 s).
        let (slot2, index2, pdu2) = next_inbound(&mut rig, 5 * SEC).await;
        assert_eq!((slot2, index2, &pdu2), (slot, index, &pdu));
        rig.host.send(HostToBank::AckInbound { slot, index }).await;
        // Acknowledged: never offered again.
        let later = rig.host.idle(60 * SEC).await;
        assert!(
            !later
                .iter()
                .any(|e| matches!(e, Event::Message(BankToHost::InboundSms { .. }))),
            "{later:?}"
        );
        assert_eq!(stored(&rig.sims[3]), 0);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn unacked_inbound_is_offered_again_after_a_bank_reboot() {
    local(async {
        let mut rig = Rig::start(sim(0));
        rig.all_ready().await;
        rig.sims[0]
            .inject(&InboundSms::new("+4798765432", "survives"))
            .unwrap();
        let (slot, index, pdu) = next_inbound(&mut rig, 30 * SEC).await;
        rig.reboot_bank(0xB0_0002);
        rig.host
            .expect(10 * SEC, |ev| {
                matches!(ev, Event::PeerRestarted { .. }).then_some(())
            })
            .await;
        let again = next_inbound(&mut rig, 60 * SEC).await;
        assert_eq!(again, (slot, index, pdu));
        rig.host.send(HostToBank::AckInbound { slot, index }).await;
        rig.host.idle(10 * SEC).await;
        assert_eq!(stored(&rig.sims[0]), 0);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn status_report_is_forwarded_and_deleted_after_ack() {
    local(async {
        let cfg = ModemConfig {
            receipt_delay_ms: 2_000,
            ..sim(0)
        };
        let mut rig = Rig::start(cfg);
        rig.all_ready().await;
        rig.host.submit(2, 1, submit_pdu("report me", true)).await;
        let SubmitOutcome::Accepted { mr } = rig.host.result(1, 30 * SEC).await else {
            panic!("not accepted");
        };
        let (slot, index, pdu) = rig
            .host
            .expect(30 * SEC, |ev| match ev {
                Event::Message(BankToHost::StatusReport { slot, index, pdu }) => {
                    Some((*slot, *index, pdu.clone()))
                }
                _ => None,
            })
            .await;
        assert_eq!(slot, SlotId(2));
        // TS 23.040 9.2.2.3: TP-MR is the second octet of an SMS-STATUS-REPORT.
        assert_eq!(pdu.tpdu().unwrap()[1], mr);
        rig.host.send(HostToBank::AckInbound { slot, index }).await;
        rig.host.idle(10 * SEC).await;
        assert_eq!(stored(&rig.sims[2]), 0);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_slow_send_delays_no_other_slot() {
    local(async {
        let mut cfgs = vec![sim(0); SLOTS];
        cfgs[0] = sim(50_000);
        let mut rig = Rig::start_with(cfgs, None);
        rig.all_ready().await;
        rig.host.submit(0, 1, submit_pdu("slow", false)).await;
        rig.host.idle(SEC).await;
        let t0 = Instant::now();
        rig.host.submit(1, 2, submit_pdu("fast", false)).await;
        rig.sims[2]
            .inject(&InboundSms::new("+4798765432", "meanwhile"))
            .unwrap();
        assert!(accepted(rig.host.result(2, 30 * SEC).await));
        let (slot, _, _) = next_inbound(&mut rig, 30 * SEC).await;
        assert_eq!(slot, SlotId(2));
        assert!(t0.elapsed() < 10 * SEC, "took {:?}", t0.elapsed());
        assert!(
            !results(&rig).contains_key(&1),
            "the slow send is still going"
        );
        assert!(accepted(rig.host.result(1, 60 * SEC).await));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_hung_modem_is_power_cycled_while_the_others_keep_sending() {
    local(async {
        let mut rig = Rig::start(sim(1_000));
        rig.all_ready().await;
        rig.sims[0].fault(Fault::Hang(None));
        let mut tag = 100;
        // Keep every slot busy while slot 0 is found dead and power-cycled; its submits fail
        // (the engine notices the hang through them and through its health polls).
        let mut cycled = false;
        let mut back = false;
        let mut slot0: Option<u32> = None;
        for _round in 0..300 {
            if slot0.is_none() {
                tag += 1;
                rig.host.submit(0, tag, submit_pdu("stuck?", false)).await;
                slot0 = Some(tag);
            }
            let mut others = Vec::new();
            for slot in 1..SLOTS as u8 {
                tag += 1;
                rig.host.submit(slot, tag, submit_pdu("busy", false)).await;
                others.push(tag);
            }
            for t in others {
                assert!(accepted(rig.host.result(t, 30 * SEC).await), "tag {t}");
            }
            let all = results(&rig);
            if slot0.is_some_and(|t| all.contains_key(&t)) {
                slot0 = None;
            }
            for ev in &rig.host.seen {
                if let Event::Message(BankToHost::SlotStatus(s)) = ev
                    && s.slot == SlotId(0)
                {
                    cycled |= s.counters.power_cycles > 0;
                    back |= cycled && s.state == SlotState::Ready;
                }
            }
            if back {
                break;
            }
        }
        assert!(
            cycled && back,
            "slot 0 not power-cycled and back (cycled {cycled})"
        );
        // And slot 0 sends again.
        rig.host.submit(0, 1, submit_pdu("alive", false)).await;
        assert!(accepted(rig.host.result(1, 30 * SEC).await));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn reset_slot_reinitialises_or_power_cycles() {
    local(async {
        let mut rig = Rig::start(sim(0));
        rig.all_ready().await;
        for (hard, slot) in [(false, 2u8), (true, 3u8)] {
            rig.host
                .send(HostToBank::ResetSlot {
                    slot: SlotId(slot),
                    hard,
                })
                .await;
            rig.host
                .expect(60 * SEC, |ev| match ev {
                    Event::Message(BankToHost::SlotStatus(s))
                        if s.slot == SlotId(slot)
                            && s.state == SlotState::Ready
                            && (if hard {
                                s.counters.power_cycles
                            } else {
                                s.counters.reinits
                            }) > 0 =>
                    {
                        Some(())
                    }
                    _ => None,
                })
                .await;
        }
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_corrupted_line_loses_nothing() {
    local(async {
        let mut rig = Rig::start_with(vec![sim(500); SLOTS], Some(0.01));
        rig.all_ready().await;
        let texts: Vec<String> = (0..8).map(|i| format!("inbound {i}")).collect();
        for (i, text) in texts.iter().enumerate() {
            rig.sims[i % SLOTS]
                .inject(&InboundSms::new("+4798765432", text.as_str()))
                .unwrap();
        }
        const N: u32 = 40;
        let mut inbound = BTreeSet::new();
        // Rounds of one submit per slot, as a host that keeps one in flight per slot would;
        // the host acks every inbound message as it arrives.
        for round in 0..N / SLOTS as u32 {
            let tags: Vec<u32> = (1..=SLOTS as u32)
                .map(|s| round * SLOTS as u32 + s)
                .collect();
            for &tag in &tags {
                let slot = ((tag - 1) % SLOTS as u32) as u8;
                rig.host
                    .submit(slot, tag, submit_pdu(&format!("m{tag}"), false))
                    .await;
            }
            for &tag in &tags {
                rig.host.result(tag, 60 * SEC).await;
            }
            while let Some((slot, index, _)) = rig.host.try_take_inbound() {
                inbound.insert((slot, index));
                rig.host.send(HostToBank::AckInbound { slot, index }).await;
            }
        }
        let until = Instant::now() + 300 * SEC;
        while inbound.len() < texts.len() && Instant::now() < until {
            rig.host.idle(SEC).await;
            while let Some((slot, index, _)) = rig.host.try_take_inbound() {
                inbound.insert((slot, index));
                rig.host.send(HostToBank::AckInbound { slot, index }).await;
            }
        }
        let all = results(&rig);
        assert_eq!(all.len(), N as usize, "{all:?}");
        for (tag, outcomes) in &all {
            assert_eq!(outcomes.len(), 1, "tag {tag}: {outcomes:?}");
            assert!(accepted(outcomes[0]), "tag {tag}: {outcomes:?}");
        }
        let sent: usize = rig.sims.iter().map(|s| s.accepted().len()).sum();
        assert_eq!(sent, N as usize);
        assert_eq!(inbound.len(), texts.len());
        rig.host.idle(20 * SEC).await;
        let left: usize = rig.sims.iter().map(stored).sum();
        assert_eq!(left, 0, "every inbound acked and deleted");
        let stats = rig.host.stats();
        assert!(stats.crc_errors + stats.framing_errors > 0, "{stats:?}");
        assert!(stats.retransmits > 0, "{stats:?}");
    })
    .await;
}
