//! Validation of send requests: every front door (HTTP API, sendsms, SMPP server, web page) turns
//! its input into a [`SendRequest`] and gets back either a message ready to store or a list of
//! [`FieldError`]s naming each bad field.
//!
//! DESIGN "Message lifecycle" step 1: validate (number, length, encoding, sender, schedule), apply
//! the signature, count segments — all before anything is stored.

use std::time::Duration;

use domain::{ApiKeyId, Encoding, Msisdn, NumberPolicy, Priority, UnixMillis};
use gsm::plan::{PlanOptions, plan};
use serde::Serialize;
use store::{NewMessage, Source};

/// Where the enterprise signature goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignaturePosition {
    /// Before the text (Chinese carriers expect 【签名】 first).
    Prefix,
    /// After the text.
    Suffix,
}

/// The enterprise signature added to every message, e.g. `【某某银行】`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    /// The signature text, brackets included.
    pub text: String,
    /// Where it goes.
    pub position: SignaturePosition,
}

impl Signature {
    /// `text` with the signature applied, unless it already carries it in place.
    pub fn apply(&self, text: &str) -> String {
        match self.position {
            SignaturePosition::Prefix if text.starts_with(&self.text) => text.to_owned(),
            SignaturePosition::Suffix if text.ends_with(&self.text) => text.to_owned(),
            SignaturePosition::Prefix => format!("{}{text}", self.text),
            SignaturePosition::Suffix => format!("{text}{}", self.text),
        }
    }
}

/// Rules for accepting messages.
#[derive(Clone, Debug)]
pub struct AcceptConfig {
    /// How phone numbers are read.
    pub numbers: NumberPolicy,
    /// Signature added to every message (unless a request opts out where allowed).
    pub signature: Option<Signature>,
    /// Most parts one message may have.
    pub max_parts: u8,
    /// Validity when a request gives none.
    pub default_validity: Duration,
    /// Longest validity accepted.
    pub max_validity: Duration,
    /// How far ahead `send_at` may be.
    pub max_schedule_ahead: Duration,
}

impl Default for AcceptConfig {
    fn default() -> Self {
        AcceptConfig {
            numbers: NumberPolicy::china(),
            signature: None,
            max_parts: 10,
            default_validity: Duration::from_secs(48 * 3600),
            max_validity: Duration::from_secs(7 * 86_400),
            max_schedule_ahead: Duration::from_secs(366 * 86_400),
        }
    }
}

/// A request to send one message, as any front door received it (not yet validated).
#[derive(Clone, Debug, Default)]
pub struct SendRequest {
    /// Destination as written.
    pub to: String,
    /// Text (without the signature).
    pub text: String,
    /// Sender id: up to 20 digits, or up to 11 alphanumeric GSM characters.
    pub sender: Option<String>,
    /// 0–9, default 5.
    pub priority: Option<u8>,
    /// Do not send before.
    pub send_at: Option<UnixMillis>,
    /// Give up after this long (from the send time).
    pub validity: Option<Duration>,
    /// The client wants a delivery report callback.
    pub report: bool,
    /// The client's own reference.
    pub client_ref: Option<String>,
    /// Idempotency key (per API key).
    pub idempotency_key: Option<String>,
    /// Kannel-style callback URL.
    pub dlr_url: Option<String>,
    /// Kannel-style DLR mask.
    pub dlr_mask: Option<u8>,
}

/// One problem with one field of a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field, as the client named it (`to`, `messages[3].text`).
    pub field: String,
    /// A stable machine-readable code (`invalid_number`, `too_long`, ...).
    pub code: &'static str,
    /// A sentence for people.
    pub message: String,
}

impl FieldError {
    fn new(field: &str, code: &'static str, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.to_owned(),
            code,
            message: message.into(),
        }
    }

    /// The same error for a field nested under `prefix` (`messages[3]`).
    pub fn within(mut self, prefix: &str) -> FieldError {
        self.field = format!("{prefix}.{}", self.field);
        self
    }
}

