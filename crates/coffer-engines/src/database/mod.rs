//! The database secrets engine (type `database`), Vault's API shape:
//!
//! - `config/<name>` (and `LIST config`): connection configs ([`config`]); `reset/<name>`
//!   drops the config's pool; `rotate-root/<name>` gives the config's user a new password;
//! - `roles/<name>` (and `LIST roles`): dynamic roles ([`roles`]); `creds/<role>` creates a
//!   database user and hands it out under a lease from the core's lease store;
//! - `static-roles/<name>` (and `LIST static-roles`), `static-creds/<name>`,
//!   `rotate-role/<name>`: existing users whose password the engine rotates every
//!   `rotation_period` ([`static_roles`]).
//!
//! Leases end through the core's one expiration manager (revocation, expiry, the identity kill
//! switch), which calls [`Engine::lease_ended`]: the engine drops the user and its sessions and
//! answers an error when it cannot, so the core can retry; a renewal first extends the user
//! ([`Engine::lease_renewing`], PostgreSQL's `VALID UNTIL`). Static roles are rotated on the
//! core's reminder pass ([`Engine::reminders`], every minute on the active node;
//! `Core::deliver_reminders` runs it on demand).
//!
//! Each config has one small connection pool, opened on first use and replaced when the config
//! changes (the stored record's fingerprint is compared on every use, so a change made by
//! another node is seen too) or dropped when it is deleted. The [`plugin`] module is the
//! reusable connection layer (PostgreSQL and MySQL/MariaDB); [`Engine::database_connector`]
//! offers a config's pool to other engines of the namespace (`connector.rs`).

mod config;
mod connector;
mod mysql;
pub mod plugin;
mod postgres;
mod roles;
mod static_roles;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use coffer_barrier::View;
use coffer_core::engine::{
    DatabaseConnector, Engine, EngineFactory, EngineRequest, EventPage, MountInfo,
};
use coffer_core::lease::{LeaseRecord, LeaseScope};
use coffer_core::request::{Operation, Reply, Response};
use coffer_core::{Error, Result};
use serde_json::{Map, Value, json};
use tokio::sync::Mutex;
use zeroize::Zeroizing;

use crate::auth::fields;
use crate::barrier_error;
use plugin::{DatabaseError, DatabasePlugin};

/// How many times a database operation is tried when the database is unreachable.
const ATTEMPTS: u32 = 3;
/// The wait before the first retry (doubled before each next one).
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// Vault's system default (and maximum) lease TTL, for mounts that set none: 768 hours.
const SYSTEM_TTL: u64 = 768 * 3600;

/// Builds the database engine (type `database`).
#[derive(Debug, Clone, Copy, Default)]
pub struct DatabaseFactory;

impl EngineFactory for DatabaseFactory {
    fn kinds(&self) -> &'static [&'static str] {
        &["database"]
    }

    fn normalize(&self, kind: &str, options: &mut BTreeMap<String, String>) -> Result<String> {
        crate::no_mount_options(kind, options)
    }

    fn default_description(&self, _kind: &str) -> &'static str {
        "database credentials with leases"
    }

    fn unauthenticated_paths(&self) -> &'static [&'static str] {
        &[]
    }

    fn build(&self, _mount: &MountInfo) -> Result<Arc<dyn Engine>> {
        Ok(Arc::new(DatabaseEngine::default()))
    }
}

/// One mount's database engine: its open pools, by config name.
#[derive(Default)]
pub struct DatabaseEngine {
    pools: Mutex<HashMap<String, OpenPool>>,
    /// Serializes static-role rotations (the reminder pass and `rotate-role`), so a password is
    /// never rotated twice at once.
    rotation: Mutex<()>,
}

impl std::fmt::Debug for DatabaseEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseEngine").finish_non_exhaustive()
    }
}

/// A pool and the fingerprint of the config it was opened from.
struct OpenPool {
    fingerprint: Vec<u8>,
    plugin: Arc<dyn DatabasePlugin>,
}

