//! The JSON shapes KV version 2 answers with, exactly as OpenBao 2.7 spells them: version
//! numbers are integers, the `versions` map of key metadata is keyed by strings, timestamps are
//! RFC 3339 with nanoseconds (empty when unset), and `custom_metadata` is `null` when empty.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::duration;
use super::record::{KeyMetadata, MountConfig, Timestamp, VersionMeta};

/// `{created_time, custom_metadata, deletion_time, destroyed, version}`: a version as data
/// reads, writes and patches report it.
pub(crate) fn version_metadata(
    version: u64,
    meta: &VersionMeta,
    custom: &BTreeMap<String, String>,
) -> Map<String, Value> {
    object(json!({
        "created_time": meta.created_time.rfc3339(),
        "custom_metadata": custom_metadata(custom),
        "deletion_time": optional_time(meta.deletion_time),
        "destroyed": meta.destroyed,
        "version": version,
    }))
}

/// The full metadata of a key (`metadata/<key>` and `detailed-metadata` key_info).
pub(crate) fn key_metadata(meta: &KeyMetadata) -> Map<String, Value> {
    let versions: Map<String, Value> = meta
        .versions
        .iter()
        .map(|(number, version)| {
            (
                number.to_string(),
                json!({
                    "created_time": version.created_time.rfc3339(),
                    "deletion_time": optional_time(version.deletion_time),
                    "destroyed": version.destroyed,
                }),
            )
        })
        .collect();
    let delete_version_after = i64::try_from(meta.delete_version_after).unwrap_or(i64::MAX);
    object(json!({
        "cas_required": meta.cas_required,
        "created_time": meta.created_time.rfc3339(),
        "current_metadata_version": meta.current_metadata_version,
        "current_version": meta.current_version,
        "custom_metadata": custom_metadata(&meta.custom_metadata),
        "delete_version_after": duration::format_seconds(delete_version_after),
        "max_versions": meta.max_versions,
        "metadata_cas_required": meta.metadata_cas_required,
        "oldest_version": meta.oldest_version,
        "updated_time": meta.updated_time.rfc3339(),
        "versions": versions,
    }))
}

/// The mount settings (`config`).
pub(crate) fn config(config: &MountConfig) -> Map<String, Value> {
    object(json!({
        "cas_required": config.cas_required,
        "delete_version_after": duration::format_seconds(config.delete_version_after.signed_secs()),
        "max_versions": config.max_versions,
        "metadata_cas_required": config.metadata_cas_required,
    }))
}

/// `custom_metadata`: an object, or `null` when there is none.
pub(crate) fn custom_metadata(custom: &BTreeMap<String, String>) -> Value {
    if custom.is_empty() {
        Value::Null
    } else {
        Value::Object(
            custom
                .iter()
                .map(|(key, value)| (key.clone(), Value::String(value.clone())))
                .collect(),
        )
    }
}

/// `{"keys": [...]}`.
pub(crate) fn keys(names: Vec<String>) -> Map<String, Value> {
    object(json!({ "keys": names }))
}

fn optional_time(time: Option<Timestamp>) -> String {
    time.map(Timestamp::rfc3339).unwrap_or_default()
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        // Every caller passes a `json!({...})` object literal.
        _ => Map::new(),
    }
}
