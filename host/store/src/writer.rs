//! The single writer thread and its group commit.
//!
//! Callers send jobs (closures over a transaction) down a channel. The thread takes every job
//! waiting, runs each inside its own savepoint of one transaction, commits once, and only then
//! answers each caller: a job's result is released only when its data is durable. If the commit
//! fails, every job in the batch gets the error, so a caller never hears "stored" for data that
//! is not.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::thread;

use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use crate::{Result, StoreError};

/// A unit of work for the writer thread.
trait Job: Send {
    /// Runs inside a savepoint; an error rolls back only this job.
    fn run(&mut self, tx: &Transaction<'_>);
    /// Called after the batch's commit with its result.
    fn finish(self: Box<Self>, committed: Result<()>);
}

struct Call<F, T> {
    f: Option<F>,
    result: Option<Result<T>>,
    reply: Option<oneshot::Sender<Result<T>>>,
}

impl<F, T> Job for Call<F, T>
where
    F: FnOnce(&Transaction<'_>) -> Result<T> + Send,
    T: Send,
{
    fn run(&mut self, tx: &Transaction<'_>) {
        let Some(f) = self.f.take() else { return };
        // A savepoint per job: an error rolls back this job's changes only, not its batch-mates'.
        // The savepoint statements come from the statement cache: parsing them anew for every
        // job (`execute_batch`) cost a few percent of the writer's time under load.
        let exec = |sql: &str| tx.prepare_cached(sql).and_then(|mut s| s.execute([]));
        let result = match exec("SAVEPOINT job") {
            Err(e) => Err(StoreError::classify(e)),
            Ok(_) => match f(tx) {
                Ok(v) => exec("RELEASE job").map(|_| v).map_err(StoreError::classify),
                Err(e) => {
                    if let Err(rb) = exec("ROLLBACK TO job").and_then(|_| exec("RELEASE job")) {
                        tracing::error!(error = %rb, "rolling back a failed store job");
                    }
                    Err(e)
                }
            },
        };
        self.result = Some(result);
    }

    fn finish(mut self: Box<Self>, committed: Result<()>) {
        let result = match (committed, self.result.take()) {
            (Ok(()), Some(r)) => r,
            (Ok(()), None) => Err(StoreError::Closed),
            (Err(e), Some(Ok(_))) => Err(e),
            // The job itself failed: its own error is the more precise one.
            (Err(_), Some(Err(e))) => Err(e),
            (Err(e), None) => Err(e),
        };
        if let Some(reply) = self.reply.take() {
            let _ = reply.send(result);
        } else if let Err(e) = result {
            tracing::error!(error = %e, "background store write failed");
        }
    }
}

/// A queued write: resolves to its result once the batch holding it committed.
#[must_use = "the write is queued either way; await this to learn whether it committed"]
pub struct Committed<T> {
    rx: Option<oneshot::Receiver<Result<T>>>,
}

impl<T> Future for Committed<T> {
    type Output = Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        match self.rx.as_mut() {
            None => Poll::Ready(Err(StoreError::Closed)),
            Some(rx) => Pin::new(rx)
                .poll(cx)
                .map(|r| r.unwrap_or(Err(StoreError::Closed))),
        }
    }
}

/// Counters of the writer's work, for metrics and for tests of group commit.
#[derive(Debug, Default)]
pub(crate) struct WriterStats {
    pub(crate) jobs: AtomicU64,
    pub(crate) commits: AtomicU64,
    pub(crate) failed_commits: AtomicU64,
    pub(crate) queued: AtomicU64,
}

/// The handle used to queue jobs.
pub(crate) struct Writer {
    tx: mpsc::UnboundedSender<Box<dyn Job>>,
    pub(crate) stats: Arc<WriterStats>,
}

impl Writer {
    pub(crate) fn start(conn: Connection, max_batch: usize) -> Result<Writer> {
        let (tx, rx) = mpsc::unbounded_channel();
        let stats = Arc::new(WriterStats::default());
        let s = stats.clone();
        thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer_loop(conn, rx, max_batch.max(1), &s))
            .map_err(|e| StoreError::Corrupt(format!("cannot start writer thread: {e}")))?;
        Ok(Writer { tx, stats })
    }

