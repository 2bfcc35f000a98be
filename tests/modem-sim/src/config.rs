//! Per-modem configuration: the model profile (what the modem says about itself and which
//! vendor commands it knows), the network (operator, signal, registration), the SIM
//! (IMSI, ICCID, PIN, SMSC), timing (send latency, receipt delay) and the receipt outcome mix.
//!
//! Everything here is plain data with defaults that real clients accept (the values of
//! `../shared/reference/at-clients.md`), so `ModemConfig::new(Profile::Sim800)` is a working modem.

use std::fmt;
use std::str::FromStr;

/// The modem models the simulator can imitate. Answers are shaped so that
/// `firmware/modem`'s profile detection (`ProfileKind::detect` on `+CGMI`/`+CGMM`) picks the
/// matching profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Profile {
    /// SIMCom SIM800: `SIMCOM_Ltd` / `SIMCOM_SIM800`, `Call Ready` and `SMS Ready` after boot,
    /// `AT+CCID`, `AT+CSCLK`, GSM only (`+CREG`).
    Sim800,
    /// Quectel EC25: `Quectel` / `EC25`, `RDY` after boot, `AT+QCCID`, `AT+QURCCFG`,
    /// LTE (`+CEREG` as well as `+CREG`).
    Ec25,
    /// Huawei E3372 in modem mode: `huawei` / `E3372`, `^RSSI`/`^BOOT` status noise unless
    /// `AT^CURC=0`, `AT^ICCID?`, `^SYSSTART` after boot.
    Huawei,
    /// A plain TS 27.005 / 27.007 modem with no vendor commands.
    Generic,
}

impl Profile {
    /// Every profile, for tests that run a scenario on each.
    pub const ALL: [Profile; 4] = [
        Profile::Sim800,
        Profile::Ec25,
        Profile::Huawei,
        Profile::Generic,
    ];

    /// `AT+CGMI`.
    pub fn manufacturer(self) -> &'static str {
        match self {
            Profile::Sim800 => "SIMCOM_Ltd",
            Profile::Ec25 => "Quectel",
            Profile::Huawei => "huawei",
            Profile::Generic => "Generic",
        }
    }

    /// `AT+CGMM`.
    pub fn model(self) -> &'static str {
        match self {
            Profile::Sim800 => "SIMCOM_SIM800",
            Profile::Ec25 => "EC25",
            Profile::Huawei => "E3372",
            Profile::Generic => "TS27005 Modem",
        }
    }

    /// `AT+CGMR`.
    pub fn revision(self) -> &'static str {
        match self {
            Profile::Sim800 => "Revision:1418B05SIM800L24",
            Profile::Ec25 => "EC25EFAR06A06M4G",
            Profile::Huawei => "22.200.09.01.161",
            Profile::Generic => "1.0",
        }
    }

    /// The lines printed after power-on, in order (each framed `\r\n<line>\r\n`).
    pub fn boot_banner(self) -> &'static [&'static str] {
        match self {
            // SIM800 with a fixed baud rate: RDY, then the SIM and network stack banners.
            Profile::Sim800 => &["RDY", "+CFUN: 1", "+CPIN: READY", "Call Ready", "SMS Ready"],
            Profile::Ec25 => &[
                "RDY",
                "+CFUN: 1",
                "+CPIN: READY",
                "+QUSIM: 1",
                "+QIND: SMS DONE",
            ],
            Profile::Huawei => &["^SYSSTART", "^BOOT:38174720,0,0,0,72"],
            Profile::Generic => &["RDY"],
        }
    }

    /// Vendor commands this model answers, beyond the common set (names as `AT+CLAC` lists
    /// them).
    pub fn vendor_commands(self) -> &'static [&'static str] {
        match self {
            Profile::Sim800 => &["AT+CCID", "AT+CSCLK", "AT+CIURC"],
            Profile::Ec25 => &["AT+QCCID", "AT+QURCCFG", "AT+CEREG"],
            Profile::Huawei => &["AT^ICCID", "AT^CURC", "AT+CEREG"],
            Profile::Generic => &[],
        }
    }

    /// Whether `+CEREG` (EPS registration, TS 27.007 10.1.22) exists on this model.
    pub fn has_eps(self) -> bool {
        matches!(self, Profile::Ec25 | Profile::Huawei)
    }

    /// Default `AT+CNMI` at power-on (TS 27.005 3.4.1): SIMCom and Quectel ship with
    /// `2,1,0,0,0` (store, announce with `+CMTI`, no status reports); the others report
    /// nothing until told.
    pub fn default_cnmi(self) -> [u8; 5] {
        match self {
            Profile::Sim800 | Profile::Ec25 => [2, 1, 0, 0, 0],
            Profile::Huawei | Profile::Generic => [0, 0, 0, 0, 0],
        }
    }

    /// The name used on the command line and in the control socket.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Sim800 => "sim800",
            Profile::Ec25 => "ec25",
            Profile::Huawei => "huawei",
            Profile::Generic => "generic",
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A profile name that is not one of `sim800`, `ec25`, `huawei`, `generic`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown profile `{0}` (expected sim800, ec25, huawei or generic)")]
pub struct UnknownProfile(pub String);

