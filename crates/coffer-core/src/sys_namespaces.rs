//! `sys/namespaces` (list, scan, create, read, patch, delete), with OpenBao's request and reply
//! shapes. Every call acts on the children of the request's namespace: a nested namespace is
//! created from inside its parent (`X-Vault-Namespace: acme` + `sys/namespaces/team1`).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::namespace::NamespaceState;
use crate::node::Unsealed;
use crate::request::{Operation, Reply, Request, Response};
use crate::{Error, Result};

/// Paths below `sys/` that need `sudo`: managing namespaces is for root (or sudo) tokens only.
pub(crate) fn needs_sudo(rest: &str) -> bool {
    rest == "namespaces" || rest.starts_with("namespaces/")
}

/// Serves `sys/namespaces…` in namespace `ns`; `None` for other paths.
pub(crate) async fn handle(
    state: &Unsealed,
    ns: &NamespaceState,
    request: &Request,
    rest: &str,
) -> Option<Result<Reply>> {
    let op = request.operation;
    let reply = if rest == "namespaces" || rest == "namespaces/" {
        match op {
            Operation::List => Ok(list(state, ns, false)),
            Operation::Scan => Ok(list(state, ns, true)),
            _ => Err(Error::UnsupportedOperation),
        }
    } else if let Some(name) = rest.strip_prefix("namespaces/") {
        one(state, ns, request, name).await
    } else {
        return None;
    };
    Some(reply)
}

async fn one(
    state: &Unsealed,
    ns: &NamespaceState,
    request: &Request,
    name: &str,
) -> Result<Reply> {
    let name = crate::namespace::validate_name(name)?;
    let path = format!("{}{name}/", ns.path());
    let existing = state.namespaces.by_path(&path);
    match request.operation {
        Operation::Read => Ok(match existing {
            Some(child) => Reply::ok(Response::with_data(namespace_json(&child))),
            None => Reply::NotFound,
        }),
        Operation::Update | Operation::Create => {
            let metadata = metadata_param(&request.data)?;
            let child = state.namespaces.create(ns, &name, metadata).await?;
            Ok(Reply::ok(Response::with_data(namespace_json(&child))))
        }
        Operation::Patch => {
            let child = existing.ok_or_else(|| Error::invalid("namespace not found"))?;
            let metadata = patched_metadata(child.custom_metadata(), &request.data)?;
            state.namespaces.set_metadata(&child, metadata).await?;
            Ok(Reply::ok(Response::with_data(namespace_json(&child))))
        }
        Operation::Delete => match existing {
            Some(child) => {
                state.namespaces.delete(&child).await?;
                // Its leases go with it (the engines that issued them are gone too).
                let leases = state.leases.list_prefix(child.id().as_str(), "").await?;
                for chunk in leases.chunks(256) {
                    state.leases.remove(chunk).await?;
                }
                let mut data = Map::new();
                data.insert("status".into(), json!("deleted"));
                Ok(Reply::ok(Response::with_data(data)))
            }
            None => Ok(Reply::ok(Response {
                warnings: vec!["requested namespace does not exist".to_owned()],
                ..Response::default()
            })),
        },
        Operation::List | Operation::Scan => Err(Error::UnsupportedOperation),
    }
}

/// A namespace as OpenBao shows it.
fn namespace_json(ns: &NamespaceState) -> Map<String, Value> {
    let mut data = Map::new();
    data.insert("id".into(), json!(ns.id().as_str()));
    data.insert("uuid".into(), json!(ns.uuid()));
    data.insert("path".into(), json!(ns.path()));
    data.insert("custom_metadata".into(), json!(ns.custom_metadata()));
    data.insert("locked".into(), json!(false));
    data.insert("tainted".into(), json!(false));
    data
}

/// The children of `ns` (every descendant when `recursive`), keyed by their path relative to it.
/// Vault answers an empty list with 404.
fn list(state: &Unsealed, ns: &NamespaceState, recursive: bool) -> Reply {
    let children = state.namespaces.children_of(ns, recursive);
    if children.is_empty() {
        return Reply::NotFound;
    }
    let mut keys = Vec::new();
    let mut info = Map::new();
    for child in children {
        let key = ns.relative(&child).to_owned();
        info.insert(key.clone(), Value::Object(namespace_json(&child)));
        keys.push(Value::String(key));
    }
    let mut data = Map::new();
    data.insert("keys".into(), Value::Array(keys));
    data.insert("key_info".into(), Value::Object(info));
    Reply::ok(Response::with_data(data))
}

fn metadata_param(data: &Map<String, Value>) -> Result<BTreeMap<String, String>> {
    match data.get("custom_metadata") {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(key, value)| match value {
                Value::String(text) => Ok((key.clone(), text.clone())),
                _ => Err(values_must_be_strings()),
            })
            .collect(),
        Some(_) => Err(Error::invalid("custom_metadata must be a map of strings")),
    }
}

/// A JSON merge patch of the metadata: a string sets a key, `null` removes it.
fn patched_metadata(
    mut current: BTreeMap<String, String>,
    data: &Map<String, Value>,
) -> Result<BTreeMap<String, String>> {
    match data.get("custom_metadata") {
        None => {}
        Some(Value::Null) => current.clear(),
        Some(Value::Object(map)) => {
            for (key, value) in map {
                match value {
                    Value::String(text) => {
                        current.insert(key.clone(), text.clone());
                    }
                    Value::Null => {
                        current.remove(key);
                    }
                    _ => return Err(values_must_be_strings()),
                }
            }
        }
        Some(_) => return Err(Error::invalid("custom_metadata must be a map of strings")),
    }
    Ok(current)
}

fn values_must_be_strings() -> Error {
    Error::invalid("custom_metadata values must be strings")
}
