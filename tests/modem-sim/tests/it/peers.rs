//! Independent AT clients against the simulator through ptys: gammu 1.42, smstools 3.1
//! (`smsd`) and python-gsmmodem-new 0.13. Each one initialises, sends a GSM-7, a UCS-2 and a
//! 3-part message, and receives an inbound SMS and a status report; the test asserts on the
//! simulator's decoded view of what was sent and on what the client says it received.
//!
//! Kannel 1.4.5 (`bearerbox` + `smsbox`, `smsc = at`) runs too, with its callbacks on a local
//! HTTP listener.
//!
//! A missing client is "skipped" unless `OUTPOST_REQUIRE_PEERS=1` (CI), where it fails.

use std::path::Path;
use std::time::Duration;

use modem_sim::{Endpoint, Event, InboundSms, ModemConfig, ModemHandle, Profile, Route, Sim};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::util::{Daemon, program, run_bounded, venv_python};

const DEST: &str = "+4712345678";
const UCS2: &str = "Привет ÆØÅ 你好";

/// 400 GSM characters: three parts of 153/153/94.
fn long_text() -> String {
    "Long message part test 0123456789 "
        .repeat(12)
        .chars()
        .take(400)
        .collect()
}

fn config() -> ModemConfig {
    let mut cfg = ModemConfig::new(Profile::Sim800);
    cfg.send_latency_ms = 200;
    cfg.receipt_delay_ms = 300;
    cfg
}

async fn start(dir: &Path, cfg: ModemConfig) -> (Sim, ModemHandle, String) {
    let link = dir.join("modem0");
    let sim = Sim::start(vec![(Endpoint::Pty(link.clone()), cfg)])
        .await
        .expect("start simulator");
    let modem = sim.modem(0).expect("modem").clone();
    (sim, modem, link.display().to_string())
}

/// The simulator's view: whole messages by text, with their part counts and SRR.
fn sent(modem: &ModemHandle) -> Vec<(String, usize, bool)> {
    modem
        .messages()
        .into_iter()
        .filter(|m| m.complete)
        .map(|m| {
            let srr = m.parts.iter().all(|p| p.srr);
            (m.text, m.parts.len(), srr)
        })
        .collect()
}

fn count(modem: &ModemHandle, f: impl Fn(&Event) -> bool) -> usize {
    modem.log().iter().filter(|e| f(e)).count()
}

fn stored_receipts(e: &Event) -> bool {
    matches!(
        e,
        Event::Receipt {
            route: Route::Stored(..),
            ..
        }
    )
}

