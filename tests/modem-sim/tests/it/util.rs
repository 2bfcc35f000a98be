//! Helpers shared by the test modules: the peer skip/require rule, temp dirs, bounded child
//! processes.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

/// Whether a missing peer must fail the test (CI sets `OUTPOST_REQUIRE_PEERS=1`).
pub(crate) fn require_peers() -> bool {
    std::env::var("OUTPOST_REQUIRE_PEERS").is_ok_and(|v| v == "1")
}

/// Finds a program on PATH; `None` (after printing "skipped") when it is missing and peers are
/// optional; panics when they are required.
pub(crate) fn program(name: &str, why: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in
        std::env::split_paths(&path).chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
    {
        let p = dir.join(name);
        if p.is_file() {
            return Some(p);
        }
    }
    missing(&format!("{name} is not installed ({why})"));
    None
}

/// The python of the peers' venv (`OUTPOST_PEERS_VENV`).
pub(crate) fn venv_python() -> Option<PathBuf> {
    let Some(venv) = std::env::var_os("OUTPOST_PEERS_VENV") else {
        missing("OUTPOST_PEERS_VENV is not set (python-gsmmodem-new)");
        return None;
    };
    let py = Path::new(&venv).join("bin").join("python3");
    if !py.exists() {
        missing(&format!("{} does not exist", py.display()));
        return None;
    }
    Some(py)
}

/// Reports a missing peer: a failure under `OUTPOST_REQUIRE_PEERS=1`, else "skipped".
pub(crate) fn missing(why: &str) {
    assert!(!require_peers(), "required peer missing: {why}");
    eprintln!("skipped: {why}");
}

/// A daemon killed (with its whole process group) when dropped.
pub(crate) struct Daemon {
    pub(crate) child: tokio::process::Child,
}

impl Daemon {
    pub(crate) fn spawn(name: &str, mut cmd: tokio::process::Command) -> Daemon {
        cmd.stdin(Stdio::null()).process_group(0).kill_on_drop(true);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        Daemon { child }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// Runs `cmd` to completion within `limit`; on time-out its process group is killed and the
/// test fails.
pub(crate) async fn run_bounded(
    name: &str,
    mut cmd: tokio::process::Command,
    limit: Duration,
) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("starting {name}: {e}"));
    let pid = child.id();
    match tokio::time::timeout(limit, child.wait_with_output()).await {
        Ok(out) => out.unwrap_or_else(|e| panic!("{name}: {e}")),
        Err(_) => {
            if let Some(pid) = pid {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            panic!("{name} did not finish within {limit:?}");
        }
    }
}

/// Shows bytes with `\r`, `\n` and `\xHH` escapes.
pub(crate) fn show(bytes: &[u8]) -> String {
    let mut s = String::new();
    for &b in bytes {
        match b {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s
}
