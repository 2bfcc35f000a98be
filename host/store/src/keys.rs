//! API keys: created with a random secret shown once, stored only as a hash, revocable.
//!
//! DESIGN invariant "secrets are never stored in clear". A key looks like
//! `opk_<8 hex>_<48 hex>`: the first part is a public prefix (shown in lists, used to find the
//! row), the whole string is hashed with SHA-256. A fast hash is right here, unlike for passwords:
//! the secret carries 192 random bits, so there is nothing to brute-force, and the API checks a key
//! on every request.

use domain::{ApiKeyId, UnixMillis};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::writer::Committed;
use crate::{Result, Store, StoreError};

/// A stored key (without its secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApiKey {
    /// Id.
    pub id: ApiKeyId,
    /// Department or application name.
    pub name: String,
    /// Public prefix, `opk_1a2b3c4d`.
    pub prefix: String,
    /// Creation time.
    pub created_at: UnixMillis,
    /// Revocation time, if revoked.
    pub revoked_at: Option<UnixMillis>,
}

/// A key just created: the only time its secret is available.
#[derive(Clone, Debug)]
pub struct NewApiKey {
    /// The stored key.
    pub key: ApiKey,
    /// The full secret to give to the client.
    pub secret: String,
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| StoreError::Corrupt(format!("no randomness: {e}")))?;
    Ok(hex::encode(buf))
}

/// The public prefix of a secret, if it has the key format.
fn prefix_of(secret: &str) -> Option<&str> {
    let rest = secret.strip_prefix("opk_")?;
    let (p, s) = rest.split_once('_')?;
    (p.len() == 8 && s.len() == 48).then(|| &secret[..12])
}

impl Store {
    /// Creates a key named `name`; the returned secret is not stored anywhere.
    pub async fn create_api_key(&self, name: String, now: UnixMillis) -> Result<NewApiKey> {
        let prefix = format!("opk_{}", random_hex(4)?);
        let secret = format!("{prefix}_{}", random_hex(24)?);
        let h = hash(&secret);
        let p = prefix.clone();
        let n = name.clone();
        let id = self
            .inner
            .writer
            .write(move |tx| {
                tx.prepare_cached(
                    "INSERT INTO api_keys (name, prefix, hash, created_at) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![n, p, h, now.0])?;
                Ok(tx.last_insert_rowid())
            })
            .await?;
        Ok(NewApiKey {
            key: ApiKey {
                id: ApiKeyId(id),
                name,
                prefix,
                created_at: now,
                revoked_at: None,
            },
            secret,
        })
    }

    /// The live (not revoked) key whose secret is `secret`.
    pub async fn verify_api_key(&self, secret: String) -> Result<Option<ApiKey>> {
        let Some(prefix) = prefix_of(&secret).map(str::to_owned) else {
            return Ok(None);
        };
        let want = hash(&secret);
        self.inner
            .readers
            .read(move |conn| {
                let row = conn
                    .prepare_cached(
                        "SELECT id, name, prefix, created_at, hash FROM api_keys \
                         WHERE prefix = ?1 AND revoked_at IS NULL",
                    )?
                    .query_row([prefix], |r| {
                        Ok((
                            ApiKey {
                                id: ApiKeyId(r.get(0)?),
                                name: r.get(1)?,
                                prefix: r.get(2)?,
                                created_at: UnixMillis(r.get(3)?),
                                revoked_at: None,
                            },
                            r.get::<_, String>(4)?,
                        ))
                    })
                    .optional()?;
                Ok(row.and_then(|(key, h)| (h == want).then_some(key)))
            })
            .await
    }

    /// Every key, newest first.
    pub async fn list_api_keys(&self) -> Result<Vec<ApiKey>> {
        self.inner
            .readers
            .read(|conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT id, name, prefix, created_at, revoked_at FROM api_keys ORDER BY id DESC",
                )?;
                let rows = stmt.query_map([], |r| {
                    Ok(ApiKey {
                        id: ApiKeyId(r.get(0)?),
                        name: r.get(1)?,
                        prefix: r.get(2)?,
                        created_at: UnixMillis(r.get(3)?),
                        revoked_at: r.get::<_, Option<i64>>(4)?.map(UnixMillis),
                    })
                })?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    /// Revokes a key; false if it does not exist or was already revoked.
    pub fn revoke_api_key(&self, id: ApiKeyId, now: UnixMillis) -> Committed<bool> {
        self.inner.writer.write(move |tx| {
            Ok(tx.execute(
                "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![id.0, now.0],
            )? == 1)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::prefix_of;

    #[test]
    fn prefix_needs_the_key_shape() {
        let good = format!("opk_1a2b3c4d_{}", "0".repeat(48));
        assert_eq!(prefix_of(&good), Some("opk_1a2b3c4d"));
        assert_eq!(prefix_of("opk_1a2b3c4d_short"), None);
        assert_eq!(prefix_of("Bearer xyz"), None);
        assert_eq!(prefix_of(""), None);
    }
}
