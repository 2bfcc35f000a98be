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

use core::convert::Infallible;
use core::fmt::Write as _;
use core::future::Future;

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
const REPLIES: usize = 16;
/// Log lines waiting for the link; the oldest is dropped when full (logs are best effort).
const LOGS: usize = 4;
/// Bytes read from the port at a time.
const RX_CHUNK: usize = 64;

/// Diagnostic counters of the link task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LinkStats {
    /// Messages handed to the link session.
    sent: u32,
    /// Host messages received.
    received: u32,
    /// Immediate refusals lost because 16 were already waiting for the window (see the README).
    replies_dropped: u32,
    /// Log lines dropped because the link was slower than the logs.
    logs_dropped: u32,
    /// Port read or write errors.
    io_errors: u32,
}

/// The link side of one slot (all fields zero when new).
struct SlotLink {
    /// Disabled by a host `Configure`.
    disabled: bool,
    limiter: Limiter,
    /// What the last status sent said (if `has_last`), to send only changes.
    has_last: bool,
    last: Seen,
    last_at: u64,
}

impl SlotLink {
    const fn new() -> Self {
        Self {
            disabled: false,
            limiter: Limiter::new(),
            has_last: false,
            last: Seen::NONE,
            last_at: 0,
        }
    }

    fn last(&self) -> Option<Seen> {
        self.has_last.then_some(self.last)
    }

    fn set_last(&mut self, seen: Option<Seen>, now: u64) {
        self.has_last = seen.is_some();
        if let Some(seen) = seen {
            self.last = seen;
            self.last_at = now;
        }
    }
}

/// The link task's working memory: the bookkeeping that is not the session. Caller-allocated
/// (like embassy-net's `StackResources`) and all zero bytes when new, so a `static` one costs
/// no flash and is never built on the stack.
pub struct LinkMemory<const S: usize> {
    slots: [SlotLink; S],
    replies: Deque<(SlotId, HostTag, SubmitOutcome), REPLIES>,
    recent: Recent,
    logs: Deque<LogEvent, LOGS>,
    stats: LinkStats,
    tx: [u8; MAX_WIRE_LEN],
}

impl<const S: usize> LinkMemory<S> {
    /// Empty memory.
    pub const fn new() -> Self {
        Self {
            slots: [const { SlotLink::new() }; S],
            replies: Deque::new(),
            recent: Recent::new(),
            logs: Deque::new(),
            stats: LinkStats {
                sent: 0,
                received: 0,
                replies_dropped: 0,
                logs_dropped: 0,
                io_errors: 0,
            },
            tx: [0; MAX_WIRE_LEN],
        }
    }
}

impl<const S: usize> Default for LinkMemory<S> {
    fn default() -> Self {
        Self::new()
    }
}

/// The bank's link task; spawn [`LinkRunner::run`] once.
///
/// Small on purpose: the session (2.5 KB) is built inside the future at its first poll, in the
/// task's own memory, and the rest lives in the caller's [`LinkMemory`], rather than being
/// built here and moved (each move of a large value is a stack copy at start-up).
pub struct LinkRunner<'a, M: RawMutex, const S: usize, IO, C, D, W> {
    shared: &'a BankState<M, S>,
    mem: &'a mut LinkMemory<S>,
    controls: [Control<'a, M>; S],
    io: IO,
    clock: C,
    delay: D,
    watchdog: W,
    config: Config,
}

impl<'a, M, const S: usize, IO, C, D, W> LinkRunner<'a, M, S, IO, C, D, W>
where
    M: RawMutex,
    IO: Read + Write,
    C: Clock,
    D: DelayNs,
    W: Watchdog,
{
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        shared: &'a BankState<M, S>,
        mem: &'a mut LinkMemory<S>,
        controls: [Control<'a, M>; S],
        io: IO,
        clock: C,
        delay: D,
        watchdog: W,
        config: Config,
    ) -> Self {
        Self {
            shared,
            mem,
            controls,
            io,
            clock,
            delay,
            watchdog,
            config,
        }
    }

    /// Runs the link; the future never completes.
    ///
    /// Cancellation: dropping it drops the session (the host sees a silent peer, then a new
    /// boot id when a new runner starts); nothing held for the host is lost, since the slots
    /// keep it.
    pub fn run(self) -> impl Future<Output = Infallible> {
        // Not an `async fn` taking `self`: that would hold its argument twice in the future
        // (the argument and the moved-in local).
        let this = self;
        async move {
            let mut link = Link::new(this);
            link.app
                .log(LogLevel::Info, None, format_args!("bank booted"));
            link.run_loop().await
        }
    }
}

