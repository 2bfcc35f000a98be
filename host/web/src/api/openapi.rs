//! The OpenAPI 3.1 document of `/api/v1`, generated from the handlers' annotations (utoipa), so it
//! cannot drift from the code. Served as JSON; no UI is bundled (nothing is downloaded at build).

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{carriers, inbound, messages};

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "api_key",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Outpost SMS gateway API",
        description = "Send SMS through the branch appliance and follow each one to its delivery report."
    ),
    paths(
        messages::send,
        messages::send_batch,
        messages::get,
        messages::list,
        messages::history,
        inbound::list,
        carriers::list
    ),
    modifiers(&Security)
)]
pub(crate) struct ApiDoc;

/// `GET /api/v1/openapi.json`.
pub(crate) async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
