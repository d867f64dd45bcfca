//! KV version 2 engine tests: OpenBao 2.7's observed wire behaviour (reply shapes, exact error
//! messages, the odd 404s), versions and their window, soft delete / undelete / destroy,
//! metadata and its check-and-set, listing and scanning through the folder index, check-and-set
//! under real concurrency, the storage layout (no secret name in any storage path), sealing and
//! the upgrade from KV version 1.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use coffer_barrier::View;
use coffer_core::Operation::{self, Create, Delete, List, Patch, Read, Scan, Update};
use coffer_core::engine::{Engine, MountInfo};
use coffer_engines::kv::v1::{STORAGE_FOLDER, encode_secret};
use coffer_engines::kv::v2::KvV2Engine;
use coffer_storage::Storage;
use serde_json::{Map, Value, json};

use crate::support::{
    Call, VIEW_PREFIX, error, fixture, keys, mount, no_content, not_found, ok, request, script,
    view,
};

const UNSUPPORTED: &str = "1 error occurred:\n\t* unsupported operation\n\n";
const MISMATCH: &str = "check-and-set parameter did not match the current version";

/// Seconds since the epoch of the tests' time zero.
const BASE: u64 = 1_795_000_000;

/// The tests' clock: `secs` seconds after time zero (with nanoseconds, to see them printed).
fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::new(BASE + secs, 123_456_789)
}

/// How a reply spells [`at`]`(secs)`.
fn time(secs: u64) -> String {
    humantime::format_rfc3339_nanos(at(secs)).to_string()
}

fn kv2() -> (KvV2Engine, MountInfo) {
    let mount = mount("kv", &[("version", "2")]);
    (KvV2Engine::new(&mount), mount)
}

/// A request at time `secs`.
fn call(operation: Operation, path: &str, body: Value, secs: u64) -> Call {
    request(operation, path, body).at(at(secs))
}

fn put(path: &str, body: Value, secs: u64) -> Call {
    call(Update, path, body, secs)
}

fn get(path: &str, secs: u64) -> Call {
    call(Read, path, Value::Null, secs)
}

/// The metadata of one version, as data replies show it.
fn version_meta(
    version: u64,
    created: u64,
    deletion: Option<u64>,
    destroyed: bool,
    custom: Value,
) -> Value {
    json!({
        "created_time": time(created),
        "custom_metadata": custom,
        "deletion_time": deletion.map(time).unwrap_or_default(),
        "destroyed": destroyed,
        "version": version,
    })
}

/// The outcome of a write that created `version` at `secs`.
fn written(version: u64, secs: u64) -> Value {
    ok(version_meta(version, secs, None, false, Value::Null), 0)
}

/// The outcome of a read of `data`, version `version` written at `created`.
fn found(data: Value, version: u64, created: u64) -> Value {
    ok(
        json!({"data": data, "metadata": version_meta(version, created, None, false, Value::Null)}),
        0,
    )
}

/// A 404 with a body.
fn not_found_with(data: Value) -> Value {
    json!({"status": 404, "data": data, "lease_duration": 0, "warnings": []})
}

/// The 404 of a read of a deleted or destroyed version.
fn unreadable(meta: Value) -> Value {
    not_found_with(json!({"data": null, "metadata": meta}))
}

fn warning(text: &str) -> Value {
    json!({"status": 404, "data": null, "lease_duration": 0, "warnings": [text]})
}

fn invalid_path(command: &str) -> Value {
    warning(&format!(
        "Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API endpoints to use. If using the OpenBao CLI, use 'bao kv {command}' for this operation."
    ))
}

/// The `data` of a reply outcome.
fn data_of(outcome: &Value) -> Value {
    outcome.get("data").cloned().unwrap_or(Value::Null)
}

/// Every physical key below the test mount's view.
async fn storage_keys(storage: &Storage, below: &str) -> Vec<String> {
    storage
        .scan(&format!("{VIEW_PREFIX}{below}"), None, 1_000_000)
        .await
        .expect("the memory backend scans")
}

#[tokio::test]
async fn config_defaults_writes_and_refusals() {
    let view = view().await;
    let (engine, mount) = kv2();
    let config = |cas: bool, after: &str, max: u32, meta_cas: bool| {
        ok(
            json!({"cas_required": cas, "delete_version_after": after, "max_versions": max, "metadata_cas_required": meta_cas}),
            0,
        )
    };
    script(
        &engine,
        &mount,
        &view,
        &[
            (get("config", 0), config(false, "0s", 0, false)),
            // Nothing given: nothing written.
            (put("config", json!({}), 0), no_content()),
            (
                put("config", json!({"max_versions": 5, "cas_required": true, "delete_version_after": "768h"}), 0),
                no_content(),
            ),
            (get("config", 0), config(true, "768h0m0s", 5, false)),
            // Settings not given are kept; strings are read weakly.
            (put("config", json!({"metadata_cas_required": "true", "max_versions": "7"}), 0), no_content()),
            (get("config", 0), config(true, "768h0m0s", 7, true)),
            // A negative duration disables automatic deletion; zero clears it.
            (put("config", json!({"delete_version_after": "-5s"}), 0), no_content()),
            (get("config", 0), config(true, "-1s", 7, true)),
            (put("config", json!({"delete_version_after": 0, "cas_required": false}), 0), no_content()),
            (get("config", 0), config(false, "0s", 7, true)),
            (
                put("config", json!({"delete_version_after": "soon"}), 0),
                error("Field validation failed: error converting input for field \"delete_version_after\": strconv.ParseInt: parsing \"soon\": invalid syntax"),
            ),
            (
                put("config", json!({"max_versions": -1}), 0),
                error("max_versions must be between 0 and 4294967295, got -1"),
            ),
            (
                put("config", json!({"cas_required": "maybe"}), 0),
                error("Field validation failed: error converting input for field \"cas_required\": cannot parse '' as bool: strconv.ParseBool: parsing \"maybe\": invalid syntax"),
            ),
            (get("config", 0), config(false, "0s", 7, true)),
            (call(Delete, "config", Value::Null, 0), error(UNSUPPORTED)),
            (call(List, "config", Value::Null, 0), invalid_path("list")),
        ],
    )
    .await;
}

