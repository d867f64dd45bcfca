//! `coffer credentials create|get|list|update|rotate|revoke|versions|due|config`: the typed
//! credentials engine at `credentials/`. Values come from `-value`, `-value-file` or
//! `-value-stdin` and are never printed back; tables show a credential's facts, metadata
//! (`metadata.<key>` rows) and policy (`policy.<field>` rows), `-format=json|yaml` the reply's
//! data. Durations and identities are checked here, before anything is sent.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use coffer_api::credentials::{
    Credential, CredentialCreateRequest, CredentialFilter, CredentialList, CredentialPatch,
    CredentialState, CredentialVersions, CredentialsConfig, Identity, Reminders, RotateRequest,
    SecretString,
};
use coffer_client::Client;
use coffer_core::ttl::Ttl;
use serde::Serialize;
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use super::{Outcome, print_fields};
use crate::cli::{
    CredentialCreateArgs, CredentialListArgs, CredentialRotateArgs, CredentialStateArg,
    CredentialUpdateArgs, CredentialsCommand, CredentialsConfigArgs, PolicyArgs, ValueSource,
};
use crate::output::{self, Format};

/// Runs one `coffer credentials …` command.
pub(crate) async fn run(
    client: &Client,
    format: Format,
    command: CredentialsCommand,
) -> anyhow::Result<Outcome> {
    match command {
        CredentialsCommand::Create(args) => create(client, format, args).await,
        CredentialsCommand::Get { name, field } => get(client, format, &name, field).await,
        CredentialsCommand::List(args) => list(client, format, args).await,
        CredentialsCommand::Update(args) => update(client, format, args).await,
        CredentialsCommand::Rotate(args) => rotate(client, format, args).await,
        CredentialsCommand::Revoke { name } => revoke(client, format, &name).await,
        CredentialsCommand::Versions { name } => versions(client, format, &name).await,
        CredentialsCommand::Due { within } => due(client, format, within).await,
        CredentialsCommand::Config(args) => config(client, format, args).await,
    }
}

/// A duration flag checked before sending: `flag` names it in the error.
pub(crate) fn duration_flag(flag: &str, text: &str) -> anyhow::Result<String> {
    let ttl = Ttl::parse(text).map_err(|e| anyhow::anyhow!("-{flag}: {e}"))?;
    if ttl.is_zero() {
        anyhow::bail!("-{flag} must be longer than zero");
    }
    Ok(text.trim().to_owned())
}

/// An identity written `type:name`, e.g. `agent:deploy`; `flag` names it in the error.
pub(crate) fn identity_arg(flag: &str, text: &str) -> anyhow::Result<Identity> {
    match text.trim().split_once(':') {
        Some((kind, name)) if !kind.trim().is_empty() && !name.trim().is_empty() => Ok(Identity {
            kind: kind.trim().to_owned(),
            name: name.trim().to_owned(),
        }),
        _ => anyhow::bail!("{flag} must look like type:name, e.g. agent:deploy (got {text:?})"),
    }
}

/// The value named by `-value`, `-value-file` or `-value-stdin`.
fn read_value(source: &ValueSource, stdin: &mut dyn std::io::Read) -> anyhow::Result<SecretString> {
    let text = match (&source.value, &source.value_file, source.value_stdin) {
        (Some(value), None, false) => Zeroizing::new(value.clone()),
        (None, Some(path), false) => read_file(path, "the value")?,
        (None, None, true) => {
            let mut text = Zeroizing::new(String::new());
            stdin
                .read_to_string(&mut text)
                .context("reading the value from stdin")?;
            text
        }
        _ => {
            anyhow::bail!("give the value with exactly one of -value, -value-file or -value-stdin")
        }
    };
    secret_text(text, "the value")
}

/// A secret file's text (its path is named in errors, never its content).
fn read_file(path: &Path, what: &str) -> anyhow::Result<Zeroizing<String>> {
    std::fs::read_to_string(path)
        .map(Zeroizing::new)
        .with_context(|| format!("reading {what} from {}", path.display()))
}

