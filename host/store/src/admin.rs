//! What the local admin web page stores and reads: users and roles, login sessions, the audit
//! log, runtime settings, recipient groups, and the dashboard's and reports' aggregate queries.
//!
//! DESIGN invariant "secrets are never stored in clear": users carry an argon2id PHC string
//! (hashed by the caller, `host/web`), sessions are stored as the SHA-256 of the cookie's random
//! secret. Changes that must not race (the first admin, the last admin) are decided inside the
//! writer's transaction, not by a read followed by a write.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use domain::UnixMillis;
use rusqlite::{OptionalExtension, Row, Transaction, params};
use serde::Serialize;

use crate::writer::Committed;
use crate::{Result, Store, StoreError};

/// What a user may do on the admin page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Read only: dashboard, messages, inbox, carriers, reports.
    Viewer,
    /// Send, campaigns, inbox replies, reports.
    Operator,
    /// Everything, including users, keys, settings and carrier actions.
    Admin,
}

impl Role {
    /// Every role, least privileged first.
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    /// The database and form name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one of [`Role::ALL`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> std::result::Result<Role, UnknownRole> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// A user of the admin page (without the password hash).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct User {
    /// Id.
    pub id: i64,
    /// Login name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Creation time.
    pub created_at: UnixMillis,
    /// Disabled users cannot log in.
    pub disabled: bool,
}

/// A user with the stored password hash, for checking a login.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// The user.
    pub user: User,
    /// argon2id PHC string.
    pub password_hash: String,
}

/// What a change to a user did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserChange {
    /// Applied.
    Done,
    /// No such user.
    NotFound,
    /// Refused: it would leave no enabled admin.
    LastAdmin,
}

/// A new login session.
#[derive(Clone, Debug)]
pub struct NewSession {
    /// SHA-256 (hex) of the cookie's secret.
    pub id_hash: String,
    /// Who logged in.
    pub user_id: i64,
    /// The session's CSRF token.
    pub csrf: String,
    /// Login time.
    pub now: UnixMillis,
    /// Absolute or idle expiry, whichever the caller computed.
    pub expires_at: UnixMillis,
    /// Client address, for the audit trail.
    pub ip: Option<String>,
}

/// A live session with its user.
#[derive(Clone, Debug)]
pub struct SessionRecord {
    /// The logged-in user.
    pub user: User,
    /// The session's CSRF token.
    pub csrf: String,
    /// Login time.
    pub created_at: UnixMillis,
    /// Last request seen (updated at most once a minute).
    pub last_seen_at: UnixMillis,
    /// Expiry.
    pub expires_at: UnixMillis,
}

/// An audit-log entry to write.
#[derive(Clone, Debug)]
pub struct NewAudit {
    /// When.
    pub at: UnixMillis,
    /// Who (a user name, `cli`, or `-` for anonymous actions such as a failed login).
    pub user: String,
    /// Stable action name (`user.create`, `settings.update`, `carrier.disable`...).
    pub action: String,
    /// What it was done to.
    pub target: Option<String>,
    /// Details (never a secret).
    pub detail: Option<String>,
    /// Client address.
    pub ip: Option<String>,
}

/// A stored audit-log entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// Id (newest is highest).
    pub id: i64,
    /// When.
    pub at: UnixMillis,
    /// Who.
    pub user: String,
    /// Action name.
    pub action: String,
    /// Target.
    pub target: Option<String>,
    /// Details.
    pub detail: Option<String>,
    /// Client address.
    pub ip: Option<String>,
}

/// A recipient group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Group {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Number of members.
    pub members: u64,
}

/// Traffic in one time bucket, for the dashboard chart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Bucket {
    /// Bucket start.
    pub start: UnixMillis,
    /// Messages accepted.
    pub accepted: u64,
    /// Parts accepted by a carrier.
    pub submitted: u64,
    /// Parts reported delivered.
    pub delivered: u64,
    /// Parts reported not delivered (undeliverable, expired, rejected, deleted, unknown).
    pub failed: u64,
}

/// Delivered totals for one month, key and carrier, with the key's name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MonthlyRow {
    /// `YYYY-MM` (UTC).
    pub month: String,
    /// Key id (0 = no key: the web page, channel tests).
    pub api_key: i64,
    /// The key's name (department), if it has one.
    pub key_name: Option<String>,
    /// Carrier.
    pub carrier: String,
    /// Messages delivered completely.
    pub delivered_messages: u64,
    /// Parts delivered.
    pub delivered_parts: u64,
}

