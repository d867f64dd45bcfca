//! The typed credentials engine (type `credentials`, mounted by default at `credentials/`): the
//! seeds' credential vault for agents. A credential has a type (validated and inspected by
//! `coffer-credentials`), metadata, a policy, a lifecycle state and versions; agents take
//! leases on it through the core's lease store, so a lease outlives a rotation and ends with a
//! revocation.
//!
//! Paths below the mount (wire contract in DESIGN.md §4):
//! `LIST ""` · `GET|POST config` · `GET config/due` · `POST|GET|PATCH <name>` ·
//! `POST <name>/rotate` · `POST <name>/revoke` · `GET <name>/versions` ·
//! `POST|LIST <name>/lease` · `GET <name>/lease/<id>`.
//!
//! Writes to one credential are serialized by a striped lock, so `maxLeases`, rotation and the
//! destruction of old values never race. Lease issues share it: many agents leasing one
//! credential commit together (one group commit, not one each), and a change to the credential
//! waits for the issues in flight. An issue counting against `maxLeases` takes it alone.

mod dblogin;
mod leasing;
mod policy;
mod record;
mod reminders;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use coffer_barrier::{BarrierOp, View};
use coffer_core::engine::{Engine, EngineFactory, EngineRequest, EventPage, Identity, MountInfo};
use coffer_core::lease::{LeaseRecord, LeaseScope};
use coffer_core::request::{Operation, Reply, Response};
use coffer_core::{Error, Result};
use coffer_credentials::{CredentialType, SecretValue};
use serde_json::{Map, Value, json};
use tokio::sync::{RwLock, RwLockWriteGuard};

use crate::barrier_error;
use policy::{CredentialPolicy, TenantDefaults};
use record::{CredentialRecord, State, StoredValue, VersionRecord, timestamp};

pub use reminders::{Reminder, ReminderKind};

/// How many locks writes to credentials are spread over.
const LOCK_STRIPES: usize = 64;
/// Caller metadata limits.
const MAX_METADATA_KEYS: usize = 64;
const MAX_METADATA_KEY_LEN: usize = 128;
const MAX_METADATA_VALUE_LEN: usize = 4096;

/// Builds the credentials engine (type `credentials`).
#[derive(Debug, Clone, Copy, Default)]
pub struct CredentialsFactory;

impl EngineFactory for CredentialsFactory {
    fn kinds(&self) -> &'static [&'static str] {
        &["credentials"]
    }

    fn normalize(&self, kind: &str, options: &mut BTreeMap<String, String>) -> Result<String> {
        crate::no_mount_options(kind, options)
    }

    fn default_description(&self, _kind: &str) -> &'static str {
        "typed credentials with identity-bound leases"
    }

    fn unauthenticated_paths(&self) -> &'static [&'static str] {
        &[]
    }

    fn build(&self, _mount: &MountInfo) -> Result<Arc<dyn Engine>> {
        Ok(Arc::new(CredentialsEngine::default()))
    }
}

/// One mount's credentials engine.
pub struct CredentialsEngine {
    locks: Vec<RwLock<()>>,
}

impl Default for CredentialsEngine {
    fn default() -> Self {
        CredentialsEngine {
            locks: (0..LOCK_STRIPES).map(|_| RwLock::new(())).collect(),
        }
    }
}

impl std::fmt::Debug for CredentialsEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialsEngine").finish_non_exhaustive()
    }
}

/// Where a request goes below the mount.
enum Route<'a> {
    Root,
    Config,
    Due,
    Credential(&'a str),
    Action(&'a str, &'a str),
    Lease(&'a str, &'a str),
}

fn route(path: &str) -> Result<Route<'_>> {
    let path = path.trim_end_matches('/');
    let segments: Vec<&str> = path.split('/').collect();
    Ok(match segments.as_slice() {
        [""] => Route::Root,
        ["config"] => Route::Config,
        ["config", "due"] => Route::Due,
        [name] => Route::Credential(name),
        [name, action] => Route::Action(name, action),
        [name, "lease", id] => Route::Lease(name, id),
        _ => return Err(Error::UnsupportedPath),
    })
}

