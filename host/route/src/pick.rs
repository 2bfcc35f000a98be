//! `pick`: the scheduling decision for one due message (DESIGN "Message lifecycle" step 3).
//!
//! Pure and cheap: it reads the candidate table, the message and the policy, allocates nothing
//! unless the message fails, and returns a [`Decision`]. The order of the checks is the order of
//! the README's "How a carrier is chosen" section, which is what admins read.

use std::fmt;

use domain::{CarrierId, Msisdn, OperatorId, Priority, RejectReason, UnixMillis};

use crate::carrier::Candidate;
use crate::health::BreakerState;
use crate::operator::{OperatorRef, OperatorSet};
use crate::policy::{Policy, Tier};

/// What the scheduler needs to know about one message.
#[derive(Clone, Copy, Debug)]
pub struct MessageView<'a> {
    /// Where it goes.
    pub destination: &'a Msisdn,
    /// Its priority.
    pub priority: Priority,
    /// Whether it is bulk (campaign) traffic, held back in quiet hours whatever its priority.
    pub bulk: bool,
    /// Not to be sent before this instant (scheduled sends).
    pub not_before: Option<UnixMillis>,
    /// Its validity ends at this instant.
    pub expires_at: Option<UnixMillis>,
    /// Carriers it may not use now: those tried in the current round, and for a re-send every
    /// carrier that carried it before.
    pub tried: &'a [CarrierId],
    /// The current round, from 0.
    pub round: u32,
    /// Attempts handed to carriers so far, whatever their outcome (a throttled attempt counts
    /// too, so that a carrier throttling forever cannot keep a message alive forever).
    pub attempts: u32,
    /// Operator channels it may not use (a re-send after a negative receipt avoids the channel
    /// that failed).
    pub avoid_operators: &'a [OperatorId],
    /// A random (or per-message hash) value for the backoff jitter.
    pub jitter: u32,
    /// A counter the dispatcher advances on every decision; among otherwise equal carriers the
    /// one at this position (modulo the table length) or after it wins, so load rotates.
    pub rotation: u32,
}

impl<'a> MessageView<'a> {
    /// A normal-priority message to `destination`, due now, never tried.
    pub fn new(destination: &'a Msisdn) -> MessageView<'a> {
        MessageView {
            destination,
            priority: Priority::NORMAL,
            bulk: false,
            not_before: None,
            expires_at: None,
            tried: &[],
            round: 0,
            attempts: 0,
            avoid_operators: &[],
            jitter: 0,
            rotation: 0,
        }
    }
}

/// Why a message waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WaitReason {
    /// Its scheduled time has not come.
    NotBefore,
    /// It is bulk traffic in quiet hours.
    QuietHours,
    /// Every usable carrier has its window full (or a better tier is full and the message may
    /// not spill over). The dispatcher should also look again as soon as a carrier frees up.
    Busy,
    /// Every usable carrier is at its messages-per-second cap or asked us to slow down.
    Throttled,
    /// Every usable carrier is at a per-minute/hour/day limit.
    OverLimit,
    /// Every carrier that could take it is down, disabled or has its breaker open.
    Unavailable,
}

impl fmt::Display for WaitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WaitReason::NotBefore => "scheduled for later",
            WaitReason::QuietHours => "quiet hours",
            WaitReason::Busy => "carriers busy",
            WaitReason::Throttled => "carriers throttled",
            WaitReason::OverLimit => "carriers at their send limits",
            WaitReason::Unavailable => "no carrier available",
        })
    }
}

/// What to do with a message now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Hand it to `candidates[index]`.
    Send {
        /// Index into the candidate slice.
        index: usize,
        /// The tier the carrier was chosen from (for the trace).
        tier: Tier,
    },
    /// Look at it again at `until` (always after `now`, never after its expiry).
    Wait {
        /// When to look again.
        until: UnixMillis,
        /// Why.
        reason: WaitReason,
    },
    /// Every usable carrier was tried this round: clear the tried set, set the round to `round`
    /// and look again at `at` (after the backoff).
    NextRound {
        /// The new round number.
        round: u32,
        /// When it starts.
        at: UnixMillis,
    },
    /// Final: the message failed (`RejectReason::NoRoute`).
    Fail {
        /// Why, for the trace.
        reason: RejectReason,
    },
    /// Final: its validity passed.
    Expire,
}

