//! `coffer secrets list|enable|disable|tune`: secrets engine mounts through `sys/mounts`, with
//! the requests and the output of Vault's `secrets` commands.

use anyhow::Context;
use coffer_client::Client;
use serde_json::{Map, Value, json};

use super::{Outcome, string_pairs};
use crate::cli::{SecretsCommand, SecretsEnableArgs, SecretsTuneArgs};
use crate::output::{self, Format};

/// Runs one `coffer secrets …` command.
pub(crate) async fn run(
    client: &Client,
    format: Format,
    command: SecretsCommand,
) -> anyhow::Result<Outcome> {
    match command {
        SecretsCommand::List { detailed } => list(client, format, detailed).await,
        SecretsCommand::Enable(args) => enable(client, args).await,
        SecretsCommand::Disable { path } => disable(client, &path).await,
        SecretsCommand::Tune(args) => tune(client, args).await,
        SecretsCommand::GrantAccess(args) => grant_access(client, format, args).await,
        SecretsCommand::Grants => grants(client, format).await,
        SecretsCommand::Export(args) => super::transfer::export(client, args).await,
        SecretsCommand::Import(args) => super::transfer::import(client, args).await,
        SecretsCommand::Store(command) => super::secrets_store::run(client, format, command).await,
        SecretsCommand::RevokeGrant { id } => {
            client.delete(&format!("sys/grants/{}", id.trim())).await?;
            output::line(&format!("Success! Revoked grant {}", id.trim()));
            Ok(Outcome::Success)
        }
    }
}

fn grant_rows(grant: &Map<String, Value>) -> Vec<(String, String)> {
    let identity = grant.get("identity").cloned().unwrap_or(Value::Null);
    let who = format!(
        "{}:{}",
        identity.get("type").and_then(Value::as_str).unwrap_or(""),
        identity.get("name").and_then(Value::as_str).unwrap_or("")
    );
    vec![
        (
            "id".to_owned(),
            grant.get("id").map(output::cell).unwrap_or_default(),
        ),
        ("identity".to_owned(), who),
        (
            "path".to_owned(),
            grant.get("path").map(output::cell).unwrap_or_default(),
        ),
        (
            "capabilities".to_owned(),
            grant
                .get("capabilities")
                .map(output::cell)
                .unwrap_or_default(),
        ),
        (
            "expires_at".to_owned(),
            grant
                .get("expires_at")
                .map(output::cell)
                .unwrap_or_default(),
        ),
    ]
}

/// `coffer secrets grant-access NAME --user EMAIL|--agent NAME --duration 1h`.
async fn grant_access(
    client: &Client,
    format: Format,
    args: crate::cli::GrantAccessArgs,
) -> anyhow::Result<Outcome> {
    let identity = match (&args.user, &args.agent) {
        (Some(user), None) => format!("user:{user}"),
        (None, Some(agent)) => format!("agent:{agent}"),
        _ => anyhow::bail!("give exactly one of --user or --agent"),
    };
    let name = args.name.trim().trim_matches('/');
    if name.is_empty() {
        anyhow::bail!("a secret name is required");
    }
    // A named secret (`DATABASE_URL`) may live under its environment (`production/…`): grant
    // on the path it has. A path with `/` is taken as given.
    let resolved;
    let name = if coffer_client::secrets::validate_name(name).is_ok() {
        match client.secrets_at(&args.mount).resolve(name, None).await {
            Ok(path) => {
                resolved = path;
                resolved.as_str()
            }
            Err(coffer_client::Error::SecretNotFound { .. }) => name,
            Err(e) => return Err(e.into()),
        }
    } else {
        name
    };
    let mut body = Map::new();
    body.insert("identity".into(), json!(identity));
    body.insert(
        "path".into(),
        json!(format!("{}/data/{name}", mount_path(&args.mount)?)),
    );
    body.insert("capabilities".into(), json!(args.capabilities));
    body.insert("duration".into(), json!(args.duration));
    let reply = client
        .write("sys/grants", &body)
        .await?
        .context("the server returned no grant")?;
    let grant = reply.data.clone().unwrap_or_default();
    match format {
        Format::Table => {
            output::line(&format!("Success! Granted {identity} access to {name}"));
            output::table(&grant_rows(&grant));
        }
        other => output::encoded(other, &Value::Object(grant)),
    }
    Ok(Outcome::Success)
}

