//! AppRole roles: names, the stored [`RoleRecord`], and the `role/<name>` and
//! `role/<name>/role-id` endpoints. A role's role ID is a UUID made at creation unless the
//! caller sets one; role IDs are unique across the mount (guarded by the `role_id/` index in the
//! same transaction as the role).

use std::fmt;

use coffer_barrier::Stamp;
use coffer_core::ttl::Ttl;
use coffer_core::{Error, Reply, Response, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use subtle::ConstantTimeEq;

use super::random_uuid;
use super::secret_id;
use super::storage::{self, Commit, ROLE_FOLDER, Store};
use crate::auth::fields;
use crate::auth::token_params::{TokenParams, TokenParamsUpdate};

/// How many times a write re-reads and retries after losing a race.
pub(crate) const MAX_ATTEMPTS: usize = 16;

/// The longest role name accepted, in bytes.
const MAX_NAME_LEN: usize = 4096;

/// A valid role name, lowercased: ASCII letters, digits and `_`, with `-` and `.` allowed
/// inside (Vault's `\w(([\w-.]+)?\w)?`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct RoleName(String);

impl RoleName {
    /// The role name `raw` names, or an error saying why it cannot be one.
    pub(crate) fn parse(raw: &str) -> Result<RoleName> {
        let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
        let inner = |c: char| word(c) || matches!(c, '-' | '.');
        let (Some(first), Some(last)) = (raw.chars().next(), raw.chars().last()) else {
            return Err(Error::invalid("missing role_name"));
        };
        if raw.len() > MAX_NAME_LEN || !word(first) || !word(last) || !raw.chars().all(inner) {
            return Err(Error::invalid(
                "invalid role_name: use at most 4096 ASCII letters, digits and '_', with '-' and '.' allowed inside",
            ));
        }
        Ok(RoleName(raw.to_ascii_lowercase()))
    }

    /// The name.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// A role ID: the public half of an AppRole login. Not printed all the same.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct RoleId(String);

impl RoleId {
    /// A role ID given by a client.
    pub(crate) fn new(text: String) -> RoleId {
        RoleId(text)
    }

    /// The role ID text.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// Compares in constant time (for equal lengths).
    fn matches(&self, other: &RoleId) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl fmt::Debug for RoleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RoleId(<redacted>)")
    }
}

/// What is stored about a role at `role/<name>`. A persistence type: replies are built from it,
/// never by serializing it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RoleRecord {
    /// Random and fixed at creation: names the folder of the role's secret IDs.
    pub(crate) key: String,
    pub(crate) role_id: RoleId,
    pub(crate) bind_secret_id: bool,
    /// Seconds a new secret ID lives by default; 0 means forever.
    pub(crate) secret_id_ttl: u64,
    /// Logins a new secret ID allows by default; 0 means unlimited.
    pub(crate) secret_id_num_uses: u32,
    pub(crate) token: TokenParams,
}

/// Who owns a role ID, stored at `role_id/<hmac(role ID)>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct RoleIdOwner {
    role: String,
}

/// The role fields a write gave; `None` leaves the stored value (or the default) as it is.
#[derive(Debug, Clone, Default)]
pub(crate) struct RoleUpdate {
    token: TokenParamsUpdate,
    secret_id_ttl: Option<Ttl>,
    secret_id_num_uses: Option<u32>,
    bind_secret_id: Option<bool>,
    role_id: Option<RoleId>,
}

impl RoleUpdate {
    /// The fields of a `role/<name>` write.
    pub(crate) fn parse(data: &Map<String, Value>) -> Result<RoleUpdate> {
        let bound = fields::string_list(data, "secret_id_bound_cidrs")?;
        if bound.is_some_and(|cidrs| !cidrs.is_empty()) {
            return Err(Error::invalid(
                "secret_id_bound_cidrs is not supported: secret IDs are not bound to client addresses",
            ));
        }
        Ok(RoleUpdate {
            token: TokenParamsUpdate::parse(data)?,
            secret_id_ttl: fields::duration(data, "secret_id_ttl")?,
            secret_id_num_uses: fields::count(data, "secret_id_num_uses")?,
            bind_secret_id: fields::boolean(data, "bind_secret_id")?,
            role_id: fields::string(data, "role_id")?
                .filter(|text| !text.is_empty())
                .map(RoleId),
        })
    }

