//! What an admin sets outside the config file reaches the running service: users added with
//! `outpost user add`, and — at the next start — the settings page's signature, quiet hours and
//! daily limit and the carriers switched off on the carriers page; plus HTTPS from
//! `[service.tls]`.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use domain::UnixMillis;
use serde_json::{Value, json};

use crate::support;

/// Runs `outpost` with `args`, `stdin` as its standard input; (exit code, stdout, stderr).
fn outpost(args: &[&str], config: &Path, stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_outpost"))
        .args(args)
        .arg("--config")
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn open_store(dir: &Path) -> store::Store {
    store::Store::open(
        &dir.join("data").join("outpost.db"),
        store::StoreOptions::default(),
    )
    .unwrap()
}

#[test]
fn users_are_added_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("outpost.toml");
    std::fs::write(
        &config,
        format!("[service]\ndata_dir = {:?}\n", dir.path().join("data")),
    )
    .unwrap();
    let add = |name: &str, role: &str, password: &str| {
        outpost(&["user", "add", name, "--role", role], &config, password)
    };
    assert_eq!(
        add("alice", "operator", "correct horse battery\n"),
        (0, "user alice added (operator)\n".into(), String::new())
    );
    // The same name again, a weak password, an unknown role: one-line errors, exit 2.
    let (code, _, err) = add("alice", "admin", "another good one\n");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with("error: ") && err.lines().count() == 1,
        "{err}"
    );
    let (code, _, err) = add("bob", "admin", "short\n");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("password"), "{err}");
    let (code, _, err) = add("carol", "root", "correct horse battery\n");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("root"), "{err}");
    let (code, out, _) = outpost(&["user", "list"], &config, "");
    assert_eq!(code, 0);
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().skip(1).collect())
        .collect();
    assert_eq!(rows, [["operator", "active", "alice"]]);
    // The stored hash is the password's (the page's login checks it the same way), and the
    // addition is in the audit log.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = open_store(dir.path());
        let c = store.credentials("alice".into()).await.unwrap().unwrap();
        assert!(web::pages::password::verify_password(
            "correct horse battery",
            &c.password_hash
        ));
        assert!(!web::pages::password::verify_password(
            "correct horse battery\n",
            &c.password_hash
        ));
        let audit = store.audit_log(None, 10).await.unwrap();
        assert_eq!(
            audit
                .iter()
                .map(|e| (e.user.as_str(), e.action.as_str(), e.target.as_deref()))
                .collect::<Vec<_>>(),
            [("cli", "user.create", Some("alice"))]
        );
    });
}

/// `HH:MM` in UTC, `minutes` from now.
fn utc_hhmm(minutes: i64) -> String {
    let m = (UnixMillis::now().0 / 60_000 + minutes).rem_euclid(24 * 60);
    format!("{:02}:{:02}", m / 60, m % 60)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_settings_and_switched_off_carriers_hold_after_a_restart() {
    let sim = support::modems(5).await;
    let dir = tempfile::tempdir().unwrap();
    let config = support::config(dir.path(), &sim, "[service.tls]\n");
    let key = support::create_key(&config);
    {
        // What the settings and carriers pages stored before this start.
        let store = open_store(dir.path());
        let now = UnixMillis::now();
        store
            .put_settings(
                vec![
                    ("signature".into(), "【分行】".into()),
                    ("quiet_start".into(), utc_hhmm(-60)),
                    ("quiet_end".into(), utc_hhmm(60)),
                    ("utc_offset".into(), "+00:00".into()),
                ],
                now,
            )
            .await
            .unwrap();
        store
            .set_carrier_override("modem0".into(), false, now)
            .await
            .unwrap();
        store.flush().await.unwrap();
    }
    let mut svc = support::start(&config, &key);
    // HTTPS with the certificate generated on first start into the data directory.
    let cert = std::fs::read(dir.path().join("data/tls/cert.pem")).unwrap();
    svc.http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&cert).unwrap())
        .build()
        .unwrap();
    svc.base = svc.base.replace("http://", "https://");
    let plain = reqwest::get(format!(
        "{}/healthz",
        svc.base.replace("https://", "http://")
    ))
    .await;
    assert!(plain.is_err(), "plain HTTP must not be served: {plain:?}");

    // Urgent messages go out (not on the switched-off modem0); bulk ones wait for quiet hours
    // to end.
    let send = |priority: u8, n: usize| {
        let messages: Vec<Value> = (0..n)
            .map(|i| json!({"to": format!("+86138001380{i:02}"), "text": "hello", "priority": priority}))
            .collect();
        svc.post(
            "/api/v1/messages/batch",
            json!({ "messages": messages }),
            None,
        )
    };
    let (status, urgent) = send(9, 12).await.unwrap();
    assert_eq!(status, 202, "{urgent}");
    let (status, bulk) = send(1, 3).await.unwrap();
    assert_eq!(status, 202, "{bulk}");
    let ids = |v: &Value| -> Vec<i64> {
        v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_i64().unwrap())
            .collect()
    };
    svc.wait_delivered(12, Duration::from_secs(60)).await;
    for id in ids(&urgent) {
        let m = svc.get(&format!("/api/v1/messages/{id}")).await;
        assert_eq!(m["state"], "delivered", "{m}");
        assert_eq!(m["text"], "【分行】hello", "{m}");
        for a in m["attempts"].as_array().unwrap() {
            assert_ne!(a["carrier"], "modem0", "{m}");
        }
    }
    for id in ids(&bulk) {
        let m = svc.get(&format!("/api/v1/messages/{id}")).await;
        assert_eq!(m["state"], "queued", "{m}");
        assert_eq!(m["attempts"].as_array().map(Vec::len), Some(0), "{m}");
    }
}
