//! Userpass: the username-and-password auth method, wire-compatible with Vault's. Mounted under
//! `auth/<path>/`; the core sends it requests relative to the mount and turns a successful login
//! (`Reply::Login`) into a token.
//!
//! Paths below the mount: `users` (LIST), `users/<name>` (read, write, delete),
//! `users/<name>/password` and `users/<name>/policies` (write), and `login/<name>` (write,
//! served without a token). Usernames are lowercased.
//!
//! Passwords are stored only as argon2id hashes (`password`). A login of an unknown user and a
//! wrong password get the same 400 `invalid username or password` after the same amount of
//! hashing. Repeated failures lock a username for a while (`lockout`, mount options
//! `lockout_threshold`, `lockout_duration`, `lockout_counter_reset`). Records: `user`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use coffer_barrier::View;
use coffer_core::engine::{Engine, EngineFactory, EngineRequest, Identity, MountInfo};
use coffer_core::{Error, Operation, Reply, Response, Result};
use serde_json::{Map, Value, json};

use self::lockout::{Lockout, LockoutPolicy, MAX_TRACKED_USERS};
use self::password::{Hasher, Password};
use self::user::{Commit, UserRecord, Username, Users};
use crate::auth::fields;
use crate::auth::token_params::{TokenParams, TokenParamsUpdate};

mod lockout;
mod password;
mod user;

/// How many password hashes one mount runs at a time.
const HASH_CONCURRENCY: usize = 2;

/// How many times a write re-reads and retries after losing a race.
const MAX_ATTEMPTS: usize = 16;

/// The one answer to a failed login, whatever failed.
const INVALID_CREDENTIALS: &str = "invalid username or password";

/// Builds userpass engines (type `userpass`).
#[derive(Debug, Clone, Copy, Default)]
pub struct UserpassFactory;

/// The userpass auth method of one mount: users live in storage; the engine holds the hashing
/// limiter and the in-memory failed-login counts.
#[derive(Debug)]
pub struct UserpassEngine {
    hasher: Hasher,
    lockout: Lockout,
}

impl UserpassEngine {
    /// The engine of `mount`; refuses lockout options that do not parse.
    pub fn new(mount: &MountInfo) -> Result<UserpassEngine> {
        let policy = LockoutPolicy::from_options(&mount.options)?;
        Ok(UserpassEngine {
            hasher: Hasher::new(HASH_CONCURRENCY),
            lockout: Lockout::new(policy, MAX_TRACKED_USERS),
        })
    }

    /// How many password hashes (creations and verifications) this engine has run: a cost
    /// metric, and how tests see that locked-out logins are refused without hashing.
    pub fn password_hash_count(&self) -> u64 {
        self.hasher.runs()
    }

    async fn login(
        &self,
        storage: &View,
        raw_name: &str,
        data: &Map<String, Value>,
        now: SystemTime,
    ) -> Result<Reply> {
        let password = fields::secret(data, "password")?
            .filter(|password| !password.is_empty())
            .map(Password::new)
            .ok_or_else(|| Error::invalid("missing password"))?;
        let Ok(name) = Username::parse(raw_name) else {
            // No such user can exist; answer as for any unknown user, after the same work.
            self.hasher.verify(password, None, raw_name).await?;
            return Err(Error::invalid(INVALID_CREDENTIALS));
        };
        if self.refuse_locked(&name, now) {
            return Err(Error::invalid(INVALID_CREDENTIALS));
        }
        let user = Users::new(storage).get(&name).await?.map(|(user, _)| user);
        let stored = user.as_ref().map(|user| user.password_hash.clone());
        let matched = self
            .hasher
            .verify(password, stored, &Users::path(&name))
            .await?;
        match user {
            Some(user) if matched => {
                // Failures that raced this login may have locked the user meanwhile.
                if self.refuse_locked(&name, now) {
                    return Err(Error::invalid(INVALID_CREDENTIALS));
                }
                self.lockout.record_success(name.as_str());
                Ok(grant(&name, &user))
            }
            _ => {
                if self.lockout.record_failure(name.as_str(), now) {
                    tracing::warn!(
                        username = name.as_str(),
                        failures = self.lockout.threshold(),
                        "userpass user locked out after repeated failed logins"
                    );
                }
                Err(Error::invalid(INVALID_CREDENTIALS))
            }
        }
    }

    /// Whether `name` is locked out at `now` (logged when it is).
    fn refuse_locked(&self, name: &Username, now: SystemTime) -> bool {
        let locked = self.lockout.is_locked(name.as_str(), now);
        if locked {
            tracing::warn!(
                username = name.as_str(),
                "userpass login refused: the user is locked out"
            );
        }
        locked
    }

