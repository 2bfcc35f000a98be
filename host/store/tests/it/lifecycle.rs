//! Accept durability, idempotency, group commit, dispatch bookkeeping and crash recovery.

use domain::{MessageState, UnixMillis};
use store::{
    AttemptResult, AttemptStart, MessageFilter, OutcomeRecord, Store, StoreError, StoreOptions,
};

use crate::{carrier, db_path, msg, open};

#[tokio::test]
async fn accepted_messages_are_on_disk_when_accept_returns() {
    let (store, dir) = open();
    let ids = store
        .accept(vec![msg("+8613800138000", 1), msg("+8613900139000", 2)])
        .await
        .unwrap();
    assert_eq!(ids.len(), 2);
    assert!(!ids[0].duplicate);
    assert_eq!(ids[1].parts, 2);
    // An independent connection sees the committed rows immediately: no flush needed.
    let raw = rusqlite::Connection::open(db_path(&dir)).unwrap();
    let n: i64 = raw
        .query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0))
        .unwrap();
    let parts: i64 = raw
        .query_row("SELECT COUNT(*) FROM parts", [], |r| r.get(0))
        .unwrap();
    assert_eq!((n, parts), (2, 3));
    let sync: i64 = raw
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sync, 2, "a fresh connection defaults to FULL too");
    drop(store);
    // Reopening (as after a restart) finds them queued.
    let store = Store::open(&db_path(&dir), StoreOptions::default()).unwrap();
    let live = store.load_live().await.unwrap();
    assert_eq!(live.len(), 2);
    assert!(live.iter().all(|m| m.state == MessageState::Queued));
    assert_eq!(live[0].to.as_str(), "+8613800138000");
}

#[tokio::test]
async fn idempotency_key_stores_one_message_per_key_and_api_key() {
    let (store, _dir) = open();
    let k1 = store
        .create_api_key("a".into(), UnixMillis(1))
        .await
        .unwrap()
        .key
        .id;
    let k2 = store
        .create_api_key("b".into(), UnixMillis(1))
        .await
        .unwrap()
        .key
        .id;
    let mut m = msg("+8613800138000", 1);
    m.api_key = Some(k1);
    m.idempotency_key = Some("order-42".into());
    let first = store.accept(vec![m.clone()]).await.unwrap();
    let again = store.accept(vec![m.clone()]).await.unwrap();
    assert_eq!(again[0].id, first[0].id);
    assert!(again[0].duplicate);
    // The same key under another API key is another message.
    m.api_key = Some(k2);
    let other = store.accept(vec![m]).await.unwrap();
    assert_ne!(other[0].id, first[0].id);
    assert!(!other[0].duplicate);
    let all = store
        .search(MessageFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
}

#[tokio::test]
async fn concurrent_accepts_share_commits() {
    let (store, _dir) = open();
    let before = store.stats();
    let mut tasks = Vec::new();
    for i in 0..400 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            s.accept(vec![msg(&format!("+86138{:08}", i), 1)])
                .await
                .unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let after = store.stats();
    let jobs = after.jobs - before.jobs;
    let commits = after.commits - before.commits;
    assert_eq!(jobs, 400);
    assert!(
        commits < 400,
        "group commit should batch: {commits} commits for {jobs} jobs"
    );
}

#[tokio::test]
async fn a_full_disk_refuses_the_whole_batch() {
    let dir = tempfile::tempdir().unwrap();
    let opts = StoreOptions {
        // Room for the schema (all migrations) and a few batches, not for 200 of them.
        max_page_count: Some(120),
        ..Default::default()
    };
    let store = Store::open(&db_path(&dir), opts).unwrap();
    let mut failed = None;
    for round in 0..200 {
        let batch: Vec<_> = (0..50)
            .map(|i| {
                let mut m = msg("+8613800138000", 1);
                m.body = format!("{round}-{i}-{}", "x".repeat(300));
                m
            })
            .collect();
        match store.accept(batch).await {
            Ok(_) => {}
            Err(e) => {
                failed = Some((round, e));
                break;
            }
        }
    }
    let (round, err) = failed.expect("the database must fill up");
    assert!(matches!(err, StoreError::Full), "got {err:?}");
    // Nothing of the failed batch is visible: every stored batch is whole.
    let raw = rusqlite::Connection::open(db_path(&dir)).unwrap();
    let n: i64 = raw
        .query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, round as i64 * 50);
}

