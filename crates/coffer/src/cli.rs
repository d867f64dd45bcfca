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
    /// Namespace to send requests to, e.g. `acme` or `acme/team1` [env: COFFER_NAMESPACE,
    /// VAULT_NAMESPACE].
    #[arg(long, global = true)]
    pub(crate) namespace: Option<String>,
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
    /// Authenticate (with a token, userpass or approle) and store the token for later commands.
    Login(LoginArgs),
    /// Write, read, list, delete and format ACL policies.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Enable, disable and list auth methods.
    #[command(subcommand)]
    Auth(AuthCommand),
    /// Read any API path, e.g. `sys/policies/acl/default`.
    Read(ReadArgs),
    /// Write `key=value` data (or a JSON object on stdin) to any API path.
    Write(WriteArgs),
    /// List the keys under any API path.
    List {
        /// The path, e.g. `secret/metadata/app` or `sys/policies/acl`.
        path: String,
    },
    /// Delete any API path.
    Delete {
        /// The path, e.g. `secret/data/app/db`.
        path: String,
    },
    /// Role-based access to KV secrets: compile a JSON access file into per-group policies.
    #[command(subcommand)]
    Access(AccessCommand),
    /// Audit devices, the hash-chain verifier and audit log queries.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Manage secrets engines: list, enable, disable, tune.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Read and write key/value secrets (KV v1 and v2 mounts).
    #[command(subcommand)]
    Kv(KvCommand),
    /// Typed credentials (API keys, OAuth tokens, SSH keys, certificates, database URLs,
    /// generic secrets): create, inspect, rotate, revoke, and the lease policy.
    #[command(subcommand)]
    Credentials(CredentialsCommand),
    /// Leases on credentials: take one (with the value), read, renew, revoke, list, and end
    /// every lease of an identity at once.
    #[command(subcommand)]
    Lease(LeaseCommand),
    /// Create, list, look up and delete namespaces (tenants) below the current namespace.
    #[command(subcommand)]
    Namespace(NamespaceCommand),
    /// Run a command with secrets as environment variables (`coffer run -- CMD ARGS`).
    Run(crate::commands::run::RunArgs),
    /// Render a template's `coffer://mount/path#field` references into a file (mode 0600).
    Inject(crate::commands::inject::InjectArgs),
}

/// `coffer namespace …`, like `bao namespace …`.
#[derive(Debug, Subcommand)]
pub(crate) enum NamespaceCommand {
    /// Create a namespace (or set an existing one's custom metadata).
    Create {
        /// Custom metadata as `key=value`; repeatable.
        #[arg(long = "custom-metadata")]
        custom_metadata: Vec<String>,
        /// The name, e.g. `acme` (nested ones are created with `-namespace=PARENT`).
        name: String,
    },
    /// List the namespaces directly below the current one.
    List,
    /// Show one namespace: id, path and custom metadata.
    Lookup {
        /// The name, e.g. `acme`.
        name: String,
    },
    /// Delete a namespace with everything stored in it (refused while it has children).
    Delete {
        /// The name, e.g. `acme`.
        name: String,
    },
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
    /// Copy every stored record to another storage backend (SQLite <-> PostgreSQL), verified
    /// and resumable. Stop the server first.
    Migrate(MigrateArgs),
}

/// `coffer operator migrate`: the two stores come from two server config files (`-from`,
/// `-to`) or from one file with `storage_source` and `storage_destination` blocks (`-config`).
#[derive(Debug, Args)]
pub(crate) struct MigrateArgs {
    /// A file with `storage_source "…" {}` and `storage_destination "…" {}` blocks.
    #[arg(long, conflicts_with_all = ["from", "to"], required_unless_present_all = ["from", "to"])]
    pub(crate) config: Option<PathBuf>,
    /// The server config file whose `storage` block is the source.
    #[arg(long, requires = "to")]
    pub(crate) from: Option<PathBuf>,
    /// The config file whose `storage` block is the destination.
    #[arg(long, requires = "from")]
    pub(crate) to: Option<PathBuf>,
    /// Copy only keys at or after this one.
    #[arg(long)]
    pub(crate) start: Option<String>,
    /// Erase the destination first (a non-empty destination is refused otherwise).
    #[arg(long, alias = "force")]
    pub(crate) reset: bool,
    /// Records per transaction.
    #[arg(long = "batch-size", default_value_t = 500, hide = true)]
    pub(crate) batch_size: usize,
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

/// How `coffer login` authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LoginMethod {
    /// An existing token.
    Token,
    /// A username and password (`username=… password=…`).
    Userpass,
    /// An AppRole role ID and secret ID (`role_id=… secret_id=…`).
    Approle,
}

impl LoginMethod {
    /// The method's name, which is also its default mount path.
    pub(crate) fn name(self) -> &'static str {
        match self {
            LoginMethod::Token => "token",
            LoginMethod::Userpass => "userpass",
            LoginMethod::Approle => "approle",
        }
    }
}

/// `coffer login`.
#[derive(Debug, Args)]
pub(crate) struct LoginArgs {
    /// With -method=token: the token (`-` reads it from stdin; prompted for when omitted).
    /// Otherwise `key=value` credentials, e.g. `username=alice` (the password is prompted for,
    /// or read from stdin, when omitted).
    pub(crate) args: Vec<String>,
    /// The auth method.
    #[arg(long, value_enum, default_value_t = LoginMethod::Token)]
    pub(crate) method: LoginMethod,
    /// The auth method's mount path (default: the method's name).
    #[arg(long)]
    pub(crate) path: Option<String>,
    /// Do not store the token.
    #[arg(long = "no-store")]
    pub(crate) no_store: bool,
    /// Print only this field (e.g. token).
    #[arg(long)]
    pub(crate) field: Option<String>,
}

