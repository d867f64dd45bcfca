//! Vault's lease API over the core's lease store: `sys/leases/lookup`, `renew`, `revoke`,
//! `revoke-prefix` (and `revoke-force`), the legacy `sys/renew` and `sys/revoke`, and Coffer's
//! kill switch `sys/leases/revoke-identity` plus `sys/leases/by-identity/<type>/<name>`.
//! Ending a lease here tells the engine that issued it ([`crate::engine::Engine::lease_ended`]);
//! renewing one asks it first ([`crate::engine::Engine::lease_renewing`]).

use std::time::SystemTime;

use serde_json::{Map, Value, json};

use crate::clock::rfc3339;
use crate::engine::Identity;
use crate::lease::{LeaseRecord, LeaseScope, nanos};
use crate::mount::Mounted;
use crate::namespace::NamespaceState;
use crate::node::Unsealed;
use crate::pipeline::{Caller, caller_identity};
use crate::request::{LeaseGrant, Operation, Reply, Request, Response};
use crate::{Error, Result, params};

/// Serves `sys/leases/*`, `sys/renew*` and `sys/revoke*`; `None` for other paths.
pub(crate) async fn handle(
    state: &Unsealed,
    ns: &NamespaceState,
    caller: &Caller,
    request: &Request,
    rest: &str,
    now: SystemTime,
) -> Option<Result<Reply>> {
    let (verb, tail) = match rest {
        "renew" => ("renew", ""),
        "revoke" => ("revoke", ""),
        _ if rest.starts_with("renew/") => ("renew", &rest["renew/".len()..]),
        _ if rest.starts_with("revoke/") => ("revoke", &rest["revoke/".len()..]),
        _ => {
            let below = rest.strip_prefix("leases/")?;
            match below.split_once('/') {
                Some((verb, tail)) => (verb, tail),
                None => (below, ""),
            }
        }
    };
    let op = request.operation;
    let write = matches!(op, Operation::Update | Operation::Create);
    let data = &request.data;
    Some(match verb {
        "lookup" if write => lookup(state, ns, data, now).await,
        "lookup" if op == Operation::List => list_prefix(state, ns, tail).await,
        "renew" if write => renew(state, ns, caller, data, tail, now).await,
        "revoke" if write => revoke(state, ns, caller, data, tail, now).await,
        "revoke-prefix" | "revoke-force" if write => revoke_prefix(state, ns, tail, now)
            .await
            .map(|_| Reply::NoContent),
        "revoke-identity" if write => revoke_identity(state, ns, data, now).await,
        "by-identity" if matches!(op, Operation::List | Operation::Read) => {
            by_identity(state, ns, tail, now).await
        }
        "lookup" | "renew" | "revoke" | "revoke-prefix" | "revoke-force" | "revoke-identity"
        | "by-identity" => Err(Error::UnsupportedOperation),
        _ => return None,
    })
}

fn lease_id(data: &Map<String, Value>, tail: &str) -> Result<String> {
    let id = match params::string(data, "lease_id")? {
        Some(id) if !id.trim().is_empty() => id,
        _ if !tail.is_empty() => tail.to_owned(),
        _ => return Err(Error::invalid("missing lease ID")),
    };
    Ok(id.trim().trim_start_matches('/').to_owned())
}

async fn find(
    state: &Unsealed,
    ns: &NamespaceState,
    id: &str,
    now: SystemTime,
) -> Result<LeaseRecord> {
    match state.leases.get(ns.id().as_str(), id).await? {
        Some(record) if record.is_active(now) => Ok(record),
        _ => Err(Error::invalid("invalid lease")),
    }
}

async fn lookup(
    state: &Unsealed,
    ns: &NamespaceState,
    data: &Map<String, Value>,
    now: SystemTime,
) -> Result<Reply> {
    let record = find(state, ns, &lease_id(data, "")?, now).await?;
    let mut out = Map::new();
    out.insert("id".into(), json!(record.id));
    out.insert("issue_time".into(), json!(rfc3339(record.issued())));
    out.insert("expire_time".into(), json!(rfc3339(record.expires())));
    out.insert(
        "last_renewal".into(),
        record
            .renewed()
            .map(rfc3339)
            .map_or(Value::Null, Value::from),
    );
    out.insert("renewable".into(), json!(record.renewable));
    out.insert("ttl".into(), json!(record.remaining(now)));
    out.insert("identity".into(), json!(record.identity()));
    if let Some(purpose) = &record.purpose {
        out.insert("purpose".into(), json!(purpose));
    }
    Ok(Reply::ok(Response::with_data(out)))
}

