//! Everything the CLI prints: aligned tables for people, JSON for machines, and the server
//! banner. The only module allowed to write to stdout.
#![allow(clippy::print_stdout)]

use std::io::Write as _;
use std::net::SocketAddr;

use clap::ValueEnum;
use coffer_core::DevInit;
use serde_json::Value;

/// Output format, `-format=table|json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum Format {
    /// Aligned key/value tables.
    #[default]
    Table,
    /// JSON.
    Json,
}

/// Prints a line to stdout.
pub(crate) fn line(text: &str) {
    println!("{text}");
}

/// Prints text to stdout without a newline (for `-field` when piped).
pub(crate) fn raw(text: &str) {
    print!("{text}");
    let _ = std::io::stdout().flush();
}

/// Prints pretty JSON.
pub(crate) fn json(value: &Value) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(error) => eprintln!("cannot print JSON: {error}"),
    }
}

/// Prints an aligned `Key  Value` table.
pub(crate) fn table(rows: &[(String, String)]) {
    let width = rows
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0)
        .max(3);
    println!("{:<width$}    Value", "Key");
    println!("{:<width$}    -----", "---");
    for (key, value) in rows {
        println!("{key:<width$}    {value}");
    }
}

/// How a JSON value prints in a table cell, like Vault's CLI.
pub(crate) fn cell(value: &Value) -> String {
    match value {
        Value::Null => "n/a".to_owned(),
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            format!("[{}]", items.iter().map(cell).collect::<Vec<_>>().join(" "))
        }
        Value::Object(map) => format!(
            "map[{}]",
            map.iter()
                .map(|(k, v)| format!("{k}:{}", cell(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        other => other.to_string(),
    }
}

/// What the server banner shows.
pub(crate) struct Banner<'a> {
    /// Address clients should use.
    pub(crate) api_addr: String,
    /// The bound address.
    pub(crate) listen: SocketAddr,
    /// Whether TLS is on.
    pub(crate) tls: bool,
    /// Storage kind.
    pub(crate) storage: &'a str,
    /// Log level.
    pub(crate) log_level: &'a str,
    /// Dev-mode credentials, printed once.
    pub(crate) dev: Option<&'a DevInit>,
}

/// Prints the server banner (and, in dev mode, the unseal key and root token).
pub(crate) fn server_banner(banner: &Banner<'_>) {
    println!("==> Coffer server configuration:");
    println!();
    println!("             Api Address: {}", banner.api_addr);
    println!("          Listen Address: {}", banner.listen);
    println!(
        "                     TLS: {}",
        if banner.tls { "enabled" } else { "disabled" }
    );
    println!("                 Storage: {}", banner.storage);
    println!("               Log Level: {}", banner.log_level);
    println!("                 Version: Coffer v{}", coffer_core::VERSION);
    println!();
    if let Some(dev) = banner.dev {
        println!(
            "WARNING! dev mode is enabled! In this mode, Coffer runs entirely unsealed with a"
        );
        println!("single unseal key and prints the root token below. Data is not durable.");
        println!();
        println!("You may need to set the following environment variables:");
        println!();
        println!("    $ export COFFER_ADDR='{}'", banner.api_addr);
        println!("    $ export VAULT_ADDR='{}'", banner.api_addr);
        println!();
        println!("Unseal Key: {}", dev.unseal_key.to_base64().as_str());
        println!("Root Token: {}", dev.root_token.expose());
        println!();
        println!("Development mode should NOT be used in production installations!");
        println!();
    }
    println!("==> Coffer server started! Log data will stream in below:");
    println!();
    let _ = std::io::stdout().flush();
}
