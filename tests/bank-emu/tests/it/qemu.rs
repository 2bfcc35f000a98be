//! The bank firmware for `boards/mps2-an386`, built in release and run in
//! `qemu-system-arm -M mps2-an386`: UART1–4 connect to four simulated modems (`modem-sim` on
//! TCP listeners, in-process), UART0 to this test, which speaks the link protocol as the host.
//!
//! Scenarios, in order, each bounded in time: all slots come up; 100 messages spread over the
//! four slots with a 3 s send latency (throughput against the physical limit of slots ÷
//! latency), inbound SMS and status reports acknowledged and deleted; a hang of one modem,
//! which must be re-initialised or power-cycled and come back while the other slots keep
//! sending; 1 % of the host link's bytes corrupted in both directions with nothing lost. Ends
//! with a summary.
//!
//! Gate: needs `qemu-system-arm` and the `thumbv7em-none-eabihf` target. With
//! `OUTPOST_REQUIRE_PEERS=1` (CI) a missing QEMU fails the test; otherwise it prints
//! "skipped". `OUTPOST_SKIP_QEMU=1` skips it (the xtask `test` step sets it; the `qemu` step
//! runs it on its own: `cargo test -p bank-emu --test it qemu -- --nocapture`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use link::msg::{HostTag, SlotId, SubmitOutcome};
use link::{BankToHost, Event, HostToBank};
use modem_sim::{Endpoint, Fault, InboundSms, Mem, ModemConfig, ModemHandle, Profile, Sim};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::time::Instant;

use crate::host::{Host, Inbound, Noise, submit_pdu};

const SEC: Duration = Duration::from_secs(1);
const SLOTS: usize = 4;
/// Simulated time from the PDU to `+CMGS` (a real network takes 2–6 s).
const LATENCY_MS: u64 = 3_000;
/// Messages in the throughput phase.
const MESSAGES: u32 = 100;
/// Submits the host keeps in flight per slot: one sending, one queued behind it.
const IN_FLIGHT: usize = 2;
/// Hard limit on QEMU's life, whatever happens to this test.
const QEMU_TIMEOUT_S: u32 = 400;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("tests/bank-emu is two levels below the root")
        .to_path_buf()
}

fn have(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
}

/// Builds the board in release; returns the ELF.
async fn build_firmware() -> PathBuf {
    let base = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    let target_dir = base.join("boards").join("mps2-an386");
    let board = root().join("boards/mps2-an386");
    // Run from the board's directory: cargo reads `.cargo/config.toml` (target, linker script)
    // from the current directory, not from the manifest's.
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--locked"])
        .current_dir(&board)
        .env("CARGO_TARGET_DIR", &target_dir)
        // Flags meant for the host build must not leak into the firmware's.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .await
        .expect("run cargo");
    assert!(status.success(), "building boards/mps2-an386 failed");
    target_dir.join("thumbv7em-none-eabihf/release/mps2-an386")
}

/// QEMU under `timeout`, stopped with SIGTERM (which `timeout` passes on to QEMU) when this
/// value is dropped, whether the test passed or failed. Not SIGKILL: that would kill `timeout`
/// alone and leave QEMU running.
struct Qemu(Child);

