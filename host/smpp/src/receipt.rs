//! Delivery receipts: the receipt text, the receipt TLVs, and message-id matching.
//!
//! The text format is only "recommended" (SMPP 3.4 Appendix B:
//! `id:IIIIIIIIII sub:SSS dlvr:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD
//! err:E text:…`) and every SMSC bends it: upper-case keys, `submit_date`, 12- or 14-digit dates,
//! missing `sub`/`dlvr`, vendor fields in between, ids padded with zeros, ids in hex where
//! submit_sm_resp gave decimal. The parser therefore looks for the keys it knows, anywhere and in
//! any case, takes one token after each, treats `text:` as running to the end, and ignores the
//! rest. SMPP 5.0 §4.8.4 TLVs (`receipted_message_id`, `message_state`, `network_error_code`),
//! when present, win over the text: they are structured and were added because the text is not.
//!
//! Invariant: no input makes [`parse`] panic (proptest and the `receipt` fuzz target check it).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use domain::{DlrStatus, UnixMillis};

/// A parsed delivery receipt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The SMSC message id this receipt is about, as sent: the `receipted_message_id` TLV when
    /// present, else the text's `id:`.
    pub message_id: String,
    /// The id in the text, when there was one (it may differ in base from the TLV).
    pub text_id: Option<String>,
    /// The outcome.
    pub stat: DlrStatus,
    /// The status word or number as the SMSC wrote it (`DELIVRD`, `stat` TLV value …).
    pub stat_raw: String,
    /// The text's `err:` field (network- or SMSC-specific, usually three digits).
    pub err: Option<String>,
    /// The text's `sub:` (number submitted), when numeric.
    pub sub: Option<u32>,
    /// The text's `dlvr:` (number delivered), when numeric.
    pub dlvr: Option<u32>,
    /// The text's `submit date:`.
    pub submit_date: Option<ReceiptTime>,
    /// The text's `done date:`.
    pub done_date: Option<ReceiptTime>,
    /// The `network_error_code` TLV (SMPP 5.0 §4.8.4.42).
    pub network_error: Option<NetworkError>,
    /// The `message_state` TLV (SMPP 5.0 §4.8.4.37), raw.
    pub message_state: Option<u8>,
    /// The text's `text:` excerpt (the first characters of the original message).
    pub text: Option<String>,
}

/// The `network_error_code` TLV: which network and its error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NetworkError {
    /// 1 ANSI-136, 2 IS-95, 3 GSM, 4 reserved, 5 ANSI-41, 6 SMPP error, 7 message centre.
    pub network_type: u8,
    /// The network's error code (for GSM, a MAP or TS 24.011 cause).
    pub code: u16,
}

impl fmt::Display for NetworkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "network {} error {}", self.network_type, self.code)
    }
}

/// A receipt date: `YYMMDDhhmm[ss]` (or `YYYYMMDDhhmm[ss]`), in the SMSC's local time, which
/// the receipt does not name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReceiptTime {
    /// Four-digit year (two-digit years are 20YY).
    pub year: u16,
    /// 1–12.
    pub month: u8,
    /// 1–31.
    pub day: u8,
    /// 0–23.
    pub hour: u8,
    /// 0–59.
    pub minute: u8,
    /// 0–59 (0 when the SMSC sent ten digits).
    pub second: u8,
}

impl ReceiptTime {
    /// Parses 10, 12 or 14 digits; `None` for anything else or an impossible date.
    pub fn parse(s: &str) -> Option<ReceiptTime> {
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n = |r: std::ops::Range<usize>| s.get(r).and_then(|d| d.parse::<u16>().ok());
        let (year, rest) = match s.len() {
            10 | 12 => (2000 + n(0..2)?, 2),
            14 => (n(0..4)?, 4),
            _ => return None,
        };
        let t = ReceiptTime {
            year,
            month: u8::try_from(n(rest..rest + 2)?).ok()?,
            day: u8::try_from(n(rest + 2..rest + 4)?).ok()?,
            hour: u8::try_from(n(rest + 4..rest + 6)?).ok()?,
            minute: u8::try_from(n(rest + 6..rest + 8)?).ok()?,
            second: if s.len() == 10 {
                0
            } else {
                u8::try_from(n(rest + 8..rest + 10)?).ok()?
            },
        };
        let valid = (1..=12).contains(&t.month)
            && (1..=31).contains(&t.day)
            && t.hour < 24
            && t.minute < 60
            && t.second < 60;
        valid.then_some(t)
    }

