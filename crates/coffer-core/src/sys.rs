//! The logical `sys/` backend: the authenticated system endpoints that go through the request
//! pipeline (seal, key status and rotation, capabilities). The unauthenticated status endpoints
//! (`sys/health`, `sys/seal-status`, `sys/init`, `sys/unseal`, `sys/leader`) are methods on
//! [`crate::Core`] that the HTTP edge calls directly, as Vault does not audit them.

use serde_json::{Map, Value, json};

use crate::clock::rfc3339;
use crate::namespace::{NamespaceState, root_only};
use crate::node::Unsealed;
use crate::pipeline::Caller;
use crate::request::{Operation, Reply, Request, Response};
use crate::{Core, Error, Result, params};

/// Paths below `sys/` that need `sudo` in addition to the capability.
pub(crate) fn needs_sudo(rest: &str) -> bool {
    matches!(
        rest,
        "seal"
            | "step-down"
            | "rotate"
            | "rotate/keyring"
            | "audit"
            | "audit-logs"
            | "notifiers"
            | "raw"
            | "leases/revoke-identity"
            | "leases/failed"
    ) || [
        "audit/",
        "raw/",
        "rotate/root/",
        "leases/lookup/",
        "leases/revoke-prefix/",
        "leases/revoke-force/",
        "leases/by-identity/",
        "config/",
        "notifiers/",
    ]
    .iter()
    .any(|prefix| rest.starts_with(prefix))
        || crate::sys_namespaces::needs_sudo(rest)
}

/// Paths below `sys/` served in the root namespace only: what is global to the server (seal,
/// keyring, audit devices, grants).
fn root_only_path(rest: &str) -> bool {
    matches!(
        rest,
        "seal"
            | "step-down"
            | "key-status"
            | "rotate"
            | "rotate/keyring"
            | "audit"
            | "audit-logs"
            | "grants"
            | "raw"
    ) || ["audit/", "audit-hash/", "grants/", "raw/", "rotate/"]
        .iter()
        .any(|prefix| rest.starts_with(prefix))
}

