//! The send form: recipients (typed or pasted numbers, a group), text with a live character and
//! segment counter, signature preview, schedule time and priority; and recipient groups.
//!
//! The counter in `assets/app.js` reimplements `firmware/gsm`'s counting rule (its README,
//! "Encoding choice and the counting rule"); the GSM 7-bit tables it uses are written into the
//! page from `gsm::gsm7` here, so there is one copy of them. `/send/count` answers the Rust
//! planner's result for any text, which the browser test compares with the script's.

use askama::Template;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use domain::{Msisdn, UnixMillis};
use engine::{AcceptConfig, SendRequest};
use serde::{Deserialize, Serialize};
use store::{Group, Role, Source};

use super::{chrome, done};
use crate::AppState;
use crate::pages::session::{Post, Session};
use crate::pages::settings::RuntimeSettings;
use crate::pages::{Chrome, PageError, render, view};

/// Most recipients in one send (the API's batch limit).
const MAX_RECIPIENTS: usize = crate::MAX_BATCH;

/// The form's values, kept when the page is shown again with errors.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct SendForm {
    #[serde(default)]
    to: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    send_at: String,
    #[serde(default)]
    priority: String,
}

#[derive(Template)]
#[template(path = "send.html")]
struct SendPage {
    c: Chrome,
    form: SendForm,
    errors: Vec<(String, String)>,
    groups: Vec<Group>,
    signature: String,
    signature_suffix: bool,
    max_parts: u8,
    gsm_default: String,
    gsm_extension: String,
}

impl SendPage {
    fn selected(&self, field: &str, value: &str) -> bool {
        match field {
            "group" => self.form.group == value,
            _ => self.form.priority == value || (self.form.priority.is_empty() && value == "5"),
        }
    }
}

/// The GSM 7-bit default table and extension table as strings, from `firmware/gsm`.
fn gsm_tables() -> (String, String) {
    let default: String = (0u8..128)
        .filter(|s| *s != gsm::gsm7::ESCAPE)
        .map(gsm::gsm7::decode_default)
        .filter(|c| gsm::gsm7::is_default(*c))
        .collect();
    let extension: String = (0u8..128).filter_map(gsm::gsm7::decode_extension).collect();
    (default, extension)
}

async fn show(
    state: &AppState,
    c: Chrome,
    settings: &RuntimeSettings,
    form: SendForm,
    errors: Vec<(String, String)>,
) -> Result<Response, PageError> {
    let accept = settings.accept_config(&state.engine.config().accept);
    let (gsm_default, gsm_extension) = gsm_tables();
    let bad = !errors.is_empty();
    let mut r = render(&SendPage {
        c,
        form,
        errors,
        groups: state.engine.store().groups().await?,
        signature: accept
            .signature
            .as_ref()
            .map(|s| s.text.clone())
            .unwrap_or_default(),
        signature_suffix: accept
            .signature
            .as_ref()
            .is_some_and(|s| s.position == engine::SignaturePosition::Suffix),
        max_parts: accept.max_parts,
        gsm_default,
        gsm_extension,
    })?;
    if bad {
        *r.status_mut() = axum::http::StatusCode::BAD_REQUEST;
    }
    Ok(r)
}

/// Query of the send page (prefill from a reply link or a history page).
#[derive(Deserialize)]
pub(crate) struct Prefill {
    to: Option<String>,
    done: Option<String>,
}

/// `GET /send`.
pub(crate) async fn page(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Query(q): Query<Prefill>,
) -> Result<Response, PageError> {
    s.require(Role::Operator)?;
    let (c, settings) = chrome(&state, &s, "send", &uri).await?;
    let form = SendForm {
        to: q.to.unwrap_or_default(),
        ..SendForm::default()
    };
    show(
        &state,
        c.with_notice(q.done.as_deref()),
        &settings,
        form,
        Vec::new(),
    )
    .await
}

/// Splits pasted numbers on commas, semicolons (also the full-width ones), spaces and newlines.
pub(crate) fn split_numbers(s: &str) -> Vec<String> {
    s.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '，' | '；' | '、'))
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Parses a `datetime-local` value (`2026-11-22T15:00`) in the display zone.
fn parse_local(s: &str, offset: time::UtcOffset) -> Option<UnixMillis> {
    let (date, clock) = s.trim().split_once('T')?;
    let day = view::parse_date(date, offset)?;
    let (h, m) = clock.split_once(':')?;
    let m = m.get(..2)?;
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    if !(0..24).contains(&h) || !(0..60).contains(&m) {
        return None;
    }
    Some(UnixMillis(day.0 + (h * 60 + m) * 60_000))
}

