//! Independent SMPP clients of the service's SMPP server (`[smpp_server]`), whole-service:
//! `outpost run` as a child process with one simulated SMSC upstream and four simulated modems.
//!
//! - PyPI `smpplib` (in the peers venv, `OUTPOST_PEERS_VENV`) binds as a transceiver with an
//!   account billed to an API key, submits a short and a long (concatenation UDH) message asking
//!   for receipts, gets the receipts back (`deliver_sm`, esm_class 0x04) with the ids our
//!   `submit_sm_resp`s gave, an MO the SMSC sends in, and a `query_sm` answer.
//! - Kannel (`bearerbox` + `smsbox`, Debian `kannel`) with an `smsc = smpp` group bound to our
//!   server: Kannel's sendsms becomes a submit to us, the message is delivered upstream, and our
//!   receipt makes Kannel call its `dlr-url`.
//!
//! Peers missing: with `OUTPOST_REQUIRE_PEERS=1` (CI) the test fails, otherwise it prints
//! "skipped: <why>" and passes.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use smsc_sim::{Addr, Mo, SimConfig, SimHandle, SmscSim};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::smpp_failover::{Upstream, skip, smpp_config};
use crate::support::{Service, config, create_key, modems, start};

const WAIT: Duration = Duration::from_secs(60);

/// `N` distinct free loopback ports (bound together, then released: the configs of the
/// service and of Kannel need numbers, and ports taken one at a time can repeat).
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

/// The service with its SMPP server on `port` (accounts `app`/`secret` and `kannel`/`kpw`,
/// both billed to the API key `ops`; every MO goes to `ops`), one simulated SMSC upstream.
struct Rig {
    _dir: tempfile::TempDir,
    smsc: SimHandle,
    _modems: modem_sim::Sim,
    svc: Service,
    port: u16,
}

impl Rig {
    async fn start() -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let mut c = SimConfig::with_account("outpost", "pw");
        c.receipts.delay = Duration::from_millis(20);
        c.receipts.redeliver = true;
        let smsc = SmscSim::start(c).await.unwrap();
        let modems = modems(10).await;
        let [port] = free_ports();
        let mut extra = smpp_config(&[Upstream {
            id: "smsc1",
            port: smsc.port(),
            system_id: "outpost",
            password: "pw",
        }]);
        extra.push_str(&format!(
            "\n[smpp_server]\nlisten = \"127.0.0.1:{port}\"\nenquire_link = \"5s\"\n\
             response_timeout = \"5s\"\n\n\
             [[smpp_server.account]]\nsystem_id = \"app\"\npassword = \"secret\"\napi_key = \"ops\"\n\n\
             [[smpp_server.account]]\nsystem_id = \"kannel\"\npassword = \"kpw\"\napi_key = \"ops\"\n\n\
             [[smpp_server.mo_route]]\nprefix = \"\"\napi_key = \"ops\"\n\n\
             [notify]\nretry_min = \"200ms\"\nretry_max = \"1s\"\n"
        ));
        let cfg = config(dir.path(), &modems, &extra);
        let key = create_key(&cfg);
        let svc = start(&cfg, &key);
        smsc.wait_until(WAIT, |s| s.bound_now >= 1)
            .await
            .expect("the service binds upstream");
        Rig {
            _dir: dir,
            smsc,
            _modems: modems,
            svc,
            port,
        }
    }
}

