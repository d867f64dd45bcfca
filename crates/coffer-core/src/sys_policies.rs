//! `sys/policies/acl/*` and the legacy `sys/policy/*`: reading, writing, listing and deleting ACL
//! policies, with Vault's reply shapes (the legacy API says `rules` where the new one says
//! `policy`).

use std::time::SystemTime;

use serde_json::{Map, Value, json};

use crate::clock::rfc3339;
use crate::namespace::NamespaceState;
use crate::request::{Operation, Reply, Request, Response};
use crate::{Error, Result, params};

/// Serves `sys/policies/acl…` and `sys/policy…` from the policy store of namespace `state`;
/// `None` when the path is neither.
pub(crate) async fn handle(
    state: &NamespaceState,
    now: SystemTime,
    request: &Request,
    rest: &str,
) -> Option<Result<Reply>> {
    let op = request.operation;
    let write = matches!(op, Operation::Update | Operation::Create);
    let reply = match rest {
        "policies/acl" | "policies/acl/" => match op {
            Operation::List => Ok(list(state, false)),
            _ => Err(Error::UnsupportedOperation),
        },
        "policy" | "policy/" => match op {
            Operation::Read | Operation::List => Ok(list(state, true)),
            _ => Err(Error::UnsupportedOperation),
        },
        _ => {
            let (name, legacy) = if let Some(name) = rest.strip_prefix("policies/acl/") {
                (name, false)
            } else if let Some(name) = rest.strip_prefix("policy/") {
                (name, true)
            } else {
                return None;
            };
            match op {
                Operation::Read => Ok(read(state, name, legacy)),
                Operation::Delete => state.policies.delete(name).await.map(|()| Reply::NoContent),
                _ if write => write_policy(state, now, &request.data, name, legacy).await,
                _ => Err(Error::UnsupportedOperation),
            }
        }
    };
    Some(reply)
}

fn list(state: &NamespaceState, legacy: bool) -> Reply {
    let names = state.policies.names();
    let mut data = Map::new();
    data.insert("keys".into(), json!(names));
    if legacy {
        data.insert("policies".into(), json!(names));
    }
    Reply::ok(Response::with_data(data))
}

fn read(state: &NamespaceState, name: &str, legacy: bool) -> Reply {
    let name = name.trim().to_lowercase();
    let text_key = if legacy { "rules" } else { "policy" };
    let mut data = Map::new();
    if name == "root" {
        data.insert("name".into(), json!("root"));
        data.insert(text_key.into(), json!(""));
        return Reply::ok(Response::with_data(data));
    }
    let Some(stored) = state.policies.get(&name) else {
        return Reply::NotFound;
    };
    data.insert("name".into(), json!(name));
    data.insert(text_key.into(), json!(stored.policy.text()));
    if !legacy {
        data.insert("version".into(), json!(stored.version));
        data.insert("modified".into(), json!(rfc3339(stored.modified)));
        data.insert("cas_required".into(), json!(false));
    }
    Reply::ok(Response::with_data(data))
}

async fn write_policy(
    state: &NamespaceState,
    now: SystemTime,
    data: &Map<String, Value>,
    name: &str,
    legacy: bool,
) -> Result<Reply> {
    let text = match params::string(data, "policy")? {
        Some(text) => Some(text),
        None if legacy => params::string(data, "rules")?,
        None => None,
    };
    let text = text
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| Error::invalid("'policy' parameter not supplied or empty"))?;
    if name.trim().is_empty() {
        return Err(Error::invalid("policy name must be provided in the URL"));
    }
    state.policies.put(name, &text, now).await?;
    Ok(Reply::NoContent)
}
