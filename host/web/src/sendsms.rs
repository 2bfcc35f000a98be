//! Kannel-compatible `GET/POST /cgi-bin/sendsms` (DESIGN "Interfaces"), so branch software written
//! for Kannel's smsbox works unchanged: the same parameters, the same checks in the same order, and
//! the same status codes and reply texts, word for word (Kannel 1.4.x `gw/smsbox.c`:
//! `smsbox_req_sendsms`, `smsbox_sendsms_post`, `smsbox_req_handle`, `delayed_http_reply`).
//!
//! Invariant kept here: a message is stored before the client hears `202 0: Accepted for
//! delivery` (Kannel answers after its bearerbox queued the message in memory; Outpost after the
//! store committed it). A store that cannot take writes answers `503 Temporal failure, try again
//! later.` and nothing is accepted. The engine knows nothing of HTTP: this module turns the request
//! into [`SendRequest`]s or long-message parts ([`NewFragment`]) and the engine's answers into
//! Kannel's replies.
//!
//! Parameters (GET query, or an `application/x-www-form-urlencoded` POST body, or Kannel's raw POST
//! with the text as body and the rest in `X-Kannel-*` headers): `username`/`user` (the API key's
//! name), `password`/`pass` (the API key's secret), `from`, `to` (several numbers separated by
//! spaces), `text` (URL-encoded *bytes*), `charset`, `coding` (0 7-bit, 1 8-bit, 2 UCS-2), `udh`
//! (URL-encoded binary; a concatenation element makes the request one part of a long message),
//! `dlr-mask`, `dlr-url`, `smsc` (a carrier id: one directed attempt on it), `validity` and
//! `deferred` (minutes), `priority` (0–3). `mclass`, `mwi`, `compress`, `pid`, `rpi` and
//! `alt-dcs` are range-checked as Kannel does and otherwise not used; `account`, `binfo` and
//! `meta-data` are ignored.

use std::borrow::Cow;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use domain::{Msisdn, UnixMillis};
use engine::{Engine, FieldError, SendRequest, SubmitError};
use store::{ApiKey, FragmentEncoding, FragmentRequest, NewFragment, Source};

use crate::AppState;

/// Kannel's reply texts (`gw/smsbox.c`), kept verbatim: client software compares them.
pub mod reply {
    /// 202: stored (Kannel: the bearerbox acknowledged the message).
    pub const ACCEPTED: &str = "0: Accepted for delivery";
    /// 403: no such user, or the wrong password.
    pub const AUTH_FAILED: &str = "Authorization failed for sendsms";
    /// 400: no `to` (GET and form POST).
    pub const MISSING_RECEIVER: &str = "Missing receiver number, rejected";
    /// 400: no `X-Kannel-To` (raw POST).
    pub const MISSING_RECEIVERS: &str = "Missing receiver(s) number(s), rejected";
    /// 400: `to=` with nothing in it.
    pub const EMPTY_RECEIVER: &str = "Empty receiver number not allowed, rejected";
    /// 400: the UDH length octet does not match the UDH.
    pub const UDH_MISFORMED: &str = "UDH field misformed, rejected";
    /// 400: a UDH longer than an SMS.
    pub const UDH_TOO_LONG: &str = "UDH field is too long, rejected";
    /// 400: every receiver was refused (characters outside `0123456789 +-`, or not a number).
    pub const DENIED: &str = "Number(s) has/have been denied by white- and/or black-lists.";
    /// 400: `dlr-url` is not an http(s) URL.
    pub const DLR_URL_MISFORMED: &str = "DLR-URL field misformed, rejected";
    /// 400: `dlr-mask` outside 0–63.
    pub const DLR_MASK_MISFORMED: &str = "DLR-Mask field misformed, rejected";
    /// 400: `mclass` outside 0–3.
    pub const MCLASS_MISFORMED: &str = "MClass field misformed, rejected";
    /// 400: `pid` outside 0–255.
    pub const PID_MISFORMED: &str = "PID field misformed, rejected";
    /// 400: `rpi` outside 0–2.
    pub const RPI_MISFORMED: &str = "RPI field misformed, rejected";
    /// 400: `alt-dcs` outside 0–1.
    pub const ALT_DCS_MISFORMED: &str = "Alt-DCS field misformed, rejected";
    /// 400: `mwi` outside 0–7.
    pub const MWI_MISFORMED: &str = "MWI field misformed, rejected";
    /// 400: `coding` outside 0–2.
    pub const CODING_MISFORMED: &str = "Coding field misformed, rejected";
    /// 400: `compress` outside 0–1.
    pub const COMPRESS_MISFORMED: &str = "Compress field misformed, rejected";
    /// 400: `validity` negative (or, in Outpost, outside the configured range).
    pub const VALIDITY_MISFORMED: &str = "Validity field misformed, rejected";
    /// 400: `deferred` negative (or, in Outpost, too far ahead).
    pub const DEFERRED_MISFORMED: &str = "Deferred field misformed, rejected";
    /// 400: `priority` outside 0–3.
    pub const PRIORITY_MISFORMED: &str = "Priority field misformed, rejected";
    /// 400: the text does not decode in its charset, or the charset is unknown.
    pub const CHARSET_MISFORMED: &str = "Charset or body misformed, rejected";
    /// 403: `smsc` names no carrier (Kannel: the bearerbox found no route).
    pub const NOT_ROUTABLE: &str = "Not routable. Do not try again.";
    /// 503: the store cannot take writes, or the service is stopping; nothing was accepted.
    pub const TEMPORAL_FAILURE: &str = "Temporal failure, try again later.";
    /// 500: some receivers of a multi-receiver request were stored, then the store failed.
    pub const SENDING_FAILED: &str = "Sending failed.";
    /// 400: a raw POST whose content type is not one Kannel knows.
    pub const INVALID_CONTENT_TYPE: &str = "Invalid content-type";
    /// 415: a raw POST in a content type Kannel knows but Outpost does not take (HTML, WML, XML).
    pub const UNSUPPORTED_CONTENT_TYPE: &str = "Unsupported content-type, rejected";
}

