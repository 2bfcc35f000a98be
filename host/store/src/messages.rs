//! Messages, their parts and their attempt trace: accept, dispatch bookkeeping, recovery, queries.
//!
//! DESIGN "Message lifecycle": a message is inserted `queued` (with one `parts` row per segment)
//! and its accept call resolves only after the commit. Every attempt is a row in `attempts`, opened
//! when the dispatcher hands the message to a carrier and closed with exactly one outcome.

use std::str::FromStr;

use domain::{
    ApiKeyId, CarrierId, DlrStatus, Encoding, MessageId, MessageState, Msisdn, PartState, Priority,
    UnixMillis,
};
use rusqlite::{OptionalExtension, Row, Transaction, params};
use serde::Serialize;

use crate::writer::Committed;
use crate::{Result, Store, StoreError};

/// Which front door a message came in through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// `POST /api/v1/messages`.
    Http,
    /// Kannel-style `/cgi-bin/sendsms`.
    Sendsms,
    /// The product's SMPP server.
    Smpp,
    /// The admin web page's send form.
    Web,
    /// A channel test from the admin page.
    Test,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Http => "http",
            Source::Sendsms => "sendsms",
            Source::Smpp => "smpp",
            Source::Web => "web",
            Source::Test => "test",
        }
    }

    fn parse(s: &str) -> Result<Source> {
        Ok(match s {
            "http" => Source::Http,
            "sendsms" => Source::Sendsms,
            "smpp" => Source::Smpp,
            "web" => Source::Web,
            "test" => Source::Test,
            other => return Err(StoreError::Corrupt(format!("source {other:?}"))),
        })
    }
}

/// A validated message to store.
#[derive(Clone, Debug)]
pub struct NewMessage {
    /// The key it was submitted with (None for the web page and tests).
    pub api_key: Option<ApiKeyId>,
    /// Front door.
    pub source: Source,
    /// The client's own reference, echoed in status answers.
    pub client_ref: Option<String>,
    /// Per API key: the same key twice stores one message.
    pub idempotency_key: Option<String>,
    /// Destination.
    pub to: Msisdn,
    /// Sender id, if the client set one.
    pub sender: Option<String>,
    /// Text as it will be sent (signature already applied).
    pub body: String,
    /// Alphabet.
    pub encoding: Encoding,
    /// Number of segments.
    pub parts: u16,
    /// Scheduling priority.
    pub priority: Priority,
    /// Do not send before this time.
    pub not_before: Option<UnixMillis>,
    /// Give up (state `expired`) after this time.
    pub expires_at: Option<UnixMillis>,
    /// Whether the client wants to hear about the delivery report.
    pub report: bool,
    /// Kannel-style callback URL for delivery reports.
    pub dlr_url: Option<String>,
    /// Kannel-style DLR mask (which report kinds the client wants).
    pub dlr_mask: Option<u8>,
    /// Accept time.
    pub created_at: UnixMillis,
}

/// What [`Store::accept`] answers per message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The message's id.
    pub id: MessageId,
    /// Its number of parts.
    pub parts: u16,
    /// True when the idempotency key matched an earlier message; nothing new was stored.
    pub duplicate: bool,
}

/// A live (not final) message as the dispatcher needs it.
#[derive(Clone, Debug)]
pub struct Pending {
    /// Id.
    pub id: MessageId,
    /// Key it was submitted with.
    pub api_key: Option<ApiKeyId>,
    /// Destination.
    pub to: Msisdn,
    /// Sender id.
    pub sender: Option<String>,
    /// Text.
    pub body: String,
    /// Alphabet.
    pub encoding: Encoding,
    /// Segments.
    pub parts: u16,
    /// Priority.
    pub priority: Priority,
    /// Current state (queued or submitted after recovery).
    pub state: MessageState,
    /// Accept time.
    pub created_at: UnixMillis,
    /// Not before.
    pub not_before: Option<UnixMillis>,
    /// Expiry.
    pub expires_at: Option<UnixMillis>,
    /// When the next attempt may start.
    pub next_attempt_at: UnixMillis,
    /// Current scheduling round (0-based).
    pub round: u32,
    /// Attempts so far.
    pub attempts: u32,
    /// Client wants a report.
    pub report: bool,
    /// Carriers it may not use now: those tried in the current round and, once it was re-sent
    /// after a negative receipt, every carrier that accepted it before.
    pub tried: Vec<CarrierId>,
    /// For a re-sent message, the carriers that carried it before (a subset of `tried` that
    /// stays avoided in later rounds too).
    pub carried: Vec<CarrierId>,
    /// Re-sends so far.
    pub resends: u32,
    /// Operator channels a re-send avoids.
    pub avoid: Vec<String>,
}

