//! The configuration file (`outpost.toml`), in two phases (STYLE "raw config → validated
//! config"): [`RawConfig`] is the file as written (serde, unknown keys refused); [`Config`] is the
//! validated form the service runs on. Validation reports every problem at once, each naming its
//! key the way the admin wrote it (`smpp[1].port: must be 1–65535`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use carriers::bank::BankSettings;
use carriers::modem::{ModemPort, ModemSettings};
use carriers::smpp::{DestinationFormat, SmppSettings};
use domain::{CarrierId, NumberPolicy};
use engine::{AcceptConfig, Signature, SignaturePosition};
use route::{Policy, RawRouting};
use serde::Deserialize;
use smpp::client::{BindMode, LinkConfig};
use smpp::message::LongMode;

/// The file as written.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawConfig {
    /// `[service]`.
    pub service: RawService,
    /// `[accept]`.
    pub accept: RawAccept,
    /// `[inbound]`.
    pub inbound: RawInbound,
    /// `[[modem]]`: USB modems driven by the host.
    pub modem: Vec<RawModem>,
    /// `[[bank]]`: modem banks on a serial line (each slot is a carrier `<name>/slotN`).
    pub bank: Vec<RawBank>,
    /// `[[smpp]]`: upstream SMPP links.
    pub smpp: Vec<RawSmpp>,
    /// `[routing]`: the scheduling policy (see `host/route`'s README).
    pub routing: RawRouting,
}

/// `[service]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawService {
    /// Database and other state.
    pub data_dir: PathBuf,
    /// HTTP API and admin pages.
    pub listen: String,
    /// Log filter (`info`, `outpost=debug,info`, …).
    pub log: String,
    /// How long shutdown waits for attempts in flight.
    pub shutdown_grace: String,
}

impl Default for RawService {
    fn default() -> Self {
        RawService {
            data_dir: PathBuf::from("/var/lib/outpost"),
            listen: "127.0.0.1:8080".into(),
            log: "info".into(),
            shutdown_grace: "30s".into(),
        }
    }
}

/// `[accept]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawAccept {
    /// Region of national numbers (ISO 3166 alpha-2).
    pub default_country: String,
    /// Only numbers valid in their country's numbering plan.
    pub strict_numbers: bool,
    /// Enterprise signature added to every message, e.g. `【某某银行】`.
    pub signature: Option<String>,
    /// `prefix` or `suffix`.
    pub signature_position: String,
    /// Most parts per message.
    pub max_parts: u8,
    /// Validity when a request gives none.
    pub default_validity: String,
    /// Longest validity accepted.
    pub max_validity: String,
}

impl Default for RawAccept {
    fn default() -> Self {
        RawAccept {
            default_country: "CN".into(),
            strict_numbers: true,
            signature: None,
            signature_position: "prefix".into(),
            max_parts: 10,
            default_validity: "48h".into(),
            max_validity: "7d".into(),
        }
    }
}

/// `[inbound]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawInbound {
    /// How long parts of a long inbound message wait for the missing ones.
    pub reassembly_timeout: String,
}

impl Default for RawInbound {
    fn default() -> Self {
        RawInbound {
            reassembly_timeout: "10m".into(),
        }
    }
}

/// `[[modem]]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawModem {
    /// Carrier id.
    pub id: String,
    /// Serial device (`/dev/ttyUSB2`); or `tcp`.
    pub device: Option<String>,
    /// Baud rate (default 115200).
    pub baud: Option<u32>,
    /// A TCP endpoint speaking AT (`127.0.0.1:7001`).
    pub tcp: Option<String>,
    /// SIM PIN.
    pub pin: Option<String>,
    /// Longest time one part may take.
    pub send_timeout: Option<String>,
}

/// `[[bank]]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawBank {
    /// The bank's name; its slots are carriers `<name>/slot1` … `<name>/slotN`.
    pub name: String,
    /// Serial device of the host link (`/dev/ttyACM0`); or `tcp`.
    pub device: Option<String>,
    /// Baud rate (default 921600).
    pub baud: Option<u32>,
    /// A TCP endpoint of the host link (QEMU, `bank-emu`).
    pub tcp: Option<String>,
    /// Number of slots (default 4).
    pub slots: Option<u8>,
    /// Longest time one part may take.
    pub submit_timeout: Option<String>,
}