/// The link task's working state: the session and the port, and the rest ([`App`]) apart from
/// them, so that session callbacks can update it while the session is borrowed.
struct Link<'a, M: RawMutex, const S: usize, IO, C, D, W> {
    session: BankSession<WINDOW>,
    app: App<'a, M, S>,
    io: IO,
    clock: C,
    delay: D,
    watchdog: W,
    rx: [u8; RX_CHUNK],
    rx_len: usize,
}

/// Everything of the link task but the session and the port.
struct App<'a, M: RawMutex, const S: usize> {
    shared: &'a BankState<M, S>,
    mem: &'a mut LinkMemory<S>,
    controls: [Control<'a, M>; S],
    config: Config,
    /// Next answer to a `Query` or a (re)connection: 0 is `BankInfo`, `1..=S` the slots.
    query: Option<usize>,
    /// The link went down since it was last up.
    was_down: bool,
    /// Round-robin start, so no slot's results or messages always go first.
    turn: usize,
    next_status_check: u64,
    /// The host restarted (`in_doubt`), to be handled after the session call.
    restarted: Option<usize>,
    /// The link came back up after an outage, to be handled after the session call.
    relinked: bool,
}

impl<'a, M, const S: usize, IO, C, D, W> Link<'a, M, S, IO, C, D, W>
where
    M: RawMutex,
    IO: Read + Write,
    C: Clock,
    D: DelayNs,
    W: Watchdog,
{
    /// Not inlined: the caller's frame (the task's poll function, on every poll) would
    /// otherwise reserve room for a temporary `Link`; this way the value is built straight
    /// into the future's memory and only this one-time call needs the stack.
    #[inline(never)]
    fn new(r: LinkRunner<'a, M, S, IO, C, D, W>) -> Self {
        let LinkRunner {
            shared,
            mem,
            controls,
            io,
            clock,
            delay,
            watchdog,
            config,
        } = r;
        // The value is the function's result as is, so it is built in the caller's place.
        Self {
            session: BankSession::new(config.link),
            app: App {
                shared,
                mem,
                controls,
                config,
                query: Some(0),
                was_down: false,
                turn: 0,
                next_status_check: 0,
                restarted: None,
                relinked: false,
            },
            io,
            clock,
            delay,
            watchdog,
            rx: [0; RX_CHUNK],
            rx_len: 0,
        }
    }

    async fn run_loop(&mut self) -> Infallible {
        loop {
            self.watchdog.feed();
            let now = self.clock.now_ms();
            self.step(now);
            self.flush(now).await;
            self.wait(now).await;
        }
    }

    /// Everything between two waits: timers, received bytes, what they changed, and moving
    /// work into the window. Not inlined into the task's poll function, whose frame is on the
    /// stack at every poll.
    #[inline(never)]
    fn step(&mut self, now: u64) {
        let app = &mut self.app;
        if self.session.next_timeout().is_some_and(|t| t <= now) {
            self.session.handle_timeout(now, |ev| app.on_event(ev, now));
        }
        // Host messages only ever queue work or set flags (nothing is sent from inside the
        // session's callback), so a whole chunk is fed at once.
        let bytes = self.rx.get(..self.rx_len).unwrap_or_default();
        self.session
            .handle_bytes(bytes, now, |ev| app.on_event(ev, now));
        self.rx_len = 0;
        self.after_events();
        self.fill(now);
    }

    /// Handshake consequences that need the session: after a host restart its queue is
    /// trimmed and everything held is offered again; after a link outage, what the link
    /// delivered but the host did not ack.
    fn after_events(&mut self) {
        if let Some(in_doubt) = self.app.restarted.take() {
            // Submit results stay queued (§9: the host ignores those it closed); inbound
            // messages, statuses and logs are dropped from the queue and re-created from the
            // slots' state, so each held message goes to the new host once, not twice.
            let kept = self
                .session
                .retain_unconfirmed(|m, _| matches!(m, BankToHost::SubmitResult { .. }));
            if kept.is_err() {
                // Cannot happen (nothing was transmitted since the event); if it did, the old
                // copies go out too and the host drops them as duplicates.
                self.app.log(
                    LogLevel::Warn,
                    None,
                    format_args!("could not trim the queue"),
                );
            }
            let upto = self.link_acked();
            self.app.reoffer(false, upto);
            self.app.query = Some(0);
            for s in &mut self.app.mem.slots {
                s.set_last(None, 0);
            }
            self.app.log(
                LogLevel::Info,
                None,
                format_args!("host restarted ({in_doubt} in doubt)"),
            );
        }
        if core::mem::take(&mut self.app.relinked) {
            // Same host incarnation: the session resends what it still holds; what it
            // delivered but the host has not acked is offered again.
            let upto = self.link_acked();
            self.app.reoffer(true, upto);
        }
    }

    async fn flush(&mut self, now: u64) {
        while let Some(n) = self.session.poll_transmit(now, &mut self.app.mem.tx) {
            let frame = self.app.mem.tx.get(..n).unwrap_or_default();
            if self.io.write_all(frame).await.is_err() {
                // The session retransmits what the line lost.
                self.app.mem.stats.io_errors = self.app.mem.stats.io_errors.wrapping_add(1);
            }
        }
    }

    async fn wait(&mut self, now: u64) {
        let mut deadline = now
            .saturating_add(TICK_MS)
            .min(self.app.next_status_check.max(now));
        if let Some(t) = self.session.next_timeout() {
            deadline = deadline.min(t);
        }
        // At least 1 ms, so that a timer that is already due cannot spin the executor.
        let ms = u32::try_from(deadline.saturating_sub(now).max(1)).unwrap_or(u32::MAX);
        match select3(
            self.io.read(&mut self.rx),
            self.app.shared.link_wake.wait(),
            self.delay.delay_ms(ms),
        )
        .await
        {
            Either3::First(Ok(n)) if n > 0 => self.rx_len = n.min(RX_CHUNK),
            Either3::First(_) => {
                // A port error or end of input; pause so a broken port cannot spin.
                self.app.mem.stats.io_errors = self.app.mem.stats.io_errors.wrapping_add(1);
                self.delay.delay_ms(10).await;
            }
            Either3::Second(()) | Either3::Third(()) => {}
        }
    }

    /// Every message this bank sent before the returned ordinal has been acknowledged by the
    /// link: the session's queue is FIFO, so the `unacked()` newest are the ones still open.
    fn link_acked(&self) -> u32 {
        let open = u32::try_from(self.session.unacked()).unwrap_or(u32::MAX);
        self.app.mem.stats.sent.wrapping_sub(open)
    }

    /// Moves waiting work into the session while its window has room, most important first:
    /// refusals and submit results, then (while the link is up) query answers, inbound
    /// messages, status changes and logs. Statuses and logs leave one place free for results.
    #[inline(never)]
    fn fill(&mut self, now: u64) {
        while self.session.window_free() > 0 {
            let Some(&(slot, tag, outcome)) = self.app.mem.replies.front() else {
                break;
            };
            if !self.push(&BankToHost::SubmitResult { slot, tag, outcome }) {
                break;
            }
            self.app.mem.replies.pop_front();
        }
        self.app.turn = (self.app.turn + 1) % S.max(1);
        for k in 0..S {
            if self.session.window_free() == 0 {
                break;
            }
            let i = (self.app.turn + k) % S;
            let Some(shared) = self.app.shared.slots.get(i) else {
                continue;
            };
            let Some(done) = shared.with(|c| c.take_done()) else {
                continue;
            };
            let slot = SlotId(u8::try_from(i).unwrap_or(u8::MAX));
            let msg = BankToHost::SubmitResult {
                slot,
                tag: done.tag,
                outcome: done.outcome,
            };
            if self.push(&msg) {
                self.app.mem.recent.record(done.tag, slot, done.outcome);
                shared.submit_wake.signal(());
            } else {
                shared.with(|c| c.set_done(done));
            }
        }
        if !self.session.is_up() {
            return;
        }
        self.answer_query(now);
        self.offer_inbound(now);
        self.statuses(now);
        while self.session.window_free() > 1 {
            let Some(log) = self.app.mem.logs.pop_front() else {
                break;
            };
            if !self.push(&BankToHost::Log(log)) {
                break;
            }
        }
    }

    fn answer_query(&mut self, now: u64) {
        while let Some(step) = self.app.query {
            if self.session.window_free() < 2 {
                return;
            }
            if step == 0 {
                let info = BankInfo {
                    firmware: convert::cut(self.app.config.firmware),
                    slot_count: u8::try_from(S).unwrap_or(u8::MAX),
                    uptime_ms: now,
                };
                if !self.push(&BankToHost::BankInfo(info)) {
                    return;
                }
            } else if let Some(status) = self.app.status_of(step - 1) {
                if !self.push(&BankToHost::SlotStatus(status.clone())) {
                    return;
                }
                if let Some(s) = self.app.mem.slots.get_mut(step - 1) {
                    s.set_last(Some(Seen::of(&status)), now);
                }
            }
            self.app.query = (step < S).then_some(step + 1);
        }
    }

    fn offer_inbound(&mut self, now: u64) {
        let retry = u64::from(self.app.config.inbound_retry_ms);
        let acked_upto = self.link_acked();
        for k in 0..S {
            let i = (self.app.turn + k) % S;
            let Some(shared) = self.app.shared.slots.get(i) else {
                continue;
            };
            let slot = SlotId(u8::try_from(i).unwrap_or(u8::MAX));
            loop {
                if self.session.window_free() == 0 {
                    return;
                }
                let seq = self.app.mem.stats.sent;
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
        for s in &self.app.shared.slots {
            flagged |= s.with(|c| core::mem::take(&mut c.status_changed));
        }
        if !flagged && now < self.app.next_status_check {
            return;
        }
        self.app.next_status_check = now.saturating_add(1_000);
        for i in 0..S {
            if self.session.window_free() < 2 {
                // Look again at the next check.
                self.app.next_status_check = now;
                return;
            }
            let Some(status) = self.app.status_of(i) else {
                continue;
            };
            let interval = u64::from(self.app.config.status_interval_ms);
            let Some(link) = self.app.mem.slots.get(i) else {
                continue;
            };
            let seen = Seen::of(&status);
            let due = match &link.last() {
                None => true,
                Some(last) if last.all == seen.all => false,
                Some(last) => {
                    last.important != seen.important || now.saturating_sub(link.last_at) >= interval
                }
            };
            if !due {
                continue;
            }
            let last = link.last();
            if !self.push(&BankToHost::SlotStatus(status)) {
                return;
            }
            let slot = SlotId(u8::try_from(i).unwrap_or(u8::MAX));
            if let Some(l) = last {
                if seen.power_cycles != l.power_cycles {
                    self.app
                        .log(LogLevel::Warn, Some(slot), format_args!("power cycled"));
                } else if seen.reinits != l.reinits {
                    self.app
                        .log(LogLevel::Warn, Some(slot), format_args!("re-initialised"));
                }
                if seen.state != l.state {
                    let state = seen.state;
                    self.app
                        .log(LogLevel::Info, Some(slot), format_args!("{state:?}"));
                }
            }
            if let Some(link) = self.app.mem.slots.get_mut(i) {
                link.set_last(Some(seen), now);
            }
        }
    }

    /// Hands `msg` to the session; `false` if the window is full.
    fn push(&mut self, msg: &BankToHost) -> bool {
        match self.session.send(msg) {
            Ok(()) => {
                self.app.mem.stats.sent = self.app.mem.stats.sent.wrapping_add(1);
                true
            }
            Err(_) => false,
        }
    }
}

impl<M: RawMutex, const S: usize> App<'_, M, S> {
    /// A session event. Runs inside the session's callback: it queues work and sets flags,
    /// never sends (the session is busy); `Link::after_events` does what needs the session.
    fn on_event(&mut self, ev: Event<HostToBank>, now: u64) {
        match ev {
            Event::LinkUp => {
                self.relinked |= self.was_down;
                self.was_down = false;
                self.log(LogLevel::Info, None, format_args!("link up"));
            }
            Event::LinkDown(reason) => {
                self.was_down = true;
                self.log(LogLevel::Warn, None, format_args!("link down: {reason:?}"));
            }
            Event::PeerRestarted { in_doubt } => self.restarted = Some(in_doubt),
            Event::Message(msg) => {
                self.mem.stats.received = self.mem.stats.received.wrapping_add(1);
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

    /// Marks held messages to be offered again: all of them, or (`delivered_only`) those the
    /// link delivered to the host (sent before ordinal `acked_upto`).
    fn reoffer(&mut self, delivered_only: bool, acked_upto: u32) {
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

    fn on_message(&mut self, msg: HostToBank, now: u64) {
        match msg {
            HostToBank::Submit { slot, tag, pdu } => self.on_submit(slot, tag, pdu, now),
            HostToBank::Cancel { tag } => self.on_cancel(tag),
            HostToBank::ResetSlot { slot, hard } => {
                if let Some(s) = self.shared.slots.get(usize::from(slot.0)) {
                    s.with(|c| c.request_reset(hard));
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
            || self.mem.replies.iter().any(|r| r.1 == tag)
        {
            return;
        }
        // A repeat of a finished one (the host restarted or lost the result): the same answer,
        // not a second SMS.
        if let Some((was, outcome)) = self.mem.recent.get(tag) {
            return self.reply_outcome(was, tag, outcome);
        }
        let Some(link) = self.mem.slots.get_mut(usize::from(slot.0)) else {
            return self.reply(slot, tag, SubmitError::NoSuchSlot);
        };
        if link.disabled {
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
                self.mem.recent.record(tag, slot, outcome);
                return self.reply_outcome(slot, tag, outcome);
            }
        }
        // In progress (it completes normally), already reported, or unknown: nothing to do.
    }

    fn on_configure(&mut self, slot: SlotId, config: SlotConfig) {
        let i = usize::from(slot.0);
        let (Some(link), Some(shared)) = (self.mem.slots.get_mut(i), self.shared.slots.get(i))
        else {
            return;
        };
        link.disabled = !config.enabled;
        link.limiter.set(config.limits);
        let unknown = config
            .profile
            .as_deref()
            .is_some_and(|name| convert::profile(name).is_none());
        let enabled = config.enabled;
        let mut refused = heapless::Vec::<HostTag, { crate::SUBMIT_QUEUE }>::new();
        shared.with(|c| {
            c.request_configure(config);
            c.status_changed = true;
            if !enabled {
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
        if self.mem.replies.push_back((slot, tag, outcome)).is_err() {
            // Every such reply is for a submit that was not sent, so losing one never loses
            // or duplicates an SMS; the host's own timeout resolves it.
            self.mem.stats.replies_dropped = self.mem.stats.replies_dropped.wrapping_add(1);
            let n = self.mem.stats.replies_dropped;
            self.log(
                LogLevel::Error,
                Some(slot),
                format_args!("refusal of tag {} dropped ({n} so far)", tag.0),
            );
        }
    }

    fn status_of(&self, i: usize) -> Option<link::msg::SlotStatus> {
        let control = self.controls.get(i)?;
        let queued = self.shared.slots.get(i)?.with(|c| c.queued());
        let enabled = !self.mem.slots.get(i)?.disabled;
        let slot = SlotId(u8::try_from(i).ok()?);
        Some(convert::slot_status(
            slot,
            &control.status(),
            queued,
            enabled,
        ))
    }

    fn log(&mut self, level: LogLevel, slot: Option<SlotId>, args: core::fmt::Arguments<'_>) {
        let mut text = String::new();
        // A line longer than the link allows is cut; that is all `write` can fail with.
        let _ = text.write_fmt(args);
        if self.mem.logs.is_full() {
            self.mem.logs.pop_front();
            self.mem.stats.logs_dropped = self.mem.stats.logs_dropped.wrapping_add(1);
        }
        let _ = self.mem.logs.push_back(LogEvent { level, slot, text });
    }
}

/// What the link task remembers of a sent status: digests instead of the 144-byte value (four
/// slots' copies would cost more RAM than the rest of the link task's bookkeeping). A digest
/// collision (one in 2³²) delays a status until the next change or interval; nothing else.
#[derive(Debug, Clone, Copy)]
struct Seen {
    /// Digest of state, registration, SIM and operator: a change is sent at once.
    important: u32,
    /// Digest of the whole status: any change is sent within the status interval.
    all: u32,
    state: link::msg::SlotState,
    reinits: u32,
    power_cycles: u32,
}

impl Seen {
    /// The all-zero value, for memory where nothing was sent yet.
    const NONE: Seen = Seen {
        important: 0,
        all: 0,
        state: link::msg::SlotState::Off,
        reinits: 0,
        power_cycles: 0,
    };

    fn of(s: &link::msg::SlotStatus) -> Seen {
        use core::hash::{Hash, Hasher};
        let mut important = Fnv::default();
        (s.state, s.registration, &s.sim, &s.operator).hash(&mut important);
        let mut all = Fnv::default();
        s.hash(&mut all);
        Seen {
            important: important.finish() as u32,
            all: all.finish() as u32,
            state: s.state,
            reinits: s.counters.reinits,
            power_cycles: s.counters.power_cycles,
        }
    }
}

/// FNV-1a (64-bit), a small non-cryptographic digest for change detection.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl core::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 32)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
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
