//! Huawei USB sticks in modem mode (E3372 "stick" firmware, E173, E3131): powered by USB, so
//! no PWRKEY (a power cycle is `AT+CFUN=1,1`, after which the USB device re-enumerates); a
//! stream of `^RSSI`, `^MODE`, `^BOOT`, `^SRVST` status URCs unless `AT^CURC=0` turns them off;
//! `AT^ICCID?` for the ICCID.

use super::{Profile, ProfileKind};
use crate::command::sim::IccidCommand;
use crate::digest::{Mem, RegKind};

/// Huawei E3372-style stick.
pub static PROFILE: Profile = Profile {
    kind: ProfileKind::Huawei,
    name: "Huawei E3372",
    manufacturers: &[b"huawei"],
    models: &[
        b"E3372", b"E3131", b"E173", b"E1750", b"E353", b"MS2131", b"MS2372",
    ],
    pwrkey_on_ms: 0,
    pwrkey_off_ms: 0,
    off_wait_ms: 0,
    boot_ms: 5_000,
    // Periodic status URCs off; they would otherwise interleave with every answer.
    init: &["AT^CURC=0"],
    storage: Mem::Sm,
    cnmi: "2,1,0,2,0",
    registration: &[RegKind::Eps, RegKind::Cs],
    iccid: Some(IccidCommand::Huawei),
    send_timeout_ms: 60_000,
    noise: &[
        b"^RSSI",
        b"^HCSQ",
        b"^MODE",
        b"^BOOT",
        b"^SRVST",
        b"^SIMST",
        b"^SYSSTART",
        b"^DSFLOWRPT",
        b"^NWTIME",
        b"^STIN",
        b"^CEND",
        b"^ORIG",
        b"^CONF",
        b"^CONN",
        b"^RFSWITCH",
    ],
};