/// `[[smpp]]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawSmpp {
    /// Carrier id.
    pub id: String,
    /// SMSC host.
    pub host: String,
    /// SMSC port.
    pub port: u32,
    /// Account.
    pub system_id: String,
    /// Password (at most 8 characters in SMPP 3.4).
    pub password: String,
    /// `system_type`.
    pub system_type: Option<String>,
    /// `transceiver` (default) or `transmitter_receiver`.
    pub bind: Option<String>,
    /// `3.4` (default) or `5.0`.
    pub version: Option<String>,
    /// Most submits awaiting an answer.
    pub window: Option<u32>,
    /// Messages per second at most.
    pub max_rate: Option<u32>,
    /// Idle time between `enquire_link`s.
    pub enquire_link: Option<String>,
    /// Longest wait for any response.
    pub response_timeout: Option<String>,
    /// Source address when a message has none.
    pub source: Option<String>,
    /// Always use `source`, whatever the message says.
    pub force_source: bool,
    /// `international` (default) or `national`.
    pub destination: Option<String>,
    /// `data_coding` for GSM 7-bit text (default 0).
    pub gsm7_data_coding: Option<u8>,
    /// `udh` (default), `sar` or `payload`.
    pub long_messages: Option<String>,
    /// Request delivery receipts (default true).
    pub receipts: Option<bool>,
    /// Connect with TLS.
    pub tls: bool,
    /// Name expected in the SMSC's certificate (default `host`).
    pub tls_server_name: Option<String>,
    /// PEM file of the CA to trust (default: the system's roots).
    pub tls_ca_file: Option<PathBuf>,
}

/// One problem in the config.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConfigError {
    /// The offending key.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

/// Every problem found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
pub struct ConfigErrors(pub Vec<ConfigError>);

/// The validated configuration.
#[derive(Clone)]
pub struct Config {
    /// Database and state.
    pub data_dir: PathBuf,
    /// HTTP listen address.
    pub listen: SocketAddr,
    /// Log filter.
    pub log: String,
    /// Shutdown grace.
    pub shutdown_grace: Duration,
    /// Accept rules.
    pub accept: AcceptConfig,
    /// Inbound reassembly timeout.
    pub reassembly_timeout: Duration,
    /// USB/TCP modems.
    pub modems: Vec<ModemSettings>,
    /// Modem banks.
    pub banks: Vec<BankSettings>,
    /// SMPP links.
    pub smpp: Vec<SmppSettings>,
    /// Scheduling policy.
    pub policy: Arc<Policy>,
}

struct V {
    errors: Vec<ConfigError>,
}

impl V {
    fn err(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ConfigError {
            key: key.into(),
            message: message.into(),
        });
    }

    fn duration(&mut self, key: &str, value: &str) -> Duration {
        match humantime::parse_duration(value) {
            Ok(d) => d,
            Err(e) => {
                self.err(
                    key,
                    format!("{value:?} is not a duration like 30s or 10m ({e})"),
                );
                Duration::ZERO
            }
        }
    }

    fn carrier_id(&mut self, key: &str, value: &str) -> Option<CarrierId> {
        match CarrierId::new(value) {
            Ok(id) => Some(id),
            Err(e) => {
                self.err(key, format!("{value:?} {e}"));
                None
            }
        }
    }
}

