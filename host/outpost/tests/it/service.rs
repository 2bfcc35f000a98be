//! The service as users run it: `outpost run --config` as a child process, simulated modems on
//! TCP, clients over HTTP. DESIGN invariants under test: every accepted message ends delivered
//! with its report, a hung slot's messages move on, a kill -9 loses nothing accepted, and an
//! idempotent retry stores nothing twice.

use std::collections::HashSet;
use std::time::Duration;

use modem_sim::Fault;
use serde_json::json;

use crate::support::{config, create_key, modems, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_messages_through_four_modems_are_all_delivered_with_reports() {
    let dir = tempfile::tempdir().unwrap();
    let sim = modems(5).await;
    let cfg = config(dir.path(), &sim, "");
    let key = create_key(&cfg);
    let svc = start(&cfg, &key);
    let ids = svc.send_many(1000, "load").await;
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 1000);
    svc.wait_delivered(1000, Duration::from_secs(180)).await;
    // Every message went out exactly once, spread over the four SIMs.
    let per_modem: Vec<usize> = sim.modems().iter().map(|m| m.accepted().len()).collect();
    assert_eq!(per_modem.iter().sum::<usize>(), 1000, "{per_modem:?}");
    assert!(
        per_modem.iter().all(|n| *n > 100),
        "slots unevenly used: {per_modem:?}"
    );
    // And each one's trace shows its report.
    let m = svc.get(&format!("/api/v1/messages/{}", ids[500])).await;
    assert_eq!(m["state"], "delivered");
    assert_eq!(m["part_reports"][0]["report"]["status"], "delivered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_slot_hands_its_messages_to_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let sim = modems(50).await;
    let cfg = config(dir.path(), &sim, "");
    let key = create_key(&cfg);
    let svc = start(&cfg, &key);
    // Let every slot come up and take work, then hang one.
    let first = svc.send_many(40, "warm").await;
    svc.wait_delivered(first.len(), Duration::from_secs(60))
        .await;
    sim.modem(0).unwrap().fault(Fault::Hang(None));
    let ids = svc.send_many(200, "after-hang").await;
    svc.wait_delivered(first.len() + ids.len(), Duration::from_secs(180))
        .await;
    // Whatever was in flight on the hung modem was retried elsewhere; the hung modem itself
    // accepted nothing after it hung.
    let hung_accepted = sim.modem(0).unwrap().accepted().len();
    let carriers = svc.get("/api/v1/carriers").await;
    let modem0 = &carriers["carriers"][0];
    assert_eq!(modem0["id"], "modem0");
    assert_ne!(modem0["state"], "up", "the hung modem is not up: {modem0}");
    let total: usize = sim.modems().iter().map(|m| m.accepted().len()).sum();
    assert!(total >= 240, "every message sent at least once ({total})");
    assert!(
        hung_accepted < 40,
        "the hung slot kept receiving work: {hung_accepted}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_load_loses_nothing_accepted_and_retries_make_no_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let sim = modems(30).await;
    let cfg = config(dir.path(), &sim, "");
    let key = create_key(&cfg);
    let mut svc = start(&cfg, &key);
    // Clients send one message per request with an idempotency key, 8 at a time; the service
    // is killed with SIGKILL while requests are in flight.
    let total = 400usize;
    let accepted = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(usize, i64)>::new()));
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let svc_ref = &svc;
    let clients = (0..8).map(|_| {
        let accepted = accepted.clone();
        let next = next.clone();
        async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    return;
                }
                let body = json!({"to": format!("+86139{i:08}"), "text": format!("kill test {i}")});
                match svc_ref
                    .post("/api/v1/messages", body, Some(&format!("k-{i}")))
                    .await
                {
                    Ok((202, b)) => accepted
                        .lock()
                        .unwrap()
                        .push((i, b["id"].as_i64().unwrap())),
                    // Connection refused or reset: the service is gone. The client will retry.
                    _ => return,
                }
            }
        }
    });
    let killer = async {
        while accepted.lock().unwrap().len() < 150 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(svc_ref.child.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
    };
    tokio::join!(futures::future::join_all(clients), killer);
    let before_kill: Vec<(usize, i64)> = accepted.lock().unwrap().clone();
    assert!(
        before_kill.len() >= 150 && before_kill.len() < total,
        "{}",
        before_kill.len()
    );
    let _ = svc.child.wait();
    // Restart on the same database; clients retry everything they sent, with the same keys.
    drop(svc);
    svc = start(&cfg, &key);
    let mut ids = HashSet::new();
    for i in 0..total {
        let body = json!({"to": format!("+86139{i:08}"), "text": format!("kill test {i}")});
        let (status, b) = svc
            .post("/api/v1/messages", body, Some(&format!("k-{i}")))
            .await
            .unwrap();
        assert_eq!(status, 202, "{b}");
        ids.insert(b["id"].as_i64().unwrap());
    }
    // Every message accepted before the kill kept its id (nothing lost, nothing stored twice).
    for (i, id) in &before_kill {
        assert!(
            ids.contains(id),
            "message {i} (id {id}) was lost or duplicated"
        );
    }
    assert_eq!(ids.len(), total, "one message per idempotency key");
    svc.wait_delivered(total, Duration::from_secs(180)).await;
    // Duplicates to handsets are bounded by what was in flight at the kill (4 slots × 1).
    let sent: usize = sim.modems().iter().map(|m| m.accepted().len()).sum();
    assert!(
        sent >= total && sent <= total + 4,
        "sent {sent} for {total} messages"
    );
}

#[test]
fn a_bad_config_is_refused_naming_every_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[service]\nlisten = \"everywhere\"\n[[modem]]\nid = \"m 1\"\n[[smpp]]\nid = \"s\"\nport = 0\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_outpost"))
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for key in [
        "service.listen",
        "modem[0].id",
        "modem[0]:",
        "smpp[0].host",
        "smpp[0].port",
        "smpp[0].system_id",
    ] {
        assert!(err.contains(key), "{key} not named in: {err}");
    }
    let ok = std::process::Command::new(env!("CARGO_BIN_EXE_outpost"))
        .args([
            "check-config",
            "--config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/outpost.example.toml"),
        ])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}
