//! What carriers report upward: delivery reports and inbound SMS.
//!
//! DESIGN "Inbound": an inbound part carries an [`AckHandle`]; the service calls it only after
//! the part is durably stored, and only then may the carrier let the source forget it (the bank
//! deletes the SMS from the modem, an SMPP link answers `deliver_sm_resp`). Dropping the handle
//! without acknowledging leaves the part with its source, which offers it again later.

use std::fmt;

use domain::{CarrierId, DlrStatus, UnixMillis};

/// A delivery report for one part.
#[derive(Debug)]
pub struct Report {
    /// The carrier it came through.
    pub carrier: CarrierId,
    /// The reference the carrier gave the part at submit (normalised the same way).
    pub carrier_ref: String,
    /// Status.
    pub status: DlrStatus,
    /// Error code, if any.
    pub error: Option<String>,
    /// Raw report (receipt text or PDU hex) for the trace.
    pub raw: Option<String>,
    /// When it was received.
    pub at: UnixMillis,
    /// Acknowledge after storing: an SMPP receipt's `deliver_sm_resp` and the deletion of a
    /// modem's or bank slot's stored status report wait for it.
    pub ack: AckHandle,
}

/// Acknowledges an inbound part to its source, once.
pub struct AckHandle(Option<Box<dyn FnOnce() + Send>>);

impl AckHandle {
    /// A handle that runs `f` when acknowledged.
    pub fn new(f: impl FnOnce() + Send + 'static) -> AckHandle {
        AckHandle(Some(Box::new(f)))
    }

    /// A handle for sources that need no acknowledgement.
    pub fn none() -> AckHandle {
        AckHandle(None)
    }

    /// Tells the source the part is stored.
    pub fn ack(mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

impl fmt::Debug for AckHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "AckHandle(pending)"
        } else {
            "AckHandle(none)"
        })
    }
}

/// One received SMS part, decoded.
#[derive(Debug)]
pub struct InboundPart {
    /// The carrier it arrived on.
    pub carrier: CarrierId,
    /// Sender (E.164 with `+`, national digits, or alphanumeric).
    pub from: String,
    /// Recipient, if the carrier knows it.
    pub to: Option<String>,
    /// This part's text.
    pub text: String,
    /// Service-centre time stamp, RFC 3339.
    pub sc_timestamp: Option<String>,
    /// Concatenation: (reference, total, 1-based sequence).
    pub concat: Option<(u16, u8, u8)>,
    /// Identifies this exact part (e.g. hex SHA-256 of the carrier id and raw PDU), so a part
    /// offered twice is stored once.
    pub fingerprint: String,
    /// When it was received.
    pub received_at: UnixMillis,
    /// Acknowledge after storing.
    pub ack: AckHandle,
}

/// An event from a carrier.
#[derive(Debug)]
pub enum CarrierEvent {
    /// A delivery report.
    Report(Report),
    /// An inbound SMS part.
    Inbound(InboundPart),
    /// The carrier's status changed (bound, down, registered, signal...).
    Changed(CarrierId),
}