/// Drops trailing newlines (left by editors and `echo`); an empty secret is an error.
fn secret_text(text: Zeroizing<String>, what: &str) -> anyhow::Result<SecretString> {
    let trimmed = text.trim_end_matches(['\n', '\r']);
    if trimmed.trim().is_empty() {
        anyhow::bail!("{what} is empty");
    }
    Ok(SecretString::new(trimmed))
}

fn read_passphrase(path: Option<&Path>) -> anyhow::Result<Option<SecretString>> {
    path.map(|path| secret_text(read_file(path, "the passphrase")?, "the passphrase"))
        .transpose()
}

/// `-metadata key=value` pairs; with `removals`, `key=` stands for "remove this key" (`null`).
fn metadata_pairs(pairs: &[String], removals: bool) -> anyhow::Result<Map<String, Value>> {
    let mut map = Map::new();
    for pair in pairs {
        let (key, value) = pair
            .split_once('=')
            .context("-metadata values must be key=value")?;
        let key = key.trim();
        if key.is_empty() {
            anyhow::bail!("-metadata values need a key before the =");
        }
        let value = if removals && value.is_empty() {
            Value::Null
        } else {
            Value::String(value.to_owned())
        };
        map.insert(key.to_owned(), value);
    }
    Ok(map)
}

/// The policy object from `-policy` (JSON or `@file`) with the single flags laid over it.
fn policy_body(args: &PolicyArgs) -> anyhow::Result<Map<String, Value>> {
    let mut policy = match args.policy.as_deref() {
        None => Map::new(),
        Some(text) => {
            let text = match text.strip_prefix('@') {
                Some(file) => std::fs::read_to_string(file)
                    .with_context(|| format!("reading the policy from {file}"))?,
                None => text.to_owned(),
            };
            match serde_json::from_str::<Value>(&text).context("-policy is not valid JSON")? {
                Value::Object(map) => map,
                _ => anyhow::bail!("-policy must be a JSON object, e.g. {{\"maxLeases\": 5}}"),
            }
        }
    };
    if let Some(ttl) = &args.default_ttl {
        policy.insert(
            "defaultLeaseTTL".into(),
            json!(duration_flag("default-ttl", ttl)?),
        );
    }
    if let Some(ttl) = &args.max_ttl {
        policy.insert("maxLeaseTTL".into(), json!(duration_flag("max-ttl", ttl)?));
    }
    if let Some(count) = args.max_leases {
        if count == 0 {
            anyhow::bail!("-max-leases must be at least 1");
        }
        policy.insert("maxLeases".into(), json!(count));
    }
    if !args.allow.is_empty() {
        let patterns = args
            .allow
            .iter()
            .map(|text| identity_arg("-allow", text).map(|id| id.to_string()))
            .collect::<anyhow::Result<Vec<_>>>()?;
        policy.insert("allowedIdentities".into(), json!(patterns));
    }
    Ok(policy)
}

