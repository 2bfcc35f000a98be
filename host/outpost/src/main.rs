//! The `outpost` command line: a thin shell over the library crates. Each subcommand lives in
//! its own module; `main` only parses arguments, dispatches, and turns an error into one line
//! on stderr and exit code 2.
#![forbid(unsafe_code)]

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod pdu;

/// Outpost: an SMS gateway appliance.
#[derive(Debug, Parser)]
#[command(name = "outpost", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decode or encode SMS PDUs, for debugging modems.
    Pdu(pdu::PduArgs),
}

fn main() -> ExitCode {
    // clap prints usage errors itself and exits with code 2.
    let cli = Cli::parse();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = match cli.command {
        Command::Pdu(args) => pdu::run(args, &mut out),
    };
    match result.and_then(|()| out.flush().map_err(Into::into)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the error and its causes joined with ": ".
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
