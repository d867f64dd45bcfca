//! KV version 1: Vault's unversioned key/value engine (its "passthrough" backend). The request
//! path below the mount is the secret's key and the body's top-level fields are the secret;
//! a write replaces the whole secret, a read returns it, with a `ttl` (or legacy `lease`) field
//! turned into a `lease_duration` hint without any lease.
//!
//! Storage: each secret lives at `kv1/<key>` in the mount's view, encoded by
//! [`encode_secret`] (a version byte, then the JSON object). The barrier encrypts the value,
//! but the key is part of the storage path, so **the untrusted storage sees secret names** (never
//! values). That is the nature of this legacy engine, in Vault too; use KV version 2, which
//! hashes names, where names are sensitive. `kv1/` is also the layout KV version 2 migrates
//! from when a mount is upgraded.
//!
//! The same store, without the lease hint, serves cubbyhole (one folder per token), so the
//! folder logic here is shared with [`crate::cubbyhole`].

use async_trait::async_trait;
use coffer_barrier::{BarrierOp, View};
use coffer_core::engine::{Engine, EngineRequest, MountInfo};
use coffer_core::request::{Operation, Reply, Response};
use coffer_core::ttl::Ttl;
use coffer_core::{Error, Result};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::barrier_error;

/// The folder of the mount's view holding KV version 1 secrets (`kv1/<key>`).
pub const STORAGE_FOLDER: &str = "kv1";

/// The unversioned key/value engine of one mount. It keeps no state: everything is in storage,
/// and the lease hint's default comes from the mount settings of each request.
#[derive(Debug, Clone, Copy, Default)]
pub struct KvV1Engine;

impl KvV1Engine {
    /// The engine (the same for every mount).
    pub fn new() -> KvV1Engine {
        KvV1Engine
    }
}

#[async_trait]
impl Engine for KvV1Engine {
    async fn handle(&self, request: EngineRequest<'_>, storage: &View) -> Result<Reply> {
        let folder = SecretFolder::new(storage, STORAGE_FOLDER);
        serve(&folder, &request, LeaseHint::FromTtlField).await
    }

    async fn exists(&self, request: EngineRequest<'_>, storage: &View) -> Result<Option<bool>> {
        let folder = SecretFolder::new(storage, STORAGE_FOLDER);
        exists(&folder, request.path).await.map(Some)
    }

    async fn tuned(&self, _previous: &MountInfo, _storage: &View) -> Result<()> {
        // Nothing to migrate: a KV mount is only ever upgraded from version 1 to 2, which the
        // version 2 engine handles.
        Ok(())
    }

    async fn token_revoked(&self, _token_scope: &str, _storage: &View) -> Result<()> {
        // No data here belongs to a token.
        Ok(())
    }
}

/// The version byte of an encoded secret.
const RECORD_VERSION: u8 = 1;

/// Encodes a secret for storage: [`RECORD_VERSION`], then the JSON object.
pub fn encode_secret(data: &Map<String, Value>) -> Zeroizing<Vec<u8>> {
    let json = Zeroizing::new(
        serde_json::to_vec(data).expect("a JSON map with string keys always serializes"),
    );
    let mut record = Zeroizing::new(Vec::with_capacity(json.len() + 1));
    record.push(RECORD_VERSION);
    record.extend_from_slice(&json);
    record
}

/// Decodes a secret stored by [`encode_secret`]. `path` names the storage path in the error;
/// the error never shows the content.
pub fn decode_secret(path: &str, record: &[u8]) -> Result<Map<String, Value>> {
    let corrupt = |reason: String| Error::CorruptRecord {
        path: path.to_owned(),
        reason,
    };
    match record.split_first() {
        None => Err(corrupt("the record is empty".to_owned())),
        Some((&RECORD_VERSION, json)) => serde_json::from_slice(json)
            // The decoder's message may quote the content: say only what was expected.
            .map_err(|_| corrupt("the secret is not a JSON object".to_owned())),
        Some((version, _)) => Err(corrupt(format!("unknown record version {version}"))),
    }
}

/// Vault's system default lease TTL (768 hours), the hint when neither the secret nor the mount
/// sets one.
const SYSTEM_DEFAULT_LEASE_TTL: u64 = 768 * 3600;

/// How many keys one storage scan returns at a time (recursive listing and bulk deletion).
const SCAN_PAGE: usize = 512;

/// Whether a read reports a lease duration hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LeaseHint {
    /// KV v1: the secret's `ttl` (or legacy `lease`) field, else the mount's default lease TTL.
    FromTtlField,
    /// Cubbyhole: none.
    None,
}