/// `coffer policy …`.
#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCommand {
    /// Upload a policy from a file (`-` reads stdin).
    Write {
        /// The policy's name.
        name: String,
        /// The HCL or JSON policy file, or `-` for stdin.
        file: String,
    },
    /// Print a policy's text.
    Read {
        /// The policy's name.
        name: String,
    },
    /// List the policy names.
    List,
    /// Delete a policy.
    Delete {
        /// The policy's name.
        name: String,
    },
    /// Check a local policy file and rewrite it in canonical form.
    Fmt {
        /// The HCL or JSON policy file.
        file: PathBuf,
    },
}

/// `coffer auth …`.
#[derive(Debug, Subcommand)]
pub(crate) enum AuthCommand {
    /// Enable an auth method (`userpass`, `approle`, …) at a path.
    Enable(AuthEnableArgs),
    /// Disable the auth method at a path, revoking its tokens.
    Disable {
        /// The mount path, e.g. `userpass`.
        path: String,
    },
    /// List the enabled auth methods.
    List,
}

/// `coffer auth enable`.
#[derive(Debug, Args)]
pub(crate) struct AuthEnableArgs {
    /// The method type, e.g. `userpass`.
    pub(crate) method: String,
    /// Where to mount it under `auth/` (default: the method type).
    #[arg(long)]
    pub(crate) path: Option<String>,
    /// A human-friendly description.
    #[arg(long)]
    pub(crate) description: Option<String>,
}

/// `coffer read`.
#[derive(Debug, Args)]
pub(crate) struct ReadArgs {
    /// The path, e.g. `secret/data/app/db`.
    pub(crate) path: String,
    /// Print only this field.
    #[arg(long)]
    pub(crate) field: Option<String>,
}

/// `coffer write`.
#[derive(Debug, Args)]
pub(crate) struct WriteArgs {
    /// The path, e.g. `sys/policies/acl/app`.
    pub(crate) path: String,
    /// `key=value`, `key=@file`, `key=-` (stdin), or `-` alone for a JSON object on stdin.
    pub(crate) data: Vec<String>,
    /// Write even with no data.
    #[arg(long, short = 'f')]
    pub(crate) force: bool,
    /// Print only this field of the reply.
    #[arg(long)]
    pub(crate) field: Option<String>,
}

/// `coffer access …`.
#[derive(Debug, Subcommand)]
pub(crate) enum AccessCommand {
    /// Compile a role-based access file into one `access-<group>` policy per group, attach
    /// each to its identity group, and retire the policies of groups no longer named.
    Apply {
        /// The JSON access file: `{"secrets": {"<glob>": {"read": ["<group>", …], …}}}`.
        file: PathBuf,
        /// The KV v2 mount the globs are relative to.
        #[arg(long, default_value = "secret")]
        mount: String,
    },
    /// Show the rules of every `access-*` policy: path, group, capabilities.
    Show {
        /// Show only paths under this mount.
        #[arg(long, default_value = "secret")]
        mount: String,
    },
}

/// `coffer secrets …`.
#[derive(Debug, Subcommand)]
pub(crate) enum SecretsCommand {
    /// List the enabled secrets engines.
    List {
        /// Show every column: TTLs, options, replication, UUID, versions.
        #[arg(long)]
        detailed: bool,
    },
    /// Enable a secrets engine (`kv`, `kv-v2`, …) at a path.
    Enable(SecretsEnableArgs),
    /// Disable the secrets engine at a path, deleting its data.
    Disable {
        /// The mount path, e.g. `kv2`.
        path: String,
    },
    /// Change a mount's description, lease TTLs or options.
    Tune(SecretsTuneArgs),
    /// Give one user or agent time-limited access to a secret (`secrets:grant-access`).
    #[command(name = "grant-access", alias = "grant")]
    GrantAccess(GrantAccessArgs),
    /// List the live time-limited grants.
    Grants,
    /// Revoke a time-limited grant by id.
    #[command(name = "revoke-grant")]
    RevokeGrant {
        /// The grant id.
        id: String,
    },
    /// Named secrets: create, update, get, list-secrets, versions, diff, rollback, delete.
    #[command(flatten)]
    Store(crate::commands::secrets_store::StoreCommand),
    /// Export named secrets to a dotenv, JSON or YAML file, optionally encrypted.
    Export(crate::commands::transfer::ExportArgs),
    /// Import named secrets from a file; refuses existing secrets unless -overwrite.
    Import(crate::commands::transfer::ImportArgs),
}

/// `coffer audit …`.
#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Enable an audit device: `coffer audit enable file file_path=/var/log/coffer/audit.log`.
    Enable {
        /// Device type: `file` or `socket`.
        kind: String,
        /// Device options `key=value` (file_path, mode, address, socket_type, hmac_accessor).
        options: Vec<String>,
        /// Where to enable it (default: the type).
        #[arg(long)]
        path: Option<String>,
        /// A human-friendly description.
        #[arg(long)]
        description: Option<String>,
    },
    /// Disable an audit device.
    Disable {
        /// The device path, e.g. `file`.
        path: String,
    },
    /// List the audit devices.
    List,
    /// The HMAC a device writes for a value, to search the log for it.
    Hash {
        /// The device path.
        device: String,
        /// The value.
        input: String,
    },
    /// Check a hash-chained audit file; names the first modified, removed, inserted or reordered record.
    Verify {
        /// The audit log file.
        file: std::path::PathBuf,
    },
    /// Query the audit log: who did what to which path, when.
    Logs(AuditLogsArgs),
}

