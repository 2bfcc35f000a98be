//! The `[routing]` config section: raw, as written (serde), and its validation into a
//! [`Policy`], in two phases (STYLE "raw config → validated config"). Validation collects every
//! problem, each naming its key the way the admin wrote it, e.g.
//! `routing.operators.cmcc.prefixes[3]: "13x" is not a digit prefix`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::Duration;

use domain::{CarrierId, DlrStatus, OperatorId, Priority};
use serde::Deserialize;

use crate::backoff::Backoff;
use crate::health::{BreakerConfig, HealthConfig};
use crate::limits::SlotLimits;
use crate::operator::{
    self, Coverage, MAX_OPERATORS, OperatorRef, OperatorSet, PrefixTable, builtin_ids,
};
use crate::policy::{
    CarrierDefaults, CarrierOverride, Policy, ResendRule, RetryRules, Tier, TierOrder,
};
use crate::quiet::QuietHours;

/// One problem in the routing config.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConfigError {
    /// The offending key, e.g. `routing.operators.cmcc.prefixes[3]`.
    pub key: String,
    /// What is wrong with it.
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(key: &str, message: String) -> ConfigError {
        ConfigError {
            key: key.to_owned(),
            message,
        }
    }
}

/// Every problem found in the routing config (never empty).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// The `[routing]` section as written. Every key is optional; see the crate README for the
/// meaning and default of each.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawRouting {
    /// Use the built-in China operator prefix table (configured prefixes always win).
    pub builtin_prefixes: bool,
    /// The operator assumed for numbers no prefix matches (default: none, so only carriers that
    /// cover any destination take them).
    pub unknown_operator: Option<String>,
    /// The default tier order: `own_pool`, `other_pools`, `modems`.
    pub order: Vec<String>,
    /// Messages at or above this priority (0–9) may spill to a lower tier while a higher one is
    /// merely busy.
    pub spill_over_priority: Option<u8>,
    /// How long to wait before looking again at busy, down or disabled carriers.
    pub recheck: String,
    /// Width of a health score band (scores are 0–1000).
    pub health_band: u16,
    /// Operators: prefixes, PLMNs, pools, order and re-send rules.
    pub operators: BTreeMap<String, RawOperator>,
    /// Per-carrier overrides of the kind defaults.
    pub carriers: BTreeMap<String, RawCarrier>,
    /// Defaults for SMPP links.
    pub smpp: RawCarrier,
    /// Defaults for bank slots and USB modems.
    pub modems: RawCarrier,
    /// The nightly window for bulk messages.
    pub quiet_hours: Option<RawQuietHours>,
    /// The retry budget.
    pub retry: RawRetry,
    /// Health tracking.
    pub health: RawHealth,
    /// The default re-send-on-receipt rule (off unless given).
    pub resend: Option<RawResend>,
}

impl Default for RawRouting {
    fn default() -> Self {
        RawRouting {
            builtin_prefixes: true,
            unknown_operator: None,
            order: vec!["own_pool".into(), "other_pools".into(), "modems".into()],
            spill_over_priority: None,
            recheck: "1s".into(),
            health_band: 100,
            operators: BTreeMap::new(),
            carriers: BTreeMap::new(),
            smpp: RawCarrier::default(),
            modems: RawCarrier::default(),
            quiet_hours: None,
            retry: RawRetry::default(),
            health: RawHealth::default(),
            resend: None,
        }
    }
}

/// `[routing.operators.<id>]`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawOperator {
    /// E.164 digit prefixes with country code (`86134`), added to the built-in ones and taking
    /// precedence over them.
    pub prefixes: Vec<String>,
    /// PLMN codes (MCC+MNC) whose SIMs belong to this operator, added to the built-in ones.
    pub plmns: Vec<String>,
    /// The SMPP links connected to this operator (its pool), in no particular order.
    pub pool: Vec<String>,
    /// This operator's tier order (default: `routing.order`). `["modems", ...]` makes modem
    /// slots the primary route.
    pub order: Option<Vec<String>>,
    /// Re-send rule for this operator's destinations (overrides `routing.resend`).
    pub resend: Option<RawResend>,
}

/// `[routing.carriers.<id>]`, `[routing.smpp]` and `[routing.modems]`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawCarrier {
    /// Operators it can deliver to; `["*"]` or omitted: any.
    pub covers: Option<Vec<String>>,
    /// Relative cost per message.
    pub cost: Option<u32>,
    /// Attempts in flight at once.
    pub window: Option<u32>,
    /// Messages per second.
    pub per_second: Option<u32>,
    /// Burst size for `per_second` (default: one second's worth).
    pub burst: Option<u32>,
    /// Messages in any minute.
    pub per_minute: Option<u32>,
    /// Messages in any hour.
    pub per_hour: Option<u32>,
    /// Messages in any 24 hours.
    pub per_day: Option<u32>,
}

/// `[routing.quiet_hours]`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawQuietHours {
    /// Local start, `HH:MM`.
    pub start: String,
    /// Local end, `HH:MM` (before the start when the window crosses midnight).
    pub end: String,
    /// Local time's offset from UTC, `+HH:MM` or `-HH:MM`.
    pub utc_offset: String,
    /// Messages at or below this priority wait (and every message marked bulk).
    pub max_priority: u8,
}