/// Opens an attempt: the dispatcher handed the message to `carrier`.
#[derive(Clone, Debug)]
pub struct AttemptStart {
    /// Message.
    pub message_id: MessageId,
    /// 1-based attempt number (previous attempts + 1).
    pub no: u32,
    /// Carrier chosen.
    pub carrier: CarrierId,
    /// Scheduling round.
    pub round: u32,
    /// When.
    pub at: UnixMillis,
}

/// Closes an attempt with its one outcome, and moves the message accordingly.
#[derive(Clone, Debug)]
pub struct OutcomeRecord {
    /// Message.
    pub message_id: MessageId,
    /// The attempt being closed.
    pub no: u32,
    /// Carrier of that attempt.
    pub carrier: CarrierId,
    /// When the outcome arrived.
    pub at: UnixMillis,
    /// What happened and what the message becomes.
    pub result: AttemptResult,
}

/// The outcome of an attempt, as the scheduler resolved it.
#[derive(Clone, Debug)]
pub enum AttemptResult {
    /// Accepted; one carrier reference per part. The message becomes `submitted`.
    Accepted {
        /// Carrier references, part order.
        refs: Vec<String>,
    },
    /// Back to `queued`, eligible again at `next_attempt_at` in round `round`.
    Retry {
        /// Human-readable reason for the trace.
        detail: String,
        /// Whether the carrier may have sent it anyway.
        maybe_sent: bool,
        /// Earliest next attempt.
        next_attempt_at: UnixMillis,
        /// Round of the next attempt.
        round: u32,
    },
    /// Final: the message becomes `state` (failed or expired) with this reason.
    Final {
        /// Trace label of the attempt outcome (`reject`).
        outcome: &'static str,
        /// Human-readable reason.
        detail: String,
        /// The message's final state.
        state: MessageState,
    },
}

/// One attempt in a message's trace.
#[derive(Clone, Debug, Serialize)]
pub struct AttemptRecord {
    /// Attempt number.
    pub no: u32,
    /// Carrier.
    pub carrier: String,
    /// Round.
    pub round: u32,
    /// Start.
    pub started_at: UnixMillis,
    /// End, when the outcome is known.
    pub ended_at: Option<UnixMillis>,
    /// `accepted`, `retry`, `reject`, `lost`, `resend`, or None while in flight.
    pub outcome: Option<String>,
    /// Reason or carrier references.
    pub detail: Option<String>,
    /// The carrier may have sent it despite a retry outcome.
    pub maybe_sent: bool,
}

/// One part of a message with its delivery status.
#[derive(Clone, Debug, Serialize)]
pub struct PartDetail {
    /// 1-based part number.
    pub seq: u16,
    /// Part state.
    pub state: PartState,
    /// Carrier that took it.
    pub carrier: Option<String>,
    /// Carrier's reference.
    pub carrier_ref: Option<String>,
    /// When it was accepted by the carrier.
    pub submitted_at: Option<UnixMillis>,
    /// Latest delivery report status.
    pub dlr_status: Option<DlrStatus>,
    /// Latest delivery report error code.
    pub dlr_error: Option<String>,
    /// When the report arrived.
    pub dlr_at: Option<UnixMillis>,
}

/// A message row for lists.
#[derive(Clone, Debug, Serialize)]
pub struct MessageSummary {
    /// Id.
    pub id: MessageId,
    /// Key id.
    pub api_key: Option<ApiKeyId>,
    /// Front door.
    pub source: Source,
    /// Client reference.
    pub client_ref: Option<String>,
    /// Destination.
    pub to: String,
    /// Sender id.
    pub sender: Option<String>,
    /// Text.
    pub body: String,
    /// Alphabet.
    pub encoding: Encoding,
    /// Segments.
    pub parts: u16,
    /// Priority.
    pub priority: Priority,
    /// State.
    pub state: MessageState,
    /// Accept time.
    pub created_at: UnixMillis,
    /// Not before.
    pub not_before: Option<UnixMillis>,
    /// Expiry.
    pub expires_at: Option<UnixMillis>,
    /// Attempts.
    pub attempts: u32,
    /// Latest carrier.
    pub carrier: Option<String>,
    /// Failure reason, for failed messages.
    pub error: Option<String>,
    /// When it reached its final state.
    pub final_at: Option<UnixMillis>,
    /// Client wants a report.
    pub report: bool,
    /// Kannel-style callback URL.
    pub dlr_url: Option<String>,
    /// Kannel-style DLR mask.
    pub dlr_mask: Option<u8>,
}

