//! The JSON API: the shape clients rely on, every bad field named, auth, limits, 503 on a full disk.

use std::time::Duration;

use axum::http::StatusCode;
use domain::MessageId;
use serde_json::{Value, json};

use crate::support::{api, api_with};

async fn wait_delivered(api: &crate::support::Api, id: i64) -> Value {
    let mut events = api.engine.subscribe();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = api.get(&format!("/api/v1/messages/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if body["state"] == "delivered" {
            return body;
        }
        let _ = tokio::time::timeout_at(deadline, events.recv())
            .await
            .unwrap_or_else(|_| panic!("message {id} not delivered: {body:#}"));
    }
}

#[tokio::test]
async fn send_then_follow_the_message_to_its_report() {
    let api = api().await;
    let (status, body) = api
        .post(
            "/api/v1/messages",
            r#"{"to": "+8613800138000", "text": "您的验证码是 1234"}"#,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["parts"], 1);
    assert_eq!(body["state"], "queued");
    assert_eq!(body["duplicate"], false);
    let id = body["id"].as_i64().unwrap();
    let m = wait_delivered(&api, id).await;
    assert_eq!(m["to"], "+8613800138000");
    assert_eq!(m["text"], "【某某银行】您的验证码是 1234");
    assert_eq!(m["encoding"], "ucs2");
    let attempts = m["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0]["carrier"], "smpp-a");
    assert_eq!(attempts[0]["outcome"], "accepted");
    assert!(attempts[0]["started_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(m["part_reports"][0]["report"]["status"], "delivered");
    // Another department's key cannot see it.
    let other = api.other_key.clone();
    let (status, body) = api
        .call("GET", &format!("/api/v1/messages/{id}"), Some(&other), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    // The history of the number, written the national way.
    let (status, body) = api.get("/api/v1/numbers/13800138000/messages").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["messages"][0]["id"], id);
    assert!(
        body["messages"][0].get("attempts").is_none(),
        "lists carry no trace"
    );
    let (_, body) = api.get("/api/v1/messages?state=delivered&limit=5").await;
    assert_eq!(body["messages"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn an_idempotency_key_makes_a_retry_harmless() {
    let api = api().await;
    let send = |key: &'static str| {
        let app = api.app.clone();
        let secret = api.key.clone();
        async move {
            let req = axum::http::Request::post("/api/v1/messages")
                .header("authorization", format!("Bearer {secret}"))
                .header("content-type", "application/json")
                .header("idempotency-key", key)
                .body(axum::body::Body::from(
                    r#"{"to":"13800138000","text":"pay day"}"#,
                ))
                .unwrap();
            let resp = tower::ServiceExt::oneshot(app, req).await.unwrap();
            let bytes = http_body_util::BodyExt::collect(resp.into_body())
                .await
                .unwrap()
                .to_bytes();
            serde_json::from_slice::<Value>(&bytes).unwrap()
        }
    };
    let a = send("payroll-2026-11").await;
    let b = send("payroll-2026-11").await;
    assert_eq!(a["id"], b["id"]);
    assert_eq!(
        (a["duplicate"].clone(), b["duplicate"].clone()),
        (json!(false), json!(true))
    );
    let (_, list) = api.get("/api/v1/messages").await;
    assert_eq!(list["messages"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_batch_is_stored_whole_or_not_at_all() {
    let api = api().await;
    let (status, body) = api
        .post(
            "/api/v1/messages/batch",
            r#"{"messages": [{"to": "13800138000", "text": "a"}, {"to": "13900139000", "text": "b", "priority": 9}]}"#,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["messages"].as_array().unwrap().len(), 2);
    let (status, body) = api
        .post(
            "/api/v1/messages/batch",
            r#"{"messages": [{"to": "13800138000", "text": "ok"}, {"to": "12", "text": ""}]}"#,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let fields: Vec<_> = body["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].clone())
        .collect();
    assert_eq!(fields, [json!("messages[1].to"), json!("messages[1].text")]);
    let (_, list) = api.get("/api/v1/messages").await;
    assert_eq!(
        list["messages"].as_array().unwrap().len(),
        2,
        "the bad batch stored nothing"
    );
    let many = format!(
        r#"{{"messages": [{}]}}"#,
        vec![r#"{"to":"13800138000","text":"x"}"#; 1001].join(",")
    );
    let (status, body) = api.post("/api/v1/messages/batch", &many).await;
    assert_eq!(
        (status, body["error"]["fields"][0]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!("batch_size"))
    );
    let (status, _) = api
        .post("/api/v1/messages/batch", r#"{"messages": []}"#)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// Each bad input gets a 400 naming the field and a stable code.
#[tokio::test]
async fn every_bad_field_gets_a_clean_400() {
    let api = api().await;
    let cases: &[(&str, &str, &str)] = &[
        (r#"{"to": "12345", "text": "x"}"#, "to", "invalid_number"),
        (r#"{"to": "13800138000", "text": "  "}"#, "text", "empty"),
        (
            r#"{"to": "13800138000", "text": "a\u0000b"}"#,
            "text",
            "invalid_character",
        ),
        (
            &format!(r#"{{"to": "13800138000", "text": "{}"}}"#, "中".repeat(800)),
            "text",
            "too_long",
        ),
        (
            r#"{"to": "13800138000", "text": "x", "sender": "ThisNameIsTooLong"}"#,
            "sender",
            "invalid_sender",
        ),
        (
            r#"{"to": "13800138000", "text": "x", "priority": 10}"#,
            "priority",
            "out_of_range",
        ),
        (
            r#"{"to": "13800138000", "text": "x", "priority": "high"}"#,
            "priority",
            "type",
        ),
        (
            r#"{"to": "13800138000", "text": "x", "priority": -1}"#,
            "priority",
            "type",
        ),
        (
            r#"{"to": "13800138000", "text": "x", "send_at": "tomorrow"}"#,
            "send_at",
            "type",
        ),
        (
            r#"{"to": "13800138000", "text": "x", "send_at": "2099-01-01T00:00:00Z"}"#,
            "send_at",
            "too_far_ahead",
        ),
        (
            r#"{"to": "13800138000", "text": "x", "validity": 5}"#,
            "validity",
            "out_of_range",
        ),
        (
            r#"{"to": "13800138000", "text": "x", "validity": 99999999}"#,
            "validity",
            "out_of_range",
        ),
        (
            &format!(
                r#"{{"to": "13800138000", "text": "x", "client_ref": "{}"}}"#,
                "r".repeat(65)
            ),
            "client_ref",
            "too_long",
        ),
        (
            r#"{"to": "13800138000", "text": "x", "callback_url": "ftp://x"}"#,
            "callback_url",
            "invalid_url",
        ),
        (
            r#"{"to": "13800138000", "text": "x", "colour": "red"}"#,
            "colour",
            "unknown_field",
        ),
        (r#"{"to": 13800138000, "text": "x"}"#, "to", "type"),
        (r#"{"text": "x"}"#, "to", "missing_field"),
        (r#"{"to": "13800138000", "text": "x""#, "", "syntax"),
        ("[1, 2]", "[0]", "type"),
    ];
    for (body, field, code) in cases {
        let (status, resp) = api.post("/api/v1/messages", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {resp}");
        let f = &resp["error"]["fields"][0];
        assert_eq!(
            (f["field"].as_str().unwrap(), f["code"].as_str().unwrap()),
            (*field, *code),
            "{body}: {resp}"
        );
        assert!(!f["message"].as_str().unwrap().is_empty());
    }
    // The unknown field is named in the message.
    let (_, resp) = api
        .post(
            "/api/v1/messages",
            r#"{"to": "13800138000", "text": "x", "colour": "red"}"#,
        )
        .await;
    assert!(
        resp["error"]["message"]
            .as_str()
            .unwrap()
            .contains("colour"),
        "{resp}"
    );
    let (_, list) = api.get("/api/v1/messages").await;
    assert!(
        list["messages"].as_array().unwrap().is_empty(),
        "nothing was stored"
    );
    // Query strings are checked the same way.
    let (status, resp) = api.get("/api/v1/messages?limit=lots").await;
    assert_eq!(
        (status, resp["error"]["fields"][0]["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("limit"))
    );
    let (status, _) = api.get("/api/v1/messages?state=sent").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn keys_content_types_and_sizes_are_enforced() {
    let api = api().await;
    let body = r#"{"to": "13800138000", "text": "x"}"#;
    let (status, resp) = api.call("POST", "/api/v1/messages", None, Some(body)).await;
    assert_eq!(
        (status, resp["error"]["code"].clone()),
        (StatusCode::UNAUTHORIZED, json!("unauthorized"))
    );
    let (status, _) = api
        .call(
            "POST",
            "/api/v1/messages",
            Some("opk_00000000_nope"),
            Some(body),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = api
        .call("GET", "/api/v1/carriers", Some("wrong"), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // No content type.
    let req = axum::http::Request::post("/api/v1/messages")
        .header("authorization", format!("Bearer {}", api.key))
        .body(axum::body::Body::from(body))
        .unwrap();
    let resp = tower::ServiceExt::oneshot(api.app.clone(), req)
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    // Too large.
    let huge = format!(
        r#"{{"to": "13800138000", "text": "{}"}}"#,
        "x".repeat(web::MAX_BODY)
    );
    let (status, resp) = api.post("/api/v1/messages", &huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{resp}");
    let (status, resp) = api.get("/api/v1/nothing-here").await;
    assert_eq!(
        (status, resp["error"]["code"].clone()),
        (StatusCode::NOT_FOUND, json!("not_found"))
    );
    let (status, _) = api.get("/api/v1/messages/abc").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_full_disk_answers_503_and_stores_nothing() {
    let api = api_with(store::StoreOptions {
        max_page_count: Some(60),
        ..Default::default()
    })
    .await;
    let mut saw_503 = false;
    for i in 0..400 {
        let body = format!(
            r#"{{"to": "13800138000", "text": "{i} {}"}}"#,
            "x".repeat(600)
        );
        let (status, resp) = api.post("/api/v1/messages", &body).await;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(resp["error"]["code"], "unavailable");
            assert!(
                !resp.to_string().contains("disk"),
                "no internal text leaks: {resp}"
            );
            saw_503 = true;
            break;
        }
        assert_eq!(status, StatusCode::ACCEPTED, "{resp}");
        // Every accepted message is readable: accepted means stored.
        let id = resp["id"].as_i64().unwrap();
        assert!(
            api.engine
                .store()
                .message(MessageId(id))
                .await
                .unwrap()
                .is_some()
        );
    }
    assert!(saw_503, "the database never filled up");
}

#[tokio::test]
async fn openapi_health_metrics_inbound_and_carriers() {
    let api = api().await;
    let (status, doc) = api.call("GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    for path in [
        "/api/v1/messages",
        "/api/v1/messages/batch",
        "/api/v1/messages/{id}",
        "/api/v1/inbound",
        "/api/v1/carriers",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["schemas"].get("SendBody").is_some());
    let (status, _) = api.call("GET", "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api.call("GET", "/readyz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, metrics) = api.call("GET", "/metrics", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let text = metrics.as_str().unwrap();
    assert!(text.contains("outpost_queue_depth"), "{text}");
    assert!(
        text.contains("outpost_carrier_up{carrier=\"smpp-a\"} 1"),
        "{text}"
    );
    let (status, inbound) = api.get("/api/v1/inbound?limit=10").await;
    assert_eq!(
        (status, inbound["messages"].clone()),
        (StatusCode::OK, json!([]))
    );
    let (status, c) = api.get("/api/v1/carriers").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(c["carriers"][0]["id"], "smpp-a");
    assert_eq!(c["carriers"][0]["state"], "up");
}