/// The `Key  Value` rows of a credential.
fn credential_rows(credential: &Credential) -> Vec<(String, Value)> {
    let mut rows = vec![
        ("name".to_owned(), json!(credential.name)),
        ("type".to_owned(), json!(credential.kind)),
        ("state".to_owned(), json!(credential.state.as_str())),
        ("version".to_owned(), json!(credential.version)),
        ("id".to_owned(), json!(credential.id)),
        ("createdAt".to_owned(), json!(credential.created_at)),
        (
            "createdBy".to_owned(),
            json!(credential.created_by.to_string()),
        ),
        ("updatedAt".to_owned(), json!(credential.updated_at)),
    ];
    if let Some(at) = &credential.expires_at {
        rows.push(("expiresAt".to_owned(), json!(at)));
    }
    if let Some(at) = &credential.revoked_at {
        rows.push(("revokedAt".to_owned(), json!(at)));
    }
    for (key, value) in &credential.metadata {
        rows.push((format!("metadata.{key}"), json!(value)));
    }
    let policy = &credential.policy;
    let mut policy_rows = vec![
        (
            "defaultLeaseTTL",
            policy.default_lease_ttl.as_ref().map(|v| json!(v)),
        ),
        (
            "maxLeaseTTL",
            policy.max_lease_ttl.as_ref().map(|v| json!(v)),
        ),
        ("maxLeases", policy.max_leases.map(|v| json!(v))),
        (
            "allowedIdentities",
            policy
                .allowed_identities
                .as_ref()
                .map(|ids| json!(ids.iter().map(Identity::to_string).collect::<Vec<_>>())),
        ),
    ];
    if let Some(rotation) = &policy.rotation {
        policy_rows.push((
            "rotation",
            Some(json!(format!(
                "every {}, reminder {} before{}",
                rotation.period,
                rotation.notify_before,
                if rotation.enabled { "" } else { " (disabled)" }
            ))),
        ));
    }
    for (key, value) in policy_rows {
        if let Some(value) = value {
            rows.push((format!("policy.{key}"), value));
        }
    }
    rows
}

/// Prints a reply in the chosen format: `extra` rows follow the credential's in a table.
fn print_credential<T: Serialize>(
    format: Format,
    field: Option<&str>,
    credential: &Credential,
    extra: &[(&str, Value)],
    reply: &T,
) -> anyhow::Result<()> {
    let mut rows = credential_rows(credential);
    rows.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    let json = serde_json::to_value(reply).context("encoding the reply")?;
    print_fields(format, field, &rows, &json)
}

async fn create(
    client: &Client,
    format: Format,
    args: CredentialCreateArgs,
) -> anyhow::Result<Outcome> {
    let policy = policy_body(&args.policy)?;
    let metadata = metadata_pairs(&args.metadata, false)?
        .into_iter()
        .filter_map(|(k, v)| Some((k, v.as_str()?.to_owned())))
        .collect::<BTreeMap<_, _>>();
    let request = CredentialCreateRequest {
        kind: args.kind.as_str().to_owned(),
        value: read_value(&args.value, &mut std::io::stdin())?,
        metadata,
        policy: (!policy.is_empty()).then_some(policy),
        passphrase: read_passphrase(args.passphrase_file.as_deref())?,
    };
    let reply = client.credentials().create(&args.name, &request).await?;
    output::warnings(&reply.warnings);
    if format == Format::Table && args.field.is_none() {
        output::line(&format!(
            "Success! Created credential {} ({}, version {})",
            reply.data.name, reply.data.kind, reply.data.version
        ));
        output::line("");
    }
    print_credential(format, args.field.as_deref(), &reply.data, &[], &reply.data)?;
    Ok(Outcome::Success)
}

async fn get(
    client: &Client,
    format: Format,
    name: &str,
    field: Option<String>,
) -> anyhow::Result<Outcome> {
    let Some(credential) = client.credentials().get(name).await? else {
        output::error_line(&format!("No credential named {name:?}"));
        return Ok(Outcome::Failure);
    };
    print_credential(format, field.as_deref(), &credential, &[], &credential)?;
    Ok(Outcome::Success)
}

fn state_of(arg: CredentialStateArg) -> CredentialState {
    match arg {
        CredentialStateArg::Active => CredentialState::Active,
        CredentialStateArg::Rotated => CredentialState::Rotated,
        CredentialStateArg::Revoked => CredentialState::Revoked,
    }
}

fn list_rows(list: &CredentialList) -> Vec<Vec<String>> {
    list.keys
        .iter()
        .map(|name| match list.key_info.get(name) {
            Some(info) => vec![
                name.clone(),
                info.kind.clone(),
                info.state.as_str().to_owned(),
                info.version.to_string(),
                info.updated_at.clone(),
            ],
            None => vec![name.clone()],
        })
        .collect()
}

