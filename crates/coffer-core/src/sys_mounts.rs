//! `sys/mounts` (list, enable, read, disable, tune) and `sys/internal/ui/mounts` (the CLI's
//! preflight), with Vault's request and reply shapes.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::mount::{MountEntry, MountRequest, MountTable, Mounted, Tuning};
use crate::namespace::NamespaceState;
use crate::node::Unsealed;
use crate::pipeline::Caller;
use crate::request::{Operation, Reply, Request, Response};
use crate::token::SYSTEM_MAX_TTL;
use crate::ttl::Ttl;
use crate::{Error, Result, VERSION, params};

/// Serves `sys/mounts…` and `sys/internal/ui/mounts…` for namespace `ns`; `None` when the path
/// is neither.
pub(crate) async fn handle(
    state: &Unsealed,
    ns: &NamespaceState,
    caller: &Caller,
    request: &Request,
    rest: &str,
) -> Option<Result<Reply>> {
    let op = request.operation;
    let write = matches!(op, Operation::Update | Operation::Create);
    let reply = if rest == "mounts" {
        match op {
            Operation::Read => Ok(list(state, ns, caller, false)),
            _ => Err(Error::UnsupportedOperation),
        }
    } else if let Some(path) = rest.strip_prefix("mounts/") {
        if let Some(path) = path.strip_suffix("/tune") {
            // `sys/mounts/auth/<path>/tune` tunes an auth method, as in Vault.
            let (table, path) = match path.strip_prefix("auth/") {
                Some(auth_path) => (&ns.auth, auth_path),
                None => (&ns.mounts, path),
            };
            match op {
                Operation::Read => read_tune(table, path),
                _ if write => tune(table, &request.data, path).await,
                _ => Err(Error::UnsupportedOperation),
            }
        } else {
            match op {
                Operation::Read => read(state, ns, path),
                _ if write => match shadowed_namespace(state, ns, path) {
                    Some(error) => Err(error),
                    None => enable(&ns.mounts, &request.data, path).await,
                },
                Operation::Delete => ns.mounts.unmount(path).await.map(|()| Reply::NoContent),
                _ => Err(Error::UnsupportedOperation),
            }
        }
    } else if rest == "internal/ui/mounts" {
        match op {
            Operation::Read => Ok(list(state, ns, caller, true)),
            _ => Err(Error::UnsupportedOperation),
        }
    } else if let Some(path) = rest.strip_prefix("internal/ui/mounts/") {
        match op {
            Operation::Read => preflight(state, ns, caller, path),
            _ => Err(Error::UnsupportedOperation),
        }
    } else {
        return None;
    };
    Some(reply)
}

/// A mount whose first path segment names a child namespace would never be reached (the
/// namespace wins when a request is resolved), so it is refused.
fn shadowed_namespace(state: &Unsealed, ns: &NamespaceState, path: &str) -> Option<Error> {
    let first = path.trim_start_matches('/').split('/').next()?;
    state
        .namespaces
        .by_path(&format!("{}{first}/", ns.path()))
        .map(|child| {
            Error::invalid(format!(
                "mount path {path:?} conflicts with existing namespace {:?}",
                child.path()
            ))
        })
}

/// The JSON of one mount entry, as `sys/mounts` shows it.
pub(crate) fn entry_json(entry: &MountEntry) -> Value {
    let options = if entry.options.is_empty() {
        Value::Null
    } else {
        json!(entry.options)
    };
    let mut json = json!({
        "accessor": entry.accessor,
        "config": {
            "default_lease_ttl": entry.default_lease_ttl,
            "force_no_cache": false,
            "max_lease_ttl": entry.max_lease_ttl,
        },
        "description": entry.description,
        "external_entropy_access": false,
        "local": entry.local,
        "options": options,
        "plugin_version": "",
        "running_plugin_version": format!("v{VERSION}+builtin.coffer"),
        "running_sha256": "",
        "seal_wrap": entry.seal_wrap,
        "type": entry.kind,
        "uuid": entry.uuid,
    });
    // OpenBao reports a deprecation status for pluggable engines (kv: "supported") and leaves
    // the field out for the engines built into the core.
    if !matches!(
        entry.kind.as_str(),
        "cubbyhole" | "system" | "identity" | "token"
    ) {
        json["deprecation_status"] = json!("supported");
    }
    json
}

