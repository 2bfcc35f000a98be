//! The reliability layer: a pure state machine that turns frames into an exactly-once, in-order
//! message stream between two peers while both stay up (`docs/link-protocol.md` §4).
//!
//! It owns the version handshake with boot ids, per-direction u16 sequence numbers, cumulative
//! acks (piggy-backed on data or standalone), go-back-N retransmission on timeout or NAK with
//! bounded retries, duplicate suppression, the bounded send window (back-pressure), keepalives,
//! and peer-restart detection. It does no I/O and reads no clock: bytes and `now_ms` come in,
//! events and bytes to write go out.

use core::fmt;
use core::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::frame::{
    FLAG_NAK, FLAG_PING, FrameDecoder, FrameError, Header, Hello, Kind, MAX_BODY_LEN, MAX_WIRE_LEN,
    RawFrame, encode, encode_message,
};
use crate::msg::{BankToHost, HostToBank};

/// A protocol version: `major` must match between peers, `minor` may differ
/// (`docs/link-protocol.md` §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// Incompatible changes bump this.
    pub major: u8,
    /// Compatible additions bump this.
    pub minor: u8,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The protocol version this crate speaks.
pub const VERSION: Version = Version { major: 1, minor: 0 };

/// Timing and identity of one session. All times are milliseconds of the caller's monotonic
/// clock (the same clock as every `now_ms` argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Config {
    /// This side's boot id. Must differ from the previous value every time a session starts
    /// from scratch (a reboot, a new process, a new `Session`): the peer detects a restart by
    /// it. A random `u32` or a counter kept across reboots both do.
    pub boot_id: u32,
    /// Resend unacknowledged data frames when the oldest has waited this long for an ack.
    pub retransmit_ms: u32,
    /// Timeouts in a row without progress before the link is declared down.
    pub max_retries: u8,
    /// Interval between handshake attempts while the link is not up.
    pub hello_interval_ms: u32,
    /// Send a keepalive probe when nothing was sent for this long while up.
    pub keepalive_ms: u32,
    /// Declare the link down when nothing valid was received for this long while up.
    pub idle_timeout_ms: u32,
}

impl Config {
    /// Defaults for a 115 200 baud line (`docs/link-protocol.md` §4.6): a full window of the
    /// largest frames (8 × 259 bytes) takes about 180 ms on the wire, so a 300 ms timeout rarely
    /// fires needlessly. A silent peer is noticed after 4 s (eight keepalives lost in a row);
    /// retries are generous (30, about 9 s) because on a line that corrupts 1 % of bytes a
    /// 250-byte frame arrives intact only about one time in ten.
    pub const fn new(boot_id: u32) -> Self {
        Self {
            boot_id,
            retransmit_ms: 300,
            max_retries: 30,
            hello_interval_ms: 500,
            keepalive_ms: 500,
            idle_timeout_ms: 4_000,
        }
    }
}

/// Where the handshake stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkState {
    /// Handshaking: sending `Hello` until the peer confirms our boot id. Data is queued, not
    /// sent, and received data is ignored.
    Connecting,
    /// Established: data flows.
    Up,
}

/// Why the link left [`LinkState::Up`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DownReason {
    /// The oldest unacknowledged frame timed out `max_retries + 1` times in a row.
    RetriesExhausted,
    /// Nothing valid arrived for `idle_timeout_ms`.
    PeerSilent,
    /// The peer announced a new boot id.
    PeerRestarted,
    /// The peer announced an incompatible major version.
    VersionMismatch,
}

/// What the session tells the layer above.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<Rx> {
    /// The handshake completed; queued messages flow.
    LinkUp,
    /// The link left [`LinkState::Up`]; messages stay queued and the handshake restarts.
    LinkDown(DownReason),
    /// The peer restarted (new boot id): sequence state was reset in both directions. Messages
    /// still queued here stay queued and will go to the new peer; use
    /// [`Session::retain_unconfirmed`] before the next [`Session::poll_transmit`] to drop some.
    /// The layer above must re-send whatever *it* tracks as unacknowledged (inbound SMS,
    /// submits without a result): the link does not carry state across a reboot.
    PeerRestarted {
        /// How many queued messages had been sent to the previous peer without an ack (their
        /// fate there is unknown).
        in_doubt: usize,
    },
    /// A message from the peer, delivered exactly once and in order.
    Message(Rx),
    /// The peer speaks an incompatible major version; no link is possible. Reported once per
    /// peer boot id.
    VersionMismatch {
        /// Our version.
        ours: Version,
        /// The peer's version.
        theirs: Version,
    },
    /// A data frame arrived intact but its body is not a message this version knows (a newer
    /// peer, or a bug). It was acknowledged and dropped.
    Undecodable {
        /// Its sequence number.
        seq: u16,
    },
}

/// Why [`Session::send`] refused a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SendError {
    /// The window is full of unacknowledged messages; try again after the peer acks.
    WindowFull,
    /// The message does not encode into [`MAX_BODY_LEN`] bytes.
    TooLarge,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WindowFull => f.write_str("send window full"),
            Self::TooLarge => f.write_str("message larger than a frame body"),
        }
    }
}

impl core::error::Error for SendError {}

/// Why [`Session::retain_unconfirmed`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetainError {
    /// Some queued message was already sent to the current peer, so the queue can no longer be
    /// renumbered.
    AlreadySent,
}

impl fmt::Display for RetainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("queued messages were already sent to the current peer")
    }
}

impl core::error::Error for RetainError {}

/// Counters for diagnostics; all wrap on overflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Stats {
    /// Frames handed out by `poll_transmit`.
    pub frames_sent: u32,
    /// Valid frames received.
    pub frames_received: u32,
    /// Data frames sent again.
    pub retransmits: u32,
    /// Retransmission timeouts.
    pub timeouts: u32,
    /// Frames with a bad CRC.
    pub crc_errors: u32,
    /// Frames with bad COBS, too short, too long or of an unknown kind.
    pub framing_errors: u32,
    /// Data frames received again (dropped, re-acked).
    pub duplicates: u32,
    /// Data frames received after a gap (dropped, NAKed).
    pub out_of_order: u32,
    /// Acks for frames never sent, and handshakes whose body did not decode (ignored).
    pub protocol_errors: u32,
    /// Data and ack frames received while not up (ignored).
    pub ignored: u32,
    /// Transitions out of `Up`.
    pub link_downs: u32,
    /// Peer restarts detected.
    pub peer_restarts: u32,
}

