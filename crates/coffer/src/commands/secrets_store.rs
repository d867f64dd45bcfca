//! v-secure style named secrets (issue #7): `coffer secrets create|update|get|list-secrets|
//! versions|diff|rollback|delete` (also spelled `coffer secrets:create` …; `secrets:list` is
//! `list-secrets`, since `secrets list` stays Vault's mount listing). Each is a few calls of
//! `coffer_client::secrets` on a KV v2 mount; input is checked before anything is written.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use clap::{Args, Subcommand};
use coffer_api::credentials::SecretString;
use coffer_client::secrets::{self, RotationPolicy, SecretFilter, SecretSpec};
use coffer_client::{Client, Secret};
use serde_json::{Map, Value, json};

use super::{Outcome, print_raw, read_secret};
use crate::output::{self, Format};

/// Where the secret lives: the mount and the environment.
#[derive(Debug, Clone, Args)]
pub(crate) struct Location {
    /// The KV v2 mount holding the secrets [env: COFFER_SECRETS_MOUNT].
    #[arg(long, env = "COFFER_SECRETS_MOUNT", default_value = "secret")]
    pub(crate) mount: String,
    /// The environment (e.g. `production`): the secret is `<env>/<NAME>` in the mount.
    #[arg(long)]
    pub(crate) env: Option<String>,
}

/// The flags of `create` and `update`.
#[derive(Debug, Clone, Args)]
pub(crate) struct WriteArgs {
    /// The secret's name, e.g. `API_KEY`.
    pub(crate) name: String,
    /// The value (`-` reads it from stdin).
    pub(crate) value: Option<String>,
    /// Tags, comma-separated or repeated (`production,api`); an environment tag
    /// (production, staging, development, prod, dev, test) places the secret under it.
    #[arg(long, value_delimiter = ',')]
    pub(crate) tags: Vec<String>,
    /// Metadata `key=value`, repeatable.
    #[arg(long)]
    pub(crate) metadata: Vec<String>,
    /// Each version expires this long after it is written (e.g. 30d, 12h).
    #[arg(long)]
    pub(crate) expires_in: Option<String>,
    /// Rotation period (e.g. 30d).
    #[arg(long)]
    pub(crate) rotation_period: Option<String>,
    /// With --rotation-period: notify this long before rotation is due (e.g. 7d).
    #[arg(long, requires = "rotation_period")]
    pub(crate) notify_before: Option<String>,
    /// With --rotation-period: record the policy as disabled.
    #[arg(long, requires = "rotation_period")]
    pub(crate) rotation_disabled: bool,
    /// Generate a random value of N bytes (base64url) instead of giving one.
    #[arg(long, conflicts_with = "value")]
    pub(crate) generate: Option<usize>,
    /// Mount and environment.
    #[command(flatten)]
    pub(crate) location: Location,
}

/// A name and its location.
#[derive(Debug, Clone, Args)]
pub(crate) struct NameArgs {
    /// The secret's name.
    pub(crate) name: String,
    /// Mount and environment.
    #[command(flatten)]
    pub(crate) location: Location,
}

/// The named-secret commands, flattened into `coffer secrets`.
#[derive(Debug, Subcommand)]
pub(crate) enum StoreCommand {
    /// Create a named secret (refused if it exists): `coffer secrets:create API_KEY VALUE --tags production,api`.
    Create(WriteArgs),
    /// Update a secret: a new version with VALUE, and/or new tags, metadata, expiry or rotation policy.
    Update(WriteArgs),
    /// Read a secret (current version or --version N).
    Get {
        /// Name and location.
        #[command(flatten)]
        target: NameArgs,
        /// The version to read.
        #[arg(long)]
        version: Option<u64>,
        /// Print only this data key (`value` for the secret itself).
        #[arg(long)]
        field: Option<String>,
    },
    /// List named secrets (`secrets:list`), filtered by tags and environment.
    #[command(name = "list-secrets")]
    ListSecrets {
        /// Only secrets with every one of these tags (comma-separated or repeated).
        #[arg(long, value_delimiter = ',')]
        tags: Vec<String>,
        /// Mount and environment.
        #[command(flatten)]
        location: Location,
    },
    /// List a secret's versions.
    Versions(NameArgs),
    /// Compare two versions: keys added, removed or changed, with SHA-256 fingerprints.
    Diff {
        /// Name and location.
        #[command(flatten)]
        target: NameArgs,
        /// The older version.
        #[arg(long)]
        from: u64,
        /// The newer version.
        #[arg(long)]
        to: u64,
        /// Also print the values.
        #[arg(long)]
        reveal: bool,
    },
    /// Roll back: write an old version's data (default: the previous version) as a new version.
    Rollback {
        /// Name and location.
        #[command(flatten)]
        target: NameArgs,
        /// The version to restore.
        #[arg(long)]
        version: Option<u64>,
    },
    /// Delete a secret: every version and its metadata.
    Delete(NameArgs),
}

