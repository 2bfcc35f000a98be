//! Delivery reports: matching them to parts, closing messages, and billing delivered parts.
//!
//! Every report is stored. One that matches no part yet (it overtook the carrier's submit
//! response, or its reference is unknown) is kept unmatched and matched when the part's carrier
//! reference is recorded. A message is `delivered` when all of its parts are; a part reported
//! undeliverable, rejected, deleted, unknown or expired makes the message final at once (unless
//! the caller's re-send rule sends it again), while later reports for its other parts are still
//! recorded and still billed. Billing counts delivered parts per month (UTC), API key and carrier.

use domain::{ApiKeyId, CarrierId, DlrStatus, MessageId, MessageState, UnixMillis};
use rusqlite::{OptionalExtension, Transaction, params};

use crate::messages::parse_state;
use crate::writer::Committed;
use crate::{Result, Store};

/// A delivery report as a carrier reported it.
#[derive(Clone, Debug)]
pub struct DlrRecord {
    /// The carrier it came from.
    pub carrier: CarrierId,
    /// The carrier's reference of the part (normalised the way the carrier recorded it at submit).
    pub carrier_ref: String,
    /// Status.
    pub status: DlrStatus,
    /// Network or SMSC error code, if any (`err:` field, TP-ST value).
    pub error: Option<String>,
    /// When we received it.
    pub received_at: UnixMillis,
    /// The raw report (receipt text or PDU hex), for the trace.
    pub raw: Option<String>,
}

/// What a report did to its message; returned so the caller can notify the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DlrApplied {
    /// The message.
    pub message_id: MessageId,
    /// The part (1-based).
    pub seq: u16,
    /// The part's new status.
    pub status: DlrStatus,
    /// Error code from the report.
    pub error: Option<String>,
    /// The message's state after the report.
    pub message_state: MessageState,
    /// True if this report moved the message to a final state.
    pub became_final: bool,
    /// True if the re-send rule put the message back in the queue.
    pub requeued: bool,
    /// The carrier that reported.
    pub carrier: CarrierId,
    /// The message's API key.
    pub api_key: Option<ApiKeyId>,
}

/// What the caller's re-send rule sees about a negative report.
#[derive(Clone, Debug)]
pub struct ResendQuery {
    /// Message.
    pub message_id: MessageId,
    /// Its destination (E.164).
    pub to: String,
    /// Re-sends so far.
    pub resends: u32,
    /// When the reported part was accepted by the carrier.
    pub submitted_at: UnixMillis,
    /// Reporting carrier.
    pub carrier: CarrierId,
    /// Negative status.
    pub status: DlrStatus,
    /// Error code.
    pub error: Option<String>,
    /// Message's current round.
    pub round: u32,
}

/// A re-send decided by the caller's rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resend {
    /// When the message may go again.
    pub at: UnixMillis,
    /// An operator channel the re-send must avoid (the one that failed), if known.
    pub avoid_operator: Option<String>,
}

/// Re-send rule: `Some` puts the message back to `queued` for the next round; every carrier
/// that carried it before is then avoided too (see [`crate::Pending::tried`]).
pub type ResendRule = Box<dyn FnOnce(&ResendQuery) -> Option<Resend> + Send>;

impl Store {
    /// Stores a report, matches it to its part and updates the message; `None` if unmatched
    /// (kept for later matching). A negative final report consults `resend`.
    pub fn record_dlr(
        &self,
        rec: DlrRecord,
        resend: Option<ResendRule>,
    ) -> Committed<Option<DlrApplied>> {
        self.inner
            .writer
            .write(move |tx| record_tx(tx, &rec, resend))
    }
}

fn record_tx(
    tx: &Transaction<'_>,
    rec: &DlrRecord,
    resend: Option<ResendRule>,
) -> Result<Option<DlrApplied>> {
    // A modem's TP-MR wraps at 256, so the same reference recurs: prefer the newest part still
    // waiting for its report, else the newest part with that reference at all.
    let part: Option<(i64, u16)> = tx
        .prepare_cached(
            "SELECT message_id, seq FROM parts WHERE carrier_id = ?1 AND carrier_ref = ?2 \
             ORDER BY (state = 'submitted') DESC, submitted_at DESC LIMIT 1",
        )?
        .query_row(params![rec.carrier.as_str(), rec.carrier_ref], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    let (message_id, seq) = match part {
        Some(p) => (Some(p.0), Some(p.1)),
        None => (None, None),
    };
    tx.prepare_cached(
        "INSERT INTO delivery_reports (carrier_id, carrier_ref, status, error, received_at, \
         message_id, seq, raw) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        rec.carrier.as_str(),
        rec.carrier_ref,
        rec.status.as_str(),
        rec.error,
        rec.received_at.0,
        message_id,
        seq,
        rec.raw
    ])?;
    match (message_id, seq) {
        (Some(m), Some(s)) => apply_all(tx, rec, MessageId(m), s, resend).map(Some),
        _ => Ok(None),
    }
}

