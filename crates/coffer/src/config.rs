//! The server configuration file: Vault-style HCL (`storage`, `listener "tcp"`, `seal "static"`,
//! `api_addr`, `log_level`), then environment overrides. Parsed once in `main` into a typed
//! [`ServerConfig`] and passed down.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use hcl::{Body, Expression};

/// Where data lives.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum StorageConfig {
    /// Memory only; gone at exit.
    Memory,
    /// The embedded default.
    Sqlite { path: PathBuf },
    /// A shared PostgreSQL database.
    Postgres {
        connection_url: String,
        table: String,
        schema: Option<String>,
        max_connections: usize,
        /// The HA lock table when `ha_enabled = true`; `None` for a single node.
        ha_table: Option<String>,
    },
}

/// The TCP listener.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ListenerConfig {
    /// Address to bind (port 0 picks a free port).
    pub(crate) address: String,
    /// TLS certificate and key, unless TLS is disabled.
    pub(crate) tls: Option<TlsFiles>,
}

/// PEM files for TLS.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TlsFiles {
    /// Certificate chain.
    pub(crate) cert_file: PathBuf,
    /// Private key.
    pub(crate) key_file: PathBuf,
}

/// Where the auto-unseal key comes from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AutoUnsealSource {
    /// A file holding the key (base64 or hex).
    File(PathBuf),
    /// An environment variable holding the key.
    Env(String),
}

/// The whole server configuration.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ServerConfig {
    /// Storage backend.
    pub(crate) storage: StorageConfig,
    /// Listener.
    pub(crate) listener: ListenerConfig,
    /// The address clients should use (messages, and `sys/leader` for HA standbys).
    pub(crate) api_addr: Option<String>,
    /// The address other nodes use for this one (reported by `sys/leader`).
    pub(crate) cluster_addr: Option<String>,
    /// Log level filter (`trace`, `debug`, `info`, `warn`, `error`).
    pub(crate) log_level: String,
    /// `standard` (human-readable) or `json` (one JSON object per line).
    pub(crate) log_format: String,
    /// Unattended unseal.
    pub(crate) auto_unseal: Option<AutoUnsealSource>,
    /// Audit devices declared here (`audit "file" "name" { options { file_path = "…" } }`).
    pub(crate) audit: Vec<coffer_core::AuditDeviceConfig>,
    /// `disable_cache = true`: no read cache in front of the storage (Vault's setting).
    pub(crate) disable_cache: bool,
}

impl ServerConfig {
    /// Reads and parses a config file, then applies environment overrides.
    pub(crate) fn load(path: &Path) -> anyhow::Result<ServerConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        let mut config =
            parse(&text).with_context(|| format!("in config file {}", path.display()))?;
        config.apply_env(|name| std::env::var(name).ok())?;
        Ok(config)
    }

    /// Applies the `COFFER_*` overrides read through `var`.
    pub(crate) fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        if let Some(level) = var("COFFER_LOG_LEVEL") {
            self.log_level = level;
        }
        if let Some(format) = var("COFFER_LOG_FORMAT") {
            self.log_format = format;
        }
        if let Some(addr) = var("COFFER_API_ADDR") {
            self.api_addr = Some(addr);
        }
        if let Some(addr) = var("COFFER_LISTEN_ADDRESS") {
            self.listener.address = addr;
        }
        if let Some(path) = var("COFFER_SQLITE_PATH") {
            self.storage = StorageConfig::Sqlite {
                path: PathBuf::from(path),
            };
        }
        if let Some(url) = var("COFFER_PG_CONNECTION_URL") {
            match &mut self.storage {
                StorageConfig::Postgres { connection_url, .. } => *connection_url = url,
                other => {
                    *other = StorageConfig::Postgres {
                        connection_url: url,
                        table: "coffer_kv".into(),
                        schema: None,
                        max_connections: 16,
                        ha_table: None,
                    }
                }
            }
        }
        if let Some(file) = var("COFFER_SEAL_KEY_FILE") {
            self.auto_unseal = Some(AutoUnsealSource::File(PathBuf::from(file)));
        }
        validate_log_level(&self.log_level)?;
        validate_log_format(&self.log_format)?;
        Ok(())
    }
}

fn validate_log_level(level: &str) -> anyhow::Result<()> {
    match level {
        "trace" | "debug" | "info" | "warn" | "error" => Ok(()),
        other => bail!("log_level {other:?} is not one of trace, debug, info, warn, error"),
    }
}

