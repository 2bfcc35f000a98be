//! The control protocol: one command per line, for the binary's `--control` Unix socket (and
//! anything else that wants to drive modems by text). Every reply ends with a line `OK` or
//! `ERR <why>`; data lines come before it.
//!
//! ```text
//! inject <modem> <from> <text…>     an inbound SMS (split into parts when long)
//! inject-pdu <modem> <hex>          a raw SMS-DELIVER / SMS-STATUS-REPORT with SCA
//! fault <modem> <fault…>            hang [ms] | unhang | cms <code> [count] | sim-removed |
//!                                   sim-inserted | deregister [searching|denied|idle] |
//!                                   register | garbage [text] | reboot | slow <ms> |
//!                                   signal <n> | clear
//! power <modem>                     press the power key (reboot; ends a hang)
//! stats                             one line of counters per modem
//! sent <modem>                      accepted messages, reassembled, one per line
//! log <modem>                       the event log, one event per line
//! help                              this list
//! ```

use std::path::Path;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;

use crate::modem::{Fault, InboundSms};
use crate::runner::ModemHandle;

const HELP: &str = "inject <modem> <from> <text...>\ninject-pdu <modem> <hex>\nfault <modem> hang [ms]|unhang|cms <code> [count]|sim-removed|sim-inserted|deregister [searching|denied|idle]|register|garbage [text]|reboot|slow <ms>|signal <n>|clear\npower <modem>\nstats\nsent <modem>\nlog <modem>\nhelp";

/// Executes one control line against `modems`; returns the reply (ending in `OK` or `ERR …`).
pub fn execute(modems: &[ModemHandle], line: &str) -> String {
    match run(modems, line.trim()) {
        Ok(data) if data.is_empty() => "OK\n".to_owned(),
        Ok(data) => format!("{data}\nOK\n"),
        Err(e) => format!("ERR {e}\n"),
    }
}

fn modem<'a>(modems: &'a [ModemHandle], arg: Option<&str>) -> Result<&'a ModemHandle, String> {
    let arg = arg.ok_or("missing modem number")?;
    let i: usize = arg
        .parse()
        .map_err(|_| format!("bad modem number `{arg}`"))?;
    modems
        .get(i)
        .ok_or_else(|| format!("no modem {i} (there are {})", modems.len()))
}

fn run(modems: &[ModemHandle], line: &str) -> Result<String, String> {
    let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
    let rest = rest.trim_start();
    let (first, tail) = rest.split_once(' ').unwrap_or((rest, ""));
    let first = (!first.is_empty()).then_some(first);
    match verb {
        "" => Ok(String::new()),
        "help" => Ok(HELP.to_owned()),
        "inject" => {
            let m = modem(modems, first)?;
            let (from, text) = tail
                .trim_start()
                .split_once(' ')
                .ok_or("usage: inject <modem> <from> <text>")?;
            let parts = m
                .inject(&InboundSms::new(from, text))
                .map_err(|e| e.to_string())?;
            Ok(format!("parts {parts}"))
        }
        "inject-pdu" => {
            let m = modem(modems, first)?;
            m.inject_pdu(tail.trim()).map_err(|e| e.to_string())?;
            Ok(String::new())
        }
        "fault" => {
            let m = modem(modems, first)?;
            let fault: Fault = tail
                .trim()
                .parse()
                .map_err(|e: crate::modem::BadFault| e.to_string())?;
            m.fault(fault);
            Ok(String::new())
        }
        "power" => {
            modem(modems, first)?.power_key();
            Ok(String::new())
        }
        "stats" => Ok(modems
            .iter()
            .enumerate()
            .map(|(i, m)| format!("modem {i}: {}", m.stats()))
            .collect::<Vec<_>>()
            .join("\n")),
        "sent" => Ok(modem(modems, first)?
            .messages()
            .iter()
            .map(|s| {
                let mrs: Vec<String> = s.parts.iter().map(|p| p.mr.to_string()).collect();
                format!(
                    "to={} parts={} complete={} srr={} mr={} text={:?}",
                    s.destination,
                    s.parts.len(),
                    s.complete,
                    s.parts.iter().any(|p| p.srr),
                    mrs.join(","),
                    s.text
                )
            })
            .collect::<Vec<_>>()
            .join("\n")),
        "log" => Ok(modem(modems, first)?
            .log()
            .iter()
            .map(|e| format!("{e:?}"))
            .collect::<Vec<_>>()
            .join("\n")),
        other => Err(format!("unknown command `{other}` (try help)")),
    }
}

/// Serves the control protocol on a Unix socket at `path` (replacing a stale socket file)
/// until the task is dropped. Each connection may send any number of lines.
pub async fn serve_unix(path: &Path, modems: Vec<ModemHandle>) -> std::io::Result<()> {
    if std::fs::symlink_metadata(path).is_ok() {
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    loop {
        let (stream, _) = listener.accept().await?;
        let modems = modems.clone();
        tokio::spawn(async move {
            let (r, mut w) = stream.into_split();
            let mut lines = BufReader::new(r).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let reply = execute(&modems, &line);
                if w.write_all(reply.as_bytes()).await.is_err() {
                    break;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ModemConfig, Profile};

    #[tokio::test]
    async fn lines() {
        let modems = vec![ModemHandle::new(ModemConfig::new(Profile::Sim800))];
        let cases = [
            ("help", "inject <modem>"),
            ("inject 0 +4712345678 hello there", "parts 1\nOK\n"),
            ("inject 1 +47 x", "ERR no modem 1 (there are 1)\n"),
            ("inject x +47 x", "ERR bad modem number `x`\n"),
            ("inject 0 +47", "ERR usage: inject <modem> <from> <text>\n"),
            ("fault 0 cms 500 2", "OK\n"),
            ("fault 0 explode", "ERR bad fault `explode`"),
            ("power 0", "OK\n"),
            (
                "stats",
                "modem 0: commands=0 accepted=0 rejected=0 lost=0 receipts=0 inbound=1",
            ),
            ("sent 0", "OK\n"),
            (
                "frobnicate",
                "ERR unknown command `frobnicate` (try help)\n",
            ),
            ("", "OK\n"),
        ];
        for (line, want) in cases {
            let got = execute(&modems, line);
            assert!(got.starts_with(want), "{line}: {got}");
        }
    }
}
