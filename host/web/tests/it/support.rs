//! A started engine with one always-accepting carrier, and request helpers.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use carriers::{
    BoxFuture, Carrier, CarrierEvent, CarrierKind, CarrierState, CarrierStatus, Counters,
    OutboundMessage, Report,
};
use domain::{CarrierId, DlrStatus, Outcome, UnixMillis};
use engine::{AcceptConfig, Engine, EngineConfig, Signature, SignaturePosition};
use http_body_util::BodyExt;
use serde_json::Value;
use store::{Store, StoreOptions};
use tokio::sync::mpsc;
use tower::ServiceExt;
use web::AppState;

/// Accepts everything and reports it delivered.
pub(crate) struct Always {
    id: CarrierId,
    events: mpsc::Sender<CarrierEvent>,
}

impl Carrier for Always {
    fn id(&self) -> &CarrierId {
        &self.id
    }
    fn kind(&self) -> CarrierKind {
        CarrierKind::Smpp
    }
    fn submit<'a>(&'a self, msg: &'a OutboundMessage) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let refs: Vec<String> = (1..=msg.parts).map(|i| format!("{}-{i}", msg.id)).collect();
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
        CarrierStatus {
            id: self.id.clone(),
            kind: CarrierKind::Smpp,
            state: CarrierState::Up,
            detail: "bound".into(),
            in_flight: 0,
            window: 10,
            slot: None,
            counters: Counters::default(),
        }
    }
    fn drain(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

pub(crate) struct Api {
    pub(crate) app: Router,
    pub(crate) engine: Engine,
    pub(crate) key: String,
    pub(crate) other_key: String,
    _dir: tempfile::TempDir,
}

pub(crate) async fn api() -> Api {
    api_with(store::StoreOptions::default()).await
}

pub(crate) async fn api_with(options: StoreOptions) -> Api {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("outpost.db"), options).unwrap();
    let key = store
        .create_api_key("ops".into(), UnixMillis(1))
        .await
        .unwrap()
        .secret;
    let other_key = store
        .create_api_key("hr".into(), UnixMillis(1))
        .await
        .unwrap()
        .secret;
    let (tx, rx) = mpsc::channel(1024);
    let carrier: Arc<dyn Carrier> = Arc::new(Always {
        id: CarrierId::new("smpp-a").unwrap(),
        events: tx,
    });
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
    let engine = Engine::start(store, vec![carrier], rx, config)
        .await
        .unwrap();
    let app = web::app(AppState {
        engine: engine.clone(),
        prometheus: None,
    });
    Api {
        app,
        engine,
        key,
        other_key,
        _dir: dir,
    }
}

impl Api {
    /// Sends a request; returns status and parsed JSON (or the text as a JSON string).
    pub(crate) async fn call(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(k) = key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req.body(Body::from(body.unwrap_or("").to_owned())).unwrap();
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, json)
    }

    pub(crate) async fn post(&self, path: &str, body: &str) -> (StatusCode, Value) {
        let key = self.key.clone();
        self.call("POST", path, Some(&key), Some(body)).await
    }

    pub(crate) async fn get(&self, path: &str) -> (StatusCode, Value) {
        let key = self.key.clone();
        self.call("GET", path, Some(&key), None).await
    }
}
