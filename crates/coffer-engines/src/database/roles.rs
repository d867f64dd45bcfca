//! Dynamic roles, `roles/<name>`: which config (`db_name`), the statements that create and
//! revoke a user, and the lease TTLs (`default_ttl`, `max_ttl`). `creds/<role>` creates a user
//! with a generated name and password and hands it out under a lease; the lease remembers the
//! user and the revocation statements, so ending it drops that user even if the role changed.
//!
//! A user is created (with a few retries while the database is unreachable) before its lease
//! is issued; when creation fails, no lease is handed out, and whatever the attempt may have
//! left is dropped.

use std::time::Duration;

use coffer_barrier::View;
use coffer_core::engine::EngineRequest;
use coffer_core::lease::{LeaseRecord, LeaseSpec};
use coffer_core::request::{LeaseGrant, Reply, Response};
use coffer_core::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::plugin::{NewUser, Password, generate_username};
use super::{
    DatabaseEngine, SYSTEM_TTL, config, data_reply, database_error, decode, encode,
    refuse_unknown_fields, retry, seconds, statements,
};
use crate::barrier_error;

/// One stored dynamic role.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct RoleRecord {
    db_name: String,
    creation_statements: Vec<String>,
    revocation_statements: Vec<String>,
    rollback_statements: Vec<String>,
    renew_statements: Vec<String>,
    default_ttl: u64,
    max_ttl: u64,
}

impl RoleRecord {
    fn to_json(&self) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("db_name".into(), json!(self.db_name));
        out.insert(
            "creation_statements".into(),
            json!(self.creation_statements),
        );
        out.insert(
            "revocation_statements".into(),
            json!(self.revocation_statements),
        );
        out.insert(
            "rollback_statements".into(),
            json!(self.rollback_statements),
        );
        out.insert("renew_statements".into(), json!(self.renew_statements));
        out.insert("default_ttl".into(), json!(self.default_ttl));
        out.insert("max_ttl".into(), json!(self.max_ttl));
        out.insert("credential_type".into(), json!("password"));
        out.insert("credential_config".into(), json!({}));
        out
    }
}

fn key(name: &str) -> String {
    format!("role/{name}")
}

/// The role `name`, if it exists.
pub(super) async fn load(storage: &View, name: &str) -> Result<Option<RoleRecord>> {
    let key = key(name);
    match storage.get(&key).await.map_err(barrier_error)? {
        Some(bytes) => Ok(Some(decode(&bytes, storage, &key)?)),
        None => Ok(None),
    }
}

/// Every role name.
pub(super) async fn names(storage: &View) -> Result<Vec<String>> {
    super::list_names(storage, "role/").await
}

pub(super) async fn read(name: &str, storage: &View) -> Result<Reply> {
    match load(storage, name).await? {
        Some(record) => Ok(data_reply(record.to_json())),
        None => Ok(Reply::NotFound),
    }
}

pub(super) async fn write(
    name: &str,
    request: &EngineRequest<'_>,
    storage: &View,
) -> Result<Reply> {
    let data = request.data;
    refuse_unknown_fields(
        data,
        &[
            "name",
            "db_name",
            "creation_statements",
            "revocation_statements",
            "rollback_statements",
            "renew_statements",
            "default_ttl",
            "max_ttl",
            "credential_type",
        ],
    )?;
    if let Some(kind) = data.get("credential_type").and_then(Value::as_str)
        && kind != "password"
    {
        return Err(Error::invalid("credential_type must be \"password\""));
    }
    let mut record = load(storage, name).await?.unwrap_or_default();
    if let Some(db) = data.get("db_name").and_then(Value::as_str) {
        record.db_name = db.to_owned();
    }
    if record.db_name.is_empty() {
        return Err(Error::invalid("empty database name attribute (db_name)"));
    }
    if let Some(list) = statements(data, "creation_statements")? {
        record.creation_statements = list;
    }
    if record.creation_statements.is_empty() {
        return Err(Error::invalid("empty creation statements"));
    }
    if let Some(list) = statements(data, "revocation_statements")? {
        record.revocation_statements = list;
    }
    if let Some(list) = statements(data, "rollback_statements")? {
        record.rollback_statements = list;
    }
    if let Some(list) = statements(data, "renew_statements")? {
        record.renew_statements = list;
    }
    if let Some(ttl) = seconds(data, "default_ttl")? {
        record.default_ttl = ttl;
    }
    if let Some(ttl) = seconds(data, "max_ttl")? {
        record.max_ttl = ttl;
    }
    if record.max_ttl != 0 && record.default_ttl > record.max_ttl {
        return Err(Error::invalid("ttl cannot be greater than max_ttl"));
    }
    storage
        .put(&key(name), &encode(&record))
        .await
        .map_err(barrier_error)?;
    Ok(Reply::NoContent)
}

pub(super) async fn delete(name: &str, storage: &View) -> Result<Reply> {
    storage.delete(&key(name)).await.map_err(barrier_error)?;
    Ok(Reply::NoContent)
}

/// The lease's TTL and hard maximum, in seconds: the role's, else the mount's, else the
/// system's, the maximum capped by the mount's and the TTL by the maximum.
fn lease_ttls(role: &RoleRecord, request: &EngineRequest<'_>) -> (u64, u64) {
    let or = |value: u64, fallback: u64| if value == 0 { fallback } else { value };
    let mount_max = or(request.mount.max_lease_ttl, SYSTEM_TTL);
    let max = or(role.max_ttl, mount_max).min(mount_max);
    let ttl = or(
        role.default_ttl,
        or(request.mount.default_lease_ttl, SYSTEM_TTL),
    )
    .min(max);
    (ttl.max(1), max.max(1))
}