#[tokio::test]
async fn write_read_versions() {
    let view = view().await;
    let (engine, mount) = kv2();
    script(
        &engine,
        &mount,
        &view,
        &[
            (get("data/app/db", 0), not_found()),
            (
                put("data/app/db", json!({"data": {"username": "admin", "password": "s3cr3t"}, "options": {}}), 1),
                written(1, 1),
            ),
            (
                get("data/app/db", 2),
                found(json!({"username": "admin", "password": "s3cr3t"}), 1, 1),
            ),
            // A write replaces the whole map.
            (
                call(Create, "data/app/db", json!({"data": {"password": "p2", "n": {"deep": [1, null]}}}), 3),
                written(2, 3),
            ),
            (get("data/app/db", 4), found(json!({"password": "p2", "n": {"deep": [1, null]}}), 2, 3)),
            (
                call(Read, "data/app/db", json!({"version": "1"}), 4),
                found(json!({"username": "admin", "password": "s3cr3t"}), 1, 1),
            ),
            // 0 and negative numbers mean the latest.
            (call(Read, "data/app/db", json!({"version": "0"}), 4), found(json!({"password": "p2", "n": {"deep": [1, null]}}), 2, 3)),
            (call(Read, "data/app/db", json!({"version": "-1"}), 4), found(json!({"password": "p2", "n": {"deep": [1, null]}}), 2, 3)),
            (call(Read, "data/app/db", json!({"version": "3"}), 4), not_found()),
            (
                call(Read, "data/app/db", json!({"version": "abc"}), 4),
                error("Field validation failed: error converting input for field \"version\": cannot parse '' as int: strconv.ParseInt: parsing \"abc\": invalid syntax"),
            ),
            (
                call(Read, "data/missing", json!({"version": "abc"}), 4),
                error("Field validation failed: error converting input for field \"version\": cannot parse '' as int: strconv.ParseInt: parsing \"abc\": invalid syntax"),
            ),
            (get("data/app", 4), not_found()),
            (get("data/", 4), not_found()),
            (call(List, "data/app", Value::Null, 4), error(UNSUPPORTED)),
            (call(List, "data/", Value::Null, 4), error(UNSUPPORTED)),
            (call(Scan, "data/", Value::Null, 4), error(UNSUPPORTED)),
        ],
    )
    .await;
}

#[tokio::test]
async fn bad_writes_are_refused_and_write_nothing() {
    let view = view().await;
    let (engine, mount) = kv2();
    let data_type = |kind: &str| {
        error(&format!(
            "error converting input for field \"data\": '' expected type 'map[string]interface {{}}', got unconvertible type '{kind}'"
        ))
    };
    script(
        &engine,
        &mount,
        &view,
        &[
            (put("data/k", json!({}), 0), error("no data provided")),
            (put("data/k", json!({"data": null}), 0), error("no data provided")),
            (put("data/k", json!({"options": {"cas": 0}}), 0), error("no data provided")),
            (put("data/k", json!({"data": "text"}), 0), data_type("string")),
            (put("data/k", json!({"data": 5}), 0), data_type("json.Number")),
            (put("data/k", json!({"data": true}), 0), data_type("bool")),
            (put("data/k", json!({"data": [1]}), 0), data_type("[]interface {}")),
            (
                put("data/k", json!({"data": {"a": 1}, "options": "cas"}), 0),
                error("error converting input for field \"options\": '' expected type 'map[string]interface {}', got unconvertible type 'string'"),
            ),
            (
                put("data/k", json!({"data": {"a": 1}, "options": {"cas": "one"}}), 0),
                error("error parsing check-and-set parameter"),
            ),
            (
                put("data/k", json!({"data": {"a": 1}, "options": {"cas": 1.5}}), 0),
                error("error parsing check-and-set parameter"),
            ),
            (put("data/k", json!({"data": {"a": 1}, "options": {"cas": 1}}), 0), error(MISMATCH)),
            (put("data/", json!({"data": {"a": 1}}), 0), error("missing path")),
            (
                put("data/folder/", json!({"data": {"a": 1}}), 0),
                error("invalid path: a secret's name cannot end with '/'"),
            ),
            // None of that created anything.
            (get("data/k", 0), not_found()),
            (get("metadata/k", 0), not_found()),
            (call(List, "metadata/", Value::Null, 0), not_found()),
            // An empty array is an empty map, as Go's weak decoding has it.
            (put("data/k", json!({"data": []}), 1), written(1, 1)),
            (get("data/k", 1), found(json!({}), 1, 1)),
        ],
    )
    .await;
}

