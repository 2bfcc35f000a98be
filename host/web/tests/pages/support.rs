//! A started engine with two always-delivering carriers, and a tiny in-process "browser" that
//! keeps cookies, reads CSRF tokens out of the parsed HTML and posts forms.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use carriers::{
    BoxFuture, Carrier, CarrierEvent, CarrierKind, CarrierState, CarrierStatus, Command,
    CommandError, Counters, OutboundMessage, Report, SlotInfo,
};
use domain::{CarrierId, DlrStatus, MessageId, MessageState, Outcome, UnixMillis};
use engine::{AcceptConfig, Engine, EngineConfig, Signature, SignaturePosition};
use http_body_util::BodyExt;
use scraper::{Html, Selector};
use store::{Role, Store, StoreOptions};
use tokio::sync::mpsc;
use tower::ServiceExt;
use web::AppState;

/// Accepts everything and reports it delivered.
pub(crate) struct Always {
    id: CarrierId,
    kind: CarrierKind,
    events: mpsc::Sender<CarrierEvent>,
}

impl Carrier for Always {
    fn id(&self) -> &CarrierId {
        &self.id
    }
    fn kind(&self) -> CarrierKind {
        self.kind
    }
    fn submit<'a>(&'a self, msg: &'a OutboundMessage) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let refs: Vec<String> = (1..=msg.parts)
                .map(|i| format!("{}-{}-{i}", self.id, msg.id))
                .collect();
            for r in &refs {
                let _ = self
                    .events
                    .send(CarrierEvent::Report(Report {
                        carrier: self.id.clone(),
                        carrier_ref: r.clone(),
                        status: DlrStatus::Delivered,
                        error: None,
                        raw: None,
                        at: UnixMillis::now(),
                        ack: carriers::AckHandle::none(),
                    }))
                    .await;
            }
            Outcome::Accepted { carrier_refs: refs }
        })
    }
    fn status(&self) -> CarrierStatus {
        let slot = (self.kind != CarrierKind::Smpp).then(|| SlotInfo {
            state: "ready".into(),
            sim_present: true,
            operator: Some("CHINA MOBILE".into()),
            plmn: Some("46000".into()),
            rssi: Some(21),
            registration: "home".into(),
            ..SlotInfo::default()
        });
        CarrierStatus {
            id: self.id.clone(),
            kind: self.kind,
            state: CarrierState::Up,
            detail: "ready".into(),
            in_flight: 0,
            window: if slot.is_some() { 1 } else { 10 },
            slot,
            counters: Counters::default(),
        }
    }
    fn drain(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
    fn command(&self, cmd: Command) -> BoxFuture<'_, Result<(), CommandError>> {
        let slot = self.kind != CarrierKind::Smpp;
        Box::pin(async move {
            match cmd {
                Command::PowerCycle if !slot => Err(CommandError::Unsupported),
                _ => Ok(()),
            }
        })
    }
}

pub(crate) const ADMIN_PASSWORD: &str = "admin-password-1";
pub(crate) const PASSWORD: &str = "user-password-1";

/// The app over a real store and engine with carriers `smpp-a` (SMPP) and `slot-1` (modem).
pub(crate) struct App {
    pub(crate) app: Router,
    pub(crate) engine: Engine,
    _dir: tempfile::TempDir,
}

pub(crate) async fn app() -> App {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("outpost.db"), StoreOptions::default()).unwrap();
    let (tx, rx) = mpsc::channel(1024);
    let carriers: Vec<Arc<dyn Carrier>> = vec![
        Arc::new(Always {
            id: CarrierId::new("smpp-a").unwrap(),
            kind: CarrierKind::Smpp,
            events: tx.clone(),
        }),
        Arc::new(Always {
            id: CarrierId::new("slot-1").unwrap(),
            kind: CarrierKind::BankSlot,
            events: tx,
        }),
    ];
    let config = EngineConfig {
        accept: AcceptConfig {
            signature: Some(Signature {
                text: "【某某银行】".into(),
                position: SignaturePosition::Prefix,
            }),
            ..AcceptConfig::default()
        },
        policy: Arc::new(route::Policy::default()),
        reassembly_timeout: Duration::from_secs(60),
    };
    let engine = Engine::start(store, carriers, rx, config).await.unwrap();
    let app = web::app(AppState {
        engine: engine.clone(),
        prometheus: None,
    });
    App {
        app,
        engine,
        _dir: dir,
    }
}

/// One response, with its body as text.
pub(crate) struct Page {
    pub(crate) status: StatusCode,
    pub(crate) location: Option<String>,
    pub(crate) set_cookies: Vec<String>,
    pub(crate) hx_redirect: Option<String>,
    pub(crate) body: String,
}

impl Page {
    /// The parsed HTML.
    pub(crate) fn html(&self) -> Html {
        Html::parse_document(&self.body)
    }

