//! The modem-bank firmware application (`firmware/bank`, with one `firmware/modem` engine per
//! slot) running on the host under tokio, so the host's bank carrier can be tested against the
//! very code the bank runs, without QEMU or hardware.
//!
//! [`BankEmu::start`] runs the bank on its own thread (a current-thread runtime, like the
//! single-core microcontroller) and returns once its host link endpoint is ready; dropping the
//! handle or [`BankEmu::shutdown`] stops it; [`BankEmu::reboot`] restarts the firmware with a
//! new boot id while the wires stay connected, as a watchdog reset would.
#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod ports;

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::thread::JoinHandle;

use bank::{BankState, LinkMemory, NoWatchdog};
use embassy_futures::join::{join, join_array};
use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use modem_sim::pty::Pty;
use modem_sim::{ModemConfig, ModemHandle};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::Instant;

pub use ports::PortError;
use ports::{Delay, Port, PowerKey, Tcp};

/// Most slots an emulated bank may have.
pub const MAX_SLOTS: usize = 8;

/// Where one slot's modem is.
#[derive(Debug, Clone)]
pub enum SlotSpec {
    /// A modem reachable over TCP (e.g. `modem-sim --listen`); reconnected if the connection
    /// drops. Its PWRKEY is not wired (a power cycle only waits).
    Tcp(SocketAddr),
    /// A simulated modem inside the emulator, wired to the slot's PWRKEY.
    Sim(Box<ModemConfig>),
}

/// Where the host link is.
#[derive(Debug, Clone)]
pub enum LinkSpec {
    /// Listen on this address (port 0 picks one; see [`BankEmu::link_addr`]) and take one host
    /// connection at a time.
    Listen(SocketAddr),
    /// Connect to a host listening here, and again whenever the connection drops.
    Connect(SocketAddr),
    /// A pty whose slave is symlinked at this path, for hosts that open a serial device.
    Pty(PathBuf),
}

/// What to emulate.
#[derive(Debug, Clone)]
pub struct EmuConfig {
    /// One entry per slot, in slot order (1 to [`MAX_SLOTS`]).
    pub slots: Vec<SlotSpec>,
    /// The host link.
    pub link: LinkSpec,
    /// The first boot id; random if `None`. Each reboot adds one.
    pub boot_id: Option<u32>,
    /// Application settings (the boot id in it is replaced by the one above).
    pub bank: bank::Config,
}

impl EmuConfig {
    /// `slots` and a link listening on an ephemeral loopback port, with the bank's defaults.
    pub fn new(slots: Vec<SlotSpec>) -> EmuConfig {
        EmuConfig {
            slots,
            link: LinkSpec::Listen(SocketAddr::from(([127, 0, 0, 1], 0))),
            boot_id: None,
            bank: bank::Config::new(0),
        }
    }
}

/// Why the emulator did not start.
#[derive(Debug, thiserror::Error)]
pub enum EmuError {
    /// No slots, or more than [`MAX_SLOTS`].
    #[error("a bank has 1 to {MAX_SLOTS} slots, not {0}")]
    SlotCount(usize),
    /// The link endpoint could not be opened.
    #[error("opening the host link: {0}")]
    Link(#[source] std::io::Error),
    /// The emulator thread or its runtime failed to start.
    #[error("starting the emulator thread: {0}")]
    Thread(#[source] std::io::Error),
}

enum Command {
    Reboot,
}

/// A running emulated bank.
#[derive(Debug)]
pub struct BankEmu {
    link_addr: Option<SocketAddr>,
    link_path: Option<PathBuf>,
    sims: Vec<Option<ModemHandle>>,
    commands: Option<mpsc::UnboundedSender<Command>>,
    thread: Option<JoinHandle<()>>,
}

impl BankEmu {
    /// Starts the bank; returns once the link endpoint is open (listening, linked, or being
    /// connected to).
    ///
    /// # Errors
    /// [`EmuError`] when the slot count is out of range or the link endpoint cannot be opened.
    pub fn start(config: EmuConfig) -> Result<BankEmu, EmuError> {
        let n = config.slots.len();
        if n == 0 || n > MAX_SLOTS {
            return Err(EmuError::SlotCount(n));
        }
        let sims: Vec<Option<ModemHandle>> = config
            .slots
            .iter()
            .map(|s| match s {
                SlotSpec::Sim(cfg) => Some(ModemHandle::new((**cfg).clone())),
                SlotSpec::Tcp(_) => None,
            })
            .collect();
        let (tx, rx) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread_sims = sims.clone();
        let thread = std::thread::Builder::new()
            .name("bank-emu".into())
            // The firmware's futures are large in debug builds (each engine's is several KB
            // before optimisation); they are boxed, but the poll stack is deep too.
            .stack_size(16 << 20)
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(EmuError::Thread(e)));
                        return;
                    }
                };
                let local = tokio::task::LocalSet::new();
                local.block_on(&rt, emulate(config, thread_sims, rx, ready_tx));
            })
            .map_err(EmuError::Thread)?;
        let ready = ready_rx
            .recv()
            .unwrap_or_else(|_| Err(EmuError::Thread(std::io::Error::other("thread died"))));
        let (link_addr, link_path) = match ready {
            Ok(v) => v,
            Err(e) => {
                let _ = thread.join();
                return Err(e);
            }
        };
        Ok(BankEmu {
            link_addr,
            link_path,
            sims,
            commands: Some(tx),
            thread: Some(thread),
        })
    }

    /// The address a host connects to, for [`LinkSpec::Listen`].
    pub fn link_addr(&self) -> Option<SocketAddr> {
        self.link_addr
    }

    /// The pty path a host opens, for [`LinkSpec::Pty`].
    pub fn link_path(&self) -> Option<&PathBuf> {
        self.link_path.as_ref()
    }

    /// The simulated modem of slot `i`, for [`SlotSpec::Sim`] slots: inject SMS and faults,
    /// read what it sent.
    pub fn sim(&self, i: usize) -> Option<&ModemHandle> {
        self.sims.get(i).and_then(Option::as_ref)
    }

    /// Reboots the firmware (a new boot id; every task starts over; RAM state is lost, modem
    /// storage and the wires are not).
    pub fn reboot(&self) {
        if let Some(tx) = &self.commands {
            let _ = tx.send(Command::Reboot);
        }
    }

    /// Stops the bank and waits for its thread.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        // Closing the channel ends the emulator loop.
        self.commands = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for BankEmu {
    fn drop(&mut self) {
        self.stop();
    }
}

