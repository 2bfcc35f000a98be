//! Interop with independent SMPP implementations: our client against an SMSC on the npm `smpp`
//! package (`tests/smsc-sim/peers/smsc.js`), our server against PyPI `smpplib`
//! (`tests/peers/smpplib_esme.py`).
//!
//! Peers missing: with `OUTPOST_REQUIRE_PEERS=1` (CI) the test fails, otherwise it prints
//! "skipped: <why>" and passes. The npm package is installed on first use with `npm ci` into
//! `target/peers/node` (from the committed lock file); the Python venv comes from
//! `OUTPOST_PEERS_VENV` (created by `cargo xtask setup`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use domain::{ApiKeyId, DlrStatus, UnixMillis};
use smpp::client::{BindMode, DownReason, Link, LinkEvent, Role};
use smpp::concat::Reassembler;
use smpp::receipt::ReceiptTime;
use smpp::server::{DeliverRequest, ServerConfig};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::server::{Memory, server};
use crate::util::{WAIT, link_config, submit_until_accepted, text_submit, wait_bound, wait_event};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Fails under `OUTPOST_REQUIRE_PEERS=1`, otherwise reports the skip.
fn skip(why: &str) {
    if std::env::var("OUTPOST_REQUIRE_PEERS").as_deref() == Ok("1") {
        panic!("required test peer missing: {why}");
    }
    eprintln!("skipped: {why}");
}

/// `node_modules` with the npm `smpp` package, installed once per test run.
fn node_modules() -> Result<PathBuf, String> {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(|| {
        let src = workspace_root().join("tests/smsc-sim/peers");
        let dir = workspace_root().join("target/peers/node");
        let modules = dir.join("node_modules");
        if modules.join("smpp/package.json").is_file() {
            return Ok(modules);
        }
        let ok =
            |c: &mut std::process::Command| c.output().map(|o| o.status.success()).unwrap_or(false);
        if !ok(std::process::Command::new("node").arg("--version")) {
            return Err("node is not installed".into());
        }
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        for f in ["package.json", "package-lock.json"] {
            std::fs::copy(src.join(f), dir.join(f)).map_err(|e| format!("copy {f}: {e}"))?;
        }
        let out = std::process::Command::new("npm")
            .args([
                "ci",
                "--ignore-scripts",
                "--no-audit",
                "--no-fund",
                "--prefix",
            ])
            .arg(&dir)
            .output()
            .map_err(|e| format!("npm: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "npm ci failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(modules)
    })
    .clone()
}

/// The smsc.js peer as a child process.
struct NodeSmsc {
    _child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    port: u16,
}

impl NodeSmsc {
    async fn start(args: &[&str]) -> Option<NodeSmsc> {
        let modules = match node_modules() {
            Ok(m) => m,
            Err(why) => {
                skip(&format!("npm smpp peer: {why}"));
                return None;
            }
        };
        let script = workspace_root().join("tests/smsc-sim/peers/smsc.js");
        let mut child = Command::new("node")
            .arg(script)
            .args([
                "--port",
                "0",
                "--system-id",
                "peer",
                "--password",
                "peerpw",
                "--max-runtime-s",
                "120",
            ])
            .args(args)
            .env("NODE_PATH", &modules)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node starts");
        let stdin = child.stdin.take().expect("stdin");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let first = tokio::time::timeout(WAIT, lines.next_line())
            .await
            .expect("smsc.js prints its port")
            .expect("read")
            .expect("a line");
        let v: serde_json::Value = serde_json::from_str(&first).expect("JSON");
        let port = v["port"].as_u64().expect("port") as u16;
        Some(NodeSmsc {
            _child: child,
            stdin,
            lines,
            port,
        })
    }

    async fn command(&mut self, cmd: &str) -> serde_json::Value {
        self.stdin
            .write_all(format!("{cmd}\n").as_bytes())
            .await
            .unwrap();
        let line = tokio::time::timeout(WAIT, self.lines.next_line())
            .await
            .expect("answer in time")
            .expect("read")
            .expect("a line");
        serde_json::from_str(&line).expect("JSON")
    }

    async fn stats(&mut self) -> serde_json::Value {
        self.command("stats").await
    }

    /// Polls the peer's counters until `pred` holds (the peer cannot push changes).
    async fn wait_stats(&mut self, pred: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let s = self.stats().await;
            if pred(&s) || tokio::time::Instant::now() > deadline {
                return s;
            }
            tokio::task::yield_now().await;
        }
    }
}

#[tokio::test]
async fn client_against_node_smpp_smsc() {
    let Some(mut peer) = NodeSmsc::start(&[]).await else {
        return;
    };
    let mut lc = link_config(peer.port, "peer", "peerpw");
    lc.window = 10;
    let (link, mut events) = Link::spawn(lc);
    wait_bound(&mut events, Role::Transceiver).await;
    let link = Arc::new(link);
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let link = link.clone();
            tokio::spawn(async move {
                link.submit(&text_submit("4917", &format!("node {i}")))
                    .await
            })
        })
        .collect();
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        ids.insert(t.await.unwrap().unwrap().canonical_id);
    }
    let mut receipts = 0;
    while receipts < 200 {
        let LinkEvent::Receipt(r) = wait_event(&mut events, "receipt", |e| {
            matches!(e, LinkEvent::Receipt(_))
        })
        .await
        else {
            unreachable!()
        };
        assert!(
            ids.contains(&r.canonical_id),
            "receipt for unknown id {}",
            r.canonical_id
        );
        assert_eq!(r.receipt.stat, DlrStatus::Delivered);
        receipts += 1;
    }
    let s = peer.wait_stats(|s| s["receipts_acked"] == 200).await;
    assert_eq!(
        (
            s["accepted"].as_u64(),
            s["unique"].as_u64(),
            s["receipts_acked"].as_u64()
        ),
        (Some(200), Some(200), Some(200))
    );
    // MO from the peer.
    assert_eq!(
        peer.command("mo 4917055 1234 hello from node").await["mo"],
        "sent"
    );
    let LinkEvent::Mo(m, _) =
        wait_event(&mut events, "MO", |e| matches!(e, LinkEvent::Mo(..))).await
    else {
        unreachable!()
    };
    assert_eq!(
        (m.source.addr.as_str(), m.user_data()),
        ("4917055", &b"hello from node"[..])
    );
    link.shutdown().await;
    let s = peer.wait_stats(|s| s["unbinds"] == 1).await;
    assert_eq!(s["unbinds"], 1);
}

