//! The plug point for logical backends (secrets engines): a small `Engine` trait that sees one
//! request relative to its mount and only its own storage view, and an `EngineFactory` that
//! builds an engine for a mount entry. Engines live in `coffer-engines`; the binary registers
//! their factories when it builds the core.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use coffer_barrier::View;
use serde_json::{Map, Value};

use crate::Result;
use crate::lease::{LeaseRecord, LeaseScope};
use crate::request::{Operation, Reply};

/// What a mount looks like to its engine.
#[derive(Debug, Clone)]
pub struct MountInfo {
    /// Mount path with trailing slash, e.g. `secret/`.
    pub path: String,
    /// Engine type, e.g. `kv`.
    pub kind: String,
    /// Mount accessor, e.g. `kv_1a2b3c4d`.
    pub accessor: String,
    /// Engine options (`version` for KV).
    pub options: BTreeMap<String, String>,
    /// Default lease TTL in seconds (0 = system default).
    pub default_lease_ttl: u64,
    /// Max lease TTL in seconds (0 = system default).
    pub max_lease_ttl: u64,
}

/// One request as an engine sees it. Its `Debug` shows the body's keys, never values.
pub struct EngineRequest<'a> {
    /// The operation.
    pub operation: Operation,
    /// The path below the mount (no leading slash), e.g. `data/app/db`.
    pub path: &'a str,
    /// Body fields (plus query parameters on reads).
    pub data: &'a Map<String, Value>,
    /// The mount.
    pub mount: &'a MountInfo,
    /// The current time.
    pub now: SystemTime,
    /// A stable, non-secret identifier of the calling token (its salted hash), for engines
    /// whose data is private to a token (cubbyhole).
    pub token_scope: &'a str,
    /// Who is calling (`None` on logins): the token's identity, or `token:<display name>` for
    /// tokens without one.
    pub identity: Option<&'a Identity>,
    /// Whether the caller's policies grant `sudo` on this path (brokers acting for others).
    pub sudo: bool,
    /// This mount's leases (`None` where leases cannot be issued, e.g. on logins).
    pub leases: Option<&'a LeaseScope>,
    /// The other mounts of the request's namespace, for the narrow services they offer
    /// ([`Peers::database`]); `None` on logins and existence checks.
    pub peers: Option<&'a Peers>,
}

/// The other secrets mounts of one namespace, as far as an engine may reach them: only through
/// the services an engine chooses to offer ([`Engine::database_connector`]), never their
/// storage. Cheap to clone.
#[derive(Clone)]
pub struct Peers {
    mounts: Arc<crate::mount::MountTable>,
}

impl std::fmt::Debug for Peers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peers").finish_non_exhaustive()
    }
}

impl Peers {
    pub(crate) fn new(mounts: Arc<crate::mount::MountTable>) -> Peers {
        Peers { mounts }
    }

    /// A connector to the database config `config` of the database engine mounted at `mount`
    /// (e.g. `database/`) in the same namespace. A missing mount, a mount whose engine offers no
    /// connectors, or a missing config is `Error::InvalidRequest` naming it.
    pub async fn database(&self, mount: &str, config: &str) -> Result<Arc<dyn DatabaseConnector>> {
        let path = format!("{}/", mount.trim_matches('/'));
        let mounted = self.mounts.find_exact(&path).ok_or_else(|| {
            crate::Error::invalid(format!("no secrets engine is mounted at {path:?}"))
        })?;
        mounted
            .engine
            .database_connector(config, &mounted.view)
            .await?
            .ok_or_else(|| {
                crate::Error::invalid(format!(
                    "the engine mounted at {path:?} is not a database engine"
                ))
            })
    }
}

/// Runs user statements with one database config's privileged connection (offered by the
/// database engine to other engines of its namespace through [`Peers::database`]). Passwords
/// go in only; errors never carry them.
#[async_trait]
pub trait DatabaseConnector: Send + Sync {
    /// Vault's plugin name of the config, e.g. `postgresql-database-plugin`.
    fn plugin_name(&self) -> &str;

    /// The longest username the database accepts.
    fn max_username_len(&self) -> usize;

    /// Creates `username` with `password` by running `statements` (templates with `{{name}}`
    /// and `{{password}}`), all or nothing where the database has transactional DDL.
    async fn create_user(
        &self,
        statements: &[String],
        username: &str,
        password: &str,
    ) -> Result<()>;

