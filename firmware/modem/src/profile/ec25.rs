//! Quectel EC25/EG25: LTE, so registration is `+CEREG` as well as `+CREG`; PWRKEY ≥ 500 ms;
//! `RDY` about 10–13 s after power-on; large ME storage; `AT+QCCID`; up to 120 s for `+CMGS`.

use super::{Profile, ProfileKind};
use crate::command::sim::IccidCommand;
use crate::digest::{Mem, RegKind};

/// Quectel EC25.
pub static PROFILE: Profile = Profile {
    kind: ProfileKind::Ec25,
    name: "Quectel EC25",
    manufacturers: &[b"Quectel"],
    models: &[
        b"EC25", b"EG25", b"EC21", b"EG21", b"EC20", b"EG91", b"EG95",
    ],
    pwrkey_on_ms: 600,
    pwrkey_off_ms: 800,
    // Power-down takes up to 30 s before the module may be switched on again.
    off_wait_ms: 30_000,
    boot_ms: 13_000,
    // URCs go to the main UART (the default port is USB AT on some firmware).
    init: &["AT+QURCCFG=\"urcport\",\"uart1\""],
    storage: Mem::Me,
    cnmi: "2,1,0,2,0",
    registration: &[RegKind::Eps, RegKind::Cs],
    iccid: Some(IccidCommand::Qccid),
    send_timeout_ms: 120_000,
    noise: &[b"+QIND", b"+QUSIM", b"+CFUN", b"+QNITZ", b"+CTZE"],
};
