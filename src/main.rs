//! The `notarium` command: server, admin commands, offline verifier.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use notarium::api::orgs::{NewOrg, RevokeRequest};
use notarium::app;
use notarium::config::Config;
use notarium::store::orgs::Role;

#[derive(Parser)]
#[command(
    name = "notarium",
    version,
    about = "Notarization server for e-invoices and e-contracts"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (a private PostgreSQL under the data directory when DATABASE_URL is unset).
    Serve,
    /// Run a witness for a log (configured by NOTARIUM_WITNESS_* variables; see the README).
    Witness,
    /// The whole story on the embedded default: orgs, invoices, a receipt checked offline.
    Demo {
        /// Exit after the story instead of serving until Ctrl-C.
        #[arg(long)]
        exit: bool,
    },
    /// Verify an evidence bundle offline (exit 0 verified, 1 tampered, 2 cannot check).
    Verify(notarium::evidence::cli::VerifyArgs),
    /// Download an org's evidence bundles (auditor, court) and verify each (exit 0 all verified).
    Export(notarium::api::export_client::ExportArgs),
    /// Administration: organisations, CA, log.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Load test a server (or a fresh one with --spawn) and compare with baselines.
    Loadtest(Box<notarium::loadtest::Options>),
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Organisations.
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// The notary CA.
    Ca {
        #[command(subcommand)]
        command: CaCommand,
    },
    /// The Merkle log.
    Log {
        #[command(subcommand)]
        command: LogCommand,
    },
}

#[derive(Subcommand)]
enum LogCommand {
    /// Print the log's checkpoint verifier key (C2SP vkey).
    Key,
    /// Recompute the tree from the stored entries; check every checkpoint and tile.
    Verify,
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Register an organisation; prints its id and API key (shown once).
    Add {
        /// Legal name.
        name: String,
        /// issuer | court | auditor | witness.
        #[arg(long, default_value = "issuer")]
        role: Role,
        /// USCC or VAT id.
        #[arg(long)]
        tax_id: Option<String>,
    },
    /// List organisations.
    List,
    /// Replace an organisation's API key; the old one stops working.
    RotateKey {
        /// Organisation id.
        org: uuid::Uuid,
    },
    /// Revoke an organisation's certificates (from a time on) and, with --keys, its API keys.
    Revoke {
        /// Organisation id.
        org: uuid::Uuid,
        /// RFC 3339 time from which the certificates are revoked (default: now).
        #[arg(long)]
        from: Option<String>,
        /// Reason kept with the revocation.
        #[arg(long)]
        reason: Option<String>,
        /// Also revoke the API keys.
        #[arg(long)]
        keys: bool,
    },
}

#[derive(Subcommand)]
enum CaCommand {
    /// Write the root and issuing CA certificates (PEM) to a file or stdout.
    Export {
        /// Output file (default: stdout).
        #[arg(long, short)]
        out: Option<PathBuf>,
        /// Only the root certificate.
        #[arg(long)]
        root_only: bool,
    },
}