/// `coffer audit logs`.
#[derive(Debug, Args)]
pub(crate) struct AuditLogsArgs {
    /// secrets, credentials, leases or auth.
    #[arg(long)]
    pub(crate) resource: Option<String>,
    /// read (or accessed), write, delete, lease, rotate, login or denied.
    #[arg(long)]
    pub(crate) action: Option<String>,
    /// Who: `user:alice`, `agent:NAME`.
    #[arg(long)]
    pub(crate) actor: Option<String>,
    /// A path glob, e.g. `secret/data/prod/*`.
    #[arg(long)]
    pub(crate) path: Option<String>,
    /// From: a duration ago (`24h`) or an RFC 3339 time.
    #[arg(long)]
    pub(crate) since: Option<String>,
    /// Until: a duration ago or an RFC 3339 time.
    #[arg(long)]
    pub(crate) until: Option<String>,
    /// success or failure.
    #[arg(long)]
    pub(crate) result: Option<String>,
    /// At most this many records (the newest).
    #[arg(long)]
    pub(crate) limit: Option<usize>,
    /// Which file device to read (default: the first).
    #[arg(long)]
    pub(crate) device: Option<String>,
}

/// `coffer secrets grant-access`.
#[derive(Debug, Args)]
pub(crate) struct GrantAccessArgs {
    /// The secret's name (its path below the KV v2 mount).
    pub(crate) name: String,
    /// The user to grant access to (e.g. an email address).
    #[arg(long, conflicts_with = "agent", required_unless_present = "agent")]
    pub(crate) user: Option<String>,
    /// The agent to grant access to.
    #[arg(long)]
    pub(crate) agent: Option<String>,
    /// How long the grant lasts, e.g. 1h, 30m, 7d.
    #[arg(long)]
    pub(crate) duration: String,
    /// Capabilities to grant (comma-separated or repeated): read, list, create, update, patch, delete.
    #[arg(long, value_delimiter = ',', default_value = "read")]
    pub(crate) capabilities: Vec<String>,
    /// The KV v2 mount holding the secret.
    #[arg(long, default_value = "secret")]
    pub(crate) mount: String,
}

/// `coffer secrets enable`.
#[derive(Debug, Args)]
pub(crate) struct SecretsEnableArgs {
    /// The engine type: `kv` (version 1 unless -version=2), `kv-v2`, …
    pub(crate) engine: String,
    /// Where to mount it (default: the engine type).
    #[arg(long)]
    pub(crate) path: Option<String>,
    /// A human-friendly description.
    #[arg(long)]
    pub(crate) description: Option<String>,
    /// KV version: 1 or 2.
    #[arg(long)]
    pub(crate) version: Option<u8>,
    /// Default lease TTL, e.g. 1h.
    #[arg(long = "default-lease-ttl")]
    pub(crate) default_lease_ttl: Option<String>,
    /// Maximum lease TTL, e.g. 24h.
    #[arg(long = "max-lease-ttl")]
    pub(crate) max_lease_ttl: Option<String>,
    /// Engine option `key=value` (repeatable).
    #[arg(long = "options")]
    pub(crate) options: Vec<String>,
    /// Keep the mount local to this cluster.
    #[arg(long)]
    pub(crate) local: bool,
    /// Seal-wrap the mount's storage.
    #[arg(long = "seal-wrap")]
    pub(crate) seal_wrap: bool,
}

/// `coffer secrets tune`.
#[derive(Debug, Args)]
pub(crate) struct SecretsTuneArgs {
    /// The mount path, e.g. `secret`.
    pub(crate) path: String,
    /// New description.
    #[arg(long)]
    pub(crate) description: Option<String>,
    /// Default lease TTL, e.g. 1h (`system` for the server default).
    #[arg(long = "default-lease-ttl")]
    pub(crate) default_lease_ttl: Option<String>,
    /// Maximum lease TTL, e.g. 24h (`system` for the server default).
    #[arg(long = "max-lease-ttl")]
    pub(crate) max_lease_ttl: Option<String>,
    /// Engine option `key=value` (repeatable), e.g. `version=2` to upgrade a KV v1 mount.
    #[arg(long = "options")]
    pub(crate) options: Vec<String>,
}

/// `coffer kv …`.
#[derive(Debug, Subcommand)]
pub(crate) enum KvCommand {
    /// Write a secret (a new version on KV v2), replacing all its keys.
    Put(KvPutArgs),
    /// Read a secret (the latest version, or -version=N).
    Get(KvGetArgs),
    /// List the keys under a path.
    List(KvListArgs),
    /// Change some keys of a KV v2 secret, keeping the others.
    Patch(KvPatchArgs),
    /// Delete the latest version (or -versions=…) of a secret; KV v2 can undelete it.
    Delete(KvDeleteArgs),
    /// Restore soft-deleted versions of a KV v2 secret.
    Undelete(KvVersionsArgs),
    /// Destroy versions of a KV v2 secret for good.
    Destroy(KvVersionsArgs),
    /// Write an older version's data again as the newest version (KV v2).
    Rollback(KvRollbackArgs),
    /// Read and write a KV v2 secret's metadata.
    #[command(subcommand)]
    Metadata(KvMetadataCommand),
}

