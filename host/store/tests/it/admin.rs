//! The admin page's tables: users and roles, sessions, audit log, settings, groups, and the
//! dashboard and report aggregates.

use domain::{DlrStatus, UnixMillis};
use store::{
    AttemptResult, AttemptStart, DlrRecord, NewAudit, NewSession, OutcomeRecord, Role, UserChange,
};

use crate::{carrier, msg, open};

const T: UnixMillis = UnixMillis(1_700_000_000_000);

fn session(hash: &str, user_id: i64, expires: i64) -> NewSession {
    NewSession {
        id_hash: hash.into(),
        user_id,
        csrf: format!("csrf-{hash}"),
        now: T,
        expires_at: UnixMillis(T.0 + expires),
        ip: Some("127.0.0.1".into()),
    }
}

#[tokio::test]
async fn first_admin_only_while_no_user_exists_and_names_are_unique() {
    let (store, _dir) = open();
    assert_eq!(store.count_users().await.unwrap(), 0);
    // Two first-start forms racing: exactly one wins.
    let a = store.create_first_admin("alice".into(), "h1".into(), T);
    let b = store.create_first_admin("bob".into(), "h2".into(), T);
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    assert_eq!(a.as_ref().map(|u| u.role), Some(Role::Admin));
    assert_eq!(b, None);
    assert_eq!(store.count_users().await.unwrap(), 1);
    // Names compare case-insensitively.
    assert_eq!(
        store
            .create_user("ALICE".into(), Role::Viewer, "h".into(), T)
            .await
            .unwrap(),
        None
    );
    let carol = store
        .create_user("carol".into(), Role::Operator, "h3".into(), T)
        .await
        .unwrap()
        .unwrap();
    let creds = store.credentials("Carol".into()).await.unwrap().unwrap();
    assert_eq!(creds.user, carol);
    assert_eq!(creds.password_hash, "h3");
    let names: Vec<String> = store
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| format!("{}:{}", u.name, u.role))
        .collect();
    assert_eq!(names, ["alice:admin", "carol:operator"]);
}

#[tokio::test]
async fn the_last_enabled_admin_cannot_be_demoted_or_disabled() {
    let (store, _dir) = open();
    let alice = store
        .create_first_admin("alice".into(), "h".into(), T)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store.set_user_role(alice.id, Role::Viewer).await.unwrap(),
        UserChange::LastAdmin
    );
    assert_eq!(
        store.set_user_disabled(alice.id, true, T).await.unwrap(),
        UserChange::LastAdmin
    );
    let bob = store
        .create_user("bob".into(), Role::Operator, "h".into(), T)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store.set_user_role(bob.id, Role::Admin).await.unwrap(),
        UserChange::Done
    );
    assert_eq!(
        store.set_user_role(alice.id, Role::Viewer).await.unwrap(),
        UserChange::Done
    );
    assert_eq!(
        store.set_user_role(999, Role::Viewer).await.unwrap(),
        UserChange::NotFound
    );
}

#[tokio::test]
async fn sessions_expire_end_with_their_user_and_on_password_change() {
    let (store, _dir) = open();
    let u = store
        .create_first_admin("alice".into(), "h".into(), T)
        .await
        .unwrap()
        .unwrap();
    store
        .create_session(session("s1", u.id, 60_000))
        .await
        .unwrap();
    store
        .create_session(session("s2", u.id, 60_000))
        .await
        .unwrap();
    let s = store.session("s1".into(), T).await.unwrap().unwrap();
    assert_eq!(s.user.name, "alice");
    assert_eq!(s.csrf, "csrf-s1");
    // Expired.
    assert!(
        store
            .session("s1".into(), UnixMillis(T.0 + 60_000))
            .await
            .unwrap()
            .is_none()
    );
    // Touch moves the expiry.
    store.touch_session("s1".into(), T, UnixMillis(T.0 + 120_000));
    store.flush().await.unwrap();
    assert!(
        store
            .session("s1".into(), UnixMillis(T.0 + 60_000))
            .await
            .unwrap()
            .is_some()
    );
    // A password change keeps only the session that made it.
    store
        .set_password(u.id, "new".into(), Some("s1".into()))
        .await
        .unwrap();
    assert!(store.session("s1".into(), T).await.unwrap().is_some());
    assert!(store.session("s2".into(), T).await.unwrap().is_none());
    assert!(store.delete_session("s1".into()).await.unwrap());
    assert!(store.session("s1".into(), T).await.unwrap().is_none());
    // A disabled user's sessions end.
    let bob = store
        .create_user("bob".into(), Role::Viewer, "h".into(), T)
        .await
        .unwrap()
        .unwrap();
    store
        .create_session(session("s3", bob.id, 60_000))
        .await
        .unwrap();
    assert_eq!(
        store.set_user_disabled(bob.id, true, T).await.unwrap(),
        UserChange::Done
    );
    assert!(store.session("s3".into(), T).await.unwrap().is_none());
    store.create_session(session("s4", u.id, 10)).await.unwrap();
    assert_eq!(store.purge_sessions(UnixMillis(T.0 + 10)).await.unwrap(), 1);
}

