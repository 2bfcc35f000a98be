//! `POST /api/v1/messages` (+ `/batch`), `GET /api/v1/messages/{id}`, message lists and the
//! per-number history used for complaint handling.
//!
//! A 202 answer means the message is on disk (the engine answers after the store's commit).
//! Clients see only messages sent with their own key.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use domain::{DlrStatus, Encoding, MessageId, MessageState, Msisdn, PartState, UnixMillis};
use engine::{FieldError, SendRequest};
use serde::{Deserialize, Serialize};
use store::{MessageDetail, MessageFilter, MessageSummary, Source};
use utoipa::ToSchema;

use super::MAX_BATCH;
use crate::AppState;
use crate::auth::Client;
use crate::error::ApiError;
use crate::json::{StrictJson, StrictQuery};
use crate::time;

/// One message to send.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SendBody {
    /// Destination: E.164 (`+8613800138000`) or national (`13800138000`, default country).
    to: String,
    /// Text; the configured signature is added. GSM 7-bit when every character fits, else UCS-2.
    text: String,
    /// Sender id: up to 20 digits, or up to 11 GSM 7-bit characters.
    #[serde(default)]
    sender: Option<String>,
    /// 0 (bulk) to 9 (urgent); default 5.
    #[serde(default)]
    priority: Option<u8>,
    /// Send at (RFC 3339 or Unix seconds); default now.
    #[serde(default, deserialize_with = "time::de_opt")]
    #[schema(value_type = Option<String>, example = "2026-11-22T09:30:00+08:00")]
    send_at: Option<UnixMillis>,
    /// Seconds the message stays worth sending (60 s to the configured maximum).
    #[serde(default)]
    validity: Option<u64>,
    /// Your own reference, echoed back.
    #[serde(default)]
    client_ref: Option<String>,
    /// Per-message idempotency key (batch); for a single send the `Idempotency-Key` header works too.
    #[serde(default)]
    idempotency_key: Option<String>,
    /// URL called with delivery reports.
    #[serde(default)]
    callback_url: Option<String>,
}

impl SendBody {
    fn into_request(self, header_key: Option<String>) -> SendRequest {
        SendRequest {
            to: self.to,
            text: self.text,
            sender: self.sender,
            priority: self.priority,
            send_at: self.send_at,
            validity: self.validity.map(Duration::from_secs),
            report: self.callback_url.is_some(),
            client_ref: self.client_ref,
            idempotency_key: self.idempotency_key.or(header_key),
            dlr_url: self.callback_url,
            dlr_mask: None,
        }
    }
}

/// The engine names fields as the engine knows them; rename to this API's names.
fn api_names(e: ApiError) -> ApiError {
    match e {
        ApiError::Invalid(fields) => ApiError::Invalid(
            fields
                .into_iter()
                .map(|mut f| {
                    f.field = f.field.replace("dlr_url", "callback_url");
                    f
                })
                .collect(),
        ),
        other => other,
    }
}

/// A batch of messages, stored all or none.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BatchBody {
    /// Up to 1,000 messages.
    messages: Vec<SendBody>,
}

/// What an accepted message looks like.
#[derive(Serialize, ToSchema)]
pub(crate) struct AcceptedBody {
    /// The message id.
    id: i64,
    /// Number of parts (billing counts delivered parts).
    parts: u16,
    /// Always `queued` for a new message.
    #[schema(value_type = String, example = "queued")]
    state: MessageState,
    /// True when the idempotency key matched an earlier message (nothing new stored).
    duplicate: bool,
}

/// Several accepted messages, in request order.
#[derive(Serialize, ToSchema)]
pub(crate) struct BatchAcceptedBody {
    messages: Vec<AcceptedBody>,
}

fn idempotency_header(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(v) => v.to_str().map(|s| Some(s.to_owned())).map_err(|_| {
            ApiError::Invalid(vec![FieldError {
                field: "Idempotency-Key".into(),
                code: "invalid_header",
                message: "the Idempotency-Key header must be printable ASCII".into(),
            }])
        }),
    }
}

