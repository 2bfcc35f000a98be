//! First-start setup, login, logout and the language switch.
//!
//! There is no default password: while no user exists every page leads to `/setup`, which
//! creates the first admin (decided inside one store write, so it cannot happen twice) and is
//! refused once any user exists. Logins are throttled per user name and per address
//! ([`super::super::session::LoginLimiter`]); every login, failure and lockout is audited.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use domain::UnixMillis;
use serde::Deserialize;
use store::{NewAudit, NewSession};

use crate::AppState;
use crate::pages::i18n::Lang;
use crate::pages::password::{self, UserError};
use crate::pages::session::{
    ABSOLUTE_MS, AnonPost, IDLE_MS, LANG_COOKIE, PRE_COOKIE, Post, SESSION_COOKIE, cookie,
    hash_secret, random_token, set_cookie,
};
use crate::pages::{PageError, render};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    lang: Lang,
    csrf: String,
    next: String,
    user: String,
    error: Option<&'static str>,
    setup: bool,
}

impl LoginPage {
    fn t(&self, key: &str) -> &'static str {
        self.lang.t(key)
    }
    fn code(&self) -> &'static str {
        self.lang.code()
    }
}

/// Only same-site paths are followed after login (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/dashboard".to_owned(),
    }
}

/// Renders the login or setup form with a pre-login CSRF cookie.
fn form_page(
    headers: &HeaderMap,
    https: bool,
    setup: bool,
    next: String,
    user: String,
    error: Option<&'static str>,
    status: axum::http::StatusCode,
) -> Result<Response, PageError> {
    let existing = cookie(headers, PRE_COOKIE)
        .filter(|c| c.len() == 64)
        .map(str::to_owned);
    let csrf = match &existing {
        Some(c) => c.clone(),
        None => random_token()?,
    };
    let page = LoginPage {
        lang: Lang::of(headers),
        csrf: csrf.clone(),
        next,
        user,
        error,
        setup,
    };
    let mut r = render(&page)?;
    *r.status_mut() = status;
    if existing.is_none()
        && let Ok(v) = HeaderValue::from_str(&set_cookie(PRE_COOKIE, &csrf, None, https))
    {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(r)
}

fn is_https(parts: &axum::http::Extensions) -> bool {
    parts.get::<crate::pages::Https>().is_some()
}

/// Query of the login page.
#[derive(Deserialize)]
pub(crate) struct NextQuery {
    next: Option<String>,
}

/// `GET /setup`: the "set the admin password" form, only while no user exists.
pub(crate) async fn setup_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    ext: axum::http::Extensions,
) -> Result<Response, PageError> {
    if state.engine.store().count_users().await? > 0 {
        return Ok(Redirect::to("/login").into_response());
    }
    form_page(
        &headers,
        is_https(&ext),
        true,
        "/dashboard".into(),
        "admin".into(),
        None,
        axum::http::StatusCode::OK,
    )
}

/// The login and setup forms.
#[derive(Deserialize)]
pub(crate) struct Credentials {
    user: String,
    password: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    next: Option<String>,
}

/// Starts a session for `user_id` and answers with the cookie and a redirect to `next`.
async fn start_session(
    state: &AppState,
    user_id: i64,
    ip: Option<String>,
    https: bool,
    next: &str,
) -> Result<Response, PageError> {
    let secret = random_token()?;
    let now = UnixMillis::now();
    state
        .engine
        .store()
        .create_session(NewSession {
            id_hash: hash_secret(&secret),
            user_id,
            csrf: random_token()?,
            now,
            expires_at: UnixMillis(now.0 + IDLE_MS.min(ABSOLUTE_MS)),
            ip,
        })
        .await?;
    let mut r = Redirect::to(next).into_response();
    if let Ok(v) = HeaderValue::from_str(&set_cookie(SESSION_COOKIE, &secret, None, https)) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    // The pre-login token has served its purpose.
    if let Ok(v) = HeaderValue::from_str(&set_cookie(PRE_COOKIE, "", Some(0), https)) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(r)
}

async fn audit_anon(state: &AppState, user: &str, action: &str, ip: Option<String>) {
    let r = state
        .engine
        .store()
        .audit(NewAudit {
            at: UnixMillis::now(),
            user: user.to_owned(),
            action: action.to_owned(),
            target: None,
            detail: None,
            ip,
        })
        .await;
    if let Err(e) = r {
        tracing::error!(error = %e, "could not write the audit log");
    }
}

/// `POST /setup`: creates the first admin and logs in.
pub(crate) async fn setup(
    State(state): State<AppState>,
    headers: HeaderMap,
    post: AnonPost<Credentials>,
) -> Result<Response, PageError> {
    let f = post.form;
    let user = f.user.trim().to_owned();
    let again = |error| {
        form_page(
            &headers,
            post.https,
            true,
            "/dashboard".into(),
            user.clone(),
            Some(error),
            axum::http::StatusCode::BAD_REQUEST,
        )
    };
    if f.password != f.confirm {
        return again("login.err.mismatch");
    }
    match password::check_new_user(&user, &f.password) {
        Err(UserError::BadName) => return again("users.err.name"),
        Err(_) => return again("users.err.password"),
        Ok(()) => {}
    }
    let hash = password::hash_blocking(f.password)
        .await
        .map_err(|e| PageError::Unavailable(e.to_string()))?;
    let Some(admin) = state
        .engine
        .store()
        .create_first_admin(user.clone(), hash, UnixMillis::now())
        .await?
    else {
        // Someone finished setup first: this page no longer exists.
        return Err(PageError::Forbidden);
    };
    audit_anon(&state, &admin.name, "setup.first_admin", post.ip.clone()).await;
    start_session(&state, admin.id, post.ip, post.https, "/dashboard").await
}

