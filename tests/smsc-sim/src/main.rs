//! The `smsc-sim` binary: the simulator on a fixed port, for `outpost demo` and benchmarks.
//!
//! Prints one stats line per interval and a final one; exits on Ctrl-C, SIGTERM or after
//! `--max-runtime-s` (every run is bounded in time).
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;
use smsc_sim::{
    Account, Faults, Garbage, IdFormat, OutcomeMix, ReceiptConfig, SimConfig, SimStats, SmscSim,
};

/// An SMPP SMSC simulator with fault injection (loopback only).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on (loopback only).
    #[arg(long, default_value = "127.0.0.1:2775")]
    listen: SocketAddr,
    /// Accepted system_id (with --password). Use --account for more than one.
    #[arg(long)]
    system_id: Option<String>,
    /// Password for --system-id.
    #[arg(long, default_value = "")]
    password: String,
    /// More accounts as SYSTEM_ID:PASSWORD (repeatable). No account at all accepts anyone.
    #[arg(long = "account")]
    accounts: Vec<String>,
    /// sc_interface_version announced in bind responses: 34, 50, or "none".
    #[arg(long, default_value = "34")]
    interface_version: String,
    /// submit_sm_resp message ids: dec or hex.
    #[arg(long, default_value = "dec")]
    id_format: String,
    /// Receipt delay after the submit.
    #[arg(long, default_value_t = 0)]
    receipt_delay_ms: u64,
    /// Receipt outcome weights, e.g. "delivrd=95,undeliv=3,none=2" (also expired, rejectd).
    #[arg(long, default_value = "delivrd=1")]
    receipt_mix: String,
    /// Leave out receipted_message_id / message_state TLVs.
    #[arg(long)]
    no_receipt_tlvs: bool,
    /// Base of the id in the receipt text (dec/hex), to play an SMSC that mixes them.
    #[arg(long)]
    receipt_text_id: Option<String>,
    /// With --receipt-delay-ms 0, send the receipt before the submit_sm_resp.
    #[arg(long)]
    receipt_before_resp: bool,
    /// Hold receipts nobody acknowledged and send them again after the next bind.
    #[arg(long)]
    receipt_redeliver: bool,
    /// Share of submits answered ESME_RTHROTTLED (0..1).
    #[arg(long, default_value_t = 0.0)]
    throttle: f64,
    /// Share of submits answered ESME_RMSGQFUL (0..1).
    #[arg(long, default_value_t = 0.0)]
    queue_full: f64,
    /// Share of submits answered with --error-status (0..1).
    #[arg(long, default_value_t = 0.0)]
    error_share: f64,
    /// Status for --error-share (default 0x0B ESME_RINVDSTADR).
    #[arg(long, default_value_t = 0x0B)]
    error_status: u32,
    /// Drop the connection at the Nth submit of a connection (unanswered).
    #[arg(long)]
    drop_after: Option<u64>,
    /// Drop every connection at N, not only the first.
    #[arg(long)]
    drop_repeat: bool,
    /// Delay every response.
    #[arg(long, default_value_t = 0)]
    resp_delay_ms: u64,
    /// Plus 0..jitter random delay.
    #[arg(long, default_value_t = 0)]
    resp_jitter_ms: u64,
    /// Hung SMSC: answer nothing at all.
    #[arg(long)]
    hang: bool,
    /// Never answer binds.
    #[arg(long)]
    hang_binds: bool,
    /// Refuse every bind with this status (e.g. 13 for ESME_RBINDFAIL).
    #[arg(long)]
    reject_binds: Option<u32>,
    /// After N submits on a connection write garbage: "N:pdu" or "N:stream".
    #[arg(long)]
    garbage_after: Option<String>,
    /// Print stats this often (0: only at exit).
    #[arg(long, default_value_t = 1000)]
    stats_interval_ms: u64,
    /// Exit after this long.
    #[arg(long, default_value_t = 3600)]
    max_runtime_s: u64,
}

fn id_format(s: &str) -> Result<IdFormat> {
    Ok(match s {
        "dec" | "decimal" => IdFormat::Decimal,
        "hex" => IdFormat::Hex,
        _ => bail!("id format {s:?}: use dec or hex"),
    })
}

fn mix(s: &str) -> Result<OutcomeMix> {
    let mut m = OutcomeMix {
        delivered: 0,
        undeliverable: 0,
        expired: 0,
        rejected: 0,
        none: 0,
    };
    for part in s.split(',').filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .context("receipt mix item needs name=weight")?;
        let v: u32 = v.trim().parse().context("receipt mix weight")?;
        match k.trim().to_ascii_lowercase().as_str() {
            "delivrd" | "delivered" => m.delivered = v,
            "undeliv" | "undeliverable" => m.undeliverable = v,
            "expired" => m.expired = v,
            "rejectd" | "rejected" => m.rejected = v,
            "none" => m.none = v,
            other => bail!("unknown receipt outcome {other:?}"),
        }
    }
    Ok(m)
}