impl Default for RawQuietHours {
    fn default() -> Self {
        RawQuietHours {
            start: "21:00".into(),
            end: "08:00".into(),
            utc_offset: "+08:00".into(),
            max_priority: 2,
        }
    }
}

/// `[routing.retry]`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawRetry {
    /// Rounds (every usable carrier at most once each) before a message fails.
    pub max_rounds: u32,
    /// Attempts (of any outcome) before a message fails.
    pub max_attempts: u32,
    /// Delay before round 2 (doubling each round).
    pub backoff: String,
    /// Longest delay between rounds.
    pub backoff_max: String,
}

impl Default for RawRetry {
    fn default() -> Self {
        RawRetry {
            max_rounds: 3,
            max_attempts: 20,
            backoff: "30s".into(),
            backoff_max: "10m".into(),
        }
    }
}

/// `[routing.health]`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawHealth {
    /// Consecutive failures that open a carrier's breaker.
    pub open_after: u32,
    /// First cool-down of an open breaker.
    pub open_for: String,
    /// Longest cool-down.
    pub open_for_max: String,
    /// Weight of a new attempt in the success-rate average (0–1).
    pub success_alpha: f32,
    /// Weight of a new attempt in the latency average (0–1).
    pub latency_alpha: f32,
    /// Latency that halves an SMPP link's score.
    pub smpp_latency_ref: String,
    /// Latency that halves a modem's score.
    pub modem_latency_ref: String,
    /// Shortest pause after a carrier says "throttled".
    pub min_pause: String,
}

impl Default for RawHealth {
    fn default() -> Self {
        RawHealth {
            open_after: 5,
            open_for: "30s".into(),
            open_for_max: "10m".into(),
            success_alpha: 0.1,
            latency_alpha: 0.2,
            smpp_latency_ref: "500ms".into(),
            modem_latency_ref: "10s".into(),
            min_pause: "1s".into(),
        }
    }
}

/// `[routing.resend]` and `[routing.operators.<id>.resend]`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawResend {
    /// `false` turns re-sending off (e.g. for one operator when the default is on).
    pub enabled: bool,
    /// Report statuses that trigger a re-send: `undeliverable`, `rejected`, `expired`,
    /// `deleted`, `unknown`.
    pub on: Vec<String>,
    /// Only these receipt error codes trigger it (empty: any code).
    pub error_codes: Vec<String>,
    /// Also re-send when no final report came this long after submission.
    pub missing_after: Option<String>,
    /// Re-sends per message at most.
    pub max: u32,
}

impl Default for RawResend {
    fn default() -> Self {
        RawResend {
            enabled: true,
            on: vec!["undeliverable".into(), "rejected".into(), "expired".into()],
            error_codes: Vec::new(),
            missing_after: None,
            max: 1,
        }
    }
}

/// Built-in carrier defaults. Modem limits are deliberately conservative starting points (an
/// operator's anti-spam rules are not published); raise them to what your SIM plan allows.
const MODEM_LIMITS: SlotLimits = SlotLimits {
    per_minute: Some(10),
    per_hour: Some(200),
    per_day: Some(1000),
};
const SMPP_WINDOW: u32 = 10;

/// Collects errors while validating.
struct V {
    errors: Vec<ConfigError>,
}

impl V {
    fn err(&mut self, key: &str, message: String) {
        self.errors.push(ConfigError::new(key, message));
    }

    fn duration(&mut self, key: &str, s: &str) -> Option<Duration> {
        match humantime::parse_duration(s.trim()) {
            Ok(d) => Some(d),
            Err(_) => {
                self.err(
                    key,
                    format!(
                        "{s:?} is not a duration (write e.g. \"500ms\", \"30s\", \"10m\", \"2h\")"
                    ),
                );
                None
            }
        }
    }

    fn positive(&mut self, key: &str, v: Option<u32>) -> Option<u32> {
        match v {
            Some(0) => {
                self.err(
                    key,
                    "must be at least 1 (leave the key out for the default)".into(),
                );
                None
            }
            other => other,
        }
    }

    fn tiers(&mut self, key: &str, names: &[String]) -> Option<TierOrder> {
        let mut tiers = Vec::new();
        let mut ok = true;
        for (i, n) in names.iter().enumerate() {
            match Tier::from_name(n) {
                Some(t) if tiers.contains(&t) => {
                    self.err(&format!("{key}[{i}]"), format!("{n:?} is listed twice"));
                    ok = false;
                }
                Some(t) => tiers.push(t),
                None => {
                    self.err(
                        &format!("{key}[{i}]"),
                        format!("{n:?} is not a tier (own_pool, other_pools or modems)"),
                    );
                    ok = false;
                }
            }
        }
        if names.is_empty() {
            self.err(key, "must name at least one tier".into());
            ok = false;
        }
        ok.then(|| TierOrder::from_tiers(&tiers))
    }
}

pub(crate) fn parse_hhmm(s: &str) -> Option<u16> {
    let (h, m) = s.trim().split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let h: u16 = h.parse().ok()?;
    let m: u16 = m.parse().ok()?;
    (h < 24 && m < 60).then_some(h * 60 + m)
}

