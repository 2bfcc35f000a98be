//! What the admin page asks of the engine beyond the front doors' `submit`: sending under
//! runtime settings, a channel test through one chosen carrier, "resend via another channel",
//! and carrier commands.
//!
//! A channel test and a resend-via are *directed* attempts: the admin chose the carrier, so the
//! scheduling policy is not asked and the message is never moved to another carrier (a test that
//! silently went elsewhere would prove nothing). The attempt is still recorded the way the
//! dispatcher records one (start, then exactly one outcome; DESIGN invariant "every attempt ends
//! in exactly one outcome"), and its delivery report is matched by the usual event path, so the
//! message trace shows it like any other.

use std::sync::Arc;
use std::time::Duration;

use carriers::{Carrier, Command, CommandError, OutboundMessage};
use domain::{CarrierId, MessageId, MessageState, Outcome, UnixMillis};
use store::{Accepted, AttemptResult, AttemptStart, NewMessage, OutcomeRecord, Source, StoreError};

use crate::accept::{self, AcceptConfig, FieldError, SendRequest};
use crate::dispatch::Inbox;
use crate::queue::Live;
use crate::{Engine, Event, SubmitError};

/// Why an admin action was refused.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No carrier has this id.
    #[error("no carrier {0}")]
    NoSuchCarrier(String),
    /// No message has this id.
    #[error("no message {0}")]
    NoSuchMessage(MessageId),
    /// The request has invalid fields; nothing was stored.
    #[error("invalid request")]
    Invalid(Vec<FieldError>),
    /// The store could not take it.
    #[error("storage unavailable: {0}")]
    Unavailable(#[from] StoreError),
    /// The engine is shutting down.
    #[error("shutting down")]
    ShuttingDown,
    /// The carrier refused the command.
    #[error("{0}")]
    Command(#[from] CommandError),
}

impl From<SubmitError> for AdminError {
    fn from(e: SubmitError) -> AdminError {
        match e {
            SubmitError::Invalid(f) => AdminError::Invalid(f),
            SubmitError::Unavailable(e) => AdminError::Unavailable(e),
            SubmitError::ShuttingDown => AdminError::ShuttingDown,
        }
    }
}

impl Engine {
    /// Like [`Engine::submit`], but validated under `config` instead of the configured rules:
    /// the admin page passes the configuration with its runtime settings (signature, default
    /// country) applied.
    pub async fn submit_with(
        &self,
        config: &AcceptConfig,
        api_key: Option<domain::ApiKeyId>,
        source: Source,
        requests: &[SendRequest],
    ) -> Result<Vec<Accepted>, SubmitError> {
        if self.is_closing() {
            return Err(SubmitError::ShuttingDown);
        }
        let now = UnixMillis::now();
        let mut messages = Vec::with_capacity(requests.len());
        let mut errors = Vec::new();
        let many = requests.len() > 1;
        for (i, req) in requests.iter().enumerate() {
            match accept::validate(req, config, api_key, source, now) {
                Ok(m) => messages.push(m),
                Err(errs) if many => errors.extend(
                    errs.into_iter()
                        .map(|e| e.within(&format!("messages[{i}]"))),
                ),
                Err(errs) => errors.extend(errs),
            }
        }
        if !errors.is_empty() {
            return Err(SubmitError::Invalid(errors));
        }
        let stored = self.store().accept(messages.clone()).await?;
        for (m, a) in messages.into_iter().zip(&stored) {
            if !a.duplicate {
                let _ = self.inner.inbox.send(Inbox::New(live(a.id, m, now)));
            }
        }
        self.shared().accepted.fetch_add(
            stored.iter().filter(|a| !a.duplicate).count() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        Ok(stored)
    }

    /// The carrier with id `id`.
    pub fn carrier(&self, id: &str) -> Option<Arc<dyn Carrier>> {
        self.carriers()
            .iter()
            .find(|c| c.id().as_str() == id)
            .cloned()
    }

    /// Whether an admin switched `id` off ([`Engine::set_enabled`]).
    pub fn is_disabled(&self, id: &CarrierId) -> bool {
        self.shared().disabled.read().is_ok_and(|d| d.contains(id))
    }

    /// Runs an admin command (reset, power-cycle) on carrier `id`.
    pub async fn carrier_command(&self, id: &str, cmd: Command) -> Result<(), AdminError> {
        let c = self
            .carrier(id)
            .ok_or_else(|| AdminError::NoSuchCarrier(id.to_owned()))?;
        c.command(cmd).await?;
        self.wake();
        Ok(())
    }

    /// A channel test: stores one message (source `test`) under `config` and sends it through
    /// carrier `carrier` only. Answers with the message id once it is stored; the attempt runs
    /// in the background and its outcome and delivery report appear in the message's trace.
    pub async fn channel_test(
        &self,
        config: &AcceptConfig,
        carrier: &str,
        request: &SendRequest,
    ) -> Result<MessageId, AdminError> {
        let c = self
            .carrier(carrier)
            .ok_or_else(|| AdminError::NoSuchCarrier(carrier.to_owned()))?;
        self.directed(c, config, request, Source::Test).await
    }

    /// "Resend via another channel": a copy of message `id` (same destination, sender and text,
    /// not signed again) sent through `carrier` only, for complaint handling. The copy is a new
    /// message whose client reference names the original (`resend-of-<id>`).
    pub async fn resend_via(&self, id: MessageId, carrier: &str) -> Result<MessageId, AdminError> {
        let c = self
            .carrier(carrier)
            .ok_or_else(|| AdminError::NoSuchCarrier(carrier.to_owned()))?;
        let original = self
            .store()
            .message(id)
            .await?
            .ok_or(AdminError::NoSuchMessage(id))?
            .message;
        let request = SendRequest {
            to: original.to,
            text: original.body,
            sender: original.sender,
            priority: Some(original.priority.get()),
            client_ref: Some(format!("resend-of-{}", original.id)),
            ..SendRequest::default()
        };
        // The stored body already carries the signature: validate without adding it again.
        let config = AcceptConfig {
            signature: None,
            ..(*self.accept_config()).clone()
        };
        self.directed(c, &config, &request, Source::Web).await
    }

    async fn directed(
        &self,
        carrier: Arc<dyn Carrier>,
        config: &AcceptConfig,
        request: &SendRequest,
        source: Source,
    ) -> Result<MessageId, AdminError> {
        if self.is_closing() {
            return Err(AdminError::ShuttingDown);
        }
        let now = UnixMillis::now();
        let m =
            accept::validate(request, config, None, source, now).map_err(AdminError::Invalid)?;
        let stored = self.store().accept(vec![m.clone()]).await?;
        let id = stored
            .first()
            .map(|a| a.id)
            .ok_or_else(|| StoreError::Corrupt("accept returned nothing".into()))?;
        tokio::spawn(directed_attempt(self.clone(), carrier, id, m));
        Ok(id)
    }

    fn is_closing(&self) -> bool {
        self.inner
            .closing
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

fn live(id: MessageId, m: NewMessage, now: UnixMillis) -> Live {
    Live {
        id,
        to: m.to,
        sender: m.sender,
        body: Arc::from(m.body),
        encoding: m.encoding,
        parts: m.parts,
        priority: m.priority,
        expires_at: m.expires_at,
        next_attempt_at: m.not_before.unwrap_or(now),
        round: 0,
        attempts: 0,
        tried: Vec::new(),
        carried: Vec::new(),
        avoid: Vec::new(),
    }
}

/// One attempt on a carrier the admin chose; its one outcome is final for the message unless
/// the carrier accepted it (then the delivery report decides, as for any message).
pub(crate) async fn directed_attempt(
    engine: Engine,
    carrier: Arc<dyn Carrier>,
    id: MessageId,
    m: NewMessage,
) {
    let now = UnixMillis::now();
    let cid = carrier.id().clone();
    engine.store().start_attempt(AttemptStart {
        message_id: id,
        no: 1,
        carrier: cid.clone(),
        round: 0,
        at: now,
    });
    let msg = OutboundMessage {
        id,
        to: m.to,
        sender: m.sender,
        body: Arc::from(m.body),
        encoding: m.encoding,
        parts: m.parts,
        reference: (id.0 & 0xFFFF) as u16,
        report: true,
        validity: m
            .expires_at
            .map(|e| e.since(now).max(Duration::from_secs(60))),
        priority: m.priority,
    };
    let outcome = carrier.submit(&msg).await;
    let (result, announce) = match outcome {
        Outcome::Accepted { carrier_refs } => (
            AttemptResult::Accepted { refs: carrier_refs },
            Event::Submitted { id },
        ),
        // Not retried elsewhere: the admin asked for this carrier.
        Outcome::Retry { reason, .. } => (
            AttemptResult::Final {
                outcome: "retry",
                detail: format!("{reason} (directed attempt: not retried on another carrier)"),
                state: MessageState::Failed,
            },
            Event::Final {
                id,
                state: MessageState::Failed,
            },
        ),
        Outcome::Reject { reason } => (
            AttemptResult::Final {
                outcome: "reject",
                detail: reason.to_string(),
                state: MessageState::Failed,
            },
            Event::Final {
                id,
                state: MessageState::Failed,
            },
        ),
    };
    let done = engine.store().finish_attempt(OutcomeRecord {
        message_id: id,
        no: 1,
        carrier: cid,
        at: UnixMillis::now(),
        result,
    });
    match done.await {
        Ok(applied) => {
            engine.shared().emit(announce);
            for a in applied {
                engine.shared().emit(Event::Report(a));
            }
        }
        Err(e) => tracing::error!(message = %id, error = %e, "could not record a directed attempt"),
    }
}
