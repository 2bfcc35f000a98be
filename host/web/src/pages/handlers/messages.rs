//! Messages: search by number, date, state and API key (the per-number history for complaint
//! handling is a search by number), the per-message trace (each attempt with its carrier and
//! result, each part with its delivery report, refreshed live until the message is final), and
//! "resend via another channel".

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use domain::{ApiKeyId, MessageId, MessageState, Msisdn};
use serde::Deserialize;
use store::{ApiKey, MessageDetail, MessageFilter, MessageSummary, Role};

use super::{chrome, done};
use crate::AppState;
use crate::pages::session::{Post, Session};
use crate::pages::{Chrome, PageError, render, view};

/// Rows per page.
const PAGE: u32 = 50;

/// The search form.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct SearchQuery {
    #[serde(default)]
    to: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    key: String,
    before: Option<i64>,
    done: Option<String>,
}

/// A result row.
pub(crate) struct Row {
    m: MessageSummary,
    state_key: &'static str,
    class: &'static str,
    preview: String,
    key_name: String,
}

#[derive(Template)]
#[template(path = "messages.html")]
struct MessagesPage {
    c: Chrome,
    q: SearchQuery,
    number: Option<String>,
    rows: Vec<Row>,
    keys: Vec<ApiKey>,
    states: Vec<(&'static str, &'static str)>,
    error: Option<&'static str>,
    more: Option<String>,
}

impl MessagesPage {
    fn key_selected(&self, id: &i64) -> bool {
        self.q.key == id.to_string()
    }
}

fn preview(body: &str) -> String {
    let mut p: String = body.chars().take(60).collect();
    if body.chars().count() > 60 {
        p.push('…');
    }
    p
}

/// `GET /messages`.
pub(crate) async fn search(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Query(q): Query<SearchQuery>,
) -> Result<Response, PageError> {
    let (c, settings) = chrome(&state, &s, "messages", &uri).await?;
    let c = c.with_notice(q.done.as_deref());
    let accept = settings.accept_config(&state.engine.config().accept);
    let mut error = None;
    let number = if q.to.trim().is_empty() {
        None
    } else {
        match Msisdn::parse(q.to.trim(), &accept.numbers) {
            Ok(m) => Some(m.as_str().to_owned()),
            Err(_) => {
                error = Some("messages.err.number");
                None
            }
        }
    };
    let since = (!q.from.is_empty())
        .then(|| view::parse_date(&q.from, c.offset))
        .flatten();
    // "Until" includes the whole day.
    let until = (!q.until.is_empty())
        .then(|| view::parse_date(&q.until, c.offset))
        .flatten()
        .map(|t| domain::UnixMillis(t.0 + 86_400_000));
    if (!q.from.is_empty() && since.is_none()) || (!q.until.is_empty() && until.is_none()) {
        error = Some("messages.err.date");
    }
    let keys = state.engine.store().list_api_keys().await?;
    let rows = if error.is_some() {
        Vec::new()
    } else {
        state
            .engine
            .store()
            .search(MessageFilter {
                to: number.clone(),
                state: q.state.parse::<MessageState>().ok(),
                api_key: q.key.parse::<i64>().ok().map(ApiKeyId),
                since,
                until,
                before_id: q.before.map(MessageId),
                limit: PAGE,
            })
            .await?
    };
    let more = (rows.len() == PAGE as usize)
        .then(|| rows.last().map(|r| r.id.0))
        .flatten()
        .map(|last| {
            format!(
                "/messages?to={}&from={}&until={}&state={}&key={}&before={last}",
                view::urlencode(&q.to),
                view::urlencode(&q.from),
                view::urlencode(&q.until),
                view::urlencode(&q.state),
                view::urlencode(&q.key)
            )
        });
    let rows = rows
        .into_iter()
        .map(|m| Row {
            state_key: view::state_key(m.state),
            class: view::state_class(m.state.as_str()),
            preview: preview(&m.body),
            key_name: m
                .api_key
                .and_then(|k| keys.iter().find(|x| x.id == k))
                .map_or_else(|| "—".to_owned(), |k| k.name.clone()),
            m,
        })
        .collect();
    let states = MessageState::ALL
        .iter()
        .map(|s| (s.as_str(), view::state_key(*s)))
        .collect();
    render(&MessagesPage {
        c,
        q,
        number,
        rows,
        keys,
        states,
        error,
        more,
    })
}

/// An attempt row of the trace.
pub(crate) struct AttemptRow {
    no: u32,
    carrier: String,
    round: u32,
    started: String,
    ended: String,
    outcome: String,
    class: &'static str,
    detail: String,
}

/// A part row of the trace.
pub(crate) struct PartRow {
    seq: u16,
    state: String,
    class: &'static str,
    carrier: String,
    carrier_ref: String,
    submitted: String,
    report: String,
    report_class: &'static str,
    error: String,
    reported: String,
}

