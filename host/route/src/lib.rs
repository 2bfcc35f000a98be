//! Outpost's scheduler policy (crate docs: see the README below).
//!
//! Pure: no I/O, no clock reads, no async, no threads. Time comes in as a `now` argument and
//! randomness as a number the caller picks, so every decision can be replayed in a test.
#![forbid(unsafe_code)]
#![doc = include_str!("../README.md")]

mod backoff;
mod carrier;
mod config;
mod health;
mod limits;
mod operator;
mod pick;
mod policy;
mod quiet;
mod receipt;
mod retry;

pub use backoff::Backoff;
pub use carrier::{Candidate, CarrierKind, CarrierProfile, CarrierState};
pub use config::{
    ConfigError, ConfigErrors, RawCarrier, RawHealth, RawOperator, RawQuietHours, RawResend,
    RawRetry, RawRouting,
};
pub use health::{
    AttemptResult, BreakerConfig, BreakerState, CircuitBreaker, Ewma, Health, HealthConfig,
    MAX_SCORE,
};
pub use limits::{BUCKETS, Headroom, Rate, SlidingWindow, SlotLimits, TokenBucket, Usage};
pub use operator::{
    BUILTIN_OPERATORS, BuiltinOperator, Coverage, MAX_OPERATORS, OperatorRef, OperatorSet,
};
pub use pick::{Decision, MessageView, WaitReason, channel_of, pick};
pub use policy::{Policy, ResendRule, RetryRules, Tier, TierOrder};
pub use quiet::QuietHours;
pub use receipt::{ReceiptDecision, Submission, on_missing_receipt, on_receipt, receipt_deadline};
pub use retry::{NextStep, after_outcome};
