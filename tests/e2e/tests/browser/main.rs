//! The admin page in a real headless Chromium against the real `outpost demo` binary: first-start
//! setup and login, the live segment counter checked against the Rust planner for a table of
//! texts, a message sent from the page and followed to "delivered" in its trace, a channel test
//! through a chosen modem, a setting changed (and audited), a viewer who cannot send, forged
//! forms refused, and screenshots of the main pages at 1366×768.
//!
//! Screenshots go to `target/e2e-screenshots/`; with `OUTPOST_UPDATE_SCREENSHOTS=1` they are
//! also copied to `docs/screenshots/` (what the README links).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use e2e::{Demo, Driver, build_outpost, check_peers, target_dir};
use fantoccini::{Client, Locator};
use serde_json::{Value, json};

const ADMIN_PASSWORD: &str = "correct-horse-42";
const VIEWER_PASSWORD: &str = "viewer-pass-42";

/// Texts the page's counter must count exactly as `firmware/gsm` does: both tables, the
/// 160/153 and 70/67 limits, extension characters and surrogate pairs on part boundaries,
/// characters that look GSM but are not (`ç`, `` ` ``), line breaks, too long.
fn counter_table() -> Vec<String> {
    let r = |s: &str, n: usize| s.repeat(n);
    vec![
        String::new(),
        "Hello".into(),
        r("a", 160),
        r("a", 161),
        r("{", 80),
        r("{", 81),
        format!("{}€", r("a", 152)),
        format!("{}€x", r("a", 151)),
        "Ça va? ça va".into(),
        "back`tick".into(),
        "line one\nline two\r\n\u{0C}end".into(),
        "£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ!\"#¤%&'()*+,-./:;<=>?¡ÄÖÑÜ§¿äöñüà@".into(),
        "^{}\\[~]|€".into(),
        r("中", 70),
        r("中", 71),
        r("😀", 35),
        r("😀", 36),
        format!("{}😀", r("a", 66)),
        format!("{}😀", r("中", 66)),
        "您的验证码是 1234，请勿告诉他人。".into(),
        r("a", 1600),
        r("中", 700),
    ]
}

async fn path(c: &Client) -> String {
    c.current_url()
        .await
        .map(|u| match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_owned(),
        })
        .unwrap_or_default()
}