pub(crate) fn parse_offset(s: &str) -> Option<i16> {
    let s = s.trim();
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, s.get(1..)?),
        b'-' => (-1, s.get(1..)?),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let h: i16 = h.parse().ok()?;
    let m: i16 = m.parse().ok()?;
    // UTC−12:00 to UTC+14:00 are the offsets in use.
    (h <= 14 && m < 60 && h * 60 + m <= 14 * 60).then_some(sign * (h * 60 + m))
}

/// Normalises a receipt error code for comparison: trimmed, lower case, leading zeros of a
/// decimal code dropped (`"006"` = `"6"`).
pub(crate) fn normalise_code(s: &str) -> String {
    let t = s.trim().to_ascii_lowercase();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        let stripped = t.trim_start_matches('0');
        if stripped.is_empty() {
            "0".to_owned()
        } else {
            stripped.to_owned()
        }
    } else {
        t
    }
}

impl RawRouting {
    /// Validates the section into a [`Policy`], reporting every problem at once.
    pub fn validate(&self) -> Result<Policy, ConfigErrors> {
        let mut v = V { errors: Vec::new() };

        // Operators: built-in first (stable indices), then the ones only the config names.
        let mut operators: Vec<OperatorId> = builtin_ids().map(|(id, _)| id).collect();
        for name in self.operators.keys() {
            let key = format!("routing.operators.{name}");
            match OperatorId::new(name) {
                Ok(id) if !operators.contains(&id) => operators.push(id),
                Ok(_) => {}
                Err(e) => v.err(&key, format!("{name:?} is not a valid operator id: {e}")),
            }
        }
        if operators.len() > MAX_OPERATORS {
            v.err(
                "routing.operators",
                format!(
                    "at most {MAX_OPERATORS} operators are supported ({} given)",
                    operators.len()
                ),
            );
            operators.truncate(MAX_OPERATORS);
        }
        let op_ref = |name: &str| -> Option<OperatorRef> {
            let id = OperatorId::new(name).ok()?;
            operators
                .iter()
                .position(|o| *o == id)
                .and_then(|i| u8::try_from(i).ok())
                .map(OperatorRef)
        };

        // Prefixes and PLMNs.
        let mut prefixes = PrefixTable::new();
        let mut plmns: Vec<(String, OperatorRef)> = Vec::new();
        for (i, (_, b)) in builtin_ids().enumerate() {
            let r = OperatorRef(u8::try_from(i).unwrap_or(u8::MAX));
            if self.builtin_prefixes {
                for p in b.prefixes {
                    prefixes.add_builtin(p, r);
                }
            }
            for p in b.plmns {
                plmns.push(((*p).to_owned(), r));
            }
        }
        let mut orders = vec![TierOrder::UPSTREAM_FIRST; operators.len()];
        let default_order = v
            .tiers("routing.order", &self.order)
            .unwrap_or(TierOrder::UPSTREAM_FIRST);
        orders.iter_mut().for_each(|o| *o = default_order);
        let mut resend: Vec<Option<Option<ResendRule>>> = vec![None; operators.len()];
        let mut pools: HashMap<CarrierId, OperatorRef> = HashMap::new();
        let mut pool_keys: Vec<(CarrierId, String)> = Vec::new();
        let mut configured_plmns: Vec<(String, OperatorRef)> = Vec::new();

        for (name, raw) in &self.operators {
            let Some(r) = op_ref(name) else { continue };
            let base = format!("routing.operators.{name}");
            for (i, p) in raw.prefixes.iter().enumerate() {
                let key = format!("{base}.prefixes[{i}]");
                if !operator::is_digit_prefix(p) {
                    v.err(
                        &key,
                        format!("{p:?} is not a digit prefix (E.164 digits with country code, e.g. \"86134\")"),
                    );
                } else if let Err(other) = prefixes.add_configured(p, r) {
                    let other = operators.get(other.index()).map_or("?", |o| o.as_str());
                    v.err(&key, format!("{p:?} is already mapped to {other}"));
                }
            }
            for (i, p) in raw.plmns.iter().enumerate() {
                let key = format!("{base}.plmns[{i}]");
                if !operator::is_plmn(p) {
                    v.err(
                        &key,
                        format!("{p:?} is not a PLMN code (MCC+MNC, 5 or 6 digits)"),
                    );
                    continue;
                }
                match configured_plmns.iter().find(|(q, _)| q == p) {
                    Some((_, o)) if *o != r => {
                        let other = operators.get(o.index()).map_or("?", |x| x.as_str());
                        v.err(&key, format!("{p:?} is already mapped to {other}"));
                    }
                    Some(_) => {}
                    None => configured_plmns.push((p.clone(), r)),
                }
            }
            for (i, c) in raw.pool.iter().enumerate() {
                let key = format!("{base}.pool[{i}]");
                match CarrierId::new(c) {
                    Err(e) => v.err(&key, format!("{c:?} is not a valid carrier id: {e}")),
                    Ok(id) => match pools.get(&id) {
                        Some(&other) if other != r => {
                            let other = operators.get(other.index()).map_or("?", |x| x.as_str());
                            v.err(
                                &key,
                                format!("carrier {c:?} is already in the pool of {other}"),
                            );
                        }
                        Some(_) => {}
                        None => {
                            pools.insert(id.clone(), r);
                            pool_keys.push((id, key));
                        }
                    },
                }
            }
            if let Some(order) = &raw.order
                && let Some(o) = v.tiers(&format!("{base}.order"), order)
                && let Some(slot) = orders.get_mut(r.index())
            {
                *slot = o;
            }
            if let Some(rs) = &raw.resend {
                let rule = resend_rule(&mut v, &format!("{base}.resend"), rs);
                if let Some(slot) = resend.get_mut(r.index()) {
                    *slot = Some(rule);
                }
            }
        }
        // A configured PLMN moves it away from a built-in operator.
        plmns.retain(|(q, _)| !configured_plmns.iter().any(|(c, _)| c == q));
        plmns.extend(configured_plmns);
        let default_resend = self
            .resend
            .as_ref()
            .and_then(|rs| resend_rule(&mut v, "routing.resend", rs));

        let unknown_operator = match &self.unknown_operator {
            None => None,
            Some(name) => {
                let r = op_ref(name);
                if r.is_none() {
                    v.err(
                        "routing.unknown_operator",
                        format!("unknown operator {name:?}"),
                    );
                }
                r
            }
        };

        // Carriers.
        let smpp_builtin = CarrierDefaults {
            coverage: Coverage::Any,
            cost: 0,
            window: SMPP_WINDOW,
            rate: None,
            limits: SlotLimits::default(),
        };
        let modem_builtin = CarrierDefaults {
            coverage: Coverage::Any,
            cost: 0,
            window: 1,
            rate: None,
            limits: MODEM_LIMITS,
        };
        let smpp_defaults =
            carrier_override(&mut v, "routing.smpp", &self.smpp, &op_ref).apply(smpp_builtin);
        let modem_defaults =
            carrier_override(&mut v, "routing.modems", &self.modems, &op_ref).apply(modem_builtin);
        let mut carriers = HashMap::new();
        for (name, raw) in &self.carriers {
            let key = format!("routing.carriers.{name}");
            let o = carrier_override(&mut v, &key, raw, &op_ref);
            match CarrierId::new(name) {
                Ok(id) => {
                    carriers.insert(id, o);
                }
                Err(e) => v.err(&key, format!("{name:?} is not a valid carrier id: {e}")),
            }
        }

        let quiet = self.quiet_hours.as_ref().and_then(|q| {
            let start = parse_hhmm(&q.start);
            let end = parse_hhmm(&q.end);
            let offset = parse_offset(&q.utc_offset);
            if start.is_none() {
                v.err(
                    "routing.quiet_hours.start",
                    format!("{:?} is not a time (HH:MM)", q.start),
                );
            }
            if end.is_none() {
                v.err(
                    "routing.quiet_hours.end",
                    format!("{:?} is not a time (HH:MM)", q.end),
                );
            }
            if offset.is_none() {
                v.err(
                    "routing.quiet_hours.utc_offset",
                    format!("{:?} is not a UTC offset (+HH:MM or -HH:MM)", q.utc_offset),
                );
            }
            let prio = Priority::new(q.max_priority);
            if prio.is_none() {
                v.err(
                    "routing.quiet_hours.max_priority",
                    format!("{} is not a priority (0-9)", q.max_priority),
                );
            }
            if start.is_some() && start == end {
                v.err("routing.quiet_hours.end", "must differ from start".into());
                return None;
            }
            Some(QuietHours {
                start_minute: start?,
                end_minute: end?,
                utc_offset_minutes: offset?,
                max_priority: prio?,
            })
        });

        let spill_over_priority = self.spill_over_priority.and_then(|p| {
            let r = Priority::new(p);
            if r.is_none() {
                v.err(
                    "routing.spill_over_priority",
                    format!("{p} is not a priority (0-9)"),
                );
            }
            r
        });

        // Retry and health.
        let rr = &self.retry;
        if rr.max_rounds == 0 {
            v.err("routing.retry.max_rounds", "must be at least 1".into());
        }
        if rr.max_attempts == 0 {
            v.err("routing.retry.max_attempts", "must be at least 1".into());
        }
        let backoff = Backoff {
            base: v
                .duration("routing.retry.backoff", &rr.backoff)
                .unwrap_or(Duration::ZERO),
            max: v
                .duration("routing.retry.backoff_max", &rr.backoff_max)
                .unwrap_or(Duration::ZERO),
        };
        if backoff.max < backoff.base {
            v.err(
                "routing.retry.backoff_max",
                "must not be shorter than routing.retry.backoff".into(),
            );
        }
        let retry = RetryRules {
            max_rounds: rr.max_rounds.max(1),
            max_attempts: rr.max_attempts.max(1),
            backoff,
        };

        let h = &self.health;
        if h.open_after == 0 {
            v.err("routing.health.open_after", "must be at least 1".into());
        }
        for (key, a) in [
            ("routing.health.success_alpha", h.success_alpha),
            ("routing.health.latency_alpha", h.latency_alpha),
        ] {
            if !(a > 0.0 && a <= 1.0) {
                v.err(key, format!("{a} is not in (0, 1]"));
            }
        }
        let breaker = BreakerConfig {
            open_after: h.open_after.max(1),
            open_for: v
                .duration("routing.health.open_for", &h.open_for)
                .unwrap_or(Duration::ZERO),
            open_for_max: v
                .duration("routing.health.open_for_max", &h.open_for_max)
                .unwrap_or(Duration::ZERO),
        };
        let min_pause = v
            .duration("routing.health.min_pause", &h.min_pause)
            .unwrap_or(Duration::ZERO);
        let smpp_health = HealthConfig {
            breaker,
            success_alpha: h.success_alpha,
            latency_alpha: h.latency_alpha,
            latency_ref: v
                .duration("routing.health.smpp_latency_ref", &h.smpp_latency_ref)
                .unwrap_or(Duration::ZERO),
            min_pause,
        };
        let modem_health = HealthConfig {
            latency_ref: v
                .duration("routing.health.modem_latency_ref", &h.modem_latency_ref)
                .unwrap_or(Duration::ZERO),
            ..smpp_health
        };
        let recheck = v
            .duration("routing.recheck", &self.recheck)
            .unwrap_or(Duration::ZERO);
        if recheck.is_zero() {
            v.err("routing.recheck", "must be longer than zero".into());
        }
        if self.health_band == 0 || self.health_band > 1000 {
            v.err(
                "routing.health_band",
                format!("{} is not in 1-1000", self.health_band),
            );
        }

        if !v.errors.is_empty() {
            return Err(ConfigErrors(v.errors));
        }
        Ok(Policy {
            operators,
            prefixes,
            plmns,
            unknown_operator,
            default_order,
            orders,
            default_resend,
            resend,
            pools,
            pool_keys,
            carriers,
            smpp_defaults,
            modem_defaults,
            quiet,
            retry,
            smpp_health,
            modem_health,
            spill_over_priority,
            recheck,
            health_band: self.health_band.clamp(1, 1000),
        })
    }
}

