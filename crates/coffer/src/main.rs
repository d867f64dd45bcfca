//! The `coffer` binary: one executable that is both the server (`coffer server`) and its CLI.
//! It parses arguments (Vault's single-dash flags too), dispatches, prints, and maps errors to
//! exit codes in one place: 0 success, 1 local or usage error, 2 API error or sealed server.

mod cli;
mod commands;
mod config;
mod connection;
mod output;
mod server;
mod transfer;

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser as _;

use crate::cli::{Cli, Command, DevStorage, OperatorCommand, ServerArgs, TokenCommand};
use crate::commands::Outcome;
use crate::config::{ListenerConfig, ServerConfig, StorageConfig};

fn main() -> ExitCode {
    let args = cli::normalize_args(std::env::args_os());
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            let code = if error.use_stderr() { 1 } else { 0 };
            let _ = error.print();
            return ExitCode::from(code);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("Error: cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Sealed | Outcome::Failure) => ExitCode::from(2),
        Ok(Outcome::Exit(code)) => ExitCode::from(code),
        Err(error) => {
            eprintln!("Error: {error:#}");
            ExitCode::from(exit_code(&error))
        }
    }
}

fn exit_code(error: &anyhow::Error) -> u8 {
    let api = error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<coffer_client::Error>(),
            Some(coffer_client::Error::Api { .. })
        )
    });
    if api { 2 } else { 1 }
}

async fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let format = cli.client.format;
    match cli.command {
        Command::Server(args) => {
            run_server(args).await?;
            Ok(Outcome::Success)
        }
        Command::Status => {
            commands::operator::status(&connection::client(&cli.client)?, format).await
        }
        Command::Operator(OperatorCommand::Migrate(args)) => commands::migrate::run(args).await,
        Command::Operator(command) => {
            let client = connection::client(&cli.client)?;
            match command {
                OperatorCommand::Init {
                    key_shares,
                    key_threshold,
                } => commands::operator::init(&client, format, key_shares, key_threshold).await,
                OperatorCommand::Unseal { key, reset } => {
                    commands::operator::unseal(&client, format, key, reset).await
                }
                OperatorCommand::Seal => commands::operator::seal(&client).await,
                OperatorCommand::Rotate => commands::operator::rotate(&client, format).await,
                OperatorCommand::KeyStatus => commands::operator::key_status(&client, format).await,
                OperatorCommand::Migrate(args) => commands::migrate::run(args).await,
            }
        }
        Command::Token(command) => {
            let client = connection::client(&cli.client)?;
            match command {
                TokenCommand::Create(args) => commands::token::create(&client, format, args).await,
                TokenCommand::Lookup {
                    token,
                    accessor,
                    field,
                } => commands::token::lookup(&client, format, token, accessor, field).await,
                TokenCommand::Renew { token, increment } => {
                    commands::token::renew(&client, format, token, increment).await
                }
                TokenCommand::Revoke {
                    token,
                    self_,
                    accessor,
                    mode,
                } => commands::token::revoke(&client, token, self_, accessor, mode).await,
            }
        }
        Command::Login(args) => {
            commands::token::login(&connection::client(&cli.client)?, format, args).await
        }
        Command::Secrets(command) => {
            commands::secrets::run(&connection::client(&cli.client)?, format, command).await
        }
        Command::Kv(command) => {
            commands::kv::run(&connection::client(&cli.client)?, format, command).await
        }
        Command::Policy(command) => {
            commands::policy::run(&connection::client(&cli.client)?, format, command).await
        }
        Command::Auth(command) => {
            commands::auth::run(&connection::client(&cli.client)?, format, command).await
        }
        Command::Read(args) => {
            commands::generic::read_command(&connection::client(&cli.client)?, format, args).await
        }
        Command::Write(args) => {
            commands::generic::write_command(&connection::client(&cli.client)?, format, args).await
        }
        Command::List { path } => {
            commands::generic::list_command(&connection::client(&cli.client)?, format, &path).await
        }
        Command::Delete { path } => {
            commands::generic::delete_command(&connection::client(&cli.client)?, &path).await
        }
        Command::Access(command) => {
            commands::access::run(&connection::client(&cli.client)?, format, command).await
        }
        Command::Audit(command) => commands::audit::run(&cli.client, format, command).await,
        Command::Credentials(command) => {
            commands::credentials::run(&connection::client(&cli.client)?, format, command).await
        }
        Command::Lease(command) => {
            commands::lease::run(&connection::client(&cli.client)?, format, command).await
        }
        Command::Run(args) => commands::run::run(&cli.client, args).await,
        Command::Inject(args) => commands::inject::run(&cli.client, args).await,
        Command::Namespace(command) => {
            commands::namespace::run(&connection::client(&cli.client)?, format, command).await
        }
    }
}

async fn run_server(args: ServerArgs) -> anyhow::Result<()> {
    let mut temp_dir = None;
    let (config, dev) = if args.dev {
        let storage = match args.dev_storage {
            DevStorage::Inmem => StorageConfig::Memory,
            DevStorage::Sqlite => {
                let dir = tempfile::tempdir()
                    .context("creating a temporary directory for dev storage")?;
                let path = dir.path().join("coffer-dev.db");
                temp_dir = Some(dir);
                StorageConfig::Sqlite { path }
            }
        };
        let mut config = ServerConfig {
            storage,
            listener: ListenerConfig {
                address: args.dev_listen_address.clone(),
                tls: None,
            },
            api_addr: None,
            cluster_addr: None,
            log_level: "info".into(),
            log_format: "standard".into(),
            auto_unseal: None,
            audit: Vec::new(),
            disable_cache: false,
        };
        config.apply_env(|name| {
            std::env::var(name)
                .ok()
                .filter(|_| name == "COFFER_LOG_LEVEL" || name == "COFFER_LOG_FORMAT")
        })?;
        (
            config,
            Some(server::DevOptions {
                root_token_id: args.dev_root_token_id.clone(),
            }),
        )
    } else {
        let path = args
            .config
            .as_ref()
            .context("coffer server needs -config=FILE (or -dev for a development server)")?;
        (ServerConfig::load(path)?, None)
    };
    let level = args
        .log_level
        .clone()
        .unwrap_or_else(|| config.log_level.clone());
    init_logging(&level, &config.log_format);
    let result = server::run(config, dev).await;
    drop(temp_dir);
    result
}

/// Logs at `level` (an unknown level logs at `info`), with the chatty dependencies at `warn`.
///
/// A plain target filter, not `EnvFilter`: that one compiles a regular expression to parse its
/// directives, which costs a server a few hundred KiB of resident code for nothing.
fn init_logging(level: &str, format: &str) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;

    let level = level.parse::<LevelFilter>().unwrap_or(LevelFilter::INFO);
    let quiet = ["hyper", "h2", "rustls", "tokio_postgres"];
    let filter = Targets::new()
        .with_default(level)
        .with_targets(quiet.map(|target| (target, LevelFilter::WARN)));
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false);
    let registry = tracing_subscriber::registry().with(filter);
    if format == "json" {
        registry.with(layer.json()).init();
    } else {
        registry
            .with(layer.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())))
            .init();
    }
}
