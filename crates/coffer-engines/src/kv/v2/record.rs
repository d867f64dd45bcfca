//! The records KV version 2 keeps in its storage view and their codec: one version byte, then
//! JSON. These types are the persistence model only; the JSON shapes of replies are built in
//! `wire`, so a stored field can be renamed without changing the API and vice versa.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use coffer_core::{Error, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

/// The version byte in front of every record this engine writes.
const RECORD_VERSION: u8 = 1;

/// How many versions a key keeps when neither the key nor the mount says (`max_versions: 0`).
pub(crate) const DEFAULT_MAX_VERSIONS: u32 = 10;

/// The last instant RFC 3339 can spell (9999-12-31T23:59:59.999999999Z); later times are
/// clamped to it so formatting never fails.
const MAX_SECS: u64 = 253_402_300_799;

/// A point in time with nanosecond precision, as stored (seconds and nanoseconds since the Unix
/// epoch; times before the epoch are stored as the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct Timestamp {
    secs: u64,
    nanos: u32,
}

impl Timestamp {
    /// The stored form of `time`.
    pub(crate) fn from_system(time: SystemTime) -> Timestamp {
        let since = time.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        Timestamp::clamped(since.as_secs(), since.subsec_nanos())
    }

    /// The instant it stands for.
    pub(crate) fn to_system(self) -> SystemTime {
        UNIX_EPOCH + Duration::new(self.secs, self.nanos)
    }

    /// This time plus `secs` seconds (saturating at the last representable instant).
    pub(crate) fn plus_secs(self, secs: u64) -> Timestamp {
        Timestamp::clamped(self.secs.saturating_add(secs), self.nanos)
    }

    /// RFC 3339 in UTC with nanoseconds, e.g. `2026-11-22T13:10:26.682193527Z`.
    pub(crate) fn rfc3339(self) -> String {
        let time = UNIX_EPOCH + Duration::new(self.secs, self.nanos);
        humantime::format_rfc3339_nanos(time).to_string()
    }

    fn clamped(secs: u64, nanos: u32) -> Timestamp {
        if secs > MAX_SECS {
            Timestamp {
                secs: MAX_SECS,
                nanos: 999_999_999,
            }
        } else {
            Timestamp {
                secs,
                nanos: nanos.min(999_999_999),
            }
        }
    }
}

/// The mount-wide settings at `config`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MountConfig {
    /// Versions kept per key (0: the default of 10).
    pub(crate) max_versions: u32,
    /// Whether every data write needs `options.cas`.
    pub(crate) cas_required: bool,
    /// Whether every metadata write needs `cas`.
    pub(crate) metadata_cas_required: bool,
    /// Automatic deletion of versions.
    pub(crate) delete_version_after: DeleteVersionAfter,
}

/// The mount's `delete_version_after`: unset, disabled for every key (a negative duration was
/// given), or a number of seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum DeleteVersionAfter {
    #[default]
    Unset,
    Disabled,
    Seconds(u64),
}

impl DeleteVersionAfter {
    /// The setting a signed number of seconds stands for (Vault: negative disables, zero
    /// clears).
    pub(crate) fn from_signed_secs(secs: i64) -> DeleteVersionAfter {
        match u64::try_from(secs) {
            Err(_) => DeleteVersionAfter::Disabled,
            Ok(0) => DeleteVersionAfter::Unset,
            Ok(secs) => DeleteVersionAfter::Seconds(secs),
        }
    }

    /// The signed number of seconds Vault reports (`-1` when disabled).
    pub(crate) fn signed_secs(self) -> i64 {
        match self {
            DeleteVersionAfter::Unset => 0,
            DeleteVersionAfter::Disabled => -1,
            DeleteVersionAfter::Seconds(secs) => i64::try_from(secs).unwrap_or(i64::MAX),
        }
    }
}

