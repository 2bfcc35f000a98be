//! Transcript replay: a scripted modem (an embedded-io-async port that fails the test on any
//! unexpected write) and a driver that plays the caller's side through `Control`.
//!
//! Format, one step a line (see the crate README):
//! - `>> AT+CSQ`      the runner must write `AT+CSQ\r`
//! - `>>> 0011…\x1a`  the runner must write exactly these bytes (escapes `\r \n \\ \xHH`)
//! - `<< +CSQ: 21,0`  the modem answers `\r\n+CSQ: 21,0\r\n`; `<< >` is the prompt `\r\n> `
//! - `<<< AT\r`       the modem sends exactly these bytes (an echo, a torn line)
//! - `## …`           comment; blank lines are ignored
//! - `!! …`           directive for the driver (config, submit, expect, ack, reset, wait)
//!
//! Modem output is delivered only when every earlier step is done; a write while the modem
//! still has output queued, or that differs from the script, fails the test with the line
//! number. Time is tokio's paused clock, so timeouts pass instantly and deterministically.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use modem::digest::Mem;
use modem::profile::ProfileKind;
use modem::slot::{self, Config, Control, Event, SendError, State, StoredId};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// One parsed line of a transcript.
#[derive(Clone, Debug)]
enum Step {
    Send(Vec<u8>),
    Recv(Vec<u8>),
    Do(Vec<String>),
}

fn unescape(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            match b[i + 1] {
                b'r' => out.push(b'\r'),
                b'n' => out.push(b'\n'),
                b'\\' => out.push(b'\\'),
                b'x' if i + 3 < b.len() => {
                    let v = u8::from_str_radix(&s[i + 2..i + 4], 16).expect("bad \\x escape");
                    out.push(v);
                    i += 4;
                    continue;
                }
                other => panic!("unknown escape \\{}", other as char),
            }
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// Parses a transcript into (line number, step).
fn parse(text: &str) -> Vec<(usize, Step)> {
    let mut steps = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim_end();
        let n = n + 1;
        if line.is_empty() || line.starts_with("##") {
            continue;
        }
        let step = if let Some(rest) = line.strip_prefix(">>> ") {
            Step::Send(unescape(rest))
        } else if let Some(rest) = line.strip_prefix(">> ") {
            let mut v = rest.as_bytes().to_vec();
            v.push(b'\r');
            Step::Send(v)
        } else if let Some(rest) = line.strip_prefix("<<< ") {
            Step::Recv(unescape(rest))
        } else if line == "<< >" {
            Step::Recv(b"\r\n> ".to_vec())
        } else if let Some(rest) = line.strip_prefix("<< ") {
            let mut v = b"\r\n".to_vec();
            v.extend_from_slice(rest.as_bytes());
            v.extend_from_slice(b"\r\n");
            Step::Recv(v)
        } else if let Some(rest) = line.strip_prefix("!! ") {
            Step::Do(rest.split_whitespace().map(str::to_owned).collect())
        } else {
            panic!("line {n}: cannot parse `{line}`");
        };
        steps.push((n, step));
    }
    steps
}

fn show(bytes: &[u8]) -> String {
    let mut s = String::new();
    for &b in bytes {
        match b {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            0x20..=0x7e => s.push(b as char),
            _ => {
                let _ = write!(s, "\\x{b:02x}");
            }
        }
    }
    s
}

/// The scripted modem's state, shared by the port and the driver.
struct Script {
    steps: Vec<(usize, Step)>,
    cursor: usize,
    offset: usize,
    /// Bytes the runner wrote while the script was at a directive.
    pending: Vec<u8>,
    failure: Option<String>,
    bytewise: bool,
    reader: Option<Waker>,
    progress: Rc<Notify>,
    /// Everything written, for failure messages.
    log: Vec<u8>,
}

impl Script {
    fn fail(&mut self, msg: String) {
        if self.failure.is_none() {
            self.failure = Some(msg);
        }
        self.wake();
    }

