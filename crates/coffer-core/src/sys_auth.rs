//! `sys/auth` (list, enable, read, disable, tune): auth methods mounted below `auth/`, with the
//! built-in token method shown as `token/`, in the same shapes as `sys/mounts`.

use serde_json::{Map, Value, json};

use crate::mount::MountEntry;
use crate::namespace::NamespaceState;
use crate::node::Unsealed;
use crate::request::{Operation, Reply, Request, Response};
use crate::sys_mounts::{enable, entry_json, read_tune, tune};
use crate::{Error, Result, VERSION};

/// Serves `sys/auth…` for namespace `ns`; `None` for other paths.
pub(crate) async fn handle(
    state: &Unsealed,
    ns: &NamespaceState,
    request: &Request,
    rest: &str,
) -> Option<Result<Reply>> {
    let op = request.operation;
    let write = matches!(op, Operation::Update | Operation::Create);
    let reply = if rest == "auth" {
        match op {
            Operation::Read => Ok(list(state, ns)),
            _ => Err(Error::UnsupportedOperation),
        }
    } else if let Some(path) = rest.strip_prefix("auth/") {
        if let Some(path) = path.strip_suffix("/tune") {
            match op {
                Operation::Read => read_tune(&ns.auth, path).map(with_token_type),
                _ if write => tune(&ns.auth, &request.data, path).await,
                _ => Err(Error::UnsupportedOperation),
            }
        } else {
            match op {
                Operation::Read => read(state, ns, path),
                _ if write => enable(&ns.auth, &request.data, path).await,
                Operation::Delete => ns.auth.unmount(path).await.map(|()| Reply::NoContent),
                _ => Err(Error::UnsupportedOperation),
            }
        }
    } else {
        return None;
    };
    Some(reply)
}

/// The kind of token an auth method's logins issue, which Vault shows in its `config` and tune
/// settings; Coffer issues service tokens only.
const TOKEN_TYPE: &str = "default-service";

/// An auth method's entry in Vault's shape: a mount entry whose `config` has `token_type`.
fn auth_entry_json(entry: &MountEntry) -> Value {
    let mut json = entry_json(entry);
    if let Some(Value::Object(config)) = json.get_mut("config") {
        config.insert("token_type".into(), json!(TOKEN_TYPE));
    }
    json
}

/// Tune settings of an auth method, with `token_type`.
fn with_token_type(reply: Reply) -> Reply {
    match reply {
        Reply::Ok(mut response) => {
            if let Some(data) = response.data.as_mut() {
                data.insert("token_type".into(), json!(TOKEN_TYPE));
            }
            Reply::Ok(response)
        }
        other => other,
    }
}

pub(crate) fn token_entry(state: &Unsealed) -> Value {
    json!({
        "accessor": format!("auth_token_{}", state.cluster.id.chars().take(8).collect::<String>()),
        "config": {"default_lease_ttl": 0, "force_no_cache": false, "max_lease_ttl": 0, "token_type": TOKEN_TYPE},
        "description": "token based credentials",
        "external_entropy_access": false,
        "local": false,
        "options": null,
        "plugin_version": "",
        "running_plugin_version": format!("v{VERSION}+builtin.coffer"),
        "running_sha256": "",
        "seal_wrap": false,
        "type": "token",
        "uuid": state.cluster.id,
    })
}

fn list(state: &Unsealed, ns: &NamespaceState) -> Reply {
    let mut mounts = Map::new();
    for mounted in ns.auth.list() {
        mounts.insert(mounted.entry.path.clone(), auth_entry_json(&mounted.entry));
    }
    mounts.insert("token/".into(), token_entry(state));
    Reply::ok(Response::with_data(mounts))
}

fn read(state: &Unsealed, ns: &NamespaceState, path: &str) -> Result<Reply> {
    let path = crate::mount::normalize_path(path)?;
    let entry = if path == "token/" {
        token_entry(state)
    } else {
        match ns.auth.find_exact(&path) {
            Some(mounted) => auth_entry_json(&mounted.entry),
            None => return Err(Error::invalid(format!("no matching mount at \"{path}\""))),
        }
    };
    match entry {
        Value::Object(map) => Ok(Reply::ok(Response::with_data(map))),
        _ => Ok(Reply::NotFound),
    }
}
