//! The service with a modem bank (`[[bank]]`) as its only carriers: the real bank application
//! (`tests/bank-emu`: `firmware/bank` with four simulated modems) on the far end of a serial pty,
//! opened by the service through tokio-serial and spoken to in the `firmware/link` protocol.
//! Messages go out through every slot and come back delivered; an inbound SMS is stored and only
//! then deleted from the modem; a kill -9 of the service loses neither.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use bank_emu::{BankEmu, EmuConfig, LinkSpec, SlotSpec};
use modem_sim::{Event, InboundSms, ModemConfig, Profile, StoredKind};

use crate::support::{Service, create_key, start};

fn bank(dir: &Path) -> BankEmu {
    let slots = (0..4)
        .map(|i| {
            let mut cfg = ModemConfig::new(Profile::Sim800);
            cfg.send_latency_ms = 20;
            cfg.receipt_delay_ms = 20;
            cfg.imsi = format!("46000123456790{i}");
            SlotSpec::Sim(Box::new(cfg))
        })
        .collect();
    let mut cfg = EmuConfig::new(slots);
    cfg.link = LinkSpec::Pty(dir.join("bank-tty"));
    BankEmu::start(cfg).unwrap()
}

fn config(dir: &Path, emu: &BankEmu) -> std::path::PathBuf {
    let text = format!(
        "[service]\ndata_dir = {:?}\nlisten = \"127.0.0.1:0\"\nshutdown_grace = \"2s\"\n\n\
         [[bank]]\nname = \"bank\"\ndevice = {:?}\nbaud = 115200\nslots = 4\nsubmit_timeout = \"10s\"\n\n\
         [routing.modems]\nper_minute = 100000\nper_hour = 100000\nper_day = 100000\n",
        dir.join("data"),
        emu.link_path().unwrap(),
    );
    let path = dir.join("outpost.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Every inbound message's text the service stored, with how often.
async fn inbound(svc: &Service) -> Vec<String> {
    let page = svc.get("/api/v1/inbound?limit=1000").await;
    page["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["text"].as_str().map(str::to_owned))
        .collect()
}

async fn wait_inbound(svc: &Service, text: &str, limit: Duration) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let all = inbound(svc).await;
        if all.iter().any(|t| t == text) {
            return all;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{text:?} never stored; inbound: {all:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn deleted_deliver(log: &[Event]) -> usize {
    log.iter()
        .filter(|e| {
            matches!(
                e,
                Event::Deleted {
                    kind: StoredKind::Deliver,
                    ..
                }
            )
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_and_inbound_go_through_a_bank_on_a_serial_line() {
    let dir = tempfile::tempdir().unwrap();
    let emu = bank(dir.path());
    let cfg = config(dir.path(), &emu);
    let key = create_key(&cfg);
    let svc = start(&cfg, &key);

    let ids = svc.send_many(200, "via the bank").await;
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 200);
    svc.wait_delivered(200, Duration::from_secs(120)).await;
    // Each message went out once, over all four slots of the bank.
    let per_slot: Vec<usize> = (0..4)
        .map(|i| emu.sim(i).unwrap().accepted().len())
        .collect();
    assert_eq!(per_slot.iter().sum::<usize>(), 200, "{per_slot:?}");
    assert!(per_slot.iter().all(|n| *n > 10), "{per_slot:?}");
    let m = svc.get(&format!("/api/v1/messages/{}", ids[100])).await;
    assert_eq!(m["state"], "delivered", "{m}");
    assert_eq!(m["part_reports"][0]["report"]["status"], "delivered", "{m}");
    let carrier = m["attempts"][0]["carrier"].as_str().unwrap_or_default();
    assert!(carrier.starts_with("bank/slot"), "{m}");
    svc.wait_carriers_up("bank/", 4, Duration::from_secs(10))
        .await;

    // An inbound SMS on slot 3 is stored, and deleted from the modem after that.
    let sim = emu.sim(2).unwrap().clone();
    sim.inject(&InboundSms::new("+8613900139000", "来自银行的回复"))
        .unwrap();
    let all = wait_inbound(&svc, "来自银行的回复", Duration::from_secs(30)).await;
    assert_eq!(
        all.iter().filter(|t| *t == "来自银行的回复").count(),
        1,
        "{all:?}"
    );
    sim.wait_log(Duration::from_secs(30), |log| deleted_deliver(log) == 1)
        .await
        .expect("deleted from the modem after it was stored");
    emu.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbound_sms_waits_in_the_bank_while_the_service_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let emu = bank(dir.path());
    let cfg = config(dir.path(), &emu);
    let key = create_key(&cfg);
    let mut svc = start(&cfg, &key);
    svc.wait_carriers_up("bank/", 4, Duration::from_secs(60))
        .await;
    // The service dies (kill -9); a reply arrives meanwhile: the bank holds it in the modem.
    svc.child.kill().unwrap();
    svc.child.wait().unwrap();
    let sim = emu.sim(1).unwrap().clone();
    sim.inject(&InboundSms::new("+8613900139001", "while you were out"))
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        deleted_deliver(&sim.log()),
        0,
        "deleted with nobody to store it"
    );
    // Back up: the bank offers it again, the service stores it once, then it is deleted.
    let svc = start(&cfg, &key);
    let all = wait_inbound(&svc, "while you were out", Duration::from_secs(60)).await;
    assert_eq!(
        all.iter().filter(|t| *t == "while you were out").count(),
        1,
        "{all:?}"
    );
    sim.wait_log(Duration::from_secs(30), |log| deleted_deliver(log) == 1)
        .await
        .expect("deleted once stored");
    emu.shutdown();
}
