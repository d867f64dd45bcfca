//! `coffer kv …`: key/value secrets the way Vault's CLI handles them. Every command first asks
//! the server which mount covers the path (`GET sys/internal/ui/mounts/<path>`, the preflight)
//! and whether it is KV v2, then sends what Vault's CLI sends: plain paths on a v1 mount
//! (`kv1/app/db`), API paths on a v2 mount (`secret/data/app/db`, `secret/metadata/…`,
//! `secret/delete/…`). Output follows Vault's too: `=== Secret Path ===` headers and
//! `Key  Value` tables, or the reply envelope with `-format=json|yaml`. Failures that are not
//! API errors (`No value found at …`) are reported on stderr with exit code 2.

use std::time::SystemTime;

use anyhow::Context;
use coffer_api::Envelope;
use coffer_client::Client;
use serde_json::{Map, Value, json};

use super::generic::{failure, list_keys, print_field, read, secret_json, secret_of, write};
use super::{Outcome, data, string_pairs};
use crate::cli::{
    KvCommand, KvDeleteArgs, KvGetArgs, KvListArgs, KvMetadataCommand, KvMetadataSettings,
    KvPatchArgs, KvPathArgs, KvPutArgs, KvRollbackArgs, KvVersionsArgs,
};
use crate::output::{self, Format};

/// Runs one `coffer kv …` command.
pub(crate) async fn run(
    client: &Client,
    format: Format,
    command: KvCommand,
) -> anyhow::Result<Outcome> {
    match command {
        KvCommand::Put(args) => put(client, format, args).await,
        KvCommand::Get(args) => get(client, format, args).await,
        KvCommand::List(args) => list(client, format, args).await,
        KvCommand::Patch(args) => patch(client, format, args).await,
        KvCommand::Delete(args) => delete(client, args).await,
        KvCommand::Undelete(args) => change_versions(client, format, args, "undelete").await,
        KvCommand::Destroy(args) => change_versions(client, format, args, "destroy").await,
        KvCommand::Rollback(args) => rollback(client, format, args).await,
        KvCommand::Metadata(command) => match command {
            KvMetadataCommand::Get { target, field } => {
                metadata_get(client, format, &target, field.as_deref()).await
            }
            KvMetadataCommand::Put(args) => {
                let body = metadata_body(&args.settings, &[])?;
                metadata_write(client, format, &args.target, body, false).await
            }
            KvMetadataCommand::Patch(args) => {
                let body = metadata_body(&args.settings, &args.remove_custom_metadata)?;
                metadata_write(client, format, &args.target, body, true).await
            }
            KvMetadataCommand::Delete { target } => metadata_delete(client, &target).await,
        },
    }
}

/// A secret located inside its mount, built once from the arguments and the preflight.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    /// The mount with its trailing slash (`secret/`); empty when the server answered the
    /// preflight with 404 (an old server), in which case `key` is the whole path.
    mount: String,
    /// The secret's path inside the mount, without leading or trailing slashes.
    key: String,
    /// Whether the mount is KV v2.
    v2: bool,
}

impl Target {
    /// The API path: `<mount>/<endpoint>/<key>` on KV v2 (`endpoint` is `data`, `metadata`,
    /// `delete`, …), `<mount>/<key>` on KV v1.
    fn path(&self, endpoint: &str) -> String {
        if self.v2 {
            join(&[&self.mount, endpoint, &self.key])
        } else {
            join(&[&self.mount, &self.key])
        }
    }
}

/// What the preflight says about the mount covering a path.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MountInfo {
    /// The mount path with its trailing slash, or empty when unknown.
    path: String,
    /// Whether `options.version` is `"2"`.
    v2: bool,
}

/// Vault's `sanitizePath`: no surrounding spaces, no leading or trailing slash.
fn sanitize(path: &str) -> &str {
    path.trim().trim_matches('/')
}

/// Go's `path.Join` for API paths: the non-empty segments joined by single slashes.
fn join(parts: &[&str]) -> String {
    parts
        .iter()
        .flat_map(|part| part.split('/'))
        .filter(|segment| !segment.is_empty())
        .collect::<Vec<_>>()
        .join("/")
}

