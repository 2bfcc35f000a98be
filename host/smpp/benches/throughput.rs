//! Client → simulator submit throughput over loopback TCP: `cargo bench -p smpp --bench throughput`.
//!
//! The simulator runs on its own single-threaded runtime on its own OS thread, the link and its
//! callers on another, so each side gets about one core (the CI machine has two). For each
//! window (10, 100) and with or without receipts it submits `SMPP_BENCH_COUNT` messages (default
//! 50,000) from `2 × window` caller tasks and prints submits per second, bounded by
//! `SMPP_BENCH_MAX_S` seconds per run (default 60). `SMPP_BENCH_SMSC=127.0.0.1:2775` runs against an
//! SMSC that is already running instead (the `smsc-sim` binary, the bench rig's node sink), with
//! system_id and password `bench`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use smpp::client::{Link, LinkEvent, Role};
use smpp::message::{Address, Body, SubmitRequest};
use smsc_sim::{SimConfig, SimHandle, SmscSim};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn start_sim() -> (SimHandle, std::thread::JoinHandle<()>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let sim = SmscSim::start(SimConfig {
                record_limit: 0,
                ..SimConfig::default()
            })
            .await
            .expect("sim");
            tx.send(sim.clone()).expect("hand over");
            // Serve until stopped.
            let _ = sim
                .wait_until(Duration::from_secs(3600), |s| s.unbinds == u64::MAX)
                .await;
        });
    });
    (rx.recv().expect("sim started"), thread)
}

struct Run {
    window: usize,
    receipts: bool,
    count: u64,
}

fn main() {
    let count = env("SMPP_BENCH_COUNT", 50_000);
    let max_s = env("SMPP_BENCH_MAX_S", 60);
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run small then.
    let count = if std::env::args().any(|a| a == "--bench") {
        count
    } else {
        500
    };
    let external: Option<std::net::SocketAddr> = std::env::var("SMPP_BENCH_SMSC")
        .ok()
        .map(|a| a.parse().expect("SMPP_BENCH_SMSC is host:port"));
    let sim = match external {
        Some(_) => None,
        None => Some(start_sim()),
    };
    let port = external.map_or_else(|| sim.as_ref().map_or(0, |(s, _)| s.port()), |a| a.port());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "submit_sm over loopback TCP to {}, {count} messages per run, client on one thread",
        if external.is_some() {
            "an external SMSC"
        } else {
            "smsc-sim (own thread)"
        }
    );
    for run in [
        Run {
            window: 10,
            receipts: false,
            count,
        },
        Run {
            window: 100,
            receipts: false,
            count,
        },
        Run {
            window: 10,
            receipts: true,
            count,
        },
        Run {
            window: 100,
            receipts: true,
            count,
        },
    ] {
        if let Some((s, _)) = &sim {
            s.reset();
        }
        let (rate, receipts) = rt.block_on(one_run(port, &run, Duration::from_secs(max_s)));
        println!(
            "window {:>3} receipts {:<3}: {:>8.0} submits/s  (receipts received {receipts})",
            run.window,
            if run.receipts { "on" } else { "off" },
            rate,
        );
    }
    if let Some((s, _)) = sim {
        s.stop();
    }
}

async fn one_run(port: u16, run: &Run, max: Duration) -> (f64, u64) {
    let mut cfg = smpp::client::LinkConfig::new("127.0.0.1", port, "bench", "bench");
    cfg.window = run.window;
    let (link, mut events) = Link::spawn(cfg);
    loop {
        match tokio::time::timeout(Duration::from_secs(5), events.recv()).await {
            Ok(Some(LinkEvent::Bound {
                role: Role::Transceiver,
            })) => break,
            Ok(Some(_)) => {}
            other => panic!("no bind: {other:?}"),
        }
    }
    let link = Arc::new(link);
    let per_task = run.count / (run.window as u64 * 2);
    let sent = per_task * run.window as u64 * 2;
    let expected_receipts = if run.receipts { sent } else { 0 };
    // Receipts must be consumed, or the link stops reading once the channel fills.
    let drain = tokio::spawn(async move {
        let mut n = 0u64;
        let deadline = tokio::time::Instant::now() + max + Duration::from_secs(10);
        while n < expected_receipts {
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Ok(Some(LinkEvent::Receipt(_))) => n += 1,
                Ok(Some(_)) => {}
                _ => break,
            }
        }
        n
    });
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + max;
    let tasks: Vec<_> = (0..run.window * 2)
        .map(|t| {
            let link = link.clone();
            let receipts = run.receipts;
            tokio::spawn(async move {
                for i in 0..per_task {
                    if tokio::time::Instant::now() > deadline {
                        break;
                    }
                    let text = format!("ts:{} n:{t}-{i}", 0);
                    let mut req = SubmitRequest::new(
                        Address::alphanumeric("Bench"),
                        Address::international("4917000000"),
                        0,
                        Body::Short(Bytes::from(text.into_bytes())),
                    );
                    req.registered_delivery = u8::from(receipts);
                    link.submit(&req).await.expect("accepted");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    let elapsed = started.elapsed();
    let receipts = drain.await.unwrap_or(0);
    link.shutdown().await;
    (sent as f64 / elapsed.as_secs_f64(), receipts)
}
