//! Inbound parts: durable storage, reassembly in any order, duplicates, stale release.

use domain::UnixMillis;
use store::{InboundFragment, InboundStored};

use crate::{carrier, open};

fn part(body: &str, concat: Option<(u16, u8, u8)>, at: i64) -> InboundFragment {
    InboundFragment {
        carrier: carrier("bank/slot1"),
        from: "+8613800138000".into(),
        to: None,
        body: body.into(),
        sc_timestamp: Some("2026-11-22T10:00:00+08:00".into()),
        received_at: UnixMillis(at),
        concat,
        fingerprint: format!("{body}-{concat:?}"),
    }
}

#[tokio::test]
async fn single_part_is_stored_once() {
    let (store, _dir) = open();
    let first = store.store_inbound(part("你好", None, 1)).await.unwrap();
    let InboundStored::Complete(m) = first else {
        panic!("expected complete, got {first:?}")
    };
    assert_eq!((m.body.as_str(), m.parts, m.complete), ("你好", 1, true));
    assert_eq!(
        store.store_inbound(part("你好", None, 2)).await.unwrap(),
        InboundStored::Duplicate
    );
    assert_eq!(store.inbound_list(None, None, 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn parts_reassemble_in_any_order() {
    let (store, _dir) = open();
    assert_eq!(
        store
            .store_inbound(part("c", Some((9, 3, 3)), 1))
            .await
            .unwrap(),
        InboundStored::Waiting { have: 1, total: 3 }
    );
    // The bank re-sends part 3: acknowledged, not stored twice.
    assert_eq!(
        store
            .store_inbound(part("c", Some((9, 3, 3)), 2))
            .await
            .unwrap(),
        InboundStored::Duplicate
    );
    assert_eq!(
        store
            .store_inbound(part("a", Some((9, 3, 1)), 3))
            .await
            .unwrap(),
        InboundStored::Waiting { have: 2, total: 3 }
    );
    let done = store
        .store_inbound(part("b", Some((9, 3, 2)), 4))
        .await
        .unwrap();
    let InboundStored::Complete(m) = done else {
        panic!("expected complete, got {done:?}")
    };
    assert_eq!((m.body.as_str(), m.parts, m.complete), ("abc", 3, true));
    assert_eq!(m.received_at, UnixMillis(1));
    // Nothing left waiting.
    assert!(
        store
            .release_stale_fragments(UnixMillis(i64::MAX))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn stale_groups_are_released_with_missing_parts_marked() {
    let (store, _dir) = open();
    store
        .store_inbound(part("one ", Some((4, 3, 1)), 100))
        .await
        .unwrap();
    store
        .store_inbound(part(" three", Some((4, 3, 3)), 200))
        .await
        .unwrap();
    store
        .store_inbound(part("fresh", Some((5, 2, 1)), 5_000))
        .await
        .unwrap();
    let released = store
        .release_stale_fragments(UnixMillis(1_000))
        .await
        .unwrap();
    assert_eq!(released.len(), 1);
    assert_eq!(released[0].body, "one […] three");
    assert!(!released[0].complete);
    let list = store
        .inbound_list(None, Some("+8613800138000".into()), 10)
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
}
