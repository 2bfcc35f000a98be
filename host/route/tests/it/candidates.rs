//! The carrier side of the dispatcher contract: what dispatching and outcomes do to a carrier,
//! and how that shows in later picks.

use std::time::Duration;

use domain::{Outcome, RetryReason, UnixMillis};
use route::{
    BreakerState, Candidate, CarrierKind, Decision, MessageView, WaitReason, channel_of, pick,
};

use crate::support::{NOW, POOLS, accepted, id, number, op, policy};

fn timeout() -> Outcome {
    Outcome::Retry {
        after: Duration::ZERO,
        reason: RetryReason::Timeout,
        maybe_sent: false,
    }
}

#[test]
fn dispatch_and_outcome_keep_the_counts() {
    let p = policy("[routing.smpp]\nper_second = 2\nburst = 2");
    let mut c = Candidate::new(&p, id("a"), CarrierKind::Smpp, NOW);
    c.on_dispatch(NOW);
    c.on_dispatch(NOW);
    assert_eq!(c.state.in_flight, 2);
    assert_eq!(c.state.usage.counts(NOW), (2, 2, 2));
    assert!(!c.state.bucket.unwrap().available(NOW));
    c.on_outcome(&accepted(), Duration::from_millis(100), NOW);
    c.on_outcome(&accepted(), Duration::from_millis(100), NOW);
    assert_eq!(c.state.in_flight, 0);
    assert_eq!(c.state.health.success_rate(), Some(1.0));
    // An extra outcome (a late duplicate) does not underflow.
    c.on_outcome(&accepted(), Duration::ZERO, NOW);
    assert_eq!(c.state.in_flight, 0);
}

#[test]
fn consecutive_timeouts_open_the_breaker_then_a_probe_closes_it() {
    let p = policy(POOLS);
    let mut cands = vec![Candidate::new(&p, id("cmcc-1"), CarrierKind::Smpp, NOW)];
    cands[0].up = true;
    let to = number("13800138000");
    let msg = MessageView::new(&to);
    for _ in 0..5 {
        cands[0].on_dispatch(NOW);
        cands[0].on_outcome(&timeout(), Duration::from_secs(10), NOW);
    }
    let open_until = UnixMillis(NOW.0 + 30_000);
    assert_eq!(
        cands[0].state.health.breaker().state(NOW),
        BreakerState::Open { until: open_until }
    );
    assert_eq!(
        pick(&cands, &msg, &p, NOW),
        Decision::Wait {
            until: open_until,
            reason: WaitReason::Unavailable
        }
    );
    // Half-open: one probe goes, the next message waits for it.
    assert!(matches!(
        pick(&cands, &msg, &p, open_until),
        Decision::Send { index: 0, .. }
    ));
    cands[0].on_dispatch(open_until);
    assert!(matches!(
        pick(&cands, &msg, &p, open_until),
        Decision::Wait {
            reason: WaitReason::Unavailable,
            ..
        }
    ));
    cands[0].on_outcome(&accepted(), Duration::from_millis(50), open_until);
    assert_eq!(
        cands[0].state.health.breaker().state(open_until),
        BreakerState::Closed
    );
}

#[test]
fn a_throttled_carrier_is_paused_not_failed() {
    let p = policy(POOLS);
    let mut cands = vec![Candidate::new(&p, id("cmcc-1"), CarrierKind::Smpp, NOW)];
    cands[0].up = true;
    cands[0].on_dispatch(NOW);
    let throttled = Outcome::Retry {
        after: Duration::from_secs(3),
        reason: RetryReason::Throttled,
        maybe_sent: false,
    };
    cands[0].on_outcome(&throttled, Duration::from_millis(5), NOW);
    let to = number("13800138000");
    assert_eq!(
        pick(&cands, &MessageView::new(&to), &p, NOW),
        Decision::Wait {
            until: UnixMillis(NOW.0 + 3000),
            reason: WaitReason::Throttled
        }
    );
    assert_eq!(cands[0].state.health.breaker().consecutive_failures(), 0);
}

#[test]
fn reload_keeps_history_and_applies_the_new_profile() {
    let old = policy("[routing.modems]\nper_minute = 5");
    let mut c = Candidate::new(&old, id("slot1"), CarrierKind::BankSlot, NOW);
    c.set_network(&old, Some(&op("unicom")));
    c.on_dispatch(NOW);
    let new = policy(
        "[routing.operators.mvno]\nprefixes = [\"86170\"]\n[routing.modems]\nper_minute = 9\nper_second = 1",
    );
    c.reconfigure(&new, NOW);
    assert_eq!(c.profile.limits.per_minute, Some(9));
    assert_eq!(c.state.usage.counts(NOW).0, 1);
    assert_eq!(c.state.in_flight, 1);
    assert!(c.state.bucket.is_some());
    // The SIM's network is re-resolved in the new policy.
    assert_eq!(c.network(), Some(&op("unicom")));
    assert_eq!(channel_of(&new, &c), Some(&op("unicom")));
}

#[test]
fn channels_are_pools_or_sim_networks() {
    let p = policy(POOLS);
    let link = Candidate::new(&p, id("cmcc-1"), CarrierKind::Smpp, NOW);
    assert_eq!(channel_of(&p, &link), Some(&op("cmcc")));
    let aggregator = Candidate::new(&p, id("agg"), CarrierKind::Smpp, NOW);
    assert_eq!(channel_of(&p, &aggregator), None);
    let mut slot = Candidate::new(&p, id("slot1"), CarrierKind::Modem, NOW);
    assert_eq!(channel_of(&p, &slot), None);
    let plmn = p
        .operator_for_plmn("46011")
        .and_then(|r| p.operator_id(r))
        .cloned();
    slot.set_network(&p, plmn.as_ref());
    assert_eq!(channel_of(&p, &slot), Some(&op("telecom")));
}