/// Splits a sanitized `mount/key` path at the mount the preflight reported.
fn locate_in(path: &str, mount: MountInfo) -> Target {
    let key = if path == mount.path.trim_end_matches('/') {
        Some("")
    } else {
        path.strip_prefix(mount.path.as_str())
    };
    match key {
        Some(key) => Target {
            mount: mount.path,
            key: sanitize(key).to_owned(),
            v2: mount.v2,
        },
        // The server named a mount that does not prefix the path: use the path as it is.
        None => Target {
            mount: String::new(),
            key: path.to_owned(),
            v2: mount.v2,
        },
    }
}

/// The mount information in a preflight reply's `data`.
fn mount_info(data: &Value) -> MountInfo {
    let path = data
        .get("path")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let v2 = match data
        .get("options")
        .and_then(|options| options.get("version"))
    {
        Some(Value::String(version)) => version == "2",
        Some(Value::Number(version)) => version.as_u64() == Some(2),
        _ => false,
    };
    MountInfo { path, v2 }
}

/// The CLI's preflight: `GET sys/internal/ui/mounts/<path>`. A 404 means a server without
/// the endpoint, which Vault's CLI treats as KV v1.
async fn preflight(client: &Client, path: &str) -> anyhow::Result<MountInfo> {
    let reply = client
        .raw("GET", &format!("sys/internal/ui/mounts/{path}"), None)
        .await
        .with_context(|| format!("finding the mount of {path}"))?;
    if reply.status == 404 {
        return Ok(MountInfo {
            path: String::new(),
            v2: false,
        });
    }
    let data = reply
        .body
        .as_ref()
        .and_then(|body| body.get("data"))
        .filter(|data| data.is_object())
        .with_context(|| format!("the server sent no mount information for {path}"))?;
    Ok(mount_info(data))
}

/// Finds where a command acts: `path` alone (`secret/app/db`), or `-mount` plus the path
/// inside it.
async fn locate(client: &Client, mount: Option<&str>, path: &str) -> anyhow::Result<Target> {
    let path = sanitize(path);
    match mount.map(sanitize) {
        Some(mount) => {
            let info = preflight(client, mount).await?;
            let mount_path = if info.path.is_empty() && !mount.is_empty() {
                format!("{mount}/")
            } else {
                info.path
            };
            Ok(Target {
                mount: mount_path,
                key: path.to_owned(),
                v2: info.v2,
            })
        }
        None if path.is_empty() => {
            anyhow::bail!("a path is required, e.g. secret/app/db (or -mount=secret app/db)")
        }
        None => Ok(locate_in(path, preflight(client, path).await?)),
    }
}

/// The `=== Secret Path ===` header, the path and a blank line.
fn print_path(title: &str, path: &str) {
    output::line(&output::padded_header(title, path.chars().count()));
    output::line(path);
    output::line("");
}

/// A `=== Title ===` header as wide as the map's table, then the table (nothing when empty).
fn print_map(title: &str, map: &Map<String, Value>) {
    let width = map.keys().map(|key| key.chars().count()).max().unwrap_or(0);
    output::line(&output::section_header(title, width));
    if !map.is_empty() {
        let rows: Vec<(String, String)> = map
            .iter()
            .map(|(key, value)| (key.clone(), output::cell(value)))
            .collect();
        output::table(&rows);
    }
}

/// Prints a write's reply like `kv put`: the path and the new version's metadata, the
/// envelope in JSON/YAML, or `Success! Data written to: …` when the server sent no body.
fn print_written(
    format: Format,
    path: &str,
    written: Option<Envelope>,
    field: Option<&str>,
) -> anyhow::Result<Outcome> {
    let Some(secret) = written else {
        if format == Format::Table {
            output::line(&format!("Success! Data written to: {path}"));
        }
        return Ok(Outcome::Success);
    };
    let data = secret.data.clone().unwrap_or_default();
    if let Some(field) = field {
        return print_field(format, &data, field);
    }
    if format != Format::Table {
        output::encoded(format, &secret_json(&secret)?);
        return Ok(Outcome::Success);
    }
    print_path("Secret Path", path);
    print_map("Metadata", &data);
    Ok(Outcome::Success)
}

/// The `-versions` values as Vault's CLI sends them: strings, split on commas.
fn version_list(versions: &[String]) -> Vec<Value> {
    versions
        .iter()
        .map(|version| version.trim())
        .filter(|version| !version.is_empty())
        .map(|version| Value::String(version.to_owned()))
        .collect()
}

