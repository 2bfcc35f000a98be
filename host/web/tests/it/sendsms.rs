//! Kannel-compatible `/cgi-bin/sendsms` in-process: every parameter lands where it should in the
//! stored message, every refusal gets Kannel's status and text, and nothing refused is stored.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use domain::UnixMillis;
use http_body_util::BodyExt;
use store::{MessageFilter, MessageSummary};
use tower::ServiceExt;

use crate::support::{Api, api, api_with};

/// Sends `req` and returns status, body text and the `content-type`.
async fn send(api: &Api, req: Request<Body>) -> (StatusCode, String, String) {
    let resp = api.app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let ctype = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(bytes.to_vec()).unwrap(), ctype)
}

/// `GET /cgi-bin/sendsms?username=ops&password=<key>&<query>` (`$KEY` in `query` is the secret).
async fn get(api: &Api, query: &str) -> (StatusCode, String) {
    let q = query.replace("$KEY", &api.key);
    let uri = format!("/cgi-bin/sendsms?{q}");
    let (status, body, ctype) = send(api, Request::get(uri).body(Body::empty()).unwrap()).await;
    assert_eq!(ctype, "text/html", "Kannel answers text/html");
    (status, body)
}

/// The newest messages (newest first).
async fn stored(api: &Api) -> Vec<MessageSummary> {
    api.engine
        .store()
        .search(MessageFilter {
            limit: 1000,
            ..MessageFilter::default()
        })
        .await
        .unwrap()
}

/// One line per stored message with the fields sendsms sets.
fn describe(m: &MessageSummary) -> String {
    // Minutes after acceptance, rounded.
    let rel = |t: Option<UnixMillis>| {
        t.map_or("-".to_owned(), |t| {
            format!("+{}m", (t.0 - m.created_at.0 + 30_000) / 60_000)
        })
    };
    format!(
        "{} {:?} {:?} p{} from={:?} report={} mask={:?} url={:?} nb={} exp={}",
        m.to,
        m.body,
        m.encoding,
        m.priority.get(),
        m.sender,
        m.report,
        m.dlr_mask,
        m.dlr_url,
        rel(m.not_before),
        rel(m.expires_at),
    )
}

/// Sends `query` (after `username=ops&password=<key>&`), expects 202 `0: Accepted for delivery`,
/// and compares what was stored (oldest first) with `expect`.
async fn check_ok(api: &Api, query: &str, expect: &[&str]) {
    let before = stored(api).await.len();
    let (status, body) = get(api, &format!("username=ops&password=$KEY&{query}")).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::ACCEPTED, "0: Accepted for delivery"),
        "{query}"
    );
    let all = stored(api).await;
    let mut new: Vec<String> = all[..all.len() - before].iter().map(describe).collect();
    new.reverse();
    assert_eq!(new, expect, "{query}");
}

/// Sends `query` as is, expects `status` and `text`, and that nothing was stored.
async fn check_refused(api: &Api, query: &str, status: u16, text: &str) {
    let before = stored(api).await.len();
    let got = get(api, query).await;
    assert_eq!((got.0.as_u16(), got.1.as_str()), (status, text), "{query}");
    assert_eq!(stored(api).await.len(), before, "{query}: nothing stored");
}

const TO: &str = "to=13800138000";
const DEFAULTS: &str = "p5 from=None report=false mask=None url=None nb=- exp=+2880m";

