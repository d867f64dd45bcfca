//! Userpass users as stored: the [`Username`] rules, the [`UserRecord`] and its codec (a
//! version byte, then JSON), and [`Users`], the folder of records in the mount's view.
//!
//! Storage: one record per user at `user/<username>`. The barrier encrypts the record (the
//! password hash and token settings), but the username is part of the storage path, so **the
//! untrusted storage sees usernames**, as Vault's userpass stores them too.

use coffer_barrier::{BarrierOp, Stamp, View};
use coffer_core::{Error, Result};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::password::PasswordHash;
use crate::auth::token_params::TokenParams;
use crate::barrier_error;

/// The folder of user records.
const FOLDER: &str = "user/";

/// The version byte in front of every user record.
const RECORD_VERSION: u8 = 1;

/// The longest username accepted, in bytes.
const MAX_USERNAME_LEN: usize = 4096;

/// A valid username, lowercased as Vault stores it: ASCII letters, digits and `_`, with `-`,
/// `.` and `@` allowed inside (Vault's `\w(([\w-.@]+)?\w)?`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Username(String);

impl Username {
    /// The username `raw` names, or why it cannot be one.
    pub(crate) fn parse(raw: &str) -> std::result::Result<Username, &'static str> {
        let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
        let inner = |c: char| word(c) || matches!(c, '-' | '.' | '@');
        let (Some(first), Some(last)) = (raw.chars().next(), raw.chars().last()) else {
            return Err("a username cannot be empty");
        };
        if raw.len() > MAX_USERNAME_LEN {
            return Err("a username is at most 4096 bytes long");
        }
        if !word(first) || !word(last) || !raw.chars().all(inner) {
            return Err(
                "a username has ASCII letters, digits and '_', with '-', '.' and '@' allowed inside",
            );
        }
        Ok(Username(raw.to_ascii_lowercase()))
    }

    /// The username text.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// What is stored about a user. A persistence type: replies are built from it, never from
/// serializing it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct UserRecord {
    pub(crate) password_hash: PasswordHash,
    pub(crate) token: TokenParams,
}

/// The user records of one mount.
#[derive(Debug)]
pub(crate) struct Users<'a> {
    view: &'a View,
}

/// Whether a guarded write went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Commit {
    Done,
    /// The record changed since it was read: read again and retry.
    Retry,
}

impl<'a> Users<'a> {
    /// The users stored in `view`.
    pub(crate) fn new(view: &'a View) -> Users<'a> {
        Users { view }
    }

    /// The storage path of `name`'s record (for error messages and logs).
    pub(crate) fn path(name: &Username) -> String {
        format!("{FOLDER}{}", name.as_str())
    }

    /// The record of `name` and the stamp proving what was read, if the user exists.
    pub(crate) async fn get(&self, name: &Username) -> Result<Option<(UserRecord, Stamp)>> {
        let path = Users::path(name);
        let Some((bytes, stamp)) = self.view.get_stamped(&path).await.map_err(barrier_error)?
        else {
            return Ok(None);
        };
        decode(&path, &bytes).map(|record| Some((record, stamp)))
    }

    /// Whether `name` exists.
    pub(crate) async fn contains(&self, name: &Username) -> Result<bool> {
        let path = Users::path(name);
        Ok(self.view.get(&path).await.map_err(barrier_error)?.is_some())
    }

    /// Stores `record` for `name` if the stored record is still the one read with `read`
    /// (`None`: still absent).
    pub(crate) async fn put(
        &self,
        name: &Username,
        record: &UserRecord,
        read: Option<Stamp>,
    ) -> Result<Commit> {
        let path = Users::path(name);
        let ops = vec![
            BarrierOp::Expect {
                path: path.clone(),
                stamp: read,
            },
            BarrierOp::Put {
                path,
                value: encode(record),
            },
        ];
        match self.view.transaction(ops).await {
            Ok(()) => Ok(Commit::Done),
            Err(coffer_barrier::Error::Conflict { .. }) => Ok(Commit::Retry),
            Err(other) => Err(barrier_error(other)),
        }
    }

    /// Deletes `name` (absent is fine).
    pub(crate) async fn delete(&self, name: &Username) -> Result<()> {
        self.view
            .delete(&Users::path(name))
            .await
            .map_err(barrier_error)
    }

    /// Every username, in byte order.
    pub(crate) async fn list(&self) -> Result<Vec<String>> {
        self.view.list(FOLDER).await.map_err(barrier_error)
    }
}

/// Encodes a record: [`RECORD_VERSION`], then JSON.
fn encode(record: &UserRecord) -> Zeroizing<Vec<u8>> {
    let json = Zeroizing::new(
        serde_json::to_vec(record).expect("a user record has string keys and always serializes"),
    );
    let mut bytes = Zeroizing::new(Vec::with_capacity(json.len() + 1));
    bytes.push(RECORD_VERSION);
    bytes.extend_from_slice(&json);
    bytes
}

/// Decodes a record written by [`encode`]; errors name `path`, never the content.
fn decode(path: &str, bytes: &[u8]) -> Result<UserRecord> {
    let corrupt = |reason: String| Error::CorruptRecord {
        path: path.to_owned(),
        reason,
    };
    match bytes.split_first() {
        None => Err(corrupt("the record is empty".to_owned())),
        Some((&RECORD_VERSION, json)) => serde_json::from_slice(json)
            .map_err(|_| corrupt("the user record does not decode".to_owned())),
        Some((version, _)) => Err(corrupt(format!("unknown record version {version}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        fn check(raw: &str, expect: std::result::Result<&str, &str>) {
            let got = Username::parse(raw);
            assert_eq!(
                got.as_ref().map(Username::as_str),
                expect.as_ref().map(|s| *s),
                "{raw:?}"
            );
        }
        let chars = Err(
            "a username has ASCII letters, digits and '_', with '-', '.' and '@' allowed inside",
        );
        check("alice", Ok("alice"));
        check("Alice", Ok("alice"));
        check("a", Ok("a"));
        check("_", Ok("_"));
        check("bob.smith@example.com", Ok("bob.smith@example.com"));
        check("x-1_y", Ok("x-1_y"));
        check("", Err("a username cannot be empty"));
        check("-a", chars);
        check("a.", chars);
        check("a/b", chars);
        check("a b", chars);
        check("..", chars);
        check("é", chars);
        check(
            &"a".repeat(4097),
            Err("a username is at most 4096 bytes long"),
        );
        check(&"a".repeat(4096), Ok(&"a".repeat(4096)));
    }

    #[test]
    fn records_round_trip_and_corruption_is_reported_without_content() {
        let record = UserRecord {
            password_hash: serde_json::from_str("\"$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA\"")
                .expect("a hash deserializes from a string"),
            token: TokenParams::default(),
        };
        let bytes = encode(&record);
        assert_eq!(bytes.first(), Some(&RECORD_VERSION));
        assert_eq!(decode("user/a", &bytes).ok(), Some(record));

        fn check(bytes: &[u8], expect: &str) {
            let got = decode("user/a", bytes).map_err(|e| e.to_string());
            assert_eq!(got, Err(expect.to_owned()), "{bytes:?}");
        }
        check(b"", "corrupt record at \"user/a\": the record is empty");
        check(
            b"\x02{}",
            "corrupt record at \"user/a\": unknown record version 2",
        );
        check(
            b"\x01{\"password_hash\": \"secret-ish\"}",
            "corrupt record at \"user/a\": the user record does not decode",
        );
    }
}
