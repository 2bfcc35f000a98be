//! The validated routing policy: everything [`crate::pick`], [`crate::after_outcome`] and the
//! receipt rules consult, built once from the `[routing]` config by
//! [`crate::RawRouting::validate`].

use std::collections::HashMap;
use std::time::Duration;

use domain::{CarrierId, DlrStatus, OperatorId, Priority};

use crate::backoff::Backoff;
use crate::carrier::{CarrierKind, CarrierProfile};
use crate::config::{ConfigError, ConfigErrors, RawRouting};
use crate::health::HealthConfig;
use crate::limits::{Rate, SlotLimits};
use crate::operator::{Coverage, OperatorRef, PrefixTable};
use crate::quiet::QuietHours;

/// A group of carriers in the preference order of a destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tier {
    /// SMPP links in the destination operator's own pool.
    OwnPool,
    /// Every other SMPP link that covers the destination (other operators' pools, aggregators).
    OtherPools,
    /// Bank slots and USB modems (SIMs on the destination's own network first).
    Modems,
}

impl Tier {
    /// The config name.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::OwnPool => "own_pool",
            Tier::OtherPools => "other_pools",
            Tier::Modems => "modems",
        }
    }

    pub(crate) fn from_name(s: &str) -> Option<Tier> {
        [Tier::OwnPool, Tier::OtherPools, Tier::Modems]
            .into_iter()
            .find(|t| t.as_str() == s)
    }
}

/// The tiers a destination may use, best first (no repeats; a tier left out is never used).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TierOrder {
    tiers: [Tier; 3],
    len: u8,
}

impl TierOrder {
    /// Upstream first: own pool, other pools, then modems.
    pub const UPSTREAM_FIRST: TierOrder = TierOrder {
        tiers: [Tier::OwnPool, Tier::OtherPools, Tier::Modems],
        len: 3,
    };

    pub(crate) fn from_tiers(list: &[Tier]) -> TierOrder {
        let mut out = TierOrder {
            tiers: [Tier::OwnPool; 3],
            len: 0,
        };
        for &t in list {
            if out.position(t).is_none()
                && let Some(slot) = out.tiers.get_mut(usize::from(out.len))
            {
                *slot = t;
                out.len += 1;
            }
        }
        out
    }

    /// The tiers in order.
    pub fn tiers(&self) -> &[Tier] {
        self.tiers.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// Where `tier` is in the order (0 is best), or `None` if the destination may not use it.
    pub fn position(&self, tier: Tier) -> Option<u8> {
        self.tiers()
            .iter()
            .position(|&t| t == tier)
            .and_then(|p| u8::try_from(p).ok())
    }
}

/// Retry budget: how many rounds (each carrier at most once per round) and attempts a message
/// gets, and the backoff between rounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryRules {
    /// Rounds before the message fails (at least 1).
    pub max_rounds: u32,
    /// Attempts before the message fails, across all rounds, whatever their outcomes (at least
    /// 1).
    pub max_attempts: u32,
    /// The delay before each new round.
    pub backoff: Backoff,
}

/// When a delivery report (or its absence) makes a message go out again through another
/// operator channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResendRule {
    pub(crate) on: Vec<DlrStatus>,
    /// Normalised error codes; empty means any code.
    pub(crate) error_codes: Vec<String>,
    pub(crate) missing_after: Option<Duration>,
    pub(crate) max: u32,
}

impl ResendRule {
    /// Report statuses that trigger a re-send.
    pub fn on(&self) -> &[DlrStatus] {
        &self.on
    }

    /// Error codes that trigger a re-send (empty: any).
    pub fn error_codes(&self) -> &[String] {
        &self.error_codes
    }

    /// Re-send when no final report came this long after submission.
    pub fn missing_after(&self) -> Option<Duration> {
        self.missing_after
    }

    /// Re-sends per message at most.
    pub fn max(&self) -> u32 {
        self.max
    }
}

/// Per-kind defaults for carriers (overridden per carrier in `routing.carriers`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CarrierDefaults {
    pub(crate) coverage: Coverage,
    pub(crate) cost: u32,
    pub(crate) window: u32,
    pub(crate) rate: Option<Rate>,
    pub(crate) limits: SlotLimits,
}

