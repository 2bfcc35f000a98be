//! API keys: shown once, stored hashed, verified, revoked.

use domain::UnixMillis;

use crate::{db_path, open};

#[tokio::test]
async fn keys_verify_until_revoked_and_are_never_stored_in_clear() {
    let (store, dir) = open();
    let k = store
        .create_api_key("财务部".into(), UnixMillis(1))
        .await
        .unwrap();
    assert!(k.secret.starts_with(&k.key.prefix));
    assert_eq!(
        store.verify_api_key(k.secret.clone()).await.unwrap(),
        Some(k.key.clone())
    );
    // A wrong secret with the right prefix fails.
    let mut wrong = k.secret.clone();
    let last = wrong.pop().unwrap();
    wrong.push(if last == '0' { '1' } else { '0' });
    assert_eq!(store.verify_api_key(wrong).await.unwrap(), None);
    // The secret appears nowhere in the database file.
    store.flush().await.unwrap();
    let raw = rusqlite::Connection::open(db_path(&dir)).unwrap();
    let stored: String = raw
        .query_row("SELECT hash FROM api_keys", [], |r| r.get(0))
        .unwrap();
    assert!(!stored.contains(&k.secret[13..]));
    assert!(store.revoke_api_key(k.key.id, UnixMillis(2)).await.unwrap());
    assert!(!store.revoke_api_key(k.key.id, UnixMillis(3)).await.unwrap());
    assert_eq!(store.verify_api_key(k.secret).await.unwrap(), None);
    assert_eq!(
        store.list_api_keys().await.unwrap()[0].revoked_at,
        Some(UnixMillis(2))
    );
}