/// The characters Kannel's `sendsms-chars` allows in receivers by default.
const NUMBER_CHARS: &[u8] = b"0123456789 +-";
/// Most octets in one SMS, so the longest UDH Kannel accepts.
const MAX_SMS_OCTETS: usize = 140;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/cgi-bin/sendsms", get(sendsms_get).post(sendsms_post))
}

/// A reply in Kannel's shape: `text/html` with no-cache headers and the text as the whole body.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Reply {
    status: StatusCode,
    text: Cow<'static, str>,
}

impl Reply {
    fn new(status: StatusCode, text: impl Into<Cow<'static, str>>) -> Reply {
        Reply {
            status,
            text: text.into(),
        }
    }

    fn bad(text: impl Into<Cow<'static, str>>) -> Reply {
        Reply::new(StatusCode::BAD_REQUEST, text)
    }

    fn temporal() -> Reply {
        Reply::new(StatusCode::SERVICE_UNAVAILABLE, reply::TEMPORAL_FAILURE)
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut resp = (self.status, self.text.into_owned()).into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            h.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        resp
    }
}

/// The request's parameters, as Kannel reads them. Numbers follow C's `sscanf("%d")`: a value that
/// does not start with a number is absent, and `-1` means absent (`SMS_PARAM_UNDEFINED`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Params {
    user: Option<String>,
    pass: Option<String>,
    from: Option<String>,
    to: Option<String>,
    text: Option<Vec<u8>>,
    charset: Option<String>,
    udh: Option<Vec<u8>>,
    smsc: Option<String>,
    dlr_url: Option<String>,
    dlr_mask: Option<i64>,
    coding: Option<i64>,
    validity: Option<i64>,
    deferred: Option<i64>,
    priority: Option<i64>,
    mclass: Option<i64>,
    mwi: Option<i64>,
    compress: Option<i64>,
    pid: Option<i64>,
    rpi: Option<i64>,
    alt_dcs: Option<i64>,
    /// A raw POST (Kannel words its missing-receiver reply differently there).
    raw_post: bool,
    /// A raw POST in HTML/WML/XML: refused after authentication, as Kannel does.
    unsupported_type: bool,
}

