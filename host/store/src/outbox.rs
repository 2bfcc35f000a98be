//! The notification outbox: what the service owes clients (delivery reports for `dlr-url` and
//! `callback_url`, SMPP receipts and MO), kept on disk until it is delivered, given up on, or too
//! old.
//!
//! DESIGN "Interfaces": webhooks and receipts are retried, not lost. A notification is a row
//! written once per (kind, ref_id, channel, event, target) — writing the same one again is a no-op —
//! so a notifier that replays events after a restart (see [`Store::notifications_owed`]) never
//! notifies twice what it already delivered. Delivery is at least once: a crash between a
//! successful call and its `done_at` commit repeats that one call.

use domain::{ApiKeyId, MessageId, MessageState, UnixMillis};
use rusqlite::{OptionalExtension, params};

use crate::StoreError;
use crate::messages::{Source, parse_state};
use crate::writer::Committed;
use crate::{Result, Store};

/// A notification to add.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewNotification {
    /// `dlr` (about an outgoing message) or `mo` (an inbound message).
    pub kind: &'static str,
    /// The message id (`dlr`) or inbound id (`mo`).
    pub ref_id: i64,
    /// `kannel` (GET of a dlr-url), `webhook` (JSON POST to a callback_url) or `smpp`.
    pub channel: &'static str,
    /// What happened: `delivered`, `failed`, `buffered`, `submitted`, `rejected`, `mo`.
    pub event: &'static str,
    /// The URL to call, or the API key id of the SMPP application.
    pub target: String,
    /// What to say (the channel's format).
    pub payload: String,
    /// When it became owed.
    pub at: UnixMillis,
}

/// A notification owed (or done).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    /// Row id.
    pub id: i64,
    /// `dlr` or `mo`.
    pub kind: String,
    /// Message or inbound id.
    pub ref_id: i64,
    /// Channel.
    pub channel: String,
    /// Event.
    pub event: String,
    /// URL or API key id.
    pub target: String,
    /// What to say.
    pub payload: String,
    /// When it became owed.
    pub created_at: UnixMillis,
    /// Failed tries so far.
    pub attempts: u32,
}

/// What became of one try.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// The client took it.
    Sent,
    /// The client failed it or could not be reached; try again at `next_at`.
    Retry {
        /// When.
        next_at: UnixMillis,
        /// Why, for the operator.
        error: String,
    },
    /// Nobody to deliver to right now (no SMPP receiver bound): wait, without counting a try.
    Wait {
        /// When to look again.
        next_at: UnixMillis,
    },
    /// Stop trying (attempts exhausted, or the client refused for good).
    GiveUp {
        /// Why.
        error: String,
    },
}

/// Counts for metrics and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    /// Owed now.
    pub pending: u64,
    /// Delivered.
    pub sent: u64,
    /// Given up (attempts exhausted or expired).
    pub given_up: u64,
}

/// What a notifier needs to know about a message to tell its client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifyInfo {
    /// Message.
    pub id: MessageId,
    /// Key it was sent with.
    pub api_key: Option<ApiKeyId>,
    /// Front door.
    pub source: Source,
    /// The client's reference.
    pub client_ref: Option<String>,
    /// Destination (E.164).
    pub to: String,
    /// Sender as the client gave it.
    pub sender: Option<String>,
    /// Text (signature included).
    pub body: String,
    /// Segments.
    pub parts: u16,
    /// State now.
    pub state: MessageState,
    /// Accept time.
    pub created_at: UnixMillis,
    /// Final time, if final.
    pub final_at: Option<UnixMillis>,
    /// Why it failed.
    pub error: Option<String>,
    /// Latest carrier.
    pub carrier: Option<String>,
    /// Client wants reports.
    pub report: bool,
    /// Callback URL.
    pub dlr_url: Option<String>,
    /// Kannel DLR mask (SMPP: the `registered_delivery` receipt bits).
    pub dlr_mask: Option<u8>,
    /// For a message a client submitted in parts, the ids given to the parts (part order).
    pub part_ids: Vec<i64>,
}

fn parse_source(s: &str) -> Result<Source> {
    Ok(match s {
        "http" => Source::Http,
        "sendsms" => Source::Sendsms,
        "smpp" => Source::Smpp,
        "web" => Source::Web,
        "test" => Source::Test,
        other => return Err(StoreError::Corrupt(format!("source {other:?}"))),
    })
}

const NOTIFY_COLUMNS: &str = "id, api_key_id, source, client_ref, to_number, sender, body, parts, \
    state, created_at, final_at, error, carrier_id, report, dlr_url, dlr_mask";