/// Applies a report to part `seq` and to every other part of the same message that carries the
/// same reference (an SMSC that split a `message_payload` itself gives all parts one id).
fn apply_all(
    tx: &Transaction<'_>,
    rec: &DlrRecord,
    message_id: MessageId,
    seq: u16,
    resend: Option<ResendRule>,
) -> Result<DlrApplied> {
    let siblings: Vec<u16> = tx
        .prepare_cached(
            "SELECT seq FROM parts WHERE message_id = ?1 AND carrier_id = ?2 AND carrier_ref = ?3 \
             AND seq <> ?4 ORDER BY seq",
        )?
        .query_map(
            params![message_id.0, rec.carrier.as_str(), rec.carrier_ref, seq],
            |r| r.get(0),
        )?
        .collect::<rusqlite::Result<_>>()?;
    let mut resend = resend;
    let mut last = None;
    for s in siblings.into_iter().chain([seq]) {
        // Only the last part may consult the re-send rule: the message moves once.
        let rule = if s == seq { resend.take() } else { None };
        let applied = apply(tx, rec, message_id, s, rule)?;
        if last.as_ref().is_none_or(|l: &DlrApplied| !l.became_final) {
            last = Some(applied);
        }
    }
    last.ok_or_else(|| crate::StoreError::Corrupt("no part to apply a report to".into()))
}