    /// The instant, reading the time as UTC (the usual SMSC setting; the receipt cannot say).
    pub fn to_unix_millis_utc(self) -> UnixMillis {
        // Days from civil, Howard Hinnant's algorithm (public domain), proleptic Gregorian.
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        let secs = days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second);
        UnixMillis(secs * 1000)
    }
}

impl ReceiptTime {
    /// The UTC calendar time of an instant (dates before 1970 clamp to 1970-01-01).
    pub fn from_unix_millis_utc(t: UnixMillis) -> ReceiptTime {
        let secs = (t.0 / 1000).max(0);
        let days = secs / 86_400;
        let rem = secs % 86_400;
        // Civil from days, Howard Hinnant's algorithm (public domain).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        ReceiptTime {
            year: u16::try_from(year).unwrap_or(u16::MAX),
            month: month as u8,
            day: day as u8,
            hour: (rem / 3600) as u8,
            minute: ((rem % 3600) / 60) as u8,
            second: (rem % 60) as u8,
        }
    }

    /// `YYMMDDhhmm`, the Appendix B form.
    pub fn to_smpp10(self) -> String {
        format!(
            "{:02}{:02}{:02}{:02}{:02}",
            self.year % 100,
            self.month,
            self.day,
            self.hour,
            self.minute
        )
    }
}

/// The receipt `stat:` word for a status (SMPP 3.4 Appendix B).
pub fn stat_word(stat: DlrStatus) -> &'static str {
    match stat {
        DlrStatus::Delivered => "DELIVRD",
        DlrStatus::Undeliverable => "UNDELIV",
        DlrStatus::Expired => "EXPIRED",
        DlrStatus::Rejected => "REJECTD",
        DlrStatus::Deleted => "DELETED",
        DlrStatus::Enroute => "ENROUTE",
        DlrStatus::Unknown => "UNKNOWN",
    }
}

/// The `message_state` TLV value for a status (SMPP 5.0 §4.8.4.37).
pub fn message_state(stat: DlrStatus) -> u8 {
    match stat {
        DlrStatus::Enroute => 1,
        DlrStatus::Delivered => 2,
        DlrStatus::Expired => 3,
        DlrStatus::Deleted => 4,
        DlrStatus::Undeliverable => 5,
        DlrStatus::Unknown => 7,
        DlrStatus::Rejected => 8,
    }
}

/// Writes a receipt text in the Appendix B shape: `id:… sub:001 dlvr:… submit date:… done
/// date:… stat:… err:… text:…` (the excerpt is cut to 20 characters).
pub fn format_text(
    message_id: &str,
    stat: DlrStatus,
    submit_date: ReceiptTime,
    done_date: ReceiptTime,
    err: u16,
    excerpt: &str,
) -> String {
    let excerpt: String = excerpt.chars().take(20).collect();
    format!(
        "id:{message_id} sub:001 dlvr:{} submit date:{} done date:{} stat:{} err:{:03} text:{excerpt}",
        if stat == DlrStatus::Delivered {
            "001"
        } else {
            "000"
        },
        submit_date.to_smpp10(),
        done_date.to_smpp10(),
        stat_word(stat),
        err % 1000,
    )
}

/// The receipt-related TLVs of a deliver_sm / data_sm.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReceiptTlvs {
    /// `receipted_message_id`.
    pub receipted_message_id: Option<String>,
    /// `message_state`.
    pub message_state: Option<u8>,
    /// `network_error_code`.
    pub network_error: Option<NetworkError>,
}

/// Why a receipt could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// Neither a `receipted_message_id` TLV nor an `id:` in the text.
    #[error("receipt has no message id")]
    NoMessageId,
    /// Neither a `message_state` TLV nor a `stat:` in the text.
    #[error("receipt for {0} has no status")]
    NoStatus(String),
}

