//! Fuzz target: a host session and a bank session fed arbitrary bytes with an advancing clock,
//! polled for output after every step. Must never panic, never loop in `poll_transmit`, and
//! never report more acknowledged messages than were sent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use link::msg::{HostTag, SlotId};
use link::{BankSession, BankToHost, Config, HostSession, HostToBank, MAX_WIRE_LEN, Session};
use serde::Serialize;
use serde::de::DeserializeOwned;

fn drain<Tx: Serialize, Rx: DeserializeOwned, const N: usize>(
    s: &mut Session<Tx, Rx, N>,
    now: u64,
    buf: &mut [u8; MAX_WIRE_LEN],
) -> usize {
    let mut n = 0;
    while s.poll_transmit(now, buf).is_some() {
        n += 1;
        assert!(n <= 64, "poll_transmit does not stop");
    }
    n
}

fuzz_target!(|data: &[u8]| {
    let mut host: HostSession<8> = HostSession::new(Config::new(0x1111));
    let mut bank: BankSession<4> = BankSession::new(Config::new(0x2222));
    let mut buf = [0u8; MAX_WIRE_LEN];
    let mut now = 0u64;
    let mut tag = 0u32;
    // Records of [step, len, bytes…]: `step` advances the clock and may queue messages.
    let mut rest = data;
    while let Some((&step, after)) = rest.split_first() {
        let Some((&len, after)) = after.split_first() else {
            break;
        };
        let (chunk, after) = after.split_at(usize::from(len).min(after.len()));
        rest = after;
        now += u64::from(step) * 7;
        if step % 3 == 0 {
            tag += 1;
            let _ = host.send(&HostToBank::Cancel { tag: HostTag(tag) });
            let _ = bank.send(&BankToHost::SubmitResult {
                slot: SlotId(0),
                tag: HostTag(tag),
                outcome: link::msg::SubmitOutcome::Accepted { mr: 1 },
            });
        }
        host.handle_bytes(chunk, now, |_| {});
        bank.handle_bytes(chunk, now, |_| {});
        host.handle_timeout(now, |_| {});
        bank.handle_timeout(now, |_| {});
        // At most a window of data frames, one ack and two handshakes are ever pending.
        assert!(drain(&mut host, now, &mut buf) <= 8 + 3);
        assert!(drain(&mut bank, now, &mut buf) <= 4 + 3);
        assert!(host.unacked() <= 8);
    }
});
