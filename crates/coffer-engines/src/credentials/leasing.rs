//! Leases on credentials: issuing one to an identity (TTL precedence and capping, `maxLeases`,
//! `allowedIdentities`, brokers naming another identity with `sudo`), reading a lease's value
//! while it is active (a rotated version keeps serving its old value), listing a credential's
//! leases, and releasing a rotated version's value (and its database login) when its last
//! lease ends.

use std::time::{Duration, SystemTime};

use coffer_barrier::{BarrierOp, View};
use coffer_core::clock::rfc3339;
use coffer_core::engine::{EngineRequest, Identity};
use coffer_core::lease::{LeaseRecord, LeaseScope, LeaseSpec};
use coffer_core::request::{LeaseGrant, Reply, Response};
use coffer_core::ttl::Ttl;
use coffer_core::{Error, Result};
use serde_json::{Map, Value, json};

use super::policy::{lease_ttl, max_leases};
use super::record::{self, State};
use super::{lease_version, refuse_unknown_fields};

fn scope<'a>(request: &'a EngineRequest<'_>) -> Result<&'a LeaseScope> {
    request
        .leases
        .ok_or_else(|| Error::invalid("leases are not available on this path"))
}

/// The credential's leases that are still active at the request's time.
pub(super) async fn active_leases(
    request: &EngineRequest<'_>,
    name: &str,
) -> Result<Vec<LeaseRecord>> {
    let scope = scope(request)?;
    active_in(scope, name, request.now).await
}

async fn active_in(scope: &LeaseScope, name: &str, now: SystemTime) -> Result<Vec<LeaseRecord>> {
    let mut leases = scope.list(&format!("{name}/lease/")).await?;
    leases.retain(|l| l.is_active(now));
    Ok(leases)
}

/// The identity (and purpose) a lease is for: the caller's, or another one named by a broker
/// whose policies grant `sudo` on the lease path.
fn holder(request: &EngineRequest<'_>) -> Result<(Identity, Option<String>)> {
    let caller = request.identity.cloned().ok_or(Error::PermissionDenied)?;
    let mut purpose = match request.data.get("purpose") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) => Some(p.clone()),
        Some(_) => return Err(Error::invalid("purpose must be a string")),
    };
    let identity = match request.data.get("identity") {
        None | Some(Value::Null) => caller.clone(),
        Some(value) => {
            if let Some(Value::Object(map)) = Some(value) {
                match map.get("purpose") {
                    None | Some(Value::Null) => {}
                    Some(Value::String(p)) => purpose = Some(p.clone()),
                    Some(_) => return Err(Error::invalid("identity.purpose must be a string")),
                }
                if let Some(key) = map
                    .keys()
                    .find(|k| !["type", "name", "purpose"].contains(&k.as_str()))
                {
                    return Err(Error::invalid(format!(
                        "identity: unknown field {key:?} (accepted: type, name, purpose)"
                    )));
                }
            }
            Identity::from_json(value, "identity")?
        }
    };
    if identity != caller && !request.sudo {
        return Err(Error::Forbidden(format!(
            "a lease for {}:{} needs sudo on this path; your token is {}:{}",
            identity.kind, identity.name, caller.kind, caller.name
        )));
    }
    if let Some(p) = &purpose
        && (p.len() > 1024 || p.chars().any(char::is_control))
    {
        return Err(Error::invalid(
            "purpose must be at most 1024 printable characters",
        ));
    }
    Ok((identity, purpose))
}

/// How the caller holds the credential's lock while a lease is issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Hold {
    /// Beside other issues of the same credential; changes to the credential wait.
    Shared,
    /// Alone, as counting the active leases against `maxLeases` before adding one needs.
    Exclusive,
}