impl Params {
    /// From `name=value` pairs (query or form body); the first occurrence of a name wins, as with
    /// Kannel's `http_cgi_variable`.
    fn from_pairs(pairs: &[(String, Vec<u8>)]) -> Params {
        let raw = |names: &[&str]| -> Option<&[u8]> {
            names.iter().find_map(|n| {
                pairs
                    .iter()
                    .find(|(k, _)| k == n)
                    .map(|(_, v)| v.as_slice())
            })
        };
        let s = |names: &[&str]| raw(names).map(|v| String::from_utf8_lossy(v).into_owned());
        let n = |names: &[&str]| raw(names).and_then(scan_int);
        Params {
            user: s(&["username", "user"]),
            pass: s(&["password", "pass"]),
            from: s(&["from"]),
            to: s(&["to"]),
            text: raw(&["text"]).map(<[u8]>::to_vec),
            charset: s(&["charset"]),
            udh: raw(&["udh"]).map(<[u8]>::to_vec),
            smsc: s(&["smsc"]),
            // Kannel still reads the deprecated spellings without the dash.
            dlr_url: s(&["dlr-url", "dlrurl"]),
            dlr_mask: n(&["dlr-mask", "dlrmask"]),
            coding: n(&["coding"]),
            validity: n(&["validity"]),
            deferred: n(&["deferred"]),
            priority: n(&["priority"]),
            mclass: n(&["mclass"]),
            mwi: n(&["mwi"]),
            compress: n(&["compress"]),
            pid: n(&["pid"]),
            rpi: n(&["rpi"]),
            alt_dcs: n(&["alt-dcs"]),
            raw_post: false,
            unsupported_type: false,
        }
    }

    /// From Kannel's raw POST: the body is the text, everything else is in `X-Kannel-*` headers
    /// (values stripped of blanks), the charset in `Content-Type`.
    fn from_headers(headers: &HeaderMap, body: &[u8], charset: Option<String>) -> Params {
        let raw = |name: &str| {
            headers
                .get(name)
                .map(|v| v.as_bytes().trim_ascii().to_vec())
        };
        let s = |name: &str| raw(name).map(|v| String::from_utf8_lossy(&v).into_owned());
        let n = |name: &str| raw(name).as_deref().and_then(scan_int);
        // X-Kannel-UDH is hex; Kannel falls back to URL-decoding it.
        let udh = raw("x-kannel-udh").map(|v| hex::decode(&v).unwrap_or_else(|_| url_decode(&v)));
        Params {
            user: s("x-kannel-username"),
            pass: s("x-kannel-password"),
            from: s("x-kannel-from"),
            to: s("x-kannel-to"),
            text: Some(body.to_vec()),
            charset,
            udh,
            smsc: s("x-kannel-smsc"),
            dlr_url: s("x-kannel-dlr-url"),
            dlr_mask: n("x-kannel-dlr-mask"),
            coding: n("x-kannel-coding"),
            validity: n("x-kannel-validity"),
            deferred: n("x-kannel-deferred"),
            priority: n("x-kannel-priority"),
            mclass: n("x-kannel-mclass"),
            mwi: n("x-kannel-mwi"),
            compress: n("x-kannel-compress"),
            pid: n("x-kannel-pid"),
            rpi: n("x-kannel-rpi"),
            alt_dcs: n("x-kannel-alt-dcs"),
            raw_post: true,
            unsupported_type: false,
        }
    }
}

/// C's `sscanf(s, "%d", &v)` as Kannel uses it: optional blanks and sign, then digits up to the
/// first non-digit. No digits, or `-1`, is "not given". Overlong numbers saturate (so they fail
/// the range checks instead of wrapping).
fn scan_int(v: &[u8]) -> Option<i64> {
    let v = v.trim_ascii_start();
    let (negative, digits) = match v.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, v),
    };
    let digits: Vec<u8> = digits
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .copied()
        .collect();
    if digits.is_empty() {
        return None;
    }
    let magnitude = digits.iter().fold(0i64, |acc, d| {
        acc.saturating_mul(10).saturating_add(i64::from(d - b'0'))
    });
    let value = if negative { -magnitude } else { magnitude };
    (value != -1).then_some(value)
}

/// Decodes `application/x-www-form-urlencoded` octets: `+` is a space, `%XX` an octet, anything
/// else itself (a stray `%` stays, as lenient decoders keep it). The result is bytes, not text:
/// Kannel's `text` is URL-encoded bytes in whatever `charset` says.
fn url_decode(s: &[u8]) -> Vec<u8> {
    let hex = |b: Option<&u8>| b.and_then(|b| char::from(*b).to_digit(16));
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        match b {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => match (hex(s.get(i + 1)), hex(s.get(i + 2))) {
                (Some(hi), Some(lo)) => {
                    // Two hex digits are at most 0xFF.
                    out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// The `name=value` pairs of a query string or form body; names as (lossy) text, values as bytes.
fn parse_pairs(s: &[u8]) -> Vec<(String, Vec<u8>)> {
    s.split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = match p.iter().position(|&b| b == b'=') {
                Some(i) => (p.get(..i).unwrap_or(&[]), p.get(i + 1..).unwrap_or(&[])),
                None => (p, &[][..]),
            };
            (
                String::from_utf8_lossy(&url_decode(k)).into_owned(),
                url_decode(v),
            )
        })
        .collect()
}

/// The media type (lower case) and `charset` parameter of `Content-Type`.
fn content_type(headers: &HeaderMap) -> (String, Option<String>) {
    let Some(v) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return (String::new(), None);
    };
    let mut parts = v.split(';');
    let mime = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let charset = parts.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().trim_matches('"').to_owned())
    });
    (mime, charset)
}