/// The secret a KV command acts on: `secret/app/db`, or `-mount=secret app/db`.
#[derive(Debug, Args)]
pub(crate) struct KvPathArgs {
    /// The mount; without it the mount is found from the path.
    #[arg(long)]
    pub(crate) mount: Option<String>,
    /// The secret's path: `secret/app/db`, or `app/db` with -mount.
    pub(crate) path: String,
}

/// `coffer kv get`.
#[derive(Debug, Args)]
pub(crate) struct KvGetArgs {
    /// Which secret.
    #[command(flatten)]
    pub(crate) target: KvPathArgs,
    /// Read this version (KV v2; 0 means the latest).
    #[arg(long)]
    pub(crate) version: Option<u64>,
    /// Print only this key's value.
    #[arg(long)]
    pub(crate) field: Option<String>,
}

/// `coffer kv put`.
#[derive(Debug, Args)]
pub(crate) struct KvPutArgs {
    /// Which secret.
    #[command(flatten)]
    pub(crate) target: KvPathArgs,
    /// `key=value`, `key=@file`, `key=-` (stdin), or `-` alone for a JSON object on stdin.
    pub(crate) data: Vec<String>,
    /// Check-and-set: write only if the current version is this (0: only if absent).
    #[arg(long)]
    pub(crate) cas: Option<u64>,
    /// Print only this field of the reply.
    #[arg(long)]
    pub(crate) field: Option<String>,
}

/// `coffer kv patch`.
#[derive(Debug, Args)]
pub(crate) struct KvPatchArgs {
    /// Which secret.
    #[command(flatten)]
    pub(crate) target: KvPathArgs,
    /// `key=value`, `key=@file`, `key=-` (stdin), or `-` alone for a JSON object on stdin.
    pub(crate) data: Vec<String>,
    /// Check-and-set: patch only if the current version is this.
    #[arg(long)]
    pub(crate) cas: Option<u64>,
    /// `patch` (HTTP PATCH) or `rw` (read, then write); by default PATCH, falling back to a
    /// read and write when the server refuses PATCH.
    #[arg(long)]
    pub(crate) method: Option<String>,
    /// Remove this key (repeatable).
    #[arg(long = "remove-data")]
    pub(crate) remove_data: Vec<String>,
    /// Print only this field of the reply.
    #[arg(long)]
    pub(crate) field: Option<String>,
}

/// `coffer kv list`.
#[derive(Debug, Args)]
pub(crate) struct KvListArgs {
    /// The mount; without it the mount is found from the path.
    #[arg(long)]
    pub(crate) mount: Option<String>,
    /// The folder: `secret/app`, or `app` (or nothing) with -mount.
    pub(crate) path: Option<String>,
}

/// `coffer kv delete`.
#[derive(Debug, Args)]
pub(crate) struct KvDeleteArgs {
    /// Which secret.
    #[command(flatten)]
    pub(crate) target: KvPathArgs,
    /// Soft-delete these versions (comma-separated or repeated) instead of the latest.
    #[arg(long, value_delimiter = ',')]
    pub(crate) versions: Vec<String>,
}

/// `coffer kv undelete` and `coffer kv destroy`.
#[derive(Debug, Args)]
pub(crate) struct KvVersionsArgs {
    /// Which secret.
    #[command(flatten)]
    pub(crate) target: KvPathArgs,
    /// The versions (comma-separated or repeated).
    #[arg(long, value_delimiter = ',')]
    pub(crate) versions: Vec<String>,
}

/// `coffer kv rollback`.
#[derive(Debug, Args)]
pub(crate) struct KvRollbackArgs {
    /// Which secret.
    #[command(flatten)]
    pub(crate) target: KvPathArgs,
    /// The version whose data becomes the newest version.
    #[arg(long)]
    pub(crate) version: Option<u64>,
    /// Print only this field of the reply.
    #[arg(long)]
    pub(crate) field: Option<String>,
}

/// `coffer kv metadata …`.
#[derive(Debug, Subcommand)]
pub(crate) enum KvMetadataCommand {
    /// Show a secret's metadata and every version's state.
    Get {
        /// Which secret.
        #[command(flatten)]
        target: KvPathArgs,
        /// Print only this field.
        #[arg(long)]
        field: Option<String>,
    },
    /// Set a secret's metadata (creating it if needed).
    Put(KvMetadataPutArgs),
    /// Change some of a secret's metadata, keeping the rest.
    Patch(KvMetadataPatchArgs),
    /// Delete a secret's metadata and all its versions.
    Delete {
        /// Which secret.
        #[command(flatten)]
        target: KvPathArgs,
    },
}

/// The settings shared by `kv metadata put` and `kv metadata patch`.
#[derive(Debug, Args)]
pub(crate) struct KvMetadataSettings {
    /// Versions to keep (0: the mount's setting).
    #[arg(long = "max-versions")]
    pub(crate) max_versions: Option<u64>,
    /// Require check-and-set on every write (`-cas-required` or `-cas-required=false`).
    #[arg(
        long = "cas-required",
        action = ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub(crate) cas_required: Option<bool>,
    /// Soft-delete versions this long after they are written, e.g. 720h (0s: never).
    #[arg(long = "delete-version-after")]
    pub(crate) delete_version_after: Option<String>,
    /// Custom metadata `key=value` (repeatable).
    #[arg(long = "custom-metadata")]
    pub(crate) custom_metadata: Vec<String>,
}