impl Qemu {
    fn stop(&self) {
        if let Some(pid) = self.0.id().and_then(|id| i32::try_from(id).ok()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        self.stop();
    }
}

/// QEMU with UART0 on `link` and UART1–4 on the modems, all as socket clients.
fn spawn_qemu(elf: &Path, link: u16, modems: &[u16]) -> Qemu {
    let mut cmd = Command::new("timeout");
    // A bound on QEMU's life even if this test process dies: SIGTERM at the limit, SIGKILL
    // five seconds later.
    cmd.args(["--kill-after=5"])
        .arg(QEMU_TIMEOUT_S.to_string())
        .args(["qemu-system-arm", "-M", "mps2-an386", "-display", "none"])
        .args([
            "-monitor",
            "none",
            "-semihosting-config",
            "enable=on,target=native",
        ])
        .arg("-kernel")
        .arg(elf);
    for (i, port) in std::iter::once(link)
        .chain(modems.iter().copied())
        .enumerate()
    {
        cmd.arg("-chardev")
            .arg(format!(
                "socket,id=u{i},host=127.0.0.1,port={port},server=off"
            ))
            .arg("-serial")
            .arg(format!("chardev:u{i}"));
    }
    Qemu(
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start qemu-system-arm"),
    )
}

/// Collects QEMU's output lines (semihosting prints and errors) for the summary.
fn collect(child: &mut Child) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let out = child.stdout.take().expect("piped stdout");
    let err = child.stderr.take().expect("piped stderr");
    for stream in [
        Box::new(out) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
        Box::new(err),
    ] {
        let lines = lines.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stream).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                lines.lock().unwrap().push(line);
            }
        });
    }
    lines
}

/// Prints QEMU's output if the test fails, so a firmware panic is visible.
struct Dump(Arc<Mutex<Vec<String>>>);

impl Drop for Dump {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for line in self.0.lock().map(|l| l.clone()).unwrap_or_default() {
                eprintln!("qemu: {line}");
            }
        }
    }
}

fn stored(sim: &ModemHandle) -> usize {
    sim.with(|m| m.store_usage(Mem::Sm).0 + m.store_usage(Mem::Me).0)
}

/// Waits for the next submit result, acknowledging inbound messages meanwhile.
async fn next_result(
    host: &mut Host<TcpStream>,
    inbound: &mut BTreeSet<Inbound>,
    timeout: Duration,
) -> (SlotId, HostTag, SubmitOutcome) {
    let until = Instant::now() + timeout;
    ack_inbound(host, inbound).await;
    if let Some(r) = host.take_result() {
        return r;
    }
    loop {
        let left = until.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no submit result within {timeout:?}");
        let msg = host
            .expect(left, |ev| match ev {
                Event::Message(
                    m @ (BankToHost::SubmitResult { .. }
                    | BankToHost::InboundSms { .. }
                    | BankToHost::StatusReport { .. }),
                ) => Some(m.clone()),
                _ => None,
            })
            .await;
        match msg {
            BankToHost::SubmitResult { slot, tag, outcome } => return (slot, tag, outcome),
            BankToHost::InboundSms { slot, index, pdu } => {
                let report = false;
                let pdu = pdu.octets.to_vec();
                inbound.insert(Inbound {
                    slot,
                    index,
                    report,
                    pdu,
                });
                host.send(HostToBank::AckInbound { slot, index }).await;
            }
            BankToHost::StatusReport { slot, index, pdu } => {
                let report = true;
                let pdu = pdu.octets.to_vec();
                inbound.insert(Inbound {
                    slot,
                    index,
                    report,
                    pdu,
                });
                host.send(HostToBank::AckInbound { slot, index }).await;
            }
            _ => {}
        }
    }
}

async fn ack_inbound(host: &mut Host<TcpStream>, inbound: &mut BTreeSet<Inbound>) {
    while let Some(i) = host.take_inbound() {
        let (slot, index) = (i.slot, i.index);
        inbound.insert(i);
        host.send(HostToBank::AckInbound { slot, index }).await;
    }
}