/// Send one message.
#[utoipa::path(
    post,
    path = "/api/v1/messages",
    request_body = SendBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "the same key twice stores one message")),
    responses(
        (status = 202, description = "stored; will be sent", body = AcceptedBody),
        (status = 400, description = "invalid fields", body = crate::error::ErrorBody),
        (status = 401, description = "no or bad API key", body = crate::error::ErrorBody),
        (status = 503, description = "storage unavailable; nothing stored", body = crate::error::ErrorBody),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn send(
    State(state): State<AppState>,
    Client(key): Client,
    headers: HeaderMap,
    StrictJson(body): StrictJson<SendBody>,
) -> Result<(StatusCode, Json<AcceptedBody>), ApiError> {
    let req = body.into_request(idempotency_header(&headers)?);
    let accepted = state
        .engine
        .submit(Some(key.id), Source::Http, &[req])
        .await
        .map_err(|e| api_names(e.into()))?;
    let a = accepted
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::Unavailable("store returned no id".into()))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(AcceptedBody {
            id: a.id.0,
            parts: a.parts,
            state: MessageState::Queued,
            duplicate: a.duplicate,
        }),
    ))
}

/// Send up to 1,000 messages at once; all are stored or none.
#[utoipa::path(
    post,
    path = "/api/v1/messages/batch",
    request_body = BatchBody,
    responses(
        (status = 202, description = "all stored", body = BatchAcceptedBody),
        (status = 400, description = "invalid fields (named `messages[i].field`); nothing stored", body = crate::error::ErrorBody),
        (status = 503, description = "storage unavailable; nothing stored", body = crate::error::ErrorBody),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn send_batch(
    State(state): State<AppState>,
    Client(key): Client,
    StrictJson(body): StrictJson<BatchBody>,
) -> Result<(StatusCode, Json<BatchAcceptedBody>), ApiError> {
    if body.messages.is_empty() || body.messages.len() > MAX_BATCH {
        return Err(ApiError::Invalid(vec![FieldError {
            field: "messages".into(),
            code: "batch_size",
            message: format!(
                "a batch holds 1 to {MAX_BATCH} messages, not {}",
                body.messages.len()
            ),
        }]));
    }
    let reqs: Vec<SendRequest> = body
        .messages
        .into_iter()
        .map(|m| m.into_request(None))
        .collect();
    let accepted = state
        .engine
        .submit(Some(key.id), Source::Http, &reqs)
        .await
        .map_err(|e| api_names(e.into()))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(BatchAcceptedBody {
            messages: accepted
                .into_iter()
                .map(|a| AcceptedBody {
                    id: a.id.0,
                    parts: a.parts,
                    state: MessageState::Queued,
                    duplicate: a.duplicate,
                })
                .collect(),
        }),
    ))
}

/// One attempt on one carrier.
#[derive(Serialize, ToSchema)]
pub(crate) struct AttemptBody {
    no: u32,
    carrier: String,
    round: u32,
    #[serde(serialize_with = "time::ser")]
    #[schema(value_type = String)]
    started_at: UnixMillis,
    #[serde(serialize_with = "time::ser_opt")]
    #[schema(value_type = Option<String>)]
    ended_at: Option<UnixMillis>,
    /// `accepted`, `retry`, `reject`, `lost`, `resend`, or null while in flight.
    outcome: Option<String>,
    detail: Option<String>,
    /// The carrier may have sent it even though the attempt was retried.
    maybe_sent: bool,
}

/// The delivery report of one part.
#[derive(Serialize, ToSchema)]
pub(crate) struct ReportBody {
    /// `delivered`, `undeliverable`, `expired`, `rejected`, `deleted`, `enroute` or `unknown`.
    #[schema(value_type = String, example = "delivered")]
    status: DlrStatus,
    error: Option<String>,
    #[serde(serialize_with = "time::ser_opt")]
    #[schema(value_type = Option<String>)]
    at: Option<UnixMillis>,
}

