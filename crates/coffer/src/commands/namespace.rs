//! `coffer namespace create|list|lookup|delete`: namespaces below the current one (the global
//! `-namespace` flag) through `sys/namespaces`, with the requests and output of `bao namespace`.

use anyhow::Context;
use coffer_client::Client;
use serde_json::{Map, Value, json};

use super::Outcome;
use super::generic::{failure, print_secret, secret_of};
use crate::cli::NamespaceCommand;
use crate::output::{self, Format};

/// Runs one `coffer namespace …` command.
pub(crate) async fn run(
    client: &Client,
    format: Format,
    command: NamespaceCommand,
) -> anyhow::Result<Outcome> {
    match command {
        NamespaceCommand::Create {
            custom_metadata,
            name,
        } => create(client, format, &name, &custom_metadata).await,
        NamespaceCommand::List => list(client, format).await,
        NamespaceCommand::Lookup { name } => lookup(client, format, &name).await,
        NamespaceCommand::Delete { name } => delete(client, &name).await,
    }
}

/// A namespace name as the API takes it: one segment, no slashes around it.
fn name_of(name: &str) -> anyhow::Result<&str> {
    let trimmed = name.trim().trim_matches('/');
    if trimmed.is_empty() {
        anyhow::bail!("a namespace name is required");
    }
    Ok(trimmed)
}

/// Prints a namespace: `Key  Value` rows, or its data alone as JSON/YAML (as `bao` does).
fn print_namespace(format: Format, reply: coffer_client::RawReply) -> anyhow::Result<Outcome> {
    let Some(secret) = secret_of(reply)? else {
        return failure("Namespace not found");
    };
    match format {
        Format::Table => print_secret(format, &secret, None),
        Format::Json | Format::Yaml => {
            output::encoded(format, &Value::Object(secret.data.unwrap_or_default()));
            Ok(Outcome::Success)
        }
    }
}

/// `coffer namespace create [-custom-metadata=K=V]... NAME`.
async fn create(
    client: &Client,
    format: Format,
    name: &str,
    custom_metadata: &[String],
) -> anyhow::Result<Outcome> {
    let name = name_of(name)?;
    let metadata: Map<String, Value> = super::string_pairs(custom_metadata, "custom-metadata")?;
    let reply = client
        .raw(
            "POST",
            &format!("sys/namespaces/{name}"),
            Some(&json!({"custom_metadata": metadata})),
        )
        .await
        .with_context(|| format!("creating namespace {name}/"))?;
    print_namespace(format, reply)
}

/// `coffer namespace lookup NAME`.
async fn lookup(client: &Client, format: Format, name: &str) -> anyhow::Result<Outcome> {
    let name = name_of(name)?;
    let reply = client
        .raw("GET", &format!("sys/namespaces/{name}"), None)
        .await
        .with_context(|| format!("looking up namespace {name}/"))?;
    print_namespace(format, reply)
}

/// `coffer namespace list`: a `Keys` column, or the keys as a JSON/YAML array; none is exit 2.
async fn list(client: &Client, format: Format) -> anyhow::Result<Outcome> {
    let reply = client
        .raw("LIST", "sys/namespaces", None)
        .await
        .context("listing namespaces")?;
    let keys: Vec<Value> = secret_of(reply)?
        .and_then(|secret| secret.data)
        .and_then(|mut data| data.remove("keys"))
        .and_then(|keys| match keys {
            Value::Array(keys) => Some(keys),
            _ => None,
        })
        .unwrap_or_default();
    if keys.is_empty() {
        return failure("No namespaces found");
    }
    match format {
        Format::Table => {
            let keys: Vec<String> = keys.iter().map(output::cell).collect();
            output::list("Keys", &keys);
        }
        Format::Json | Format::Yaml => output::encoded(format, &Value::Array(keys)),
    }
    Ok(Outcome::Success)
}

/// `coffer namespace delete NAME`: the namespace and everything stored in it.
async fn delete(client: &Client, name: &str) -> anyhow::Result<Outcome> {
    let name = name_of(name)?;
    let reply = client
        .raw("DELETE", &format!("sys/namespaces/{name}"), None)
        .await
        .with_context(|| format!("deleting namespace {name}/"))?;
    let secret = secret_of(reply)?;
    match secret {
        Some(secret) if secret.data.is_some() => {
            output::line(&format!("Success! Namespace deleted: {name}/"));
        }
        Some(secret) => {
            output::warnings(secret.warnings.as_deref().unwrap_or_default());
        }
        None => output::warnings(&["Requested namespace does not exist".to_owned()]),
    }
    Ok(Outcome::Success)
}