/// The peers venv's python, if it can import smpplib.
fn smpplib_python() -> Option<PathBuf> {
    let Some(venv) = std::env::var_os("OUTPOST_PEERS_VENV") else {
        skip("smpplib: OUTPOST_PEERS_VENV is not set");
        return None;
    };
    let python = Path::new(&venv).join("bin/python3");
    let ok = std::process::Command::new(&python)
        .args(["-c", "import smpplib"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        skip(&format!(
            "smpplib is not importable by {}",
            python.display()
        ));
        return None;
    }
    Some(python)
}

/// An application on smpplib 2.2.4. Prints one JSON line after its submits and receipts
/// (`{"phase": "receipts", ...}`), then waits for one MO and prints the final JSON line.
const SMPPLIB_APP: &str = r#"
import json, socket, sys, time
import smpplib.client, smpplib.consts, smpplib.gsm

port, deadline = int(sys.argv[1]), time.monotonic() + 45
c = smpplib.client.Client('127.0.0.1', port, timeout=5, allow_unknown_opt_params=True)
c.connect()
c._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
c.bind_transceiver(system_id='app', password='secret')
out = {'phase': 'receipts', 'ids': [], 'errors': [], 'receipts': [], 'mo': [], 'query': []}
pending = set()

def text_of(v):
    return v.decode('latin1') if isinstance(v, bytes) else str(v)

def on_sent(pdu, **kw):
    pending.discard(pdu.sequence)
    out['ids'].append(text_of(pdu.message_id))

def on_err(pdu):
    pending.discard(pdu.sequence)
    out['errors'].append(pdu.status)

def on_rx(pdu, **kw):
    body = text_of(pdu.short_message)
    if pdu.esm_class & 0x04:
        words = body.split()
        out['receipts'].append({
            'tlv_id': text_of(pdu.receipted_message_id) if pdu.receipted_message_id else None,
            'text_id': next((w[3:] for w in words if w.startswith('id:')), None),
            'stat': next((w[5:] for w in words if w.startswith('stat:')), None),
        })
    else:
        out['mo'].append({'from': text_of(pdu.source_addr), 'to': text_of(pdu.destination_addr),
                          'text': body})
    return 0

def on_query(pdu, **kw):
    out['query'].append({'id': text_of(pdu.message_id), 'state': int(pdu.message_state)})

c.set_message_sent_handler(on_sent)
c.set_error_pdu_handler(on_err)
c.set_message_received_handler(on_rx)
c.set_query_resp_handler(on_query)
c._socket.settimeout(0.5)

def pump(until):
    while not until() and time.monotonic() < deadline:
        try:
            c.read_once(auto_send_enquire_link=False)
        except socket.timeout:
            pass

p = c.send_message(source_addr_ton=5, source_addr='App', dest_addr_ton=1, dest_addr_npi=1,
                   destination_addr='8613800000001', short_message=b'smpplib short',
                   data_coding=0, registered_delivery=1)
pending.add(p.sequence)
long_text = 'smpplib long message through outpost ' * 6
parts, coding, esm = smpplib.gsm.make_parts(long_text)
for part in parts:
    p = c.send_message(source_addr_ton=5, source_addr='App', dest_addr_ton=1, dest_addr_npi=1,
                       destination_addr='8613800000002', short_message=part, data_coding=coding,
                       esm_class=esm, registered_delivery=1)
    pending.add(p.sequence)
out['long_parts'] = len(parts)
out['long_text'] = long_text
pump(lambda: not pending)
pump(lambda: len(out['receipts']) >= len(out['ids']))
if out['ids']:
    c.query_message(message_id=out['ids'][0], source_addr_ton=5, source_addr_npi=0,
                    source_addr='App')
    pump(lambda: out['query'])
print(json.dumps(out), flush=True)
out['phase'] = 'mo'
pump(lambda: out['mo'])
try:
    c.unbind()
    out['unbound'] = True
except Exception as e:
    out['unbound'] = repr(e)
c.disconnect()
print(json.dumps(out), flush=True)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smpplib_submits_short_and_long_messages_and_gets_receipts_mo_and_query_answers() {
    let Some(python) = smpplib_python() else {
        return;
    };
    let rig = Rig::start().await;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("app.py");
    std::fs::write(&script, SMPPLIB_APP).unwrap();
    let mut child = tokio::process::Command::new(python)
        .arg(&script)
        .arg(rig.port.to_string())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python runs");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next_json = async || -> Value {
        let line = tokio::time::timeout(WAIT, lines.next_line())
            .await
            .expect("smpplib app answers in time")
            .expect("read")
            .expect("a line (the app failed; see its stderr)");
        serde_json::from_str(&line).expect("JSON")
    };
    let v = next_json().await;
    let ids: Vec<String> = v["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap().to_owned())
        .collect();
    let parts = v["long_parts"].as_u64().unwrap() as usize;
    assert!(parts >= 2, "{v}");
    assert_eq!(ids.len(), 1 + parts, "every submit accepted: {v}");
    assert_eq!(v["errors"], serde_json::json!([]), "{v}");
    // One receipt per submit_sm (a long message's parts each had an id), each naming that id
    // in the text and in receipted_message_id, all delivered.
    let receipts = v["receipts"].as_array().unwrap();
    assert_eq!(receipts.len(), ids.len(), "{v}");
    for r in receipts {
        assert_eq!(r["stat"], "DELIVRD", "{v}");
        assert!(ids.iter().any(|i| r["text_id"] == *i), "{v}");
        assert_eq!(r["text_id"], r["tlv_id"], "{v}");
    }
    // query_sm for the short message: SMPP 3.4 §5.2.28 message_state 2 is DELIVERED.
    assert_eq!(v["query"][0]["id"], ids[0].as_str(), "{v}");
    assert_eq!(v["query"][0]["state"], 2, "{v}");
    // Upstream, the short message and the long one's parts arrived as sent.
    let texts: Vec<String> = rig
        .smsc
        .submits()
        .into_iter()
        .filter_map(|s| s.text)
        .collect();
    assert!(texts.iter().any(|t| t == "smpplib short"), "{texts:?}");
    // The long message was reassembled and sent on as parts whose texts make it up again.
    let long = v["long_text"].as_str().unwrap();
    let pieces: Vec<&String> = texts
        .iter()
        .filter(|t| t.len() > 20 && long.contains(t.as_str()))
        .collect();
    assert!(pieces.len() >= 2, "{texts:?}");
    assert_eq!(
        pieces.iter().map(|t| t.len()).sum::<usize>(),
        long.len(),
        "{texts:?}"
    );
    // An MO from the SMSC reaches the application's transceiver bind.
    rig.smsc
        .inject_mo(
            "outpost",
            Mo {
                source: Addr {
                    ton: 1,
                    npi: 1,
                    addr: "8613900000042".into(),
                },
                destination: Addr {
                    ton: 0,
                    npi: 1,
                    addr: "1069001".into(),
                },
                data_coding: 0,
                esm_class: 0,
                short_message: Bytes::from_static(b"reply from a handset"),
                payload: None,
                sar: None,
            },
        )
        .expect("the service is bound as a transceiver");
    let v = next_json().await;
    assert_eq!(v["mo"][0]["text"], "reply from a handset", "{v}");
    assert!(
        v["mo"][0]["from"]
            .as_str()
            .unwrap()
            .ends_with("8613900000042"),
        "{v}"
    );
    assert_eq!(v["unbound"], true, "{v}");
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("the app exits")
        .unwrap();
    assert!(status.success());
    // The service's view: the short message is delivered, billed to the key.
    let m = rig.svc.get(&format!("/api/v1/messages/{}", ids[0])).await;
    assert_eq!(m["state"], "delivered", "{m}");
}

/// One HTTP/1.0 GET over a raw socket (smsbox answers HTTP/1.0); returns the status line and
/// the body.
async fn http_get(port: u16, path: &str) -> (String, String) {
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("HTTP connect");
    tcp.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(WAIT, tcp.read_to_end(&mut buf))
        .await
        .expect("HTTP answer in time")
        .expect("HTTP read");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.lines().next().unwrap_or_default().to_owned();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status, body)
}