    /// Creates or updates a user: a new user needs a password; an update without one keeps
    /// the stored hash.
    async fn write_user(
        &self,
        storage: &View,
        name: &Username,
        data: &Map<String, Value>,
    ) -> Result<Reply> {
        let update = TokenParamsUpdate::parse(data)?;
        let password = fields::secret(data, "password")?.filter(|password| !password.is_empty());
        let users = Users::new(storage);
        if password.is_none() && !users.contains(name).await? {
            return Err(Error::invalid("missing password"));
        }
        let new_hash = match password {
            Some(password) => Some(self.hasher.hash(Password::new(password)).await?),
            None => None,
        };
        for _ in 0..MAX_ATTEMPTS {
            let (mut record, read) = match (users.get(name).await?, &new_hash) {
                (Some((record, stamp)), _) => (record, Some(stamp)),
                (None, Some(hash)) => (
                    UserRecord {
                        password_hash: hash.clone(),
                        token: TokenParams::default(),
                    },
                    None,
                ),
                // Deleted since it was checked.
                (None, None) => return Err(Error::invalid("missing password")),
            };
            if let Some(hash) = &new_hash {
                record.password_hash = hash.clone();
            }
            record.token.apply(&update)?;
            if users.put(name, &record, read).await? == Commit::Done {
                return Ok(Reply::NoContent);
            }
        }
        Err(Error::Conflict)
    }

