//! `bank-emu`: the modem-bank firmware application on the host. Slots are TCP modems
//! (`--modem ADDR`, e.g. `modem-sim --listen`) or in-process simulated ones (`--sim PROFILE`);
//! the host link listens on `--listen ADDR`, connects to `--connect ADDR` or sits on a pty
//! (`--pty PATH`). Prints the link endpoint, then runs until Ctrl-C.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Result, bail};
use bank_emu::{BankEmu, EmuConfig, LinkSpec, SlotSpec};
use clap::Parser;
use modem_sim::{ModemConfig, Profile};

#[derive(Parser, Debug)]
#[command(
    name = "bank-emu",
    version,
    about = "The modem-bank firmware on the host"
)]
struct Args {
    /// A slot whose modem listens on this TCP address (repeat; slots in order, TCP ones first).
    #[arg(long = "modem", value_name = "ADDR")]
    modems: Vec<SocketAddr>,
    /// A slot with a simulated modem of this profile (sim800, ec25, huawei, generic).
    #[arg(long = "sim", value_name = "PROFILE")]
    sims: Vec<Profile>,
    /// Simulated send latency of the `--sim` modems, in ms.
    #[arg(long, default_value_t = 3000)]
    latency_ms: u64,
    /// Host link: listen on this address.
    #[arg(long, value_name = "ADDR", conflicts_with_all = ["connect", "pty"])]
    listen: Option<SocketAddr>,
    /// Host link: connect to this address.
    #[arg(long, value_name = "ADDR", conflicts_with = "pty")]
    connect: Option<SocketAddr>,
    /// Host link: a pty whose slave is symlinked at this path.
    #[arg(long, value_name = "PATH")]
    pty: Option<PathBuf>,
    /// First boot id (random by default).
    #[arg(long)]
    boot_id: Option<u32>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args = Args::parse();
    let mut slots: Vec<SlotSpec> = args.modems.iter().copied().map(SlotSpec::Tcp).collect();
    for profile in &args.sims {
        slots.push(SlotSpec::Sim(Box::new(ModemConfig {
            send_latency_ms: args.latency_ms,
            ..ModemConfig::new(*profile)
        })));
    }
    if slots.is_empty() {
        bail!("give at least one --modem or --sim");
    }
    let mut config = EmuConfig::new(slots);
    config.boot_id = args.boot_id;
    config.link = match (args.listen, args.connect, args.pty) {
        (_, Some(a), _) => LinkSpec::Connect(a),
        (_, _, Some(p)) => LinkSpec::Pty(p),
        (Some(a), _, _) => LinkSpec::Listen(a),
        (None, None, None) => LinkSpec::Listen(SocketAddr::from(([127, 0, 0, 1], 0))),
    };
    let emu = tokio::task::spawn_blocking(move || BankEmu::start(config)).await??;
    match (emu.link_addr(), emu.link_path()) {
        (Some(a), _) => println!("bank-emu: host link on tcp {a}"),
        (_, Some(p)) => println!("bank-emu: host link on pty {}", p.display()),
        _ => println!("bank-emu: host link connecting"),
    }
    tokio::signal::ctrl_c().await?;
    tokio::task::spawn_blocking(move || emu.shutdown()).await?;
    Ok(())
}
