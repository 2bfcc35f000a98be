//! Outpost's HTTP side (DESIGN invariant: only this crate knows HTTP and JSON): the JSON API under
//! `/api/v1`, operations endpoints, the local admin pages ([`pages`]), and Kannel-compatible
//! `/cgi-bin/sendsms` ([`sendsms`]).
//!
//! The library exposes [`app`] (a `Router` that tests drive in-process) and [`serve`]. Bodies are
//! limited in size, every error is a JSON `ApiError` without internal text, and every request is
//! traced.
#![forbid(unsafe_code)]

mod api;
mod auth;
mod error;
mod json;
mod ops;
pub mod pages;
pub mod sendsms;
pub mod time;
pub mod tls;

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use engine::Engine;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;

pub use api::MAX_BATCH;
pub use error::ApiError;

/// Largest request body accepted (a full batch of long messages fits).
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The message lifecycle.
    pub engine: Engine,
    /// The Prometheus recorder's handle, when the binary installed one.
    pub prometheus: Option<PrometheusHandle>,
}

/// The whole HTTP application. The admin pages keep their own state (login throttling) per
/// application instance.
pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(api::routes())
        .merge(pages::routes())
        .merge(sendsms::routes())
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .fallback(|| async { ApiError::NotFound("route") })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves `app(state)` on `listener` until `shutdown` resolves, then finishes open requests.
/// Handlers see the client's address (login throttling and the audit log use it).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
