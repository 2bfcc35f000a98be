//! The tokio runners and the binary: TCP listeners (as QEMU connects to them, including a
//! reconnect), ptys, the control socket, and a clean SIGTERM shutdown that removes the links.

use std::time::Duration;

use modem_sim::{Endpoint, ModemConfig, Profile, Sim};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpStream, UnixStream};

use crate::util::{Daemon, show};

/// Reads from `io` until `want` has appeared; returns everything read.
async fn read_until<R: AsyncReadExt + Unpin>(io: &mut R, want: &str) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    let r = tokio::time::timeout(Duration::from_secs(10), async {
        while !String::from_utf8_lossy(&got).contains(want) {
            let n = io.read(&mut buf).await.expect("read");
            assert!(n > 0, "closed before {want:?}; got {}", show(&got));
            got.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    assert!(r.is_ok(), "no {want:?} within 10 s; got {}", show(&got));
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn tcp_modem_survives_reconnects() {
    let mut cfg = ModemConfig::new(Profile::Ec25);
    cfg.echo = false;
    let sim = Sim::start(vec![(Endpoint::Tcp("127.0.0.1:0".parse().unwrap()), cfg)])
        .await
        .expect("start");
    let Endpoint::Tcp(addr) = sim.endpoints()[0].clone() else {
        panic!("not tcp");
    };
    for _ in 0..2 {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(b"AT+CGMM\r").await.expect("write");
        assert_eq!(read_until(&mut s, "OK\r\n").await, "\r\nEC25\r\n\r\nOK\r\n");
    }
    assert_eq!(sim.modem(0).unwrap().stats().commands, 2);
    sim.shutdown().await;
    assert!(TcpStream::connect(addr).await.is_err(), "listener closed");
}

#[tokio::test]
async fn pty_link_reaches_the_modem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let link = dir.path().join("ttyMODEM0");
    let sim = Sim::start(vec![(
        Endpoint::Pty(link.clone()),
        ModemConfig::new(Profile::Huawei),
    )])
    .await
    .expect("start");
    assert!(std::fs::read_link(&link).unwrap().starts_with("/dev/pts"));
    let mut port = tokio::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&link)
        .await
        .expect("open pty");
    port.write_all(b"AT^ICCID?\r").await.expect("write");
    let got = read_until(&mut port, "OK\r\n").await;
    assert_eq!(
        got,
        "AT^ICCID?\r\r\n^ICCID: 8947080036201234567\r\n\r\nOK\r\n"
    );
    sim.shutdown().await;
    assert!(std::fs::symlink_metadata(&link).is_err(), "link removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_serves_tcp_pty_and_control_and_stops_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pty = dir.path().join("modem0");
    let ctl = dir.path().join("ctl");
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_modem-sim"));
    cmd.arg("--pty")
        .arg(&pty)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--profile",
            "sim800",
            "--profile",
            "ec25",
        ])
        .arg("--control")
        .arg(&ctl)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let mut daemon = Daemon::spawn("modem-sim", cmd);
    let mut out = BufReader::new(daemon.child.stdout.take().expect("stdout")).lines();
    let mut lines = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(l) = out.next_line().await.expect("stdout") {
            if l == "ready" {
                break;
            }
            lines.push(l);
        }
    })
    .await
    .expect("ready within 10 s");
    assert!(lines[0].starts_with("modem 0: sim800 on pty"), "{lines:?}");
    let addr = lines[1]
        .strip_prefix("modem 1: ec25 on tcp ")
        .unwrap_or_else(|| panic!("{lines:?}"))
        .to_owned();
    let mut tcp = TcpStream::connect(&addr).await.expect("connect");
    tcp.write_all(b"ATE0\r").await.expect("write");
    read_until(&mut tcp, "OK\r\n").await;

    let mut control = UnixStream::connect(&ctl).await.expect("control");
    control
        .write_all(b"inject 1 +4791234567 hello over tcp\nstats\n")
        .await
        .expect("write");
    let replies = read_until(&mut control, "modem 1:").await;
    assert!(replies.starts_with("parts 1\nOK\n"), "{replies}");
    // EC25 ships with AT+CNMI=2,1: the message is stored and announced.
    let urc = read_until(&mut tcp, "+CMTI").await;
    assert!(urc.contains("+CMTI: \"SM\",1"), "{}", show(urc.as_bytes()));

    let pid = nix::unistd::Pid::from_raw(daemon.child.id().expect("pid") as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    let status = tokio::time::timeout(Duration::from_secs(10), daemon.child.wait())
        .await
        .expect("exits within 10 s")
        .expect("wait");
    assert!(status.success(), "{status:?}");
    assert!(std::fs::symlink_metadata(&pty).is_err(), "pty link removed");
    assert!(
        std::fs::symlink_metadata(&ctl).is_err(),
        "control socket removed"
    );
}
