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
use web::tls::CertSource;

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
    /// `[smpp_server]`: the SMPP server for local applications (off when absent).
    pub smpp_server: Option<RawSmppServer>,
    /// `[notify]`: delivery-report callbacks, SMPP receipts and MO to applications.
    pub notify: RawNotify,
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
    /// HTTPS for the API and the admin pages (`[service.tls]`); plain HTTP when absent.
    pub tls: Option<RawTls>,
}

impl Default for RawService {
    fn default() -> Self {
        RawService {
            data_dir: PathBuf::from("/var/lib/outpost"),
            listen: "127.0.0.1:8080".into(),
            log: "info".into(),
            shutdown_grace: "30s".into(),
            tls: None,
        }
    }
}

/// `[service.tls]`: a given certificate (`cert` and `key`, PEM files), or else a self-signed one
/// generated on first start into `<data_dir>/tls` for `localhost`, `127.0.0.1` and `names`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawTls {
    /// The certificate chain (PEM).
    pub cert: Option<PathBuf>,
    /// Its private key (PEM).
    pub key: Option<PathBuf>,
    /// Extra names for a self-signed certificate (the box's name or address on the LAN).
    pub names: Vec<String>,
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
    /// First reconnect delay after the link went down (doubling, with jitter).
    pub reconnect_min: Option<String>,
    /// Longest reconnect delay.
    pub reconnect_max: Option<String>,
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
    /// The SMPP server, if configured.
    pub smpp_server: Option<SmppServerSettings>,
    /// Notifications.
    pub notify: NotifySettings,
    /// HTTPS, when `[service.tls]` is present.
    pub tls: Option<CertSource>,
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
        let tls = s.tls.as_ref().and_then(|t| match (&t.cert, &t.key) {
            (Some(cert), Some(key)) => {
                if !t.names.is_empty() {
                    v.err(
                        "service.tls.names",
                        "only for a self-signed certificate (without cert and key)",
                    );
                }
                Some(CertSource::Files {
                    cert: cert.clone(),
                    key: key.clone(),
                })
            }
            (None, None) => Some(CertSource::SelfSigned {
                dir: s.data_dir.join("tls"),
                names: t.names.clone(),
            }),
            (Some(_), None) => {
                v.err(
                    "service.tls.key",
                    "give the key that goes with service.tls.cert",
                );
                None
            }
            (None, Some(_)) => {
                v.err(
                    "service.tls.cert",
                    "give the certificate that goes with service.tls.key",
                );
                None
            }
        });

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
            if let Some(t) = &l.reconnect_min {
                link.reconnect.min = v.duration(&format!("{key}.reconnect_min"), t);
            }
            if let Some(t) = &l.reconnect_max {
                link.reconnect.max = v.duration(&format!("{key}.reconnect_max"), t);
            }
            if link.reconnect.min > link.reconnect.max {
                v.err(
                    format!("{key}.reconnect_min"),
                    "must not exceed reconnect_max",
                );
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
        let smpp_server = self
            .smpp_server
            .as_ref()
            .map(|raw| validate_smpp_server(&mut v, raw));
        let notify = validate_notify(&mut v, &self.notify);
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
            smpp_server,
            notify,
            tls,
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

// ---- `[smpp_server]` and `[notify]`: serving local applications over SMPP, and notifications ----

/// `[smpp_server]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawSmppServer {
    /// Where to listen, e.g. `127.0.0.1:2775`.
    pub listen: String,
    /// `system_id` in bind responses.
    pub system_id: String,
    /// Submits a bind may have unanswered; more get `ESME_RTHROTTLED`.
    pub window: u32,
    /// Submits per second per bind; more get `ESME_RTHROTTLED` (0: no cap).
    pub max_rate: u32,
    /// deliver_sm (receipts, MO) a bind may have unanswered.
    pub deliver_window: u32,
    /// Idle time before we send enquire_link.
    pub enquire_link: String,
    /// How long deliver_sm waits for its response.
    pub response_timeout: String,
    /// How long the parts of a long message wait for the rest.
    pub reassembly_timeout: String,
    /// `[[smpp_server.account]]`: who may bind.
    pub account: Vec<RawSmppAccount>,
    /// `[[smpp_server.mo_route]]`: which application gets which inbound SMS.
    pub mo_route: Vec<RawMoRoute>,
}

impl Default for RawSmppServer {
    fn default() -> Self {
        RawSmppServer {
            listen: "127.0.0.1:2775".into(),
            system_id: "outpost".into(),
            window: 100,
            max_rate: 0,
            deliver_window: 10,
            enquire_link: "60s".into(),
            response_timeout: "10s".into(),
            reassembly_timeout: "10m".into(),
            account: Vec::new(),
            mo_route: Vec::new(),
        }
    }
}

