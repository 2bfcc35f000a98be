//! Running modems on tokio: a [`ModemHandle`] shares one sans-I/O [`Modem`] between the task
//! that serves its byte stream (a pty, a TCP connection, an in-memory duplex) and the callers
//! that inject messages and faults or read the event log. [`Sim`] starts several modems on
//! ptys and TCP listeners and stops them cleanly.
//!
//! Time is tokio's clock (`tokio::time::Instant`), so tests may pause it: latencies of seconds
//! then cost nothing. Waiting for a condition ([`ModemHandle::wait_for`]) wakes on every change
//! of the modem, never by polling with sleeps.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::clock::Millis;
use crate::config::ModemConfig;
use crate::modem::{Fault, InboundSms, InjectError, Modem};
use crate::pty::Pty;
use crate::record::{self, Event, SentMessage, Stats, Submitted};

#[derive(Debug)]
struct Shared {
    modem: Mutex<Modem>,
    /// Wakes the serving task after a change from outside (an injection writes a URC).
    wake: Notify,
    /// Bumped after every change, for [`ModemHandle::wait_for`].
    version: watch::Sender<u64>,
    start: Instant,
}

/// A shared handle to one simulated modem. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ModemHandle {
    inner: Arc<Shared>,
}

/// [`ModemHandle::wait_for`] gave up.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("condition not met within {0:?}")]
pub struct Timeout(pub Duration);

impl ModemHandle {
    /// A modem with `cfg`, not yet serving anything. Its clock starts now.
    pub fn new(cfg: ModemConfig) -> ModemHandle {
        let (version, _) = watch::channel(0);
        ModemHandle {
            inner: Arc::new(Shared {
                modem: Mutex::new(Modem::new(cfg)),
                wake: Notify::new(),
                version,
                start: Instant::now(),
            }),
        }
    }