/// What a request path names: a secret, or a folder (the empty path or one ending with `/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target<'a> {
    Secret(&'a str),
    Folder(&'a str),
}

impl<'a> Target<'a> {
    fn parse(path: &'a str) -> Target<'a> {
        if path.is_empty() || path.ends_with('/') {
            Target::Folder(path)
        } else {
            Target::Secret(path)
        }
    }

    /// The folder to list: the path itself, with a trailing `/` unless it is the root.
    fn listing_prefix(path: &str) -> String {
        if path.is_empty() || path.ends_with('/') {
            path.to_owned()
        } else {
            format!("{path}/")
        }
    }
}

/// Unversioned secrets under one storage folder, each at `<folder>/<key>`: KV v1 keeps one
/// (`kv1/`), cubbyhole one per token.
#[derive(Debug, Clone)]
pub(crate) struct SecretFolder {
    view: View,
}

impl SecretFolder {
    /// The folder `name` of `storage`.
    pub(crate) fn new(storage: &View, name: &str) -> SecretFolder {
        SecretFolder {
            view: storage.sub(name),
        }
    }

    async fn read(&self, key: &str) -> Result<Option<Map<String, Value>>> {
        let Some(record) = self.view.get(key).await.map_err(barrier_error)? else {
            return Ok(None);
        };
        let path = format!("{}{key}", self.view.prefix());
        decode_secret(&path, &record).map(Some)
    }

    async fn write(&self, key: &str, data: &Map<String, Value>) -> Result<()> {
        let record = encode_secret(data);
        self.view.put(key, &record).await.map_err(barrier_error)
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.view.delete(key).await.map_err(barrier_error)
    }

    async fn contains(&self, key: &str) -> Result<bool> {
        Ok(self.view.get(key).await.map_err(barrier_error)?.is_some())
    }

    /// The immediate children of `prefix` (empty, or ending with `/`); folders end with `/`.
    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        self.view.list(prefix).await.map_err(barrier_error)
    }

    /// Every secret under `prefix` (empty, or ending with `/`), relative to it, in byte order.
    async fn scan(&self, prefix: &str) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .view
                .scan(prefix, after.as_deref(), SCAN_PAGE)
                .await
                .map_err(barrier_error)?;
            let full = page.len() == SCAN_PAGE;
            after = page.last().cloned();
            keys.extend(
                page.iter()
                    .filter_map(|key| key.strip_prefix(prefix).map(str::to_owned)),
            );
            if !full {
                return Ok(keys);
            }
        }
    }

    /// Deletes every secret in the folder, one transaction per page of keys.
    pub(crate) async fn delete_all(&self) -> Result<()> {
        let mut after: Option<String> = None;
        loop {
            let page = self
                .view
                .scan("", after.as_deref(), SCAN_PAGE)
                .await
                .map_err(barrier_error)?;
            let full = page.len() == SCAN_PAGE;
            after = page.last().cloned();
            if !page.is_empty() {
                let ops = page
                    .into_iter()
                    .map(|path| BarrierOp::Delete { path })
                    .collect();
                self.view.transaction(ops).await.map_err(barrier_error)?;
            }
            if !full {
                return Ok(());
            }
        }
    }
}

/// Serves one request against `folder`.
pub(crate) async fn serve(
    folder: &SecretFolder,
    request: &EngineRequest<'_>,
    hint: LeaseHint,
) -> Result<Reply> {
    let target = Target::parse(request.path);
    match request.operation {
        Operation::Read => {
            let Target::Secret(key) = target else {
                return Ok(Reply::NotFound);
            };
            let Some(data) = folder.read(key).await? else {
                return Ok(Reply::NotFound);
            };
            let lease_duration = match hint {
                LeaseHint::FromTtlField => lease_hint(&data, request.mount),
                LeaseHint::None => 0,
            };
            Ok(Reply::ok(Response {
                lease_duration,
                ..Response::with_data(data)
            }))
        }
        Operation::Create | Operation::Update => {
            let key = match target {
                Target::Secret(key) => key,
                Target::Folder("") => return Err(Error::invalid("missing path")),
                Target::Folder(_) => {
                    return Err(Error::invalid(
                        "a secret's path cannot end with \"/\" (that names a folder)",
                    ));
                }
            };
            if request.data.is_empty() {
                return Err(Error::invalid("missing data fields"));
            }
            folder.write(key, request.data).await?;
            Ok(Reply::NoContent)
        }
        Operation::Delete => {
            if let Target::Secret(key) = target {
                folder.delete(key).await?;
            }
            Ok(Reply::NoContent)
        }
        Operation::List | Operation::Scan => {
            let prefix = Target::listing_prefix(request.path);
            let keys = if request.operation == Operation::List {
                folder.list(&prefix).await?
            } else {
                folder.scan(&prefix).await?
            };
            if keys.is_empty() {
                return Ok(Reply::NotFound);
            }
            let mut data = Map::new();
            data.insert(
                "keys".to_owned(),
                Value::Array(keys.into_iter().map(Value::String).collect()),
            );
            Ok(Reply::ok(Response::with_data(data)))
        }
        Operation::Patch => Err(Error::UnsupportedOperation),
    }
}

/// Whether `path` names a stored secret (Vault's existence check).
pub(crate) async fn exists(folder: &SecretFolder, path: &str) -> Result<bool> {
    match Target::parse(path) {
        Target::Secret(key) => folder.contains(key).await,
        Target::Folder(_) => Ok(false),
    }
}