/// Runs one named-secret command.
pub(crate) async fn run(
    client: &Client,
    format: Format,
    command: StoreCommand,
) -> anyhow::Result<Outcome> {
    match command {
        StoreCommand::Create(args) => create(client, format, args).await,
        StoreCommand::Update(args) => update(client, format, args).await,
        StoreCommand::Get {
            target,
            version,
            field,
        } => get(client, format, target, version, field.as_deref()).await,
        StoreCommand::ListSecrets { tags, location } => list(client, format, tags, location).await,
        StoreCommand::Versions(target) => versions(client, format, target).await,
        StoreCommand::Diff {
            target,
            from,
            to,
            reveal,
        } => diff(client, format, target, from, to, reveal).await,
        StoreCommand::Rollback { target, version } => {
            let api = client.secrets_at(&target.location.mount);
            let (restored, new) = api
                .rollback(&target.name, target.location.env.as_deref(), version)
                .await?;
            report(
                format,
                &format!(
                    "Success! Rolled back {} to version {restored}: now version {new}",
                    target.name
                ),
                json!({"name": target.name, "restored_version": restored, "version": new}),
            );
            Ok(Outcome::Success)
        }
        StoreCommand::Delete(target) => {
            let api = client.secrets_at(&target.location.mount);
            api.delete(&target.name, target.location.env.as_deref())
                .await?;
            report(
                format,
                &format!("Success! Deleted secret {}", target.name),
                json!({"name": target.name, "deleted": true}),
            );
            Ok(Outcome::Success)
        }
    }
}

fn report(format: Format, text: &str, value: Value) {
    match format {
        Format::Table => output::line(text),
        other => output::encoded(other, &value),
    }
}

/// The checked spec of `create`/`update` flags (nothing is sent before this succeeds).
fn spec_of(args: &WriteArgs, value: Option<SecretString>) -> anyhow::Result<SecretSpec> {
    let mut tags = BTreeSet::new();
    for tag in &args.tags {
        tags.extend(secrets::parse_tags(tag)?);
    }
    let mut metadata = BTreeMap::new();
    for pair in &args.metadata {
        let (key, value) = secrets::parse_metadata(pair)?;
        metadata.insert(key, value);
    }
    if let Some(expires) = &args.expires_in {
        secrets::parse_duration(expires).context("--expires-in")?;
    }
    let rotation = match &args.rotation_period {
        Some(period) => {
            secrets::parse_duration(period).context("--rotation-period")?;
            if let Some(notify) = &args.notify_before {
                secrets::parse_duration(notify).context("--notify-before")?;
            }
            Some(RotationPolicy {
                enabled: !args.rotation_disabled,
                period: period.clone(),
                notify_before: args.notify_before.clone(),
            })
        }
        None => None,
    };
    secrets::validate_name(&args.name)?;
    Ok(SecretSpec {
        name: args.name.clone(),
        value,
        tags: tags.into_iter().collect(),
        metadata,
        expires_in: args.expires_in.clone(),
        rotation,
        generate: args.generate,
        env: args.location.env.clone(),
    })
}

async fn create(client: &Client, format: Format, args: WriteArgs) -> anyhow::Result<Outcome> {
    // Check the flags before prompting for a value.
    spec_of(&args, None)?;
    let value = match args.generate {
        Some(_) => None,
        None => Some(SecretString::new(read_secret(
            args.value.clone(),
            "Secret value: ",
        )?)),
    };
    let spec = spec_of(&args, value)?;
    let api = client.secrets_at(&args.location.mount);
    let path = api.create(&spec).await?;
    report(
        format,
        &format!(
            "Success! Created secret {} at {}/{path} (version 1)",
            spec.name,
            api.mount()
        ),
        json!({"name": spec.name, "path": path, "mount": api.mount(), "version": 1}),
    );
    Ok(Outcome::Success)
}

async fn update(client: &Client, format: Format, args: WriteArgs) -> anyhow::Result<Outcome> {
    let value = match args.value.as_deref() {
        Some("-") => Some(SecretString::new(read_secret(
            args.value.clone(),
            "Secret value: ",
        )?)),
        Some(v) => Some(SecretString::new(v)),
        None => None,
    };
    let spec = spec_of(&args, value)?;
    let changes_policy = !spec.tags.is_empty()
        || !spec.metadata.is_empty()
        || spec.expires_in.is_some()
        || spec.rotation.is_some();
    if spec.value.is_none() && spec.generate.is_none() && !changes_policy {
        anyhow::bail!(
            "nothing to update: give a value, --generate N, or --tags/--metadata/--expires-in/--rotation-period"
        );
    }
    let api = client.secrets_at(&args.location.mount);
    let version = api.update(&spec).await?;
    let new_version = spec.value.is_some() || spec.generate.is_some();
    let what = if new_version {
        "new version"
    } else {
        "policy only, version"
    };
    report(
        format,
        &format!("Success! Updated secret {} ({what} {version})", spec.name),
        json!({"name": spec.name, "version": version}),
    );
    if spec.expires_in.is_some() && !new_version && format == Format::Table {
        // KV v2 sets a version's deletion time when it is written.
        output::line(
            "Note: the new expiry applies to versions written from now on; \
             the current version keeps its own deletion time.",
        );
    }
    Ok(Outcome::Success)
}

