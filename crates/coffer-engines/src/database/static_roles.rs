//! Static roles, `static-roles/<name>`: an existing database user (`username`) whose password
//! the engine owns and replaces every `rotation_period` (at least 5 seconds), with
//! `rotation_statements` or the plugin's default `ALTER`. Writing a new static role rotates
//! the password at once; `static-creds/<name>` reads the current one; `rotate-role/<name>`
//! rotates now.
//!
//! Scheduled rotation runs on the core's reminder pass (every minute on the active node, or
//! `Core::deliver_reminders`). A rotation first stores the new password as pending, then sets
//! it in the database, then makes it current: a crash or a failure in between leaves the
//! pending password, which the next pass sets again, so the stored password and the
//! database's never drift apart for long.

use std::time::{Duration, SystemTime};

use coffer_barrier::View;
use coffer_core::clock::rfc3339;
use coffer_core::engine::EngineRequest;
use coffer_core::request::Reply;
use coffer_core::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::plugin::Password;
use super::{
    DatabaseEngine, config, data_reply, database_error, decode, encode, refuse_unknown_fields,
    retry, seconds, statements,
};
use crate::barrier_error;

/// The shortest rotation period (Vault's).
const MIN_PERIOD: u64 = 5;

/// One stored static role, with its current password.
#[derive(Clone, Default, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub(super) struct StaticRoleRecord {
    db_name: String,
    username: String,
    rotation_period: u64,
    rotation_statements: Vec<String>,
    password: String,
    last_rotation_nanos: u64,
    /// A password being set: stored before the database is changed.
    #[serde(default)]
    pending_password: Option<String>,
}

impl std::fmt::Debug for StaticRoleRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticRoleRecord")
            .field("db_name", &self.db_name)
            .field("username", &self.username)
            .field("rotation_period", &self.rotation_period)
            .finish_non_exhaustive()
    }
}

impl StaticRoleRecord {
    fn last_rotation(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_nanos(self.last_rotation_nanos)
    }

    fn next_rotation(&self) -> SystemTime {
        self.last_rotation() + Duration::from_secs(self.rotation_period)
    }

    fn is_due(&self, now: SystemTime) -> bool {
        self.pending_password.is_some() || self.next_rotation() <= now
    }

    fn to_json(&self) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("db_name".into(), json!(self.db_name));
        out.insert("username".into(), json!(self.username));
        out.insert("rotation_period".into(), json!(self.rotation_period));
        out.insert(
            "rotation_statements".into(),
            json!(self.rotation_statements),
        );
        out.insert(
            "last_vault_rotation".into(),
            json!(rfc3339(self.last_rotation())),
        );
        out.insert("credential_type".into(), json!("password"));
        out
    }
}

fn key(name: &str) -> String {
    format!("static-role/{name}")
}

/// The static role `name`, if it exists.
pub(super) async fn load(storage: &View, name: &str) -> Result<Option<StaticRoleRecord>> {
    let key = key(name);
    match storage.get(&key).await.map_err(barrier_error)? {
        Some(bytes) => Ok(Some(decode(&bytes, storage, &key)?)),
        None => Ok(None),
    }
}

async fn save(storage: &View, name: &str, record: &StaticRoleRecord) -> Result<()> {
    storage
        .put(&key(name), &encode(record))
        .await
        .map_err(barrier_error)
}

/// Every static role name.
pub(super) async fn names(storage: &View) -> Result<Vec<String>> {
    super::list_names(storage, "static-role/").await
}

pub(super) async fn read(name: &str, storage: &View) -> Result<Reply> {
    match load(storage, name).await? {
        Some(record) => Ok(data_reply(record.to_json())),
        None => Ok(Reply::NotFound),
    }
}

pub(super) async fn delete(name: &str, storage: &View) -> Result<Reply> {
    storage.delete(&key(name)).await.map_err(barrier_error)?;
    Ok(Reply::NoContent)
}