    /// Drops `username` and ends its sessions (`statements`, or the plugin's default when
    /// empty). A user that no longer exists is not an error, so this may be repeated.
    async fn drop_user(&self, statements: &[String], username: &str) -> Result<()>;
}

/// Who a token stands for: a person (`user`, from userpass) or an agent (`agent`, from approle),
/// or a kind set by a broker allowed to.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Identity {
    /// `user`, `agent`, or another kind (`type` on the wire).
    #[serde(rename = "type")]
    pub kind: String,
    /// The user or agent name.
    pub name: String,
}

impl Identity {
    /// Reads an identity given as `"agent:deploy"` or `{"type": "agent", "name": "deploy"}`
    /// (the kind lowercased; letters, digits, `-` and `_`); `field` names the parameter in
    /// errors.
    pub fn from_json(value: &Value, field: &str) -> Result<Identity> {
        parse_identity(value, field, false)
    }

    /// Reads an identity pattern: like [`Identity::from_json`], with `*` allowed as a glob in
    /// both parts (e.g. `"agent:deploy-*"`).
    pub fn pattern_from_json(value: &Value, field: &str) -> Result<Identity> {
        parse_identity(value, field, true)
    }
}

fn parse_identity(value: &Value, field: &str, glob: bool) -> Result<Identity> {
    let shape = || {
        crate::Error::invalid(format!(
            "{field} must be \"type:name\" (e.g. \"user:alice\", \"agent:deploy\") or {{\"type\": ..., \"name\": ...}}"
        ))
    };
    let (kind, name) = match value {
        Value::String(text) => {
            let (kind, name) = text.split_once(':').ok_or_else(shape)?;
            (kind.to_owned(), name.to_owned())
        }
        Value::Object(map) => match (map.get("type"), map.get("name")) {
            (Some(Value::String(kind)), Some(Value::String(name))) => (kind.clone(), name.clone()),
            _ => return Err(shape()),
        },
        _ => return Err(shape()),
    };
    let kind = kind.trim().to_lowercase();
    let name = name.trim().to_owned();
    let kind_ok = kind
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || (glob && c == '*'));
    if kind.is_empty() || name.is_empty() || !kind_ok {
        return Err(shape());
    }
    if name.len() > 256 || name.chars().any(char::is_control) {
        return Err(crate::Error::invalid(format!(
            "{field}: the name must be at most 256 printable characters"
        )));
    }
    Ok(Identity { kind, name })
}

/// What an auth engine hands back for a successful login; the core turns it into a token (an
/// orphan carrying the identity, with the identity's group policies added).
#[derive(Debug, Clone)]
pub struct LoginGrant {
    /// Policies from the auth engine (e.g. the user's `token_policies`).
    pub policies: Vec<String>,
    /// Who logged in.
    pub identity: Identity,
    /// Display name, e.g. `userpass-alice`.
    pub display_name: String,
    /// Token metadata, e.g. `{"username": "alice"}`.
    pub metadata: BTreeMap<String, String>,
    /// Token TTL (0 = the mount's default).
    pub ttl: crate::ttl::Ttl,
    /// Hard cap (0 = none).
    pub max_ttl: crate::ttl::Ttl,
    /// Periodic renewal window (0 = not periodic).
    pub period: crate::ttl::Ttl,
    /// Uses before revocation (0 = unlimited).
    pub num_uses: u32,
    /// Leave out the `default` policy.
    pub no_default_policy: bool,
}

impl std::fmt::Debug for EngineRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineRequest")
            .field("operation", &self.operation)
            .field("path", &self.path)
            .field("data_keys", &crate::request::keys_only(self.data))
            .field("mount", &self.mount.path)
            .finish_non_exhaustive()
    }
}