fn secret_json(secret: &Secret) -> Value {
    let data: Map<String, Value> = secret
        .data
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.expose().to_owned())))
        .collect();
    let mut out = json!({
        "name": secret.name,
        "env": secret.env,
        "path": secret.path,
        "version": secret.version,
        "value": secret.value.as_ref().map(|v| v.expose().to_owned()),
        "data": data,
        "tags": secret.tags,
        "metadata": secret.metadata,
        "expires_in": secret.expires_in,
        "created_time": secret.created_time,
        "deletion_time": secret.deletion_time,
    });
    if let Some(map) = out.as_object_mut() {
        map.insert(
            "rotation".into(),
            match &secret.rotation {
                Some(r) => json!({
                    "enabled": r.enabled,
                    "period": r.period,
                    "notify_before": r.notify_before,
                }),
                None => Value::Null,
            },
        );
        map.insert("generate".into(), json!(secret.generate));
    }
    out
}

async fn get(
    client: &Client,
    format: Format,
    target: NameArgs,
    version: Option<u64>,
    field: Option<&str>,
) -> anyhow::Result<Outcome> {
    let api = client.secrets_at(&target.location.mount);
    let secret = api
        .get(&target.name, target.location.env.as_deref(), version)
        .await?;
    if let Some(field) = field {
        let value = secret
            .data
            .get(field)
            .with_context(|| format!("Field {field:?} not present in secret"))?;
        print_raw(value.expose());
        return Ok(Outcome::Success);
    }
    match format {
        Format::Table => {
            let mut rows = vec![
                ("name".to_owned(), secret.name.clone()),
                (
                    "env".to_owned(),
                    secret.env.clone().unwrap_or_else(|| "n/a".into()),
                ),
                (
                    "path".to_owned(),
                    format!("{}/{}", api.mount(), secret.path),
                ),
                ("version".to_owned(), secret.version.to_string()),
                ("created_time".to_owned(), secret.created_time.clone()),
                (
                    "deletion_time".to_owned(),
                    secret.deletion_time.clone().unwrap_or_else(|| "n/a".into()),
                ),
                ("tags".to_owned(), secret.tags.join(",")),
            ];
            for (key, value) in &secret.metadata {
                rows.push((format!("metadata.{key}"), value.clone()));
            }
            if let Some(expires) = &secret.expires_in {
                rows.push(("expires_in".to_owned(), expires.clone()));
            }
            if let Some(rotation) = &secret.rotation {
                rows.push((
                    "rotation".to_owned(),
                    format!(
                        "{} every {}{}",
                        if rotation.enabled {
                            "enabled"
                        } else {
                            "disabled"
                        },
                        rotation.period,
                        rotation
                            .notify_before
                            .as_ref()
                            .map(|n| format!(", notify {n} before"))
                            .unwrap_or_default()
                    ),
                ));
            }
            for (key, value) in &secret.data {
                rows.push((key.clone(), value.expose().to_owned()));
            }
            output::table(&rows);
        }
        other => output::encoded(other, &secret_json(&secret)),
    }
    Ok(Outcome::Success)
}