/// `coffer kv metadata put`.
#[derive(Debug, Args)]
pub(crate) struct KvMetadataPutArgs {
    /// Which secret.
    #[command(flatten)]
    pub(crate) target: KvPathArgs,
    /// The settings to write.
    #[command(flatten)]
    pub(crate) settings: KvMetadataSettings,
}

/// `coffer kv metadata patch`.
#[derive(Debug, Args)]
pub(crate) struct KvMetadataPatchArgs {
    /// Which secret.
    #[command(flatten)]
    pub(crate) target: KvPathArgs,
    /// The settings to change.
    #[command(flatten)]
    pub(crate) settings: KvMetadataSettings,
    /// Remove this custom metadata key (repeatable).
    #[arg(long = "remove-custom-metadata")]
    pub(crate) remove_custom_metadata: Vec<String>,
}

/// The credential types (`-type=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum CredentialKind {
    /// An API key; a known prefix names the service.
    ApiKey,
    /// An OAuth access token (JWT claims are read, never verified).
    OauthToken,
    /// An OpenSSH private key.
    SshKey,
    /// A PEM certificate with its private key.
    TlsCertificate,
    /// A database connection URL.
    DatabaseUrl,
    /// Any other non-empty secret.
    GenericSecret,
}

impl CredentialKind {
    /// The wire name, e.g. `api-key`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CredentialKind::ApiKey => "api-key",
            CredentialKind::OauthToken => "oauth-token",
            CredentialKind::SshKey => "ssh-key",
            CredentialKind::TlsCertificate => "tls-certificate",
            CredentialKind::DatabaseUrl => "database-url",
            CredentialKind::GenericSecret => "generic-secret",
        }
    }
}

/// A credential's lifecycle state (`-state=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum CredentialStateArg {
    /// Current.
    Active,
    /// Still keeping a rotated version for its leases.
    Rotated,
    /// Revoked.
    Revoked,
}

/// `coffer credentials …`.
#[derive(Debug, Subcommand)]
pub(crate) enum CredentialsCommand {
    /// Store a new credential; its value is validated by its type and never printed.
    Create(CredentialCreateArgs),
    /// Show a credential: type, state, version, metadata, policy (never the value).
    Get {
        /// The credential's name.
        name: String,
        /// Print only this field (e.g. `state`, `metadata.service`).
        #[arg(long)]
        field: Option<String>,
    },
    /// List credentials, optionally filtered.
    List(CredentialListArgs),
    /// Change a credential's metadata or policy (never its value or type).
    Update(CredentialUpdateArgs),
    /// Give a credential a new value (a new version); leases on the old one keep working.
    Rotate(CredentialRotateArgs),
    /// Revoke a credential: every lease on it ends now and no new lease is granted.
    Revoke {
        /// The credential's name.
        name: String,
    },
    /// Show a credential's versions with their state and active leases.
    Versions {
        /// The credential's name.
        name: String,
    },
    /// Credentials due for rotation, or whose value expires, now or within a period.
    Due {
        /// Look this far ahead, e.g. `30d`.
        #[arg(long)]
        within: Option<String>,
    },
    /// Show the tenant's lease defaults, or change them with the flags.
    Config(CredentialsConfigArgs),
}

/// Where a credential's value comes from: exactly one of the three.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub(crate) struct ValueSource {
    /// The value itself (visible to other local users in the process list; prefer a file or
    /// stdin).
    #[arg(long)]
    pub(crate) value: Option<String>,
    /// Read the value from this file (trailing newlines are dropped).
    #[arg(long = "value-file")]
    pub(crate) value_file: Option<PathBuf>,
    /// Read the value from stdin (trailing newlines are dropped).
    #[arg(long = "value-stdin")]
    pub(crate) value_stdin: bool,
}

/// Where `credentials rotate` gets the new value: like [`ValueSource`], or `-generate`.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub(crate) struct RotateValueSource {
    /// The value itself (visible to other local users in the process list; prefer a file or
    /// stdin).
    #[arg(long)]
    pub(crate) value: Option<String>,
    /// Read the value from this file (trailing newlines are dropped).
    #[arg(long = "value-file")]
    pub(crate) value_file: Option<PathBuf>,
    /// Read the value from stdin (trailing newlines are dropped).
    #[arg(long = "value-stdin")]
    pub(crate) value_stdin: bool,
    /// Let the server make the new value: for a `database-url` credential whose policy names a
    /// database config, a new database login with a generated password, changed in the
    /// database and in Coffer in one step.
    #[arg(long)]
    pub(crate) generate: bool,
}

/// The lease policy flags of `credentials create` and `credentials update`.
#[derive(Debug, Args)]
pub(crate) struct PolicyArgs {
    /// The whole policy as JSON, or `@file`; the flags below override its fields.
    #[arg(long)]
    pub(crate) policy: Option<String>,
    /// Lease TTL when a lease request names none, e.g. `30m`.
    #[arg(long = "default-ttl")]
    pub(crate) default_ttl: Option<String>,
    /// Longest lease TTL (longer requests are capped), e.g. `4h`.
    #[arg(long = "max-ttl")]
    pub(crate) max_ttl: Option<String>,
    /// Most active leases at once.
    #[arg(long = "max-leases")]
    pub(crate) max_leases: Option<u64>,
    /// An identity pattern allowed to hold leases, e.g. `agent:deploy-*` (repeatable).
    #[arg(long = "allow")]
    pub(crate) allow: Vec<String>,
}

