//! Secret values: `data/<key>` (read, write, patch, soft delete of the latest version),
//! `subkeys/<key>`, and the version operations `delete/<key>`, `undelete/<key>` and
//! `destroy/<key>`.

use coffer_barrier::BarrierOp;
use coffer_core::{Error, Reply, Response, Result};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::config;
use super::input::{self, Cas};
use super::keyspace::{Change, Commit, Decision, KeyId, KeyName, Keyspace, MAX_ATTEMPTS};
use super::patch;
use super::record::{self, KeyMetadata, MountConfig, Timestamp};
use super::wire;

/// GET `data/<key>[?version=N]`.
pub(crate) async fn read(
    keyspace: &Keyspace<'_>,
    raw_key: &str,
    fields: &Map<String, Value>,
    now: Timestamp,
) -> Result<Reply> {
    let version = input::int(fields, "version")?;
    Ok(match find(keyspace, raw_key, version, now).await? {
        Found::Missing => Reply::NotFound,
        Found::Unreadable(metadata) => {
            Reply::NotFoundWithBody(Box::new(Response::with_data(object([
                ("data", Value::Null),
                ("metadata", Value::Object(metadata)),
            ]))))
        }
        Found::Value(metadata, value) => Reply::ok(Response::with_data(object([
            ("data", Value::Object(value)),
            ("metadata", Value::Object(metadata)),
        ]))),
    })
}

/// GET `subkeys/<key>[?version=N&depth=D]`: the data's structure with every leaf value (and
/// everything below `depth`, when non-zero) replaced by `null`.
pub(crate) async fn subkeys(
    keyspace: &Keyspace<'_>,
    raw_key: &str,
    fields: &Map<String, Value>,
    now: Timestamp,
) -> Result<Reply> {
    let version = input::int(fields, "version")?;
    let depth = input::int(fields, "depth")?.unwrap_or(0);
    Ok(match find(keyspace, raw_key, version, now).await? {
        Found::Missing => Reply::NotFound,
        Found::Unreadable(metadata) => {
            Reply::NotFoundWithBody(Box::new(Response::with_data(object([
                ("subkeys", Value::Null),
                ("metadata", Value::Object(metadata)),
            ]))))
        }
        Found::Value(metadata, mut value) => {
            strip_values(&mut value, depth, 1);
            Reply::ok(Response::with_data(object([
                ("subkeys", Value::Object(value)),
                ("metadata", Value::Object(metadata)),
            ])))
        }
    })
}

/// POST/PUT `data/<key>` `{"data": {...}, "options": {"cas": N}}`: a new version holding
/// exactly `data`.
pub(crate) async fn write(
    keyspace: &Keyspace<'_>,
    raw_key: &str,
    fields: &Map<String, Value>,
    now: Timestamp,
) -> Result<Reply> {
    let data = input::object(fields, "data")?;
    let options = input::object(fields, "options")?;
    let key = writable_key(raw_key)?;
    let Some(data) = data else {
        return Err(Error::invalid("no data provided"));
    };
    let cas = Cas::read(options.as_ref(), "cas");
    let config = config::load(keyspace.view()).await?;
    let value = record::encode_value(&data);
    let id = keyspace.key_id(&key);
    keyspace
        .update(&key, |meta| {
            let mut meta = meta.unwrap_or_else(|| KeyMetadata::new(key.as_str(), now));
            cas.check(
                meta.current_version,
                config.cas_required || meta.cas_required,
            )?;
            let (ops, reply) = add_version(&id, &mut meta, value.clone(), &config, now);
            Ok(Decision::Apply(Change::Write { meta, ops }, reply))
        })
        .await
}