pub(super) async fn write(
    engine: &DatabaseEngine,
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
            "username",
            "rotation_period",
            "rotation_statements",
            "credential_type",
        ],
    )?;
    let _guard = engine.rotation.lock().await;
    let existing = load(storage, name).await?;
    let is_new = existing.is_none();
    let mut record = existing.unwrap_or_default();
    if let Some(db) = data.get("db_name").and_then(Value::as_str) {
        record.db_name = db.to_owned();
    }
    if record.db_name.is_empty() {
        return Err(Error::invalid("empty database name attribute (db_name)"));
    }
    match data.get("username").and_then(Value::as_str) {
        Some(username) if !is_new && username != record.username => {
            return Err(Error::invalid("cannot update static account username"));
        }
        Some(username) => record.username = username.to_owned(),
        None => {}
    }
    if record.username.is_empty() {
        return Err(Error::invalid("username is a required field"));
    }
    if let Some(period) = seconds(data, "rotation_period")? {
        record.rotation_period = period;
    }
    if record.rotation_period < MIN_PERIOD {
        return Err(Error::invalid(format!(
            "rotation_period must be {MIN_PERIOD} seconds or more"
        )));
    }
    if let Some(list) = statements(data, "rotation_statements")? {
        record.rotation_statements = list;
    }
    let db = record.db_name.clone();
    let config = config::load(storage, &db)
        .await?
        .ok_or_else(|| Error::invalid(format!("no database config named {db:?}")))?;
    if !config.allows(name) {
        return Err(Error::Forbidden(format!(
            "{name:?} is not an allowed role of database {db:?}"
        )));
    }
    if is_new {
        // The engine takes the account over: its password is replaced now. A role whose first
        // rotation failed is not kept.
        if let Err(error) = rotate(engine, storage, name, &mut record, request.now).await {
            storage.delete(&key(name)).await.map_err(barrier_error)?;
            return Err(error);
        }
    } else {
        save(storage, name, &record).await?;
    }
    Ok(Reply::NoContent)
}

/// `static-creds/<name>`: the current password and when it was set.
pub(super) async fn creds(name: &str, now: SystemTime, storage: &View) -> Result<Reply> {
    let Some(record) = load(storage, name).await? else {
        return Err(Error::invalid(format!("unknown role: {name}")));
    };
    let ttl = record
        .next_rotation()
        .duration_since(now)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut out = record.to_json();
    out.remove("db_name");
    out.remove("rotation_statements");
    out.remove("credential_type");
    out.insert("password".into(), json!(record.password));
    out.insert("ttl".into(), json!(ttl));
    Ok(data_reply(out))
}

/// `rotate-role/<name>`: rotates now.
pub(super) async fn rotate_now(
    engine: &DatabaseEngine,
    name: &str,
    now: SystemTime,
    storage: &View,
) -> Result<Reply> {
    let _guard = engine.rotation.lock().await;
    let mut record = load(storage, name)
        .await?
        .ok_or_else(|| Error::invalid(format!("unknown role: {name}")))?;
    rotate(engine, storage, name, &mut record, now).await?;
    Ok(Reply::NoContent)
}

/// Rotates every static role that is due at `now`. A role that fails is logged and retried on
/// the next pass; the others go on.
pub(super) async fn rotate_due(
    engine: &DatabaseEngine,
    storage: &View,
    now: SystemTime,
) -> Result<()> {
    let _guard = engine.rotation.lock().await;
    for name in names(storage).await? {
        let Some(mut record) = load(storage, &name).await? else {
            continue;
        };
        if !record.is_due(now) {
            continue;
        }
        match rotate(engine, storage, &name, &mut record, now).await {
            Ok(()) => tracing::info!(role = %name, "rotated a static database role's password"),
            Err(error) => {
                tracing::warn!(role = %name, %error, "rotating a static database role failed; retrying on the next pass");
            }
        }
    }
    Ok(())
}

/// Sets a new password (the pending one, if an earlier attempt left one) in the database and
/// stores it. The caller holds the rotation lock.
async fn rotate(
    engine: &DatabaseEngine,
    storage: &View,
    name: &str,
    record: &mut StaticRoleRecord,
    now: SystemTime,
) -> Result<()> {
    let db = record.db_name.clone();
    let config = config::load(storage, &db)
        .await?
        .ok_or_else(|| Error::invalid(format!("no database config named {db:?}")))?;
    let password = match &record.pending_password {
        Some(pending) => Password::new(pending.clone()),
        None => {
            let fresh = Password::generate().map_err(|e| database_error(&db, e))?;
            record.pending_password = Some(fresh.expose().to_owned());
            save(storage, name, record).await?;
            fresh
        }
    };
    let plugin = engine.plugin(&db, &config).await?;
    retry(|| plugin.set_password(&record.rotation_statements, &record.username, &password))
        .await
        .map_err(|e| database_error(&db, e))?;
    record.password = password.expose().to_owned();
    record.pending_password = None;
    record.last_rotation_nanos = u64::try_from(
        now.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    )
    .unwrap_or(u64::MAX);
    save(storage, name, record).await
}
