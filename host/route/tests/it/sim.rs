//! A fake-clock simulation of the dispatcher driving `pick` over a full queue: modem slots stay
//! busy (utilisation near the physical limit), SIM limits are never exceeded, and SMPP links share
//! load by their windows. Time is counted, never measured: the clock is a number.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Duration;

use domain::UnixMillis;
use route::{Candidate, Decision, MessageView, Policy, pick};

use crate::support::{NOW, accepted, number, policy, table};

/// What a run did.
struct Run {
    /// When the last attempt completed.
    end: UnixMillis,
    /// Send instants per carrier.
    sends: Vec<Vec<i64>>,
    /// Busy (in-flight) milliseconds per carrier.
    busy_ms: Vec<i64>,
}

/// Dispatches `messages` identical messages at `NOW` over `cands`, every attempt taking
/// `latency` and succeeding, as the dispatcher would: pick for the head of the queue until it
/// says wait, then sleep until the earlier of that wait and the next completion.
fn run(p: &Policy, mut cands: Vec<Candidate>, messages: usize, latency: Duration) -> Run {
    let to = number("13800138000");
    let mut queue: VecDeque<usize> = (0..messages).collect();
    let mut in_flight: BinaryHeap<Reverse<(i64, usize)>> = BinaryHeap::new();
    let mut sends = vec![Vec::new(); cands.len()];
    let mut busy_ms = vec![0i64; cands.len()];
    let lat = i64::try_from(latency.as_millis()).unwrap();
    let mut now = NOW;
    let mut rotation = 0u32;
    let mut end = NOW;
    for _ in 0..1_000_000 {
        while let Some(&Reverse((t, i))) = in_flight.peek() {
            if t > now.0 {
                break;
            }
            in_flight.pop();
            cands[i].on_outcome(&accepted(), latency, UnixMillis(t));
            end = UnixMillis(t);
        }
        let mut wake: Option<i64> = None;
        while !queue.is_empty() {
            let view = MessageView {
                rotation,
                ..MessageView::new(&to)
            };
            match pick(&cands, &view, p, now) {
                Decision::Send { index, .. } => {
                    cands[index].on_dispatch(now);
                    // A modem sends one message at a time; a link has its window.
                    let c = &cands[index];
                    assert!(
                        c.state.in_flight <= c.profile.window,
                        "{} over its window",
                        c.id
                    );
                    in_flight.push(Reverse((now.0 + lat, index)));
                    sends[index].push(now.0);
                    busy_ms[index] += lat;
                    queue.pop_front();
                    rotation = rotation.wrapping_add(1);
                }
                Decision::Wait { until, .. } => {
                    assert!(until > now);
                    wake = Some(until.0);
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        let next_done = in_flight.peek().map(|Reverse((t, _))| *t);
        now = match (wake, next_done) {
            (None, None) => break,
            (Some(w), None) => UnixMillis(w),
            (None, Some(d)) => UnixMillis(d),
            (Some(w), Some(d)) => UnixMillis(w.min(d)),
        };
    }
    assert!(
        queue.is_empty() && in_flight.is_empty(),
        "simulation did not finish"
    );
    Run {
        end,
        sends,
        busy_ms,
    }
}

const FOUR_SLOTS: &str = "slot1 bank\nslot2 bank\nslot3 bank\nslot4 bank";

#[test]
fn full_queue_keeps_four_modem_slots_busy() {
    // Limits above the physical rate (one message per 3 s per slot = 20 a minute).
    let p = policy("[routing.modems]\nper_minute = 100\nper_hour = 10000\nper_day = 100000");
    let r = run(&p, table(&p, FOUR_SLOTS), 1000, Duration::from_secs(3));
    let span = r.end.0 - NOW.0;
    let busy: i64 = r.busy_ms.iter().sum();
    let utilisation = busy as f64 / (4 * span) as f64;
    eprintln!("4 slots, 1000 messages: utilisation {utilisation:.4} over {span} ms");
    assert!(
        utilisation >= 0.95,
        "utilisation {utilisation:.3} over {span} ms"
    );
    // The work is spread evenly over the SIMs.
    for s in &r.sends {
        assert!(
            (245..=255).contains(&s.len()),
            "{} sends on one slot",
            s.len()
        );
    }
}

#[test]
fn sim_limits_are_never_exceeded_and_nearly_reached() {
    // 12 a minute per SIM, below the physical 20: the limit is the bottleneck.
    let p = policy("[routing.modems]\nper_minute = 12\nper_hour = 10000\nper_day = 100000");
    let r = run(&p, table(&p, FOUR_SLOTS), 1000, Duration::from_secs(3));
    for s in &r.sends {
        for (i, &t) in s.iter().enumerate() {
            let last_minute = s[..=i].iter().filter(|&&x| x > t - 60_000).count();
            assert!(
                last_minute <= 12,
                "{last_minute} sends in the minute before {t}"
            );
        }
    }
    // Throughput against the limit: 250 messages per SIM at 12 a minute take 20.8 minutes at
    // best; the conservative window may cost one 5 s slice per minute (≈ 92 %).
    let span_min = (r.end.0 - NOW.0) as f64 / 60_000.0;
    let efficiency = (250.0 / 12.0) / span_min;
    eprintln!("12/min limit: {efficiency:.3} of the limit ({span_min:.1} min)");
    assert!(
        efficiency >= 0.9,
        "{efficiency:.3} of the limit ({span_min:.1} min)"
    );
}

#[test]
fn smpp_links_share_load_by_window() {
    let p = policy("[routing.carriers.a]\nwindow = 10\n[routing.carriers.b]\nwindow = 30");
    let r = run(
        &p,
        table(&p, "a smpp\nb smpp"),
        4000,
        Duration::from_millis(100),
    );
    let share = r.sends[0].len() as f64 / 4000.0;
    eprintln!("windows 10 and 30: link a took {share:.3}");
    assert!(
        (0.2..=0.3).contains(&share),
        "link a took {share:.3} of the traffic"
    );
    // Both windows stay full: 40 in flight per 100 ms → 4000 in about 10 s.
    let span = r.end.0 - NOW.0;
    assert!(span <= 10_500, "{span} ms");
}