fn system_entry(state: &Unsealed) -> Value {
    json!({
        "accessor": format!("system_{}", &state.cluster.id.chars().take(8).collect::<String>()),
        "config": {
            "default_lease_ttl": 0,
            "force_no_cache": false,
            "max_lease_ttl": 0,
            "passthrough_request_headers": ["Accept"],
        },
        "description": "system endpoints used for control, policy and debugging",
        "external_entropy_access": false,
        "local": false,
        "options": null,
        "plugin_version": "",
        "running_plugin_version": format!("v{VERSION}+builtin.coffer"),
        "running_sha256": "",
        "seal_wrap": true,
        "type": "system",
        "uuid": state.cluster.id,
    })
}

/// The identity store, served by the core at `identity/`, listed like a mount as Vault does.
fn identity_entry(state: &Unsealed) -> Value {
    json!({
        "accessor": format!("identity_{}", &state.cluster.id.chars().rev().take(8).collect::<String>()),
        "config": {
            "default_lease_ttl": 0,
            "force_no_cache": false,
            "max_lease_ttl": 0,
            "passthrough_request_headers": ["Authorization"],
        },
        "description": "identity store",
        "external_entropy_access": false,
        "local": false,
        "options": null,
        "plugin_version": "",
        "running_plugin_version": format!("v{VERSION}+builtin.coffer"),
        "running_sha256": "",
        "seal_wrap": false,
        "type": "identity",
        "uuid": state.cluster.id,
    })
}

/// Whether the caller may use something under the mount of namespace `owner`, which is the
/// request's namespace or, `below` it, a descendant: through its policies, or through a live
/// time-limited grant for its identity (grant paths are relative to the root namespace).
fn visible(
    state: &Unsealed,
    owner: &NamespaceState,
    below: &str,
    caller: &Caller,
    mounted: &Mounted,
) -> bool {
    caller.acl.is_root()
        || caller
            .acl
            .has_any_under(&caller.policy_path(&format!("{below}{}", mounted.entry.path)))
        || caller.entry.identity().is_some_and(|identity| {
            state.grants.has_any_under(
                identity,
                &format!("{}{}", owner.path(), mounted.entry.path),
                std::time::SystemTime::now(),
            )
        })
}

fn list(state: &Unsealed, ns: &NamespaceState, caller: &Caller, ui: bool) -> Reply {
    let mut mounts = Map::new();
    for mounted in ns.mounts.list() {
        if !ui || visible(state, ns, "", caller, &mounted) {
            mounts.insert(mounted.entry.path.clone(), entry_json(&mounted.entry));
        }
    }
    if !ui || caller.acl.is_root() {
        mounts.insert("sys/".into(), system_entry(state));
    }
    // Identities are global, served in the root namespace only.
    if ns.is_root() && (!ui || caller.acl.is_root() || caller.acl.has_any_under("identity/")) {
        mounts.insert("identity/".into(), identity_entry(state));
    }
    if ui {
        let mut auth = Map::new();
        for mounted in ns.auth.list() {
            if caller.acl.is_root()
                || caller
                    .acl
                    .has_any_under(&caller.policy_path(&format!("auth/{}", mounted.entry.path)))
            {
                auth.insert(mounted.entry.path.clone(), entry_json(&mounted.entry));
            }
        }
        if caller.acl.is_root() || caller.acl.has_any_under(&caller.policy_path("auth/token/")) {
            auth.insert("token/".into(), crate::sys_auth::token_entry(state));
        }
        let mut data = Map::new();
        data.insert("secret".into(), Value::Object(mounts));
        data.insert("auth".into(), Value::Object(auth));
        return Reply::ok(Response::with_data(data));
    }
    Reply::ok(Response::with_data(mounts))
}

fn read(state: &Unsealed, ns: &NamespaceState, path: &str) -> Result<Reply> {
    let path = crate::mount::normalize_path(path)?;
    if path == "sys/" {
        return match system_entry(state) {
            Value::Object(map) => Ok(Reply::ok(Response::with_data(map))),
            _ => Ok(Reply::NotFound),
        };
    }
    match ns.mounts.find_exact(&path) {
        Some(mounted) => match entry_json(&mounted.entry) {
            Value::Object(map) => Ok(Reply::ok(Response::with_data(map))),
            _ => Ok(Reply::NotFound),
        },
        None => Err(Error::invalid(format!("No secret engine mount at {path}"))),
    }
}

fn ttl_setting(config: &Map<String, Value>, field: &str) -> Result<Option<u64>> {
    match config.get(field) {
        Some(Value::String(s)) if s == "system" => Ok(Some(0)),
        _ => Ok(params::ttl(config, field)?.map(Ttl::as_secs)),
    }
}