/// A session whose sends are `Tx` and receives are `Rx`, with room for `N` unacknowledged
/// messages (1 ≤ `N` ≤ 128).
pub struct Session<Tx, Rx, const N: usize> {
    decoder: FrameDecoder,
    core: Core<N>,
    _types: PhantomData<fn(Tx) -> Rx>,
}

/// The host's end: sends [`HostToBank`], receives [`BankToHost`].
pub type HostSession<const N: usize> = Session<HostToBank, BankToHost, N>;
/// The bank's end: sends [`BankToHost`], receives [`HostToBank`].
pub type BankSession<const N: usize> = Session<BankToHost, HostToBank, N>;

impl<Tx, Rx, const N: usize> fmt::Debug for Session<Tx, Rx, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.core;
        f.debug_struct("Session")
            .field("state", &c.state)
            .field("boot_id", &c.config.boot_id)
            .field("peer", &c.peer)
            .field("tx_base", &c.base)
            .field("queued", &c.count)
            .field("rx_next", &c.rx_next)
            .finish_non_exhaustive()
    }
}

impl<Tx, Rx, const N: usize> Session<Tx, Rx, N>
where
    Tx: Serialize,
    Rx: DeserializeOwned,
{
    /// A session in [`LinkState::Connecting`] that will send its first `Hello` at the first
    /// [`poll_transmit`](Self::poll_transmit).
    pub fn new(config: Config) -> Self {
        const {
            assert!(N >= 1 && N <= 128, "window must be 1..=128");
        }
        Self {
            decoder: FrameDecoder::new(),
            core: Core::new(config),
            _types: PhantomData,
        }
    }

    /// Queues `msg` for reliable delivery. It is sent once the link is up and the peer's window
    /// allows, and resent until acknowledged.
    ///
    /// # Errors
    /// [`SendError::WindowFull`] when `N` messages are unacknowledged (back-pressure: wait for
    /// [`window_free`](Self::window_free) to grow); [`SendError::TooLarge`] if it does not fit
    /// a frame.
    pub fn send(&mut self, msg: &Tx) -> Result<(), SendError> {
        let c = &mut self.core;
        if c.count >= N {
            return Err(SendError::WindowFull);
        }
        let idx = (c.head + c.count) % N;
        let slot = c.slots.get_mut(idx).ok_or(SendError::WindowFull)?;
        let len = postcard::to_slice(msg, &mut slot.body)
            .map_err(|_| SendError::TooLarge)?
            .len();
        // `to_slice` into a MAX_BODY_LEN (246) buffer cannot return more than fits a u8.
        slot.len = u8::try_from(len).map_err(|_| SendError::TooLarge)?;
        slot.sent_before = false;
        c.count += 1;
        Ok(())
    }

    /// Feeds received bytes (any chunking); calls `on_event` for each resulting event.
    pub fn handle_bytes(&mut self, bytes: &[u8], now_ms: u64, mut on_event: impl FnMut(Event<Rx>)) {
        let mut input = bytes;
        while let Some(result) = self.decoder.feed(&mut input) {
            match result {
                Ok(frame) => self.core.on_frame::<Rx>(&frame, now_ms, &mut on_event),
                Err(e) => self.core.on_frame_error(e),
            }
        }
    }

    /// Runs the timers: handshake retries, retransmission, keepalive, idle detection. Call it
    /// whenever `now_ms` reaches [`next_timeout`](Self::next_timeout) (calling it more often is
    /// harmless).
    pub fn handle_timeout(&mut self, now_ms: u64, mut on_event: impl FnMut(Event<Rx>)) {
        self.core.on_timeout(now_ms, &mut on_event);
    }

    /// Writes the next frame to send into `out` and returns its length, or `None` when there is
    /// nothing to send. Call it until `None` after every `send`, `handle_*` call.
    pub fn poll_transmit(&mut self, now_ms: u64, out: &mut [u8; MAX_WIRE_LEN]) -> Option<usize> {
        self.core.poll_transmit(now_ms, out)
    }

    /// The time at which [`handle_timeout`](Self::handle_timeout) has work to do, if any.
    pub fn next_timeout(&self) -> Option<u64> {
        self.core.next_timeout()
    }

    /// Where the handshake stands.
    pub fn state(&self) -> LinkState {
        self.core.state
    }

    /// Whether data flows.
    pub fn is_up(&self) -> bool {
        self.core.state == LinkState::Up
    }

    /// How many more messages [`send`](Self::send) accepts now.
    pub fn window_free(&self) -> usize {
        N - self.core.count
    }

    /// Messages queued and not yet acknowledged.
    pub fn unacked(&self) -> usize {
        self.core.count
    }

    /// The peer's protocol version and boot id, once a handshake was received.
    pub fn peer(&self) -> Option<(Version, u32)> {
        self.core.peer.map(|p| (p.version, p.boot_id))
    }

    /// This side's configuration.
    pub fn config(&self) -> &Config {
        &self.core.config
    }

    /// Diagnostic counters.
    pub fn stats(&self) -> Stats {
        self.core.stats
    }
}