async fn list(
    client: &Client,
    format: Format,
    args: CredentialListArgs,
) -> anyhow::Result<Outcome> {
    let metadata = metadata_pairs(&args.metadata, false)?
        .into_iter()
        .filter_map(|(k, v)| Some((k, v.as_str()?.to_owned())))
        .collect();
    let filter = CredentialFilter {
        kind: args.kind.map(|k| k.as_str().to_owned()),
        state: args.state.map(state_of),
        metadata,
    };
    let list = client.credentials().list(&filter).await?;
    match format {
        Format::Table if list.keys.is_empty() => output::line("No credentials found"),
        Format::Table => output::column_table(
            &["Name", "Type", "State", "Version", "Updated"],
            &list_rows(&list),
        ),
        other => output::encoded(other, &serde_json::to_value(&list).context("encoding")?),
    }
    Ok(Outcome::Success)
}

async fn update(
    client: &Client,
    format: Format,
    args: CredentialUpdateArgs,
) -> anyhow::Result<Outcome> {
    let patch = CredentialPatch {
        metadata: metadata_pairs(&args.metadata, true)?,
        policy: policy_body(&args.policy)?,
    };
    if patch.metadata.is_empty() && patch.policy.is_empty() {
        anyhow::bail!(
            "nothing to change: give -metadata key=value (key= removes), -policy or a policy flag"
        );
    }
    let reply = client.credentials().update(&args.name, &patch).await?;
    output::warnings(&reply.warnings);
    print_credential(format, args.field.as_deref(), &reply.data, &[], &reply.data)?;
    Ok(Outcome::Success)
}

async fn rotate(
    client: &Client,
    format: Format,
    args: CredentialRotateArgs,
) -> anyhow::Result<Outcome> {
    let request = if args.value.generate {
        RotateRequest {
            new_value: None,
            generate: true,
            passphrase: None,
        }
    } else {
        let source = ValueSource {
            value: args.value.value.clone(),
            value_file: args.value.value_file.clone(),
            value_stdin: args.value.value_stdin,
        };
        RotateRequest {
            new_value: Some(read_value(&source, &mut std::io::stdin())?),
            generate: false,
            passphrase: read_passphrase(args.passphrase_file.as_deref())?,
        }
    };
    let reply = client.credentials().rotate(&args.name, &request).await?;
    output::warnings(&reply.warnings);
    let rotated = &reply.data;
    if format == Format::Table && args.field.is_none() {
        output::line(&format!(
            "Success! Rotated credential {} to version {}; version {} stays readable by its {} active lease(s)",
            rotated.credential.name,
            rotated.credential.version,
            rotated.previous_version,
            rotated.previous_version_leases
        ));
        output::line("");
    }
    print_credential(
        format,
        args.field.as_deref(),
        &rotated.credential,
        &[
            ("previousVersion", json!(rotated.previous_version)),
            (
                "previousVersionLeases",
                json!(rotated.previous_version_leases),
            ),
        ],
        rotated,
    )?;
    Ok(Outcome::Success)
}

async fn revoke(client: &Client, format: Format, name: &str) -> anyhow::Result<Outcome> {
    let revoked = client.credentials().revoke(name).await?;
    match format {
        Format::Table => output::line(&format!(
            "Success! Revoked credential {}; {} active lease(s) ended",
            revoked.credential.name, revoked.revoked_leases
        )),
        other => output::encoded(other, &serde_json::to_value(&revoked).context("encoding")?),
    }
    Ok(Outcome::Success)
}

fn version_rows(versions: &CredentialVersions) -> Vec<Vec<String>> {
    versions
        .versions
        .iter()
        .map(|v| {
            vec![
                v.version.to_string(),
                v.state.as_str().to_owned(),
                v.created_at.clone(),
                v.created_by.to_string(),
                v.rotated_at.clone().unwrap_or_default(),
                v.destroyed.to_string(),
                v.active_leases.to_string(),
            ]
        })
        .collect()
}

