//! [`LinkRunner`]: the bank's end of the host link. It owns the link session (`firmware/link`)
//! and the serial port to the host, turns host messages into work for the slots, and moves
//! the slots' results, inbound messages, status changes and logs into the session.
//!
//! It never waits for a slot: every host request either completes at once (a queue push, a
//! flag, an immediate refusal) or is left for the slot's agent in the shared state. Its only
//! waits are the port, its own timer and the wake signal, and it wakes at least every
//! [`TICK_MS`], feeding the watchdog each time.
//!
//! Duties across restarts (`docs/link-protocol.md` §9):
//! - an inbound message is offered until the host acks it: again after the host restarts
//!   (`PeerRestarted`), after the link comes back up (only those the link delivered but the
//!   host did not ack), and every [`Config::inbound_retry_ms`] while unacknowledged;
//! - a submit result is reported exactly once per submit; a repeated tag within the
//!   [`RECENT_RESULTS`](crate::RECENT_RESULTS) window gets the recorded result, a tag still
//!   queued or in progress is not queued twice.

use core::fmt::Write as _;

use embassy_futures::select::{Either3, select3};
use embassy_sync::blocking_mutex::raw::RawMutex;
use embedded_hal_async::delay::DelayNs;
use embedded_io_async::{Read, Write};
use heapless::{Deque, String};
use link::msg::{
    BankInfo, HostTag, LogEvent, LogLevel, Pdu, SlotConfig, SlotId, SubmitError, SubmitOutcome,
};
use link::{BankSession, BankToHost, Event, HostToBank, MAX_WIRE_LEN};
use modem::slot::Control;

use crate::shared::{BankState, Job, Offer, SlotShared};
use crate::tags::Recent;
use crate::{Clock, Config, Watchdog, convert, limits::Limiter};

/// The link window (`docs/link-protocol.md` §4.4: the host and the bank use 8).
pub const WINDOW: usize = 8;
/// Longest the link task sleeps: timer resolution for status checks and the watchdog period.
pub const TICK_MS: u64 = 250;
/// Immediate refusals (`QueueFull`, `NoSuchSlot`…) waiting for room in the link window.
const REPLIES: usize = 32;
/// Log lines waiting for the link; the oldest is dropped when full (logs are best effort).
const LOGS: usize = 4;
/// Bytes read from the port at a time.
const RX_CHUNK: usize = 64;

/// Diagnostic counters of the link task.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Messages handed to the link session.
    pub sent: u32,
    /// Host messages received.
    pub received: u32,
    /// Immediate refusals lost because 32 were already waiting for the window (see the README).
    pub replies_dropped: u32,
    /// Log lines dropped because the link was slower than the logs.
    pub logs_dropped: u32,
    /// Port read or write errors.
    pub io_errors: u32,
}

/// The link side of one slot.
struct SlotLink {
    enabled: bool,
    limiter: Limiter,
    /// The last status sent, to send only changes.
    last: Option<link::msg::SlotStatus>,
    last_at: u64,
}

/// The bank's link task; spawn [`LinkRunner::run`] once.
pub struct LinkRunner<'a, M: RawMutex, const S: usize, IO, C, D, W> {
    shared: &'a BankState<M, S>,
    controls: [Control<'a, M>; S],
    io: IO,
    clock: C,
    delay: D,
    watchdog: W,
    config: Config,
    session: BankSession<WINDOW>,
    slots: [SlotLink; S],
    replies: Deque<(SlotId, HostTag, SubmitOutcome), REPLIES>,
    recent: Recent,
    logs: Deque<LogEvent, LOGS>,
    /// Next answer to a `Query` or a (re)connection: 0 is `BankInfo`, `1..=S` the slots.
    query: Option<usize>,
    /// The link went down since it was last up.
    was_down: bool,
    /// Round-robin start, so no slot's results or messages always go first.
    turn: usize,
    next_status_check: u64,
    stats: LinkStats,
    rx: [u8; RX_CHUNK],
    rx_pos: usize,
    rx_len: usize,
    tx: [u8; MAX_WIRE_LEN],
}