#[tokio::test]
async fn every_parameter_lands_in_the_stored_message() {
    let api = api().await;
    let plain = |body: &str, enc: &str| format!("+8613800138000 {body:?} {enc} {DEFAULTS}");
    check_ok(
        &api,
        &format!("{TO}&text=hello+world"),
        &[&plain("【某某银行】hello world", "Ucs2")],
    )
    .await;
    // `user`/`pass` are Kannel's other spellings.
    let q = format!("user=ops&pass={}&{TO}&text=x", api.key);
    let (status, _) = get(&api, &q).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    // Text is URL-encoded bytes in `charset`; UTF-8 without one.
    let cases: &[(&str, &str)] = &[
        ("text=%E4%B8%AD%E6%96%87", "中文"),
        ("charset=ISO-8859-1&text=caf%E9", "café"),
        ("charset=GBK&text=%D6%D0%CE%C4", "中文"),
        ("charset=utf-8&text=%E2%82%AC5", "€5"),
        // UCS-2: UTF-16BE octets without a charset, or text in its charset.
        ("coding=2&text=%4E%2D%00%41", "中A"),
        ("coding=2&charset=UTF-8&text=%E4%B8%AD", "中"),
        ("coding=2&charset=UCS-2&text=%00%41", "A"),
        // 8-bit data is carried as ISO-8859-1 text; charset does not apply (Kannel).
        ("coding=1&charset=UTF-8&text=%E9", "é"),
    ];
    for (q, text) in cases {
        check_ok(
            &api,
            &format!("{TO}&{q}"),
            &[&plain(&format!("【某某银行】{text}"), "Ucs2")],
        )
        .await;
    }
    let with = |fields: &str| format!("+8613800138000 \"【某某银行】x\" Ucs2 {fields}");
    let cases: &[(&str, &str)] = &[
        (
            "from=10690001",
            "p5 from=Some(\"10690001\") report=false mask=None url=None nb=- exp=+2880m",
        ),
        (
            "from=MyBank&priority=3",
            "p9 from=Some(\"MyBank\") report=false mask=None url=None nb=- exp=+2880m",
        ),
        (
            "priority=1",
            "p6 from=None report=false mask=None url=None nb=- exp=+2880m",
        ),
        (
            "priority=0&validity=60",
            "p5 from=None report=false mask=None url=None nb=- exp=+60m",
        ),
        (
            "deferred=10&validity=5",
            "p5 from=None report=false mask=None url=None nb=+10m exp=+15m",
        ),
        (
            "dlr-mask=3&dlr-url=http%3A%2F%2Fapp%2Fdlr%3Fs%3D%25d%26t%3D%25T",
            "p5 from=None report=true mask=Some(3) url=Some(\"http://app/dlr?s=%d&t=%T\") nb=- exp=+2880m",
        ),
        // Deprecated spellings still work; a mask without 1 or 2 asks the SMSC for no receipt.
        (
            "dlrmask=8&dlrurl=https%3A%2F%2Fapp%2Fd",
            "p5 from=None report=false mask=Some(8) url=Some(\"https://app/d\") nb=- exp=+2880m",
        ),
        // Empty values are absent, and -1 is Kannel's "undefined".
        (
            "from=&dlr-url=&dlr-mask=-1&validity=-1&deferred=-1&priority=-1&coding=-1",
            DEFAULTS,
        ),
        // Accepted as Kannel does, but not used.
        (
            "mclass=1&mwi=0&compress=0&pid=0&rpi=1&alt-dcs=0&account=a&binfo=b&meta-data=m",
            DEFAULTS,
        ),
    ];
    for (q, fields) in cases {
        check_ok(&api, &format!("{TO}&text=x&{q}"), &[&with(fields)]).await;
    }
}

#[tokio::test]
async fn several_receivers_separated_by_spaces() {
    let api = api().await;
    let m = |n: &str| format!("+86{n} \"【某某银行】hi\" Ucs2 {DEFAULTS}");
    check_ok(
        &api,
        "to=13800138000+13900139000%2013700137000&text=hi",
        &[&m("13800138000"), &m("13900139000"), &m("13700137000")],
    )
    .await;
    // Duplicates are sent once; a receiver Kannel would deny (characters outside
    // `0123456789 +-`) or that is no number is skipped, the rest is sent.
    check_ok(
        &api,
        "to=13800138000+13800138000+abc+12345+%2B8613900139000&text=hi",
        &[&m("13800138000"), &m("13900139000")],
    )
    .await;
}

