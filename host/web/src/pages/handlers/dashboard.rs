//! The dashboard: every modem slot (SIM, operator, signal, registration, state, sent in the last
//! 24 h against its daily limit) and every upstream link (state, window use, throughput,
//! success), the queue, and the throughput / delivery-rate chart. `/dashboard/live` renders the
//! live part alone; the page re-fetches it every few seconds with htmx.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::Uri;
use axum::response::Response;
use carriers::{CarrierKind, CarrierStatus};
use domain::{MessageState, UnixMillis};
use serde::Deserialize;

use super::chrome;
use crate::AppState;
use crate::pages::session::Session;
use crate::pages::settings::RuntimeSettings;
use crate::pages::{Chrome, PageError, chart, render, view};

/// A modem slot's row.
pub(crate) struct SlotRow {
    pub(crate) id: String,
    pub(crate) kind: &'static str,
    pub(crate) class: &'static str,
    pub(crate) state: &'static str,
    pub(crate) detail: String,
    pub(crate) sim: bool,
    pub(crate) operator: String,
    pub(crate) signal: Vec<bool>,
    pub(crate) dbm: String,
    pub(crate) registration: String,
    pub(crate) modem_state: String,
    pub(crate) sent: u64,
    pub(crate) limit: String,
    pub(crate) used_pct: u64,
}

/// An upstream link's row.
pub(crate) struct LinkRow {
    pub(crate) id: String,
    pub(crate) class: &'static str,
    pub(crate) state: &'static str,
    pub(crate) detail: String,
    pub(crate) in_flight: u32,
    pub(crate) window: u32,
    pub(crate) window_pct: u64,
    pub(crate) last_hour: u64,
    pub(crate) sent: u64,
    pub(crate) success: String,
    pub(crate) health_class: &'static str,
}

/// The live part of the dashboard.
pub(crate) struct Live {
    pub(crate) slots: Vec<SlotRow>,
    pub(crate) links: Vec<LinkRow>,
    pub(crate) queued: u64,
    pub(crate) in_flight: u64,
    pub(crate) waiting_report: u64,
    pub(crate) submitted_hour: u64,
    pub(crate) rate_hour: String,
    pub(crate) chart: String,
    pub(crate) range: &'static str,
    pub(crate) updated: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    c: Chrome,
    live: Live,
}

#[derive(Template)]
#[template(path = "dashboard_live.html")]
struct LivePart {
    c: Chrome,
    live: Live,
}

/// Query: chart range.
#[derive(Deserialize)]
pub(crate) struct RangeQuery {
    range: Option<String>,
}

fn range(q: &RangeQuery) -> (&'static str, i64, i64) {
    // (name, span, bucket) in milliseconds.
    match q.range.as_deref() {
        Some("1h") => ("1h", 3_600_000, 60_000),
        Some("24h") => ("24h", 86_400_000, 1_800_000),
        _ => ("6h", 6 * 3_600_000, 600_000),
    }
}

fn success(st: &CarrierStatus) -> (String, &'static str) {
    let c = st.counters;
    let total = c.submitted + c.failed;
    if total == 0 {
        return ("—".into(), "muted");
    }
    let p = view::percent(c.submitted, total);
    (
        format!("{p}%"),
        match p {
            95.. => "ok",
            80.. => "warn",
            _ => "bad",
        },
    )
}

