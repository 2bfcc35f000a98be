//! The steps of `cargo xtask test`, in the order CI runs them, and small process helpers.
//!
//! Keep the whole run well under 30 minutes on a 2-core machine: debug builds everywhere except
//! where a test needs release (the firmware images, whose size budget is checked in release).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::{setup, tidy};

/// The embedded target every `firmware/*` crate must build for.
pub(crate) const EMBEDDED_TARGET: &str = "thumbv7em-none-eabihf";

/// Firmware crates that must build `no_std` for the embedded target.
const FIRMWARE_CRATES: &[&str] = &["gsm", "link", "modem", "bank"];

struct Step {
    name: &'static str,
    what: &'static str,
    run: fn() -> Result<()>,
}

const STEPS: &[Step] = &[
    Step {
        name: "setup",
        what: "install system packages, the embedded target and test peers",
        run: setup::setup,
    },
    Step {
        name: "fmt",
        what: "cargo fmt --check",
        run: fmt,
    },
    Step {
        name: "tidy",
        what: "repository conventions (//! headers, code map, no_std firmware)",
        run: || tidy::check(&workspace_root()),
    },
    Step {
        name: "clippy",
        what: "clippy on every target with warnings as errors",
        run: clippy,
    },
    Step {
        name: "test",
        what: "unit, integration, interop and whole-system tests",
        run: test_workspace,
    },
    Step {
        name: "doc",
        what: "rustdoc with warnings as errors",
        run: doc,
    },
    Step {
        name: "firmware",
        what: "build firmware crates and boards for thumbv7em-none-eabihf; size and budget",
        run: firmware,
    },
    Step {
        name: "qemu",
        what: "the bank firmware (boards/mps2-an386) in QEMU against simulated modems",
        run: qemu,
    },
    Step {
        name: "fuzz",
        what: "every cargo-fuzz target for a bounded time",
        run: || fuzz(&[]),
    },
];

pub(crate) fn test(args: &[String]) -> Result<()> {
    let mut only = Vec::new();
    let mut skip = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--list" => {
                for s in STEPS {
                    println!("{:10} {}", s.name, s.what);
                }
                return Ok(());
            }
            "--step" => only.push(it.next().context("--step needs a name")?.clone()),
            "--skip" => skip.push(it.next().context("--skip needs a name")?.clone()),
            other => bail!("unknown argument `{other}` (try --list)"),
        }
    }
    for name in only.iter().chain(&skip) {
        if !STEPS.iter().any(|s| s.name == name) {
            bail!("no step named `{name}` (try --list)");
        }
    }
    let started = Instant::now();
    let mut timings = Vec::new();
    for step in STEPS {
        if (!only.is_empty() && !only.iter().any(|n| n == step.name))
            || skip.iter().any(|n| n == step.name)
        {
            continue;
        }
        eprintln!("\nxtask: ==> {} ({})", step.name, step.what);
        let t = Instant::now();
        (step.run)().with_context(|| format!("step `{}` failed", step.name))?;
        timings.push((step.name, t.elapsed()));
    }
    eprintln!("\nxtask: all steps passed in {:.0?}", started.elapsed());
    for (name, took) in timings {
        eprintln!("xtask:   {name:10} {took:.1?}");
    }
    Ok(())
}

fn fmt() -> Result<()> {
    run_cmd(cmd("cargo").args(["fmt", "--all", "--check"]))
}

fn clippy() -> Result<()> {
    run_cmd(cmd("cargo").args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ]))
}

fn test_workspace() -> Result<()> {
    let venv = std::fs::canonicalize(setup::venv_dir()).ok();
    let mut c = cmd("cargo");
    c.args(["test", "--workspace", "--locked"])
        // Tests that need an independent peer fail instead of skipping when this is set.
        .env("OUTPOST_REQUIRE_PEERS", "1")
        // The QEMU run (about 2.5 minutes) is its own step.
        .env("OUTPOST_SKIP_QEMU", "1");
    if let Some(venv) = venv {
        c.env("OUTPOST_PEERS_VENV", venv);
    }
    run_cmd(&mut c)?;
    // Every benchmark once in test mode (criterion runs each body once; `accept` drives the
    // service with a small load), so a benchmark that no longer runs is caught here, not by the
    // next person who measures.
    run_cmd(
        cmd("cargo")
            .args(["test", "--workspace", "--bench", "*", "--locked"])
            .env("COUNT", "300")
            .env("CONCURRENCY", "8")
            .env("BATCHES", "2"),
    )
}