/// Sends `count` messages with tags from `first`, keeping [`IN_FLIGHT`] per slot in `slots`;
/// every `srr_every`-th asks for a status report. Returns the outcomes.
async fn send_batch(
    host: &mut Host<TcpStream>,
    inbound: &mut BTreeSet<Inbound>,
    slots: &[u8],
    first: u32,
    count: u32,
    srr_every: u32,
) -> BTreeMap<u32, (u8, SubmitOutcome)> {
    let mut in_flight = [0usize; SLOTS];
    let mut outcomes = BTreeMap::new();
    let mut next = first;
    let end = first + count;
    while outcomes.len() < count as usize {
        for &slot in slots {
            while in_flight[usize::from(slot)] < IN_FLIGHT && next < end {
                let srr = srr_every > 0 && next.is_multiple_of(srr_every);
                host.submit(slot, next, submit_pdu(&format!("message {next}"), srr))
                    .await;
                in_flight[usize::from(slot)] += 1;
                next += 1;
            }
        }
        let (slot, tag, outcome) = next_result(host, inbound, 120 * SEC).await;
        if let Some(n) = in_flight.get_mut(usize::from(slot.0)) {
            *n = n.saturating_sub(1);
        }
        assert!(
            outcomes.insert(tag.0, (slot.0, outcome)).is_none(),
            "tag {} reported twice",
            tag.0
        );
    }
    outcomes
}