impl CredentialsEngine {
    /// The lock stripe of credential `name`.
    fn stripe(&self, name: &str) -> &RwLock<()> {
        let mut hash: usize = 5381;
        for byte in name.bytes() {
            hash = hash.wrapping_mul(33) ^ usize::from(byte);
        }
        &self.locks[hash % LOCK_STRIPES]
    }

    /// Holds credential `name`'s lock alone.
    async fn lock(&self, name: &str) -> RwLockWriteGuard<'_, ()> {
        self.stripe(name).write().await
    }

    /// Issues a lease under the credential's shared lock, or alone when it counts `maxLeases`.
    async fn issue_lease(
        &self,
        name: &str,
        request: &EngineRequest<'_>,
        storage: &View,
    ) -> Result<Reply> {
        let stripe = self.stripe(name);
        let mut hold = leasing::Hold::Shared;
        loop {
            let issued = match hold {
                leasing::Hold::Shared => {
                    let _shared = stripe.read().await;
                    leasing::issue(name, request, storage, hold).await?
                }
                leasing::Hold::Exclusive => {
                    let _alone = stripe.write().await;
                    leasing::issue(name, request, storage, hold).await?
                }
            };
            match issued {
                Some(reply) => return Ok(reply),
                None => hold = leasing::Hold::Exclusive,
            }
        }
    }

    async fn create(
        &self,
        name: &str,
        request: &EngineRequest<'_>,
        storage: &View,
    ) -> Result<Reply> {
        coffer_credentials::validate_name(name).map_err(|e| Error::invalid(e.to_string()))?;
        let data = request.data;
        refuse_unknown_fields(
            data,
            &["type", "value", "metadata", "policy", "passphrase", "name"],
        )?;
        if let Some(given) = data.get("name")
            && given.as_str() != Some(name)
        {
            return Err(Error::invalid(format!(
                "the body names a credential other than the path's {name:?}"
            )));
        }
        let kind = match data.get("type") {
            Some(Value::String(text)) => text
                .parse::<CredentialType>()
                .map_err(|e| Error::invalid(format!("{e}; known types: {}", known_types())))?,
            None | Some(Value::Null) => {
                return Err(Error::invalid(format!(
                    "missing type: one of {}",
                    known_types()
                )));
            }
            Some(_) => return Err(Error::invalid("type must be a string")),
        };
        let value = secret_field(data, "value")?
            .ok_or_else(|| Error::invalid(format!("missing value for the {kind} credential")))?;
        let passphrase = secret_field(data, "passphrase")?;
        let metadata = match data.get("metadata") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(value) => parse_metadata(value)?,
        };
        let policy = match data.get("policy") {
            None | Some(Value::Null) => CredentialPolicy::default(),
            Some(value) => CredentialPolicy::parse(value)?,
        };
        database_needs_sudo(data.get("policy"), request)?;
        let inspection =
            coffer_credentials::inspect(kind, &value, passphrase.as_ref(), request.now)
                .map_err(|e| Error::invalid(e.to_string()))?;
        let _guard = self.lock(name).await;
        if record::load(storage, name).await?.is_some() {
            return Err(Error::invalid(format!(
                "credential {name:?} already exists; rotate it to change its value"
            )));
        }
        let creator = caller(request)?;
        let now = timestamp(request.now);
        let record = CredentialRecord {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.to_owned(),
            kind: kind.as_str().to_owned(),
            metadata,
            policy,
            state: State::Active,
            version: 1,
            created_at: now.clone(),
            updated_at: now.clone(),
            created_by: creator.clone(),
            revoked_at: None,
            versions: vec![version_record(
                1,
                &now,
                creator,
                &inspection,
                passphrase.is_some(),
            )],
        };
        let stored = StoredValue {
            value: value.expose().to_owned(),
            passphrase: passphrase.as_ref().map(|p| p.expose().to_owned()),
        };
        storage
            .transaction(vec![
                BarrierOp::Expect {
                    path: record::credential_key(name),
                    stamp: None,
                },
                BarrierOp::Put {
                    path: record::value_key(name, 1),
                    value: record::encode(&stored),
                },
                BarrierOp::Put {
                    path: record::credential_key(name),
                    value: record::encode(&record),
                },
            ])
            .await
            .map_err(|e| match barrier_error(e) {
                Error::Conflict => Error::invalid(format!("credential {name:?} already exists")),
                other => other,
            })?;
        Ok(reply(record.to_json(), inspection.warnings))
    }

    async fn read(&self, name: &str, storage: &View) -> Result<Reply> {
        match record::load(storage, name).await? {
            Some((record, _)) => Ok(reply(record.to_json(), Vec::new())),
            None => Ok(Reply::NotFound),
        }
    }

    async fn patch(
        &self,
        name: &str,
        request: &EngineRequest<'_>,
        storage: &View,
    ) -> Result<Reply> {
        let data = request.data;
        for fixed in ["value", "newValue", "passphrase"] {
            if data.contains_key(fixed) {
                return Err(Error::invalid(format!(
                    "{fixed} cannot be patched; rotate the credential to change its value"
                )));
            }
        }
        if data.contains_key("type") {
            return Err(Error::invalid(
                "a credential's type cannot change in place; create a new credential with the new type, move your references, then revoke this one",
            ));
        }
        refuse_unknown_fields(data, &["metadata", "policy"])?;
        let _guard = self.lock(name).await;
        let (mut record, stamp) = record::load(storage, name)
            .await?
            .ok_or_else(|| not_found(name))?;
        match data.get("metadata") {
            None => {}
            Some(Value::Object(changes)) => {
                for (key, value) in changes {
                    match value {
                        Value::Null => {
                            record.metadata.remove(key);
                        }
                        Value::String(text) => {
                            check_metadata_entry(key, text)?;
                            record.metadata.insert(key.clone(), text.clone());
                        }
                        _ => {
                            return Err(Error::invalid(format!(
                                "metadata.{key} must be a string (or null to remove it)"
                            )));
                        }
                    }
                }
                if record.metadata.len() > MAX_METADATA_KEYS {
                    return Err(Error::invalid(format!(
                        "metadata has more than {MAX_METADATA_KEYS} keys"
                    )));
                }
            }
            Some(_) => return Err(Error::invalid("metadata must be an object of strings")),
        }
        if let Some(changes) = data.get("policy") {
            database_needs_sudo(Some(changes), request)?;
            record.policy.merge(changes)?;
        }
        record.updated_at = timestamp(request.now);
        save(storage, &record, stamp, Vec::new()).await?;
        Ok(reply(record.to_json(), Vec::new()))
    }

    async fn rotate(
        &self,
        name: &str,
        request: &EngineRequest<'_>,
        storage: &View,
    ) -> Result<Reply> {
        let data = request.data;
        if data.contains_key("type") {
            return Err(Error::invalid(
                "rotation keeps the credential's type; create a new credential to change it",
            ));
        }
        refuse_unknown_fields(data, &["newValue", "passphrase", "name", "generate"])?;
        let generate = match data.get("generate") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            // `coffer write …/rotate generate=true` sends strings.
            Some(Value::String(text)) if text == "true" => true,
            Some(Value::String(text)) if text == "false" => false,
            Some(_) => return Err(Error::invalid("generate must be a boolean")),
        };
        let given = secret_field(data, "newValue")?;
        if generate && (given.is_some() || data.contains_key("passphrase")) {
            return Err(Error::invalid(
                "give either newValue or generate, not both (generate makes the new value)",
            ));
        }
        if !generate && given.is_none() {
            return Err(Error::invalid("missing newValue (or generate: true)"));
        }
        let passphrase = secret_field(data, "passphrase")?;
        let _guard = self.lock(name).await;
        let (mut record, stamp) = record::load(storage, name)
            .await?
            .ok_or_else(|| not_found(name))?;
        if record.state == State::Revoked {
            return Err(Error::Refused(format!(
                "credential {name:?} is revoked and cannot be rotated"
            )));
        }
        let kind: CredentialType = record
            .kind
            .parse()
            .map_err(|e: coffer_credentials::Error| Error::invalid(e.to_string()))?;
        let old = record.version;
        let new = old + 1;
        let (value, login) = match given {
            Some(value) => (value, None),
            None => {
                let current = record::load_value(storage, name, old)
                    .await?
                    .ok_or_else(|| Error::CorruptRecord {
                        path: format!("{}{}", storage.prefix(), record::value_key(name, old)),
                        reason: "the current version's value is missing".into(),
                    })?;
                let (value, login) =
                    dblogin::generate(&record, &current, request.peers, new).await?;
                (value, Some(login))
            }
        };
        let outcome = self
            .store_rotation(
                &mut record,
                stamp,
                kind,
                value,
                passphrase,
                login.clone(),
                request,
                storage,
            )
            .await;
        if outcome.is_err()
            && let Some(login) = &login
        {
            // Nothing was stored: the login just made must not outlive the failure.
            if let Err(error) = dblogin::drop_login(login, request.peers).await {
                tracing::warn!(credential = name, username = %login.username, %error, "could not drop the login of a failed rotation");
            }
        }
        outcome
    }

    /// Stores a rotation's new version (the caller holds the credential's lock) and drops the
    /// logins of rotated versions nobody holds a lease on any more.
    #[allow(clippy::too_many_arguments)]
    async fn store_rotation(
        &self,
        record: &mut CredentialRecord,
        stamp: coffer_barrier::Stamp,
        kind: CredentialType,
        value: SecretValue,
        passphrase: Option<SecretValue>,
        login: Option<dblogin::VersionLogin>,
        request: &EngineRequest<'_>,
        storage: &View,
    ) -> Result<Reply> {
        let name = record.name.clone();
        let name = name.as_str();
        let inspection =
            coffer_credentials::inspect(kind, &value, passphrase.as_ref(), request.now)
                .map_err(|e| Error::invalid(e.to_string()))?;
        let mut warnings = inspection.warnings.clone();
        let now = timestamp(request.now);
        let old = record.version;
        let new = old + 1;
        if let Some(previous) = record.version_mut(old) {
            previous.state = State::Rotated;
            previous.rotated_at = Some(now.clone());
        }
        let mut version = version_record(
            new,
            &now,
            caller(request)?,
            &inspection,
            passphrase.is_some(),
        );
        version.database_login = login;
        record.versions.push(version);
        record.version = new;
        record.updated_at = now;
        // Rotated versions nobody holds a lease on are destroyed now (their logins dropped
        // first); the others when their last lease ends. A login that cannot be dropped keeps
        // its version until the next rotation tries again.
        let leases = leasing::active_leases(request, name).await?;
        let mut keep = Vec::new();
        for v in &record.versions {
            let unheld = v.state == State::Rotated
                && !v.destroyed
                && !leases.iter().any(|l| lease_version(l) == Some(v.version));
            if let (true, Some(login)) = (unheld, &v.database_login)
                && let Err(error) = dblogin::drop_login(login, request.peers).await
            {
                warnings.push(format!(
                    "the database login {:?} of version {} could not be dropped ({error}); it is kept and tried again at the next rotation",
                    login.username, v.version
                ));
                keep.push(v.version);
            }
        }
        let mut extra = vec![BarrierOp::Put {
            path: record::value_key(name, new),
            value: record::encode(&StoredValue {
                value: value.expose().to_owned(),
                passphrase: passphrase.as_ref().map(|p| p.expose().to_owned()),
            }),
        }];
        extra.extend(destroy_unheld(record, &leases, &keep));
        save(storage, record, stamp, extra).await?;
        let mut data = record.to_json();
        data.insert("previousVersion".into(), json!(old));
        data.insert(
            "previousVersionLeases".into(),
            json!(
                leases
                    .iter()
                    .filter(|l| lease_version(l) == Some(old))
                    .count()
            ),
        );
        Ok(reply(data, warnings))
    }

    async fn revoke(
        &self,
        name: &str,
        request: &EngineRequest<'_>,
        storage: &View,
    ) -> Result<Reply> {
        let _guard = self.lock(name).await;
        let (mut record, stamp) = record::load(storage, name)
            .await?
            .ok_or_else(|| not_found(name))?;
        let scope = request
            .leases
            .ok_or_else(|| Error::invalid("leases are not available here"))?;
        let leases = scope.list(&format!("{name}/lease/")).await?;
        if record.state != State::Revoked {
            let now = timestamp(request.now);
            record.state = State::Revoked;
            record.revoked_at = Some(now.clone());
            record.updated_at = now;
            for version in &mut record.versions {
                version.state = State::Revoked;
            }
            save(storage, &record, stamp, Vec::new()).await?;
        }
        // Every lease ends at once: none can read the value after this reply.
        scope.revoke(&leases).await?;
        // Nor log in with it: the database logins Coffer made for its versions are dropped
        // (a failure is reported; revoking again tries again).
        let mut warnings = Vec::new();
        for version in record.versions.iter().filter(|v| !v.destroyed) {
            if let Some(login) = &version.database_login
                && let Err(error) = dblogin::drop_login(login, request.peers).await
            {
                warnings.push(format!(
                    "the database login {:?} of version {} could not be dropped ({error}); revoke again to retry",
                    login.username, version.version
                ));
            }
        }
        let mut data = record.to_json();
        data.insert("revokedLeases".into(), json!(leases.len()));
        Ok(reply(data, warnings))
    }

    async fn versions(
        &self,
        name: &str,
        request: &EngineRequest<'_>,
        storage: &View,
    ) -> Result<Reply> {
        let Some((record, _)) = record::load(storage, name).await? else {
            return Ok(Reply::NotFound);
        };
        let leases = leasing::active_leases(request, name).await?;
        let versions: Vec<Value> = record
            .versions
            .iter()
            .rev()
            .map(|v| {
                json!({
                    "version": v.version,
                    "state": v.state.as_str(),
                    "createdAt": v.created_at,
                    "createdBy": v.created_by,
                    "rotatedAt": v.rotated_at,
                    "destroyed": v.destroyed,
                    "expiresAt": v.expires_at,
                    "databaseUser": v.database_login.as_ref().map(|l| l.username.clone()),
                    "activeLeases": leases.iter().filter(|l| lease_version(l) == Some(v.version)).count(),
                })
            })
            .collect();
        let mut data = Map::new();
        data.insert("name".into(), json!(name));
        data.insert("currentVersion".into(), json!(record.version));
        data.insert("versions".into(), json!(versions));
        Ok(reply(data, Vec::new()))
    }

    async fn list(&self, request: &EngineRequest<'_>, storage: &View) -> Result<Reply> {
        let data = request.data;
        let wanted_type = filter_string(data, "type")?;
        if let Some(kind) = &wanted_type {
            kind.parse::<CredentialType>()
                .map_err(|e| Error::invalid(format!("{e}; known types: {}", known_types())))?;
        }
        let wanted_state = filter_string(data, "state")?;
        if let Some(state) = &wanted_state
            && !["active", "rotated", "revoked"].contains(&state.as_str())
        {
            return Err(Error::invalid(format!(
                "unknown state {state:?}: use active, rotated or revoked"
            )));
        }
        let metadata_filters: Vec<(String, String)> = data
            .iter()
            .filter_map(|(k, v)| {
                Some((
                    k.strip_prefix("metadata.")?.to_owned(),
                    v.as_str()?.to_owned(),
                ))
            })
            .collect();
        let mut keys = Vec::new();
        let mut info = Map::new();
        for name in record::names(storage).await? {
            let Some((record, _)) = record::load(storage, &name).await? else {
                continue;
            };
            let has_rotated = record
                .versions
                .iter()
                .any(|v| v.state == State::Rotated && !v.destroyed);
            let state_matches = match wanted_state.as_deref() {
                None => true,
                Some("rotated") => has_rotated,
                Some(state) => record.state.as_str() == state,
            };
            let metadata = record.merged_metadata();
            if wanted_type.as_deref().is_some_and(|t| t != record.kind)
                || !state_matches
                || metadata_filters
                    .iter()
                    .any(|(k, v)| metadata.get(k) != Some(v))
            {
                continue;
            }
            info.insert(
                name.clone(),
                json!({
                    "type": record.kind,
                    "state": record.state.as_str(),
                    "version": record.version,
                    "updatedAt": record.updated_at,
                }),
            );
            keys.push(name);
        }
        if keys.is_empty() {
            return Ok(Reply::NotFound);
        }
        let mut out = Map::new();
        out.insert("keys".into(), json!(keys));
        out.insert("key_info".into(), Value::Object(info));
        Ok(reply(out, Vec::new()))
    }

    async fn config(&self, request: &EngineRequest<'_>, storage: &View) -> Result<Reply> {
        match request.operation {
            Operation::Read => {
                let config = record::load_config(storage).await?;
                Ok(reply(config.to_json(), Vec::new()))
            }
            Operation::Create | Operation::Update | Operation::Patch => {
                let _guard = self.lock("config").await;
                let mut config: TenantDefaults = record::load_config(storage).await?;
                config.merge(request.data)?;
                record::save_config(storage, &config).await?;
                Ok(reply(config.to_json(), Vec::new()))
            }
            _ => Err(Error::UnsupportedOperation),
        }
    }
}