    /// Changes an existing user's password.
    async fn write_password(
        &self,
        storage: &View,
        name: &Username,
        data: &Map<String, Value>,
    ) -> Result<Reply> {
        let password = fields::secret(data, "password")?
            .filter(|password| !password.is_empty())
            .ok_or_else(|| Error::invalid("missing password"))?;
        let users = Users::new(storage);
        if !users.contains(name).await? {
            return Err(Error::invalid("username does not exist"));
        }
        let hash = self.hasher.hash(Password::new(password)).await?;
        update_user(&users, name, |record| {
            record.password_hash = hash.clone();
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl Engine for UserpassEngine {
    async fn handle(&self, request: EngineRequest<'_>, storage: &View) -> Result<Reply> {
        let data = request.data;
        let operation = request.operation;
        let write = matches!(operation, Operation::Create | Operation::Update);
        match Route::parse(request.path) {
            Route::Users if operation == Operation::List => list_users(storage).await,
            Route::User(raw) => {
                let name = username(raw)?;
                match operation {
                    Operation::Read => read_user(storage, &name).await,
                    Operation::Create | Operation::Update => {
                        self.write_user(storage, &name, data).await
                    }
                    Operation::Delete => {
                        Users::new(storage).delete(&name).await?;
                        Ok(Reply::NoContent)
                    }
                    _ => Err(Error::UnsupportedOperation),
                }
            }
            Route::Password(raw) if write => {
                self.write_password(storage, &username(raw)?, data).await
            }
            Route::Policies(raw) if write => {
                let update = TokenParamsUpdate::parse_policies(data)?;
                let users = Users::new(storage);
                update_user(&users, &username(raw)?, |record| {
                    record.token.apply(&update)
                })
                .await
            }
            Route::Login(raw) if write => self.login(storage, raw, data, request.now).await,
            Route::Unknown => Err(Error::UnsupportedPath),
            _ => Err(Error::UnsupportedOperation),
        }
    }

    async fn exists(&self, request: EngineRequest<'_>, storage: &View) -> Result<Option<bool>> {
        let Route::User(raw) = Route::parse(request.path) else {
            return Ok(None);
        };
        match Username::parse(raw) {
            Ok(name) => Users::new(storage).contains(&name).await.map(Some),
            Err(_) => Ok(Some(false)),
        }
    }

    async fn tuned(&self, _previous: &MountInfo, _storage: &View) -> Result<()> {
        // No option changes what is stored; the rebuilt engine reads the new lockout options.
        Ok(())
    }

    async fn token_revoked(&self, _token_scope: &str, _storage: &View) -> Result<()> {
        // Nothing here belongs to a token.
        Ok(())
    }
}

impl EngineFactory for UserpassFactory {
    fn kinds(&self) -> &'static [&'static str] {
        &["userpass"]
    }

    fn normalize(&self, kind: &str, options: &mut BTreeMap<String, String>) -> Result<String> {
        // Options are kept as given; the lockout ones must parse.
        LockoutPolicy::from_options(options)?;
        Ok(kind.to_owned())
    }

    fn default_description(&self, _kind: &str) -> &'static str {
        ""
    }

    fn build(&self, mount: &MountInfo) -> Result<Arc<dyn Engine>> {
        Ok(Arc::new(UserpassEngine::new(mount)?))
    }

    fn unauthenticated_paths(&self) -> &'static [&'static str] {
        &["login/*"]
    }
}

/// What a path below the mount names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route<'a> {
    /// `users` or `users/`.
    Users,
    /// `users/<name>`.
    User(&'a str),
    /// `users/<name>/password`.
    Password(&'a str),
    /// `users/<name>/policies`.
    Policies(&'a str),
    /// `login/<name>`.
    Login(&'a str),
    Unknown,
}

impl<'a> Route<'a> {
    fn parse(path: &'a str) -> Route<'a> {
        if path == "users" || path == "users/" {
            return Route::Users;
        }
        if let Some(rest) = path.strip_prefix("users/") {
            return match rest.split_once('/') {
                None => Route::User(rest),
                Some((name, "password")) => Route::Password(name),
                Some((name, "policies")) => Route::Policies(name),
                Some(_) => Route::Unknown,
            };
        }
        match path.strip_prefix("login/") {
            Some(name) if !name.is_empty() && !name.contains('/') => Route::Login(name),
            _ => Route::Unknown,
        }
    }
}

/// The username in a management path; a bad one is refused with the reason.
fn username(raw: &str) -> Result<Username> {
    Username::parse(raw).map_err(|reason| Error::invalid(format!("invalid username: {reason}")))
}

async fn read_user(storage: &View, name: &Username) -> Result<Reply> {
    let Some((record, _)) = Users::new(storage).get(name).await? else {
        return Ok(Reply::NotFound);
    };
    let mut data = Map::new();
    record.token.write_fields(&mut data);
    Ok(Reply::ok(Response::with_data(data)))
}

async fn list_users(storage: &View) -> Result<Reply> {
    let names = Users::new(storage).list().await?;
    if names.is_empty() {
        return Ok(Reply::NotFound);
    }
    let mut data = Map::new();
    data.insert("keys".to_owned(), json!(names));
    Ok(Reply::ok(Response::with_data(data)))
}

/// Changes an existing user with `change`, re-reading and retrying after a concurrent write.
async fn update_user(
    users: &Users<'_>,
    name: &Username,
    change: impl Fn(&mut UserRecord) -> Result<()>,
) -> Result<Reply> {
    for _ in 0..MAX_ATTEMPTS {
        let Some((mut record, stamp)) = users.get(name).await? else {
            return Err(Error::invalid("username does not exist"));
        };
        change(&mut record)?;
        if users.put(name, &record, Some(stamp)).await? == Commit::Done {
            return Ok(Reply::NoContent);
        }
    }
    Err(Error::Conflict)
}

/// The login grant for `user`.
fn grant(name: &Username, user: &UserRecord) -> Reply {
    let identity = Identity {
        kind: "user".to_owned(),
        name: name.as_str().to_owned(),
    };
    let metadata = BTreeMap::from([("username".to_owned(), name.as_str().to_owned())]);
    let grant = user
        .token
        .grant(identity, format!("userpass-{}", name.as_str()), metadata);
    Reply::Login(Box::new(grant))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        fn check(path: &str, expect: Route<'_>) {
            assert_eq!(Route::parse(path), expect, "{path:?}");
        }
        check("users", Route::Users);
        check("users/", Route::Users);
        check("users/alice", Route::User("alice"));
        check("users/alice/password", Route::Password("alice"));
        check("users/alice/policies", Route::Policies("alice"));
        check("users/alice/other", Route::Unknown);
        check("users/alice/password/x", Route::Unknown);
        check("login/alice", Route::Login("alice"));
        check("login/", Route::Unknown);
        check("login", Route::Unknown);
        check("login/a/b", Route::Unknown);
        check("", Route::Unknown);
        check("user/alice", Route::Unknown);
    }

    #[test]
    fn factory() {
        let mut options = BTreeMap::from([("lockout_threshold".to_owned(), "3".to_owned())]);
        assert_eq!(
            UserpassFactory.normalize("userpass", &mut options).ok(),
            Some("userpass".to_owned())
        );
        assert_eq!(options.len(), 1, "options are kept");
        let mut bad = BTreeMap::from([("lockout_threshold".to_owned(), "many".to_owned())]);
        assert!(UserpassFactory.normalize("userpass", &mut bad).is_err());
        assert_eq!(UserpassFactory.kinds(), ["userpass"]);
        assert_eq!(UserpassFactory.default_description("userpass"), "");
        assert_eq!(UserpassFactory.unauthenticated_paths(), ["login/*"]);
    }
}