fn notify_info(conn: &rusqlite::Connection, r: &rusqlite::Row<'_>) -> Result<NotifyInfo> {
    let id: i64 = r.get(0)?;
    let source: String = r.get(2)?;
    let state: String = r.get(8)?;
    let part_ids = conn
        .prepare_cached("SELECT part_id FROM client_parts WHERE message_id = ?1 ORDER BY seq")?
        .query_map([id], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<i64>>>()?;
    Ok(NotifyInfo {
        id: MessageId(id),
        api_key: r.get::<_, Option<i64>>(1)?.map(ApiKeyId),
        source: parse_source(&source)?,
        client_ref: r.get(3)?,
        to: r.get(4)?,
        sender: r.get(5)?,
        body: r.get(6)?,
        parts: r.get(7)?,
        state: parse_state(&state)?,
        created_at: UnixMillis(r.get(9)?),
        final_at: r.get::<_, Option<i64>>(10)?.map(UnixMillis),
        error: r.get(11)?,
        carrier: r.get(12)?,
        report: r.get(13)?,
        dlr_url: r.get(14)?,
        dlr_mask: r.get(15)?,
        part_ids,
    })
}

fn notification(r: &rusqlite::Row<'_>) -> rusqlite::Result<Notification> {
    Ok(Notification {
        id: r.get(0)?,
        kind: r.get(1)?,
        ref_id: r.get(2)?,
        channel: r.get(3)?,
        event: r.get(4)?,
        target: r.get(5)?,
        payload: r.get(6)?,
        created_at: UnixMillis(r.get(7)?),
        attempts: r.get(8)?,
    })
}

const NOTIFICATION_COLUMNS: &str =
    "id, kind, ref_id, channel, event, target, payload, created_at, attempts";

impl Store {
    /// Adds notifications; one already written (same kind, ref, channel, event and target) is
    /// left as it is. Returns the rows this call created, for immediate delivery.
    pub fn outbox_add(&self, batch: Vec<NewNotification>) -> Committed<Vec<Notification>> {
        self.inner.writer.write(move |tx| {
            let mut out = Vec::with_capacity(batch.len());
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO outbox (kind, ref_id, channel, event, target, payload, \
                 created_at, next_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
            )?;
            for n in batch {
                let added = insert.execute(params![
                    n.kind, n.ref_id, n.channel, n.event, n.target, n.payload, n.at.0
                ])?;
                if added == 1 {
                    out.push(Notification {
                        id: tx.last_insert_rowid(),
                        kind: n.kind.to_owned(),
                        ref_id: n.ref_id,
                        channel: n.channel.to_owned(),
                        event: n.event.to_owned(),
                        target: n.target,
                        payload: n.payload,
                        created_at: n.at,
                        attempts: 0,
                    });
                }
            }
            Ok(out)
        })
    }

    /// Notifications owed and due at `now`, oldest due first, at most `limit`; with `channel`
    /// (and `target`), only those.
    pub async fn outbox_due(
        &self,
        now: UnixMillis,
        channel: Option<&'static str>,
        target: Option<String>,
        limit: u32,
    ) -> Result<Vec<Notification>> {
        self.inner
            .readers
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT {NOTIFICATION_COLUMNS} FROM outbox WHERE done_at IS NULL \
                     AND next_at <= ?1 AND (?2 IS NULL OR channel = ?2) \
                     AND (?3 IS NULL OR target = ?3) ORDER BY next_at LIMIT ?4"
                ))?;
                let rows = stmt.query_map(params![now.0, channel, target, limit], notification)?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    /// When the next owed notification is due, if any is owed.
    pub async fn outbox_next_due(&self) -> Result<Option<UnixMillis>> {
        self.inner
            .readers
            .read(|conn| {
                Ok(conn
                    .prepare_cached("SELECT MIN(next_at) FROM outbox WHERE done_at IS NULL")?
                    .query_row([], |r| r.get::<_, Option<i64>>(0))
                    .optional()?
                    .flatten()
                    .map(UnixMillis))
            })
            .await
    }

    /// Records what became of tries, in one write.
    pub fn outbox_record(&self, results: Vec<(i64, Delivery)>, now: UnixMillis) -> Committed<()> {
        self.inner.writer.write(move |tx| {
            for (id, d) in results {
                match d {
                    Delivery::Sent => tx
                        .prepare_cached(
                            "UPDATE outbox SET done_at = ?2, outcome = 'sent' \
                             WHERE id = ?1 AND done_at IS NULL",
                        )?
                        .execute(params![id, now.0])?,
                    Delivery::Retry { next_at, error } => tx
                        .prepare_cached(
                            "UPDATE outbox SET attempts = attempts + 1, next_at = ?2, \
                             last_error = ?3 WHERE id = ?1 AND done_at IS NULL",
                        )?
                        .execute(params![id, next_at.0, error])?,
                    Delivery::Wait { next_at } => tx
                        .prepare_cached(
                            "UPDATE outbox SET next_at = ?2 WHERE id = ?1 AND done_at IS NULL",
                        )?
                        .execute(params![id, next_at.0])?,
                    Delivery::GiveUp { error } => tx
                        .prepare_cached(
                            "UPDATE outbox SET attempts = attempts + 1, done_at = ?2, \
                             outcome = 'gave_up', last_error = ?3 WHERE id = ?1 AND done_at IS NULL",
                        )?
                        .execute(params![id, now.0, error])?,
                };
            }
            Ok(())
        })
    }

    /// Housekeeping: notifications still owed that became owed before `expire_before` are given
    /// up (`expired`); rows done before `forget_before` are deleted. Returns (expired, deleted).
    pub fn outbox_prune(
        &self,
        expire_before: UnixMillis,
        forget_before: UnixMillis,
        now: UnixMillis,
    ) -> Committed<(u64, u64)> {
        self.inner.writer.write(move |tx| {
            let expired = tx.execute(
                "UPDATE outbox SET done_at = ?2, outcome = 'expired' \
                 WHERE done_at IS NULL AND created_at < ?1",
                params![expire_before.0, now.0],
            )?;
            let deleted = tx.execute(
                "DELETE FROM outbox WHERE done_at IS NOT NULL AND done_at < ?1",
                params![forget_before.0],
            )?;
            Ok((expired as u64, deleted as u64))
        })
    }

    /// Counts by outcome.
    pub async fn outbox_counts(&self) -> Result<OutboxCounts> {
        self.inner
            .readers
            .read(|conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT COALESCE(outcome, 'pending'), COUNT(*) FROM outbox GROUP BY 1",
                )?;
                let rows =
                    stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
                let mut c = OutboxCounts::default();
                for row in rows {
                    let (outcome, n) = row?;
                    let n = n.max(0) as u64;
                    match outcome.as_str() {
                        "pending" => c.pending += n,
                        "sent" => c.sent += n,
                        _ => c.given_up += n,
                    }
                }
                Ok(c)
            })
            .await
    }

    /// Every notification about message or inbound `ref_id`, in order (for tests and the trace).
    pub async fn outbox_for(&self, kind: &'static str, ref_id: i64) -> Result<Vec<Notification>> {
        self.inner
            .readers
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT {NOTIFICATION_COLUMNS} FROM outbox WHERE kind = ?1 AND ref_id = ?2 \
                     ORDER BY id"
                ))?;
                let rows = stmt.query_map(params![kind, ref_id], notification)?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    /// What a notifier needs about `ids`, for those that want notifications at all (a callback
    /// URL, or a report request); the others are left out.
    pub async fn notify_info(&self, ids: Vec<MessageId>) -> Result<Vec<NotifyInfo>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.inner
            .readers
            .read(move |conn| {
                let mut out = Vec::new();
                // Bounded statements (SQLite's default limit is 32,766 variables).
                for chunk in ids.chunks(500) {
                    let marks = vec!["?"; chunk.len()].join(",");
                    let mut stmt = conn.prepare_cached(&format!(
                        "SELECT {NOTIFY_COLUMNS} FROM messages WHERE id IN ({marks}) \
                         AND (dlr_url IS NOT NULL OR report = 1)"
                    ))?;
                    let mut rows =
                        stmt.query(rusqlite::params_from_iter(chunk.iter().map(|i| i.0)))?;
                    while let Some(r) = rows.next()? {
                        out.push(notify_info(conn, r)?);
                    }
                }
                Ok(out)
            })
            .await
    }

    /// Messages that became final at or after `since`, want a notification, and have no final
    /// notification in the outbox yet: what a notifier may have missed (a crash between a
    /// report's commit and its notification's, or events it fell behind on). At most `limit`.
    pub async fn notifications_owed(
        &self,
        since: UnixMillis,
        limit: u32,
    ) -> Result<Vec<NotifyInfo>> {
        self.inner
            .readers
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT {NOTIFY_COLUMNS} FROM messages m WHERE (dlr_url IS NOT NULL OR report = 1) \
                     AND final_at >= ?1 AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.kind = 'dlr' \
                     AND o.ref_id = m.id AND o.event IN ('delivered', 'failed', 'rejected')) \
                     ORDER BY final_at LIMIT ?2"
                ))?;
                let mut rows = stmt.query(params![since.0, limit])?;
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    out.push(notify_info(conn, r)?);
                }
                Ok(out)
            })
            .await
    }

    /// When the newest notification was written, if any (where a restarted notifier resumes).
    pub async fn outbox_latest(&self) -> Result<Option<UnixMillis>> {
        self.inner
            .readers
            .read(|conn| {
                Ok(conn
                    .prepare_cached("SELECT MAX(created_at) FROM outbox")?
                    .query_row([], |r| r.get::<_, Option<i64>>(0))
                    .optional()?
                    .flatten()
                    .map(UnixMillis))
            })
            .await
    }
}