/// PATCH `data/<key>`: a new version holding the current data merged with `data` (RFC 7386).
pub(crate) async fn patch(
    keyspace: &Keyspace<'_>,
    raw_key: &str,
    fields: &Map<String, Value>,
    now: Timestamp,
) -> Result<Reply> {
    let data = input::object(fields, "data")?;
    let options = input::object(fields, "options")?;
    let Some(changes) = data else {
        return Err(Error::invalid("no data provided"));
    };
    let Some(key) = KeyName::parse(raw_key) else {
        return Ok(Reply::NotFoundEmpty);
    };
    let cas = Cas::read(options.as_ref(), "cas");
    let config = config::load(keyspace.view()).await?;
    let id = keyspace.key_id(&key);
    for _ in 0..MAX_ATTEMPTS {
        let mut snapshot = keyspace.load(&key).await?;
        let Some(mut meta) = snapshot.meta.take() else {
            return Ok(Reply::NotFoundEmpty);
        };
        cas.check(
            meta.current_version,
            config.cas_required || meta.cas_required,
        )?;
        let current = meta.current_version;
        let Some(latest) = meta.versions.get(&current) else {
            return Ok(Reply::NotFoundEmpty);
        };
        if !latest.is_readable(now) {
            // Unlike a read, Vault answers with the version metadata itself as `data`.
            return Ok(Reply::NotFoundWithBody(Box::new(Response::with_data(
                wire::version_metadata(current, latest, &meta.custom_metadata),
            ))));
        }
        let Some(mut value) = keyspace.value(&key, current).await? else {
            if keyspace.unchanged(&key, &snapshot).await? {
                return Err(missing_value(&id, current));
            }
            continue;
        };
        patch::merge_object(&mut value, &changes);
        let (ops, reply) = add_version(&id, &mut meta, record::encode_value(&value), &config, now);
        if keyspace
            .commit(&key, snapshot, Change::Write { meta, ops })
            .await?
            == Commit::Done
        {
            return Ok(reply);
        }
        tokio::task::yield_now().await;
    }
    Err(Error::Conflict)
}

/// DELETE `data/<key>`: soft-deletes the latest version (nothing to do is fine too).
pub(crate) async fn delete_latest(
    keyspace: &Keyspace<'_>,
    raw_key: &str,
    now: Timestamp,
) -> Result<Reply> {
    let Some(key) = KeyName::parse(raw_key) else {
        return Ok(Reply::NoContent);
    };
    keyspace
        .update(&key, |meta| {
            let Some(mut meta) = meta else {
                return Ok(Decision::Keep(Reply::NoContent));
            };
            let current = meta.current_version;
            match meta.versions.get_mut(&current) {
                Some(latest) if !latest.destroyed && !latest.is_deleted(now) => {
                    latest.deletion_time = Some(now);
                    let ops = Vec::new();
                    Ok(Decision::Apply(
                        Change::Write { meta, ops },
                        Reply::NoContent,
                    ))
                }
                _ => Ok(Decision::Keep(Reply::NoContent)),
            }
        })
        .await
}

/// POST `delete/<key>` `{"versions": [...]}`: soft-deletes those versions.
pub(crate) async fn delete_versions(
    keyspace: &Keyspace<'_>,
    raw_key: &str,
    fields: &Map<String, Value>,
    now: Timestamp,
) -> Result<Reply> {
    let versions = version_list(fields, "No version number provided")?;
    change_versions(keyspace, raw_key, |meta, _| {
        let mut changed = false;
        for number in &versions {
            if let Some(version) = meta.versions.get_mut(number)
                && !version.destroyed
                && !version.is_deleted(now)
            {
                version.deletion_time = Some(now);
                changed = true;
            }
        }
        changed
    })
    .await
}

/// POST `undelete/<key>` `{"versions": [...]}`: restores those versions (with a fresh
/// automatic deletion time when `delete_version_after` applies).
pub(crate) async fn undelete_versions(
    keyspace: &Keyspace<'_>,
    raw_key: &str,
    fields: &Map<String, Value>,
    now: Timestamp,
) -> Result<Reply> {
    let versions = version_list(fields, "No version number provided")?;
    let config = config::load(keyspace.view()).await?;
    change_versions(keyspace, raw_key, |meta, _| {
        let deletion = config.deletion_time(now, meta.delete_version_after);
        let mut changed = false;
        for number in &versions {
            if let Some(version) = meta.versions.get_mut(number)
                && !version.destroyed
            {
                version.deletion_time = deletion;
                changed = true;
            }
        }
        changed
    })
    .await
}

