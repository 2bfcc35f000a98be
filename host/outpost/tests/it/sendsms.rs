//! Kannel-style `/cgi-bin/sendsms` through the whole service: `outpost run` as a child process
//! with two simulated SMSCs (`tests/smsc-sim`) and a local HTTP server standing in for the
//! application's `dlr-url`. What a branch application written for Kannel relies on: the delivery
//! report comes back to its `dlr-url` with Kannel's escapes filled in, `smsc=` sends through the
//! named link, and a long message sent in parts with a concatenation `udh` reaches the network
//! as one message (and is reported once).

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use smsc_sim::{SimConfig, SimHandle, SmscSim};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::support::{Service, create_key, start};

/// Longest wait for anything in these tests.
const WAIT: Duration = Duration::from_secs(60);
const ACCOUNT: (&str, &str) = ("outpost", "pw");

/// Two simulated SMSCs that answer every submit with a receipt, and the service bound to both.
struct Rig {
    _dir: tempfile::TempDir,
    smscs: [SimHandle; 2],
    svc: Service,
}

async fn smsc() -> SimHandle {
    let mut c = SimConfig::with_account(ACCOUNT.0, ACCOUNT.1);
    c.receipts.delay = Duration::from_millis(10);
    SmscSim::start(c).await.unwrap()
}

/// The config: no modems, no signature (the text reaches the SMSC as sent), both links in China
/// Mobile's pool.
fn config(dir: &Path, ports: [u16; 2]) -> std::path::PathBuf {
    let mut text = format!(
        "[service]\ndata_dir = {:?}\nlisten = \"127.0.0.1:0\"\nshutdown_grace = \"2s\"\n",
        dir.join("data")
    );
    for (id, port) in ["smsc1", "smsc2"].iter().zip(ports) {
        text.push_str(&format!(
            "\n[[smpp]]\nid = \"{id}\"\nhost = \"127.0.0.1\"\nport = {port}\nsystem_id = \"{}\"\n\
             password = \"{}\"\nenquire_link = \"1s\"\nresponse_timeout = \"2s\"\n",
            ACCOUNT.0, ACCOUNT.1
        ));
    }
    text.push_str("\n[routing.operators.cmcc]\npool = [\"smsc1\", \"smsc2\"]\n");
    let path = dir.join("outpost.toml");
    std::fs::write(&path, text).unwrap();
    path
}

impl Rig {
    async fn start() -> Rig {
        // reqwest is built without a default TLS provider; the test's client needs one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let smscs = [smsc().await, smsc().await];
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), [smscs[0].port(), smscs[1].port()]);
        let key = create_key(&cfg);
        let svc = start(&cfg, &key);
        for s in &smscs {
            s.wait_until(WAIT, |st| st.bound_now >= 1)
                .await
                .expect("the service binds to both SMSCs");
        }
        Rig {
            _dir: dir,
            smscs,
            svc,
        }
    }

    /// A GET as a Kannel client sends it: `username` is the key's name, `password` its secret,
    /// `query` already URL-encoded.
    async fn sendsms(&self, query: &str) -> (u16, String) {
        let url = format!(
            "{}/cgi-bin/sendsms?username=ops&password={}&{query}",
            self.svc.base, self.svc.key
        );
        let resp = self.svc.http.get(url).send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    /// Submits that reached SMSC `i` (0 or 1), by text.
    fn texts(&self, i: usize) -> Vec<String> {
        self.smscs[i]
            .submits()
            .into_iter()
            .filter(|r| r.message_id.is_some())
            .filter_map(|r| r.text)
            .collect()
    }
}

/// A local HTTP server that records the target (path and query) of every request and answers
/// 200; keep-alive connections are served request after request.
async fn dlr_server() -> (String, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                        buf.drain(..end + 4);
                        let target = head.split_whitespace().nth(1).unwrap_or("").to_owned();
                        let _ = tx.send(target);
                        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
                        if s.write_all(ok).await.is_err() {
                            return;
                        }
                    }
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    (base, rx)
}