/// Waits for a client's output file (no event to wait on: the client is another process).
async fn eventually(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gammu_identifies_sends_and_reads_inbound_and_reports() {
    let Some(gammu) = program("gammu", "apt-get install gammu") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config();
    // gammu's CLI never sets AT+CNMI; store reports as a modem configured with AT&W would.
    cfg.cnmi = [2, 1, 0, 2, 0];
    let (sim, modem, port) = start(dir.path(), cfg).await;
    let rc = dir.path().join("gammurc");
    std::fs::write(
        &rc,
        format!("[gammu]\ndevice = {port}\nconnection = at115200\n"),
    )
    .expect("gammurc");
    let gammu_cmd = |args: &[&str]| {
        let mut c = Command::new(&gammu);
        c.arg("-c").arg(&rc).args(args);
        c
    };
    let limit = Duration::from_secs(60);
    let out = run_bounded("gammu identify", gammu_cmd(&["identify"]), limit).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "identify: {text}");
    assert!(
        text.contains("SIMCOM_Ltd") && text.contains("356938035643809"),
        "{text}"
    );

    let long = long_text();
    for (args, what) in [
        (
            vec!["sendsms", "TEXT", DEST, "-text", "Hello from gammu"],
            "gsm7",
        ),
        (
            vec!["sendsms", "TEXT", DEST, "-unicode", "-text", UCS2],
            "ucs2",
        ),
        (
            vec![
                "sendsms", "TEXT", DEST, "-len", "400", "-report", "-text", &long,
            ],
            "long",
        ),
    ] {
        let out = run_bounded("gammu sendsms", gammu_cmd(&args), limit).await;
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{what}: {all}");
    }
    assert_eq!(
        sent(&modem),
        [
            ("Hello from gammu".to_owned(), 1, false),
            (UCS2.to_owned(), 1, false),
            (long.clone(), 3, true),
        ]
    );
    // gammu puts the SCA from AT+CSCA? in front of every PDU.
    assert!(
        modem
            .accepted()
            .iter()
            .all(|s| s.sca.as_deref() == Some("+4790002100"))
    );
    modem
        .wait_log(Duration::from_secs(10), |log| {
            log.iter().filter(|e| stored_receipts(e)).count() >= 3
        })
        .await
        .expect("three status reports stored");
    modem
        .inject(&InboundSms::new("+4791234567", "Hello gammu inbound"))
        .expect("inject");
    let out = run_bounded("gammu getallsms", gammu_cmd(&["getallsms"]), limit).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "getallsms: {text}");
    assert!(text.contains("Hello gammu inbound"), "{text}");
    assert_eq!(text.matches("SMS status report").count(), 3, "{text}");
    assert_eq!(text.matches("Delivered").count(), 3, "{text}");
    sim.shutdown().await;
    assert!(
        !dir.path().join("modem0").exists(),
        "the pty link is removed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smstools_sends_files_and_spools_inbound_and_reports() {
    let Some(smsd) = program("smsd", "apt-get install smstools") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (sim, modem, port) = start(dir.path(), config()).await;
    let d = dir.path();
    for sub in [
        "outgoing", "checked", "failed", "incoming", "sent", "report",
    ] {
        std::fs::create_dir(d.join(sub)).expect("mkdir");
    }
    let conf = d.join("smsd.conf");
    let p = |s: &str| d.join(s).display().to_string();
    std::fs::write(
        &conf,
        format!(
            "devices = GSM1\noutgoing = {}\nchecked = {}\nfailed = {}\nincoming = {}\nsent = {}\n\
             report = {}\nlogfile = {}\ninfofile = {}\npidfile = {}\nloglevel = 7\ndelaytime = 1\n\
             errorsleeptime = 1\nautosplit = 3\n\n[GSM1]\ndevice = {port}\nincoming = yes\n\
             pin = ignore\nreport = yes\ninit = AT+CNMI=2,0,0,2,1\n",
            p("outgoing"),
            p("checked"),
            p("failed"),
            p("incoming"),
            p("sent"),
            p("report"),
            p("smsd.log"),
            p("smsd.working"),
            p("smsd.pid"),
        ),
    )
    .expect("smsd.conf");
    let long = long_text();
    let files = [
        (
            "gsm7",
            "To: 4712345678\n\nHello from smstools3\n".to_owned(),
        ),
        (
            "ucs2",
            format!("To: 4712345678\nAlphabet: UTF-8\n\n{UCS2}\n"),
        ),
        ("long", format!("To: 4712345678\n\n{long}\n")),
    ];
    for (name, body) in &files {
        std::fs::write(d.join("outgoing").join(name), body).expect("outgoing file");
    }
    let mut cmd = Command::new(&smsd);
    cmd.arg("-t")
        .arg(format!("-c{}", conf.display()))
        .arg("-uroot")
        .arg("-groot")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let daemon = Daemon::spawn("smsd", cmd);
    let limit = Duration::from_secs(60);
    modem
        .wait_log(limit, |log| {
            log.iter()
                .filter(|e| matches!(e, Event::Accepted(_)))
                .count()
                >= 5
        })
        .await
        .expect("five parts accepted");
    eventually("sent files", limit, || {
        std::fs::read_dir(d.join("sent")).map_or(0, |r| r.count()) == 3
    })
    .await;
    let mut got = sent(&modem);
    got.sort();
    let mut want = vec![
        ("Hello from smstools3".to_owned(), 1, true),
        (format!("{UCS2}\n"), 1, true),
        (long.clone(), 3, true),
    ];
    want.sort();
    assert_eq!(got, want);
    modem
        .inject(&InboundSms::new("+4791234567", "Hello smstools inbound"))
        .expect("inject");
    eventually("incoming file", limit, || {
        std::fs::read_dir(d.join("incoming")).map_or(0, |r| r.count()) == 1
    })
    .await;
    eventually("report files", limit, || {
        std::fs::read_dir(d.join("report")).map_or(0, |r| r.count()) == 5
    })
    .await;
    let incoming = std::fs::read_dir(d.join("incoming"))
        .expect("incoming")
        .filter_map(Result::ok)
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect::<String>();
    assert!(
        incoming.contains("From: 4791234567") && incoming.contains("Hello smstools inbound"),
        "{incoming}"
    );
    let reports = std::fs::read_dir(d.join("report"))
        .expect("report")
        .filter_map(Result::ok)
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect::<Vec<_>>();
    assert!(
        reports
            .iter()
            .all(|r| r.contains("SMS STATUS REPORT") && r.contains("Status: 0,Ok")),
        "{reports:?}"
    );
    assert_eq!(
        std::fs::read_dir(d.join("failed")).map_or(0, |r| r.count()),
        0
    );
    // smstools reads from storage and deletes; never before the report or message was read.
    assert_eq!(
        count(&modem, |e| matches!(
            e,
            Event::Deleted {
                was_read: false,
                ..
            }
        )),
        0
    );
    drop(daemon);
    sim.shutdown().await;
}