/// A message with its whole trace.
#[derive(Clone, Debug, Serialize)]
pub struct MessageDetail {
    /// The message.
    #[serde(flatten)]
    pub message: MessageSummary,
    /// Attempts in order.
    pub attempts: Vec<AttemptRecord>,
    /// Parts in order.
    pub parts: Vec<PartDetail>,
}

/// Criteria for [`Store::search`]; unset fields match everything.
#[derive(Clone, Debug, Default)]
pub struct MessageFilter {
    /// Destination (exact, E.164).
    pub to: Option<String>,
    /// State.
    pub state: Option<MessageState>,
    /// API key.
    pub api_key: Option<ApiKeyId>,
    /// Accepted at or after.
    pub since: Option<UnixMillis>,
    /// Accepted before.
    pub until: Option<UnixMillis>,
    /// Keyset paging: only ids below this one (newest first).
    pub before_id: Option<MessageId>,
    /// Page size (capped at 1,000).
    pub limit: u32,
}

/// What crash recovery did at start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Messages found `dispatching` and put back to `queued`.
    pub requeued: u64,
    /// Attempts that were in flight when the service stopped (closed as `lost`).
    pub lost_attempts: u64,
}

/// Billing totals for one month, key and carrier.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BillingRow {
    /// `YYYY-MM`.
    pub month: String,
    /// Key id (0 = no key).
    pub api_key: i64,
    /// Carrier.
    pub carrier: String,
    /// Messages delivered completely.
    pub delivered_messages: u64,
    /// Parts delivered.
    pub delivered_parts: u64,
}

const SUMMARY_COLUMNS: &str = "id, api_key_id, source, client_ref, to_number, sender, body, \
    encoding, parts, priority, state, created_at, not_before, expires_at, attempts, carrier_id, \
    error, final_at, report, dlr_url, dlr_mask";

fn summary_from_row(row: &Row<'_>) -> rusqlite::Result<Result<MessageSummary>> {
    let source: String = row.get(2)?;
    let encoding: String = row.get(7)?;
    let state: String = row.get(10)?;
    let priority: u8 = row.get(9)?;
    let parts: u16 = row.get(8)?;
    let build = || -> Result<MessageSummary> {
        Ok(MessageSummary {
            id: MessageId(row.get(0)?),
            api_key: row.get::<_, Option<i64>>(1)?.map(ApiKeyId),
            source: Source::parse(&source)?,
            client_ref: row.get(3)?,
            to: row.get(4)?,
            sender: row.get(5)?,
            body: row.get(6)?,
            encoding: parse_encoding(&encoding)?,
            parts,
            priority: Priority::new(priority)
                .ok_or_else(|| StoreError::Corrupt(format!("priority {priority}")))?,
            state: parse_state(&state)?,
            created_at: UnixMillis(row.get(11)?),
            not_before: row.get::<_, Option<i64>>(12)?.map(UnixMillis),
            expires_at: row.get::<_, Option<i64>>(13)?.map(UnixMillis),
            attempts: row.get(14)?,
            carrier: row.get(15)?,
            error: row.get(16)?,
            final_at: row.get::<_, Option<i64>>(17)?.map(UnixMillis),
            report: row.get(18)?,
            dlr_url: row.get(19)?,
            dlr_mask: row.get(20)?,
        })
    };
    Ok(build())
}

fn parse_encoding(s: &str) -> Result<Encoding> {
    Encoding::from_name(s).ok_or_else(|| StoreError::Corrupt(format!("encoding {s:?}")))
}