/// `coffer secrets grants`.
async fn grants(client: &Client, format: Format) -> anyhow::Result<Outcome> {
    let listing = client.list("sys/grants").await?;
    let info = listing
        .and_then(|envelope| envelope.data)
        .and_then(|mut data| data.remove("key_info"))
        .and_then(|info| match info {
            Value::Object(map) => Some(map),
            _ => None,
        })
        .unwrap_or_default();
    match format {
        Format::Table if info.is_empty() => output::line("No grants"),
        Format::Table => {
            let rows: Vec<Vec<String>> = info
                .values()
                .filter_map(Value::as_object)
                .map(|g| grant_rows(g).into_iter().map(|(_, v)| v).collect())
                .collect();
            output::column_table(
                &["ID", "Identity", "Path", "Capabilities", "Expires"],
                &rows,
            );
        }
        other => output::encoded(other, &Value::Object(info)),
    }
    Ok(Outcome::Success)
}

/// A mount path as typed (`secret`, `/secret/`) without its slashes.
pub(crate) fn mount_path(text: &str) -> anyhow::Result<String> {
    let trimmed = text.trim().trim_matches('/');
    if trimmed.is_empty() {
        anyhow::bail!("a mount path is required, e.g. secret");
    }
    Ok(trimmed.to_owned())
}

/// The mounts of a `sys/mounts` or `sys/auth` reply: its `data`, or the legacy top-level copy.
pub(crate) fn mounts_of(body: Option<Value>) -> Map<String, Value> {
    let Some(Value::Object(mut body)) = body else {
        return Map::new();
    };
    match body.remove("data") {
        Some(Value::Object(data)) => data,
        _ => body
            .into_iter()
            .filter(|(_, entry)| entry.get("type").is_some())
            .collect(),
    }
}

/// A field of a mount entry as table text.
fn field(entry: &Value, key: &str) -> String {
    entry.get(key).map(output::cell).unwrap_or_default()
}

/// Vault's `secrets list` and `auth list` rows: path, type, accessor, description.
pub(crate) fn simple_rows(mounts: &Map<String, Value>) -> Vec<Vec<String>> {
    mounts
        .iter()
        .map(|(path, entry)| {
            vec![
                path.clone(),
                field(entry, "type"),
                field(entry, "accessor"),
                field(entry, "description"),
            ]
        })
        .collect()
}

const DETAILED_HEADERS: [&str; 16] = [
    "Path",
    "Plugin",
    "Accessor",
    "Default TTL",
    "Max TTL",
    "Force No Cache",
    "Replication",
    "Seal Wrap",
    "External Entropy Access",
    "Options",
    "Description",
    "UUID",
    "Version",
    "Running Version",
    "Running SHA256",
    "Deprecation Status",
];

/// A TTL column of `secrets list -detailed`: seconds, `system` for the default, nothing for
/// mounts without leases.
fn ttl_cell(kind: &str, ttl: Option<&Value>) -> String {
    match (kind, ttl.and_then(Value::as_u64)) {
        ("system" | "cubbyhole", _) => String::new(),
        (_, Some(secs)) if secs != 0 => secs.to_string(),
        _ => "system".to_owned(),
    }
}

/// Vault's `secrets list -detailed` rows.
fn detailed_rows(mounts: &Map<String, Value>) -> Vec<Vec<String>> {
    mounts
        .iter()
        .map(|(path, entry)| {
            let kind = field(entry, "type");
            let config = entry.get("config");
            let config_field = |key: &str| config.and_then(|c| c.get(key));
            let local = entry.get("local").and_then(Value::as_bool) == Some(true);
            let options = match entry.get("options") {
                Some(Value::Object(options)) => output::cell(&Value::Object(options.clone())),
                _ => "map[]".to_owned(),
            };
            let flag =
                |value: Option<&Value>| (value.and_then(Value::as_bool) == Some(true)).to_string();
            vec![
                path.clone(),
                kind.clone(),
                field(entry, "accessor"),
                ttl_cell(&kind, config_field("default_lease_ttl")),
                ttl_cell(&kind, config_field("max_lease_ttl")),
                flag(config_field("force_no_cache")),
                if local { "local" } else { "replicated" }.to_owned(),
                flag(entry.get("seal_wrap")),
                flag(entry.get("external_entropy_access")),
                options,
                field(entry, "description"),
                field(entry, "uuid"),
                field(entry, "plugin_version"),
                field(entry, "running_plugin_version"),
                field(entry, "running_sha256"),
                field(entry, "deprecation_status"),
            ]
        })
        .collect()
}