async fn versions(client: &Client, format: Format, name: &str) -> anyhow::Result<Outcome> {
    let Some(versions) = client.credentials().versions(name).await? else {
        output::error_line(&format!("No credential named {name:?}"));
        return Ok(Outcome::Failure);
    };
    match format {
        Format::Table => output::column_table(
            &[
                "Version",
                "State",
                "Created",
                "Created By",
                "Rotated",
                "Destroyed",
                "Active Leases",
            ],
            &version_rows(&versions),
        ),
        other => output::encoded(other, &serde_json::to_value(&versions).context("encoding")?),
    }
    Ok(Outcome::Success)
}

fn reminder_rows(reminders: &Reminders) -> Vec<Vec<String>> {
    reminders
        .reminders
        .iter()
        .map(|r| {
            vec![
                r.credential.clone(),
                r.kind.clone(),
                r.version.to_string(),
                r.event.clone(),
                r.at.clone(),
                r.source.clone(),
            ]
        })
        .collect()
}

async fn due(client: &Client, format: Format, within: Option<String>) -> anyhow::Result<Outcome> {
    let within = within.map(|w| duration_flag("within", &w)).transpose()?;
    let reminders = client.credentials().due(within.as_deref()).await?;
    match format {
        Format::Table if reminders.reminders.is_empty() => {
            output::line("No credentials are due for rotation or expiring")
        }
        Format::Table => output::column_table(
            &["Credential", "Type", "Version", "Event", "At", "Source"],
            &reminder_rows(&reminders),
        ),
        other => output::encoded(
            other,
            &serde_json::to_value(&reminders).context("encoding")?,
        ),
    }
    Ok(Outcome::Success)
}