/// `POST /send`.
pub(crate) async fn submit(
    State(state): State<AppState>,
    uri: Uri,
    post: Post<SendForm>,
) -> Result<Response, PageError> {
    let s = post.session;
    s.require(Role::Operator)?;
    let mut form = post.form;
    // Browsers send a textarea's line breaks as CRLF but count (and show) LF: keep what the
    // counter counted.
    form.text = form.text.replace("\r\n", "\n");
    let (c, settings) = chrome(&state, &s, "send", &uri).await?;
    let mut errors = Vec::new();
    let accept = settings.accept_config(&state.engine.config().accept);
    let mut numbers = split_numbers(&form.to);
    if let Ok(gid) = form.group.parse::<i64>() {
        numbers.extend(state.engine.store().group_numbers(gid).await?);
    }
    // One message per number however it was written (national, +86, 0086); numbers that do
    // not parse stay as typed so the error names them.
    for n in &mut numbers {
        if let Ok(m) = Msisdn::parse(n, &accept.numbers) {
            *n = m.as_str().to_owned();
        }
    }
    let mut seen = std::collections::HashSet::new();
    numbers.retain(|n| seen.insert(n.clone()));
    if numbers.is_empty() {
        errors.push(("to".into(), c.t("send.err.no_recipients").into()));
    } else if numbers.len() > MAX_RECIPIENTS {
        errors.push(("to".into(), c.t("send.err.too_many").into()));
    }
    let send_at = if form.send_at.trim().is_empty() {
        None
    } else {
        match parse_local(&form.send_at, c.offset) {
            Some(t) => Some(t),
            None => {
                errors.push(("send_at".into(), c.t("send.err.time").into()));
                None
            }
        }
    };
    let priority = form.priority.parse::<u8>().ok();
    if !errors.is_empty() {
        return show(&state, c, &settings, form, errors).await;
    }
    let requests: Vec<SendRequest> = numbers
        .iter()
        .map(|to| SendRequest {
            to: to.clone(),
            text: form.text.clone(),
            priority,
            send_at,
            report: true,
            ..SendRequest::default()
        })
        .collect();
    match state
        .engine
        .submit_with(&accept, None, Source::Web, &requests)
        .await
    {
        Ok(stored) => {
            let first = stored.first().map(|a| a.id.0).unwrap_or_default();
            s.audit(
                &state,
                "message.send",
                Some(format!("{} recipient(s)", stored.len())),
                Some(format!("first message #{first}")),
            )
            .await?;
            Ok(if stored.len() == 1 {
                done(&format!("/messages/{first}"), "sent").into_response()
            } else {
                done("/messages", "sent").into_response()
            })
        }
        Err(engine::SubmitError::Invalid(fields)) => {
            let errors = fields
                .into_iter()
                .map(|f| {
                    // `messages[3].to` → the fourth number.
                    let label = match f.field.split_once("].") {
                        Some((idx, field)) => {
                            let i: usize = idx.trim_start_matches("messages[").parse().unwrap_or(0);
                            format!("{} {}", field, numbers.get(i).map_or("", String::as_str))
                        }
                        None => f.field.clone(),
                    };
                    (label, f.message)
                })
                .collect();
            show(&state, c, &settings, form, errors).await
        }
        Err(e) => Err(PageError::Unavailable(e.to_string())),
    }
}

/// Query of `/send/count`.
#[derive(Deserialize)]
pub(crate) struct CountQuery {
    #[serde(default)]
    text: String,
}

/// What the Rust planner says about a text (with the signature applied), the reference for the
/// page's live counter.
#[derive(Serialize)]
pub(crate) struct Count {
    /// `gsm7` or `ucs2`.
    encoding: &'static str,
    parts: usize,
    units: usize,
    per_part: usize,
    left: usize,
    /// Set when the text needs more parts than allowed.
    too_long: bool,
}

