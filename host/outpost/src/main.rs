//! The `outpost` command line: a thin shell over the library crates. Each subcommand lives in
//! its own module; `main` only parses arguments, dispatches, and turns an error into one line
//! on stderr and exit code 2.
#![forbid(unsafe_code)]

use std::io::Write;
use std::process::ExitCode;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use outpost::config::RawConfig;
use outpost::service::{self, RunOptions};

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
    /// Run the service.
    Run {
        /// The configuration file.
        #[arg(long, default_value = "/etc/outpost/outpost.toml")]
        config: PathBuf,
    },
    /// Check a configuration file and name every bad key.
    CheckConfig {
        /// The configuration file.
        #[arg(long, default_value = "/etc/outpost/outpost.toml")]
        config: PathBuf,
    },
    /// Run the whole product with simulated modems and a simulated SMSC.
    Demo(outpost::demo::DemoArgs),
    /// Manage API keys (one per department or application).
    Key {
        #[command(subcommand)]
        action: KeyAction,
        /// The configuration file (for the data directory).
        #[arg(long, global = true, default_value = "/etc/outpost/outpost.toml")]
        config: PathBuf,
    },
    /// Manage users of the admin page (the first admin can also be set on the page itself).
    User {
        #[command(subcommand)]
        action: UserAction,
        /// The configuration file (for the data directory).
        #[arg(long, global = true, default_value = "/etc/outpost/outpost.toml")]
        config: PathBuf,
    },
    /// Copy the database to a file while the service runs.
    Backup {
        /// The configuration file (for the data directory).
        #[arg(long, default_value = "/etc/outpost/outpost.toml")]
        config: PathBuf,
        /// Where to write the copy.
        dest: PathBuf,
    },
    /// Decode or encode SMS PDUs, for debugging modems.
    Pdu(pdu::PduArgs),
}

#[derive(Debug, Subcommand)]
enum KeyAction {
    /// Create a key; its secret is printed once and never stored.
    Add {
        /// Department or application name.
        name: String,
    },
    /// List keys (prefixes only).
    List,
    /// Revoke a key by id.
    Revoke {
        /// The key's id (from `outpost key list`).
        id: i64,
    },
}

#[derive(Debug, Subcommand)]
enum UserAction {
    /// Add a user. The password is read from standard input (first line), so it never shows in
    /// the process list or the shell history: `outpost user add alice --role admin < pw.txt`;
    /// on a terminal it is asked for without echo.
    Add {
        /// Login name.
        name: String,
        /// admin (everything), operator (send, inbox, reports) or viewer (read only).
        #[arg(long, default_value = "admin")]
        role: store::Role,
    },
    /// List users.
    List,
}

fn load(path: &std::path::Path) -> anyhow::Result<outpost::config::Config> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    RawConfig::parse(&text)
        .and_then(|raw| raw.validate())
        .map_err(|errs| anyhow::anyhow!("{}: invalid configuration:\n{errs}", path.display()))
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(filter))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn prometheus() -> Option<metrics_exporter_prometheus::PrometheusHandle> {
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .ok()
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn serve(config: PathBuf) -> anyhow::Result<()> {
    let config = load(&config)?;
    init_logging(&config.log);
    runtime()?.block_on(async {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("listening on {}", config.listen))?;
        let options = RunOptions {
            prometheus: prometheus(),
            ready: None,
        };
        service::run(config, listener, service::signal(), options).await
    })
}