#[tokio::test]
async fn every_refusal_answers_as_kannel_does() {
    let api = api().await;
    let auth = "username=ops&password=$KEY";
    let other = api.other_key.clone();
    let cases: Vec<(String, u16, &str)> = vec![
        // Authentication comes first.
        (
            format!("{TO}&text=x"),
            403,
            "Authorization failed for sendsms",
        ),
        (
            format!("username=ops&{TO}&text=x"),
            403,
            "Authorization failed for sendsms",
        ),
        (
            format!("username=ops&password=&{TO}&text=x"),
            403,
            "Authorization failed for sendsms",
        ),
        (
            format!("username=ops&password=opk_wrong&{TO}&text=x"),
            403,
            "Authorization failed for sendsms",
        ),
        // The other department's secret under this department's name.
        (
            format!("username=ops&password={other}&{TO}&text=x"),
            403,
            "Authorization failed for sendsms",
        ),
        (
            format!("username=hr&password=$KEY&{TO}&text=x"),
            403,
            "Authorization failed for sendsms",
        ),
        (
            format!("{auth}&text=x"),
            400,
            "Missing receiver number, rejected",
        ),
        (
            format!("{auth}&to=&text=x"),
            400,
            "Empty receiver number not allowed, rejected",
        ),
        (
            format!("{auth}&to=+&text=x"),
            400,
            "Number(s) has/have been denied by white- and/or black-lists.",
        ),
        (
            format!("{auth}&to=abc&text=x"),
            400,
            "Number(s) has/have been denied by white- and/or black-lists.",
        ),
        (
            format!("{auth}&to=12345&text=x"),
            400,
            "Number(s) has/have been denied by white- and/or black-lists.",
        ),
        // UDHL says 5, four octets follow.
        (
            format!("{auth}&{TO}&text=x&udh=%05%00%03%01%02"),
            400,
            "UDH field misformed, rejected",
        ),
        // A concatenation element with a bad length.
        (
            format!("{auth}&{TO}&text=x&udh=%04%00%02%01%02"),
            400,
            "UDH field misformed, rejected",
        ),
        (
            format!("{auth}&{TO}&text=x&udh=%8D{}", "%01".repeat(141)),
            400,
            "UDH field is too long, rejected",
        ),
        (
            format!("{auth}&{TO}&text=x&udh=%06%05%04%0B%84%23%F0"),
            400,
            "UDH other than concatenation is not supported, rejected",
        ),
        (
            format!("{auth}&{TO}&text=x&dlr-url=ftp%3A%2F%2Fx%2Fy"),
            400,
            "DLR-URL field misformed, rejected",
        ),
        (
            format!("{auth}&{TO}&text=x&dlr-url=http%3A%2F"),
            400,
            "DLR-URL field misformed, rejected",
        ),
        (
            format!("{auth}&{TO}&text=x&dlr-mask=64"),
            400,
            "DLR-Mask field misformed, rejected",
        ),
        (
            format!("{auth}&{TO}&text=x&mclass=4"),
            400,
            "MClass field misformed, rejected",
        ),
        (
            format!("{auth}&{TO}&text=x&pid=256"),
            400,
            "PID field misformed, rejected",
        ),
        (
            format!("{auth}&{TO}&text=x&rpi=3"),
            400,
            "RPI field misformed, rejected",
        ),
        (
            format!("{auth}&{TO}&text=x&alt-dcs=2"),
            400,
            "Alt-DCS field misformed, rejected",
        ),
        (
            format!("{auth}&{TO}&text=x&mwi=8"),
            400,
            "MWI field misformed, rejected",
        ),
        (
            format!("{auth}&{TO}&text=x&coding=3"),
            400,
            "Coding field misformed, rejected",
        ),
        (
            format!("{auth}&{TO}&text=x&compress=2"),
            400,
            "Compress field misformed, rejected",
        ),
        (
            format!("{auth}&{TO}&text=x&validity=-5"),
            400,
            "Validity field misformed, rejected",
        ),
        // Outpost keeps a message at least a minute and at most the configured maximum.
        (
            format!("{auth}&{TO}&text=x&validity=0"),
            400,
            "Validity field misformed, rejected",
        ),
        (
            format!("{auth}&{TO}&text=x&validity=99999999"),
            400,
            "Validity field misformed, rejected",
        ),
        (
            format!("{auth}&{TO}&text=x&deferred=-2"),
            400,
            "Deferred field misformed, rejected",
        ),
        (
            format!("{auth}&{TO}&text=x&deferred=99999999"),
            400,
            "Deferred field misformed, rejected",
        ),
        (
            format!("{auth}&{TO}&text=x&priority=4"),
            400,
            "Priority field misformed, rejected",
        ),
        (
            format!("{auth}&{TO}&text=x&smsc=no-such-link"),
            403,
            "Not routable. Do not try again.",
        ),
        (
            format!("{auth}&{TO}&text=x&smsc=smpp-a&udh=%05%00%03%07%02%01"),
            400,
            "smsc cannot be combined with a concatenation UDH, rejected",
        ),
        (
            format!("{auth}&{TO}&text=x&charset=no-such-charset"),
            400,
            "Charset or body misformed, rejected",
        ),
        (
            format!("{auth}&{TO}&text=%FF%FE"),
            400,
            "Charset or body misformed, rejected",
        ),
        (
            format!("{auth}&{TO}&coding=2&text=%00%41%00"),
            400,
            "Charset or body misformed, rejected",
        ),
        (
            format!("{auth}&{TO}&coding=2&text=%D8%3D"),
            400,
            "Charset or body misformed, rejected",
        ),
        // Outpost's own checks, in the same shape.
        (
            format!("{auth}&{TO}"),
            400,
            "Text field misformed, rejected (text must not be empty)",
        ),
        (
            format!("{auth}&{TO}&text={}", "%E4%B8%AD".repeat(700)),
            400,
            "Text field misformed, rejected (the text needs 11 parts, at most 10 allowed \
             (at most 10 parts; the signature counts too))",
        ),
        (
            format!("{auth}&{TO}&text=x&from=ThisIsTooLongASender"),
            400,
            "From field misformed, rejected (an alphanumeric sender has at most 11 characters)",
        ),
    ];
    for (q, status, text) in &cases {
        check_refused(&api, q, *status, text).await;
    }
}

