//! The application messages carried in data frames: [`HostToBank`] and [`BankToHost`].
//!
//! Every type here is small, fixed-capacity and `serde`-encoded with postcard; the variant order
//! *is* the wire format (postcard writes the variant index as a varint), so variants are only
//! ever appended (`docs/link-protocol.md` §5–§6). Field values from the peer are bounded by their
//! types: a string or PDU longer than its capacity fails to decode rather than overflowing.

use core::fmt;

use heapless::{String, Vec};
use serde::{Deserialize, Serialize};

/// Capacity of a [`Pdu`]: SCA (up to 12 octets, TS 24.011 §8.2.5.2) plus TPDU (up to 164 octets,
/// TS 23.040 §9.2.2), rounded up.
pub const MAX_PDU_LEN: usize = 180;
/// Largest TPDU in octets (TS 23.040: an SMS-SUBMIT with 140 octets of user data and every
/// optional field present).
pub const MAX_TPDU_LEN: usize = 164;
/// Capacity of the operator name in [`SlotStatus`] (`+COPS` long alphanumeric format).
pub const OPERATOR_LEN: usize = 24;
/// Capacity of a log line in [`LogEvent`].
pub const LOG_TEXT_LEN: usize = 96;

/// A modem slot of the bank, numbered from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SlotId(pub u8);

/// The host's handle for one submit; the bank echoes it in [`BankToHost::SubmitResult`]. The
/// host keeps it unique across bank reboots (e.g. from its database) so a late or repeated
/// result can be matched or recognised as already handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct HostTag(pub u32);

/// An SMS PDU as exchanged with a modem in PDU mode (TS 27.005 §3.1 `<pdu>`): the SMSC address
/// field (SCA) followed by the TPDU; `tpdu_len` is the `<length>` of `AT+CMGS`/`+CMGL`, which
/// counts the TPDU only.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Pdu {
    /// Length of the TPDU in octets; the SCA is the first `octets.len() - tpdu_len` octets.
    pub tpdu_len: u8,
    /// SCA followed by TPDU.
    pub octets: Vec<u8, MAX_PDU_LEN>,
}

/// Why bytes do not make a [`Pdu`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PduError {
    /// More than [`MAX_PDU_LEN`] octets.
    TooLong,
    /// The TPDU length is larger than the octets given or than [`MAX_TPDU_LEN`].
    BadTpduLength,
}

impl fmt::Display for PduError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong => write!(f, "PDU longer than {MAX_PDU_LEN} octets"),
            Self::BadTpduLength => f.write_str("TPDU length does not fit the PDU"),
        }
    }
}

impl core::error::Error for PduError {}

impl Pdu {
    /// A PDU from SCA ‖ TPDU octets and the TPDU length.
    ///
    /// # Errors
    /// [`PduError`] if the octets are too long or `tpdu_len` does not fit them.
    pub fn new(octets: &[u8], tpdu_len: u8) -> Result<Self, PduError> {
        if usize::from(tpdu_len) > octets.len() || usize::from(tpdu_len) > MAX_TPDU_LEN {
            return Err(PduError::BadTpduLength);
        }
        Ok(Self {
            tpdu_len,
            octets: Vec::from_slice(octets).map_err(|_| PduError::TooLong)?,
        })
    }

    /// The SCA part, or `None` if `tpdu_len` is inconsistent (a peer bug).
    pub fn sca(&self) -> Option<&[u8]> {
        let split = self.octets.len().checked_sub(usize::from(self.tpdu_len))?;
        self.octets.get(..split)
    }

    /// The TPDU part, or `None` if `tpdu_len` is inconsistent (a peer bug).
    pub fn tpdu(&self) -> Option<&[u8]> {
        let split = self.octets.len().checked_sub(usize::from(self.tpdu_len))?;
        self.octets.get(split..)
    }
}

/// Messages from the host to the bank. Append new variants at the end only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostToBank {
    /// Send an SMS through a slot (`AT+CMGS` in PDU mode). Answered by exactly one
    /// [`BankToHost::SubmitResult`] with the same tag, unless the bank reboots first.
    Submit {
        /// Slot to send through.
        slot: SlotId,
        /// The host's handle, echoed in the result.
        tag: HostTag,
        /// SCA ‖ SMS-SUBMIT TPDU.
        pdu: Pdu,
    },
    /// Withdraw a submit that has not reached the modem yet; its result is then
    /// [`SubmitError::Cancelled`]. A submit already handed to the modem completes normally.
    Cancel {
        /// The submit to cancel.
        tag: HostTag,
    },
    /// Reinitialise a slot's modem: soft (AT reset sequence) or hard (power cycle).
    ResetSlot {
        /// The slot.
        slot: SlotId,
        /// Power-cycle instead of a soft reset.
        hard: bool,
    },
    /// Set a slot's configuration; takes effect at once (the slot reinitialises if needed).
    Configure {
        /// The slot.
        slot: SlotId,
        /// Its new configuration.
        config: SlotConfig,
    },
    /// The host has stored an inbound SMS or status report durably; the bank may now delete it
    /// from the modem.
    AckInbound {
        /// Slot it came from.
        slot: SlotId,
        /// The `index` of the [`BankToHost::InboundSms`] or [`BankToHost::StatusReport`].
        index: u16,
    },
    /// Ask for [`BankToHost::BankInfo`] followed by one [`BankToHost::SlotStatus`] per slot.
    Query,
}

