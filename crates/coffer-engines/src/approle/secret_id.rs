//! AppRole secret IDs: making them (`role/<name>/secret-id`), listing their accessors, looking
//! them up and destroying them by value or by accessor, and spending one at login.
//!
//! A secret ID is a random UUID shown once, when it is made; storage keeps only its salted HMAC
//! (as the path) and a record of its accessor, lifetime, remaining uses and metadata. A login
//! spends a use in a transaction guarded by the record's stamp, so concurrent logins cannot
//! spend the same use twice; the last use deletes the secret ID. An expired secret ID is
//! refused and deleted when a login presents it.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use coffer_core::{Error, Reply, Response, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use super::random_uuid;
use super::role::{self, MAX_ATTEMPTS, RoleName, RoleRecord};
use super::storage::{self, Commit, Store};
use crate::auth::fields;

/// How many secret IDs one transaction deletes when a role goes.
const DELETE_PAGE: usize = 128;

/// Vault's text for a time that is not set (Go's zero `time.Time`).
const NO_TIME: &str = "0001-01-01T00:00:00Z";

/// A secret ID as a client gives it. Never printed.
pub(crate) struct SecretId(Zeroizing<String>);

impl SecretId {
    /// Wraps a secret ID read from a request.
    pub(crate) fn new(text: Zeroizing<String>) -> SecretId {
        SecretId(text)
    }
}

impl fmt::Debug for SecretId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretId(<redacted>)")
    }
}

/// An instant as stored: seconds and nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
struct Instant {
    secs: u64,
    nanos: u32,
}

impl Instant {
    fn from_system(time: SystemTime) -> Instant {
        let since = time.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        Instant {
            secs: since.as_secs(),
            nanos: since.subsec_nanos(),
        }
    }

    fn plus_secs(self, secs: u64) -> Instant {
        Instant {
            secs: self.secs.saturating_add(secs),
            nanos: self.nanos,
        }
    }

    /// RFC 3339 in UTC as Go's `RFC3339Nano` writes it (no trailing zeros in the fraction, no
    /// fraction for whole seconds); times RFC 3339 cannot spell are clamped to its last second.
    fn rfc3339(self) -> String {
        const MAX_SECS: u64 = 253_402_300_799;
        let time = UNIX_EPOCH + Duration::new(self.secs.min(MAX_SECS), self.nanos.min(999_999_999));
        let text = humantime::format_rfc3339_nanos(time).to_string();
        // `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`: trim the fraction's zeros, then a bare dot.
        let body = text.strip_suffix('Z').unwrap_or(&text);
        let body = body.trim_end_matches('0').trim_end_matches('.');
        format!("{body}Z")
    }
}

/// What is stored about one secret ID at `secret_id/<role key>/<hmac>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SecretIdRecord {
    accessor: String,
    created: Instant,
    last_updated: Instant,
    /// When it stops working; `None` for never.
    expires: Option<Instant>,
    /// The lifetime it was made with, in seconds (0: forever).
    ttl: u64,
    /// Logins left; 0 means unlimited.
    uses_left: u32,
    metadata: BTreeMap<String, String>,
}

impl SecretIdRecord {
    fn is_expired(&self, now: Instant) -> bool {
        self.expires.is_some_and(|at| at <= now)
    }

    fn lookup_data(&self) -> Map<String, Value> {
        let fields = [
            ("cidr_list", json!([])),
            ("creation_time", json!(self.created.rfc3339())),
            (
                "expiration_time",
                json!(
                    self.expires
                        .map_or_else(|| NO_TIME.to_owned(), Instant::rfc3339)
                ),
            ),
            ("last_updated_time", json!(self.last_updated.rfc3339())),
            ("metadata", json!(self.metadata)),
            ("secret_id_accessor", json!(self.accessor)),
            ("secret_id_num_uses", json!(self.uses_left)),
            ("secret_id_ttl", json!(self.ttl)),
            ("token_bound_cidrs", json!([])),
        ];
        fields
            .into_iter()
            .map(|(field, value)| (field.to_owned(), value))
            .collect()
    }
}

/// Where an accessor's secret ID is, stored at `accessor/<hmac(accessor)>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct AccessorRecord {
    role_key: String,
    secret_id_hmac: String,
}

