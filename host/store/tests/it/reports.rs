//! Delivery reports: matching, overtaking, multipart, negative reports, re-send, billing.

use domain::{DlrStatus, MessageId, MessageState, UnixMillis};
use store::{AttemptResult, AttemptStart, DlrRecord, OutcomeRecord, Resend, ResendRule, Store};

use crate::{carrier, msg, open};

const T: UnixMillis = UnixMillis(1_700_000_001_000);

async fn submitted(store: &Store, parts: u16, via: &str, refs: &[&str]) -> MessageId {
    let id = store
        .accept(vec![msg("+8613800138000", parts)])
        .await
        .unwrap()[0]
        .id;
    store.start_attempt(AttemptStart {
        message_id: id,
        no: 1,
        carrier: carrier(via),
        round: 0,
        at: T,
    });
    store
        .finish_attempt(OutcomeRecord {
            message_id: id,
            no: 1,
            carrier: carrier(via),
            at: T,
            result: AttemptResult::Accepted {
                refs: refs.iter().map(|r| r.to_string()).collect(),
            },
        })
        .await
        .unwrap();
    id
}

fn dlr(via: &str, r: &str, status: DlrStatus) -> DlrRecord {
    DlrRecord {
        carrier: carrier(via),
        carrier_ref: r.into(),
        status,
        error: (status != DlrStatus::Delivered).then(|| "001".into()),
        received_at: UnixMillis(T.0 + 2_000),
        raw: None,
    }
}