    fn wake(&mut self) {
        if let Some(w) = self.reader.take() {
            w.wake();
        }
        self.progress.notify_one();
    }

    fn advance(&mut self) {
        self.cursor += 1;
        self.offset = 0;
        self.match_pending();
        if let Some((n, Step::Recv(_))) = self.steps.get(self.cursor)
            && !self.pending.is_empty()
        {
            let msg = format!(
                "line {n}: runner wrote `{}` before the modem sent its output",
                show(&self.pending)
            );
            self.fail(msg);
        }
        self.wake();
    }

    fn match_pending(&mut self) {
        while !self.pending.is_empty() {
            let Some((n, Step::Send(expected))) = self.steps.get(self.cursor) else {
                return;
            };
            let n = *n;
            let want = expected[self.offset];
            let got = self.pending.remove(0);
            if want != got {
                let msg = format!(
                    "line {n}: expected the runner to write `{}`, it wrote `{}` (byte {} differs: {} vs {})",
                    show(expected),
                    show(
                        &self.log[self
                            .log
                            .len()
                            .saturating_sub(self.pending.len() + self.offset + 1)..]
                    ),
                    self.offset,
                    show(&[want]),
                    show(&[got]),
                );
                self.fail(msg);
                return;
            }
            self.offset += 1;
            if self.offset == expected.len() {
                self.cursor += 1;
                self.offset = 0;
                self.wake();
            }
        }
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        if let Some(f) = &self.failure {
            return Err(f.clone());
        }
        self.log.extend_from_slice(bytes);
        self.pending.extend_from_slice(bytes);
        // The runner may act on a final result as soon as its line ends at CR, before the
        // modem's trailing LF was read; such a tail carries nothing and is skipped.
        while let Some((_, Step::Recv(rest))) = self.steps.get(self.cursor) {
            if rest[self.offset..]
                .iter()
                .all(|b| *b == b'\r' || *b == b'\n')
            {
                self.advance();
            } else {
                break;
            }
        }
        self.match_pending();
        match self.steps.get(self.cursor) {
            Some(_) => {}
            None if self.pending.is_empty() => {}
            None => {
                let msg = format!(
                    "runner wrote `{}` after the end of the transcript",
                    show(bytes)
                );
                self.fail(msg);
            }
        }
        if let Some((n, Step::Recv(_))) = self.steps.get(self.cursor)
            && !self.pending.is_empty()
        {
            let msg = format!(
                "line {n}: runner wrote `{}` while the modem still had output to send",
                show(&self.pending)
            );
            self.fail(msg);
        }
        match &self.failure {
            Some(f) => Err(f.clone()),
            None => Ok(()),
        }
    }
}

/// The modem end of the serial port.
struct MockPort {
    script: Rc<RefCell<Script>>,
}

impl embedded_io_async::ErrorType for MockPort {
    type Error = embedded_io_async::ErrorKind;
}