/// `[[smpp_server.account]]`: an SMPP login for an application, billed to an API key.
#[derive(Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawSmppAccount {
    /// The `system_id` the application binds with (at most 15 characters).
    pub system_id: String,
    /// Its password (at most 8 characters in SMPP 3.4). Give this or `password_sha256`.
    pub password: Option<String>,
    /// The SHA-256 of the password, hex, so the file holds no clear password.
    pub password_sha256: Option<String>,
    /// The name of the API key its messages are billed to (`outpost key add <name>`).
    pub api_key: String,
}

impl std::fmt::Debug for RawSmppAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawSmppAccount")
            .field("system_id", &self.system_id)
            .field("api_key", &self.api_key)
            .finish_non_exhaustive()
    }
}

/// `[[smpp_server.mo_route]]`: inbound SMS to `prefix…` go to the applications of `api_key`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawMoRoute {
    /// Start of the number the SMS was sent to (digits; `""` matches every number).
    pub prefix: String,
    /// The API key name whose bound receivers get them.
    pub api_key: String,
}

/// `[notify]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawNotify {
    /// Tries per notification before giving up.
    pub max_attempts: u32,
    /// First retry delay (doubling up to `retry_max`).
    pub retry_min: String,
    /// Longest retry delay.
    pub retry_max: String,
    /// How long an undelivered notification is kept (e.g. an SMPP receipt for an application
    /// that does not bind) before it is given up.
    pub retention: String,
    /// HTTP callback timeout.
    pub timeout: String,
    /// Callbacks and deliver_sm in flight at once.
    pub concurrency: u32,
}

impl Default for RawNotify {
    fn default() -> Self {
        RawNotify {
            max_attempts: 10,
            retry_min: "1s".into(),
            retry_max: "10m".into(),
            retention: "72h".into(),
            timeout: "10s".into(),
            concurrency: 64,
        }
    }
}

/// A password as the config gives it, kept as a SHA-256 digest so it is never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordDigest([u8; 32]);

impl PasswordDigest {
    /// The digest of `password`.
    pub fn of(password: &str) -> PasswordDigest {
        use sha2::Digest;
        PasswordDigest(sha2::Sha256::digest(password.as_bytes()).into())
    }

    /// Whether `password` matches, comparing digests in constant time.
    pub fn matches(&self, password: &str) -> bool {
        let other = PasswordDigest::of(password);
        self.0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

impl std::fmt::Debug for PasswordDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordDigest(..)")
    }
}

/// A validated `[[smpp_server.account]]`.
#[derive(Clone, Debug)]
pub struct SmppAccount {
    /// `system_id`.
    pub system_id: String,
    /// The password's digest.
    pub password: PasswordDigest,
    /// The API key name.
    pub api_key: String,
}

/// A validated `[[smpp_server.mo_route]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MoRoute {
    /// Digits the destination starts with (after an optional `+`).
    pub prefix: String,
    /// The API key name.
    pub api_key: String,
}

/// The validated `[smpp_server]`.
#[derive(Clone, Debug)]
pub struct SmppServerSettings {
    /// Listen address.
    pub listen: SocketAddr,
    /// Protocol settings.
    pub server: smpp::server::ServerConfig,
    /// Logins.
    pub accounts: Vec<SmppAccount>,
    /// MO routing.
    pub mo_routes: Vec<MoRoute>,
    /// Parts reassembly timeout.
    pub reassembly_timeout: Duration,
}

/// The validated `[notify]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifySettings {
    /// Tries per notification.
    pub max_attempts: u32,
    /// First retry delay.
    pub retry_min: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// How long an owed notification is kept.
    pub retention: Duration,
    /// HTTP timeout.
    pub timeout: Duration,
    /// In flight at once.
    pub concurrency: usize,
}

impl Default for NotifySettings {
    fn default() -> Self {
        validate_notify(&mut V { errors: Vec::new() }, &RawNotify::default())
    }
}