#[tokio::test]
async fn smsc_sends_through_the_named_carrier() {
    let api = api().await;
    check_ok(
        &api,
        &format!("{TO}&text=via&smsc=smpp-a&dlr-mask=1&dlr-url=http%3A%2F%2Fa%2Fb"),
        &[
            "+8613800138000 \"【某某银行】via\" Ucs2 p5 from=None report=true mask=Some(1) \
           url=Some(\"http://a/b\") nb=- exp=+2880m",
        ],
    )
    .await;
    let id = stored(&api).await[0].id;
    let mut events = api.engine.subscribe();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let m = api.engine.store().message(id).await.unwrap().unwrap();
        if m.message.state == domain::MessageState::Delivered {
            assert_eq!(m.attempts.len(), 1);
            assert_eq!(m.attempts[0].carrier, "smpp-a");
            break;
        }
        tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("delivered within 10 s")
            .unwrap();
    }
}

#[tokio::test]
async fn udh_parts_become_one_message() {
    let api = api().await;
    // Two 7-bit parts (UTF-8 text), 8-bit reference 0x2A; the second arrives first.
    let part = |seq: u8, text: &str| {
        format!(
            "{TO}&from=10690001&udh=%05%00%03%2A%02%0{seq}&coding=0&text={text}&dlr-mask=3&dlr-url=http%3A%2F%2Fa%2Fb"
        )
    };
    check_ok(&api, &part(2, "world"), &[]).await;
    check_ok(
        &api,
        &part(1, "hello+"),
        &["+8613800138000 \"【某某银行】hello world\" Ucs2 p5 from=Some(\"10690001\") report=true \
           mask=Some(3) url=Some(\"http://a/b\") nb=- exp=+2880m"],
    )
    .await;
    // UCS-2 parts with a 16-bit reference, a surrogate pair split across them.
    let ucs2 = |seq: u8, octets: &str| {
        format!("{TO}&udh=%06%08%04%01%02%02%0{seq}&coding=2&text={octets}")
    };
    check_ok(&api, &ucs2(1, "%00%41%D8%3D"), &[]).await;
    check_ok(
        &api,
        &ucs2(2, "%DE%00"),
        &[&format!(
            "+8613800138000 \"【某某银行】A\u{1F600}\" Ucs2 {DEFAULTS}"
        )],
    )
    .await;
    // No coding with a UDH is 8-bit (Kannel's compatibility mode): ISO-8859-1 text.
    let latin = |seq: u8, t: &str| format!("{TO}&udh=%05%00%03%07%02%0{seq}&text={t}");
    check_ok(&api, &latin(1, "caf"), &[]).await;
    check_ok(
        &api,
        &latin(2, "%E9"),
        &[&format!(
            "+8613800138000 \"【某某银行】café\" Ucs2 {DEFAULTS}"
        )],
    )
    .await;
    // A concatenation of one part is a plain message.
    check_ok(
        &api,
        &format!("{TO}&udh=%05%00%03%09%01%01&coding=0&text=one"),
        &[&format!(
            "+8613800138000 \"【某某银行】one\" Ucs2 {DEFAULTS}"
        )],
    )
    .await;
}