impl MountConfig {
    /// When a version created (or undeleted) at `base` becomes deleted by itself: `base` plus
    /// the smaller non-zero `delete_version_after` of the mount and the key, or never when
    /// neither sets one or the mount disables it.
    pub(crate) fn deletion_time(&self, base: Timestamp, key_secs: u64) -> Option<Timestamp> {
        let mount_secs = match self.delete_version_after {
            DeleteVersionAfter::Disabled => return None,
            DeleteVersionAfter::Unset => 0,
            DeleteVersionAfter::Seconds(secs) => secs,
        };
        let after = match (mount_secs, key_secs) {
            (0, 0) => return None,
            (0, key) => key,
            (mount, 0) => mount,
            (mount, key) => mount.min(key),
        };
        Some(base.plus_secs(after))
    }
}

/// One version of a key, as its metadata records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct VersionMeta {
    pub(crate) created_time: Timestamp,
    /// When it was (or will be) soft-deleted.
    pub(crate) deletion_time: Option<Timestamp>,
    /// Whether its value was destroyed for good.
    pub(crate) destroyed: bool,
}

impl VersionMeta {
    /// Whether it is soft-deleted at `now` (a deletion time strictly before now).
    pub(crate) fn is_deleted(&self, now: Timestamp) -> bool {
        self.deletion_time.is_some_and(|at| at < now)
    }

    /// Whether its value can be read at `now`.
    pub(crate) fn is_readable(&self, now: Timestamp) -> bool {
        !self.destroyed && !self.is_deleted(now)
    }
}

/// Everything about one key except its values; stored at `meta/<id>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KeyMetadata {
    /// The key's name (only ever stored encrypted).
    pub(crate) key: String,
    pub(crate) versions: BTreeMap<u64, VersionMeta>,
    pub(crate) current_version: u64,
    pub(crate) oldest_version: u64,
    /// Bumped by every metadata write (OpenBao's metadata check-and-set counter).
    pub(crate) current_metadata_version: u64,
    pub(crate) max_versions: u32,
    pub(crate) cas_required: bool,
    pub(crate) metadata_cas_required: bool,
    /// Seconds; 0 when unset.
    pub(crate) delete_version_after: u64,
    pub(crate) custom_metadata: BTreeMap<String, String>,
    pub(crate) created_time: Timestamp,
    pub(crate) updated_time: Timestamp,
}

impl KeyMetadata {
    /// The metadata of a key that has none yet.
    pub(crate) fn new(key: &str, now: Timestamp) -> KeyMetadata {
        KeyMetadata {
            key: key.to_owned(),
            versions: BTreeMap::new(),
            current_version: 0,
            oldest_version: 0,
            current_metadata_version: 0,
            max_versions: 0,
            cas_required: false,
            metadata_cas_required: false,
            delete_version_after: 0,
            custom_metadata: BTreeMap::new(),
            created_time: now,
            updated_time: now,
        }
    }

    /// Adds the next version and slides the window of kept versions the way Vault does: the
    /// larger of the key's and the mount's `max_versions` (10 when both are 0). Returns the new
    /// version number and the versions that fell out of the window (their values must go).
    pub(crate) fn add_version(
        &mut self,
        created: Timestamp,
        deletion: Option<Timestamp>,
        mount_max_versions: u32,
    ) -> (u64, Vec<u64>) {
        self.current_version = self.current_version.saturating_add(1);
        let version = self.current_version;
        self.versions.insert(
            version,
            VersionMeta {
                created_time: created,
                deletion_time: deletion,
                destroyed: false,
            },
        );
        self.updated_time = created;

        let max = match self.max_versions.max(mount_max_versions) {
            0 => DEFAULT_MAX_VERSIONS,
            max => max,
        };
        let max = u64::from(max);
        let mut pruned = Vec::new();
        if version.saturating_sub(self.oldest_version) >= max {
            let last_pruned = version - max;
            let kept = self.versions.split_off(&(last_pruned + 1));
            pruned = std::mem::replace(&mut self.versions, kept)
                .into_keys()
                .collect();
            self.oldest_version = last_pruned + 1;
        }
        (version, pruned)
    }
}

/// Encodes a record: the version byte, then JSON.
pub(crate) fn encode<T: Serialize>(record: &T) -> Zeroizing<Vec<u8>> {
    let json = Zeroizing::new(
        serde_json::to_vec(record)
            .expect("records hold only strings, numbers and string-keyed maps"),
    );
    frame(&json)
}