/// One part (segment).
#[derive(Serialize, ToSchema)]
pub(crate) struct PartBody {
    seq: u16,
    /// `pending`, `submitted`, `delivered` or `failed`.
    #[schema(value_type = String, example = "delivered")]
    state: PartState,
    carrier: Option<String>,
    carrier_ref: Option<String>,
    #[serde(serialize_with = "time::ser_opt")]
    #[schema(value_type = Option<String>)]
    submitted_at: Option<UnixMillis>,
    report: Option<ReportBody>,
}

/// A message and its trace.
#[derive(Serialize, ToSchema)]
pub(crate) struct MessageBody {
    id: i64,
    /// `queued`, `dispatching`, `submitted`, `delivered`, `undeliverable`, `expired` or `failed`.
    #[schema(value_type = String, example = "delivered")]
    state: MessageState,
    to: String,
    text: String,
    sender: Option<String>,
    /// `gsm7` or `ucs2`.
    #[schema(value_type = String, example = "ucs2")]
    encoding: Encoding,
    parts: u16,
    priority: u8,
    client_ref: Option<String>,
    #[serde(serialize_with = "time::ser")]
    #[schema(value_type = String)]
    created_at: UnixMillis,
    #[serde(serialize_with = "time::ser_opt")]
    #[schema(value_type = Option<String>)]
    send_at: Option<UnixMillis>,
    #[serde(serialize_with = "time::ser_opt")]
    #[schema(value_type = Option<String>)]
    expires_at: Option<UnixMillis>,
    #[serde(serialize_with = "time::ser_opt")]
    #[schema(value_type = Option<String>)]
    final_at: Option<UnixMillis>,
    /// The carrier of the latest attempt.
    carrier: Option<String>,
    /// Why it failed, for failed, undeliverable and expired messages.
    error: Option<String>,
    /// Each attempt, in order (present on single-message answers).
    #[serde(skip_serializing_if = "Option::is_none")]
    attempts: Option<Vec<AttemptBody>>,
    /// Each part with its report (present on single-message answers).
    #[serde(skip_serializing_if = "Option::is_none")]
    part_reports: Option<Vec<PartBody>>,
}

fn summary_body(m: MessageSummary) -> MessageBody {
    MessageBody {
        id: m.id.0,
        state: m.state,
        to: m.to,
        text: m.body,
        sender: m.sender,
        encoding: m.encoding,
        parts: m.parts,
        priority: m.priority.get(),
        client_ref: m.client_ref,
        created_at: m.created_at,
        send_at: m.not_before,
        expires_at: m.expires_at,
        final_at: m.final_at,
        carrier: m.carrier,
        error: m.error,
        attempts: None,
        part_reports: None,
    }
}

fn detail_body(d: MessageDetail) -> MessageBody {
    let mut body = summary_body(d.message);
    body.attempts = Some(
        d.attempts
            .into_iter()
            .map(|a| AttemptBody {
                no: a.no,
                carrier: a.carrier,
                round: a.round,
                started_at: a.started_at,
                ended_at: a.ended_at,
                outcome: a.outcome,
                detail: a.detail,
                maybe_sent: a.maybe_sent,
            })
            .collect(),
    );
    body.part_reports = Some(
        d.parts
            .into_iter()
            .map(|p| PartBody {
                seq: p.seq,
                state: p.state,
                carrier: p.carrier,
                carrier_ref: p.carrier_ref,
                submitted_at: p.submitted_at,
                report: p.dlr_status.map(|status| ReportBody {
                    status,
                    error: p.dlr_error,
                    at: p.dlr_at,
                }),
            })
            .collect(),
    );
    body
}