/// `POST <name>/lease`: issues a lease on the current version, the caller holding the
/// credential's lock as `hold` says. Under [`Hold::Shared`] a credential (or tenant) with a
/// `maxLeases` limit gets `None` and nothing is written: issue again under
/// [`Hold::Exclusive`], which never answers `None`.
pub(super) async fn issue(
    name: &str,
    request: &EngineRequest<'_>,
    storage: &View,
    hold: Hold,
) -> Result<Option<Reply>> {
    let data = request.data;
    refuse_unknown_fields(
        data,
        &[
            "ttl",
            "identity",
            "purpose",
            "includePassphrase",
            "credentialName",
        ],
    )?;
    if let Some(given) = data.get("credentialName")
        && given.as_str() != Some(name)
    {
        return Err(Error::invalid(format!(
            "credentialName does not match the path's credential {name:?}"
        )));
    }
    let requested = match data.get("ttl") {
        None | Some(Value::Null) => None,
        Some(value) => {
            let ttl = Ttl::from_json(value)
                .map_err(|e| Error::invalid(format!("ttl: {e} (use e.g. \"30m\", \"1h\")")))?;
            if ttl.is_zero() {
                return Err(Error::invalid("ttl must be positive"));
            }
            Some(ttl.as_secs().max(1))
        }
    };
    let include_passphrase = match data.get("includePassphrase") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(Error::invalid("includePassphrase must be a boolean")),
    };
    let (identity, purpose) = holder(request)?;
    let Some((credential, _)) = record::load(storage, name).await? else {
        return Err(super::not_found(name));
    };
    if credential.state == State::Revoked {
        return Err(Error::Refused(format!(
            "credential {name:?} is revoked: it can no longer be leased"
        )));
    }
    if !credential.policy.allows(&identity) {
        return Err(Error::Forbidden(format!(
            "{}:{} is not in the allowedIdentities of credential {name:?}",
            identity.kind, identity.name
        )));
    }
    let tenant = record::load_config(storage).await?;
    let scope = scope(request)?;
    if let Some(limit) = max_leases(&credential.policy, &tenant) {
        if hold == Hold::Shared {
            return Ok(None);
        }
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let now = request.now;
        let active = scope
            .count(&format!("{name}/lease/"), limit, |l| l.is_active(now))
            .await?;
        if active >= limit {
            return Err(Error::Refused(format!(
                "credential {name:?} already has {active} active leases (maxLeases {limit}); wait for one to end or revoke one"
            )));
        }
    }
    let decision = lease_ttl(
        requested,
        &credential.policy,
        &tenant,
        request.mount.max_lease_ttl,
    );
    let version = credential.version;
    let value = record::load_value(storage, name, version)
        .await?
        .ok_or_else(|| Error::CorruptRecord {
            path: format!("{}{}", storage.prefix(), record::value_key(name, version)),
            reason: "the current version's value is missing".into(),
        })?;
    let mut internal = Map::new();
    internal.insert("credentialName".into(), json!(name));
    internal.insert("version".into(), json!(version));
    let lease = scope
        .issue(
            LeaseSpec {
                path: format!("{name}/lease"),
                ttl: Duration::from_secs(decision.ttl),
                max_ttl: Duration::from_secs(decision.max),
                renewable: true,
                identity,
                purpose,
                internal,
            },
            request.now,
        )
        .await?;
    let mut warnings: Vec<String> = decision.warning.into_iter().collect();
    if let Some(expiry) = credential.current().and_then(|v| v.expires_at.clone())
        && humantime::parse_rfc3339(&expiry).is_ok_and(|at| at <= request.now)
    {
        warnings.push(format!("the credential's value expired at {expiry}"));
    }
    let data = lease_data(name, &lease, &value, include_passphrase, request.now);
    Ok(Some(Reply::ok(Response {
        data: Some(data),
        warnings,
        lease: Some(LeaseGrant {
            id: lease.id.clone(),
            duration: lease.remaining(request.now),
            renewable: lease.renewable,
            identity: lease.identity(),
            purpose: lease.purpose.clone(),
        }),
        ..Response::default()
    })))
}

fn lease_data(
    name: &str,
    lease: &LeaseRecord,
    value: &record::StoredValue,
    include_passphrase: bool,
    now: SystemTime,
) -> Map<String, Value> {
    let mut identity = json!({"type": lease.identity_kind, "name": lease.identity_name});
    if let (Some(purpose), Value::Object(map)) = (&lease.purpose, &mut identity) {
        map.insert("purpose".into(), json!(purpose));
    }
    let mut data = Map::new();
    data.insert("leaseId".into(), json!(lease.id));
    data.insert("credentialName".into(), json!(name));
    data.insert("version".into(), json!(lease_version(lease)));
    data.insert("value".into(), json!(value.value));
    if include_passphrase && let Some(passphrase) = &value.passphrase {
        data.insert("passphrase".into(), json!(passphrase));
    }
    data.insert("ttl".into(), json!(lease.remaining(now)));
    data.insert("issuedAt".into(), json!(rfc3339(lease.issued())));
    data.insert("expiresAt".into(), json!(rfc3339(lease.expires())));
    data.insert("renewable".into(), json!(lease.renewable));
    data.insert("identity".into(), identity);
    data
}