fn validate_smpp_server(v: &mut V, raw: &RawSmppServer) -> SmppServerSettings {
    let listen = raw.listen.parse::<SocketAddr>().unwrap_or_else(|_| {
        v.err(
            "smpp_server.listen",
            format!("{:?} is not an address like 127.0.0.1:2775", raw.listen),
        );
        SocketAddr::from(([127, 0, 0, 1], 2775))
    });
    if raw.system_id.is_empty() || raw.system_id.len() > 15 {
        v.err("smpp_server.system_id", "must be 1–15 characters");
    }
    if !(1..=10_000).contains(&raw.window) {
        v.err("smpp_server.window", "must be 1–10000");
    }
    if !(1..=1_000).contains(&raw.deliver_window) {
        v.err("smpp_server.deliver_window", "must be 1–1000");
    }
    let server = smpp::server::ServerConfig {
        system_id: raw.system_id.clone(),
        window: raw.window.max(1) as usize,
        max_rate: std::num::NonZeroU32::new(raw.max_rate),
        deliver_window: raw.deliver_window.max(1) as usize,
        response_timeout: v.duration("smpp_server.response_timeout", &raw.response_timeout),
        enquire_link_interval: v.duration("smpp_server.enquire_link", &raw.enquire_link),
        ..smpp::server::ServerConfig::default()
    };
    let reassembly_timeout = v.duration("smpp_server.reassembly_timeout", &raw.reassembly_timeout);
    let mut accounts: Vec<SmppAccount> = Vec::new();
    for (i, a) in raw.account.iter().enumerate() {
        let key = format!("smpp_server.account[{i}]");
        if a.system_id.is_empty() || a.system_id.len() > 15 {
            v.err(format!("{key}.system_id"), "must be 1–15 characters");
        } else if accounts.iter().any(|b| b.system_id == a.system_id) {
            v.err(
                format!("{key}.system_id"),
                format!("{:?} is already used by another account", a.system_id),
            );
        }
        if a.api_key.is_empty() {
            v.err(
                format!("{key}.api_key"),
                "is required (the name of an API key)",
            );
        }
        let password = match (&a.password, &a.password_sha256) {
            (Some(p), None) if p.len() <= 8 => Some(PasswordDigest::of(p)),
            (Some(_), None) => {
                v.err(
                    format!("{key}.password"),
                    "SMPP 3.4 passwords have at most 8 characters",
                );
                None
            }
            (None, Some(h)) => match hex_digest(h) {
                Some(d) => Some(PasswordDigest(d)),
                None => {
                    v.err(
                        format!("{key}.password_sha256"),
                        "must be 64 hex digits (the SHA-256 of the password)",
                    );
                    None
                }
            },
            _ => {
                v.err(&key, "give exactly one of `password` or `password_sha256`");
                None
            }
        };
        if let Some(password) = password {
            accounts.push(SmppAccount {
                system_id: a.system_id.clone(),
                password,
                api_key: a.api_key.clone(),
            });
        }
    }
    let mut mo_routes = Vec::new();
    for (i, r) in raw.mo_route.iter().enumerate() {
        let key = format!("smpp_server.mo_route[{i}]");
        let prefix = r.prefix.strip_prefix('+').unwrap_or(&r.prefix);
        if !prefix.chars().all(|c| c.is_ascii_digit()) {
            v.err(format!("{key}.prefix"), "may only contain digits");
        }
        if r.api_key.is_empty() {
            v.err(
                format!("{key}.api_key"),
                "is required (the name of an API key)",
            );
        }
        mo_routes.push(MoRoute {
            prefix: prefix.to_owned(),
            api_key: r.api_key.clone(),
        });
    }
    SmppServerSettings {
        listen,
        server,
        accounts,
        mo_routes,
        reassembly_timeout,
    }
}

