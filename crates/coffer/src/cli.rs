//! The command line: clap definitions for every `coffer` command. Vault's single-dash long flags
//! (`-dev`, `-format=json`) are rewritten to double-dash by [`normalize_args`] before parsing,
//! so both spellings work, and flags may come before or after positional arguments.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

use crate::output::Format;

/// Coffer: a secrets manager and credential vault, server and CLI in one binary.
#[derive(Debug, Parser)]
#[command(name = "coffer", version, about, long_about = None, disable_help_subcommand = true)]
pub(crate) struct Cli {
    /// Options for talking to a server.
    #[command(flatten)]
    pub(crate) client: ClientArgs,
    /// The command.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Options shared by every command that talks to a server.
#[derive(Debug, Clone, Args)]
pub(crate) struct ClientArgs {
    /// Server address [env: COFFER_ADDR, VAULT_ADDR] (default http://127.0.0.1:8200).
    #[arg(long, global = true)]
    pub(crate) address: Option<String>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Table)]
    pub(crate) format: Format,
    /// PEM CA certificate to trust [env: COFFER_CACERT, VAULT_CACERT].
    #[arg(long = "ca-cert", global = true)]
    pub(crate) ca_cert: Option<PathBuf>,
    /// Do not verify the server's TLS certificate (testing only) [env: COFFER_SKIP_VERIFY].
    #[arg(long = "tls-skip-verify", global = true)]
    pub(crate) tls_skip_verify: bool,
}

/// Every command.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the server.
    Server(ServerArgs),
    /// Show the seal status of the server.
    Status,
    /// Operator commands: init, unseal, seal, rotate.
    #[command(subcommand)]
    Operator(OperatorCommand),
    /// Create, look up, renew and revoke tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Authenticate with a token and store it for later commands.
    Login(LoginArgs),
}

/// Storage for dev mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DevStorage {
    /// Memory only.
    Inmem,
    /// A temporary SQLite file, removed at exit.
    Sqlite,
}

/// `coffer server`.
#[derive(Debug, Args)]
pub(crate) struct ServerArgs {
    /// HCL configuration file.
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// Development mode: unsealed, in memory, root token printed. Never in production.
    #[arg(long)]
    pub(crate) dev: bool,
    /// Dev mode: use this root token id.
    #[arg(long = "dev-root-token-id", env = "COFFER_DEV_ROOT_TOKEN_ID")]
    pub(crate) dev_root_token_id: Option<String>,
    /// Dev mode: listen address.
    #[arg(
        long = "dev-listen-address",
        default_value = "127.0.0.1:8200",
        env = "COFFER_DEV_LISTEN_ADDRESS"
    )]
    pub(crate) dev_listen_address: String,
    /// Dev mode: storage.
    #[arg(long = "dev-storage", value_enum, default_value_t = DevStorage::Inmem)]
    pub(crate) dev_storage: DevStorage,
    /// Log level (overrides the config file).
    #[arg(long = "log-level")]
    pub(crate) log_level: Option<String>,
}

/// `coffer operator …`.
#[derive(Debug, Subcommand)]
pub(crate) enum OperatorCommand {
    /// Initialize a new server: create the root key, its shares and the root token.
    Init {
        /// Number of unseal key shares.
        #[arg(long = "key-shares", default_value_t = 5)]
        key_shares: u64,
        /// Shares needed to unseal.
        #[arg(long = "key-threshold", default_value_t = 3)]
        key_threshold: u64,
    },
    /// Provide one unseal key share (prompted for when not given).
    Unseal {
        /// The share (hex or base64); `-` reads it from stdin.
        key: Option<String>,
        /// Forget the shares given so far.
        #[arg(long)]
        reset: bool,
    },
    /// Seal the server.
    Seal,
    /// Rotate the barrier encryption key (a new keyring term).
    Rotate,
    /// Show the current keyring term.
    #[command(name = "key-status")]
    KeyStatus,
}

/// `coffer token …`.
#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Create a token.
    Create(TokenCreateArgs),
    /// Look up a token (your own when none is given).
    Lookup {
        /// The token, or an accessor with -accessor.
        token: Option<String>,
        /// Treat the argument as an accessor.
        #[arg(long)]
        accessor: bool,
        /// Print only this field.
        #[arg(long)]
        field: Option<String>,
    },
    /// Renew a token (your own when none is given).
    Renew {
        /// The token.
        token: Option<String>,
        /// Requested new TTL, e.g. 30m.
        #[arg(long)]
        increment: Option<String>,
    },
    /// Revoke a token and its children.
    Revoke {
        /// The token, or an accessor with -accessor.
        token: Option<String>,
        /// Revoke the token in use.
        #[arg(long = "self")]
        self_: bool,
        /// Treat the argument as an accessor.
        #[arg(long)]
        accessor: bool,
        /// `orphan` keeps the children (needs sudo).
        #[arg(long)]
        mode: Option<String>,
    },
}