#[async_trait]
impl Engine for CredentialsEngine {
    async fn handle(&self, request: EngineRequest<'_>, storage: &View) -> Result<Reply> {
        let op = request.operation;
        let write = matches!(op, Operation::Create | Operation::Update);
        match route(request.path)? {
            Route::Root if matches!(op, Operation::List | Operation::Read) => {
                self.list(&request, storage).await
            }
            Route::Config => self.config(&request, storage).await,
            Route::Due if op == Operation::Read => reminders::due(&request, storage).await,
            Route::Credential(name) => match op {
                Operation::Create | Operation::Update => self.create(name, &request, storage).await,
                Operation::Read => self.read(name, storage).await,
                Operation::Patch => self.patch(name, &request, storage).await,
                _ => Err(Error::UnsupportedOperation),
            },
            Route::Action(name, "rotate") if write => self.rotate(name, &request, storage).await,
            Route::Action(name, "revoke") if write => self.revoke(name, &request, storage).await,
            Route::Action(name, "versions") if op == Operation::Read => {
                self.versions(name, &request, storage).await
            }
            Route::Action(name, "lease") if write => {
                self.issue_lease(name, &request, storage).await
            }
            Route::Action(name, "lease") if matches!(op, Operation::List | Operation::Read) => {
                leasing::list(name, &request).await
            }
            Route::Lease(name, id) if op == Operation::Read => {
                leasing::read(name, id, &request, storage).await
            }
            Route::Root | Route::Due | Route::Action(..) | Route::Lease(..) => {
                Err(Error::UnsupportedOperation)
            }
        }
    }