/// A POST request with `content_type` and extra headers.
fn post(
    uri: &str,
    content_type: Option<&str>,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Request<Body> {
    let mut r = Request::post(uri);
    if let Some(t) = content_type {
        r = r.header("content-type", t);
    }
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.body(Body::from(body.to_vec())).unwrap()
}

#[tokio::test]
async fn post_as_form_and_as_kannel_raw_body() {
    let api = api().await;
    let key = api.key.clone();
    let expect = |text: &str| format!("+8613800138000 \"【某某银行】{text}\" Ucs2 {DEFAULTS}");
    let check = |req: Request<Body>, status: u16, reply: &'static str, text: Option<String>| {
        let api = &api;
        async move {
            let before = stored(api).await.len();
            let (s, body, ctype) = send(api, req).await;
            assert_eq!((s.as_u16(), body.as_str()), (status, reply));
            assert_eq!(ctype, "text/html");
            let all = stored(api).await;
            let new: Vec<String> = all[..all.len() - before].iter().map(describe).collect();
            assert_eq!(new, text.into_iter().collect::<Vec<_>>());
        }
    };
    let form = format!("username=ops&password={key}&{TO}&text=%E4%B8%AD+form");
    check(
        post(
            "/cgi-bin/sendsms",
            Some("application/x-www-form-urlencoded"),
            &[],
            form.as_bytes(),
        ),
        202,
        "0: Accepted for delivery",
        Some(expect("中 form")),
    )
    .await;
    // Body values win over the query's; the query fills in the rest.
    check(
        post(
            &format!("/cgi-bin/sendsms?username=ops&password={key}&text=query"),
            Some("application/x-www-form-urlencoded; charset=UTF-8"),
            &[],
            format!("{TO}&text=body").as_bytes(),
        ),
        202,
        "0: Accepted for delivery",
        Some(expect("body")),
    )
    .await;
    // A POST without a body is a GET (Kannel).
    check(
        post(
            &format!("/cgi-bin/sendsms?username=ops&password={key}&{TO}&text=nobody"),
            None,
            &[],
            b"",
        ),
        202,
        "0: Accepted for delivery",
        Some(expect("nobody")),
    )
    .await;
    let kannel = |extra: &[(&'static str, &'static str)]| {
        let mut h: Vec<(&str, String)> = vec![
            ("x-kannel-username", " ops ".to_owned()),
            ("x-kannel-password", key.clone()),
            ("x-kannel-to", "13800138000".to_owned()),
        ];
        h.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        h
    };
    let raw = |ctype: &str, h: Vec<(&str, String)>, body: &[u8]| {
        let hs: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
        post("/cgi-bin/sendsms", Some(ctype), &hs, body)
    };
    check(
        raw("text/plain; charset=ISO-8859-1", kannel(&[]), b"caf\xe9"),
        202,
        "0: Accepted for delivery",
        Some(expect("café")),
    )
    .await;
    check(
        raw(
            "text/plain",
            kannel(&[
                ("x-kannel-from", "10690001"),
                ("x-kannel-dlr-mask", "3"),
                ("x-kannel-dlr-url", "http://app/dlr?s=%d"),
                ("x-kannel-validity", "60"),
                ("x-kannel-priority", "2"),
            ]),
            "短信".as_bytes(),
        ),
        202,
        "0: Accepted for delivery",
        Some(
            "+8613800138000 \"【某某银行】短信\" Ucs2 p7 from=Some(\"10690001\") report=true \
             mask=Some(3) url=Some(\"http://app/dlr?s=%d\") nb=- exp=+60m"
                .to_owned(),
        ),
    )
    .await;
    // octet-stream defaults to 8-bit; X-Kannel-Coding: 2 makes it UTF-16BE.
    check(
        raw(
            "application/octet-stream",
            kannel(&[("x-kannel-coding", "2")]),
            &[0x4E, 0x2D],
        ),
        202,
        "0: Accepted for delivery",
        Some(expect("中")),
    )
    .await;
    // Parts by raw POST: X-Kannel-UDH is hex.
    check(
        raw(
            "text/plain",
            kannel(&[("x-kannel-udh", "0500033B0201")]),
            b"first ",
        ),
        202,
        "0: Accepted for delivery",
        None,
    )
    .await;
    check(
        raw(
            "text/plain",
            kannel(&[("x-kannel-udh", "0500033B0202")]),
            b"second",
        ),
        202,
        "0: Accepted for delivery",
        Some(
            "+8613800138000 \"【某某银行】first second\" Ucs2 p5 from=None report=false \
              mask=None url=None nb=- exp=+2880m"
                .to_owned(),
        ),
    )
    .await;
    // Refusals: the raw POST words the missing receiver differently; HTML/WML/XML bodies are
    // refused after authentication (415), unknown types before it (400).
    let no_to: Vec<(&str, String)> = kannel(&[])
        .into_iter()
        .filter(|(k, _)| *k != "x-kannel-to")
        .collect();
    check(
        raw("text/plain", no_to, b"x"),
        400,
        "Missing receiver(s) number(s), rejected",
        None,
    )
    .await;
    check(
        raw("text/html", kannel(&[]), b"<p>x</p>"),
        415,
        "Unsupported content-type, rejected",
        None,
    )
    .await;
    check(
        raw(
            "text/xml",
            vec![("x-kannel-to", "13800138000".to_owned())],
            b"<x/>",
        ),
        403,
        "Authorization failed for sendsms",
        None,
    )
    .await;
    check(
        raw("application/json", kannel(&[]), b"{}"),
        400,
        "Invalid content-type",
        None,
    )
    .await;
    check(
        post("/cgi-bin/sendsms", None, &[], b"x"),
        400,
        "Invalid content-type",
        None,
    )
    .await;
}