/// The live part of the trace.
pub(crate) struct Trace {
    id: i64,
    state_key: &'static str,
    class: &'static str,
    is_final: bool,
    attempts: Vec<AttemptRow>,
    parts: Vec<PartRow>,
    error: String,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    c: Chrome,
    m: MessageSummary,
    trace: Trace,
    key_name: String,
    carriers: Vec<(String, bool)>,
}

impl MessagePage {
    fn source_key(&self) -> &'static str {
        match self.m.source {
            store::Source::Http => "source.http",
            store::Source::Sendsms => "source.sendsms",
            store::Source::Smpp => "source.smpp",
            store::Source::Web => "source.web",
            store::Source::Test => "source.test",
        }
    }
}

#[derive(Template)]
#[template(path = "trace_live.html")]
struct TracePart {
    c: Chrome,
    trace: Trace,
}

fn outcome_class(o: Option<&str>) -> &'static str {
    match o {
        Some("accepted") => "ok",
        Some("retry") | Some("lost") | Some("resend") => "warn",
        Some("reject") => "bad",
        _ => "info",
    }
}

fn trace(d: &MessageDetail, c: &Chrome) -> Trace {
    let m = &d.message;
    Trace {
        id: m.id.0,
        state_key: view::state_key(m.state),
        class: view::state_class(m.state.as_str()),
        is_final: m.state.is_final(),
        attempts: d
            .attempts
            .iter()
            .map(|a| AttemptRow {
                no: a.no,
                carrier: a.carrier.clone(),
                round: a.round + 1,
                started: c.time(a.started_at),
                ended: c.time_opt(a.ended_at),
                outcome: a
                    .outcome
                    .clone()
                    .unwrap_or_else(|| c.t("trace.in_flight").to_owned()),
                class: outcome_class(a.outcome.as_deref()),
                detail: a.detail.clone().unwrap_or_default(),
            })
            .collect(),
        parts: d
            .parts
            .iter()
            .map(|p| {
                let report = p.dlr_status.map(|s| s.as_str().to_owned());
                PartRow {
                    seq: p.seq,
                    state: p.state.as_str().to_owned(),
                    class: view::state_class(p.state.as_str()),
                    carrier: p.carrier.clone().unwrap_or_else(|| "—".into()),
                    carrier_ref: p.carrier_ref.clone().unwrap_or_else(|| "—".into()),
                    submitted: c.time_opt(p.submitted_at),
                    report_class: view::state_class(report.as_deref().unwrap_or("")),
                    report: report.unwrap_or_else(|| "—".into()),
                    error: p.dlr_error.clone().unwrap_or_default(),
                    reported: c.time_opt(p.dlr_at),
                }
            })
            .collect(),
        error: m.error.clone().unwrap_or_default(),
    }
}

async fn detail(state: &AppState, id: i64) -> Result<MessageDetail, PageError> {
    state
        .engine
        .store()
        .message(MessageId(id))
        .await?
        .ok_or(PageError::NotFound)
}

/// Query with an optional notice.
#[derive(Deserialize)]
pub(crate) struct DoneQuery {
    done: Option<String>,
}

/// `GET /messages/{id}`: the trace.
pub(crate) async fn trace_page(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Path(id): Path<i64>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let (c, _) = chrome(&state, &s, "messages", &uri).await?;
    let c = c.with_notice(q.done.as_deref());
    let d = detail(&state, id).await?;
    let used: Vec<&str> = d.attempts.iter().map(|a| a.carrier.as_str()).collect();
    let carriers = state
        .engine
        .carrier_statuses()
        .into_iter()
        .map(|st| {
            let id = st.id.as_str().to_owned();
            let used = used.contains(&id.as_str());
            (id, used)
        })
        .collect();
    let key_name = match d.message.api_key {
        Some(k) => state
            .engine
            .store()
            .list_api_keys()
            .await?
            .into_iter()
            .find(|x| x.id == k)
            .map_or_else(|| k.to_string(), |x| x.name),
        None => "—".into(),
    };
    let trace = trace(&d, &c);
    render(&MessagePage {
        c,
        m: d.message,
        trace,
        key_name,
        carriers,
    })
}

/// `GET /messages/{id}/live`: the trace alone, for htmx polling.
pub(crate) async fn trace_live(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let (c, _) = chrome(&state, &s, "messages", &uri).await?;
    let d = detail(&state, id).await?;
    let trace = trace(&d, &c);
    render(&TracePart { c, trace })
}

/// The resend form.
#[derive(Default, Deserialize)]
#[serde(default)]
pub(crate) struct ResendForm {
    carrier: String,
}

/// `POST /messages/{id}/resend`: a copy through the chosen carrier.
pub(crate) async fn resend(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    post: Post<ResendForm>,
) -> Result<Response, PageError> {
    let s = post.session;
    s.require(Role::Operator)?;
    let new = state
        .engine
        .resend_via(MessageId(id), &post.form.carrier)
        .await
        .map_err(super::carriers::admin_error)?;
    s.audit(
        &state,
        "message.resend",
        Some(format!("message #{id}")),
        Some(format!("via {} as #{new}", post.form.carrier)),
    )
    .await?;
    Ok(done(&format!("/messages/{new}"), "resent").into_response())
}