/// `tests/bank-emu`'s `qemu` test: builds `boards/mps2-an386` in release and runs it in
/// `qemu-system-arm -M mps2-an386` against four simulated modems (scenarios and the summary
/// it prints: `boards/mps2-an386/README.md`).
fn qemu() -> Result<()> {
    run_cmd(
        cmd("cargo")
            .args(["test", "--locked", "-p", "bank-emu", "--test", "it", "qemu"])
            .args(["--", "--nocapture"])
            .env("OUTPOST_REQUIRE_PEERS", "1"),
    )
}

fn doc() -> Result<()> {
    run_cmd(
        cmd("cargo")
            .args(["doc", "--workspace", "--no-deps", "--locked"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )
}

fn firmware() -> Result<()> {
    for krate in FIRMWARE_CRATES {
        run_cmd(cmd("cargo").args([
            "build",
            "--locked",
            "--release",
            "-p",
            krate,
            "--target",
            EMBEDDED_TARGET,
        ]))?;
        // Where cargo put it: `CARGO_TARGET_DIR` when set (a shared build directory), else the
        // workspace's `target/`.
        let target_dir = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join("target"));
        let rlib = target_dir
            .join(EMBEDDED_TARGET)
            .join("release")
            .join(format!("lib{}.rlib", krate.replace('-', "_")));
        let size = std::fs::metadata(&rlib)
            .with_context(|| format!("reading {}", rlib.display()))?
            .len();
        eprintln!(
            "xtask: {krate} builds for {EMBEDDED_TARGET} (rlib {} KiB)",
            size / 1024
        );
    }
    gsm_flash_size()?;
    boards()
}

/// A board's footprint limits, in bytes.
struct Budget {
    flash: u64,
    /// `.data` + `.bss` + `stack`.
    ram: u64,
    /// The stack the board reserves on top of its static RAM: the deepest call chain found
    /// with `-Z emit-stack-sizes` plus interrupt frames (the board's README shows the figures).
    stack: u64,
}

/// The standalone board projects under `boards/`, and the budgets CI holds them to
/// (`boards/stm32f405-bank4/README.md`: four slots in ≤ 96 KiB flash and ≤ 48 KiB RAM).
const BOARDS: &[(&str, Option<Budget>)] = &[
    ("mps2-an386", None),
    (
        "stm32f405-bank4",
        Some(Budget {
            flash: 96 * 1024,
            ram: 48 * 1024,
            stack: 6 * 1024,
        }),
    ),
];

/// Builds every board in release, prints `arm-none-eabi-size` and fails if one is over budget.
fn boards() -> Result<()> {
    let mut over = Vec::new();
    for (name, budget) in BOARDS {
        let dir = workspace_root().join("boards").join(name);
        // The same directory as the QEMU test uses, so the image is built once.
        let target_dir = workspace_root().join("target").join("boards").join(name);
        // Run from the board's directory: cargo reads its `.cargo/config.toml` (target,
        // linker script) from the current directory.
        run_cmd(
            cmd("cargo")
                .current_dir(&dir)
                .args(["build", "--release", "--locked"])
                .env("CARGO_TARGET_DIR", &target_dir),
        )?;
        let elf = target_dir.join(EMBEDDED_TARGET).join("release").join(name);
        let out = cmd("arm-none-eabi-size")
            .arg(&elf)
            .output()
            .context("running arm-none-eabi-size (Debian binutils-arm-none-eabi)")?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        eprint!("xtask: boards/{name}:\n{stdout}");
        // Berkeley format, second line: text data bss …; flash holds text and data.
        let fields: Vec<u64> = stdout
            .lines()
            .nth(1)
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .filter_map(|f| f.parse().ok())
            .collect();
        let [text, data, bss] = fields[..] else {
            bail!("unexpected arm-none-eabi-size output: {stdout}");
        };
        let flash = text + data;
        let Some(b) = budget else {
            eprintln!(
                "xtask: boards/{name}: flash {flash} B, static RAM {} B",
                data + bss
            );
            continue;
        };
        let ram = data + bss + b.stack;
        eprintln!(
            "xtask: boards/{name}: flash {flash} B of {} ({:.1} KiB), RAM {ram} B of {} \
             ({:.1} KiB: data {data} + bss {bss} + stack {})",
            b.flash,
            flash as f64 / 1024.0,
            b.ram,
            ram as f64 / 1024.0,
            b.stack
        );
        if flash > b.flash {
            over.push(format!("{name}: flash {flash} B > {} B", b.flash));
        }
        if ram > b.ram {
            over.push(format!("{name}: RAM {ram} B > {} B", b.ram));
        }
    }
    if !over.is_empty() {
        bail!("over the footprint budget: {}", over.join("; "));
    }
    Ok(())
}

/// The gsm codec's flash footprint: `firmware/gsm/size` is a tiny `no_std` program linking the
/// codec's entry points, measured against the same program linking none of it.
fn gsm_flash_size() -> Result<()> {
    let dir = workspace_root().join("firmware").join("gsm").join("size");
    let target_dir = workspace_root().join("target").join("gsm-size");
    let mut flash = Vec::new();
    for features in ["baseline", "", "dump"] {
        let mut build = cmd("cargo");
        build
            .current_dir(&dir)
            .args(["build", "--release", "--locked"])
            .env("CARGO_TARGET_DIR", &target_dir);
        if !features.is_empty() {
            build.args(["--features", features]);
        }
        run_cmd(&mut build)?;
        let elf = target_dir
            .join(EMBEDDED_TARGET)
            .join("release")
            .join("gsm-size");
        let out = cmd("arm-none-eabi-size")
            .arg(&elf)
            .output()
            .context("running arm-none-eabi-size (Debian binutils-arm-none-eabi)")?;
        // Berkeley format, second line: text data bss ...; flash holds text and data.
        let stdout = String::from_utf8_lossy(&out.stdout);
        let fields: Vec<u64> = stdout
            .lines()
            .nth(1)
            .unwrap_or_default()
            .split_whitespace()
            .take(2)
            .filter_map(|f| f.parse().ok())
            .collect();
        if fields.len() != 2 {
            bail!("unexpected arm-none-eabi-size output: {stdout}");
        }
        flash.push(fields.iter().sum::<u64>());
    }
    if let [base, codec, dump] = flash[..] {
        eprintln!(
            "xtask: gsm codec flash on {EMBEDDED_TARGET} (opt-level s, LTO): {} B, with Dump {} B",
            codec.saturating_sub(base),
            dump.saturating_sub(base)
        );
    }
    Ok(())
}

/// Runs every cargo-fuzz target under `firmware/*/fuzz` and `host/*/fuzz` for a bounded time.
///
/// Each fuzz project is built first, one after the other; then the targets run side by side, as
/// many at once as the machine has cores (libFuzzer uses one), each writing its output to
/// `target/fuzz/logs/<target>.log`, which is printed when the target fails.
pub(crate) fn fuzz(args: &[String]) -> Result<()> {
    let mut seconds = 30u64;
    let mut wanted = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--seconds" => {
                seconds = it
                    .next()
                    .context("--seconds needs a number")?
                    .parse()
                    .context("--seconds needs a number")?;
            }
            other => wanted.push(other.to_owned()),
        }
    }
    let root = workspace_root();
    let mut dirs = Vec::new();
    for top in ["firmware", "host"] {
        for entry in std::fs::read_dir(root.join(top))? {
            let fuzz = entry?.path().join("fuzz");
            if fuzz.join("Cargo.toml").exists() {
                dirs.push(fuzz);
            }
        }
    }
    dirs.sort();
    // One target directory for every fuzz project, so libFuzzer is built once.
    let target_dir = root.join("target").join("fuzz");
    let logs = target_dir.join("logs");
    std::fs::create_dir_all(&logs)?;
    let mut jobs = Vec::new();
    for dir in dirs {
        let crate_dir = dir.parent().expect("fuzz dir has a parent").to_path_buf();
        let out = fuzz_cmd(&crate_dir, &target_dir)
            .arg("list")
            .output()
            .context("running cargo fuzz list")?;
        let targets: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .filter(|t| wanted.is_empty() || wanted.iter().any(|w| w == t))
            .map(str::to_owned)
            .collect();
        if targets.is_empty() {
            continue;
        }
        // The same profile `cargo fuzz run` uses, so the runs below find it built.
        run_cmd(fuzz_cmd(&crate_dir, &target_dir).args(["build", "--sanitizer", "none"]))?;
        for target in targets {
            let corpus = target_dir.join("corpus").join(&target);
            std::fs::create_dir_all(&corpus)?;
            jobs.push((crate_dir.clone(), target, corpus));
        }
    }
    let parallel = std::thread::available_parallelism().map_or(1, usize::from);
    eprintln!(
        "xtask: fuzzing {} targets for {seconds} s each, {parallel} at a time",
        jobs.len()
    );
    let queue = std::sync::Mutex::new(jobs.into_iter());
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..parallel {
            scope.spawn(|| {
                loop {
                    let next = queue.lock().expect("queue lock").next();
                    let Some((crate_dir, target, corpus)) = next else {
                        break;
                    };
                    let log = logs.join(format!("{target}.log"));
                    let result = fuzz_one(&crate_dir, &target_dir, &target, &corpus, seconds, &log);
                    match result {
                        Ok(()) => eprintln!("xtask: fuzz {target}: {seconds} s, no crash"),
                        Err(e) => failures
                            .lock()
                            .expect("failures lock")
                            .push(format!("{target}: {e:#}")),
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().expect("failures lock");
    if !failures.is_empty() {
        bail!("fuzzing failed:\n{}", failures.join("\n"));
    }
    Ok(())
}

/// One bounded libFuzzer run; on failure the error carries the end of its log (the crash report
/// and the reproducer's path).
fn fuzz_one(
    crate_dir: &Path,
    target_dir: &Path,
    target: &str,
    corpus: &Path,
    seconds: u64,
    log: &Path,
) -> Result<()> {
    let file = std::fs::File::create(log)?;
    let mut run = fuzz_cmd(crate_dir, target_dir);
    run.args(["run", "--sanitizer", "none", target])
        .arg(corpus)
        .arg(crate_dir.join("fuzz").join("seeds").join(target))
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg("-rss_limit_mb=1024")
        .stdout(file.try_clone()?)
        .stderr(file);
    eprintln!("xtask: $ {} > {}", show(&run), log.display());
    let status = run
        .status()
        .with_context(|| format!("could not start {}", show(&run)))?;
    if status.success() {
        return Ok(());
    }
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(60)..].join("\n");
    bail!("exited with {status}; end of {}:\n{tail}", log.display())
}

fn fuzz_cmd(crate_dir: &Path, target_dir: &Path) -> Command {
    let mut c = cmd("cargo");
    c.arg("fuzz")
        .current_dir(crate_dir)
        .env("CARGO_TARGET_DIR", target_dir)
        // cargo-fuzz passes -Z flags; the machine has only a stable toolchain.
        .env("RUSTC_BOOTSTRAP", "1");
    c
}

/// The workspace root: the parent of this crate's manifest directory.
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the root")
        .to_path_buf()
}

pub(crate) fn cmd(program: impl AsRef<std::ffi::OsStr>) -> Command {
    Command::new(program)
}

pub(crate) fn run_cmd(c: &mut Command) -> Result<()> {
    eprintln!("xtask: $ {}", show(c));
    let status = c
        .status()
        .with_context(|| format!("could not start {}", show(c)))?;
    if !status.success() {
        bail!("{} exited with {status}", show(c));
    }
    Ok(())
}

pub(crate) fn have_command(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
}

fn show(c: &Command) -> String {
    let mut s = c.get_program().to_string_lossy().to_string();
    for a in c.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}