/// Per-slot configuration sent by the host.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SlotConfig {
    /// Whether the slot is used at all; a disabled slot is powered off.
    pub enabled: bool,
    /// SIM PIN (4–8 digits, TS 27.007 §8.3 `+CPIN`), if the SIM needs one.
    pub pin: Option<String<8>>,
    /// Name of a modem profile to use instead of the one detected from `+CGMM`.
    pub profile: Option<String<16>>,
    /// Sending limits.
    pub limits: SlotLimits,
}

/// Sending limits of a slot; `None` means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct SlotLimits {
    /// Most submits per minute.
    pub per_minute: Option<u16>,
    /// Most submits per hour.
    pub per_hour: Option<u16>,
    /// Most submits per day.
    pub per_day: Option<u32>,
}

/// Messages from the bank to the host. Append new variants at the end only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BankToHost {
    /// A slot's state; sent on every change and in answer to [`HostToBank::Query`].
    SlotStatus(SlotStatus),
    /// The outcome of one [`HostToBank::Submit`].
    SubmitResult {
        /// Slot the submit was for.
        slot: SlotId,
        /// The submit's tag.
        tag: HostTag,
        /// What happened.
        outcome: SubmitOutcome,
    },
    /// An SMS-DELIVER read from a slot. Re-sent after a link reset or reboot until acknowledged
    /// with [`HostToBank::AckInbound`].
    InboundSms {
        /// Slot that received it.
        slot: SlotId,
        /// Opaque to the host (the bank uses the modem storage index, TS 27.005 `+CMTI`
        /// `<index>`); echoed in [`HostToBank::AckInbound`].
        index: u16,
        /// SCA ‖ SMS-DELIVER TPDU, as the modem gave it.
        pdu: Pdu,
    },
    /// An SMS-STATUS-REPORT read from a slot; acknowledged and re-sent like
    /// [`BankToHost::InboundSms`].
    StatusReport {
        /// Slot that received it.
        slot: SlotId,
        /// As for [`BankToHost::InboundSms`].
        index: u16,
        /// SCA ‖ SMS-STATUS-REPORT TPDU.
        pdu: Pdu,
    },
    /// A diagnostic event for the host's log.
    Log(LogEvent),
    /// Facts about the bank; the first answer to [`HostToBank::Query`].
    BankInfo(BankInfo),
}

/// The outcome of a submit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SubmitOutcome {
    /// The SMSC accepted it (`+CMGS: <mr>`, TS 27.005 §3.5.1); `mr` matches the status report.
    Accepted {
        /// TP-Message-Reference (TS 23.040 §9.2.3.6).
        mr: u8,
    },
    /// It was not sent.
    Failed(SubmitError),
}

/// Why a submit failed. Append new variants at the end only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SubmitError {
    /// `+CMS ERROR: <err>` (TS 27.005 §3.2.5).
    Cms(u16),
    /// `+CME ERROR: <err>` (TS 27.007 §9.2).
    Cme(u16),
    /// A bare `ERROR` with no code.
    ModemError,
    /// No final result from the modem in time.
    Timeout,
    /// The modem never sent the `> ` prompt after `AT+CMGS`.
    NoPrompt,
    /// The slot is not registered or not initialised.
    SlotNotReady,
    /// The slot's queue is full; try later or elsewhere.
    QueueFull,
    /// Withdrawn by [`HostToBank::Cancel`].
    Cancelled,
    /// The slot number does not exist on this bank.
    NoSuchSlot,
    /// The slot is disabled by configuration.
    SlotDisabled,
    /// A sending limit of [`SlotLimits`] was reached.
    RateLimited,
    /// The PDU is inconsistent (TPDU length does not fit).
    InvalidPdu,
}