impl<Tx, Rx, const N: usize> Session<Tx, Rx, N>
where
    Tx: Serialize + DeserializeOwned,
    Rx: DeserializeOwned,
{
    /// Decides, message by message and in order, which queued messages to keep; `keep` gets
    /// the message and whether it had been sent to a previous incarnation of the peer (so its
    /// fate there is unknown). Meant for the moment after [`Event::PeerRestarted`], before the
    /// next [`poll_transmit`](Self::poll_transmit); returns how many were kept.
    ///
    /// # Errors
    /// [`RetainError::AlreadySent`] once any queued message was sent to the current peer.
    pub fn retain_unconfirmed(
        &mut self,
        mut keep: impl FnMut(&Tx, bool) -> bool,
    ) -> Result<usize, RetainError> {
        let c = &mut self.core;
        if c.highest_sent > 0 {
            return Err(RetainError::AlreadySent);
        }
        let mut kept = 0;
        for i in 0..c.count {
            let from = (c.head + i) % N;
            let decision = match c.slots.get(from) {
                // A body we encoded ourselves always decodes; keep it if it somehow does not.
                Some(s) => {
                    postcard::from_bytes::<Tx>(s.body.get(..usize::from(s.len)).unwrap_or(&[]))
                        .map_or(true, |m| keep(&m, s.sent_before))
                }
                None => true,
            };
            if decision {
                let to = (c.head + kept) % N;
                if to != from {
                    c.move_slot(from, to);
                }
                kept += 1;
            }
        }
        c.count = kept;
        c.next_send = 0;
        Ok(kept)
    }
}

#[derive(Clone, Copy)]
struct Slot {
    body: [u8; MAX_BODY_LEN],
    len: u8,
    /// When this frame was last handed to `poll_transmit`'s caller.
    sent_at: u64,
    /// Sent to a previous incarnation of the peer, which restarted without acking it.
    sent_before: bool,
}