impl FromStr for Profile {
    type Err = UnknownProfile;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Profile::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownProfile(s.to_owned()))
    }
}

/// What the network says about a submitted message that asked for a status report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// TP-ST 0x00, "short message received by the SME" (TS 23.040 9.2.3.15).
    Delivered,
    /// TP-ST 0x41, "incompatible destination": a permanent error.
    Undeliverable,
    /// TP-ST 0x46, "SM validity period expired".
    Expired,
    /// No status report at all (the network lost it).
    None,
}

impl Outcome {
    /// The TP-ST value sent, if a report is sent at all.
    pub fn status(self) -> Option<u8> {
        match self {
            Outcome::Delivered => Some(0x00),
            Outcome::Undeliverable => Some(0x41),
            Outcome::Expired => Some(0x46),
            Outcome::None => None,
        }
    }

    /// The name used in `--receipt-mix`.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Undeliverable => "undeliverable",
            Outcome::Expired => "expired",
            Outcome::None => "none",
        }
    }
}

/// Relative weights of the receipt outcomes. Draws are deterministic (a seeded generator), so
/// a test that sets a mix gets the same sequence every run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceiptMix {
    /// Weight of [`Outcome::Delivered`].
    pub delivered: u32,
    /// Weight of [`Outcome::Undeliverable`].
    pub undeliverable: u32,
    /// Weight of [`Outcome::Expired`].
    pub expired: u32,
    /// Weight of [`Outcome::None`].
    pub none: u32,
}

impl ReceiptMix {
    /// Every report says delivered.
    pub const ALL_DELIVERED: ReceiptMix = ReceiptMix::only(Outcome::Delivered);

    /// A mix that always gives `outcome`.
    pub const fn only(outcome: Outcome) -> ReceiptMix {
        let mut m = ReceiptMix {
            delivered: 0,
            undeliverable: 0,
            expired: 0,
            none: 0,
        };
        match outcome {
            Outcome::Delivered => m.delivered = 1,
            Outcome::Undeliverable => m.undeliverable = 1,
            Outcome::Expired => m.expired = 1,
            Outcome::None => m.none = 1,
        }
        m
    }

    /// Picks an outcome for a draw `r` (any `u32`). An all-zero mix delivers.
    pub fn pick(&self, r: u32) -> Outcome {
        let weights = [
            (Outcome::Delivered, self.delivered),
            (Outcome::Undeliverable, self.undeliverable),
            (Outcome::Expired, self.expired),
            (Outcome::None, self.none),
        ];
        let total: u64 = weights.iter().map(|(_, w)| u64::from(*w)).sum();
        if total == 0 {
            return Outcome::Delivered;
        }
        let mut x = u64::from(r) % total;
        for (o, w) in weights {
            if x < u64::from(w) {
                return o;
            }
            x -= u64::from(w);
        }
        Outcome::Delivered
    }
}

impl Default for ReceiptMix {
    fn default() -> Self {
        ReceiptMix::ALL_DELIVERED
    }
}

/// A `--receipt-mix` that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("bad receipt mix `{0}` (expected e.g. delivered=95,undeliverable=5,expired=0,none=0)")]
pub struct BadMix(pub String);

impl FromStr for ReceiptMix {
    type Err = BadMix;

    /// `delivered=95,undeliverable=5` (names not given weigh 0).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadMix(s.to_owned());
        let mut m = ReceiptMix {
            delivered: 0,
            undeliverable: 0,
            expired: 0,
            none: 0,
        };
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = part.split_once('=').ok_or_else(bad)?;
            let weight: u32 = weight.trim().parse().map_err(|_| bad())?;
            match name.trim() {
                "delivered" => m.delivered = weight,
                "undeliverable" => m.undeliverable = weight,
                "expired" => m.expired = weight,
                "none" => m.none = weight,
                _ => return Err(bad()),
            }
        }
        Ok(m)
    }
}

/// Registration status as `+CREG`/`+CEREG` print it (TS 27.007 7.2 `<stat>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Registration {
    /// 0: not registered, not searching.
    NotSearching,
    /// 1: registered, home network.
    Home,
    /// 2: not registered, searching.
    Searching,
    /// 3: registration denied.
    Denied,
    /// 5: registered, roaming.
    Roaming,
}

impl Registration {
    /// The `<stat>` digit.
    pub fn code(self) -> u8 {
        match self {
            Registration::NotSearching => 0,
            Registration::Home => 1,
            Registration::Searching => 2,
            Registration::Denied => 3,
            Registration::Roaming => 5,
        }
    }

    /// Whether SMS can be sent.
    pub fn is_registered(self) -> bool {
        matches!(self, Registration::Home | Registration::Roaming)
    }
}