#[tokio::test]
async fn curl_style_get_and_kannel_headers() {
    let api = api().await;
    // What branch scripts send: `curl "http://host:13013/cgi-bin/sendsms?username=…&text=Hello%20World"`.
    let uri = format!(
        "/cgi-bin/sendsms?username=ops&password={}&from=12345&to=%2B8613800138000&text=Hello%20World&dlr-mask=31&dlr-url=http%3A%2F%2F127.0.0.1%2Fdlr.php%3Ftype%3D%25d%26id%3D42",
        api.key
    );
    let resp = api
        .app
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let h = resp.headers();
    assert_eq!(h["content-type"], "text/html");
    assert_eq!(h["pragma"], "no-cache");
    assert_eq!(h["cache-control"], "no-cache");
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    // Exactly Kannel's text: no newline, no id.
    assert_eq!(&body[..], b"0: Accepted for delivery");
    let m = &stored(&api).await[0];
    assert_eq!(
        describe(m),
        "+8613800138000 \"【某某银行】Hello World\" Ucs2 p5 from=Some(\"12345\") report=true \
         mask=Some(31) url=Some(\"http://127.0.0.1/dlr.php?type=%d&id=42\") nb=- exp=+2880m"
    );
    assert_eq!(m.source, store::Source::Sendsms);
    // Other methods are not sendsms.
    let resp = api
        .app
        .clone()
        .oneshot(
            Request::put("/cgi-bin/sendsms")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn a_full_disk_answers_503_and_nothing_accepted_is_lost() {
    let api = api_with(store::StoreOptions {
        max_page_count: Some(60),
        ..Default::default()
    })
    .await;
    let mut accepted = 0;
    let mut refused = false;
    for i in 0..400 {
        let (status, body) = get(
            &api,
            &format!(
                "username=ops&password=$KEY&{TO}&text={i}+{}",
                "x".repeat(600)
            ),
        )
        .await;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(body, "Temporal failure, try again later.");
            refused = true;
            break;
        }
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        accepted += 1;
    }
    assert!(refused, "the database never filled up");
    // Every message that heard 202 is in the store.
    assert_eq!(stored(&api).await.len(), accepted);
}