async fn list_prefix(state: &Unsealed, ns: &NamespaceState, prefix: &str) -> Result<Reply> {
    let prefix = folder(prefix);
    let records = state.leases.list_prefix(ns.id().as_str(), &prefix).await?;
    let mut keys: Vec<String> = records
        .iter()
        .filter_map(|r| r.id.strip_prefix(&prefix))
        .map(|rest| match rest.split_once('/') {
            Some((first, _)) => format!("{first}/"),
            None => rest.to_owned(),
        })
        .collect();
    keys.sort();
    keys.dedup();
    if keys.is_empty() {
        return Ok(Reply::NotFound);
    }
    let mut data = Map::new();
    data.insert("keys".into(), json!(keys));
    Ok(Reply::ok(Response::with_data(data)))
}

/// Only the holder (or a caller with `sudo` on the path) may renew or revoke a lease by id.
fn may_act_on(caller: &Caller, record: &LeaseRecord) -> bool {
    caller.sudo || caller_identity(&caller.entry) == record.identity()
}

async fn renew(
    state: &Unsealed,
    ns: &NamespaceState,
    caller: &Caller,
    data: &Map<String, Value>,
    tail: &str,
    now: SystemTime,
) -> Result<Reply> {
    let record = find(state, ns, &lease_id(data, tail)?, now).await?;
    if !may_act_on(caller, &record) {
        return Err(Error::PermissionDenied);
    }
    if !record.renewable {
        return Err(Error::invalid("lease is not renewable"));
    }
    let original = record.expires_nanos.saturating_sub(
        record
            .renewed_nanos
            .unwrap_or(record.issued_nanos)
            .min(record.expires_nanos),
    );
    let increment = match params::ttl(data, "increment")? {
        Some(ttl) if !ttl.is_zero() => ttl.as_secs().saturating_mul(1_000_000_000),
        _ => original,
    };
    let wanted = nanos(now).saturating_add(increment);
    let mut warnings = Vec::new();
    let expires = if wanted > record.max_expires_nanos {
        warnings.push(format!(
            "TTL of {}s exceeded the effective max_ttl; TTL value is capped accordingly",
            increment / 1_000_000_000
        ));
        record.max_expires_nanos
    } else {
        wanted
    };
    let expires = expires.max(record.expires_nanos);
    if let Some(mounted) = mount_of(state, &record) {
        mounted
            .engine
            .lease_renewing(&record, from_nanos(expires), &mounted.view)
            .await?;
    }
    let renewed = state.leases.update_expiry(&record, expires, now).await?;
    Ok(Reply::ok(Response {
        warnings,
        lease: Some(grant_of(&renewed, now)),
        ..Response::default()
    }))
}

/// The envelope facts of a lease at `now`.
pub(crate) fn grant_of(record: &LeaseRecord, now: SystemTime) -> LeaseGrant {
    LeaseGrant {
        id: record.id.clone(),
        duration: record.remaining(now),
        renewable: record.renewable,
        identity: record.identity(),
        purpose: record.purpose.clone(),
    }
}

async fn revoke(
    state: &Unsealed,
    ns: &NamespaceState,
    caller: &Caller,
    data: &Map<String, Value>,
    tail: &str,
    now: SystemTime,
) -> Result<Reply> {
    let id = lease_id(data, tail)?;
    // Vault answers 204 for a lease that is already gone.
    let Some(record) = state.leases.get(ns.id().as_str(), &id).await? else {
        return Ok(Reply::NoContent);
    };
    if !may_act_on(caller, &record) {
        return Err(Error::PermissionDenied);
    }
    end(state, vec![record], now).await?;
    Ok(Reply::NoContent)
}

async fn revoke_prefix(
    state: &Unsealed,
    ns: &NamespaceState,
    prefix: &str,
    now: SystemTime,
) -> Result<usize> {
    if prefix.trim_matches('/').is_empty() {
        return Err(Error::invalid("missing prefix"));
    }
    let records = state
        .leases
        .list_prefix(ns.id().as_str(), &folder(prefix))
        .await?;
    let count = records.len();
    end(state, records, now).await?;
    Ok(count)
}