/// Everything that can differ between simulated modems.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModemConfig {
    /// The model imitated.
    pub profile: Profile,
    /// Operator long name (`+COPS` format 0).
    pub operator: String,
    /// Operator short name (`+COPS` format 1).
    pub operator_short: String,
    /// MCC+MNC (`+COPS` format 2).
    pub plmn: String,
    /// `+CSQ` `<rssi>`, 0–31 (99 unknown).
    pub signal: u8,
    /// Registration at power-on.
    pub registration: Registration,
    /// Location area code and cell id for `+CREG: 2,…` (hex, as printed).
    pub lac: String,
    /// Cell id.
    pub ci: String,
    /// `AT+CIMI`.
    pub imsi: String,
    /// `AT+CCID` / `AT+QCCID` / `AT^ICCID?`.
    pub iccid: String,
    /// `AT+CGSN`.
    pub imei: String,
    /// `AT+CNUM` (own number), international with `+`.
    pub own_number: String,
    /// `AT+CSCA?`, international with `+`.
    pub smsc: String,
    /// SIM PIN; `None` means `+CPIN: READY` from the start.
    pub pin: Option<String>,
    /// Echo at power-on (V.250 `E1`). Real modems start with echo on.
    pub echo: bool,
    /// `AT+CNMI` at power-on, as if saved with `AT&W` (TS 27.005 3.4.1); defaults to the
    /// profile's. Clients that never set it (gammu CLI, smstools without `init`) only see
    /// status reports if `<ds>` is not 0 here.
    pub cnmi: [u8; 5],
    /// Time from the PDU's Ctrl-Z to `+CMGS: <mr>` (a real network takes 2–6 s).
    pub send_latency_ms: u64,
    /// Time from `+CMGS` to the status report, when TP-SRR asked for one.
    pub receipt_delay_ms: u64,
    /// Outcome of each status report.
    pub receipt_mix: ReceiptMix,
    /// Seed for the receipt draws.
    pub seed: u64,
    /// Capacity of the SIM store (`"SM"`).
    pub sm_capacity: usize,
    /// Capacity of the modem store (`"ME"`).
    pub me_capacity: usize,
    /// From power-on (or a reboot) to the first banner line; input before it is lost.
    pub boot_ms: u64,
    /// Minimum gap between two URCs, and between a final result and a URC: clients such as
    /// python-gsmmodem miss URCs that arrive together (at-clients.md, requirement 6).
    pub urc_gap_ms: u64,
    /// Unix time (seconds) of the simulator's time zero, for SCTS/DT stamps.
    pub clock_base_unix: i64,
    /// Time zone of the stamps, in quarter hours east of UTC.
    pub tz_quarters: i8,
}

impl ModemConfig {
    /// A modem of `profile` with the defaults real clients were seen to accept.
    pub fn new(profile: Profile) -> ModemConfig {
        ModemConfig {
            profile,
            operator: "SimNet".to_owned(),
            operator_short: "SimNet".to_owned(),
            plmn: "24201".to_owned(),
            signal: 21,
            registration: Registration::Home,
            lac: "1A2B".to_owned(),
            ci: "0C3D".to_owned(),
            imsi: "242011234567890".to_owned(),
            iccid: "8947080036201234567".to_owned(),
            imei: "356938035643809".to_owned(),
            own_number: "+4790000001".to_owned(),
            smsc: "+4790002100".to_owned(),
            pin: None,
            echo: true,
            cnmi: profile.default_cnmi(),
            send_latency_ms: 0,
            receipt_delay_ms: 0,
            receipt_mix: ReceiptMix::ALL_DELIVERED,
            seed: 1,
            sm_capacity: 30,
            me_capacity: match profile {
                Profile::Ec25 => 255,
                _ => 30,
            },
            boot_ms: 0,
            urc_gap_ms: 100,
            // 2024-01-01 12:00:00 UTC.
            clock_base_unix: 1_704_110_400,
            tz_quarters: 4,
        }
    }
}

impl Default for ModemConfig {
    fn default() -> Self {
        ModemConfig::new(Profile::Sim800)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_parses_and_picks() {
        let m: ReceiptMix = "delivered=3,undeliverable=1".parse().unwrap();
        let picks: Vec<_> = (0..4).map(|r| m.pick(r)).collect();
        assert_eq!(
            picks,
            [
                Outcome::Delivered,
                Outcome::Delivered,
                Outcome::Delivered,
                Outcome::Undeliverable
            ]
        );
        assert!("delivered=x".parse::<ReceiptMix>().is_err());
        assert!("lost=1".parse::<ReceiptMix>().is_err());
        assert_eq!(ReceiptMix::only(Outcome::None).pick(7), Outcome::None);
    }

    #[test]
    fn profile_names_round_trip() {
        for p in Profile::ALL {
            assert_eq!(p.name().parse::<Profile>().unwrap(), p);
        }
        assert!("nokia".parse::<Profile>().is_err());
    }
}
