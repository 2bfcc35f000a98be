//! Carriers as the scheduler sees them: what kind each is, what the policy says about it (its
//! [`CarrierProfile`]), and its live state (health, recent sends, token bucket, in-flight count).
//!
//! The dispatcher keeps one [`Candidate`] per carrier in a table, passes the table to
//! [`crate::pick`] as a slice, and updates the chosen entry with [`Candidate::on_dispatch`] and,
//! when the attempt ends, [`Candidate::on_outcome`]. All policy about what an outcome means for a
//! carrier lives here, so the dispatcher holds none.

use std::time::Duration;

use domain::{CarrierId, OperatorId, Outcome, UnixMillis};

use crate::health::{AttemptResult, Health};
use crate::limits::{Rate, SlotLimits, TokenBucket, Usage};
use crate::operator::{Coverage, OperatorRef};
use crate::policy::Policy;

/// What a carrier is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CarrierKind {
    /// An upstream SMPP link to an SMSC: fast, windowed.
    Smpp,
    /// A slot of the modem bank: one SIM, one message at a time.
    BankSlot,
    /// A USB modem driven directly: one SIM, one message at a time.
    Modem,
}

impl CarrierKind {
    /// Whether this is a SIM-based carrier (bank slot or USB modem).
    pub fn is_modem(self) -> bool {
        matches!(self, CarrierKind::BankSlot | CarrierKind::Modem)
    }
}

/// What the policy says about one carrier; built once by [`Policy::profile`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CarrierProfile {
    /// The carrier's kind.
    pub kind: CarrierKind,
    /// The operator pool the config puts it in (`routing.operators.<op>.pool`).
    pub pool: Option<OperatorRef>,
    /// Which destinations it can deliver to.
    pub coverage: Coverage,
    /// Relative cost per message (lower is preferred among equally healthy carriers).
    pub cost: u32,
    /// How many attempts may be in flight at once (1 for a modem).
    pub window: u32,
    /// Per-minute/hour/day caps.
    pub limits: SlotLimits,
    /// Messages-per-second cap.
    pub rate: Option<Rate>,
}

/// A carrier's live state, updated by the dispatcher through [`Candidate`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CarrierState {
    /// Breaker, success and latency averages, throttle pause.
    pub health: Health,
    /// Recent sends, for the limits.
    pub usage: Usage,
    /// The rate cap's bucket, if the carrier has a rate.
    pub bucket: Option<TokenBucket>,
    /// Attempts handed to the carrier whose outcome has not come back.
    pub in_flight: u32,
}

/// One carrier in the dispatcher's table: identity, profile, live state and status.
#[derive(Clone, Debug)]
pub struct Candidate {
    /// The carrier.
    pub id: CarrierId,
    /// What the policy says about it.
    pub profile: CarrierProfile,
    /// Its live state.
    pub state: CarrierState,
    /// Whether an admin allows traffic on it.
    pub enabled: bool,
    /// Whether it can send now (SMPP bound; modem registered with a SIM).
    pub up: bool,
    network: Option<OperatorId>,
    network_ref: Option<OperatorRef>,
}

impl Candidate {
    /// A new carrier under `policy`: enabled, not yet up, no history.
    pub fn new(policy: &Policy, id: CarrierId, kind: CarrierKind, now: UnixMillis) -> Candidate {
        let profile = policy.profile(&id, kind);
        Candidate {
            state: CarrierState {
                health: Health::new(policy.health_config(kind)),
                usage: Usage::new(),
                bucket: profile.rate.map(|r| TokenBucket::new(r, now)),
                in_flight: 0,
            },
            profile,
            id,
            enabled: true,
            up: false,
            network: None,
            network_ref: None,
        }
    }

    /// Sets the network a modem's SIM is registered on (from `+COPS`, mapped with
    /// [`Policy::operator_for_plmn`]); `None` when unknown or not registered.
    pub fn set_network(&mut self, policy: &Policy, network: Option<&OperatorId>) {
        self.network = network.cloned();
        self.network_ref = network.and_then(|n| policy.operator_ref(n));
    }

    /// The SIM's network, as last set.
    pub fn network(&self) -> Option<&OperatorId> {
        self.network.as_ref()
    }

    /// Re-reads the profile after a config reload, keeping the history (health, usage,
    /// in-flight count). The token bucket restarts full if the rate changed.
    pub fn reconfigure(&mut self, policy: &Policy, now: UnixMillis) {
        let profile = policy.profile(&self.id, self.profile.kind);
        self.state
            .health
            .reconfigure(policy.health_config(self.profile.kind));
        if profile.rate != self.profile.rate {
            self.state.bucket = profile.rate.map(|r| TokenBucket::new(r, now));
        }
        self.profile = profile;
        self.network_ref = self.network.as_ref().and_then(|n| policy.operator_ref(n));
    }

    /// The operator channel the carrier belongs to: its pool, else its SIM's network.
    pub fn home(&self) -> Option<OperatorRef> {
        self.profile.pool.or(self.network_ref)
    }

    /// The carrier was handed a message at `now`.
    pub fn on_dispatch(&mut self, now: UnixMillis) {
        self.state.in_flight = self.state.in_flight.saturating_add(1);
        self.state.usage.record(now);
        if let Some(b) = &mut self.state.bucket {
            b.take(now);
        }
    }

    /// An attempt handed to this carrier ended with `outcome` after `latency`.
    pub fn on_outcome(&mut self, outcome: &Outcome, latency: Duration, now: UnixMillis) {
        self.state.in_flight = self.state.in_flight.saturating_sub(1);
        self.state
            .health
            .record(AttemptResult::of(outcome, now), latency, now);
    }
}
