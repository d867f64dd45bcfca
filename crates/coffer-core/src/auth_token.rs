//! The token auth backend, `auth/token/*`: create, lookup, renew and revoke tokens, with Vault's
//! paths, parameters and reply shapes.

use std::sync::Arc;
use std::time::SystemTime;

use serde_json::{Map, Value, json};

use crate::clock::{rfc3339, unix_seconds};
use crate::namespace::{NamespaceState, Namespaces};
use crate::params;
use crate::pipeline::Caller;
use crate::request::{AuthResponse, ClientToken, Operation, Reply, Request, Response};
use crate::token::{Accessor, TokenEntry, TokenRequest};
use crate::ttl::Ttl;
use crate::{Error, Result};

/// Paths below `auth/token/` that need `sudo` in addition to the capability.
pub(crate) fn needs_sudo(rest: &str) -> bool {
    matches!(rest, "accessors" | "accessors/" | "revoke-orphan")
        || rest.starts_with("revoke-orphan/")
}

/// Whether a request path acts on the caller's own token (`auth/token/lookup-self`, …).
pub(crate) fn is_self(path: &str) -> bool {
    matches!(
        path,
        "auth/token/lookup-self" | "auth/token/renew-self" | "auth/token/revoke-self"
    )
}

/// Serves `auth/token/<rest>` in namespace `ns`. New tokens belong to `ns`; the `*-self` paths
/// act on the caller's token wherever it lives; a token or accessor given as a parameter is found
/// in the store its suffix names, and only when that namespace is `ns` or below it.
pub(crate) async fn handle(
    namespaces: &Namespaces,
    ns: &NamespaceState,
    now: SystemTime,
    caller: &Caller,
    request: &Request,
    rest: &str,
) -> Result<Reply> {
    let op = request.operation;
    let data = &request.data;
    let write = matches!(op, Operation::Update | Operation::Create);
    let own = &caller.home;
    match rest {
        "create" | "create-orphan" if write => {
            create(ns, now, caller, data, rest == "create-orphan").await
        }
        "lookup-self" if matches!(op, Operation::Read) || write => Ok(Reply::ok(
            Response::with_data(lookup_data(&caller.entry, Some(&caller.token), own, now)),
        )),
        "lookup" if matches!(op, Operation::Read) || write => {
            let token = required_token(data)?;
            let Some(home) = store_for(namespaces, ns, token.expose()) else {
                return Err(Error::BadToken);
            };
            match home.tokens.lookup(&token).await? {
                Some(entry) => Ok(Reply::ok(Response::with_data(lookup_data(
                    &entry,
                    Some(&token),
                    &home,
                    now,
                )))),
                None => Err(Error::BadToken),
            }
        }
        "lookup-accessor" if write => {
            let accessor = required_accessor(data)?;
            lookup_accessor(namespaces, ns, now, &accessor).await
        }
        _ if rest.starts_with("lookup-accessor/") && (write || matches!(op, Operation::Read)) => {
            let accessor = Accessor::new(&rest["lookup-accessor/".len()..]);
            lookup_accessor(namespaces, ns, now, &accessor).await
        }
        "renew-self" if write => {
            let increment = params::ttl(data, "increment")?.unwrap_or(Ttl::ZERO);
            let entry = own.tokens.renew(&caller.token, increment).await?;
            Ok(auth_reply(caller.token.clone(), &entry, now))
        }
        "renew" if write => {
            let token = required_token(data)?;
            let increment = params::ttl(data, "increment")?.unwrap_or(Ttl::ZERO);
            let home = store_for(namespaces, ns, token.expose()).ok_or(Error::BadToken)?;
            let entry = home.tokens.renew(&token, increment).await?;
            Ok(auth_reply(token, &entry, now))
        }
        "renew-accessor" if write => {
            let accessor = required_accessor(data)?;
            let increment = params::ttl(data, "increment")?.unwrap_or(Ttl::ZERO);
            let home = store_for(namespaces, ns, accessor.as_str()).ok_or(Error::BadToken)?;
            let entry = home
                .tokens
                .lookup_accessor(&accessor)
                .await?
                .ok_or(Error::BadToken)?;
            // Renewal needs the token; the accessor path renews by re-deriving it from storage.
            let renewed = home.tokens.renew_entry(&entry, increment).await?;
            Ok(Reply::ok(Response {
                auth: Some(auth_response(ClientToken::new(""), &renewed, now)),
                ..Response::default()
            }))
        }
        "revoke-self" if write => {
            own.tokens.revoke(&caller.token).await?;
            Ok(Reply::NoContent)
        }
        // Revoking a token that is unknown here is not an error, as in Vault.
        "revoke" if write => {
            let token = required_token(data)?;
            if let Some(home) = store_for(namespaces, ns, token.expose()) {
                home.tokens.revoke(&token).await?;
            }
            Ok(Reply::NoContent)
        }
        "revoke-orphan" if write => {
            let token = required_token(data)?;
            if let Some(home) = store_for(namespaces, ns, token.expose()) {
                home.tokens.revoke_orphan(&token).await?;
            }
            Ok(Reply::NoContent)
        }
        "revoke-accessor" if write => {
            let accessor = required_accessor(data)?;
            if let Some(home) = store_for(namespaces, ns, accessor.as_str()) {
                home.tokens.revoke_accessor(&accessor).await?;
            }
            Ok(Reply::NoContent)
        }
        "accessors" | "accessors/" if matches!(op, Operation::List) => {
            let keys: Vec<Value> = ns
                .tokens
                .accessors()
                .await?
                .into_iter()
                .map(|a| Value::String(a.to_string()))
                .collect();
            if keys.is_empty() {
                return Ok(Reply::NotFound);
            }
            let mut data = Map::new();
            data.insert("keys".into(), Value::Array(keys));
            Ok(Reply::ok(Response::with_data(data)))
        }
        "create" | "create-orphan" | "lookup-self" | "lookup" | "lookup-accessor"
        | "renew-self" | "renew" | "renew-accessor" | "revoke-self" | "revoke"
        | "revoke-orphan" | "revoke-accessor" | "accessors" | "accessors/" => {
            Err(Error::UnsupportedOperation)
        }
        _ => Err(Error::UnsupportedPath),
    }
}

