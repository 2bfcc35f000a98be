//! `ApiError`: the one error type of the JSON API. Its response never carries internal text: a
//! store or engine failure is logged here and the client gets a stable code and a sentence.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use engine::{FieldError, SubmitError};
use serde::Serialize;
use store::StoreError;

/// An API failure, mapped to a status code and a JSON body
/// `{"error": {"code", "message", "fields"?}}`.
#[derive(Debug)]
pub enum ApiError {
    /// 400 with the offending fields.
    Invalid(Vec<FieldError>),
    /// 400 for a body that is not the JSON expected.
    BadJson(FieldError),
    /// 401: no key, or not a live key.
    Unauthorized,
    /// 404.
    NotFound(&'static str),
    /// 413: body over the size limit.
    TooLarge,
    /// 503: the store cannot take writes (disk full, database error) or the service is stopping.
    Unavailable(String),
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorDetail {
    /// Stable machine-readable code.
    code: &'static str,
    /// A sentence for people.
    message: String,
    /// Per-field problems, for `invalid_request`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    fields: Vec<FieldError>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message, fields) = match self {
            ApiError::Invalid(fields) => (
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the request has invalid fields".to_owned(),
                fields,
            ),
            ApiError::BadJson(field) => (
                StatusCode::BAD_REQUEST,
                "invalid_json",
                field.message.clone(),
                vec![field],
            ),
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "send a live API key as `Authorization: Bearer <key>`".to_owned(),
                Vec::new(),
            ),
            ApiError::NotFound(what) => (
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no such {what}"),
                Vec::new(),
            ),
            ApiError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "the request body is too large".to_owned(),
                Vec::new(),
            ),
            ApiError::Unavailable(why) => {
                tracing::error!(error = %why, "request refused: service unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the service cannot store messages right now; nothing was accepted, retry later"
                        .to_owned(),
                    Vec::new(),
                )
            }
        };
        let mut resp = (
            status,
            Json(ErrorBody {
                error: ErrorDetail {
                    code,
                    message,
                    fields,
                },
            }),
        )
            .into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("5"),
            );
        }
        resp
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        ApiError::Unavailable(e.to_string())
    }
}

impl From<SubmitError> for ApiError {
    fn from(e: SubmitError) -> ApiError {
        match e {
            SubmitError::Invalid(fields) => ApiError::Invalid(fields),
            SubmitError::Unavailable(e) => ApiError::Unavailable(e.to_string()),
            SubmitError::ShuttingDown => ApiError::Unavailable("shutting down".into()),
        }
    }
}