/// Where a request goes below the mount.
enum Route<'a> {
    Configs,
    Config(&'a str),
    Reset(&'a str),
    RotateRoot(&'a str),
    Roles,
    Role(&'a str),
    Creds(&'a str),
    StaticRoles,
    StaticRole(&'a str),
    StaticCreds(&'a str),
    RotateRole(&'a str),
}

fn route(path: &str) -> Result<Route<'_>> {
    let path = path.trim_end_matches('/');
    let segments: Vec<&str> = path.split('/').collect();
    let route = match segments.as_slice() {
        ["config"] => Route::Configs,
        ["config", name] => Route::Config(name),
        ["reset", name] => Route::Reset(name),
        ["rotate-root", name] => Route::RotateRoot(name),
        ["roles"] => Route::Roles,
        ["roles", name] => Route::Role(name),
        ["creds", name] => Route::Creds(name),
        ["static-roles"] => Route::StaticRoles,
        ["static-roles", name] => Route::StaticRole(name),
        ["static-creds", name] => Route::StaticCreds(name),
        ["rotate-role", name] => Route::RotateRole(name),
        _ => return Err(Error::UnsupportedPath),
    };
    if let Route::Config(name)
    | Route::Reset(name)
    | Route::RotateRoot(name)
    | Route::Role(name)
    | Route::Creds(name)
    | Route::StaticRole(name)
    | Route::StaticCreds(name)
    | Route::RotateRole(name) = route
    {
        check_name(name)?;
    }
    Ok(route)
}

/// Names of configs and roles: letters, digits, `-`, `_` and `.`, at most 128 characters.
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && name != "."
        && name != "..";
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "invalid name {name:?}: use letters, digits, '-', '_' and '.' (at most 128)"
        )))
    }
}

impl DatabaseEngine {
    /// The pool for config `name`, opening (or reopening, if the config changed) it.
    async fn plugin(
        &self,
        name: &str,
        record: &config::ConfigRecord,
    ) -> Result<Arc<dyn DatabasePlugin>> {
        let fingerprint = fingerprint(record);
        let mut pools = self.pools.lock().await;
        if let Some(open) = pools.get(name)
            && open.fingerprint == fingerprint
        {
            return Ok(open.plugin.clone());
        }
        let plugin = plugin::open(&record.settings()?).map_err(|e| database_error(name, e))?;
        if let Some(old) = pools.insert(
            name.to_owned(),
            OpenPool {
                fingerprint,
                plugin: plugin.clone(),
            },
        ) {
            close_later(old.plugin);
        }
        Ok(plugin)
    }

    /// Drops config `name`'s pool, if one is open.
    async fn forget(&self, name: &str) {
        if let Some(old) = self.pools.lock().await.remove(name) {
            close_later(old.plugin);
        }
    }

    async fn read_config(&self, name: &str, storage: &View) -> Result<Reply> {
        match config::load(storage, name).await? {
            Some(record) => Ok(data_reply(record.to_json())),
            None => Ok(Reply::NotFound),
        }
    }

    async fn write_config(
        &self,
        name: &str,
        request: &EngineRequest<'_>,
        storage: &View,
    ) -> Result<Reply> {
        let mut record = config::load(storage, name).await?.unwrap_or_default();
        record.apply(request.data)?;
        if record.verify_connection {
            let plugin = plugin::open(&record.settings()?).map_err(|e| database_error(name, e))?;
            let verified = retry(|| plugin.verify()).await;
            plugin.close().await;
            verified.map_err(|e| database_error(name, e))?;
        }
        config::save(storage, name, &record).await?;
        self.forget(name).await;
        Ok(Reply::NoContent)
    }

    async fn delete_config(&self, name: &str, storage: &View) -> Result<Reply> {
        config::delete(storage, name).await?;
        self.forget(name).await;
        Ok(Reply::NoContent)
    }

    /// `rotate-root/<name>`: a new generated password for the config's own user, set in the
    /// database first and then stored.
    async fn rotate_root(&self, name: &str, storage: &View) -> Result<Reply> {
        let mut record = config::load(storage, name)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no database config named {name:?}")))?;
        if record.username.is_empty() {
            return Err(Error::invalid(
                "the config has no username to rotate the password of",
            ));
        }
        let plugin = self.plugin(name, &record).await?;
        let password = plugin::Password::generate().map_err(|e| database_error(name, e))?;
        retry(|| {
            plugin.set_password(
                &record.root_rotation_statements,
                &record.username,
                &password,
            )
        })
        .await
        .map_err(|e| database_error(name, e))?;
        record.password = password.expose().to_owned();
        config::save(storage, name, &record).await?;
        self.forget(name).await;
        Ok(Reply::NoContent)
    }
}

#[async_trait]
impl Engine for DatabaseEngine {
    async fn handle(&self, request: EngineRequest<'_>, storage: &View) -> Result<Reply> {
        use Operation::{Create, Delete, List, Read, Update};
        match (route(request.path)?, request.operation) {
            (Route::Configs, List) => list_reply(config::names(storage).await?),
            (Route::Config(name), Read) => self.read_config(name, storage).await,
            (Route::Config(name), Create | Update) => {
                self.write_config(name, &request, storage).await
            }
            (Route::Config(name), Delete) => self.delete_config(name, storage).await,
            (Route::Reset(name), Create | Update) => {
                self.forget(name).await;
                Ok(Reply::NoContent)
            }
            (Route::RotateRoot(name), Create | Update) => self.rotate_root(name, storage).await,
            (Route::Roles, List) => list_reply(roles::names(storage).await?),
            (Route::Role(name), Read) => roles::read(name, storage).await,
            (Route::Role(name), Create | Update) => roles::write(name, &request, storage).await,
            (Route::Role(name), Delete) => roles::delete(name, storage).await,
            (Route::Creds(name), Read) => roles::creds(self, name, &request, storage).await,
            (Route::StaticRoles, List) => list_reply(static_roles::names(storage).await?),
            (Route::StaticRole(name), Read) => static_roles::read(name, storage).await,
            (Route::StaticRole(name), Create | Update) => {
                static_roles::write(self, name, &request, storage).await
            }
            (Route::StaticRole(name), Delete) => static_roles::delete(name, storage).await,
            (Route::StaticCreds(name), Read) => {
                static_roles::creds(name, request.now, storage).await
            }
            (Route::RotateRole(name), Create | Update) => {
                static_roles::rotate_now(self, name, request.now, storage).await
            }
            _ => Err(Error::UnsupportedOperation),
        }
    }

    async fn exists(&self, request: EngineRequest<'_>, storage: &View) -> Result<Option<bool>> {
        Ok(match route(request.path)? {
            Route::Config(name) => Some(config::load(storage, name).await?.is_some()),
            Route::Role(name) => Some(roles::load(storage, name).await?.is_some()),
            Route::StaticRole(name) => Some(static_roles::load(storage, name).await?.is_some()),
            _ => None,
        })
    }

    async fn tuned(&self, _previous: &MountInfo, _storage: &View) -> Result<()> {
        Ok(())
    }

    async fn token_revoked(&self, _token_scope: &str, _storage: &View) -> Result<()> {
        Ok(())
    }

    /// Drops the lease's database user and ends its sessions; an error (the database is
    /// unreachable after a few tries, the config is gone, the `DROP` failed) is returned so the
    /// core can report and retry the revocation.
    async fn lease_ended(
        &self,
        lease: &LeaseRecord,
        storage: &View,
        _leases: &LeaseScope,
        _now: SystemTime,
    ) -> Result<()> {
        roles::revoke_lease(self, lease, storage).await
    }

    /// Extends the lease's database user to the new expiry (the role's `renew_statements`, or
    /// the plugin's default); an error refuses the renewal.
    async fn database_connector(
        &self,
        name: &str,
        storage: &View,
    ) -> Result<Option<Arc<dyn DatabaseConnector>>> {
        check_name(name)?;
        let record = config::load(storage, name)
            .await?
            .ok_or_else(|| Error::invalid(format!("database config {name:?} not found")))?;
        let plugin = self.plugin(name, &record).await?;
        Ok(Some(Arc::new(connector::Connector {
            config: name.to_owned(),
            plugin,
        })))
    }

    async fn lease_renewing(
        &self,
        lease: &LeaseRecord,
        expires: SystemTime,
        storage: &View,
    ) -> Result<()> {
        roles::renew_lease(self, lease, expires, storage).await
    }

    /// Rotates the static roles that are due (the reminder pass is the rotation pass); raises
    /// no reminders of its own.
    async fn reminders(
        &self,
        storage: &View,
        now: SystemTime,
        after: Option<&str>,
    ) -> Result<EventPage> {
        if after.is_none() {
            static_roles::rotate_due(self, storage, now).await?;
        }
        Ok(EventPage::default())
    }
}

/// Closes a replaced pool in the background (in-flight operations keep their connections).
fn close_later(plugin: Arc<dyn DatabasePlugin>) {
    tokio::spawn(async move { plugin.close().await });
}

/// A config record's fingerprint: its stored bytes, hashed.
fn fingerprint(record: &config::ConfigRecord) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, &encode(record))
        .as_ref()
        .to_vec()
}