/// The namespace holding a token or accessor named in a request made in `ns`: only `ns` and its
/// descendants' tokens can be managed from `ns`.
fn store_for(
    namespaces: &Namespaces,
    ns: &NamespaceState,
    token_or_accessor: &str,
) -> Option<Arc<NamespaceState>> {
    let home = namespaces.home_of(token_or_accessor);
    ns.contains(&home).then_some(home)
}

fn required_token(data: &Map<String, Value>) -> Result<ClientToken> {
    match params::string(data, "token")? {
        Some(token) if !token.is_empty() => Ok(ClientToken::new(token)),
        _ => Err(Error::invalid("missing token to look up")),
    }
}

fn required_accessor(data: &Map<String, Value>) -> Result<Accessor> {
    match params::string(data, "accessor")? {
        Some(accessor) if !accessor.is_empty() => Ok(Accessor::new(accessor)),
        _ => Err(Error::invalid("missing accessor")),
    }
}

async fn lookup_accessor(
    namespaces: &Namespaces,
    ns: &NamespaceState,
    now: SystemTime,
    accessor: &Accessor,
) -> Result<Reply> {
    let Some(home) = store_for(namespaces, ns, accessor.as_str()) else {
        return Err(Error::invalid("invalid accessor"));
    };
    match home.tokens.lookup_accessor(accessor).await? {
        Some(entry) => Ok(Reply::ok(Response::with_data(lookup_data(
            &entry, None, &home, now,
        )))),
        None => Err(Error::invalid("invalid accessor")),
    }
}