type Ready = Result<(Option<SocketAddr>, Option<PathBuf>), EmuError>;

/// The emulator thread: opens the wires once, then runs boot after boot of the firmware until
/// the handle goes away.
async fn emulate(
    config: EmuConfig,
    sims: Vec<Option<ModemHandle>>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    ready: std::sync::mpsc::Sender<Ready>,
) {
    let opened = async {
        match &config.link {
            LinkSpec::Listen(addr) => {
                let listener = TcpListener::bind(addr).await?;
                let local = listener.local_addr()?;
                let port = Port::Tcp(Tcp::Listen {
                    listener,
                    conn: None,
                });
                Ok((port, Some(local), None))
            }
            LinkSpec::Connect(addr) => Ok((
                Port::Tcp(Tcp::Connect {
                    addr: *addr,
                    conn: None,
                }),
                None,
                None,
            )),
            LinkSpec::Pty(path) => Ok((Port::Pty(Pty::open(path)?), None, Some(path.clone()))),
        }
    };
    let (mut link, addr, path) = match opened.await {
        Ok(v) => v,
        Err(e) => {
            let _ = ready.send(Err(EmuError::Link(e)));
            return;
        }
    };
    let mut ports = Vec::new();
    for (spec, sim) in config.slots.iter().zip(&sims) {
        let port = match (spec, sim) {
            (SlotSpec::Tcp(addr), _) => Port::Tcp(Tcp::Connect {
                addr: *addr,
                conn: None,
            }),
            (SlotSpec::Sim(_), Some(sim)) => {
                let (ours, theirs) = tokio::io::duplex(4096);
                let s = sim.clone();
                tokio::task::spawn_local(async move {
                    let _ = s.serve(theirs).await;
                });
                Port::Pipe(ours)
            }
            // `start` makes a handle for every `Sim` slot; without one the line is dead.
            (SlotSpec::Sim(_), None) => Port::Pipe(tokio::io::duplex(1).0),
        };
        ports.push(port);
    }
    let _ = ready.send(Ok((addr, path)));
    let mut boot_id = config
        .boot_id
        .unwrap_or_else(|| RandomState::new().hash_one(std::process::id()) as u32);
    loop {
        let mut bank = config.bank.clone();
        bank.link.boot_id = boot_id;
        let boot = Box::pin(run_boot(bank, &mut ports, &sims, &mut link));
        tokio::select! {
            () = boot => {}
            cmd = commands.recv() => match cmd {
                Some(Command::Reboot) => boot_id = boot_id.wrapping_add(1),
                None => return,
            },
        }
    }
}

/// One boot of the firmware over the given wires; never returns (dropping it is the reboot).
async fn run_boot(
    config: bank::Config,
    ports: &mut [Port],
    sims: &[Option<ModemHandle>],
    link: &mut Port,
) {
    macro_rules! slots {
        ($($n:literal)*) => {
            match ports.len() {
                $($n => run_slots::<$n>(config, ports, sims, link).await,)*
                _ => {}
            }
        };
    }
    slots!(1 2 3 4 5 6 7 8);
}

async fn run_slots<const S: usize>(
    config: bank::Config,
    ports: &mut [Port],
    sims: &[Option<ModemHandle>],
    link: &mut Port,
) {
    // RAM of this boot: dropped (lost) with it.
    let engines: Box<[modem::slot::State<NoopRawMutex>; S]> =
        Box::new(core::array::from_fn(|_| modem::slot::State::new()));
    let state: Box<BankState<NoopRawMutex, S>> = Box::new(BankState::new());
    let mut memory: Box<LinkMemory<S>> = Box::new(LinkMemory::new());
    let mut controls = Vec::with_capacity(S);
    let mut runners = Vec::with_capacity(S);
    for ((engine, port), sim) in engines.iter().zip(ports.iter_mut()).zip(sims) {
        let key = PowerKey {
            sim: sim.clone(),
            pressed: None,
        };
        let (control, runner) = modem::slot::new(engine, config.modem.clone(), port, key, Delay);
        controls.push(control);
        runners.push(runner.run());
    }
    let (Ok(controls), Ok(runners)) = (<[_; S]>::try_from(controls), <[_; S]>::try_from(runners))
    else {
        return;
    };
    let start = Instant::now();
    let clock = move || u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    let (link_runner, agents) = bank::new(
        &*state,
        &mut *memory,
        config,
        controls,
        link,
        clock,
        Delay,
        NoWatchdog,
    );
    let agents = agents.map(|a| a.run());
    join(
        link_runner.run(),
        join(join_array(agents), join_array(runners)),
    )
    .await;
}
