//! The JSON API under `/api/v1` (DESIGN "Interfaces"): send one or a batch, status with the attempt
//! trace, per-number history, inbound, carriers, and the OpenAPI document describing all of it.

mod carriers;
mod inbound;
mod messages;
mod openapi;

use axum::Router;
use axum::routing::{get, post};

use crate::AppState;

/// Most messages in one batch call.
pub const MAX_BATCH: usize = 1000;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/messages", post(messages::send).get(messages::list))
        .route("/api/v1/messages/batch", post(messages::send_batch))
        .route("/api/v1/messages/{id}", get(messages::get))
        .route("/api/v1/numbers/{number}/messages", get(messages::history))
        .route("/api/v1/inbound", get(inbound::list))
        .route("/api/v1/carriers", get(carriers::list))
        .route("/api/v1/openapi.json", get(openapi::document))
}
