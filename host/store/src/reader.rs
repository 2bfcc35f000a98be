//! A small pool of read-only connections used from blocking threads.
//!
//! WAL lets readers run concurrently with the writer; each query runs on tokio's blocking pool so
//! async workers never wait on SQLite.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use tokio::sync::Semaphore;

use crate::schema::open_connection;
use crate::{Result, StoreError};

pub(crate) struct ReadPool {
    conns: Arc<Mutex<Vec<Connection>>>,
    permits: Arc<Semaphore>,
}

impl ReadPool {
    pub(crate) fn open(path: &Path, n: usize) -> Result<ReadPool> {
        let conns = (0..n)
            .map(|_| open_connection(path, true))
            .collect::<Result<Vec<_>>>()?;
        Ok(ReadPool {
            conns: Arc::new(Mutex::new(conns)),
            permits: Arc::new(Semaphore::new(n)),
        })
    }

    /// Runs `f` on a pooled connection on a blocking thread. Cancelling the future lets the query
    /// finish in the background; the connection returns to the pool either way.
    pub(crate) async fn read<F, T>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        let conns = self.conns.clone();
        tokio::task::spawn_blocking(move || {
            let conn = conns
                .lock()
                .map_err(|_| StoreError::Closed)?
                .pop()
                .ok_or(StoreError::Closed)?;
            let out = f(&conn);
            if let Ok(mut pool) = conns.lock() {
                pool.push(conn);
            }
            drop(permit);
            out
        })
        .await
        .map_err(|_| StoreError::Closed)?
    }
}