/// Decodes a record written by [`encode`]; `path` names the storage path in the error.
pub(crate) fn decode<T: DeserializeOwned>(path: &str, bytes: &[u8]) -> Result<T> {
    let json = unframe(path, bytes)?;
    // The decoder's message may quote content (a key name): report only where it failed.
    serde_json::from_slice(json).map_err(|error| {
        corrupt(
            path,
            format!(
                "does not decode ({:?} error at line {}, column {})",
                error.classify(),
                error.line(),
                error.column()
            ),
        )
    })
}

/// Encodes a version's value (a JSON object): the version byte, then JSON.
pub(crate) fn encode_value(data: &Map<String, Value>) -> Zeroizing<Vec<u8>> {
    let json = Zeroizing::new(
        serde_json::to_vec(data).expect("a JSON map with string keys always serializes"),
    );
    frame(&json)
}

/// Decodes a version's value; the error never quotes the content.
pub(crate) fn decode_value(path: &str, bytes: &[u8]) -> Result<Map<String, Value>> {
    let json = unframe(path, bytes)?;
    serde_json::from_slice(json)
        .map_err(|_| corrupt(path, "the value is not a JSON object".to_owned()))
}

/// Encodes a short text record (a folder index entry's child name).
pub(crate) fn encode_text(text: &str) -> Zeroizing<Vec<u8>> {
    frame(text.as_bytes())
}

/// Decodes a record written by [`encode_text`].
pub(crate) fn decode_text(path: &str, bytes: &[u8]) -> Result<String> {
    let text = unframe(path, bytes)?;
    String::from_utf8(text.to_vec()).map_err(|_| corrupt(path, "the name is not UTF-8".to_owned()))
}

/// Encodes raw bytes (the salt).
pub(crate) fn encode_bytes(bytes: &[u8]) -> Zeroizing<Vec<u8>> {
    frame(bytes)
}

/// Decodes a record written by [`encode_bytes`].
pub(crate) fn decode_bytes<'a>(path: &str, bytes: &'a [u8]) -> Result<&'a [u8]> {
    unframe(path, bytes)
}

fn frame(payload: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut record = Zeroizing::new(Vec::with_capacity(payload.len() + 1));
    record.push(RECORD_VERSION);
    record.extend_from_slice(payload);
    record
}

fn unframe<'a>(path: &str, bytes: &'a [u8]) -> Result<&'a [u8]> {
    match bytes.split_first() {
        None => Err(corrupt(path, "the record is empty".to_owned())),
        Some((&RECORD_VERSION, payload)) => Ok(payload),
        Some((version, _)) => Err(corrupt(path, format!("unknown record version {version}"))),
    }
}

