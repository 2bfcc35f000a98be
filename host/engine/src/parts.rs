//! Long messages that a client submits part by part (SMPP UDH/SAR parts, Kannel sendsms with a
//! concatenation `udh`): every part is stored durably before the client hears "OK"
//! (`store::fragments`), and the part that completes a message makes the engine accept the whole
//! text as one message, which the carriers split again as they need.
//!
//! DESIGN invariant "nothing accepted is lost": the parts survive a restart; a message whose parts
//! were all stored but which was not accepted yet (a crash in between) is accepted by the sweep
//! ([`Engine::complete_parts`]), with the same idempotency key so it is never stored twice. A
//! message whose other parts never come is sent with the parts that did come after the
//! reassembly timeout, rather than dropped (the client was told each part was accepted).

use std::time::Duration;

use domain::{ApiKeyId, UnixMillis};
use gsm::dcs::Alphabet;
use store::{Accepted, FragmentEncoding, FragmentGroup, FragmentStored, NewFragment};

use crate::accept::SendRequest;
use crate::{Engine, SubmitError};

/// What storing one part did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartAccepted {
    /// The id of this part (what the client is told).
    pub part_id: i64,
    /// The whole message, when this part completed it.
    pub message: Option<Accepted>,
}

/// Decodes octets in `encoding` to text. Invalid input never fails: an undecodable GSM septet or a
/// lone surrogate becomes U+FFFD, so a part is never lost to a bad byte.
pub fn decode_text(encoding: FragmentEncoding, data: &[u8]) -> String {
    match encoding {
        FragmentEncoding::Utf8 => String::from_utf8_lossy(data).into_owned(),
        FragmentEncoding::Latin1 => data.iter().map(|&b| char::from(b)).collect(),
        FragmentEncoding::Ucs2 => gsm::ucs2::decode(data).collect(),
        FragmentEncoding::Gsm7 => {
            // One septet per octet (SMPP's unpacked form); a byte above 0x7F is not a septet.
            let clean: Vec<u8> = data.iter().map(|&b| b & 0x7F).collect();
            let mut text = String::new();
            match gsm::UserData::from_smpp(&clean, false, Alphabet::Gsm7)
                .map_err(|_| ())
                .and_then(|ud| ud.write_text(&mut text).map_err(|_| ()))
            {
                Ok(()) => text,
                Err(()) => data.iter().map(|&b| char::from(b)).collect(),
            }
        }
    }
}

/// The whole text of a group: parts of one encoding are joined before decoding, so a character
/// split across parts (a GSM escape, a surrogate pair) survives.
pub fn group_text(group: &FragmentGroup) -> String {
    let mut text = String::new();
    let mut run: Vec<u8> = Vec::new();
    let mut enc: Option<FragmentEncoding> = None;
    for (_, _, e, data) in &group.parts {
        if enc.is_some_and(|prev| prev != *e) {
            if let Some(prev) = enc {
                text.push_str(&decode_text(prev, &run));
            }
            run.clear();
        }
        enc = Some(*e);
        run.extend_from_slice(data);
    }
    if let Some(e) = enc {
        text.push_str(&decode_text(e, &run));
    }
    text
}

/// The request a complete (or given-up-on) group becomes.
fn request_of(group: &FragmentGroup) -> SendRequest {
    let q = &group.request;
    SendRequest {
        to: q.to.clone(),
        text: group_text(group),
        sender: q.sender.clone(),
        priority: q.priority,
        send_at: q.send_at,
        validity: q
            .validity_ms
            .and_then(|ms| u64::try_from(ms).ok())
            .map(Duration::from_millis),
        report: q.report,
        client_ref: None,
        // The first part's id names the message: accepting the group twice stores it once.
        idempotency_key: group.parts.first().map(|p| format!("parts:{}", p.1)),
        dlr_url: q.dlr_url.clone(),
        dlr_mask: q.dlr_mask,
    }
}

impl Engine {
    /// Stores one part of a long message durably; if it completes the message, accepts the whole
    /// text (validated like any message) and says so.
    ///
    /// A validation error of the whole message (too long, bad number) drops its parts: the
    /// client hears the error on the part that completed it.
    pub async fn submit_part(&self, part: NewFragment) -> Result<PartAccepted, SubmitError> {
        match self.store().fragment_add(part).await? {
            FragmentStored::Waiting { part_id } => Ok(PartAccepted {
                part_id,
                message: None,
            }),
            FragmentStored::Complete { part_id, group } => {
                let accepted = self.accept_group(&group).await?;
                Ok(PartAccepted {
                    part_id,
                    message: Some(accepted),
                })
            }
        }
    }

