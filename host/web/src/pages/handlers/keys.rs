//! API keys per department: created with the secret shown once on the answer page (never
//! again: only its hash is stored), listed by public prefix, revocable.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use domain::{ApiKeyId, UnixMillis};
use serde::Deserialize;
use store::{ApiKey, Role};

use super::{chrome, done};
use crate::AppState;
use crate::pages::session::{Post, Session};
use crate::pages::{Chrome, PageError, render};

#[derive(Template)]
#[template(path = "keys.html")]
struct KeysPage {
    c: Chrome,
    keys: Vec<ApiKey>,
    new_secret: Option<String>,
    new_name: String,
    error: Option<&'static str>,
}

/// Query with an optional notice.
#[derive(Deserialize)]
pub(crate) struct DoneQuery {
    done: Option<String>,
}

async fn show(
    state: &AppState,
    c: Chrome,
    new_secret: Option<String>,
    new_name: String,
    error: Option<&'static str>,
) -> Result<Response, PageError> {
    let keys = state.engine.store().list_api_keys().await?;
    let mut r = render(&KeysPage {
        c,
        keys,
        new_secret,
        new_name,
        error,
    })?;
    if error.is_some() {
        *r.status_mut() = axum::http::StatusCode::BAD_REQUEST;
    }
    Ok(r)
}

/// `GET /keys` (admins).
pub(crate) async fn page(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Query(q): Query<DoneQuery>,
) -> Result<Response, PageError> {
    s.require(Role::Admin)?;
    let (c, _) = chrome(&state, &s, "keys", &uri).await?;
    show(
        &state,
        c.with_notice(q.done.as_deref()),
        None,
        String::new(),
        None,
    )
    .await
}

/// The new-key form.
#[derive(Default, Deserialize)]
#[serde(default)]
pub(crate) struct NewKeyForm {
    name: String,
}

/// `POST /keys`: answers with the page showing the new secret once.
pub(crate) async fn create(
    State(state): State<AppState>,
    uri: Uri,
    post: Post<NewKeyForm>,
) -> Result<Response, PageError> {
    let s = post.session;
    s.require(Role::Admin)?;
    let (c, _) = chrome(&state, &s, "keys", &uri).await?;
    let name = post.form.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 64 {
        return show(&state, c, None, name, Some("keys.err.name")).await;
    }
    let k = state
        .engine
        .store()
        .create_api_key(name.clone(), UnixMillis::now())
        .await?;
    s.audit(
        &state,
        "apikey.create",
        Some(format!("{} ({})", k.key.name, k.key.prefix)),
        None,
    )
    .await?;
    let mut r = show(&state, c, Some(k.secret), name, None).await?;
    // The secret is on this page only: do not let it be stored anywhere.
    r.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(r)
}

/// An empty form.
#[derive(Deserialize)]
pub(crate) struct Empty {}

/// `POST /keys/{id}/revoke`.
pub(crate) async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    post: Post<Empty>,
) -> Result<Response, PageError> {
    let s = post.session;
    s.require(Role::Admin)?;
    if !state
        .engine
        .store()
        .revoke_api_key(ApiKeyId(id), UnixMillis::now())
        .await?
    {
        return Err(PageError::NotFound);
    }
    // Cached keys would stay valid for up to the cache's lifetime otherwise.
    state.engine.forget_keys();
    s.audit(&state, "apikey.revoke", Some(format!("key #{id}")), None)
        .await?;
    Ok(done("/keys", "key_revoked").into_response())
}