/// `coffer secrets list [-detailed]`.
async fn list(client: &Client, format: Format, detailed: bool) -> anyhow::Result<Outcome> {
    let reply = client
        .raw("GET", "sys/mounts", None)
        .await
        .context("listing secrets engines")?;
    let mounts = mounts_of(reply.body);
    match format {
        Format::Table if detailed => {
            output::column_table(&DETAILED_HEADERS, &detailed_rows(&mounts))
        }
        Format::Table => output::column_table(
            &["Path", "Type", "Accessor", "Description"],
            &simple_rows(&mounts),
        ),
        Format::Json | Format::Yaml => output::encoded(format, &Value::Object(mounts)),
    }
    Ok(Outcome::Success)
}

/// The `sys/mounts/<path>` body for `secrets enable`, and the engine type it names. `kv-v2` is
/// sent as `kv` with `options.version=2`, which is how every server stores it.
fn enable_body(args: &SecretsEnableArgs) -> anyhow::Result<(String, Value)> {
    let mut options = string_pairs(&args.options, "options")?;
    let kind = match args.engine.as_str() {
        "kv-v2" => {
            options.insert("version".into(), json!("2"));
            "kv".to_owned()
        }
        other => other.to_owned(),
    };
    if let Some(version) = args.version {
        options.insert("version".into(), json!(version.to_string()));
    }
    let mut config = Map::new();
    if let Some(ttl) = &args.default_lease_ttl {
        config.insert("default_lease_ttl".into(), json!(ttl));
    }
    if let Some(ttl) = &args.max_lease_ttl {
        config.insert("max_lease_ttl".into(), json!(ttl));
    }
    let body = json!({
        "type": kind,
        "description": args.description.clone().unwrap_or_default(),
        "config": config,
        "local": args.local,
        "seal_wrap": args.seal_wrap,
        "external_entropy_access": false,
        "options": if options.is_empty() { Value::Null } else { Value::Object(options) },
    });
    Ok((kind, body))
}

/// `coffer secrets enable [-path=P] … TYPE`.
async fn enable(client: &Client, args: SecretsEnableArgs) -> anyhow::Result<Outcome> {
    let path = mount_path(args.path.as_deref().unwrap_or(&args.engine))?;
    let (kind, body) = enable_body(&args)?;
    client
        .raw("POST", &format!("sys/mounts/{path}"), Some(&body))
        .await
        .with_context(|| format!("enabling a secrets engine at {path}/"))?;
    output::line(&format!(
        "Success! Enabled the {kind} secrets engine at: {path}/"
    ));
    Ok(Outcome::Success)
}

/// `coffer secrets disable PATH`.
async fn disable(client: &Client, path: &str) -> anyhow::Result<Outcome> {
    let path = mount_path(path)?;
    client
        .raw("DELETE", &format!("sys/mounts/{path}"), None)
        .await
        .with_context(|| format!("disabling the secrets engine at {path}/"))?;
    output::line(&format!(
        "Success! Disabled the secrets engine (if it existed) at: {path}/"
    ));
    Ok(Outcome::Success)
}

/// The `sys/mounts/<path>/tune` body: only the settings given.
fn tune_body(args: &SecretsTuneArgs) -> anyhow::Result<Value> {
    let mut body = Map::new();
    if let Some(description) = &args.description {
        body.insert("description".into(), json!(description));
    }
    if let Some(ttl) = &args.default_lease_ttl {
        body.insert("default_lease_ttl".into(), json!(ttl));
    }
    if let Some(ttl) = &args.max_lease_ttl {
        body.insert("max_lease_ttl".into(), json!(ttl));
    }
    let options = string_pairs(&args.options, "options")?;
    if !options.is_empty() {
        body.insert("options".into(), Value::Object(options));
    }
    Ok(Value::Object(body))
}