/// A carrier's validated overrides (each `None` keeps the kind's default).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct CarrierOverride {
    pub(crate) coverage: Option<Coverage>,
    pub(crate) cost: Option<u32>,
    pub(crate) window: Option<u32>,
    pub(crate) per_second: Option<u32>,
    pub(crate) burst: Option<u32>,
    pub(crate) per_minute: Option<u32>,
    pub(crate) per_hour: Option<u32>,
    pub(crate) per_day: Option<u32>,
}

impl CarrierOverride {
    pub(crate) fn apply(&self, d: CarrierDefaults) -> CarrierDefaults {
        let rate = match (self.per_second, d.rate) {
            (Some(ps), base) => Some(Rate {
                per_second: ps,
                burst: self.burst.or(base.map(|r| r.burst)).unwrap_or(ps),
            }),
            (None, Some(r)) => Some(Rate {
                burst: self.burst.unwrap_or(r.burst),
                ..r
            }),
            (None, None) => None,
        };
        CarrierDefaults {
            coverage: self.coverage.unwrap_or(d.coverage),
            cost: self.cost.unwrap_or(d.cost),
            window: self.window.unwrap_or(d.window),
            rate,
            limits: SlotLimits {
                per_minute: self.per_minute.or(d.limits.per_minute),
                per_hour: self.per_hour.or(d.limits.per_hour),
                per_day: self.per_day.or(d.limits.per_day),
            },
        }
    }
}

/// The validated routing policy.
#[derive(Clone, Debug)]
pub struct Policy {
    pub(crate) operators: Vec<OperatorId>,
    pub(crate) prefixes: PrefixTable,
    pub(crate) plmns: Vec<(String, OperatorRef)>,
    pub(crate) unknown_operator: Option<OperatorRef>,
    pub(crate) default_order: TierOrder,
    /// Per operator (same index as `operators`).
    pub(crate) orders: Vec<TierOrder>,
    pub(crate) default_resend: Option<ResendRule>,
    /// Per operator: `None` inherits `default_resend`, `Some(None)` disables.
    pub(crate) resend: Vec<Option<Option<ResendRule>>>,
    pub(crate) pools: HashMap<CarrierId, OperatorRef>,
    /// Where each pool member was configured, for error messages.
    pub(crate) pool_keys: Vec<(CarrierId, String)>,
    pub(crate) carriers: HashMap<CarrierId, CarrierOverride>,
    pub(crate) smpp_defaults: CarrierDefaults,
    pub(crate) modem_defaults: CarrierDefaults,
    pub(crate) quiet: Option<QuietHours>,
    pub(crate) retry: RetryRules,
    pub(crate) smpp_health: HealthConfig,
    pub(crate) modem_health: HealthConfig,
    pub(crate) spill_over_priority: Option<Priority>,
    pub(crate) recheck: Duration,
    pub(crate) health_band: u16,
}

impl Default for Policy {
    /// The built-in policy: China operator table, upstream first, default limits and retries.
    fn default() -> Self {
        RawRouting::default()
            .validate()
            .expect("the built-in routing defaults are valid (unit-tested)")
    }
}

impl Policy {
    /// Every operator the policy knows, indexed by [`OperatorRef::index`].
    pub fn operators(&self) -> &[OperatorId] {
        &self.operators
    }

    /// The operator's id.
    pub fn operator_id(&self, op: OperatorRef) -> Option<&OperatorId> {
        self.operators.get(op.index())
    }

    /// The reference of a named operator.
    pub fn operator_ref(&self, id: &OperatorId) -> Option<OperatorRef> {
        self.operators
            .iter()
            .position(|o| o == id)
            .and_then(|i| u8::try_from(i).ok())
            .map(OperatorRef)
    }

    /// The operator of a destination, from its E.164 digits (`+` optional): configured prefixes
    /// first, then the built-in table, then `routing.unknown_operator`.
    pub fn operator_of(&self, digits: &str) -> Option<OperatorRef> {
        self.prefixes.lookup(digits).or(self.unknown_operator)
    }

    /// The operator whose SIMs register with PLMN `plmn` (E.212 MCC+MNC, e.g. `46000`).
    pub fn operator_for_plmn(&self, plmn: &str) -> Option<OperatorRef> {
        self.plmns
            .iter()
            .find(|(p, _)| p == plmn)
            .map(|&(_, op)| op)
    }

    /// The tiers a destination of operator `dest` may use, best first.
    pub fn order(&self, dest: Option<OperatorRef>) -> TierOrder {
        dest.and_then(|d| self.orders.get(d.index()).copied())
            .unwrap_or(self.default_order)
    }