    async fn exists(&self, request: EngineRequest<'_>, storage: &View) -> Result<Option<bool>> {
        match route(request.path) {
            Ok(Route::Credential(name)) if coffer_credentials::validate_name(name).is_ok() => {
                Ok(Some(record::load(storage, name).await?.is_some()))
            }
            _ => Ok(None),
        }
    }

    async fn tuned(&self, _previous: &MountInfo, _storage: &View) -> Result<()> {
        Ok(())
    }

    async fn token_revoked(&self, _token_scope: &str, _storage: &View) -> Result<()> {
        // Leases belong to identities, not tokens: they outlive the token that asked.
        Ok(())
    }

    async fn reminders(
        &self,
        storage: &View,
        now: SystemTime,
        after: Option<&str>,
    ) -> Result<EventPage> {
        reminders::page(storage, now, after).await
    }

    async fn lease_ended(
        &self,
        lease: &LeaseRecord,
        storage: &View,
        leases: &LeaseScope,
        now: SystemTime,
    ) -> Result<()> {
        let Some(name) = lease.internal_str("credentialName") else {
            return Ok(());
        };
        let name = name.to_owned();
        let _guard = self.lock(&name).await;
        leasing::release(&name, lease, storage, leases, now).await
    }
}

/// Saves a credential if nobody changed it since it was read, with extra operations in the same
/// transaction.
async fn save(
    storage: &View,
    record: &CredentialRecord,
    stamp: coffer_barrier::Stamp,
    extra: Vec<BarrierOp>,
) -> Result<()> {
    let mut ops = vec![BarrierOp::Expect {
        path: record::credential_key(&record.name),
        stamp: Some(stamp),
    }];
    ops.extend(extra);
    ops.push(BarrierOp::Put {
        path: record::credential_key(&record.name),
        value: record::encode(record),
    });
    storage.transaction(ops).await.map_err(barrier_error)
}