#[tokio::test]
async fn client_against_node_smpp_smsc_with_throttling_and_a_dropped_link() {
    let Some(mut peer) = NodeSmsc::start(&["--throttle-share", "0.1", "--drop-after", "60"]).await
    else {
        return;
    };
    let mut lc = link_config(peer.port, "peer", "peerpw");
    lc.window = 10;
    let (link, mut events) = Link::spawn(lc);
    wait_bound(&mut events, Role::Transceiver).await;
    let link = Arc::new(link);
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let link = link.clone();
            tokio::spawn(async move {
                submit_until_accepted(&link, &text_submit("4917", &format!("nd {i}"))).await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let s = peer.stats().await;
    assert_eq!(s["unique"], 200, "{s}");
    assert_eq!(s["drops"], 1, "{s}");
    assert!(s["throttled"].as_u64().unwrap() >= 15, "{s}");
    assert!(
        s["duplicates"].as_u64().unwrap() <= 10,
        "at most a window of duplicates: {s}"
    );
    assert!(link.status().counters.reconnects >= 1);
    link.shutdown().await;
}

#[tokio::test]
async fn node_smpp_smsc_refuses_a_wrong_password_and_serves_a_transmitter_receiver_pair() {
    let Some(_peer) = NodeSmsc::start(&[]).await else {
        return;
    };
    let port = _peer.port;
    let (link, mut events) = Link::spawn(link_config(port, "peer", "nope"));
    let ev = wait_event(&mut events, "refusal", |e| {
        matches!(e, LinkEvent::Down { .. })
    })
    .await;
    assert!(
        matches!(
            ev,
            LinkEvent::Down {
                reason: DownReason::BindRefused(0x0E),
                ..
            }
        ),
        "{ev:?}"
    );
    link.shutdown().await;
    let mut lc = link_config(port, "peer", "peerpw");
    lc.bind = BindMode::TransmitterReceiver;
    let (link, mut events) = Link::spawn(lc);
    wait_bound(&mut events, Role::Receiver).await;
    link.until_bound().await;
    let resp = link.submit(&text_submit("4917", "pair")).await.unwrap();
    let LinkEvent::Receipt(r) = wait_event(&mut events, "receipt", |e| {
        matches!(e, LinkEvent::Receipt(_))
    })
    .await
    else {
        unreachable!()
    };
    assert_eq!(r.canonical_id, resp.canonical_id);
    link.shutdown().await;
}

fn smpplib_python() -> Option<PathBuf> {
    let Some(venv) = std::env::var_os("OUTPOST_PEERS_VENV") else {
        skip("smpplib: OUTPOST_PEERS_VENV is not set");
        return None;
    };
    let python = Path::new(&venv).join("bin/python3");
    let has = std::process::Command::new(&python)
        .args(["-c", "import smpplib"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !has {
        skip(&format!(
            "smpplib is not importable by {}",
            python.display()
        ));
        return None;
    }
    Some(python)
}

#[tokio::test]
async fn server_against_smpplib() {
    let Some(python) = smpplib_python() else {
        return;
    };
    let mem = Memory::new(None);
    let (srv, port) = server(mem.clone(), ServerConfig::default()).await;
    // The service's receipt path: every stored submit that asked for one gets a receipt.
    let mut feed = mem.feed();
    let receipts = {
        let srv = srv.clone();
        tokio::spawn(async move {
            while let Some((account, id, msg)) = feed.recv().await {
                if msg.registered_delivery & 1 == 0 {
                    continue;
                }
                let t = ReceiptTime::from_unix_millis_utc(UnixMillis::now());
                let req = DeliverRequest::receipt(
                    &id,
                    DlrStatus::Delivered,
                    t,
                    t,
                    0,
                    &String::from_utf8_lossy(msg.user_data()),
                    msg.destination.clone(),
                    msg.source.clone(),
                );
                srv.deliver(account, req)
                    .await
                    .expect("smpplib answers deliver_sm");
            }
        })
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/smpplib_esme.py");
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        Command::new(python)
            .arg(script)
            .args([
                "--port",
                &port.to_string(),
                "--count",
                "100",
                "--window",
                "10",
            ])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("smpplib script finishes")
    .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "smpplib script failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or("{}")).expect("JSON result");
    assert_eq!(v["bad_bind_status"], 0x0E, "{v}");
    assert_eq!(
        (v["sent"].as_u64(), v["resp_ok"].as_u64()),
        (Some(100), Some(100)),
        "{v}"
    );
    assert_eq!(v["receipts"], 100, "{v}");
    assert_eq!(v["receipts_matched"], 100, "{v}");
    assert_eq!(v["receipt_stats"], serde_json::json!(["DELIVRD"]), "{v}");
    assert_eq!(v["query_state"], 2, "{v}");
    assert_eq!(v["unbound"], true, "{v}");
    // The long messages arrived in all three forms and reassemble to the same text.
    let stored: Vec<_> = mem
        .stored
        .lock()
        .unwrap()
        .iter()
        .skip(100)
        .map(|(a, _, m)| (*a, m.clone()))
        .collect();
    let udh = v["long_parts"]["udh"].as_u64().unwrap() as usize;
    let sar = v["long_parts"]["sar"].as_u64().unwrap() as usize;
    assert_eq!(stored.len(), udh + sar + 1);
    assert!(udh > 1 && sar > 1);
    let mut r = Reassembler::new(Duration::from_secs(60), 16);
    let whole: Vec<_> = stored
        .into_iter()
        .filter_map(|(a, m)| {
            assert_eq!(a, ApiKeyId(1));
            r.push("app", m, std::time::Instant::now())
        })
        .collect();
    assert_eq!(whole.len(), 3);
    let long_text = "outpost long message ".repeat(12);
    assert_eq!(whole[0].user_data(), long_text.as_bytes());
    assert_eq!(whole[1].user_data(), long_text.as_bytes());
    assert_eq!(whole[2].user_data(), &long_text.as_bytes()[..250]);
    receipts.abort();
    srv.shutdown().await;
}

/// `N` distinct free loopback ports (bound together, then released: Kannel needs numbers in
/// its config, and ports taken one by one can repeat).
fn free_ports<const N: usize>() -> [u16; N] {
    let held: Vec<std::net::TcpListener> = (0..N)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("a free port"))
        .collect();
    std::array::from_fn(|i| {
        held.get(i)
            .and_then(|l| l.local_addr().ok())
            .map(|a| a.port())
            .expect("a bound port")
    })
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One HTTP/1.0 GET over a raw socket; returns the status line and body.
async fn http_get(port: u16, path: &str) -> (String, String) {
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("HTTP connect");
    tcp.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(
        WAIT,
        tokio::io::AsyncReadExt::read_to_end(&mut tcp, &mut buf),
    )
    .await
    .expect("HTTP answer in time")
    .expect("HTTP read");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.lines().next().unwrap_or_default().to_owned();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status, body)
}

/// Kannel (bearerbox + smsbox, the Debian package) as an ESME of our server: sendsms over HTTP
/// becomes a submit_sm to us, and our receipt becomes Kannel's DLR callback.
#[tokio::test]
async fn server_against_kannel() {
    let have = |p: &str| Path::new(p).is_file();
    if !have("/usr/sbin/bearerbox") || !have("/usr/sbin/smsbox") {
        skip("Kannel: /usr/sbin/bearerbox or smsbox is missing (Debian package kannel)");
        return;
    }
    let mem = Memory::new(None);
    let mut binds = mem.binds.subscribe();
    let mut feed = mem.feed();
    let (srv, port) = server(mem.clone(), ServerConfig::default()).await;
    let dlr = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dlr_port = dlr.local_addr().unwrap().port();
    let [admin, smsbox, sendsms] = free_ports();
    let dir = tempfile::tempdir().unwrap();
    let conf = format!(
        r#"group = core
admin-port = {admin}
admin-interface = 127.0.0.1
admin-password = test
admin-allow-ip = "127.0.0.1"
smsbox-port = {smsbox}
smsbox-interface = 127.0.0.1
box-allow-ip = "127.0.0.1"
wdp-interface-name = ""
log-file = "bearerbox.log"
log-level = 0
dlr-storage = internal

group = smsc
smsc = smpp
smsc-id = outpost
host = 127.0.0.1
port = {port}
transceiver-mode = true
smsc-username = app
smsc-password = secret
system-type = ""
source-addr-ton = 5
source-addr-npi = 0
dest-addr-ton = 1
dest-addr-npi = 1
max-pending-submits = 10
enquire-link-interval = 30
reconnect-delay = 1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {smsbox}
sendsms-port = {sendsms}
sendsms-interface = 127.0.0.1
log-file = "smsbox.log"
log-level = 0

group = sendsms-user
username = test
password = test
user-allow-ip = "127.0.0.1"

group = sms-service
keyword = default
text = "no service"
catch-all = true
"#
    );
    std::fs::write(dir.path().join("kannel.conf"), conf).unwrap();
    let spawn = |bin: &str| {
        Command::new(bin)
            .arg("kannel.conf")
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("Kannel starts")
    };
    let _bearerbox = spawn("/usr/sbin/bearerbox");
    // Kannel binds to us once its SMSC link starts.
    tokio::time::timeout(WAIT, binds.wait_for(|n| *n >= 1))
        .await
        .expect("Kannel binds in time")
        .unwrap();
    let _smsbox = spawn("/usr/sbin/smsbox");
    // Kannel fills in %d (the DLR type) and %p (the recipient) when it calls back.
    let dlr_url = format!("http://127.0.0.1:{dlr_port}/dlr?type=%d&to=%p");
    let path = format!(
        "/cgi-bin/sendsms?username=test&password=test&from=Kannel&to=4917000042&text=hello+from+kannel&dlr-mask=3&dlr-url={}",
        urlencode(&dlr_url)
    );
    // smsbox needs a moment to connect to bearerbox; its HTTP port answers once it has (until
    // then a connection may be closed without an answer, which is asked again).
    let deadline = tokio::time::Instant::now() + WAIT;
    let (status, body) = loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", sendsms))
            .await
            .is_ok()
        {
            let (status, body) = http_get(sendsms, &path).await;
            if !status.is_empty() {
                break (status, body);
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "smsbox never answered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.contains(" 202 "), "{status} {body}");
    let (account, id, msg) = tokio::time::timeout(WAIT, feed.recv())
        .await
        .expect("Kannel submits to us in time")
        .unwrap();
    assert_eq!(account, ApiKeyId(1));
    assert_eq!(msg.user_data(), b"hello from kannel");
    assert_eq!(msg.destination.addr, "4917000042");
    assert_eq!(msg.registered_delivery & 1, 1, "dlr-mask asks for receipts");
    // Our receipt goes back over Kannel's bind; Kannel matches it and calls the DLR URL.
    let t = ReceiptTime::from_unix_millis_utc(UnixMillis::now());
    let receipt = DeliverRequest::receipt(
        &id,
        DlrStatus::Delivered,
        t,
        t,
        0,
        "hello from kannel",
        msg.destination.clone(),
        msg.source.clone(),
    );
    srv.deliver(account, receipt)
        .await
        .expect("Kannel answers deliver_sm");
    let (mut cb, _) = tokio::time::timeout(WAIT, dlr.accept())
        .await
        .expect("Kannel calls the DLR URL in time")
        .unwrap();
    let mut req = vec![0u8; 2048];
    let n = tokio::time::timeout(WAIT, tokio::io::AsyncReadExt::read(&mut cb, &mut req))
        .await
        .unwrap()
        .unwrap();
    let line = String::from_utf8_lossy(&req[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    // Kannel's DLR type 1 is "delivered to phone".
    assert!(line.starts_with("GET /dlr?type=1&to="), "{line}");
    let _ = cb.write_all(b"HTTP/1.0 200 OK\r\n\r\n").await;
    srv.shutdown().await;
}