/// A slot's state as the bank's slot runner sees it. Append new variants at the end only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SlotState {
    /// Powered off.
    Off,
    /// Powering up and initialising.
    Booting,
    /// No SIM inserted (`+CME ERROR: 10`).
    NoSim,
    /// The SIM wants a PIN and none (or a wrong one) is configured.
    PinRequired,
    /// The SIM wants a PUK or is blocked; needs a human.
    SimBlocked,
    /// Searching for a network.
    Searching,
    /// Registered on the home network, initialising for SMS.
    RegisteredHome,
    /// Registered while roaming, initialising for SMS.
    RegisteredRoaming,
    /// Registration denied by the network.
    RegistrationDenied,
    /// Idle and able to send.
    Ready,
    /// Sending a submit.
    Sending,
    /// Repeatedly failing; the runner backs off before reinitialising.
    Faulted,
    /// Disabled by configuration.
    Disabled,
}

/// Network registration status, `<stat>` of `+CREG` (TS 27.007 §7.2); the variant order is the
/// numeric value 0–5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Registration {
    /// 0: not registered, not searching.
    NotRegistered,
    /// 1: registered, home network.
    Home,
    /// 2: not registered, searching.
    Searching,
    /// 3: registration denied.
    Denied,
    /// 4: unknown.
    Unknown,
    /// 5: registered, roaming.
    Roaming,
}

/// Signal quality as `+CSQ` reports it (TS 27.007 §8.5): `rssi` 0–31 or 99 (unknown), `ber`
/// 0–7 or 99 (unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Signal {
    /// Received signal strength indication.
    pub rssi: u8,
    /// Channel bit error rate.
    pub ber: u8,
}

impl Signal {
    /// The "not known" value (99, 99).
    pub const UNKNOWN: Self = Self { rssi: 99, ber: 99 };
}

/// What the bank knows about a slot's SIM.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct SimInfo {
    /// ICCID (`+CCID`, up to 20 digits).
    pub iccid: Option<String<20>>,
    /// IMSI (`+CIMI`, TS 27.007 §5.6, up to 15 digits).
    pub imsi: Option<String<15>>,
}

/// Counters of a slot since the bank booted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct SlotCounters {
    /// Submits accepted by the SMSC.
    pub sent: u32,
    /// Submits that failed.
    pub failed: u32,
    /// Inbound SMS and status reports read.
    pub received: u32,
    /// Soft reinitialisations.
    pub reinits: u32,
    /// Power cycles.
    pub power_cycles: u32,
    /// Commands that timed out.
    pub timeouts: u32,
}

/// The state of one slot.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SlotStatus {
    /// Which slot.
    pub slot: SlotId,
    /// The runner's state.
    pub state: SlotState,
    /// Last known registration.
    pub registration: Registration,
    /// SIM identity.
    pub sim: SimInfo,
    /// Operator name (`+COPS`), if registered.
    pub operator: Option<String<OPERATOR_LEN>>,
    /// Last signal quality.
    pub signal: Signal,
    /// Counters since boot.
    pub counters: SlotCounters,
    /// Submits waiting in the slot's queue.
    pub queued: u8,
}

/// Severity of a [`LogEvent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum LogLevel {
    /// Something failed.
    Error,
    /// Something unexpected that was recovered from.
    Warn,
    /// A notable event.
    Info,
    /// Detail for debugging.
    Debug,
}

/// A diagnostic line from the bank.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LogEvent {
    /// Severity.
    pub level: LogLevel,
    /// The slot concerned, if any.
    pub slot: Option<SlotId>,
    /// The text (truncated by the bank to fit).
    pub text: String<LOG_TEXT_LEN>,
}

