//! SIMCom SIM800/SIM900: GSM only, PWRKEY pulled low ≥ 1 s to toggle power, autobaud by default
//! (so the first `AT`s may go unanswered and no `RDY` is printed), `Call Ready`/`SMS Ready`
//! banners after boot, `AT+CCID` for the ICCID.

use super::{Profile, ProfileKind};
use crate::command::sim::IccidCommand;
use crate::digest::{Mem, RegKind};

/// SIMCom SIM800.
pub static PROFILE: Profile = Profile {
    kind: ProfileKind::Sim800,
    name: "SIMCom SIM800",
    manufacturers: &[b"SIMCOM"],
    models: &[b"SIM800", b"SIM900", b"SIM808"],
    // SIM800 hardware design: PWRKEY low for at least 1 s switches on, 1–3.3 s switches off.
    pwrkey_on_ms: 1_200,
    pwrkey_off_ms: 1_500,
    off_wait_ms: 3_000,
    // The UART answers about 3 s after power-on; the SIM and SMS stack need a few more.
    boot_ms: 4_000,
    // Slow clock off: with sleep mode on, the UART drops the first bytes of a command.
    init: &["AT+CSCLK=0"],
    storage: Mem::Sm,
    cnmi: "2,1,0,2,0",
    registration: &[RegKind::Cs],
    iccid: Some(IccidCommand::Ccid),
    send_timeout_ms: 60_000,
    noise: &[b"+CFUN", b"+PACSP", b"*PSUTTZ", b"DST", b"+CTZV", b"+CIEV"],
};