    /// The field of a `role/<name>/role-id` write: a role ID, required.
    pub(crate) fn role_id_only(data: &Map<String, Value>) -> Result<RoleUpdate> {
        let role_id = fields::string(data, "role_id")?
            .filter(|text| !text.is_empty())
            .ok_or_else(|| Error::invalid("missing role_id"))?;
        Ok(RoleUpdate {
            role_id: Some(RoleId(role_id)),
            ..RoleUpdate::default()
        })
    }
}

/// Whether a write may create the role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Creation {
    Allowed,
    /// The role must exist.
    Refused,
}

/// The role `name` and the stamp proving what was read, if it exists.
pub(crate) async fn get(store: &Store<'_>, name: &RoleName) -> Result<Option<(RoleRecord, Stamp)>> {
    store.get(&Store::role_path(name.as_str())).await
}

/// The role a role ID belongs to, if any.
pub(crate) async fn by_role_id(
    store: &Store<'_>,
    role_id: &RoleId,
) -> Result<Option<(RoleName, RoleRecord)>> {
    let index_path = store.role_id_path(role_id.as_str());
    let Some((owner, _)) = store.get::<RoleIdOwner>(&index_path).await? else {
        return Ok(None);
    };
    let name = RoleName::parse(&owner.role).map_err(|_| {
        storage::corrupt(&index_path, "the owner is not a valid role name".to_owned())
    })?;
    let Some((role, _)) = get(store, &name).await? else {
        return Ok(None);
    };
    // The index is only a lookup aid: the role's own record decides.
    Ok(role.role_id.matches(role_id).then_some((name, role)))
}

/// Creates or updates a role (`role/<name>`), or changes its role ID (`role/<name>/role-id`).
pub(crate) async fn write(
    store: &Store<'_>,
    name: &RoleName,
    update: &RoleUpdate,
    creation: Creation,
) -> Result<Reply> {
    let role_path = Store::role_path(name.as_str());
    for _ in 0..MAX_ATTEMPTS {
        let (mut role, stamp) = match get(store, name).await? {
            Some((role, stamp)) => (role, Some(stamp)),
            None if creation == Creation::Allowed => (new_role()?, None),
            None => {
                return Err(Error::invalid(format!(
                    "role {:?} does not exist",
                    name.as_str()
                )));
            }
        };
        let previous_role_id = stamp.is_some().then(|| role.role_id.clone());
        apply(&mut role, update)?;
        let mut ops = vec![
            storage::expect(role_path.clone(), stamp),
            storage::put(role_path.clone(), &role),
        ];
        if previous_role_id.as_ref() != Some(&role.role_id) {
            let index_path = store.role_id_path(role.role_id.as_str());
            let owner = store.get::<RoleIdOwner>(&index_path).await?;
            if owner
                .as_ref()
                .is_some_and(|(owner, _)| owner.role != name.as_str())
            {
                return Err(Error::invalid("role_id already in use"));
            }
            ops.push(storage::expect(
                index_path.clone(),
                owner.map(|(_, stamp)| stamp),
            ));
            ops.push(storage::put(
                index_path,
                &RoleIdOwner {
                    role: name.as_str().to_owned(),
                },
            ));
            if let Some(previous) = previous_role_id {
                ops.push(storage::delete(store.role_id_path(previous.as_str())));
            }
        }
        if store.commit(ops).await? == Commit::Done {
            return Ok(Reply::NoContent);
        }
    }
    Err(Error::Conflict)
}

/// A role with the defaults: a fresh key and role ID, secret IDs required.
fn new_role() -> Result<RoleRecord> {
    Ok(RoleRecord {
        key: random_uuid()?,
        role_id: RoleId(random_uuid()?),
        bind_secret_id: true,
        secret_id_ttl: 0,
        secret_id_num_uses: 0,
        token: TokenParams::default(),
    })
}

/// Applies `update` to `role`, refusing a role nothing guards.
fn apply(role: &mut RoleRecord, update: &RoleUpdate) -> Result<()> {
    role.token.apply(&update.token)?;
    if let Some(ttl) = update.secret_id_ttl {
        role.secret_id_ttl = ttl.as_secs();
    }
    if let Some(uses) = update.secret_id_num_uses {
        role.secret_id_num_uses = uses;
    }
    if let Some(bind) = update.bind_secret_id {
        role.bind_secret_id = bind;
    }
    if let Some(role_id) = &update.role_id {
        role.role_id = role_id.clone();
    }
    // Vault also accepts a role bound only to client addresses; Coffer has no address binding.
    if !role.bind_secret_id {
        return Err(Error::invalid(
            "at least one constraint should be enabled on the role",
        ));
    }
    Ok(())
}