/// Waits (bounded) until something accepts connections on `port`: Kannel's boxes give no
/// other sign of being ready.
async fn wait_listening(port: u16, what: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} never listened"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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

/// Kannel's configuration: the core on loopback ports, an SMPP transceiver to our server, an
/// smsbox with a sendsms user. Logs go into the temp dir.
fn kannel_conf(smpp: u16, admin: u16, smsbox: u16, sendsms: u16) -> String {
    format!(
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
port = {smpp}
transceiver-mode = true
smsc-username = kannel
smsc-password = kpw
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
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kannel_sends_through_our_smpp_server_and_gets_its_dlr_url_called() {
    let have = |p: &str| Path::new(p).is_file();
    if !have("/usr/sbin/bearerbox") || !have("/usr/sbin/smsbox") {
        skip("Kannel: /usr/sbin/bearerbox or smsbox is missing (Debian package kannel)");
        return;
    }
    let rig = Rig::start().await;
    let dlr = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dlr_port = dlr.local_addr().unwrap().port();
    let [admin, smsbox, sendsms] = free_ports();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("kannel.conf"),
        kannel_conf(rig.port, admin, smsbox, sendsms),
    )
    .unwrap();
    // Both boxes are killed when their handles drop, whatever way the test ends.
    let spawn = |bin: &str| {
        tokio::process::Command::new(bin)
            .arg("kannel.conf")
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("Kannel starts")
    };
    let _bearerbox = spawn("/usr/sbin/bearerbox");
    // smsbox gives up at once if bearerbox is not listening yet (its start-up can take
    // seconds), so start it once bearerbox takes box connections.
    wait_listening(smsbox, "bearerbox's smsbox port").await;
    let _smsbox = spawn("/usr/sbin/smsbox");
    // Kannel fills in %d (the DLR type) and %p (the recipient) when it calls back.
    let dlr_url = format!("http://127.0.0.1:{dlr_port}/dlr?type=%d&to=%p");
    let path = format!(
        "/cgi-bin/sendsms?username=test&password=test&from=Kannel&to=8613800000042\
         &text=hello+from+kannel&dlr-mask=3&dlr-url={}",
        urlencode(&dlr_url)
    );
    // smsbox answers HTTP once it is connected to bearerbox; bearerbox queues the message
    // until its SMPP link to us is bound.
    wait_listening(sendsms, "smsbox's sendsms port").await;
    // A connection it takes while still starting may be closed without an answer: ask again.
    let deadline = tokio::time::Instant::now() + WAIT;
    let (status, body) = loop {
        let (status, body) = http_get(sendsms, &path).await;
        if !status.is_empty() {
            break (status, body);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "smsbox never answered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.contains(" 202 "), "{status} {body}");
    // Our receipt reaches Kannel over its bind; Kannel matches it and calls the DLR URL.
    let mut calls = Vec::new();
    let delivered = loop {
        let (mut cb, _) = tokio::time::timeout(WAIT, dlr.accept())
            .await
            .expect("Kannel calls the DLR URL in time")
            .unwrap();
        let mut req = vec![0u8; 2048];
        let n = tokio::time::timeout(WAIT, cb.read(&mut req))
            .await
            .unwrap()
            .unwrap();
        let line = String::from_utf8_lossy(req.get(..n).unwrap_or_default())
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
        let _ = cb.write_all(b"HTTP/1.0 200 OK\r\n\r\n").await;
        calls.push(line.clone());
        // dlr-mask 3 asks for "delivered" (1) and "failed" (2); Kannel may also report
        // "SMSC accepted" (8) first if it chooses to.
        if line.contains("type=1") || line.contains("type=2") || calls.len() >= 4 {
            break line;
        }
    };
    assert!(delivered.starts_with("GET /dlr?type=1&to="), "{calls:?}");
    assert!(delivered.contains("8613800000042"), "{calls:?}");
    // The service's view: one message from Kannel, delivered upstream, text intact.
    let page = rig.svc.get("/api/v1/messages?to=%2B8613800000042").await;
    let msgs = page["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 1, "{page}");
    assert_eq!(msgs[0]["state"], "delivered", "{page}");
    assert_eq!(msgs[0]["text"], "hello from kannel", "{page}");
    assert!(
        rig.smsc
            .submits()
            .iter()
            .any(|s| s.text.as_deref() == Some("hello from kannel")),
        "sent upstream"
    );
}