async fn live(
    state: &AppState,
    c: &Chrome,
    settings: &RuntimeSettings,
    q: &RangeQuery,
) -> Result<Live, PageError> {
    let store = state.engine.store();
    let now = UnixMillis::now();
    let day = store.attempts_since(UnixMillis(now.0 - 86_400_000)).await?;
    let hour = store.attempts_since(UnixMillis(now.0 - 3_600_000)).await?;
    let (range_name, span, bucket) = range(q);
    let buckets = store
        .throughput(UnixMillis(now.0 - span), now, bucket)
        .await?;
    let recent = store
        .throughput(UnixMillis(now.0 - 3_600_000), now, 3_600_000)
        .await?;
    let (sub_h, del_h, fail_h) = recent.iter().fold((0, 0, 0), |(s, d, f), b| {
        (s + b.submitted, d + b.delivered, f + b.failed)
    });
    let counts = store.state_counts().await?;
    let waiting = counts
        .iter()
        .filter(|(s, _)| *s == MessageState::Submitted)
        .map(|(_, n)| *n)
        .sum();
    let policy = &state.engine.config().policy;
    let mut slots = Vec::new();
    let mut links = Vec::new();
    for st in state.engine.carrier_statuses() {
        let id = st.id.as_str().to_owned();
        let disabled = state.engine.is_disabled(&st.id);
        let shown = if disabled {
            carriers::CarrierState::Disabled
        } else {
            st.state
        };
        let sent = day.get(&id).copied().unwrap_or(0);
        match st.kind {
            CarrierKind::BankSlot | CarrierKind::Modem => {
                let info = st.slot.clone().unwrap_or_default();
                let kind = if st.kind == CarrierKind::BankSlot {
                    route::CarrierKind::BankSlot
                } else {
                    route::CarrierKind::Modem
                };
                let limit = policy
                    .profile(&st.id, kind)
                    .limits
                    .per_day
                    .or(settings.daily_limit);
                let bars = view::bars(info.rssi);
                slots.push(SlotRow {
                    kind: view::kind_key(st.kind),
                    class: view::carrier_class(shown),
                    state: view::carrier_state_key(shown),
                    detail: st.detail.clone(),
                    sim: info.sim_present,
                    operator: info.operator.clone().unwrap_or_else(|| "—".into()),
                    signal: (0..4).map(|i| i < bars).collect(),
                    dbm: view::dbm(info.rssi).map_or_else(|| "—".into(), |d| format!("{d} dBm")),
                    registration: if info.registration.is_empty() {
                        "—".into()
                    } else {
                        info.registration.clone()
                    },
                    modem_state: info.state.clone(),
                    sent,
                    limit: limit.map_or_else(|| "∞".into(), |l| l.to_string()),
                    used_pct: limit.map_or(0, |l| view::percent(sent, u64::from(l))),
                    id,
                });
            }
            CarrierKind::Smpp => {
                let (success, health_class) = success(&st);
                links.push(LinkRow {
                    class: view::carrier_class(shown),
                    state: view::carrier_state_key(shown),
                    detail: st.detail.clone(),
                    in_flight: st.in_flight,
                    window: st.window,
                    window_pct: view::percent(u64::from(st.in_flight), u64::from(st.window)),
                    last_hour: hour.get(&id).copied().unwrap_or(0),
                    sent,
                    success,
                    health_class,
                    id,
                });
            }
        }
    }
    let stats = state.engine.stats();
    Ok(Live {
        slots,
        links,
        queued: stats.queued,
        in_flight: stats.in_flight,
        waiting_report: waiting,
        submitted_hour: sub_h,
        rate_hour: if del_h + fail_h == 0 {
            "—".into()
        } else {
            format!("{}%", view::percent(del_h, del_h + fail_h))
        },
        chart: chart::svg(&buckets, c.offset, c.t("dash.chart")),
        range: range_name,
        updated: view::clock(now, c.offset),
    })
}

/// `GET /dashboard`.
pub(crate) async fn page(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Query(q): Query<RangeQuery>,
) -> Result<Response, PageError> {
    let (c, settings) = chrome(&state, &s, "dashboard", &uri).await?;
    let live = live(&state, &c, &settings, &q).await?;
    render(&DashboardPage { c, live })
}

/// `GET /dashboard/live`: the live part alone, for htmx polling.
pub(crate) async fn live_part(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Query(q): Query<RangeQuery>,
) -> Result<Response, PageError> {
    let (c, settings) = chrome(&state, &s, "dashboard", &uri).await?;
    let live = live(&state, &c, &settings, &q).await?;
    render(&LivePart { c, live })
}