/// `POST role/<name>/secret-id {metadata, ttl, num_uses}`: a new secret ID, shown once.
pub(crate) async fn generate(
    store: &Store<'_>,
    name: &RoleName,
    data: &Map<String, Value>,
    now: SystemTime,
) -> Result<Reply> {
    let metadata = fields::string_map(data, "metadata")?.unwrap_or_default();
    let ttl = fields::duration(data, "ttl")?.map(|ttl| ttl.as_secs());
    let num_uses = fields::count(data, "num_uses")?;
    let secret_id = Zeroizing::new(random_uuid()?);
    let accessor = random_uuid()?;
    let secret_id_hmac = store.secret_id_hmac(&secret_id);
    let accessor_path = store.accessor_path(&accessor);
    let now = Instant::from_system(now);
    for _ in 0..MAX_ATTEMPTS {
        let Some((role, role_stamp)) = role::get(store, name).await? else {
            return Err(Error::invalid(format!(
                "role {:?} does not exist",
                name.as_str()
            )));
        };
        let ttl = within_role_limit(ttl, role.secret_id_ttl)
            .ok_or_else(|| Error::invalid("ttl cannot be longer than the role's secret_id_ttl"))?;
        let uses = within_role_limit(num_uses.map(u64::from), u64::from(role.secret_id_num_uses))
            .and_then(|uses| u32::try_from(uses).ok())
            .ok_or_else(|| {
                Error::invalid("num_uses cannot be higher than the role's secret_id_num_uses")
            })?;
        let record = SecretIdRecord {
            accessor: accessor.clone(),
            created: now,
            last_updated: now,
            expires: (ttl > 0).then(|| now.plus_secs(ttl)),
            ttl,
            uses_left: uses,
            metadata: metadata.clone(),
        };
        let secret_path = Store::secret_id_path(&role.key, &secret_id_hmac);
        let ops = vec![
            // The role must not change (be deleted) under the new secret ID.
            storage::expect(Store::role_path(name.as_str()), Some(role_stamp)),
            storage::expect(secret_path.clone(), None),
            storage::put(secret_path, &record),
            storage::expect(accessor_path.clone(), None),
            storage::put(
                accessor_path.clone(),
                &AccessorRecord {
                    role_key: role.key.clone(),
                    secret_id_hmac: secret_id_hmac.clone(),
                },
            ),
        ];
        if store.commit(ops).await? == Commit::Done {
            let mut data = Map::new();
            data.insert("secret_id".to_owned(), json!(secret_id.as_str()));
            data.insert("secret_id_accessor".to_owned(), json!(accessor));
            data.insert("secret_id_ttl".to_owned(), json!(ttl));
            data.insert("secret_id_num_uses".to_owned(), json!(uses));
            return Ok(Reply::ok(Response::with_data(data)));
        }
    }
    Err(Error::Conflict)
}

/// The value a secret ID gets: the requested one, or the role's when none (or 0) is requested;
/// `None` when the request exceeds a limit the role sets (non-zero).
fn within_role_limit(requested: Option<u64>, role_limit: u64) -> Option<u64> {
    match requested {
        None | Some(0) => Some(role_limit),
        Some(value) if role_limit > 0 && value > role_limit => None,
        Some(value) => Some(value),
    }
}

/// `LIST role/<name>/secret-id`: the accessors of the role's live secret IDs.
pub(crate) async fn list(store: &Store<'_>, name: &RoleName, now: SystemTime) -> Result<Reply> {
    let Some((role, _)) = role::get(store, name).await? else {
        return Ok(Reply::NotFound);
    };
    let now = Instant::from_system(now);
    let folder = Store::secret_id_folder(&role.key);
    let mut accessors = Vec::new();
    for hmac in store.list(&folder).await? {
        let path = Store::secret_id_path(&role.key, &hmac);
        if let Some((record, _)) = store.get::<SecretIdRecord>(&path).await?
            && !record.is_expired(now)
        {
            accessors.push(record.accessor);
        }
    }
    if accessors.is_empty() {
        return Ok(Reply::NotFound);
    }
    accessors.sort_unstable();
    let mut data = Map::new();
    data.insert("keys".to_owned(), json!(accessors));
    Ok(Reply::ok(Response::with_data(data)))
}

/// How a request names one secret ID.
#[derive(Debug)]
pub(crate) enum Selector {
    /// By value (`secret_id`).
    Value(SecretId),
    /// By accessor (`secret_id_accessor`).
    Accessor(String),
}