async fn list(
    client: &Client,
    format: Format,
    tags: Vec<String>,
    location: Location,
) -> anyhow::Result<Outcome> {
    let mut wanted = BTreeSet::new();
    for tag in &tags {
        wanted.extend(secrets::parse_tags(tag)?);
    }
    let api = client.secrets_at(&location.mount);
    let found = api
        .list(&SecretFilter {
            tags: wanted.into_iter().collect(),
            env: location.env.clone(),
        })
        .await?;
    match format {
        Format::Table if found.is_empty() => output::line("No secrets found"),
        Format::Table => {
            let rows: Vec<Vec<String>> = found
                .iter()
                .map(|s| {
                    vec![
                        s.name.clone(),
                        s.env.clone().unwrap_or_else(|| "-".into()),
                        s.tags.join(","),
                        s.current_version.to_string(),
                        s.expires_in.clone().unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect();
            output::column_table(&["Name", "Env", "Tags", "Version", "Expires In"], &rows);
        }
        other => {
            let items: Vec<Value> = found
                .iter()
                .map(|s| {
                    json!({
                        "name": s.name,
                        "env": s.env,
                        "path": s.path,
                        "tags": s.tags,
                        "metadata": s.metadata,
                        "expires_in": s.expires_in,
                        "current_version": s.current_version,
                    })
                })
                .collect();
            output::encoded(other, &Value::Array(items));
        }
    }
    Ok(Outcome::Success)
}

async fn versions(client: &Client, format: Format, target: NameArgs) -> anyhow::Result<Outcome> {
    let api = client.secrets_at(&target.location.mount);
    let versions = api
        .versions(&target.name, target.location.env.as_deref())
        .await?;
    match format {
        Format::Table => {
            let rows: Vec<Vec<String>> = versions
                .iter()
                .map(|v| {
                    vec![
                        v.version.to_string(),
                        v.created_time.clone(),
                        v.deletion_time.clone().unwrap_or_else(|| "-".into()),
                        v.destroyed.to_string(),
                        if v.current { "yes" } else { "no" }.to_owned(),
                    ]
                })
                .collect();
            output::column_table(
                &[
                    "Version",
                    "Created",
                    "Deletion Time",
                    "Destroyed",
                    "Current",
                ],
                &rows,
            );
        }
        other => {
            let items: Vec<Value> = versions
                .iter()
                .map(|v| {
                    json!({
                        "version": v.version,
                        "created_time": v.created_time,
                        "deletion_time": v.deletion_time,
                        "destroyed": v.destroyed,
                        "current": v.current,
                    })
                })
                .collect();
            output::encoded(other, &Value::Array(items));
        }
    }
    Ok(Outcome::Success)
}

/// One key's change between two versions.
struct Change<'a> {
    key: &'a str,
    change: &'static str,
    from: Option<&'a SecretString>,
    to: Option<&'a SecretString>,
}

fn changes<'a>(old: &'a Secret, new: &'a Secret) -> Vec<Change<'a>> {
    let keys: BTreeSet<&String> = old.data.keys().chain(new.data.keys()).collect();
    keys.into_iter()
        .map(|key| {
            let from = old.data.get(key);
            let to = new.data.get(key);
            let change = match (from, to) {
                (None, _) => "added",
                (_, None) => "removed",
                (Some(a), Some(b)) if a == b => "unchanged",
                _ => "changed",
            };
            Change {
                key,
                change,
                from,
                to,
            }
        })
        .collect()
}

async fn diff(
    client: &Client,
    format: Format,
    target: NameArgs,
    from: u64,
    to: u64,
    reveal: bool,
) -> anyhow::Result<Outcome> {
    let api = client.secrets_at(&target.location.mount);
    let env = target.location.env.as_deref();
    let old = api.get(&target.name, env, Some(from)).await?;
    let new = api.get(&target.name, env, Some(to)).await?;
    let changes = changes(&old, &new);
    let print = |v: Option<&SecretString>, reveal_it: bool| -> String {
        match v {
            None => "-".into(),
            Some(v) if reveal_it => v.expose().to_owned(),
            Some(v) => secrets::fingerprint(v.expose()),
        }
    };
    match format {
        Format::Table => {
            output::line(&format!("{}: version {from} -> version {to}", target.name));
            let mut headers = vec!["Key", "Change", "From (sha256)", "To (sha256)"];
            if reveal {
                headers.extend(["From Value", "To Value"]);
            }
            let rows: Vec<Vec<String>> = changes
                .iter()
                .map(|c| {
                    let mut row = vec![
                        c.key.to_owned(),
                        c.change.to_owned(),
                        print(c.from, false),
                        print(c.to, false),
                    ];
                    if reveal {
                        row.push(print(c.from, true));
                        row.push(print(c.to, true));
                    }
                    row
                })
                .collect();
            output::column_table(&headers, &rows);
        }
        other => {
            let items: Vec<Value> = changes
                .iter()
                .map(|c| {
                    let mut item = json!({
                        "key": c.key,
                        "change": c.change,
                        "from_sha256": c.from.map(|v| secrets::fingerprint(v.expose())),
                        "to_sha256": c.to.map(|v| secrets::fingerprint(v.expose())),
                    });
                    if let (true, Some(map)) = (reveal, item.as_object_mut()) {
                        map.insert(
                            "from_value".into(),
                            json!(c.from.map(|v| v.expose().to_owned())),
                        );
                        map.insert(
                            "to_value".into(),
                            json!(c.to.map(|v| v.expose().to_owned())),
                        );
                    }
                    item
                })
                .collect();
            output::encoded(
                other,
                &json!({"name": target.name, "from": from, "to": to, "changes": items}),
            );
        }
    }
    Ok(Outcome::Success)
}
