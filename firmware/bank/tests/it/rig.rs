//! The test rig: the real bank application with real AT engines against simulated modems
//! (`tests/modem-sim`) over in-memory pipes, and a host end driven by `firmware/link`'s
//! `HostSession`, all on one thread with tokio's paused clock (seconds of modem latency cost
//! nothing, and no test sleeps to synchronise: every wait is for a link event, bounded).

use std::collections::VecDeque;
use std::time::Duration;

use bank::{BankState, LinkMemory, NoWatchdog};
use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use gsm::{Address, PlanOptions};
use link::msg::{HostTag, Pdu, SlotId, SubmitOutcome};
use link::{BankToHost, Event, HostSession, HostToBank, MAX_WIRE_LEN};
use modem::slot;
use modem_sim::{ModemConfig, ModemHandle};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Slots in every rig.
pub(crate) const SLOTS: usize = 4;

/// An `embedded-io-async` port over a tokio byte stream. `AsyncReadExt::read` is cancel-safe,
/// as the bank and the engine require.
pub(crate) struct Port<T>(pub(crate) T);

#[derive(Debug)]
pub(crate) struct PortError;

impl std::fmt::Display for PortError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("pipe closed")
    }
}

impl std::error::Error for PortError {}

impl embedded_io_async::Error for PortError {
    fn kind(&self) -> embedded_io_async::ErrorKind {
        embedded_io_async::ErrorKind::Other
    }
}

impl<T> embedded_io_async::ErrorType for Port<T> {
    type Error = PortError;
}

impl<T: AsyncRead + Unpin> embedded_io_async::Read for Port<T> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, PortError> {
        self.0.read(buf).await.map_err(|_| PortError)
    }
}

impl<T: AsyncWrite + Unpin> embedded_io_async::Write for Port<T> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, PortError> {
        self.0.write(buf).await.map_err(|_| PortError)
    }

    async fn flush(&mut self) -> Result<(), PortError> {
        self.0.flush().await.map_err(|_| PortError)
    }
}

/// `DelayNs` on tokio's clock.
#[derive(Clone)]
pub(crate) struct Delay;

impl embedded_hal_async::delay::DelayNs for Delay {
    async fn delay_ns(&mut self, ns: u32) {
        tokio::time::sleep(Duration::from_nanos(u64::from(ns))).await;
    }
}

/// PWRKEY wired to the simulator: releasing a press of at least 100 ms toggles its power.
pub(crate) struct PowerKey {
    sim: ModemHandle,
    pressed: Option<Instant>,
}

impl embedded_hal::digital::ErrorType for PowerKey {
    type Error = core::convert::Infallible;
}

impl embedded_hal::digital::OutputPin for PowerKey {
    fn set_high(&mut self) -> Result<(), Self::Error> {
        self.pressed = Some(Instant::now());
        Ok(())
    }

    fn set_low(&mut self) -> Result<(), Self::Error> {
        if let Some(t) = self.pressed.take()
            && t.elapsed() >= Duration::from_millis(100)
        {
            self.sim.power_key();
        }
        Ok(())
    }
}

/// The bank (engines, agents, link task) as one "boot": dropping its tasks is a reboot.
struct Boot {
    tasks: Vec<JoinHandle<()>>,
}

impl Boot {
    fn start(modems: &[ModemHandle], link_io: DuplexStream, boot_id: u32) -> Boot {
        let mut tasks = Vec::new();
        let mut controls = Vec::new();
        for sim in modems {
            let (ours, theirs) = tokio::io::duplex(4096);
            let s = sim.clone();
            tasks.push(tokio::task::spawn_local(async move {
                let _ = s.serve(theirs).await;
            }));
            let state: &'static slot::State<NoopRawMutex> = Box::leak(Box::new(slot::State::new()));
            let key = PowerKey {
                sim: sim.clone(),
                pressed: None,
            };
            let (control, runner) = slot::new(state, slot::Config::new(), Port(ours), key, Delay);
            tasks.push(tokio::task::spawn_local(async move {
                runner.run().await;
            }));
            controls.push(control);
        }
        let controls: [slot::Control<'static, NoopRawMutex>; SLOTS] =
            controls.try_into().ok().expect("one control per slot");
        let state: &'static BankState<NoopRawMutex, SLOTS> = Box::leak(Box::new(BankState::new()));
        let start = Instant::now();
        let clock = move || u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
        let memory: &'static mut LinkMemory<SLOTS> = Box::leak(Box::new(LinkMemory::new()));
        let config = bank::Config::new(boot_id);
        let (link, agents) = bank::new(
            state,
            memory,
            config,
            controls,
            Port(link_io),
            clock,
            Delay,
            NoWatchdog,
        );
        tasks.push(tokio::task::spawn_local(async move {
            let _ = link.run().await;
        }));
        for agent in agents {
            tasks.push(tokio::task::spawn_local(async move {
                let _ = agent.run().await;
            }));
        }
        Boot { tasks }
    }

    fn stop(self) {
        for t in self.tasks {
            t.abort();
        }
    }
}

/// Simulated modems, the bank, and the host's end of the link.
pub(crate) struct Rig {
    pub(crate) sims: Vec<ModemHandle>,
    boot: Option<Boot>,
    pub(crate) host: Host,
    relay: Option<JoinHandle<()>>,
}

impl Rig {
    /// Four simulated modems with `cfg`, the bank, and a host on a clean line.
    pub(crate) fn start(cfg: ModemConfig) -> Rig {
        Rig::start_with(vec![cfg; SLOTS], None)
    }

