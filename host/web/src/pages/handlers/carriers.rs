//! Carriers: every slot and link with its settings (kind, window, cost, limits, SIM details,
//! counters), switching it on or off, resetting or power-cycling a slot, and the channel test:
//! one message through the chosen carrier only, whose outcome the trace page then shows live.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use carriers::{CarrierKind, CarrierStatus, Command};
use domain::UnixMillis;
use engine::SendRequest;
use engine::admin::AdminError;
use serde::Deserialize;
use store::Role;

use super::{chrome, done};
use crate::AppState;
use crate::pages::session::{Post, Session};
use crate::pages::{Chrome, PageError, render, view};

/// One carrier with what the page shows about it.
pub(crate) struct CarrierRow {
    st: CarrierStatus,
    kind: &'static str,
    class: &'static str,
    state: &'static str,
    disabled: bool,
    is_slot: bool,
    cost: u32,
    window: u32,
    per_minute: String,
    per_hour: String,
    per_day: String,
    signal: Vec<bool>,
    dbm: String,
}

#[derive(Template)]
#[template(path = "carriers.html")]
struct CarriersPage {
    c: Chrome,
    rows: Vec<CarrierRow>,
    test_to: String,
    error: Option<String>,
}

fn limit(v: Option<u32>) -> String {
    v.map_or_else(|| "—".into(), |v| v.to_string())
}

/// Maps an engine admin error to a page error.
pub(crate) fn admin_error(e: AdminError) -> PageError {
    match e {
        AdminError::NoSuchCarrier(_) | AdminError::NoSuchMessage(_) => PageError::NotFound,
        AdminError::Invalid(f) => PageError::BadRequest(format!("{f:?}")),
        other => PageError::Unavailable(other.to_string()),
    }
}

async fn show(
    state: &AppState,
    c: Chrome,
    error: Option<String>,
    test_to: String,
) -> Result<Response, PageError> {
    let policy = &state.engine.config().policy;
    let rows = state
        .engine
        .carrier_statuses()
        .into_iter()
        .map(|st| {
            let rk = match st.kind {
                CarrierKind::Smpp => route::CarrierKind::Smpp,
                CarrierKind::BankSlot => route::CarrierKind::BankSlot,
                CarrierKind::Modem => route::CarrierKind::Modem,
            };
            let profile = policy.profile(&st.id, rk);
            let disabled = state.engine.is_disabled(&st.id);
            let shown = if disabled {
                carriers::CarrierState::Disabled
            } else {
                st.state
            };
            let rssi = st.slot.as_ref().and_then(|s| s.rssi);
            let bars = view::bars(rssi);
            CarrierRow {
                kind: view::kind_key(st.kind),
                class: view::carrier_class(shown),
                state: view::carrier_state_key(shown),
                disabled,
                is_slot: st.kind != CarrierKind::Smpp,
                cost: profile.cost,
                window: profile.window,
                per_minute: limit(profile.limits.per_minute),
                per_hour: limit(profile.limits.per_hour),
                per_day: limit(profile.limits.per_day),
                signal: (0..4).map(|i| i < bars).collect(),
                dbm: view::dbm(rssi).map_or_else(|| "—".into(), |d| format!("{d} dBm")),
                st,
            }
        })
        .collect();
    let bad = error.is_some();
    let mut r = render(&CarriersPage {
        c,
        rows,
        test_to,
        error,
    })?;
    if bad {
        *r.status_mut() = axum::http::StatusCode::BAD_REQUEST;
    }
    Ok(r)
}

/// Query with an optional notice.
#[derive(Deserialize)]
pub(crate) struct DoneQuery {
    done: Option<String>,
}

/// `GET /carriers`.
pub(crate) async fn page(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Query(q): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let (c, _) = chrome(&state, &s, "carriers", &uri).await?;
    show(
        &state,
        c.with_notice(q.done.as_deref()),
        None,
        String::new(),
    )
    .await
}

/// The action form.
#[derive(Default, Deserialize)]
#[serde(default)]
pub(crate) struct ActionForm {
    action: String,
}

/// `POST /carriers/{id}/action`: `enable`, `disable`, `reset` or `power_cycle`.
pub(crate) async fn action(
    State(state): State<AppState>,
    Path(id): Path<String>,
    post: Post<ActionForm>,
) -> Result<Response, PageError> {
    let s = post.session;
    s.require(Role::Admin)?;
    let carrier = state.engine.carrier(&id).ok_or(PageError::NotFound)?;
    let cid = carrier.id().clone();
    let action = post.form.action.as_str();
    let result = match action {
        "enable" | "disable" => {
            let on = action == "enable";
            state.engine.set_enabled(&cid, on);
            state
                .engine
                .store()
                .set_carrier_override(id.clone(), on, UnixMillis::now())
                .await?;
            Ok(())
        }
        "reset" => state.engine.carrier_command(&id, Command::Reset).await,
        "power_cycle" => state.engine.carrier_command(&id, Command::PowerCycle).await,
        _ => return Err(PageError::BadRequest(format!("unknown action {action:?}"))),
    };
    let detail = match &result {
        Ok(()) => None,
        Err(e) => Some(format!("refused: {e}")),
    };
    s.audit(
        &state,
        &format!("carrier.{action}"),
        Some(id.clone()),
        detail,
    )
    .await?;
    match result {
        Ok(()) => Ok(done("/carriers", action).into_response()),
        Err(AdminError::Command(e)) => Ok(done(
            "/carriers",
            match e {
                carriers::CommandError::Unsupported => "unsupported",
                carriers::CommandError::Unavailable(_) => "unavailable",
            },
        )
        .into_response()),
        Err(e) => Err(admin_error(e)),
    }
}

/// The channel-test form.
#[derive(Default, Deserialize)]
#[serde(default)]
pub(crate) struct TestForm {
    to: String,
    #[serde(default)]
    text: String,
}

/// `POST /carriers/{id}/test`.
pub(crate) async fn test(
    State(state): State<AppState>,
    uri: Uri,
    Path(id): Path<String>,
    post: Post<TestForm>,
) -> Result<Response, PageError> {
    let s = post.session;
    s.require(Role::Admin)?;
    let (c, settings) = chrome(&state, &s, "carriers", &uri).await?;
    let accept = settings.accept_config(&state.engine.config().accept);
    let text = if post.form.text.trim().is_empty() {
        format!(
            "Outpost channel test {} {}",
            id,
            view::local_time(UnixMillis::now(), c.offset)
        )
    } else {
        post.form.text.clone()
    };
    let request = SendRequest {
        to: post.form.to.clone(),
        text,
        report: true,
        client_ref: Some(format!("channel-test-{id}")),
        ..SendRequest::default()
    };
    match state.engine.channel_test(&accept, &id, &request).await {
        Ok(mid) => {
            s.audit(
                &state,
                "carrier.test",
                Some(id.clone()),
                Some(format!("message #{mid} to {}", post.form.to)),
            )
            .await?;
            Ok(done(&format!("/messages/{mid}"), "test_started").into_response())
        }
        Err(AdminError::Invalid(fields)) => {
            let error = fields
                .iter()
                .map(|f| format!("{}: {}", f.field, f.message))
                .collect::<Vec<_>>()
                .join("; ");
            show(&state, c, Some(error), post.form.to).await
        }
        Err(e) => Err(admin_error(e)),
    }
}