/// Serves `sys/<rest>` in namespace `ns`.
pub(crate) async fn handle(
    core: &Core,
    state: &Unsealed,
    ns: &NamespaceState,
    caller: &Caller,
    request: &Request,
    rest: &str,
) -> Result<Reply> {
    if !ns.is_root() && root_only_path(rest) {
        return Err(root_only());
    }
    if let Some(reply) = crate::sys_mounts::handle(state, ns, caller, request, rest).await {
        return reply;
    }
    if let Some(reply) = crate::sys_namespaces::handle(state, ns, request, rest).await {
        return reply;
    }
    if let Some(reply) = state
        .audit
        .handle(request.operation, &request.data, rest)
        .await
    {
        return reply;
    }
    if let Some(reply) = crate::sys_auth::handle(state, ns, request, rest).await {
        return reply;
    }
    if let Some(reply) = crate::sys_policies::handle(ns, core.clock().now(), request, rest).await {
        return reply;
    }
    if rest == "grants" || rest.starts_with("grants/") {
        let created_by = caller.entry.display_name().to_owned();
        return state
            .grants
            .handle(
                core.clock().now(),
                request.operation,
                &request.data,
                rest,
                &created_by,
            )
            .await;
    }
    if let Some(reply) =
        crate::sys_leases::handle(state, ns, caller, request, rest, core.clock().now()).await
    {
        return reply;
    }
    if let Some(reply) = state
        .notifiers
        .handle(request.operation, &request.data, rest)
        .await
    {
        return reply;
    }
    if let Some(wrapping) = rest.strip_prefix("wrapping/") {
        return crate::wrapping::handle(ns, core.clock().now(), caller, request, wrapping).await;
    }
    let op = request.operation;
    let write = matches!(op, Operation::Update | Operation::Create);
    match rest {
        "seal" if write => {
            core.seal_now().await?;
            Ok(Reply::NoContent)
        }
        "key-status" if op == Operation::Read => {
            let status = core.barrier().key_status().map_err(Error::from_barrier)?;
            let mut data = Map::new();
            data.insert("term".into(), json!(status.term.get()));
            data.insert("install_time".into(), json!(rfc3339(status.install_time)));
            data.insert("encryptions".into(), json!(status.encryptions));
            Ok(Reply::ok(Response::with_data(data)))
        }
        "rotate" | "rotate/keyring" if write => {
            let status = core.barrier().rotate().await.map_err(Error::from_barrier)?;
            tracing::info!(term = status.term.get(), "barrier keyring rotated");
            Ok(Reply::NoContent)
        }
        "capabilities-self" if write => {
            let paths = capability_paths(&request.data)?;
            Ok(Reply::ok(Response::with_data(capabilities(
                &caller.acl,
                &|path| caller.policy_path(path),
                &paths,
                true,
            ))))
        }
        "capabilities" if write => {
            let paths = capability_paths(&request.data)?;
            let token = match params::string(&request.data, "token")? {
                Some(token) if !token.is_empty() => crate::request::ClientToken::new(token),
                _ => return Err(Error::invalid("missing token")),
            };
            let home = state.namespaces.home_of(token.expose());
            if !home.contains(ns) {
                return Err(Error::BadToken);
            }
            let target = home.tokens.lookup(&token).await?.ok_or(Error::BadToken)?;
            let acl = home
                .policies
                .acl(&crate::pipeline::effective_policies(state, &target));
            let prefix = home.relative(ns);
            Ok(Reply::ok(Response::with_data(capabilities(
                &acl,
                &|path| format!("{prefix}{path}"),
                &paths,
                false,
            ))))
        }
        "capabilities-accessor" if write => {
            let paths = capability_paths(&request.data)?;
            let accessor = match params::string(&request.data, "accessor")? {
                Some(a) if !a.is_empty() => crate::token::Accessor::new(a),
                _ => return Err(Error::invalid("missing accessor")),
            };
            let home = state.namespaces.home_of(accessor.as_str());
            if !home.contains(ns) {
                return Err(Error::invalid("invalid accessor"));
            }
            let target = home
                .tokens
                .lookup_accessor(&accessor)
                .await?
                .ok_or(Error::invalid("invalid accessor"))?;
            let acl = home
                .policies
                .acl(&crate::pipeline::effective_policies(state, &target));
            let prefix = home.relative(ns);
            Ok(Reply::ok(Response::with_data(capabilities(
                &acl,
                &|path| format!("{prefix}{path}"),
                &paths,
                false,
            ))))
        }
        "seal"
        | "key-status"
        | "rotate"
        | "rotate/keyring"
        | "capabilities-self"
        | "capabilities"
        | "capabilities-accessor" => Err(Error::UnsupportedOperation),
        _ => Err(Error::UnsupportedPath),
    }
}

fn capability_paths(data: &Map<String, Value>) -> Result<Vec<String>> {
    let mut paths = params::string_list(data, "paths")?.unwrap_or_default();
    if let Some(path) = params::string(data, "path")?.filter(|p| !p.is_empty()) {
        paths.push(path);
    }
    if paths.is_empty() {
        return Err(Error::invalid("missing paths"));
    }
    Ok(paths)
}

/// The capabilities `acl` gives on each path of the request's namespace; `policy_path` turns
/// such a path into the one the ACL's rules name (prefixed with the namespace's relative path).
fn capabilities(
    acl: &coffer_policy::Acl,
    policy_path: &dyn Fn(&str) -> String,
    paths: &[String],
    with_legacy_key: bool,
) -> Map<String, Value> {
    let mut data = Map::new();
    for path in paths {
        let path = path.trim_start_matches('/');
        let names: Vec<&str> = if acl.is_root() {
            vec!["root"]
        } else {
            acl.capabilities(&policy_path(path)).names()
        };
        data.insert(path.to_owned(), json!(names));
    }
    if (with_legacy_key || paths.len() == 1)
        && let Some(first) = paths
            .first()
            .and_then(|p| data.get(p.trim_start_matches('/')).cloned())
    {
        data.insert("capabilities".into(), first);
    }
    data
}
