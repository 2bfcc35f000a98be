//! Missing delivery reports (DESIGN "Message lifecycle" step 5: "a negative or missing report
//! after T re-sends through a different operator channel"): finding submitted messages whose
//! report is overdue, and re-queueing one for a re-send.
//!
//! The decision (does this route re-send, after how long, avoiding which channel) is the policy's
//! (`route::on_missing_receipt`); this file only reads and writes. The re-send is conditional on
//! the message still waiting for the same report, in the same transaction, so a report that
//! arrives while the sweep decides wins.

use domain::{CarrierId, MessageId, UnixMillis};
use rusqlite::params;

use crate::writer::Committed;
use crate::{Result, Store, StoreError};

/// A submitted message with at least one part still waiting for its report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwaitingReport {
    /// Message.
    pub id: MessageId,
    /// Destination (E.164).
    pub to: String,
    /// The carrier that accepted the waiting parts.
    pub carrier: CarrierId,
    /// When the oldest waiting part was accepted.
    pub submitted_at: UnixMillis,
    /// Re-sends so far.
    pub resends: u32,
}

impl Store {
    /// Submitted messages whose oldest part without a final report was accepted at or before
    /// `submitted_before`, oldest first, after message `after` (keyset paging), at most `limit`.
    pub async fn awaiting_reports(
        &self,
        submitted_before: UnixMillis,
        after: Option<MessageId>,
        limit: u32,
    ) -> Result<Vec<AwaitingReport>> {
        self.inner
            .readers
            .read(move |conn| {
                // `messages_live` (final_at IS NULL) keeps this to the live queue.
                let mut stmt = conn.prepare_cached(
                    "SELECT m.id, m.to_number, p.carrier_id, MIN(p.submitted_at), m.resends \
                     FROM messages m JOIN parts p ON p.message_id = m.id \
                     WHERE m.final_at IS NULL AND m.state = 'submitted' AND m.id > ?2 \
                     AND p.state = 'submitted' AND p.carrier_id IS NOT NULL \
                     GROUP BY m.id HAVING MIN(p.submitted_at) <= ?1 ORDER BY m.id LIMIT ?3",
                )?;
                let mut rows =
                    stmt.query(params![submitted_before.0, after.map_or(0, |a| a.0), limit])?;
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    let carrier: String = r.get(2)?;
                    out.push(AwaitingReport {
                        id: MessageId(r.get(0)?),
                        to: r.get(1)?,
                        carrier: CarrierId::new(&carrier).map_err(|e| {
                            StoreError::Corrupt(format!("carrier id {carrier:?}: {e}"))
                        })?,
                        submitted_at: UnixMillis(r.get(3)?),
                        resends: r.get(4)?,
                    });
                }
                Ok(out)
            })
            .await
    }

    /// Puts message `id` back in the queue for a re-send because its report did not come: only
    /// if it is still `submitted` with `resends` re-sends so far (nothing moved it meanwhile).
    /// The trace gets a `resend` attempt saying why; parts not yet delivered go back to pending;
    /// `avoid_operator` joins the operator channels the re-send avoids. True if re-queued.
    pub fn resend_missing(
        &self,
        id: MessageId,
        resends: u32,
        carrier: CarrierId,
        avoid_operator: Option<String>,
        detail: String,
        at: UnixMillis,
    ) -> Committed<bool> {
        self.inner.writer.write(move |tx| {
            let moved = tx
                .prepare_cached(
                    "UPDATE messages SET state = 'queued', attempts = attempts + 1, \
                     round = round + 1, resends = resends + 1, next_attempt_at = ?2, \
                     updated_at = ?2, avoid = CASE WHEN ?4 IS NULL THEN avoid \
                     WHEN avoid IS NULL THEN ?4 ELSE avoid || ',' || ?4 END \
                     WHERE id = ?1 AND state = 'submitted' AND final_at IS NULL AND resends = ?3",
                )?
                .execute(params![id.0, at.0, resends, avoid_operator])?;
            if moved == 0 {
                return Ok(false);
            }
            // `attempts` was just incremented: the new row takes that number.
            tx.prepare_cached(
                "INSERT INTO attempts (message_id, no, carrier_id, round, started_at, ended_at, \
                 outcome, detail) SELECT id, attempts, ?2, round - 1, ?3, ?3, 'resend', ?4 \
                 FROM messages WHERE id = ?1",
            )?
            .execute(params![id.0, carrier.as_str(), at.0, detail])?;
            tx.prepare_cached(
                "UPDATE parts SET state = 'pending' WHERE message_id = ?1 AND state <> 'delivered'",
            )?
            .execute([id.0])?;
            Ok(true)
        })
    }

    /// Cancels message `id` if it is still `queued` and not due before `not_due_before` (so the
    /// dispatcher is not about to send it): it becomes `failed` with `reason`. True if cancelled.
    pub fn cancel_queued(
        &self,
        id: MessageId,
        not_due_before: UnixMillis,
        reason: String,
        at: UnixMillis,
    ) -> Committed<bool> {
        self.inner.writer.write(move |tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE messages SET state = 'failed', error = ?3, final_at = ?4, \
                     updated_at = ?4 WHERE id = ?1 AND state = 'queued' AND final_at IS NULL \
                     AND next_attempt_at >= ?2",
                )?
                .execute(params![id.0, not_due_before.0, reason, at.0])?;
            Ok(n == 1)
        })
    }
}