const EMPTY_SLOT: Slot = Slot {
    body: [0; MAX_BODY_LEN],
    len: 0,
    sent_at: 0,
    sent_before: false,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Peer {
    boot_id: u32,
    version: Version,
    window: usize,
}

/// Everything but the decoder, so that a frame borrowed from the decoder can be handled with
/// `&mut` access to the rest.
struct Core<const N: usize> {
    config: Config,
    state: LinkState,
    peer: Option<Peer>,

    // Send side: a ring of `count` messages starting at `head`, with sequence numbers from
    // `base`. Offsets below are relative to `head`.
    slots: [Slot; N],
    head: usize,
    count: usize,
    base: u16,
    /// Offset of the next frame to hand out; rewound to 0 to go back N.
    next_send: usize,
    /// Offsets below this were sent at least once to the current peer (acks beyond are bogus).
    highest_sent: usize,
    /// Retransmission timeouts in a row without an ack advancing.
    retries: u8,

    // Receive side.
    rx_next: u16,
    ack_pending: bool,
    nak_pending: bool,

    // Handshake and timers.
    hello_due: bool,
    hello_reply_pending: bool,
    next_hello_at: u64,
    ping_due: bool,
    last_rx_at: u64,
    last_tx_at: u64,
    mismatch_reported: Option<(u32, Version)>,

    stats: Stats,
}

impl<const N: usize> Core<N> {
    fn new(config: Config) -> Self {
        Self {
            config,
            state: LinkState::Connecting,
            peer: None,
            slots: [EMPTY_SLOT; N],
            head: 0,
            count: 0,
            base: 0,
            next_send: 0,
            highest_sent: 0,
            retries: 0,
            rx_next: 0,
            ack_pending: false,
            nak_pending: false,
            hello_due: true,
            hello_reply_pending: false,
            next_hello_at: 0,
            ping_due: false,
            last_rx_at: 0,
            last_tx_at: 0,
            mismatch_reported: None,
            stats: Stats::default(),
        }
    }

    fn slot(&self, offset: usize) -> Option<&Slot> {
        self.slots.get((self.head + offset) % N)
    }

    fn move_slot(&mut self, from: usize, to: usize) {
        if let Some(s) = self.slots.get(from).copied()
            && let Some(d) = self.slots.get_mut(to)
        {
            *d = s;
        }
    }

    fn effective_window(&self) -> usize {
        let peer = self.peer.map_or(N, |p| p.window);
        N.min(peer).max(1)
    }

    fn on_frame_error(&mut self, e: FrameError) {
        match e {
            FrameError::Crc => self.stats.crc_errors = self.stats.crc_errors.wrapping_add(1),
            _ => self.stats.framing_errors = self.stats.framing_errors.wrapping_add(1),
        }
        // A damaged frame may have been a data frame: tell the peer at once which sequence
        // number we need, rather than waiting for its retransmission timeout.
        if self.state == LinkState::Up {
            self.ack_pending = true;
            self.nak_pending = true;
        }
    }

    fn on_frame<Rx: DeserializeOwned>(
        &mut self,
        frame: &RawFrame<'_>,
        now: u64,
        on_event: &mut impl FnMut(Event<Rx>),
    ) {
        self.stats.frames_received = self.stats.frames_received.wrapping_add(1);
        let h = frame.header;
        match h.kind {
            Kind::Hello | Kind::HelloAck => match frame.decode_body::<Hello>() {
                Ok(hello) => self.on_hello(h.kind, &hello, now, on_event),
                Err(_) => self.stats.protocol_errors = self.stats.protocol_errors.wrapping_add(1),
            },
            Kind::Data | Kind::Ack if self.state != LinkState::Up => {
                self.stats.ignored = self.stats.ignored.wrapping_add(1);
            }
            Kind::Data => {
                self.last_rx_at = now;
                self.on_ack(h.ack, h.flags & FLAG_NAK != 0);
                self.on_data(h.seq, frame, on_event);
            }
            Kind::Ack => {
                self.last_rx_at = now;
                self.on_ack(h.ack, h.flags & FLAG_NAK != 0);
                if h.flags & FLAG_PING != 0 {
                    self.ack_pending = true;
                }
            }
        }
    }

    fn on_hello<Rx>(
        &mut self,
        kind: Kind,
        hello: &Hello,
        now: u64,
        on_event: &mut impl FnMut(Event<Rx>),
    ) {
        if hello.boot_id == self.config.boot_id {
            // Our own handshake coming back: TX looped to RX, or a modem echoing. Talking to
            // ourselves would look like a working link, so refuse it.
            self.stats.protocol_errors = self.stats.protocol_errors.wrapping_add(1);
            return;
        }
        let theirs = Version {
            major: hello.major,
            minor: hello.minor,
        };
        if theirs.major != VERSION.major {
            if self.mismatch_reported != Some((hello.boot_id, theirs)) {
                self.mismatch_reported = Some((hello.boot_id, theirs));
                on_event(Event::VersionMismatch {
                    ours: VERSION,
                    theirs,
                });
            }
            self.go_down(DownReason::VersionMismatch, on_event);
            return;
        }
        let mut learned = false;
        match self.peer {
            Some(p) if p.boot_id == hello.boot_id => {}
            Some(_) => {
                self.go_down(DownReason::PeerRestarted, on_event);
                let in_doubt = self.reset_sequences();
                self.stats.peer_restarts = self.stats.peer_restarts.wrapping_add(1);
                on_event(Event::PeerRestarted { in_doubt });
                learned = true;
            }
            None => learned = true,
        }
        self.peer = Some(Peer {
            boot_id: hello.boot_id,
            version: theirs,
            window: usize::from(hello.window).max(1),
        });
        self.last_rx_at = now;
        let confirmed = hello.peer_boot_id == Some(self.config.boot_id);
        if confirmed {
            // The peer (re)connected to this very incarnation of us: resend everything
            // unacknowledged from the start of the window and announce our receive state.
            self.next_send = 0;
            self.ack_pending = true;
            if self.state == LinkState::Connecting {
                self.state = LinkState::Up;
                self.retries = 0;
                self.last_tx_at = now;
                on_event(Event::LinkUp);
            }
        }
        // Answer a request, and also any handshake that shows the peer does not know us yet or
        // that taught us something new, so it can complete its side without waiting for its
        // next hello interval. Two peers that both know each other stop here.
        if kind == Kind::Hello || !confirmed || learned {
            self.hello_reply_pending = true;
        }
    }

    /// Forgets sequence state in both directions after a peer restart; queued messages are
    /// kept and renumbered from 0. Returns how many had been sent to the old peer.
    fn reset_sequences(&mut self) -> usize {
        let mut in_doubt = 0;
        for i in 0..self.count {
            let sent = i < self.highest_sent;
            if let Some(s) = self.slots.get_mut((self.head + i) % N) {
                s.sent_before |= sent;
                if s.sent_before {
                    in_doubt += 1;
                }
            }
        }
        self.base = 0;
        self.next_send = 0;
        self.highest_sent = 0;
        self.retries = 0;
        self.rx_next = 0;
        self.ack_pending = false;
        self.nak_pending = false;
        in_doubt
    }

    fn on_ack(&mut self, ack: u16, nak: bool) {
        let ahead = ack.wrapping_sub(self.base);
        if ahead >= 0x8000 {
            // Behind our base: an old ack (e.g. on a duplicated frame); nothing new in it.
            return;
        }
        let acked = usize::from(ahead);
        if acked > self.highest_sent {
            // Acknowledges frames never sent: a confused or stale peer. Ignore it.
            self.stats.protocol_errors = self.stats.protocol_errors.wrapping_add(1);
            return;
        }
        if acked > 0 {
            self.head = (self.head + acked) % N;
            self.count = self.count.saturating_sub(acked);
            self.base = ack;
            self.next_send = self.next_send.saturating_sub(acked);
            self.highest_sent = self.highest_sent.saturating_sub(acked);
            self.retries = 0;
        }
        // Go back N at once on a NAK. NAKs made stale by frames already in flight when the loss
        // happened rewind again, which costs at most a window of repeats; measured under 1 %
        // byte corruption this beats holding NAKs off for a while by a factor of 1.5 to 2.
        if nak && self.next_send > 0 {
            self.next_send = 0;
        }
    }

    fn on_data<Rx: DeserializeOwned>(
        &mut self,
        seq: u16,
        frame: &RawFrame<'_>,
        on_event: &mut impl FnMut(Event<Rx>),
    ) {
        self.ack_pending = true;
        if seq == self.rx_next {
            self.rx_next = self.rx_next.wrapping_add(1);
            match frame.decode_body::<Rx>() {
                Ok(msg) => on_event(Event::Message(msg)),
                Err(_) => on_event(Event::Undecodable { seq }),
            }
        } else if self.rx_next.wrapping_sub(seq) <= 0x8000 {
            // Behind us: already delivered, the ack got lost. Ack again, deliver nothing.
            self.stats.duplicates = self.stats.duplicates.wrapping_add(1);
        } else {
            // Ahead of us: a frame in between was lost.
            self.stats.out_of_order = self.stats.out_of_order.wrapping_add(1);
            self.nak_pending = true;
        }
    }

    fn go_down<Rx>(&mut self, reason: DownReason, on_event: &mut impl FnMut(Event<Rx>)) {
        if self.state != LinkState::Up {
            return;
        }
        self.state = LinkState::Connecting;
        self.hello_due = true;
        self.next_send = 0;
        self.retries = 0;
        self.ack_pending = false;
        self.nak_pending = false;
        self.ping_due = false;
        self.stats.link_downs = self.stats.link_downs.wrapping_add(1);
        on_event(Event::LinkDown(reason));
    }

    fn on_timeout<Rx>(&mut self, now: u64, on_event: &mut impl FnMut(Event<Rx>)) {
        match self.state {
            LinkState::Connecting => {
                if now >= self.next_hello_at {
                    self.hello_due = true;
                }
            }
            LinkState::Up => {
                if now >= self.idle_deadline() {
                    self.go_down(DownReason::PeerSilent, on_event);
                    return;
                }
                if let Some(deadline) = self.retransmit_deadline()
                    && now >= deadline
                {
                    self.stats.timeouts = self.stats.timeouts.wrapping_add(1);
                    self.retries = self.retries.saturating_add(1);
                    if self.retries > self.config.max_retries {
                        self.go_down(DownReason::RetriesExhausted, on_event);
                        return;
                    }
                    self.next_send = 0;
                }
                if now >= self.keepalive_deadline() {
                    self.ping_due = true;
                }
            }
        }
    }

    fn idle_deadline(&self) -> u64 {
        self.last_rx_at
            .saturating_add(u64::from(self.config.idle_timeout_ms))
    }

    fn keepalive_deadline(&self) -> u64 {
        self.last_tx_at
            .saturating_add(u64::from(self.config.keepalive_ms))
    }

    fn retransmit_deadline(&self) -> Option<u64> {
        if self.next_send == 0 {
            return None;
        }
        let sent_at = self.slot(0)?.sent_at;
        Some(sent_at.saturating_add(u64::from(self.config.retransmit_ms)))
    }

    fn next_timeout(&self) -> Option<u64> {
        match self.state {
            LinkState::Connecting => Some(self.next_hello_at),
            LinkState::Up => {
                let mut t = self.idle_deadline().min(self.keepalive_deadline());
                if let Some(r) = self.retransmit_deadline() {
                    t = t.min(r);
                }
                Some(t)
            }
        }
    }

    fn hello(&self) -> Hello {
        Hello {
            major: VERSION.major,
            minor: VERSION.minor,
            boot_id: self.config.boot_id,
            peer_boot_id: self.peer.map(|p| p.boot_id),
            // N <= 128 (checked in `Session::new`).
            window: u8::try_from(N).unwrap_or(u8::MAX),
        }
    }

    fn poll_transmit(&mut self, now: u64, out: &mut [u8; MAX_WIRE_LEN]) -> Option<usize> {
        let n = self.next_frame(now, out)?;
        self.last_tx_at = now;
        self.stats.frames_sent = self.stats.frames_sent.wrapping_add(1);
        Some(n)
    }

    fn next_frame(&mut self, now: u64, out: &mut [u8; MAX_WIRE_LEN]) -> Option<usize> {
        if self.hello_reply_pending {
            self.hello_reply_pending = false;
            return encode_message(&Header::new(Kind::HelloAck), &self.hello(), out).ok();
        }
        if self.state == LinkState::Connecting {
            if !self.hello_due {
                return None;
            }
            self.hello_due = false;
            self.next_hello_at = now.saturating_add(u64::from(self.config.hello_interval_ms));
            // A leading delimiter ends whatever noise or half frame the line carried before,
            // so the handshake is not glued onto it (`docs/link-protocol.md` §2).
            let (first, rest) = out.split_first_mut()?;
            *first = 0;
            let n = encode_message(&Header::new(Kind::Hello), &self.hello(), rest).ok()?;
            return Some(n + 1);
        }
        let mut flags = 0;
        if self.nak_pending {
            flags |= FLAG_NAK;
        }
        if self.next_send < self.count && self.next_send < self.effective_window() {
            let offset = self.next_send;
            let seq = self.base.wrapping_add(u16::try_from(offset).ok()?);
            let header = Header {
                kind: Kind::Data,
                flags,
                seq,
                ack: self.rx_next,
            };
            let idx = (self.head + offset) % N;
            let slot = self.slots.get_mut(idx)?;
            let n = encode(&header, slot.body.get(..usize::from(slot.len))?, out).ok()?;
            slot.sent_at = now;
            if offset < self.highest_sent {
                self.stats.retransmits = self.stats.retransmits.wrapping_add(1);
            }
            self.next_send += 1;
            self.highest_sent = self.highest_sent.max(self.next_send);
            self.ack_pending = false;
            self.nak_pending = false;
            return Some(n);
        }
        if self.ack_pending || self.ping_due {
            if self.ping_due {
                flags |= FLAG_PING;
            }
            let header = Header {
                kind: Kind::Ack,
                flags,
                seq: 0,
                ack: self.rx_next,
            };
            self.ack_pending = false;
            self.nak_pending = false;
            self.ping_due = false;
            return encode(&header, &[], out).ok();
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::CRC;

    type S<const N: usize> = Session<u32, u32, N>;

    /// One end of a test link: the session and what it reported, rendered with `Debug`.
    struct End<const N: usize> {
        s: S<N>,
        log: Vec<String>,
    }

    impl<const N: usize> End<N> {
        fn new(boot_id: u32) -> Self {
            Self {
                s: S::new(Config::new(boot_id)),
                log: Vec::new(),
            }
        }
        fn frames(&mut self, now: u64) -> Vec<Vec<u8>> {
            let mut out = Vec::new();
            let mut buf = [0u8; MAX_WIRE_LEN];
            while let Some(n) = self.s.poll_transmit(now, &mut buf) {
                out.push(buf[..n].to_vec());
                assert!(out.len() < 1000, "poll_transmit never stops");
            }
            out
        }
        fn feed(&mut self, bytes: &[u8], now: u64) {
            let log = &mut self.log;
            self.s
                .handle_bytes(bytes, now, |e| log.push(format!("{e:?}")));
        }
        fn tick(&mut self, now: u64) {
            let log = &mut self.log;
            self.s.handle_timeout(now, |e| log.push(format!("{e:?}")));
        }
        fn take_log(&mut self) -> Vec<String> {
            std::mem::take(&mut self.log)
        }
    }

    /// Exchanges frames until both ends are quiet. `line(a_to_b, frame)` returns how many copies
    /// of the frame arrive (0 drops it) and may alter it.
    fn pump<const A: usize, const B: usize>(
        a: &mut End<A>,
        b: &mut End<B>,
        now: u64,
        mut line: impl FnMut(bool, &mut Vec<u8>) -> usize,
    ) -> (usize, usize) {
        let (mut sent_a, mut sent_b) = (0, 0);
        for _ in 0..100 {
            let fa = a.frames(now);
            let fb = b.frames(now);
            if fa.is_empty() && fb.is_empty() {
                return (sent_a, sent_b);
            }
            sent_a += fa.len();
            sent_b += fb.len();
            for mut f in fa {
                for _ in 0..line(true, &mut f) {
                    b.feed(&f, now);
                }
            }
            for mut f in fb {
                for _ in 0..line(false, &mut f) {
                    a.feed(&f, now);
                }
            }
        }
        panic!("the ends never went quiet");
    }

    fn clean(_: bool, _: &mut Vec<u8>) -> usize {
        1
    }

    fn connected<const A: usize, const B: usize>() -> (End<A>, End<B>) {
        let mut a = End::new(0xA);
        let mut b = End::new(0xB);
        pump(&mut a, &mut b, 0, clean);
        assert_eq!(a.take_log(), ["LinkUp"]);
        assert_eq!(b.take_log(), ["LinkUp"]);
        (a, b)
    }

    fn kind_of(frame: &[u8]) -> Option<(Kind, u8, u16, u16)> {
        let mut d = FrameDecoder::new();
        let mut input = frame;
        let mut found = None;
        while let Some(r) = d.feed(&mut input) {
            if let Ok(f) = r {
                found = Some((f.header.kind, f.header.flags, f.header.seq, f.header.ack));
            }
        }
        found
    }

    fn kinds(frames: &[Vec<u8>]) -> Vec<Kind> {
        frames
            .iter()
            .filter_map(|f| kind_of(f))
            .map(|k| k.0)
            .collect()
    }

    #[test]
    fn cold_handshake() {
        let mut a: End<8> = End::new(0xA);
        let mut b: End<8> = End::new(0xB);
        // Hellos cross; each answers with a HelloAck that names the other, and the first ack
        // announces the (empty) receive state.
        let mut seen = Vec::new();
        pump(&mut a, &mut b, 0, |a_to_b, f| {
            if a_to_b {
                seen.push(kind_of(f).unwrap().0);
            }
            1
        });
        assert_eq!(seen, [Kind::Hello, Kind::HelloAck, Kind::Ack]);
        assert_eq!(a.take_log(), ["LinkUp"]);
        assert_eq!(b.take_log(), ["LinkUp"]);
        assert_eq!(a.s.peer(), Some((VERSION, 0xB)));
        // Only one side's hello gets through.
        let mut a: End<8> = End::new(0xA);
        let mut b: End<8> = End::new(0xB);
        let hello = a.frames(0);
        let _ = b.frames(0); // b's hello is lost
        b.feed(&hello[0], 0);
        let answer = b.frames(0);
        assert_eq!(kinds(&answer), [Kind::HelloAck]);
        a.feed(&answer[0], 0);
        assert_eq!(a.take_log(), ["LinkUp"]);
        let confirm = a.frames(0);
        assert_eq!(kinds(&confirm), [Kind::HelloAck, Kind::Ack]);
        b.feed(&confirm[0], 0);
        assert_eq!(b.take_log(), ["LinkUp"]);
    }

    #[test]
    fn hello_is_retried_until_answered() {
        let mut a: End<8> = End::new(0xA);
        let mut b: End<8> = End::new(0xB);
        assert_eq!(a.frames(0).len(), 1);
        assert_eq!(a.s.next_timeout(), Some(500));
        a.tick(499);
        assert!(a.frames(499).is_empty());
        a.tick(500);
        let again = a.frames(500);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0][0], 0, "a handshake starts with a delimiter");
        assert_eq!(kind_of(&again[0]).map(|k| k.0), Some(Kind::Hello));
        pump(&mut a, &mut b, 500, clean);
        assert!(a.s.is_up() && b.s.is_up());
    }

    #[test]
    fn messages_flow_both_ways_in_order() {
        let (mut a, mut b) = connected::<8, 8>();
        for i in 0..5 {
            a.s.send(&i).unwrap();
            b.s.send(&(100 + i)).unwrap();
        }
        pump(&mut a, &mut b, 1, clean);
        assert_eq!(
            b.take_log(),
            [
                "Message(0)",
                "Message(1)",
                "Message(2)",
                "Message(3)",
                "Message(4)"
            ]
        );
        assert_eq!(
            a.take_log(),
            [
                "Message(100)",
                "Message(101)",
                "Message(102)",
                "Message(103)",
                "Message(104)"
            ]
        );
        assert_eq!((a.s.unacked(), b.s.unacked()), (0, 0));
    }

    #[test]
    fn window_full_is_back_pressure() {
        let mut a: End<4> = End::new(0xA);
        let mut b: End<4> = End::new(0xB);
        for i in 0..4 {
            a.s.send(&i).unwrap();
        }
        assert_eq!(a.s.send(&9), Err(SendError::WindowFull));
        assert_eq!(a.s.window_free(), 0);
        pump(&mut a, &mut b, 0, clean);
        assert_eq!(a.s.window_free(), 4);
        a.s.send(&9).unwrap();
        pump(&mut a, &mut b, 0, clean);
        assert_eq!(
            b.take_log(),
            [
                "LinkUp",
                "Message(0)",
                "Message(1)",
                "Message(2)",
                "Message(3)",
                "Message(9)"
            ]
        );
    }

    #[test]
    fn peer_window_limits_frames_in_flight() {
        let (mut a, mut b) = connected::<8, 2>();
        for i in 0..8 {
            a.s.send(&i).unwrap();
        }
        let burst = a.frames(1);
        assert_eq!(burst.len(), 2, "the peer advertised a window of 2");
        for f in &burst {
            b.feed(f, 1);
        }
        pump(&mut a, &mut b, 1, clean);
        assert_eq!(b.take_log().len(), 8);
    }

    #[test]
    fn too_large_message_is_refused() {
        // Postcard writes a u32 as a varint of up to 5 bytes: 64 of them at most 320 bytes.
        type Big = ([u32; 32], [u32; 32]);
        let mut s: Session<Big, u32, 2> = Session::new(Config::new(1));
        assert_eq!(s.send(&([1; 32], [1; 32])), Ok(()));
        assert_eq!(
            s.send(&([u32::MAX; 32], [u32::MAX; 32])),
            Err(SendError::TooLarge)
        );
        assert_eq!(s.unacked(), 1);
    }

    #[test]
    fn duplicates_are_acked_but_not_delivered() {
        let (mut a, mut b) = connected::<8, 8>();
        a.s.send(&7).unwrap();
        let (_, b_sent) = pump(&mut a, &mut b, 1, |a_to_b, _| if a_to_b { 3 } else { 1 });
        assert_eq!(b.take_log(), ["Message(7)"]);
        assert_eq!(b.s.stats().duplicates, 2);
        assert!(b_sent >= 1, "the duplicate is acked again");
    }

    #[test]
    fn lost_frame_is_resent_after_timeout() {
        let (mut a, mut b) = connected::<8, 8>();
        a.s.send(&1).unwrap();
        let lost = a.frames(10);
        assert_eq!(lost.len(), 1);
        assert_eq!(a.s.next_timeout(), Some(310));
        a.tick(309);
        assert!(a.frames(309).is_empty());
        a.tick(310);
        pump(&mut a, &mut b, 310, clean);
        assert_eq!(b.take_log(), ["Message(1)"]);
        assert_eq!(a.s.stats().retransmits, 1);
        assert_eq!(a.s.stats().timeouts, 1);
    }

    #[test]
    fn lost_ack_causes_resend_and_suppressed_duplicate() {
        let (mut a, mut b) = connected::<8, 8>();
        a.s.send(&1).unwrap();
        pump(&mut a, &mut b, 10, |a_to_b, _| usize::from(a_to_b));
        assert_eq!(b.take_log(), ["Message(1)"]);
        assert_eq!(a.s.unacked(), 1);
        a.tick(400);
        pump(&mut a, &mut b, 400, clean);
        assert_eq!(b.take_log(), Vec::<String>::new());
        assert_eq!(a.s.unacked(), 0);
    }

    #[test]
    fn corrupted_data_is_nacked_and_resent_without_waiting() {
        let (mut a, mut b) = connected::<8, 8>();
        a.s.send(&1).unwrap();
        a.s.send(&2).unwrap();
        let mut first = true;
        let mut b_frames = Vec::new();
        pump(&mut a, &mut b, 10, |a_to_b, f| {
            if a_to_b && first {
                first = false;
                f[3] ^= 0x40;
            }
            if !a_to_b {
                b_frames.push(kind_of(f));
            }
            1
        });
        // Frame 0 was damaged, frame 1 arrived out of order; the NAK brought both back at once.
        assert_eq!(b.take_log(), ["Message(1)", "Message(2)"]);
        assert_eq!(b_frames[0], Some((Kind::Ack, FLAG_NAK, 0, 0)));
        let st = b.s.stats();
        assert_eq!(st.crc_errors + st.framing_errors, 1);
        assert_eq!(a.s.stats().timeouts, 0);
    }

    #[test]
    fn retries_exhausted_take_the_link_down_and_resume_keeps_order() {
        let (mut a, mut b) = connected::<8, 8>();
        a.s.send(&1).unwrap();
        a.s.send(&2).unwrap();
        let mut now = 10;
        let _ = a.frames(now); // lost
        // b stays audible (keepalives, then hellos once it gives up on a) but never hears a's
        // data, so only the retry limit can end the link on a's side.
        let mut steps = 0;
        while a.log.is_empty() {
            steps += 1;
            assert!(steps < 200, "the link never went down");
            now += 100;
            a.tick(now);
            let _ = a.frames(now);
            b.tick(now);
            for f in b.frames(now) {
                a.feed(&f, now);
            }
        }
        assert_eq!(a.take_log(), ["LinkDown(RetriesExhausted)"]);
        assert_eq!(a.s.stats().timeouts, 31);
        assert_eq!(b.take_log(), ["LinkDown(PeerSilent)"]);
        assert_eq!(a.s.state(), LinkState::Connecting);
        assert_eq!(a.s.unacked(), 2);
        // The same two incarnations meet again at the next hello: no restart, nothing lost or
        // repeated.
        now += 500;
        a.tick(now);
        b.tick(now);
        pump(&mut a, &mut b, now, clean);
        assert_eq!(a.take_log(), ["LinkUp"]);
        assert_eq!(b.take_log(), ["LinkUp", "Message(1)", "Message(2)"]);
        assert_eq!(a.s.stats().peer_restarts + b.s.stats().peer_restarts, 0);
        assert_eq!(a.s.unacked(), 0);
    }

    #[test]
    fn silent_peer_is_detected_and_keepalives_prevent_it() {
        let (mut a, mut b) = connected::<8, 8>();
        // Idle but connected: keepalives keep both ends up for a long time.
        let mut now = 0;
        for _ in 0..100 {
            now += 100;
            a.tick(now);
            b.tick(now);
            pump(&mut a, &mut b, now, clean);
        }
        assert!(a.s.is_up() && b.s.is_up());
        assert_eq!((a.take_log(), b.take_log()), (vec![], vec![]));
        // b goes quiet.
        for _ in 0..50 {
            now += 100;
            a.tick(now);
            let _ = a.frames(now);
        }
        assert_eq!(a.take_log(), ["LinkDown(PeerSilent)"]);
    }

    #[test]
    fn peer_restart_resets_sequences_and_keeps_queued_messages() {
        let (mut a, mut b) = connected::<8, 8>();
        for i in 0..3 {
            a.s.send(&i).unwrap();
        }
        // Message 0 is delivered and acked; 1 is delivered but its ack is lost; 2 is never sent.
        let f = a.frames(1);
        b.feed(&f[0], 1);
        for ack in b.frames(1) {
            a.feed(&ack, 1);
        }
        b.feed(&f[1], 1);
        assert_eq!(b.take_log(), ["Message(0)", "Message(1)"]);
        // b reboots.
        let mut b2: End<8> = End::new(0xB2);
        pump(&mut a, &mut b2, 2, clean);
        assert_eq!(
            a.take_log(),
            [
                "LinkDown(PeerRestarted)",
                "PeerRestarted { in_doubt: 2 }",
                "LinkUp"
            ]
        );
        // At-least-once across the reboot: the in-doubt messages go to the new incarnation.
        assert_eq!(b2.take_log(), ["LinkUp", "Message(1)", "Message(2)"]);
    }

    #[test]
    fn retain_unconfirmed_drops_in_doubt_messages_before_they_are_resent() {
        let (mut a, _b) = connected::<8, 8>();
        for i in 0..4 {
            a.s.send(&i).unwrap();
        }
        let _ = a.frames(1); // 0..3 sent, all lost
        a.s.send(&4).unwrap();
        assert_eq!(
            a.s.retain_unconfirmed(|_, _| true),
            Err(RetainError::AlreadySent)
        );
        let mut b2: End<8> = End::new(0xB2);
        // Deliver only b2's hello, so a learns of the restart but is not up yet.
        for f in b2.frames(2) {
            a.feed(&f, 2);
        }
        assert_eq!(
            a.take_log(),
            ["LinkDown(PeerRestarted)", "PeerRestarted { in_doubt: 4 }"]
        );
        let mut seen = Vec::new();
        let kept = a.s.retain_unconfirmed(|m, in_doubt| {
            seen.push((*m, in_doubt));
            *m % 2 == 0
        });
        assert_eq!(kept, Ok(3));
        assert_eq!(
            seen,
            [(0, true), (1, true), (2, true), (3, true), (4, false)]
        );
        pump(&mut a, &mut b2, 3, clean);
        assert_eq!(
            b2.take_log(),
            ["LinkUp", "Message(0)", "Message(2)", "Message(4)"]
        );
    }

    fn raw_hello(kind: Kind, major: u8, boot_id: u32, peer: Option<u32>) -> Vec<u8> {
        let hello = Hello {
            major,
            minor: 7,
            boot_id,
            peer_boot_id: peer,
            window: 8,
        };
        let mut buf = [0u8; MAX_WIRE_LEN];
        let n = encode_message(&Header::new(kind), &hello, &mut buf).unwrap();
        buf[..n].to_vec()
    }

    #[test]
    fn version_mismatch_is_refused_and_reported_once() {
        let mut a: End<8> = End::new(0xA);
        for _ in 0..3 {
            a.feed(&raw_hello(Kind::Hello, 2, 0xB, Some(0xA)), 0);
        }
        assert_eq!(
            a.take_log(),
            [
                "VersionMismatch { ours: Version { major: 1, minor: 0 }, theirs: Version { major: 2, minor: 7 } }"
            ]
        );
        assert!(!a.s.is_up());
        assert_eq!(a.s.peer(), None);
        // No answer is sent to an incompatible peer, only our own periodic hello.
        assert_eq!(a.frames(0).len(), 1);
        // A newer minor version of the same major is fine.
        a.feed(&raw_hello(Kind::Hello, 1, 0xB, Some(0xA)), 0);
        assert_eq!(a.take_log(), ["LinkUp"]);
        assert_eq!(a.s.peer(), Some((Version { major: 1, minor: 7 }, 0xB)));
        // The peer is replaced by one speaking another major version while up.
        a.feed(&raw_hello(Kind::Hello, 3, 0xC, None), 0);
        assert_eq!(a.take_log().len(), 2);
        assert!(!a.s.is_up());
    }

    #[test]
    fn a_looped_back_line_never_comes_up() {
        let mut a: End<8> = End::new(0xA);
        let mut now = 0;
        for _ in 0..10 {
            a.tick(now);
            for f in a.frames(now) {
                a.feed(&f, now);
            }
            now += 500;
        }
        assert_eq!(a.take_log(), Vec::<String>::new());
        assert_eq!(a.s.peer(), None);
        assert_eq!(a.s.stats().protocol_errors, 10);
    }

    #[test]
    fn undecodable_body_is_acked_and_reported() {
        let (_a, mut b) = connected::<8, 8>();
        // A data frame whose body is not a postcard u32 (0xFF continues a varint forever).
        let header = Header {
            kind: Kind::Data,
            flags: 0,
            seq: 0,
            ack: 0,
        };
        let mut buf = [0u8; MAX_WIRE_LEN];
        let n = encode(&header, &[0xFF; 6], &mut buf).unwrap();
        b.feed(&buf[..n], 1);
        assert_eq!(b.take_log(), ["Undecodable { seq: 0 }"]);
        let acks: Vec<_> = b.frames(1).iter().map(|f| kind_of(f)).collect();
        assert_eq!(acks, [Some((Kind::Ack, 0, 0, 1))]);
    }

    #[test]
    fn bogus_acks_are_ignored() {
        let (mut a, _b) = connected::<8, 8>();
        a.s.send(&1).unwrap();
        let _ = a.frames(1);
        let header = Header {
            kind: Kind::Ack,
            flags: 0,
            seq: 0,
            ack: 5,
        };
        let mut buf = [0u8; MAX_WIRE_LEN];
        let n = encode(&header, &[], &mut buf).unwrap();
        a.feed(&buf[..n], 1);
        assert_eq!(a.s.unacked(), 1);
        assert_eq!(a.s.stats().protocol_errors, 1);
    }

    #[test]
    fn sequence_numbers_wrap() {
        let (mut a, mut b) = connected::<8, 8>();
        a.s.core.base = 0xFFF0;
        b.s.core.rx_next = 0xFFF0;
        for i in 0..40u32 {
            a.s.send(&i).unwrap();
            pump(&mut a, &mut b, 1, clean);
        }
        let want: Vec<String> = (0..40).map(|i| format!("Message({i})")).collect();
        assert_eq!(b.take_log(), want);
        assert_eq!(b.s.core.rx_next, 0x0018);
    }

    #[test]
    fn a_session_fits_in_a_few_kib() {
        use crate::msg::{BankToHost, HostToBank};
        // docs/link-protocol.md §7 quotes these (2464 bytes on thumbv7em).
        // 2496 on 64-bit targets.
        assert!(size_of::<Session<HostToBank, BankToHost, 8>>() <= 2496);
        assert_eq!(size_of::<Slot>(), 256);
    }

    #[test]
    fn damaged_frames_never_deliver() {
        let (mut a, mut b) = connected::<8, 8>();
        a.s.send(&0xDEAD).unwrap();
        let f = a.frames(1).remove(0);
        for i in 0..f.len() - 1 {
            let mut bad = f.clone();
            bad[i] ^= 0x21;
            b.feed(&bad, 1);
        }
        assert_eq!(b.take_log(), Vec::<String>::new());
        // Keep the CRC import used: the frame checks with the same CRC as the frame layer.
        assert_eq!(CRC.checksum(b"123456789"), 0xE306_9283);
    }
}