/// `GET role/<name>`.
pub(crate) async fn read(store: &Store<'_>, name: &RoleName) -> Result<Reply> {
    let Some((role, _)) = get(store, name).await? else {
        return Ok(Reply::NotFound);
    };
    let mut data = Map::new();
    let fields = [
        ("bind_secret_id", json!(role.bind_secret_id)),
        ("local_secret_ids", json!(false)),
        ("secret_id_bound_cidrs", json!([])),
        ("secret_id_num_uses", json!(role.secret_id_num_uses)),
        ("secret_id_ttl", json!(role.secret_id_ttl)),
    ];
    for (field, value) in fields {
        data.insert(field.to_owned(), value);
    }
    role.token.write_fields(&mut data);
    Ok(Reply::ok(Response::with_data(data)))
}

/// `GET role/<name>/role-id`.
pub(crate) async fn read_role_id(store: &Store<'_>, name: &RoleName) -> Result<Reply> {
    let Some((role, _)) = get(store, name).await? else {
        return Ok(Reply::NotFound);
    };
    let mut data = Map::new();
    data.insert("role_id".to_owned(), json!(role.role_id.as_str()));
    Ok(Reply::ok(Response::with_data(data)))
}

/// `LIST role`.
pub(crate) async fn list(store: &Store<'_>) -> Result<Reply> {
    let names = store.list(ROLE_FOLDER).await?;
    if names.is_empty() {
        return Ok(Reply::NotFound);
    }
    let mut data = Map::new();
    data.insert("keys".to_owned(), json!(names));
    Ok(Reply::ok(Response::with_data(data)))
}

/// `DELETE role/<name>`: the role and its role ID go in one transaction, then its secret IDs.
/// A secret ID made concurrently either committed before (and is swept) or fails its guard on
/// the role; a sweep cut short leaves only records under a role key nothing refers to.
pub(crate) async fn delete(store: &Store<'_>, name: &RoleName) -> Result<Reply> {
    let role_path = Store::role_path(name.as_str());
    for _ in 0..MAX_ATTEMPTS {
        let Some((role, stamp)) = get(store, name).await? else {
            return Ok(Reply::NoContent);
        };
        let ops = vec![
            storage::expect(role_path.clone(), Some(stamp)),
            storage::delete(role_path.clone()),
            storage::delete(store.role_id_path(role.role_id.as_str())),
        ];
        if store.commit(ops).await? == Commit::Done {
            secret_id::delete_all(store, &role.key).await?;
            return Ok(Reply::NoContent);
        }
    }
    Err(Error::Conflict)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names() {
        fn check(raw: &str, expect: std::result::Result<&str, &str>) {
            let got = RoleName::parse(raw);
            let got = got
                .as_ref()
                .map(RoleName::as_str)
                .map_err(|e| e.to_string());
            assert_eq!(got, expect.map_err(str::to_owned), "{raw:?}");
        }
        let invalid = Err(
            "invalid role_name: use at most 4096 ASCII letters, digits and '_', with '-' and '.' allowed inside",
        );
        check("web", Ok("web"));
        check("Web-App.v2", Ok("web-app.v2"));
        check("_", Ok("_"));
        check("", Err("missing role_name"));
        check("-web", invalid);
        check("web.", invalid);
        check("a/b", invalid);
        check("a@b", invalid);
        check("a b", invalid);
        check(&"r".repeat(4097), invalid);
    }

    #[test]
    fn role_ids_compare_and_never_print() {
        let a = RoleId::new("abc".to_owned());
        assert!(a.matches(&RoleId::new("abc".to_owned())));
        assert!(!a.matches(&RoleId::new("abd".to_owned())));
        assert!(!a.matches(&RoleId::new("ab".to_owned())));
        assert_eq!(format!("{a:?}"), "RoleId(<redacted>)");
    }

    #[test]
    fn a_role_without_constraints_is_refused() {
        let mut role = new_role().expect("random IDs are available");
        let update = RoleUpdate {
            bind_secret_id: Some(false),
            ..RoleUpdate::default()
        };
        assert_eq!(
            apply(&mut role, &update).map_err(|e| e.to_string()),
            Err("at least one constraint should be enabled on the role".to_owned())
        );
    }

    #[test]
    fn new_roles_get_distinct_uuids() {
        let one = new_role().expect("random IDs are available");
        let two = new_role().expect("random IDs are available");
        assert_ne!(one.key, two.key);
        assert_ne!(one.role_id, two.role_id);
        assert_ne!(one.key, one.role_id.as_str());
        assert_eq!(one.role_id.as_str().len(), 36, "a hyphenated UUID");
    }
}
