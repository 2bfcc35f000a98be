//! Durable accepts over HTTP: `cargo bench -p outpost --bench accept`.
//!
//! Starts the release `outpost run` as a child process on a real SQLite file (every 202 is on
//! disk: `synchronous=FULL`, group commit), with one modem configured that cannot be reached, so
//! accepted messages stay queued. Then, from this process:
//! 1. RSS of the idle service;
//! 2. single sends: `COUNT` POST /api/v1/messages over `CONCURRENCY` connections → accepts/s,
//!    latency p50/p99;
//! 3. batches: POST /api/v1/messages/batch of 1,000 → messages/s, latency p50/p99 per batch;
//! 4. RSS with everything queued (100,000+ messages).
//!
//! Environment: `COUNT` (default 20000), `CONCURRENCY` (50), `BATCHES` (100).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn main() {
    let count = env("COUNT", 20_000);
    let concurrency = env("CONCURRENCY", 50);
    let batches = env("BATCHES", 100);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("outpost.toml");
    std::fs::write(
        &config,
        format!(
            "[service]\ndata_dir = {:?}\nlisten = \"127.0.0.1:0\"\nlog = \"warn,outpost=info\"\n\
             [[modem]]\nid = \"unreachable\"\ntcp = \"127.0.0.1:9\"\n",
            dir.path().join("data")
        ),
    )
    .unwrap();
    let bin = env!("CARGO_BIN_EXE_outpost");
    let key_out = Command::new(bin)
        .args(["key", "add", "bench", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let key = String::from_utf8(key_out.stdout)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("api key: ").map(str::to_owned))
        .expect("key");
    let mut child = Command::new(bin)
        .args(["run", "--config"])
        .arg(&config)
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(addr) = line
                .split("addr=")
                .nth(1)
                .and_then(|s| s.split_whitespace().next())
            {
                let _ = tx.send(addr.to_owned());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("service started");
    let base = format!("http://{addr}");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let idle = rss_mb(pid);
        // reqwest is built with `rustls-no-provider` (the service picks ring); so must we.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build().unwrap();

        // Single sends.
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..concurrency {
            let (http, base, key, next) = (http.clone(), base.clone(), key.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        return lat;
                    }
                    let t = Instant::now();
                    let resp = http
                        .post(format!("{base}/api/v1/messages"))
                        .bearer_auth(&key)
                        .json(&json!({"to": format!("+86138{:08}", i % 100_000_000), "text": format!("bench {i}")}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(resp.status().as_u16(), 202);
                    let _ = resp.bytes().await;
                    lat.push(t.elapsed());
                }
            }));
        }
        let mut lat = Vec::new();
        for t in tasks {
            lat.extend(t.await.unwrap());
        }
        let single_secs = started.elapsed().as_secs_f64();
        lat.sort();
        println!(
            "single: {count} accepts in {single_secs:.2} s = {:.0}/s over {concurrency} connections; latency p50 {:.2} ms, p99 {:.2} ms",
            count as f64 / single_secs,
            percentile(&lat, 0.5),
            percentile(&lat, 0.99)
        );

        // Batches of 1,000.
        let mut blat = Vec::new();
        let started = Instant::now();
        let per = 1000;
        let next = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let (http, base, key, next) = (http.clone(), base.clone(), key.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                loop {
                    let b = next.fetch_add(1, Ordering::Relaxed);
                    if b >= batches {
                        return lat;
                    }
                    let messages: Vec<_> = (0..per)
                        .map(|i| json!({"to": format!("+86139{:08}", (b * per + i) % 100_000_000), "text": format!("batch {b} {i}")}))
                        .collect();
                    let t = Instant::now();
                    let resp = http
                        .post(format!("{base}/api/v1/messages/batch"))
                        .bearer_auth(&key)
                        .json(&json!({ "messages": messages }))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(resp.status().as_u16(), 202);
                    let _ = resp.bytes().await;
                    lat.push(t.elapsed());
                }
            }));
        }
        for t in tasks {
            blat.extend(t.await.unwrap());
        }
        let batch_secs = started.elapsed().as_secs_f64();
        blat.sort();
        let total = batches * per;
        println!(
            "batch: {total} messages in {batches} batches of {per} in {batch_secs:.2} s = {:.0} messages/s over 4 connections; batch latency p50 {:.1} ms, p99 {:.1} ms",
            total as f64 / batch_secs,
            percentile(&blat, 0.5),
            percentile(&blat, 0.99)
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        println!(
            "RSS: idle {idle:.1} MB; with {} messages queued {:.1} MB",
            count + total,
            rss_mb(pid)
        );
    });
    let _ = child.kill();
    let _ = child.wait();
}