fn config(a: &Args) -> Result<SimConfig> {
    let mut accounts = Vec::new();
    if let Some(id) = &a.system_id {
        accounts.push(Account {
            system_id: id.clone(),
            password: a.password.clone(),
        });
    }
    for acc in &a.accounts {
        let (id, pw) = acc
            .split_once(':')
            .context("--account needs SYSTEM_ID:PASSWORD")?;
        accounts.push(Account {
            system_id: id.into(),
            password: pw.into(),
        });
    }
    let garbage_after = match &a.garbage_after {
        None => None,
        Some(g) => {
            let (n, kind) = g
                .split_once(':')
                .context("--garbage-after needs N:pdu|stream")?;
            let kind = match kind {
                "pdu" => Garbage::Pdu,
                "stream" => Garbage::Stream,
                _ => bail!("garbage kind {kind:?}: use pdu or stream"),
            };
            Some((n.parse().context("--garbage-after count")?, kind))
        }
    };
    Ok(SimConfig {
        listen: a.listen,
        accounts,
        interface_version: match a.interface_version.as_str() {
            "none" => None,
            "34" | "0x34" => Some(0x34),
            "50" | "0x50" => Some(0x50),
            v => bail!("interface version {v:?}: use 34, 50 or none"),
        },
        id_format: id_format(&a.id_format)?,
        receipts: ReceiptConfig {
            delay: Duration::from_millis(a.receipt_delay_ms),
            mix: mix(&a.receipt_mix)?,
            tlvs: !a.no_receipt_tlvs,
            text_id_format: a.receipt_text_id.as_deref().map(id_format).transpose()?,
            before_response: a.receipt_before_resp,
            redeliver: a.receipt_redeliver,
        },
        faults: Faults {
            throttle_share: a.throttle,
            queue_full_share: a.queue_full,
            error_share: a.error_share,
            error_status: a.error_status,
            drop_after: a.drop_after,
            drop_repeat: a.drop_repeat,
            response_delay: Duration::from_millis(a.resp_delay_ms),
            response_jitter: Duration::from_millis(a.resp_jitter_ms),
            hang: a.hang,
            hang_binds: a.hang_binds,
            reject_binds: a.reject_binds,
            garbage_after,
        },
        // A long-running process: keep counting, do not keep every submit.
        record_limit: 0,
        ..SimConfig::default()
    })
}

fn line(s: &SimStats, elapsed: Duration, rate: f64) -> String {
    format!(
        "t={:.1}s submits={} accepted={} rate={rate:.0}/s throttled={} unique={} dup={} receipts={}/{} mo={}/{} bound={} conns={} binds_failed={} drops={}",
        elapsed.as_secs_f64(),
        s.submits,
        s.accepted,
        s.throttled,
        s.unique,
        s.duplicates,
        s.receipts_acked,
        s.receipts_sent,
        s.mo_acked,
        s.mo_sent,
        s.bound_now,
        s.connections,
        s.binds_failed,
        s.drops
    )
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let cfg = config(&args)?;
    let sim = SmscSim::start(cfg).await?;
    println!("smsc-sim listening on {}", sim.addr());
    let started = tokio::time::Instant::now();
    let deadline = started + Duration::from_secs(args.max_runtime_s);
    let interval = Duration::from_millis(if args.stats_interval_ms == 0 {
        u64::MAX / 4
    } else {
        args.stats_interval_ms
    });
    let mut tick = tokio::time::interval_at(started + interval, interval);
    let mut last = (started, 0u64);
    let term = async {
        #[cfg(unix)]
        {
            if let Ok(mut s) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            {
                s.recv().await;
                return;
            }
        }
        std::future::pending::<()>().await
    };
    tokio::pin!(term);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let s = sim.stats();
                let now = tokio::time::Instant::now();
                let rate = (s.submits - last.1.min(s.submits)) as f64 / now.duration_since(last.0).as_secs_f64().max(1e-9);
                last = (now, s.submits);
                println!("{}", line(&s, started.elapsed(), rate));
            }
            _ = tokio::signal::ctrl_c() => break,
            _ = &mut term => break,
            _ = tokio::time::sleep_until(deadline) => {
                println!("smsc-sim: --max-runtime-s reached");
                break;
            }
        }
    }
    let s = sim.stats();
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    println!(
        "final {}",
        line(&s, started.elapsed(), s.submits as f64 / secs)
    );
    sim.stop();
    Ok(())
}