/// `coffer secrets tune [-description] [-default-lease-ttl] [-max-lease-ttl] [-options] PATH`.
async fn tune(client: &Client, args: SecretsTuneArgs) -> anyhow::Result<Outcome> {
    let path = mount_path(&args.path)?;
    let body = tune_body(&args)?;
    client
        .raw("POST", &format!("sys/mounts/{path}/tune"), Some(&body))
        .await
        .with_context(|| format!("tuning the secrets engine at {path}/"))?;
    output::line(&format!("Success! Tuned the secrets engine at: {path}/"));
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enable_args(engine: &str, version: Option<u8>, options: &[&str]) -> SecretsEnableArgs {
        SecretsEnableArgs {
            engine: engine.to_owned(),
            path: None,
            description: None,
            version,
            default_lease_ttl: None,
            max_lease_ttl: None,
            options: options.iter().map(|o| (*o).to_owned()).collect(),
            local: false,
            seal_wrap: false,
        }
    }

    fn check_enable(args: SecretsEnableArgs, kind: &str, options: Value) {
        let (got_kind, body) = enable_body(&args).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got_kind, kind);
        assert_eq!(body["type"], json!(kind));
        assert_eq!(body["options"], options, "{body}");
    }

    #[test]
    fn enable_bodies() {
        check_enable(enable_args("kv", None, &[]), "kv", Value::Null);
        check_enable(
            enable_args("kv-v2", None, &[]),
            "kv",
            json!({"version": "2"}),
        );
        check_enable(
            enable_args("kv", Some(2), &[]),
            "kv",
            json!({"version": "2"}),
        );
        check_enable(
            enable_args("kv", Some(1), &[]),
            "kv",
            json!({"version": "1"}),
        );
        check_enable(
            enable_args("kv", None, &["version=2", "x=y"]),
            "kv",
            json!({"version": "2", "x": "y"}),
        );
        check_enable(
            enable_args("cubbyhole", None, &[]),
            "cubbyhole",
            Value::Null,
        );
        assert!(enable_body(&enable_args("kv", None, &["novalue"])).is_err());
    }

    #[test]
    fn mount_paths() {
        assert_eq!(mount_path("secret").ok().as_deref(), Some("secret"));
        assert_eq!(mount_path("/kv2/").ok().as_deref(), Some("kv2"));
        assert_eq!(mount_path("a/b/").ok().as_deref(), Some("a/b"));
        assert!(mount_path("/").is_err());
        assert!(mount_path("").is_err());
    }

    #[test]
    fn mounts_from_data_or_legacy_top_level() {
        let entry = json!({"type": "kv", "accessor": "kv_1"});
        let body = json!({"request_id": "r", "secret/": entry, "data": {"secret/": entry}});
        assert_eq!(
            mounts_of(Some(body)).keys().collect::<Vec<_>>(),
            ["secret/"]
        );
        let legacy = json!({"request_id": "r", "secret/": entry, "warnings": null});
        assert_eq!(
            mounts_of(Some(legacy)).keys().collect::<Vec<_>>(),
            ["secret/"]
        );
        assert!(mounts_of(None).is_empty());
    }

    #[test]
    fn detailed_ttls() {
        assert_eq!(ttl_cell("kv", Some(&json!(0))), "system");
        assert_eq!(ttl_cell("kv", Some(&json!(3600))), "3600");
        assert_eq!(ttl_cell("kv", None), "system");
        assert_eq!(ttl_cell("cubbyhole", Some(&json!(3600))), "");
        assert_eq!(ttl_cell("system", Some(&json!(0))), "");
    }

    #[test]
    fn simple_and_detailed_rows() {
        let mut mounts = Map::new();
        mounts.insert(
            "secret/".into(),
            json!({"type": "kv", "accessor": "kv_1", "description": "key/value secret storage",
                   "config": {"default_lease_ttl": 0, "max_lease_ttl": 60, "force_no_cache": false},
                   "local": false, "seal_wrap": false, "options": {"version": "2"}, "uuid": "u"}),
        );
        assert_eq!(
            simple_rows(&mounts),
            vec![vec!["secret/", "kv", "kv_1", "key/value secret storage"]]
        );
        let detailed = detailed_rows(&mounts);
        let row = detailed.first().map(Vec::as_slice).unwrap_or_default();
        assert_eq!(row.len(), DETAILED_HEADERS.len());
        assert_eq!(
            row.get(..10).unwrap_or_default(),
            [
                "secret/",
                "kv",
                "kv_1",
                "system",
                "60",
                "false",
                "replicated",
                "false",
                "false",
                "map[version:2]"
            ]
        );
    }

    #[test]
    fn tune_bodies_carry_only_given_settings() {
        let args = SecretsTuneArgs {
            path: "secret".into(),
            description: Some("tuned".into()),
            default_lease_ttl: None,
            max_lease_ttl: Some("24h".into()),
            options: vec!["version=2".into()],
        };
        assert_eq!(
            tune_body(&args).ok(),
            Some(
                json!({"description": "tuned", "max_lease_ttl": "24h", "options": {"version": "2"}})
            )
        );
    }
}