/// The lease duration hint of a KV v1 read, as Vault computes it: the secret's `ttl` field (or,
/// without one, its legacy `lease` field) when it parses as a duration, else the mount's default
/// lease TTL, else the system default. The hint is not capped: no lease is created.
fn lease_hint(data: &Map<String, Value>, mount: &MountInfo) -> u64 {
    let default = if mount.default_lease_ttl > 0 {
        mount.default_lease_ttl
    } else {
        SYSTEM_DEFAULT_LEASE_TTL
    };
    data.get("ttl")
        .or_else(|| data.get("lease"))
        .and_then(parse_hint)
        .unwrap_or(default)
}

/// A `ttl` field's value in seconds: a duration string (`"1h"`, `"90"`) or a non-negative
/// number of seconds; `None` for anything else.
fn parse_hint(value: &Value) -> Option<u64> {
    match value {
        Value::String(text) => Ttl::parse(text).ok().map(Ttl::as_secs),
        Value::Number(number) => number.as_u64().or_else(|| {
            number
                .as_f64()
                .filter(|secs| secs.is_finite() && (0.0..1e12).contains(secs))
                // Truncating to whole seconds, as Vault does.
                .map(|secs| secs as u64)
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn mount(default_lease_ttl: u64) -> MountInfo {
        MountInfo {
            path: "kv/".to_owned(),
            kind: "kv".to_owned(),
            accessor: "kv_test".to_owned(),
            options: Default::default(),
            default_lease_ttl,
            max_lease_ttl: 0,
        }
    }

    /// The hint for a secret `data` on a mount whose default lease TTL is `mount_default`.
    fn check(data: Value, mount_default: u64, expect: u64) {
        let Value::Object(data) = data else {
            panic!("test data is a JSON object");
        };
        assert_eq!(lease_hint(&data, &mount(mount_default)), expect, "{data:?}");
    }

    #[test]
    fn lease_hints() {
        check(json!({"foo": "bar"}), 0, 2_764_800);
        check(json!({"foo": "bar"}), 600, 600);
        check(json!({"ttl": "1h"}), 0, 3600);
        check(json!({"ttl": "1h"}), 600, 3600);
        check(json!({"ttl": "90"}), 0, 90);
        check(json!({"ttl": 90}), 0, 90);
        check(json!({"ttl": 1.9}), 0, 1);
        check(json!({"ttl": "0"}), 0, 0);
        check(json!({"ttl": "7d"}), 0, 604_800);
        check(json!({"ttl": "1h30m"}), 0, 5400);
        check(json!({"lease": "2h"}), 0, 7200);
        check(json!({"ttl": "1m", "lease": "2h"}), 0, 60);
        // A `ttl` that does not parse means the default, even with a valid `lease`.
        check(json!({"ttl": "soon", "lease": "2h"}), 0, 2_764_800);
        check(json!({"ttl": -5}), 600, 600);
        check(json!({"ttl": true}), 600, 600);
        check(json!({"ttl": null}), 600, 600);
        check(json!({"ttl": {"h": 1}}), 600, 600);
        check(json!({"TTL": "1h"}), 600, 600);
    }

    #[test]
    fn targets() {
        assert_eq!(Target::parse(""), Target::Folder(""));
        assert_eq!(Target::parse("app/"), Target::Folder("app/"));
        assert_eq!(Target::parse("app"), Target::Secret("app"));
        assert_eq!(Target::parse("app/db"), Target::Secret("app/db"));
        assert_eq!(Target::listing_prefix(""), "");
        assert_eq!(Target::listing_prefix("app"), "app/");
        assert_eq!(Target::listing_prefix("app/"), "app/");
        assert_eq!(Target::listing_prefix("a/b"), "a/b/");
    }

    #[test]
    fn records_round_trip() {
        let Value::Object(data) = json!({"a": "b", "n": 1, "deep": {"x": [true, null]}}) else {
            panic!("test data is a JSON object");
        };
        let record = encode_secret(&data);
        assert_eq!(record.first(), Some(&RECORD_VERSION));
        assert_eq!(decode_secret("kv1/x", &record).ok(), Some(data));
    }

    #[test]
    fn corrupt_records_are_errors_without_content() {
        fn check(record: &[u8], expect: &str) {
            let got = decode_secret("kv1/x", record).map_err(|e| e.to_string());
            assert_eq!(got, Err(expect.to_owned()), "{record:?}");
        }
        check(b"", "corrupt record at \"kv1/x\": the record is empty");
        check(
            b"\x02{}",
            "corrupt record at \"kv1/x\": unknown record version 2",
        );
        check(
            b"\x01\"hunter2\"",
            "corrupt record at \"kv1/x\": the secret is not a JSON object",
        );
        check(
            b"\x01{\"password\": hunter2}",
            "corrupt record at \"kv1/x\": the secret is not a JSON object",
        );
        check(
            b"{}",
            "corrupt record at \"kv1/x\": unknown record version 123",
        );
    }
}