/// `kv put`.
async fn put(client: &Client, format: Format, args: KvPutArgs) -> anyhow::Result<Outcome> {
    if args.data.is_empty() {
        anyhow::bail!("Must supply data");
    }
    let data = data::parse(&args.data, &mut std::io::stdin())?;
    let target = locate(client, args.target.mount.as_deref(), &args.target.path).await?;
    let path = target.path("data");
    let body = if target.v2 {
        let mut options = Map::new();
        if let Some(cas) = args.cas {
            options.insert("cas".into(), json!(cas));
        }
        json!({ "data": data, "options": options })
    } else {
        Value::Object(data)
    };
    let written = write(client, &path, &body).await?;
    print_written(format, &path, written, args.field.as_deref())
}

/// `kv get`.
async fn get(client: &Client, format: Format, args: KvGetArgs) -> anyhow::Result<Outcome> {
    let target = locate(client, args.target.mount.as_deref(), &args.target.path).await?;
    let path = target.path("data");
    let request = match args.version {
        Some(version) if version > 0 && target.v2 => format!("{path}?version={version}"),
        _ => path.clone(),
    };
    let Some(secret) = read(client, &request).await? else {
        return failure(&format!("No value found at {path}"));
    };
    let data = secret.data.clone().unwrap_or_default();
    let values = if target.v2 {
        match data.get("data") {
            Some(Value::Object(values)) => Some(values.clone()),
            _ => None,
        }
    } else {
        Some(data.clone())
    };
    if let Some(field) = &args.field {
        return match &values {
            Some(values) => print_field(format, values, field),
            None => failure(&format!("No data found at {path}")),
        };
    }
    if format != Format::Table {
        output::encoded(format, &secret_json(&secret)?);
        return Ok(Outcome::Success);
    }
    output::warnings(secret.warnings.as_deref().unwrap_or_default());
    if target.v2 {
        print_path("Secret Path", &path);
        if let Some(Value::Object(metadata)) = data.get("metadata") {
            print_map("Metadata", metadata);
            output::line("");
        }
    }
    if let Some(values) = &values {
        print_map("Data", values);
    }
    Ok(Outcome::Success)
}

/// `kv list`: `GET <mount>/metadata/<path>?list=true` on v2; a `Keys` column, or a bare JSON
/// array of keys.
async fn list(client: &Client, format: Format, args: KvListArgs) -> anyhow::Result<Outcome> {
    let path = args.path.as_deref().unwrap_or_default();
    let target = locate(client, args.mount.as_deref(), path).await?;
    let path = target.path("metadata");
    list_keys(client, format, &path).await
}

/// How a patch ended.
enum Patched {
    /// Written; the reply, if the server sent one.
    Written(Option<Box<Envelope>>),
    /// Not written, for this reason (exit 2).
    Refused(String),
}

/// `kv patch`.
async fn patch(client: &Client, format: Format, args: KvPatchArgs) -> anyhow::Result<Outcome> {
    if args.data.is_empty() && args.remove_data.is_empty() {
        anyhow::bail!("Must supply data");
    }
    let mut data = data::parse(&args.data, &mut std::io::stdin())?;
    for key in &args.remove_data {
        data.insert(key.clone(), Value::Null);
    }
    let target = locate(client, args.target.mount.as_deref(), &args.target.path).await?;
    if !target.v2 {
        return failure("K/V engine mount must be version 2 for patch support");
    }
    let path = target.path("data");
    let patched = match args.method.as_deref() {
        None => merge_patch(client, &path, data, args.cas, true).await?,
        Some("patch") => merge_patch(client, &path, data, args.cas, false).await?,
        Some("rw") => read_then_write(client, &path, data).await?,
        Some(other) => anyhow::bail!("Unsupported method provided to -method flag: {other}"),
    };
    match patched {
        Patched::Written(written) => {
            print_written(format, &path, written.map(|w| *w), args.field.as_deref())
        }
        Patched::Refused(reason) => failure(&reason),
    }
}