/// POST `destroy/<key>` `{"versions": [...]}`: removes those versions' values for good.
pub(crate) async fn destroy_versions(
    keyspace: &Keyspace<'_>,
    raw_key: &str,
    fields: &Map<String, Value>,
) -> Result<Reply> {
    let versions = version_list(fields, "no version number provided")?;
    change_versions(keyspace, raw_key, |meta, destroyed| {
        let mut changed = false;
        for number in &versions {
            if let Some(version) = meta.versions.get_mut(number)
                && !version.destroyed
            {
                version.destroyed = true;
                destroyed.push(*number);
                changed = true;
            }
        }
        changed
    })
    .await
}

/// The key a write names: `missing path` for none, and a folder (`app/`) cannot be written.
pub(crate) fn writable_key(raw_key: &str) -> Result<KeyName> {
    if raw_key.is_empty() {
        return Err(Error::invalid("missing path"));
    }
    KeyName::parse(raw_key)
        .ok_or_else(|| Error::invalid("invalid path: a secret's name cannot end with '/'"))
}

/// What a read of one version found.
enum Found {
    /// No such key or version.
    Missing,
    /// The version is soft-deleted or destroyed: its metadata only.
    Unreadable(Map<String, Value>),
    /// The version's metadata and value.
    Value(Map<String, Value>, Map<String, Value>),
}

/// Finds `version` (the latest when absent or not positive) of the key.
async fn find(
    keyspace: &Keyspace<'_>,
    raw_key: &str,
    version: Option<i64>,
    now: Timestamp,
) -> Result<Found> {
    let Some(key) = KeyName::parse(raw_key) else {
        return Ok(Found::Missing);
    };
    for _ in 0..MAX_ATTEMPTS {
        let snapshot = keyspace.load(&key).await?;
        let Some(meta) = &snapshot.meta else {
            return Ok(Found::Missing);
        };
        let number = match version.and_then(|v| u64::try_from(v).ok()) {
            Some(number) if number > 0 => number,
            _ => meta.current_version,
        };
        let Some(found) = meta.versions.get(&number) else {
            return Ok(Found::Missing);
        };
        let metadata = wire::version_metadata(number, found, &meta.custom_metadata);
        if !found.is_readable(now) {
            return Ok(Found::Unreadable(metadata));
        }
        match keyspace.value(&key, number).await? {
            Some(value) => return Ok(Found::Value(metadata, value)),
            // Destroyed or pruned between the two reads: look again.
            None if !keyspace.unchanged(&key, &snapshot).await? => continue,
            None => return Err(missing_value(&keyspace.key_id(&key), number)),
        }
    }
    Err(Error::Conflict)
}

/// Adds a version holding `value` to `meta`; returns the storage writes (the value, and the
/// removal of versions that fell out of the window) and the reply.
pub(crate) fn add_version(
    id: &KeyId,
    meta: &mut KeyMetadata,
    value: Zeroizing<Vec<u8>>,
    config: &MountConfig,
    now: Timestamp,
) -> (Vec<BarrierOp>, Reply) {
    let deletion = config.deletion_time(now, meta.delete_version_after);
    let (number, pruned) = meta.add_version(now, deletion, config.max_versions);
    let mut ops = vec![BarrierOp::Put {
        path: id.version_path(number),
        value,
    }];
    ops.extend(pruned.into_iter().map(|old| BarrierOp::Delete {
        path: id.version_path(old),
    }));
    let reply = match meta.versions.get(&number) {
        Some(added) => wire::version_metadata(number, added, &meta.custom_metadata),
        None => Map::new(),
    };
    (ops, Reply::ok(Response::with_data(reply)))
}

