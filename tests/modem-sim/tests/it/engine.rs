//! Our AT engine (`firmware/modem`'s slot supervisor) against the simulator, over an in-memory
//! duplex on tokio's paused clock: the same scenarios the independent clients run (initialise,
//! GSM-7, UCS-2 and 3-part sends with status reports, an inbound SMS) on every profile, and
//! every fault the simulator can inject.
//!
//! Two invariants are checked in every test, against the simulator's event log:
//! - no message is reported sent (`Ok(mr)`) that the simulator did not accept with that MR;
//! - no inbound message is deleted from the modem before the test acknowledged it.
//!
//! The engine's PWRKEY pin is wired to the simulator's power key, so a power cycle reboots it.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use gsm::{Address, PlanOptions};
use modem::profile::ProfileKind;
use modem::slot::{self, Config, Control, Event, SendError, SlotState, SlotStatus};
use modem_sim::{Event as SimEvent, Fault, InboundSms, ModemConfig, ModemHandle, Profile};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

/// The engine's serial port: one end of a tokio duplex.
struct Port(DuplexStream);

#[derive(Debug)]
struct PortError;

impl std::fmt::Display for PortError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("duplex closed")
    }
}

impl std::error::Error for PortError {}

impl embedded_io_async::Error for PortError {
    fn kind(&self) -> embedded_io_async::ErrorKind {
        embedded_io_async::ErrorKind::Other
    }
}

impl embedded_io_async::ErrorType for Port {
    type Error = PortError;
}

impl embedded_io_async::Read for Port {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, PortError> {
        self.0.read(buf).await.map_err(|_| PortError)
    }
}

impl embedded_io_async::Write for Port {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, PortError> {
        self.0.write(buf).await.map_err(|_| PortError)
    }

    async fn flush(&mut self) -> Result<(), PortError> {
        self.0.flush().await.map_err(|_| PortError)
    }
}

/// `DelayNs` on tokio's clock.
#[derive(Clone)]
struct Delay;

impl embedded_hal_async::delay::DelayNs for Delay {
    async fn delay_ns(&mut self, ns: u32) {
        tokio::time::sleep(Duration::from_nanos(u64::from(ns))).await;
    }
}

/// PWRKEY wired to the simulator: releasing a press of ≥ 100 ms reboots the modem.
struct PowerKey {
    sim: ModemHandle,
    pressed: Option<tokio::time::Instant>,
}

impl embedded_hal::digital::ErrorType for PowerKey {
    type Error = core::convert::Infallible;
}