/// Validates `req` under `config`; on success the message is ready for the store.
pub fn validate(
    req: &SendRequest,
    config: &AcceptConfig,
    api_key: Option<ApiKeyId>,
    source: Source,
    now: UnixMillis,
) -> Result<NewMessage, Vec<FieldError>> {
    let mut errors = Vec::new();
    let to = match Msisdn::parse(&req.to, &config.numbers) {
        Ok(m) => Some(m),
        Err(e) => {
            errors.push(FieldError::new(
                "to",
                "invalid_number",
                format!("{:?} {e}", req.to),
            ));
            None
        }
    };
    let body = match &config.signature {
        Some(sig) => sig.apply(&req.text),
        None => req.text.clone(),
    };
    let mut encoding = Encoding::Gsm7;
    let mut parts = 0u16;
    if req.text.trim().is_empty() {
        errors.push(FieldError::new("text", "empty", "text must not be empty"));
    } else if let Some(c) = req.text.chars().find(|c| *c == '\0') {
        errors.push(FieldError::new(
            "text",
            "invalid_character",
            format!("text contains {c:?}"),
        ));
    } else {
        let options = PlanOptions {
            max_parts: config.max_parts,
            ..PlanOptions::default()
        };
        match plan(&body, &options) {
            Ok(p) => {
                encoding = match p.encoding {
                    gsm::plan::Encoding::Gsm7 => Encoding::Gsm7,
                    gsm::plan::Encoding::Ucs2 => Encoding::Ucs2,
                };
                parts = p.parts as u16;
            }
            Err(e) => errors.push(FieldError::new(
                "text",
                "too_long",
                format!(
                    "{e} (at most {} parts; the signature counts too)",
                    config.max_parts
                ),
            )),
        }
    }
    if let Some(sender) = &req.sender
        && let Err(why) = check_sender(sender)
    {
        errors.push(FieldError::new("sender", "invalid_sender", why));
    }
    let priority = match req.priority {
        None => Priority::NORMAL,
        Some(p) => Priority::new(p).unwrap_or_else(|| {
            errors.push(FieldError::new(
                "priority",
                "out_of_range",
                format!("priority must be 0–9, not {p}"),
            ));
            Priority::NORMAL
        }),
    };
    let start = match req.send_at {
        Some(t) if t > now.plus(config.max_schedule_ahead) => {
            errors.push(FieldError::new(
                "send_at",
                "too_far_ahead",
                format!(
                    "send_at may be at most {} days ahead",
                    config.max_schedule_ahead.as_secs() / 86_400
                ),
            ));
            now
        }
        // A time in the past means "now".
        Some(t) => t.max(now),
        None => now,
    };
    let validity = req.validity.unwrap_or(config.default_validity);
    if validity < Duration::from_secs(60) || validity > config.max_validity {
        errors.push(FieldError::new(
            "validity",
            "out_of_range",
            format!(
                "validity must be between 60 s and {} s",
                config.max_validity.as_secs()
            ),
        ));
    }
    check_len(&mut errors, "client_ref", req.client_ref.as_deref(), 64);
    check_len(
        &mut errors,
        "idempotency_key",
        req.idempotency_key.as_deref(),
        128,
    );
    if let Some(url) = &req.dlr_url {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            errors.push(FieldError::new(
                "dlr_url",
                "invalid_url",
                "dlr_url must be an http:// or https:// URL",
            ));
        }
        check_len(&mut errors, "dlr_url", Some(url), 2048);
    }
    match (to, errors.is_empty()) {
        (Some(to), true) => Ok(NewMessage {
            api_key,
            source,
            client_ref: req.client_ref.clone(),
            idempotency_key: req.idempotency_key.clone(),
            to,
            sender: req.sender.clone(),
            body,
            encoding,
            parts,
            priority,
            not_before: req.send_at.map(|_| start),
            expires_at: Some(start.plus(validity)),
            report: req.report,
            dlr_url: req.dlr_url.clone(),
            dlr_mask: req.dlr_mask,
            created_at: now,
        }),
        _ => Err(errors),
    }
}

fn check_len(errors: &mut Vec<FieldError>, field: &str, value: Option<&str>, max: usize) {
    if let Some(v) = value
        && v.chars().count() > max
    {
        errors.push(FieldError::new(
            field,
            "too_long",
            format!("{field} must be at most {max} characters"),
        ));
    }
}

