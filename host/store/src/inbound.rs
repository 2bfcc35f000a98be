//! Inbound SMS: storing each part durably, reassembling concatenated messages, de-duplicating.
//!
//! DESIGN "Inbound": the bank deletes an SMS from the modem only after the host acknowledged it,
//! and the host acknowledges only after this write committed. A part the bank sends again (the
//! acknowledgement was lost in a reboot) is recognised by its fingerprint and not stored twice.
//! Parts of a concatenated message wait in `inbound_fragments` until all have arrived, or until
//! [`Store::release_stale_fragments`] gives up on the missing ones and stores what arrived.

use domain::{CarrierId, UnixMillis};
use rusqlite::{Transaction, params};
use serde::Serialize;

use crate::writer::Committed;
use crate::{Result, Store};

/// One received part (or a whole single-part message), already decoded to text.
#[derive(Clone, Debug)]
pub struct InboundFragment {
    /// Carrier it arrived on.
    pub carrier: CarrierId,
    /// Sender as the network gave it (E.164 or alphanumeric).
    pub from: String,
    /// The number it was sent to, if known (SMPP destination, SIM number).
    pub to: Option<String>,
    /// This part's text.
    pub body: String,
    /// Service-centre time stamp as text (RFC 3339), if any.
    pub sc_timestamp: Option<String>,
    /// When we received it.
    pub received_at: UnixMillis,
    /// Concatenation info: (reference, total parts, this part's 1-based number).
    pub concat: Option<(u16, u8, u8)>,
    /// Fingerprint of the raw part (e.g. hex SHA-256 of carrier + PDU); equal fingerprints are the
    /// same part received twice.
    pub fingerprint: String,
}

/// A complete (or given-up-on) inbound message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InboundMessage {
    /// Id.
    pub id: i64,
    /// Carrier it arrived on.
    pub carrier: String,
    /// Sender.
    pub from: String,
    /// Recipient, if known.
    pub to: Option<String>,
    /// Text (parts joined in order; missing parts marked).
    pub body: String,
    /// Service-centre time stamp of the first part.
    pub sc_timestamp: Option<String>,
    /// When the first part arrived.
    pub received_at: UnixMillis,
    /// Number of parts.
    pub parts: u8,
    /// False when released after the reassembly timeout with parts missing.
    pub complete: bool,
}

/// What storing a part did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InboundStored {
    /// The message is complete and stored.
    Complete(InboundMessage),
    /// Stored; waiting for `total - have` more parts.
    Waiting {
        /// Parts stored so far.
        have: u8,
        /// Parts expected.
        total: u8,
    },
    /// Already stored earlier; nothing changed. Acknowledge it again.
    Duplicate,
}

const MISSING: &str = "[…]";

impl Store {
    /// Stores one inbound part durably (resolves after commit) and reassembles if complete.
    pub fn store_inbound(&self, f: InboundFragment) -> Committed<InboundStored> {
        self.inner.writer.write(move |tx| store_tx(tx, &f))
    }

    /// Stores, as incomplete messages, every group whose first part is older than `before`; the
    /// missing parts are marked `[…]`. Returns what was released.
    pub fn release_stale_fragments(&self, before: UnixMillis) -> Committed<Vec<InboundMessage>> {
        self.inner.writer.write(move |tx| {
            let groups: Vec<(String, String, u16, u8)> = tx
                .prepare_cached(
                    "SELECT carrier_id, from_number, ref, total FROM inbound_fragments \
                         GROUP BY carrier_id, from_number, ref, total HAVING MIN(received_at) < ?1",
                )?
                .query_map([before.0], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })?
                .collect::<rusqlite::Result<_>>()?;
            let mut out = Vec::new();
            for (carrier, from, r, total) in groups {
                out.push(assemble(tx, &carrier, &from, r, total, false)?);
            }
            Ok(out)
        })
    }

    /// Forgets fingerprints older than `before` (a part re-sent after that is stored again).
    pub fn prune_inbound_fingerprints(&self, before: UnixMillis) -> Committed<u64> {
        self.inner.writer.write(move |tx| {
            Ok(tx.execute("DELETE FROM inbound_seen WHERE seen_at < ?1", [before.0])? as u64)
        })
    }

    /// Inbound messages, newest first, with keyset paging.
    pub async fn inbound_list(
        &self,
        before_id: Option<i64>,
        from: Option<String>,
        limit: u32,
    ) -> Result<Vec<InboundMessage>> {
        self.inner
            .readers
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT id, carrier_id, from_number, to_number, body, sc_timestamp, received_at, \
                     parts, complete FROM inbound WHERE (?1 IS NULL OR id < ?1) \
                     AND (?2 IS NULL OR from_number = ?2) ORDER BY id DESC LIMIT ?3",
                )?;
                let rows = stmt.query_map(params![before_id, from, limit.clamp(1, 1000)], |r| {
                    Ok(InboundMessage {
                        id: r.get(0)?,
                        carrier: r.get(1)?,
                        from: r.get(2)?,
                        to: r.get(3)?,
                        body: r.get(4)?,
                        sc_timestamp: r.get(5)?,
                        received_at: UnixMillis(r.get(6)?),
                        parts: r.get(7)?,
                        complete: r.get(8)?,
                    })
                })?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await
    }
}

