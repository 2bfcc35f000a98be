//! Running `outpost` as a child process, talking to it over HTTP, and simulated modems.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use modem_sim::{Endpoint, ModemConfig, Profile, Sim};
use serde_json::{Value, json};

/// Four simulated modems on TCP, each taking `latency_ms` per send.
pub(crate) async fn modems(latency_ms: u64) -> Sim {
    let specs = [
        Profile::Sim800,
        Profile::Ec25,
        Profile::Huawei,
        Profile::Generic,
    ]
    .into_iter()
    .enumerate()
    .map(|(i, p)| {
        let mut cfg = ModemConfig::new(p);
        cfg.send_latency_ms = latency_ms;
        cfg.receipt_delay_ms = 20;
        cfg.imsi = format!("46000123456780{i}");
        (Endpoint::Tcp("127.0.0.1:0".parse().unwrap()), cfg)
    })
    .collect();
    Sim::start(specs).await.unwrap()
}

/// A config file for `sim`'s modems, with its data in `dir`.
pub(crate) fn config(dir: &Path, sim: &Sim, extra: &str) -> PathBuf {
    let mut text = format!(
        "[service]\ndata_dir = {:?}\nlisten = \"127.0.0.1:0\"\nshutdown_grace = \"2s\"\n\n",
        dir.join("data")
    );
    for (i, e) in sim.endpoints().iter().enumerate() {
        let Endpoint::Tcp(addr) = e else {
            unreachable!("tcp modems")
        };
        text.push_str(&format!(
            "[[modem]]\nid = \"modem{i}\"\ntcp = \"{addr}\"\nsend_timeout = \"3s\"\n\n"
        ));
    }
    // Four SIMs may send as fast as the test needs.
    text.push_str("[routing.modems]\nper_minute = 100000\nper_hour = 100000\nper_day = 100000\n");
    text.push_str(extra);
    let path = dir.join("outpost.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A running `outpost run` child; killed when dropped.
pub(crate) struct Service {
    pub(crate) child: Child,
    pub(crate) base: String,
    pub(crate) key: String,
    pub(crate) http: reqwest::Client,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Creates an API key with the CLI (as an admin would).
pub(crate) fn create_key(config: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_outpost"))
        .args(["key", "add", "ops", "--config"])
        .arg(config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("api key: "))
        .expect("key printed")
        .to_owned()
}

/// Starts `outpost run --config` and waits (bounded) for its listen address in the log.
pub(crate) fn start(config: &Path, key: &str) -> Service {
    let mut child = Command::new(env!("CARGO_BIN_EXE_outpost"))
        .args(["run", "--config"])
        .arg(config)
        .env(
            "RUST_LOG",
            std::env::var("OUTPOST_TEST_RUST_LOG").unwrap_or_else(|_| "info".into()),
        )
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !sent
                && line.contains("outpost serving")
                && let Some(addr) = line
                    .split("addr=")
                    .nth(1)
                    .and_then(|s| s.split_whitespace().next())
            {
                let _ = tx.send(addr.to_owned());
                sent = true;
            }
            if std::env::var_os("OUTPOST_TEST_LOG").is_some() {
                eprintln!("[outpost] {line}");
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("outpost did not start serving within 60 s");
    Service {
        child,
        base: format!("http://{addr}"),
        key: key.to_owned(),
        http: http_client(),
    }
}

/// An HTTP client for the tests. reqwest is built with `rustls-no-provider` (the service's
/// callbacks choose ring), so the process needs a crypto provider before the first client.
pub(crate) fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

impl Service {
    pub(crate) async fn post(
        &self,
        path: &str,
        body: Value,
        idem: Option<&str>,
    ) -> reqwest::Result<(u16, Value)> {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .json(&body);
        if let Some(k) = idem {
            req = req.header("idempotency-key", k);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        Ok((status, resp.json().await.unwrap_or(Value::Null)))
    }

    pub(crate) async fn get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Sends `n` messages in batches of up to 1,000; returns their ids.
    pub(crate) async fn send_many(&self, n: usize, tag: &str) -> Vec<i64> {
        let mut ids = Vec::new();
        let all: Vec<Value> = (0..n)
            .map(|i| json!({"to": format!("+86138{:08}", i), "text": format!("{tag} {i}")}))
            .collect();
        for chunk in all.chunks(1000) {
            let (status, body) = self
                .post("/api/v1/messages/batch", json!({ "messages": chunk }), None)
                .await
                .unwrap();
            assert_eq!(status, 202, "{body}");
            ids.extend(
                body["messages"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| m["id"].as_i64().unwrap()),
            );
        }
        ids
    }

    /// Waits (at most `limit`) until `n` carriers whose id starts with `prefix` are up.
    pub(crate) async fn wait_carriers_up(&self, prefix: &str, n: usize, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let carriers = self.get("/api/v1/carriers").await;
            let up = carriers["carriers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| c["id"].as_str().is_some_and(|id| id.starts_with(prefix)))
                .filter(|c| c["state"] == "up")
                .count();
            if up >= n {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{prefix}* carriers not up: {carriers}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Number of this key's messages in `state`.
    pub(crate) async fn count(&self, state: &str) -> usize {
        let mut n = 0;
        let mut before: Option<i64> = None;
        loop {
            let q = match before {
                Some(b) => format!("/api/v1/messages?state={state}&limit=1000&before={b}"),
                None => format!("/api/v1/messages?state={state}&limit=1000"),
            };
            let page = self.get(&q).await;
            n += page["messages"].as_array().map_or(0, Vec::len);
            match page["next_before"].as_i64() {
                Some(b) => before = Some(b),
                None => return n,
            }
        }
    }

    /// Waits (at most `limit`) until `n` messages are delivered.
    pub(crate) async fn wait_delivered(&self, n: usize, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let done = self.count("delivered").await;
            if done >= n {
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                let mut stuck = Vec::new();
                for st in [
                    "queued",
                    "dispatching",
                    "submitted",
                    "failed",
                    "expired",
                    "undeliverable",
                ] {
                    let page = self
                        .get(&format!("/api/v1/messages?state={st}&limit=3"))
                        .await;
                    for m in page["messages"].as_array().into_iter().flatten() {
                        let id = m["id"].as_i64().unwrap_or(0);
                        stuck.push(self.get(&format!("/api/v1/messages/{id}")).await);
                    }
                }
                panic!("only {done} of {n} delivered after {limit:?}; some others: {stuck:#?}");
            }
            // The service gives no push channel to tests; look again shortly.
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}
