//! `cargo xtask`: the project's automation, in Rust so it runs wherever cargo does.
//!
//! `cargo xtask test` is the one command CI runs (`.ci/run`): it installs what the tests need
//! (skipping what is already there), then runs every check in order and stops at the first
//! failure. Each step can also be run alone (`cargo xtask test --step clippy`), and
//! `cargo xtask test --list` prints them.

mod setup;
mod steps;
mod tidy;

use std::process::ExitCode;

use anyhow::{Result, bail};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  test [--step NAME]... [--skip NAME]... [--list]
                 run every check CI runs (installs what it needs first)
  setup          install the system packages, targets and test peers only
  tidy           check the repository's conventions (also part of `test`)
  fuzz [--seconds N] [TARGET]...
                 run the cargo-fuzz targets for a bounded time each (default 30 s)
";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<()> {
    let Some((command, rest)) = args.split_first() else {
        eprint!("{USAGE}");
        bail!("missing command");
    };
    let root = steps::workspace_root();
    std::env::set_current_dir(&root)?;
    match command.as_str() {
        "test" => steps::test(rest),
        "setup" => setup::setup(),
        "tidy" => tidy::check(&root),
        "fuzz" => steps::fuzz(rest),
        "-h" | "--help" | "help" => {
            print!("{USAGE}");
            Ok(())
        }
        other => {
            eprint!("{USAGE}");
            bail!("unknown command `{other}`")
        }
    }
}