#[tokio::test]
async fn check_and_set() {
    let view = view().await;
    let (engine, mount) = kv2();
    let required = "check-and-set parameter required for this call";
    script(
        &engine,
        &mount,
        &view,
        &[
            // cas 0: only if absent.
            (
                put(
                    "data/k",
                    json!({"data": {"v": 1}, "options": {"cas": 0}}),
                    1,
                ),
                written(1, 1),
            ),
            (
                put(
                    "data/k",
                    json!({"data": {"v": 2}, "options": {"cas": 0}}),
                    2,
                ),
                error(MISMATCH),
            ),
            (
                put(
                    "data/k",
                    json!({"data": {"v": 2}, "options": {"cas": 2}}),
                    2,
                ),
                error(MISMATCH),
            ),
            (
                put(
                    "data/k",
                    json!({"data": {"v": 2}, "options": {"cas": "1"}}),
                    2,
                ),
                written(2, 2),
            ),
            (get("data/k", 3), found(json!({"v": 2}), 2, 2)),
            // Required by the mount.
            (
                put("config", json!({"cas_required": true}), 3),
                no_content(),
            ),
            (put("data/k", json!({"data": {"v": 3}}), 3), error(required)),
            (
                put("data/k", json!({"data": {"v": 3}, "options": {}}), 3),
                error(required),
            ),
            (
                put(
                    "data/k",
                    json!({"data": {"v": 3}, "options": {"cas": 2}}),
                    3,
                ),
                written(3, 3),
            ),
            (
                put("config", json!({"cas_required": false}), 4),
                no_content(),
            ),
            // Required by the key.
            (
                put("metadata/k", json!({"cas_required": true}), 4),
                no_content(),
            ),
            (put("data/k", json!({"data": {"v": 4}}), 4), error(required)),
            (
                call(Patch, "data/k", json!({"data": {"v": 4}}), 4),
                error(required),
            ),
            (
                put(
                    "data/k",
                    json!({"data": {"v": 4}, "options": {"cas": 3}}),
                    4,
                ),
                written(4, 4),
            ),
            (
                put("data/other", json!({"data": {"v": 1}}), 4),
                written(1, 4),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn merge_patch() {
    let view = view().await;
    let (engine, mount) = kv2();
    script(
        &engine,
        &mount,
        &view,
        &[
            (call(Patch, "data/k", json!({"data": {"a": 1}}), 0), json!({"status": 404, "empty": true})),
            (call(Patch, "data/", json!({"data": {"a": 1}}), 0), json!({"status": 404, "empty": true})),
            (
                put("data/k", json!({"data": {"user": "bob", "pass": "p1", "n": {"x": 1, "y": 2}}}), 1),
                written(1, 1),
            ),
            (
                call(Patch, "data/k", json!({"data": {"pass": null, "extra": "x", "n": {"y": null, "z": 3}}, "options": {}}), 2),
                written(2, 2),
            ),
            (get("data/k", 3), found(json!({"user": "bob", "extra": "x", "n": {"x": 1, "z": 3}}), 2, 2)),
            (call(Patch, "data/k", json!({"data": {"user": "eve"}, "options": {"cas": 1}}), 3), error(MISMATCH)),
            (call(Patch, "data/k", json!({"data": {"user": "eve"}, "options": {"cas": 2}}), 3), written(3, 3)),
            (get("data/k", 3), found(json!({"user": "eve", "extra": "x", "n": {"x": 1, "z": 3}}), 3, 3)),
            (call(Patch, "data/k", json!({}), 4), error("no data provided")),
            (
                call(Patch, "data/k", json!({"data": "x"}), 4),
                error("error converting input for field \"data\": '' expected type 'map[string]interface {}', got unconvertible type 'string'"),
            ),
            // A deleted latest version: 404 with the version's metadata itself as data.
            (call(Delete, "data/k", Value::Null, 5), no_content()),
            (
                call(Patch, "data/k", json!({"data": {"user": "mallory"}}), 6),
                not_found_with(version_meta(3, 3, Some(5), false, Value::Null)),
            ),
        ],
    )
    .await;
    let meta = data_of(&get("metadata/k", 6).send(&engine, &mount, &view).await);
    assert_eq!(meta["current_version"], json!(3));
}

#[tokio::test]
async fn delete_undelete_destroy() {
    let fixture = fixture().await;
    let view = &fixture.view;
    let (engine, mount) = kv2();
    for (version, secs) in [(1, 1), (2, 2), (3, 3)] {
        let body = json!({"data": {"v": version}});
        assert_eq!(
            put("data/k", body, secs).send(&engine, &mount, view).await,
            written(version, secs)
        );
    }
    script(
        &engine,
        &mount,
        view,
        &[
            // DELETE soft-deletes the latest version only.
            (call(Delete, "data/k", Value::Null, 10), no_content()),
            (get("data/k", 11), unreadable(version_meta(3, 3, Some(10), false, Value::Null))),
            (call(Read, "data/k", json!({"version": 2}), 11), found(json!({"v": 2}), 2, 2)),
            // Deleting again keeps the first deletion time.
            (call(Delete, "data/k", Value::Null, 12), no_content()),
            (get("data/k", 12), unreadable(version_meta(3, 3, Some(10), false, Value::Null))),
            (put("delete/k", json!({"versions": ["1", 2]}), 13), no_content()),
            (call(Read, "data/k", json!({"version": 1}), 14), unreadable(version_meta(1, 1, Some(13), false, Value::Null))),
            (put("undelete/k", json!({"versions": ["1", "3"]}), 15), no_content()),
            (call(Read, "data/k", json!({"version": 1}), 15), found(json!({"v": 1}), 1, 1)),
            (get("data/k", 15), found(json!({"v": 3}), 3, 3)),
            (call(Read, "data/k", json!({"version": 2}), 15), unreadable(version_meta(2, 2, Some(13), false, Value::Null))),
            (put("destroy/k", json!({"versions": [2, 3, 9]}), 16), no_content()),
            (get("data/k", 16), unreadable(version_meta(3, 3, None, true, Value::Null))),
            (call(Read, "data/k", json!({"version": 2}), 16), unreadable(version_meta(2, 2, Some(13), true, Value::Null))),
            // A destroyed version cannot be undeleted or deleted.
            (put("undelete/k", json!({"versions": [3]}), 17), no_content()),
            (put("delete/k", json!({"versions": [3]}), 17), no_content()),
            (get("data/k", 17), unreadable(version_meta(3, 3, None, true, Value::Null))),
            // Missing version lists, in Vault's two spellings.
            (put("delete/k", json!({}), 18), error("No version number provided")),
            (put("undelete/k", json!({"versions": []}), 18), error("No version number provided")),
            (put("destroy/k", json!({}), 18), error("no version number provided")),
            (
                put("destroy/k", json!({"versions": ["1", "one"]}), 18),
                error("Field validation failed: error converting input for field \"versions\": cannot parse '[1]' as int: strconv.ParseInt: parsing \"one\": invalid syntax"),
            ),
            (call(Read, "data/k", json!({"version": 1}), 18), found(json!({"v": 1}), 1, 1)),
            // Missing keys are fine.
            (put("delete/nope", json!({"versions": [1]}), 18), no_content()),
            (put("undelete/nope", json!({"versions": [1]}), 18), no_content()),
            (put("destroy/nope", json!({"versions": [1]}), 18), no_content()),
            (call(Delete, "data/nope", Value::Null, 18), no_content()),
            (get("metadata/nope", 18), not_found()),
            // Only writes on the version paths.
            (get("delete/k", 18), error(UNSUPPORTED)),
            (call(Delete, "destroy/k", Value::Null, 18), error(UNSUPPORTED)),
        ],
    )
    .await;
    // Destroy removed the values for good: only version 1 is still stored.
    assert_eq!(storage_keys(&fixture.storage, "ver/").await.len(), 1);
}

#[tokio::test]
async fn delete_version_after_expires_versions() {
    let view = view().await;
    let (engine, mount) = kv2();
    let hour = 3600;
    script(
        &engine,
        &mount,
        &view,
        &[
            (put("config", json!({"delete_version_after": "1h"}), 0), no_content()),
            (
                put("data/k", json!({"data": {"v": 1}}), 10),
                ok(version_meta(1, 10, Some(10 + hour), false, Value::Null), 0),
            ),
            (
                get("data/k", 20),
                ok(json!({"data": {"v": 1}, "metadata": version_meta(1, 10, Some(10 + hour), false, Value::Null)}), 0),
            ),
            // At the deletion time itself it is still there; after it, it reads as deleted.
            (get("data/k", 10 + hour), ok(json!({"data": {"v": 1}, "metadata": version_meta(1, 10, Some(10 + hour), false, Value::Null)}), 0)),
            (get("data/k", 11 + hour), unreadable(version_meta(1, 10, Some(10 + hour), false, Value::Null))),
            // Undelete gives a fresh deletion time in the future.
            (put("undelete/k", json!({"versions": [1]}), 3 * hour), no_content()),
            (get("data/k", 3 * hour + 1), ok(json!({"data": {"v": 1}, "metadata": version_meta(1, 10, Some(4 * hour), false, Value::Null)}), 0)),
            // The smaller of the key's and the mount's setting applies.
            (put("metadata/k", json!({"delete_version_after": "10m"}), 5 * hour), no_content()),
            (
                put("data/k", json!({"data": {"v": 2}}), 5 * hour),
                ok(version_meta(2, 5 * hour, Some(5 * hour + 600), false, Value::Null), 0),
            ),
            // A disabled mount setting turns it off for every key.
            (put("config", json!({"delete_version_after": "-1s"}), 6 * hour), no_content()),
            (put("data/k", json!({"data": {"v": 3}}), 6 * hour), written(3, 6 * hour)),
        ],
    )
    .await;
}

#[tokio::test]
async fn max_versions_prunes_the_oldest() {
    let fixture = fixture().await;
    let view = &fixture.view;
    let (engine, mount) = kv2();
    assert_eq!(
        put("metadata/k", json!({"max_versions": 2}), 0)
            .send(&engine, &mount, view)
            .await,
        no_content()
    );
    for version in 1..=4 {
        let outcome = put("data/k", json!({"data": {"v": version}}), version)
            .send(&engine, &mount, view)
            .await;
        assert_eq!(outcome, written(version, version));
    }
    let meta = data_of(&get("metadata/k", 5).send(&engine, &mount, view).await);
    assert_eq!(meta["max_versions"], json!(2));
    assert_eq!(meta["oldest_version"], json!(3));
    assert_eq!(meta["current_version"], json!(4));
    assert_eq!(
        meta["versions"]
            .as_object()
            .map(|v| v.keys().cloned().collect::<Vec<_>>()),
        Some(vec!["3".to_owned(), "4".to_owned()])
    );
    assert_eq!(
        call(Read, "data/k", json!({"version": 2}), 5)
            .send(&engine, &mount, view)
            .await,
        not_found()
    );
    assert_eq!(storage_keys(&fixture.storage, "ver/").await.len(), 2);

    // The mount's max_versions applies to keys without their own; 0 is reported as 0 and
    // keeps 10.
    assert_eq!(
        put("config", json!({"max_versions": 3}), 6)
            .send(&engine, &mount, view)
            .await,
        no_content()
    );
    for version in 1..=5 {
        put("data/other", json!({"data": {"v": version}}), 10 + version)
            .send(&engine, &mount, view)
            .await;
    }
    let meta = data_of(&get("metadata/other", 20).send(&engine, &mount, view).await);
    assert_eq!(
        (meta["max_versions"].clone(), meta["oldest_version"].clone()),
        (json!(0), json!(3))
    );
    assert_eq!(meta["versions"].as_object().map(Map::len), Some(3));

    assert_eq!(
        put("config", json!({"max_versions": 0}), 21)
            .send(&engine, &mount, view)
            .await,
        no_content()
    );
    for version in 1..=12 {
        put("data/ten", json!({"data": {"v": version}}), 30 + version)
            .send(&engine, &mount, view)
            .await;
    }
    let meta = data_of(&get("metadata/ten", 50).send(&engine, &mount, view).await);
    assert_eq!(meta["versions"].as_object().map(Map::len), Some(10));
    assert_eq!(meta["oldest_version"], json!(3));
}

#[tokio::test]
async fn metadata_read_write_patch_delete() {
    let fixture = fixture().await;
    let view = &fixture.view;
    let (engine, mount) = kv2();
    let custom = json!({"owner": "team-a", "env": "prod"});
    script(
        &engine,
        &mount,
        view,
        &[
            (get("metadata/app/cli", 0), not_found()),
            // Nothing given: nothing created.
            (put("metadata/app/cli", json!({}), 0), no_content()),
            (get("metadata/app/cli", 0), not_found()),
            (
                put("metadata/app/cli", json!({"max_versions": 5, "cas_required": false, "delete_version_after": "768h", "custom_metadata": custom}), 1),
                no_content(),
            ),
            (
                get("metadata/app/cli", 2),
                ok(
                    json!({
                        "cas_required": false, "created_time": time(1), "current_metadata_version": 1,
                        "current_version": 0, "custom_metadata": {"env": "prod", "owner": "team-a"},
                        "delete_version_after": "768h0m0s", "max_versions": 5, "metadata_cas_required": false,
                        "oldest_version": 0, "updated_time": time(1), "versions": {},
                    }),
                    0,
                ),
            ),
            // A key with metadata but no version reads as missing.
            (get("data/app/cli", 2), not_found()),
            (
                put("data/app/cli", json!({"data": {"a": "b"}}), 3),
                ok(version_meta(1, 3, Some(3 + 768 * 3600), false, json!({"env": "prod", "owner": "team-a"})), 0),
            ),
            (
                call(Patch, "metadata/app/cli", json!({"custom_metadata": {"env": null, "tier": "1"}, "delete_version_after": null}), 4),
                no_content(),
            ),
            (
                get("metadata/app/cli", 5),
                ok(
                    json!({
                        "cas_required": false, "created_time": time(1), "current_metadata_version": 2,
                        "current_version": 1, "custom_metadata": {"owner": "team-a", "tier": "1"},
                        "delete_version_after": "0s", "max_versions": 5, "metadata_cas_required": false,
                        "oldest_version": 0, "updated_time": time(3),
                        "versions": {"1": {"created_time": time(3), "deletion_time": time(3 + 768 * 3600), "destroyed": false}},
                    }),
                    0,
                ),
            ),
            // custom_metadata is echoed in every version's metadata.
            (
                get("data/app/cli", 6),
                ok(json!({"data": {"a": "b"}, "metadata": version_meta(1, 3, Some(3 + 768 * 3600), false, json!({"owner": "team-a", "tier": "1"}))}), 0),
            ),
            // A write replaces custom_metadata; an empty map reads as null.
            (put("metadata/app/cli", json!({"custom_metadata": {}}), 7), no_content()),
            (
                put("data/app/cli", json!({"data": {"a": "c"}}), 8),
                written(2, 8),
            ),
            (call(Patch, "metadata/missing", json!({"max_versions": 1}), 8), json!({"status": 404, "empty": true})),
            (
                put("metadata/app/cli", json!({"custom_metadata": {"owner": ""}}), 8),
                error("1 error occurred:\n\t* custom_metadata validation failed: length of value for key \"owner\" is 0 but must be 0 < len(value) <= 512\n\n"),
            ),
            (
                put("metadata/app/cli", json!({"custom_metadata": "owner=me"}), 8),
                error("error converting input for field \"custom_metadata\": '' expected type 'map[string]interface {}', got unconvertible type 'string'"),
            ),
            (
                put("metadata/app/cli", json!({"delete_version_after": "-1h"}), 8),
                error("Field validation failed: error converting input for field \"delete_version_after\": cannot provide negative value '-3600'"),
            ),
            (put("metadata/", json!({"max_versions": 1}), 8), error("missing path")),
            // DELETE removes every version and the metadata.
            (call(Delete, "metadata/app/cli", Value::Null, 9), no_content()),
            (get("metadata/app/cli", 9), not_found()),
            (get("data/app/cli", 9), not_found()),
            (call(List, "metadata/", Value::Null, 9), not_found()),
            (call(Delete, "metadata/app/cli", Value::Null, 9), no_content()),
        ],
    )
    .await;
    // Nothing of the key is left in storage: no metadata, value or folder entry.
    let left: Vec<String> = storage_keys(&fixture.storage, "")
        .await
        .into_iter()
        .filter(|key| !key.ends_with("/salt") && !key.ends_with("/config"))
        .collect();
    assert_eq!(left, Vec::<String>::new());
}

#[tokio::test]
async fn metadata_check_and_set_and_warnings() {
    let view = view().await;
    let (engine, mount) = kv2();
    let required = "check-and-set parameter required for this call";
    script(
        &engine,
        &mount,
        &view,
        &[
            (put("metadata/k", json!({"max_versions": 1, "cas": 0}), 0), no_content()),
            (put("metadata/k", json!({"max_versions": 2, "cas": 0}), 0), error(MISMATCH)),
            (put("metadata/k", json!({"max_versions": 2, "cas": 1}), 0), no_content()),
            (put("metadata/k", json!({"metadata_cas_required": true}), 0), no_content()),
            (put("metadata/k", json!({"max_versions": 3}), 0), error(required)),
            (call(Patch, "metadata/k", json!({"max_versions": 3}), 0), error(required)),
            (call(Patch, "metadata/k", json!({"max_versions": 3, "cas": 3}), 0), no_content()),
            (put("config", json!({"metadata_cas_required": true, "cas_required": true}), 0), no_content()),
            (put("metadata/new", json!({"max_versions": 3}), 0), error(required)),
            (
                put("metadata/new", json!({"cas_required": false, "cas": 0}), 0),
                json!({"status": 200, "data": null, "lease_duration": 0, "warnings": ["\"cas_required\" set to false, but is mandated by backend config. This value will be ignored."]}),
            ),
        ],
    )
    .await;
    let meta = data_of(&get("metadata/k", 0).send(&engine, &mount, &view).await);
    assert_eq!(
        (
            meta["max_versions"].clone(),
            meta["current_metadata_version"].clone(),
            meta["metadata_cas_required"].clone()
        ),
        (json!(3), json!(4), json!(true))
    );
}

#[tokio::test]
async fn list_folders_pagination_and_pruning() {
    let fixture = fixture().await;
    let view = &fixture.view;
    let (engine, mount) = kv2();
    for key in ["one", "two", "sub/three", "sub/deep/four", "b/five"] {
        let outcome = put(&format!("data/{key}"), json!({"data": {"k": key}}), 1)
            .send(&engine, &mount, view)
            .await;
        assert_eq!(data_of(&outcome)["version"], json!(1), "{key}");
    }
    let list = |path: &str, query: Value| call(List, path, query, 2);
    script(
        &engine,
        &mount,
        view,
        &[
            (
                list("metadata/", Value::Null),
                keys(&["b/", "one", "sub/", "two"]),
            ),
            (
                list("metadata", Value::Null),
                keys(&["b/", "one", "sub/", "two"]),
            ),
            (list("metadata/sub", Value::Null), keys(&["deep/", "three"])),
            (
                list("metadata/sub/", Value::Null),
                keys(&["deep/", "three"]),
            ),
            (list("metadata/sub/deep", Value::Null), keys(&["four"])),
            (list("metadata/nothing", Value::Null), not_found()),
            (list("metadata/one", Value::Null), not_found()),
            (list("metadata/", json!({"limit": "1"})), keys(&["b/"])),
            (
                list("metadata/", json!({"after": "one"})),
                keys(&["sub/", "two"]),
            ),
            (
                list("metadata/", json!({"after": "b/", "limit": 2})),
                keys(&["one", "sub/"]),
            ),
            (list("metadata/", json!({"after": "two"})), not_found()),
            (
                call(Scan, "metadata/", Value::Null, 2),
                keys(&["b/five", "one", "sub/deep/four", "sub/three", "two"]),
            ),
            (
                call(Scan, "metadata/sub", Value::Null, 2),
                keys(&["deep/four", "three"]),
            ),
            (call(Scan, "metadata/none", Value::Null, 2), not_found()),
            // Deleting the last key of a folder removes the folder, up to the first that still
            // holds something.
            (
                call(Delete, "metadata/sub/deep/four", Value::Null, 3),
                no_content(),
            ),
            (list("metadata/sub", Value::Null), keys(&["three"])),
            (
                call(Delete, "metadata/b/five", Value::Null, 3),
                no_content(),
            ),
            (
                list("metadata/", Value::Null),
                keys(&["one", "sub/", "two"]),
            ),
            // A soft-deleted or destroyed key is still listed.
            (call(Delete, "data/one", Value::Null, 3), no_content()),
            (
                put("destroy/two", json!({"versions": [1]}), 3),
                no_content(),
            ),
            (
                list("metadata/", Value::Null),
                keys(&["one", "sub/", "two"]),
            ),
        ],
    )
    .await;
    for key in ["one", "two", "sub/three"] {
        assert_eq!(
            call(Delete, &format!("metadata/{key}"), Value::Null, 4)
                .send(&engine, &mount, view)
                .await,
            no_content()
        );
    }
    assert_eq!(
        list("metadata/", Value::Null)
            .send(&engine, &mount, view)
            .await,
        not_found()
    );
    assert_eq!(
        storage_keys(&fixture.storage, "dir/").await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn detailed_metadata_listing() {
    let view = view().await;
    let (engine, mount) = kv2();
    put("data/app/db", json!({"data": {"a": 1}}), 1)
        .send(&engine, &mount, &view)
        .await;
    put(
        "metadata/app/cfg",
        json!({"custom_metadata": {"owner": "me"}}),
        2,
    )
    .send(&engine, &mount, &view)
    .await;
    put("data/app/sub/x", json!({"data": {"a": 1}}), 3)
        .send(&engine, &mount, &view)
        .await;
    let meta_db = data_of(&get("metadata/app/db", 4).send(&engine, &mount, &view).await);
    let meta_cfg = data_of(
        &get("metadata/app/cfg", 4)
            .send(&engine, &mount, &view)
            .await,
    );
    script(
        &engine,
        &mount,
        &view,
        &[
            (
                call(List, "detailed-metadata/app", Value::Null, 4),
                ok(json!({"keys": ["cfg", "db", "sub/"], "key_info": {"cfg": meta_cfg, "db": meta_db}}), 0),
            ),
            (
                call(List, "detailed-metadata/app/", json!({"limit": 1}), 4),
                ok(json!({"keys": ["cfg"], "key_info": {"cfg": meta_cfg}}), 0),
            ),
            (call(List, "detailed-metadata/none", Value::Null, 4), not_found()),
            (get("detailed-metadata/app/db", 4), error(UNSUPPORTED)),
        ],
    )
    .await;
}

#[tokio::test]
async fn subkeys_depth_and_versions() {
    let view = view().await;
    let (engine, mount) = kv2();
    let subkeys = |tree: Value, version: u64, created: u64| {
        ok(
            json!({"subkeys": tree, "metadata": version_meta(version, created, None, false, Value::Null)}),
            0,
        )
    };
    script(
        &engine,
        &mount,
        &view,
        &[
            (get("subkeys/k", 0), not_found()),
            (put("data/k", json!({"data": {"n": {"deep": {"x": "secret"}}, "s": "secret"}}), 1), written(1, 1)),
            (put("data/k", json!({"data": {"only": "v2"}}), 2), written(2, 2)),
            (get("subkeys/k", 3), subkeys(json!({"only": null}), 2, 2)),
            (
                call(Read, "subkeys/k", json!({"version": "1"}), 3),
                subkeys(json!({"n": {"deep": {"x": null}}, "s": null}), 1, 1),
            ),
            (
                call(Read, "subkeys/k", json!({"version": "1", "depth": "1"}), 3),
                subkeys(json!({"n": null, "s": null}), 1, 1),
            ),
            (
                call(Read, "subkeys/k", json!({"version": 1, "depth": 2}), 3),
                subkeys(json!({"n": {"deep": null}, "s": null}), 1, 1),
            ),
            (call(Read, "subkeys/k", json!({"version": 7}), 3), not_found()),
            (
                call(Read, "subkeys/k", json!({"depth": "x"}), 3),
                error("Field validation failed: error converting input for field \"depth\": cannot parse '' as int: strconv.ParseInt: parsing \"x\": invalid syntax"),
            ),
            (call(Delete, "data/k", Value::Null, 4), no_content()),
            (
                get("subkeys/k", 5),
                not_found_with(json!({"subkeys": null, "metadata": version_meta(2, 2, Some(4), false, Value::Null)})),
            ),
            (put("subkeys/k", json!({}), 5), error(UNSUPPORTED)),
        ],
    )
    .await;
}

#[tokio::test]
async fn v1_style_paths_get_warnings() {
    let view = view().await;
    let (engine, mount) = kv2();
    let root = warning("Non-listing operations on the root of a K/V v2 mount are not supported.");
    script(
        &engine,
        &mount,
        &view,
        &[
            (get("app/db", 0), invalid_path("get")),
            (put("app/db", json!({"a": "b"}), 0), invalid_path("put")),
            (
                call(Create, "app/db", json!({"a": "b"}), 0),
                invalid_path("put"),
            ),
            (
                call(Patch, "app/db", json!({"a": "b"}), 0),
                invalid_path("patch"),
            ),
            (
                call(Delete, "app/db", Value::Null, 0),
                invalid_path("delete"),
            ),
            (call(List, "app", Value::Null, 0), invalid_path("list")),
            (call(List, "", Value::Null, 0), invalid_path("list")),
            (call(Scan, "app/", Value::Null, 0), invalid_path("scan")),
            (get("", 0), invalid_path("get")),
            (get("subkeys", 0), invalid_path("get")),
            (get("data", 0), root.clone()),
            (get("metadata", 0), root.clone()),
            (put("destroy", json!({"versions": [1]}), 0), root),
            // Nothing was written by any of them.
            (get("data/app/db", 0), not_found()),
        ],
    )
    .await;
}

#[tokio::test]
async fn exists_answers_for_data_and_metadata_writes() {
    let view = view().await;
    let (engine, mount) = kv2();
    assert_eq!(exists(&engine, &mount, &view, "data/k").await, Some(false));
    assert_eq!(
        exists(&engine, &mount, &view, "metadata/k").await,
        Some(false)
    );
    put("metadata/k", json!({"max_versions": 1}), 0)
        .send(&engine, &mount, &view)
        .await;
    assert_eq!(exists(&engine, &mount, &view, "data/k").await, Some(true));
    assert_eq!(
        exists(&engine, &mount, &view, "metadata/k").await,
        Some(true)
    );
    assert_eq!(exists(&engine, &mount, &view, "data/").await, Some(false));
    assert_eq!(exists(&engine, &mount, &view, "config").await, None);
    assert_eq!(exists(&engine, &mount, &view, "destroy/k").await, None);
    assert_eq!(exists(&engine, &mount, &view, "app/k").await, None);
}

/// The engine's existence check for a write to `path`.
async fn exists(engine: &KvV2Engine, mount: &MountInfo, view: &View, path: &str) -> Option<bool> {
    put(path, json!({}), 0)
        .exists(engine, mount, view)
        .await
        .expect("the existence check reads storage")
}

#[tokio::test]
async fn storage_paths_never_reveal_names() {
    let fixture = fixture().await;
    let view = &fixture.view;
    let (engine, mount) = kv2();
    let writes = [
        put(
            "data/secret-name/password-key",
            json!({"data": {"value": "hunter2"}}),
            1,
        ),
        call(
            Patch,
            "data/secret-name/password-key",
            json!({"data": {"other": "x"}}),
            2,
        ),
        put(
            "metadata/secret-name/password-key",
            json!({"custom_metadata": {"owner": "owner-name"}}),
            3,
        ),
        put(
            "delete/secret-name/password-key",
            json!({"versions": [1]}),
            4,
        ),
        put(
            "destroy/secret-name/password-key",
            json!({"versions": [1]}),
            5,
        ),
        put("config", json!({"max_versions": 4}), 6),
    ];
    for write in &writes {
        let outcome = write.send(&engine, &mount, view).await;
        assert!(outcome.get("error").is_none(), "{outcome}");
    }
    let all = storage_keys(&fixture.storage, "").await;
    assert!(all.len() >= 6, "{all:?}");
    for key in &all {
        for name in ["secret-name", "password-key", "secret", "password"] {
            assert!(!key.contains(name), "storage path {key:?} reveals {name:?}");
        }
        // Values are encrypted too: no name or secret in the stored bytes.
        let value = fixture
            .storage
            .get(key)
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        for needle in [
            &b"secret-name"[..],
            b"password-key",
            b"hunter2",
            b"owner-name",
        ] {
            assert!(!value.windows(needle.len()).any(|w| w == needle), "{key:?}");
        }
    }
    assert_eq!(
        call(List, "metadata/secret-name", Value::Null, 7)
            .send(&engine, &mount, view)
            .await,
        keys(&["password-key"])
    );
}

#[tokio::test]
async fn a_sealed_barrier_says_so() {
    let fixture = fixture().await;
    let (engine, mount) = kv2();
    put("data/k", json!({"data": {"a": 1}}), 0)
        .send(&engine, &mount, &fixture.view)
        .await;
    fixture.barrier.seal();
    for call in [
        get("data/k", 1),
        put("data/k", json!({"data": {"a": 2}}), 1),
        get("config", 1),
        call(List, "metadata/", Value::Null, 1),
    ] {
        assert_eq!(
            call.send(&engine, &mount, &fixture.view).await,
            error("Vault is sealed")
        );
    }
    // A fresh engine (no cached salt) says the same.
    let (fresh, _) = kv2();
    assert_eq!(
        get("data/k", 1).send(&fresh, &mount, &fixture.view).await,
        error("Vault is sealed")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_check_and_set_has_one_winner_per_version() {
    let view = view().await;
    let (engine, mount) = kv2();
    let engine = Arc::new(engine);
    let tasks: Vec<_> = (0..32)
        .map(|task| {
            let (engine, mount, view) = (Arc::clone(&engine), mount.clone(), view.clone());
            tokio::spawn(async move { cas_writer(&*engine, &mount, &view, task).await })
        })
        .collect();
    let mut created = Vec::new();
    for task in tasks {
        created.extend(task.await.expect("a writer task does not panic"));
    }
    let unique: BTreeSet<u64> = created.iter().copied().collect();
    assert_eq!(
        unique.len(),
        created.len(),
        "two writers created the same version: {created:?}"
    );
    let successes = u64::try_from(created.len()).expect("a small count");
    assert!(successes >= 5, "every round has a winner: {created:?}");
    assert_eq!(unique, (1..=successes).collect::<BTreeSet<_>>());
    let meta = data_of(
        &get("metadata/shared", 0)
            .send(&*engine, &mount, &view)
            .await,
    );
    assert_eq!(meta["current_version"], json!(successes));
}

/// Five rounds of "read the current version, write with cas = it"; returns the versions this
/// writer created. Every refusal must be the check-and-set mismatch.
async fn cas_writer(engine: &dyn Engine, mount: &MountInfo, view: &View, task: u64) -> Vec<u64> {
    let mut created = Vec::new();
    for round in 0..5 {
        let meta = data_of(&get("metadata/shared", 0).send(engine, mount, view).await);
        let current = meta
            .get("current_version")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let body = json!({"data": {"task": task, "round": round}, "options": {"cas": current}});
        let outcome = put("data/shared", body, 0).send(engine, mount, view).await;
        match data_of(&outcome).get("version").and_then(Value::as_u64) {
            Some(version) => {
                assert_eq!(version, current + 1);
                created.push(version);
            }
            None => assert_eq!(outcome, error(MISMATCH)),
        }
    }
    created
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_without_cas_all_land() {
    let view = view().await;
    let (engine, mount) = kv2();
    let engine = Arc::new(engine);
    let tasks: Vec<_> = (0..16)
        .map(|task| {
            let (engine, mount, view) = (Arc::clone(&engine), mount.clone(), view.clone());
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                for round in 0..5 {
                    let body = json!({"data": {"task": task, "round": round}});
                    outcomes.push(
                        put("data/busy", body, 0)
                            .send(&*engine, &mount, &view)
                            .await,
                    );
                }
                outcomes
            })
        })
        .collect();
    let mut versions = BTreeSet::new();
    for task in tasks {
        for outcome in task.await.expect("a writer task does not panic") {
            let version = data_of(&outcome).get("version").and_then(Value::as_u64);
            assert!(version.is_some_and(|v| versions.insert(v)), "{outcome}");
        }
    }
    assert_eq!(versions, (1..=80).collect::<BTreeSet<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_and_deletes_keep_the_folder_index_exact() {
    let fixture = fixture().await;
    let (engine, mount) = kv2();
    let engine = Arc::new(engine);
    // Odd keys are created and deleted again; even keys stay.
    let tasks: Vec<_> = (0..24u64)
        .map(|task| {
            let (engine, mount, view) = (Arc::clone(&engine), mount.clone(), fixture.view.clone());
            tokio::spawn(async move {
                let key = format!("f/sub{}/k{task}", task % 3);
                let write = put(&format!("data/{key}"), json!({"data": {"t": task}}), 0);
                assert_eq!(
                    data_of(&write.send(&*engine, &mount, &view).await)["version"],
                    json!(1)
                );
                if task % 2 == 1 {
                    let delete = call(Delete, &format!("metadata/{key}"), Value::Null, 0);
                    assert_eq!(delete.send(&*engine, &mount, &view).await, no_content());
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a task does not panic");
    }
    let view = &fixture.view;
    let listed = call(Scan, "metadata/", Value::Null, 0)
        .send(&*engine, &mount, view)
        .await;
    let mut expect: Vec<String> = (0..24u64)
        .filter(|task| task % 2 == 0)
        .map(|task| format!("f/sub{}/k{task}", task % 3))
        .collect();
    expect.sort();
    assert_eq!(listed, ok(json!({ "keys": expect }), 0));

    for key in &expect {
        call(Delete, &format!("metadata/{key}"), Value::Null, 0)
            .send(&*engine, &mount, view)
            .await;
    }
    assert_eq!(
        call(List, "metadata/", Value::Null, 0)
            .send(&*engine, &mount, view)
            .await,
        not_found()
    );
    assert_eq!(
        storage_keys(&fixture.storage, "dir/").await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn upgrade_from_version_1() {
    let fixture = fixture().await;
    let view = &fixture.view;
    let mut one = Map::new();
    one.insert("foo".to_owned(), json!("bar"));
    one.insert("ttl".to_owned(), json!("1h"));
    let mut two = Map::new();
    two.insert("n".to_owned(), json!({"deep": [1, 2]}));
    for (key, data) in [("app/one", &one), ("two", &two)] {
        view.put(&format!("{STORAGE_FOLDER}/{key}"), &encode_secret(data))
            .await
            .expect("the view stores a v1 record");
    }
    let (engine, mount) = kv2();
    // A tune that was already version 2 migrates nothing.
    engine
        .tuned(&mount, view)
        .await
        .expect("a v2 → v2 tune succeeds");
    assert_eq!(storage_keys(&fixture.storage, "kv1/").await.len(), 2);

    let previous = crate::support::mount("kv", &[]);
    engine
        .tuned(&previous, view)
        .await
        .expect("the upgrade succeeds");
    assert_eq!(
        storage_keys(&fixture.storage, "kv1/").await,
        Vec::<String>::new()
    );
    let read = get("data/app/one", 0).send(&engine, &mount, view).await;
    assert_eq!(data_of(&read)["data"], Value::Object(one));
    assert_eq!(data_of(&read)["metadata"]["version"], json!(1));
    let read = get("data/two", 0).send(&engine, &mount, view).await;
    assert_eq!(data_of(&read)["data"], Value::Object(two));
    assert_eq!(
        call(Scan, "metadata/", Value::Null, 0)
            .send(&engine, &mount, view)
            .await,
        keys(&["app/one", "two"])
    );
    // Running it again finds nothing left to move.
    engine
        .tuned(&previous, view)
        .await
        .expect("a second upgrade is a no-op");
    assert_eq!(
        data_of(&get("metadata/two", 0).send(&engine, &mount, view).await)["current_version"],
        json!(1)
    );
}
