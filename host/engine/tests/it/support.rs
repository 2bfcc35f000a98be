//! Scripted carriers and a harness that starts an engine on a temporary database.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use carriers::{
    BoxFuture, Carrier, CarrierEvent, CarrierKind, CarrierState, CarrierStatus, Counters,
    OutboundMessage, Report,
};
use domain::{CarrierId, DlrStatus, MessageId, MessageState, Outcome, UnixMillis};
use engine::{AcceptConfig, Engine, EngineConfig, SendRequest};
use route::RawRouting;
use store::{Source, Store, StoreOptions};
use tokio::sync::mpsc;

/// What a scripted carrier does with a submit.
#[derive(Clone)]
pub(crate) enum Script {
    /// Accept with a fresh reference and report `status` right away (if any).
    Accept(Option<DlrStatus>),
    /// Answer with this outcome.
    Answer(Outcome),
    /// Never answer.
    Hang,
    /// Accept (reported delivered) after this long.
    Slow(Duration),
}

pub(crate) struct Fake {
    pub(crate) id: CarrierId,
    kind: CarrierKind,
    window: u32,
    pub(crate) state: Mutex<CarrierState>,
    default: Script,
    pub(crate) sent: Mutex<Vec<OutboundMessage>>,
    events: mpsc::Sender<CarrierEvent>,
    next_ref: Mutex<u64>,
}

impl Fake {
    pub(crate) fn new(
        id: &str,
        kind: CarrierKind,
        window: u32,
        default: Script,
        events: mpsc::Sender<CarrierEvent>,
    ) -> Arc<Fake> {
        Arc::new(Fake {
            id: CarrierId::new(id).unwrap(),
            kind,
            window,
            state: Mutex::new(CarrierState::Up),
            default,
            sent: Mutex::new(Vec::new()),
            events,
            next_ref: Mutex::new(0),
        })
    }

    pub(crate) fn sent_ids(&self) -> Vec<MessageId> {
        self.sent.lock().unwrap().iter().map(|m| m.id).collect()
    }

    /// Sends a delivery report for `carrier_ref`.
    pub(crate) async fn report(&self, carrier_ref: &str, status: DlrStatus) {
        self.events
            .send(CarrierEvent::Report(Report {
                carrier: self.id.clone(),
                carrier_ref: carrier_ref.into(),
                status,
                error: (status != DlrStatus::Delivered).then(|| "001".into()),
                raw: None,
                at: UnixMillis::now(),
                ack: carriers::AckHandle::none(),
            }))
            .await
            .unwrap();
    }
}

impl Carrier for Fake {
    fn id(&self) -> &CarrierId {
        &self.id
    }

    fn kind(&self) -> CarrierKind {
        self.kind
    }

    fn submit<'a>(&'a self, msg: &'a OutboundMessage) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            self.sent.lock().unwrap().push(msg.clone());
            match self.default.clone() {
                Script::Hang => std::future::pending().await,
                Script::Slow(d) => {
                    tokio::time::sleep(d).await;
                    let r = format!("{}-{}", self.id, msg.id);
                    self.report(&r, DlrStatus::Delivered).await;
                    Outcome::Accepted {
                        carrier_refs: vec![r],
                    }
                }
                Script::Answer(o) => o,
                Script::Accept(report) => {
                    let refs: Vec<String> = (0..msg.parts)
                        .map(|_| {
                            let mut n = self.next_ref.lock().unwrap();
                            *n += 1;
                            format!("{}-{}", self.id, *n)
                        })
                        .collect();
                    if let Some(status) = report {
                        for r in &refs {
                            self.report(r, status).await;
                        }
                    }
                    Outcome::Accepted { carrier_refs: refs }
                }
            }
        })
    }

    fn status(&self) -> CarrierStatus {
        CarrierStatus {
            id: self.id.clone(),
            kind: self.kind,
            state: *self.state.lock().unwrap(),
            detail: String::new(),
            in_flight: 0,
            window: self.window,
            slot: None,
            counters: Counters::default(),
        }
    }

    fn drain(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

pub(crate) fn policy(toml_text: &str) -> Arc<route::Policy> {
    #[derive(serde::Deserialize)]
    struct File {
        #[serde(default)]
        routing: RawRouting,
    }
    let file: File = toml::from_str(toml_text).expect("test config parses");
    Arc::new(file.routing.validate().expect("test config is valid"))
}

pub(crate) struct Harness {
    pub(crate) engine: Engine,
    pub(crate) dir: tempfile::TempDir,
}

pub(crate) async fn start(
    dir: tempfile::TempDir,
    carriers: Vec<Arc<Fake>>,
    events: mpsc::Receiver<CarrierEvent>,
    routing: &str,
) -> Harness {
    let store = Store::open(&dir.path().join("outpost.db"), StoreOptions::default()).unwrap();
    let config = EngineConfig {
        accept: AcceptConfig::default(),
        policy: policy(routing),
        reassembly_timeout: Duration::from_secs(60),
    };
    let carriers: Vec<Arc<dyn Carrier>> = carriers
        .into_iter()
        .map(|c| c as Arc<dyn Carrier>)
        .collect();
    let engine = Engine::start(store, carriers, events, config)
        .await
        .unwrap();
    Harness { engine, dir }
}

pub(crate) fn req(to: &str, text: &str) -> SendRequest {
    SendRequest {
        to: to.into(),
        text: text.into(),
        ..SendRequest::default()
    }
}

impl Harness {
    pub(crate) async fn send(&self, to: &str, text: &str) -> MessageId {
        self.engine
            .submit(None, Source::Http, &[req(to, text)])
            .await
            .unwrap()[0]
            .id
    }

    /// Waits (at most 10 s) until the message reaches `state`, re-reading the store after every
    /// lifecycle event (events are announced after their commit).
    pub(crate) async fn wait_state(
        &self,
        id: MessageId,
        state: MessageState,
    ) -> store::MessageDetail {
        let mut events = self.engine.subscribe();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let d = self.engine.store().message(id).await.unwrap().unwrap();
            if d.message.state == state {
                return d;
            }
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Ok(_) => {}
                Err(_) => panic!(
                    "message {id} stuck in {:?} (wanted {state:?}): {:#?}",
                    d.message.state, d.attempts
                ),
            }
        }
    }
}
