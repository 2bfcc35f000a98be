//! API-key authentication: `Authorization: Bearer <key>` (or `X-API-Key: <key>`).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use store::ApiKey;

use crate::AppState;
use crate::error::ApiError;

/// The authenticated caller of an API request.
pub(crate) struct Client(pub(crate) ApiKey);

impl FromRequestParts<AppState> for Client {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let secret = header("authorization")
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .or_else(|| header("x-api-key"))
            .map(str::trim)
            .ok_or(ApiError::Unauthorized)?;
        match state.engine.authenticate(secret).await? {
            Some(key) => Ok(Client(key)),
            None => Err(ApiError::Unauthorized),
        }
    }
}