fn validate_log_format(format: &str) -> anyhow::Result<()> {
    match format {
        "standard" | "json" => Ok(()),
        other => bail!("log_format {other:?} is not one of standard, json"),
    }
}

fn string(expr: &Expression, name: &str) -> anyhow::Result<String> {
    match expr {
        Expression::String(s) => Ok(s.clone()),
        Expression::Number(n) => Ok(n.to_string()),
        Expression::Bool(b) => Ok(b.to_string()),
        _ => bail!("{name} must be a string"),
    }
}

fn boolean(expr: &Expression, name: &str) -> anyhow::Result<bool> {
    match expr {
        Expression::Bool(b) => Ok(*b),
        Expression::String(s) if s == "true" || s == "1" => Ok(true),
        Expression::String(s) if s == "false" || s == "0" || s.is_empty() => Ok(false),
        Expression::Number(n) => Ok(n.as_u64().is_some_and(|v| v != 0)),
        _ => bail!("{name} must be a boolean"),
    }
}

fn unsigned(expr: &Expression, name: &str) -> anyhow::Result<u64> {
    match expr {
        Expression::Number(n) => n
            .as_u64()
            .with_context(|| format!("{name} must be a non-negative integer")),
        Expression::String(s) => s
            .parse()
            .with_context(|| format!("{name} must be a non-negative integer")),
        _ => bail!("{name} must be a non-negative integer"),
    }
}

fn attributes(
    body: &Body,
    block: &str,
    known: &[&str],
) -> anyhow::Result<Vec<(String, Expression)>> {
    if let Some(inner) = body.blocks().next() {
        bail!("unexpected block {:?} inside {block}", inner.identifier());
    }
    body.attributes()
        .map(|attr| {
            if !known.contains(&attr.key()) {
                bail!(
                    "unknown setting {:?} in {block} (known: {})",
                    attr.key(),
                    known.join(", ")
                );
            }
            Ok((attr.key().to_owned(), attr.expr().clone()))
        })
        .collect()
}

/// Parses config text (no environment overrides).
pub(crate) fn parse(text: &str) -> anyhow::Result<ServerConfig> {
    let body = hcl::parse(text).context("the config is not valid HCL")?;
    let mut storage = None;
    let mut listener = None;
    let mut auto_unseal = None;
    let mut audit = Vec::new();
    let mut api_addr = None;
    let mut cluster_addr = None;
    let mut log_level = "info".to_owned();
    let mut log_format = "standard".to_owned();
    let mut disable_cache = false;
    for attr in body.attributes() {
        match attr.key() {
            "api_addr" => api_addr = Some(string(attr.expr(), "api_addr")?),
            "cluster_addr" => cluster_addr = Some(string(attr.expr(), "cluster_addr")?),
            "log_level" => log_level = string(attr.expr(), "log_level")?.to_lowercase(),
            "log_format" => log_format = string(attr.expr(), "log_format")?.to_lowercase(),
            "disable_cache" => disable_cache = boolean(attr.expr(), "disable_cache")?,
            // Accepted for compatibility with Vault configs; Coffer does not need them.
            "disable_mlock" | "ui" | "cluster_name" | "default_lease_ttl" | "max_lease_ttl" => {}
            other => bail!("unknown top-level setting {other:?}"),
        }
    }
    for block in body.blocks() {
        let label = block.labels().first().map(|l| l.as_str().to_owned());
        match (block.identifier(), label.as_deref()) {
            ("storage", Some(kind)) => {
                if storage.is_some() {
                    bail!("only one storage block is allowed");
                }
                storage = Some(storage_block(kind, block.body())?);
            }
            ("listener", Some("tcp")) => {
                if listener.is_some() {
                    bail!("only one listener block is supported");
                }
                listener = Some(listener_block(block.body())?);
            }
            ("listener", Some(other)) => {
                bail!("listener type {other:?} is not supported (use \"tcp\")")
            }
            ("seal", Some("static")) => auto_unseal = Some(seal_block(block.body())?),
            ("audit", Some(kind)) => {
                let name = block
                    .labels()
                    .get(1)
                    .map(|l| l.as_str().to_owned())
                    .unwrap_or_else(|| kind.to_owned());
                audit.push(audit_block(kind, &name, block.body())?);
            }
            ("seal", Some(other)) => bail!("seal type {other:?} is not supported (use \"static\")"),
            (name, None) => bail!("block {name:?} needs a type label, e.g. {name} \"...\" {{ }}"),
            (name, Some(_)) => bail!("unknown block {name:?}"),
        }
    }
    let storage = storage
        .context("a storage block is required, e.g. storage \"sqlite\" { path = \"coffer.db\" }")?;
    let listener = listener.unwrap_or(ListenerConfig {
        address: "127.0.0.1:8200".into(),
        tls: None,
    });
    validate_log_level(&log_level)?;
    validate_log_format(&log_format)?;
    Ok(ServerConfig {
        storage,
        listener,
        api_addr,
        cluster_addr,
        log_level,
        log_format,
        auto_unseal,
        audit,
        disable_cache,
    })
}