/// `coffer credentials create`.
#[derive(Debug, Args)]
pub(crate) struct CredentialCreateArgs {
    /// The credential's name (letters, digits, `.`, `_`, `-`).
    pub(crate) name: String,
    /// The credential type.
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    pub(crate) kind: CredentialKind,
    /// The value.
    #[command(flatten)]
    pub(crate) value: ValueSource,
    /// Read the private key's passphrase from this file.
    #[arg(long = "passphrase-file")]
    pub(crate) passphrase_file: Option<PathBuf>,
    /// Metadata `key=value` (repeatable).
    #[arg(long)]
    pub(crate) metadata: Vec<String>,
    /// The lease policy.
    #[command(flatten)]
    pub(crate) policy: PolicyArgs,
    /// Print only this field.
    #[arg(long)]
    pub(crate) field: Option<String>,
}

/// `coffer credentials list`.
#[derive(Debug, Args)]
pub(crate) struct CredentialListArgs {
    /// Only this type.
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    pub(crate) kind: Option<CredentialKind>,
    /// Only this state.
    #[arg(long, value_enum)]
    pub(crate) state: Option<CredentialStateArg>,
    /// Only credentials with this metadata `key=value` (repeatable; all must match).
    #[arg(long)]
    pub(crate) metadata: Vec<String>,
}

/// `coffer credentials update`.
#[derive(Debug, Args)]
pub(crate) struct CredentialUpdateArgs {
    /// The credential's name.
    pub(crate) name: String,
    /// Set metadata `key=value`, or remove a key with `key=` (repeatable).
    #[arg(long)]
    pub(crate) metadata: Vec<String>,
    /// Policy changes.
    #[command(flatten)]
    pub(crate) policy: PolicyArgs,
    /// Print only this field.
    #[arg(long)]
    pub(crate) field: Option<String>,
}

/// `coffer credentials rotate`.
#[derive(Debug, Args)]
pub(crate) struct CredentialRotateArgs {
    /// The credential's name.
    pub(crate) name: String,
    /// The new value, or `-generate`.
    #[command(flatten)]
    pub(crate) value: RotateValueSource,
    /// Read the new private key's passphrase from this file.
    #[arg(long = "passphrase-file", conflicts_with = "generate")]
    pub(crate) passphrase_file: Option<PathBuf>,
    /// Print only this field.
    #[arg(long)]
    pub(crate) field: Option<String>,
}

/// `coffer credentials config`.
#[derive(Debug, Args)]
pub(crate) struct CredentialsConfigArgs {
    /// Lease TTL when neither the request nor the credential says, e.g. `1h`.
    #[arg(long = "default-ttl")]
    pub(crate) default_ttl: Option<String>,
    /// Longest lease TTL for every credential.
    #[arg(long = "max-ttl")]
    pub(crate) max_ttl: Option<String>,
    /// Most active leases per credential.
    #[arg(long = "max-leases")]
    pub(crate) max_leases: Option<u64>,
    /// Print only this field.
    #[arg(long)]
    pub(crate) field: Option<String>,
}

/// `coffer lease …`.
#[derive(Debug, Subcommand)]
pub(crate) enum LeaseCommand {
    /// Take a lease on a credential and print it with the value.
    Create(LeaseCreateArgs),
    /// Read an active lease back, with its value.
    Get {
        /// The lease id, e.g. `credentials/db/lease/…`.
        lease_id: String,
        /// Print only this field (e.g. `value`).
        #[arg(long)]
        field: Option<String>,
    },
    /// Show a lease's times, holder and renewability (never the value).
    Lookup {
        /// The lease id.
        lease_id: String,
        /// Print only this field.
        #[arg(long)]
        field: Option<String>,
    },
    /// Extend a lease, by -increment or by its original duration.
    Renew {
        /// The lease id.
        lease_id: String,
        /// The new time to live from now, e.g. `1h`.
        #[arg(long)]
        increment: Option<String>,
        /// Print only this field.
        #[arg(long)]
        field: Option<String>,
    },
    /// End a lease now (or, with -prefix, every lease under a prefix).
    Revoke {
        /// The lease id, or a prefix such as `credentials/db/` with -prefix.
        lease_id: String,
        /// Treat the argument as a prefix.
        #[arg(long)]
        prefix: bool,
        /// With -prefix: remove the leases even if their engine cannot release them (needs
        /// sudo; what they held may stay behind, e.g. a database user).
        #[arg(long, requires = "prefix")]
        force: bool,
    },
    /// List the active leases of a credential or of an identity, or (-failed) the leases whose
    /// revocation failed and is retried or was given up.
    List {
        /// The credential whose leases to list.
        #[arg(long)]
        credential: Option<String>,
        /// The identity whose leases to list, e.g. `agent:deploy`.
        #[arg(long)]
        identity: Option<String>,
        /// List the leases whose engine could not release them (needs sudo).
        #[arg(long, conflicts_with_all = ["credential", "identity"])]
        failed: bool,
    },
    /// The kill switch: end every lease an identity holds, e.g. `agent:deploy`.
    #[command(name = "revoke-identity")]
    RevokeIdentity {
        /// The identity, `type:name`.
        identity: String,
    },
}