/// Orders ready carriers: lower is better, compared field by field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    /// Tier position × 2, + 1 for a modem whose SIM is not on the destination's network.
    rank: u8,
    /// Health band, inverted (healthier first).
    unhealth: u16,
    cost: u32,
    /// The fuller of window use and limit use, in thousandths.
    load: u32,
    /// Distance from the rotation cursor.
    turn: usize,
}

/// Decides what to do with `msg` at `now`, given every carrier's snapshot.
pub fn pick(
    candidates: &[Candidate],
    msg: &MessageView<'_>,
    policy: &Policy,
    now: UnixMillis,
) -> Decision {
    if msg.expires_at.is_some_and(|exp| now >= exp) {
        return Decision::Expire;
    }
    let rules = policy.retry();
    if msg.round >= rules.max_rounds {
        return no_route(format!("gave up after {} rounds", rules.max_rounds));
    }
    if msg.attempts >= rules.max_attempts {
        return no_route(format!("gave up after {} attempts", msg.attempts));
    }
    let wait = |until: UnixMillis, reason| {
        let mut until = until.max(UnixMillis(now.0.saturating_add(1)));
        if let Some(exp) = msg.expires_at {
            until = until.min(exp);
        }
        Decision::Wait { until, reason }
    };
    if let Some(nb) = msg.not_before
        && nb > now
    {
        return wait(nb, WaitReason::NotBefore);
    }
    if let Some(q) = policy.quiet_hours()
        && q.applies_to(msg.priority, msg.bulk)
        && let Some(end) = q.ends_at(now)
    {
        return wait(end, WaitReason::QuietHours);
    }

    let dest = policy.operator_of(msg.destination.digits());
    let order = policy.order(dest);
    let avoid = msg
        .avoid_operators
        .iter()
        .filter_map(|o| policy.operator_ref(o))
        .fold(OperatorSet::EMPTY, OperatorSet::with);
    let n = candidates.len();
    let cursor = if n == 0 { 0 } else { msg.rotation as usize % n };
    let recheck_at = now.plus(policy.recheck());
    let band = policy.health_band().max(1);

    let mut routable = false;
    let mut tried_any = false;
    let mut best: Option<(Key, usize, Tier)> = None;
    // The best tier position holding a carrier that is merely busy (it frees up in moments).
    let mut busy_pos: Option<u8> = None;
    // The soonest an untried, working carrier has room again.
    let mut soonest: Option<(UnixMillis, WaitReason)> = None;
    // The soonest an untried carrier that is down or open may work again.
    let mut down_until: Option<UnixMillis> = None;

    let mut note = |at: UnixMillis, reason: WaitReason| {
        if soonest.is_none_or(|(t, _)| at < t) {
            soonest = Some((at, reason));
        }
    };

    for (i, c) in candidates.iter().enumerate() {
        if !c.profile.coverage.covers(dest) {
            continue;
        }
        let tier = if c.profile.kind.is_modem() {
            Tier::Modems
        } else if dest.is_some() && c.profile.pool == dest {
            Tier::OwnPool
        } else {
            Tier::OtherPools
        };
        let Some(pos) = order.position(tier) else {
            continue;
        };
        let home = c.home();
        if home.is_some_and(|h| avoid.contains(h)) {
            continue;
        }
        routable = true;
        if msg.tried.contains(&c.id) {
            tried_any = true;
            continue;
        }
        if !c.enabled || !c.up {
            down_until = earliest(down_until, recheck_at);
            continue;
        }
        let st = &c.state;
        match st.health.breaker().state(now) {
            BreakerState::Closed => {}
            BreakerState::Open { until } => {
                down_until = earliest(down_until, until);
                continue;
            }
            // One probe at a time: only when nothing else is in flight on the carrier.
            BreakerState::HalfOpen if st.in_flight > 0 => {
                down_until = earliest(down_until, recheck_at);
                continue;
            }
            BreakerState::HalfOpen => {}
        }
        if let Some(p) = st.health.paused_until(now) {
            note(p, WaitReason::Throttled);
            busy_pos = Some(busy_pos.map_or(pos, |b| b.min(pos)));
            continue;
        }
        let head = st.usage.headroom(&c.profile.limits, now);
        if let Some(t) = head.blocked_until {
            // A SIM at its hourly or daily limit may stay there for long: it does not hold
            // back lower tiers.
            note(t, WaitReason::OverLimit);
            continue;
        }
        let window = c.profile.window.max(1);
        if st.in_flight >= window {
            note(recheck_at, WaitReason::Busy);
            busy_pos = Some(busy_pos.map_or(pos, |b| b.min(pos)));
            continue;
        }
        if let Some(b) = &st.bucket
            && !b.available(now)
        {
            note(b.ready_at(now), WaitReason::Throttled);
            busy_pos = Some(busy_pos.map_or(pos, |b| b.min(pos)));
            continue;
        }
        let off_net = tier == Tier::Modems && (dest.is_none() || home != dest);
        let window_load =
            u32::try_from(u64::from(st.in_flight) * 1000 / u64::from(window)).unwrap_or(u32::MAX);
        let key = Key {
            rank: pos.saturating_mul(2).saturating_add(u8::from(off_net)),
            unhealth: crate::health::MAX_SCORE.saturating_sub(st.health.score()) / band,
            cost: c.profile.cost,
            load: window_load.max(head.load_permille),
            turn: (i + n - cursor) % n.max(1),
        };
        if best.is_none_or(|(k, _, _)| key < k) {
            best = Some((key, i, tier));
        }
    }

    if let Some((key, index, tier)) = best {
        let pos = key.rank / 2;
        let spill = policy
            .spill_over_priority()
            .is_some_and(|p| msg.priority >= p);
        if spill || busy_pos.is_none_or(|b| b >= pos) {
            return Decision::Send { index, tier };
        }
        // A better tier is only busy: wait for it rather than fall back.
        let (until, reason) = soonest.unwrap_or((recheck_at, WaitReason::Busy));
        return wait(until, reason);
    }
    if !routable {
        let op = match dest.and_then(|d| policy.operator_id(d)) {
            Some(o) => format!("operator {o}"),
            None => "numbers of no known operator".to_owned(),
        };
        return no_route(if avoid.is_empty() {
            format!("no carrier covers {op}")
        } else {
            format!("no carrier of another operator channel covers {op}")
        });
    }
    if tried_any && msg.round.saturating_add(1) < rules.max_rounds {
        let round = msg.round + 1;
        let mut at = now.plus(policy.backoff(round, msg.jitter));
        if soonest.is_none_or(|(t, _)| at < t) {
            if let Some(exp) = msg.expires_at {
                at = at.min(exp);
            }
            return Decision::NextRound { round, at };
        }
    }
    if let Some((t, reason)) = soonest {
        return wait(t, reason);
    }
    if tried_any {
        return no_route(format!(
            "every carrier failed it in each of {} rounds",
            rules.max_rounds
        ));
    }
    wait(down_until.unwrap_or(recheck_at), WaitReason::Unavailable)
}

fn earliest(a: Option<UnixMillis>, b: UnixMillis) -> Option<UnixMillis> {
    Some(a.map_or(b, |a| a.min(b)))
}

fn no_route(why: String) -> Decision {
    Decision::Fail {
        reason: RejectReason::NoRoute(why),
    }
}

/// The operator channel of a chosen carrier, for the trace and for re-sends.
pub fn channel_of<'p>(policy: &'p Policy, candidate: &Candidate) -> Option<&'p OperatorId> {
    candidate
        .home()
        .and_then(|h: OperatorRef| policy.operator_id(h))
}