/// Marks rotated versions without an active lease (and not in `keep`) destroyed and returns the deletions of their
/// values.
fn destroy_unheld(
    record: &mut CredentialRecord,
    active: &[LeaseRecord],
    keep: &[u64],
) -> Vec<BarrierOp> {
    let name = record.name.clone();
    record
        .versions
        .iter_mut()
        .filter(|v| v.state == State::Rotated && !v.destroyed && !keep.contains(&v.version))
        .filter(|v| !active.iter().any(|l| lease_version(l) == Some(v.version)))
        .map(|v| {
            v.destroyed = true;
            BarrierOp::Delete {
                path: record::value_key(&name, v.version),
            }
        })
        .collect()
}

fn lease_version(lease: &LeaseRecord) -> Option<u64> {
    lease.internal.get("version").and_then(Value::as_u64)
}

fn version_record(
    version: u64,
    now: &str,
    creator: Identity,
    inspection: &coffer_credentials::Inspection,
    has_passphrase: bool,
) -> VersionRecord {
    VersionRecord {
        version,
        state: State::Active,
        created_at: now.to_owned(),
        created_by: creator,
        rotated_at: None,
        destroyed: false,
        extracted: inspection.metadata.clone(),
        expires_at: inspection.expires_at.map(timestamp),
        has_passphrase,
        database_login: None,
    }
}