fn storage_block(kind: &str, body: &Body) -> anyhow::Result<StorageConfig> {
    match kind {
        "inmem" | "memory" => {
            attributes(body, "storage \"inmem\"", &[])?;
            Ok(StorageConfig::Memory)
        }
        "sqlite" => {
            let mut path = None;
            for (key, expr) in attributes(body, "storage \"sqlite\"", &["path"])? {
                if key == "path" {
                    path = Some(PathBuf::from(string(&expr, "path")?));
                }
            }
            Ok(StorageConfig::Sqlite {
                path: path.context("storage \"sqlite\" needs path = \"...\"")?,
            })
        }
        "postgresql" | "postgres" => {
            let known = [
                "connection_url",
                "table",
                "schema",
                "max_connections",
                "ha_enabled",
                "ha_table",
                "max_parallel",
            ];
            let mut url = None;
            let mut table = "coffer_kv".to_owned();
            let mut schema = None;
            let mut max_connections = 16;
            let mut ha_enabled = false;
            let mut ha_table = coffer_storage::postgres::DEFAULT_HA_TABLE.to_owned();
            for (key, expr) in attributes(body, "storage \"postgresql\"", &known)? {
                match key.as_str() {
                    "connection_url" => url = Some(string(&expr, "connection_url")?),
                    "table" => table = string(&expr, "table")?,
                    "schema" => schema = Some(string(&expr, "schema")?),
                    "max_connections" | "max_parallel" => {
                        max_connections = unsigned(&expr, &key)? as usize
                    }
                    "ha_enabled" => ha_enabled = boolean(&expr, "ha_enabled")?,
                    "ha_table" => ha_table = string(&expr, "ha_table")?,
                    _ => {}
                }
            }
            let url =
                url.context("storage \"postgresql\" needs connection_url = \"postgres://...\"")?;
            if max_connections == 0 {
                bail!("max_connections must be at least 1");
            }
            Ok(StorageConfig::Postgres {
                connection_url: url,
                table,
                schema,
                max_connections,
                ha_table: ha_enabled.then_some(ha_table),
            })
        }
        other => bail!(
            "storage type {other:?} is not supported (use \"sqlite\", \"postgresql\" or \"inmem\")"
        ),
    }
}

fn listener_block(body: &Body) -> anyhow::Result<ListenerConfig> {
    let known = [
        "address",
        "tls_cert_file",
        "tls_key_file",
        "tls_disable",
        "max_request_size",
        "max_request_duration",
    ];
    let mut address = "127.0.0.1:8200".to_owned();
    let mut cert = None;
    let mut key = None;
    let mut tls_disable = false;
    for (name, expr) in attributes(body, "listener \"tcp\"", &known)? {
        match name.as_str() {
            "address" => address = string(&expr, "address")?,
            "tls_cert_file" => cert = Some(PathBuf::from(string(&expr, "tls_cert_file")?)),
            "tls_key_file" => key = Some(PathBuf::from(string(&expr, "tls_key_file")?)),
            "tls_disable" => tls_disable = boolean(&expr, "tls_disable")?,
            _ => {}
        }
    }
    let tls = match (tls_disable, cert, key) {
        (true, _, _) => None,
        (false, Some(cert_file), Some(key_file)) => Some(TlsFiles {
            cert_file,
            key_file,
        }),
        (false, None, None) => {
            bail!("listener \"tcp\" needs tls_cert_file and tls_key_file, or tls_disable = true")
        }
        (false, _, _) => bail!("listener \"tcp\" needs both tls_cert_file and tls_key_file"),
    };
    Ok(ListenerConfig { address, tls })
}