/// A corrupt-record error naming the (hashed, non-secret) storage path, never the content.
pub(crate) fn corrupt(path: &str, reason: String) -> Error {
    Error::CorruptRecord {
        path: path.to_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> Timestamp {
        Timestamp::from_system(UNIX_EPOCH + Duration::from_secs(secs))
    }

    #[test]
    fn timestamps_format_with_nanoseconds_and_clamp() {
        let time = UNIX_EPOCH + Duration::new(1_795_000_000, 682_193_527);
        assert_eq!(
            Timestamp::from_system(time).rfc3339(),
            "2026-11-18T11:06:40.682193527Z"
        );
        assert_eq!(
            at(0).plus_secs(u64::MAX).rfc3339(),
            "9999-12-31T23:59:59.999999999Z"
        );
        let before_epoch = UNIX_EPOCH - Duration::from_secs(5);
        assert_eq!(Timestamp::from_system(before_epoch), at(0));
    }

    #[test]
    fn deletion_time_takes_the_smaller_non_zero_setting() {
        fn check(mount: DeleteVersionAfter, key: u64, expect: Option<u64>) {
            let config = MountConfig {
                delete_version_after: mount,
                ..MountConfig::default()
            };
            assert_eq!(
                config.deletion_time(at(1000), key),
                expect.map(|after| at(1000 + after)),
                "mount {mount:?}, key {key}"
            );
        }
        check(DeleteVersionAfter::Unset, 0, None);
        check(DeleteVersionAfter::Unset, 30, Some(30));
        check(DeleteVersionAfter::Seconds(20), 0, Some(20));
        check(DeleteVersionAfter::Seconds(20), 30, Some(20));
        check(DeleteVersionAfter::Seconds(40), 30, Some(30));
        check(DeleteVersionAfter::Disabled, 30, None);
    }

    #[test]
    fn signed_delete_version_after() {
        for (secs, setting) in [
            (-5, DeleteVersionAfter::Disabled),
            (0, DeleteVersionAfter::Unset),
            (90, DeleteVersionAfter::Seconds(90)),
        ] {
            assert_eq!(DeleteVersionAfter::from_signed_secs(secs), setting);
        }
        assert_eq!(DeleteVersionAfter::Disabled.signed_secs(), -1);
        assert_eq!(DeleteVersionAfter::Seconds(90).signed_secs(), 90);
    }

    /// Adds `writes` versions with the given limits; returns (versions kept, oldest, pruned).
    fn window(key_max: u32, mount_max: u32, writes: u64) -> (Vec<u64>, u64, Vec<u64>) {
        let mut meta = KeyMetadata::new("k", at(0));
        meta.max_versions = key_max;
        let mut pruned = Vec::new();
        for _ in 0..writes {
            pruned.extend(meta.add_version(at(1), None, mount_max).1);
        }
        (
            meta.versions.keys().copied().collect(),
            meta.oldest_version,
            pruned,
        )
    }

    #[test]
    fn version_window_follows_vault() {
        assert_eq!(window(0, 0, 3), (vec![1, 2, 3], 0, vec![]));
        // Vault advances oldest_version as soon as the window is full.
        assert_eq!(window(2, 0, 2), (vec![1, 2], 1, vec![]));
        assert_eq!(window(2, 0, 4), (vec![3, 4], 3, vec![1, 2]));
        assert_eq!(window(0, 3, 5), (vec![3, 4, 5], 3, vec![1, 2]));
        // The larger of the key's and the mount's limit wins.
        assert_eq!(window(2, 3, 5), (vec![3, 4, 5], 3, vec![1, 2]));
        // 0 means 10.
        let (kept, oldest, pruned) = window(0, 0, 12);
        assert_eq!((kept.len(), oldest, pruned), (10, 3, vec![1, 2]));
    }

    #[test]
    fn lowering_max_versions_prunes_several_at_once() {
        let mut meta = KeyMetadata::new("k", at(0));
        for _ in 0..5 {
            meta.add_version(at(1), None, 0);
        }
        meta.max_versions = 2;
        let (version, pruned) = meta.add_version(at(2), None, 0);
        assert_eq!((version, pruned), (6, vec![1, 2, 3, 4]));
        assert_eq!(
            meta.versions.keys().copied().collect::<Vec<_>>(),
            vec![5, 6]
        );
        assert_eq!(meta.oldest_version, 5);
    }

    #[test]
    fn records_round_trip_and_reject_garbage() {
        let mut meta = KeyMetadata::new("app/db", at(7));
        meta.add_version(at(8), Some(at(9)), 0);
        let bytes = encode(&meta);
        assert_eq!(bytes.first(), Some(&RECORD_VERSION));
        assert_eq!(decode::<KeyMetadata>("meta/x", &bytes).ok(), Some(meta));

        let mut data = Map::new();
        data.insert("password".to_owned(), Value::from("hunter2"));
        assert_eq!(decode_value("ver/x", &encode_value(&data)).ok(), Some(data));
        assert_eq!(
            decode_text("dir/x", &encode_text("db")).ok().as_deref(),
            Some("db")
        );

        for (bytes, reason) in [
            (&b""[..], "the record is empty"),
            (&b"\x02{}"[..], "unknown record version 2"),
            (&b"\x01\"hunter2\""[..], "the value is not a JSON object"),
        ] {
            match decode_value("ver/x", bytes) {
                Err(Error::CorruptRecord { path, reason: got }) => {
                    assert_eq!((path.as_str(), got.as_str()), ("ver/x", reason));
                }
                other => panic!("{bytes:?}: unexpected {other:?}"),
            }
        }
    }
}