/// `PATCH` with a JSON merge patch; with `fallback`, a server that refuses PATCH (405) or a
/// token without the `patch` capability (403) gets a read and a write instead, like Vault.
async fn merge_patch(
    client: &Client,
    path: &str,
    data: Map<String, Value>,
    cas: Option<u64>,
    fallback: bool,
) -> anyhow::Result<Patched> {
    let mut options = Map::new();
    if let Some(cas) = cas {
        options.insert("cas".into(), json!(cas));
    }
    let body = json!({ "data": data, "options": options });
    match client.merge_patch(path, &body).await {
        Ok(reply) if reply.status == 404 => {
            Ok(Patched::Refused(format!("No value found at {path}")))
        }
        Ok(reply) => Ok(Patched::Written(secret_of(reply)?.map(Box::new))),
        Err(error) if fallback && error.status() == Some(405) => {
            read_then_write(client, path, data).await
        }
        Err(error) if fallback && error.status() == Some(403) => {
            output::error_line(&format!(
                "Data was written to {path} but we recommend that you add the \"patch\" \
                 capability to your ACL policy in order to use HTTP PATCH in place of a \
                 read-then-write operation."
            ));
            read_then_write(client, path, data).await
        }
        Err(error) => Err(error).with_context(|| format!("writing data to {path}")),
    }
}

/// `kv patch -method=rw`: reads the latest version, merges the changes (null removes a key)
/// and writes with `cas` set to the version read.
async fn read_then_write(
    client: &Client,
    path: &str,
    changes: Map<String, Value>,
) -> anyhow::Result<Patched> {
    let Some(secret) = read(client, path).await? else {
        return Ok(Patched::Refused(format!("No value found at {path}")));
    };
    let data = secret.data.unwrap_or_default();
    let Some(Value::Object(metadata)) = data.get("metadata") else {
        return Ok(Patched::Refused(format!(
            "No metadata found at {path}; patch only works on existing data"
        )));
    };
    let version = metadata.get("version").cloned().unwrap_or(Value::Null);
    let Some(Value::Object(mut current)) = data.get("data").cloned() else {
        return Ok(Patched::Refused(format!(
            "No data found at {path}; patch only works on existing data"
        )));
    };
    for (key, value) in changes {
        if value.is_null() {
            current.remove(&key);
        } else {
            current.insert(key, value);
        }
    }
    let body = json!({ "data": current, "options": { "cas": version } });
    Ok(Patched::Written(
        write(client, path, &body).await?.map(Box::new),
    ))
}

/// `kv delete`: the latest version (`DELETE …/data/…`), or `-versions` (`PUT …/delete/…`).
async fn delete(client: &Client, args: KvDeleteArgs) -> anyhow::Result<Outcome> {
    let target = locate(client, args.target.mount.as_deref(), &args.target.path).await?;
    let path = target.path("data");
    let versions = version_list(&args.versions);
    if target.v2 && !versions.is_empty() {
        let delete_path = target.path("delete");
        write(client, &delete_path, &json!({ "versions": versions })).await?;
    } else {
        client
            .raw("DELETE", &path, None)
            .await
            .with_context(|| format!("deleting {path}"))?;
    }
    output::line(&format!("Success! Data deleted (if it existed) at: {path}"));
    Ok(Outcome::Success)
}

/// `kv undelete` and `kv destroy`: `PUT <mount>/<endpoint>/<path> {"versions":["1",…]}`.
async fn change_versions(
    client: &Client,
    format: Format,
    args: KvVersionsArgs,
    endpoint: &str,
) -> anyhow::Result<Outcome> {
    let versions = version_list(&args.versions);
    if versions.is_empty() {
        anyhow::bail!(
            "No versions provided, use the \"-versions\" flag to specify the version to {endpoint}."
        );
    }
    let target = locate(client, args.target.mount.as_deref(), &args.target.path).await?;
    if !target.v2 {
        let action = if endpoint == "destroy" {
            "Destroy"
        } else {
            "Undelete"
        };
        anyhow::bail!("{action} not supported on KV Version 1");
    }
    let path = target.path(endpoint);
    let written = write(client, &path, &json!({ "versions": versions })).await?;
    match written {
        None if format == Format::Table => {
            output::line(&format!("Success! Data written to: {path}"));
        }
        None => {}
        Some(secret) if format == Format::Table => {
            print_map("Data", &secret.data.unwrap_or_default());
        }
        Some(secret) => output::encoded(format, &secret_json(&secret)?),
    }
    Ok(Outcome::Success)
}