fn audit_block(
    kind: &str,
    name: &str,
    body: &Body,
) -> anyhow::Result<coffer_core::AuditDeviceConfig> {
    let mut description = String::new();
    for attr in body.attributes() {
        match attr.key() {
            "description" => description = string(attr.expr(), "description")?,
            "local" => {}
            other => bail!("unknown setting {other:?} in audit \"{kind}\" \"{name}\""),
        }
    }
    let mut options = std::collections::BTreeMap::new();
    for block in body.blocks() {
        if block.identifier() != "options" {
            bail!(
                "unexpected block {:?} inside audit \"{kind}\" \"{name}\"",
                block.identifier()
            );
        }
        for attr in block.body().attributes() {
            options.insert(attr.key().to_owned(), string(attr.expr(), attr.key())?);
        }
    }
    Ok(coffer_core::AuditDeviceConfig {
        name: name.to_owned(),
        kind: kind.to_owned(),
        options,
        description,
    })
}

fn seal_block(body: &Body) -> anyhow::Result<AutoUnsealSource> {
    let mut source = None;
    for (name, expr) in attributes(body, "seal \"static\"", &["key_file", "key_env"])? {
        let value = string(&expr, &name)?;
        source = Some(match name.as_str() {
            "key_file" => AutoUnsealSource::File(PathBuf::from(value)),
            _ => AutoUnsealSource::Env(value),
        });
    }
    source.context("seal \"static\" needs key_file = \"...\" or key_env = \"VARIABLE\"")
}

/// Parses the listener address (after `localhost` resolution).
pub(crate) fn listen_addr(address: &str) -> anyhow::Result<SocketAddr> {
    let address = address.replace("localhost", "127.0.0.1");
    address
        .parse()
        .with_context(|| format!("listener address {address:?} is not host:port"))
}

/// The two stores of `coffer operator migrate -config FILE`: Vault's `storage_source` and
/// `storage_destination` blocks, each shaped like a `storage` block.
pub(crate) fn load_migration(path: &Path) -> anyhow::Result<(StorageConfig, StorageConfig)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading migration config file {}", path.display()))?;
    parse_migration(&text).with_context(|| format!("in migration config file {}", path.display()))
}

