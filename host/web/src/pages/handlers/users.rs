//! Users and roles (admins), and changing one's own password (everyone).
//!
//! The last enabled admin cannot be demoted or disabled (decided in the store's transaction).
//! Changing a password ends the user's other sessions.

use std::str::FromStr;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use store::{Role, User, UserChange};

use super::{chrome, done};
use crate::AppState;
use crate::pages::password::{self, UserError};
use crate::pages::session::{Post, Session};
use crate::pages::{Chrome, PageError, render};

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    c: Chrome,
    users: Vec<User>,
    roles: Vec<&'static str>,
    error: Option<&'static str>,
    me: i64,
}

impl UsersPage {
    fn role_key(&self, role: &str) -> &'static str {
        crate::pages::role_key(role)
    }
}

/// Query with an optional notice.
#[derive(Deserialize)]
pub(crate) struct DoneQuery {
    done: Option<String>,
}

async fn show(
    state: &AppState,
    s: &Session,
    uri: &Uri,
    notice: Option<&str>,
    error: Option<&'static str>,
) -> Result<Response, PageError> {
    let (c, _) = chrome(state, s, "users", uri).await?;
    let users = if s.user.role >= Role::Admin {
        state.engine.store().list_users().await?
    } else {
        Vec::new()
    };
    let mut r = render(&UsersPage {
        c: c.with_notice(notice),
        users,
        roles: Role::ALL.iter().map(|r| r.as_str()).collect(),
        error,
        me: s.user.id,
    })?;
    if error.is_some() {
        *r.status_mut() = axum::http::StatusCode::BAD_REQUEST;
    }
    Ok(r)
}

/// `GET /users`: admins see every user; everyone sees the change-password form.
pub(crate) async fn page(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Query(q): Query<DoneQuery>,
) -> Result<Response, PageError> {
    show(&state, &s, &uri, q.done.as_deref(), None).await
}

fn user_error(e: &UserError) -> &'static str {
    match e {
        UserError::BadName => "users.err.name",
        UserError::WeakPassword => "users.err.password",
        UserError::Exists => "users.err.exists",
        _ => "users.err.failed",
    }
}

/// The new-user form.
#[derive(Default, Deserialize)]
#[serde(default)]
pub(crate) struct NewUserForm {
    name: String,
    role: String,
    password: String,
}

/// `POST /users`.
pub(crate) async fn create(
    State(state): State<AppState>,
    uri: Uri,
    post: Post<NewUserForm>,
) -> Result<Response, PageError> {
    let s = post.session;
    s.require(Role::Admin)?;
    let f = post.form;
    let role = Role::from_str(&f.role).map_err(|e| PageError::BadRequest(e.to_string()))?;
    let name = f.name.trim();
    match password::add_user(state.engine.store(), name, role, &f.password).await {
        Ok(u) => {
            s.audit(
                &state,
                "user.create",
                Some(u.name.clone()),
                Some(format!("role {role}")),
            )
            .await?;
            Ok(done("/users", "user_created").into_response())
        }
        Err(UserError::Store(e)) => Err(e.into()),
        Err(e) => show(&state, &s, &uri, None, Some(user_error(&e))).await,
    }
}

/// The change-user form: `action` is `role`, `disable`, `enable` or `password`.
#[derive(Default, Deserialize)]
#[serde(default)]
pub(crate) struct UpdateForm {
    action: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
}

/// `POST /users/{id}`.
pub(crate) async fn update(
    State(state): State<AppState>,
    uri: Uri,
    Path(id): Path<i64>,
    post: Post<UpdateForm>,
) -> Result<Response, PageError> {
    let s = post.session;
    s.require(Role::Admin)?;
    let f = post.form;
    let store = state.engine.store();
    let target = store
        .credentials_by_id(id)
        .await?
        .ok_or(PageError::NotFound)?
        .user;
    let (change, detail) = match f.action.as_str() {
        "role" => {
            let role = Role::from_str(&f.role).map_err(|e| PageError::BadRequest(e.to_string()))?;
            (store.set_user_role(id, role).await?, format!("role {role}"))
        }
        "disable" | "enable" => (
            store
                .set_user_disabled(id, f.action == "disable", domain::UnixMillis::now())
                .await?,
            f.action.clone(),
        ),
        "password" => {
            if let Err(e) = password::check_new_user(&target.name, &f.password) {
                return show(&state, &s, &uri, None, Some(user_error(&e))).await;
            }
            let hash = password::hash_blocking(f.password)
                .await
                .map_err(|e| PageError::Unavailable(e.to_string()))?;
            let keep = (id == s.user.id).then(|| s.id_hash.clone());
            (
                store.set_password(id, hash, keep).await?,
                "password reset".to_owned(),
            )
        }
        other => return Err(PageError::BadRequest(format!("unknown action {other:?}"))),
    };
    match change {
        UserChange::Done => {
            s.audit(
                &state,
                &format!("user.{}", f.action),
                Some(target.name),
                Some(detail),
            )
            .await?;
            Ok(done("/users", "user_updated").into_response())
        }
        UserChange::NotFound => Err(PageError::NotFound),
        UserChange::LastAdmin => show(&state, &s, &uri, None, Some("users.err.last_admin")).await,
    }
}

/// The change-own-password form.
#[derive(Default, Deserialize)]
#[serde(default)]
pub(crate) struct OwnPasswordForm {
    current: String,
    password: String,
    confirm: String,
}

/// `POST /account/password`: any user, with the current password.
pub(crate) async fn change_own_password(
    State(state): State<AppState>,
    uri: Uri,
    post: Post<OwnPasswordForm>,
) -> Result<Response, PageError> {
    let s = post.session;
    let f = post.form;
    let creds = state
        .engine
        .store()
        .credentials_by_id(s.user.id)
        .await?
        .ok_or(PageError::NotFound)?;
    if !password::verify_blocking(f.current, creds.password_hash).await {
        return show(&state, &s, &uri, None, Some("users.err.current")).await;
    }
    if f.password != f.confirm {
        return show(&state, &s, &uri, None, Some("login.err.mismatch")).await;
    }
    if let Err(e) = password::check_new_user(&s.user.name, &f.password) {
        return show(&state, &s, &uri, None, Some(user_error(&e))).await;
    }
    let hash = password::hash_blocking(f.password)
        .await
        .map_err(|e| PageError::Unavailable(e.to_string()))?;
    state
        .engine
        .store()
        .set_password(s.user.id, hash, Some(s.id_hash.clone()))
        .await?;
    s.audit(&state, "account.password", Some(s.user.name.clone()), None)
        .await?;
    Ok(done("/users", "password_changed").into_response())
}