    /// Text of every element matching `css`, whitespace-collapsed.
    pub(crate) fn texts(&self, css: &str) -> Vec<String> {
        let sel = Selector::parse(css).unwrap();
        self.html()
            .select(&sel)
            .map(|e| e.text().collect::<Vec<_>>().join(" "))
            .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect()
    }

    /// The value of attribute `attr` of the first element matching `css`.
    pub(crate) fn attr(&self, css: &str, attr: &str) -> Option<String> {
        let sel = Selector::parse(css).unwrap();
        self.html()
            .select(&sel)
            .next()
            .and_then(|e| e.value().attr(attr).map(str::to_owned))
    }
}

/// A cookie-keeping client of the in-process app.
pub(crate) struct Browser {
    app: Router,
    pub(crate) cookies: BTreeMap<String, String>,
    pub(crate) lang: &'static str,
}

impl App {
    pub(crate) fn browser(&self) -> Browser {
        Browser {
            app: self.app.clone(),
            cookies: BTreeMap::new(),
            lang: "en",
        }
    }

    /// A browser logged in as a new admin (first-start setup).
    pub(crate) async fn admin(&self) -> Browser {
        let mut b = self.browser();
        let setup = b.get("/setup").await;
        assert_eq!(setup.status, StatusCode::OK, "{}", setup.body);
        let token = setup.attr("input[name=_csrf]", "value").unwrap();
        let r = b
            .post(
                "/setup",
                &[
                    ("_csrf", &token),
                    ("user", "admin"),
                    ("password", ADMIN_PASSWORD),
                    ("confirm", ADMIN_PASSWORD),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        b
    }

    /// A browser logged in as a new user with `role` (created directly in the store).
    pub(crate) async fn user(&self, name: &str, role: Role) -> Browser {
        web::pages::password::add_user(self.engine.store(), name, role, PASSWORD)
            .await
            .unwrap();
        let mut b = self.browser();
        b.login(name, PASSWORD).await;
        b
    }

    /// Waits until message `id` is in `state` (bounded; woken by engine events).
    pub(crate) async fn wait_state(&self, id: i64, state: MessageState) {
        let mut events = self.engine.subscribe();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let m = self
                .engine
                .store()
                .message(MessageId(id))
                .await
                .unwrap()
                .unwrap();
            if m.message.state == state {
                return;
            }
            let _ = tokio::time::timeout_at(deadline, events.recv())
                .await
                .unwrap_or_else(|_| panic!("message {id} stayed {:?}", m.message.state));
        }
    }
}

impl Browser {
    async fn send(&mut self, req: axum::http::request::Builder, body: Body) -> Page {
        let mut req = req
            .header("host", "outpost.local")
            .header("accept-language", self.lang);
        if !self.cookies.is_empty() {
            let c = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            req = req.header("cookie", c);
        }
        let resp = self
            .app
            .clone()
            .oneshot(req.body(body).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let hx_redirect = resp
            .headers()
            .get("hx-redirect")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let set_cookies: Vec<String> = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect();
        for c in &set_cookies {
            if let Some((kv, _)) = c.split_once(';')
                && let Some((k, v)) = kv.split_once('=')
            {
                if v.is_empty() {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_owned(), v.to_owned());
                }
            }
        }
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        Page {
            status,
            location,
            set_cookies,
            hx_redirect,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub(crate) async fn get(&mut self, path: &str) -> Page {
        self.send(Request::get(path), Body::empty()).await
    }

    pub(crate) async fn get_with(&mut self, path: &str, headers: &[(&str, &str)]) -> Page {
        let mut req = Request::get(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.send(req, Body::empty()).await
    }

    /// Posts an urlencoded form as-is (the caller includes `_csrf` or not).
    pub(crate) async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        self.post_with(path, fields, &[]).await
    }

    pub(crate) async fn post_with(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Page {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let mut req =
            Request::post(path).header("content-type", "application/x-www-form-urlencoded");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.send(req, Body::from(body)).await
    }

    /// The session's CSRF token, read from a page's logout form.
    pub(crate) async fn token(&mut self) -> String {
        let p = self.get("/dashboard").await;
        p.attr("form[action='/logout'] input[name=_csrf]", "value")
            .unwrap_or_else(|| panic!("no CSRF token on the dashboard: {}", p.status))
    }

    /// Posts a form with the session's token.
    pub(crate) async fn submit(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let token = self.token().await;
        let mut all = vec![("_csrf", token.as_str())];
        all.extend_from_slice(fields);
        self.post(path, &all).await
    }

    pub(crate) async fn login(&mut self, user: &str, password: &str) -> Page {
        let form = self.get("/login").await;
        let token = form
            .attr("input[name=_csrf]", "value")
            .unwrap_or_else(|| panic!("no login form: {} {}", form.status, form.body));
        self.post(
            "/login",
            &[("_csrf", &token), ("user", user), ("password", password)],
        )
        .await
    }
}

/// The id in a `/messages/{id}?…` location.
pub(crate) fn message_id(location: &str) -> i64 {
    location
        .trim_start_matches("/messages/")
        .split('?')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a message location: {location}"))
}