async fn sendsms_get(State(state): State<AppState>, RawQuery(query): RawQuery) -> Reply {
    let pairs = parse_pairs(query.as_deref().unwrap_or("").as_bytes());
    handle(&state.engine, Params::from_pairs(&pairs)).await
}

async fn sendsms_post(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let query = parse_pairs(query.as_deref().unwrap_or("").as_bytes());
    // Kannel treats a POST without a body as a GET.
    if body.is_empty() {
        return handle(&state.engine, Params::from_pairs(&query)).await;
    }
    let (mime, charset) = content_type(&headers);
    let params = match mime.as_str() {
        // An Outpost extension (Kannel 1.4 answers "Invalid content-type"): an HTML form or a
        // script's form POST carries the GET parameters in the body. Body values win over the
        // query's.
        "application/x-www-form-urlencoded" => {
            let mut pairs = parse_pairs(&body);
            pairs.extend(query);
            Params::from_pairs(&pairs)
        }
        "text/plain" | "application/octet-stream" => {
            let mut p = Params::from_headers(&headers, &body, charset);
            // Kannel: octet-stream defaults to 8-bit, text/plain to 7-bit.
            if p.coding.is_none() {
                p.coding = Some(if mime == "text/plain" { 0 } else { 1 });
            }
            p
        }
        "text/html" | "text/vnd.wap.wml" | "text/xml" => {
            let mut p = Params::from_headers(&headers, &body, charset);
            p.unsupported_type = true;
            p
        }
        _ => return Reply::bad(reply::INVALID_CONTENT_TYPE),
    };
    handle(&state.engine, params).await
}

/// What the request becomes once every check passed.
struct Checked {
    key: ApiKey,
    receivers: Vec<String>,
    body: Body,
    concat: Option<gsm::udh::Concat>,
    smsc: Option<String>,
    request: SendRequest,
}

/// The decoded text of a request.
enum Body {
    /// Whole text.
    Text(String),
    /// Octets of one part of a long message, decoded only once all parts are here (so a
    /// character split across parts survives).
    Octets(FragmentEncoding, Vec<u8>),
}

/// Runs Kannel's checks in Kannel's order, then stores the message(s).
async fn handle(engine: &Engine, p: Params) -> Reply {
    let checked = match check(engine, p).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let user = checked.key.name.clone();
    let n = checked.receivers.len();
    let r = submit(engine, checked).await;
    if r.status == StatusCode::ACCEPTED {
        tracing::debug!(user = %user, receivers = n, "sendsms accepted");
    } else {
        tracing::info!(user = %user, status = %r.status, reply = %r.text, "sendsms refused");
    }
    r
}