/// Whether a version's `deletion_time` has passed (a future one comes from
/// `delete_version_after` and does not count yet). An unreadable time counts as deleted.
fn deleted_by(deletion_time: &str, now: SystemTime) -> bool {
    if deletion_time.is_empty() {
        return false;
    }
    humantime::parse_rfc3339_weak(deletion_time).map_or(true, |time| time <= now)
}

/// `kv rollback -version=N`: client-side like Vault's CLI. Reads the metadata, then version N,
/// then writes N's data as a new version with `cas` set to the current version.
async fn rollback(
    client: &Client,
    format: Format,
    args: KvRollbackArgs,
) -> anyhow::Result<Outcome> {
    let version = match args.version {
        Some(version) if version > 0 => version,
        _ => anyhow::bail!("Must specify a version to roll back to with -version=N"),
    };
    let target = locate(client, args.target.mount.as_deref(), &args.target.path).await?;
    if !target.v2 {
        return failure("Rollback not supported on KV Version 1");
    }
    let metadata_path = target.path("metadata");
    let Some(metadata) = read(client, &metadata_path).await? else {
        return failure(&format!(
            "No metadata found at {metadata_path}; rollback only works on existing data"
        ));
    };
    let metadata = metadata.data.unwrap_or_default();
    let Some(current) = metadata.get("current_version").and_then(Value::as_u64) else {
        return failure(&format!(
            "No current version found in the metadata at {metadata_path}"
        ));
    };
    let Some(info) = metadata
        .get("versions")
        .and_then(|versions| versions.get(version.to_string()))
    else {
        return failure(&format!("Version {version} does not exist"));
    };
    if info.get("destroyed").and_then(Value::as_bool) == Some(true) {
        return failure("Cannot roll back to a version that has been destroyed");
    }
    let deletion_time = info
        .get("deletion_time")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if deleted_by(deletion_time, SystemTime::now()) {
        return failure("Cannot roll back to a version that has been deleted");
    }
    let path = target.path("data");
    let old = read(client, &format!("{path}?version={version}")).await?;
    let Some(Value::Object(values)) = old
        .and_then(|secret| secret.data)
        .and_then(|mut data| data.remove("data"))
    else {
        return failure(&format!("No data found at {path} for version {version}"));
    };
    let body = json!({ "data": values, "options": { "cas": current } });
    let written = write(client, &path, &body).await?;
    print_written(format, &path, written, args.field.as_deref())
}

/// Locates a secret for a `kv metadata` command, which needs a KV v2 mount.
async fn locate_v2(client: &Client, target: &KvPathArgs) -> anyhow::Result<Target> {
    let target = locate(client, target.mount.as_deref(), &target.path).await?;
    if !target.v2 {
        anyhow::bail!("Metadata not supported on KV Version 1");
    }
    Ok(target)
}

/// `kv metadata get`: the metadata table, then one table per version.
async fn metadata_get(
    client: &Client,
    format: Format,
    target: &KvPathArgs,
    field: Option<&str>,
) -> anyhow::Result<Outcome> {
    let path = locate_v2(client, target).await?.path("metadata");
    let Some(secret) = read(client, &path).await? else {
        return failure(&format!("No value found at {path}"));
    };
    let mut data = secret.data.clone().unwrap_or_default();
    if let Some(field) = field {
        return print_field(format, &data, field);
    }
    if format != Format::Table {
        output::encoded(format, &secret_json(&secret)?);
        return Ok(Outcome::Success);
    }
    let Some(Value::Object(versions)) = data.remove("versions") else {
        return failure(&format!("No value found at {path}"));
    };
    print_path("Metadata Path", &path);
    print_map("Metadata", &data);
    let mut numbered: Vec<(u64, &Map<String, Value>)> = versions
        .iter()
        .filter_map(|(number, info)| Some((number.parse().ok()?, info.as_object()?)))
        .collect();
    numbered.sort_by_key(|(number, _)| *number);
    for (number, info) in numbered {
        output::line("");
        print_map(&format!("Version {number}"), info);
    }
    Ok(Outcome::Success)
}

