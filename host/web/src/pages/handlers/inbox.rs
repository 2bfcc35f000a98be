//! The inbox: inbound messages with their reassembled text (parts joined; an incomplete one is
//! marked), and a reply that is sent like any message from the send form.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use engine::SendRequest;
use serde::Deserialize;
use store::{InboundMessage, Role, Source};

use super::{chrome, done};
use crate::AppState;
use crate::pages::session::{Post, Session};
use crate::pages::{Chrome, PageError, render};

const PAGE: u32 = 50;

#[derive(Template)]
#[template(path = "inbox.html")]
struct InboxPage {
    c: Chrome,
    rows: Vec<InboundMessage>,
    from: String,
    more: Option<String>,
    error: Option<String>,
}

/// Query of the inbox.
#[derive(Deserialize)]
pub(crate) struct InboxQuery {
    #[serde(default)]
    from: String,
    before: Option<i64>,
    done: Option<String>,
}

/// `GET /inbox`.
pub(crate) async fn page(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Query(q): Query<InboxQuery>,
) -> Result<Response, PageError> {
    let (c, _) = chrome(&state, &s, "inbox", &uri).await?;
    let c = c.with_notice(q.done.as_deref());
    let from = q.from.trim().to_owned();
    let rows = state
        .engine
        .store()
        .inbound_list(q.before, (!from.is_empty()).then(|| from.clone()), PAGE)
        .await?;
    let more = (rows.len() == PAGE as usize)
        .then(|| rows.last().map(|r| r.id))
        .flatten()
        .map(|last| {
            format!(
                "/inbox?from={}&before={last}",
                crate::pages::view::urlencode(&from)
            )
        });
    render(&InboxPage {
        c,
        rows,
        from,
        more,
        error: None,
    })
}

/// The reply form.
#[derive(Default, Deserialize)]
#[serde(default)]
pub(crate) struct ReplyForm {
    text: String,
}

/// `POST /inbox/{id}/reply`.
pub(crate) async fn reply(
    State(state): State<AppState>,
    uri: Uri,
    Path(id): Path<i64>,
    post: Post<ReplyForm>,
) -> Result<Response, PageError> {
    let s = post.session;
    s.require(Role::Operator)?;
    let m = state
        .engine
        .store()
        .inbound_message(id)
        .await?
        .ok_or(PageError::NotFound)?;
    let (c, settings) = chrome(&state, &s, "inbox", &uri).await?;
    let accept = settings.accept_config(&state.engine.config().accept);
    let request = SendRequest {
        to: m.from.clone(),
        text: post.form.text.replace("\r\n", "\n"),
        report: true,
        client_ref: Some(format!("reply-to-{id}")),
        ..SendRequest::default()
    };
    match state
        .engine
        .submit_with(&accept, None, Source::Web, &[request])
        .await
    {
        Ok(stored) => {
            let new = stored.first().map(|a| a.id.0).unwrap_or_default();
            s.audit(
                &state,
                "inbox.reply",
                Some(format!("inbound #{id} from {}", m.from)),
                Some(format!("message #{new}")),
            )
            .await?;
            Ok(done(&format!("/messages/{new}"), "sent").into_response())
        }
        Err(engine::SubmitError::Invalid(fields)) => {
            let error = fields
                .iter()
                .map(|f| format!("{}: {}", f.field, f.message))
                .collect::<Vec<_>>()
                .join("; ");
            let rows = state.engine.store().inbound_list(None, None, PAGE).await?;
            let mut r = render(&InboxPage {
                c,
                rows,
                from: String::new(),
                more: None,
                error: Some(error),
            })?;
            *r.status_mut() = axum::http::StatusCode::BAD_REQUEST;
            Ok(r)
        }
        Err(e) => Err(PageError::Unavailable(e.to_string())),
    }
}
