//! Vault's lease API over the core's lease store: `sys/leases/lookup`, `renew`, `revoke`,
//! `revoke-prefix` (and `revoke-force`), the legacy `sys/renew` and `sys/revoke`, and Coffer's
//! kill switch `sys/leases/revoke-identity` plus `sys/leases/by-identity/<type>/<name>`, and
//! `sys/leases/failed` (the leases whose engine could not release them).
//! Ending a lease here tells the engine that issued it ([`crate::engine::Engine::lease_ended`])
//! first and removes the lease once the engine succeeded; a lease whose engine failed is kept,
//! marked failed and retried by the reaper (see [`crate::lease`]).
//! Renewing one asks its engine first ([`crate::engine::Engine::lease_renewing`]).

use std::collections::BTreeSet;
use std::sync::Arc;
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
        "revoke-prefix" if write => revoke_prefix(state, ns, tail, now)
            .await
            .map(|_| Reply::NoContent),
        "revoke-force" if write => revoke_force(state, ns, tail, now)
            .await
            .map(|_| Reply::NoContent),
        "revoke-identity" if write => revoke_identity(state, ns, data, now).await,
        "by-identity" if matches!(op, Operation::List | Operation::Read) => {
            by_identity(state, ns, tail, now).await
        }
        "failed" if tail.is_empty() && matches!(op, Operation::List | Operation::Read) => {
            failed(state, ns).await
        }
        "lookup" | "renew" | "revoke" | "revoke-prefix" | "revoke-force" | "revoke-identity"
        | "by-identity" | "failed" => Err(Error::UnsupportedOperation),
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
    // A lease whose release failed before is retried at once; a failure is reported.
    end(state, vec![record], now).await?.into_result()?;
    Ok(Reply::NoContent)
}

/// The namespace's leases below `prefix` (which must name something).
async fn leases_below(
    state: &Unsealed,
    ns: &NamespaceState,
    prefix: &str,
) -> Result<Vec<LeaseRecord>> {
    if prefix.trim_matches('/').is_empty() {
        return Err(Error::invalid("missing prefix"));
    }
    state
        .leases
        .list_prefix(ns.id().as_str(), &folder(prefix))
        .await
}

async fn revoke_prefix(
    state: &Unsealed,
    ns: &NamespaceState,
    prefix: &str,
    now: SystemTime,
) -> Result<usize> {
    let records = leases_below(state, ns, prefix).await?;
    let count = records.len();
    end(state, records, now).await?.into_result()?;
    Ok(count)
}

/// `sys/leases/revoke-force/<prefix>`: removes every lease below `prefix` whatever its engine
/// says, as Vault does. Leases whose release already failed are removed without asking their
/// engine again; the others are offered to their engine once, and its errors are only logged.
async fn revoke_force(
    state: &Unsealed,
    ns: &NamespaceState,
    prefix: &str,
    now: SystemTime,
) -> Result<usize> {
    let records = leases_below(state, ns, prefix).await?;
    let count = records.len();
    for chunk in records.chunks(256) {
        let ending = ending_set(chunk);
        for record in chunk.iter().filter(|r| r.revocation.is_none()) {
            if let Err(error) = release(state, record, &ending, now).await {
                tracing::warn!(
                    lease = %record.id,
                    error = %public_message(&error),
                    "revoke-force: the engine could not release the lease; removed anyway"
                );
            }
        }
        state.leases.remove(chunk).await?;
    }
    if count > 0 {
        tracing::warn!(prefix, count, "force-revoked leases");
    }
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
    let outcome = end(state, records, now).await?;
    tracing::warn!(
        kind = %identity.kind,
        name = %identity.name,
        count,
        failed = outcome.failed.len(),
        "revoked every lease of an identity (kill switch)"
    );
    outcome.into_result()?;
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

/// What ending some leases came to.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// How many were released by their engine (or had no engine any more) and removed.
    pub(crate) released: usize,
    /// The leases whose engine failed, as now stored (marked failed), with the engine's message.
    pub(crate) failed: Vec<(LeaseRecord, String)>,
    /// How many were ended in all.
    pub(crate) total: usize,
}

impl Outcome {
    /// `Ok` when every lease was released, else [`Error::RevocationFailed`] naming the first
    /// failure.
    pub(crate) fn into_result(self) -> Result<()> {
        let Some((first, reason)) = self.failed.first() else {
            return Ok(());
        };
        let what = if self.total == 1 {
            format!("entry {}", first.id)
        } else {
            format!(
                "{} of {} leases (first: {})",
                self.failed.len(),
                self.total,
                first.id
            )
        };
        Err(Error::RevocationFailed {
            what,
            reason: reason.clone(),
        })
    }
}