/// Creates a token in namespace `ns`. A caller whose token lives in an ancestor namespace creates
/// an orphan there (token stores, and so parent links, are per namespace).
async fn create(
    ns: &NamespaceState,
    now: SystemTime,
    caller: &Caller,
    data: &Map<String, Value>,
    orphan_path: bool,
) -> Result<Reply> {
    let parent = &caller.entry;
    let privileged = parent.is_root() || caller.sudo;
    match params::string(data, "type")?.as_deref() {
        None | Some("") | Some("service") | Some("default") => {}
        Some("batch") => {
            return Err(Error::invalid(
                "batch tokens are not supported; create a service token",
            ));
        }
        Some(other) => return Err(Error::invalid(format!("unsupported token type {other:?}"))),
    }
    if parent.num_uses() > 0 {
        return Err(Error::invalid(
            "tokens with limited uses cannot create child tokens",
        ));
    }
    let no_parent = orphan_path || params::boolean(data, "no_parent")?.unwrap_or(false);
    if no_parent && !orphan_path && !privileged {
        return Err(Error::invalid(
            "root or sudo privileges required to create orphan token",
        ));
    }
    let id = params::string(data, "id")?.filter(|s| !s.is_empty());
    if id.is_some() && !parent.is_root() {
        return Err(Error::invalid(
            "root or sudo privileges required to specify token id",
        ));
    }
    let no_default_policy = params::boolean(data, "no_default_policy")?.unwrap_or(false);
    let mut policies = match params::string_list(data, "policies")? {
        Some(list) if !list.is_empty() => list,
        _ => parent
            .policies()
            .iter()
            .filter(|p| p.as_str() != "default" || !no_default_policy)
            .cloned()
            .collect(),
    };
    for policy in &mut policies {
        *policy = policy.to_lowercase();
    }
    if !parent.is_root() {
        let missing: Vec<&String> = policies
            .iter()
            .filter(|p| p.as_str() != "default" && !parent.policies().contains(p))
            .collect();
        if !missing.is_empty() {
            return Err(Error::invalid("child policies must be subset of parent"));
        }
    }
    if !ns.is_root() && policies.iter().any(|p| p == "root") {
        return Err(Error::invalid(
            "the root policy can only be assigned in the root namespace",
        ));
    }
    if !no_default_policy && !policies.iter().any(|p| p == "root" || p == "default") {
        policies.push("default".into());
    }
    policies.sort();
    policies.dedup();
    let display_name = match params::string(data, "display_name")?.filter(|s| !s.is_empty()) {
        Some(name) => {
            let cleaned: String = name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '-'
                    }
                })
                .collect();
            // Vault trims one trailing hyphen after sanitizing ("agent!" → "token-agent").
            let full = format!("token-{cleaned}");
            full.strip_suffix('-').unwrap_or(&full).to_owned()
        }
        None => "token".to_owned(),
    };
    let num_uses = params::unsigned(data, "num_uses")?.unwrap_or(0);
    let num_uses = u32::try_from(num_uses).map_err(|_| Error::invalid("num_uses is too large"))?;
    // Naming who a token stands for is for brokers: root or sudo on the create path.
    let identity = match data.get("identity") {
        None | Some(serde_json::Value::Null) => None,
        Some(value) if privileged => Some(crate::engine::Identity::from_json(value, "identity")?),
        Some(_) => {
            return Err(Error::invalid(
                "root or sudo privileges required to set the identity of a token",
            ));
        }
    };
    let request = TokenRequest {
        policies,
        meta: params::string_map(data, "meta")?.unwrap_or_default(),
        display_name,
        num_uses,
        ttl: params::ttl(data, "ttl")?.unwrap_or(Ttl::ZERO),
        explicit_max_ttl: params::ttl(data, "explicit_max_ttl")?.unwrap_or(Ttl::ZERO),
        period: params::ttl(data, "period")?.unwrap_or(Ttl::ZERO),
        renewable: params::boolean(data, "renewable")?.unwrap_or(true),
        path: if orphan_path {
            "auth/token/create-orphan".into()
        } else {
            "auth/token/create".into()
        },
        id: id.map(ClientToken::new),
        identity,
        entity_id: String::new(),
    };
    let same_store = caller.home.id() == ns.id();
    let issued = ns
        .tokens
        .create(
            request,
            if no_parent || !same_store {
                None
            } else {
                Some(parent)
            },
        )
        .await?;
    Ok(auth_reply(issued.token, &issued.entry, now))
}