fn hex_digest(s: &str) -> Option<[u8; 32]> {
    let s = s.trim();
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn validate_notify(v: &mut V, raw: &RawNotify) -> NotifySettings {
    if !(1..=1000).contains(&raw.max_attempts) {
        v.err("notify.max_attempts", "must be 1–1000");
    }
    if !(1..=10_000).contains(&raw.concurrency) {
        v.err("notify.concurrency", "must be 1–10000");
    }
    let retry_min = v.duration("notify.retry_min", &raw.retry_min);
    let retry_max = v.duration("notify.retry_max", &raw.retry_max);
    if retry_min > retry_max {
        v.err("notify.retry_min", "must not exceed notify.retry_max");
    }
    NotifySettings {
        max_attempts: raw.max_attempts.max(1),
        retry_min,
        retry_max,
        retention: v.duration("notify.retention", &raw.retention),
        timeout: v.duration("notify.timeout", &raw.timeout),
        concurrency: raw.concurrency.max(1) as usize,
    }
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
    fn tls_sources() {
        let tls = |text: &str| RawConfig::parse(text).unwrap().validate().unwrap().tls;
        assert!(tls("").is_none());
        match tls("[service]\ndata_dir = \"/srv/o\"\n[service.tls]\nnames = [\"box.lan\"]") {
            Some(CertSource::SelfSigned { dir, names }) => {
                assert_eq!(
                    (dir, names),
                    (PathBuf::from("/srv/o/tls"), vec!["box.lan".to_owned()])
                );
            }
            other => panic!("{other:?}"),
        }
        match tls("[service.tls]\ncert = \"c.pem\"\nkey = \"k.pem\"") {
            Some(CertSource::Files { cert, key }) => {
                assert_eq!(
                    (cert, key),
                    (PathBuf::from("c.pem"), PathBuf::from("k.pem"))
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn smpp_reconnect_delays() {
        let link = "[[smpp]]\nid = \"s\"\nhost = \"h\"\nport = 1\nsystem_id = \"a\"\n";
        let reconnect = |extra: &str| {
            RawConfig::parse(&format!("{link}{extra}"))
                .unwrap()
                .validate()
                .unwrap()
                .smpp[0]
                .link
                .reconnect
        };
        let r = reconnect("");
        assert_eq!(
            (r.min, r.max),
            (Duration::from_millis(500), Duration::from_secs(30))
        );
        let r = reconnect("reconnect_min = \"100ms\"\nreconnect_max = \"2s\"\n");
        assert_eq!(
            (r.min, r.max),
            (Duration::from_millis(100), Duration::from_secs(2))
        );
        check(
            &format!("{link}reconnect_min = \"1m\"\nreconnect_max = \"5s\"\n"),
            &["smpp[0].reconnect_min: must not exceed reconnect_max"],
        );
        check(
            &format!("{link}reconnect_max = \"later\"\n"),
            &[
                "smpp[0].reconnect_max: \"later\" is not a duration like 30s or 10m (expected number at 0)",
                "smpp[0].reconnect_min: must not exceed reconnect_max",
            ],
        );
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
            "[service.tls]\ncert = \"/etc/outpost/cert.pem\"\nnames = [\"box.lan\"]",
            &["service.tls.key: give the key that goes with service.tls.cert"],
        );
        check(
            "[service.tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\nnames = [\"box.lan\"]",
            &["service.tls.names: only for a self-signed certificate (without cert and key)"],
        );
        check(
            "[service.tls]\nkey = \"k.pem\"",
            &["service.tls.cert: give the certificate that goes with service.tls.key"],
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
    fn smpp_server_and_notify_keys_are_named() {
        check(
            "[smpp_server]\nlisten = \"x\"\nwindow = 0\n\
             [[smpp_server.account]]\nsystem_id = \"crm\"\npassword = \"toolongpw\"\napi_key = \"crm\"\n\
             [[smpp_server.account]]\nsystem_id = \"crm\"\npassword_sha256 = \"abc\"\n\
             [[smpp_server.account]]\nsystem_id = \"erp\"\napi_key = \"erp\"\n\
             [[smpp_server.mo_route]]\nprefix = \"10a\"\napi_key = \"crm\"\n\
             [notify]\nmax_attempts = 0\nretry_min = \"1h\"\nretry_max = \"1m\"",
            &[
                "smpp_server.listen: \"x\" is not an address like 127.0.0.1:2775",
                "smpp_server.window: must be 1–10000",
                "smpp_server.account[0].password: SMPP 3.4 passwords have at most 8 characters",
                "smpp_server.account[1].api_key: is required (the name of an API key)",
                "smpp_server.account[1].password_sha256: must be 64 hex digits (the SHA-256 of the password)",
                "smpp_server.account[2]: give exactly one of `password` or `password_sha256`",
                "smpp_server.mo_route[0].prefix: may only contain digits",
                "notify.max_attempts: must be 1–1000",
                "notify.retry_min: must not exceed notify.retry_max",
            ],
        );
        let config = RawConfig::parse(
            "[smpp_server]\n[[smpp_server.account]]\nsystem_id = \"crm\"\npassword = \"pw1\"\napi_key = \"crm\"\n\
             [[smpp_server.account]]\nsystem_id = \"erp\"\napi_key = \"erp\"\n\
             password_sha256 = \"8d969eef6ecad3c29a3a629280e686cf0c3f5d5a86aff3ca12020c923adc6c92\"",
        )
        .unwrap()
        .validate()
        .unwrap();
        let s = config.smpp_server.unwrap();
        assert!(s.accounts[0].password.matches("pw1"));
        assert!(!s.accounts[0].password.matches("pw2"));
        // SHA-256 of "123456".
        assert!(s.accounts[1].password.matches("123456"));
        // Passwords never show in logs.
        assert!(!format!("{:?}", s.accounts[0]).contains("pw1"));
        assert_eq!(config.notify, NotifySettings::default());
    }

    #[test]
    fn unknown_keys_are_refused_with_their_place() {
        let err = RawConfig::parse("[service]\nlisen = \"x\"").unwrap_err();
        assert!(err.to_string().contains("lisen"), "{err}");
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}
