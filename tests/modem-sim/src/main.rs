//! `modem-sim`: simulated GSM modems on ptys (`--pty PATH`) and TCP ports (`--listen ADDR`),
//! with a control socket (`--control PATH`) for injecting SMS and faults at run time. See the
//! README for the options and the control protocol.
//!
//! Per-modem options (`--profile`, `--operator`, `--signal`, `--latency-ms`, …) may be given
//! once for every modem or once per modem, in the order the modems are listed (`--pty`s first,
//! then `--listen`s). SIGTERM and Ctrl-C stop it cleanly: symlinks and the socket are removed.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Parser;
use modem_sim::{Endpoint, ModemConfig, Profile, ReceiptMix, Sim, control};

#[derive(Parser, Debug)]
#[command(
    name = "modem-sim",
    version,
    about = "Simulated GSM modems for AT clients"
)]
struct Args {
    /// A modem on a pty whose slave is symlinked at PATH (repeat for more modems).
    #[arg(long = "pty", value_name = "PATH")]
    ptys: Vec<PathBuf>,
    /// A modem on a TCP listener (e.g. 127.0.0.1:7001; repeat for more modems).
    #[arg(long = "listen", value_name = "ADDR")]
    listens: Vec<SocketAddr>,
    /// A Unix socket taking control lines (`inject 0 +8613800138000 hello`, `fault 1 hang`, …).
    #[arg(long, value_name = "PATH")]
    control: Option<PathBuf>,
    /// Model imitated: sim800, ec25, huawei, generic (once for all modems, or once per modem).
    #[arg(long = "profile", value_name = "NAME")]
    profiles: Vec<Profile>,
    /// Operator name shown by `AT+COPS?`.
    #[arg(long = "operator", value_name = "NAME")]
    operators: Vec<String>,
    /// Signal quality (`+CSQ` rssi 0-31).
    #[arg(long = "signal", value_name = "RSSI")]
    signals: Vec<u8>,
    /// Time from the PDU's Ctrl-Z to `+CMGS: <mr>`, in ms (real modems: 2000-6000).
    #[arg(long = "latency-ms", value_name = "MS")]
    latencies: Vec<u64>,
    /// Time from `+CMGS` to the status report, in ms.
    #[arg(long = "receipt-delay-ms", value_name = "MS")]
    receipt_delays: Vec<u64>,
    /// Status report outcomes by weight, e.g. delivered=95,undeliverable=5,expired=0,none=0.
    #[arg(long = "receipt-mix", value_name = "MIX")]
    receipt_mixes: Vec<ReceiptMix>,
    /// `AT+CNMI` at power-on, e.g. 2,1,0,2,0 (default: the profile's).
    #[arg(long, value_name = "MODE,MT,BM,DS,BFR")]
    cnmi: Option<String>,
    /// SIM PIN the modems ask for (none by default).
    #[arg(long)]
    pin: Option<String>,
    /// Seed of the receipt outcome draws.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print every command line each modem executes to stderr.
    #[arg(long)]
    verbose: bool,
}

/// Element `i`, or the last one (one value for every modem).
fn pick<T: Clone>(values: &[T], i: usize) -> Option<T> {
    values.get(i).or_else(|| values.last()).cloned()
}

fn configs(args: &Args) -> Vec<(Endpoint, ModemConfig)> {
    let endpoints = args
        .ptys
        .iter()
        .cloned()
        .map(Endpoint::Pty)
        .chain(args.listens.iter().copied().map(Endpoint::Tcp));
    endpoints
        .enumerate()
        .map(|(i, e)| {
            let mut cfg = ModemConfig::new(pick(&args.profiles, i).unwrap_or(Profile::Sim800));
            if let Some(op) = pick(&args.operators, i) {
                cfg.operator_short = op.clone();
                cfg.operator = op;
            }
            if let Some(s) = pick(&args.signals, i) {
                cfg.signal = s.min(31);
            }
            if let Some(l) = pick(&args.latencies, i) {
                cfg.send_latency_ms = l;
            }
            if let Some(d) = pick(&args.receipt_delays, i) {
                cfg.receipt_delay_ms = d;
            }
            if let Some(m) = pick(&args.receipt_mixes, i) {
                cfg.receipt_mix = m;
            }
            cfg.pin = args.pin.clone();
            // Time stamps (SCTS, DT) from the wall clock, as a real network would give.
            cfg.clock_base_unix = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
            if let Some(c) = &args.cnmi {
                for (slot, v) in cfg.cnmi.iter_mut().zip(c.split(',')) {
                    *slot = v.trim().parse().unwrap_or(0);
                }
            }
            cfg.seed = args.seed.wrapping_add(i as u64);
            // Distinct identities per modem, as a bank of real SIMs would have.
            cfg.imei = format!("3569380356438{:02}", i % 100);
            cfg.imsi = format!("2420112345678{:02}", i % 100);
            cfg.iccid = format!("89470800362012345{:02}", i % 100);
            (e, cfg)
        })
        .collect()
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let specs = configs(&args);
    if specs.is_empty() {
        bail!("nothing to simulate: give at least one --pty PATH or --listen ADDR");
    }
    let sim = Sim::start(specs).await.context("starting modems")?;
    for (i, (e, m)) in sim.endpoints().iter().zip(sim.modems()).enumerate() {
        let profile = m.with(|m| m.config().profile);
        match sim.slave(i) {
            Some(slave) => println!("modem {i}: {profile} on {e} -> {}", slave.display()),
            None => println!("modem {i}: {profile} on {e}"),
        }
    }
    let control_task = match &args.control {
        Some(path) => {
            let path = path.clone();
            let modems = sim.modems().to_vec();
            println!("control: {}", path.display());
            Some(tokio::spawn(async move {
                control::serve_unix(&path, modems).await
            }))
        }
        None => None,
    };
    let verbose_task = args.verbose.then(|| {
        let modems = sim.modems().to_vec();
        tokio::spawn(async move {
            let mut seen = vec![0usize; modems.len()];
            loop {
                for (i, m) in modems.iter().enumerate() {
                    let lines: Vec<String> = m.with(|m| {
                        let all: Vec<_> = m.transcript().cloned().collect();
                        let total = m.stats().commands;
                        let new = total.saturating_sub(seen.get(i).copied().unwrap_or(0));
                        all.iter()
                            .skip(all.len().saturating_sub(new))
                            .map(|(t, l)| format!("[modem {i} {t} ms] {l}"))
                            .collect()
                    });
                    if let Some(s) = seen.get_mut(i) {
                        *s += lines.len();
                    }
                    for l in lines {
                        eprintln!("{l}");
                    }
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        })
    });
    println!("ready");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    if let Some(t) = control_task {
        t.abort();
    }
    if let Some(t) = verbose_task {
        t.abort();
    }
    if let Some(path) = &args.control {
        let _ = std::fs::remove_file(path);
    }
    for (i, m) in sim.modems().iter().enumerate() {
        eprintln!("modem {i}: {}", m.stats());
    }
    sim.shutdown().await;
    Ok(())
}