    /// The retry budget.
    pub fn retry(&self) -> &RetryRules {
        &self.retry
    }

    /// The delay before round `round` (1-based) for a message whose jitter value is `random`.
    pub fn backoff(&self, round: u32, random: u32) -> Duration {
        self.retry.backoff.delay(round, random)
    }

    /// The quiet hours, if configured.
    pub fn quiet_hours(&self) -> Option<&QuietHours> {
        self.quiet.as_ref()
    }

    /// This policy with the quiet window an admin set on the settings page, which wins over the
    /// config file's: `start`–`end` (`HH:MM`, local time at `utc_offset`, `+HH:MM`), keeping the
    /// configured priority threshold (else 2, as `[routing.quiet_hours]` defaults). `None` when a
    /// value does not parse or the window is empty.
    pub fn with_quiet_window(mut self, start: &str, end: &str, utc_offset: &str) -> Option<Policy> {
        let start_minute = crate::config::parse_hhmm(start)?;
        let end_minute = crate::config::parse_hhmm(end)?;
        let utc_offset_minutes = crate::config::parse_offset(utc_offset)?;
        if start_minute == end_minute {
            return None;
        }
        let max_priority = self
            .quiet
            .map(|q| q.max_priority)
            .or_else(|| Priority::new(2))?;
        self.quiet = Some(QuietHours {
            start_minute,
            end_minute,
            utc_offset_minutes,
            max_priority,
        });
        Some(self)
    }

    /// This policy with a default daily limit per modem slot from the settings page (slots with
    /// their own `per_day` in `routing.carriers` keep theirs).
    pub fn with_modem_daily_limit(mut self, per_day: u32) -> Policy {
        self.modem_defaults.limits.per_day = Some(per_day);
        self
    }

    /// Messages at or above this priority may use a lower tier while a higher one is only busy.
    pub fn spill_over_priority(&self) -> Option<Priority> {
        self.spill_over_priority
    }

    /// How long to wait before looking again at a carrier that is busy, down or disabled (the
    /// dispatcher may look earlier when a carrier reports a change).
    pub fn recheck(&self) -> Duration {
        self.recheck
    }

    /// Health scores within the same band of this width rank equal (so that load, not tiny
    /// score differences, decides between healthy carriers).
    pub fn health_band(&self) -> u16 {
        self.health_band
    }

    /// Health tracking settings for a kind of carrier.
    pub fn health_config(&self, kind: CarrierKind) -> HealthConfig {
        if kind.is_modem() {
            self.modem_health
        } else {
            self.smpp_health
        }
    }

    /// The re-send rule for destinations of operator `dest`, if re-sending is on for them.
    pub fn resend_rule(&self, dest: Option<OperatorRef>) -> Option<&ResendRule> {
        match dest.and_then(|d| self.resend.get(d.index())) {
            Some(Some(own)) => own.as_ref(),
            _ => self.default_resend.as_ref(),
        }
    }

    /// What the policy says about carrier `id` of kind `kind`.
    pub fn profile(&self, id: &CarrierId, kind: CarrierKind) -> CarrierProfile {
        let defaults = if kind.is_modem() {
            self.modem_defaults
        } else {
            self.smpp_defaults
        };
        let d = match self.carriers.get(id) {
            Some(o) => o.apply(defaults),
            None => defaults,
        };
        CarrierProfile {
            kind,
            pool: self.pools.get(id).copied(),
            coverage: d.coverage,
            cost: d.cost,
            window: d.window.max(1),
            limits: d.limits,
            rate: d.rate,
        }
    }

    /// Checks that every carrier the routing config names exists among `known` (the carriers the
    /// service has); the errors name the offending keys.
    pub fn check_carriers(&self, known: &[CarrierId]) -> Result<(), ConfigErrors> {
        let mut errors = Vec::new();
        for (id, key) in &self.pool_keys {
            if !known.contains(id) {
                errors.push(ConfigError::new(
                    key,
                    format!("unknown carrier {:?}", id.as_str()),
                ));
            }
        }
        let mut named: Vec<&CarrierId> = self.carriers.keys().collect();
        named.sort();
        for id in named {
            if !known.contains(id) {
                errors.push(ConfigError::new(
                    &format!("routing.carriers.{}", id.as_str()),
                    "unknown carrier".to_owned(),
                ));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(errors))
        }
    }
}