/// `policy.database` makes `rotate` run its statements with a database config's privileged
/// connection, so setting it takes `sudo` on the credential's path.
fn database_needs_sudo(policy: Option<&Value>, request: &EngineRequest<'_>) -> Result<()> {
    let sets = policy
        .and_then(Value::as_object)
        .and_then(|p| p.get("database"))
        .is_some_and(|d| !d.is_null());
    if sets && !request.sudo {
        return Err(Error::Forbidden(
            "setting policy.database needs sudo on this path: rotation runs its statements with the database config's privileged connection".into(),
        ));
    }
    Ok(())
}

fn caller(request: &EngineRequest<'_>) -> Result<Identity> {
    request.identity.cloned().ok_or(Error::PermissionDenied)
}

fn not_found(name: &str) -> Error {
    Error::NotFound(format!("credential {name:?} not found"))
}

fn reply(data: Map<String, Value>, warnings: Vec<String>) -> Reply {
    Reply::ok(Response {
        data: Some(data),
        warnings,
        ..Response::default()
    })
}

fn known_types() -> String {
    CredentialType::ALL
        .iter()
        .map(|t| t.as_str())
        .collect::<Vec<_>>()
        .join(", ")
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

/// A secret string field: must be a string when present.
fn secret_field(data: &Map<String, Value>, field: &str) -> Result<Option<SecretValue>> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(SecretValue::new(text.clone()))),
        Some(_) => Err(Error::invalid(format!("{field} must be a string"))),
    }
}