impl embedded_hal::digital::OutputPin for PowerKey {
    fn set_high(&mut self) -> Result<(), Self::Error> {
        self.pressed = Some(tokio::time::Instant::now());
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

/// The engine and the simulator wired together.
struct Rig {
    sim: ModemHandle,
    control: Control<'static, NoopRawMutex>,
    events: Rc<RefCell<Vec<Event>>>,
    /// Acks given, with the simulator's clock at the time.
    acks: Vec<(modem::slot::StoredId, u64)>,
    sent: Vec<u8>,
}

const DEST: &str = "+4712345678";

/// The SMS-SUBMIT PDUs (SCA `00`) for `text`, with their TPDU lengths.
fn pdus(text: &str, srr: bool) -> Vec<(Vec<u8>, u8)> {
    let plan = gsm::plan(text, &PlanOptions::default()).expect("plan");
    plan.segments(42)
        .map(|seg| {
            let submit = seg
                .submit(Address::parse(DEST).expect("address"))
                .with_status_report(srr);
            let mut buf = [0u8; 200];
            let enc = submit.encode_with_sca(None, &mut buf).expect("encode");
            (buf[..enc.len].to_vec(), enc.tpdu_len as u8)
        })
        .collect()
}

impl Rig {
    fn start(cfg: ModemConfig, engine: Config) -> Rig {
        let sim = ModemHandle::new(cfg);
        let (ours, theirs) = tokio::io::duplex(4096);
        let s = sim.clone();
        tokio::task::spawn_local(async move {
            let _ = s.serve(theirs).await;
        });
        let state: &'static slot::State<NoopRawMutex> = Box::leak(Box::new(slot::State::new()));
        let key = PowerKey {
            sim: sim.clone(),
            pressed: None,
        };
        let (control, runner) = slot::new(state, engine, Port(ours), key, Delay);
        tokio::task::spawn_local(runner.run());
        let events = Rc::new(RefCell::new(Vec::new()));
        let sink = events.clone();
        tokio::task::spawn_local(async move {
            loop {
                let e = control.next_event().await;
                sink.borrow_mut().push(e);
            }
        });
        Rig {
            sim,
            control,
            events,
            acks: Vec::new(),
            sent: Vec::new(),
        }
    }

    /// Waits (on the paused clock) until `f` holds for the engine's status and events.
    async fn until(&self, what: &str, secs: u64, mut f: impl FnMut(&SlotStatus, &[Event]) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            if f(&self.control.status(), &self.events.borrow()) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: not within {secs} s; status {:?}; sim {}",
                self.control.status(),
                self.sim.stats()
            );
            // Let the engine and the simulator run; the clock advances only when both idle.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn ready(&self) {
        self.until("ready", 120, |s, _| s.state == SlotState::Ready)
            .await;
    }

    /// Sends `text`; returns each part's result. Successful MRs are remembered for the
    /// accepted-vs-reported check.
    async fn send(&mut self, text: &str, srr: bool) -> Vec<Result<u8, SendError>> {
        let mut results = Vec::new();
        for (pdu, len) in pdus(text, srr) {
            let r = self.control.submit(&pdu, len).await;
            if let Ok(mr) = r {
                self.sent.push(mr);
            }
            results.push(r);
        }
        results
    }

    /// Takes the stored inbound/report events not yet acknowledged and acknowledges them.
    async fn ack_all(&mut self) -> usize {
        let ids: Vec<_> =
            self.events
                .borrow()
                .iter()
                .filter_map(|e| match e {
                    Event::Inbound { id: Some(id), .. }
                    | Event::StatusReport { id: Some(id), .. } => Some(*id),
                    _ => None,
                })
                .filter(|id| !self.acks.iter().any(|(a, _)| a == id))
                .collect();
        for id in &ids {
            self.acks.push((*id, self.sim.now()));
            self.control.ack(*id).await;
        }
        ids.len()
    }

    /// The invariants, against the simulator's log.
    fn check_invariants(&self) {
        let log = self.sim.log();
        let accepted: Vec<u8> = log
            .iter()
            .filter_map(|e| match e {
                SimEvent::Accepted(s) => Some(s.mr),
                _ => None,
            })
            .collect();
        for mr in &self.sent {
            assert!(
                accepted.contains(mr),
                "engine reported MR {mr} sent; simulator accepted {accepted:?}"
            );
        }
        for e in &log {
            if let SimEvent::Deleted { at, mem, index, .. } = e {
                let acked = self.acks.iter().any(|(id, t)| {
                    id.index == *index && id.mem.as_str() == mem.as_str() && t <= at
                });
                assert!(
                    acked,
                    "{mem} {index} deleted at {at} ms without an ack before it"
                );
            }
        }
    }

    fn reports(&self) -> usize {
        self.events
            .borrow()
            .iter()
            .filter(|e| matches!(e, Event::StatusReport { .. }))
            .count()
    }

    fn inbound(&self) -> usize {
        self.events
            .borrow()
            .iter()
            .filter(|e| matches!(e, Event::Inbound { .. }))
            .count()
    }
}

fn sim_config(profile: Profile) -> ModemConfig {
    let mut cfg = ModemConfig::new(profile);
    cfg.send_latency_ms = 2_500;
    cfg.receipt_delay_ms = 4_000;
    cfg
}

fn engine_config() -> Config {
    Config {
        health_interval_ms: 10_000,
        sim_poll_ms: 5_000,
        reg_poll_ms: 2_000,
        backoff_min_ms: 5_000,
        ..Config::new()
    }
}

/// Runs `f` on a current-thread runtime with a paused clock and a local task set.
fn paused<F: std::future::Future<Output = ()>>(f: impl FnOnce() -> F) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, f());
}

const LONG: &str = "Long message part test 0123456789 Long message part test 0123456789 \
    Long message part test 0123456789 Long message part test 0123456789 Long message part test \
    0123456789 Long message part test 0123456789 Long message part test 0123456789 Long message \
    part test 0123456789 Long message part test 0123456789 Long message part test 0123456789 \
    Long message part test 0123456789 Long mess";