fn auth_reply(token: ClientToken, entry: &Arc<TokenEntry>, now: SystemTime) -> Reply {
    Reply::ok(Response {
        auth: Some(auth_response(token, entry, now)),
        ..Response::default()
    })
}

/// The `auth` block for a token.
pub(crate) fn auth_response(
    token: ClientToken,
    entry: &TokenEntry,
    now: SystemTime,
) -> AuthResponse {
    AuthResponse {
        client_token: token,
        accessor: entry.accessor().clone(),
        policies: entry.policies().to_vec(),
        token_policies: entry.policies().to_vec(),
        identity_policies: Vec::new(),
        metadata: entry.meta().clone(),
        lease_duration: entry.remaining(now).as_secs(),
        renewable: entry.renewable(),
        orphan: entry.is_orphan(),
        num_uses: entry.num_uses(),
        entity_id: entry.entity_id().to_owned(),
    }
}

/// The `data` of a token lookup, Vault's shape. `id` is the token itself when the caller gave it;
/// `home` is the namespace whose store holds it.
pub(crate) fn lookup_data(
    entry: &TokenEntry,
    id: Option<&ClientToken>,
    home: &NamespaceState,
    now: SystemTime,
) -> Map<String, Value> {
    let meta: Value = if entry.meta().is_empty() {
        Value::Null
    } else {
        Value::Object(
            entry
                .meta()
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        )
    };
    let mut data = Map::new();
    data.insert("accessor".into(), json!(entry.accessor().as_str()));
    data.insert(
        "creation_time".into(),
        json!(unix_seconds(entry.creation_time())),
    );
    data.insert("creation_ttl".into(), json!(entry.creation_ttl().as_secs()));
    data.insert("display_name".into(), json!(entry.display_name()));
    data.insert("entity_id".into(), json!(entry.entity_id()));
    if let Some(identity) = entry.identity() {
        // Coffer's addition: who the token stands for.
        data.insert(
            "identity".into(),
            json!({"type": identity.kind, "name": identity.name}),
        );
    }
    data.insert(
        "expire_time".into(),
        entry
            .expire_time()
            .map(|t| json!(rfc3339(t)))
            .unwrap_or(Value::Null),
    );
    data.insert(
        "explicit_max_ttl".into(),
        json!(entry.explicit_max_ttl().as_secs()),
    );
    data.insert(
        "id".into(),
        json!(id.map(ClientToken::expose).unwrap_or("")),
    );
    data.insert("issue_time".into(), json!(rfc3339(entry.creation_time())));
    data.insert("meta".into(), meta);
    if !home.is_root() {
        // Vault names the namespace of tokens outside the root namespace only.
        data.insert("namespace_path".into(), json!(home.path()));
    }
    data.insert("num_uses".into(), json!(entry.num_uses()));
    data.insert("orphan".into(), json!(entry.is_orphan()));
    data.insert("path".into(), json!(entry.path()));
    data.insert("policies".into(), json!(entry.policies()));
    if entry.expire_time().is_some() {
        // Vault leaves `renewable` out for tokens that never expire (such as root tokens).
        data.insert("renewable".into(), json!(entry.renewable()));
    }
    data.insert("ttl".into(), json!(entry.remaining(now).as_secs()));
    data.insert("type".into(), json!("service"));
    if !entry.period().is_zero() {
        data.insert("period".into(), json!(entry.period().as_secs()));
    }
    if let Some(renewed) = entry.last_renewal() {
        data.insert("last_renewal".into(), json!(rfc3339(renewed)));
        data.insert("last_renewal_time".into(), json!(unix_seconds(renewed)));
    }
    data
}