/// `coffer token create`.
#[derive(Debug, Args)]
pub(crate) struct TokenCreateArgs {
    /// Policy to attach (repeatable).
    #[arg(long = "policy")]
    pub(crate) policies: Vec<String>,
    /// TTL, e.g. 1h.
    #[arg(long)]
    pub(crate) ttl: Option<String>,
    /// Hard maximum lifetime.
    #[arg(long = "explicit-max-ttl")]
    pub(crate) explicit_max_ttl: Option<String>,
    /// Make a periodic token with this period.
    #[arg(long)]
    pub(crate) period: Option<String>,
    /// Display name.
    #[arg(long = "display-name")]
    pub(crate) display_name: Option<String>,
    /// Metadata `key=value` (repeatable).
    #[arg(long = "metadata")]
    pub(crate) metadata: Vec<String>,
    /// Create a token with no parent (needs sudo).
    #[arg(long)]
    pub(crate) orphan: bool,
    /// Do not attach the default policy.
    #[arg(long = "no-default-policy")]
    pub(crate) no_default_policy: bool,
    /// Whether the token can be renewed.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_value_t = true, default_missing_value = "true")]
    pub(crate) renewable: bool,
    /// Number of uses before the token is revoked (0 = unlimited).
    #[arg(long = "use-limit")]
    pub(crate) use_limit: Option<u32>,
    /// Print only this field (e.g. token).
    #[arg(long)]
    pub(crate) field: Option<String>,
}

/// `coffer login`.
#[derive(Debug, Args)]
pub(crate) struct LoginArgs {
    /// The token; `-` reads it from stdin; prompted for when omitted.
    pub(crate) token: Option<String>,
    /// Do not store the token.
    #[arg(long = "no-store")]
    pub(crate) no_store: bool,
}

/// Rewrites Vault-style single-dash long flags (`-format=json`, `-dev`) to `--format=json`,
/// `--dev`. Single letters (`-h`), a lone `-` (stdin) and everything after `--` are untouched.
pub(crate) fn normalize_args(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut passthrough = false;
    for arg in args {
        if passthrough {
            out.push(arg);
            continue;
        }
        let rewritten = match arg.to_str() {
            Some("--") => {
                passthrough = true;
                None
            }
            Some(text) if is_single_dash_long_flag(text) => {
                Some(OsString::from(format!("-{text}")))
            }
            _ => None,
        };
        out.push(rewritten.unwrap_or(arg));
    }
    out
}

fn is_single_dash_long_flag(text: &str) -> bool {
    let Some(rest) = text.strip_prefix('-') else {
        return false;
    };
    if rest.starts_with('-') {
        return false;
    }
    let name = rest.split('=').next().unwrap_or("");
    name.len() > 1 && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &[&str], expect: &[&str]) {
        let got: Vec<String> = normalize_args(input.iter().map(OsString::from))
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(got, expect);
    }

    #[test]
    fn single_dash_flags() {
        check(
            &["coffer", "server", "-dev"],
            &["coffer", "server", "--dev"],
        );
        check(
            &["coffer", "status", "-format=json"],
            &["coffer", "status", "--format=json"],
        );
        check(
            &["coffer", "token", "create", "-ttl", "1h"],
            &["coffer", "token", "create", "--ttl", "1h"],
        );
        check(&["coffer", "login", "-"], &["coffer", "login", "-"]);
        check(&["coffer", "-h"], &["coffer", "-h"]);
        check(&["coffer", "--dev"], &["coffer", "--dev"]);
        check(
            &["coffer", "x", "--", "-dev"],
            &["coffer", "x", "--", "-dev"],
        );
        check(&["coffer", "-5m"], &["coffer", "-5m"]);
    }

    #[test]
    fn flags_after_positionals() {
        let args = normalize_args(
            ["coffer", "token", "lookup", "s.abc", "-format=json"].map(OsString::from),
        );
        let cli = Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cli.client.format, Format::Json);
        match cli.command {
            Command::Token(TokenCommand::Lookup { token, .. }) => {
                assert_eq!(token.as_deref(), Some("s.abc"))
            }
            other => panic!("parsed {other:?}"),
        }
    }
}
