//! `GET /api/v1/carriers`: every channel's state, as the dashboard shows it.

use axum::Json;
use axum::extract::State;
use carriers::CarrierStatus;
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Client;

/// Every carrier's status.
#[derive(Serialize, ToSchema)]
pub(crate) struct CarriersBody {
    /// In configuration order.
    #[schema(value_type = Vec<Object>)]
    carriers: Vec<CarrierStatus>,
}

/// SMPP links, bank slots and modems with their state, window and SIM details.
#[utoipa::path(
    get,
    path = "/api/v1/carriers",
    responses((status = 200, body = CarriersBody)),
    security(("api_key" = []))
)]
pub(crate) async fn list(State(state): State<AppState>, Client(_): Client) -> Json<CarriersBody> {
    Json(CarriersBody {
        carriers: state.engine.carrier_statuses(),
    })
}