#[tokio::test]
async fn multipart_is_delivered_when_every_part_is_and_billed_per_part() {
    let (store, _dir) = open();
    let id = submitted(&store, 3, "smpp-a", &["a1", "a2", "a3"]).await;
    for r in ["a1", "a3"] {
        let applied = store
            .record_dlr(dlr("smpp-a", r, DlrStatus::Delivered), None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(applied.message_id, id);
        assert!(!applied.became_final);
        assert_eq!(applied.message_state, MessageState::Submitted);
    }
    // An intermediate report changes nothing final.
    let enroute = store
        .record_dlr(dlr("smpp-a", "a2", DlrStatus::Enroute), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(enroute.message_state, MessageState::Submitted);
    let last = store
        .record_dlr(dlr("smpp-a", "a2", DlrStatus::Delivered), None)
        .await
        .unwrap()
        .unwrap();
    assert!(last.became_final);
    assert_eq!(last.message_state, MessageState::Delivered);
    let bill = store.billing(Some("2023-11".into())).await.unwrap();
    assert_eq!(bill.len(), 1);
    assert_eq!(
        (bill[0].delivered_parts, bill[0].delivered_messages),
        (3, 1)
    );
    assert_eq!(bill[0].api_key, 0);
    // A duplicate receipt does not bill twice.
    store
        .record_dlr(dlr("smpp-a", "a2", DlrStatus::Delivered), None)
        .await
        .unwrap();
    let bill = store.billing(None).await.unwrap();
    assert_eq!(bill[0].delivered_parts, 3);
    let d = store.message(id).await.unwrap().unwrap();
    assert!(
        d.parts
            .iter()
            .all(|p| p.dlr_status == Some(DlrStatus::Delivered))
    );
}

#[tokio::test]
async fn a_receipt_that_overtakes_the_submit_response_is_matched_later() {
    let (store, _dir) = open();
    // The receipt arrives first: stored, unmatched.
    assert_eq!(
        store
            .record_dlr(dlr("smpp-a", "x9", DlrStatus::Delivered), None)
            .await
            .unwrap(),
        None
    );
    let id = store.accept(vec![msg("+8613800138000", 1)]).await.unwrap()[0].id;
    store.start_attempt(AttemptStart {
        message_id: id,
        no: 1,
        carrier: carrier("smpp-a"),
        round: 0,
        at: T,
    });
    let applied = store
        .finish_attempt(OutcomeRecord {
            message_id: id,
            no: 1,
            carrier: carrier("smpp-a"),
            at: T,
            result: AttemptResult::Accepted {
                refs: vec!["x9".into()],
            },
        })
        .await
        .unwrap();
    assert_eq!(applied.len(), 1);
    assert_eq!(applied[0].message_state, MessageState::Delivered);
    let d = store.message(id).await.unwrap().unwrap();
    assert_eq!(d.message.state, MessageState::Delivered);
}

#[tokio::test]
async fn a_negative_report_ends_the_message_or_requeues_it_by_rule() {
    let (store, _dir) = open();
    let a = submitted(&store, 1, "smpp-a", &["n1"]).await;
    let r = store
        .record_dlr(dlr("smpp-a", "n1", DlrStatus::Undeliverable), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (r.message_state, r.became_final, r.requeued),
        (MessageState::Undeliverable, true, false)
    );
    let d = store.message(a).await.unwrap().unwrap();
    assert_eq!(
        d.message.error.as_deref(),
        Some("part 1 of 1: undeliverable (error 001)")
    );

    let b = submitted(&store, 1, "smpp-a", &["n2"]).await;
    let rule: ResendRule = Box::new(|q| {
        assert_eq!(q.status, DlrStatus::Undeliverable);
        assert_eq!((q.to.as_str(), q.resends), ("+8613800138000", 0));
        Some(Resend {
            at: UnixMillis(T.0 + 10_000),
            avoid_operator: Some("cmcc".into()),
        })
    });
    let r = store
        .record_dlr(dlr("smpp-a", "n2", DlrStatus::Undeliverable), Some(rule))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (r.message_state, r.became_final, r.requeued),
        (MessageState::Queued, false, true)
    );
    let live = store.load_live().await.unwrap();
    let p = live.iter().find(|p| p.id == b).unwrap();
    assert_eq!(
        (p.round, p.attempts, p.next_attempt_at),
        (1, 2, UnixMillis(T.0 + 10_000))
    );
    let d = store.message(b).await.unwrap().unwrap();
    assert_eq!(
        d.attempts.last().unwrap().outcome.as_deref(),
        Some("resend")
    );

    let c = submitted(&store, 1, "smpp-a", &["n3"]).await;
    let r = store
        .record_dlr(dlr("smpp-a", "n3", DlrStatus::Expired), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.message_state, MessageState::Expired);
    assert_eq!(
        store.message(c).await.unwrap().unwrap().message.state,
        MessageState::Expired
    );
    assert!(
        store.billing(None).await.unwrap().is_empty(),
        "nothing delivered, nothing billed"
    );
}

#[tokio::test]
async fn a_reused_modem_reference_matches_the_part_still_waiting() {
    let (store, _dir) = open();
    // TP-MR 5 was used by an old, already-reported message and again by a new one.
    let old = submitted(&store, 1, "bank/slot1", &["5"]).await;
    store
        .record_dlr(dlr("bank/slot1", "5", DlrStatus::Delivered), None)
        .await
        .unwrap();
    let new = submitted(&store, 1, "bank/slot1", &["5"]).await;
    let r = store
        .record_dlr(dlr("bank/slot1", "5", DlrStatus::Delivered), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.message_id, new);
    assert_ne!(old, new);
    // Same reference on another slot is another part entirely.
    assert_eq!(
        store
            .record_dlr(dlr("bank/slot2", "5", DlrStatus::Delivered), None)
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn parts_sharing_one_smsc_id_are_all_settled_by_its_receipt() {
    let (store, _dir) = open();
    // message_payload: the SMSC split a 3-part message itself and gave one id.
    let id = submitted(&store, 3, "smpp-a", &["p1", "p1", "p1"]).await;
    let r = store
        .record_dlr(dlr("smpp-a", "p1", DlrStatus::Delivered), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (r.message_id, r.message_state),
        (id, MessageState::Delivered)
    );
    let bill = store.billing(None).await.unwrap();
    assert_eq!(
        (bill[0].delivered_parts, bill[0].delivered_messages),
        (3, 1)
    );
}