pub(crate) fn parse_state(s: &str) -> Result<MessageState> {
    MessageState::from_str(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn parse_carrier(s: &str) -> Result<CarrierId> {
    CarrierId::new(s).map_err(|e| StoreError::Corrupt(format!("carrier id {s:?}: {e}")))
}

/// Inserts one message and its parts; returns the existing id for a repeated idempotency key.
fn insert_message(tx: &Transaction<'_>, m: &NewMessage) -> Result<Accepted> {
    if let (Some(key), Some(api)) = (&m.idempotency_key, m.api_key) {
        let existing: Option<(i64, u16)> = tx
            .prepare_cached(
                "SELECT i.message_id, m.parts FROM idempotency i JOIN messages m \
                 ON m.id = i.message_id WHERE i.api_key_id = ?1 AND i.key = ?2",
            )?
            .query_row(params![api.0, key], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        if let Some((id, parts)) = existing {
            return Ok(Accepted {
                id: MessageId(id),
                parts,
                duplicate: true,
            });
        }
    }
    let next = m.not_before.map_or(m.created_at, |nb| nb.max(m.created_at));
    tx.prepare_cached(
        "INSERT INTO messages (api_key_id, source, client_ref, to_number, sender, body, encoding, \
         parts, priority, state, created_at, not_before, expires_at, next_attempt_at, report, \
         dlr_url, dlr_mask, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'queued', ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?10)",
    )?
    .execute(params![
        m.api_key.map(|k| k.0),
        m.source.as_str(),
        m.client_ref,
        m.to.as_str(),
        m.sender,
        m.body,
        m.encoding.as_str(),
        m.parts,
        m.priority.get(),
        m.created_at.0,
        m.not_before.map(|t| t.0),
        m.expires_at.map(|t| t.0),
        next.0,
        m.report,
        m.dlr_url,
        m.dlr_mask,
    ])?;
    let id = tx.last_insert_rowid();
    {
        let mut part = tx.prepare_cached(
            "INSERT INTO parts (message_id, seq, state) VALUES (?1, ?2, 'pending')",
        )?;
        for seq in 1..=m.parts {
            part.execute(params![id, seq])?;
        }
    }
    if let (Some(key), Some(api)) = (&m.idempotency_key, m.api_key) {
        tx.prepare_cached(
            "INSERT INTO idempotency (api_key_id, key, message_id, created_at) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![api.0, key, id, m.created_at.0])?;
    }
    Ok(Accepted {
        id: MessageId(id),
        parts: m.parts,
        duplicate: false,
    })
}

/// Carriers a message may not use in `round`: those tried in it (an attempt lost in a crash does
/// not count: the carrier did nothing wrong), plus, for a re-sent message, every carrier that
/// accepted it before.
fn carriers_of(
    conn: &rusqlite::Connection,
    id: i64,
    round: u32,
    resent: bool,
) -> Result<Vec<CarrierId>> {
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT carrier_id FROM attempts WHERE message_id = ?1 \
         AND (outcome IS NULL OR outcome NOT IN ('resend', 'lost')) \
         AND ((round = ?2 AND (outcome IS NULL OR outcome <> 'accepted')) \
              OR (?3 AND outcome = 'accepted')) ORDER BY no",
    )?;
    let rows = stmt.query_map(params![id, round, resent], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for r in rows {
        out.push(parse_carrier(&r?)?);
    }
    Ok(out)
}

const PENDING_COLUMNS: &str = "id, api_key_id, to_number, sender, body, encoding, parts, \
    priority, state, created_at, not_before, expires_at, next_attempt_at, round, attempts, report, \
    resends, avoid";

fn pending_from_row(conn: &rusqlite::Connection, r: &Row<'_>) -> Result<Pending> {
    let id: i64 = r.get(0)?;
    let to: String = r.get(2)?;
    let encoding: String = r.get(5)?;
    let state: String = r.get(8)?;
    let priority: u8 = r.get(7)?;
    let round: u32 = r.get(13)?;
    let resends: u32 = r.get(16)?;
    let avoid: Option<String> = r.get(17)?;
    Ok(Pending {
        id: MessageId(id),
        api_key: r.get::<_, Option<i64>>(1)?.map(ApiKeyId),
        to: Msisdn::from_e164(&to)
            .map_err(|e| StoreError::Corrupt(format!("number {to:?}: {e}")))?,
        sender: r.get(3)?,
        body: r.get(4)?,
        encoding: parse_encoding(&encoding)?,
        parts: r.get(6)?,
        priority: Priority::new(priority).unwrap_or_default(),
        state: parse_state(&state)?,
        created_at: UnixMillis(r.get(9)?),
        not_before: r.get::<_, Option<i64>>(10)?.map(UnixMillis),
        expires_at: r.get::<_, Option<i64>>(11)?.map(UnixMillis),
        next_attempt_at: UnixMillis(r.get(12)?),
        round,
        attempts: r.get(14)?,
        report: r.get(15)?,
        tried: carriers_of(conn, id, round, resends > 0)?,
        carried: if resends > 0 {
            carriers_of(conn, id, u32::MAX, true)?
        } else {
            Vec::new()
        },
        resends,
        avoid: avoid
            .map(|a| a.split(',').map(str::to_owned).collect())
            .unwrap_or_default(),
    })
}

impl Store {
    /// Stores `batch` atomically (all or none) and resolves once it is durable.
    ///
    /// Cancelling the future does not cancel the write; the messages may still be stored, which is
    /// why clients should send idempotency keys.
    pub fn accept(&self, batch: Vec<NewMessage>) -> Committed<Vec<Accepted>> {
        self.inner
            .writer
            .write(move |tx| batch.iter().map(|m| insert_message(tx, m)).collect())
    }

    /// Crash recovery, run once at start before dispatching: attempts left open by a previous
    /// run are closed as `lost` (the carrier may have sent them: `maybe_sent`), and their
    /// messages go back to `queued`, eligible at once. Duplicates to a handset are therefore
    /// bounded by what was in flight when the service stopped.
    pub fn recover(&self, now: UnixMillis) -> Committed<Recovery> {
        self.inner.writer.write(move |tx| {
            let lost = tx.execute(
                "UPDATE attempts SET ended_at = ?1, outcome = 'lost', maybe_sent = 1, \
                     detail = 'service stopped while the attempt was in flight' \
                     WHERE ended_at IS NULL",
                params![now.0],
            )?;
            let requeued = tx.execute(
                "UPDATE messages SET state = 'queued', next_attempt_at = ?1, updated_at = ?1 \
                     WHERE state = 'dispatching'",
                params![now.0],
            )?;
            Ok(Recovery {
                requeued: requeued as u64,
                lost_attempts: lost as u64,
            })
        })
    }

    /// Every message that is not final, for the dispatcher's in-memory queue at start.
    /// `queued` ones come with the carriers already tried in their current round.
    pub async fn load_live(&self) -> Result<Vec<Pending>> {
        self.inner
            .readers
            .read(|conn| {
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT {PENDING_COLUMNS} FROM messages WHERE final_at IS NULL ORDER BY id"
                ))?;
                let mut rows = stmt.query([])?;
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    out.push(pending_from_row(conn, r)?);
                }
                Ok(out)
            })
            .await
    }

    /// One live message (after a re-send put it back in the queue); `None` if it is final.
    pub async fn load_pending(&self, id: MessageId) -> Result<Option<Pending>> {
        self.inner
            .readers
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT {PENDING_COLUMNS} FROM messages WHERE id = ?1 AND final_at IS NULL"
                ))?;
                let mut rows = stmt.query([id.0])?;
                match rows.next()? {
                    Some(r) => Ok(Some(pending_from_row(conn, r)?)),
                    None => Ok(None),
                }
            })
            .await
    }

    /// Records that an attempt started (the message is `dispatching`). Does not wait for the
    /// commit: the attempt proceeds either way, and recovery covers a crash before the commit.
    pub fn start_attempt(&self, a: AttemptStart) {
        self.inner.writer.write_detached(move |tx| {
            tx.prepare_cached(
                "INSERT INTO attempts (message_id, no, carrier_id, round, started_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                a.message_id.0,
                a.no,
                a.carrier.as_str(),
                a.round,
                a.at.0
            ])?;
            tx.prepare_cached(
                "UPDATE messages SET state = 'dispatching', attempts = ?2, carrier_id = ?3, \
                 round = ?4, updated_at = ?5 WHERE id = ?1 AND final_at IS NULL",
            )?
            .execute(params![
                a.message_id.0,
                a.no,
                a.carrier.as_str(),
                a.round,
                a.at.0
            ])?;
            Ok(())
        });
    }

    /// Closes an attempt and moves its message. For an accepted attempt, delivery reports that
    /// arrived before this record (stored unmatched) are matched now; the ones that apply are
    /// returned so the caller can notify clients.
    pub fn finish_attempt(&self, rec: OutcomeRecord) -> Committed<Vec<crate::reports::DlrApplied>> {
        self.inner
            .writer
            .write(move |tx| finish_attempt_tx(tx, &rec))
    }

    /// Marks a live message final without an attempt (expired in the queue, or cancelled).
    pub fn finalize(
        &self,
        id: MessageId,
        state: MessageState,
        error: Option<String>,
        at: UnixMillis,
    ) -> Committed<bool> {
        self.inner.writer.write(move |tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE messages SET state = ?2, error = ?3, final_at = ?4, updated_at = ?4 \
                         WHERE id = ?1 AND final_at IS NULL",
                )?
                .execute(params![id.0, state.as_str(), error, at.0])?;
            Ok(n == 1)
        })
    }

    /// One message with its attempts and parts.
    pub async fn message(&self, id: MessageId) -> Result<Option<MessageDetail>> {
        self.inner
            .readers
            .read(move |conn| {
                let summary = conn
                    .prepare_cached(&format!(
                        "SELECT {SUMMARY_COLUMNS} FROM messages WHERE id = ?1"
                    ))?
                    .query_row([id.0], summary_from_row)
                    .optional()?;
                let Some(summary) = summary else {
                    return Ok(None);
                };
                let message = summary?;
                let mut attempts = Vec::new();
                let mut stmt = conn.prepare_cached(
                    "SELECT no, carrier_id, round, started_at, ended_at, outcome, detail, maybe_sent \
                     FROM attempts WHERE message_id = ?1 ORDER BY no",
                )?;
                let mut rows = stmt.query([id.0])?;
                while let Some(r) = rows.next()? {
                    attempts.push(AttemptRecord {
                        no: r.get(0)?,
                        carrier: r.get(1)?,
                        round: r.get(2)?,
                        started_at: UnixMillis(r.get(3)?),
                        ended_at: r.get::<_, Option<i64>>(4)?.map(UnixMillis),
                        outcome: r.get(5)?,
                        detail: r.get(6)?,
                        maybe_sent: r.get(7)?,
                    });
                }
                let mut parts = Vec::new();
                let mut stmt = conn.prepare_cached(
                    "SELECT seq, state, carrier_id, carrier_ref, submitted_at, dlr_status, dlr_error, \
                     dlr_at FROM parts WHERE message_id = ?1 ORDER BY seq",
                )?;
                let mut rows = stmt.query([id.0])?;
                while let Some(r) = rows.next()? {
                    let state: String = r.get(1)?;
                    let dlr: Option<String> = r.get(5)?;
                    parts.push(PartDetail {
                        seq: r.get(0)?,
                        state: PartState::from_str(&state)
                            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                        carrier: r.get(2)?,
                        carrier_ref: r.get(3)?,
                        submitted_at: r.get::<_, Option<i64>>(4)?.map(UnixMillis),
                        dlr_status: dlr.as_deref().and_then(DlrStatus::from_name),
                        dlr_error: r.get(6)?,
                        dlr_at: r.get::<_, Option<i64>>(7)?.map(UnixMillis),
                    });
                }
                Ok(Some(MessageDetail {
                    message,
                    attempts,
                    parts,
                }))
            })
            .await
    }

    /// Messages matching `filter`, newest first.
    pub async fn search(&self, filter: MessageFilter) -> Result<Vec<MessageSummary>> {
        self.inner
            .readers
            .read(move |conn| {
                let mut sql = format!("SELECT {SUMMARY_COLUMNS} FROM messages WHERE 1=1");
                let mut args: Vec<rusqlite::types::Value> = Vec::new();
                let mut push = |clause: &str, v: rusqlite::types::Value| {
                    args.push(v);
                    sql.push_str(&format!(" AND {clause} ?{}", args.len()));
                };
                if let Some(to) = filter.to {
                    push("to_number =", to.into());
                }
                if let Some(st) = filter.state {
                    push("state =", st.as_str().to_owned().into());
                }
                if let Some(k) = filter.api_key {
                    push("api_key_id =", k.0.into());
                }
                if let Some(t) = filter.since {
                    push("created_at >=", t.0.into());
                }
                if let Some(t) = filter.until {
                    push("created_at <", t.0.into());
                }
                if let Some(b) = filter.before_id {
                    push("id <", b.0.into());
                }
                let limit = filter.limit.clamp(1, 1000);
                sql.push_str(&format!(" ORDER BY id DESC LIMIT {limit}"));
                let mut stmt = conn.prepare_cached(&sql)?;
                let rows = stmt.query_map(rusqlite::params_from_iter(args), summary_from_row)?;
                let mut out = Vec::new();
                for r in rows {
                    out.push(r??);
                }
                Ok(out)
            })
            .await
    }

    /// Number of messages in each state (the dashboard's queue depth).
    pub async fn state_counts(&self) -> Result<Vec<(MessageState, u64)>> {
        self.inner
            .readers
            .read(|conn| {
                let mut stmt =
                    conn.prepare_cached("SELECT state, COUNT(*) FROM messages GROUP BY state")?;
                let rows =
                    stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
                let mut out = Vec::new();
                for r in rows {
                    let (s, n) = r?;
                    out.push((parse_state(&s)?, n.max(0) as u64));
                }
                Ok(out)
            })
            .await
    }

    /// Billing totals, optionally for one month (`YYYY-MM`).
    pub async fn billing(&self, month: Option<String>) -> Result<Vec<BillingRow>> {
        self.inner
            .readers
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT month, api_key_id, carrier_id, delivered_messages, delivered_parts \
                     FROM billing WHERE ?1 IS NULL OR month = ?1 ORDER BY month, api_key_id, carrier_id",
                )?;
                let rows = stmt.query_map([month], |r| {
                    Ok(BillingRow {
                        month: r.get(0)?,
                        api_key: r.get(1)?,
                        carrier: r.get(2)?,
                        delivered_messages: r.get::<_, i64>(3)?.max(0) as u64,
                        delivered_parts: r.get::<_, i64>(4)?.max(0) as u64,
                    })
                })?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await
    }
}