fn user_from_row(r: &Row<'_>, at: usize) -> Result<User> {
    let role: String = r.get(at + 2)?;
    Ok(User {
        id: r.get(at)?,
        name: r.get(at + 1)?,
        role: Role::from_str(&role).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        created_at: UnixMillis(r.get(at + 3)?),
        disabled: r.get::<_, Option<i64>>(at + 4)?.is_some(),
    })
}

const USER_COLUMNS: &str = "u.id, u.name, u.role, u.created_at, u.disabled_at";

fn enabled_admins(tx: &Transaction<'_>) -> Result<i64> {
    Ok(tx.query_row(
        "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL",
        [],
        |r| r.get(0),
    )?)
}

fn user_in_tx(tx: &Transaction<'_>, id: i64) -> Result<Option<User>> {
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT {USER_COLUMNS} FROM users u WHERE u.id = ?1"
    ))?;
    let mut rows = stmt.query([id])?;
    match rows.next()? {
        Some(r) => Ok(Some(user_from_row(r, 0)?)),
        None => Ok(None),
    }
}

fn insert_user(
    tx: &Transaction<'_>,
    name: &str,
    role: Role,
    hash: &str,
    now: UnixMillis,
) -> Result<Option<User>> {
    let exists: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM users WHERE name = ?1)",
        [name],
        |r| r.get(0),
    )?;
    if exists {
        return Ok(None);
    }
    tx.prepare_cached(
        "INSERT INTO users (name, role, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![name, role.as_str(), hash, now.0])?;
    Ok(Some(User {
        id: tx.last_insert_rowid(),
        name: name.to_owned(),
        role,
        created_at: now,
        disabled: false,
    }))
}

impl Store {
    /// Number of users (0 means the page offers first-start setup).
    pub async fn count_users(&self) -> Result<u64> {
        self.inner
            .readers
            .read(|conn| {
                let n: i64 = conn.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?;
                Ok(n.max(0) as u64)
            })
            .await
    }

    /// Creates the first admin, only while no user exists (decided inside the write, so two
    /// browsers racing through first-start setup cannot both succeed). `None` if a user exists.
    pub fn create_first_admin(
        &self,
        name: String,
        password_hash: String,
        now: UnixMillis,
    ) -> Committed<Option<User>> {
        self.inner.writer.write(move |tx| {
            let any: bool =
                tx.query_row("SELECT EXISTS (SELECT 1 FROM users)", [], |r| r.get(0))?;
            if any {
                return Ok(None);
            }
            insert_user(tx, &name, Role::Admin, &password_hash, now)
        })
    }

    /// Creates a user (`outpost user add` and the users page). `None` if the name is taken
    /// (names compare case-insensitively).
    pub fn create_user(
        &self,
        name: String,
        role: Role,
        password_hash: String,
        now: UnixMillis,
    ) -> Committed<Option<User>> {
        self.inner
            .writer
            .write(move |tx| insert_user(tx, &name, role, &password_hash, now))
    }

