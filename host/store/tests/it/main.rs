//! Integration tests of the store on real SQLite files in a temporary directory.

mod admin;
mod inbound;
mod keys;
mod lifecycle;
mod reports;

use std::path::PathBuf;

use domain::{CarrierId, Encoding, Msisdn, Priority, UnixMillis};
use store::{NewMessage, Source, Store, StoreOptions};

/// A store in a fresh temporary directory (kept alive by the returned guard).
pub(crate) fn open() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("outpost.db"), StoreOptions::default()).unwrap();
    (store, dir)
}

pub(crate) fn db_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("outpost.db")
}

pub(crate) fn carrier(name: &str) -> CarrierId {
    CarrierId::new(name).unwrap()
}

pub(crate) fn msg(to: &str, parts: u16) -> NewMessage {
    NewMessage {
        api_key: None,
        source: Source::Http,
        client_ref: None,
        idempotency_key: None,
        to: Msisdn::from_e164(to).unwrap(),
        sender: None,
        body: "hello".into(),
        encoding: Encoding::Gsm7,
        parts,
        priority: Priority::NORMAL,
        not_before: None,
        expires_at: None,
        report: true,
        dlr_url: None,
        dlr_mask: None,
        created_at: UnixMillis(1_700_000_000_000),
    }
}
