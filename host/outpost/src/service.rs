//! Wiring the service together: store, carriers, engine and HTTP (DESIGN: "a thin `main.rs`; the
//! library exposes `run(config, listeners, shutdown)`").
//!
//! Shutdown is an explicit path: when `shutdown` resolves, the HTTP side stops accepting and
//! finishes open requests, then the engine lets attempts in flight end (bounded by the grace
//! period), drains the carriers and flushes the store. Nothing accepted is in memory only, so a
//! grace period that runs out loses nothing either: those messages are resent after restart.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use carriers::Carrier;
use carriers::modem::ModemCarrier;
use carriers::smpp::SmppCarrier;
use engine::{Engine, EngineConfig};
use metrics_exporter_prometheus::PrometheusHandle;
use store::{Store, StoreOptions};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

use crate::config::Config;

/// What [`run`] reports once it is serving.
#[derive(Clone)]
pub struct Ready {
    /// The HTTP address actually bound.
    pub addr: SocketAddr,
    /// The engine, for callers that drive it directly (the demo, tests).
    pub engine: Engine,
    /// The SMPP server's address, when `[smpp_server]` is configured.
    pub smpp: Option<SocketAddr>,
}

/// Extras for [`run`].
#[derive(Default)]
pub struct RunOptions {
    /// The Prometheus recorder's handle, if the binary installed one.
    pub prometheus: Option<PrometheusHandle>,
    /// Told once the service is serving.
    pub ready: Option<oneshot::Sender<Ready>>,
}

/// Opens the store and runs the service on `listener` until `shutdown` resolves.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    options: RunOptions,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    // A bad certificate stops the start before anything else runs.
    let tls = match &config.tls {
        Some(source) => Some(web::tls::config(source).context("setting up HTTPS ([service.tls])")?),
        None => None,
    };
    let db = config.data_dir.join("outpost.db");
    let store = Store::open(&db, StoreOptions::default())
        .with_context(|| format!("opening {}", db.display()))?;
    // The settings page's values win over the config file's (the page says so).
    let settings = web::pages::settings::RuntimeSettings::load(&store)
        .await
        .context("reading the settings page's settings")?;
    let (accept, policy) = apply_settings(&config, &settings);
    let (events_tx, events) = mpsc::channel(4096);
    let mut carriers: Vec<Arc<dyn Carrier>> = Vec::new();
    for m in &config.modems {
        carriers.push(ModemCarrier::open(m, events_tx.clone()));
    }
    for b in &config.banks {
        for slot in carriers::bank::start(b, events_tx.clone())? {
            carriers.push(slot);
        }
    }
    for s in &config.smpp {
        carriers.push(SmppCarrier::start(s.clone(), events_tx.clone()));
    }
    drop(events_tx);
    // [smpp_server]: cancel_sm needs a say over what reaches the carriers.
    let gate = crate::smpp_server::CancelGate::default();
    if config.smpp_server.is_some() {
        carriers = gate.wrap(carriers);
    }
    let engine = Engine::start(
        store,
        carriers,
        events,
        EngineConfig {
            accept: config.accept.clone(),
            policy,
            reassembly_timeout: config.reassembly_timeout,
        },
    )
    .await
    .context("starting the engine")?;
    engine.set_accept_config(accept);
    // Carriers an admin switched off stay off across restarts.
    for (id, enabled) in engine
        .store()
        .carrier_overrides()
        .await
        .context("reading carrier overrides")?
    {
        match domain::CarrierId::new(&id) {
            Ok(cid) if engine.carriers().iter().any(|c| c.id() == &cid) => {
                engine.set_enabled(&cid, enabled);
            }
            _ => tracing::info!(carrier = %id, "override for a carrier no longer configured"),
        }
    }
    let (smpp_server, notifier) = start_front_doors(&config, &engine, gate).await?;
    let addr = listener.local_addr()?;
    tracing::info!(
        %addr,
        modems = config.modems.len(),
        banks = config.banks.len(),
        smpp = config.smpp.len(),
        "outpost serving"
    );
    if let Some(ready) = options.ready {
        let _ = ready.send(Ready {
            addr,
            engine: engine.clone(),
            smpp: smpp_server.as_ref().and_then(|s| s.local_addr()),
        });
    }
    let state = web::AppState {
        engine: engine.clone(),
        prometheus: options.prometheus,
    };
    match tls {
        Some(tls) => {
            web::tls::serve_tls(listener, state, tls, shutdown, config.shutdown_grace)
                .await
                .context("serving HTTPS")?;
        }
        None => web::serve(listener, state, shutdown)
            .await
            .context("serving HTTP")?,
    }
    if let Some(srv) = &smpp_server {
        // Applications are asked to unbind; submits being stored finish first.
        srv.shutdown().await;
    }
    tracing::info!("shutting down: letting attempts in flight finish");
    engine.shutdown(config.shutdown_grace).await;
    // Owed notifications stay in the outbox for the next start.
    notifier.stop();
    tracing::info!("stopped");
    Ok(())
}

/// The accept rules and routing policy with the settings page's values applied: signature and
/// default country; quiet hours and the modem slots' daily limit.
fn apply_settings(
    config: &Config,
    settings: &web::pages::settings::RuntimeSettings,
) -> (engine::AcceptConfig, Arc<route::Policy>) {
    let accept = settings.accept_config(&config.accept);
    let mut policy = (*config.policy).clone();
    if let (Some(start), Some(end)) = (&settings.quiet_start, &settings.quiet_end) {
        let offset = settings.utc_offset.as_deref().unwrap_or("+08:00");
        let offset = if offset == "Z" { "+00:00" } else { offset };
        match policy.clone().with_quiet_window(start, end, offset) {
            Some(p) => policy = p,
            None => {
                tracing::warn!(%start, %end, %offset, "ignoring the settings page's quiet hours")
            }
        }
    }
    if let Some(limit) = settings.daily_limit {
        policy = policy.with_modem_daily_limit(limit);
    }
    (accept, Arc::new(policy))
}

/// The SMPP server, the notifier and the engine's sweeps (missing receipts, long-message parts).
async fn start_front_doors(
    config: &Config,
    engine: &Engine,
    gate: crate::smpp_server::CancelGate,
) -> anyhow::Result<(Option<smpp::server::ServerHandle>, crate::notify::Running)> {
    engine.start_receipt_sweep();
    let parts_timeout = config
        .smpp_server
        .as_ref()
        .map_or(config.reassembly_timeout, |s| s.reassembly_timeout);
    engine.start_parts_sweep(parts_timeout);
    let (server, binds, mo_routes) = match &config.smpp_server {
        Some(s) => {
            let listener = TcpListener::bind(s.listen)
                .await
                .with_context(|| format!("SMPP server listening on {}", s.listen))?;
            let (srv, binds) = crate::smpp_server::start(engine.clone(), s, listener, gate);
            if let Some(addr) = srv.local_addr() {
                tracing::info!(%addr, accounts = s.accounts.len(), "SMPP server listening");
            }
            (Some(srv), Some(binds), s.mo_routes.clone())
        }
        None => (None, None, Vec::new()),
    };
    let notifier = crate::notify::Notifier::new(
        engine.store().clone(),
        config.notify.clone(),
        server.clone(),
        mo_routes,
    )
    .context("starting the notifier")?;
    Ok((server, notifier.start(engine, binds)))
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