/// `coffer lease create`.
#[derive(Debug, Args)]
pub(crate) struct LeaseCreateArgs {
    /// The credential's name.
    pub(crate) credential: String,
    /// Requested time to live, e.g. `30m` (capped at the policy's maximum).
    #[arg(long)]
    pub(crate) ttl: Option<String>,
    /// Lease for this identity instead of your own, e.g. `agent:deploy` (needs sudo).
    #[arg(long)]
    pub(crate) identity: Option<String>,
    /// Why the lease is taken (recorded with it).
    #[arg(long)]
    pub(crate) purpose: Option<String>,
    /// Also print the private key's passphrase.
    #[arg(long = "include-passphrase")]
    pub(crate) include_passphrase: bool,
    /// Print only this field (e.g. `value`, `lease_id`).
    #[arg(long)]
    pub(crate) field: Option<String>,
}

/// Rewrites Vault-style single-dash long flags (`-format=json`, `-dev`) to `--format=json`,
/// `--dev`. Single letters (`-h`), a lone `-` (stdin) and everything after `--` are untouched.
pub(crate) fn normalize_args(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut passthrough = false;
    let mut command_seen = false;
    let mut flag_value_next = false;
    for (index, arg) in args.into_iter().enumerate() {
        if passthrough {
            out.push(arg);
            continue;
        }
        // v-secure's colon spellings: `secrets:create` is `secrets create`, `audit:logs` is
        // `audit logs`; `secrets:list` is `secrets list-secrets` (`secrets list` lists mounts).
        // Only the command word is rewritten: the first argument that is neither a flag nor
        // the value of a global flag given as `-address VALUE`.
        let text = arg.to_str().unwrap_or("");
        let takes_value = matches!(
            text.trim_start_matches('-'),
            "address" | "format" | "ca-cert" | "namespace"
        ) && text.starts_with('-');
        let is_value = std::mem::replace(&mut flag_value_next, takes_value);
        if index > 0 && !command_seen && !is_value && !text.starts_with('-') {
            command_seen = true;
            if let Some((group, sub)) = arg.to_str().and_then(colon_command) {
                out.push(OsString::from(group));
                out.push(OsString::from(sub));
                continue;
            }
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

/// `group:sub` (lowercase letters and dashes) split in two, with `secrets:list` mapped to
/// `secrets list-secrets`.
fn colon_command(text: &str) -> Option<(&str, &str)> {
    let (group, sub) = text.split_once(':')?;
    let word = |w: &str| {
        !w.is_empty()
            && w.starts_with(|c: char| c.is_ascii_lowercase())
            && w.chars().all(|c| c.is_ascii_lowercase() || c == '-')
    };
    if !word(group) || !word(sub) {
        return None;
    }
    Some(match (group, sub) {
        ("secrets", "list") => ("secrets", "list-secrets"),
        other => other,
    })
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
    fn colon_spellings_name_the_command() {
        check(
            &[
                "coffer",
                "secrets:create",
                "API_KEY",
                "v",
                "--tags",
                "production,api",
            ],
            &[
                "coffer",
                "secrets",
                "create",
                "API_KEY",
                "v",
                "--tags",
                "production,api",
            ],
        );
        check(
            &["coffer", "secrets:list"],
            &["coffer", "secrets", "list-secrets"],
        );
        check(
            &[
                "coffer",
                "-address",
                "http://a:1",
                "audit:logs",
                "-format=json",
            ],
            &[
                "coffer",
                "--address",
                "http://a:1",
                "audit",
                "logs",
                "--format=json",
            ],
        );
        // Only the command word: a value spelled like a command stays as it is.
        check(
            &["coffer", "secrets", "create", "X", "secrets:list"],
            &["coffer", "secrets", "create", "X", "secrets:list"],
        );
        check(
            &["coffer", "kv", "get", "a:b"],
            &["coffer", "kv", "get", "a:b"],
        );
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

    fn parse(args: &[&str]) -> Cli {
        let args = normalize_args(args.iter().map(OsString::from));
        Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn kv_flags_anywhere() {
        let cli = parse(&[
            "coffer",
            "kv",
            "put",
            "secret/app",
            "a=b",
            "-",
            "-cas=0",
            "-format=yaml",
        ]);
        assert_eq!(cli.client.format, Format::Yaml);
        match cli.command {
            Command::Kv(KvCommand::Put(args)) => {
                assert_eq!(args.target.path, "secret/app");
                assert_eq!(args.data, ["a=b", "-"]);
                assert_eq!(args.cas, Some(0));
            }
            other => panic!("parsed {other:?}"),
        }
        match parse(&[
            "coffer",
            "kv",
            "delete",
            "secret/x",
            "-versions=1,2",
            "-versions=3",
        ])
        .command
        {
            Command::Kv(KvCommand::Delete(args)) => assert_eq!(args.versions, ["1", "2", "3"]),
            other => panic!("parsed {other:?}"),
        }
        match parse(&["coffer", "kv", "list", "-mount=secret"]).command {
            Command::Kv(KvCommand::List(args)) => {
                assert_eq!((args.mount.as_deref(), args.path), (Some("secret"), None))
            }
            other => panic!("parsed {other:?}"),
        }
    }

    #[test]
    fn kv_metadata_bool_flag_does_not_take_the_path() {
        let check = |args: &[&str], expected: Option<bool>| match parse(args).command {
            Command::Kv(KvCommand::Metadata(KvMetadataCommand::Put(put))) => {
                assert_eq!(put.settings.cas_required, expected, "{args:?}");
                assert_eq!(put.target.path, "secret/x");
            }
            other => panic!("parsed {other:?}"),
        };
        check(
            &[
                "coffer",
                "kv",
                "metadata",
                "put",
                "-cas-required",
                "secret/x",
            ],
            Some(true),
        );
        check(
            &[
                "coffer",
                "kv",
                "metadata",
                "put",
                "-cas-required=false",
                "secret/x",
            ],
            Some(false),
        );
        check(&["coffer", "kv", "metadata", "put", "secret/x"], None);
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

    #[test]
    fn login_methods_and_credentials() {
        match parse(&[
            "coffer",
            "login",
            "-method=userpass",
            "username=alice",
            "-path=people",
            "-no-store",
        ])
        .command
        {
            Command::Login(args) => {
                assert_eq!(args.method, LoginMethod::Userpass);
                assert_eq!(args.path.as_deref(), Some("people"));
                assert_eq!(args.args, ["username=alice"]);
                assert!(args.no_store);
            }
            other => panic!("parsed {other:?}"),
        }
        match parse(&["coffer", "login", "s.abc"]).command {
            Command::Login(args) => {
                assert_eq!(args.method, LoginMethod::Token);
                assert_eq!(args.args, ["s.abc"]);
            }
            other => panic!("parsed {other:?}"),
        }
        let args = normalize_args(["coffer", "login", "-method=ldap"].map(OsString::from));
        assert!(
            Cli::try_parse_from(args).is_err(),
            "unknown methods are refused"
        );
    }

    #[test]
    fn credentials_and_lease_flags() {
        match parse(&[
            "coffer",
            "credentials",
            "create",
            "openai",
            "-type=api-key",
            "-value-stdin",
            "-metadata",
            "team=ml",
            "-metadata=owner=bob",
            "-allow=agent:deploy-*",
            "-max-leases=5",
        ])
        .command
        {
            Command::Credentials(CredentialsCommand::Create(args)) => {
                assert_eq!(args.name, "openai");
                assert_eq!(args.kind, CredentialKind::ApiKey);
                assert!(args.value.value_stdin && args.value.value.is_none());
                assert_eq!(args.metadata, ["team=ml", "owner=bob"]);
                assert_eq!(args.policy.allow, ["agent:deploy-*"]);
                assert_eq!(args.policy.max_leases, Some(5));
            }
            other => panic!("parsed {other:?}"),
        }
        match parse(&[
            "coffer",
            "lease",
            "create",
            "db",
            "-ttl=30m",
            "-identity=agent:x",
            "-include-passphrase",
            "-field=value",
        ])
        .command
        {
            Command::Lease(LeaseCommand::Create(args)) => {
                assert_eq!(args.credential, "db");
                assert_eq!(args.ttl.as_deref(), Some("30m"));
                assert_eq!(args.identity.as_deref(), Some("agent:x"));
                assert!(args.include_passphrase);
                assert_eq!(args.field.as_deref(), Some("value"));
            }
            other => panic!("parsed {other:?}"),
        }
        for refused in [
            &[
                "coffer",
                "credentials",
                "create",
                "x",
                "-type=password",
                "-value=v",
            ][..],
            &["coffer", "credentials", "create", "x", "-type=api-key"],
            &[
                "coffer",
                "credentials",
                "rotate",
                "x",
                "-value=v",
                "-value-stdin",
            ],
            &[
                "coffer",
                "credentials",
                "rotate",
                "x",
                "-value=v",
                "-generate",
            ],
        ] {
            let args = normalize_args(refused.iter().map(OsString::from));
            assert!(Cli::try_parse_from(args).is_err(), "{refused:?}");
        }
    }

    #[test]
    fn rotate_generate_flag() {
        match parse(&["coffer", "credentials", "rotate", "db", "-generate"]).command {
            Command::Credentials(CredentialsCommand::Rotate(args)) => {
                assert!(args.value.generate && args.value.value.is_none());
            }
            other => panic!("parsed {other:?}"),
        }
    }

    #[test]
    fn generic_and_access_commands() {
        match parse(&[
            "coffer",
            "write",
            "-f",
            "auth/approle/role/x/secret-id",
            "-field=secret_id",
        ])
        .command
        {
            Command::Write(args) => {
                assert!(args.force && args.data.is_empty());
                assert_eq!(args.field.as_deref(), Some("secret_id"));
            }
            other => panic!("parsed {other:?}"),
        }
        match parse(&["coffer", "write", "secret/data/x", "-", "a=b"]).command {
            Command::Write(args) => assert_eq!(args.data, ["-", "a=b"]),
            other => panic!("parsed {other:?}"),
        }
        match parse(&["coffer", "access", "apply", "access.json", "-mount=kv"]).command {
            Command::Access(AccessCommand::Apply { file, mount }) => {
                assert_eq!((file, mount.as_str()), (PathBuf::from("access.json"), "kv"))
            }
            other => panic!("parsed {other:?}"),
        }
        match parse(&["coffer", "access", "show"]).command {
            Command::Access(AccessCommand::Show { mount }) => assert_eq!(mount, "secret"),
            other => panic!("parsed {other:?}"),
        }
        match parse(&["coffer", "auth", "enable", "userpass", "-description=staff"]).command {
            Command::Auth(AuthCommand::Enable(args)) => {
                assert_eq!(args.method, "userpass");
                assert_eq!(args.description.as_deref(), Some("staff"));
                assert_eq!(args.path, None);
            }
            other => panic!("parsed {other:?}"),
        }
        match parse(&["coffer", "policy", "write", "app", "-"]).command {
            Command::Policy(PolicyCommand::Write { name, file }) => {
                assert_eq!((name.as_str(), file.as_str()), ("app", "-"))
            }
            other => panic!("parsed {other:?}"),
        }
    }
}