async fn revoke_identity(
    state: &Unsealed,
    ns: &NamespaceState,
    data: &Map<String, Value>,
    now: SystemTime,
) -> Result<Reply> {
    let identity = match data.get("identity") {
        Some(value) => Identity::from_json(value, "identity")?,
        None => {
            return Err(Error::invalid(
                "missing identity: give {\"type\", \"name\"}",
            ));
        }
    };
    let records = held_in(state, ns, &identity).await?;
    let count = records.len();
    end(state, records, now).await?;
    tracing::warn!(
        kind = %identity.kind,
        name = %identity.name,
        count,
        "revoked every lease of an identity (kill switch)"
    );
    let mut out = Map::new();
    out.insert("count".into(), json!(count));
    out.insert("identity".into(), json!(identity));
    Ok(Reply::ok(Response::with_data(out)))
}

/// The leases `identity` holds that `ns` may see: in the root namespace every namespace's,
/// elsewhere that namespace's own.
async fn held_in(
    state: &Unsealed,
    ns: &NamespaceState,
    identity: &Identity,
) -> Result<Vec<LeaseRecord>> {
    let mut records = state.leases.held_by(identity).await?;
    if !ns.is_root() {
        records.retain(|r| r.namespace == ns.id().as_str());
    }
    Ok(records)
}

async fn by_identity(
    state: &Unsealed,
    ns: &NamespaceState,
    tail: &str,
    now: SystemTime,
) -> Result<Reply> {
    let (kind, name) = tail
        .trim_end_matches('/')
        .split_once('/')
        .ok_or_else(|| Error::invalid("use sys/leases/by-identity/<type>/<name>"))?;
    let identity = Identity {
        kind: kind.to_owned(),
        name: name.to_owned(),
    };
    let mut records = held_in(state, ns, &identity).await?;
    records.retain(|r| r.is_active(now));
    records.sort_by(|a, b| a.id.cmp(&b.id));
    if records.is_empty() {
        return Ok(Reply::NotFound);
    }
    let keys: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
    let info: Map<String, Value> = records
        .iter()
        .map(|r| (r.id.clone(), summary(r, now)))
        .collect();
    let mut out = Map::new();
    out.insert("keys".into(), json!(keys));
    out.insert("key_info".into(), Value::Object(info));
    Ok(Reply::ok(Response::with_data(out)))
}

/// What lists show of a lease (never its value).
pub(crate) fn summary(record: &LeaseRecord, now: SystemTime) -> Value {
    json!({
        "leaseId": record.id,
        "identity": record.identity(),
        "purpose": record.purpose,
        "issuedAt": rfc3339(record.issued()),
        "expiresAt": rfc3339(record.expires()),
        "ttl": record.remaining(now),
        "renewable": record.renewable,
        "credentialName": record.internal.get("credentialName"),
        "version": record.internal.get("version"),
    })
}

/// Ends leases: removes them durably, then tells each one's engine.
pub(crate) async fn end(
    state: &Unsealed,
    records: Vec<LeaseRecord>,
    now: SystemTime,
) -> Result<()> {
    for chunk in records.chunks(256) {
        state.leases.remove(chunk).await?;
        for record in chunk {
            notify_engine(state, record, now).await;
        }
    }
    Ok(())
}

/// The mount that issued a lease, if it is still mounted.
fn mount_of(state: &Unsealed, record: &LeaseRecord) -> Option<std::sync::Arc<Mounted>> {
    state
        .namespaces
        .all()
        .into_iter()
        .find(|n| n.id().as_str() == record.namespace)
        .and_then(|n| {
            n.mounts
                .list()
                .into_iter()
                .find(|m| m.entry.accessor == record.mount_accessor)
        })
}

fn from_nanos(nanos: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + std::time::Duration::from_nanos(nanos)
}

async fn notify_engine(state: &Unsealed, record: &LeaseRecord, now: SystemTime) {
    let Some(mounted) = mount_of(state, record) else {
        return;
    };
    let scope = LeaseScope::new(
        state.leases.clone(),
        &record.namespace,
        &mounted.info.path,
        &mounted.info.accessor,
    );
    if let Err(error) = mounted
        .engine
        .lease_ended(record, &mounted.view, &scope, now)
        .await
    {
        tracing::warn!(lease = %record.id, %error, "the engine could not release an ended lease");
    }
}

fn folder(prefix: &str) -> String {
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}/")
    }
}
