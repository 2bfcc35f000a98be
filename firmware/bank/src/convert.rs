//! Translations between the AT engine's values (`firmware/modem`) and the link protocol's
//! (`firmware/link`): slot status, submit outcomes, PDUs and the inbound index the host echoes.
//!
//! Pure functions, so every mapping is tested on its own; nothing here can fail on modem
//! input (over-long identity strings are cut to the link's capacity, not rejected).

use link::msg::{self, Pdu, SlotCounters, SlotId, SubmitError, SubmitOutcome};
use modem::digest::{Mem, RegStat};
use modem::slot::{self, SendError, StoredId};

/// Indexes of directly routed messages (`+CMT`/`+CDS`, no storage) use this tag in the top
/// three bits, which no storage uses.
const DIRECT_TAG: u16 = 7;

/// The index the host echoes in `AckInbound` for a stored message: the storage in the top three
/// bits and the `+CMTI`/`+CDSI` index (TS 27.005 §3.4.1) in the low thirteen. Keeping the
/// modem's own index (rather than a counter of ours) means a message offered again after a
/// re-initialisation or a reboot of the bank carries the same index, so the host recognises
/// it as a duplicate (`docs/link-protocol.md` §9).
pub(crate) fn host_index(id: StoredId) -> u16 {
    let mem = match id.mem {
        Mem::Sm => 0,
        Mem::Me => 1,
        Mem::Mt => 2,
        Mem::Sr => 3,
        Mem::Bm => 4,
        Mem::Ta => 5,
    };
    (mem << 13) | (id.index & 0x1FFF)
}

/// The index for the `n`-th directly routed message of a slot.
pub(crate) fn direct_index(n: u16) -> u16 {
    (DIRECT_TAG << 13) | (n & 0x1FFF)
}

/// A modem PDU (SCA ‖ TPDU) as a link [`Pdu`]. The TPDU length is the PDU minus its SCA, whose
/// first octet is the length of the rest of the SCA (TS 24.011 §8.2.5.2). A PDU whose SCA
/// length does not fit is passed on whole with the TPDU length the link allows, for the host
/// to decode and judge: the bank never drops a message because it looks odd.
pub(crate) fn link_pdu(octets: &[u8]) -> Pdu {
    let sca = octets.first().map_or(0, |&n| usize::from(n) + 1);
    let tpdu = octets
        .len()
        .checked_sub(sca)
        .filter(|&t| t <= msg::MAX_TPDU_LEN)
        .unwrap_or_else(|| octets.len().min(msg::MAX_TPDU_LEN));
    let tpdu = u8::try_from(tpdu).unwrap_or(u8::MAX);
    let octets = octets
        .get(..octets.len().min(msg::MAX_PDU_LEN))
        .unwrap_or_default();
    // Both bounds were enforced above, so this cannot fail; an empty PDU is the fallback.
    Pdu::new(octets, tpdu).unwrap_or(Pdu {
        tpdu_len: 0,
        octets: heapless::Vec::new(),
    })
}

/// Whether an inbound PDU is a status report: by its TP-MTI (TS 23.040 §9.2.3.1, read with
/// `firmware/gsm`) when the PDU says, else as the engine announced it. The PDU is the truth: an
/// engine that mixed up its bookkeeping (seen once under QEMU: two `+CDSI` reports handed over
/// as `Event::Inbound`) must not make the host decode a report as an SMS-DELIVER.
pub(crate) fn is_report(pdu: &Pdu, announced: bool) -> bool {
    use gsm::tpdu::{Direction, MessageType};
    let mti = pdu.tpdu().and_then(|t| t.first().copied());
    match mti.and_then(|fo| MessageType::from_mti(fo, Direction::ScToMs)) {
        Some(MessageType::StatusReport) => true,
        Some(MessageType::Deliver) => false,
        _ => announced,
    }
}

/// The outcome reported to the host for a send.
///
/// "May have been sent" failures (`Timeout`, `Rebooted`, `Io`) all become
/// [`SubmitError::Timeout`], the one link error that tells the host the outcome is unknown;
/// the others are definite refusals.
pub(crate) fn outcome(result: Result<u8, SendError>) -> SubmitOutcome {
    let e = match result {
        Ok(mr) => return SubmitOutcome::Accepted { mr },
        Err(e) => e,
    };
    SubmitOutcome::Failed(match e {
        SendError::InvalidPdu => SubmitError::InvalidPdu,
        SendError::NotReady(_) | SendError::SimRemoved => SubmitError::SlotNotReady,
        SendError::NoPrompt => SubmitError::NoPrompt,
        SendError::Cms(c) => c.code().map_or(SubmitError::ModemError, SubmitError::Cms),
        SendError::Cme(c) => c.code().map_or(SubmitError::ModemError, SubmitError::Cme),
        SendError::Error | SendError::Unconfirmed => SubmitError::ModemError,
        SendError::Timeout | SendError::Rebooted | SendError::Io => SubmitError::Timeout,
    })
}