    async fn accept_group(&self, group: &FragmentGroup) -> Result<Accepted, SubmitError> {
        let req = request_of(group);
        let key: Option<ApiKeyId> = Some(group.api_key);
        match self.submit(key, group.source, &[req]).await {
            Ok(mut stored) => {
                let accepted = stored
                    .pop()
                    .ok_or_else(|| store::StoreError::Corrupt("accept returned nothing".into()))?;
                let ids = group
                    .parts
                    .iter()
                    .map(|(seq, id, _, _)| (u16::from(*seq), *id))
                    .collect();
                self.store()
                    .fragments_accepted(group.group_key.clone(), ids, accepted.id)
                    .await?;
                Ok(accepted)
            }
            Err(SubmitError::Invalid(errors)) => {
                self.store().fragments_drop(group.group_key.clone()).await?;
                Err(SubmitError::Invalid(errors))
            }
            Err(e) => Err(e),
        }
    }

    /// Accepts every group that is complete but not accepted yet (after a crash) and every group
    /// whose first part is older than `timeout` (sent with the parts that came). Returns how many
    /// messages were accepted.
    pub async fn complete_parts(&self, timeout: Duration) -> Result<u64, store::StoreError> {
        let stale_before = UnixMillis(
            UnixMillis::now()
                .0
                .saturating_sub(i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX)),
        );
        let mut done = 0;
        for group in self.store().fragment_groups_due(stale_before).await? {
            if !group.is_complete() {
                tracing::warn!(group = %group.group_key, have = group.parts.len(),
                    total = group.total, "long message incomplete after the reassembly timeout; \
                    sending the parts that came");
            }
            match self.accept_group(&group).await {
                Ok(_) => done += 1,
                Err(SubmitError::Invalid(errors)) => tracing::warn!(group = %group.group_key,
                    ?errors, "parts of a long message dropped: the whole message is invalid"),
                Err(SubmitError::Unavailable(e)) => return Err(e),
                Err(SubmitError::ShuttingDown) => break,
            }
        }
        Ok(done)
    }

    /// Runs [`Engine::complete_parts`] now and then every `timeout / 4` (1 s to 60 s) until
    /// shutdown.
    pub fn start_parts_sweep(&self, timeout: Duration) {
        let engine = self.clone();
        let task = tokio::spawn(async move {
            let every = (timeout / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = engine.complete_parts(timeout).await {
                    tracing::error!(error = %e, "long-message parts sweep failed");
                }
            }
        });
        if let Ok(mut tasks) = self.inner.tasks.lock() {
            tasks.push(task);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(encoding: FragmentEncoding, data: &[u8], expect: &str) {
        assert_eq!(decode_text(encoding, data), expect, "{encoding:?} {data:?}");
    }

    #[test]
    fn part_encodings_decode() {
        check(FragmentEncoding::Utf8, "中文 ok".as_bytes(), "中文 ok");
        check(FragmentEncoding::Latin1, b"caf\xe9", "café");
        check(FragmentEncoding::Ucs2, &[0x4E, 0x2D, 0x00, 0x41], "中A");
        // GSM 03.38: 0x00 is '@', 0x1B 0x65 the euro sign, 0x11 '_'.
        check(
            FragmentEncoding::Gsm7,
            &[0x00, 0x1B, 0x65, 0x11, b'a'],
            "@€_a",
        );
        // A lone surrogate is replaced, not an error.
        check(FragmentEncoding::Ucs2, &[0xD8, 0x3D], "\u{FFFD}");
    }

    #[test]
    fn a_character_split_across_parts_survives() {
        // U+1F600 as a surrogate pair split over two UCS-2 parts.
        let group = FragmentGroup {
            api_key: ApiKeyId(1),
            source: store::Source::Smpp,
            group_key: "k".into(),
            total: 2,
            parts: vec![
                (1, 10, FragmentEncoding::Ucs2, vec![0x00, 0x41, 0xD8, 0x3D]),
                (2, 11, FragmentEncoding::Ucs2, vec![0xDE, 0x00]),
            ],
            request: store::FragmentRequest::default(),
            first_received_at: UnixMillis(0),
        };
        assert_eq!(group_text(&group), "A\u{1F600}");
        let req = request_of(&group);
        assert_eq!(req.idempotency_key.as_deref(), Some("parts:10"));
    }
}