#[test]
fn engine_sends_receives_and_gets_reports_on_every_profile() {
    for (profile, kind) in [
        (Profile::Sim800, ProfileKind::Sim800),
        (Profile::Ec25, ProfileKind::Ec25),
        (Profile::Huawei, ProfileKind::Huawei),
        (Profile::Generic, ProfileKind::Generic),
    ] {
        paused(|| async move {
            let mut rig = Rig::start(sim_config(profile), engine_config());
            rig.ready().await;
            assert_eq!(rig.control.status().profile, Some(kind), "{profile}");
            assert_eq!(rig.control.status().operator.as_deref(), Some("SimNet"));
            for text in ["Hello from Outpost", "Привет ÆØÅ 你好", LONG] {
                for r in rig.send(text, true).await {
                    assert!(r.is_ok(), "{profile}: {text}: {r:?}");
                }
            }
            let messages = rig.sim.messages();
            let texts: Vec<&str> = messages.iter().map(|m| m.text.as_str()).collect();
            assert_eq!(
                texts,
                ["Hello from Outpost", "Привет ÆØÅ 你好", LONG],
                "{profile}"
            );
            assert_eq!(messages[2].parts.len(), 3);
            assert!(
                messages
                    .iter()
                    .all(|m| m.complete && m.parts.iter().all(|p| p.srr))
            );
            // Five parts, five reports, each offered once and deleted only after our ack.
            rig.until("reports", 120, |_, _| rig.reports() >= 5).await;
            assert!(
                rig.sim
                    .log()
                    .iter()
                    .all(|e| !matches!(e, SimEvent::Deleted { .. }))
            );
            rig.sim
                .inject(&InboundSms::new("+4791234567", "Hello Outpost"))
                .expect("inject");
            rig.until("inbound", 60, |_, _| rig.inbound() >= 1).await;
            assert_eq!(rig.ack_all().await, 6);
            rig.until("deleted", 60, |s, _| s.counters.deleted >= 6)
                .await;
            rig.check_invariants();
            let c = rig.control.status().counters;
            assert_eq!(
                (c.sent, c.send_failures, c.timeouts),
                (5, 0, 0),
                "{profile}: {c:?}"
            );
        });
    }
}

#[test]
fn hang_then_power_cycle_recovers() {
    paused(|| async {
        let mut rig = Rig::start(sim_config(Profile::Sim800), engine_config());
        rig.ready().await;
        rig.sim.fault(Fault::Hang(None));
        rig.until("re-init and power cycle", 600, |s, _| {
            s.counters.reinits >= 1 && s.counters.power_cycles >= 1 && s.state == SlotState::Ready
        })
        .await;
        assert!(rig.sim.stats().reboots >= 1);
        assert!(
            rig.send("after the hang", false)
                .await
                .iter()
                .all(Result::is_ok)
        );
        rig.check_invariants();
    });
}

#[test]
fn cms_error_after_body_is_a_typed_failure_not_sent() {
    paused(|| async {
        let mut rig = Rig::start(sim_config(Profile::Sim800), engine_config());
        rig.ready().await;
        rig.sim.fault(Fault::CmsAfterBody {
            code: 500,
            count: 1,
        });
        let r = rig.send("refused", false).await;
        assert!(matches!(r[..], [Err(SendError::Cms(_))]), "{r:?}");
        assert_eq!(rig.sim.stats().accepted, 0);
        assert_eq!(rig.sim.stats().rejected, 1);
        let r = rig.send("accepted", false).await;
        assert!(matches!(r[..], [Ok(1)]), "{r:?}");
        let c = rig.control.status().counters;
        assert_eq!((c.sent, c.send_failures), (1, 1));
        rig.check_invariants();
    });
}

#[test]
fn sim_removed_stays_no_sim_until_reinserted() {
    paused(|| async {
        let mut rig = Rig::start(sim_config(Profile::Sim800), engine_config());
        rig.ready().await;
        rig.sim.fault(Fault::SimRemoved);
        rig.until("no SIM", 60, |s, _| s.state == SlotState::NoSim)
            .await;
        // It stays there: minutes later, still no SIM, and sends are refused up front.
        tokio::time::sleep(Duration::from_secs(120)).await;
        assert_eq!(rig.control.status().state, SlotState::NoSim);
        assert!(rig.control.status().counters.sim_losses >= 1);
        let r = rig.send("no sim", false).await;
        assert!(
            matches!(r[..], [Err(SendError::NotReady(SlotState::NoSim))]),
            "{r:?}"
        );
        rig.sim.fault(Fault::SimInserted);
        rig.ready().await;
        assert!(rig.send("sim back", false).await.iter().all(Result::is_ok));
        rig.check_invariants();
    });
}