fn options_setting(data: &Map<String, Value>) -> Result<Option<BTreeMap<String, String>>> {
    match data.get("options") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(_)) => params::string_map(data, "options"),
        Some(_) => Err(Error::invalid("options must be a map of strings")),
    }
}

fn config_map(data: &Map<String, Value>) -> Result<Map<String, Value>> {
    match data.get("config") {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(map)) => Ok(map.clone()),
        Some(_) => Err(Error::invalid("config must be a map")),
    }
}

pub(crate) async fn enable(
    table: &MountTable,
    data: &Map<String, Value>,
    path: &str,
) -> Result<Reply> {
    let kind = match data.get("type") {
        Some(Value::String(kind)) if !kind.is_empty() => kind.clone(),
        _ => return Err(Error::invalid("backend type must be specified as a string")),
    };
    let config = config_map(data)?;
    let request = MountRequest {
        path: path.to_owned(),
        kind,
        description: params::string(data, "description")?.unwrap_or_default(),
        options: options_setting(data)?.unwrap_or_default(),
        default_lease_ttl: ttl_setting(&config, "default_lease_ttl")?.unwrap_or(0),
        max_lease_ttl: ttl_setting(&config, "max_lease_ttl")?.unwrap_or(0),
        local: params::boolean(data, "local")?.unwrap_or(false),
        seal_wrap: params::boolean(data, "seal_wrap")?.unwrap_or(false),
    };
    table.mount(request, false).await?;
    Ok(Reply::NoContent)
}

fn effective(ttl: u64) -> u64 {
    if ttl == 0 {
        SYSTEM_MAX_TTL.as_secs()
    } else {
        ttl
    }
}

pub(crate) fn read_tune(table: &MountTable, path: &str) -> Result<Reply> {
    let path = crate::mount::normalize_path(path)?;
    let mounted = table
        .find_exact(&path)
        .ok_or_else(|| Error::invalid(format!("cannot fetch sysview for path \"{path}\"")))?;
    let entry = &mounted.entry;
    let mut data = Map::new();
    data.insert(
        "default_lease_ttl".into(),
        json!(effective(entry.default_lease_ttl)),
    );
    data.insert(
        "max_lease_ttl".into(),
        json!(effective(entry.max_lease_ttl)),
    );
    data.insert("force_no_cache".into(), json!(false));
    data.insert("description".into(), json!(entry.description));
    if !entry.options.is_empty() {
        data.insert("options".into(), json!(entry.options));
    }
    Ok(Reply::ok(Response::with_data(data)))
}

pub(crate) async fn tune(
    table: &MountTable,
    data: &Map<String, Value>,
    path: &str,
) -> Result<Reply> {
    let tuning = Tuning {
        description: params::string(data, "description")?,
        default_lease_ttl: ttl_setting(data, "default_lease_ttl")?,
        max_lease_ttl: ttl_setting(data, "max_lease_ttl")?,
        options: options_setting(data)?,
    };
    table.tune(path, tuning).await?;
    Ok(Reply::NoContent)
}

/// `sys/internal/ui/mounts/<path>`: the mount covering `path`, for a caller with any capability
/// under it; Vault's preflight 403 otherwise (also when nothing is mounted there).
fn preflight(state: &Unsealed, ns: &NamespaceState, caller: &Caller, path: &str) -> Result<Reply> {
    let denied = || Error::PreflightDenied {
        path: format!("{}/", path.trim_end_matches('/')),
    };
    if path == "sys" || path.starts_with("sys/") {
        if !(caller.acl.is_root() || caller.acl.has_any_under(&caller.policy_path("sys/"))) {
            return Err(denied());
        }
        let mut data = match system_entry(state) {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        data.insert("path".into(), json!("sys/"));
        return Ok(Reply::ok(Response::with_data(data)));
    }
    // The path may start in a child namespace (`acme/secret/app`), as Vault's preflight allows.
    let (child, rest) = state.namespaces.descend(ns, path);
    let owner: &NamespaceState = child.as_deref().unwrap_or(ns);
    let below = ns.relative(owner);
    let Some((mounted, _)) = owner.mounts.route(rest) else {
        return Err(denied());
    };
    if !visible(state, owner, below, caller, &mounted) {
        return Err(denied());
    }
    let mut data = match entry_json(&mounted.entry) {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    data.insert(
        "path".into(),
        json!(format!("{below}{}", mounted.entry.path)),
    );
    Ok(Reply::ok(Response::with_data(data)))
}