/// The link's view of a slot.
pub(crate) fn slot_status(
    slot: SlotId,
    s: &slot::SlotStatus,
    queued: u8,
    enabled: bool,
) -> msg::SlotStatus {
    let registration = s.registration.map(registration);
    let roaming = registration == Some(msg::Registration::Roaming);
    let state = if enabled {
        match s.state {
            slot::SlotState::Off => msg::SlotState::Off,
            slot::SlotState::Booting => msg::SlotState::Booting,
            slot::SlotState::NoSim => msg::SlotState::NoSim,
            slot::SlotState::PinNeeded => msg::SlotState::PinRequired,
            slot::SlotState::Searching => msg::SlotState::Searching,
            slot::SlotState::Denied => msg::SlotState::RegistrationDenied,
            slot::SlotState::Registered if roaming => msg::SlotState::RegisteredRoaming,
            slot::SlotState::Registered => msg::SlotState::RegisteredHome,
            slot::SlotState::Ready => msg::SlotState::Ready,
            slot::SlotState::Sending => msg::SlotState::Sending,
            slot::SlotState::Faulted => msg::SlotState::Faulted,
        }
    } else {
        msg::SlotState::Disabled
    };
    let c = &s.counters;
    msg::SlotStatus {
        slot,
        state,
        registration: registration.unwrap_or(msg::Registration::Unknown),
        sim: msg::SimInfo {
            iccid: s.iccid.as_deref().and_then(digits),
            imsi: s.imsi.as_deref().and_then(digits),
        },
        operator: s.operator.as_deref().map(cut),
        signal: s.signal.map_or(msg::Signal::UNKNOWN, |q| msg::Signal {
            rssi: q.rssi,
            ber: q.ber,
        }),
        counters: SlotCounters {
            sent: c.sent,
            failed: c.send_failures,
            received: c.received.wrapping_add(c.reports),
            reinits: c.reinits,
            power_cycles: c.power_cycles,
            timeouts: c.timeouts,
        },
        queued,
    }
}

/// `+CREG` `<stat>` (TS 27.007 §7.2) in the link's six values; the E-UTRAN "SMS only" states
/// count as registered (SMS is all a slot does).
fn registration(r: RegStat) -> msg::Registration {
    match r {
        RegStat::NotSearching => msg::Registration::NotRegistered,
        RegStat::Home | RegStat::SmsOnlyHome => msg::Registration::Home,
        RegStat::Searching => msg::Registration::Searching,
        RegStat::Denied => msg::Registration::Denied,
        RegStat::Roaming | RegStat::SmsOnlyRoaming => msg::Registration::Roaming,
        RegStat::Unknown | RegStat::EmergencyOnly | RegStat::Other(_) => msg::Registration::Unknown,
    }
}

/// The leading digits of an IMSI/ICCID, cut to `N` (an ICCID may end in a filler `F`, ITU-T
/// E.118); `None` if there are none.
fn digits<const N: usize>(s: &str) -> Option<heapless::String<N>> {
    let mut out = heapless::String::new();
    for ch in s.chars().take_while(char::is_ascii_digit) {
        if out.push(ch).is_err() {
            break;
        }
    }
    (!out.is_empty()).then_some(out)
}

/// `s` cut to `N` bytes at a character boundary.
pub(crate) fn cut<const N: usize>(s: &str) -> heapless::String<N> {
    let mut out = heapless::String::new();
    for ch in s.chars() {
        if out.push(ch).is_err() {
            break;
        }
    }
    out
}