/// Facts about the bank.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BankInfo {
    /// Firmware version string.
    pub firmware: String<24>,
    /// Number of slots; slots are `SlotId(0)..SlotId(slot_count)`.
    pub slot_count: u8,
    /// Milliseconds since the bank booted.
    pub uptime_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::MAX_BODY_LEN;

    fn s<const N: usize>(c: char) -> String<N> {
        let mut out = String::new();
        while out.push(c).is_ok() {}
        out
    }

    fn full_pdu() -> Pdu {
        Pdu {
            tpdu_len: u8::MAX,
            octets: Vec::from_slice(&[0xFF; MAX_PDU_LEN]).unwrap(),
        }
    }

    /// The largest value of every variant, with every varint at its longest.
    fn largest_host() -> [HostToBank; 6] {
        [
            HostToBank::Submit {
                slot: SlotId(u8::MAX),
                tag: HostTag(u32::MAX),
                pdu: full_pdu(),
            },
            HostToBank::Cancel {
                tag: HostTag(u32::MAX),
            },
            HostToBank::ResetSlot {
                slot: SlotId(u8::MAX),
                hard: true,
            },
            HostToBank::Configure {
                slot: SlotId(u8::MAX),
                config: SlotConfig {
                    enabled: true,
                    pin: Some(s('9')),
                    profile: Some(s('x')),
                    limits: SlotLimits {
                        per_minute: Some(u16::MAX),
                        per_hour: Some(u16::MAX),
                        per_day: Some(u32::MAX),
                    },
                },
            },
            HostToBank::AckInbound {
                slot: SlotId(u8::MAX),
                index: u16::MAX,
            },
            HostToBank::Query,
        ]
    }

    fn largest_bank() -> [BankToHost; 7] {
        let max = u32::MAX;
        [
            BankToHost::SlotStatus(SlotStatus {
                slot: SlotId(u8::MAX),
                state: SlotState::Disabled,
                registration: Registration::Roaming,
                sim: SimInfo {
                    iccid: Some(s('8')),
                    imsi: Some(s('2')),
                },
                // Multi-byte characters: capacity is in bytes.
                operator: Some(s('é')),
                signal: Signal {
                    rssi: 255,
                    ber: 255,
                },
                counters: SlotCounters {
                    sent: max,
                    failed: max,
                    received: max,
                    reinits: max,
                    power_cycles: max,
                    timeouts: max,
                },
                queued: u8::MAX,
            }),
            BankToHost::SubmitResult {
                slot: SlotId(u8::MAX),
                tag: HostTag(max),
                outcome: SubmitOutcome::Failed(SubmitError::Cms(u16::MAX)),
            },
            BankToHost::InboundSms {
                slot: SlotId(u8::MAX),
                index: u16::MAX,
                pdu: full_pdu(),
            },
            BankToHost::StatusReport {
                slot: SlotId(u8::MAX),
                index: u16::MAX,
                pdu: full_pdu(),
            },
            BankToHost::Log(LogEvent {
                level: LogLevel::Debug,
                slot: Some(SlotId(u8::MAX)),
                text: s('x'),
            }),
            BankToHost::BankInfo(BankInfo {
                firmware: s('v'),
                slot_count: u8::MAX,
                uptime_ms: u64::MAX,
            }),
            BankToHost::SubmitResult {
                slot: SlotId(0),
                tag: HostTag(0),
                outcome: SubmitOutcome::Accepted { mr: 255 },
            },
        ]
    }

    fn encoded_len<T: Serialize>(msg: &T) -> usize {
        let mut buf = [0u8; 1024];
        postcard::to_slice(msg, &mut buf).unwrap().len()
    }

    #[test]
    fn every_message_fits_a_frame() {
        let mut longest = 0;
        for m in largest_host() {
            let n = encoded_len(&m);
            assert!(n <= MAX_BODY_LEN, "{m:?} takes {n} bytes");
            longest = longest.max(n);
        }
        for m in largest_bank() {
            let n = encoded_len(&m);
            assert!(n <= MAX_BODY_LEN, "{m:?} takes {n} bytes");
            longest = longest.max(n);
        }
        // The inbound SMS is the largest message; MAX_BODY_LEN leaves headroom over it.
        assert_eq!(longest, 190);
    }

    #[test]
    fn messages_round_trip() {
        let mut buf = [0u8; MAX_BODY_LEN];
        for m in largest_host() {
            let used = postcard::to_slice(&m, &mut buf).unwrap();
            assert_eq!(postcard::from_bytes::<HostToBank>(used).unwrap(), m);
        }
        for m in largest_bank() {
            let used = postcard::to_slice(&m, &mut buf).unwrap();
            assert_eq!(postcard::from_bytes::<BankToHost>(used).unwrap(), m);
        }
    }

    #[test]
    fn over_capacity_fields_do_not_decode() {
        // A 181-octet PDU: postcard length prefix 181 (0xB5 0x01), then 181 octets.
        let mut bytes = std::vec![0u8, 0, 0, 0, 0xB5, 0x01];
        bytes.extend([7u8; 181]);
        assert!(postcard::from_bytes::<HostToBank>(&bytes).is_err());
        // Unknown variant index.
        assert!(postcard::from_bytes::<HostToBank>(&[6]).is_err());
        assert!(postcard::from_bytes::<BankToHost>(&[6]).is_err());
        // Invalid UTF-8 in a log line.
        assert!(postcard::from_bytes::<BankToHost>(&[4, 0, 0, 1, 0xFF]).is_err());
    }

    #[test]
    fn pdu_parts() {
        let p = Pdu::new(&[0x00, 0x11, 0x22], 2).unwrap();
        assert_eq!(p.sca(), Some(&[0x00][..]));
        assert_eq!(p.tpdu(), Some(&[0x11, 0x22][..]));
        assert_eq!(Pdu::new(&[0x00], 2), Err(PduError::BadTpduLength));
        assert_eq!(Pdu::new(&[0; 181], 2), Err(PduError::TooLong));
        assert_eq!(Pdu::new(&[0; 170], 165), Err(PduError::BadTpduLength));
        let bad = Pdu {
            tpdu_len: 9,
            octets: Vec::from_slice(&[1, 2]).unwrap(),
        };
        assert_eq!((bad.sca(), bad.tpdu()), (None, None));
    }
}
