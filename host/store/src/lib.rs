//! All of Outpost's SQL: the durable message queue and everything that hangs off it.
//!
//! One SQLite database in WAL mode. Writes go through a single writer thread that commits many
//! callers' work in one transaction ("group commit": one fsync for a whole batch), reads go through
//! a small pool of read-only connections on blocking threads, so no async worker ever waits on
//! SQLite.
//!
//! Durability (DESIGN invariant "nothing accepted is lost"): the database runs with
//! `synchronous=FULL`, so a commit returns only after the WAL is fsync'd; [`Store::accept`] resolves
//! only after its batch committed. A failed commit (disk full, I/O error) fails every caller in
//! the batch with [`StoreError`], which the API turns into 503 — never a silent drop.
#![forbid(unsafe_code)]

mod admin;
mod fragments;
mod inbound;
mod keys;
mod messages;
mod outbox;
mod reader;
mod reports;
mod schema;
mod sweep;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

pub use admin::{
    AuditEntry, Bucket, Credentials, Group, MonthlyRow, NewAudit, NewSession, Role, SessionRecord,
    UnknownRole, User, UserChange,
};
pub use fragments::{
    FragmentEncoding, FragmentGroup, FragmentRequest, FragmentStored, NewFragment, PartLookup,
};
pub use inbound::{InboundFragment, InboundMessage, InboundStored};
pub use keys::{ApiKey, NewApiKey};
pub use messages::{
    Accepted, AttemptRecord, AttemptResult, AttemptStart, BillingRow, MessageDetail, MessageFilter,
    MessageSummary, NewMessage, OutcomeRecord, PartDetail, Pending, Recovery, Source,
};
pub use outbox::{Delivery, NewNotification, Notification, NotifyInfo, OutboxCounts};
pub use reports::{DlrApplied, DlrRecord, Resend, ResendQuery, ResendRule};

pub use sweep::AwaitingReport;

use reader::ReadPool;
pub use writer::Committed;
use writer::Writer;

/// Why a store operation failed. Callers decide: the HTTP API answers 503 for all of these.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The disk (or the configured size limit) is full: nothing from the batch was stored.
    #[error("database or disk is full")]
    Full,
    /// Any other SQLite error.
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
    /// Applying migrations failed at open.
    #[error("database migration failed: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    /// The batch this write belonged to failed to commit.
    #[error("commit failed: {0}")]
    CommitFailed(String),
    /// The writer thread is gone (the store is shutting down or crashed).
    #[error("store is closed")]
    Closed,
    /// A value read back from the database does not parse (a bug or a hand-edited database).
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

impl StoreError {
    fn classify(err: rusqlite::Error) -> StoreError {
        match err.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => StoreError::Full,
            _ => StoreError::Sqlite(err),
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> StoreError {
        StoreError::classify(err)
    }
}

/// Result alias for store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Options for [`Store::open`].
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Read-only connections in the pool.
    pub readers: usize,
    /// Most write jobs committed in one transaction.
    pub max_batch: usize,
    /// Optional cap on the database size in pages (`PRAGMA max_page_count`); used by tests to
    /// produce a real "database or disk is full" error.
    pub max_page_count: Option<u32>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            readers: 4,
            max_batch: 1024,
            max_page_count: None,
        }
    }
}

/// What the writer thread has done: `jobs / commits` is the group-commit factor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Write jobs executed.
    pub jobs: u64,
    /// Transactions committed (each one fsync of the WAL).
    pub commits: u64,
    /// Transactions that failed to commit.
    pub failed_commits: u64,
    /// Jobs waiting for the writer right now.
    pub queued: u64,
}

/// A handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Writer,
    readers: ReadPool,
}

impl Store {
    /// Opens (creating if needed) the database at `path`, applies migrations and starts the
    /// writer thread.
    pub fn open(path: &Path, options: StoreOptions) -> Result<Store> {
        let mut conn = schema::open_connection(path, false)?;
        if let Some(pages) = options.max_page_count {
            conn.pragma_update(None, "max_page_count", pages)?;
        }
        schema::migrate(&mut conn)?;
        let writer = Writer::start(conn, options.max_batch)?;
        let readers = ReadPool::open(path, options.readers.max(1))?;
        Ok(Store {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                writer,
                readers,
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Waits until every write queued before this call has committed (or failed).
    pub fn flush(&self) -> Committed<()> {
        self.inner.writer.write(|_| Ok(()))
    }

    /// Counters of the writer thread's work so far.
    pub fn stats(&self) -> StoreStats {
        let s = &self.inner.writer.stats;
        StoreStats {
            jobs: s.jobs.load(Ordering::Relaxed),
            commits: s.commits.load(Ordering::Relaxed),
            failed_commits: s.failed_commits.load(Ordering::Relaxed),
            queued: s.queued.load(Ordering::Relaxed),
        }
    }

    /// Copies the whole database to `dest` with SQLite's online backup, safe while running.
    pub async fn backup(&self, dest: &Path) -> Result<()> {
        let dest = dest.to_owned();
        self.inner
            .readers
            .read(move |conn| {
                conn.execute("VACUUM INTO ?1", [dest.to_string_lossy().as_ref()])?;
                Ok(())
            })
            .await
    }
}