/// `GET /login`.
pub(crate) async fn login_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    ext: axum::http::Extensions,
    Query(q): Query<NextQuery>,
) -> Result<Response, PageError> {
    if state.engine.store().count_users().await? == 0 {
        return Ok(Redirect::to("/setup").into_response());
    }
    form_page(
        &headers,
        is_https(&ext),
        false,
        safe_next(q.next.as_deref()),
        String::new(),
        None,
        axum::http::StatusCode::OK,
    )
}

/// `POST /login`.
pub(crate) async fn login(
    State(state): State<AppState>,
    axum::Extension(pages): axum::Extension<std::sync::Arc<crate::pages::PagesState>>,
    headers: HeaderMap,
    post: AnonPost<Credentials>,
) -> Result<Response, PageError> {
    let f = post.form;
    let name = f.user.trim().to_owned();
    let next = safe_next(f.next.as_deref());
    let now = UnixMillis::now().0;
    let ip = post.ip.as_deref();
    let limiter = &pages.limiter;
    let again = |error, status| {
        form_page(
            &headers,
            post.https,
            false,
            next.clone(),
            name.clone(),
            Some(error),
            status,
        )
    };
    if limiter.locked(&name, ip, now).is_some() {
        audit_anon(&state, &name, "login.locked_out", post.ip.clone()).await;
        return again(
            "login.err.locked",
            axum::http::StatusCode::TOO_MANY_REQUESTS,
        );
    }
    let creds = state.engine.store().credentials(name.clone()).await?;
    let ok = match &creds {
        Some(c) if !c.user.disabled => {
            password::verify_blocking(f.password, c.password_hash.clone()).await
        }
        _ => {
            // Same work for an unknown name, so timing does not tell which names exist.
            let _ = password::verify_blocking(f.password, DUMMY_HASH.to_owned()).await;
            false
        }
    };
    match creds {
        Some(c) if ok => {
            limiter.succeeded(&name);
            audit_anon(&state, &c.user.name, "login.ok", post.ip.clone()).await;
            start_session(&state, c.user.id, post.ip, post.https, &next).await
        }
        _ => {
            let locked = limiter.failed(&name, ip, now);
            audit_anon(
                &state,
                &name,
                if locked {
                    "login.lockout"
                } else {
                    "login.failed"
                },
                post.ip.clone(),
            )
            .await;
            again(
                if locked {
                    "login.err.locked"
                } else {
                    "login.err.wrong"
                },
                axum::http::StatusCode::UNAUTHORIZED,
            )
        }
    }
}

/// An argon2id hash of a random string, verified against for unknown user names.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$9sTbSlTio3Biev89thdrlKKiCaYsjjYVJxGAL3swxpQ";

/// An empty form (logout).
#[derive(Deserialize)]
pub(crate) struct Empty {}

/// `POST /logout`.
pub(crate) async fn logout(
    State(state): State<AppState>,
    post: Post<Empty>,
) -> Result<Response, PageError> {
    let s = post.session;
    state
        .engine
        .store()
        .delete_session(s.id_hash.clone())
        .await?;
    s.audit(&state, "logout", None, None).await?;
    let mut r = Redirect::to("/login").into_response();
    if let Ok(v) = HeaderValue::from_str(&set_cookie(SESSION_COOKIE, "", Some(0), s.https)) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(r)
}

/// Query of the language switch.
#[derive(Deserialize)]
pub(crate) struct BackQuery {
    back: Option<String>,
}

/// `GET /lang/{zh|en}`: remembers the language in a cookie and goes back.
pub(crate) async fn switch_language(
    Path(code): Path<String>,
    ext: axum::http::Extensions,
    Query(q): Query<BackQuery>,
) -> Result<Response, PageError> {
    let lang = Lang::from_code(&code).ok_or(PageError::NotFound)?;
    let mut r = Redirect::to(&safe_next(q.back.as_deref())).into_response();
    let c = set_cookie(LANG_COOKIE, lang.code(), Some(365 * 86_400), is_https(&ext));
    if let Ok(v) = HeaderValue::from_str(&c) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/send?x=1")), "/send?x=1");
        assert_eq!(safe_next(Some("//evil.example")), "/dashboard");
        assert_eq!(safe_next(Some("https://evil.example")), "/dashboard");
        assert_eq!(safe_next(Some("/\\evil.example")), "/dashboard");
        assert_eq!(safe_next(None), "/dashboard");
    }

    #[test]
    fn the_dummy_hash_parses() {
        assert!(!password::verify_password("x", DUMMY_HASH));
        assert!(argon2::password_hash::phc::PasswordHash::new(DUMMY_HASH).is_ok());
    }
}
