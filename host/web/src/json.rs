//! A strict JSON body extractor whose errors name the field (`messages[3].priority`), so a client
//! learns exactly what to fix; unknown fields are refused by the request types themselves.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use engine::FieldError;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// `Json<T>` with field-naming errors.
pub(crate) struct StrictJson<T>(pub(crate) T);

impl<S, T> FromRequest<S> for StrictJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/json") || ct.ends_with("+json"));
        if !json {
            return Err(ApiError::BadJson(FieldError {
                field: String::new(),
                code: "content_type",
                message: "send the body as `Content-Type: application/json`".into(),
            }));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| ApiError::TooLarge)?;
        parse(&bytes).map(StrictJson)
    }
}

/// Deserializes `bytes`, reporting the path of the first bad field.
pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let field = if path == "." || path == "?" {
            String::new()
        } else {
            path
        };
        // serde_json's messages say what was wrong and where; keep them, minus the position
        // suffix that means nothing to API clients.
        let text = inner.to_string();
        let message = match text.find(" at line ") {
            Some(i) => text[..i].to_owned(),
            None => text,
        };
        // serde names a missing field only in its message: "missing field `to`".
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
            .map(str::to_owned);
        let code = if inner.is_syntax() || inner.is_eof() {
            "syntax"
        } else if message.starts_with("unknown field") {
            "unknown_field"
        } else if missing.is_some() {
            "missing_field"
        } else {
            "type"
        };
        let field = match missing {
            Some(name) if field.is_empty() => name,
            Some(name) => format!("{field}.{name}"),
            None => field,
        };
        ApiError::BadJson(FieldError {
            field,
            code,
            message,
        })
    })
}

/// `Query<T>` with field-naming errors.
pub(crate) struct StrictQuery<T>(pub(crate) T);

impl<S, T> FromRequestParts<S> for StrictQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(StrictQuery)
            .map_err(|e| {
                let field = e.path().to_string();
                ApiError::BadJson(FieldError {
                    field: if field == "." { String::new() } else { field },
                    code: "invalid_query",
                    message: e.into_inner().to_string(),
                })
            })
    }
}
