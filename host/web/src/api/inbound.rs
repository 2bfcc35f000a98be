//! `GET /api/v1/inbound`: received SMS (reassembled), newest first, with keyset paging.

use axum::Json;
use axum::extract::State;
use domain::UnixMillis;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Client;
use crate::error::ApiError;
use crate::json::StrictQuery;
use crate::time;

/// Paging and filters for inbound messages.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct InboundQuery {
    /// Only messages with a smaller id.
    before: Option<i64>,
    /// Only from this sender (as received, e.g. `+8613800138000`).
    from: Option<String>,
    /// Page size, 1–1000 (default 100).
    limit: Option<u32>,
}

/// One received message.
#[derive(Serialize, ToSchema)]
pub(crate) struct InboundBody {
    id: i64,
    /// Carrier it arrived on.
    carrier: String,
    from: String,
    to: Option<String>,
    text: String,
    /// Number of parts it was sent in.
    parts: u8,
    /// False when parts never arrived (missing parts are marked `[…]`).
    complete: bool,
    #[serde(serialize_with = "time::ser")]
    #[schema(value_type = String)]
    received_at: UnixMillis,
    /// The service centre's time stamp.
    sc_timestamp: Option<String>,
}

/// A page of inbound messages.
#[derive(Serialize, ToSchema)]
pub(crate) struct InboundListBody {
    messages: Vec<InboundBody>,
    next_before: Option<i64>,
}

/// Received SMS, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/inbound",
    params(InboundQuery),
    responses((status = 200, body = InboundListBody)),
    security(("api_key" = []))
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    Client(_): Client,
    StrictQuery(q): StrictQuery<InboundQuery>,
) -> Result<Json<InboundListBody>, ApiError> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let rows = state
        .engine
        .store()
        .inbound_list(q.before, q.from, limit)
        .await?;
    let next_before = (rows.len() == limit as usize)
        .then(|| rows.last().map(|m| m.id))
        .flatten();
    Ok(Json(InboundListBody {
        messages: rows
            .into_iter()
            .map(|m| InboundBody {
                id: m.id,
                carrier: m.carrier,
                from: m.from,
                to: m.to,
                text: m.body,
                parts: m.parts,
                complete: m.complete,
                received_at: m.received_at,
                sc_timestamp: m.sc_timestamp,
            })
            .collect(),
        next_before,
    }))
}
