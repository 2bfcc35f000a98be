//! Property tests: whatever the carrier table and the message, `pick` never chooses a carrier it
//! must not, its waits lie in the future, and every message ends (sent or failed) within the
//! retry budget, no carrier twice in one round.

use std::time::Duration;

use domain::{Outcome, Priority, RetryReason, UnixMillis};
use proptest::prelude::*;
use route::{
    AttemptResult, BreakerState, Candidate, CarrierKind, Decision, MessageView, NextStep, Policy,
    Tier, after_outcome, pick,
};

use crate::support::{NOW, accepted, id, number, op, policy};

const CONFIG: &str = r#"
[routing]
spill_over_priority = 8
[routing.smpp]
window = 2
per_second = 5
burst = 2
[routing.operators.cmcc]
pool = ["c0", "c1", "c2"]
[routing.operators.unicom]
pool = ["c3", "c4"]
order = ["modems", "own_pool"]
[routing.operators.telecom]
pool = ["c5"]
[routing.carriers.c1]
covers = ["cmcc"]
[routing.carriers.c4]
covers = ["unicom", "telecom"]
[routing.quiet_hours]
start = "22:00"
end = "08:00"
"#;

const NUMBERS: [&str; 5] = [
    "13800138000",
    "13012345678",
    "18912345678",
    "19212345678",
    "+85291234567",
];
const NETWORKS: [Option<&str>; 4] = [None, Some("cmcc"), Some("unicom"), Some("telecom")];

#[derive(Clone, Debug)]
struct Spec {
    kind: u8,
    enabled: bool,
    up: bool,
    breaker: u8,
    in_flight: u32,
    sent: u32,
    paused: bool,
    tried: bool,
    net: usize,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        0u8..3,
        prop::bool::weighted(0.9),
        prop::bool::weighted(0.8),
        0u8..3,
        0u32..4,
        0u32..14,
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.3),
        0usize..4,
    )
        .prop_map(
            |(kind, enabled, up, breaker, in_flight, sent, paused, tried, net)| Spec {
                kind,
                enabled,
                up,
                breaker,
                in_flight,
                sent,
                paused,
                tried,
                net,
            },
        )
}