async fn check(engine: &Engine, p: Params) -> Result<Checked, Reply> {
    // Authentication first: username is the API key's name, password its secret.
    let key = match (&p.user, &p.pass) {
        (Some(user), Some(pass)) if !pass.is_empty() => match engine.authenticate(pass).await {
            Ok(Some(key)) if key.name == *user => key,
            Ok(_) => return Err(Reply::new(StatusCode::FORBIDDEN, reply::AUTH_FAILED)),
            Err(e) => {
                tracing::error!(error = %e, "sendsms: key lookup failed");
                return Err(Reply::temporal());
            }
        },
        _ => return Err(Reply::new(StatusCode::FORBIDDEN, reply::AUTH_FAILED)),
    };
    let Some(to) = &p.to else {
        return Err(Reply::bad(if p.raw_post {
            reply::MISSING_RECEIVERS
        } else {
            reply::MISSING_RECEIVER
        }));
    };
    if to.is_empty() {
        return Err(Reply::bad(reply::EMPTY_RECEIVER));
    }
    if p.unsupported_type {
        return Err(Reply::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            reply::UNSUPPORTED_CONTENT_TYPE,
        ));
    }
    // The UDH length octet must match the UDH (Kannel checks this against buffer overflows).
    let concat = match p.udh.as_deref() {
        None | Some([]) => None,
        Some(udh) => Some(concat_of(udh)?),
    }
    .flatten();
    let receivers = receivers(engine, to, concat.is_some())?;
    if let Some(url) = p.dlr_url.as_deref().filter(|u| !u.is_empty()) {
        let scheme = |s: &str| {
            url.get(..s.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(s))
        };
        if url.len() < 8 || !(scheme("http://") || scheme("https://")) {
            return Err(Reply::bad(reply::DLR_URL_MISFORMED));
        }
    }
    // Kannel's range checks, in its order; absent is always fine.
    let ranges: [(Option<i64>, i64, &'static str); 7] = [
        (p.dlr_mask, 63, reply::DLR_MASK_MISFORMED),
        (p.mclass, 3, reply::MCLASS_MISFORMED),
        (p.pid, 255, reply::PID_MISFORMED),
        (p.rpi, 2, reply::RPI_MISFORMED),
        (p.alt_dcs, 1, reply::ALT_DCS_MISFORMED),
        (p.mwi, 7, reply::MWI_MISFORMED),
        (p.coding, 2, reply::CODING_MISFORMED),
    ];
    for (value, max, text) in ranges {
        if value.is_some_and(|v| !(0..=max).contains(&v)) {
            return Err(Reply::bad(text));
        }
    }
    if p.compress.is_some_and(|v| !(0..=1).contains(&v)) {
        return Err(Reply::bad(reply::COMPRESS_MISFORMED));
    }
    // Kannel's compatibility mode: no coding means 8-bit when there is a UDH, else 7-bit.
    let coding = p
        .coding
        .unwrap_or(if p.udh.as_ref().is_some_and(|u| !u.is_empty()) {
            1
        } else {
            0
        });
    let validity = match p.validity {
        Some(v) if v < 0 => return Err(Reply::bad(reply::VALIDITY_MISFORMED)),
        Some(minutes) => Some(
            u64::try_from(minutes)
                .ok()
                .and_then(|m| m.checked_mul(60))
                .map(Duration::from_secs)
                .ok_or_else(|| Reply::bad(reply::VALIDITY_MISFORMED))?,
        ),
        None => None,
    };
    let send_at = match p.deferred {
        Some(v) if v < 0 => return Err(Reply::bad(reply::DEFERRED_MISFORMED)),
        Some(minutes) => Some(
            minutes
                .checked_mul(60_000)
                .and_then(|ms| UnixMillis::now().0.checked_add(ms))
                .map(UnixMillis)
                .ok_or_else(|| Reply::bad(reply::DEFERRED_MISFORMED))?,
        ),
        None => None,
    };
    // Kannel 0 (lowest) … 3 (highest) onto Outpost's 0–9, as the SMPP server maps priority_flag.
    let priority = match p.priority {
        None | Some(0) => None,
        Some(1) => Some(6),
        Some(2) => Some(7),
        Some(3) => Some(9),
        Some(_) => return Err(Reply::bad(reply::PRIORITY_MISFORMED)),
    };
    let smsc = p.smsc.filter(|s| !s.is_empty());
    if let Some(id) = &smsc {
        if engine.carrier(id).is_none() {
            return Err(Reply::new(StatusCode::FORBIDDEN, reply::NOT_ROUTABLE));
        }
        if concat.is_some() {
            // A long message sent part by part is reassembled and scheduled as one message;
            // directing it to one carrier is not supported.
            return Err(Reply::bad(
                "smsc cannot be combined with a concatenation UDH, rejected",
            ));
        }
    }
    let body = decode_body(
        p.text.as_deref().unwrap_or(&[]),
        p.charset.as_deref(),
        coding,
        concat.is_some(),
    )
    .ok_or_else(|| Reply::bad(reply::CHARSET_MISFORMED))?;
    let dlr_url = p.dlr_url.filter(|u| !u.is_empty());
    let dlr_mask = p
        .dlr_mask
        .and_then(|m| u8::try_from(m).ok())
        .filter(|&m| m != 0);
    let request = SendRequest {
        to: String::new(),
        text: match &body {
            Body::Text(t) => t.clone(),
            Body::Octets(..) => String::new(),
        },
        sender: p.from.filter(|f| !f.is_empty()),
        priority,
        send_at,
        validity,
        // Kannel asks the SMSC for a receipt when the mask wants delivered or failed (1 | 2).
        report: dlr_mask.is_some_and(|m| m & 3 != 0),
        client_ref: None,
        idempotency_key: None,
        dlr_url,
        dlr_mask,
    };
    Ok(Checked {
        key,
        receivers,
        body,
        concat,
        smsc,
        request,
    })
}

