//! The audit log: every change made from the page (and logins), newest first.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::Uri;
use axum::response::Response;
use serde::Deserialize;
use store::{AuditEntry, Role};

use super::chrome;
use crate::AppState;
use crate::pages::session::Session;
use crate::pages::{Chrome, PageError, render};

const PAGE: u32 = 100;

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    c: Chrome,
    rows: Vec<AuditEntry>,
    more: Option<String>,
}

/// Paging.
#[derive(Deserialize)]
pub(crate) struct AuditQuery {
    before: Option<i64>,
}

/// `GET /audit` (admins).
pub(crate) async fn page(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Query(q): Query<AuditQuery>,
) -> Result<Response, PageError> {
    s.require(Role::Admin)?;
    let (c, _) = chrome(&state, &s, "audit", &uri).await?;
    let rows = state.engine.store().audit_log(q.before, PAGE).await?;
    let more = (rows.len() == PAGE as usize)
        .then(|| rows.last().map(|r| format!("/audit?before={}", r.id)))
        .flatten();
    render(&AuditPage { c, rows, more })
}