    /// A user and its password hash by login name (case-insensitive), disabled or not.
    pub async fn credentials(&self, name: String) -> Result<Option<Credentials>> {
        self.inner
            .readers
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT {USER_COLUMNS}, u.password_hash FROM users u WHERE u.name = ?1"
                ))?;
                let mut rows = stmt.query([name])?;
                match rows.next()? {
                    Some(r) => Ok(Some(Credentials {
                        user: user_from_row(r, 0)?,
                        password_hash: r.get(5)?,
                    })),
                    None => Ok(None),
                }
            })
            .await
    }

    /// A user's password hash by id.
    pub async fn credentials_by_id(&self, id: i64) -> Result<Option<Credentials>> {
        self.inner
            .readers
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT {USER_COLUMNS}, u.password_hash FROM users u WHERE u.id = ?1"
                ))?;
                let mut rows = stmt.query([id])?;
                match rows.next()? {
                    Some(r) => Ok(Some(Credentials {
                        user: user_from_row(r, 0)?,
                        password_hash: r.get(5)?,
                    })),
                    None => Ok(None),
                }
            })
            .await
    }

    /// Every user, by name.
    pub async fn list_users(&self) -> Result<Vec<User>> {
        self.inner
            .readers
            .read(|conn| {
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT {USER_COLUMNS} FROM users u ORDER BY u.name"
                ))?;
                let mut rows = stmt.query([])?;
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    out.push(user_from_row(r, 0)?);
                }
                Ok(out)
            })
            .await
    }

    /// Changes a user's role; refused if it would leave no enabled admin.
    pub fn set_user_role(&self, id: i64, role: Role) -> Committed<UserChange> {
        self.inner.writer.write(move |tx| {
            let Some(user) = user_in_tx(tx, id)? else {
                return Ok(UserChange::NotFound);
            };
            if user.role == Role::Admin
                && role != Role::Admin
                && !user.disabled
                && enabled_admins(tx)? <= 1
            {
                return Ok(UserChange::LastAdmin);
            }
            tx.execute(
                "UPDATE users SET role = ?2 WHERE id = ?1",
                params![id, role.as_str()],
            )?;
            Ok(UserChange::Done)
        })
    }

    /// Enables or disables a user; disabling ends the user's sessions and is refused for the
    /// last enabled admin.
    pub fn set_user_disabled(
        &self,
        id: i64,
        disabled: bool,
        now: UnixMillis,
    ) -> Committed<UserChange> {
        self.inner.writer.write(move |tx| {
            let Some(user) = user_in_tx(tx, id)? else {
                return Ok(UserChange::NotFound);
            };
            if disabled && user.role == Role::Admin && !user.disabled && enabled_admins(tx)? <= 1 {
                return Ok(UserChange::LastAdmin);
            }
            tx.execute(
                "UPDATE users SET disabled_at = ?2 WHERE id = ?1",
                params![id, disabled.then_some(now.0)],
            )?;
            if disabled {
                tx.execute("DELETE FROM sessions WHERE user_id = ?1", [id])?;
            }
            Ok(UserChange::Done)
        })
    }

    /// Replaces a user's password hash and ends every session of that user except `keep`
    /// (the session that made the change, if it is the user's own).
    pub fn set_password(
        &self,
        id: i64,
        password_hash: String,
        keep: Option<String>,
    ) -> Committed<UserChange> {
        self.inner.writer.write(move |tx| {
            let n = tx.execute(
                "UPDATE users SET password_hash = ?2 WHERE id = ?1",
                params![id, password_hash],
            )?;
            if n == 0 {
                return Ok(UserChange::NotFound);
            }
            tx.execute(
                "DELETE FROM sessions WHERE user_id = ?1 AND id_hash IS NOT ?2",
                params![id, keep],
            )?;
            Ok(UserChange::Done)
        })
    }

    /// Stores a new session.
    pub fn create_session(&self, s: NewSession) -> Committed<()> {
        self.inner.writer.write(move |tx| {
            tx.prepare_cached(
                "INSERT INTO sessions (id_hash, user_id, csrf, created_at, last_seen_at, expires_at, ip) \
                 VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6)",
            )?
            .execute(params![s.id_hash, s.user_id, s.csrf, s.now.0, s.expires_at.0, s.ip])?;
            Ok(())
        })
    }

    /// The live session `id_hash` at `now`, if it exists, has not expired and its user is
    /// enabled.
    pub async fn session(&self, id_hash: String, now: UnixMillis) -> Result<Option<SessionRecord>> {
        self.inner
            .readers
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT {USER_COLUMNS}, s.csrf, s.created_at, s.last_seen_at, s.expires_at \
                     FROM sessions s JOIN users u ON u.id = s.user_id \
                     WHERE s.id_hash = ?1 AND s.expires_at > ?2 AND u.disabled_at IS NULL"
                ))?;
                let mut rows = stmt.query(params![id_hash, now.0])?;
                match rows.next()? {
                    Some(r) => Ok(Some(SessionRecord {
                        user: user_from_row(r, 0)?,
                        csrf: r.get(5)?,
                        created_at: UnixMillis(r.get(6)?),
                        last_seen_at: UnixMillis(r.get(7)?),
                        expires_at: UnixMillis(r.get(8)?),
                    })),
                    None => Ok(None),
                }
            })
            .await
    }

    /// Records activity on a session and moves its expiry (idle timeout). Not awaited by
    /// callers: losing one touch in a crash only shortens a session.
    pub fn touch_session(&self, id_hash: String, now: UnixMillis, expires_at: UnixMillis) {
        self.inner.writer.write_detached(move |tx| {
            tx.prepare_cached(
                "UPDATE sessions SET last_seen_at = ?2, expires_at = ?3 WHERE id_hash = ?1",
            )?
            .execute(params![id_hash, now.0, expires_at.0])?;
            Ok(())
        });
    }

    /// Ends a session (logout).
    pub fn delete_session(&self, id_hash: String) -> Committed<bool> {
        self.inner.writer.write(move |tx| {
            Ok(tx.execute("DELETE FROM sessions WHERE id_hash = ?1", [id_hash])? == 1)
        })
    }

    /// Deletes expired sessions; returns how many.
    pub fn purge_sessions(&self, now: UnixMillis) -> Committed<u64> {
        self.inner.writer.write(move |tx| {
            Ok(tx.execute("DELETE FROM sessions WHERE expires_at <= ?1", [now.0])? as u64)
        })
    }

    /// Appends an audit-log entry; resolves once it is durable.
    pub fn audit(&self, e: NewAudit) -> Committed<()> {
        self.inner.writer.write(move |tx| {
            tx.prepare_cached(
                "INSERT INTO audit_log (at, user_name, action, target, detail, ip) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![e.at.0, e.user, e.action, e.target, e.detail, e.ip])?;
            Ok(())
        })
    }

    /// Audit-log entries, newest first, with keyset paging (`before_id`).
    pub async fn audit_log(&self, before_id: Option<i64>, limit: u32) -> Result<Vec<AuditEntry>> {
        self.inner
            .readers
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT id, at, user_name, action, target, detail, ip FROM audit_log \
                     WHERE ?1 IS NULL OR id < ?1 ORDER BY id DESC LIMIT ?2",
                )?;
                let rows = stmt.query_map(params![before_id, limit.clamp(1, 1000)], |r| {
                    Ok(AuditEntry {
                        id: r.get(0)?,
                        at: UnixMillis(r.get(1)?),
                        user: r.get(2)?,
                        action: r.get(3)?,
                        target: r.get(4)?,
                        detail: r.get(5)?,
                        ip: r.get(6)?,
                    })
                })?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    /// Every runtime setting.
    pub async fn settings(&self) -> Result<BTreeMap<String, String>> {
        self.inner
            .readers
            .read(|conn| {
                let mut stmt = conn.prepare_cached("SELECT key, value FROM settings")?;
                let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    /// Sets runtime settings (all or none); an empty value deletes the key.
    pub fn put_settings(&self, values: Vec<(String, String)>, now: UnixMillis) -> Committed<()> {
        self.inner.writer.write(move |tx| {
            for (k, v) in &values {
                if v.is_empty() {
                    tx.execute("DELETE FROM settings WHERE key = ?1", [k])?;
                } else {
                    tx.prepare_cached(
                        "INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3) \
                         ON CONFLICT(key) DO UPDATE SET value = ?2, updated_at = ?3",
                    )?
                    .execute(params![k, v, now.0])?;
                }
            }
            Ok(())
        })
    }

    /// Creates a recipient group with its numbers (E.164). `None` if the name is taken.
    pub fn create_group(
        &self,
        name: String,
        numbers: Vec<String>,
        now: UnixMillis,
    ) -> Committed<Option<i64>> {
        self.inner.writer.write(move |tx| {
            let exists: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM contact_groups WHERE name = ?1)",
                [&name],
                |r| r.get(0),
            )?;
            if exists {
                return Ok(None);
            }
            tx.execute(
                "INSERT INTO contact_groups (name, created_at) VALUES (?1, ?2)",
                params![name, now.0],
            )?;
            let id = tx.last_insert_rowid();
            let mut stmt = tx.prepare_cached(
                "INSERT OR IGNORE INTO group_members (group_id, number) VALUES (?1, ?2)",
            )?;
            for n in &numbers {
                stmt.execute(params![id, n])?;
            }
            Ok(Some(id))
        })
    }

    /// Deletes a group; false if it did not exist.
    pub fn delete_group(&self, id: i64) -> Committed<bool> {
        self.inner.writer.write(move |tx| {
            tx.execute("DELETE FROM group_members WHERE group_id = ?1", [id])?;
            Ok(tx.execute("DELETE FROM contact_groups WHERE id = ?1", [id])? == 1)
        })
    }

    /// Every group with its size, by name.
    pub async fn groups(&self) -> Result<Vec<Group>> {
        self.inner
            .readers
            .read(|conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT g.id, g.name, (SELECT COUNT(*) FROM group_members m WHERE m.group_id = g.id) \
                     FROM contact_groups g ORDER BY g.name",
                )?;
                let rows = stmt.query_map([], |r| {
                    Ok(Group {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        members: r.get::<_, i64>(2)?.max(0) as u64,
                    })
                })?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    /// A group's numbers, sorted.
    pub async fn group_numbers(&self, id: i64) -> Result<Vec<String>> {
        self.inner
            .readers
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT number FROM group_members WHERE group_id = ?1 ORDER BY number",
                )?;
                let rows = stmt.query_map([id], |r| r.get(0))?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    /// Traffic per `bucket_ms` bucket from `since` (aligned down to a bucket) to `until`: one
    /// entry per bucket, empty buckets included, oldest first. Each count is a range scan on an
    /// index (`messages_created`, `parts_submitted`, `parts_dlr`).
    pub async fn throughput(
        &self,
        since: UnixMillis,
        until: UnixMillis,
        bucket_ms: i64,
    ) -> Result<Vec<Bucket>> {
        let bucket_ms = bucket_ms.max(1_000);
        let start = since.0.div_euclid(bucket_ms) * bucket_ms;
        let n = usize::try_from((until.0 - start).div_euclid(bucket_ms) + 1)
            .unwrap_or(0)
            .min(10_000);
        self.inner
            .readers
            .read(move |conn| {
                let mut out: Vec<Bucket> = (0..n)
                    .map(|i| Bucket {
                        start: UnixMillis(start + i as i64 * bucket_ms),
                        ..Bucket::default()
                    })
                    .collect();
                let index = |t: i64| usize::try_from((t - start).div_euclid(bucket_ms)).ok();
                let mut add = |sql: &str, f: &mut dyn FnMut(&mut Bucket, u64, u64)| -> Result<()> {
                    let mut stmt = conn.prepare_cached(sql)?;
                    let mut rows = stmt.query(params![start, until.0, bucket_ms])?;
                    while let Some(r) = rows.next()? {
                        let b: i64 = r.get(0)?;
                        let a: i64 = r.get(1)?;
                        let c: i64 = r.get(2)?;
                        if let Some(slot) = index(b * bucket_ms).and_then(|i| out.get_mut(i)) {
                            f(slot, a.max(0) as u64, c.max(0) as u64);
                        }
                    }
                    Ok(())
                };
                add(
                    "SELECT created_at / ?3, COUNT(*), 0 FROM messages \
                     WHERE created_at >= ?1 AND created_at <= ?2 GROUP BY 1",
                    &mut |b, a, _| b.accepted = a,
                )?;
                add(
                    "SELECT submitted_at / ?3, COUNT(*), 0 FROM parts \
                     WHERE submitted_at >= ?1 AND submitted_at <= ?2 GROUP BY 1",
                    &mut |b, a, _| b.submitted = a,
                )?;
                add(
                    "SELECT dlr_at / ?3, SUM(dlr_status = 'delivered'), \
                     SUM(dlr_status NOT IN ('delivered', 'enroute')) FROM parts \
                     WHERE dlr_at >= ?1 AND dlr_at <= ?2 GROUP BY 1",
                    &mut |b, d, f| {
                        b.delivered = d;
                        b.failed = f;
                    },
                )?;
                Ok(out)
            })
            .await
    }

    /// Attempts started per carrier since `since` (a slot's "sent in the last 24 h", the
    /// window its daily limit counts), by carrier id.
    pub async fn attempts_since(&self, since: UnixMillis) -> Result<BTreeMap<String, u64>> {
        self.inner
            .readers
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT carrier_id, COUNT(*) FROM attempts WHERE started_at >= ?1 \
                     AND (outcome IS NULL OR outcome <> 'lost') GROUP BY carrier_id",
                )?;
                let rows = stmt.query_map([since.0], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
                })?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    /// Months that have billing rows, newest first.
    pub async fn billing_months(&self) -> Result<Vec<String>> {
        self.inner
            .readers
            .read(|conn| {
                let mut stmt =
                    conn.prepare_cached("SELECT DISTINCT month FROM billing ORDER BY month DESC")?;
                let rows = stmt.query_map([], |r| r.get(0))?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    /// Delivered totals with each key's name, optionally for one month (`YYYY-MM`).
    pub async fn monthly_report(&self, month: Option<String>) -> Result<Vec<MonthlyRow>> {
        self.inner
            .readers
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT b.month, b.api_key_id, k.name, b.carrier_id, b.delivered_messages, \
                     b.delivered_parts FROM billing b LEFT JOIN api_keys k ON k.id = b.api_key_id \
                     WHERE ?1 IS NULL OR b.month = ?1 \
                     ORDER BY b.month DESC, b.api_key_id, b.carrier_id",
                )?;
                let rows = stmt.query_map([month], |r| {
                    Ok(MonthlyRow {
                        month: r.get(0)?,
                        api_key: r.get(1)?,
                        key_name: r.get(2)?,
                        carrier: r.get(3)?,
                        delivered_messages: r.get::<_, i64>(4)?.max(0) as u64,
                        delivered_parts: r.get::<_, i64>(5)?.max(0) as u64,
                    })
                })?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    /// Remembers that an admin switched carrier `id` on or off, so the service can apply it
    /// again at its next start (`carrier_overrides`).
    pub fn set_carrier_override(
        &self,
        id: String,
        enabled: bool,
        now: UnixMillis,
    ) -> Committed<()> {
        self.inner.writer.write(move |tx| {
            tx.execute(
                "INSERT INTO carrier_overrides (carrier_id, enabled, updated_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT(carrier_id) DO UPDATE SET enabled = ?2, updated_at = ?3",
                params![id, enabled, now.0],
            )?;
            Ok(())
        })
    }

    /// Every carrier an admin switched on or off: (carrier id, enabled).
    pub async fn carrier_overrides(&self) -> Result<Vec<(String, bool)>> {
        self.inner
            .readers
            .read(|conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT carrier_id, enabled FROM carrier_overrides ORDER BY carrier_id",
                )?;
                let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    /// One inbound message by id (for the inbox's reply form).
    pub async fn inbound_message(&self, id: i64) -> Result<Option<crate::InboundMessage>> {
        self.inner
            .readers
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(
                        "SELECT id, carrier_id, from_number, to_number, body, sc_timestamp, \
                         received_at, parts, complete FROM inbound WHERE id = ?1",
                    )?
                    .query_row([id], |r| {
                        Ok(crate::InboundMessage {
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
                    })
                    .optional()?)
            })
            .await
    }
}

#[cfg(test)]
mod tests {

    /// The dashboard's queries must be index range scans, not table scans: they run every few
    /// seconds on a table that grows by every message.
    #[test]
    fn dashboard_queries_use_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outpost.db");
        let mut conn = crate::schema::open_connection(&path, false).unwrap();
        crate::schema::migrate(&mut conn).unwrap();
        let plan = |sql: &str| -> String {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let rows = stmt
                .query_map([], |r| r.get::<_, String>(3))
                .unwrap()
                .collect::<rusqlite::Result<Vec<_>>>()
                .unwrap();
            rows.join("; ")
        };
        for (sql, index) in [
            (
                "SELECT created_at / 60000, COUNT(*) FROM messages WHERE created_at >= 1 AND created_at <= 2 GROUP BY 1",
                "messages_created",
            ),
            (
                "SELECT submitted_at / 60000, COUNT(*) FROM parts WHERE submitted_at >= 1 AND submitted_at <= 2 GROUP BY 1",
                "parts_submitted",
            ),
            (
                "SELECT dlr_at / 60000, COUNT(*) FROM parts WHERE dlr_at >= 1 AND dlr_at <= 2 GROUP BY 1",
                "parts_dlr",
            ),
            (
                "SELECT carrier_id, COUNT(*) FROM attempts WHERE started_at >= 1 GROUP BY carrier_id",
                "attempts_started",
            ),
            (
                "SELECT id FROM audit_log WHERE id < 5 ORDER BY id DESC LIMIT 5",
                "INTEGER PRIMARY KEY",
            ),
        ] {
            let p = plan(sql);
            assert!(p.contains(index), "{sql}\n  plan: {p}");
        }
    }
}