    /// Queues `f` now (writes run in the order they were queued, whenever their futures are
    /// polled) and returns a future that resolves once it committed. Dropping the future does not
    /// cancel the write: it still runs and commits; only the answer is lost.
    pub(crate) fn write<F, T>(&self, f: F) -> Committed<T>
    where
        F: FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        self.stats.queued.fetch_add(1, Ordering::Relaxed);
        let sent = self.tx.send(Box::new(Call {
            f: Some(f),
            result: None,
            reply: Some(reply),
        }));
        Committed {
            rx: sent.is_ok().then_some(rx),
        }
    }

    /// Queues `f` without waiting; failures are logged. Jobs run in the order queued, so a later
    /// [`Writer::write`] observes this one's effects.
    pub(crate) fn write_detached<F>(&self, f: F)
    where
        F: FnOnce(&Transaction<'_>) -> Result<()> + Send + 'static,
    {
        let job: Box<dyn Job> = Box::new(Call {
            f: Some(f),
            result: None,
            reply: None,
        });
        self.stats.queued.fetch_add(1, Ordering::Relaxed);
        if self.tx.send(job).is_err() {
            tracing::error!("store writer is gone; a background write was dropped");
        }
    }
}

fn writer_loop(
    mut conn: Connection,
    mut rx: mpsc::UnboundedReceiver<Box<dyn Job>>,
    max: usize,
    stats: &WriterStats,
) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(max);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < max {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let committed = run_batch(&mut conn, &mut batch);
        let n = batch.len() as u64;
        stats.jobs.fetch_add(n, Ordering::Relaxed);
        stats.queued.fetch_sub(n, Ordering::Relaxed);
        if committed.is_ok() {
            stats.commits.fetch_add(1, Ordering::Relaxed);
        } else {
            stats.failed_commits.fetch_add(1, Ordering::Relaxed);
        }
        for job in batch.drain(..) {
            let c = match &committed {
                Ok(()) => Ok(()),
                Err(e) => Err(copy_error(e)),
            };
            job.finish(c);
        }
    }
}

fn run_batch(conn: &mut Connection, batch: &mut [Box<dyn Job>]) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(StoreError::classify)?;
    for job in batch.iter_mut() {
        job.run(&tx);
    }
    tx.commit().map_err(StoreError::classify)
}

/// `StoreError` holds a `rusqlite::Error`, which is not `Clone`; each job gets an equivalent.
fn copy_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::Full => StoreError::Full,
        StoreError::Closed => StoreError::Closed,
        other => StoreError::CommitFailed(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failing_job_rolls_back_alone_and_its_batch_mates_commit() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (v INTEGER)").unwrap();
        let w = Writer::start(conn, 64).unwrap();
        // Hold the writer in a first batch so the next three jobs queue up and run as one batch.
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let (running, started) = std::sync::mpsc::channel::<()>();
        let gate = w.write(move |_| {
            let _ = running.send(());
            let _ = wait.recv();
            Ok(())
        });
        started.recv().unwrap();
        let insert = |v: i64| {
            move |tx: &Transaction<'_>| {
                tx.execute("INSERT INTO t VALUES (?1)", [v])
                    .map_err(StoreError::classify)
            }
        };
        let a = w.write(insert(1));
        let b = w.write(move |tx| {
            insert(2)(tx)?;
            Err::<usize, _>(StoreError::Corrupt("job fails after writing".into()))
        });
        let c = w.write(insert(3));
        go.send(()).unwrap();
        gate.await.unwrap();
        assert_eq!(a.await.unwrap(), 1);
        assert!(b.await.is_err());
        assert_eq!(c.await.unwrap(), 1);
        assert_eq!(
            w.stats.commits.load(Ordering::Relaxed),
            2,
            "gate, then one batch"
        );
        let rows = w
            .write(|tx| {
                tx.query_row("SELECT group_concat(v) FROM t", [], |r| {
                    r.get::<_, String>(0)
                })
                .map_err(StoreError::classify)
            })
            .await
            .unwrap();
        assert_eq!(rows, "1,3");
    }
}
