//! First start, login, lockout, sessions and logout.

use axum::http::StatusCode;
use store::Role;

use crate::support::{ADMIN_PASSWORD, PASSWORD, app};

#[tokio::test]
async fn first_start_asks_for_an_admin_password_once() {
    let app = app().await;
    let mut b = app.browser();
    // No user yet: every page leads to setup; there is no default password to log in with.
    let p = b.get("/dashboard").await;
    assert_eq!(
        (p.status, p.location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/setup"))
    );
    let p = b.get("/login").await;
    assert_eq!(p.location.as_deref(), Some("/setup"));
    let setup = b.get("/setup").await;
    assert_eq!(setup.texts("h1"), ["Set the admin password"]);
    let pre = setup
        .set_cookies
        .iter()
        .find(|c| c.starts_with("outpost_pre="))
        .expect("a pre-login CSRF cookie");
    assert!(
        pre.contains("HttpOnly") && pre.contains("SameSite=Strict"),
        "{pre}"
    );
    let token = setup.attr("input[name=_csrf]", "value").unwrap();
    // Mismatched confirmation, short password.
    let p = b
        .post(
            "/setup",
            &[
                ("_csrf", &token),
                ("user", "admin"),
                ("password", "longenough1"),
                ("confirm", "other"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert_eq!(p.texts(".notice.bad"), ["The two passwords differ."]);
    let p = b
        .post(
            "/setup",
            &[
                ("_csrf", &token),
                ("user", "admin"),
                ("password", "short"),
                ("confirm", "short"),
            ],
        )
        .await;
    assert_eq!(
        p.texts(".notice.bad"),
        ["A password has at least 8 characters."]
    );
    let p = b
        .post(
            "/setup",
            &[
                ("_csrf", &token),
                ("user", "admin"),
                ("password", ADMIN_PASSWORD),
                ("confirm", ADMIN_PASSWORD),
            ],
        )
        .await;
    assert_eq!(
        (p.status, p.location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/dashboard"))
    );
    let session = p
        .set_cookies
        .iter()
        .find(|c| c.starts_with("outpost_session="))
        .expect("a session cookie");
    assert!(
        session.contains("HttpOnly")
            && session.contains("SameSite=Strict")
            && !session.contains("Secure"),
        "{session}"
    );
    let d = b.get("/dashboard").await;
    assert_eq!(d.status, StatusCode::OK);
    assert_eq!(d.texts("h1"), ["Dashboard"]);
    // Setup is gone: the page redirects, and a second post (with a fresh pre-login token) is
    // refused.
    let mut other = app.browser();
    let p = other.get("/setup").await;
    assert_eq!(p.location.as_deref(), Some("/login"));
    let login = other.get("/login").await;
    let t = login.attr("input[name=_csrf]", "value").unwrap();
    let p = other
        .post(
            "/setup",
            &[
                ("_csrf", &t),
                ("user", "mallory"),
                ("password", "password99"),
                ("confirm", "password99"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert_eq!(app.engine.store().count_users().await.unwrap(), 1);
    let log = app.engine.store().audit_log(None, 10).await.unwrap();
    assert_eq!(
        log.last().map(|e| e.action.as_str()),
        Some("setup.first_admin")
    );
}

#[tokio::test]
async fn logins_are_throttled_and_locked_out() {
    let app = app().await;
    let _admin = app.admin().await;
    let mut b = app.browser();
    let p = b.login("admin", "wrong").await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    assert_eq!(p.texts(".notice.bad"), ["Wrong user name or password."]);
    // An unknown user gets the same answer.
    let p = b.login("nobody", "wrong").await;
    assert_eq!(p.texts(".notice.bad"), ["Wrong user name or password."]);
    for _ in 0..3 {
        assert_eq!(
            b.login("admin", "wrong").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let p = b.login("ADMIN", "wrong").await;
    assert_eq!(
        p.texts(".notice.bad"),
        ["Too many failed attempts. Try again in 15 minutes."]
    );
    // Locked: even the right password is refused, from any address.
    let p = b.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(!b.cookies.contains_key("outpost_session"));
    let actions: Vec<String> = app
        .engine
        .store()
        .audit_log(None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(actions.contains(&"login.failed".to_owned()));
    assert!(actions.contains(&"login.lockout".to_owned()));
    assert!(actions.contains(&"login.locked_out".to_owned()));
}

#[tokio::test]
async fn logout_and_password_change_end_sessions() {
    let app = app().await;
    let mut admin = app.admin().await;
    let mut op = app.user("olga", Role::Operator).await;
    // A second session of the same user.
    let mut second = app.browser();
    assert_eq!(
        second.login("olga", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    // Changing one's own password keeps this session and ends the others.
    let p = op
        .submit(
            "/account/password",
            &[
                ("current", PASSWORD),
                ("password", "new-password-9"),
                ("confirm", "new-password-9"),
            ],
        )
        .await;
    assert_eq!(p.location.as_deref(), Some("/users?done=password_changed"));
    assert_eq!(op.get("/dashboard").await.status, StatusCode::OK);
    let p = second.get("/dashboard").await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert!(p.location.unwrap().starts_with("/login"));
    // Logout ends the session on the server, not only in the browser.
    let old = admin.cookies.clone();
    let p = admin.submit("/logout", &[]).await;
    assert_eq!(p.location.as_deref(), Some("/login"));
    admin.cookies = old;
    let p = admin.get("/dashboard").await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(p.location.as_deref(), Some("/login?next=%2Fdashboard"));
    // An htmx poll with an ended session is told to load the login page.
    let p = admin
        .get_with("/dashboard/live", &[("hx-request", "true")])
        .await;
    assert_eq!(p.status, StatusCode::NO_CONTENT);
    assert!(p.hx_redirect.unwrap().starts_with("/login?next="));
}