/// Parses a receipt from its text (`short_message` or `message_payload`, already turned into a
/// string by the caller, see [`receipt_text`]) and its TLVs.
pub fn parse(text: &str, tlvs: &ReceiptTlvs) -> Result<Receipt, ReceiptError> {
    let fields = parse_text(text);
    let tlv_id = tlvs
        .receipted_message_id
        .as_deref()
        .map(clean_id)
        .filter(|s| !s.is_empty());
    let message_id = tlv_id
        .or_else(|| fields.id.clone())
        .ok_or(ReceiptError::NoMessageId)?;
    let (stat, stat_raw) = match (tlvs.message_state, fields.stat.as_deref()) {
        (Some(state), text_stat) => {
            let from_tlv = state_from_tlv(state);
            // A TLV of 0 (SCHEDULED) or an unknown number next to a known word: trust the word.
            match (from_tlv, text_stat.and_then(stat_from_word)) {
                (Some(st), _) => (
                    st,
                    text_stat.map_or_else(|| state.to_string(), str::to_owned),
                ),
                (None, Some(st)) => (st, text_stat.unwrap_or_default().to_owned()),
                (None, None) => (DlrStatus::Unknown, state.to_string()),
            }
        }
        (None, Some(word)) => (
            stat_from_word(word).unwrap_or(DlrStatus::Unknown),
            word.to_owned(),
        ),
        (None, None) => return Err(ReceiptError::NoStatus(message_id)),
    };
    Ok(Receipt {
        message_id,
        text_id: fields.id,
        stat,
        stat_raw,
        err: fields.err,
        sub: fields.sub.and_then(|s| s.parse().ok()),
        dlvr: fields.dlvr.and_then(|s| s.parse().ok()),
        submit_date: fields.submit_date.as_deref().and_then(ReceiptTime::parse),
        done_date: fields.done_date.as_deref().and_then(ReceiptTime::parse),
        network_error: tlvs.network_error,
        message_state: tlvs.message_state,
        text: fields.text,
    })
}

/// The receipt text of a `short_message` / `message_payload`: UTF-16BE when `data_coding` is 8
/// (UCS-2; a few SMSCs answer a UCS-2 submit that way), else each octet as one Latin-1
/// character (receipt text is ASCII in practice, and this never fails).
pub fn receipt_text(data_coding: u8, bytes: &[u8]) -> String {
    if data_coding == 0x08 && bytes.len().is_multiple_of(2) {
        let units = bytes
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]));
        return char::decode_utf16(units)
            .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect();
    }
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// Maps a receipt `stat:` word to a status; `None` for words no SMSC is known to use.
pub fn stat_from_word(word: &str) -> Option<DlrStatus> {
    let w = word.trim().to_ascii_uppercase();
    Some(match w.as_str() {
        "DELIVRD" | "DELIVERED" | "DELIVER" | "DELIVRED" => DlrStatus::Delivered,
        "UNDELIV" | "UNDELIVERABLE" | "UNDELIVERED" | "FAILED" | "FAIL" => DlrStatus::Undeliverable,
        "EXPIRED" => DlrStatus::Expired,
        "REJECTD" | "REJECTED" | "SKIPPED" => DlrStatus::Rejected,
        "DELETED" => DlrStatus::Deleted,
        "UNKNOWN" => DlrStatus::Unknown,
        // DESIGN: ACCEPTD is read as "not final yet" (domain::DlrStatus::Enroute).
        "ACCEPTD" | "ACCEPTED" | "ENROUTE" | "SCHEDULED" | "BUFFERED" => DlrStatus::Enroute,
        _ => {
            // A few SMSCs write the message_state number in the text.
            let n: u8 = w.parse().ok()?;
            return state_from_tlv(n);
        }
    })
}

/// Maps a `message_state` value (SMPP 5.0 §4.8.4.37) to a status; `None` for SCHEDULED (0) and
/// values outside the table.
pub fn state_from_tlv(state: u8) -> Option<DlrStatus> {
    Some(match state {
        1 | 6 => DlrStatus::Enroute,
        2 => DlrStatus::Delivered,
        3 => DlrStatus::Expired,
        4 => DlrStatus::Deleted,
        5 => DlrStatus::Undeliverable,
        7 => DlrStatus::Unknown,
        8 | 9 => DlrStatus::Rejected,
        _ => return None,
    })
}

/// The raw fields found in a receipt text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TextFields {
    /// `id:`
    pub id: Option<String>,
    /// `sub:`
    pub sub: Option<String>,
    /// `dlvr:`
    pub dlvr: Option<String>,
    /// `submit date:` / `submit_date:`
    pub submit_date: Option<String>,
    /// `done date:` / `done_date:`
    pub done_date: Option<String>,
    /// `stat:`
    pub stat: Option<String>,
    /// `err:`
    pub err: Option<String>,
    /// `text:` (to the end of the string)
    pub text: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Key {
    Id,
    Sub,
    Dlvr,
    SubmitDate,
    DoneDate,
    Stat,
    Err,
    Text,
}

