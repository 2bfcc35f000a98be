//! Long messages that clients submit part by part (SMPP submit_sm with a concatenation UDH or SAR
//! TLVs, Kannel sendsms with a `udh`): each part is stored durably before the client hears "OK",
//! and once every part is here the front door accepts the whole text as one message.
//!
//! DESIGN invariant "nothing accepted is lost": a client that got a positive answer for a part
//! must not lose it if the service stops before the other parts arrive, so parts live in
//! `submit_fragments` (not in memory). Each part's row id is the id the client gets for it
//! (AUTOINCREMENT: never reused); after the whole message is accepted the ids move to
//! `client_parts`, where receipts and `query_sm` find them.

use domain::{ApiKeyId, MessageId, UnixMillis};
use rusqlite::{OptionalExtension, Transaction, params};

use crate::messages::Source;
use crate::writer::Committed;
use crate::{Result, Store, StoreError};

/// How a part's octets encode its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FragmentEncoding {
    /// GSM 03.38 default alphabet, one septet per octet (SMPP `data_coding` 0).
    Gsm7,
    /// ISO-8859-1 (SMPP `data_coding` 3; IA5 1 is its ASCII subset).
    Latin1,
    /// UTF-16 big-endian (SMPP `data_coding` 8, sendsms `coding=2`).
    Ucs2,
    /// UTF-8 (sendsms text after charset conversion).
    Utf8,
}

impl FragmentEncoding {
    fn as_str(self) -> &'static str {
        match self {
            FragmentEncoding::Gsm7 => "gsm7",
            FragmentEncoding::Latin1 => "latin1",
            FragmentEncoding::Ucs2 => "ucs2",
            FragmentEncoding::Utf8 => "utf8",
        }
    }

    fn parse(s: &str) -> Result<FragmentEncoding> {
        Ok(match s {
            "gsm7" => FragmentEncoding::Gsm7,
            "latin1" => FragmentEncoding::Latin1,
            "ucs2" => FragmentEncoding::Ucs2,
            "utf8" => FragmentEncoding::Utf8,
            other => return Err(StoreError::Corrupt(format!("fragment encoding {other:?}"))),
        })
    }
}

/// The message-level fields of a part (every part of a message carries them; the first part's
/// win).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FragmentRequest {
    /// Destination as the client wrote it.
    pub to: String,
    /// Sender id.
    pub sender: Option<String>,
    /// Priority 0–9.
    pub priority: Option<u8>,
    /// Do not send before.
    pub send_at: Option<UnixMillis>,
    /// Validity in milliseconds.
    pub validity_ms: Option<i64>,
    /// Client wants a report.
    pub report: bool,
    /// Report mask.
    pub dlr_mask: Option<u8>,
    /// Report URL.
    pub dlr_url: Option<String>,
}

/// One part as received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewFragment {
    /// Account.
    pub api_key: ApiKeyId,
    /// Front door (`Smpp` or `Sendsms`).
    pub source: Source,
    /// Identifies the message among the account's: sender, recipient, reference, total.
    pub group_key: String,
    /// Parts in the message (2–255).
    pub total: u8,
    /// This part's number (1-based).
    pub seq: u8,
    /// How `data` encodes text.
    pub encoding: FragmentEncoding,
    /// The part's user data without its header.
    pub data: Vec<u8>,
    /// Message-level fields.
    pub request: FragmentRequest,
    /// When it arrived.
    pub received_at: UnixMillis,
}

/// The parts of one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FragmentGroup {
    /// Account.
    pub api_key: ApiKeyId,
    /// Front door.
    pub source: Source,
    /// Group key.
    pub group_key: String,
    /// Parts the message has.
    pub total: u8,
    /// The parts present, in order: (seq, part id, encoding, data).
    pub parts: Vec<(u8, i64, FragmentEncoding, Vec<u8>)>,
    /// The first part's message-level fields.
    pub request: FragmentRequest,
    /// When the first part arrived.
    pub first_received_at: UnixMillis,
}

impl FragmentGroup {
    /// Whether every part is present.
    pub fn is_complete(&self) -> bool {
        self.parts.len() == usize::from(self.total)
    }