    /// One modem config per slot; `corrupt` is the share of link bytes to damage (each way).
    pub(crate) fn start_with(cfgs: Vec<ModemConfig>, corrupt: Option<f64>) -> Rig {
        assert_eq!(cfgs.len(), SLOTS);
        let sims: Vec<ModemHandle> = cfgs.into_iter().map(ModemHandle::new).collect();
        let (bank_end, host_end, relay) = link_pipe(corrupt);
        let boot = Boot::start(&sims, bank_end, 0xB0_0001);
        Rig {
            sims,
            boot: Some(boot),
            host: Host::new(host_end, 0x4057_0001),
            relay,
        }
    }

    /// Reboots the bank: every task of the firmware stops and starts again with a new boot id
    /// (the modems keep running, as they would).
    pub(crate) fn reboot_bank(&mut self, boot_id: u32) {
        if let Some(b) = self.boot.take() {
            b.stop();
        }
        if let Some(r) = self.relay.take() {
            r.abort();
        }
        let (bank_end, host_end, relay) = link_pipe(None);
        self.boot = Some(Boot::start(&self.sims, bank_end, boot_id));
        self.relay = relay;
        self.host.io = host_end;
    }

    /// Restarts the host: a new session with a new boot id, and nothing remembered.
    pub(crate) fn restart_host(&mut self, boot_id: u32) {
        self.host.session = HostSession::new(link::Config::new(boot_id));
        self.host.pending.clear();
    }