fn filter_string(data: &Map<String, Value>, field: &str) -> Result<Option<String>> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Error::invalid(format!("{field} must be a string"))),
    }
}

fn check_metadata_entry(key: &str, value: &str) -> Result<()> {
    if key.is_empty() || key.len() > MAX_METADATA_KEY_LEN || key.chars().any(char::is_control) {
        return Err(Error::invalid(format!(
            "metadata keys must be 1 to {MAX_METADATA_KEY_LEN} printable characters"
        )));
    }
    if value.len() > MAX_METADATA_VALUE_LEN {
        return Err(Error::invalid(format!(
            "metadata.{key} is longer than {MAX_METADATA_VALUE_LEN} bytes"
        )));
    }
    Ok(())
}

fn parse_metadata(value: &Value) -> Result<BTreeMap<String, String>> {
    let map = value
        .as_object()
        .ok_or_else(|| Error::invalid("metadata must be an object of strings"))?;
    if map.len() > MAX_METADATA_KEYS {
        return Err(Error::invalid(format!(
            "metadata has more than {MAX_METADATA_KEYS} keys"
        )));
    }
    map.iter()
        .map(|(key, value)| match value {
            Value::String(text) => {
                check_metadata_entry(key, text)?;
                Ok((key.clone(), text.clone()))
            }
            _ => Err(Error::invalid(format!("metadata.{key} must be a string"))),
        })
        .collect()
}