/// A duration flag in Go's `time.Duration` text, as Vault's CLI sends it (`720h` becomes
/// `720h0m0s`). Accepts `s`, `m`, `h` and `d` units, combined (`1h30m`), or bare seconds.
fn go_duration(text: &str) -> anyhow::Result<String> {
    let secs = parse_seconds(text)
        .with_context(|| format!("invalid duration {text:?} (use e.g. 30m, 720h or 1h30m)"))?;
    let (hours, minutes, seconds) = (secs / 3600, secs % 3600 / 60, secs % 60);
    Ok(if hours > 0 {
        format!("{hours}h{minutes}m{seconds}s")
    } else if minutes > 0 {
        format!("{minutes}m{seconds}s")
    } else {
        format!("{seconds}s")
    })
}

/// Seconds in `30m`, `1h30m`, `2d` or `90`; `None` when it is not such a duration.
fn parse_seconds(text: &str) -> Option<u64> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(secs);
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let amount: u64 = digits.parse().ok()?;
        digits.clear();
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return None,
        };
        total = total.checked_add(amount.checked_mul(unit)?)?;
    }
    digits
        .is_empty()
        .then_some(total)
        .filter(|_| !text.is_empty())
}

/// The body of `kv metadata put|patch`: only the settings given; `remove` keys become null
/// custom metadata (a merge patch deletes them).
fn metadata_body(
    settings: &KvMetadataSettings,
    remove: &[String],
) -> anyhow::Result<Map<String, Value>> {
    let mut body = Map::new();
    if let Some(max_versions) = settings.max_versions {
        body.insert("max_versions".into(), json!(max_versions));
    }
    if let Some(cas_required) = settings.cas_required {
        body.insert("cas_required".into(), json!(cas_required));
    }
    if let Some(after) = &settings.delete_version_after {
        body.insert("delete_version_after".into(), json!(go_duration(after)?));
    }
    let mut custom = string_pairs(&settings.custom_metadata, "custom-metadata")?;
    for key in remove {
        custom.insert(key.clone(), Value::Null);
    }
    if !custom.is_empty() {
        body.insert("custom_metadata".into(), Value::Object(custom));
    }
    Ok(body)
}

/// `kv metadata put` (`PUT`) and `kv metadata patch` (merge-patch `PATCH`).
async fn metadata_write(
    client: &Client,
    format: Format,
    target: &KvPathArgs,
    body: Map<String, Value>,
    patch: bool,
) -> anyhow::Result<Outcome> {
    let path = locate_v2(client, target).await?.path("metadata");
    let body = Value::Object(body);
    let written = if patch {
        let reply = client
            .merge_patch(&path, &body)
            .await
            .with_context(|| format!("writing data to {path}"))?;
        if reply.status == 404 {
            return failure(&format!("No value found at {path}"));
        }
        secret_of(reply)?
    } else {
        write(client, &path, &body).await?
    };
    match written {
        None if format == Format::Table => {
            output::line(&format!("Success! Data written to: {path}"));
        }
        None => {}
        Some(secret) if format == Format::Table => {
            print_map("Data", &secret.data.unwrap_or_default());
        }
        Some(secret) => output::encoded(format, &secret_json(&secret)?),
    }
    Ok(Outcome::Success)
}