impl RawConfig {
    /// Parses TOML text (syntax and unknown keys are reported with their location).
    pub fn parse(text: &str) -> Result<RawConfig, ConfigErrors> {
        toml::from_str(text).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                key: "config".into(),
                message: e.to_string().trim().replace('\n', " "),
            }])
        })
    }

    /// Checks everything and builds the validated [`Config`].
    pub fn validate(&self) -> Result<Config, ConfigErrors> {
        let mut v = V { errors: Vec::new() };
        let s = &self.service;
        let listen = s.listen.parse::<SocketAddr>().unwrap_or_else(|_| {
            v.err(
                "service.listen",
                format!("{:?} is not an address like 127.0.0.1:8080", s.listen),
            );
            SocketAddr::from(([127, 0, 0, 1], 8080))
        });
        let shutdown_grace = v.duration("service.shutdown_grace", &s.shutdown_grace);

        let a = &self.accept;
        let numbers = match NumberPolicy::with_region(&a.default_country, a.strict_numbers) {
            Ok(p) => p,
            Err(_) => {
                v.err(
                    "accept.default_country",
                    format!(
                        "{:?} is not an ISO 3166 country code like CN",
                        a.default_country
                    ),
                );
                NumberPolicy::china()
            }
        };
        let position = match a.signature_position.as_str() {
            "prefix" => SignaturePosition::Prefix,
            "suffix" => SignaturePosition::Suffix,
            other => {
                v.err(
                    "accept.signature_position",
                    format!("{other:?} must be prefix or suffix"),
                );
                SignaturePosition::Prefix
            }
        };
        if a.max_parts == 0 {
            v.err("accept.max_parts", "must be at least 1");
        }
        let default_validity = v.duration("accept.default_validity", &a.default_validity);
        let max_validity = v.duration("accept.max_validity", &a.max_validity);
        if default_validity > max_validity {
            v.err(
                "accept.default_validity",
                "must not exceed accept.max_validity",
            );
        }
        let accept = AcceptConfig {
            numbers,
            signature: a
                .signature
                .as_ref()
                .filter(|t| !t.is_empty())
                .map(|text| Signature {
                    text: text.clone(),
                    position,
                }),
            max_parts: a.max_parts.max(1),
            default_validity,
            max_validity,
            ..AcceptConfig::default()
        };
        let reassembly_timeout = v.duration(
            "inbound.reassembly_timeout",
            &self.inbound.reassembly_timeout,
        );

        let mut ids: BTreeMap<String, String> = BTreeMap::new();
        let mut seen = |v: &mut V, key: &str, id: &str| {
            if let Some(first) = ids.insert(id.to_owned(), key.to_owned()) {
                v.err(key, format!("id {id:?} is already used by {first}"));
            }
        };
        let mut modems = Vec::new();
        for (i, m) in self.modem.iter().enumerate() {
            let key = format!("modem[{i}]");
            seen(&mut v, &format!("{key}.id"), &m.id);
            let id = v.carrier_id(&format!("{key}.id"), &m.id);
            let port = match (&m.device, &m.tcp) {
                (Some(path), None) => Some(ModemPort::Serial {
                    path: path.clone(),
                    baud: m.baud.unwrap_or(115_200),
                }),
                (None, Some(addr)) => Some(ModemPort::Tcp(addr.clone())),
                _ => {
                    v.err(&key, "give exactly one of `device` or `tcp`");
                    None
                }
            };
            let send_timeout = m
                .send_timeout
                .as_deref()
                .map(|t| v.duration(&format!("{key}.send_timeout"), t))
                .unwrap_or(Duration::from_secs(120));
            if let Some(pin) = &m.pin
                && !(4..=8).contains(&pin.len())
            {
                v.err(format!("{key}.pin"), "a SIM PIN has 4 to 8 digits");
            }
            if let (Some(id), Some(port)) = (id, port) {
                modems.push(ModemSettings {
                    id,
                    port,
                    pin: m.pin.clone(),
                    send_timeout,
                });
            }
        }
        let mut banks = Vec::new();
        for (i, b) in self.bank.iter().enumerate() {
            let key = format!("bank[{i}]");
            let slots = b.slots.unwrap_or(4);
            if !(1..=32).contains(&slots) {
                v.err(format!("{key}.slots"), "must be 1–32");
            }
            let mut ok = v.carrier_id(&format!("{key}.name"), &b.name).is_some();
            for s in 1..=slots {
                let id = format!("{}/slot{s}", b.name);
                seen(&mut v, &format!("{key}.name"), &id);
                ok &= v.carrier_id(&format!("{key}.name"), &id).is_some();
            }
            let port = match (&b.device, &b.tcp) {
                (Some(path), None) => Some(ModemPort::Serial {
                    path: path.clone(),
                    baud: b.baud.unwrap_or(921_600),
                }),
                (None, Some(addr)) => Some(ModemPort::Tcp(addr.clone())),
                _ => {
                    v.err(&key, "give exactly one of `device` or `tcp`");
                    None
                }
            };
            let submit_timeout = b
                .submit_timeout
                .as_deref()
                .map(|t| v.duration(&format!("{key}.submit_timeout"), t))
                .unwrap_or(Duration::from_secs(120));
            if let (true, Some(port)) = (ok, port) {
                banks.push(BankSettings {
                    name: b.name.clone(),
                    port,
                    slots,
                    submit_timeout,
                });
            }
        }
        let mut smpp = Vec::new();
        let mut routing = self.routing.clone();
        for (i, l) in self.smpp.iter().enumerate() {
            let key = format!("smpp[{i}]");
            seen(&mut v, &format!("{key}.id"), &l.id);
            let id = v.carrier_id(&format!("{key}.id"), &l.id);
            if l.host.is_empty() {
                v.err(format!("{key}.host"), "is required");
            }
            let port = u16::try_from(l.port)
                .ok()
                .filter(|p| *p > 0)
                .unwrap_or_else(|| {
                    v.err(format!("{key}.port"), "must be 1–65535");
                    0
                });
            if l.system_id.is_empty() || l.system_id.len() > 15 {
                v.err(format!("{key}.system_id"), "must be 1–15 characters");
            }
            if l.password.len() > 8 {
                v.err(
                    format!("{key}.password"),
                    "SMPP 3.4 passwords have at most 8 characters",
                );
            }
            let mut link = LinkConfig::new(&l.host, port, &l.system_id, &l.password);
            link.name = l.id.clone();
            if let Some(t) = &l.system_type {
                link.system_type = t.clone();
            }
            link.bind = match l.bind.as_deref() {
                None | Some("transceiver") => BindMode::Transceiver,
                Some("transmitter_receiver") => BindMode::TransmitterReceiver,
                Some(other) => {
                    v.err(
                        format!("{key}.bind"),
                        format!("{other:?} must be transceiver or transmitter_receiver"),
                    );
                    BindMode::Transceiver
                }
            };
            link.interface_version = match l.version.as_deref() {
                None | Some("3.4") => 0x34,
                Some("5.0") => 0x50,
                Some(other) => {
                    v.err(
                        format!("{key}.version"),
                        format!("{other:?} must be 3.4 or 5.0"),
                    );
                    0x34
                }
            };
            let window = l.window.unwrap_or(10);
            if !(1..=1000).contains(&window) {
                v.err(format!("{key}.window"), "must be 1–1000");
            }
            link.window = window as usize;
            link.max_rate = l.max_rate.and_then(std::num::NonZeroU32::new);
            if let Some(t) = &l.enquire_link {
                link.enquire_link_interval = v.duration(&format!("{key}.enquire_link"), t);
            }
            if let Some(t) = &l.response_timeout {
                link.response_timeout = v.duration(&format!("{key}.response_timeout"), t);
            }
            if l.tls {
                link.tls = Some(smpp::client::TlsConfig {
                    server_name: l.tls_server_name.clone(),
                    ca_file: l.tls_ca_file.clone(),
                });
            }
            let destination = match l.destination.as_deref() {
                None | Some("international") => DestinationFormat::International,
                Some("national") => {
                    DestinationFormat::National(country_code(&a.default_country).unwrap_or(86))
                }
                Some(other) => {
                    v.err(
                        format!("{key}.destination"),
                        format!("{other:?} must be international or national"),
                    );
                    DestinationFormat::International
                }
            };
            let long_mode = match l.long_messages.as_deref() {
                None | Some("udh") => LongMode::Udh,
                Some("sar") => LongMode::Sar,
                Some("payload") => LongMode::Payload,
                Some(other) => {
                    v.err(
                        format!("{key}.long_messages"),
                        format!("{other:?} must be udh, sar or payload"),
                    );
                    LongMode::Udh
                }
            };
            // The scheduler's window for the link is the link's own unless routing says more.
            let entry = routing.carriers.entry(l.id.clone()).or_default();
            entry.window.get_or_insert(window);
            if let Some(rate) = l.max_rate {
                entry.per_second.get_or_insert(rate);
            }
            if let Some(id) = id {
                smpp.push(SmppSettings {
                    id,
                    link,
                    source: l.source.clone(),
                    force_source: l.force_source,
                    destination,
                    gsm7_data_coding: l.gsm7_data_coding.unwrap_or(0),
                    long_mode,
                    receipts: l.receipts.unwrap_or(true),
                });
            }
        }
        let policy = match routing.validate() {
            Ok(p) => {
                let bank_slots = banks.iter().flat_map(|b| {
                    (1..=b.slots)
                        .filter_map(|s| CarrierId::new(&format!("{}/slot{s}", b.name)).ok())
                });
                let known: Vec<CarrierId> = modems
                    .iter()
                    .map(|m| m.id.clone())
                    .chain(bank_slots)
                    .chain(smpp.iter().map(|s| s.id.clone()))
                    .collect();
                if let Err(errs) = p.check_carriers(&known) {
                    for e in errs.0 {
                        v.err(e.key, e.message);
                    }
                }
                p
            }
            Err(errs) => {
                for e in errs.0 {
                    v.err(e.key, e.message);
                }
                Policy::default()
            }
        };
        if !v.errors.is_empty() {
            return Err(ConfigErrors(v.errors));
        }
        Ok(Config {
            data_dir: s.data_dir.clone(),
            listen,
            log: s.log.clone(),
            shutdown_grace,
            accept,
            reassembly_timeout,
            modems,
            banks,
            smpp,
            policy: Arc::new(policy),
        })
    }
}

