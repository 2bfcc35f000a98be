//! Sending through a carrier the client named: Kannel sendsms's `smsc=` parameter. Like the admin
//! page's channel test (`admin.rs`), it is a *directed* attempt: the policy is not asked and the
//! message is not moved to another carrier (the client asked for this one), but it is stored,
//! billed to the client's key and traced like any other message.

use std::sync::Arc;

use domain::{ApiKeyId, MessageId, UnixMillis};
use store::{Source, StoreError};

use crate::Engine;
use crate::accept::{self, SendRequest};
use crate::admin::{AdminError, directed_attempt};

impl Engine {
    /// Validates and stores `request` (key `api_key`, front door `source`), then makes one
    /// attempt on carrier `carrier` only. Resolves with the message id once it is durable.
    pub async fn submit_via(
        &self,
        api_key: Option<ApiKeyId>,
        source: Source,
        carrier: &str,
        request: &SendRequest,
    ) -> Result<MessageId, AdminError> {
        let c = self
            .carrier(carrier)
            .ok_or_else(|| AdminError::NoSuchCarrier(carrier.to_owned()))?;
        if self
            .inner
            .closing
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            return Err(AdminError::ShuttingDown);
        }
        let now = UnixMillis::now();
        let m = accept::validate(request, &self.accept_config(), api_key, source, now)
            .map_err(AdminError::Invalid)?;
        let stored = self.store().accept(vec![m.clone()]).await?;
        let first = stored
            .first()
            .ok_or_else(|| StoreError::Corrupt("accept returned nothing".into()))?;
        if !first.duplicate {
            tokio::spawn(directed_attempt(self.clone(), Arc::clone(&c), first.id, m));
        }
        Ok(first.id)
    }
}