impl<'a, M, const S: usize, IO, C, D, W> LinkRunner<'a, M, S, IO, C, D, W>
where
    M: RawMutex,
    IO: Read + Write,
    C: Clock,
    D: DelayNs,
    W: Watchdog,
{
    pub(crate) fn new(
        shared: &'a BankState<M, S>,
        controls: [Control<'a, M>; S],
        io: IO,
        clock: C,
        delay: D,
        watchdog: W,
        config: Config,
    ) -> Self {
        let mut runner = Self {
            shared,
            controls,
            io,
            clock,
            delay,
            watchdog,
            session: BankSession::new(config.link),
            slots: core::array::from_fn(|_| SlotLink {
                enabled: true,
                limiter: Limiter::default(),
                last: None,
                last_at: 0,
            }),
            replies: Deque::new(),
            recent: Recent::new(),
            logs: Deque::new(),
            query: Some(0),
            was_down: false,
            turn: 0,
            next_status_check: 0,
            stats: LinkStats::default(),
            rx: [0; RX_CHUNK],
            rx_pos: 0,
            rx_len: 0,
            tx: [0; MAX_WIRE_LEN],
            config,
        };
        runner.log(LogLevel::Info, None, format_args!("bank booted"));
        runner
    }

    /// Runs the link forever.
    ///
    /// Cancellation: dropping it drops the session (the host sees a silent peer, then a new
    /// boot id when a new runner starts); nothing held for the host is lost, since the slots
    /// keep it.
    pub async fn run(mut self) -> ! {
        loop {
            self.watchdog.feed();
            let now = self.clock.now_ms();
            if self.session.next_timeout().is_some_and(|t| t <= now) {
                let mut events = EventBuf::new();
                self.session.handle_timeout(now, |ev| events.push(ev));
                for ev in events.drain() {
                    self.on_event(ev, now);
                }
            }
            self.ingest(now);
            self.fill(now);
            self.flush(now).await;
            self.wait(now).await;
        }
    }

    /// Feeds buffered port bytes to the session one at a time, handling each event before the
    /// next byte: a byte completes at most one frame, so the events of one step are bounded
    /// and no host message ever waits in a buffer of ours.
    fn ingest(&mut self, now: u64) {
        while self.rx_pos < self.rx_len {
            let Some(&b) = self.rx.get(self.rx_pos) else {
                break;
            };
            self.rx_pos += 1;
            let mut events = EventBuf::new();
            self.session
                .handle_bytes(core::slice::from_ref(&b), now, |ev| events.push(ev));
            for ev in events.drain() {
                self.on_event(ev, now);
            }
        }
    }

    async fn flush(&mut self, now: u64) {
        while let Some(n) = self.session.poll_transmit(now, &mut self.tx) {
            let frame = self.tx.get(..n).unwrap_or_default();
            if self.io.write_all(frame).await.is_err() {
                // The session retransmits what the line lost.
                self.stats.io_errors = self.stats.io_errors.wrapping_add(1);
            }
        }
    }

    async fn wait(&mut self, now: u64) {
        let mut deadline = now
            .saturating_add(TICK_MS)
            .min(self.next_status_check.max(now));
        if let Some(t) = self.session.next_timeout() {
            deadline = deadline.min(t);
        }
        // At least 1 ms, so that a timer that is already due cannot spin the executor.
        let ms = u32::try_from(deadline.saturating_sub(now).max(1)).unwrap_or(u32::MAX);
        match select3(
            self.io.read(&mut self.rx),
            self.shared.link_wake.wait(),
            self.delay.delay_ms(ms),
        )
        .await
        {
            Either3::First(Ok(n)) if n > 0 => {
                self.rx_pos = 0;
                self.rx_len = n.min(RX_CHUNK);
            }
            Either3::First(_) => {
                // A port error or end of input; pause so a broken port cannot spin.
                self.stats.io_errors = self.stats.io_errors.wrapping_add(1);
                self.delay.delay_ms(10).await;
            }
            Either3::Second(()) | Either3::Third(()) => {}
        }
    }

    fn on_event(&mut self, ev: Event<HostToBank>, now: u64) {
        match ev {
            Event::LinkUp => {
                if self.was_down {
                    // Same host incarnation: the session resends what it still holds; what it
                    // delivered but the host has not acked is offered again.
                    self.reoffer(true);
                }
                self.was_down = false;
                self.log(LogLevel::Info, None, format_args!("link up"));
            }
            Event::LinkDown(reason) => {
                self.was_down = true;
                self.log(LogLevel::Warn, None, format_args!("link down: {reason:?}"));
            }
            Event::PeerRestarted { in_doubt } => self.on_peer_restarted(in_doubt),
            Event::Message(msg) => {
                self.stats.received = self.stats.received.wrapping_add(1);
                self.on_message(msg, now);
            }
            Event::VersionMismatch { ours, theirs } => self.log(
                LogLevel::Error,
                None,
                format_args!("host speaks link {theirs}, bank {ours}"),
            ),
            Event::Undecodable { seq } => self.log(
                LogLevel::Warn,
                None,
                format_args!("undecodable host message {seq}"),
            ),
        }
    }

    /// The host restarted: its new incarnation knows nothing we sent before. Submit results
    /// stay queued (§9: the host ignores those it closed); inbound messages, statuses and logs
    /// are dropped from the queue and re-created from the slots' state, so each held message
    /// goes to the new host once, not twice.
    fn on_peer_restarted(&mut self, in_doubt: usize) {
        let kept = self
            .session
            .retain_unconfirmed(|m, _| matches!(m, BankToHost::SubmitResult { .. }));
        if kept.is_err() {
            // Cannot happen (nothing is transmitted between the event and this call); if it
            // did, the old copies go out too and the host drops them as duplicates.
            self.log(
                LogLevel::Warn,
                None,
                format_args!("could not trim the queue"),
            );
        }
        self.reoffer(false);
        self.query = Some(0);
        for s in &mut self.slots {
            s.last = None;
        }
        self.log(
            LogLevel::Info,
            None,
            format_args!("host restarted ({in_doubt} in doubt)"),
        );
    }

    /// Marks held messages to be offered again: all of them, or (`delivered_only`) those the
    /// link already delivered to the host.
    fn reoffer(&mut self, delivered_only: bool) {
        let acked_upto = self.link_acked();
        for slot in &self.shared.slots {
            slot.with(|c| {
                for h in &mut c.held {
                    if let Offer::Sent { seq, .. } = h.offer
                        && (!delivered_only || seq_before(seq, acked_upto))
                    {
                        h.offer = Offer::Fresh;
                    }
                }
            });
        }
    }

    /// Every message this bank sent before the returned ordinal has been acknowledged by the
    /// link: the session's queue is FIFO, so the `unacked()` newest are the ones still open.
    fn link_acked(&self) -> u32 {
        let open = u32::try_from(self.session.unacked()).unwrap_or(u32::MAX);
        self.stats.sent.wrapping_sub(open)
    }

    fn on_message(&mut self, msg: HostToBank, now: u64) {
        match msg {
            HostToBank::Submit { slot, tag, pdu } => self.on_submit(slot, tag, pdu, now),
            HostToBank::Cancel { tag } => self.on_cancel(tag),
            HostToBank::ResetSlot { slot, hard } => {
                if let Some(s) = self.shared.slots.get(usize::from(slot.0)) {
                    s.with(|c| c.reset = Some(hard || c.reset.unwrap_or(false)));
                    s.event_wake.signal(());
                    self.log(
                        LogLevel::Info,
                        Some(slot),
                        format_args!("reset (hard: {hard})"),
                    );
                }
            }
            HostToBank::Configure { slot, config } => self.on_configure(slot, config),
            HostToBank::AckInbound { slot, index } => {
                if let Some(s) = self.shared.slots.get(usize::from(slot.0)) {
                    s.with(|c| {
                        if let Some(h) = c.held.iter_mut().find(|h| h.index == index) {
                            h.offer = Offer::HostAcked;
                        }
                    });
                    s.event_wake.signal(());
                }
            }
            HostToBank::Query => self.query = Some(0),
        }
    }

    fn on_submit(&mut self, slot: SlotId, tag: HostTag, pdu: Pdu, now: u64) {
        let Some(shared) = self.shared.slots.get(usize::from(slot.0)) else {
            return self.reply(slot, tag, SubmitError::NoSuchSlot);
        };
        // A repeat of a submit still on its way: its one result will come.
        if self.shared.slots.iter().any(|s| s.with(|c| c.has_tag(tag)))
            || self.replies.iter().any(|r| r.1 == tag)
        {
            return;
        }
        // A repeat of a finished one (the host restarted or lost the result): the same answer,
        // not a second SMS.
        if let Some((was, outcome)) = self.recent.get(tag) {
            return self.reply_outcome(was, tag, outcome);
        }
        let Some(link) = self.slots.get_mut(usize::from(slot.0)) else {
            return self.reply(slot, tag, SubmitError::NoSuchSlot);
        };
        if !link.enabled {
            return self.reply(slot, tag, SubmitError::SlotDisabled);
        }
        if pdu.tpdu_len == 0 || pdu.tpdu().is_none() {
            return self.reply(slot, tag, SubmitError::InvalidPdu);
        }
        if !link.limiter.allows(now) {
            return self.reply(slot, tag, SubmitError::RateLimited);
        }
        let queued = shared.with(|c| c.queue.push_back(Job { tag, pdu }).is_ok());
        if !queued {
            return self.reply(slot, tag, SubmitError::QueueFull);
        }
        link.limiter.record(now);
        shared.submit_wake.signal(());
        shared.with(|c| c.status_changed = true);
    }

    fn on_cancel(&mut self, tag: HostTag) {
        for (i, s) in self.shared.slots.iter().enumerate() {
            let removed = s.with(|c| {
                let pos = c.queue.iter().position(|j| j.tag == tag)?;
                // Rotate the job out, keeping the others in order.
                let mut kept = heapless::Deque::new();
                let mut found = false;
                for (k, job) in core::mem::take(&mut c.queue).into_iter().enumerate() {
                    if k == pos {
                        found = true;
                    } else {
                        let _ = kept.push_back(job);
                    }
                }
                c.queue = kept;
                c.status_changed = true;
                found.then_some(())
            });
            if removed.is_some() {
                let slot = SlotId(u8::try_from(i).unwrap_or(u8::MAX));
                let outcome = SubmitOutcome::Failed(SubmitError::Cancelled);
                self.recent.record(tag, slot, outcome);
                return self.reply_outcome(slot, tag, outcome);
            }
        }
        // In progress (it completes normally), already reported, or unknown: nothing to do.
    }

    fn on_configure(&mut self, slot: SlotId, config: SlotConfig) {
        let i = usize::from(slot.0);
        let (Some(link), Some(shared)) = (self.slots.get_mut(i), self.shared.slots.get(i)) else {
            return;
        };
        link.enabled = config.enabled;
        link.limiter.set(config.limits);
        let mut modem = self.config.modem.clone();
        modem.pin = config.pin.as_deref().map(convert::cut);
        let unknown = match config.profile.as_deref() {
            Some(name) => {
                modem.profile = convert::profile(name);
                modem.profile.is_none()
            }
            None => false,
        };
        let mut refused = heapless::Vec::<HostTag, { crate::SUBMIT_QUEUE }>::new();
        shared.with(|c| {
            c.configure = Some(modem);
            c.status_changed = true;
            if !config.enabled {
                // Queued submits of a disabled slot will not be sent.
                while let Some(job) = c.queue.pop_front() {
                    let _ = refused.push(job.tag);
                }
            }
        });
        shared.event_wake.signal(());
        for tag in refused {
            self.reply(slot, tag, SubmitError::SlotDisabled);
        }
        if unknown {
            self.log(
                LogLevel::Warn,
                Some(slot),
                format_args!("unknown profile; detecting"),
            );
        }
    }

    fn reply(&mut self, slot: SlotId, tag: HostTag, e: SubmitError) {
        self.reply_outcome(slot, tag, SubmitOutcome::Failed(e));
    }

    fn reply_outcome(&mut self, slot: SlotId, tag: HostTag, outcome: SubmitOutcome) {
        if self.replies.push_back((slot, tag, outcome)).is_err() {
            // Every such reply is for a submit that was not sent, so losing one never loses
            // or duplicates an SMS; the host's own timeout resolves it.
            self.stats.replies_dropped = self.stats.replies_dropped.wrapping_add(1);
        }
    }

    /// Moves waiting work into the session while its window has room, most important first:
    /// refusals and submit results, then (while the link is up) query answers, inbound
    /// messages, status changes and logs. Statuses and logs leave one place free for results.
    fn fill(&mut self, now: u64) {
        while self.session.window_free() > 0 {
            let Some(&(slot, tag, outcome)) = self.replies.front() else {
                break;
            };
            if !self.push(&BankToHost::SubmitResult { slot, tag, outcome }) {
                break;
            }
            self.replies.pop_front();
        }
        self.turn = (self.turn + 1) % S.max(1);
        for k in 0..S {
            if self.session.window_free() == 0 {
                break;
            }
            let i = (self.turn + k) % S;
            let Some(shared) = self.shared.slots.get(i) else {
                continue;
            };
            let Some(done) = shared.with(|c| c.done.take()) else {
                continue;
            };
            let slot = SlotId(u8::try_from(i).unwrap_or(u8::MAX));
            let msg = BankToHost::SubmitResult {
                slot,
                tag: done.tag,
                outcome: done.outcome,
            };
            if self.push(&msg) {
                self.recent.record(done.tag, slot, done.outcome);
                shared.submit_wake.signal(());
            } else {
                shared.with(|c| c.done = Some(done));
            }
        }
        if !self.session.is_up() {
            return;
        }
        self.answer_query(now);
        self.offer_inbound(now);
        self.statuses(now);
        while self.session.window_free() > 1 {
            let Some(log) = self.logs.pop_front() else {
                break;
            };
            if !self.push(&BankToHost::Log(log)) {
                break;
            }
        }
    }

    fn answer_query(&mut self, now: u64) {
        while let Some(step) = self.query {
            if self.session.window_free() < 2 {
                return;
            }
            if step == 0 {
                let info = BankInfo {
                    firmware: convert::cut(self.config.firmware),
                    slot_count: u8::try_from(S).unwrap_or(u8::MAX),
                    uptime_ms: now,
                };
                if !self.push(&BankToHost::BankInfo(info)) {
                    return;
                }
            } else if let Some(status) = self.status_of(step - 1) {
                if !self.push(&BankToHost::SlotStatus(status.clone())) {
                    return;
                }
                if let Some(s) = self.slots.get_mut(step - 1) {
                    s.last = Some(status);
                    s.last_at = now;
                }
            }
            self.query = (step < S).then_some(step + 1);
        }
    }

    fn offer_inbound(&mut self, now: u64) {
        let retry = u64::from(self.config.inbound_retry_ms);
        let acked_upto = self.link_acked();
        for k in 0..S {
            let i = (self.turn + k) % S;
            let Some(shared) = self.shared.slots.get(i) else {
                continue;
            };
            let slot = SlotId(u8::try_from(i).unwrap_or(u8::MAX));
            loop {
                if self.session.window_free() == 0 {
                    return;
                }
                let seq = self.stats.sent;
                // Take the first message due: fresh, or delivered long ago and still unacked.
                let msg = shared.with(|c| {
                    let h = c.held.iter_mut().find(|h| match h.offer {
                        Offer::Fresh => true,
                        Offer::Sent { at, seq } => {
                            seq_before(seq, acked_upto) && now.saturating_sub(at) >= retry
                        }
                        Offer::HostAcked => false,
                    })?;
                    h.offer = Offer::Sent { at: now, seq };
                    let (index, pdu) = (h.index, h.pdu.clone());
                    let msg = if h.report {
                        BankToHost::StatusReport { slot, index, pdu }
                    } else {
                        BankToHost::InboundSms { slot, index, pdu }
                    };
                    Some((index, msg))
                });
                let Some((index, msg)) = msg else {
                    break;
                };
                if !self.push(&msg) {
                    // Cannot happen with room in the window; offer it again later.
                    reset_offer(shared, index);
                    return;
                }
            }
        }
    }

    /// Sends each slot's status when something that matters changed, or when only counters
    /// changed and [`Config::status_interval_ms`] has passed since the last one.
    fn statuses(&mut self, now: u64) {
        // Take every slot's flag (no short-circuit: each is cleared).
        let mut flagged = false;
        for s in &self.shared.slots {
            flagged |= s.with(|c| core::mem::take(&mut c.status_changed));
        }
        if !flagged && now < self.next_status_check {
            return;
        }
        self.next_status_check = now.saturating_add(1_000);
        for i in 0..S {
            if self.session.window_free() < 2 {
                // Look again at the next check.
                self.next_status_check = now;
                return;
            }
            let Some(status) = self.status_of(i) else {
                continue;
            };
            let interval = u64::from(self.config.status_interval_ms);
            let Some(link) = self.slots.get(i) else {
                continue;
            };
            let due = match &link.last {
                None => true,
                Some(last) if *last == status => false,
                Some(last) => {
                    let important = last.state != status.state
                        || last.registration != status.registration
                        || last.sim != status.sim
                        || last.operator != status.operator;
                    important || now.saturating_sub(link.last_at) >= interval
                }
            };
            if !due {
                continue;
            }
            let events = link.last.as_ref().map(|l| {
                (
                    status.counters.reinits.wrapping_sub(l.counters.reinits),
                    status
                        .counters
                        .power_cycles
                        .wrapping_sub(l.counters.power_cycles),
                    l.state != status.state,
                )
            });
            if !self.push(&BankToHost::SlotStatus(status.clone())) {
                return;
            }
            let slot = status.slot;
            if let Some((reinits, cycles, changed)) = events {
                if cycles > 0 {
                    self.log(LogLevel::Warn, Some(slot), format_args!("power cycled"));
                } else if reinits > 0 {
                    self.log(LogLevel::Warn, Some(slot), format_args!("re-initialised"));
                }
                if changed {
                    let state = status.state;
                    self.log(LogLevel::Info, Some(slot), format_args!("{state:?}"));
                }
            }
            if let Some(link) = self.slots.get_mut(i) {
                link.last = Some(status);
                link.last_at = now;
            }
        }
    }

    fn status_of(&self, i: usize) -> Option<link::msg::SlotStatus> {
        let control = self.controls.get(i)?;
        let queued = self.shared.slots.get(i)?.with(|c| c.queued());
        let enabled = self.slots.get(i)?.enabled;
        let slot = SlotId(u8::try_from(i).ok()?);
        Some(convert::slot_status(
            slot,
            &control.status(),
            queued,
            enabled,
        ))
    }

    /// Hands `msg` to the session; `false` if the window is full.
    fn push(&mut self, msg: &BankToHost) -> bool {
        match self.session.send(msg) {
            Ok(()) => {
                self.stats.sent = self.stats.sent.wrapping_add(1);
                true
            }
            Err(_) => false,
        }
    }

    fn log(&mut self, level: LogLevel, slot: Option<SlotId>, args: core::fmt::Arguments<'_>) {
        let mut text = String::new();
        // A line longer than the link allows is cut; that is all `write` can fail with.
        let _ = text.write_fmt(args);
        if self.logs.is_full() {
            self.logs.pop_front();
            self.stats.logs_dropped = self.stats.logs_dropped.wrapping_add(1);
        }
        let _ = self.logs.push_back(LogEvent { level, slot, text });
    }

    /// Diagnostic counters.
    pub fn stats(&self) -> LinkStats {
        self.stats
    }
}

/// Whether ordinal `seq` comes before `upto` (both wrap).
fn seq_before(seq: u32, upto: u32) -> bool {
    upto.wrapping_sub(seq).wrapping_sub(1) < u32::MAX / 2
}

fn reset_offer<M: RawMutex>(shared: &SlotShared<M>, index: u16) {
    shared.with(|c| {
        if let Some(h) = c.held.iter_mut().find(|h| h.index == index) {
            h.offer = Offer::Fresh;
        }
    });
}

/// The events of one session call: at most a handshake's three (`LinkDown`, `PeerRestarted`,
/// `LinkUp`) or one message, since input is fed a byte at a time.
struct EventBuf {
    events: heapless::Vec<Event<HostToBank>, 4>,
}

impl EventBuf {
    fn new() -> Self {
        Self {
            events: heapless::Vec::new(),
        }
    }

    fn push(&mut self, ev: Event<HostToBank>) {
        // Bounded as documented above; a fifth event is impossible.
        let _ = self.events.push(ev);
    }

    fn drain(self) -> impl Iterator<Item = Event<HostToBank>> {
        self.events.into_iter()
    }
}