fn main() -> ExitCode {
    // The isolated PDF inspector: this binary re-run by the server, before clap (the
    // subcommand is hidden), logging or any runtime start (it must stay small and quick).
    if std::env::args_os().nth(1).as_deref()
        == Some(std::ffi::OsStr::new(
            notarium::documents::contract::INSPECTOR_SUBCOMMAND,
        ))
    {
        let code = notarium::documents::contract::run_inspector_child();
        return ExitCode::from(u8::try_from(code).unwrap_or(2));
    }
    let cli = Cli::parse();
    if let Command::Verify(args) = &cli.command {
        return notarium::evidence::cli::main(args);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,deadpool.postgres=error")
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<ExitCode, Box<dyn std::error::Error>> {
    match command {
        Command::Serve => {
            let config = Config::load()?;
            let state = app::open(config).await?;
            app::serve(state).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Witness => {
            let node = notarium::witness::open(notarium::witness::WitnessConfig::load()?).await?;
            notarium::witness::serve(node).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Admin { command } => admin(command).await,
        Command::Demo { exit } => demo(exit).await,
        Command::Verify(args) => Ok(notarium::evidence::cli::main(&args)),
        Command::Loadtest(opts) => Ok(notarium::loadtest::main(*opts).await?),
        Command::Export(args) => Ok(notarium::api::export_client::main(&args).await),
    }
}

async fn demo(exit: bool) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let config = Config::load()?;
    println!("notarium demo: data under {}", config.data_dir.display());
    let state = app::open(config).await?;
    // The demo calls the API as the operator would, with the admin key (from config, or the
    // file the first start generated).
    let admin_key = match &state.config.admin_key {
        Some(k) => k.clone(),
        None => std::fs::read_to_string(state.config.data_dir.join("admin.key"))?
            .trim()
            .to_string(),
    };
    let listener = tokio::net::TcpListener::bind(state.config.listen).await?;
    let base = format!("http://{}", listener.local_addr()?);
    println!("server listening on {base}");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app::serve_on(state.clone(), listener, async move {
        tokio::select! {
            _ = stop_rx => {},
            _ = app::shutdown_signal() => {},
        }
    }));
    // Let the sequencer take its lock before the first submission.
    for _ in 0..100 {
        if state.sequencer.is_leader() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let result = notarium::demo::run_story(&state, &base, &admin_key).await;
    match &result {
        Ok(()) => println!("\nThe story is complete: every step passed."),
        Err(e) => eprintln!("\ndemo failed: {e}"),
    }
    if exit || result.is_err() {
        let _ = stop_tx.send(());
    } else {
        println!("Serving until Ctrl-C.");
    }
    drop(state);
    server.await??;
    Ok(if result.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn admin(command: AdminCommand) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let config = Config::load()?;
    let state = app::open(config).await?;
    let result = admin_with(&state, command).await;
    app::close(state).await;
    result
}

async fn admin_with(
    state: &notarium::api::AppState,
    command: AdminCommand,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    match command {
        AdminCommand::Org { command } => match command {
            OrgCommand::Add { name, role, tax_id } => {
                let (org, key) =
                    notarium::api::orgs::register(state, NewOrg { name, role, tax_id }).await?;
                println!("org_id  {}", org.id);
                println!("api_key {key}");
                if let Some(w) = org.tax_id_warning {
                    println!("warning {w}");
                }
                eprintln!("The API key is shown only now; store it safely.");
            }
            OrgCommand::List => {
                let conn = state.store.conn().await?;
                for o in notarium::store::orgs::list_orgs(&**conn).await? {
                    println!(
                        "{}\t{}\t{}\t{}",
                        o.id,
                        o.role.as_str(),
                        o.tax_id.as_deref().unwrap_or("-"),
                        o.name
                    );
                }
            }
            OrgCommand::RotateKey { org } => {
                let key = notarium::api::orgs::rotate(state, org).await?;
                println!("api_key {key}");
            }
            OrgCommand::Revoke {
                org,
                from,
                reason,
                keys,
            } => {
                let from = from
                    .map(|f| {
                        time::OffsetDateTime::parse(
                            &f,
                            &time::format_description::well_known::Rfc3339,
                        )
                    })
                    .transpose()
                    .map_err(|e| format!("--from must be an RFC 3339 time: {e}"))?;
                let out = notarium::api::orgs::revoke_org(
                    state,
                    org,
                    RevokeRequest { from, reason, keys },
                )
                .await?;
                println!("{out}");
            }
        },
        AdminCommand::Log { command } => match command {
            LogCommand::Key => println!("{}", state.log_vkey),
            LogCommand::Verify => {
                let verifier = notarium::ledger::Ed25519Verifier::from_vkey(&state.log_vkey)
                    .map_err(|e| format!("log key: {e}"))?;
                let report = notarium::notary::log_verify::verify_log(
                    &state.store,
                    &state.config.log_origin,
                    &verifier,
                )
                .await?;
                println!(
                    "entries recomputed: {}\ncheckpoints checked: {}\ntiles compared: {}",
                    report.entries, report.checkpoints, report.tiles
                );
                for p in &report.problems {
                    println!("MISMATCH {p}");
                }
                if report.ok() {
                    println!("log verifies");
                } else {
                    println!("log does NOT verify: {} problem(s)", report.problems.len());
                    return Ok(ExitCode::from(1));
                }
            }
        },
        AdminCommand::Ca { command } => match command {
            CaCommand::Export { out, root_only } => {
                let pem = if root_only {
                    notarium::identity::pki::pem_cert(&state.pki.root.cert_der)
                } else {
                    state.pki.chain_pem()
                };
                match out {
                    Some(path) => std::fs::write(&path, pem)?,
                    None => print!("{pem}"),
                }
            }
        },
    }
    Ok(ExitCode::SUCCESS)
}