/// Key spellings, lower case, longest first where one is a prefix of another.
const KEYS: &[(&str, Key)] = &[
    ("submit date", Key::SubmitDate),
    ("submit_date", Key::SubmitDate),
    ("submitdate", Key::SubmitDate),
    ("done date", Key::DoneDate),
    ("done_date", Key::DoneDate),
    ("donedate", Key::DoneDate),
    ("dlvrd", Key::Dlvr),
    ("dlvr", Key::Dlvr),
    ("stat", Key::Stat),
    ("text", Key::Text),
    ("sub", Key::Sub),
    ("err", Key::Err),
    ("id", Key::Id),
];

/// Finds the known `key:value` fields of a receipt text.
pub fn parse_text(text: &str) -> TextFields {
    let mut out = TextFields::default();
    let lower = text.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let mut i = 0usize;
    let mut after_text = false;
    while i < bytes.len() {
        // A key starts the string or follows a non-alphanumeric character (so "msgid:" is not
        // "id:"), and is followed by optional spaces and a colon.
        let boundary = i == 0
            || bytes
                .get(i - 1)
                .is_some_and(|b| !b.is_ascii_alphanumeric() && *b != b'_');
        let found = boundary
            .then(|| {
                KEYS.iter().find_map(|(name, key)| {
                    let end = i + name.len();
                    if lower.get(i..end)? != *name {
                        return None;
                    }
                    let mut j = end;
                    while bytes.get(j) == Some(&b' ') {
                        j += 1;
                    }
                    (bytes.get(j) == Some(&b':')).then_some((*key, j + 1))
                })
            })
            .flatten();
        let Some((key, value_start)) = found else {
            i += 1;
            continue;
        };
        if key == Key::Text {
            // Text runs to the end; only when the status is still missing do later keys count
            // (an SMSC that puts `text:` first).
            let rest = text.get(value_start..).unwrap_or_default();
            if out.text.is_none() {
                out.text = Some(rest.trim_start().to_owned());
            }
            if out.stat.is_some() || after_text {
                break;
            }
            after_text = true;
            i = value_start;
            continue;
        }
        let rest = text.get(value_start..).unwrap_or_default();
        let trimmed = rest.trim_start_matches(' ');
        let skipped = rest.len() - trimmed.len();
        let token_len = trimmed
            .find(|c: char| c.is_whitespace())
            .unwrap_or(trimmed.len());
        let token = trimmed.get(..token_len).unwrap_or_default();
        // An empty value followed by another key ("sub: dlvr:001") is a missing value.
        let token = if token.contains(':') { "" } else { token };
        let slot = match key {
            Key::Id => &mut out.id,
            Key::Sub => &mut out.sub,
            Key::Dlvr => &mut out.dlvr,
            Key::SubmitDate => &mut out.submit_date,
            Key::DoneDate => &mut out.done_date,
            Key::Stat => &mut out.stat,
            Key::Err => &mut out.err,
            // Handled above; listed so the match stays exhaustive.
            Key::Text => {
                i = value_start;
                continue;
            }
        };
        if slot.is_none() && !token.is_empty() {
            *slot = Some(if key == Key::Id {
                clean_id(token)
            } else {
                token.to_owned()
            });
        }
        i = value_start + skipped + token.len().max(1);
    }
    if out.id.as_deref() == Some("") {
        out.id = None;
    }
    out
}

fn clean_id(id: &str) -> String {
    id.trim_matches(|c: char| c == '\0' || c.is_whitespace())
        .to_owned()
}

/// How an SMSC writes message ids in receipts compared with submit_sm_resp (Kannel calls this
/// `msg-id-type`). Set per link; [`IdFormat::Same`] is right for most SMSCs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum IdFormat {
    /// Both sides use the same text (compared case-insensitively, leading zeros ignored).
    #[default]
    Same,
    /// submit_sm_resp gives hex, the receipt decimal.
    SubmitHexReceiptDecimal,
    /// submit_sm_resp gives decimal, the receipt hex.
    SubmitDecimalReceiptHex,
    /// Both are hex numbers (compared by value).
    BothHex,
}

/// Which PDU an id came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IdSource {
    /// `submit_sm_resp.message_id`.
    SubmitResp,
    /// The receipt's `receipted_message_id` or `id:`.
    Receipt,
}