#[tokio::test]
async fn audit_log_pages_newest_first() {
    let (store, _dir) = open();
    for i in 0..5 {
        store
            .audit(NewAudit {
                at: UnixMillis(T.0 + i),
                user: "alice".into(),
                action: format!("a{i}"),
                target: Some("t".into()),
                detail: None,
                ip: None,
            })
            .await
            .unwrap();
    }
    let page = store.audit_log(None, 2).await.unwrap();
    let actions: Vec<&str> = page.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["a4", "a3"]);
    let next = store.audit_log(Some(page[1].id), 10).await.unwrap();
    assert_eq!(next.len(), 3);
    assert_eq!(next[0].action, "a2");
}

#[tokio::test]
async fn settings_and_groups() {
    let (store, _dir) = open();
    store
        .put_settings(
            vec![
                ("signature".into(), "【银行】".into()),
                ("country".into(), "CN".into()),
            ],
            T,
        )
        .await
        .unwrap();
    store
        .put_settings(vec![("country".into(), String::new())], T)
        .await
        .unwrap();
    let s = store.settings().await.unwrap();
    assert_eq!(format!("{s:?}"), r#"{"signature": "【银行】"}"#);
    let id = store
        .create_group(
            "branch".into(),
            vec![
                "+8613800138000".into(),
                "+8613800138001".into(),
                "+8613800138000".into(),
            ],
            T,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store
            .create_group("branch".into(), vec![], T)
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.groups().await.unwrap()[0].members, 2);
    assert_eq!(store.group_numbers(id).await.unwrap().len(), 2);
    assert!(store.delete_group(id).await.unwrap());
    store
        .set_carrier_override("slot-1".into(), false, T)
        .await
        .unwrap();
    store
        .set_carrier_override("slot-1".into(), true, T)
        .await
        .unwrap();
    store
        .set_carrier_override("smpp-a".into(), false, T)
        .await
        .unwrap();
    assert_eq!(
        store.carrier_overrides().await.unwrap(),
        [("slot-1".to_owned(), true), ("smpp-a".to_owned(), false)]
    );
    assert!(store.groups().await.unwrap().is_empty());
}

#[tokio::test]
async fn throughput_buckets_and_attempts_per_carrier() {
    let (store, _dir) = open();
    let mut m = msg("+8613800138000", 2);
    m.created_at = UnixMillis(T.0 + 30_000);
    let id = store.accept(vec![m]).await.unwrap()[0].id;
    store.start_attempt(AttemptStart {
        message_id: id,
        no: 1,
        carrier: carrier("slot-1"),
        round: 0,
        at: UnixMillis(T.0 + 61_000),
    });
    store
        .finish_attempt(OutcomeRecord {
            message_id: id,
            no: 1,
            carrier: carrier("slot-1"),
            at: UnixMillis(T.0 + 61_000),
            result: AttemptResult::Accepted {
                refs: vec!["r1".into(), "r2".into()],
            },
        })
        .await
        .unwrap();
    for (r, st) in [
        ("r1", DlrStatus::Delivered),
        ("r2", DlrStatus::Undeliverable),
    ] {
        store
            .record_dlr(
                DlrRecord {
                    carrier: carrier("slot-1"),
                    carrier_ref: r.into(),
                    status: st,
                    error: None,
                    received_at: UnixMillis(T.0 + 125_000),
                    raw: None,
                },
                None,
            )
            .await
            .unwrap();
    }
    let b = store
        .throughput(T, UnixMillis(T.0 + 179_999), 60_000)
        .await
        .unwrap();
    let got: Vec<String> = b
        .iter()
        .map(|b| {
            format!(
                "{}:{}/{}/{}/{}",
                (b.start.0 - T.0) / 1000,
                b.accepted,
                b.submitted,
                b.delivered,
                b.failed
            )
        })
        .collect();
    // Buckets are aligned to whole minutes; T is 20 s into one.
    assert_eq!(T.0 % 60_000, 20_000, "test assumes this alignment");
    assert_eq!(
        got,
        ["-20:1/0/0/0", "40:0/2/0/0", "100:0/0/1/1", "160:0/0/0/0"]
    );
    let per = store.attempts_since(T).await.unwrap();
    assert_eq!(format!("{per:?}"), r#"{"slot-1": 1}"#);
    assert!(
        store
            .attempts_since(UnixMillis(T.0 + 62_000))
            .await
            .unwrap()
            .is_empty()
    );
    // The delivered part is billed (to no key), the message is not delivered as a whole.
    let rows = store.monthly_report(None).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            rows[0].api_key,
            rows[0].key_name.as_deref(),
            rows[0].delivered_messages,
            rows[0].delivered_parts
        ),
        (0, None, 0, 1)
    );
    assert_eq!(
        store.billing_months().await.unwrap(),
        [rows[0].month.clone()]
    );
}
