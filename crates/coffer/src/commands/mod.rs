//! The client-side commands: each turns parsed arguments into API calls and prints the result in
//! the chosen format. Errors bubble up to `main`, which picks the exit code.

pub(crate) mod access;
pub(crate) mod audit;
pub(crate) mod auth;
pub(crate) mod credentials;
pub(crate) mod data;
pub(crate) mod generic;
pub(crate) mod inject;
pub(crate) mod kv;
pub(crate) mod lease;
pub(crate) mod migrate;
pub(crate) mod namespace;
pub(crate) mod operator;
pub(crate) mod policy;
pub(crate) mod run;
pub(crate) mod secret_cache;
pub(crate) mod secret_read;
pub(crate) mod secret_ref;
pub(crate) mod secrets;
pub(crate) mod secrets_store;
pub(crate) mod token;
pub(crate) mod transfer;

use std::io::{BufRead as _, IsTerminal as _};

use anyhow::Context;
use serde_json::{Map, Value};

use crate::output::{self, Format};

/// A command's outcome that is not an error but still sets a non-zero exit code (e.g. `status`
/// of a sealed server exits 2, like Vault's CLI).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Exit 0.
    Success,
    /// Exit 2 (sealed server).
    Sealed,
    /// Exit 2 after the command said why on stderr, as Vault's CLI does for
    /// `No value found at …` and other failures that are not API errors.
    Failure,
    /// Exit with this code: the command `coffer run` ran exited with it.
    Exit(u8),
}

/// Prints a `-field` value the way Vault does: raw text, with a newline only on a terminal.
pub(crate) fn print_raw(text: &str) {
    if std::io::stdout().is_terminal() {
        output::line(text);
    } else {
        output::raw(text);
    }
}

/// Reads one secret value: the given argument, `-` for stdin, or a prompt when absent.
pub(crate) fn read_secret(given: Option<String>, prompt: &str) -> anyhow::Result<String> {
    match given.as_deref() {
        Some("-") | None => {
            let stdin = std::io::stdin();
            if given.is_none() && stdin.is_terminal() {
                eprint!("{prompt}");
            }
            let mut line = String::new();
            stdin
                .lock()
                .read_line(&mut line)
                .context("reading from stdin")?;
            let value = line.trim().to_owned();
            if value.is_empty() {
                anyhow::bail!("no value given on stdin");
            }
            Ok(value)
        }
        Some(value) => Ok(value.to_owned()),
    }
}

/// Parses repeated `key=value` flag values (`-options`, `-custom-metadata`) into a map of
/// strings; `flag` names the flag in errors, which never repeat the value.
pub(crate) fn string_pairs(pairs: &[String], flag: &str) -> anyhow::Result<Map<String, Value>> {
    let mut map = Map::new();
    for pair in pairs {
        let (key, value) = pair
            .split_once('=')
            .with_context(|| format!("-{flag} values must be key=value"))?;
        if key.is_empty() {
            anyhow::bail!("-{flag} values need a key before the =");
        }
        map.insert(key.to_owned(), Value::String(value.to_owned()));
    }
    Ok(map)
}

/// Prints a map of fields, or one field when `field` is given.
pub(crate) fn print_fields(
    format: Format,
    field: Option<&str>,
    rows: &[(String, Value)],
    json_value: &Value,
) -> anyhow::Result<()> {
    if let Some(field) = field {
        let value = rows
            .iter()
            .find(|(k, _)| k == field)
            .map(|(_, v)| v)
            .with_context(|| format!("Field {field:?} not present in secret"))?;
        print_raw(&output::cell(value));
        return Ok(());
    }
    match format {
        Format::Json | Format::Yaml => output::encoded(format, json_value),
        Format::Table => {
            let rows: Vec<(String, String)> = rows
                .iter()
                .map(|(k, v)| (k.clone(), output::cell(v)))
                .collect();
            output::table(&rows);
        }
    }
    Ok(())
}