/// The modem profile a `Configure` names, case-insensitively; `None` for an unknown name.
pub(crate) fn profile(name: &str) -> Option<modem::profile::ProfileKind> {
    use modem::profile::ProfileKind;
    [
        ("generic", ProfileKind::Generic),
        ("sim800", ProfileKind::Sim800),
        ("ec25", ProfileKind::Ec25),
        ("huawei", ProfileKind::Huawei),
    ]
    .into_iter()
    .find(|(n, _)| n.eq_ignore_ascii_case(name))
    .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use modem::error::{CmeError, CmsError};

    #[test]
    fn host_index_keeps_storage_and_index() {
        let id = |mem, index| StoredId {
            mem,
            index,
            epoch: 9,
        };
        assert_eq!(host_index(id(Mem::Sm, 3)), 3);
        assert_eq!(host_index(id(Mem::Me, 3)), 0x2003);
        assert_eq!(host_index(id(Mem::Sr, 0x1FFF)), 0x7FFF);
        assert_eq!(host_index(id(Mem::Ta, 1)), 0xA001);
        // The epoch does not take part: a re-offer after a re-initialisation keeps its index.
        assert_eq!(
            host_index(StoredId {
                epoch: 10,
                ..id(Mem::Me, 3)
            }),
            0x2003
        );
        assert_eq!(direct_index(0), 0xE000);
        assert_eq!(direct_index(0x2001), 0xE001);
    }

    #[test]
    fn link_pdu_splits_sca() {
        let check = |octets: &[u8], tpdu_len: u8, len: usize| {
            let p = link_pdu(octets);
            assert_eq!(
                (p.tpdu_len, p.octets.len()),
                (tpdu_len, len),
                "{octets:02x?}"
            );
        };
        check(&[0x00, 0x04, 0x0B], 2, 3);
        check(&[0x07, 0x91, 1, 2, 3, 4, 5, 6, 0x04, 0x0B, 0x91], 3, 11);
        // SCA length beyond the PDU: passed on whole.
        check(&[0x09, 0x91, 0x44], 3, 3);
        check(&[], 0, 0);
        // Longer than a link PDU: cut to capacity, never a panic.
        check(&[0u8; 200], 164, 180);
    }

    #[test]
    fn reports_are_told_by_their_pdu() {
        let check = |octets: &[u8], announced, expect| {
            assert_eq!(
                is_report(&link_pdu(octets), announced),
                expect,
                "{octets:02x?}"
            );
        };
        // SCA 00, then the first octet: MTI 10 is a status report, 00 a deliver.
        check(&[0x00, 0x06, 0x2A], false, true);
        check(&[0x00, 0x04, 0x0B], true, false);
        check(&[0x00, 0x24, 0x0B], true, false);
        // MTI 01 (submit report) or 11 (reserved): as announced.
        check(&[0x00, 0x01, 0x00], true, true);
        check(&[0x00, 0x03, 0x00], false, false);
        // No TPDU at all: as announced.
        check(&[0x00], true, true);
    }

    #[test]
    fn outcomes() {
        let check = |r, expect| assert_eq!(outcome(r), expect, "{r:?}");
        let failed = SubmitOutcome::Failed;
        check(Ok(42), SubmitOutcome::Accepted { mr: 42 });
        check(
            Err(SendError::Cms(CmsError::from_code(38))),
            failed(SubmitError::Cms(38)),
        );
        check(
            Err(SendError::Cms(CmsError::Unrecognised)),
            failed(SubmitError::ModemError),
        );
        check(
            Err(SendError::Cme(CmeError::from_code(100))),
            failed(SubmitError::Cme(100)),
        );
        check(Err(SendError::Timeout), failed(SubmitError::Timeout));
        check(Err(SendError::Rebooted), failed(SubmitError::Timeout));
        check(Err(SendError::Io), failed(SubmitError::Timeout));
        check(Err(SendError::NoPrompt), failed(SubmitError::NoPrompt));
        check(
            Err(SendError::NotReady(slot::SlotState::Booting)),
            failed(SubmitError::SlotNotReady),
        );
        check(
            Err(SendError::SimRemoved),
            failed(SubmitError::SlotNotReady),
        );
        check(Err(SendError::Unconfirmed), failed(SubmitError::ModemError));
        check(Err(SendError::InvalidPdu), failed(SubmitError::InvalidPdu));
        // Exactly the errors the engine says may have gone out are reported as unknown.
        for e in [
            SendError::Timeout,
            SendError::Rebooted,
            SendError::Io,
            SendError::NoPrompt,
            SendError::Error,
        ] {
            assert_eq!(
                outcome(Err(e)) == failed(SubmitError::Timeout),
                e.may_have_been_sent(),
                "{e:?}"
            );
        }
    }

    #[test]
    fn identity_strings_fit_the_link() {
        assert_eq!(
            digits::<20>("89470800362012345678F").as_deref(),
            Some("89470800362012345678")
        );
        assert_eq!(
            digits::<20>("8947080036201234567F").as_deref(),
            Some("8947080036201234567")
        );
        assert_eq!(
            digits::<15>("2420112345678901").as_deref(),
            Some("242011234567890")
        );
        assert_eq!(digits::<15>("ERROR"), None);
        assert_eq!(cut::<4>("Télé").as_str(), "Tél");
    }

    #[test]
    fn status_mapping() {
        let mut s = slot::SlotStatus {
            state: slot::SlotState::Registered,
            registration: Some(RegStat::Roaming),
            signal: None,
            operator: None,
            imsi: None,
            iccid: None,
            profile: None,
            model: None,
            counters: slot::Counters {
                received: 2,
                reports: 3,
                send_failures: 1,
                ..Default::default()
            },
        };
        let st = slot_status(SlotId(1), &s, 2, true);
        assert_eq!(st.state, msg::SlotState::RegisteredRoaming);
        assert_eq!(st.registration, msg::Registration::Roaming);
        assert_eq!(st.signal, msg::Signal::UNKNOWN);
        assert_eq!(
            (st.counters.received, st.counters.failed, st.queued),
            (5, 1, 2)
        );
        s.registration = Some(RegStat::SmsOnlyHome);
        assert_eq!(
            slot_status(SlotId(1), &s, 0, true).state,
            msg::SlotState::RegisteredHome
        );
        assert_eq!(
            slot_status(SlotId(1), &s, 0, false).state,
            msg::SlotState::Disabled
        );
        s.state = slot::SlotState::PinNeeded;
        assert_eq!(
            slot_status(SlotId(1), &s, 0, true).state,
            msg::SlotState::PinRequired
        );
    }

    #[test]
    fn profile_names() {
        assert_eq!(profile("SIM800"), Some(modem::profile::ProfileKind::Sim800));
        assert_eq!(profile("ec25"), Some(modem::profile::ProfileKind::Ec25));
        assert_eq!(profile("nokia"), None);
    }
}
