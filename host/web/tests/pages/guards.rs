//! CSRF and origin checks on every form, and roles on every handler.

use axum::http::StatusCode;
use store::Role;
use web::pages::POST_ROUTES;

use crate::support::app;

#[tokio::test]
async fn every_form_without_the_right_token_or_from_another_site_is_refused() {
    let app = app().await;
    let mut admin = app.admin().await;
    let token = admin.token().await;
    let wrong = "0".repeat(64);
    for route in POST_ROUTES {
        let p = admin
            .post(route, &[("name", "x"), ("action", "disable")])
            .await;
        assert_eq!(p.status, StatusCode::FORBIDDEN, "{route} without a token");
        assert!(
            p.body.contains("did not come from this page"),
            "{route}: {}",
            p.body
        );
        let p = admin
            .post(route, &[("_csrf", &wrong), ("action", "disable")])
            .await;
        assert_eq!(
            p.status,
            StatusCode::FORBIDDEN,
            "{route} with a wrong token"
        );
        // The right token from a page of another site.
        let p = admin
            .post_with(
                route,
                &[("_csrf", &token), ("action", "disable")],
                &[("origin", "http://evil.example")],
            )
            .await;
        assert_eq!(p.status, StatusCode::FORBIDDEN, "{route} cross-origin");
        let p = admin
            .post_with(
                route,
                &[("_csrf", &token), ("action", "disable")],
                &[("sec-fetch-site", "cross-site")],
            )
            .await;
        assert_eq!(p.status, StatusCode::FORBIDDEN, "{route} cross-site");
    }
    // Nothing changed: the only audit entry is the setup.
    let log = app.engine.store().audit_log(None, 100).await.unwrap();
    assert_eq!(log.len(), 1, "{log:?}");
    assert!(
        !app.engine
            .is_disabled(&domain::CarrierId::new("slot-1").unwrap())
    );
    // The same-origin form with the token works (so the refusals above were the checks).
    let p = admin
        .post_with(
            "/carriers/slot-1/action",
            &[("_csrf", &token), ("action", "disable")],
            &[("origin", "http://outpost.local")],
        )
        .await;
    assert_eq!(p.location.as_deref(), Some("/carriers?done=disable"));
    assert!(
        app.engine
            .is_disabled(&domain::CarrierId::new("slot-1").unwrap())
    );
}

#[tokio::test]
async fn roles_are_enforced_by_the_server() {
    let app = app().await;
    let _admin = app.admin().await;
    let mut viewer = app.user("vera", Role::Viewer).await;
    let mut operator = app.user("otto", Role::Operator).await;
    // A viewer gets 403 on every POST except logging out and changing their own password,
    // even with a valid token.
    for route in POST_ROUTES {
        if matches!(*route, "/logout" | "/account/password") {
            continue;
        }
        let p = viewer
            .submit(
                route,
                &[
                    ("to", "13800138000"),
                    ("text", "hi"),
                    ("action", "disable"),
                    ("name", "x"),
                    ("numbers", "13800138000"),
                    ("carrier", "slot-1"),
                    ("role", "admin"),
                    ("password", "whatever-1"),
                ],
            )
            .await;
        assert_eq!(p.status, StatusCode::FORBIDDEN, "viewer POST {route}");
    }
    // Admin-only pages.
    for path in ["/users?x", "/keys", "/settings", "/audit", "/send"] {
        let p = viewer.get(path).await;
        let expect = if path == "/users?x" {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(p.status, expect, "viewer GET {path}");
    }
    // Read-only pages work, and show no send link or admin menu.
    for path in ["/dashboard", "/messages", "/inbox", "/carriers", "/reports"] {
        let p = viewer.get(path).await;
        assert_eq!(p.status, StatusCode::OK, "viewer GET {path}");
        let nav: Vec<String> = p.texts("nav a");
        assert_eq!(
            nav,
            ["Dashboard", "Messages", "Inbox", "Carriers", "Reports"],
            "{path}"
        );
        assert!(
            p.texts("form[action$='/test']").is_empty(),
            "no channel test for a viewer"
        );
    }
    // An operator sends but does not administer.
    let p = operator
        .submit("/send", &[("to", "13800138000"), ("text", "hi")])
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    for route in [
        "/settings",
        "/users",
        "/keys",
        "/carriers/slot-1/action",
        "/carriers/slot-1/test",
    ] {
        let p = operator
            .submit(
                route,
                &[("action", "disable"), ("to", "13800138000"), ("name", "x")],
            )
            .await;
        assert_eq!(p.status, StatusCode::FORBIDDEN, "operator POST {route}");
    }
    assert_eq!(
        operator.get("/settings").await.status,
        StatusCode::FORBIDDEN
    );
    let nav = operator.get("/dashboard").await.texts("nav a");
    assert_eq!(
        nav,
        [
            "Dashboard",
            "Send",
            "Messages",
            "Inbox",
            "Carriers",
            "Reports"
        ]
    );
}