/// The canonical form of a message id under `format`: equal canonical strings mean the same
/// message. Numbers become decimal without leading zeros; other ids are lower-cased. An id that
/// does not parse in the expected base is kept as text (never an error).
pub fn canonical_id(id: &str, source: IdSource, format: IdFormat) -> String {
    let id = id.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    let hex = match (format, source) {
        (IdFormat::Same, _) => None,
        (IdFormat::BothHex, _) => Some(true),
        (IdFormat::SubmitHexReceiptDecimal, IdSource::SubmitResp)
        | (IdFormat::SubmitDecimalReceiptHex, IdSource::Receipt) => Some(true),
        (IdFormat::SubmitHexReceiptDecimal, IdSource::Receipt)
        | (IdFormat::SubmitDecimalReceiptHex, IdSource::SubmitResp) => Some(false),
    };
    let numeric = match hex {
        Some(true) => u128::from_str_radix(id, 16).ok(),
        Some(false) => id.parse::<u128>().ok(),
        None if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) => id.parse().ok(),
        None => None,
    };
    match numeric {
        Some(n) => n.to_string(),
        None => id.to_ascii_lowercase(),
    }
}

/// Every canonical form `id` could have under any [`IdFormat`] and source: for a matcher that
/// does not know the SMSC's convention. Two ids *may* be the same message when their lists
/// share an entry; with counters this is ambiguous (`"10"` hex and `"16"` decimal agree), so
/// prefer a configured [`IdFormat`] and use this for diagnostics or auto-detection.
pub fn normalise_ids(id: &str) -> Vec<String> {
    let mut out = Vec::with_capacity(3);
    for format in [
        IdFormat::Same,
        IdFormat::SubmitHexReceiptDecimal,
        IdFormat::SubmitDecimalReceiptHex,
    ] {
        for source in [IdSource::SubmitResp, IdSource::Receipt] {
            let c = canonical_id(id, source, format);
            if !out.contains(&c) {
                out.push(c);
            }
        }
    }
    out
}

/// Receipts that arrived before the submit they answer was recorded (an SMSC may send the
/// deliver_sm before, or just after, the submit_sm_resp; the caller may store the submit
/// outcome later still). Keyed by canonical id, bounded in count and age: the oldest are
/// dropped first and counted.
#[derive(Debug)]
pub struct UnmatchedReceipts {
    by_id: HashMap<String, Vec<(Instant, Receipt)>>,
    order: VecDeque<(Instant, String)>,
    ttl: Duration,
    capacity: usize,
    len: usize,
    dropped: u64,
}

impl UnmatchedReceipts {
    /// Keeps at most `capacity` receipts, each for at most `ttl`.
    pub fn new(capacity: usize, ttl: Duration) -> UnmatchedReceipts {
        UnmatchedReceipts {
            by_id: HashMap::new(),
            order: VecDeque::new(),
            ttl,
            capacity: capacity.max(1),
            len: 0,
            dropped: 0,
        }
    }

    /// Parks a receipt that matched nothing, under its canonical id.
    pub fn park(&mut self, canonical: String, receipt: Receipt, now: Instant) {
        self.expire(now);
        while self.len >= self.capacity {
            if !self.pop_oldest() {
                break;
            }
            self.dropped += 1;
        }
        self.by_id
            .entry(canonical.clone())
            .or_default()
            .push((now, receipt));
        self.order.push_back((now, canonical));
        self.len += 1;
    }

    /// Takes the receipts parked under `canonical` (oldest first), if any.
    pub fn take(&mut self, canonical: &str, now: Instant) -> Vec<Receipt> {
        self.expire(now);
        match self.by_id.remove(canonical) {
            Some(list) => {
                self.len -= list.len();
                list.into_iter().map(|(_, r)| r).collect()
            }
            None => Vec::new(),
        }
    }

    /// Drops receipts older than the TTL; returns how many went.
    pub fn expire(&mut self, now: Instant) -> usize {
        let mut n = 0;
        while let Some((at, _)) = self.order.front() {
            if now.saturating_duration_since(*at) < self.ttl {
                break;
            }
            if self.pop_oldest() {
                n += 1;
                self.dropped += 1;
            }
        }
        n
    }

