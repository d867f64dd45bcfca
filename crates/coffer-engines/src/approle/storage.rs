//! Where the approle engine keeps things in its storage view, the codec of its records (a
//! version byte, then JSON) and the guarded transactions that change them.
//!
//! Storage paths are visible to the untrusted storage, so none of them holds a credential.
//! Layout (every value is encrypted by the barrier):
//!
//! - `salt`: the mount's random HMAC-SHA256 key, created on first use;
//! - `role/<role name>`: a role; role names are visible, as in Vault;
//! - `role_id/<hmac(role ID)>`: the name of the role a role ID belongs to;
//! - `secret_id/<role key>/<hmac(secret ID)>`: one secret ID of a role. The role key is random
//!   and fixed when the role is created, so a role deleted and created again under the same
//!   name never sees the old role's secret IDs;
//! - `accessor/<hmac(accessor)>`: which secret ID an accessor stands for.
//!
//! HMACs are domain-separated by purpose, so a value used as a role ID and as a secret ID
//! gives two unrelated paths.

use std::fmt;

use coffer_barrier::{BarrierOp, Stamp, View};
use coffer_core::{Error, Result};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use serde::Serialize;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use crate::barrier_error;

/// The version byte in front of every record this engine writes.
const RECORD_VERSION: u8 = 1;

/// Where the salt lives.
const SALT_PATH: &str = "salt";

/// Salt length in bytes.
const SALT_LEN: usize = 32;

/// The folder of roles.
pub(crate) const ROLE_FOLDER: &str = "role/";

/// The mount's HMAC key. Never printed.
pub(crate) struct Salt(Zeroizing<Vec<u8>>);

impl fmt::Debug for Salt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Salt(<redacted>)")
    }
}

impl Salt {
    /// The salt of the view's mount, created (once, even with racing nodes) on first use.
    pub(crate) async fn load_or_create(view: &View) -> Result<Salt> {
        if let Some(salt) = Salt::load(view).await? {
            return Ok(salt);
        }
        let mut fresh = Zeroizing::new(vec![0u8; SALT_LEN]);
        SystemRandom::new()
            .fill(&mut fresh)
            .map_err(|_| Error::Barrier(coffer_barrier::Error::Random))?;
        let created = view
            .transaction(vec![
                BarrierOp::Expect {
                    path: SALT_PATH.to_owned(),
                    stamp: None,
                },
                BarrierOp::Put {
                    path: SALT_PATH.to_owned(),
                    value: encode_bytes(&fresh),
                },
            ])
            .await;
        match created {
            Ok(()) => Ok(Salt(fresh)),
            // Another node created it first: use theirs.
            Err(coffer_barrier::Error::Conflict { .. }) => Salt::load(view)
                .await?
                .ok_or_else(|| corrupt(SALT_PATH, "the salt vanished".to_owned())),
            Err(other) => Err(barrier_error(other)),
        }
    }

    /// The salt of the view's mount, if it was created already.
    pub(crate) async fn load(view: &View) -> Result<Option<Salt>> {
        let Some(bytes) = view.get(SALT_PATH).await.map_err(barrier_error)? else {
            return Ok(None);
        };
        let salt = match bytes.split_first() {
            Some((&RECORD_VERSION, salt)) => salt,
            Some((version, _)) => {
                return Err(corrupt(
                    SALT_PATH,
                    format!("unknown record version {version}"),
                ));
            }
            None => return Err(corrupt(SALT_PATH, "the record is empty".to_owned())),
        };
        if salt.len() != SALT_LEN {
            return Err(corrupt(
                SALT_PATH,
                format!("the salt is {} bytes, not {SALT_LEN}", salt.len()),
            ));
        }
        Ok(Some(Salt(Zeroizing::new(salt.to_vec()))))
    }
}

/// What an HMAC'd path component stands for.
#[derive(Debug, Clone, Copy)]
enum Purpose {
    RoleId,
    SecretId,
    Accessor,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::RoleId => b"role_id\0",
            Purpose::SecretId => b"secret_id\0",
            Purpose::Accessor => b"accessor\0",
        }
    }
}

/// Whether a guarded transaction went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Commit {
    Done,
    /// Something it expected changed: read again and retry.
    Retry,
}

/// The storage of one approle mount, addressed through its salt.
pub(crate) struct Store<'a> {
    view: &'a View,
    key: hmac::Key,
}

impl fmt::Debug for Store<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("view", self.view)
            .finish_non_exhaustive()
    }
}

