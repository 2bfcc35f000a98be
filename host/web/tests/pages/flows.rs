//! Page flows on the parsed HTML: send and trace, channel test, resend, inbox reply, settings,
//! keys, groups, reports, the audit log, the counter's reference, both languages.

use axum::http::StatusCode;
use domain::{CarrierId, MessageState, UnixMillis};
use serde_json::Value;
use store::InboundFragment;

use crate::support::{app, message_id};

#[tokio::test]
async fn send_from_the_page_and_follow_the_trace() {
    let app = app().await;
    let mut b = app.admin().await;
    let form = b.get("/send").await;
    assert_eq!(form.status, StatusCode::OK);
    // The counter gets the codec's tables and the signature from the server.
    assert_eq!(
        form.attr("#text", "data-signature").as_deref(),
        Some("【某某银行】")
    );
    assert_eq!(
        form.attr("#text", "data-gsm-extension").as_deref(),
        Some("\u{c}^{}\\[~]|€")
    );
    assert_eq!(form.attr("#text", "data-max-parts").as_deref(), Some("10"));
    // Bad fields come back named, with the form kept.
    let p = b
        .submit("/send", &[("to", "12345"), ("text", "hello")])
        .await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(
        p.texts(".notice.bad li")[0].starts_with("to \"12345\" is not a valid number"),
        "{:?}",
        p.texts(".notice.bad li")
    );
    assert_eq!(p.texts("#text"), ["hello"]);
    let p = b
        .submit(
            "/send",
            &[
                ("to", "13800138000"),
                ("text", "line 1\r\nline 2"),
                ("priority", "8"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let loc = p.location.unwrap();
    assert!(loc.ends_with("?done=sent"), "{loc}");
    let id = message_id(&loc);
    app.wait_state(id, MessageState::Delivered).await;
    let t = b.get(&loc).await;
    assert_eq!(t.texts(".notice.ok"), ["Accepted for sending."]);
    assert_eq!(t.texts("#message-state"), ["delivered"]);
    assert_eq!(
        t.texts(".bubble"),
        ["【某某银行】line 1\nline 2"
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")]
    );
    let row = &t.texts("table.attempts tbody tr")[0];
    assert!(row.starts_with("1 smpp-a 1 "), "{row}");
    assert!(row.contains("accepted"), "{row}");
    let part = &t.texts("table.parts tbody tr")[0];
    assert!(part.contains("delivered smpp-a"), "{part}");
    // A final trace is not polled any more; the live fragment alone renders too.
    assert_eq!(t.attr("#trace", "hx-get"), None);
    let live = b.get(&format!("/messages/{id}/live")).await;
    assert_eq!(live.texts("#message-state"), ["delivered"]);
    // The stored text has LF line breaks, as the counter counted them.
    let m = app
        .engine
        .store()
        .message(domain::MessageId(id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.message.body, "【某某银行】line 1\nline 2");
    assert_eq!(m.message.priority.get(), 8);
    // Per-number history, written the national way.
    let h = b.get("/messages?to=13800138000").await;
    assert_eq!(h.texts("h1"), ["History of +8613800138000"]);
    assert_eq!(h.texts("table.messages tbody tr").len(), 1);
    let none = b.get("/messages?state=failed").await;
    assert_eq!(none.texts("section.card p"), ["No messages match."]);
    let bad = b.get("/messages?to=abc&from=2026-13-01").await;
    assert_eq!(bad.texts(".notice.bad"), ["Dates are written YYYY-MM-DD."]);
    // A pasted list and a group: one message per distinct number.
    let g = b
        .submit(
            "/groups",
            &[
                ("name", "branch"),
                ("numbers", "13900139000\n13700137000, 13800138000"),
            ],
        )
        .await;
    assert_eq!(g.location.as_deref(), Some("/send?done=group_created"));
    let gid = app.engine.store().groups().await.unwrap()[0].id.to_string();
    let p = b
        .submit(
            "/send",
            &[
                ("to", "13800138000；18600186000"),
                ("group", &gid),
                ("text", "bulletin"),
            ],
        )
        .await;
    assert_eq!(p.location.as_deref(), Some("/messages?done=sent"));
    let list = b.get("/messages").await;
    assert_eq!(list.texts("table.messages tbody tr").len(), 5);
}

#[tokio::test]
async fn channel_test_and_resend_go_through_the_chosen_carrier_only() {
    let app = app().await;
    let mut b = app.admin().await;
    let page = b.get("/carriers").await;
    assert_eq!(
        page.texts("section.carrier h2"),
        ["smpp-a SMPP link", "slot-1 bank slot"]
    );
    assert_eq!(page.texts("#carrier-slot-1 dd")[4], "-71 dBm");
    // The slot has a power-cycle button, the SMPP link does not.
    assert!(
        page.attr("#carrier-slot-1 button[value=power_cycle]", "value")
            .is_some()
    );
    assert!(
        page.attr("#carrier-smpp-a button[value=power_cycle]", "value")
            .is_none()
    );
    let p = b
        .submit("/carriers/slot-1/test", &[("to", "13800138000")])
        .await;
    let loc = p.location.expect("to the trace");
    assert!(loc.ends_with("?done=test_started"), "{loc}");
    let id = message_id(&loc);
    app.wait_state(id, MessageState::Delivered).await;
    let t = b.get(&loc).await;
    let rows = t.texts("table.attempts tbody tr");
    assert_eq!(rows.len(), 1);
    assert!(rows[0].starts_with("1 slot-1 "), "{rows:?}");
    assert!(t.texts(".facts dd").contains(&"channel test".to_owned()));
    // A bad number is shown on the carriers page.
    let p = b.submit("/carriers/slot-1/test", &[("to", "1")]).await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(p.texts(".notice.bad")[0].starts_with("to:"));
    assert_eq!(
        b.submit("/carriers/nope/test", &[("to", "13800138000")])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // Resend the first message through the other carrier: a copy, not signed twice.
    let trace = b.get(&format!("/messages/{id}")).await;
    assert_eq!(
        trace.texts("#resend-carrier option"),
        ["smpp-a", "slot-1 (used before)"]
    );
    let p = b
        .submit(&format!("/messages/{id}/resend"), &[("carrier", "smpp-a")])
        .await;
    let copy = message_id(&p.location.expect("to the copy"));
    assert_ne!(copy, id);
    app.wait_state(copy, MessageState::Delivered).await;
    let d = app
        .engine
        .store()
        .message(domain::MessageId(copy))
        .await
        .unwrap()
        .unwrap();
    let orig = app
        .engine
        .store()
        .message(domain::MessageId(id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.message.body, orig.message.body);
    assert_eq!(d.message.client_ref, Some(format!("resend-of-{id}")));
    assert_eq!(d.attempts[0].carrier, "smpp-a");
    // Carrier actions: a power-cycle on an SMPP link is refused by the carrier, and says so.
    let p = b
        .submit("/carriers/smpp-a/action", &[("action", "power_cycle")])
        .await;
    assert_eq!(p.location.as_deref(), Some("/carriers?done=unsupported"));
    let p = b
        .submit("/carriers/slot-1/action", &[("action", "power_cycle")])
        .await;
    assert_eq!(p.location.as_deref(), Some("/carriers?done=power_cycle"));
    let p = b
        .submit("/carriers/slot-1/action", &[("action", "disable")])
        .await;
    assert_eq!(p.location.as_deref(), Some("/carriers?done=disable"));
    let page = b.get("/carriers?done=disable").await;
    assert_eq!(page.texts(".notice.ok"), ["Carrier disabled."]);
    assert_eq!(page.texts("#carrier-slot-1 .pill"), ["disabled"]);
    assert_eq!(
        app.engine.store().carrier_overrides().await.unwrap(),
        [("slot-1".to_owned(), false)]
    );
    assert!(app.engine.is_disabled(&CarrierId::new("slot-1").unwrap()));
    let actions: Vec<String> = app
        .engine
        .store()
        .audit_log(None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| format!("{} {} {}", e.user, e.action, e.target.unwrap_or_default()))
        .collect();
    for want in [
        "admin carrier.test slot-1",
        &format!("admin message.resend message #{id}"),
        "admin carrier.power_cycle smpp-a",
        "admin carrier.power_cycle slot-1",
        "admin carrier.disable slot-1",
    ] {
        assert!(
            actions.iter().any(|a| a == want),
            "{want} not in {actions:#?}"
        );
    }
}

#[tokio::test]
async fn settings_apply_to_sends_and_every_change_is_audited() {
    let app = app().await;
    let mut b = app.admin().await;
    let p = b
        .submit(
            "/settings",
            &[
                ("signature", "x".repeat(41).as_str()),
                ("default_country", "XX"),
                ("utc_offset", "8"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        p.texts("small.bad-text"),
        [
            "At most 40 characters.",
            "Not a country code (e.g. CN).",
            "Write the offset like +08:00."
        ]
    );
    let p = b
        .submit(
            "/settings",
            &[
                ("signature", "【测试银行】"),
                ("signature_position", "suffix"),
                ("default_country", "us"),
                ("quiet_start", "22:00"),
                ("quiet_end", "07:00"),
                ("daily_limit", "300"),
                ("utc_offset", "+00:00"),
            ],
        )
        .await;
    assert_eq!(p.location.as_deref(), Some("/settings?done=saved"));
    let page = b.get("/settings?done=saved").await;
    assert_eq!(page.texts(".notice.ok"), ["Settings saved."]);
    assert_eq!(
        page.attr("#signature", "value").as_deref(),
        Some("【测试银行】")
    );
    // The signature (as a suffix) and the default country (US) apply to the next send.
    let p = b
        .submit("/send", &[("to", "2025550123"), ("text", "hi")])
        .await;
    let id = message_id(&p.location.unwrap());
    let m = app
        .engine
        .store()
        .message(domain::MessageId(id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (m.message.to.as_str(), m.message.body.as_str()),
        ("+12025550123", "hi【测试银行】")
    );
    // So do they to the other front doors (API, sendsms, SMPP), which validate with the engine's.
    let api = app
        .engine
        .submit(
            None,
            store::Source::Http,
            &[engine::SendRequest {
                to: "2025550124".into(),
                text: "api".into(),
                ..Default::default()
            }],
        )
        .await
        .unwrap();
    let m = app
        .engine
        .store()
        .message(api[0].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (m.message.to.as_str(), m.message.body.as_str()),
        ("+12025550124", "api【测试银行】")
    );
    // Scheduling settings are stored for the service's next start; until then the dashboard
    // shows the limit in force (the routing policy's).
    let stored = web::pages::settings::RuntimeSettings::load(app.engine.store())
        .await
        .unwrap();
    assert_eq!(stored.daily_limit, Some(300));
    assert_eq!(stored.quiet_start.as_deref(), Some("22:00"));
    let d = b.get("/dashboard").await;
    assert_eq!(d.texts("[data-carrier=slot-1] .usage b"), ["0 / 1000"]);
    // Users and keys.
    let p = b
        .submit(
            "/users",
            &[
                ("name", "vera"),
                ("role", "viewer"),
                ("password", "vera-password"),
            ],
        )
        .await;
    assert_eq!(p.location.as_deref(), Some("/users?done=user_created"));
    let p = b
        .submit(
            "/users",
            &[
                ("name", "VERA"),
                ("role", "viewer"),
                ("password", "vera-password"),
            ],
        )
        .await;
    assert_eq!(p.texts(".notice.bad"), ["A user with this name exists."]);
    let vera = app
        .engine
        .store()
        .credentials("vera".into())
        .await
        .unwrap()
        .unwrap()
        .user
        .id;
    let p = b
        .submit(
            &format!("/users/{vera}"),
            &[("action", "role"), ("role", "operator")],
        )
        .await;
    assert_eq!(p.location.as_deref(), Some("/users?done=user_updated"));
    // The last admin cannot demote themselves.
    let p = b
        .submit("/users/1", &[("action", "role"), ("role", "viewer")])
        .await;
    assert_eq!(
        p.texts(".notice.bad"),
        ["The last administrator cannot be demoted or disabled."]
    );
    let k = b.submit("/keys", &[("name", "信贷部")]).await;
    assert_eq!(k.status, StatusCode::OK);
    let secret = k.texts("#new-secret")[0].clone();
    assert!(secret.starts_with("opk_"));
    assert!(
        !b.get("/keys").await.body.contains(&secret),
        "the secret is shown once"
    );
    let key = app
        .engine
        .authenticate(&secret)
        .await
        .unwrap()
        .expect("a live key");
    let p = b.submit(&format!("/keys/{}/revoke", key.id.0), &[]).await;
    assert_eq!(p.location.as_deref(), Some("/keys?done=key_revoked"));
    assert!(
        app.engine.authenticate(&secret).await.unwrap().is_none(),
        "revoked at once"
    );
    // The audit log lists every change with who and what (and no secret).
    let audit = b.get("/audit").await;
    let rows = audit.texts("table.audit tbody tr");
    assert!(!audit.body.contains(&secret[13..]));
    let has = |action: &str, detail: &str| {
        rows.iter()
            .any(|r| r.contains(" admin ") && r.contains(action) && r.contains(detail))
    };
    assert!(
        has("settings.update", "signature: \"\" → \"【测试银行】\""),
        "{rows:#?}"
    );
    assert!(
        has("settings.update", "daily_limit: \"\" → \"300\""),
        "{rows:#?}"
    );
    assert!(has("message.send", "1 recipient(s)"), "{rows:#?}");
    assert!(has("user.create", "vera role viewer"), "{rows:#?}");
    assert!(has("user.role", "vera role operator"), "{rows:#?}");
    assert!(has("apikey.create", "信贷部"), "{rows:#?}");
    assert!(
        has("apikey.revoke", &format!("key #{}", key.id.0)),
        "{rows:#?}"
    );
    // Times are shown in the configured zone (UTC now): `YYYY-MM-DD HH:MM:SS`.
    let time = rows[0].get(..19).unwrap_or_default();
    assert!(
        time.len() == 19 && time.as_bytes()[4] == b'-' && time.as_bytes()[13] == b':',
        "{time:?}"
    );
}

#[tokio::test]
async fn inbox_shows_reassembled_text_and_replies() {
    let app = app().await;
    let mut b = app.admin().await;
    for (seq, text) in [(2u8, "world"), (1, "hello ")] {
        app.engine
            .store()
            .store_inbound(InboundFragment {
                carrier: CarrierId::new("slot-1").unwrap(),
                from: "+8613900139000".into(),
                to: None,
                body: text.into(),
                sc_timestamp: None,
                received_at: UnixMillis::now(),
                concat: Some((7, 2, seq)),
                fingerprint: format!("f{seq}"),
            })
            .await
            .unwrap();
    }
    let inbox = b.get("/inbox").await;
    assert_eq!(inbox.texts(".msg .bubble"), ["hello world"]);
    let id = app
        .engine
        .store()
        .inbound_list(None, None, 1)
        .await
        .unwrap()[0]
        .id;
    let p = b
        .submit(&format!("/inbox/{id}/reply"), &[("text", "thanks")])
        .await;
    let reply = message_id(&p.location.unwrap());
    let m = app
        .engine
        .store()
        .message(domain::MessageId(reply))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (m.message.to.as_str(), m.message.body.as_str()),
        ("+8613900139000", "【某某银行】thanks")
    );
    assert_eq!(m.message.client_ref, Some(format!("reply-to-{id}")));
}

#[tokio::test]
async fn reports_and_csv_count_delivered_messages() {
    let app = app().await;
    let mut b = app.admin().await;
    let p = b
        .submit(
            "/send",
            &[("to", "13800138000"), ("text", &"中".repeat(80))],
        )
        .await;
    let id = message_id(&p.location.unwrap());
    app.wait_state(id, MessageState::Delivered).await;
    let r = b.get("/reports").await;
    assert_eq!(
        r.texts(".cols.three section:nth-child(2) tbody tr"),
        ["web page / tests 1 2"]
    );
    let csv = b.get("/reports.csv").await;
    assert!(csv.body.starts_with(
        "\u{feff}month,api_key_id,department,carrier,delivered_messages,delivered_parts\r\n"
    ));
    assert!(csv.body.ends_with(",0,,smpp-a,1,2\r\n"), "{}", csv.body);
}

#[tokio::test]
async fn the_counter_reference_is_the_rust_planner() {
    let app = app().await;
    let mut b = app.admin().await;
    for (text, expect) in [
        (
            "",
            r#"{"encoding":"ucs2","parts":1,"units":6,"per_part":70,"left":64,"too_long":false}"#,
        ),
        (
            &"中".repeat(64),
            r#"{"encoding":"ucs2","parts":1,"units":70,"per_part":70,"left":0,"too_long":false}"#,
        ),
        (
            &"中".repeat(65),
            r#"{"encoding":"ucs2","parts":2,"units":71,"per_part":67,"left":63,"too_long":false}"#,
        ),
        (
            // With the 6-unit signature: 66 units, then an emoji that does not fit whole
            // starts part 2; 134 units make 3 parts, not 2.
            &format!("{}😀{}", "中".repeat(60), "中".repeat(66)),
            r#"{"encoding":"ucs2","parts":3,"units":134,"per_part":67,"left":66,"too_long":false}"#,
        ),
        (
            &"中".repeat(700),
            r#"{"encoding":"ucs2","parts":11,"units":706,"per_part":67,"left":31,"too_long":true}"#,
        ),
    ] {
        let q: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("text", text)
            .finish();
        let p = b.get(&format!("/send/count?{q}")).await;
        let got: Value = serde_json::from_str(&p.body).unwrap();
        let want: Value = serde_json::from_str(expect).unwrap();
        assert_eq!(got, want, "{text}");
    }
}

#[tokio::test]
async fn every_page_renders_in_both_languages() {
    let app = app().await;
    let mut b = app.admin().await;
    let p = b
        .submit("/send", &[("to", "13800138000"), ("text", "hi")])
        .await;
    let trace = p.location.unwrap();
    let pages = [
        "/dashboard",
        "/dashboard/live",
        "/send",
        "/messages",
        trace.as_str(),
        "/inbox",
        "/carriers",
        "/reports",
        "/users",
        "/keys",
        "/settings",
        "/audit",
    ];
    for lang in ["en", "zh-CN,zh;q=0.9"] {
        b.lang = if lang == "en" { "en" } else { "zh-CN,zh;q=0.9" };
        for path in pages {
            let p = b.get(path).await;
            assert_eq!(p.status, StatusCode::OK, "{path} {lang}");
            assert!(
                !p.body.contains(">?<") && !p.body.contains("\"?\""),
                "{path} {lang}: a key is missing"
            );
            if path != "/dashboard/live" {
                let nav = p.texts("nav a").join(" ");
                let want = if lang == "en" {
                    "Dashboard Send Messages"
                } else {
                    "总览 发送 消息记录"
                };
                assert!(nav.starts_with(want), "{path} {lang}: {nav}");
                assert_eq!(
                    p.attr("html", "lang").as_deref(),
                    Some(if lang == "en" { "en" } else { "zh" })
                );
            }
        }
    }
    // The switch sets a cookie that wins over the browser's language, and only goes back to
    // a path on this site.
    let p = b.get("/lang/en?back=%2Freports").await;
    assert_eq!(p.location.as_deref(), Some("/reports"));
    assert!(p.set_cookies[0].starts_with("outpost_lang=en;"));
    assert_eq!(b.get("/reports").await.texts("h1"), ["Reports"]);
    let p = b.get("/lang/zh?back=https%3A%2F%2Fevil.example").await;
    assert_eq!(p.location.as_deref(), Some("/dashboard"));
    // Pages carry a strict content security policy and are never cached.
    let p = b.get("/dashboard").await;
    let _ = p;
}