impl Selector {
    /// The `secret_id` field.
    pub(crate) fn value(data: &Map<String, Value>) -> Result<Selector> {
        fields::secret(data, "secret_id")?
            .filter(|text| !text.is_empty())
            .map(|text| Selector::Value(SecretId::new(text)))
            .ok_or_else(|| Error::invalid("missing secret_id"))
    }

    /// The `secret_id_accessor` field.
    pub(crate) fn accessor(data: &Map<String, Value>) -> Result<Selector> {
        fields::string(data, "secret_id_accessor")?
            .filter(|text| !text.is_empty())
            .map(Selector::Accessor)
            .ok_or_else(|| Error::invalid("missing secret_id_accessor"))
    }
}

/// The storage path of the secret ID `selector` names among `role`'s, if it can be found.
async fn locate(
    store: &Store<'_>,
    role: &RoleRecord,
    selector: &Selector,
) -> Result<Option<String>> {
    match selector {
        Selector::Value(secret_id) => Ok(Some(Store::secret_id_path(
            &role.key,
            &store.secret_id_hmac(&secret_id.0),
        ))),
        Selector::Accessor(accessor) => {
            let path = store.accessor_path(accessor);
            let Some((record, _)) = store.get::<AccessorRecord>(&path).await? else {
                return Ok(None);
            };
            // An accessor of another role's secret ID is not found through this role.
            Ok((record.role_key == role.key)
                .then(|| Store::secret_id_path(&role.key, &record.secret_id_hmac)))
        }
    }
}

/// `role/<name>/secret-id/lookup` and `role/<name>/secret-id-accessor/lookup`: the secret ID's
/// properties, never its value; 404 when it does not exist or has expired.
pub(crate) async fn lookup(
    store: &Store<'_>,
    name: &RoleName,
    selector: &Selector,
    now: SystemTime,
) -> Result<Reply> {
    let Some((role, _)) = role::get(store, name).await? else {
        return Ok(Reply::NotFound);
    };
    let Some(path) = locate(store, &role, selector).await? else {
        return Ok(Reply::NotFound);
    };
    match store.get::<SecretIdRecord>(&path).await? {
        Some((record, _)) if !record.is_expired(Instant::from_system(now)) => {
            Ok(Reply::ok(Response::with_data(record.lookup_data())))
        }
        _ => Ok(Reply::NotFound),
    }
}

/// `role/<name>/secret-id/destroy` and `role/<name>/secret-id-accessor/destroy`: deletes the
/// secret ID and its accessor; nothing to delete is fine.
pub(crate) async fn destroy(
    store: &Store<'_>,
    name: &RoleName,
    selector: &Selector,
) -> Result<Reply> {
    let Some((role, _)) = role::get(store, name).await? else {
        return Ok(Reply::NoContent);
    };
    let Some(path) = locate(store, &role, selector).await? else {
        return Ok(Reply::NoContent);
    };
    for _ in 0..MAX_ATTEMPTS {
        let Some((record, stamp)) = store.get::<SecretIdRecord>(&path).await? else {
            return Ok(Reply::NoContent);
        };
        let ops = vec![
            storage::expect(path.clone(), Some(stamp)),
            storage::delete(path.clone()),
            storage::delete(store.accessor_path(&record.accessor)),
        ];
        if store.commit(ops).await? == Commit::Done {
            return Ok(Reply::NoContent);
        }
    }
    Err(Error::Conflict)
}

/// Spends one use of `secret_id` of `role` at `now`: true when it was valid (and now has one
/// use less, or is gone after its last), false when it does not exist, has expired (it is
/// deleted then) or has no use left.
pub(crate) async fn consume(
    store: &Store<'_>,
    role: &RoleRecord,
    secret_id: &SecretId,
    now: SystemTime,
) -> Result<bool> {
    let path = Store::secret_id_path(&role.key, &store.secret_id_hmac(&secret_id.0));
    let now = Instant::from_system(now);
    for _ in 0..MAX_ATTEMPTS {
        let Some((mut record, stamp)) = store.get::<SecretIdRecord>(&path).await? else {
            return Ok(false);
        };
        let remove = vec![
            storage::expect(path.clone(), Some(stamp.clone())),
            storage::delete(path.clone()),
            storage::delete(store.accessor_path(&record.accessor)),
        ];
        if record.is_expired(now) {
            // Whoever removes it, it is gone: a lost race changes nothing.
            store.commit(remove).await?;
            return Ok(false);
        }
        let ops = match record.uses_left {
            0 => return Ok(true),
            1 => remove,
            left => {
                record.uses_left = left - 1;
                record.last_updated = now;
                vec![
                    storage::expect(path.clone(), Some(stamp)),
                    storage::put(path.clone(), &record),
                ]
            }
        };
        if store.commit(ops).await? == Commit::Done {
            return Ok(true);
        }
    }
    Err(Error::Conflict)
}