fn store_tx(tx: &Transaction<'_>, f: &InboundFragment) -> Result<InboundStored> {
    let fresh = tx
        .prepare_cached("INSERT OR IGNORE INTO inbound_seen (key, seen_at) VALUES (?1, ?2)")?
        .execute(params![f.fingerprint, f.received_at.0])?;
    if fresh == 0 {
        return Ok(InboundStored::Duplicate);
    }
    let carrier = f.carrier.as_str();
    match f.concat {
        // A "concatenated" message of one part, or a malformed header, is stored as it is.
        Some((r, total, seq)) if total > 1 && seq >= 1 && seq <= total => {
            tx.prepare_cached(
                "INSERT OR IGNORE INTO inbound_fragments (carrier_id, from_number, ref, total, seq, \
                 to_number, body, sc_timestamp, received_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                carrier,
                f.from,
                r,
                total,
                seq,
                f.to,
                f.body,
                f.sc_timestamp,
                f.received_at.0
            ])?;
            let have: u8 = tx
                .prepare_cached(
                    "SELECT COUNT(*) FROM inbound_fragments WHERE carrier_id = ?1 \
                     AND from_number = ?2 AND ref = ?3 AND total = ?4",
                )?
                .query_row(params![carrier, f.from, r, total], |r| r.get(0))?;
            if have >= total {
                Ok(InboundStored::Complete(assemble(
                    tx, carrier, &f.from, r, total, true,
                )?))
            } else {
                Ok(InboundStored::Waiting { have, total })
            }
        }
        _ => {
            tx.prepare_cached(
                "INSERT INTO inbound (carrier_id, from_number, to_number, body, sc_timestamp, \
                 received_at, parts, complete) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, 1)",
            )?
            .execute(params![
                carrier,
                f.from,
                f.to,
                f.body,
                f.sc_timestamp,
                f.received_at.0
            ])?;
            Ok(InboundStored::Complete(InboundMessage {
                id: tx.last_insert_rowid(),
                carrier: carrier.to_owned(),
                from: f.from.clone(),
                to: f.to.clone(),
                body: f.body.clone(),
                sc_timestamp: f.sc_timestamp.clone(),
                received_at: f.received_at,
                parts: 1,
                complete: true,
            }))
        }
    }
}

type FragmentRow = (u8, Option<String>, String, Option<String>, i64);

fn assemble(
    tx: &Transaction<'_>,
    carrier: &str,
    from: &str,
    r: u16,
    total: u8,
    complete: bool,
) -> Result<InboundMessage> {
    let rows: Vec<FragmentRow> = tx
        .prepare_cached(
            "SELECT seq, to_number, body, sc_timestamp, received_at FROM inbound_fragments \
             WHERE carrier_id = ?1 AND from_number = ?2 AND ref = ?3 AND total = ?4 ORDER BY seq",
        )?
        .query_map(params![carrier, from, r, total], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut body = String::new();
    let mut next = 1u8;
    for (seq, _, text, _, _) in &rows {
        while next < *seq {
            body.push_str(MISSING);
            next += 1;
        }
        body.push_str(text);
        next = seq.saturating_add(1);
    }
    while next <= total && !complete {
        body.push_str(MISSING);
        next = next.saturating_add(1);
    }
    let first = rows.iter().min_by_key(|row| row.4);
    let to = rows.iter().find_map(|row| row.1.clone());
    let sc_timestamp = rows.first().and_then(|row| row.3.clone());
    let received_at = UnixMillis(first.map_or(0, |row| row.4));
    tx.prepare_cached(
        "INSERT INTO inbound (carrier_id, from_number, to_number, body, sc_timestamp, received_at, \
         parts, complete) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        carrier,
        from,
        to,
        body,
        sc_timestamp,
        received_at.0,
        total,
        complete
    ])?;
    let id = tx.last_insert_rowid();
    tx.prepare_cached(
        "DELETE FROM inbound_fragments WHERE carrier_id = ?1 AND from_number = ?2 AND ref = ?3 \
         AND total = ?4",
    )?
    .execute(params![carrier, from, r, total])?;
    Ok(InboundMessage {
        id,
        carrier: carrier.to_owned(),
        from: from.to_owned(),
        to,
        body,
        sc_timestamp,
        received_at,
        parts: total,
        complete,
    })
}