/// Applies reports stored unmatched for `(carrier, carrier_ref)` now that a part carries that
/// reference. Called from the accept-outcome write, in the same transaction.
pub(crate) fn match_waiting(
    tx: &Transaction<'_>,
    carrier: &CarrierId,
    carrier_ref: &str,
) -> Result<Vec<DlrApplied>> {
    let waiting: Vec<(i64, String, Option<String>, i64)> = tx
        .prepare_cached(
            "SELECT id, status, error, received_at FROM delivery_reports \
             WHERE carrier_id = ?1 AND carrier_ref = ?2 AND message_id IS NULL ORDER BY id",
        )?
        .query_map(params![carrier.as_str(), carrier_ref], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::new();
    for (dlr_id, status, error, received_at) in waiting {
        let Some(status) = DlrStatus::from_name(&status) else {
            continue;
        };
        let part: Option<(i64, u16)> = tx
            .prepare_cached(
                "SELECT message_id, seq FROM parts WHERE carrier_id = ?1 AND carrier_ref = ?2 \
                 ORDER BY submitted_at DESC LIMIT 1",
            )?
            .query_row(params![carrier.as_str(), carrier_ref], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        let Some((m, s)) = part else { continue };
        tx.prepare_cached("UPDATE delivery_reports SET message_id = ?2, seq = ?3 WHERE id = ?1")?
            .execute(params![dlr_id, m, s])?;
        let rec = DlrRecord {
            carrier: carrier.clone(),
            carrier_ref: carrier_ref.to_owned(),
            status,
            error,
            received_at: UnixMillis(received_at),
            raw: None,
        };
        out.push(apply_all(tx, &rec, MessageId(m), s, None)?);
    }
    Ok(out)
}

fn apply(
    tx: &Transaction<'_>,
    rec: &DlrRecord,
    message_id: MessageId,
    seq: u16,
    resend: Option<ResendRule>,
) -> Result<DlrApplied> {
    let row: PartRow = tx
        .prepare_cached(
            "SELECT p.state, m.state, m.api_key_id, m.round, m.parts, m.to_number, m.resends, \
             p.submitted_at FROM parts p JOIN messages m ON m.id = p.message_id \
             WHERE p.message_id = ?1 AND p.seq = ?2",
        )?
        .query_row(params![message_id.0, seq], |r| {
            Ok(PartRow {
                part_state: r.get(0)?,
                msg_state: r.get(1)?,
                api_key: r.get(2)?,
                round: r.get(3)?,
                parts: r.get(4)?,
                to: r.get(5)?,
                resends: r.get(6)?,
                submitted_at: r.get(7)?,
            })
        })?;
    let PartRow {
        part_state: old_part_state,
        msg_state,
        api_key,
        round,
        parts,
        to,
        resends,
        submitted_at,
    } = row;
    let mut state = parse_state(&msg_state)?;
    let new_part_state = match rec.status {
        DlrStatus::Delivered => "delivered",
        DlrStatus::Enroute => old_part_state.as_str(),
        _ => "failed",
    };
    tx.prepare_cached(
        "UPDATE parts SET state = ?3, dlr_status = ?4, dlr_error = ?5, dlr_at = ?6 \
         WHERE message_id = ?1 AND seq = ?2",
    )?
    .execute(params![
        message_id.0,
        seq,
        new_part_state,
        rec.status.as_str(),
        rec.error,
        rec.received_at.0
    ])?;
    // Bill each part once, the first time it is reported delivered.
    if rec.status == DlrStatus::Delivered && old_part_state != "delivered" {
        bill(tx, api_key, &rec.carrier, rec.received_at, 0, 1)?;
    }
    let mut became_final = false;
    let mut requeued = false;
    if !state.is_final() {
        if rec.status == DlrStatus::Delivered {
            let undelivered: u32 = tx
                .prepare_cached(
                    "SELECT COUNT(*) FROM parts WHERE message_id = ?1 AND state <> 'delivered'",
                )?
                .query_row([message_id.0], |r| r.get(0))?;
            if undelivered == 0 {
                state = MessageState::Delivered;
                became_final = true;
                bill(tx, api_key, &rec.carrier, rec.received_at, 1, 0)?;
            }
        } else if rec.status.is_final() {
            let query = ResendQuery {
                message_id,
                to,
                resends,
                submitted_at: UnixMillis(submitted_at.unwrap_or(rec.received_at.0)),
                carrier: rec.carrier.clone(),
                status: rec.status,
                error: rec.error.clone(),
                round,
            };
            if let Some(plan) = resend.and_then(|rule| rule(&query)) {
                tx.prepare_cached(
                    "INSERT INTO attempts (message_id, no, carrier_id, round, started_at, ended_at, \
                     outcome, detail) SELECT id, attempts + 1, ?2, round, ?3, ?3, 'resend', ?4 \
                     FROM messages WHERE id = ?1",
                )?
                .execute(params![
                    message_id.0,
                    rec.carrier.as_str(),
                    rec.received_at.0,
                    format!(
                        "report {} {}: re-sending through another channel",
                        rec.status.as_str(),
                        rec.error.as_deref().unwrap_or("")
                    )
                    .trim_end()
                ])?;
                tx.prepare_cached(
                    "UPDATE messages SET state = 'queued', attempts = attempts + 1, round = round + 1, \
                     resends = resends + 1, next_attempt_at = ?2, updated_at = ?3, \
                     avoid = CASE WHEN ?4 IS NULL THEN avoid WHEN avoid IS NULL THEN ?4 \
                     ELSE avoid || ',' || ?4 END WHERE id = ?1",
                )?
                .execute(params![
                    message_id.0,
                    plan.at.0,
                    rec.received_at.0,
                    plan.avoid_operator
                ])?;
                tx.prepare_cached(
                    "UPDATE parts SET state = 'pending' WHERE message_id = ?1 AND state <> 'delivered'",
                )?
                .execute([message_id.0])?;
                state = MessageState::Queued;
                requeued = true;
            } else {
                state = if rec.status == DlrStatus::Expired {
                    MessageState::Expired
                } else {
                    MessageState::Undeliverable
                };
                became_final = true;
            }
        }
        if became_final {
            tx.prepare_cached(
                "UPDATE messages SET state = ?2, final_at = ?3, updated_at = ?3, \
                 error = CASE WHEN ?2 = 'delivered' THEN NULL ELSE ?4 END WHERE id = ?1",
            )?
            .execute(params![
                message_id.0,
                state.as_str(),
                rec.received_at.0,
                format!(
                    "part {seq} of {parts}: {}{}",
                    rec.status.as_str(),
                    rec.error
                        .as_deref()
                        .map(|e| format!(" (error {e})"))
                        .unwrap_or_default()
                )
            ])?;
        }
    }
    Ok(DlrApplied {
        message_id,
        seq,
        status: rec.status,
        error: rec.error.clone(),
        message_state: state,
        became_final,
        requeued,
        carrier: rec.carrier.clone(),
        api_key: api_key.map(ApiKeyId),
    })
}

struct PartRow {
    part_state: String,
    msg_state: String,
    api_key: Option<i64>,
    round: u32,
    parts: u16,
    to: String,
    resends: u32,
    submitted_at: Option<i64>,
}

fn bill(
    tx: &Transaction<'_>,
    api_key: Option<i64>,
    carrier: &CarrierId,
    at: UnixMillis,
    messages: u32,
    parts: u32,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO billing (month, api_key_id, carrier_id, delivered_messages, delivered_parts) \
         VALUES (strftime('%Y-%m', ?1 / 1000, 'unixepoch'), ?2, ?3, ?4, ?5) \
         ON CONFLICT (month, api_key_id, carrier_id) DO UPDATE SET \
         delivered_messages = delivered_messages + excluded.delivered_messages, \
         delivered_parts = delivered_parts + excluded.delivered_parts",
    )?
    .execute(params![
        at.0,
        api_key.unwrap_or(0),
        carrier.as_str(),
        messages,
        parts
    ])?;
    Ok(())
}