async fn config(
    client: &Client,
    format: Format,
    args: CredentialsConfigArgs,
) -> anyhow::Result<Outcome> {
    let changes = CredentialsConfig {
        default_lease_ttl: args
            .default_ttl
            .map(|t| duration_flag("default-ttl", &t))
            .transpose()?,
        max_lease_ttl: args
            .max_ttl
            .map(|t| duration_flag("max-ttl", &t))
            .transpose()?,
        max_leases: match args.max_leases {
            Some(0) => anyhow::bail!("-max-leases must be at least 1"),
            other => other,
        },
    };
    let api = client.credentials();
    let config = if changes == CredentialsConfig::default() {
        api.config().await?
    } else {
        api.set_config(&changes).await?
    };
    let rows = vec![
        (
            "defaultLeaseTTL".to_owned(),
            json!(config.default_lease_ttl.clone().unwrap_or_default()),
        ),
        (
            "maxLeaseTTL".to_owned(),
            json!(config.max_lease_ttl.clone().unwrap_or_default()),
        ),
        (
            "maxLeases".to_owned(),
            config
                .max_leases
                .map_or_else(|| json!("unlimited"), |n| json!(n)),
        ),
    ];
    let json = serde_json::to_value(&config).context("encoding the reply")?;
    print_fields(format, args.field.as_deref(), &rows, &json)?;
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy_args(policy: Option<&str>) -> PolicyArgs {
        PolicyArgs {
            policy: policy.map(str::to_owned),
            default_ttl: None,
            max_ttl: None,
            max_leases: None,
            allow: Vec::new(),
        }
    }

    #[test]
    fn policy_flags_override_the_json() {
        let mut args = policy_args(Some(r#"{"maxLeases": 2, "defaultLeaseTTL": "1h"}"#));
        args.default_ttl = Some("30m".into());
        args.max_ttl = Some("4h".into());
        args.allow = vec!["agent:deploy-*".into(), " user:alice ".into()];
        assert_eq!(
            Value::Object(policy_body(&args).expect("valid")),
            json!({
                "maxLeases": 2,
                "defaultLeaseTTL": "30m",
                "maxLeaseTTL": "4h",
                "allowedIdentities": ["agent:deploy-*", "user:alice"]
            })
        );
        assert!(policy_body(&policy_args(None)).expect("valid").is_empty());
    }

    #[test]
    fn bad_policy_input_is_refused_before_sending() {
        let check = |args: PolicyArgs, needle: &str| {
            let error = format!("{:#}", policy_body(&args).expect_err("refused"));
            assert!(error.contains(needle), "{needle:?} not in {error:?}");
        };
        check(policy_args(Some("{not json")), "-policy is not valid JSON");
        check(policy_args(Some("[1]")), "must be a JSON object");
        check(
            policy_args(Some("@/nonexistent/policy.json")),
            "reading the policy",
        );
        let mut args = policy_args(None);
        args.max_ttl = Some("1x".into());
        check(args, "-max-ttl: invalid duration \"1x\"");
        let mut args = policy_args(None);
        args.default_ttl = Some("0s".into());
        check(args, "-default-ttl must be longer than zero");
        let mut args = policy_args(None);
        args.allow = vec!["deploy".into()];
        check(args, "-allow must look like type:name");
        let mut args = policy_args(None);
        args.max_leases = Some(0);
        check(args, "-max-leases must be at least 1");
    }

    #[test]
    fn metadata_removals_only_on_update() {
        let pairs = vec!["team=payments".to_owned(), "old=".to_owned()];
        assert_eq!(
            Value::Object(metadata_pairs(&pairs, true).expect("valid")),
            json!({"team": "payments", "old": null})
        );
        assert_eq!(
            Value::Object(metadata_pairs(&pairs, false).expect("valid")),
            json!({"team": "payments", "old": ""})
        );
        assert!(metadata_pairs(&["novalue".to_owned()], true).is_err());
        assert!(metadata_pairs(&["=x".to_owned()], true).is_err());
    }

    #[test]
    fn values_lose_trailing_newlines_and_empty_ones_are_refused() {
        let source = |stdin: bool| ValueSource {
            value: None,
            value_file: None,
            value_stdin: stdin,
        };
        let mut input: &[u8] = b"-----BEGIN KEY-----\nabc\n-----END KEY-----\r\n\n";
        let value = read_value(&source(true), &mut input).expect("read");
        assert_eq!(
            value.expose(),
            "-----BEGIN KEY-----\nabc\n-----END KEY-----"
        );
        let mut empty: &[u8] = b"\n";
        let error = read_value(&source(true), &mut empty).expect_err("empty");
        assert_eq!(error.to_string(), "the value is empty");
        let mut unused: &[u8] = b"";
        assert!(read_value(&source(false), &mut unused).is_err());
        let file = ValueSource {
            value: None,
            value_file: Some("/nonexistent/value".into()),
            value_stdin: false,
        };
        let error = format!("{:#}", read_value(&file, &mut unused).expect_err("missing"));
        assert!(
            error.starts_with("reading the value from /nonexistent/value"),
            "{error}"
        );
    }

    #[test]
    fn identities_and_durations() {
        let id = identity_arg("-identity", "agent:deploy").expect("valid");
        assert_eq!((id.kind.as_str(), id.name.as_str()), ("agent", "deploy"));
        for bad in ["agent", ":x", "agent:", ""] {
            assert!(identity_arg("-identity", bad).is_err(), "{bad:?}");
        }
        assert_eq!(duration_flag("ttl", " 30m ").expect("valid"), "30m");
        assert_eq!(duration_flag("ttl", "7d").expect("valid"), "7d");
        let error = duration_flag("ttl", "1x").expect_err("bad").to_string();
        assert_eq!(
            error,
            "-ttl: invalid duration \"1x\": unknown unit (use s, m, h or d)"
        );
    }
}