    /// The part ids, in part order.
    pub fn part_ids(&self) -> Vec<i64> {
        self.parts.iter().map(|p| p.1).collect()
    }
}

/// What storing a part did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FragmentStored {
    /// Stored; more parts are missing.
    Waiting {
        /// This part's id.
        part_id: i64,
    },
    /// This part completed the message (the parts stay stored until
    /// [`Store::fragments_accepted`]).
    Complete {
        /// This part's id.
        part_id: i64,
        /// Every part.
        group: FragmentGroup,
    },
}

/// What an id given to a part refers to now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartLookup {
    /// Its message was accepted.
    Message {
        /// The message.
        message_id: MessageId,
        /// The part's number.
        seq: u16,
    },
    /// Still waiting for the other parts.
    Waiting {
        /// The account that sent it.
        api_key: ApiKeyId,
    },
}

fn source_str(s: Source) -> &'static str {
    match s {
        Source::Http => "http",
        Source::Sendsms => "sendsms",
        Source::Smpp => "smpp",
        Source::Web => "web",
        Source::Test => "test",
    }
}

fn parse_source(s: &str) -> Result<Source> {
    Ok(match s {
        "sendsms" => Source::Sendsms,
        "smpp" => Source::Smpp,
        "http" => Source::Http,
        "web" => Source::Web,
        "test" => Source::Test,
        other => return Err(StoreError::Corrupt(format!("source {other:?}"))),
    })
}

fn load_group(conn: &rusqlite::Connection, group_key: &str) -> Result<Option<FragmentGroup>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, api_key_id, source, total, seq, encoding, data, to_number, sender, priority, \
         send_at, validity_ms, report, dlr_mask, dlr_url, received_at FROM submit_fragments \
         WHERE group_key = ?1 ORDER BY seq",
    )?;
    let mut rows = stmt.query([group_key])?;
    let mut group: Option<FragmentGroup> = None;
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        let seq: u8 = r.get(4)?;
        let encoding: String = r.get(5)?;
        let data: Vec<u8> = r.get(6)?;
        let received_at = UnixMillis(r.get(15)?);
        let part = (seq, id, FragmentEncoding::parse(&encoding)?, data);
        match &mut group {
            Some(g) => {
                g.parts.push(part);
                g.first_received_at = g.first_received_at.min(received_at);
            }
            None => {
                let source: String = r.get(2)?;
                group = Some(FragmentGroup {
                    api_key: ApiKeyId(r.get(1)?),
                    source: parse_source(&source)?,
                    group_key: group_key.to_owned(),
                    total: r.get(3)?,
                    parts: vec![part],
                    request: FragmentRequest {
                        to: r.get(7)?,
                        sender: r.get(8)?,
                        priority: r.get(9)?,
                        send_at: r.get::<_, Option<i64>>(10)?.map(UnixMillis),
                        validity_ms: r.get(11)?,
                        report: r.get(12)?,
                        dlr_mask: r.get(13)?,
                        dlr_url: r.get(14)?,
                    },
                    first_received_at: received_at,
                });
            }
        }
    }
    Ok(group)
}

fn add_tx(tx: &Transaction<'_>, f: &NewFragment) -> Result<FragmentStored> {
    let existing: Option<i64> = tx
        .prepare_cached("SELECT id FROM submit_fragments WHERE group_key = ?1 AND seq = ?2")?
        .query_row(params![f.group_key, f.seq], |r| r.get(0))
        .optional()?;
    let part_id = match existing {
        // A part sent again (its answer was lost): same id, latest content.
        Some(id) => {
            tx.prepare_cached(
                "UPDATE submit_fragments SET encoding = ?2, data = ?3 WHERE id = ?1",
            )?
            .execute(params![id, f.encoding.as_str(), f.data])?;
            id
        }
        None => {
            let q = &f.request;
            tx.prepare_cached(
                "INSERT INTO submit_fragments (api_key_id, source, group_key, total, seq, encoding, \
                 data, to_number, sender, priority, send_at, validity_ms, report, dlr_mask, dlr_url, \
                 received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, \
                 ?15, ?16)",
            )?
            .execute(params![
                f.api_key.0,
                source_str(f.source),
                f.group_key,
                f.total,
                f.seq,
                f.encoding.as_str(),
                f.data,
                q.to,
                q.sender,
                q.priority,
                q.send_at.map(|t| t.0),
                q.validity_ms,
                q.report,
                q.dlr_mask,
                q.dlr_url,
                f.received_at.0
            ])?;
            tx.last_insert_rowid()
        }
    };
    let have: i64 = tx
        .prepare_cached("SELECT COUNT(*) FROM submit_fragments WHERE group_key = ?1")?
        .query_row([&f.group_key], |r| r.get(0))?;
    if have < i64::from(f.total) {
        return Ok(FragmentStored::Waiting { part_id });
    }
    let group = load_group(tx, &f.group_key)?
        .ok_or_else(|| StoreError::Corrupt("a fragment group vanished".into()))?;
    Ok(FragmentStored::Complete { part_id, group })
}