impl embedded_io_async::Read for MockPort {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        std::future::poll_fn(|cx| {
            let mut s = self.script.borrow_mut();
            if s.failure.is_some() {
                return Poll::Ready(Err(embedded_io_async::ErrorKind::Other));
            }
            let (cursor, offset, bytewise) = (s.cursor, s.offset, s.bytewise);
            if let Some((_, Step::Recv(bytes))) = s.steps.get(cursor) {
                let rest = &bytes[offset..];
                let n = if bytewise { 1 } else { rest.len() }.min(buf.len());
                buf[..n].copy_from_slice(&rest[..n]);
                let done = offset + n == bytes.len();
                s.offset += n;
                if done {
                    s.advance();
                }
                return Poll::Ready(Ok(n));
            }
            s.reader = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}

impl embedded_io_async::Write for MockPort {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.script
            .borrow_mut()
            .write(buf)
            .map(|()| buf.len())
            .map_err(|_| embedded_io_async::ErrorKind::Other)
    }

    async fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// PWRKEY that counts presses (transitions to the active level, active high).
#[derive(Clone)]
struct MockPin {
    presses: Rc<RefCell<u32>>,
    high: bool,
}

impl embedded_hal::digital::ErrorType for MockPin {
    type Error = core::convert::Infallible;
}

impl embedded_hal::digital::OutputPin for MockPin {
    fn set_low(&mut self) -> Result<(), Self::Error> {
        self.high = false;
        Ok(())
    }

    fn set_high(&mut self) -> Result<(), Self::Error> {
        if !self.high {
            *self.presses.borrow_mut() += 1;
        }
        self.high = true;
        Ok(())
    }
}

/// `DelayNs` on tokio's (paused) clock.
#[derive(Clone, Copy)]
struct TokioDelay;

impl embedded_hal_async::delay::DelayNs for TokioDelay {
    async fn delay_ns(&mut self, ns: u32) {
        tokio::time::sleep(Duration::from_nanos(u64::from(ns))).await;
    }
}

fn profile(name: &str) -> ProfileKind {
    match name {
        "sim800" => ProfileKind::Sim800,
        "ec25" => ProfileKind::Ec25,
        "huawei" => ProfileKind::Huawei,
        "generic" => ProfileKind::Generic,
        other => panic!("unknown profile {other}"),
    }
}

fn apply_config(config: &mut Config, args: &[String]) {
    for kv in args {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        match k {
            "profile" => config.profile = Some(profile(v)),
            "pin" => config.pin = Some(v.try_into().expect("pin fits")),
            "health" => config.health_interval_ms = v.parse().unwrap(),
            "max_timeouts" => config.max_timeouts = v.parse().unwrap(),
            "sim_poll" => config.sim_poll_ms = v.parse().unwrap(),
            "backoff" => config.backoff_min_ms = v.parse().unwrap(),
            other => panic!("unknown config key {other}"),
        }
    }
}

fn mem(s: &str) -> Mem {
    Mem::parse(s.as_bytes()).unwrap_or_else(|| panic!("unknown storage {s}"))
}

fn hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex {s}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

/// The next inbound or report event (state changes are skipped), rendered as
/// `inbound SM 3 <hex>` / `report - - <hex>`.
async fn next_message(
    control: Control<'static, NoopRawMutex>,
    epochs: &mut HashMap<(Mem, u16), Vec<u16>>,
) -> Option<String> {
    let wait = async {
        loop {
            match control.next_event().await {
                Event::StateChanged(_) => continue,
                other => return other,
            }
        }
    };
    let event = tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .ok()?;
    let (kind, id, pdu) = match event {
        Event::Inbound { id, pdu } => ("inbound", id, pdu),
        Event::StatusReport { id, pdu } => ("report", id, pdu),
        Event::StateChanged(_) => unreachable!(),
    };
    let place = match id {
        Some(id) => {
            epochs.entry((id.mem, id.index)).or_default().push(id.epoch);
            format!("{} {}", id.mem.as_str(), id.index)
        }
        None => "- -".into(),
    };
    Some(format!("{kind} {place} {}", to_hex(&pdu)))
}

/// Waits (in virtual time) until `cond` holds.
async fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..6_000 {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cond()
}

fn status_value(control: &Control<'static, NoopRawMutex>, key: &str) -> String {
    let s = control.status();
    match key {
        "state" => format!("{:?}", s.state),
        "operator" => s.operator.map(|o| o.to_string()).unwrap_or_default(),
        "imsi" => s.imsi.map(|o| o.to_string()).unwrap_or_default(),
        "iccid" => s.iccid.map(|o| o.to_string()).unwrap_or_default(),
        "model" => s.model.map(|o| o.to_string()).unwrap_or_default(),
        "profile" => format!("{:?}", s.profile),
        "registration" => format!("{:?}", s.registration),
        "rssi" => s.signal.map(|x| x.rssi.to_string()).unwrap_or_default(),
        other => {
            let c = s.counters;
            let v = match other {
                "timeouts" => c.timeouts,
                "reinits" => c.reinits,
                "power_cycles" => c.power_cycles,
                "reboots" => c.reboots,
                "sim_losses" => c.sim_losses,
                "sent" => c.sent,
                "send_failures" => c.send_failures,
                "received" => c.received,
                "reports" => c.reports,
                "deleted" => c.deleted,
                "dropped" => c.dropped,
                "unreadable" => c.unreadable,
                "garbage" => c.garbage,
                "noise" => c.noise,
                "unknown" => c.unknown,
                _ => panic!("unknown status key {other}"),
            };
            v.to_string()
        }
    }
}

/// Replays `text` against a real runner. Panics with the transcript line on any mismatch.
pub(crate) async fn replay(name: &str, text: &str, bytewise: bool) {
    let steps = parse(text);
    let mut config = Config::default();
    let mut first = 0;
    // Leading `!! config` lines configure the slot before it starts.
    while let Some((_, Step::Do(args))) = steps.get(first) {
        if args.first().map(String::as_str) != Some("config") {
            break;
        }
        apply_config(&mut config, &args[1..]);
        first += 1;
    }
    let progress = Rc::new(Notify::new());
    let script = Rc::new(RefCell::new(Script {
        steps: steps[first..].to_vec(),
        cursor: 0,
        offset: 0,
        pending: Vec::new(),
        failure: None,
        bytewise,
        reader: None,
        progress: progress.clone(),
        log: Vec::new(),
    }));
    let presses = Rc::new(RefCell::new(0u32));
    let state: &'static State<NoopRawMutex> = Box::leak(Box::new(State::new()));
    let (control, runner) = slot::new(
        state,
        config.clone(),
        MockPort {
            script: script.clone(),
        },
        MockPin {
            presses: presses.clone(),
            high: false,
        },
        TokioDelay,
    );
    let runner_task = tokio::task::spawn_local(runner.run());
    let mut submits: VecDeque<(usize, JoinHandle<Result<u8, SendError>>)> = VecDeque::new();
    let mut epochs: HashMap<(Mem, u16), Vec<u16>> = HashMap::new();
    let mode = if bytewise { "byte-at-a-time" } else { "whole" };

    loop {
        let (line, step) = {
            let s = script.borrow();
            if let Some(f) = &s.failure {
                panic!(
                    "{name} ({mode}): {f}\n--- runner wrote so far:\n{}",
                    show(&s.log)
                );
            }
            match s.steps.get(s.cursor) {
                None => break,
                Some((n, step)) => (*n, step.clone()),
            }
        };
        let args = match step {
            Step::Do(args) => args,
            Step::Send(_) | Step::Recv(_) => {
                let wait = progress.notified();
                if tokio::time::timeout(Duration::from_secs(3_600), wait)
                    .await
                    .is_err()
                {
                    let s = script.borrow();
                    panic!(
                        "{name} ({mode}): stuck at line {line} ({:?}); runner state {:?}; pending writes `{}`\n--- runner wrote so far:\n{}",
                        s.steps.get(s.cursor).map(|x| &x.1),
                        control.status().state,
                        show(&s.pending),
                        show(&s.log)
                    );
                }
                continue;
            }
        };
        let at = format!("{name} ({mode}) line {line}");
        let words: Vec<&str> = args.iter().map(String::as_str).collect();
        match words.as_slice() {
            ["submit", pdu, len] => {
                let pdu = hex(pdu);
                let len: u8 = len.parse().unwrap();
                let task = tokio::task::spawn_local(async move { control.submit(&pdu, len).await });
                submits.push_back((line, task));
                // Let the runner take the request before the script goes on.
                tokio::task::yield_now().await;
            }
            ["expect", "sent", mr] => {
                let (_, task) = submits
                    .pop_front()
                    .unwrap_or_else(|| panic!("{at}: no submit"));
                let got = tokio::time::timeout(Duration::from_secs(600), task)
                    .await
                    .unwrap_or_else(|_| panic!("{at}: submit did not finish"))
                    .unwrap();
                assert_eq!(got, Ok(mr.parse().unwrap()), "{at}");
            }
            ["expect", "send-error", err] => {
                let (_, task) = submits
                    .pop_front()
                    .unwrap_or_else(|| panic!("{at}: no submit"));
                let got = tokio::time::timeout(Duration::from_secs(600), task)
                    .await
                    .unwrap_or_else(|_| panic!("{at}: submit did not finish"))
                    .unwrap();
                assert_eq!(format!("{:?}", got), format!("Err({err})"), "{at}");
            }
            ["expect", kind @ ("inbound" | "report"), place @ .., pdu] => {
                let want = format!("{kind} {} {pdu}", place.join(" "));
                let got = next_message(control, &mut epochs).await;
                assert_eq!(got.as_deref(), Some(want.as_str()), "{at}");
            }
            ["expect", "no-message"] => {
                let wait = async {
                    loop {
                        if !matches!(control.next_event().await, Event::StateChanged(_)) {
                            break;
                        }
                    }
                };
                let got = tokio::time::timeout(Duration::from_millis(1), wait).await;
                assert!(got.is_err(), "{at}: unexpected message");
            }
            ["ack", m, index, rest @ ..] => {
                let key = (mem(m), index.parse().unwrap());
                let seen = epochs
                    .get(&key)
                    .unwrap_or_else(|| panic!("{at}: {key:?} never offered"));
                let epoch = if rest == ["old"] {
                    seen[0]
                } else {
                    *seen.last().unwrap()
                };
                control
                    .ack(StoredId {
                        mem: key.0,
                        index: key.1,
                        epoch,
                    })
                    .await;
                tokio::task::yield_now().await;
            }
            ["expect", "pwrkey", n] => {
                let n: u32 = n.parse().unwrap();
                let ok = eventually(|| *presses.borrow() == n).await;
                assert!(
                    ok,
                    "{at}: PWRKEY pressed {} times, expected {n}",
                    presses.borrow()
                );
            }
            ["expect", "quiet"] => {
                // Let the runner act on everything it has, without time passing: it must not
                // have written anything the script does not show.
                for _ in 0..200 {
                    tokio::task::yield_now().await;
                }
                let s = script.borrow();
                assert!(
                    s.pending.is_empty(),
                    "{at}: runner wrote `{}`",
                    show(&s.pending)
                );
            }
            ["expect", "count", name, n] => {
                let ok = eventually(|| status_value(&control, name) == *n).await;
                assert!(
                    ok,
                    "{at}: counter {name} is {}, expected {n}",
                    status_value(&control, name)
                );
            }
            ["expect", key, value @ ..] => {
                let want = value.join(" ");
                let ok = eventually(|| status_value(&control, key) == want).await;
                assert!(
                    ok,
                    "{at}: {key} is `{}`, expected `{want}`",
                    status_value(&control, key)
                );
            }
            ["wait", ms] => tokio::time::sleep(Duration::from_millis(ms.parse().unwrap())).await,
            ["reset", kind] => {
                control.reset(*kind == "hard").await;
                tokio::task::yield_now().await;
            }
            ["configure", rest @ ..] => {
                let mut c = config.clone();
                let owned: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
                apply_config(&mut c, &owned);
                control.configure(c).await;
                tokio::task::yield_now().await;
            }
            other => panic!("{at}: unknown directive {other:?}"),
        }
        let mut s = script.borrow_mut();
        s.advance();
    }
    {
        let s = script.borrow();
        if let Some(f) = &s.failure {
            panic!(
                "{name} ({mode}): {f}\n--- runner wrote so far:\n{}",
                show(&s.log)
            );
        }
        assert!(
            s.pending.is_empty(),
            "{name} ({mode}): unexpected write `{}` at the end",
            show(&s.pending)
        );
    }
    assert!(
        submits.is_empty(),
        "{name} ({mode}): a submit was never checked"
    );
    runner_task.abort();
}

/// Replays a transcript file whole and one byte at a time.
pub(crate) fn check_file(file: &str) {
    let path = format!("{}/tests/transcripts/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    for bytewise in [false, true] {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, replay(file, &text, bytewise));
    }
}