impl<'a> Store<'a> {
    /// The mount's storage in `view`, whose HMAC key is `salt`.
    pub(crate) fn new(view: &'a View, salt: &Salt) -> Store<'a> {
        Store {
            view,
            key: hmac::Key::new(hmac::HMAC_SHA256, &salt.0),
        }
    }

    fn hmac(&self, purpose: Purpose, value: &str) -> String {
        hmac_hex(&self.key, purpose, value)
    }

    /// Where the role `name` lives.
    pub(crate) fn role_path(name: &str) -> String {
        format!("{ROLE_FOLDER}{name}")
    }

    /// Where the owner of a role ID is recorded.
    pub(crate) fn role_id_path(&self, role_id: &str) -> String {
        format!("role_id/{}", self.hmac(Purpose::RoleId, role_id))
    }

    /// The folder of the secret IDs of the role whose key is `role_key`.
    pub(crate) fn secret_id_folder(role_key: &str) -> String {
        format!("secret_id/{role_key}/")
    }

    /// The HMAC naming a secret ID in its role's folder.
    pub(crate) fn secret_id_hmac(&self, secret_id: &str) -> String {
        self.hmac(Purpose::SecretId, secret_id)
    }

    /// Where a secret ID (given by its HMAC) of the role keyed `role_key` lives.
    pub(crate) fn secret_id_path(role_key: &str, secret_id_hmac: &str) -> String {
        format!("{}{secret_id_hmac}", Store::secret_id_folder(role_key))
    }

    /// Where an accessor is recorded.
    pub(crate) fn accessor_path(&self, accessor: &str) -> String {
        format!("accessor/{}", self.hmac(Purpose::Accessor, accessor))
    }

    /// The record at `path` and the stamp proving what was read, if there is one.
    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<Option<(T, Stamp)>> {
        let Some((bytes, stamp)) = self.view.get_stamped(path).await.map_err(barrier_error)? else {
            return Ok(None);
        };
        decode(path, &bytes).map(|record| Some((record, stamp)))
    }

    /// Applies `ops` in one transaction; a failed `Expect` is [`Commit::Retry`].
    pub(crate) async fn commit(&self, ops: Vec<BarrierOp>) -> Result<Commit> {
        match self.view.transaction(ops).await {
            Ok(()) => Ok(Commit::Done),
            Err(coffer_barrier::Error::Conflict { .. }) => Ok(Commit::Retry),
            Err(other) => Err(barrier_error(other)),
        }
    }

    /// The immediate children of `folder` (ending with `/`), in byte order.
    pub(crate) async fn list(&self, folder: &str) -> Result<Vec<String>> {
        self.view.list(folder).await.map_err(barrier_error)
    }
}

/// The hex HMAC of `value` for `purpose` under `key`.
fn hmac_hex(key: &hmac::Key, purpose: Purpose, value: &str) -> String {
    let mut context = hmac::Context::with_key(key);
    context.update(purpose.label());
    context.update(value.as_bytes());
    hex::encode(context.sign().as_ref())
}

/// A transaction step storing `record` at `path`.
pub(crate) fn put<T: Serialize>(path: String, record: &T) -> BarrierOp {
    BarrierOp::Put {
        path,
        value: encode(record),
    }
}

/// A transaction step requiring `path` to hold what was read with `stamp` (`None`: absent).
pub(crate) fn expect(path: String, stamp: Option<Stamp>) -> BarrierOp {
    BarrierOp::Expect { path, stamp }
}

/// A transaction step deleting `path`.
pub(crate) fn delete(path: String) -> BarrierOp {
    BarrierOp::Delete { path }
}

/// Encodes a record: [`RECORD_VERSION`], then JSON.
fn encode<T: Serialize>(record: &T) -> Zeroizing<Vec<u8>> {
    let json = Zeroizing::new(
        serde_json::to_vec(record).expect("approle records have string keys and always serialize"),
    );
    encode_bytes(&json)
}

fn encode_bytes(bytes: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut record = Zeroizing::new(Vec::with_capacity(bytes.len() + 1));
    record.push(RECORD_VERSION);
    record.extend_from_slice(bytes);
    record
}

/// Decodes a record written by [`encode`]; errors name `path`, never the content.
fn decode<T: DeserializeOwned>(path: &str, bytes: &[u8]) -> Result<T> {
    match bytes.split_first() {
        None => Err(corrupt(path, "the record is empty".to_owned())),
        Some((&RECORD_VERSION, json)) => serde_json::from_slice(json)
            .map_err(|_| corrupt(path, "the record does not decode".to_owned())),
        Some((version, _)) => Err(corrupt(path, format!("unknown record version {version}"))),
    }
}

/// The error for a record at `path` that cannot be used.
pub(crate) fn corrupt(path: &str, reason: String) -> Error {
    Error::CorruptRecord {
        path: path.to_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Sample {
        name: String,
    }

    #[test]
    fn records_round_trip() {
        let sample = Sample {
            name: "web".to_owned(),
        };
        let bytes = encode(&sample);
        assert_eq!(bytes.first(), Some(&RECORD_VERSION));
        assert_eq!(decode::<Sample>("role/web", &bytes).ok(), Some(sample));
    }

    #[test]
    fn corrupt_records_are_errors_without_content() {
        fn check(bytes: &[u8], expect: &str) {
            let got = decode::<Sample>("role/web", bytes).map_err(|e| e.to_string());
            assert_eq!(got, Err(expect.to_owned()), "{bytes:?}");
        }
        check(b"", "corrupt record at \"role/web\": the record is empty");
        check(
            b"\x07{}",
            "corrupt record at \"role/web\": unknown record version 7",
        );
        check(
            b"\x01{\"secret\": 1}",
            "corrupt record at \"role/web\": the record does not decode",
        );
    }

    #[test]
    fn hmacs_are_separated_by_purpose_and_salt() {
        let salt = |byte: u8| Salt(Zeroizing::new(vec![byte; SALT_LEN]));
        let hmac = |salt: &Salt, purpose, value: &str| {
            hmac_hex(&hmac::Key::new(hmac::HMAC_SHA256, &salt.0), purpose, value)
        };
        let one = salt(1);
        let two = salt(2);
        let a = hmac(&one, Purpose::RoleId, "x");
        assert_eq!(a.len(), 64);
        assert_ne!(a, hmac(&one, Purpose::SecretId, "x"));
        assert_ne!(a, hmac(&one, Purpose::Accessor, "x"));
        assert_ne!(a, hmac(&two, Purpose::RoleId, "x"));
        assert_eq!(a, hmac(&one, Purpose::RoleId, "x"));
        assert_eq!(format!("{one:?}"), "Salt(<redacted>)");
    }

    #[test]
    fn paths() {
        assert_eq!(Store::role_path("web"), "role/web");
        assert_eq!(Store::secret_id_folder("k1"), "secret_id/k1/");
        assert_eq!(Store::secret_id_path("k1", "ab"), "secret_id/k1/ab");
    }
}
