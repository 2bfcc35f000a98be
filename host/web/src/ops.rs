//! Operations endpoints: `/healthz` (the process answers), `/readyz` (the store takes writes and
//! the engine is not stopping), `/metrics` (Prometheus text format).

use std::fmt::Write as _;
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use carriers::CarrierState;

use crate::AppState;

/// `GET /healthz`.
pub(crate) async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /readyz`: 200 when a write commits within a second.
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    match tokio::time::timeout(Duration::from_secs(1), state.engine.store().flush()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready\n").into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "not ready: store write failed");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n").into_response()
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "store too slow\n").into_response(),
    }
}

/// `GET /metrics`.
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    let mut out = String::new();
    let s = state.engine.stats();
    let mut gauge = |name: &str, help: &str, value: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
        );
    };
    gauge(
        "outpost_queue_depth",
        "Messages waiting to be sent (due or scheduled).",
        s.queued,
    );
    gauge(
        "outpost_in_flight",
        "Attempts handed to carriers, outcome pending.",
        s.in_flight,
    );
    gauge(
        "outpost_accepted_total",
        "Messages accepted since start.",
        s.accepted,
    );
    gauge(
        "outpost_store_commits_total",
        "Store transactions committed (one fsync each).",
        s.commits,
    );
    gauge(
        "outpost_store_writes_total",
        "Store write jobs (commits batch many).",
        s.writes,
    );
    let _ = writeln!(
        out,
        "# HELP outpost_carrier_up Whether a carrier can take messages (1) or not (0).\n\
         # TYPE outpost_carrier_up gauge"
    );
    for c in state.engine.carrier_statuses() {
        let _ = writeln!(
            out,
            "outpost_carrier_up{{carrier=\"{}\"}} {}",
            c.id,
            u8::from(c.state == CarrierState::Up)
        );
    }
    let _ = writeln!(
        out,
        "# HELP outpost_carrier_submitted_total Parts accepted by each carrier.\n\
         # TYPE outpost_carrier_submitted_total counter"
    );
    for c in state.engine.carrier_statuses() {
        let _ = writeln!(
            out,
            "outpost_carrier_submitted_total{{carrier=\"{}\"}} {}",
            c.id, c.counters.submitted
        );
    }
    if let Some(handle) = &state.prometheus {
        out.push_str(&handle.render());
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}