/// Waits (bounded) until `css` exists and its text contains `want`.
async fn wait_text(c: &Client, css: &str, want: &str, secs: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut last = String::new();
    loop {
        if let Ok(e) = c.find(Locator::Css(css)).await
            && let Ok(t) = e.text().await
        {
            if t.contains(want) {
                return t;
            }
            last = t;
        }
        assert!(
            Instant::now() < deadline,
            "{css} did not show {want:?} within {secs} s (last: {last:?}, page {})",
            path(c).await
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Waits (bounded) until the page's path matches `pred`.
async fn wait_path(c: &Client, what: &str, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let p = path(c).await;
        if pred(&p) {
            return p;
        }
        assert!(Instant::now() < deadline, "never reached {what}; at {p}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Fills the form matching `form` and submits it with its first submit button.
async fn submit(c: &Client, form: &str, fields: &[(&str, &str)]) {
    let f = c
        .form(Locator::Css(form))
        .await
        .unwrap_or_else(|e| panic!("form {form}: {e}"));
    for (name, value) in fields {
        f.set_by_name(name, value)
            .await
            .unwrap_or_else(|e| panic!("field {name} of {form}: {e}"));
    }
    f.submit()
        .await
        .unwrap_or_else(|e| panic!("submitting {form}: {e}"));
}

/// Runs `fetch` in the page (with its cookies) and returns `{status, text}`.
async fn fetch(c: &Client, method: &str, url: &str, body: Option<&str>) -> (u64, String) {
    let script = r#"
        const [method, url, body, done] = arguments;
        const init = { method, credentials: 'same-origin', redirect: 'manual' };
        if (body !== null) {
            init.body = body;
            init.headers = { 'Content-Type': 'application/x-www-form-urlencoded' };
        }
        fetch(url, init)
            .then(async r => done({ status: r.status, text: await r.text() }))
            .catch(e => done({ status: 0, text: String(e) }));
    "#;
    let v = c
        .execute_async(
            script,
            vec![
                json!(method),
                json!(url),
                body.map_or(Value::Null, |b| json!(b)),
            ],
        )
        .await
        .expect("fetch in the page");
    (
        v["status"].as_u64().unwrap_or(0),
        v["text"].as_str().unwrap_or("").to_owned(),
    )
}

/// The page's counter (`window.outpostPlan`) against the server's Rust planner
/// (`/send/count`) for every text of the table.
async fn check_counter(c: &Client) -> usize {
    let mut checked = 0;
    for text in counter_table() {
        let js = c
            .execute(
                "return window.outpostPlan(arguments[0]);",
                vec![json!(text)],
            )
            .await
            .expect("window.outpostPlan");
        let (status, body) = fetch(
            c,
            "GET",
            &format!("/send/count?text={}", percent_encode(&text)),
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let rust: Value = serde_json::from_str(&body).expect("count JSON");
        for field in ["encoding", "parts", "units", "per_part", "left", "too_long"] {
            assert_eq!(
                js[field],
                rust[field],
                "{field} of {:?}…: browser {js} vs Rust {rust}",
                text.chars().take(20).collect::<String>()
            );
        }
        checked += 1;
    }
    checked
}

fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(b) {
            out.push(*b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

struct Shots {
    dir: PathBuf,
    taken: Vec<PathBuf>,
}

impl Shots {
    async fn take(&mut self, c: &Client, name: &str) {
        let png = c.screenshot().await.expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        let p = self.dir.join(format!("{name}.png"));
        std::fs::write(&p, png).expect("writing a screenshot");
        self.taken.push(p);
    }
}

async fn login(c: &Client, base: &str, user: &str, password: &str) {
    c.goto(&format!("{base}/login")).await.expect("login page");
    submit(
        c,
        "form[action='/login']",
        &[("user", user), ("password", password)],
    )
    .await;
    wait_path(c, "the dashboard after login", |p| {
        p.starts_with("/dashboard")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_page_in_a_real_browser() {
    if let Err(why) = check_peers() {
        println!("skipped: {why}");
        return;
    }
    let started = Instant::now();
    let outpost = build_outpost();
    let demo = Demo::start(&outpost, "0.3");
    let driver = Driver::start();
    let c = driver.session().await;
    let base = demo.url.clone();
    let mut shots = Shots {
        dir: target_dir().join("e2e-screenshots"),
        taken: Vec::new(),
    };
    std::fs::create_dir_all(&shots.dir).expect("screenshot directory");

    // First start: no user, no default password; every page leads to setup.
    c.goto(&format!("{base}/messages")).await.expect("open");
    wait_path(&c, "/setup", |p| p == "/setup").await;
    submit(
        &c,
        "form[action='/setup']",
        &[
            ("user", "admin"),
            ("password", ADMIN_PASSWORD),
            ("confirm", ADMIN_PASSWORD),
        ],
    )
    .await;
    wait_path(&c, "the dashboard", |p| p.starts_with("/dashboard")).await;
    wait_text(&c, "h1", "Dashboard", 10).await;
    // Setup is gone once a user exists.
    let (status, _) = fetch(&c, "GET", "/setup", None).await;
    assert!(status == 0 || status == 303 || status == 200, "{status}");
    c.goto(&format!("{base}/setup")).await.expect("setup again");
    wait_path(&c, "login instead of setup", |p| !p.starts_with("/setup")).await;

    // The live counter equals the Rust planner, without and (below) with a signature.
    c.goto(&format!("{base}/send")).await.expect("send page");
    wait_text(&c, "h1", "Send", 10).await;
    let n = check_counter(&c).await;
    assert_eq!(n, counter_table().len());

    // Send one message from the page and follow it to "delivered" in its trace.
    submit(
        &c,
        "#send-form",
        &[
            ("to", "13800138000"),
            ("text", "Your statement is ready. 您的对账单已生成。"),
        ],
    )
    .await;
    let p = wait_path(&c, "the message trace", |p| p.starts_with("/messages/")).await;
    let id: i64 = p
        .trim_start_matches("/messages/")
        .split('?')
        .next()
        .and_then(|s| s.parse().ok())
        .expect("message id in the URL");
    wait_text(&c, "#message-state", "delivered", 90).await;
    let attempts = c
        .find_all(Locator::Css("table.attempts tbody tr"))
        .await
        .expect("attempt rows");
    assert!(!attempts.is_empty(), "the trace lists the attempt");
    wait_text(&c, "table.parts", "delivered", 10).await;
    shots.take(&c, "trace").await;

    // A few more, to a pasted list, for the dashboard and reports.
    c.goto(&format!("{base}/send")).await.expect("send page");
    submit(
        &c,
        "#send-form",
        &[
            (
                "to",
                "13900139000, 13700137000\n18600186000；13300133000 15800158000",
            ),
            (
                "text",
                "Branch bulletin: the office opens at 9:00 tomorrow.",
            ),
        ],
    )
    .await;
    wait_path(&c, "the message list", |p| p.starts_with("/messages")).await;
    wait_text(&c, ".notice", "Accepted", 10).await;

    // An API key for a department: its secret is shown once; the department then sends
    // through the HTTP API and appears in the reports.
    c.goto(&format!("{base}/keys")).await.expect("keys");
    submit(&c, "form[action='/keys']", &[("name", "信贷部")]).await;
    let secret = wait_text(&c, "#new-secret", "opk_", 10).await;
    c.goto(&format!("{base}/keys")).await.expect("keys again");
    wait_text(&c, "table", "信贷部", 10).await;
    assert!(
        c.find(Locator::Css("#new-secret")).await.is_err(),
        "the secret is shown only once"
    );
    for (i, to) in ["13800138010", "13800138011", "13800138012"]
        .iter()
        .enumerate()
    {
        let v = c
            .execute_async(
                r#"const [key, to, text, done] = arguments;
                   fetch('/api/v1/messages', { method: 'POST',
                       headers: { 'Authorization': 'Bearer ' + key, 'Content-Type': 'application/json' },
                       body: JSON.stringify({ to, text }) })
                     .then(r => done(r.status)).catch(e => done(String(e)));"#,
                vec![
                    json!(secret.trim()),
                    json!(to),
                    json!(format!("贷款还款提醒 #{i}：本期应还 1,234.56 元，请按时还款。")),
                ],
            )
            .await
            .expect("API send");
        assert_eq!(v, json!(202), "API send {i}");
    }

    // Channel test through one chosen modem slot.
    c.goto(&format!("{base}/carriers")).await.expect("carriers");
    let slot = c
        .find(Locator::Css(
            "section.carrier:has(button[value='power_cycle'])",
        ))
        .await
        .expect("a modem slot on the carriers page");
    let slot_id = slot
        .attr("id")
        .await
        .ok()
        .flatten()
        .and_then(|s| s.strip_prefix("carrier-").map(str::to_owned))
        .expect("carrier id");
    shots.take(&c, "carriers").await;
    submit(
        &c,
        &format!("#carrier-{slot_id} form.test-form"),
        &[("to", "13800138001")],
    )
    .await;
    wait_path(&c, "the channel test's trace", |p| {
        p.starts_with("/messages/")
    })
    .await;
    wait_text(&c, ".notice", "Channel test started", 10).await;
    let row = wait_text(&c, "table.attempts tbody tr", &slot_id, 30).await;
    assert!(row.contains(&slot_id), "{row}");
    wait_text(&c, "#message-state", "delivered", 90).await;

    // A forged form without the CSRF token, or with a wrong one, is refused and changes nothing.
    let (status, body) = fetch(&c, "POST", "/settings", Some("signature=FORGED")).await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = fetch(
        &c,
        "POST",
        "/settings",
        Some("_csrf=0000000000000000000000000000000000000000000000000000000000000000&signature=FORGED"),
    )
    .await;
    assert_eq!(status, 403);

    // Change a setting: the signature shows in the send preview, the audit log has it.
    c.goto(&format!("{base}/settings")).await.expect("settings");
    submit(
        &c,
        "form[action='/settings']",
        &[("signature", "【测试银行】")],
    )
    .await;
    wait_text(&c, ".notice", "Settings saved", 10).await;
    c.goto(&format!("{base}/send")).await.expect("send page");
    wait_text(&c, "#preview", "【测试银行】", 10).await;
    assert_eq!(check_counter(&c).await, counter_table().len());
    c.goto(&format!("{base}/audit")).await.expect("audit");
    let log = wait_text(&c, "table.audit", "settings.update", 10).await;
    assert!(
        !log.contains("FORGED") && log.contains("【测试银行】"),
        "{log}"
    );
    assert!(
        log.contains("carrier.test") && log.contains("message.send"),
        "{log}"
    );

    // A viewer cannot send: no link, a 403 page, and a 403 for a POST with a valid token.
    c.goto(&format!("{base}/users")).await.expect("users");
    submit(
        &c,
        "form[action='/users']",
        &[("name", "viewer1"), ("password", VIEWER_PASSWORD)],
    )
    .await;
    wait_text(&c, ".notice", "User created", 10).await;
    // The form's default role is the first (viewer).
    wait_text(&c, "table", "viewer1", 5).await;
    c.find(Locator::Css("form[action='/logout'] button"))
        .await
        .expect("logout")
        .click()
        .await
        .expect("log out");
    wait_path(&c, "login", |p| p.starts_with("/login")).await;
    login(&c, &base, "viewer1", VIEWER_PASSWORD).await;
    assert!(
        c.find(Locator::Css("nav a[href='/send']")).await.is_err(),
        "a viewer sees no Send link"
    );
    c.goto(&format!("{base}/send"))
        .await
        .expect("send as viewer");
    wait_text(&c, "body", "Your role does not allow this", 10).await;
    c.goto(&format!("{base}/dashboard"))
        .await
        .expect("dashboard");
    let token = c
        .find(Locator::Css("form[action='/logout'] input[name='_csrf']"))
        .await
        .expect("csrf field")
        .attr("value")
        .await
        .ok()
        .flatten()
        .expect("token");
    let (status, _) = fetch(
        &c,
        "POST",
        "/send",
        Some(&format!("_csrf={token}&to=13800138000&text=hi")),
    )
    .await;
    assert_eq!(status, 403, "a viewer's send is refused by the server");
    c.find(Locator::Css("form[action='/logout'] button"))
        .await
        .expect("logout")
        .click()
        .await
        .expect("log out");
    wait_path(&c, "login", |p| p.starts_with("/login")).await;

    // Screenshots of the main pages as the admin.
    login(&c, &base, "admin", ADMIN_PASSWORD).await;
    c.goto(&format!("{base}/dashboard?range=1h"))
        .await
        .expect("dashboard");
    wait_text(&c, "#live", "Modem slots", 10).await;
    shots.take(&c, "dashboard").await;
    c.goto(&format!("{base}/send")).await.expect("send");
    let text = c.find(Locator::Css("#text")).await.expect("text area");
    text.send_keys(
        "尊敬的客户：您尾号 8888 的账户于 11 月 22 日到账 5,000.00 元。如有疑问请致电客服。",
    )
    .await
    .expect("typing");
    c.find(Locator::Css("#to"))
        .await
        .expect("recipients")
        .send_keys("13800138000, 13900139000")
        .await
        .expect("typing");
    wait_text(&c, "#counter", "UCS-2", 5).await;
    shots.take(&c, "send").await;
    c.goto(&format!("{base}/messages/{id}"))
        .await
        .expect("trace");
    wait_text(&c, "#message-state", "delivered", 10).await;
    shots.take(&c, "trace").await;
    // Reports count delivered messages only: wait until the department's are in.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        c.goto(&format!("{base}/reports")).await.expect("reports");
        wait_text(&c, "h1", "Reports", 10).await;
        let page = c.source().await.unwrap_or_default();
        if page.contains("信贷部") && page.contains("modem") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the department's deliveries never reached the report"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (status, csv) = fetch(&c, "GET", "/reports.csv", None).await;
    assert_eq!(status, 200);
    assert!(
        csv.contains("month,api_key_id,department,carrier") && csv.contains("信贷部"),
        "{csv}"
    );
    shots.take(&c, "reports").await;
    c.goto(&format!("{base}/lang/zh?back=%2Fdashboard%3Frange%3D1h"))
        .await
        .expect("Chinese");
    wait_text(&c, "h1", "总览", 10).await;
    shots.take(&c, "dashboard-zh").await;
    // A tablet held upright: the navigation wraps, the KPI tiles and slots reflow.
    c.set_window_size(820, 1180).await.expect("tablet size");
    c.goto(&format!("{base}/send"))
        .await
        .expect("send on a tablet");
    wait_text(&c, "h1", "发送", 10).await;
    let width: Value = c
        .execute("return document.documentElement.scrollWidth;", vec![])
        .await
        .expect("page width");
    assert!(
        width.as_u64().unwrap_or(9999) <= 820,
        "no sideways scrolling on a tablet: {width}"
    );
    shots.take(&c, "send-tablet-zh").await;

    c.close().await.expect("closing the browser");
    if std::env::var("OUTPOST_UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1") {
        let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots");
        std::fs::create_dir_all(&docs).expect("docs/screenshots");
        for p in &shots.taken {
            if let Some(name) = p.file_name() {
                std::fs::copy(p, docs.join(name)).expect("copying a screenshot");
            }
        }
    }
    println!(
        "browser test passed in {:.1} s; screenshots in {}",
        started.elapsed().as_secs_f64(),
        shots.dir.display()
    );
    drop(driver);
    drop(demo);
}