/// Runs a database operation, retrying with backoff while the database is unreachable.
async fn retry<T, F, Fut>(mut operation: F) -> plugin::DbResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = plugin::DbResult<T>>,
{
    let mut wait = FIRST_BACKOFF;
    let mut attempt = 1;
    loop {
        match operation().await {
            Err(error) if error.is_transient() && attempt < ATTEMPTS => {
                tracing::debug!(%error, attempt, "database operation failed; retrying");
                tokio::time::sleep(wait).await;
                wait *= 2;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// A plugin's error as the core's, naming the config.
fn database_error(config: &str, error: DatabaseError) -> Error {
    match error {
        DatabaseError::InvalidConnectionUrl(_) | DatabaseError::InvalidStatement(_) => {
            Error::invalid(format!("database {config:?}: {error}"))
        }
        DatabaseError::Unreachable(_) | DatabaseError::Statement(_) | DatabaseError::Timeout => {
            Error::Upstream(format!("database {config:?}: {error}"))
        }
    }
}

fn data_reply(data: Map<String, Value>) -> Reply {
    Reply::ok(Response::with_data(data))
}

fn list_reply(keys: Vec<String>) -> Result<Reply> {
    if keys.is_empty() {
        return Ok(Reply::NotFound);
    }
    let mut data = Map::new();
    data.insert("keys".into(), json!(keys));
    Ok(data_reply(data))
}

fn refuse_unknown_fields(data: &Map<String, Value>, known: &[&str]) -> Result<()> {
    match data.keys().find(|k| !known.contains(&k.as_str())) {
        Some(key) => Err(Error::invalid(format!(
            "unknown field {key:?} (accepted: {})",
            known.join(", ")
        ))),
        None => Ok(()),
    }
}

/// A statements field as Vault takes it: a JSON array of strings, a string holding a JSON
/// array, or one string (several statements separated by `;`); base64 of either is accepted.
/// Never split at commas (SQL has them).
fn statements(data: &Map<String, Value>, field: &str) -> Result<Option<Vec<String>>> {
    let bad = || Error::invalid(format!("{field} must be a string or a list of strings"));
    let items: Vec<String> = match data.get(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned).ok_or_else(bad))
            .collect::<Result<_>>()?,
        Some(Value::String(text)) => from_text(text),
        Some(_) => return Err(bad()),
    };
    Ok(Some(
        items.into_iter().filter(|s| !s.trim().is_empty()).collect(),
    ))
}

fn from_text(text: &str) -> Vec<String> {
    use base64::Engine as _;
    let trimmed = text.trim();
    if trimmed.starts_with('[')
        && let Ok(list) = serde_json::from_str::<Vec<String>>(trimmed)
    {
        return list;
    }
    if !trimmed.is_empty()
        && !trimmed.contains(char::is_whitespace)
        && let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(trimmed)
        && let Ok(decoded) = String::from_utf8(bytes)
    {
        return from_text(&decoded);
    }
    vec![text.to_owned()]
}

/// A TTL field in seconds (`"1h"`, `3600`, `"3600"`).
fn seconds(data: &Map<String, Value>, field: &str) -> Result<Option<u64>> {
    Ok(fields::duration(data, field)?.map(|ttl| ttl.as_secs()))
}

/// Encodes a record (JSON) into zeroizing memory.
fn encode<T: serde::Serialize>(record: &T) -> Zeroizing<Vec<u8>> {
    // Records are strings, numbers and lists: serializing cannot fail.
    Zeroizing::new(serde_json::to_vec(record).expect("database records always serialize"))
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8], storage: &View, key: &str) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::CorruptRecord {
        path: format!("{}{key}", storage.prefix()),
        reason: format!("bad record: {e}"),
    })
}