#[test]
fn deregistered_is_searching_then_ready_again() {
    paused(|| async {
        let mut rig = Rig::start(sim_config(Profile::Ec25), engine_config());
        rig.ready().await;
        rig.sim
            .fault(Fault::Deregister(modem_sim::Registration::Searching));
        rig.until("searching", 60, |s, _| s.state == SlotState::Searching)
            .await;
        rig.sim.fault(Fault::Register);
        rig.ready().await;
        assert!(
            rig.send("registered again", false)
                .await
                .iter()
                .all(Result::is_ok)
        );
        rig.check_invariants();
    });
}

#[test]
fn garbage_bytes_are_ignored() {
    paused(|| async {
        let mut rig = Rig::start(sim_config(Profile::Sim800), engine_config());
        rig.ready().await;
        rig.sim
            .fault(Fault::Garbage(b"\r\n\x00\xff\xfe~#noise\x07\r\n".to_vec()));
        rig.until("garbage seen", 30, |s, _| {
            s.counters.garbage + s.counters.unknown >= 1
        })
        .await;
        assert_eq!(rig.control.status().state, SlotState::Ready);
        assert!(
            rig.send("after garbage", false)
                .await
                .iter()
                .all(Result::is_ok)
        );
        assert_eq!(rig.control.status().counters.reinits, 0);
        rig.check_invariants();
    });
}

#[test]
fn reboot_mid_send_fails_typed_and_reinitialises() {
    paused(|| async {
        let mut rig = Rig::start(sim_config(Profile::Sim800), engine_config());
        rig.ready().await;
        let sim = rig.sim.clone();
        tokio::task::spawn_local(async move {
            // The body is in; +CMGS is due 2.5 s later. Reboot before it.
            sim.wait_for(Duration::from_secs(60), |m| {
                m.transcript()
                    .any(|(_, l)| l.starts_with("AT+CMGS"))
                    .then_some(())
            })
            .await
            .expect("send started");
            tokio::time::sleep(Duration::from_millis(1_000)).await;
            sim.fault(Fault::Reboot);
        });
        let r = rig.send("lost in a reboot", false).await;
        assert!(matches!(r[..], [Err(SendError::Rebooted)]), "{r:?}");
        assert_eq!(rig.sim.stats().accepted, 0);
        assert_eq!(rig.sim.stats().lost, 1);
        rig.until("re-initialised", 120, |s, _| {
            s.counters.reboots >= 1 && s.state == SlotState::Ready
        })
        .await;
        assert!(
            rig.send("after the reboot", false)
                .await
                .iter()
                .all(Result::is_ok)
        );
        rig.check_invariants();
    });
}

#[test]
fn slow_responses_still_work() {
    paused(|| async {
        let mut rig = Rig::start(sim_config(Profile::Sim800), engine_config());
        rig.ready().await;
        rig.sim.fault(Fault::Slow(300));
        for r in rig.send(LONG, true).await {
            assert!(r.is_ok(), "{r:?}");
        }
        rig.until("reports", 120, |_, _| rig.reports() >= 3).await;
        let c = rig.control.status().counters;
        assert_eq!((c.timeouts, c.reinits), (0, 0), "{c:?}");
        rig.check_invariants();
    });
}

#[test]
fn inbound_is_deleted_only_after_ack() {
    paused(|| async {
        let mut rig = Rig::start(sim_config(Profile::Sim800), engine_config());
        rig.ready().await;
        rig.sim
            .inject(&InboundSms::new("Bank", "one"))
            .expect("inject");
        rig.sim
            .inject(&InboundSms::new("+4791234567", "two"))
            .expect("inject");
        rig.until("two inbound", 60, |_, _| rig.inbound() >= 2)
            .await;
        // Minutes pass; without an ack nothing is deleted.
        tokio::time::sleep(Duration::from_secs(180)).await;
        assert_eq!(rig.sim.stats().deleted, 0);
        assert_eq!(rig.sim.with(|m| m.store_usage(modem_sim::Mem::Sm).0), 2);
        assert_eq!(rig.ack_all().await, 2);
        rig.until("deleted", 60, |s, _| s.counters.deleted >= 2)
            .await;
        assert_eq!(rig.sim.stats().deleted, 2);
        rig.check_invariants();
    });
}
