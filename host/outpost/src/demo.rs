//! `outpost demo`: the whole product on a laptop in one command. Four simulated modems
//! (`tests/modem-sim`: SIM800, EC25, Huawei and a generic modem, with China Mobile, Unicom and
//! Telecom SIMs, 2 s per send like a real network) and one simulated SMSC (`tests/smsc-sim`) run
//! in-process on loopback; the real service runs against them with its state in `--data`, so a
//! restart resumes where it stopped.
//!
//! The demo keeps one API key's secret in `DIR/demo-api-key` so it can print it on every start;
//! a real installation never stores a secret (keys are hashed, shown once).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use domain::UnixMillis;
use modem_sim::{Endpoint, ModemConfig, Profile, Sim};
use smsc_sim::{Account, SimConfig, SmscSim};
use store::{Store, StoreOptions};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::config::{RawConfig, RawModem, RawSmpp};
use crate::service::{self, RunOptions};

/// `outpost demo` arguments.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Where the web page and API listen (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Where the demo keeps its database (a restart resumes from it).
    #[arg(long, default_value = "outpost-demo")]
    pub data: PathBuf,
    /// Seconds a simulated modem takes to send one message.
    #[arg(long, default_value_t = 2.0)]
    pub modem_latency: f64,
}

const SIMS: [(Profile, &str, &str, &str); 4] = [
    (Profile::Sim800, "CHINA MOBILE", "46000", "460001234567801"),
    (Profile::Ec25, "CHN-UNICOM", "46001", "460011234567802"),
    (Profile::Huawei, "CHN-CT", "46011", "460111234567803"),
    (Profile::Generic, "CHINA MOBILE", "46000", "460001234567804"),
];

/// Runs the demo until `shutdown` resolves.
pub async fn run(
    args: DemoArgs,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    options: RunOptions,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data)
        .with_context(|| format!("creating {}", args.data.display()))?;
    let latency = Duration::from_secs_f64(args.modem_latency.clamp(0.0, 60.0));
    let specs = SIMS
        .iter()
        .enumerate()
        .map(|(i, (profile, operator, plmn, imsi))| {
            let mut cfg = ModemConfig::new(*profile);
            cfg.operator = (*operator).to_owned();
            cfg.operator_short = (*operator).to_owned();
            cfg.plmn = (*plmn).to_owned();
            cfg.imsi = (*imsi).to_owned();
            cfg.own_number = format!("+86138000000{i:02}");
            cfg.smsc = "+8613800100500".to_owned();
            cfg.send_latency_ms = u64::try_from(latency.as_millis()).unwrap_or(2_000);
            cfg.receipt_delay_ms = 3_000;
            cfg.signal = [25, 18, 12, 21][i];
            (Endpoint::Tcp(SocketAddr::from(([127, 0, 0, 1], 0))), cfg)
        })
        .collect();
    let modems = Sim::start(specs)
        .await
        .context("starting simulated modems")?;
    let smsc = SmscSim::start(SimConfig {
        accounts: vec![Account {
            system_id: "outpost".into(),
            password: "demo".into(),
        }],
        ..SimConfig::default()
    })
    .await
    .context("starting the simulated SMSC")?;

    let mut raw = RawConfig::default();
    raw.service.data_dir = args.data.clone();
    raw.service.listen = args.listen.to_string();
    raw.service.shutdown_grace = "5s".into();
    raw.accept.signature = Some("【Outpost演示】".into());
    for (i, endpoint) in modems.endpoints().iter().enumerate() {
        if let Endpoint::Tcp(addr) = endpoint {
            raw.modem.push(RawModem {
                id: format!("modem{}", i + 1),
                tcp: Some(addr.to_string()),
                ..RawModem::default()
            });
        }
    }
    raw.smpp.push(RawSmpp {
        id: "smsc-sim".into(),
        host: smsc.addr().ip().to_string(),
        port: u32::from(smsc.addr().port()),
        system_id: "outpost".into(),
        password: "demo".into(),
        window: Some(50),
        ..RawSmpp::default()
    });
    // The simulated SMSC is China Mobile's gateway; the modems back everyone up.
    raw.routing.operators.entry("cmcc".into()).or_default().pool = vec!["smsc-sim".into()];
    let config = raw.validate().context("demo configuration")?;

    let key = demo_key(&config.data_dir).await?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let addr = listener.local_addr()?;
    println!("Outpost demo is running.");
    println!("  web page:  http://{addr}/");
    println!("  API:       http://{addr}/api/v1 (OpenAPI: /api/v1/openapi.json)");
    println!("api key: {key}");
    println!(
        "  try:       curl -s -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \\"
    );
    println!(
        "               -d '{{\"to\": \"+8613800138000\", \"text\": \"你好, Outpost\"}}' http://{addr}/api/v1/messages"
    );
    println!(
        "  data:      {} (delete it to start over)",
        config.data_dir.display()
    );
    println!("  carriers:  4 simulated modems, 1 simulated SMSC (smsc-sim)");

    let (ready_tx, ready_rx) = oneshot::channel();
    let options = RunOptions {
        prometheus: options.prometheus,
        ready: Some(ready_tx),
    };
    let forward_ready = options_ready(ready_rx);
    let serve = service::run(config, listener, shutdown, options);
    let (result, ()) = tokio::join!(serve, forward_ready);
    modems.shutdown().await;
    smsc.stop();
    result
}

async fn options_ready(rx: oneshot::Receiver<service::Ready>) {
    if let Ok(ready) = rx.await {
        tracing::info!(addr = %ready.addr, "demo ready");
    }
}

/// The demo's API key: the saved one if it still verifies, else a new one (saved).
async fn demo_key(data: &Path) -> anyhow::Result<String> {
    let path = data.join("demo-api-key");
    let store = Store::open(&data.join("outpost.db"), StoreOptions::default())?;
    if let Ok(saved) = std::fs::read_to_string(&path) {
        let saved = saved.trim().to_owned();
        if store.verify_api_key(saved.clone()).await?.is_some() {
            return Ok(saved);
        }
    }
    let key = store
        .create_api_key("demo".into(), UnixMillis::now())
        .await?;
    std::fs::write(&path, format!("{}\n", key.secret))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(key.secret)
}