fn carrier_override(
    v: &mut V,
    base: &str,
    raw: &RawCarrier,
    op_ref: &dyn Fn(&str) -> Option<OperatorRef>,
) -> CarrierOverride {
    let coverage = raw.covers.as_ref().map(|list| {
        if list.iter().any(|c| c == "*") {
            return Coverage::Any;
        }
        if list.is_empty() {
            v.err(
                &format!("{base}.covers"),
                "must name at least one operator (or \"*\" for any)".into(),
            );
        }
        let mut set = OperatorSet::EMPTY;
        for (i, c) in list.iter().enumerate() {
            match op_ref(c) {
                Some(r) => set = set.with(r),
                None => v.err(
                    &format!("{base}.covers[{i}]"),
                    format!("unknown operator {c:?}"),
                ),
            }
        }
        Coverage::Only(set)
    });
    CarrierOverride {
        coverage,
        cost: raw.cost,
        window: v.positive(&format!("{base}.window"), raw.window),
        per_second: v.positive(&format!("{base}.per_second"), raw.per_second),
        burst: v.positive(&format!("{base}.burst"), raw.burst),
        per_minute: v.positive(&format!("{base}.per_minute"), raw.per_minute),
        per_hour: v.positive(&format!("{base}.per_hour"), raw.per_hour),
        per_day: v.positive(&format!("{base}.per_day"), raw.per_day),
    }
}