    /// Receipts parked now.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is parked.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Receipts dropped unmatched (expired or pushed out) so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Removes the oldest order entry; true when it still named a parked receipt.
    fn pop_oldest(&mut self) -> bool {
        let Some((at, id)) = self.order.pop_front() else {
            return false;
        };
        let Some(list) = self.by_id.get_mut(&id) else {
            return false; // already taken
        };
        let Some(pos) = list.iter().position(|(t, _)| *t == at) else {
            return false;
        };
        list.remove(pos);
        if list.is_empty() {
            self.by_id.remove(&id);
        }
        self.len -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::{Expect, expect};

    fn show(r: &Result<Receipt, ReceiptError>) -> String {
        match r {
            Err(e) => format!("error: {e}"),
            Ok(r) => {
                let mut s = format!(
                    "id={} stat={}({})",
                    r.message_id,
                    r.stat.as_str(),
                    r.stat_raw
                );
                if let Some(t) = &r.text_id
                    && *t != r.message_id
                {
                    s += &format!(" text_id={t}");
                }
                if let Some(e) = &r.err {
                    s += &format!(" err={e}");
                }
                if let (Some(a), Some(b)) = (r.sub, r.dlvr) {
                    s += &format!(" sub={a} dlvr={b}");
                }
                if let Some(d) = r.submit_date {
                    s += &format!(
                        " submit={:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                        d.year, d.month, d.day, d.hour, d.minute, d.second
                    );
                }
                if let Some(d) = r.done_date {
                    s += &format!(
                        " done={:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                        d.year, d.month, d.day, d.hour, d.minute, d.second
                    );
                }
                if let Some(n) = r.network_error {
                    s += &format!(" net={}/{}", n.network_type, n.code);
                }
                if let Some(t) = &r.text {
                    s += &format!(" text={t:?}");
                }
                s
            }
        }
    }

    fn check(text: &str, expect: Expect) {
        expect.assert_eq(&show(&parse(text, &ReceiptTlvs::default())));
    }

    fn check_tlv(text: &str, tlvs: ReceiptTlvs, expect: Expect) {
        expect.assert_eq(&show(&parse(text, &tlvs)));
    }

    #[test]
    fn appendix_b_shape() {
        check(
            "id:0123456789 sub:001 dlvr:001 submit date:2401151230 done date:2401151231 stat:DELIVRD err:000 text:Hello world",
            expect![[
                r#"id=0123456789 stat=delivered(DELIVRD) err=000 sub=1 dlvr=1 submit=2024-01-15T12:30:00 done=2024-01-15T12:31:00 text="Hello world""#
            ]],
        );
    }

    #[test]
    fn real_world_shapes() {
        // Twelve-digit dates with seconds, and the node-smpp bench sink's shape.
        check(
            "id:7 sub:001 dlvr:001 submit date:240115123059 done date:240115123101 stat:DELIVRD err:000 text:ts:1700000000000 n:1",
            expect![[
                r#"id=7 stat=delivered(DELIVRD) err=000 sub=1 dlvr=1 submit=2024-01-15T12:30:59 done=2024-01-15T12:31:01 text="ts:1700000000000 n:1""#
            ]],
        );
        // Upper-case keys (several Asian SMSCs).
        check(
            "ID:ABCDEF01 SUB:001 DLVRD:001 SUBMIT DATE:2401151230 DONE DATE:2401151231 STAT:UNDELIV ERR:011 TEXT:",
            expect![[
                r#"id=ABCDEF01 stat=undeliverable(UNDELIV) err=011 sub=1 dlvr=1 submit=2024-01-15T12:30:00 done=2024-01-15T12:31:00 text="""#
            ]],
        );
        // Underscored date keys and no sub/dlvr.
        check(
            "id:abc-123 submit_date:2401151230 done_date:2401151231 stat:EXPIRED err:0",
            expect![
                "id=abc-123 stat=expired(EXPIRED) err=0 submit=2024-01-15T12:30:00 done=2024-01-15T12:31:00"
            ],
        );
        // Only id and stat.
        check(
            "id:42 stat:REJECTD",
            expect!["id=42 stat=rejected(REJECTD)"],
        );
        // Vendor fields in between are ignored; fourteen-digit dates.
        check(
            "id:9 sub:001 dlvr:000 mcc:460 mnc:00 submit date:20240115123000 done date:20240115123500 stat:UNDELIV err:069 imsi:460001234567890 text:x",
            expect![[
                r#"id=9 stat=undeliverable(UNDELIV) err=069 sub=1 dlvr=0 submit=2024-01-15T12:30:00 done=2024-01-15T12:35:00 text="x""#
            ]],
        );
        // Empty sub, missing dlvr, extra spaces around the colon.
        check(
            "id : 55 sub: dlvr: stat : DELIVRD err : 000",
            expect!["id=55 stat=delivered(DELIVRD) err=000"],
        );
        // Text containing key-like words does not confuse the fields before it.
        check(
            "id:1 stat:DELIVRD err:000 text:stat:UNDELIV id:2",
            expect![[r#"id=1 stat=delivered(DELIVRD) err=000 text="stat:UNDELIV id:2""#]],
        );
        // text: first (seen from a gateway that reorders fields).
        check(
            "text:hi there id:77 stat:DELIVRD",
            expect![[r#"id=77 stat=delivered(DELIVRD) text="hi there id:77 stat:DELIVRD""#]],
        );
        // Lower-case status words, and ACCEPTD / ENROUTE are not final.
        check("id:3 stat:delivrd", expect!["id=3 stat=delivered(delivrd)"]);
        check("id:3 stat:ACCEPTD", expect!["id=3 stat=enroute(ACCEPTD)"]);
        check("id:3 stat:ENROUTE", expect!["id=3 stat=enroute(ENROUTE)"]);
        check("id:3 stat:DELETED", expect!["id=3 stat=deleted(DELETED)"]);
        check("id:3 stat:UNKNOWN", expect!["id=3 stat=unknown(UNKNOWN)"]);
        check("id:3 stat:WEIRD", expect!["id=3 stat=unknown(WEIRD)"]);
        // The state number written in the text.
        check("id:3 stat:2", expect!["id=3 stat=delivered(2)"]);
        // Bad dates are dropped, not errors.
        check(
            "id:3 submit date:2413991299 done date:abc stat:DELIVRD",
            expect!["id=3 stat=delivered(DELIVRD)"],
        );
        // A "msgid:" vendor key must not be read as "id:".
        check(
            "msgid:999 id:5 stat:DELIVRD",
            expect!["id=5 stat=delivered(DELIVRD)"],
        );
        // Newlines and tabs as separators.
        check(
            "id:8\nsub:001\tdlvr:001\nstat:DELIVRD\nerr:000",
            expect!["id=8 stat=delivered(DELIVRD) err=000 sub=1 dlvr=1"],
        );
    }

    #[test]
    fn missing_pieces() {
        check("", expect!["error: receipt has no message id"]);
        check("stat:DELIVRD", expect!["error: receipt has no message id"]);
        check("id:12", expect!["error: receipt for 12 has no status"]);
        check("hello world", expect!["error: receipt has no message id"]);
    }

    #[test]
    fn tlvs_win_over_text() {
        let tlvs = |id: &str, state: Option<u8>| ReceiptTlvs {
            receipted_message_id: Some(id.into()),
            message_state: state,
            network_error: None,
        };
        // The TLV id is hex, the text id decimal: both kept.
        check_tlv(
            "id:255 stat:DELIVRD err:000",
            tlvs("ff", Some(2)),
            expect!["id=ff stat=delivered(DELIVRD) text_id=255 err=000"],
        );
        // No text at all: the TLVs alone make a receipt.
        check_tlv(
            "",
            tlvs("abc", Some(5)),
            expect!["id=abc stat=undeliverable(5)"],
        );
        // message_state SCHEDULED (0) next to a word: the word decides.
        check_tlv(
            "stat:EXPIRED",
            tlvs("1", Some(0)),
            expect!["id=1 stat=expired(EXPIRED)"],
        );
        // NUL and spaces around a TLV id are stripped.
        check_tlv(
            "",
            tlvs(" 77\0", Some(8)),
            expect!["id=77 stat=rejected(8)"],
        );
        check_tlv(
            "id:5 stat:UNDELIV",
            ReceiptTlvs {
                receipted_message_id: None,
                message_state: None,
                network_error: Some(NetworkError {
                    network_type: 3,
                    code: 27,
                }),
            },
            expect!["id=5 stat=undeliverable(UNDELIV) net=3/27"],
        );
    }

    #[test]
    fn formatted_receipts_parse_back() {
        let t = ReceiptTime::from_unix_millis_utc(UnixMillis(1_709_209_859_000));
        assert_eq!(t.to_smpp10(), "2402291230");
        assert_eq!(t.second, 59);
        assert_eq!(ReceiptTime::from_unix_millis_utc(t.to_unix_millis_utc()), t);
        for stat in [
            DlrStatus::Delivered,
            DlrStatus::Undeliverable,
            DlrStatus::Expired,
            DlrStatus::Rejected,
            DlrStatus::Deleted,
            DlrStatus::Enroute,
            DlrStatus::Unknown,
        ] {
            let text = format_text("abc", stat, t, t, 5, "a rather long excerpt of the message");
            let r = parse(&text, &ReceiptTlvs::default()).unwrap();
            assert_eq!((r.message_id.as_str(), r.stat), ("abc", stat), "{text}");
            assert_eq!(r.err.as_deref(), Some("005"));
            assert_eq!(r.text.as_deref(), Some("a rather long excerp"));
            assert_eq!(state_from_tlv(message_state(stat)), Some(stat));
        }
    }

    #[test]
    fn ucs2_receipt_text() {
        let text: Vec<u8> = "id:9 stat:DELIVRD"
            .encode_utf16()
            .flat_map(u16::to_be_bytes)
            .collect();
        assert_eq!(receipt_text(8, &text), "id:9 stat:DELIVRD");
        assert_eq!(receipt_text(0, b"id:\xe99"), "id:\u{e9}9");
    }

    #[test]
    fn dates_convert_to_utc_instants() {
        let t = ReceiptTime::parse("700101000000").unwrap();
        assert_eq!(t.year, 2070);
        let t = ReceiptTime::parse("19700101000001").unwrap();
        assert_eq!(t.to_unix_millis_utc(), UnixMillis(1000));
        let t = ReceiptTime::parse("2402291230").unwrap();
        assert_eq!(t.to_unix_millis_utc(), UnixMillis(1_709_209_800_000));
        for bad in ["", "24011512", "24011512300", "2401151230xx", "2400011230"] {
            assert_eq!(ReceiptTime::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn ids_match_across_bases() {
        use IdFormat::*;
        use IdSource::*;
        let check = |a: (&str, IdSource), b: (&str, IdSource), fmt: IdFormat, same: bool| {
            assert_eq!(
                canonical_id(a.0, a.1, fmt) == canonical_id(b.0, b.1, fmt),
                same,
                "{a:?} vs {b:?} under {fmt:?}"
            );
        };
        check(("123", SubmitResp), ("0000000123", Receipt), Same, true);
        check(("ABC-1", SubmitResp), ("abc-1", Receipt), Same, true);
        check(("10", SubmitResp), ("16", Receipt), Same, false);
        check(
            ("1A2B", SubmitResp),
            ("6699", Receipt),
            SubmitHexReceiptDecimal,
            true,
        );
        check(
            ("6699", SubmitResp),
            ("1a2b", Receipt),
            SubmitDecimalReceiptHex,
            true,
        );
        check(("00ff", SubmitResp), ("FF", Receipt), BothHex, true);
        check(("1A2B", SubmitResp), ("6699", Receipt), Same, false);
        // A uuid-like id in a numeric format stays text.
        check(
            ("f47ac10b-58cc", SubmitResp),
            ("F47AC10B-58CC", Receipt),
            SubmitHexReceiptDecimal,
            true,
        );
        assert_eq!(normalise_ids("0010"), ["10", "16"]);
        assert_eq!(normalise_ids("1a"), ["1a", "26"]);
    }

    #[test]
    fn unmatched_receipts_are_bounded_and_expire() {
        let r =
            |id: &str| parse(&format!("id:{id} stat:DELIVRD"), &ReceiptTlvs::default()).unwrap();
        let t0 = Instant::now();
        let mut u = UnmatchedReceipts::new(2, Duration::from_secs(10));
        u.park("1".into(), r("1"), t0);
        u.park("2".into(), r("2"), t0);
        u.park("3".into(), r("3"), t0 + Duration::from_secs(1));
        assert_eq!(u.len(), 2);
        assert_eq!(u.dropped(), 1);
        assert!(u.take("1", t0).is_empty(), "oldest pushed out");
        assert_eq!(u.take("2", t0)[0].message_id, "2");
        assert!(u.take("2", t0).is_empty());
        assert_eq!(u.len(), 1);
        assert_eq!(u.expire(t0 + Duration::from_secs(11)), 1);
        assert!(u.is_empty());
        assert_eq!(u.dropped(), 2);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(text in ".{0,200}", id in proptest::option::of(".{0,70}"), state in proptest::option::of(0u8..=255)) {
            let tlvs = ReceiptTlvs { receipted_message_id: id, message_state: state, network_error: None };
            let _ = parse(&text, &tlvs);
            let _ = normalise_ids(&text);
        }

        #[test]
        fn fields_survive_arbitrary_noise(prefix in "[a-z ]{0,20}", id in "[0-9a-f]{1,20}", stat in "(DELIVRD|UNDELIV|EXPIRED)") {
            let text = format!("{prefix} id:{id} stat:{stat} err:000 text:{prefix}");
            let r = parse(&text, &ReceiptTlvs::default()).unwrap();
            proptest::prop_assert_eq!(r.message_id, id);
            proptest::prop_assert_eq!(r.stat_raw, stat);
        }
    }
}
