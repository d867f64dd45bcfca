//! AppRole: the auth method for machines and agents, wire-compatible with Vault's. A role
//! holds token settings; an agent logs in with the role's role ID and one of its secret IDs, and
//! the core turns the `Reply::Login` into a token for the identity `agent/<role name>`.
//!
//! Paths below the mount: `role` (LIST), `role/<name>` (read, write, delete),
//! `role/<name>/role-id` (read, write), `role/<name>/secret-id` (write to make one, LIST for
//! accessors), `role/<name>/secret-id/lookup|destroy` and
//! `role/<name>/secret-id-accessor/lookup|destroy`, and `login` (write, served without a token).
//! Role names are lowercased.
//!
//! Module map: `role` (roles and role IDs), `secret_id` (secret IDs and their use at login),
//! `storage` (layout, codec, salt and HMACs: no credential ever appears in a storage path).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use coffer_barrier::View;
use coffer_core::engine::{Engine, EngineFactory, EngineRequest, Identity, MountInfo};
use coffer_core::{Error, Operation, Reply, Result};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{Map, Value};
use tokio::sync::OnceCell;

use self::role::{Creation, RoleId, RoleName, RoleUpdate};
use self::secret_id::{SecretId, Selector};
use self::storage::{Salt, Store};
use crate::auth::fields;

mod role;
mod secret_id;
mod storage;

/// Builds AppRole engines (type `approle`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ApproleFactory;

/// The AppRole auth method of one mount. Roles and secret IDs live in storage; the engine
/// caches the mount's HMAC salt.
#[derive(Debug, Default)]
pub struct ApproleEngine {
    salt: OnceCell<Salt>,
}

impl ApproleEngine {
    /// The engine of a mount.
    pub fn new() -> ApproleEngine {
        ApproleEngine::default()
    }

    /// The mount's storage, addressed through its salt (created on first use).
    async fn store<'a>(&self, view: &'a View) -> Result<Store<'a>> {
        let salt = self
            .salt
            .get_or_try_init(|| Salt::load_or_create(view))
            .await?;
        Ok(Store::new(view, salt))
    }

    /// The mount's storage if its salt exists; `None` before first use, when nothing is stored.
    /// Never creates the salt: an existence check runs before the ACL check, so a refused
    /// request must not write anything.
    async fn existing_store<'a>(&self, view: &'a View) -> Result<Option<Store<'a>>> {
        if let Some(salt) = self.salt.get() {
            return Ok(Some(Store::new(view, salt)));
        }
        let Some(loaded) = Salt::load(view).await? else {
            return Ok(None);
        };
        let salt = self.salt.get_or_init(|| async { loaded }).await;
        Ok(Some(Store::new(view, salt)))
    }
}