/// Checks a UDH (UDHL first) and returns its concatenation element, if it makes the request part
/// of a long message (a "concatenation" of one part is just a message).
fn concat_of(udh: &[u8]) -> Result<Option<gsm::udh::Concat>, Reply> {
    let Some((&udhl, ies)) = udh.split_first() else {
        return Ok(None);
    };
    if usize::from(udhl) != ies.len() {
        return Err(Reply::bad(reply::UDH_MISFORMED));
    }
    if udh.len() > MAX_SMS_OCTETS {
        return Err(Reply::bad(reply::UDH_TOO_LONG));
    }
    let parsed = gsm::udh::Udh::parse(ies).map_err(|_| Reply::bad(reply::UDH_MISFORMED))?;
    match parsed.concat() {
        // Outpost carries text, so a UDH is only a way to send a long message in parts: ports
        // (WAP push, ringtones) or other elements cannot be honoured, and are refused rather than
        // dropped.
        Some(c) if parsed.ports().is_none() => Ok((c.total > 1).then_some(c)),
        _ => Err(Reply::bad(
            "UDH other than concatenation is not supported, rejected",
        )),
    }
}

/// The receivers in `to`: split on blanks, duplicates dropped, each checked against Kannel's
/// default `sendsms-chars` and then against Outpost's number rules. Refused ones are logged and
/// skipped (Kannel's "denied receivers"); if none is left the request is refused.
///
/// A lone receiver of a whole message is left to the engine's validation (its `to` error is
/// answered with the same "denied" text), which spares parsing the number twice on the hot path;
/// a part of a long message is checked here, so a bad number is refused on the first part rather
/// than after the last.
fn receivers(engine: &Engine, to: &str, part: bool) -> Result<Vec<String>, Reply> {
    // The accept rules in force now (the settings page may have changed the default country).
    let accept = engine.accept_config();
    let policy = &accept.numbers;
    let allowed = |r: &str| r.bytes().all(|b| NUMBER_CHARS.contains(&b));
    let mut words = to.split_ascii_whitespace();
    if let (Some(r), None, false) = (words.next(), words.next(), part) {
        return if allowed(r) {
            Ok(vec![r.to_owned()])
        } else {
            tracing::info!(receiver = %r, "sendsms: receiver denied");
            Err(Reply::bad(reply::DENIED))
        };
    }
    let mut out: Vec<String> = Vec::new();
    let mut seen: Vec<Msisdn> = Vec::new();
    for r in to.split_ascii_whitespace() {
        let number = allowed(r).then(|| Msisdn::parse(r, policy).ok()).flatten();
        match number {
            // The same number written twice (`138…` and `+86138…`) is sent once.
            Some(n) if seen.contains(&n) => {}
            Some(n) => {
                seen.push(n);
                out.push(r.to_owned());
            }
            None => tracing::info!(receiver = %r, "sendsms: receiver denied"),
        }
    }
    if out.is_empty() {
        return Err(Reply::bad(reply::DENIED));
    }
    Ok(out)
}

/// Decodes the text octets per Kannel's `coding` and `charset` (`charset_processing`): 7-bit text
/// is in `charset` (UTF-8 when absent), UCS-2 text in `charset` (UTF-16BE when absent), 8-bit data
/// is taken as ISO-8859-1 text. `None` when the octets do not decode or the charset is unknown.
fn decode_body(octets: &[u8], charset: Option<&str>, coding: i64, part: bool) -> Option<Body> {
    let charset = charset.map(str::trim).filter(|c| !c.is_empty());
    let text = match (coding, charset) {
        (1, _) => {
            return Some(if part {
                Body::Octets(FragmentEncoding::Latin1, octets.to_vec())
            } else {
                Body::Text(octets.iter().map(|&b| char::from(b)).collect())
            });
        }
        (2, None) => {
            if !octets.len().is_multiple_of(2) {
                return None;
            }
            if part {
                return Some(Body::Octets(FragmentEncoding::Ucs2, octets.to_vec()));
            }
            decode_charset(octets, "UTF-16BE")?
        }
        (0, None) if part => return Some(Body::Octets(FragmentEncoding::Utf8, octets.to_vec())),
        (_, None) => std::str::from_utf8(octets).ok()?.to_owned(),
        (_, Some(cs)) => decode_charset(octets, cs)?,
    };
    Some(if part {
        Body::Octets(FragmentEncoding::Utf8, text.into_bytes())
    } else {
        Body::Text(text)
    })
}