/// The names stored below `folder` (e.g. `config/`), sorted.
async fn list_names(storage: &View, folder: &str) -> Result<Vec<String>> {
    let mut names = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let keys = storage
            .scan(folder, after.as_deref(), 512)
            .await
            .map_err(barrier_error)?;
        let Some(last) = keys.last().cloned() else {
            names.sort();
            return Ok(names);
        };
        names.extend(
            keys.iter()
                .filter_map(|k| k.strip_prefix(folder))
                .map(str::to_owned),
        );
        after = Some(last);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_read_like_vault() {
        let check = |value: Value, expect: &[&str]| {
            let mut data = Map::new();
            data.insert("s".into(), value);
            assert_eq!(statements(&data, "s").unwrap().unwrap(), expect);
        };
        check(
            json!("CREATE ROLE \"{{name}}\"; GRANT SELECT, INSERT ON t TO \"{{name}}\";"),
            &["CREATE ROLE \"{{name}}\"; GRANT SELECT, INSERT ON t TO \"{{name}}\";"],
        );
        check(json!(["A", "B"]), &["A", "B"]);
        check(json!("[\"A\",\"B\"]"), &["A", "B"]);
        // base64 of `SELECT 1;`
        check(json!("U0VMRUNUIDE7"), &["SELECT 1;"]);
    }

    #[test]
    fn routes_refuse_bad_names() {
        assert!(route("config/ok-name_1.x").is_ok());
        assert!(route("creds/..").is_err());
        assert!(route("roles/a b").is_err());
        assert!(matches!(route("nothing/here"), Err(Error::UnsupportedPath)));
    }
}