async fn pygsm(mode: &str) {
    let Some(python) = venv_python() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (sim, modem, port) = start(dir.path(), config()).await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/pygsm_driver.py");
    let mut cmd = Command::new(&python);
    cmd.arg(&script)
        .arg(&port)
        .arg(mode)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut daemon = Daemon::spawn("python-gsmmodem", cmd);
    let stdout = daemon.child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    let read_all = async {
        while let Some(line) = lines.next_line().await.expect("read") {
            if line == "WAIT-INBOUND" {
                modem
                    .inject(&InboundSms::new("+4791234567", "Hello python inbound"))
                    .expect("inject");
            }
            let done = line.starts_with("RECEIVED") || line.starts_with("INBOUND-TIMEOUT");
            seen.push(line);
            if done {
                break;
            }
        }
    };
    let finished = tokio::time::timeout(Duration::from_secs(90), read_all).await;
    let status = tokio::time::timeout(Duration::from_secs(30), daemon.child.wait()).await;
    let mut stderr = String::new();
    if let Some(mut e) = daemon.child.stderr.take() {
        use tokio::io::AsyncReadExt;
        let _ = tokio::time::timeout(Duration::from_secs(1), e.read_to_string(&mut stderr)).await;
    }
    assert!(
        finished.is_ok(),
        "driver stalled; lines {seen:?}; stderr {stderr}"
    );
    let refs: Vec<String> = modem
        .messages()
        .iter()
        .map(|m| m.parts.last().map_or(0, |p| p.mr).to_string())
        .collect();
    assert_eq!(
        seen,
        [
            "CONNECTED".to_owned(),
            format!("SENT gsm7 {} DELIVERED", refs[0]),
            format!("SENT ucs2 {} DELIVERED", refs[1]),
            format!("SENT long {} DELIVERED", refs[2]),
            "WAIT-INBOUND".to_owned(),
            "RECEIVED +4791234567 'Hello python inbound'".to_owned(),
        ],
        "stderr: {stderr}"
    );
    assert!(
        matches!(status, Ok(Ok(s)) if s.success()),
        "{status:?}: {stderr}"
    );
    assert_eq!(
        sent(&modem),
        [
            ("Hello from python-gsmmodem".to_owned(), 1, true),
            (UCS2.to_owned(), 1, true),
            (long_text(), 3, true),
        ]
    );
    if mode == "text" {
        // The first message went in text mode; UCS-2 made the library switch to PDU for good.
        let acc = modem.accepted();
        assert!(acc[0].text_mode && !acc[1].text_mode);
    }
    // Five reports stored and announced with +CDSI, one inbound with +CMTI; each deleted only
    // after it was read.
    assert_eq!(count(&modem, stored_receipts), 5);
    assert_eq!(
        count(&modem, |e| matches!(
            e,
            Event::Deleted {
                was_read: false,
                ..
            }
        )),
        0
    );
    assert_eq!(count(&modem, |e| matches!(e, Event::Deleted { .. })), 6);
    drop(daemon);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_gsmmodem_pdu_mode() {
    pygsm("pdu").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_gsmmodem_text_mode() {
    pygsm("text").await;
}

/// A free TCP port on 127.0.0.1 (bound, then released for the peer to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One HTTP/1.0 GET; the body of the answer (`None` if nobody listens yet).
async fn http_get(port: u16, path: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).await.ok()?;
    Some(
        out.split_once("\r\n\r\n")
            .map_or(out.clone(), |(_, b)| b.to_owned()),
    )
}

/// Kannel's MO and DLR callbacks land here: every request path is sent on the channel.
async fn callback_server() -> (u16, tokio::sync::mpsc::UnboundedReceiver<String>) {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let (r, mut w) = s.into_split();
                let mut lines = BufReader::new(r).lines();
                if let Ok(Some(req)) = lines.next_line().await
                    && let Some(path) = req.split_whitespace().nth(1)
                {
                    let _ = tx.send(path.to_owned());
                }
                let _ = w
                    .write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
                    .await;
            });
        }
    });
    (port, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kannel_sends_receives_and_gets_dlrs() {
    let (Some(bearerbox), Some(smsbox)) = (
        program("bearerbox", "apt-get install kannel"),
        program("smsbox", "apt-get install kannel"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (sim, modem, port) = start(dir.path(), config()).await;
    let (cb_port, mut callbacks) = callback_server().await;
    let (admin, boxes, sendsms) = (free_port(), free_port(), free_port());
    let d = dir.path().display();
    // modemtype=auto matches the ATI answer against the shipped modem definitions.
    let modems = [
        "/etc/kannel/modems.conf",
        "/usr/share/doc/kannel/examples/modems.conf",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())
    .map(|p| format!("include = \"{p}\"\n"))
    .unwrap_or_default();
    let conf = dir.path().join("kannel.conf");
    std::fs::write(
        &conf,
        format!(
            "group = core\nadmin-port = {admin}\nadmin-password = x\nsmsbox-port = {boxes}\n\
             log-file = \"{d}/bearerbox.log\"\nlog-level = 0\nbox-allow-ip = \"127.0.0.1\"\n\
             dlr-storage = internal\n\n\
             group = smsc\nsmsc = at\nsmsc-id = modem0\nmodemtype = auto\ndevice = {port}\n\
             speed = 115200\n\n\
             group = smsbox\nbearerbox-host = 127.0.0.1\nbearerbox-port = {boxes}\n\
             sendsms-port = {sendsms}\nglobal-sender = 4790000001\nlog-file = \"{d}/smsbox.log\"\n\
             log-level = 0\n\n\
             group = sendsms-user\nusername = u\npassword = p\nmax-messages = 3\nconcatenation = true\n\n\
             group = sms-service\nkeyword = default\ncatch-all = true\nmax-messages = 0\n\
             get-url = \"http://127.0.0.1:{cb_port}/mo?from=%p&text=%a\"\n\n{modems}"
        ),
    )
    .expect("kannel.conf");
    let quiet = |c: &mut Command| {
        c.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
    };
    let mut c = Command::new(&bearerbox);
    c.arg(&conf);
    quiet(&mut c);
    let _bearerbox = Daemon::spawn("bearerbox", c);
    // smsbox gives up at once if bearerbox is not listening yet: wait for its admin page.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while http_get(admin, "/status.txt?password=x").await.is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "bearerbox did not start"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut c = Command::new(&smsbox);
    c.arg(&conf);
    quiet(&mut c);
    let _smsbox = Daemon::spawn("smsbox", c);
    let limit = Duration::from_secs(60);
    // Kannel's last initialisation command: AT+CNMI=1,2,0,1,0 (direct +CMT and +CDS).
    modem
        .wait_for(limit, |m| {
            m.transcript()
                .any(|(_, l)| l == "AT+CNMI=1,2,0,1,0")
                .then_some(())
        })
        .await
        .expect("Kannel initialised the modem");
    let long = long_text();
    for (text, extra) in [
        ("Hello from kannel", ""),
        (UCS2, "&coding=2&charset=UTF-8"),
        (long.as_str(), "&dlr-mask=31"),
    ] {
        let dlr = percent(&format!("http://127.0.0.1:{cb_port}/dlr?s=%d"));
        let path = format!(
            "/cgi-bin/sendsms?username=u&password=p&to=%2B4712345678&text={}{extra}&dlr-url={dlr}",
            percent(text)
        );
        let mut answer = None;
        // smsbox may still be connecting to bearerbox: retry a refused connection briefly.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while answer.is_none() && tokio::time::Instant::now() < deadline {
            answer = http_get(sendsms, &path).await;
            if answer.is_none() {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        let answer = answer.unwrap_or_else(|| {
            let log = std::fs::read_to_string(dir.path().join("smsbox.log")).unwrap_or_default();
            let tail: String = log.lines().rev().take(15).collect::<Vec<_>>().join("\n");
            panic!("smsbox does not answer on {sendsms}; smsbox.log (last lines, newest first):\n{tail}")
        });
        // 202 either way: Kannel queues when its SMSC connection is busy.
        assert!(
            answer.contains("Accepted for delivery")
                || answer.contains("Queued for later delivery"),
            "{answer}"
        );
    }
    modem
        .wait_log(limit, |log| {
            log.iter()
                .filter(|e| matches!(e, Event::Accepted(_)))
                .count()
                >= 5
        })
        .await
        .expect("five parts accepted");
    let texts: Vec<(String, usize)> = sent(&modem).into_iter().map(|(t, n, _)| (t, n)).collect();
    assert_eq!(
        texts,
        [
            ("Hello from kannel".to_owned(), 1),
            (UCS2.to_owned(), 1),
            (long.clone(), 3),
        ]
    );
    // dlr-mask asks for a report on the long message only (Kannel sets TP-SRR on some of its
    // parts, not necessarily all).
    let srr: Vec<bool> = modem.accepted().iter().map(|s| s.srr).collect();
    assert!(
        srr[..2] == [false, false] && srr[2..].iter().any(|s| *s),
        "{srr:?}"
    );
    let srr_parts = srr.iter().filter(|s| **s).count();
    modem
        .inject(&InboundSms::new("+4791234567", "Hello kannel inbound"))
        .expect("inject");
    let mut got = Vec::new();
    let wait = async {
        while let Some(path) = callbacks.recv().await {
            got.push(path);
            let mo = got.iter().any(|p| p.starts_with("/mo?"));
            let delivered = got.iter().any(|p| p == "/dlr?s=1");
            if mo && delivered {
                break;
            }
        }
    };
    let done = tokio::time::timeout(limit, wait).await;
    assert!(done.is_ok(), "callbacks so far: {got:?}");
    assert!(
        got.contains(&"/mo?from=%2B4791234567&text=Hello+kannel+inbound".to_owned()),
        "{got:?}"
    );
    // Kannel asked for direct routing: the inbound SMS and the reports were pushed, not stored.
    assert!(
        count(&modem, |e| matches!(
            e,
            Event::Inbound {
                route: Route::Direct,
                ..
            }
        )) == 1
    );
    modem
        .wait_log(limit, |log| {
            log.iter()
                .filter(|e| {
                    matches!(
                        e,
                        Event::Receipt {
                            route: Route::Direct,
                            ..
                        }
                    )
                })
                .count()
                == srr_parts
        })
        .await
        .expect("every requested report pushed with +CDS");
    sim.shutdown().await;
}