/// The latest status of each slot seen so far.
fn latest_status(host: &Host<TcpStream>, slot: u8) -> Option<link::msg::SlotStatus> {
    host.seen.iter().rev().find_map(|e| match e {
        Event::Message(BankToHost::SlotStatus(s)) if s.slot == SlotId(slot) => Some(s.clone()),
        _ => None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qemu_mps2_bank() {
    if std::env::var("OUTPOST_SKIP_QEMU").as_deref() == Ok("1") {
        eprintln!("skipped: OUTPOST_SKIP_QEMU=1 (the xtask qemu step runs this test)");
        return;
    }
    if !have("qemu-system-arm") {
        assert!(
            std::env::var("OUTPOST_REQUIRE_PEERS").as_deref() != Ok("1"),
            "qemu-system-arm is required (OUTPOST_REQUIRE_PEERS=1); install it with `cargo xtask setup`"
        );
        eprintln!("skipped: qemu-system-arm not found");
        return;
    }
    let elf = build_firmware().await;

    let any = "127.0.0.1:0".parse().unwrap();
    let cfg = ModemConfig {
        send_latency_ms: LATENCY_MS,
        receipt_delay_ms: 2_000,
        ..ModemConfig::new(Profile::Sim800)
    };
    let sim = Sim::start(vec![(Endpoint::Tcp(any), cfg); SLOTS])
        .await
        .expect("modem-sim");
    let modem_ports: Vec<u16> = sim
        .endpoints()
        .iter()
        .map(|e| match e {
            Endpoint::Tcp(a) => a.port(),
            Endpoint::Pty(_) => unreachable!("TCP endpoints were asked for"),
        })
        .collect();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let link_port = listener.local_addr().unwrap().port();
    let started = Instant::now();
    let mut qemu = spawn_qemu(&elf, link_port, &modem_ports);
    let output = collect(&mut qemu.0);
    let _dump = Dump(output.clone());
    let (conn, _) = tokio::time::timeout(10 * SEC, listener.accept())
        .await
        .expect("QEMU connects to the host link within 10 s")
        .expect("accept");
    conn.set_nodelay(true).unwrap();
    let mut host = Host::new(conn, 0x4057_0e01);
    let mut inbound = BTreeSet::new();

    // 1. Bring-up.
    host.all_ready(SLOTS, 60 * SEC).await;
    let up = started.elapsed();

    // 2. Throughput, with inbound SMS and status reports flowing.
    for (i, m) in sim.modems().iter().enumerate() {
        for k in 0..2 {
            m.inject(&InboundSms::new("+4798765432", format!("inbound {i}.{k}")))
                .unwrap();
        }
    }
    let traffic0 = host.traffic;
    let t0 = Instant::now();
    let outcomes = send_batch(&mut host, &mut inbound, &[0, 1, 2, 3], 1, MESSAGES, 10).await;
    let took = t0.elapsed();
    let traffic = host.traffic;
    assert!(
        outcomes
            .values()
            .all(|(_, o)| matches!(o, SubmitOutcome::Accepted { .. })),
        "{outcomes:?}"
    );
    let per_min = f64::from(MESSAGES) / took.as_secs_f64() * 60.0;
    let limit = SLOTS as f64 / (LATENCY_MS as f64 / 60_000.0);
    let link_rate =
        (traffic.rx + traffic.tx - traffic0.rx - traffic0.tx) as f64 / took.as_secs_f64();
    // Every inbound SMS (8) and status report (10) arrives and is deleted after the ack.
    let until = Instant::now() + 60 * SEC;
    while (inbound.iter().filter(|i| !i.report).count() < 8
        || inbound.iter().filter(|i| i.report).count() < 10
        || sim.modems().iter().map(stored).sum::<usize>() > 0)
        && Instant::now() < until
    {
        host.idle(SEC / 2).await;
        ack_inbound(&mut host, &mut inbound).await;
    }
    let sms = inbound.iter().filter(|i| !i.report).count();
    let reports = inbound.iter().filter(|i| i.report).count();
    assert_eq!((sms, reports), (8, 10), "inbound SMS and status reports");
    assert_eq!(
        sim.modems().iter().map(stored).sum::<usize>(),
        0,
        "all deleted after acks"
    );
    let sent: usize = sim.modems().iter().map(|m| m.accepted().len()).sum();
    assert_eq!(sent, MESSAGES as usize, "each message sent exactly once");

    // 3. A hung modem: slot 0 stops answering for 20 s; the others keep sending.
    let before = latest_status(&host, 0).expect("slot 0 status");
    let recoveries = |s: &link::msg::SlotStatus| s.counters.reinits + s.counters.power_cycles;
    let t_hang = Instant::now();
    sim.modem(0).unwrap().fault(Fault::Hang(Some(20_000)));
    // Slot 0 gets one submit at a time (its failures are how the engine notices the hang
    // soonest); the others are kept busy throughout.
    let mut tag = 1_000;
    let mut in_flight = [0usize; SLOTS];
    let mut others = 0;
    let mut recovered = None;
    while recovered.is_none() || in_flight.iter().any(|n| *n > 0) {
        assert!(t_hang.elapsed() < 150 * SEC, "slot 0 did not recover");
        if recovered.is_none() {
            for slot in 0..SLOTS as u8 {
                let cap = if slot == 0 { 1 } else { IN_FLIGHT };
                while in_flight[usize::from(slot)] < cap {
                    host.submit(slot, tag, submit_pdu("during the hang", false))
                        .await;
                    in_flight[usize::from(slot)] += 1;
                    tag += 1;
                }
            }
        }
        let (slot, t, outcome) = next_result(&mut host, &mut inbound, 120 * SEC).await;
        in_flight[usize::from(slot.0)] -= 1;
        let ok = matches!(outcome, SubmitOutcome::Accepted { .. });
        if slot.0 != 0 {
            assert!(ok, "tag {}: {outcome:?}", t.0);
            others += 1;
        } else if ok
            && recovered.is_none()
            && let Some(s) = latest_status(&host, 0)
            && recoveries(&s) > recoveries(&before)
        {
            recovered = Some((t_hang.elapsed(), s.counters));
        }
    }
    let (recovery_time, counters) = recovered.unwrap();

    // 4. 1 % of the link's bytes corrupted, both ways: nothing lost, nothing doubled.
    let stats0 = host.stats();
    host.noise = Some(Noise::new(0.01, 7));
    for (i, m) in sim.modems().iter().enumerate() {
        m.inject(&InboundSms::new("+4798765432", format!("noisy {i}")))
            .unwrap();
    }
    let inbound_before = inbound.len();
    let t_noise = Instant::now();
    let noisy = send_batch(&mut host, &mut inbound, &[0, 1, 2, 3], 5_000, 24, 0).await;
    assert!(
        noisy
            .values()
            .all(|(_, o)| matches!(o, SubmitOutcome::Accepted { .. })),
        "{noisy:?}"
    );
    let until = Instant::now() + 60 * SEC;
    while inbound.len() < inbound_before + 4 && Instant::now() < until {
        host.idle(SEC / 2).await;
        ack_inbound(&mut host, &mut inbound).await;
    }
    assert_eq!(
        inbound.len(),
        inbound_before + 4,
        "inbound over the noisy line"
    );
    let noise_took = t_noise.elapsed();
    let damaged = host.noise.as_ref().map_or(0, |n| n.damaged);
    host.noise = None;
    let stats = host.stats();
    assert!(stats.crc_errors + stats.framing_errors > stats0.crc_errors + stats0.framing_errors);

    // Exactly one result per tag over the whole run, and every accepted SMS sent once.
    let mut per_tag: BTreeMap<u32, usize> = BTreeMap::new();
    for e in &host.seen {
        if let Event::Message(BankToHost::SubmitResult { tag, .. }) = e {
            *per_tag.entry(tag.0).or_default() += 1;
        }
    }
    assert!(per_tag.values().all(|n| *n == 1), "a tag reported twice");
    let accepted_results = host
        .seen
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Message(BankToHost::SubmitResult {
                    outcome: SubmitOutcome::Accepted { .. },
                    ..
                })
            )
        })
        .count();
    let sent_total: usize = sim.modems().iter().map(|m| m.accepted().len()).sum();
    assert_eq!(
        accepted_results, sent_total,
        "accepted results = SMS the modems sent"
    );

    // The firmware must still be running (a panic exits QEMU with status 1).
    assert!(
        qemu.0.try_wait().expect("qemu status").is_none(),
        "QEMU exited: {:#?}",
        output.lock().unwrap()
    );
    qemu.stop();
    let status = tokio::time::timeout(10 * SEC, qemu.0.wait()).await;
    assert!(matches!(status, Ok(Ok(_))), "QEMU did not stop on SIGTERM");
    let qemu_lines = output.lock().unwrap().clone();

    println!("== qemu mps2-an386 bank: summary ==");
    println!("boot to all {SLOTS} slots Ready: {:.1} s", up.as_secs_f64());
    println!(
        "throughput: {MESSAGES} messages in {:.1} s = {per_min:.1}/min; physical limit {limit:.0}/min \
         ({SLOTS} slots / {:.0} s latency); {:.1} % of it",
        took.as_secs_f64(),
        LATENCY_MS as f64 / 1000.0,
        per_min / limit * 100.0
    );
    println!(
        "host link during it: {link_rate:.0} B/s ({} B received, {} B sent)",
        traffic.rx - traffic0.rx,
        traffic.tx - traffic0.tx
    );
    println!("inbound: {sms} SMS and {reports} status reports, all acked and deleted");
    println!(
        "hang on slot 0: back to Ready with a successful send after {:.1} s \
         (reinits {}, power cycles {}, timeouts {}); {others} sends on the other slots meanwhile",
        recovery_time.as_secs_f64(),
        counters.reinits,
        counters.power_cycles,
        counters.timeouts
    );
    println!(
        "1 % corruption: 24 messages and 4 inbound in {:.1} s, {damaged} bytes damaged, \
         host saw {} CRC and {} framing errors, {} retransmits; nothing lost or doubled",
        noise_took.as_secs_f64(),
        stats.crc_errors - stats0.crc_errors,
        stats.framing_errors - stats0.framing_errors,
        stats.retransmits - stats0.retransmits
    );
    println!(
        "whole run: {} results, {sent_total} SMS sent, host link retransmits {}",
        per_tag.len(),
        stats.retransmits
    );
    for line in qemu_lines {
        println!("qemu: {line}");
    }
    sim.shutdown().await;
    assert!(
        per_min >= 0.90 * limit,
        "throughput {per_min:.1}/min below 90 % of {limit:.0}/min"
    );
}