fn keys(action: KeyAction, config: PathBuf, out: &mut dyn Write) -> anyhow::Result<()> {
    let config = load(&config)?;
    runtime()?.block_on(async {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating {}", config.data_dir.display()))?;
        let db = config.data_dir.join("outpost.db");
        let store = store::Store::open(&db, store::StoreOptions::default())
            .with_context(|| format!("opening {}", db.display()))?;
        match action {
            KeyAction::Add { name } => {
                let k = store
                    .create_api_key(name, domain::UnixMillis::now())
                    .await?;
                writeln!(out, "id {}: {} ({})", k.key.id, k.key.name, k.key.prefix)?;
                writeln!(out, "api key: {}", k.secret)?;
                writeln!(out, "(shown once; only its hash is stored)")?;
            }
            KeyAction::List => {
                for k in store.list_api_keys().await? {
                    let state = if k.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    };
                    writeln!(out, "{:>4}  {:<14} {:<8} {}", k.id, k.prefix, state, k.name)?;
                }
            }
            KeyAction::Revoke { id } => {
                if store
                    .revoke_api_key(domain::ApiKeyId(id), domain::UnixMillis::now())
                    .await?
                {
                    writeln!(out, "key {id} revoked")?;
                } else {
                    anyhow::bail!("no active key with id {id}");
                }
            }
        }
        Ok(())
    })
}

fn open_store(config: &outpost::config::Config) -> anyhow::Result<store::Store> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    let db = config.data_dir.join("outpost.db");
    store::Store::open(&db, store::StoreOptions::default())
        .with_context(|| format!("opening {}", db.display()))
}

/// The new user's password: the first line of standard input, asked for without echo on a
/// terminal.
fn read_password() -> anyhow::Result<String> {
    use std::io::IsTerminal;
    let line = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("password: ").context("reading the password")?;
        let again = rpassword::prompt_password("again: ").context("reading the password")?;
        anyhow::ensure!(first == again, "the passwords differ");
        first
    } else {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        line
    };
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn users(action: UserAction, config: PathBuf, out: &mut dyn Write) -> anyhow::Result<()> {
    let config = load(&config)?;
    runtime()?.block_on(async {
        let store = open_store(&config)?;
        match action {
            UserAction::Add { name, role } => {
                let password = read_password()?;
                let user = web::pages::password::add_user(&store, &name, role, &password).await?;
                store
                    .audit(store::NewAudit {
                        at: domain::UnixMillis::now(),
                        user: "cli".into(),
                        action: "user.create".into(),
                        target: Some(user.name.clone()),
                        detail: Some(format!("role {role}")),
                        ip: None,
                    })
                    .await?;
                writeln!(out, "user {} added ({})", user.name, user.role)?;
            }
            UserAction::List => {
                for u in store.list_users().await? {
                    let state = if u.disabled { "disabled" } else { "active" };
                    writeln!(out, "{:>4}  {:<9} {:<8} {}", u.id, u.role, state, u.name)?;
                }
            }
        }
        Ok(())
    })
}

fn backup(config: PathBuf, dest: PathBuf, out: &mut dyn Write) -> anyhow::Result<()> {
    let config = load(&config)?;
    runtime()?.block_on(async {
        let db = config.data_dir.join("outpost.db");
        let store = store::Store::open(&db, store::StoreOptions::default())?;
        store.backup(&dest).await?;
        writeln!(out, "backed up {} to {}", db.display(), dest.display())?;
        Ok(())
    })
}

fn main() -> ExitCode {
    // clap prints usage errors itself and exits with code 2.
    let cli = Cli::parse();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = match cli.command {
        Command::Run { config } => serve(config),
        Command::CheckConfig { config } => load(&config).and_then(|c| {
            writeln!(
                out,
                "{}: ok ({} modems, {} SMPP links)",
                config.display(),
                c.modems.len(),
                c.smpp.len()
            )
            .map_err(Into::into)
        }),
        Command::Demo(args) => {
            init_logging("info,outpost=info");
            runtime().and_then(|rt| {
                rt.block_on(outpost::demo::run(
                    args,
                    service::signal(),
                    RunOptions {
                        prometheus: prometheus(),
                        ready: None,
                    },
                ))
            })
        }
        Command::Key { action, config } => keys(action, config, &mut out),
        Command::User { action, config } => users(action, config, &mut out),
        Command::Backup { config, dest } => backup(config, dest, &mut out),
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