/// `creds/<role>`: creates a user and issues a lease on it.
pub(super) async fn creds(
    engine: &DatabaseEngine,
    name: &str,
    request: &EngineRequest<'_>,
    storage: &View,
) -> Result<Reply> {
    let role = load(storage, name)
        .await?
        .ok_or_else(|| Error::invalid(format!("unknown role: {name}")))?;
    let db = role.db_name.as_str();
    let config = config::load(storage, db).await?.ok_or_else(|| {
        Error::invalid(format!("no database config named {db:?} (role {name:?})"))
    })?;
    if !config.allows(name) {
        return Err(Error::Forbidden(format!(
            "{name:?} is not an allowed role of database {db:?}"
        )));
    }
    let identity = request.identity.cloned().ok_or(Error::PermissionDenied)?;
    let scope = request
        .leases
        .ok_or_else(|| Error::invalid("leases are not available on this path"))?;
    let plugin = engine.plugin(db, &config).await?;
    let (ttl, max) = lease_ttls(&role, request);
    let user = NewUser {
        username: generate_username(plugin.kind(), &identity.name, name, request.now)
            .map_err(|e| database_error(db, e))?,
        password: Password::generate().map_err(|e| database_error(db, e))?,
        expiration: request.now + Duration::from_secs(ttl),
    };
    if let Err(error) = retry(|| plugin.create_user(&role.creation_statements, &user)).await {
        // A timed-out attempt may still have created the user: make sure it is gone.
        if let Err(cleanup) = plugin
            .revoke_user(&role.revocation_statements, &user.username)
            .await
        {
            tracing::warn!(db, role = name, error = %cleanup, "could not drop a user whose creation failed");
        }
        return Err(database_error(db, error));
    }
    let mut internal = Map::new();
    internal.insert("db_name".into(), json!(db));
    internal.insert("role".into(), json!(name));
    internal.insert("username".into(), json!(user.username));
    internal.insert(
        "revocation_statements".into(),
        json!(role.revocation_statements),
    );
    let issued = scope
        .issue(
            LeaseSpec {
                path: format!("creds/{name}"),
                ttl: Duration::from_secs(ttl),
                max_ttl: Duration::from_secs(max),
                renewable: true,
                identity,
                purpose: None,
                internal,
            },
            request.now,
        )
        .await;
    let lease = match issued {
        Ok(lease) => lease,
        Err(error) => {
            if let Err(cleanup) = plugin
                .revoke_user(&role.revocation_statements, &user.username)
                .await
            {
                tracing::warn!(db, role = name, error = %cleanup, "could not drop a user whose lease was not issued");
            }
            return Err(error);
        }
    };
    let mut data = Map::new();
    data.insert("username".into(), json!(user.username));
    data.insert("password".into(), json!(user.password.expose()));
    Ok(Reply::ok(Response {
        data: Some(data),
        lease: Some(LeaseGrant {
            id: lease.id.clone(),
            duration: lease.remaining(request.now),
            renewable: lease.renewable,
            identity: lease.identity(),
            purpose: None,
        }),
        ..Response::default()
    }))
}

/// Extends the user a `creds` lease holds to `expires` (see
/// [`super::Engine::lease_renewing`]), with the role's `renew_statements` (the plugin's default
/// when the role has none or is gone).
pub(super) async fn renew_lease(
    engine: &DatabaseEngine,
    lease: &LeaseRecord,
    expires: std::time::SystemTime,
    storage: &View,
) -> Result<()> {
    let (Some(db), Some(username)) = (
        lease.internal_str("db_name"),
        lease.internal_str("username"),
    ) else {
        return Ok(());
    };
    let statements = match lease.internal_str("role") {
        Some(role) => load(storage, role)
            .await?
            .map(|r| r.renew_statements.clone())
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let config = config::load(storage, db).await?.ok_or_else(|| {
        Error::Refused(format!(
            "cannot renew database user {username:?}: database config {db:?} no longer exists"
        ))
    })?;
    let plugin = engine.plugin(db, &config).await?;
    retry(|| plugin.renew_user(&statements, username, expires))
        .await
        .map_err(|e| database_error(db, e))
}

/// Drops the user a `creds` lease held (see [`super::Engine::lease_ended`]).
pub(super) async fn revoke_lease(
    engine: &DatabaseEngine,
    lease: &LeaseRecord,
    storage: &View,
) -> Result<()> {
    let (Some(db), Some(username)) = (
        lease.internal_str("db_name"),
        lease.internal_str("username"),
    ) else {
        return Ok(());
    };
    let statements: Vec<String> = lease
        .internal
        .get("revocation_statements")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let config = config::load(storage, db).await?.ok_or_else(|| {
        Error::Refused(format!(
            "cannot drop database user {username:?}: database config {db:?} no longer exists"
        ))
    })?;
    let plugin = engine.plugin(db, &config).await?;
    retry(|| plugin.revoke_user(&statements, username))
        .await
        .map_err(|e| database_error(db, e))?;
    tracing::info!(db, username, lease = %lease.id, "dropped the database user of an ended lease");
    Ok(())
}