#[async_trait]
impl Engine for ApproleEngine {
    async fn handle(&self, request: EngineRequest<'_>, storage: &View) -> Result<Reply> {
        let route = Route::parse(request.path);
        if route == Route::Unknown {
            return Err(Error::UnsupportedPath);
        }
        let store = self.store(storage).await?;
        let store = &store;
        let data = request.data;
        let now = request.now;
        use Operation::{Create, Delete, List, Read, Update};
        match (route, request.operation) {
            (Route::Login, Create | Update) => login(store, data, now).await,
            (Route::Roles, List) => role::list(store).await,
            (Route::Role(raw), operation) => {
                let name = RoleName::parse(raw)?;
                match operation {
                    Read => role::read(store, &name).await,
                    Create | Update => {
                        let update = RoleUpdate::parse(data)?;
                        role::write(store, &name, &update, Creation::Allowed).await
                    }
                    Delete => role::delete(store, &name).await,
                    _ => Err(Error::UnsupportedOperation),
                }
            }
            (Route::RoleId(raw), Read) => role::read_role_id(store, &RoleName::parse(raw)?).await,
            (Route::RoleId(raw), Create | Update) => {
                let update = RoleUpdate::role_id_only(data)?;
                role::write(store, &RoleName::parse(raw)?, &update, Creation::Refused).await
            }
            (Route::SecretIds(raw), Create | Update) => {
                secret_id::generate(store, &RoleName::parse(raw)?, data, now).await
            }
            (Route::SecretIds(raw), List) => {
                secret_id::list(store, &RoleName::parse(raw)?, now).await
            }
            (Route::SecretIdLookup(raw), Create | Update) => {
                let selector = Selector::value(data)?;
                secret_id::lookup(store, &RoleName::parse(raw)?, &selector, now).await
            }
            (Route::AccessorLookup(raw), Create | Update) => {
                let selector = Selector::accessor(data)?;
                secret_id::lookup(store, &RoleName::parse(raw)?, &selector, now).await
            }
            (Route::SecretIdDestroy(raw), Create | Update | Delete) => {
                let selector = Selector::value(data)?;
                secret_id::destroy(store, &RoleName::parse(raw)?, &selector).await
            }
            (Route::AccessorDestroy(raw), Create | Update | Delete) => {
                let selector = Selector::accessor(data)?;
                secret_id::destroy(store, &RoleName::parse(raw)?, &selector).await
            }
            _ => Err(Error::UnsupportedOperation),
        }
    }

    async fn exists(&self, request: EngineRequest<'_>, storage: &View) -> Result<Option<bool>> {
        let Route::Role(raw) = Route::parse(request.path) else {
            return Ok(None);
        };
        let Ok(name) = RoleName::parse(raw) else {
            return Ok(Some(false));
        };
        let Some(store) = self.existing_store(storage).await? else {
            return Ok(Some(false));
        };
        Ok(Some(role::get(&store, &name).await?.is_some()))
    }

    async fn tuned(&self, _previous: &MountInfo, _storage: &View) -> Result<()> {
        // No option changes what is stored.
        Ok(())
    }

    async fn token_revoked(&self, _token_scope: &str, _storage: &View) -> Result<()> {
        // Nothing here belongs to a token.
        Ok(())
    }
}

impl EngineFactory for ApproleFactory {
    fn kinds(&self) -> &'static [&'static str] {
        &["approle"]
    }

    fn normalize(&self, kind: &str, _options: &mut BTreeMap<String, String>) -> Result<String> {
        Ok(kind.to_owned())
    }

    fn default_description(&self, _kind: &str) -> &'static str {
        ""
    }

    fn build(&self, _mount: &MountInfo) -> Result<Arc<dyn Engine>> {
        Ok(Arc::new(ApproleEngine::new()))
    }

    fn unauthenticated_paths(&self) -> &'static [&'static str] {
        &["login"]
    }
}