/// Decodes `octets` in the charset Kannel would hand to iconv. WHATWG labels via `encoding_rs`
/// (UTF-8, ISO-8859-x, GBK/GB2312/GB18030, Big5, Shift_JIS, …) plus iconv's names for UTF-16 that
/// WHATWG lacks or reads differently: `UCS-2` is UTF-16BE, and a bare `UTF-16` is big-endian unless
/// a byte-order mark says otherwise (iconv), not little-endian (WHATWG).
fn decode_charset(octets: &[u8], charset: &str) -> Option<String> {
    let label = charset.to_ascii_lowercase();
    let encoding = match label.as_str() {
        "ucs-2" | "ucs2" | "ucs-2be" | "iso-10646-ucs-2" | "utf-16be" | "utf16be" => {
            encoding_rs::UTF_16BE
        }
        "utf-16" | "utf16" => match octets {
            [0xFF, 0xFE, ..] => encoding_rs::UTF_16LE,
            _ => encoding_rs::UTF_16BE,
        },
        _ => encoding_rs::Encoding::for_label(label.as_bytes())?,
    };
    let text = encoding.decode_without_bom_handling_and_without_replacement(octets)?;
    Some(text.strip_prefix('\u{FEFF}').unwrap_or(&text).to_owned())
}

/// Stores the checked request: one message per receiver (a batch, all or none), one directed
/// attempt per receiver for `smsc`, or one stored part per receiver for a concatenation UDH.
async fn submit(engine: &Engine, c: Checked) -> Reply {
    let key = Some(c.key.id);
    let now = UnixMillis::now();
    if let (Some(concat), Body::Octets(encoding, data)) = (c.concat, &c.body) {
        let mut stored = 0;
        for to in &c.receivers {
            let part = NewFragment {
                api_key: c.key.id,
                source: Source::Sendsms,
                // Parts of one message share sender, receiver, reference and count.
                group_key: format!(
                    "sendsms:{}:{}:{}:{}:{}",
                    c.key.id.0,
                    c.request.sender.as_deref().unwrap_or(""),
                    to,
                    concat.reference,
                    concat.total
                ),
                total: concat.total,
                seq: concat.seq,
                encoding: *encoding,
                data: data.clone(),
                request: FragmentRequest {
                    to: to.clone(),
                    sender: c.request.sender.clone(),
                    priority: c.request.priority,
                    send_at: c.request.send_at,
                    validity_ms: c
                        .request
                        .validity
                        .map(|v| i64::try_from(v.as_millis()).unwrap_or(i64::MAX)),
                    report: c.request.report,
                    dlr_mask: c.request.dlr_mask,
                    dlr_url: c.request.dlr_url.clone(),
                },
                received_at: now,
            };
            match engine.submit_part(part).await {
                Ok(_) => stored += 1,
                Err(e) => return partial(&c.receivers, stored, submit_error(e)),
            }
        }
        return Reply::new(StatusCode::ACCEPTED, reply::ACCEPTED);
    }
    let requests: Vec<SendRequest> = c
        .receivers
        .iter()
        .map(|to| SendRequest {
            to: to.clone(),
            ..c.request.clone()
        })
        .collect();
    if let Some(smsc) = &c.smsc {
        // Validate every receiver before storing any, so a bad field never leaves half a
        // multi-receiver request stored.
        let accept = engine.accept_config();
        for r in &requests {
            if let Err(fields) = engine::accept::validate(r, &accept, key, Source::Sendsms, now) {
                return field_reply(&fields);
            }
        }
        for (i, r) in requests.iter().enumerate() {
            if let Err(e) = engine.submit_via(key, Source::Sendsms, smsc, r).await {
                let reply = match e {
                    engine::admin::AdminError::NoSuchCarrier(_) => {
                        Reply::new(StatusCode::FORBIDDEN, reply::NOT_ROUTABLE)
                    }
                    engine::admin::AdminError::Invalid(fields) => field_reply(&fields),
                    other => {
                        tracing::error!(error = %other, "sendsms: directed submit failed");
                        Reply::temporal()
                    }
                };
                return partial(&c.receivers, i, reply);
            }
        }
        return Reply::new(StatusCode::ACCEPTED, reply::ACCEPTED);
    }
    match engine.submit(key, Source::Sendsms, &requests).await {
        Ok(_) => Reply::new(StatusCode::ACCEPTED, reply::ACCEPTED),
        Err(e) => submit_error(e),
    }
}