/// A sender id is a number (up to 20 digits, optional `+`) or an alphanumeric name of up to 11
/// GSM 7-bit characters (TS 23.040 9.1.2.5: an alphanumeric TP-OA holds 11 septets).
fn check_sender(sender: &str) -> Result<(), String> {
    let digits = sender.strip_prefix('+').unwrap_or(sender);
    if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
        return if digits.len() <= 20 {
            Ok(())
        } else {
            Err("a numeric sender has at most 20 digits".into())
        };
    }
    if sender.is_empty() {
        return Err("sender must not be empty".into());
    }
    match gsm::gsm7::count_septets(sender) {
        Ok(n) if n <= 11 => Ok(()),
        Ok(_) => Err("an alphanumeric sender has at most 11 characters".into()),
        Err(_) => Err("an alphanumeric sender may only use GSM 7-bit characters".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: UnixMillis = UnixMillis(1_700_000_000_000);

    fn check(req: SendRequest, expect: &str) {
        let config = AcceptConfig {
            signature: Some(Signature {
                text: "【某某银行】".into(),
                position: SignaturePosition::Prefix,
            }),
            ..AcceptConfig::default()
        };
        let got = match validate(&req, &config, None, Source::Http, NOW) {
            Ok(m) => format!(
                "ok {} {:?} {} part(s) {:?} p{} nb={:?} exp+{}s",
                m.to,
                m.body,
                m.parts,
                m.encoding,
                m.priority.get(),
                m.not_before.map(|t| t.0 - NOW.0),
                m.expires_at.map_or(0, |t| (t.0 - NOW.0) / 1000)
            ),
            Err(errs) => errs
                .iter()
                .map(|e| format!("{}:{}", e.field, e.code))
                .collect::<Vec<_>>()
                .join(" "),
        };
        assert_eq!(got, expect);
    }

    fn req(to: &str, text: &str) -> SendRequest {
        SendRequest {
            to: to.into(),
            text: text.into(),
            ..SendRequest::default()
        }
    }

    #[test]
    fn valid_requests() {
        check(
            req("13800138000", "您的验证码是 1234"),
            "ok +8613800138000 \"【某某银行】您的验证码是 1234\" 1 part(s) Ucs2 p5 nb=None exp+172800s",
        );
        // The signature is not added twice.
        check(
            req("+8613800138000", "【某某银行】hi"),
            "ok +8613800138000 \"【某某银行】hi\" 1 part(s) Ucs2 p5 nb=None exp+172800s",
        );
        let mut r = req("13800138000", &"中".repeat(70));
        r.priority = Some(9);
        r.send_at = Some(UnixMillis(NOW.0 + 60_000));
        r.validity = Some(Duration::from_secs(3600));
        check(
            r,
            &format!(
                "ok +8613800138000 \"【某某银行】{}\" 2 part(s) Ucs2 p9 nb=Some(60000) exp+3660s",
                "中".repeat(70)
            ),
        );
        // A send time in the past means now.
        let mut r = req("13800138000", "x");
        r.send_at = Some(UnixMillis(NOW.0 - 60_000));
        check(
            r,
            "ok +8613800138000 \"【某某银行】x\" 1 part(s) Ucs2 p5 nb=Some(0) exp+172800s",
        );
    }

    #[test]
    fn every_bad_field_is_named() {
        check(req("12345", ""), "to:invalid_number text:empty");
        check(req("13800138000", "a\0b"), "text:invalid_character");
        check(req("13800138000", &"中".repeat(700)), "text:too_long");
        let mut r = req("13800138000", "x");
        r.priority = Some(10);
        r.sender = Some("ThisIsTooLongASender".into());
        r.validity = Some(Duration::from_secs(10));
        r.send_at = Some(UnixMillis(NOW.0 + 400 * 86_400_000));
        r.dlr_url = Some("ftp://x".into());
        r.client_ref = Some("r".repeat(65));
        check(
            r,
            "sender:invalid_sender priority:out_of_range send_at:too_far_ahead \
             validity:out_of_range client_ref:too_long dlr_url:invalid_url",
        );
    }

    #[test]
    fn sender_rules() {
        assert!(check_sender("10690001").is_ok());
        assert!(check_sender("+8613800138000").is_ok());
        assert!(check_sender("MyBank").is_ok());
        assert!(check_sender("ABCDEFGHIJK").is_ok());
        assert!(check_sender("ABCDEFGHIJKL").is_err());
        assert!(check_sender("银行").is_err());
        assert!(check_sender("").is_err());
        assert!(check_sender(&"1".repeat(21)).is_err());
    }

    #[test]
    fn suffix_signature() {
        let s = Signature {
            text: " -- ACME".into(),
            position: SignaturePosition::Suffix,
        };
        assert_eq!(s.apply("hi"), "hi -- ACME");
        assert_eq!(s.apply("hi -- ACME"), "hi -- ACME");
    }
}