/// The calling code of a region (`CN` → 86), for national-format SMPP destinations.
fn country_code(region: &str) -> Option<u16> {
    use std::str::FromStr;
    let id = phonenumber::country::Id::from_str(&region.to_ascii_uppercase()).ok()?;
    phonenumber::metadata::DATABASE
        .by_id(id.as_ref())
        .map(|m| m.country_code())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expect: &[&str]) {
        let got = match RawConfig::parse(text).and_then(|r| r.validate()) {
            Ok(_) => Vec::new(),
            Err(ConfigErrors(errs)) => errs.iter().map(|e| e.to_string()).collect(),
        };
        let got: Vec<&str> = got.iter().map(String::as_str).collect();
        assert_eq!(got, expect, "{text}");
    }

    #[test]
    fn the_example_config_is_valid() {
        let text = include_str!("../outpost.example.toml");
        let config = RawConfig::parse(text).unwrap().validate().unwrap();
        assert_eq!(config.modems.len(), 2);
        assert_eq!(config.banks.len(), 1);
        assert_eq!(config.banks[0].slots, 4);
        assert_eq!(config.smpp.len(), 2);
        assert_eq!(
            config.accept.signature.as_ref().map(|s| s.text.as_str()),
            Some("【某某银行】")
        );
    }

    #[test]
    fn every_bad_key_is_named() {
        check("", &[]);
        check(
            "[service]\nlisten = \"nowhere\"\nshutdown_grace = \"soon\"",
            &[
                "service.listen: \"nowhere\" is not an address like 127.0.0.1:8080",
                "service.shutdown_grace: \"soon\" is not a duration like 30s or 10m (expected number at 0)",
            ],
        );
        check(
            "[accept]\ndefault_country = \"XX\"\nsignature_position = \"middle\"\nmax_parts = 0",
            &[
                "accept.default_country: \"XX\" is not an ISO 3166 country code like CN",
                "accept.signature_position: \"middle\" must be prefix or suffix",
                "accept.max_parts: must be at least 1",
            ],
        );
        check(
            "[[modem]]\nid = \"usb 0\"\npin = \"12\"",
            &[
                "modem[0].id: \"usb 0\" may only contain letters, digits and . _ - / : (found ' ')",
                "modem[0]: give exactly one of `device` or `tcp`",
                "modem[0].pin: a SIM PIN has 4 to 8 digits",
            ],
        );
        check(
            "[[smpp]]\nid = \"a\"\nhost = \"smsc\"\nport = 70000\nsystem_id = \"x\"\npassword = \"toolongpassword\"\nlong_messages = \"fax\"\n\
             [[smpp]]\nid = \"a\"\nhost = \"smsc\"\nport = 2775\nsystem_id = \"x\"",
            &[
                "smpp[0].port: must be 1–65535",
                "smpp[0].password: SMPP 3.4 passwords have at most 8 characters",
                "smpp[0].long_messages: \"fax\" must be udh, sar or payload",
                "smpp[1].id: id \"a\" is already used by smpp[0].id",
            ],
        );
        check(
            "[[bank]]\nname = \"bank\"\nslots = 0\n[[bank]]\nname = \"b2\"\ntcp = \"x\"\ndevice = \"y\"",
            &[
                "bank[0].slots: must be 1–32",
                "bank[0]: give exactly one of `device` or `tcp`",
                "bank[1]: give exactly one of `device` or `tcp`",
            ],
        );
        check(
            "[routing.operators.cmcc]\npool = [\"nope\"]",
            &["routing.operators.cmcc.pool[0]: unknown carrier \"nope\""],
        );
    }

    #[test]
    fn unknown_keys_are_refused_with_their_place() {
        let err = RawConfig::parse("[service]\nlisen = \"x\"").unwrap_err();
        assert!(err.to_string().contains("lisen"), "{err}");
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}