/// Plans `text` with the signature applied, the way the engine will.
pub(crate) fn count_text(text: &str, accept: &AcceptConfig) -> Count {
    let body = match &accept.signature {
        Some(sig) => sig.apply(text),
        None => text.to_owned(),
    };
    let options = gsm::PlanOptions {
        max_parts: u8::MAX,
        ..gsm::PlanOptions::default()
    };
    match gsm::plan(&body, &options) {
        Ok(p) => Count {
            encoding: match p.encoding {
                gsm::Encoding::Gsm7 => "gsm7",
                gsm::Encoding::Ucs2 => "ucs2",
            },
            parts: p.parts,
            units: p.total_units,
            per_part: p.units_per_part,
            left: p.left_in_last,
            too_long: p.parts > usize::from(accept.max_parts),
        },
        Err(_) => Count {
            encoding: "ucs2",
            parts: 0,
            units: 0,
            per_part: 0,
            left: 0,
            too_long: true,
        },
    }
}

/// `GET /send/count?text=…`.
pub(crate) async fn count(
    State(state): State<AppState>,
    s: Session,
    Query(q): Query<CountQuery>,
) -> Result<Json<Count>, PageError> {
    let _ = s;
    let settings = RuntimeSettings::load(state.engine.store()).await?;
    let accept = settings.accept_config(&state.engine.config().accept);
    Ok(Json(count_text(&q.text, &accept)))
}

/// The new-group form.
#[derive(Default, Deserialize)]
#[serde(default)]
pub(crate) struct GroupForm {
    name: String,
    numbers: String,
}

/// `POST /groups`: a named list of numbers, each checked like a send's destination.
pub(crate) async fn create_group(
    State(state): State<AppState>,
    uri: Uri,
    post: Post<GroupForm>,
) -> Result<Response, PageError> {
    let s = post.session;
    s.require(Role::Operator)?;
    let (c, settings) = chrome(&state, &s, "send", &uri).await?;
    let accept = settings.accept_config(&state.engine.config().accept);
    let name = post.form.name.trim().to_owned();
    let mut errors = Vec::new();
    let mut numbers = Vec::new();
    for n in split_numbers(&post.form.numbers) {
        match Msisdn::parse(&n, &accept.numbers) {
            Ok(m) => numbers.push(m.as_str().to_owned()),
            Err(e) => errors.push((n, e.to_string())),
        }
    }
    if name.is_empty() || name.chars().count() > 64 {
        errors.push(("name".into(), c.t("groups.err.name").into()));
    }
    if numbers.is_empty() && errors.is_empty() {
        errors.push(("numbers".into(), c.t("send.err.no_recipients").into()));
    }
    if errors.is_empty() {
        let count = numbers.len();
        match state
            .engine
            .store()
            .create_group(name.clone(), numbers, UnixMillis::now())
            .await?
        {
            Some(id) => {
                s.audit(
                    &state,
                    "group.create",
                    Some(format!("group #{id} {name}")),
                    Some(format!("{count} number(s)")),
                )
                .await?;
                return Ok(done("/send", "group_created").into_response());
            }
            None => errors.push(("name".into(), c.t("groups.err.exists").into())),
        }
    }
    show(&state, c, &settings, SendForm::default(), errors).await
}

/// An empty form.
#[derive(Deserialize)]
pub(crate) struct Empty {}

/// `POST /groups/{id}/delete`.
pub(crate) async fn delete_group(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    post: Post<Empty>,
) -> Result<Response, PageError> {
    let s = post.session;
    s.require(Role::Operator)?;
    if !state.engine.store().delete_group(id).await? {
        return Err(PageError::NotFound);
    }
    s.audit(&state, "group.delete", Some(format!("group #{id}")), None)
        .await?;
    Ok(done("/send", "group_deleted").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasted_numbers() {
        assert_eq!(
            split_numbers("13800138000, 13800138001；13800138002\n+8613800138003\t"),
            [
                "13800138000",
                "13800138001",
                "13800138002",
                "+8613800138003"
            ]
        );
        assert!(split_numbers(" ,; ").is_empty());
    }

    #[test]
    fn local_times() {
        let cn = time::UtcOffset::from_hms(8, 0, 0).unwrap();
        let t = parse_local("2026-11-22T15:30", cn).unwrap();
        assert_eq!(view::local_time(t, cn), "2026-11-22 15:30:00");
        assert_eq!(parse_local("2026-11-22", cn), None);
        assert_eq!(parse_local("2026-11-22T25:00", cn), None);
    }

    #[test]
    fn tables_come_from_the_codec() {
        let (d, e) = gsm_tables();
        assert_eq!(d.chars().count(), 127, "128 septets less the escape");
        assert!(d.contains('@') && d.contains('£') && d.contains('\n') && d.contains(' '));
        assert!(!d.contains('ç') && !d.contains('`'));
        assert_eq!(e, "\u{0C}^{}\\[~]|€");
    }
}