fn build(p: &Policy, specs: &[Spec], now: UnixMillis) -> Vec<Candidate> {
    specs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let kind =
                [CarrierKind::Smpp, CarrierKind::BankSlot, CarrierKind::Modem][s.kind as usize];
            let mut c =
                Candidate::new(p, id(&format!("c{i}")), kind, UnixMillis(now.0 - 3_600_000));
            c.enabled = s.enabled;
            c.up = s.up;
            for _ in 0..s.sent {
                let t = UnixMillis(now.0 - 1000);
                c.on_dispatch(t);
                c.on_outcome(&accepted(), Duration::from_millis(40), t);
            }
            let h = &mut c.state.health;
            let failures_at = match s.breaker {
                1 => Some(now),
                2 => Some(UnixMillis(now.0 - 31_000)),
                _ => None,
            };
            if let Some(t) = failures_at {
                for _ in 0..5 {
                    h.record(AttemptResult::Failure, Duration::ZERO, t);
                }
            }
            if s.paused {
                h.record(
                    AttemptResult::Throttled {
                        until: UnixMillis(now.0 + 2000),
                    },
                    Duration::ZERO,
                    now,
                );
            }
            c.state.in_flight = s.in_flight;
            if let Some(n) = NETWORKS[s.net] {
                c.set_network(p, Some(&op(n)));
            }
            c
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn pick_never_chooses_an_unusable_carrier(
        specs in prop::collection::vec(spec(), 0..12),
        dest in 0usize..5,
        round in 0u32..4,
        attempts in 0u32..24,
        prio in 0u8..10,
        bulk: bool,
        not_before in prop::option::of(-10_000i64..10_000),
        expires in prop::option::of(-5_000i64..200_000),
        avoid in prop::sample::subsequence(vec!["cmcc", "unicom"], 0..=2),
        rotation: u32,
        jitter: u32,
        hour in 0i64..24,
    ) {
        let p = policy(CONFIG);
        let now = UnixMillis(NOW.0 + hour * 3_600_000);
        let cands = build(&p, &specs, now);
        let to = number(NUMBERS[dest]);
        let tried: Vec<_> = cands.iter().zip(&specs).filter(|(_, s)| s.tried).map(|(c, _)| c.id.clone()).collect();
        let avoid: Vec<_> = avoid.iter().map(|o| op(o)).collect();
        let priority = Priority::new(prio).unwrap();
        let msg = MessageView {
            destination: &to,
            priority,
            bulk,
            not_before: not_before.map(|d| UnixMillis(now.0 + d)),
            expires_at: expires.map(|d| UnixMillis(now.0 + d)),
            tried: &tried,
            round,
            attempts,
            avoid_operators: &avoid,
            jitter,
            rotation,
        };
        let d = pick(&cands, &msg, &p, now);
        let dest_op = p.operator_of(to.digits());
        match &d {
            Decision::Send { index, tier } => {
                let c = &cands[*index];
                prop_assert!(c.enabled && c.up, "{d:?}");
                prop_assert!(!tried.contains(&c.id));
                let breaker = c.state.health.breaker().state(now);
                let open = matches!(breaker, BreakerState::Open { .. });
                prop_assert!(!open, "open breaker chosen");
                if breaker == BreakerState::HalfOpen {
                    prop_assert_eq!(c.state.in_flight, 0);
                }
                prop_assert!(c.state.health.paused_until(now).is_none());
                prop_assert!(c.state.usage.headroom(&c.profile.limits, now).blocked_until.is_none());
                prop_assert!(c.state.in_flight < c.profile.window);
                prop_assert!(c.state.bucket.is_none_or(|b| b.available(now)));
                prop_assert!(c.profile.coverage.covers(dest_op));
                prop_assert!(c.home().is_none_or(|h| !avoid.iter().any(|a| p.operator_ref(a) == Some(h))));
                prop_assert!(p.order(dest_op).position(*tier).is_some());
                prop_assert_eq!(*tier == Tier::Modems, c.profile.kind.is_modem());
                prop_assert!(msg.expires_at.is_none_or(|e| now < e));
                prop_assert!(msg.not_before.is_none_or(|nb| nb <= now));
                prop_assert!(round < p.retry().max_rounds && attempts < p.retry().max_attempts);
                let quiet = p.quiet_hours().unwrap();
                prop_assert!(!(quiet.applies_to(priority, bulk) && quiet.ends_at(now).is_some()));
            }
            Decision::Wait { until, .. } => {
                prop_assert!(*until > now, "{d:?}");
                prop_assert!(msg.expires_at.is_none_or(|e| *until <= e), "{d:?}");
            }
            Decision::NextRound { round: r, at } => {
                prop_assert_eq!(*r, round + 1);
                prop_assert!(*r < p.retry().max_rounds);
                prop_assert!(*at > now);
                prop_assert!(msg.expires_at.is_none_or(|e| *at <= e));
                prop_assert!(!tried.is_empty());
            }
            Decision::Expire => prop_assert!(msg.expires_at.is_some_and(|e| now >= e)),
            Decision::Fail { .. } => prop_assert!(msg.expires_at.is_none_or(|e| now < e)),
        }
    }

    #[test]
    fn every_message_is_sent_or_failed_within_the_budget(
        kinds in prop::collection::vec(0u8..3, 1..8),
        outcomes in prop::collection::vec(0u8..6, 1..64),
        jitter: u32,
    ) {
        let p = policy(CONFIG);
        let mut now = NOW;
        let mut cands: Vec<Candidate> = kinds.iter().enumerate().map(|(i, k)| {
            let kind = [CarrierKind::Smpp, CarrierKind::BankSlot, CarrierKind::Modem][*k as usize];
            let mut c = Candidate::new(&p, id(&format!("c{i}")), kind, now);
            c.up = true;
            c
        }).collect();
        let to = number("13800138000");
        let (mut tried, mut round, mut attempts) = (Vec::new(), 0u32, 0u32);
        let mut next = 0usize;
        let mut finished = None;
        for step in 0..10_000 {
            let msg = MessageView { tried: &tried, round, attempts, jitter, rotation: step, ..MessageView::new(&to) };
            match pick(&cands, &msg, &p, now) {
                Decision::Send { index, .. } => {
                    prop_assert!(!tried.contains(&cands[index].id), "carrier reused within a round");
                    let outcome = match outcomes[next % outcomes.len()] {
                        0 => accepted(),
                        1 => Outcome::Retry { after: Duration::from_secs(1), reason: RetryReason::Throttled, maybe_sent: false },
                        2 => Outcome::Retry { after: Duration::ZERO, reason: RetryReason::Timeout, maybe_sent: true },
                        3 => Outcome::Reject { reason: domain::RejectReason::Permanent("x".into()) },
                        _ => Outcome::Retry { after: Duration::ZERO, reason: RetryReason::Temporary("CMS 38".into()), maybe_sent: false },
                    };
                    next += 1;
                    cands[index].on_dispatch(now);
                    now = UnixMillis(now.0 + 500);
                    cands[index].on_outcome(&outcome, Duration::from_millis(500), now);
                    match after_outcome(&outcome, now) {
                        NextStep::Done => { finished = Some("sent"); break; }
                        NextStep::RetryNow { exclude } => {
                            attempts += 1;
                            if exclude {
                                tried.push(cands[index].id.clone());
                            }
                        }
                        other => prop_assert!(false, "unexpected {other:?}"),
                    }
                }
                Decision::Wait { until, .. } => { prop_assert!(until > now); now = until; }
                Decision::NextRound { round: r, at } => {
                    prop_assert!(r < p.retry().max_rounds);
                    round = r;
                    tried.clear();
                    now = at;
                }
                Decision::Fail { .. } => { finished = Some("failed"); break; }
                Decision::Expire => prop_assert!(false, "no expiry was set"),
            }
        }
        prop_assert!(finished.is_some(), "no end after 10000 decisions (round {round}, attempts {attempts})");
        prop_assert!(round < p.retry().max_rounds);
        prop_assert!(attempts <= p.retry().max_attempts);
    }
}