/// Applies `edit` to the versions of a key (nothing for a missing key); `edit` answers whether
/// it changed anything and lists versions whose values must be deleted.
async fn change_versions(
    keyspace: &Keyspace<'_>,
    raw_key: &str,
    mut edit: impl FnMut(&mut KeyMetadata, &mut Vec<u64>) -> bool,
) -> Result<Reply> {
    let Some(key) = KeyName::parse(raw_key) else {
        return Ok(Reply::NoContent);
    };
    let id = keyspace.key_id(&key);
    keyspace
        .update(&key, |meta| {
            let Some(mut meta) = meta else {
                return Ok(Decision::Keep(Reply::NoContent));
            };
            let mut destroyed = Vec::new();
            if !edit(&mut meta, &mut destroyed) {
                return Ok(Decision::Keep(Reply::NoContent));
            }
            let ops = destroyed
                .into_iter()
                .map(|number| BarrierOp::Delete {
                    path: id.version_path(number),
                })
                .collect();
            Ok(Decision::Apply(
                Change::Write { meta, ops },
                Reply::NoContent,
            ))
        })
        .await
}

/// The `versions` field as version numbers (non-positive numbers name no version).
fn version_list(fields: &Map<String, Value>, none_given: &str) -> Result<Vec<u64>> {
    let versions = input::int_list(fields, "versions")?;
    if versions.is_empty() {
        return Err(Error::invalid(none_given));
    }
    Ok(versions
        .into_iter()
        .filter_map(|version| u64::try_from(version).ok())
        .collect())
}

/// Replaces every leaf of `map` (and every object deeper than `max_depth`, when non-zero) by
/// `null`, as Vault's subkeys endpoint does.
fn strip_values(map: &mut Map<String, Value>, max_depth: i64, depth: i64) {
    for value in map.values_mut() {
        let next = depth.saturating_add(1);
        match value {
            Value::Object(inner) if !inner.is_empty() && (max_depth == 0 || next <= max_depth) => {
                strip_values(inner, max_depth, next);
            }
            other => *other = Value::Null,
        }
    }
}

fn missing_value(id: &KeyId, version: u64) -> Error {
    record::corrupt(
        &id.version_path(version),
        "the metadata lists this version but its value is missing".to_owned(),
    )
}

fn object<const N: usize>(members: [(&str, Value); N]) -> Map<String, Value> {
    members
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(data: Value, depth: i64, expect: Value) {
        let Value::Object(mut map) = data else {
            panic!("test data is an object");
        };
        strip_values(&mut map, depth, 1);
        assert_eq!(Value::Object(map), expect, "depth {depth}");
    }

    #[test]
    fn subkeys_strip_values() {
        let data = json!({"n": {"deep": {"x": 1}, "e": {}}, "s": "secret", "a": [1, 2]});
        check(
            data.clone(),
            0,
            json!({"n": {"deep": {"x": null}, "e": null}, "s": null, "a": null}),
        );
        check(data.clone(), 1, json!({"n": null, "s": null, "a": null}));
        check(
            data.clone(),
            2,
            json!({"n": {"deep": null, "e": null}, "s": null, "a": null}),
        );
        check(
            data.clone(),
            3,
            json!({"n": {"deep": {"x": null}, "e": null}, "s": null, "a": null}),
        );
        check(data, -1, json!({"n": null, "s": null, "a": null}));
        check(json!({}), 0, json!({}));
    }

    #[test]
    fn writable_keys() {
        assert_eq!(
            writable_key("a/b").ok().map(|k| k.as_str().to_owned()),
            Some("a/b".to_owned())
        );
        for (raw, message) in [
            ("", "missing path"),
            ("a/", "invalid path: a secret's name cannot end with '/'"),
        ] {
            match writable_key(raw) {
                Err(Error::InvalidRequest(got)) => assert_eq!(got, message),
                other => panic!("{raw:?}: unexpected {other:?}"),
            }
        }
    }
}