    /// Milliseconds on the modem's clock.
    pub fn now(&self) -> Millis {
        u64::try_from(self.inner.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn lock(&self) -> MutexGuard<'_, Modem> {
        // A panic while holding the lock leaves a modem in a consistent state (every method
        // finishes its update before returning), so a poisoned lock is still usable.
        self.inner.modem.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn changed(&self) {
        self.inner.wake.notify_one();
        self.inner.version.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Runs `f` on the modem (e.g. to read its state).
    pub fn with<R>(&self, f: impl FnOnce(&Modem) -> R) -> R {
        f(&self.lock())
    }

    /// Runs `f` on the modem mutably, then lets the serving task write what it produced.
    pub fn with_mut<R>(&self, f: impl FnOnce(&mut Modem, Millis) -> R) -> R {
        let now = self.now();
        let r = f(&mut self.lock(), now);
        self.changed();
        r
    }

    /// The network delivers `sms`; returns the number of parts.
    pub fn inject(&self, sms: &InboundSms) -> Result<usize, InjectError> {
        self.with_mut(|m, now| m.inject_sms(now, sms))
    }

    /// The network delivers a raw SMS-DELIVER or SMS-STATUS-REPORT (hex with SCA).
    pub fn inject_pdu(&self, pdu_hex: &str) -> Result<(), InjectError> {
        self.with_mut(|m, now| m.inject_pdu(now, pdu_hex))
    }

    /// Applies a fault.
    pub fn fault(&self, fault: Fault) {
        self.with_mut(|m, now| m.fault(now, fault));
    }

    /// Presses the power key (the modem reboots; a hang ends).
    pub fn power_key(&self) {
        self.with_mut(|m, now| m.power_key(now));
    }

    /// A copy of the event log.
    pub fn log(&self) -> Vec<Event> {
        self.with(|m| m.log().to_vec())
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.with(Modem::stats)
    }

    /// Every accepted SMS-SUBMIT, in order.
    pub fn accepted(&self) -> Vec<Submitted> {
        self.with(|m| {
            m.log()
                .iter()
                .filter_map(|e| match e {
                    Event::Accepted(s) => Some(s.clone()),
                    _ => None,
                })
                .collect()
        })
    }

    /// Accepted parts reassembled into messages.
    pub fn messages(&self) -> Vec<SentMessage> {
        self.with(|m| record::messages(m.log()))
    }

    /// Waits until `f` returns `Some`, re-checking after every change of the modem.
    pub async fn wait_for<R>(
        &self,
        timeout: Duration,
        mut f: impl FnMut(&Modem) -> Option<R>,
    ) -> Result<R, Timeout> {
        let mut rx = self.inner.version.subscribe();
        let check = async {
            loop {
                if let Some(r) = self.with(&mut f) {
                    return r;
                }
                if rx.changed().await.is_err() {
                    // Cannot happen: we hold the sender through `self`.
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::time::timeout(timeout, check)
            .await
            .map_err(|_| Timeout(timeout))
    }

    /// Waits until the log satisfies `f`.
    pub async fn wait_log(
        &self,
        timeout: Duration,
        mut f: impl FnMut(&[Event]) -> bool,
    ) -> Result<(), Timeout> {
        self.wait_for(timeout, |m| f(m.log()).then_some(())).await
    }

    /// Serves the modem over `io` until the peer closes it or it fails.
    ///
    /// Cancellation: safe; the modem keeps its state, and unread output stays queued for the
    /// next connection.
    pub async fn serve<IO>(&self, mut io: IO) -> io::Result<()>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let mut buf = [0u8; 512];
        loop {
            let (out, deadline) = {
                let now = self.now();
                let mut m = self.lock();
                m.poll(now);
                (m.take_output(), m.next_deadline())
            };
            self.inner.version.send_modify(|v| *v = v.wrapping_add(1));
            if !out.is_empty() {
                io.write_all(&out).await?;
                io.flush().await?;
            }
            let sleep = async {
                match deadline {
                    Some(t) => {
                        tokio::time::sleep_until(self.inner.start + Duration::from_millis(t)).await
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = io.read(&mut buf) => {
                    let n = r?;
                    if n == 0 {
                        return Ok(());
                    }
                    let now = self.now();
                    self.lock().feed(now, buf.get(..n).unwrap_or_default());
                }
                () = sleep => {}
                () = self.inner.wake.notified() => {}
            }
        }
    }

    /// Serves one connection at a time from `listener`, forever. Output produced while no
    /// client is connected is dropped (QEMU reconnects after a restart; it must not see stale
    /// answers).
    pub async fn serve_tcp(&self, listener: TcpListener) -> io::Result<()> {
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            self.with_mut(|m, now| {
                m.poll(now);
                m.take_output();
            });
            // A connection error ends that connection only.
            let _ = self.serve(stream).await;
        }
    }

    /// Serves the modem on `pty` forever.
    pub async fn serve_pty(&self, mut pty: Pty) -> io::Result<()> {
        loop {
            self.serve(&mut pty).await?;
            // End of file cannot happen while the pty holds its own slave; if it does, do
            // not spin.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Where a simulated modem is reachable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// A pty whose slave is symlinked at this path.
    Pty(PathBuf),
    /// A TCP listener (port 0 picks a free one; [`Sim::endpoints`] says which).
    Tcp(SocketAddr),
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Pty(p) => write!(f, "pty {}", p.display()),
            Endpoint::Tcp(a) => write!(f, "tcp {a}"),
        }
    }
}

/// A running set of simulated modems.
#[derive(Debug)]
pub struct Sim {
    modems: Vec<ModemHandle>,
    endpoints: Vec<Endpoint>,
    slaves: Vec<Option<PathBuf>>,
    tasks: Vec<JoinHandle<io::Result<()>>>,
}

impl Sim {
    /// Starts one modem per `(endpoint, config)`. Each listener is bound (and each pty linked)
    /// before this returns, so clients may connect at once.
    pub async fn start(specs: Vec<(Endpoint, ModemConfig)>) -> io::Result<Sim> {
        let mut sim = Sim {
            modems: Vec::new(),
            endpoints: Vec::new(),
            slaves: Vec::new(),
            tasks: Vec::new(),
        };
        for (endpoint, cfg) in specs {
            let handle = ModemHandle::new(cfg);
            match endpoint {
                Endpoint::Pty(path) => {
                    let pty = Pty::open(&path)?;
                    sim.slaves.push(Some(pty.slave_path().to_owned()));
                    sim.endpoints.push(Endpoint::Pty(path));
                    let h = handle.clone();
                    sim.tasks
                        .push(tokio::spawn(async move { h.serve_pty(pty).await }));
                }
                Endpoint::Tcp(addr) => {
                    let listener = TcpListener::bind(addr).await?;
                    sim.endpoints.push(Endpoint::Tcp(listener.local_addr()?));
                    sim.slaves.push(None);
                    let h = handle.clone();
                    sim.tasks
                        .push(tokio::spawn(async move { h.serve_tcp(listener).await }));
                }
            }
            sim.modems.push(handle);
        }
        Ok(sim)
    }

    /// The modems, in the order given.
    pub fn modems(&self) -> &[ModemHandle] {
        &self.modems
    }

    /// Modem `i`.
    pub fn modem(&self, i: usize) -> Option<&ModemHandle> {
        self.modems.get(i)
    }

    /// Where each modem is reachable (TCP ports resolved).
    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    /// The pty slave device of modem `i`, if it is on a pty.
    pub fn slave(&self, i: usize) -> Option<&PathBuf> {
        self.slaves.get(i).and_then(Option::as_ref)
    }

    /// Stops every modem: listeners close, ptys and their symlinks are removed.
    pub async fn shutdown(self) {
        for t in &self.tasks {
            t.abort();
        }
        for t in self.tasks {
            // An aborted task drops its pty, which removes the link.
            let _ = t.await;
        }
    }
}