/// Ends leases, a batch at a time: tells each one's engine, then removes those it released in
/// one transaction and marks the others failed (kept, no longer active, retried with backoff)
/// in another. While an engine releases a lease of the batch, its [`LeaseScope`] no longer
/// shows the batch's leases (so "is this version still held" does not count them).
pub(crate) async fn end(
    state: &Unsealed,
    records: Vec<LeaseRecord>,
    now: SystemTime,
) -> Result<Outcome> {
    let mut outcome = Outcome {
        total: records.len(),
        ..Outcome::default()
    };
    for chunk in records.chunks(256) {
        let ending = ending_set(chunk);
        let mut released = Vec::with_capacity(chunk.len());
        let mut failed = Vec::new();
        for record in chunk {
            match release(state, record, &ending, now).await {
                Ok(()) => released.push(record.clone()),
                Err(error) => {
                    let reason = public_message(&error);
                    let marked = record.failed_release(&reason, now);
                    let failure = marked.revocation.as_ref();
                    tracing::warn!(
                        lease = %record.id,
                        error = %reason,
                        attempts = failure.map_or(0, |f| f.attempts),
                        next_attempt = %failure
                            .and_then(|f| f.next_attempt())
                            .map_or_else(|| "never (irrevocable)".to_owned(), rfc3339),
                        "the engine could not release an ended lease; it is kept and retried"
                    );
                    failed.push((record.clone(), marked));
                }
            }
        }
        state.leases.remove(&released).await?;
        state.leases.mark_failed(&failed).await?;
        outcome.released += released.len();
        outcome.failed.extend(failed.into_iter().map(|(_, marked)| {
            let reason = marked
                .revocation
                .as_ref()
                .map(|f| f.last_error.clone())
                .unwrap_or_default();
            (marked, reason)
        }));
    }
    Ok(outcome)
}

fn ending_set(records: &[LeaseRecord]) -> Arc<BTreeSet<String>> {
    Arc::new(records.iter().map(|r| r.id.clone()).collect())
}

/// What a client (and `sys/leases/failed`) may see of an engine's error: internal storage
/// failures are generic, as on the HTTP edge; everything else is the core's own message, which
/// names paths and reasons, never values.
fn public_message(error: &Error) -> String {
    match error {
        Error::Barrier(coffer_barrier::Error::Corrupt { .. }) => error.to_string(),
        Error::Barrier(_) | Error::Storage(_) => "internal error".to_owned(),
        other => other.to_string(),
    }
}

/// The mount that issued a lease, if it is still mounted.
fn mount_of(state: &Unsealed, record: &LeaseRecord) -> Option<Arc<Mounted>> {
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

/// Asks the lease's engine to release it; a lease whose mount is gone has nothing to release.
async fn release(
    state: &Unsealed,
    record: &LeaseRecord,
    ending: &Arc<BTreeSet<String>>,
    now: SystemTime,
) -> Result<()> {
    let Some(mounted) = mount_of(state, record) else {
        return Ok(());
    };
    let mut scope = LeaseScope::new(
        state.leases.clone(),
        &record.namespace,
        &mounted.info.path,
        &mounted.info.accessor,
    )
    .hiding(ending.clone());
    if let Some(ns) = state
        .namespaces
        .all()
        .into_iter()
        .find(|n| n.id().as_str() == record.namespace)
    {
        scope = scope.with_peers(crate::engine::Peers::new(ns.mounts.clone()));
    }
    mounted
        .engine
        .lease_ended(record, &mounted.view, &scope, now)
        .await
}

/// `sys/leases/failed` (sudo): the leases whose engine could not release them, retrying or
/// irrevocable; in the root namespace every namespace's, elsewhere the namespace's own.
async fn failed(state: &Unsealed, ns: &NamespaceState) -> Result<Reply> {
    let mut records = state.leases.failed().await?;
    if !ns.is_root() {
        records.retain(|r| r.namespace == ns.id().as_str());
    }
    records.sort_by(|a, b| a.id.cmp(&b.id));
    if records.is_empty() {
        return Ok(Reply::NotFound);
    }
    let keys: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
    let info: Map<String, Value> = records
        .iter()
        .map(|r| (r.id.clone(), failed_summary(state, r)))
        .collect();
    let mut out = Map::new();
    out.insert("keys".into(), json!(keys));
    out.insert("key_info".into(), Value::Object(info));
    Ok(Reply::ok(Response::with_data(out)))
}

/// What `sys/leases/failed` shows of one lease.
fn failed_summary(state: &Unsealed, record: &LeaseRecord) -> Value {
    let failure = record.revocation.as_ref();
    let namespace = state
        .namespaces
        .all()
        .into_iter()
        .find(|n| n.id().as_str() == record.namespace)
        .map(|n| n.path().to_owned())
        .unwrap_or_default();
    let path = record
        .id
        .rsplit_once('/')
        .map_or(record.id.as_str(), |(path, _)| path);
    json!({
        "leaseId": record.id,
        "path": path,
        "namespace": namespace,
        "identity": record.identity(),
        "purpose": record.purpose,
        "issuedAt": rfc3339(record.issued()),
        "expiresAt": rfc3339(record.expires()),
        "state": if failure.and_then(|f| f.next_attempt_nanos).is_some() {
            "retrying"
        } else {
            "irrevocable"
        },
        "attempts": failure.map_or(0, |f| f.attempts),
        "lastError": failure.map(|f| f.last_error.clone()),
        "firstFailedAt": failure.map(|f| rfc3339(f.first_failed())),
        "lastAttemptAt": failure.map(|f| rfc3339(f.last_attempt())),
        "nextAttemptAt": failure.and_then(|f| f.next_attempt()).map(rfc3339),
    })
}

fn folder(prefix: &str) -> String {
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}/")
    }
}
