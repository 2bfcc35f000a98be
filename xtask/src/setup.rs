//! Installs what the tests need on a fresh Debian machine, skipping whatever is already there.
//!
//! Every item is checked before it is installed, so a second run costs a few `dpkg -s` calls.
//! Test peers from PyPI and npm go under `target/peers/`, never into the system.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::steps::{cmd, have_command, run_cmd};

/// Debian packages the test suite uses: QEMU for the bank firmware, independent AT clients
/// (gammu, smstools, Kannel), serial plumbing (socat), `arm-none-eabi-size` for firmware sizes,
/// and Chromium with chromedriver for the admin page's browser test.
const APT_PACKAGES: &[&str] = &[
    "qemu-system-arm",
    "gammu",
    "gammu-smsd",
    "smstools",
    "socat",
    // Kannel (bearerbox + smsbox), the fourth independent AT client of tests/modem-sim.
    "kannel",
    "binutils-arm-none-eabi",
    // The admin page's browser test (tests/e2e): headless Chromium driven through chromedriver,
    // and CJK fonts so Chinese pages render in it and in the screenshots.
    "chromium",
    "chromium-driver",
    "fonts-noto-cjk",
];

/// Python test peers, pinned: independent implementations our codecs and servers are checked
/// against.
const PIP_PACKAGES: &[&str] = &[
    "python-gsmmodem-new==0.13",
    "pyserial==3.5",
    "smpplib==2.2.4",
];

const EMBEDDED_TARGET: &str = "thumbv7em-none-eabihf";

/// Where the Python virtual environment of test peers lives.
pub(crate) fn venv_dir() -> PathBuf {
    Path::new("target").join("peers").join("venv")
}

/// The Python interpreter inside the peers' virtual environment.
pub(crate) fn venv_python() -> PathBuf {
    venv_dir().join("bin").join("python3")
}

pub(crate) fn setup() -> Result<()> {
    rust_target()?;
    apt()?;
    python_peers()?;
    node_peers()?;
    cargo_fuzz()?;
    Ok(())
}

fn rust_target() -> Result<()> {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("running rustup")?;
    if String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.trim() == EMBEDDED_TARGET)
    {
        return Ok(());
    }
    run_cmd(cmd("rustup").args(["target", "add", EMBEDDED_TARGET]))
}

fn apt() -> Result<()> {
    let missing: Vec<&str> = APT_PACKAGES
        .iter()
        .copied()
        .filter(|p| {
            !Command::new("dpkg-query")
                .args(["-W", "-f=${Status}", p])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
                .unwrap_or(false)
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !is_root() {
        bail!(
            "missing Debian packages {missing:?}; run as root or `apt-get install {}`",
            missing.join(" ")
        );
    }
    eprintln!("xtask: installing Debian packages: {}", missing.join(" "));
    let mut install = cmd("apt-get");
    install
        .args(["install", "-y", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive");
    if run_cmd(&mut install).is_err() {
        // A fresh machine has empty package lists; update once and try again.
        run_cmd(cmd("apt-get").args(["update", "-q"]))?;
        run_cmd(&mut install)?;
    }
    // smstools and gammu-smsd ship services that would grab serial ports; tests start their
    // own instances.
    for svc in ["smstools", "gammu-smsd", "kannel"] {
        let _ = Command::new("service").args([svc, "stop"]).output();
    }
    Ok(())
}

fn python_peers() -> Result<()> {
    let python = venv_python();
    if !python.exists() {
        run_cmd(cmd("python3").args(["-m", "venv"]).arg(venv_dir()))?;
    }
    let stamp = venv_dir().join(".installed");
    let wanted = PIP_PACKAGES.join("\n");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(());
    }
    run_cmd(
        cmd(&python)
            .args(["-m", "pip", "install", "--quiet"])
            .args(PIP_PACKAGES),
    )?;
    std::fs::write(&stamp, wanted)?;
    Ok(())
}

/// The npm test peer: an SMSC on the `smpp` package (`tests/smsc-sim/peers`), installed with
/// `npm ci` from its lock file into `target/peers/node` (the host/smpp tests look there).
fn node_peers() -> Result<()> {
    if !have_command("node") || !have_command("npm") {
        // Only when missing: a NodeSource `nodejs` already bundles npm, and Debian's `npm`
        // package would conflict with it.
        if !is_root() {
            bail!("node and npm are missing; run as root or `apt-get install nodejs npm`");
        }
        let mut install = cmd("apt-get");
        install
            .args(["install", "-y", "--no-install-recommends", "nodejs", "npm"])
            .env("DEBIAN_FRONTEND", "noninteractive");
        if run_cmd(&mut install).is_err() {
            run_cmd(cmd("apt-get").args(["update", "-q"]))?;
            run_cmd(&mut install)?;
        }
    }
    let src = Path::new("tests").join("smsc-sim").join("peers");
    let dir = Path::new("target").join("peers").join("node");
    let lock = std::fs::read_to_string(src.join("package-lock.json"))
        .context("reading tests/smsc-sim/peers/package-lock.json")?;
    let stamp = dir.join(".installed");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(lock.as_str())
        && dir.join("node_modules").join("smpp").is_dir()
    {
        return Ok(());
    }
    std::fs::create_dir_all(&dir)?;
    for f in ["package.json", "package-lock.json"] {
        std::fs::copy(src.join(f), dir.join(f))?;
    }
    run_cmd(
        cmd("npm")
            .args([
                "ci",
                "--ignore-scripts",
                "--no-audit",
                "--no-fund",
                "--prefix",
            ])
            .arg(&dir),
    )?;
    std::fs::write(&stamp, lock)?;
    Ok(())
}

fn cargo_fuzz() -> Result<()> {
    if have_command("cargo-fuzz") {
        return Ok(());
    }
    run_cmd(cmd("cargo").args(["install", "cargo-fuzz", "--locked"]))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}
