//! The `Carrier` trait — the boundary between scheduling and transport — and its implementations.
//!
//! A carrier is one channel a message can leave through: an upstream SMPP link, one slot of the
//! modem bank, or one USB modem. The dispatcher hands a carrier a whole message; the carrier sends
//! every part and returns exactly one [`Outcome`] as a value (DESIGN invariant "every attempt ends
//! in exactly one outcome"). Carriers contain no routing policy: they never retry on another
//! channel themselves, they only report. Delivery reports and inbound SMS flow the other way as
//! [`CarrierEvent`]s on a channel the service gives each carrier.
#![forbid(unsafe_code)]

pub mod bank;
mod event;
mod message;
pub mod modem;
pub mod port;
pub mod smpp;
mod status;

use std::future::Future;
use std::pin::Pin;

use domain::CarrierId;
pub use domain::Outcome;

pub use event::{AckHandle, CarrierEvent, InboundPart, Report};
pub use message::{OutboundMessage, PartUserData, SegmentError, SubmitPdu, segments, submit_pdus};
pub use status::{CarrierKind, CarrierState, CarrierStatus, Counters, SlotInfo};

/// A boxed, sendable future: what the object-safe [`Carrier`] methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An administrative action on a carrier from the web page or the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Re-initialise the modem (soft reset) or reconnect the link.
    Reset,
    /// Power-cycle the modem (PWRKEY) — slots only.
    PowerCycle,
}

/// Why a [`Command`] was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// This kind of carrier cannot do that.
    #[error("not supported by this carrier")]
    Unsupported,
    /// The carrier is not reachable right now.
    #[error("carrier unavailable: {0}")]
    Unavailable(String),
}

/// One channel a message can leave through.
///
/// Implementations are cheap to share (`Arc<dyn Carrier>`); every method may be called from any
/// task at any time.
pub trait Carrier: Send + Sync + 'static {
    /// The id from the config file.
    fn id(&self) -> &CarrierId;

    /// What kind of channel this is.
    fn kind(&self) -> CarrierKind;

    /// Sends every part of `msg` and returns the one outcome of this attempt.
    ///
    /// Cancellation: dropping the future abandons the attempt; parts already handed to the
    /// network may still be delivered, so callers only drop it on shutdown, after [`Carrier::drain`].
    fn submit<'a>(&'a self, msg: &'a OutboundMessage) -> BoxFuture<'a, Outcome>;

    /// A snapshot of the carrier's state for the scheduler and the dashboard. Never blocks.
    fn status(&self) -> CarrierStatus;

    /// Stops taking new submits and waits (bounded) for those in flight to finish; for graceful
    /// shutdown.
    fn drain(&self) -> BoxFuture<'_, ()>;

    /// Runs an administrative command.
    fn command(&self, cmd: Command) -> BoxFuture<'_, Result<(), CommandError>> {
        let _ = cmd;
        Box::pin(async { Err(CommandError::Unsupported) })
    }
}