fn finish_attempt_tx(tx: &Transaction<'_>, rec: &OutcomeRecord) -> Result<Vec<crate::DlrApplied>> {
    let id = rec.message_id.0;
    let (outcome, detail, maybe_sent) = match &rec.result {
        AttemptResult::Accepted { refs } => ("accepted", refs.join(","), false),
        AttemptResult::Retry {
            detail, maybe_sent, ..
        } => ("retry", detail.clone(), *maybe_sent),
        AttemptResult::Final {
            outcome, detail, ..
        } => (*outcome, detail.clone(), false),
    };
    tx.prepare_cached(
        "UPDATE attempts SET ended_at = ?3, outcome = ?4, detail = ?5, maybe_sent = ?6 \
         WHERE message_id = ?1 AND no = ?2",
    )?
    .execute(params![id, rec.no, rec.at.0, outcome, detail, maybe_sent])?;
    let mut applied = Vec::new();
    match &rec.result {
        AttemptResult::Accepted { refs } => {
            tx.prepare_cached(
                "UPDATE messages SET state = 'submitted', carrier_id = ?2, updated_at = ?3 \
                 WHERE id = ?1 AND final_at IS NULL",
            )?
            .execute(params![id, rec.carrier.as_str(), rec.at.0])?;
            let mut part = tx.prepare_cached(
                "UPDATE parts SET state = 'submitted', carrier_id = ?3, carrier_ref = ?4, \
                 submitted_at = ?5, dlr_status = NULL, dlr_error = NULL, dlr_at = NULL \
                 WHERE message_id = ?1 AND seq = ?2",
            )?;
            for (i, r) in refs.iter().enumerate() {
                part.execute(params![id, i as i64 + 1, rec.carrier.as_str(), r, rec.at.0])?;
            }
            // Receipts can overtake the submit response; apply any that waited for us.
            for r in refs {
                applied.extend(crate::reports::match_waiting(tx, &rec.carrier, r)?);
            }
        }
        AttemptResult::Retry {
            next_attempt_at,
            round,
            ..
        } => {
            tx.prepare_cached(
                "UPDATE messages SET state = 'queued', next_attempt_at = ?2, round = ?3, \
                 updated_at = ?4 WHERE id = ?1 AND final_at IS NULL",
            )?
            .execute(params![id, next_attempt_at.0, round, rec.at.0])?;
        }
        AttemptResult::Final { detail, state, .. } => {
            tx.prepare_cached(
                "UPDATE messages SET state = ?2, error = ?3, final_at = ?4, updated_at = ?4 \
                 WHERE id = ?1 AND final_at IS NULL",
            )?
            .execute(params![id, state.as_str(), detail, rec.at.0])?;
        }
    }
    Ok(applied)
}