/// What a path below the mount names; role names are still raw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route<'a> {
    /// `login`.
    Login,
    /// `role` or `role/`.
    Roles,
    /// `role/<name>`.
    Role(&'a str),
    /// `role/<name>/role-id`.
    RoleId(&'a str),
    /// `role/<name>/secret-id` (or with a trailing `/`, as a LIST sends it).
    SecretIds(&'a str),
    /// `role/<name>/secret-id/lookup`.
    SecretIdLookup(&'a str),
    /// `role/<name>/secret-id/destroy`.
    SecretIdDestroy(&'a str),
    /// `role/<name>/secret-id-accessor/lookup`.
    AccessorLookup(&'a str),
    /// `role/<name>/secret-id-accessor/destroy`.
    AccessorDestroy(&'a str),
    Unknown,
}

impl<'a> Route<'a> {
    fn parse(path: &'a str) -> Route<'a> {
        match path {
            "login" => return Route::Login,
            "role" | "role/" => return Route::Roles,
            _ => {}
        }
        let Some(rest) = path.strip_prefix("role/") else {
            return Route::Unknown;
        };
        let (name, tail) = match rest.split_once('/') {
            None => return Route::Role(rest),
            Some(parts) => parts,
        };
        match tail {
            "role-id" => Route::RoleId(name),
            "secret-id" | "secret-id/" => Route::SecretIds(name),
            "secret-id/lookup" => Route::SecretIdLookup(name),
            "secret-id/destroy" => Route::SecretIdDestroy(name),
            "secret-id-accessor/lookup" => Route::AccessorLookup(name),
            "secret-id-accessor/destroy" => Route::AccessorDestroy(name),
            _ => Route::Unknown,
        }
    }
}

/// `login {role_id, secret_id}`.
async fn login(store: &Store<'_>, data: &Map<String, Value>, now: SystemTime) -> Result<Reply> {
    let role_id = fields::string(data, "role_id")?
        .filter(|text| !text.is_empty())
        .map(RoleId::new)
        .ok_or_else(|| Error::invalid("missing role_id"))?;
    let Some((name, role)) = role::by_role_id(store, &role_id).await? else {
        return Err(Error::invalid("invalid role ID"));
    };
    if role.bind_secret_id {
        let secret = fields::secret(data, "secret_id")?
            .filter(|text| !text.is_empty())
            .map(SecretId::new)
            .ok_or_else(|| Error::invalid("missing secret_id"))?;
        if !secret_id::consume(store, &role, &secret, now).await? {
            return Err(Error::invalid("invalid secret id"));
        }
    }
    let identity = Identity {
        kind: "agent".to_owned(),
        name: name.as_str().to_owned(),
    };
    let metadata = BTreeMap::from([("role_name".to_owned(), name.as_str().to_owned())]);
    let grant = role.token.grant(identity, "approle".to_owned(), metadata);
    Ok(Reply::Login(Box::new(grant)))
}

/// A random UUID (version 4) from the system's secure generator, for role IDs, secret IDs,
/// accessors and role keys.
fn random_uuid() -> Result<String> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::Barrier(coffer_barrier::Error::Random))?;
    Ok(uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        fn check(path: &str, expect: Route<'_>) {
            assert_eq!(Route::parse(path), expect, "{path:?}");
        }
        check("login", Route::Login);
        check("login/x", Route::Unknown);
        check("role", Route::Roles);
        check("role/", Route::Roles);
        check("role/web", Route::Role("web"));
        check("role/web/role-id", Route::RoleId("web"));
        check("role/web/secret-id", Route::SecretIds("web"));
        check("role/web/secret-id/", Route::SecretIds("web"));
        check("role/web/secret-id/lookup", Route::SecretIdLookup("web"));
        check("role/web/secret-id/destroy", Route::SecretIdDestroy("web"));
        check(
            "role/web/secret-id-accessor/lookup",
            Route::AccessorLookup("web"),
        );
        check(
            "role/web/secret-id-accessor/destroy",
            Route::AccessorDestroy("web"),
        );
        check("role/web/policies", Route::Unknown);
        check("role/web/secret-id/other", Route::Unknown);
        check("roles/web", Route::Unknown);
        check("", Route::Unknown);
    }

    #[test]
    fn factory() {
        let mut options = BTreeMap::from([("x".to_owned(), "y".to_owned())]);
        assert_eq!(
            ApproleFactory.normalize("approle", &mut options).ok(),
            Some("approle".to_owned())
        );
        assert_eq!(options.len(), 1);
        assert_eq!(ApproleFactory.kinds(), ["approle"]);
        assert_eq!(ApproleFactory.default_description("approle"), "");
        assert_eq!(ApproleFactory.unauthenticated_paths(), ["login"]);
    }

    #[test]
    fn random_uuids_are_version_4() {
        let id = random_uuid().expect("the system generator works");
        let parsed = uuid::Uuid::parse_str(&id).expect("a UUID");
        assert_eq!(parsed.get_version_num(), 4);
        assert_ne!(id, random_uuid().expect("the system generator works"));
    }
}