/// Parses migration config text; see [`load_migration`].
pub(crate) fn parse_migration(text: &str) -> anyhow::Result<(StorageConfig, StorageConfig)> {
    let body = hcl::parse(text).context("the config is not valid HCL")?;
    if let Some(attr) = body.attributes().next() {
        bail!("unknown setting {:?} in a migration config", attr.key());
    }
    let (mut source, mut destination) = (None, None);
    for block in body.blocks() {
        let kind = block.labels().first().map(|l| l.as_str().to_owned());
        let slot = match block.identifier() {
            "storage_source" => &mut source,
            "storage_destination" => &mut destination,
            other => bail!("unknown block {other:?} (use storage_source and storage_destination)"),
        };
        let Some(kind) = kind else {
            bail!(
                "block {:?} needs a type label, e.g. \"sqlite\"",
                block.identifier()
            );
        };
        if slot.is_some() {
            bail!("only one {} block is allowed", block.identifier());
        }
        *slot = Some(storage_block(&kind, block.body())?);
    }
    Ok((
        source.context("a storage_source block is required")?,
        destination.context("a storage_destination block is required")?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expect: Result<&str, &str>) {
        let got = parse(text)
            .map(|c| format!("{c:?}"))
            .map_err(|e| format!("{e:#}"));
        match (got, expect) {
            (Ok(got), Ok(want)) => assert!(got.contains(want), "got {got}\nwant {want}"),
            (Err(got), Err(want)) => assert!(got.contains(want), "got {got}\nwant {want}"),
            (got, want) => panic!("got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn parses_vault_style_configs() {
        check(
            r#"storage "sqlite" { path = "/tmp/c.db" }
               listener "tcp" {
                 address     = "127.0.0.1:0"
                 tls_disable = true
               }
               api_addr = "http://127.0.0.1:8200"
               log_level = "debug"
               disable_mlock = true"#,
            Ok(
                r#"storage: Sqlite { path: "/tmp/c.db" }, listener: ListenerConfig { address: "127.0.0.1:0", tls: None }, api_addr: Some("http://127.0.0.1:8200"), cluster_addr: None, log_level: "debug""#,
            ),
        );
        check(
            r#"storage "postgresql" {
                 connection_url  = "postgres://u@h/db"
                 max_connections = 4
               }
               listener "tcp" {
                 address       = "0.0.0.0:8200"
                 tls_cert_file = "c.pem"
                 tls_key_file  = "k.pem"
               }"#,
            Ok(
                r#"Postgres { connection_url: "postgres://u@h/db", table: "coffer_kv", schema: None, max_connections: 4, ha_table: None }"#,
            ),
        );
        check(
            r#"storage "postgresql" {
                 connection_url = "postgres://u@h/db"
                 ha_enabled     = "true"
               }
               cluster_addr = "https://10.0.0.1:8201""#,
            Ok(
                r#"max_connections: 16, ha_table: Some("coffer_ha_locks") }, listener: ListenerConfig { address: "127.0.0.1:8200", tls: None }, api_addr: None, cluster_addr: Some("https://10.0.0.1:8201")"#,
            ),
        );
        check(
            r#"storage "postgresql" {
                 connection_url = "postgres://u@h/db"
                 ha_enabled     = true
                 ha_table       = "locks"
               }"#,
            Ok(r#"ha_table: Some("locks")"#),
        );
        check(
            r#"storage "sqlite" { path = "/tmp/c.db" }"#,
            Ok("disable_cache: false"),
        );
        check(
            "storage \"sqlite\" { path = \"/tmp/c.db\" }\ndisable_cache = true",
            Ok("disable_cache: true"),
        );
        check(
            "storage \"sqlite\" { path = \"/tmp/c.db\" }\ndisable_cache = \"sometimes\"",
            Err("disable_cache"),
        );
        check(
            "storage \"inmem\" {}\nseal \"static\" { key_file = \"/etc/coffer/key\" }",
            Ok(r#"auto_unseal: Some(File("/etc/coffer/key"))"#),
        );
        check(r#"storage "inmem" {}"#, Ok(r#"address: "127.0.0.1:8200""#));
    }

    #[test]
    fn rejects_bad_configs() {
        check(
            r#"listener "tcp" { tls_disable = true }"#,
            Err("a storage block is required"),
        );
        check(
            r#"storage "s3" {}"#,
            Err("storage type \"s3\" is not supported"),
        );
        check(r#"storage "sqlite" {}"#, Err("needs path"));
        check(
            "storage \"sqlite\" {\n path = \"x\"\n bogus = 1\n}",
            Err("unknown setting \"bogus\""),
        );
        check(
            "storage \"inmem\" {}\nlistener \"tcp\" { address = \"x\" }",
            Err("tls_disable = true"),
        );
        check(
            "storage \"inmem\" {}\nlog_level = \"loud\"",
            Err("log_level \"loud\""),
        );
        check(r#"storage "inmem" {"#, Err("not valid HCL"));
        check(
            "storage \"inmem\" {}\nseal \"awskms\" {}",
            Err("seal type \"awskms\""),
        );
        check(
            "storage \"inmem\" {}\nlog_format = \"xml\"",
            Err("log_format \"xml\""),
        );
        check(
            "storage \"inmem\" {}\nwat = 1",
            Err("unknown top-level setting \"wat\""),
        );
    }

    #[test]
    fn environment_overrides() {
        let mut config = parse("storage \"inmem\" {}\nlistener \"tcp\" {\n address = \"127.0.0.1:1\"\n tls_disable = 1\n}")
            .unwrap_or_else(|e| panic!("{e:#}"));
        let env = |name: &str| match name {
            "COFFER_LISTEN_ADDRESS" => Some("127.0.0.1:0".to_owned()),
            "COFFER_SQLITE_PATH" => Some("/tmp/x.db".to_owned()),
            "COFFER_LOG_LEVEL" => Some("warn".to_owned()),
            _ => None,
        };
        config.apply_env(env).unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(config.listener.address, "127.0.0.1:0");
        assert_eq!(
            config.storage,
            StorageConfig::Sqlite {
                path: PathBuf::from("/tmp/x.db")
            }
        );
        assert_eq!(config.log_level, "warn");
    }

    #[test]
    fn migration_configs_name_a_source_and_a_destination() {
        let (source, destination) = parse_migration(
            "storage_source \"sqlite\" { path = \"/tmp/c.db\" }\n\
             storage_destination \"postgresql\" {\n connection_url = \"postgres://h/db\"\n}",
        )
        .expect("parses");
        assert_eq!(
            source,
            StorageConfig::Sqlite {
                path: PathBuf::from("/tmp/c.db")
            }
        );
        assert!(matches!(destination, StorageConfig::Postgres { .. }));
        let error = |text: &str| format!("{:#}", parse_migration(text).expect_err("refused"));
        assert!(
            error("storage_source \"inmem\" {}").contains("storage_destination block is required")
        );
        assert!(error("storage \"inmem\" {}").contains("unknown block \"storage\""));
        assert!(
            error("storage_source \"inmem\" {}\nstorage_source \"inmem\" {}")
                .contains("only one storage_source")
        );
    }
}