/// `kv metadata delete`: every version and the metadata.
async fn metadata_delete(client: &Client, target: &KvPathArgs) -> anyhow::Result<Outcome> {
    let path = locate_v2(client, target).await?.path("metadata");
    client
        .raw("DELETE", &path, None)
        .await
        .with_context(|| format!("deleting {path}"))?;
    output::line(&format!("Success! Data deleted (if it existed) at: {path}"));
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn info(path: &str, v2: bool) -> MountInfo {
        MountInfo {
            path: path.to_owned(),
            v2,
        }
    }

    /// `check(path, mount, v2, endpoint, expected API path)`.
    fn check_path(path: &str, mount: &str, v2: bool, endpoint: &str, expected: &str) {
        let target = locate_in(sanitize(path), info(mount, v2));
        assert_eq!(target.path(endpoint), expected, "{path} on {mount}");
    }

    #[test]
    fn api_paths() {
        check_path(
            "secret/app/cli",
            "secret/",
            true,
            "data",
            "secret/data/app/cli",
        );
        check_path(
            "/secret/app/cli/",
            "secret/",
            true,
            "data",
            "secret/data/app/cli",
        );
        check_path(
            "secret/app",
            "secret/",
            true,
            "metadata",
            "secret/metadata/app",
        );
        check_path("secret/", "secret/", true, "metadata", "secret/metadata");
        check_path("secret", "secret/", true, "metadata", "secret/metadata");
        check_path(
            "secret/app/cli",
            "secret/",
            true,
            "undelete",
            "secret/undelete/app/cli",
        );
        check_path(
            "team/kv/a/b",
            "team/kv/",
            true,
            "destroy",
            "team/kv/destroy/a/b",
        );
        check_path("kv1/app/x", "kv1/", false, "data", "kv1/app/x");
        check_path("kv1", "kv1/", false, "metadata", "kv1");
        check_path("old/app/x", "", false, "data", "old/app/x");
        check_path("other/x", "secret/", false, "data", "other/x");
        check_path("secretive/x", "secret/", false, "data", "secretive/x");
    }

    #[test]
    fn preflight_replies() {
        let check = |data: Value, expected: MountInfo| assert_eq!(mount_info(&data), expected);
        check(
            json!({"path": "secret/", "options": {"version": "2"}}),
            info("secret/", true),
        );
        check(
            json!({"path": "kv1/", "options": {"version": "1"}}),
            info("kv1/", false),
        );
        check(
            json!({"path": "kv1/", "options": null}),
            info("kv1/", false),
        );
        check(json!({"path": "kv1/"}), info("kv1/", false));
        check(
            json!({"path": "kv/", "options": {"version": 2}}),
            info("kv/", true),
        );
        check(json!({"options": {"version": ""}}), info("", false));
    }

    #[test]
    fn joins_like_go() {
        assert_eq!(join(&["secret/", "data", "a/b"]), "secret/data/a/b");
        assert_eq!(join(&["secret/", "data", ""]), "secret/data");
        assert_eq!(join(&["", "a//b/"]), "a/b");
        assert_eq!(join(&[]), "");
    }

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| (*a).to_owned()).collect()
    }

    #[test]
    fn versions_are_strings() {
        assert_eq!(
            version_list(&strings(&["1", " 2", "", "3 "])),
            vec![json!("1"), json!("2"), json!("3")]
        );
    }

    #[test]
    fn durations_in_go_form() {
        let cases = [
            ("720h", "720h0m0s"),
            ("30m", "30m0s"),
            ("90s", "1m30s"),
            ("1h30m", "1h30m0s"),
            ("2d", "48h0m0s"),
            ("0", "0s"),
            ("0s", "0s"),
            ("45", "45s"),
        ];
        for (input, expected) in cases {
            assert_eq!(
                go_duration(input).ok().as_deref(),
                Some(expected),
                "{input}"
            );
        }
        for bad in ["", "h", "10x", "5ms", "1.5h", "10h5"] {
            assert!(go_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn metadata_bodies() {
        let settings = KvMetadataSettings {
            max_versions: Some(10),
            cas_required: None,
            delete_version_after: Some("720h".into()),
            custom_metadata: strings(&["owner=team-a"]),
        };
        assert_eq!(
            metadata_body(&settings, &[]).ok().map(Value::Object),
            Some(
                json!({"custom_metadata": {"owner": "team-a"}, "delete_version_after": "720h0m0s", "max_versions": 10})
            )
        );
        let patch = KvMetadataSettings {
            max_versions: None,
            cas_required: Some(true),
            delete_version_after: None,
            custom_metadata: strings(&["tier=1"]),
        };
        assert_eq!(
            metadata_body(&patch, &strings(&["env"]))
                .ok()
                .map(Value::Object),
            Some(json!({"cas_required": true, "custom_metadata": {"env": null, "tier": "1"}}))
        );
    }

    #[test]
    fn deletion_times() {
        let now = humantime::parse_rfc3339("2026-11-22T13:10:30Z").expect("time");
        assert!(!deleted_by("", now));
        assert!(deleted_by("2026-11-22T13:10:29.5Z", now));
        assert!(!deleted_by("2026-11-22T13:10:31.000000001Z", now));
        assert!(deleted_by("garbage", now));
        assert!(deleted_by(
            "2026-11-22T13:10:30Z",
            now + Duration::from_secs(1)
        ));
    }
}