impl Store {
    /// Stores one part durably (resolves after the commit); says whether it completed its
    /// message.
    pub fn fragment_add(&self, f: NewFragment) -> Committed<FragmentStored> {
        self.inner.writer.write(move |tx| add_tx(tx, &f))
    }

    /// The message made of the parts `part_ids` (of `group_key`) was accepted as `message_id`:
    /// the parts' ids now refer to it, and the parts are removed.
    pub fn fragments_accepted(
        &self,
        group_key: String,
        part_ids: Vec<(u16, i64)>,
        message_id: MessageId,
    ) -> Committed<()> {
        self.inner.writer.write(move |tx| {
            for (seq, part) in &part_ids {
                tx.prepare_cached(
                    "INSERT OR IGNORE INTO client_parts (part_id, message_id, seq) \
                     VALUES (?1, ?2, ?3)",
                )?
                .execute(params![part, message_id.0, seq])?;
                tx.prepare_cached("DELETE FROM submit_fragments WHERE id = ?1 AND group_key = ?2")?
                    .execute(params![part, group_key])?;
            }
            Ok(())
        })
    }

    /// Groups that are complete (a crash came between the last part and the message's accept)
    /// or whose first part arrived before `stale_before` (the rest never came).
    pub async fn fragment_groups_due(
        &self,
        stale_before: UnixMillis,
    ) -> Result<Vec<FragmentGroup>> {
        self.inner
            .readers
            .read(move |conn| {
                let keys: Vec<String> = conn
                    .prepare_cached(
                        "SELECT group_key FROM submit_fragments GROUP BY group_key \
                         HAVING COUNT(*) >= MAX(total) OR MIN(received_at) < ?1 LIMIT 1000",
                    )?
                    .query_map([stale_before.0], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                let mut out = Vec::new();
                for k in keys {
                    if let Some(g) = load_group(conn, &k)? {
                        out.push(g);
                    }
                }
                Ok(out)
            })
            .await
    }

    /// Drops a group's parts (the message could not be accepted at all).
    pub fn fragments_drop(&self, group_key: String) -> Committed<u64> {
        self.inner.writer.write(move |tx| {
            Ok(tx.execute(
                "DELETE FROM submit_fragments WHERE group_key = ?1",
                [group_key],
            )? as u64)
        })
    }

    /// What the id given to a part refers to.
    pub async fn part_lookup(&self, part_id: i64) -> Result<Option<PartLookup>> {
        self.inner
            .readers
            .read(move |conn| {
                let accepted: Option<(i64, u16)> = conn
                    .prepare_cached("SELECT message_id, seq FROM client_parts WHERE part_id = ?1")?
                    .query_row([part_id], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?;
                if let Some((m, seq)) = accepted {
                    return Ok(Some(PartLookup::Message {
                        message_id: MessageId(m),
                        seq,
                    }));
                }
                let waiting: Option<i64> = conn
                    .prepare_cached("SELECT api_key_id FROM submit_fragments WHERE id = ?1")?
                    .query_row([part_id], |r| r.get(0))
                    .optional()?;
                Ok(waiting.map(|k| PartLookup::Waiting {
                    api_key: ApiKeyId(k),
                }))
            })
            .await
    }
}