#[tokio::test]
async fn crash_recovery_requeues_in_flight_attempts() {
    let (store, dir) = open();
    let ids = store
        .accept(vec![msg("+8613800138000", 1), msg("+8613900139000", 1)])
        .await
        .unwrap();
    let now = UnixMillis(1_700_000_001_000);
    for (i, a) in ids.iter().enumerate() {
        store.start_attempt(AttemptStart {
            message_id: a.id,
            no: 1,
            carrier: carrier(if i == 0 { "smpp-a" } else { "bank/slot1" }),
            round: 0,
            at: now,
        });
    }
    // The second one got an answer before the "crash".
    store
        .finish_attempt(OutcomeRecord {
            message_id: ids[1].id,
            no: 1,
            carrier: carrier("bank/slot1"),
            at: now,
            result: AttemptResult::Accepted {
                refs: vec!["17".into()],
            },
        })
        .await
        .unwrap();
    drop(store);
    let store = Store::open(&db_path(&dir), StoreOptions::default()).unwrap();
    let rec = store.recover(UnixMillis(1_700_000_002_000)).await.unwrap();
    assert_eq!((rec.requeued, rec.lost_attempts), (1, 1));
    let d = store.message(ids[0].id).await.unwrap().unwrap();
    assert_eq!(d.message.state, MessageState::Queued);
    assert_eq!(d.attempts[0].outcome.as_deref(), Some("lost"));
    assert!(d.attempts[0].maybe_sent);
    let live = store.load_live().await.unwrap();
    let first = live.iter().find(|p| p.id == ids[0].id).unwrap();
    assert!(
        first.tried.is_empty(),
        "a crash is not the carrier's failure: it may be used again"
    );
    let second = live.iter().find(|p| p.id == ids[1].id).unwrap();
    assert_eq!(second.state, MessageState::Submitted);
}

#[tokio::test]
async fn retry_and_final_outcomes_move_the_message() {
    let (store, _dir) = open();
    let id = store.accept(vec![msg("+8613800138000", 1)]).await.unwrap()[0].id;
    let t = UnixMillis(1_700_000_001_000);
    store.start_attempt(AttemptStart {
        message_id: id,
        no: 1,
        carrier: carrier("a"),
        round: 0,
        at: t,
    });
    store
        .finish_attempt(OutcomeRecord {
            message_id: id,
            no: 1,
            carrier: carrier("a"),
            at: t,
            result: AttemptResult::Retry {
                detail: "throttled".into(),
                maybe_sent: false,
                next_attempt_at: UnixMillis(t.0 + 5_000),
                round: 0,
            },
        })
        .await
        .unwrap();
    let d = store.message(id).await.unwrap().unwrap();
    assert_eq!(d.message.state, MessageState::Queued);
    assert_eq!(d.attempts[0].outcome.as_deref(), Some("retry"));
    store.start_attempt(AttemptStart {
        message_id: id,
        no: 2,
        carrier: carrier("b"),
        round: 0,
        at: t,
    });
    store
        .finish_attempt(OutcomeRecord {
            message_id: id,
            no: 2,
            carrier: carrier("b"),
            at: t,
            result: AttemptResult::Final {
                outcome: "reject",
                detail: "invalid destination".into(),
                state: MessageState::Failed,
            },
        })
        .await
        .unwrap();
    let d = store.message(id).await.unwrap().unwrap();
    assert_eq!(d.message.state, MessageState::Failed);
    assert_eq!(d.message.error.as_deref(), Some("invalid destination"));
    assert_eq!(d.attempts.len(), 2);
    assert!(store.load_live().await.unwrap().is_empty());
    // A final message is never moved again.
    assert!(
        !store
            .finalize(id, MessageState::Expired, None, t)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn search_filters_and_pages() {
    let (store, _dir) = open();
    for i in 0..5 {
        let mut m = msg(
            if i % 2 == 0 {
                "+8613800138000"
            } else {
                "+8613900139000"
            },
            1,
        );
        m.created_at = UnixMillis(1_000 + i);
        store.accept(vec![m]).await.unwrap();
    }
    let page = store
        .search(MessageFilter {
            to: Some("+8613800138000".into()),
            limit: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.iter().map(|m| m.id.0).collect::<Vec<_>>(), [5, 3]);
    let next = store
        .search(MessageFilter {
            to: Some("+8613800138000".into()),
            limit: 2,
            before_id: Some(page[1].id),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(next.iter().map(|m| m.id.0).collect::<Vec<_>>(), [1]);
    let since = store
        .search(MessageFilter {
            since: Some(UnixMillis(1_003)),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(since.len(), 2);
    let counts = store.state_counts().await.unwrap();
    assert_eq!(counts, vec![(MessageState::Queued, 5)]);
}

#[tokio::test]
async fn backup_copies_a_consistent_database() {
    let (store, dir) = open();
    store.accept(vec![msg("+8613800138000", 1)]).await.unwrap();
    let dest = dir.path().join("backup.db");
    store.backup(&dest).await.unwrap();
    let copy = Store::open(&dest, StoreOptions::default()).unwrap();
    assert_eq!(copy.load_live().await.unwrap().len(), 1);
}
