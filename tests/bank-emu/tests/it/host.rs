//! The host's end of the bank link for these tests: `firmware/link`'s `HostSession` over any
//! tokio byte stream, pumped by the waiting methods, with optional byte corruption in both
//! directions (the harness's "noisy line"). Every wait is bounded and waits on link events,
//! never on sleeps.

use std::collections::VecDeque;
use std::time::Duration;

use link::msg::{HostTag, Pdu, SlotId, SubmitOutcome};
use link::{BankToHost, Event, HostSession, HostToBank, MAX_WIRE_LEN};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

/// Damages a share of bytes (each replaced by a random value), deterministically.
pub(crate) struct Noise {
    threshold: u64,
    state: u64,
    /// Bytes damaged so far.
    pub(crate) damaged: u64,
}

impl Noise {
    pub(crate) fn new(share: f64, seed: u64) -> Noise {
        Noise {
            threshold: (share * u64::MAX as f64) as u64,
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            damaged: 0,
        }
    }

    fn next(&mut self) -> u64 {
        // xorshift64*
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn apply(&mut self, bytes: &mut [u8]) {
        if self.threshold == 0 {
            return;
        }
        for b in bytes {
            if self.next() < self.threshold {
                *b = self.next() as u8;
                self.damaged += 1;
            }
        }
    }
}

/// An inbound SMS or status report as the host stores it: the same slot, index and PDU is the
/// same message (`docs/link-protocol.md` §9); an index alone is reused once the modem deleted
/// the message it held.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Inbound {
    pub(crate) slot: SlotId,
    pub(crate) index: u16,
    pub(crate) report: bool,
    pub(crate) pdu: Vec<u8>,
}

/// Bytes moved, for throughput figures.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Traffic {
    pub(crate) rx: u64,
    pub(crate) tx: u64,
}

pub(crate) struct Host<IO> {
    session: HostSession<8>,
    io: IO,
    start: Instant,
    pending: VecDeque<Event<BankToHost>>,
    /// Every event received, taken or not.
    pub(crate) seen: Vec<Event<BankToHost>>,
    pub(crate) noise: Option<Noise>,
    pub(crate) traffic: Traffic,
}

impl<IO: AsyncRead + AsyncWrite + Unpin> Host<IO> {
    pub(crate) fn new(io: IO, boot_id: u32) -> Host<IO> {
        Host {
            session: HostSession::new(link::Config::new(boot_id)),
            io,
            start: Instant::now(),
            pending: VecDeque::new(),
            seen: Vec::new(),
            noise: None,
            traffic: Traffic::default(),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Replaces the byte stream (a reconnection), keeping the session.
    pub(crate) fn reconnect(&mut self, io: IO) {
        self.io = io;
    }

    /// Writes what the session has, then waits for input, a session timer or `until`.
    async fn pump(&mut self, until: Instant) {
        let mut out = [0u8; MAX_WIRE_LEN];
        let now = self.now();
        while let Some(n) = self.session.poll_transmit(now, &mut out) {
            let frame = &mut out[..n];
            if let Some(noise) = &mut self.noise {
                noise.apply(frame);
            }
            self.traffic.tx += n as u64;
            self.io.write_all(frame).await.expect("host write");
        }
        let timer = self
            .session
            .next_timeout()
            .map(|t| self.start + Duration::from_millis(t))
            .unwrap_or(until)
            .min(until);
        let mut buf = [0u8; 1024];
        tokio::select! {
            r = self.io.read(&mut buf) => {
                let n = r.expect("host read");
                assert!(n > 0, "the bank closed the link");
                let bytes = &mut buf[..n];
                self.traffic.rx += n as u64;
                if let Some(noise) = &mut self.noise {
                    noise.apply(bytes);
                }
                let now = self.now();
                let (pending, seen) = (&mut self.pending, &mut self.seen);
                self.session.handle_bytes(bytes, now, |ev| {
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

    /// Takes the first event not yet taken for which `f` returns `Some` (the others stay for
    /// later calls); fails the test after `timeout`.
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
                self.seen.iter().rev().take(8).collect::<Vec<_>>()
            );
            self.pump(until).await;
        }
    }

    /// Keeps the link running for `d`.
    pub(crate) async fn idle(&mut self, d: Duration) {
        let until = Instant::now() + d;
        while Instant::now() < until {
            self.pump(until).await;
        }
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

    pub(crate) async fn submit(&mut self, slot: u8, tag: u32, pdu: Pdu) {
        self.send(HostToBank::Submit {
            slot: SlotId(slot),
            tag: HostTag(tag),
            pdu,
        })
        .await;
    }

    /// Takes a result already received, if any: `(slot, tag, outcome)`.
    pub(crate) fn take_result(&mut self) -> Option<(SlotId, HostTag, SubmitOutcome)> {
        let pos = self
            .pending
            .iter()
            .position(|e| matches!(e, Event::Message(BankToHost::SubmitResult { .. })))?;
        match self.pending.remove(pos)? {
            Event::Message(BankToHost::SubmitResult { slot, tag, outcome }) => {
                Some((slot, tag, outcome))
            }
            _ => None,
        }
    }

    /// Takes an inbound SMS or status report already received, if any.
    pub(crate) fn take_inbound(&mut self) -> Option<Inbound> {
        let pos = self.pending.iter().position(|e| {
            matches!(
                e,
                Event::Message(BankToHost::InboundSms { .. } | BankToHost::StatusReport { .. })
            )
        })?;
        match self.pending.remove(pos)? {
            Event::Message(BankToHost::InboundSms { slot, index, pdu }) => Some(Inbound {
                slot,
                index,
                report: false,
                pdu: pdu.octets.to_vec(),
            }),
            Event::Message(BankToHost::StatusReport { slot, index, pdu }) => Some(Inbound {
                slot,
                index,
                report: true,
                pdu: pdu.octets.to_vec(),
            }),
            _ => None,
        }
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

    /// Waits until every slot in `0..slots` has reported `Ready`.
    pub(crate) async fn all_ready(&mut self, slots: usize, timeout: Duration) {
        let mut ready = vec![false; slots];
        self.expect(timeout, |ev| {
            if let Event::Message(BankToHost::SlotStatus(s)) = ev
                && s.state == link::msg::SlotState::Ready
                && let Some(r) = ready.get_mut(usize::from(s.slot.0))
            {
                *r = true;
            }
            ready.iter().all(|r| *r).then_some(())
        })
        .await;
    }

    pub(crate) fn stats(&self) -> link::Stats {
        self.session.stats()
    }
}

/// An SMS-SUBMIT for `text` to `+4712345678` with SCA `00` (the modem's default SMSC).
pub(crate) fn submit_pdu(text: &str, status_report: bool) -> Pdu {
    let plan = gsm::plan(text, &gsm::PlanOptions::default()).expect("plan");
    let seg = plan.segments(1).next().expect("one segment");
    let submit = seg
        .submit(gsm::Address::parse("+4712345678").expect("address"))
        .with_status_report(status_report);
    let mut buf = [0u8; 200];
    let enc = submit.encode_with_sca(None, &mut buf).expect("encode");
    Pdu::new(
        &buf[..enc.len],
        u8::try_from(enc.tpdu_len).expect("tpdu len"),
    )
    .expect("pdu")
}
