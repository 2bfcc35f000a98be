//! Carrier status snapshots: what the scheduler weighs and what the dashboard shows.

use domain::CarrierId;
use serde::Serialize;

/// The kinds of channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CarrierKind {
    /// An upstream SMPP link.
    Smpp,
    /// A slot of the modem bank.
    BankSlot,
    /// A USB modem driven directly by the host.
    Modem,
}

/// Whether a carrier can take messages now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CarrierState {
    /// Ready (bound, registered).
    Up,
    /// Connecting, binding, booting, registering.
    Connecting,
    /// Not usable (link down, no SIM, faulted).
    Down,
    /// Switched off by configuration or an admin.
    Disabled,
}

/// What a modem slot reports about its SIM and network.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SlotInfo {
    /// The supervisor's state in words (`ready`, `searching`, `no SIM`, `PIN needed`...).
    pub state: String,
    /// Whether a SIM is present.
    pub sim_present: bool,
    /// IMSI, if read.
    pub imsi: Option<String>,
    /// ICCID, if read.
    pub iccid: Option<String>,
    /// Operator name.
    pub operator: Option<String>,
    /// The registered network's PLMN (MCC+MNC, e.g. `46000`), which maps the SIM to an operator.
    pub plmn: Option<String>,
    /// `+CSQ` RSSI (0–31, 99 unknown).
    pub rssi: Option<u8>,
    /// Registration in words (`home`, `roaming`, `searching`, `denied`...).
    pub registration: String,
    /// Modem profile in use (`sim800`, `ec25`, ...).
    pub profile: Option<String>,
}

/// Running totals since start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Parts accepted by the network.
    pub submitted: u64,
    /// Attempts that ended in a reject or error.
    pub failed: u64,
    /// Delivery reports received.
    pub reports: u64,
    /// Inbound parts received.
    pub inbound: u64,
    /// Re-initialisations, reconnects or power cycles.
    pub resets: u64,
}

/// A snapshot of one carrier.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CarrierStatus {
    /// Id.
    pub id: CarrierId,
    /// Kind.
    pub kind: CarrierKind,
    /// Usable or not.
    pub state: CarrierState,
    /// One line for the dashboard (`bound as transceiver`, `registered, CMCC, -71 dBm`...).
    pub detail: String,
    /// Submits in flight.
    pub in_flight: u32,
    /// Most submits allowed in flight (1 for a modem).
    pub window: u32,
    /// Modem details, for slots and modems.
    pub slot: Option<SlotInfo>,
    /// Totals.
    pub counters: Counters,
}