/// A message's state and its whole trace.
#[utoipa::path(
    get,
    path = "/api/v1/messages/{id}",
    params(("id" = i64, Path, description = "message id")),
    responses(
        (status = 200, body = MessageBody),
        (status = 404, description = "no such message for this key", body = crate::error::ErrorBody),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn get(
    State(state): State<AppState>,
    Client(key): Client,
    Path(id): Path<String>,
) -> Result<Json<MessageBody>, ApiError> {
    let id: i64 = id.parse().map_err(|_| ApiError::NotFound("message"))?;
    match state.engine.store().message(MessageId(id)).await? {
        Some(d) if d.message.api_key == Some(key.id) => Ok(Json(detail_body(d))),
        _ => Err(ApiError::NotFound("message")),
    }
}

/// Filters for message lists.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    /// Destination (any format the send API accepts).
    to: Option<String>,
    /// State.
    state: Option<String>,
    /// Accepted at or after (RFC 3339).
    since: Option<String>,
    /// Accepted before (RFC 3339).
    until: Option<String>,
    /// Page: only messages with a smaller id (use the last id of the previous page).
    before: Option<i64>,
    /// Page size, 1–1000 (default 100).
    limit: Option<u32>,
}

/// A page of messages, newest first.
#[derive(Serialize, ToSchema)]
pub(crate) struct ListBody {
    messages: Vec<MessageBody>,
    /// Pass as `before` to get the next page; absent on the last page.
    next_before: Option<i64>,
}

fn bad(field: &str, code: &'static str, message: String) -> ApiError {
    ApiError::Invalid(vec![FieldError {
        field: field.into(),
        code,
        message,
    }])
}

async fn run_list(
    state: &AppState,
    key: &store::ApiKey,
    q: ListQuery,
    to: Option<String>,
) -> Result<Json<ListBody>, ApiError> {
    let to = match to {
        None => None,
        Some(raw) => Some(
            Msisdn::parse(&raw, &state.engine.config().accept.numbers)
                .map_err(|e| bad("to", "invalid_number", format!("{raw:?} {e}")))?
                .as_str()
                .to_owned(),
        ),
    };
    let st = match q.state.as_deref() {
        None => None,
        Some(s) => Some(
            s.parse::<MessageState>()
                .map_err(|e| bad("state", "invalid_state", e.to_string()))?,
        ),
    };
    let when = |field: &str, v: Option<String>| -> Result<Option<UnixMillis>, ApiError> {
        v.map(|s| {
            time::parse_rfc3339(&s).ok_or_else(|| {
                bad(
                    field,
                    "invalid_time",
                    format!("{s:?} is not an RFC 3339 time"),
                )
            })
        })
        .transpose()
    };
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let messages = state
        .engine
        .store()
        .search(MessageFilter {
            to,
            state: st,
            api_key: Some(key.id),
            since: when("since", q.since)?,
            until: when("until", q.until)?,
            before_id: q.before.map(MessageId),
            limit,
        })
        .await?;
    let next_before = (messages.len() == limit as usize)
        .then(|| messages.last().map(|m| m.id.0))
        .flatten();
    Ok(Json(ListBody {
        messages: messages.into_iter().map(summary_body).collect(),
        next_before,
    }))
}

/// Messages sent with this key, newest first, filtered.
#[utoipa::path(
    get,
    path = "/api/v1/messages",
    params(ListQuery),
    responses((status = 200, body = ListBody)),
    security(("api_key" = []))
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    Client(key): Client,
    StrictQuery(q): StrictQuery<ListQuery>,
) -> Result<Json<ListBody>, ApiError> {
    let to = q.to.clone();
    run_list(&state, &key, q, to).await
}

/// Every message to one number (complaint handling: "customer X says they got nothing").
#[utoipa::path(
    get,
    path = "/api/v1/numbers/{number}/messages",
    params(("number" = String, Path, description = "phone number, any accepted format"), ListQuery),
    responses((status = 200, body = ListBody)),
    security(("api_key" = []))
)]
pub(crate) async fn history(
    State(state): State<AppState>,
    Client(key): Client,
    Path(number): Path<String>,
    StrictQuery(q): StrictQuery<ListQuery>,
) -> Result<Json<ListBody>, ApiError> {
    run_list(&state, &key, q, Some(number)).await
}
