//! The generic TS 27.005 profile: only standard commands, SIM storage, `+CMTI`/`+CDSI` routing.

use super::{Profile, ProfileKind};
use crate::digest::{Mem, RegKind};

/// Generic modem.
pub static PROFILE: Profile = Profile {
    kind: ProfileKind::Generic,
    name: "generic TS 27.005",
    manufacturers: &[],
    models: &[],
    pwrkey_on_ms: 1_000,
    pwrkey_off_ms: 1_500,
    off_wait_ms: 5_000,
    boot_ms: 10_000,
    init: &[],
    storage: Mem::Sm,
    // TS 27.005 3.4.1: mode 2 (buffer while the link is busy), mt 1 (store, +CMTI),
    // bm 0, ds 2 (store reports, +CDSI), bfr 0 (flush buffered codes).
    cnmi: "2,1,0,2,0",
    registration: &[RegKind::Cs],
    iccid: None,
    send_timeout_ms: 60_000,
    noise: &[],
};