    /// Sends on every slot and waits until all of them report `Ready`.
    pub(crate) async fn all_ready(&mut self) {
        let mut ready = [false; SLOTS];
        self.host
            .expect(Duration::from_secs(120), |ev| {
                if let Event::Message(BankToHost::SlotStatus(s)) = ev
                    && s.state == link::msg::SlotState::Ready
                {
                    ready[usize::from(s.slot.0)] = true;
                }
                ready.iter().all(|r| *r).then_some(())
            })
            .await;
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        if let Some(b) = self.boot.take() {
            b.stop();
        }
    }
}

/// The link between the bank and the host: a direct pipe, or two pipes with a relay task that
/// damages the given share of bytes (replaced by a random value) in each direction.
fn link_pipe(corrupt: Option<f64>) -> (DuplexStream, DuplexStream, Option<JoinHandle<()>>) {
    let Some(p) = corrupt else {
        let (a, b) = tokio::io::duplex(1 << 16);
        return (a, b, None);
    };
    let (bank_end, relay_bank) = tokio::io::duplex(1 << 16);
    let (relay_host, host_end) = tokio::io::duplex(1 << 16);
    let relay = tokio::task::spawn_local(async move {
        let (br, bw) = tokio::io::split(relay_bank);
        let (hr, hw) = tokio::io::split(relay_host);
        tokio::join!(corrupting_copy(br, hw, p, 1), corrupting_copy(hr, bw, p, 2));
    });
    (bank_end, host_end, Some(relay))
}

async fn corrupting_copy(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    p: f64,
    seed: u64,
) {
    let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        // xorshift64*
        rng ^= rng >> 12;
        rng ^= rng << 25;
        rng ^= rng >> 27;
        rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let threshold = (p * u64::MAX as f64) as u64;
    let mut buf = [0u8; 512];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        for b in &mut buf[..n] {
            if next() < threshold {
                *b = next() as u8;
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// The host's end: a `HostSession` over the pipe, pumped by the waiting methods.
pub(crate) struct Host {
    session: HostSession<8>,
    io: DuplexStream,
    start: Instant,
    pending: VecDeque<Event<BankToHost>>,
    /// Every event received, taken or not, for failure messages and counting.
    pub(crate) seen: Vec<Event<BankToHost>>,
}

impl Host {
    fn new(io: DuplexStream, boot_id: u32) -> Host {
        Host {
            session: HostSession::new(link::Config::new(boot_id)),
            io,
            start: Instant::now(),
            pending: VecDeque::new(),
            seen: Vec::new(),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Writes what the session has, then waits for input, a session timer or `until`.
    async fn pump(&mut self, until: Instant) {
        let mut out = [0u8; MAX_WIRE_LEN];
        let now = self.now();
        while let Some(n) = self.session.poll_transmit(now, &mut out) {
            self.io.write_all(&out[..n]).await.expect("host write");
        }
        let timer = self
            .session
            .next_timeout()
            .map(|t| self.start + Duration::from_millis(t))
            .unwrap_or(until)
            .min(until);
        let mut buf = [0u8; 512];
        tokio::select! {
            r = self.io.read(&mut buf) => {
                let n = r.expect("host read");
                assert!(n > 0, "bank closed the link");
                let now = self.now();
                let (pending, seen) = (&mut self.pending, &mut self.seen);
                self.session.handle_bytes(&buf[..n], now, |ev| {
                    seen.push(ev.clone());
                    pending.push_back(ev);
                });
            }
            () = tokio::time::sleep_until(timer) => {
                let now = self.now();
                let (pending, seen) = (&mut self.pending, &mut self.seen);
                self.session.handle_timeout(now, |ev| {
                    seen.push(ev.clone());
                    pending.push_back(ev);
                });
            }
        }
    }

    /// Takes the first event not yet taken for which `f` returns `Some` (events arrive in any
    /// order; the others stay for later calls); fails the test after `timeout`.
    pub(crate) async fn expect<R>(
        &mut self,
        timeout: Duration,
        mut f: impl FnMut(&Event<BankToHost>) -> Option<R>,
    ) -> R {
        let until = Instant::now() + timeout;
        let mut checked = 0;
        loop {
            while let Some(ev) = self.pending.get(checked) {
                if let Some(r) = f(ev) {
                    self.pending.remove(checked);
                    return r;
                }
                checked += 1;
            }
            assert!(
                Instant::now() < until,
                "no matching link event within {timeout:?}; last events: {:#?}",
                self.seen.iter().rev().take(12).collect::<Vec<_>>()
            );
            self.pump(until).await;
        }
    }

    /// Keeps the link running for `d`; takes and returns the events that arrived meanwhile.
    pub(crate) async fn idle(&mut self, d: Duration) -> Vec<Event<BankToHost>> {
        let until = Instant::now() + d;
        let before = self.pending.len();
        while Instant::now() < until {
            self.pump(until).await;
        }
        self.pending.split_off(before).into()
    }

    /// Queues `msg`, pumping the link while the window is full.
    pub(crate) async fn send(&mut self, msg: HostToBank) {
        let until = Instant::now() + Duration::from_secs(60);
        while self.session.window_free() == 0 {
            assert!(Instant::now() < until, "host window stayed full");
            self.pump(until).await;
        }
        self.session.send(&msg).expect("host send");
    }

    /// Submits `pdu` on `slot` with `tag`.
    pub(crate) async fn submit(&mut self, slot: u8, tag: u32, pdu: Pdu) {
        self.send(HostToBank::Submit {
            slot: SlotId(slot),
            tag: HostTag(tag),
            pdu,
        })
        .await;
    }

    /// Waits for the result of `tag`.
    pub(crate) async fn result(&mut self, tag: u32, timeout: Duration) -> SubmitOutcome {
        self.expect(timeout, |ev| match ev {
            Event::Message(BankToHost::SubmitResult {
                tag: t, outcome, ..
            }) if *t == HostTag(tag) => Some(*outcome),
            _ => None,
        })
        .await
    }

    /// Link statistics of the host's session.
    pub(crate) fn stats(&self) -> link::Stats {
        self.session.stats()
    }
}

/// An SMS-SUBMIT for `text` to `+4712345678` with SCA `00` (the modem's default SMSC).
pub(crate) fn submit_pdu(text: &str, status_report: bool) -> Pdu {
    let plan = gsm::plan(text, &PlanOptions::default()).expect("plan");
    let seg = plan.segments(1).next().expect("one segment");
    let submit = seg
        .submit(Address::parse("+4712345678").expect("address"))
        .with_status_report(status_report);
    let mut buf = [0u8; 200];
    let enc = submit.encode_with_sca(None, &mut buf).expect("encode");
    Pdu::new(
        &buf[..enc.len],
        u8::try_from(enc.tpdu_len).expect("tpdu len"),
    )
    .expect("pdu")
}

/// Messages (stored SMS and reports) in a simulated modem's storage.
pub(crate) fn stored(sim: &ModemHandle) -> usize {
    sim.with(|m| m.store_usage(modem_sim::Mem::Sm).0 + m.store_usage(modem_sim::Mem::Me).0)
}

impl Host {
    /// Forgets every event not taken yet.
    pub(crate) fn clear(&mut self) {
        self.pending.clear();
    }

    /// Takes an inbound SMS already received, if any.
    pub(crate) fn try_take_inbound(&mut self) -> Option<(SlotId, u16, Pdu)> {
        let pos = self
            .pending
            .iter()
            .position(|e| matches!(e, Event::Message(BankToHost::InboundSms { .. })))?;
        match self.pending.remove(pos)? {
            Event::Message(BankToHost::InboundSms { slot, index, pdu }) => Some((slot, index, pdu)),
            _ => None,
        }
    }
}