/// A logical backend.
#[async_trait]
pub trait Engine: Send + Sync + 'static {
    /// Serves one request.
    async fn handle(&self, request: EngineRequest<'_>, storage: &View) -> Result<Reply>;

    /// Whether a write to `request.path` would create something new (Vault's existence check),
    /// so the pipeline can check `create` rather than `update`. `None` when the engine makes no
    /// distinction (the write is checked as `update`).
    async fn exists(&self, request: EngineRequest<'_>, storage: &View) -> Result<Option<bool>>;

    /// Called once after the mount's options change (e.g. KV `options.version` upgraded from
    /// 1 to 2), with the new mount settings, before the rebuilt engine serves requests; the
    /// engine migrates its stored data if the change needs it.
    async fn tuned(&self, previous: &MountInfo, storage: &View) -> Result<()>;

    /// Called when a token is revoked, with its `token_scope`, so engines holding data private
    /// to that token (cubbyhole) delete it.
    async fn token_revoked(&self, token_scope: &str, storage: &View) -> Result<()>;

    /// Called after one of this mount's leases ended (revoked, or expired and reaped) through
    /// the core (`sys/leases/*`, the reaper, the identity kill switch), so the engine releases
    /// what the lease held. Leases the engine revokes itself through its [`LeaseScope`] are not
    /// reported.
    async fn lease_ended(
        &self,
        _lease: &LeaseRecord,
        _storage: &View,
        _leases: &LeaseScope,
        _now: SystemTime,
    ) -> Result<()> {
        Ok(())
    }

    /// Called before one of this mount's leases is renewed through the core
    /// (`sys/leases/renew`), with the expiry it is about to get, so the engine can extend what
    /// the lease holds (e.g. a database user's `VALID UNTIL`). An error refuses the renewal and
    /// the lease keeps its expiry.
    async fn lease_renewing(
        &self,
        _lease: &LeaseRecord,
        _expires: SystemTime,
        _storage: &View,
    ) -> Result<()> {
        Ok(())
    }

    /// The reminders this mount raises at `now`, one page at a time: the page after the cursor
    /// `after` (`None` for the first). The core asks on a slow timer and delivers each event
    /// once; engines that raise none keep this default.
    async fn reminders(
        &self,
        _storage: &View,
        _now: SystemTime,
        _after: Option<&str>,
    ) -> Result<EventPage> {
        Ok(EventPage::default())
    }

    /// A connector for the database config `config` this mount holds, for other engines of the
    /// namespace ([`Peers::database`]): `Ok(None)` for engines that are not database engines
    /// (the default); a missing config is an error naming it.
    async fn database_connector(
        &self,
        _config: &str,
        _storage: &View,
    ) -> Result<Option<Arc<dyn DatabaseConnector>>> {
        Ok(None)
    }
}

/// Something an engine announces by itself, without a request: a credential due for rotation,
/// or a value about to expire. The core records it in the audit log once per `(mount, name,
/// version, event)` and hands it to the webhook notifiers (`sys/notifiers`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineEvent {
    /// The event name, e.g. `rotation-due`; one of [`crate::REMINDER_EVENTS`].
    pub event: &'static str,
    /// The item it is about (a credential's name); never secret.
    pub name: String,
    /// The item's type, e.g. `tls-certificate`.
    pub item_type: String,
    /// The item's version the event is about: a new version can raise the event again.
    pub version: u64,
    /// When rotation falls due or the value expires.
    pub at: SystemTime,
    /// Where the schedule comes from, e.g. `policy.rotation`.
    pub source: &'static str,
}

/// One page of an engine's reminders: the events, and where the next page starts (`None` when
/// this was the last).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventPage {
    /// The events of this page.
    pub events: Vec<EngineEvent>,
    /// The cursor to pass as `after` for the next page.
    pub next: Option<String>,
}

/// Builds engines of one type.
pub trait EngineFactory: Send + Sync + 'static {
    /// The type names it serves, e.g. `["kv", "kv-v2"]`.
    fn kinds(&self) -> &'static [&'static str];

    /// Normalizes a requested type and options at mount time (e.g. `kv-v2` → `kv` with
    /// `version=2`; a bad option is `Error::InvalidRequest`); returns the type to store.
    fn normalize(&self, kind: &str, options: &mut BTreeMap<String, String>) -> Result<String>;

    /// A human description for the default mounts of this type.
    fn default_description(&self, kind: &str) -> &'static str;

    /// Builds the engine for a mount.
    fn build(&self, mount: &MountInfo) -> Result<Arc<dyn Engine>>;

    /// Paths below the mount served without a token (auth engines' `login…`); a trailing `*`
    /// matches any suffix. Secrets engines return none.
    fn unauthenticated_paths(&self) -> &'static [&'static str];
}