/// `GET <name>/lease/<id>`: the lease and the value of its version, while it is active, for its
/// holder (or a caller with `sudo`).
pub(super) async fn read(
    name: &str,
    id: &str,
    request: &EngineRequest<'_>,
    storage: &View,
) -> Result<Reply> {
    let scope = scope(request)?;
    let lease = match scope.get(&format!("{name}/lease/{id}")).await? {
        Some(lease) if lease.is_active(request.now) => lease,
        _ => {
            return Err(Error::invalid(format!(
                "lease {id:?} of credential {name:?} is not active: it expired, was revoked, or never existed"
            )));
        }
    };
    let caller = request.identity.cloned().ok_or(Error::PermissionDenied)?;
    if caller != lease.identity() && !request.sudo {
        return Err(Error::Forbidden(format!(
            "this lease is held by {}:{}",
            lease.identity_kind, lease.identity_name
        )));
    }
    let include_passphrase = matches!(
        request.data.get("includePassphrase"),
        Some(Value::Bool(true))
    ) || request
        .data
        .get("includePassphrase")
        .and_then(Value::as_str)
        == Some("true");
    let version = lease_version(&lease).unwrap_or(0);
    let value = record::load_value(storage, name, version)
        .await?
        .ok_or_else(|| {
            Error::Refused(format!(
                "the value of version {version} of credential {name:?} is no longer kept"
            ))
        })?;
    Ok(Reply::ok(Response::with_data(lease_data(
        name,
        &lease,
        &value,
        include_passphrase,
        request.now,
    ))))
}

/// `LIST <name>/lease`: the credential's active leases (never values).
pub(super) async fn list(name: &str, request: &EngineRequest<'_>) -> Result<Reply> {
    let leases = active_leases(request, name).await?;
    if leases.is_empty() {
        return Ok(Reply::NotFound);
    }
    let keys: Vec<&str> = leases.iter().map(LeaseRecord::nonce).collect();
    let info: Map<String, Value> = leases
        .iter()
        .map(|l| {
            (
                l.nonce().to_owned(),
                json!({
                    "leaseId": l.id,
                    "identity": l.identity(),
                    "purpose": l.purpose,
                    "version": lease_version(l),
                    "issuedAt": rfc3339(l.issued()),
                    "expiresAt": rfc3339(l.expires()),
                    "ttl": l.remaining(request.now),
                }),
            )
        })
        .collect();
    let mut data = Map::new();
    data.insert("keys".into(), json!(keys));
    data.insert("key_info".into(), Value::Object(info));
    Ok(Reply::ok(Response::with_data(data)))
}

/// After a lease ended: destroys its version's value when that version is rotated and no
/// active lease holds it any more. The caller holds the credential's lock.
pub(super) async fn release(
    name: &str,
    ended: &LeaseRecord,
    storage: &View,
    scope: &LeaseScope,
    now: SystemTime,
) -> Result<()> {
    let Some((mut credential, stamp)) = record::load(storage, name).await? else {
        return Ok(());
    };
    let Some(version) = lease_version(ended) else {
        return Ok(());
    };
    let held = credential
        .versions
        .iter()
        .find(|v| v.version == version)
        .is_some_and(|v| v.state == State::Rotated && !v.destroyed);
    if !held {
        return Ok(());
    }
    let still_held = scope
        .count(&format!("{name}/lease/"), 1, |l| {
            l.is_active(now) && lease_version(l) == Some(version)
        })
        .await?;
    if still_held > 0 {
        return Ok(());
    }
    // The version's database login goes first: if it cannot be dropped, the error makes the
    // core retry this lease's release later, and the value is kept until then.
    if let Some(login) = credential
        .versions
        .iter()
        .find(|v| v.version == version)
        .and_then(|v| v.database_login.as_ref())
    {
        super::dblogin::drop_login(login, scope.peers()).await?;
    }
    if let Some(v) = credential.version_mut(version) {
        v.destroyed = true;
    }
    super::save(
        storage,
        &credential,
        stamp,
        vec![BarrierOp::Delete {
            path: record::value_key(name, version),
        }],
    )
    .await
}