fn resend_rule(v: &mut V, base: &str, raw: &RawResend) -> Option<ResendRule> {
    let mut on = Vec::new();
    for (i, s) in raw.on.iter().enumerate() {
        match DlrStatus::from_name(s) {
            Some(DlrStatus::Delivered | DlrStatus::Enroute) | None => v.err(
                &format!("{base}.on[{i}]"),
                format!("{s:?} is not a failed status (undeliverable, rejected, expired, deleted, unknown)"),
            ),
            Some(st) => on.push(st),
        }
    }
    let missing_after = raw
        .missing_after
        .as_ref()
        .and_then(|m| v.duration(&format!("{base}.missing_after"), m));
    if missing_after.is_some_and(|d| d.is_zero()) {
        v.err(
            &format!("{base}.missing_after"),
            "must be longer than zero".into(),
        );
    }
    if raw.enabled && raw.max == 0 {
        v.err(
            &format!("{base}.max"),
            "must be at least 1 (or set enabled = false)".into(),
        );
    }
    raw.enabled.then(|| ResendRule {
        on,
        error_codes: raw.error_codes.iter().map(|c| normalise_code(c)).collect(),
        missing_after,
        max: raw.max,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CarrierKind;
    use crate::limits::Rate;

    fn parse(toml_text: &str) -> Result<Policy, String> {
        #[derive(Deserialize)]
        struct File {
            #[serde(default)]
            routing: RawRouting,
        }
        let f: File = toml::from_str(toml_text).map_err(|e| e.message().to_owned())?;
        f.routing.validate().map_err(|e| e.to_string())
    }

    fn check_err(toml_text: &str, expect: &str) {
        match parse(toml_text) {
            Ok(_) => panic!("accepted: {toml_text}"),
            Err(e) => assert_eq!(e, expect, "config:\n{toml_text}"),
        }
    }

    #[test]
    fn defaults_are_valid() {
        let p = Policy::default();
        assert_eq!(
            p.operators().iter().map(|o| o.as_str()).collect::<Vec<_>>(),
            ["cmcc", "unicom", "telecom", "cbn"]
        );
        assert_eq!(p.retry().max_rounds, 3);
        assert!(p.quiet_hours().is_none());
        assert!(p.resend_rule(None).is_none());
        let empty = parse("").unwrap();
        assert_eq!(empty.operators().len(), 4);
    }

    #[test]
    fn errors_name_the_offending_key() {
        check_err(
            r#"[routing.operators.cmcc]
               prefixes = ["86134", "86135", "86136", "13x"]"#,
            r#"routing.operators.cmcc.prefixes[3]: "13x" is not a digit prefix (E.164 digits with country code, e.g. "86134")"#,
        );
        check_err(
            r#"[routing.operators.cmcc]
               prefixes = ["8613"]
               [routing.operators.unicom]
               prefixes = ["8613"]"#,
            r#"routing.operators.unicom.prefixes[0]: "8613" is already mapped to cmcc"#,
        );
        check_err(
            r#"[routing.operators."bad op"]"#,
            r#"routing.operators.bad op: "bad op" is not a valid operator id: may only contain letters, digits and . _ - / : (found ' ')"#,
        );
        check_err(
            "[routing.operators.cmcc]\nplmns = [\"4600\"]",
            r#"routing.operators.cmcc.plmns[0]: "4600" is not a PLMN code (MCC+MNC, 5 or 6 digits)"#,
        );
        check_err(
            "[routing.operators.cmcc]\npool = [\"a\"]\n[routing.operators.unicom]\npool = [\"a\"]",
            r#"routing.operators.unicom.pool[0]: carrier "a" is already in the pool of cmcc"#,
        );
        check_err(
            "[routing.operators.cmcc]\norder = [\"modems\", \"sims\"]",
            r#"routing.operators.cmcc.order[1]: "sims" is not a tier (own_pool, other_pools or modems)"#,
        );
        check_err(
            "[routing]\norder = [\"modems\", \"modems\"]",
            r#"routing.order[1]: "modems" is listed twice"#,
        );
        check_err(
            "[routing]\norder = []",
            "routing.order: must name at least one tier",
        );
        check_err(
            "[routing.carriers.c1]\ncovers = [\"cmcc\", \"vodafone\"]",
            r#"routing.carriers.c1.covers[1]: unknown operator "vodafone""#,
        );
        check_err(
            "[routing.carriers.c1]\ncovers = []",
            r#"routing.carriers.c1.covers: must name at least one operator (or "*" for any)"#,
        );
        check_err(
            "[routing.modems]\nper_minute = 0",
            "routing.modems.per_minute: must be at least 1 (leave the key out for the default)",
        );
        check_err(
            "[routing.retry]\nbackoff = \"30x\"",
            r#"routing.retry.backoff: "30x" is not a duration (write e.g. "500ms", "30s", "10m", "2h")"#,
        );
        check_err(
            "[routing.retry]\nbackoff = \"20m\"",
            "routing.retry.backoff_max: must not be shorter than routing.retry.backoff",
        );
        check_err(
            "[routing.operators.cmcc]\nplmns = [\"46020\"]\n[routing.operators.unicom]\nplmns = [\"46020\"]",
            r#"routing.operators.unicom.plmns[0]: "46020" is already mapped to cmcc"#,
        );
        check_err(
            "[routing.retry]\nmax_rounds = 0",
            "routing.retry.max_rounds: must be at least 1",
        );
        check_err(
            "[routing.health]\nsuccess_alpha = 1.5",
            "routing.health.success_alpha: 1.5 is not in (0, 1]",
        );
        check_err(
            "[routing.quiet_hours]\nstart = \"25:00\"",
            r#"routing.quiet_hours.start: "25:00" is not a time (HH:MM)"#,
        );
        check_err(
            "[routing.quiet_hours]\nutc_offset = \"8\"",
            r#"routing.quiet_hours.utc_offset: "8" is not a UTC offset (+HH:MM or -HH:MM)"#,
        );
        check_err(
            "[routing.quiet_hours]\nstart = \"08:00\"",
            "routing.quiet_hours.end: must differ from start",
        );
        check_err(
            "[routing.resend]\non = [\"delivered\"]",
            r#"routing.resend.on[0]: "delivered" is not a failed status (undeliverable, rejected, expired, deleted, unknown)"#,
        );
        check_err(
            "[routing]\nunknown_operator = \"x\"",
            r#"routing.unknown_operator: unknown operator "x""#,
        );
        check_err(
            "[routing]\nspill_over_priority = 10",
            "routing.spill_over_priority: 10 is not a priority (0-9)",
        );
        check_err(
            "[routing]\nrecheck = \"0s\"",
            "routing.recheck: must be longer than zero",
        );
        // Unknown keys are typos, not silently ignored.
        assert!(
            parse("[routing]\nmax_round = 3")
                .unwrap_err()
                .contains("unknown field `max_round`")
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let e = parse(
            "[routing.retry]\nmax_rounds = 0\nmax_attempts = 0\n[routing.health]\nopen_after = 0",
        )
        .unwrap_err();
        assert_eq!(
            e,
            "routing.retry.max_rounds: must be at least 1\n\
             routing.retry.max_attempts: must be at least 1\n\
             routing.health.open_after: must be at least 1"
        );
    }

    #[test]
    fn prefix_overrides_and_new_operators() {
        let p = parse(
            r#"[routing]
               unknown_operator = "intl"
               [routing.operators.mvno]
               prefixes = ["86170"]
               [routing.operators.intl]
               prefixes = ["852"]
               [routing.operators.cmcc]
               prefixes = ["8613000"]"#,
        )
        .unwrap();
        let name = |d: &str| {
            p.operator_of(d)
                .and_then(|r| p.operator_id(r))
                .map(|o| o.as_str().to_owned())
        };
        assert_eq!(name("8617031234567").as_deref(), Some("mvno"));
        assert_eq!(name("8613000123456").as_deref(), Some("cmcc"));
        assert_eq!(name("8613012345678").as_deref(), Some("unicom"));
        assert_eq!(name("85291234567").as_deref(), Some("intl"));
        assert_eq!(name("4917112345678").as_deref(), Some("intl"));
        // Without the built-in table only configured prefixes count.
        let p = parse(
            "[routing]\nbuiltin_prefixes = false\n[routing.operators.cmcc]\nprefixes = [\"86138\"]",
        )
        .unwrap();
        assert!(p.operator_of("8613012345678").is_none());
        assert!(p.operator_of("8613812345678").is_some());
    }

    #[test]
    fn plmns_map_sims_to_operators() {
        let p = parse("[routing.operators.cmcc]\nplmns = [\"46020\"]\n[routing.operators.unicom]\nplmns = [\"46000\"]").unwrap();
        let name = |plmn: &str| {
            p.operator_for_plmn(plmn)
                .and_then(|r| p.operator_id(r))
                .map(|o| o.as_str().to_owned())
        };
        assert_eq!(name("46002").as_deref(), Some("cmcc"));
        assert_eq!(name("46020").as_deref(), Some("cmcc"));
        // A configured PLMN moves it from the built-in operator.
        assert_eq!(name("46000").as_deref(), Some("unicom"));
        assert_eq!(name("46011").as_deref(), Some("telecom"));
        assert_eq!(name("46015").as_deref(), Some("cbn"));
        assert_eq!(name("26201"), None);
    }

    #[test]
    fn carrier_profiles_merge_kind_defaults_and_overrides() {
        use crate::carrier::CarrierKind;
        let p = parse(
            r#"[routing.smpp]
               per_second = 50
               [routing.modems]
               per_day = 300
               [routing.operators.cmcc]
               pool = ["cmcc-1"]
               [routing.carriers.cmcc-1]
               covers = ["cmcc"]
               cost = 3
               window = 20
               burst = 100
               [routing.carriers."bank/slot1"]
               per_minute = 4
               covers = ["*"]"#,
        )
        .unwrap();
        let id = |s: &str| CarrierId::new(s).unwrap();
        let cmcc = p.operator_ref(&OperatorId::new("cmcc").unwrap()).unwrap();
        let link = p.profile(&id("cmcc-1"), CarrierKind::Smpp);
        assert_eq!(link.pool, Some(cmcc));
        assert_eq!(link.coverage, Coverage::Only(OperatorSet::EMPTY.with(cmcc)));
        assert_eq!((link.cost, link.window), (3, 20));
        assert_eq!(
            link.rate,
            Some(Rate {
                per_second: 50,
                burst: 100
            })
        );
        assert_eq!(link.limits, SlotLimits::default());
        let other = p.profile(&id("x"), CarrierKind::Smpp);
        assert_eq!(
            (other.pool, other.window, other.coverage),
            (None, 10, Coverage::Any)
        );
        assert_eq!(
            other.rate,
            Some(Rate {
                per_second: 50,
                burst: 50
            })
        );
        let slot = p.profile(&id("bank/slot1"), CarrierKind::BankSlot);
        assert_eq!(slot.window, 1);
        assert_eq!(
            slot.limits,
            SlotLimits {
                per_minute: Some(4),
                per_hour: Some(200),
                per_day: Some(300)
            }
        );
        assert_eq!(slot.coverage, Coverage::Any);
        // Unknown carriers named by the config are reported against the known ones.
        let known = [id("cmcc-1")];
        assert_eq!(
            p.check_carriers(&known).unwrap_err().to_string(),
            "routing.carriers.bank/slot1: unknown carrier"
        );
        assert_eq!(
            p.check_carriers(&[]).unwrap_err().to_string(),
            "routing.operators.cmcc.pool[0]: unknown carrier \"cmcc-1\"\n\
             routing.carriers.bank/slot1: unknown carrier\n\
             routing.carriers.cmcc-1: unknown carrier"
        );
        assert!(p.check_carriers(&[id("cmcc-1"), id("bank/slot1")]).is_ok());
    }

    #[test]
    fn orders_and_resend_rules_per_operator() {
        let p = parse(
            r#"[routing.resend]
               missing_after = "30m"
               error_codes = ["006", "0x0B"]
               [routing.operators.cmcc]
               order = ["modems", "own_pool"]
               [routing.operators.unicom.resend]
               enabled = false"#,
        )
        .unwrap();
        let r = |n: &str| p.operator_ref(&OperatorId::new(n).unwrap());
        assert_eq!(p.order(r("cmcc")).tiers(), [Tier::Modems, Tier::OwnPool]);
        assert_eq!(p.order(r("telecom")), TierOrder::UPSTREAM_FIRST);
        assert_eq!(p.order(None), TierOrder::UPSTREAM_FIRST);
        let rule = p.resend_rule(r("cmcc")).unwrap();
        assert_eq!(rule.missing_after(), Some(Duration::from_secs(1800)));
        assert_eq!(rule.error_codes(), ["6", "0x0b"]);
        assert_eq!(
            rule.on(),
            [
                DlrStatus::Undeliverable,
                DlrStatus::Rejected,
                DlrStatus::Expired
            ]
        );
        assert_eq!(rule.max(), 1);
        assert!(p.resend_rule(r("unicom")).is_none());
        assert!(p.resend_rule(None).is_some());
    }

    #[test]
    fn quiet_hours_parse() {
        let p = parse("[routing.quiet_hours]\nstart = \"22:30\"\nend = \"07:15\"\nutc_offset = \"-05:30\"\nmax_priority = 4").unwrap();
        assert_eq!(
            p.quiet_hours(),
            Some(&QuietHours {
                start_minute: 22 * 60 + 30,
                end_minute: 7 * 60 + 15,
                utc_offset_minutes: -330,
                max_priority: Priority::new(4).unwrap(),
            })
        );
        assert_eq!(parse_offset("+14:00"), Some(840));
        assert_eq!(parse_offset("+14:01"), None);
        assert_eq!(parse_offset("+08"), None);
        assert_eq!(parse_hhmm("7:15"), None);
        assert_eq!(parse_hhmm("23:59"), Some(1439));
    }

    /// The settings page's quiet window and modem daily limit override the config file's.
    #[test]
    fn settings_page_overrides() {
        let configured = parse("[routing.quiet_hours]\nmax_priority = 4").unwrap();
        let p = configured
            .with_quiet_window("23:00", "06:30", "+08:00")
            .unwrap();
        assert_eq!(
            p.quiet_hours(),
            Some(&QuietHours {
                start_minute: 23 * 60,
                end_minute: 6 * 60 + 30,
                utc_offset_minutes: 480,
                max_priority: Priority::new(4).unwrap(),
            })
        );
        // Without configured quiet hours the threshold is the section's default, 2.
        let p = Policy::default()
            .with_quiet_window("21:00", "08:00", "-05:00")
            .unwrap();
        assert_eq!(
            p.quiet_hours().unwrap().max_priority,
            Priority::new(2).unwrap()
        );
        assert_eq!(p.quiet_hours().unwrap().utc_offset_minutes, -300);
        for (a, b, o) in [
            ("21:00", "21:00", "+08:00"),
            ("24:00", "08:00", "+08:00"),
            ("21:00", "08:00", "8"),
        ] {
            assert!(
                Policy::default().with_quiet_window(a, b, o).is_none(),
                "{a} {b} {o}"
            );
        }
        let slot = CarrierId::new("bank/slot1").unwrap();
        let link = CarrierId::new("smpp-a").unwrap();
        let p = parse("[routing.carriers.\"bank/slot1\"]\nper_day = 50").unwrap();
        let q = Policy::default().with_modem_daily_limit(300);
        assert_eq!(
            q.profile(&slot, CarrierKind::BankSlot).limits.per_day,
            Some(300)
        );
        assert_eq!(
            q.profile(&link, CarrierKind::Smpp).limits.per_day,
            Policy::default()
                .profile(&link, CarrierKind::Smpp)
                .limits
                .per_day
        );
        // A slot's own limit stays.
        let p = p.with_modem_daily_limit(300);
        assert_eq!(
            p.profile(&slot, CarrierKind::BankSlot).limits.per_day,
            Some(50)
        );
    }

    /// The example in the README is what admins copy: it must stay valid.
    #[test]
    fn readme_example_config_is_valid() {
        let readme = include_str!("../README.md");
        let start = readme.find("```toml\n").unwrap() + "```toml\n".len();
        let len = readme[start..].find("```").unwrap();
        let p = parse(&readme[start..start + len]).unwrap();
        let cmcc = p.operator_ref(&OperatorId::new("cmcc").unwrap());
        assert_eq!(
            p.order(cmcc).tiers(),
            [Tier::Modems, Tier::OwnPool, Tier::OtherPools]
        );
        assert!(p.quiet_hours().is_some());
        assert!(p.resend_rule(cmcc).is_some());
        assert_eq!(p.spill_over_priority(), Priority::new(9));
    }

    #[test]
    fn error_codes_normalise() {
        assert_eq!(normalise_code(" 006 "), "6");
        assert_eq!(normalise_code("000"), "0");
        assert_eq!(normalise_code("0x0000000B"), "0x0000000b");
        assert_eq!(normalise_code(""), "");
    }
}
