//! Whole-system test harness: builds and starts the real `outpost demo` binary (simulated modems
//! and SMSC, real service, real web page) and a real headless Chromium through chromedriver
//! (Debian's `chromium` and `chromium-driver`), and hands the test a WebDriver client.
//!
//! Every wait is bounded. Peers missing (Chromium, chromedriver) make the test print
//! `skipped: …` and pass, unless `OUTPOST_REQUIRE_PEERS=1`, where they make it fail.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};

/// Debian's Chromium.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's chromedriver (package `chromium-driver`).
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Whether missing peers must fail the test (CI sets `OUTPOST_REQUIRE_PEERS=1`).
pub fn peers_required() -> bool {
    std::env::var("OUTPOST_REQUIRE_PEERS").is_ok_and(|v| v == "1")
}

/// `Ok(())` when Chromium and chromedriver are installed; otherwise the reason, after
/// panicking if peers are required.
pub fn check_peers() -> Result<(), String> {
    for p in [CHROMIUM, CHROMEDRIVER] {
        if !Path::new(p).exists() {
            let why = format!(
                "{p} is missing (apt-get install chromium chromium-driver fonts-noto-cjk, or `cargo xtask setup`)"
            );
            assert!(!peers_required(), "OUTPOST_REQUIRE_PEERS=1 and {why}");
            return Err(why);
        }
    }
    Ok(())
}

/// The Cargo target directory this test binary was built in (`…/target/debug/deps/x` →
/// `…/target`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    exe.ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("target"))
}

/// Builds the `outpost` binary (a no-op when it is current) in the same target directory and
/// profile as this test, and returns its path.
pub fn build_outpost() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target = target_dir();
    let status = Command::new(cargo)
        .args([
            "build", "--quiet", "--locked", "-p", "outpost", "--bin", "outpost",
        ])
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .expect("running cargo build -p outpost");
    assert!(status.success(), "cargo build -p outpost failed");
    target.join("debug").join("outpost")
}

/// A running `outpost demo`; killed on drop.
pub struct Demo {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The demo's API key.
    pub api_key: String,
    _data: tempfile::TempDir,
}

impl Demo {
    /// Starts `outpost demo` on a free port with its data in a fresh directory and waits (at
    /// most 60 s) until it printed its address and API key.
    pub fn start(outpost: &Path, modem_latency: &str) -> Demo {
        let data = tempfile::tempdir().expect("temporary directory");
        let mut child = Command::new(outpost)
            .args([
                "demo",
                "--listen",
                "127.0.0.1:0",
                "--modem-latency",
                modem_latency,
            ])
            .arg("--data")
            .arg(data.path())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting outpost demo");
        let stdout = child.stdout.take().expect("demo stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let (mut url, mut key) = (None, None);
        while url.is_none() || key.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match rx.recv_timeout(left) {
                Ok(l) => l,
                Err(_) => {
                    let _ = child.kill();
                    panic!("outpost demo did not print its address and key within 60 s");
                }
            };
            if let Some(rest) = line.trim().strip_prefix("web page:") {
                url = Some(rest.trim().trim_end_matches('/').to_owned());
            }
            if let Some(rest) = line.trim().strip_prefix("api key:") {
                key = Some(rest.trim().to_owned());
            }
        }
        Demo {
            child,
            url: url.unwrap_or_default(),
            api_key: key.unwrap_or_default(),
            _data: data,
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A running chromedriver; killed on drop.
pub struct Driver {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    profile: tempfile::TempDir,
}

impl Driver {
    /// Starts chromedriver on a free port and waits (at most 30 s) until it listens.
    pub fn start() -> Driver {
        let port = free_port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen within 30 s"
            );
            std::thread::park_timeout(Duration::from_millis(50));
        }
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            profile: tempfile::tempdir().expect("temporary directory"),
        }
    }

    /// A new headless Chromium session with a fresh profile and a 1366×768 window.
    pub async fn session(&self) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-dev-shm-usage",
                    "--hide-scrollbars",
                    "--window-size=1366,768",
                    "--lang=en-US",
                    format!("--user-data-dir={}", self.profile.path().display()),
                ],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a WebDriver session with headless Chromium")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