/// The next callback's query parameters (bounded wait).
async fn next_callback(rx: &mut mpsc::UnboundedReceiver<String>) -> HashMap<String, String> {
    let target = tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("a dlr-url callback within the wait")
        .expect("the callback server runs");
    let url = reqwest::Url::parse(&format!("http://x{target}")).unwrap();
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// `dlr-url` with Kannel's escapes, URL-encoded as a client puts it into the sendsms URL.
fn dlr_url(base: &str, tag: &str) -> String {
    let url =
        format!("{base}/dlr?tag={tag}&type=%d&to=%p&from=%P&ts=%T&reply=%A&id=%I&user=%n&smsc=%i");
    url.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_report_comes_back_to_the_dlr_url_with_the_escapes_filled_in() {
    let rig = Rig::start().await;
    let (base, mut callbacks) = dlr_server().await;
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // dlr-mask 9 = delivered to the phone (1) + delivered to the SMSC (8).
    let (status, body) = rig
        .sendsms(&format!(
            "from=10690001&to=13800138000&text=Your+code+is+1234&dlr-mask=9&dlr-url={}",
            dlr_url(&base, "a")
        ))
        .await;
    assert_eq!((status, body.as_str()), (202, "0: Accepted for delivery"));
    let smsc_ack = next_callback(&mut callbacks).await;
    let delivered = next_callback(&mut callbacks).await;
    assert_eq!(smsc_ack["type"], "8", "{smsc_ack:?}");
    assert_eq!(smsc_ack["reply"], "ACK/");
    assert_eq!(delivered["type"], "1", "{delivered:?}");
    for cb in [&smsc_ack, &delivered] {
        assert_eq!(cb["tag"], "a");
        assert_eq!(cb["to"], "8613800138000");
        assert_eq!(cb["from"], "10690001");
        assert_eq!(cb["user"], "ops");
        assert!(cb["smsc"] == "smsc1" || cb["smsc"] == "smsc2", "{cb:?}");
        let ts: u64 = cb["ts"].parse().unwrap();
        assert!(ts >= before && ts < before + 120, "{ts} vs {before}");
        assert!(cb["id"].parse::<i64>().unwrap() > 0);
    }
    // %A of a final report is the SMSC's receipt text.
    assert!(delivered["reply"].contains("stat:DELIVRD"), "{delivered:?}");
    // The handset got the text unchanged from exactly one SMSC.
    let all: Vec<String> = [rig.texts(0), rig.texts(1)].concat();
    assert_eq!(all, ["Your code is 1234"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smsc_sends_through_the_named_link() {
    let rig = Rig::start().await;
    for i in 0..6 {
        let (status, body) = rig
            .sendsms(&format!("to=1380013800{i}&text=via+two+{i}&smsc=smsc2"))
            .await;
        assert_eq!((status, body.as_str()), (202, "0: Accepted for delivery"));
    }
    rig.smscs[1]
        .wait_until(WAIT, |st| st.accepted >= 6)
        .await
        .expect("all six reach smsc2");
    assert!(rig.texts(0).is_empty(), "smsc1 got {:?}", rig.texts(0));
    let mut two = rig.texts(1);
    two.sort();
    assert_eq!(
        two,
        (0..6).map(|i| format!("via two {i}")).collect::<Vec<_>>()
    );
    // A link that does not exist is Kannel's "not routable".
    let (status, body) = rig.sendsms("to=13800138000&text=x&smsc=smsc9").await;
    assert_eq!(
        (status, body.as_str()),
        (403, "Not routable. Do not try again.")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_in_two_udh_parts_arrives_as_one() {
    let rig = Rig::start().await;
    let (base, mut callbacks) = dlr_server().await;
    // UCS-2 parts (UTF-16BE octets), 8-bit reference 0x5A, 2 parts; the second part first.
    let ucs2 = |s: &str| -> String {
        s.encode_utf16()
            .flat_map(u16::to_be_bytes)
            .map(|b| format!("%{b:02X}"))
            .collect()
    };
    let part = |seq: u8, text: &str| {
        format!(
            "to=13800138000&from=10690001&coding=2&udh=%05%00%03%5A%02%0{seq}&text={}\
             &dlr-mask=1&dlr-url={}",
            ucs2(text),
            dlr_url(&base, "long")
        )
    };
    let (status, body) = rig.sendsms(&part(2, "明天下午三点开会。")).await;
    assert_eq!((status, body.as_str()), (202, "0: Accepted for delivery"));
    let (status, body) = rig.sendsms(&part(1, "您好，")).await;
    assert_eq!((status, body.as_str()), (202, "0: Accepted for delivery"));
    // One report for the one message.
    let cb = next_callback(&mut callbacks).await;
    assert_eq!((cb["tag"].as_str(), cb["type"].as_str()), ("long", "1"));
    let all: Vec<String> = [rig.texts(0), rig.texts(1)].concat();
    assert_eq!(all, ["您好，明天下午三点开会。"]);
    // The message as the API shows it: one message, from sendsms.
    let page = rig.svc.get("/api/v1/messages?limit=10").await;
    let messages = page["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{page:#}");
    assert_eq!(messages[0]["text"], "您好，明天下午三点开会。");
    assert!(
        tokio::time::timeout(Duration::from_millis(500), callbacks.recv())
            .await
            .is_err(),
        "one report only"
    );
}