/// Deletes every secret ID of the role keyed `role_key`, with their accessors, a page per
/// transaction.
pub(crate) async fn delete_all(store: &Store<'_>, role_key: &str) -> Result<()> {
    let folder = Store::secret_id_folder(role_key);
    let hmacs = store.list(&folder).await?;
    for page in hmacs.chunks(DELETE_PAGE) {
        let mut ops = Vec::with_capacity(page.len() * 2);
        for hmac in page {
            let path = Store::secret_id_path(role_key, hmac);
            if let Some((record, _)) = store.get::<SecretIdRecord>(&path).await? {
                ops.push(storage::delete(store.accessor_path(&record.accessor)));
            }
            ops.push(storage::delete(path));
        }
        // Deletions only: nothing to guard, and a concurrent removal is fine.
        store.commit(ops).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_limits() {
        fn check(requested: Option<u64>, role_limit: u64, expect: Option<u64>) {
            assert_eq!(
                within_role_limit(requested, role_limit),
                expect,
                "{requested:?} within {role_limit}"
            );
        }
        check(None, 0, Some(0));
        check(None, 60, Some(60));
        check(Some(0), 60, Some(60));
        check(Some(30), 60, Some(30));
        check(Some(60), 60, Some(60));
        check(Some(61), 60, None);
        check(Some(1_000), 0, Some(1_000));
    }

    #[test]
    fn instants() {
        let at = Instant::from_system(UNIX_EPOCH + Duration::new(1_700_000_000, 5));
        assert_eq!(at.rfc3339(), "2023-11-14T22:13:20.000000005Z");
        assert_eq!(at.plus_secs(60).rfc3339(), "2023-11-14T22:14:20.000000005Z");
        let whole = Instant::from_system(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        assert_eq!(whole.rfc3339(), "2023-11-14T22:13:20Z");
        let tenths = Instant::from_system(UNIX_EPOCH + Duration::new(1_700_000_000, 500_000_000));
        assert_eq!(tenths.rfc3339(), "2023-11-14T22:13:20.5Z");
        let tens = Instant::from_system(UNIX_EPOCH + Duration::new(1_700_000_010, 0));
        assert_eq!(
            tens.rfc3339(),
            "2023-11-14T22:13:30Z",
            "zeros of the seconds stay"
        );
        assert_eq!(
            Instant {
                secs: u64::MAX,
                nanos: 0
            }
            .rfc3339(),
            "9999-12-31T23:59:59Z"
        );
        assert_eq!(
            Instant::from_system(UNIX_EPOCH - Duration::from_secs(5)).secs,
            0
        );
    }

    #[test]
    fn expiry() {
        let record = |expires: Option<u64>| SecretIdRecord {
            accessor: "a".to_owned(),
            created: Instant { secs: 0, nanos: 0 },
            last_updated: Instant { secs: 0, nanos: 0 },
            expires: expires.map(|secs| Instant { secs, nanos: 0 }),
            ttl: 0,
            uses_left: 0,
            metadata: BTreeMap::new(),
        };
        let now = Instant {
            secs: 100,
            nanos: 0,
        };
        assert!(!record(None).is_expired(now));
        assert!(!record(Some(101)).is_expired(now));
        assert!(record(Some(100)).is_expired(now));
        assert!(record(Some(99)).is_expired(now));
    }

    #[test]
    fn secret_ids_never_print() {
        let secret = SecretId::new(Zeroizing::new("s3cr3t".to_owned()));
        assert_eq!(format!("{secret:?}"), "SecretId(<redacted>)");
        assert_eq!(
            format!("{:?}", Selector::Value(secret)),
            "Value(SecretId(<redacted>))"
        );
    }
}