/// When some receivers of a multi-receiver request were already stored, Kannel's answer for a
/// partial failure (`500 Sending failed. Failed receivers are: …`); otherwise `reply`.
fn partial(receivers: &[String], stored: usize, reply: Reply) -> Reply {
    if stored == 0 {
        return reply;
    }
    let failed = receivers.get(stored..).unwrap_or(&[]).join(" ");
    Reply::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("{} Failed receivers are: {failed}", reply::SENDING_FAILED),
    )
}

fn submit_error(e: SubmitError) -> Reply {
    match e {
        SubmitError::Invalid(fields) => field_reply(&fields),
        SubmitError::Unavailable(e) => {
            tracing::error!(error = %e, "sendsms refused: store unavailable");
            Reply::temporal()
        }
        SubmitError::ShuttingDown => Reply::temporal(),
    }
}

/// The reply for the first field the engine refused, in Kannel's words where Kannel has a check
/// for that field, otherwise in the same shape with the reason.
fn field_reply(fields: &[FieldError]) -> Reply {
    let Some(f) = fields.first() else {
        return Reply::bad("Request misformed, rejected");
    };
    // Batch errors are named `messages[3].to`.
    let field = f.field.rsplit('.').next().unwrap_or(&f.field);
    let text: Cow<'static, str> = match field {
        "to" => reply::DENIED.into(),
        "validity" => reply::VALIDITY_MISFORMED.into(),
        "send_at" => reply::DEFERRED_MISFORMED.into(),
        "priority" => reply::PRIORITY_MISFORMED.into(),
        "dlr_url" => reply::DLR_URL_MISFORMED.into(),
        "sender" => format!("From field misformed, rejected ({})", f.message).into(),
        "text" => format!("Text field misformed, rejected ({})", f.message).into(),
        other => format!("{other} field misformed, rejected ({})", f.message).into(),
    };
    Reply::bad(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_scan_like_sscanf() {
        let check =
            |v: &str, expect: Option<i64>| assert_eq!(scan_int(v.as_bytes()), expect, "{v:?}");
        check("3", Some(3));
        check(" 31", Some(31));
        check("+7", Some(7));
        check("-5", Some(-5));
        check("-1", None);
        check("12abc", Some(12));
        check("abc", None);
        check("", None);
        check("-", None);
        check("99999999999999999999999", Some(i64::MAX));
    }

    #[test]
    fn url_decoding_keeps_bytes() {
        let check = |v: &str, expect: &[u8]| assert_eq!(url_decode(v.as_bytes()), expect, "{v:?}");
        check("a+b", b"a b");
        check("%E4%B8%AD", "中".as_bytes());
        check("%e9t%e9", b"\xe9t\xe9");
        check("100%", b"100%");
        check("%zz%4", b"%zz%4");
        check("%00%FF", b"\x00\xff");
    }

    #[test]
    fn pairs_first_wins_and_names_decode() {
        let pairs = parse_pairs(b"to=1&to=2&dlr%2Dmask=3&flag&&text=a%26b");
        let p = Params::from_pairs(&pairs);
        assert_eq!(p.to.as_deref(), Some("1"));
        assert_eq!(p.dlr_mask, Some(3));
        assert_eq!(p.text.as_deref(), Some(&b"a&b"[..]));
    }

    #[test]
    fn charsets_decode_like_iconv() {
        let check = |octets: &[u8], cs: &str, expect: Option<&str>| {
            assert_eq!(decode_charset(octets, cs).as_deref(), expect, "{cs}");
        };
        check(b"caf\xe9", "ISO-8859-1", Some("café"));
        check("中文".as_bytes(), "utf-8", Some("中文"));
        check(b"\xd6\xd0\xce\xc4", "GBK", Some("中文"));
        check(b"\xd6\xd0\xce\xc4", "gb2312", Some("中文"));
        check(&[0x4E, 0x2D, 0x00, 0x41], "UCS-2", Some("中A"));
        check(&[0xFE, 0xFF, 0x00, 0x41], "UTF-16", Some("A"));
        check(&[0xFF, 0xFE, 0x41, 0x00], "UTF-16", Some("A"));
        check(&[0x00, 0x41], "UTF-16", Some("A"));
        check(b"\xff", "UTF-8", None);
        check(&[0xD8, 0x3D], "UTF-16BE", None);
        check(b"x", "no-such-charset", None);
    }
}
